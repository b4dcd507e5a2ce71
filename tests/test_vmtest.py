#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Self-test of vmtest.py's verdicts: run before every suite, since every
result depends on them."""

import contextlib
import glob
import io
import os
import re
import sys
import tempfile
import unittest
from types import SimpleNamespace

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS)
import vmtest  # noqa: E402


class LeftParams(unittest.TestCase):
    def test_none_left_changes_nothing(self):
        self.assertEqual(vmtest.left_params("skip", "no cap", []), ("skip", "no cap"))

    def test_a_skip_that_left_one_fails(self):
        self.assertEqual(vmtest.left_params("skip", "no cap", ["kvm.tdp_mmu=N (x)"]),
                         ("fail", "left kvm.tdp_mmu=N (x)"))


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

    def test_tap_totals_fail_despite_exit_0(self):
        lines = ["# Totals: pass:2 fail:1 xfail:0 xpass:0 skip:0 error:0"]
        status, why = vmtest.classify(0, 1, 60, lines)
        self.assertEqual(status, "fail")
        self.assertIn("fail:1", why)

    def test_tap_totals_error_despite_exit_0(self):
        lines = ["# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:1"]
        status, why = vmtest.classify(0, 1, 60, lines)
        self.assertEqual(status, "fail")
        self.assertIn("error:1", why)

    def test_says_it_skipped_part(self):
        lines = ["Enlightened VMCS is unsupported, skipping test", "done"]
        self.assertEqual(vmtest.classify(0, 1, 60, lines)[0], "partial")


class NoSkip(unittest.TestCase):
    """A test marked "!" in the list must never skip, not even in part."""

    def test_skip_is_a_failure(self):
        status, why = vmtest.classify(4, 0, 60, ["1..0 # SKIP - Requirement not met: "
                                                 "kvm_has_cap(KVM_CAP_GUEST_MEMFD)"], noskip=True)
        self.assertEqual(status, "fail")
        self.assertIn("KVM_CAP_GUEST_MEMFD", why)

    def test_partial_skip_is_a_failure(self):
        lines = ["ok 1 a", "ok 2 b # SKIP no c",
                 "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0"]
        self.assertEqual(vmtest.classify(0, 1, 60, lines, noskip=True)[0], "fail")

    def test_pass_stays_a_pass(self):
        self.assertEqual(vmtest.classify(0, 1, 60, ["done"], noskip=True), ("pass", ""))

    def test_unmarked_skip_stays_a_skip(self):
        self.assertEqual(vmtest.classify(4, 0, 60, ["skip"], noskip=False)[0], "skip")


class ListFile(unittest.TestCase):
    def parse(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".list") as f:
            f.write(text)
            f.flush()
            return vmtest.parse_list(f.name, scale=2)

    def test_syntax(self):
        tests = self.parse("# comment\n\n60 a\n120! b -n 2  # why\n")
        self.assertEqual(tests, [vmtest.Test("a", 120, False), vmtest.Test("b", 240, True)])

    def test_bad_line_is_an_error(self):
        for bad in ["sixty a\n", "60\n", "!60 a\n", "60 ! a\n"]:
            with self.assertRaises(SystemExit, msg=bad):
                self.parse(bad)

    def test_the_series_tests_must_not_skip(self):
        """Every selftest program the series adds, and set_memory_region_test
        (which it extends), is listed, and marked "!" wherever it is."""
        new = {"set_memory_region_test"}
        for patch in glob.glob(os.path.join(TESTS, "..", "patches", "*.patch")):
            with open(patch, errors="replace") as f:
                text = f.read()
            new |= set(re.findall(r"^diff --git a/tools/testing/selftests/kvm/(\S+)\.c \S+\n"
                                  r"new file mode", text, re.M))
        new = {t for t in new if not t.startswith(("lib/", "include/")) and "/lib/" not in t}
        self.assertIn("guest_memfd_test", new)
        listed = [t for path in glob.glob(os.path.join(TESTS, "*.list"))
                  for t in vmtest.parse_list(path)]
        for name in sorted(new):
            runs = [t for t in listed if t.name == name]
            self.assertTrue(runs, f"{name} is in no list")
            self.assertTrue(all(t.noskip for t in runs), f"{name} is not marked '!' everywhere")


class Splats(unittest.TestCase):
    def test_clean_log(self):
        # kmemleak's line is the kmemleak test's business: the boot scan
        # prints it for suspects that are cleared and not counted.  A
        # timeout's sysrq dump is the timed-out test's business.
        log = ["[    1.0] kvm: Nested Virtualization enabled",
               "[    2.0] kvm: MONITOR instruction emulated as NOP!",
               "[    2.5] kmemleak: Kernel memory leak detector initialized (mem pool available: 15677)",
               "[  196.0] kmemleak: 8 new suspected memory leaks (see /sys/kernel/debug/kmemleak)",
               "[  200.0] kt: TIMEOUT 3 guest_memfd_test: over 60s; the stacks of blocked tasks",
               "[  200.1] sysrq: Show Blocked State",
               "[  200.2] task:guest_memfd_tes state:D stack:0     pid:99    ppid:1      flags:0x4000",
               "[  200.3] Call Trace:",
               "[  200.4]  <TASK>",
               "[  200.5]  __schedule+0x1/0x2",
               "[  200.6]  </TASK>",
               "[  200.7] sysrq: Show State"]
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
                      "list_add corruption. prev->next should be next",
                      "BUG kmalloc-64 (Not tainted): Poison overwritten",
                      "BUG kvm_mmu_page_header (Tainted: G    B   W          ): Redzone overwritten",
                      "kernel BUG at mm/page_alloc.c:1234!",
                      "invalid opcode: 0000 [#1] PREEMPT SMP KASAN",
                      "private_mem_con: page allocation failure: order:9, mode:0x1c2cca",
                      "guest_memfd_tes invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE)",
                      "NMI watchdog: Watchdog detected hard LOCKUP on cpu 1",
                      "** 12 printk messages dropped **"]:
            log = ["[ 1.0] before", f"[ 2.0] {first}", "[ 2.1] Call Trace:",
                   "[ 2.2] ---[ end trace 0000000000000000 ]---", "[ 3.0] after"]
            found = vmtest.splats(log)
            self.assertEqual(len(found), 1, first)
            self.assertEqual(found[0][0], 1)
            self.assertIn(f"[ 2.0] {first}", found[0][1])
            self.assertNotIn("[ 3.0] after", found[0][1])


BOOT = ["[    0.000000] Linux version 6.1.0 (root@vm) (gcc) #1 SMP",
        "[    0.000000] Command line: console=ttyS0"]


class KernelLog(unittest.TestCase):
    tests = [vmtest.Test("a", 60, False), vmtest.Test("b", 60, False)]

    def test_clean(self):
        self.assertEqual(vmtest.kernel_log_verdict(BOOT, self.tests, 0), ("pass", "", []))

    def test_empty_log_fails(self):
        status, why, _ = vmtest.kernel_log_verdict([], self.tests, 0)
        self.assertEqual(status, "fail")
        self.assertIn("no kernel log", why)

    def test_log_that_lost_its_start_fails(self):
        status, why, _ = vmtest.kernel_log_verdict(BOOT[1:], self.tests, 0)
        self.assertEqual(status, "fail")
        self.assertIn("boot banner", why)

    def test_firmware_lines_before_the_banner_are_fine(self):
        self.assertEqual(vmtest.kernel_log_verdict(["SeaBIOS (version 1.16)"] + BOOT, self.tests, 0)[0],
                         "pass")

    def test_tainted_fails(self):
        status, why, _ = vmtest.kernel_log_verdict(BOOT, self.tests, 512 + 32)
        self.assertEqual(status, "fail")
        self.assertIn("tainted: 544 (BW)", why)

    def test_no_taint_figure_fails(self):
        self.assertEqual(vmtest.kernel_log_verdict(BOOT, self.tests, None)[0], "fail")

    def test_report_names_its_test(self):
        log = BOOT + ["[ 5.0] kt: START 1 a", "[ 6.0] kt: END 1 a rc=0",
                      "[ 7.0] kt: START 2 b ", "[ 8.0] WARNING: CPU: 1 PID: 9 at x.c:1 f",
                      "[ 8.1] ---[ end trace 0 ]---", "[ 9.0] kt: END 2 b rc=0"]
        status, why, diag = vmtest.kernel_log_verdict(log, self.tests, 512)
        self.assertEqual(status, "fail")
        self.assertIn("1 report(s)", why)
        self.assertIn("kernel report, during test 2, b:", diag)
        self.assertIn("[ 8.0] WARNING: CPU: 1 PID: 9 at x.c:1 f", diag)

    def test_report_between_tests_or_before_them(self):
        log = BOOT + ["[ 4.0] BUG: at boot", "[ 5.0] kt: START 1 a", "[ 6.0] kt: END 1 a rc=0",
                      "[ 7.0] BUG: after a"]
        diag = vmtest.kernel_log_verdict(log, self.tests, 0)[2]
        self.assertIn("kernel report, before the first test:", diag)
        self.assertIn("kernel report, after test 1, a:", diag)


class Excerpt(unittest.TestCase):
    def test_sysrq_t_is_cut_to_what_matters(self):
        log = ["[ 1.0] kt: TIMEOUT 1 x86_64/private_mem_conversions_test: over 60s",
               "[ 1.1] sysrq: Show Blocked State",
               "[ 1.2] task:kworker/0:1     state:D stack:0 pid:9 ppid:2 flags:0x4000",
               "[ 1.3] Call Trace:", "[ 1.4]  blocked_here+0x1/0x2",
               "[ 1.5] sysrq: Show State",
               "[ 1.6] task:swapper/0       state:S stack:0 pid:1 ppid:0 flags:0x4000",
               "[ 1.7] Call Trace:", "[ 1.8]  idle_here+0x1/0x2",
               "[ 1.9] task:private_mem_con state:S stack:0 pid:99 ppid:1 flags:0x4000",
               "[ 2.0] Call Trace:", "[ 2.1]  test_sleeps_here+0x1/0x2",
               "[ 2.2] task:init            state:R  running task     stack:0 pid:111",
               "[ 2.3]  write_sysrq_trigger+0x24/0x40",
               "[ 2.4] task:kthreadd        state:S stack:0 pid:2 ppid:0 flags:0x4000",
               "[ 2.5]  kthreadd_sleeps+0x1/0x2",
               "[ 2.6] task:kvm-nx-lpage-re state:R  running task     stack:0 pid:98",
               "[ 2.65] Call Trace:", "[ 2.66]  spins_here+0x1/0x2",
               "[ 2.7] Sched Debug Version: v0.11, 6.1.0 #1",
               "[ 2.8] cpu#0, 2096.028 MHz",
               "[ 2.9] Showing busy workqueues and worker pools:",
               "[ 3.0] workqueue events: flags=0x0"]
        text = "\n".join(vmtest.excerpt(log, "x86_64/private_mem_conversions_test"))
        for kept in ["blocked_here", "test_sleeps_here", "spins_here", "Showing busy",
                     "workqueue events", "TIMEOUT"]:
            self.assertIn(kept, text)
        for cut in ["idle_here", "kthreadd_sleeps", "task:swapper", "Sched Debug", "MHz",
                    "write_sysrq_trigger"]:
            self.assertNotIn(cut, text)
        self.assertIn("(sysrq t: 9 lines of sleeping tasks' stacks and scheduler statistics left out",
                      text)


class Kmemleak(unittest.TestCase):
    on = BOOT + ["[ 2.0] kmemleak: Kernel memory leak detector initialized (mem pool available: 1)"]

    def test_active_and_clean(self):
        self.assertEqual(vmtest.kmemleak_verdict(self.on, [], []), ("pass", "", []))

    def test_leak(self):
        report = ["unreferenced object 0xffff888 (size 64):", "  backtrace:"]
        status, why, diag = vmtest.kmemleak_verdict(self.on, report, [])
        self.assertEqual((status, diag), ("fail", report))
        self.assertIn("1 leaked object(s)", why)

    def test_disabled_itself(self):
        log = self.on + ["[ 9.0] kmemleak: Cannot allocate a kmemleak_object structure",
                         "[ 9.1] kmemleak: Kernel memory leak detector disabled"]
        status, why, _ = vmtest.kmemleak_verdict(log, [], [])
        self.assertEqual(status, "fail")
        self.assertIn("disabled itself", why)

    def test_never_started(self):
        self.assertEqual(vmtest.kmemleak_verdict(BOOT, [], [])[0], "fail")

    def test_scan_or_read_failed(self):
        status, why, _ = vmtest.kmemleak_verdict(self.on, [], ["KMEMLEAK: scan failed"])
        self.assertEqual(status, "fail")
        self.assertIn("scan failed", why)

    def test_no_report(self):
        self.assertEqual(vmtest.kmemleak_verdict(self.on, None, [])[0], "fail")

    @staticmethod
    def obj(addr, comm, pid, jiffies):
        return [f"unreferenced object {addr} (size 208):",
                f'  comm "{comm}", pid {pid}, jiffies {jiffies}', "  backtrace:"]

    def test_boot_object_found_late_is_not_counted(self):
        # Seen on 6.1: objects of swapper/0's from the first jiffy, whose
        # last reference went only when the end dropped the caches.
        boot = self.obj("0xffff1", "swapper/0", 0, 4294892296)
        late = self.obj("0xffff2", "swapper/0", 0, 4294892296)
        self.assertEqual(vmtest.kmemleak_verdict(self.on, late, [], boot)[0], "pass")

    def test_test_leak_is_counted_despite_boot_objects(self):
        boot = self.obj("0xffff1", "swapper/0", 0, 4294892296)
        # A test's leak: its task, or pid 0 at another jiffy (an interrupt).
        for leak in (self.obj("0xffff2", "guest_memfd_tes", 77, 4294892296),
                     self.obj("0xffff3", "swapper/1", 0, 4294900000)):
            status, why, _ = vmtest.kmemleak_verdict(self.on, boot + leak, [], boot)
            self.assertEqual(status, "fail", leak)
            self.assertIn("1 leaked object(s)", why)


class FreeMemory(unittest.TestCase):
    boot = vmtest.parse_meminfo("MemTotal:4000000 MemFree:3500000 MemAvailable:3600000 "
                                "Shmem:1000 HugePages_Total:64 HugePages_Free:64 Hugepagesize:2048"
                                " PcpFree:30000")

    def end(self, lost_kb=0, hugepages=64, pcp_kb=0):
        # pcp_kb: free pages that went from the buddy lists to the per-cpu ones
        end = dict(self.boot, MemAvailable=self.boot["MemAvailable"] - lost_kb - pcp_kb,
                   MemFree=self.boot["MemFree"] - lost_kb - pcp_kb, HugePages_Free=hugepages,
                   PcpFree=self.boot["PcpFree"] + pcp_kb)
        end["Shmem"] += lost_kb
        return end

    def test_noise_passes(self):
        status, why, diag = vmtest.memory_verdict(self.boot, self.end(8 * 1024))
        self.assertEqual((status, why), ("pass", ""))
        self.assertIn("+8.0 MiB held", diag[0])

    def test_free_pages_in_per_cpu_lists_are_free(self):
        self.assertEqual(vmtest.memory_verdict(self.boot, self.end(0, pcp_kb=40 * 1024))[0], "pass")

    def test_a_leaked_64_mib_guest_memfd_fails(self):
        status, why, diag = vmtest.memory_verdict(self.boot, self.end(64 * 1024))
        self.assertEqual(status, "fail")
        self.assertIn("64 MiB less available", why)
        self.assertIn("  Shmem: 1000 -> 66536 (+65536)", diag)

    def test_a_leaked_hugetlb_page_fails(self):
        status, why, _ = vmtest.memory_verdict(self.boot, self.end(0, hugepages=63))
        self.assertEqual(status, "fail")
        self.assertIn("1 hugetlb page(s)", why)

    def test_missing_figures_fail(self):
        self.assertEqual(vmtest.memory_verdict(self.boot, {})[0], "fail")
        self.assertEqual(vmtest.memory_verdict({}, self.boot)[0], "fail")


class Plan(unittest.TestCase):
    def test_fewer_results_than_planned_fail(self):
        rep = vmtest.Report(3, io.StringIO())
        rep.result("a", "pass")
        rep.result("b", "pass")
        rep.finish()
        self.assertEqual(rep.counts["failed"], 1)
        self.assertIn("2 results for a plan of 3", rep.out.getvalue())

    def test_as_many_as_planned(self):
        rep = vmtest.Report(1, io.StringIO())
        rep.result("a", "pass")
        rep.finish()
        self.assertEqual(rep.counts["failed"], 0)


def fake_run(list_text, script, console="\n".join(BOOT), kmemleak=False):
    """vmtest.run with a shell script for QEMU (its stdout is the VM's
    ttyS1) and a ready-made console.log; returns (exit code, output)."""
    with tempfile.TemporaryDirectory() as tmp:
        listfile = os.path.join(tmp, "list")
        with open(listfile, "w") as f:
            f.write(list_text)
        with open(os.path.join(tmp, "console.log"), "w") as f:
            f.write(console + "\n")
        args = SimpleNamespace(list=listfile, logdir=tmp, flavour="fake", kmemleak=kmemleak,
                               timeout_scale=1, verbose=False, append="", memory="1G",
                               kernel="k", initrd="i", icount=False)
        saved = vmtest.qemu_cmd, vmtest.GRACE_SECS, vmtest.CONSOLE_WAIT_SECS
        vmtest.qemu_cmd = lambda a, console: ["sh", "-c", script]
        vmtest.GRACE_SECS, vmtest.CONSOLE_WAIT_SECS = 1, 0.5
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                rc = vmtest.run(args)
        finally:
            vmtest.qemu_cmd, vmtest.GRACE_SECS, vmtest.CONSOLE_WAIT_SECS = saved
        return rc, out.getvalue()


class QemuCmd(unittest.TestCase):
    args = dict(timeout_scale=1, append="", memory="4G", kernel="k", initrd="i")

    def test_tcg_with_two_vcpus(self):
        cmd = " ".join(vmtest.qemu_cmd(SimpleNamespace(icount=False, **self.args), "c.log"))
        self.assertIn("-accel tcg,thread=single -cpu max -smp 2 ", cmd)
        self.assertNotIn("-icount", cmd)

    def test_icount_has_one_vcpu(self):
        cmd = " ".join(vmtest.qemu_cmd(SimpleNamespace(icount=True, **self.args), "c.log"))
        self.assertIn("-accel tcg,thread=single -cpu max -icount shift=0 -smp 1 ", cmd)
        self.assertNotIn("-smp 2", cmd)


MEM = "MemAvailable:3600000 HugePages_Free:64 PcpFree:30000"
HEAD = ("echo '##KT BOOTED'; echo '##KT PARAM kvm_amd.npt=Y'; echo '##KT PARAM kvm.tdp_mmu=Y';"
        f" echo '##KT MEM boot {MEM}';")
TAIL = f" echo '##KT SUITE_END'; echo '##KT MEM end {MEM}'; echo '##KT TAINTED 0'; echo '##KT DONE'"


class Runs(unittest.TestCase):
    """Whole runs, with a stand-in for QEMU."""

    def test_clean_run_passes(self):
        rc, text = fake_run("1 a\n1! b\n", HEAD + " echo '##KT START a'; echo '##KT END a rc=0 secs=0';"
                            " echo '##KT START b'; echo '##KT END b rc=0 secs=0';" + TAIL)
        self.assertEqual(rc, 0, text)
        self.assertIn("1..5", text)
        for n, name in enumerate(["tdp_mmu_enabled", "a", "b", "kernel_log", "free_memory"], 1):
            self.assertIn(f"ok {n} {name}\n", text)
        self.assertTrue(text.rstrip().endswith("5 passed, 0 failed, 0 skipped"), text)

    def test_marker_after_output_with_no_newline(self):
        # A test killed by its timeout in the middle of a line: the END
        # marker lands at the end of that line, and its result must not
        # vanish.
        rc, text = fake_run("1 a\n1 b\n", HEAD + " echo '##KT START a'; printf 'working...';"
                            " echo '##KT END a rc=137 secs=1'; echo '##KT START b';"
                            " echo '##KT END b rc=0 secs=0';" + TAIL)
        self.assertEqual(rc, 1)
        self.assertIn("# working...\nnot ok 2 a # TIMEOUT after 1s (1s)\n", text)
        self.assertIn("ok 3 b\n", text)
        self.assertNotIn("results for a plan", text)
        self.assertTrue(text.rstrip().endswith("4 passed, 1 failed, 0 skipped"), text)

    def test_lost_end_marker_fails_the_test(self):
        rc, text = fake_run("1 a\n1 b\n", HEAD + " echo '##KT START a'; echo '##KT START b';"
                            " echo '##KT END b rc=0 secs=0';" + TAIL)
        self.assertEqual(rc, 1)
        self.assertIn("not ok 2 a # no END marker: its result was lost", text)
        self.assertIn("ok 3 b\n", text)

    def test_tests_never_started_fail(self):
        # The VM says it is done before it ran all the list.
        rc, text = fake_run("1 a\n1 b\n", HEAD + " echo '##KT START a'; echo '##KT END a rc=0 secs=0';"
                            + TAIL)
        self.assertEqual(rc, 1)
        self.assertIn("not ok 3 b # not run", text)
        self.assertTrue(text.rstrip().endswith("4 passed, 1 failed, 0 skipped"), text)

    def test_noskip_test_that_skips_fails(self):
        rc, text = fake_run("1! guest_memfd_test\n", HEAD + " echo '##KT START guest_memfd_test';"
                            " echo '1..0 # SKIP - Requirement not met: KVM_CAP_GUEST_MEMFD';"
                            " echo '##KT END guest_memfd_test rc=4 secs=0';" + TAIL)
        self.assertEqual(rc, 1)
        self.assertIn("not ok 2 guest_memfd_test # skipped, and it must not", text)

    def test_test_that_left_a_kvm_parameter_fails(self):
        # Killed by its timeout before its atexit handler put
        # kvm.gmem_fault_around back; vm-init did, and says so.  The test
        # after it passes.
        rc, text = fake_run("1 a\n1 b\n", HEAD + " echo '##KT START a';"
                            " echo '##KT LEFT kvm.gmem_fault_around=N (its value at boot, Y, put back)';"
                            " echo '##KT END a rc=137 secs=1'; echo '##KT START b';"
                            " echo '##KT END b rc=0 secs=0';" + TAIL)
        self.assertEqual(rc, 1)
        self.assertIn("not ok 2 a # TIMEOUT after 1s; left kvm.gmem_fault_around=N"
                      " (its value at boot, Y, put back) (1s)\n", text)
        self.assertIn("ok 3 b\n", text)
        self.assertTrue(text.rstrip().endswith("4 passed, 1 failed, 0 skipped"), text)

    def test_passing_test_that_left_kvm_parameters_fails(self):
        rc, text = fake_run("1 a\n", HEAD + " echo '##KT START a';"
                            " echo '##KT LEFT kvm.tdp_mmu=N (its value at boot, Y, put back)';"
                            " echo '##KT LEFT kvm.gmem_fault_around=N (its value at boot, Y, put back)';"
                            " echo '##KT END a rc=0 secs=0';" + TAIL)
        self.assertEqual(rc, 1)
        self.assertIn("not ok 2 a # left kvm.tdp_mmu=N (its value at boot, Y, put back);"
                      " left kvm.gmem_fault_around=N (its value at boot, Y, put back) (0s)\n", text)

    def test_timeout_report_shows_its_kernel_log(self):
        console = "\n".join(BOOT + [
            "[ 5.0] kt: START 1 hangs",
            "[ 6.0] kt: TIMEOUT 1 hangs: over 1s; the stacks of blocked tasks, then of all tasks",
            "[ 6.1] sysrq: Show Blocked State",
            "[ 6.2] task:hangs           state:D stack:0 pid:9 ppid:1 flags:0x4000",
            "[ 6.3]  kvm_gmem_stuck+0x1/0x2",
            "[ 7.0] kt: END 1 hangs rc=137",
            "[ 8.0] reboot: Restarting system"])
        rc, text = fake_run("1 hangs\n", HEAD + " echo '##KT START hangs';"
                            " echo '##KT END hangs rc=137 secs=1';" + TAIL, console)
        self.assertEqual(rc, 1)
        self.assertIn("# hangs: the kernel log during the test:\n# [ 6.0] kt: TIMEOUT", text)
        self.assertIn("# [ 6.3]  kvm_gmem_stuck+0x1/0x2\nnot ok 2 hangs # TIMEOUT", text)
        self.assertNotIn("Restarting system", text)

    def test_host_kills_and_names_the_hung_test(self):
        # Boots, passes one test, then hangs in the next.
        console = "\n".join(BOOT + ["[ 5.0] kt: START 1 first", "[ 6.0] kt: END 1 first rc=0",
                                    "[ 7.0] kt: START 2 hangs", "[ 8.0] INFO: task hangs:9 blocked"
                                    " for more than 120 seconds.", "[ 8.1]  kvm_gmem_stuck+0x1/0x2"])
        rc, text = fake_run("1 first\n1 hangs\n1 never_runs\n", HEAD +
                            " echo '##KT START first'; echo '##KT END first rc=0 secs=0';"
                            " echo '##KT START hangs'; echo 'working...'; exec sleep 60", console)
        self.assertEqual(rc, 1)
        self.assertIn("ok 2 first", text)
        self.assertIn("# the VM hung: the host killed it; the kernel log since hangs started:\n"
                      "# [ 8.0] INFO: task hangs:9 blocked", text)
        self.assertIn("# [ 8.1]  kvm_gmem_stuck+0x1/0x2", text)
        self.assertIn("not ok 3 hangs # the VM hung: the host killed it during this test", text)
        self.assertIn("not ok 4 never_runs # not run", text)
        self.assertIn("# kernel report, during test 2, hangs:", text)
        self.assertIn("not ok 5 kernel_log # 1 report(s) in the kernel log; no taint figure", text)
        self.assertIn("not ok 6 free_memory # no memory figures at the end", text)
        self.assertTrue(text.rstrip().endswith("2 passed, 4 failed, 0 skipped"), text)

    def test_kmemleak_run(self):
        console = "\n".join(Kmemleak.on)
        rc, text = fake_run("1 a\n", HEAD + " echo '##KT START a'; echo '##KT END a rc=0 secs=0';"
                            " echo '##KT SUITE_END'; echo '##KT MEM end " + MEM + "';"
                            " echo '##KT KMEMLEAK'; echo 'unreferenced object 0xffff (size 8):';"
                            " echo '##KT TAINTED 0'; echo '##KT DONE'", console, kmemleak=True)
        self.assertEqual(rc, 1)
        self.assertIn("# unreferenced object 0xffff (size 8):\nnot ok 5 kmemleak # 1 leaked", text)
        self.assertTrue(text.rstrip().endswith("4 passed, 1 failed, 0 skipped"), text)


if __name__ == "__main__":
    unittest.main()
