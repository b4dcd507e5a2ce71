#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Self-test of vmtest.py's verdicts: run before every suite, since every
result depends on them."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmtest  # noqa: E402


class Classify(unittest.TestCase):
    def test_plain_pass(self):
        self.assertEqual(vmtest.classify(0, 3, 60, ["all good"]), ("pass", ""))

    def test_failure_exit(self):
        self.assertEqual(vmtest.classify(254, 1, 60, ["==== Test Assertion Failure ===="])[0], "fail")

    def test_timeout(self):
        self.assertEqual(vmtest.classify(137, 60, 60, []), ("fail", "TIMEOUT after 60s"))

    def test_killed_early_is_a_failure_not_a_timeout(self):
        self.assertEqual(vmtest.classify(137, 3, 60, []), ("fail", "exit=137"))

    def test_ksft_skip(self):
        status, why = vmtest.classify(4, 0, 60, ["1..0 # SKIP - Requirement not met: X"])
        self.assertEqual(status, "skip")
        self.assertIn("Requirement not met", why)

    def test_tap_totals_partial(self):
        lines = ["ok 1 a", "ok 2 b # SKIP no c",
                 "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0"]
        self.assertEqual(vmtest.classify(0, 1, 60, lines)[0], "partial")

    def test_tap_totals_all_skipped(self):
        lines = ["# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:3 error:0"]
        self.assertEqual(vmtest.classify(0, 1, 60, lines)[0], "skip")

    def test_tap_totals_clean(self):
        lines = ["# Totals: pass:3 fail:0 xfail:0 xpass:0 skip:0 error:0"]
        self.assertEqual(vmtest.classify(0, 1, 60, lines), ("pass", ""))

    def test_says_it_skipped_part(self):
        lines = ["Enlightened VMCS is unsupported, skipping test", "done"]
        self.assertEqual(vmtest.classify(0, 1, 60, lines)[0], "partial")


class Splats(unittest.TestCase):
    def test_clean_log(self):
        # kmemleak's line is the kmemleak test's business: the boot scan
        # prints it for suspects that are cleared and not counted.
        log = ["[    1.0] kvm: Nested Virtualization enabled",
               "[    2.0] kvm: MONITOR instruction emulated as NOP!",
               "[  196.0] kmemleak: 8 new suspected memory leaks (see /sys/kernel/debug/kmemleak)"]
        self.assertEqual(vmtest.splats(log), [])

    def test_each_kind_is_found(self):
        for first in ["------------[ cut here ]------------",
                      "WARNING: CPU: 0 PID: 1 at virt/kvm/kvm_main.c:10 f+0x1/0x2",
                      "BUG: KASAN: slab-use-after-free in kvm_gmem_release+0x1/0x2",
                      "UBSAN: shift-out-of-bounds in arch/x86/kvm/mmu/mmu.c:1",
                      "WARNING: possible circular locking dependency detected",
                      "BUG: sleeping function called from invalid context at mm/x.c:1",
                      "INFO: task kworker/0:1:12 blocked for more than 120 seconds.",
                      "rcu: INFO: rcu_sched self-detected stall on CPU",
                      "general protection fault, probably for non-canonical address",
                      "list_add corruption. prev->next should be next"]:
            log = ["[ 1.0] before", f"[ 2.0] {first}", "[ 2.1] Call Trace:",
                   "[ 2.2] ---[ end trace 0000000000000000 ]---", "[ 3.0] after"]
            found = vmtest.splats(log)
            self.assertEqual(len(found), 1, first)
            self.assertIn(f"[ 2.0] {first}", found[0])
            self.assertNotIn("[ 3.0] after", found[0])


class HungVM(unittest.TestCase):
    """The host kills a VM that outlives a test's timeout and names the test."""

    def test_host_kills_and_names_the_hung_test(self):
        import io
        import contextlib
        import tempfile
        from types import SimpleNamespace

        with tempfile.TemporaryDirectory() as tmp:
            listfile = os.path.join(tmp, "list")
            with open(listfile, "w") as f:
                f.write("1 first\n1 hangs\n1 never_runs\n")
            # A stand-in for QEMU: boots, passes one test, then hangs in the next.
            script = ("echo '##KT BOOTED'; echo '##KT PARAM kvm_amd.npt=Y';"
                      " echo '##KT PARAM kvm.tdp_mmu=Y'; echo '##KT START first';"
                      " echo '##KT END first rc=0 secs=0'; echo '##KT START hangs';"
                      " echo 'working...'; exec sleep 60")
            args = SimpleNamespace(list=listfile, logdir=tmp, flavour="fake", kmemleak=False,
                                   timeout_scale=1, verbose=False, append="", memory="1G",
                                   kernel="k", initrd="i")
            saved = vmtest.qemu_cmd, vmtest.GRACE_SECS
            vmtest.qemu_cmd = lambda a, console: ["sh", "-c", script]
            vmtest.GRACE_SECS = 1
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    rc = vmtest.run(args)
            finally:
                vmtest.qemu_cmd, vmtest.GRACE_SECS = saved
            text = out.getvalue()
            self.assertEqual(rc, 1)
            self.assertIn("ok 2 first", text)
            self.assertIn("not ok 3 hangs # the VM hung: the host killed it during this test",
                          text)
            self.assertIn("not ok 4 never_runs # not run", text)
            self.assertIn("not ok 5 kernel_log", text)
            self.assertTrue(text.rstrip().endswith("2 passed, 3 failed, 0 skipped"), text)


if __name__ == "__main__":
    unittest.main()
