#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run the kvm selftests in a QEMU TCG VM and report them as KTAP.

The VM's /init (tests/vm-init) runs the tests of a list file and writes
"##KT" markers and the tests' output to its second serial port, which is
this program's pipe from QEMU.  The kernel console goes to console.log.

A test is:
  passed   exit 0, and neither its TAP totals nor its output say it skipped
  skipped  exit 4 (KSFT_SKIP), or TAP totals with skips and no passes
  partial  exit 0 but it skipped part of itself (TAP skips, or it says so):
           reported as "# SKIP partial" and counted as skipped, not passed
  failed   anything else, including a timeout

Three more checks are tests of their own: the TDP MMU is on (kvm_amd.npt
and kvm.tdp_mmu are Y), the kernel log holds no splat, and, on a kernel
with kmemleak, nothing leaked (judged from kmemleak's report, not from its
"new suspected memory leaks" line in the log, which the boot scan prints
too).
"""

import argparse
import json
import os
import re
import select
import subprocess
import sys
import time

BOOT_SECS = 300         # QEMU start to init; KASAN + lockdep boot slowly under TCG
GRACE_SECS = 60         # beyond a test's own timeout before the host gives up
END_SECS = 600          # dmesg and the two kmemleak scans

SPLAT = re.compile(
    r"WARNING:|BUG:|Oops|UBSAN:|general protection fault|Kernel panic|"
    r"cut here|INFO: task .* blocked for more than|rcu: INFO:|"
    r"self-detected stall|detected stalls|INFO: trying to register non-static key|"
    r"DEBUG_LOCKS_WARN_ON|list_(add|del) corruption")
REPORT_END = re.compile(r"---\[ end trace|^=+$")
TAP_TOTALS = re.compile(r"# Totals: pass:(\d+) fail:(\d+) xfail:(\d+) xpass:(\d+) skip:(\d+) error:(\d+)")
TAP_SKIP = re.compile(r"^(not )?ok \d+ .*# SKIP", re.I)
SAYS_SKIP = re.compile(r"\bskip(ping|ped)?\b", re.I)
KSFT_SKIP = 4
KILLED = 128 + 9
TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def parse_list(path, scale=1):
    tests = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            secs, name = line.split()[:2]
            tests.append((name, int(secs) * scale))
    return tests


class Report:
    """KTAP output and the counts behind the closing line."""

    def __init__(self, planned, out):
        self.out = out
        self.n = 0
        self.counts = {"passed": 0, "failed": 0, "skipped": 0}
        self.partial = []
        self.failed = []
        print("KTAP version 1", file=out)
        print(f"1..{planned}", file=out)

    def diag(self, lines, limit=None):
        if limit and len(lines) > limit:
            print(f"# ... {len(lines) - limit} lines before these are in the log", file=self.out)
            lines = lines[-limit:]
        for line in lines:
            print(f"# {line}", file=self.out)

    def result(self, name, status, why=""):
        self.n += 1
        if status == "pass":
            print(f"ok {self.n} {name}", file=self.out)
            self.counts["passed"] += 1
        elif status in ("skip", "partial"):
            tag = "partial: " if status == "partial" else ""
            print(f"ok {self.n} {name} # SKIP {tag}{why}".rstrip(), file=self.out)
            self.counts["skipped"] += 1
            if status == "partial":
                self.partial.append(name)
        else:
            print(f"not ok {self.n} {name} # {why}".rstrip(" #"), file=self.out)
            self.counts["failed"] += 1
            self.failed.append(name)
        self.out.flush()


def classify(rc, secs, timeout, lines):
    """Return (status, why) for one test."""
    if rc == KILLED and secs >= timeout - 1:
        return "fail", f"TIMEOUT after {timeout}s"
    if rc == KSFT_SKIP:
        reason = next((line for line in reversed(lines) if SAYS_SKIP.search(line)),
                      lines[-1] if lines else "")
        return "skip", reason.strip()
    if rc != 0:
        return "fail", f"exit={rc}"
    for line in lines:
        m = TAP_TOTALS.search(line)
        if m:
            npass, nskip = int(m.group(1)), int(m.group(5))
            if nskip and not npass:
                return "skip", "all its subtests skipped"
            if nskip:
                return "partial", f"{nskip} of its subtests skipped"
            return "pass", ""
    said = [line for line in lines if SAYS_SKIP.search(line) or TAP_SKIP.search(line)]
    if said:
        return "partial", said[0].strip()
    return "pass", ""


def splats(lines):
    """Every kernel report in the log, each as its block of lines."""
    found, i = [], 0
    while i < len(lines):
        if SPLAT.search(lines[i]):
            j = i + 1
            while j < len(lines) and j - i < 150:
                if REPORT_END.search(TIMESTAMP.sub("", lines[j])):
                    j += 1
                    break
                j += 1
            found.append(lines[max(0, i - 1):j])
            i = j
        else:
            i += 1
    return found


def qemu_cmd(args, console):
    # watchdog_thresh=60: single-threaded TCG can leave one vCPU unrun for
    # tens of seconds of host time (the guest's TSC is the host's), which
    # the soft-lockup detector's default 20 s reports as a lockup of an
    # idle CPU.  A real lockup still shows after 120 s.
    append = ("console=ttyS0 tsc=reliable clocksource=tsc panic=-1 loglevel=4 "
              "watchdog_thresh=60 "
              f"printk.devkmsg=on kt.timeout_scale={args.timeout_scale} " + args.append).strip()
    return [
        "qemu-system-x86_64", "-nodefaults", "-display", "none", "-no-reboot",
        "-accel", "tcg,thread=single", "-cpu", "max", "-smp", "2", "-m", args.memory,
        "-kernel", args.kernel, "-initrd", args.initrd, "-append", append,
        "-serial", f"file:{console}", "-serial", "stdio", "-monitor", "none",
    ]


class VM:
    """QEMU with the test VM's ttyS1 as a stream of lines, with deadlines."""

    def __init__(self, cmd, raw_log):
        self.stderr = open(raw_log + ".qemu-stderr", "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        self.raw = open(raw_log, "w")
        self.buf = b""
        self.eof = False

    def line(self, deadline):
        """The next line, None at EOF, or raise TimeoutError past deadline."""
        while b"\n" not in self.buf:
            if self.eof:
                if self.buf:
                    rest, self.buf = self.buf, b""
                    return self._text(rest)
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 5))
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if chunk:
                    self.buf += chunk
                else:
                    self.eof = True
        raw, self.buf = self.buf.split(b"\n", 1)
        return self._text(raw)

    def _text(self, raw):
        text = raw.decode("utf-8", "replace").rstrip("\r")
        self.raw.write(text + "\n")
        return text

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()
        self.raw.close()


def tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return [line.rstrip("\n") for line in f.readlines()[-n:]]
    except OSError:
        return []


def run(args):
    tests = parse_list(args.list, args.timeout_scale)
    os.makedirs(args.logdir, exist_ok=True)
    console = os.path.join(args.logdir, "console.log")
    checks = ["tdp_mmu_enabled", "kernel_log"] + (["kmemleak"] if args.kmemleak else [])
    rep = Report(len(tests) + len(checks), sys.stdout)
    print(f"# kvm selftests on the {args.flavour} kernel, QEMU TCG -cpu max (SVM + NPT)")
    print(f"# logs: {args.logdir}")

    t_start = time.monotonic()
    vm = VM(qemu_cmd(args, console), os.path.join(args.logdir, "results.log"))
    times = {"boot": None, "suite": None}
    params, pending, dmesg, leaks, boot_leaks = {}, list(tests), [], [], []
    section, cur, cur_lines = None, None, []
    deadline = t_start + BOOT_SECS
    t_booted = None
    broke = None
    try:
        while True:
            line = vm.line(deadline)
            if line is None:
                broke = "the VM stopped before the tests were done"
                break
            if not line.startswith("##KT "):
                if section == "test":
                    cur_lines.append(line)
                elif section == "dmesg":
                    dmesg.append(line)
                elif section == "kmemleak":
                    leaks.append(line)
                elif section == "kmemleak_boot":
                    boot_leaks.append(line)
                continue
            word, _, rest = line[5:].partition(" ")
            if word == "BOOTED":
                t_booted = time.monotonic()
                times["boot"] = round(t_booted - t_start, 1)
                # Before the first test: a kmemleak scan, on a debug kernel.
                deadline = t_booted + END_SECS
            elif word == "KMEMLEAK_BOOT":
                section = "kmemleak_boot"
            elif word == "PARAM":
                k, _, v = rest.partition("=")
                params[k] = v
                if len(params) == 2:
                    print(f"# kvm_amd.npt={params.get('kvm_amd.npt')} "
                          f"kvm.tdp_mmu={params.get('kvm.tdp_mmu')}")
                    ok = all(params.get(k) == "Y" for k in ("kvm_amd.npt", "kvm.tdp_mmu"))
                    rep.result("tdp_mmu_enabled", "pass" if ok else "fail",
                               "" if ok else "kvm_amd.npt and kvm.tdp_mmu must both be Y")
            elif word == "START":
                if section == "kmemleak_boot":
                    nboot = sum(line.startswith("unreferenced object") for line in boot_leaks)
                    print(f"# kmemleak: {nboot} suspect(s) from boot, before any test:"
                          f" not counted (kmemleak_boot.log)")
                    with open(os.path.join(args.logdir, "kmemleak_boot.log"), "w") as f:
                        f.write("\n".join(boot_leaks) + "\n")
                if not pending or pending[0][0] != rest:
                    sys.exit(f"vmtest: the VM ran {rest}, not what {args.list} says next:"
                             " the initramfs was made from another list")
                cur, cur_lines, section = pending.pop(0), [], "test"
                deadline = time.monotonic() + cur[1] + GRACE_SECS
            elif word == "END":
                m = re.match(r"(\S+) rc=(\d+) secs=(\d+)", rest)
                rc, secs = int(m.group(2)), int(m.group(3))
                status, why = classify(rc, secs, cur[1], cur_lines)
                if status == "fail" or args.verbose:
                    rep.diag(cur_lines, limit=None if args.verbose else 200)
                elif status in ("skip", "partial"):
                    rep.diag([f"{cur[0]}: {why}"])
                rep.result(cur[0], status, f"{why} ({secs}s)" if status == "fail" else why)
                cur, section = None, None
                deadline = time.monotonic() + 60
            elif word == "DMESG":
                section = "dmesg"
                times["suite"] = round(time.monotonic() - t_booted, 1)
                deadline = time.monotonic() + END_SECS
            elif word == "KMEMLEAK":
                section = "kmemleak"
            elif word == "DONE":
                break
    except TimeoutError:
        broke = "the VM hung: the host killed it"
    finally:
        vm.stop()

    if broke:
        print(f"# {broke}; the end of the kernel console:")
        rep.diag(tail(console))
        if t_booted is None:
            rep.result("tdp_mmu_enabled", "fail", "the VM never reached init")
        elif len(params) < 2:
            rep.result("tdp_mmu_enabled", "fail", "no kvm parameters reported")
        if cur:
            rep.diag(cur_lines, limit=100)
            rep.result(cur[0], "fail", f"{broke} during this test")
        for name, _ in pending:
            rep.result(name, "fail", "not run")
        rep.result("kernel_log", "fail", "no kernel log: " + broke)
        if args.kmemleak:
            rep.result("kmemleak", "fail", "no scan: " + broke)
    else:
        found = splats(dmesg)
        for block in found:
            rep.diag(["kernel report:"] + block)
        with open(os.path.join(args.logdir, "dmesg.log"), "w") as f:
            f.write("\n".join(dmesg) + "\n")
        rep.result("kernel_log", "fail" if found else "pass",
                   f"{len(found)} report(s) in dmesg" if found else "")
        if args.kmemleak:
            objs = [line for line in leaks if line.startswith("unreferenced object")]
            if objs:
                rep.diag(leaks, limit=400)
            rep.result("kmemleak", "fail" if objs else "pass",
                       f"{len(objs)} leaked object(s)" if objs else "")

    c = rep.counts
    summary = {**c, "partial": rep.partial, "failed_tests": rep.failed,
               "boot_secs": times["boot"], "suite_secs": times["suite"],
               "vm_secs": round(time.monotonic() - t_start, 1)}
    with open(os.path.join(args.logdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"# {args.flavour}: boot {times['boot']}s, suite {times['suite']}s")
    if rep.partial:
        print(f"# {args.flavour}: partial skips: {' '.join(rep.partial)}")
    if rep.failed:
        print(f"# {args.flavour}: failed: {' '.join(rep.failed)}")
    print(f"# {args.flavour}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
    return 1 if c["failed"] else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--list", required=True, help="the test list the initramfs holds")
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--flavour", default="default")
    ap.add_argument("--memory", default="4G")
    ap.add_argument("--kmemleak", action="store_true", help="the kernel has kmemleak")
    ap.add_argument("--append", default="", help="more kernel command line")
    ap.add_argument("--verbose", action="store_true", help="print every test's output")
    ap.add_argument("--timeout-scale", type=int, default=1,
                    help="multiply every test's timeout (a slow kernel)")
    sys.exit(run(ap.parse_args()))


if __name__ == "__main__":
    main()
