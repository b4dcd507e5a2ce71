#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run the kvm selftests in a QEMU TCG VM and report them as KTAP.

The VM's /init (tests/vm-init) runs the tests of a list file and writes
"##KT" markers and the tests' output to its second serial port, which is
this program's pipe from QEMU.  The kernel console, at full loglevel, goes
to console.log: that is the kernel log the run is judged on.

A test is:
  passed   exit 0, and neither its TAP totals nor its output say it skipped
  skipped  exit 4 (KSFT_SKIP), or TAP totals with skips and no passes
  partial  exit 0 but it skipped part of itself (TAP skips, or it says so):
           reported as "# SKIP partial" and counted as skipped, not passed
  failed   anything else, including a timeout and TAP totals with fail: or
           error: above 0; and a skip or partial skip of a test the list
           marks with "!" (one that must never skip); and, whatever the
           above, a test that left a kvm parameter (kvm.tdp_mmu,
           kvm.gmem_fault_around) other than it was at boot: vm-init puts
           it back and says so (##KT LEFT), so that the tests after it run
           as they should

Four more checks are tests of their own: the TDP MMU is on (kvm_amd.npt
and kvm.tdp_mmu are Y); the kernel log is whole (console.log starts at the
boot banner), holds no report and the kernel is not tainted at the end;
the free memory came back after the tests (kmemleak does not see page
allocations); and, on a kernel with kmemleak, kmemleak was working and
nothing leaked (judged from kmemleak's report, not from its "new suspected
memory leaks" line in the log, which the boot scan prints too).

The run fails if it reports another number of results than it planned.
"""

import argparse
import collections
import json
import os
import re
import select
import subprocess
import sys
import time

BOOT_SECS = 300         # QEMU start to init; KASAN + lockdep boot slowly under TCG
GRACE_SECS = 60         # beyond a test's own timeout before the host gives up
END_SECS = 600          # the two kmemleak scans, at boot and at the end
CONSOLE_WAIT_SECS = 10  # for a failed test's kernel log to reach console.log
# Under --icount a test's timeout counts the VM's virtual seconds (one per
# 10^9 instructions), each of which takes several of the host's (4.6 for
# guest_memfd_bench): the host waits this many times longer for a test.
ICOUNT_SLOWDOWN = 10

# How much less memory may be available after the tests than before them.
# Both figures are taken after `echo 3 >drop_caches` and a shrink of every
# slab cache (vm-init's settle()): MemAvailable (free pages plus what the
# kernel could still reclaim) plus the free pages in the per-cpu lists,
# which MemFree leaves out and whose fill varies by up to tens of MiB from
# run to run.  Pages nobody frees (a leaked guest_memfd or shmem file,
# leaked page tables, a leaked hugetlb or THP page) are in neither.  On
# seven runs of the whole list on the default kernel the difference was
# 1.0 to 1.3 MiB (MemFree alone: -5 to +30 MiB, the per-cpu lists); a
# 64 MiB guest_memfd held past its test showed as 64.3 MiB.  The slack,
# 32 MiB, leaves room for what the debug kernel keeps for good (KASAN's
# stack depot grows with every new stack it sees; its noise has not been
# measured) and is still half of a leaked 64 MiB guest_memfd.  Hugetlb
# pages are counted apart and must all come back.
MEM_SLACK_KB = 32 * 1024

SPLAT = re.compile(
    r"WARNING:|BUG:|Oops|UBSAN:|general protection fault|Kernel panic|"
    r"cut here|INFO: task .* blocked for more than|rcu: INFO:|"
    r"self-detected stall|detected stalls|INFO: trying to register non-static key|"
    r"DEBUG_LOCKS_WARN_ON|list_(add|del) corruption|"
    # BUG_ON(), and any trap that kills the kernel ("invalid opcode: 0000 [#1]")
    r"kernel BUG at|: [0-9a-f]{4} \[#\d+\]|"
    # SLUB's own checks: "BUG kmalloc-64 (Not tainted): Poison overwritten"
    r"BUG \S+ \((Not tainted|Tainted: [^)]*)\): |"
    r"page allocation failure|invoked oom-killer|hard LOCKUP|"
    # A gap in the log: what fell into it was not judged.
    r"printk messages dropped")
REPORT_END = re.compile(r"---\[ end trace|^=+$")
TAP_TOTALS = re.compile(r"# Totals: pass:(\d+) fail:(\d+) xfail:(\d+) xpass:(\d+) skip:(\d+) error:(\d+)")
TAP_SKIP = re.compile(r"^(not )?ok \d+ .*# SKIP", re.I)
SAYS_SKIP = re.compile(r"\bskip(ping|ped)?\b", re.I)
KSFT_SKIP = 4
KILLED = 128 + 9
TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
MARKER = "##KT "
# What vm-init writes to the kernel log around each test (n: its place in
# the list, from 1).
KT_LOG = re.compile(r"kt: (START|END|TIMEOUT) (\d+) (\S+)")
BANNER = "Linux version "
# /proc/sys/kernel/tainted's bits, as the kernel prints them (kernel/panic.c).
TAINT_FLAGS = "PFSRMBUDAWCIOELKXTN"
KMEMLEAK_ON = "kmemleak: Kernel memory leak detector initialized"
KMEMLEAK_OFF = "kmemleak: Kernel memory leak detector disabled"

Test = collections.namedtuple("Test", "name secs noskip")


def parse_list(path, scale=1):
    """The tests of a list file: "<timeout seconds>[!] <test> [args]"."""
    tests = []
    with open(path) as f:
        for no, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            secs, name = (line.split() + [""])[:2]
            m = re.fullmatch(r"(\d+)(!?)", secs)
            if not m or not re.fullmatch(r"[\w./+-]+", name):
                sys.exit(f"vmtest: {path}:{no}: not '<seconds>[!] <test> [args]': {line}")
            tests.append(Test(name, int(m.group(1)) * scale, m.group(2) == "!"))
    return tests


class Report:
    """KTAP output and the counts behind the closing line."""

    def __init__(self, planned, out):
        self.out = out
        self.planned = planned
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

    def finish(self):
        """A run that reported another number of results than it planned
        lost or invented some: it fails, whatever the results say."""
        if self.n != self.planned:
            print(f"# vmtest: {self.n} results for a plan of {self.planned}", file=self.out)
            self.counts["failed"] += 1
            self.failed.append(f"(plan: {self.n} of {self.planned} results)")


def classify(rc, secs, timeout, lines, noskip=False):
    """Return (status, why) for one test; noskip: a skip is a failure."""
    status, why = _classify(rc, secs, timeout, lines)
    if noskip and status in ("skip", "partial"):
        what = "skipped" if status == "skip" else "skipped part of itself"
        return "fail", f"{what}, and it must not (! in the list): {why}"
    return status, why


def left_params(status, why, left):
    """A test that left kvm parameters changed (vm-init's "LEFT" markers,
    "kvm.P=V (...)") failed, whatever else it did: every test after it
    would have run with them so, had vm-init not put them back."""
    if not left:
        return status, why
    said = "; ".join(f"left {what}" for what in left)
    if status == "fail" and why:
        return "fail", f"{why}; {said}"
    return "fail", said


def _classify(rc, secs, timeout, lines):
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
            npass, nfail, nskip, nerror = (int(m.group(i)) for i in (1, 2, 5, 6))
            if nfail or nerror:
                return "fail", f"exit=0 but TAP totals fail:{nfail} error:{nerror}"
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
    """Every kernel report in the log, each as (first line's index, block)."""
    found, i = [], 0
    while i < len(lines):
        if SPLAT.search(lines[i]):
            j = i + 1
            # To its end line, but not past 150 lines or a test's start or end.
            while j < len(lines) and j - i < 150 and not KT_LOG.search(lines[j]):
                if REPORT_END.search(TIMESTAMP.sub("", lines[j])):
                    j += 1
                    break
                j += 1
            found.append((i, lines[max(0, i - 1):j]))
            i = j
        else:
            i += 1
    return found


def test_spans(lines):
    """{n: [first, end)} for each test's lines in the kernel log; a test
    with no END line runs to the end of the log."""
    spans = {}
    for i, line in enumerate(lines):
        m = KT_LOG.search(line)
        if m and m.group(1) == "START":
            spans[int(m.group(2))] = [i, len(lines)]
        elif m and m.group(1) == "END" and int(m.group(2)) in spans:
            spans[int(m.group(2))][1] = i + 1
    return spans


def during(spans, tests, i):
    """Which test line i of the kernel log came during, as words."""
    def test(n):
        return f"test {n}, {tests[n - 1].name}" if 0 < n <= len(tests) else f"test {n}"
    for n, (first, end) in spans.items():
        if first <= i < end:
            return f"during {test(n)}"
    before = [n for n, (_, end) in spans.items() if end <= i]
    return f"after {test(max(before))}" if before else "before the first test"


SYSRQ = re.compile(r"^sysrq: ")
TASK = re.compile(r"^task:(.{15}) state:(\S)")


def excerpt(lines, name):
    """A test's kernel log for its failure report.  sysrq-t's dump of every
    task is cut to the tasks that matter, those not asleep (state S or I)
    and the test's own threads; its scheduler statistics are left out too.
    console.log has it whole."""
    comm = os.path.basename(name)[:15]
    out, in_t, keep, dropped = [], False, True, 0
    for line in lines:
        text = TIMESTAMP.sub("", line)
        if SYSRQ.match(text):
            in_t, keep = text.startswith("sysrq: Show State"), True
        elif in_t:
            m = TASK.match(text)
            if m:
                # (init: vm-init, whose watchdog is the one writing the dump.)
                task = m.group(1).rstrip()
                keep = task == comm or (m.group(2) not in "SI" and task != "init")
            elif text.startswith("Sched Debug Version"):
                keep = False
            elif text.startswith(("Showing ", "kt: ")) or not TIMESTAMP.match(line):
                # Locks held, busy workqueues, or no longer the dump.
                in_t, keep = False, True
        if keep:
            out.append(line)
        else:
            dropped += 1
    if dropped:
        out.append(f"(sysrq t: {dropped} lines of sleeping tasks' stacks and scheduler"
                   " statistics left out; console.log has them)")
    return out


def kernel_log_verdict(lines, tests, tainted):
    """Return (status, why, diag) for the kernel log check: the log must be
    whole, hold no report, and the kernel must not be tainted at the end."""
    why, diag = [], []
    first = next((line for line in lines if TIMESTAMP.match(line)), None)
    if first is None:
        why.append("console.log holds no kernel log")
    elif BANNER not in first:
        why.append(f"console.log does not start at the boot banner ('{BANNER.strip()}'),"
                   f" but at: {first.strip()}")
    spans = test_spans(lines)
    found = splats(lines)
    for i, block in found:
        diag += [f"kernel report, {during(spans, tests, i)}:"] + block
    if found:
        why.append(f"{len(found)} report(s) in the kernel log")
    if tainted is None:
        why.append("no taint figure from the VM")
    elif tainted:
        flags = "".join(c for bit, c in enumerate(TAINT_FLAGS) if tainted >> bit & 1)
        why.append(f"the kernel is tainted: {tainted} ({flags})")
    return ("fail" if why else "pass"), "; ".join(why), diag


KMEMLEAK_OBJ = re.compile(r"^unreferenced object (0x[0-9a-f]+)")
KMEMLEAK_COMM = re.compile(r'^\s*comm "[^"]*", pid (\d+), jiffies (\d+)')


def kmemleak_objects(report):
    """[(first line, pid, jiffies)] of each object in a kmemleak report."""
    objs = []
    for line in report or []:
        if KMEMLEAK_OBJ.match(line):
            objs.append([line, None, None])
        elif objs and objs[-1][1] is None:
            m = KMEMLEAK_COMM.match(line)
            if m:
                objs[-1][1:] = [int(m.group(1)), int(m.group(2))]
    return [tuple(o) for o in objs]


def kmemleak_verdict(lines, report, errors, boot_report=()):
    """Return (status, why, diag) for the kmemleak check.  report: its
    report at the end, None if none came.  A kmemleak that is not running
    finds nothing; that is a failure, not a pass.  An object of the boot
    task's (pid 0) allocated in the same jiffy as one the boot scan
    reported is the base kernel's, however late its last reference went:
    not counted (no test runs at that time)."""
    why = list(errors)
    if not any(KMEMLEAK_ON in line for line in lines):
        why.append(f"no '{KMEMLEAK_ON}' in the kernel log")
    off = [line for line in lines if KMEMLEAK_OFF in line]
    if off:
        why.append(f"kmemleak disabled itself: {off[0].strip()}")
    if report is None:
        why.append("no kmemleak report")
    boot_jiffies = {j for _, pid, j in kmemleak_objects(boot_report) if pid == 0}
    objs = [o for o in kmemleak_objects(report) if not (o[1] == 0 and o[2] in boot_jiffies)]
    if objs:
        why.append(f"{len(objs)} leaked object(s)")
    return ("fail" if why else "pass"), "; ".join(why), (report if objs else [])


def parse_meminfo(text):
    """"MemFree:123 HugePages_Free:64 ..." (vm-init's MEM marker) -> dict."""
    fields = {}
    for word in text.split():
        k, _, v = word.partition(":")
        if v.isdigit():
            fields[k] = int(v)
    return fields


def memory_verdict(boot, end, slack_kb=MEM_SLACK_KB):
    """Return (status, why, diag) for the free-memory check."""
    for when, mem in (("after boot", boot), ("at the end", end)):
        if not all(k in mem for k in ("MemAvailable", "PcpFree", "HugePages_Free")):
            return "fail", f"no memory figures {when}", []
    avail_boot = boot["MemAvailable"] + boot["PcpFree"]
    avail_end = end["MemAvailable"] + end["PcpFree"]
    lost = avail_boot - avail_end
    hp_lost = boot["HugePages_Free"] - end["HugePages_Free"]
    summary = (f"MemAvailable + PcpFree {avail_boot // 1024} MiB after boot,"
               f" {avail_end // 1024} MiB at the end: {lost / 1024:+.1f} MiB held"
               f" (slack {slack_kb // 1024} MiB); hugetlb pages free {boot['HugePages_Free']},"
               f" then {end['HugePages_Free']}")
    why = []
    if lost > slack_kb:
        why.append(f"{lost // 1024} MiB less available than after boot (slack {slack_kb // 1024} MiB)")
    if hp_lost > 0:
        why.append(f"{hp_lost} hugetlb page(s) not freed")
    if not why:
        return "pass", "", [summary]
    # What changed by more than 1 MiB, to tell where the memory went.
    diag = [summary, "/proc/meminfo, after boot -> at the end (kB):"]
    for k in boot:
        if k in end and not k.startswith("HugePages_") and abs(end[k] - boot[k]) >= 1024:
            diag.append(f"  {k}: {boot[k]} -> {end[k]} ({end[k] - boot[k]:+})")
    return "fail", "; ".join(why), diag


class Console:
    """console.log as QEMU writes it, read as it grows."""

    def __init__(self, path):
        self.path = path
        self.lines = []
        self.pos = 0
        self.rest = b""

    def read(self, final=False):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            data = b""
        self.pos += len(data)
        *full, self.rest = (self.rest + data).split(b"\n")
        if final and self.rest:
            full.append(self.rest)
            self.rest = b""
        self.lines += [raw.decode("utf-8", "replace").rstrip("\r") for raw in full]
        return self.lines

    def wait_for(self, regex, secs):
        """Read until a line matches regex, for up to secs seconds."""
        deadline, checked = time.monotonic() + secs, 0
        while True:
            self.read()
            if any(regex.search(line) for line in self.lines[checked:]):
                return True
            checked = len(self.lines)
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def test_lines(self, n):
        """Test n's lines of the kernel log, without the START and END lines."""
        span = test_spans(self.lines).get(n)
        if not span:
            return []
        return [line for line in self.lines[span[0]:span[1]]
                if not re.search(rf"kt: (START|END) {n} ", line)]


def qemu_cmd(args, console):
    # watchdog_thresh=60: single-threaded TCG can leave one vCPU unrun for
    # tens of seconds of host time (the guest's TSC is the host's), which
    # the soft-lockup detector's default 20 s reports as a lockup of an
    # idle CPU.  A real lockup still shows after 120 s.
    # loglevel=8: the console is the log the run is judged on, and it has
    # to hold all of it: WARNINGs (level 4) and the stack traces of
    # hung-task reports and sysrq dumps (level 6).  log_buf_len=1M: room
    # for what is logged before the console starts, and for bursts.
    append = ("console=ttyS0 tsc=reliable clocksource=tsc panic=-1 loglevel=8 log_buf_len=1M "
              "watchdog_thresh=60 "
              f"printk.devkmsg=on kt.timeout_scale={args.timeout_scale} " + args.append).strip()
    # icount (benchmarks): virtual time follows the instruction count, one
    # instruction a nanosecond, so timings repeat from run to run; it needs
    # a single vCPU.
    cpus = ["-icount", "shift=0", "-smp", "1"] if args.icount else ["-smp", "2"]
    return [
        "qemu-system-x86_64", "-nodefaults", "-display", "none", "-no-reboot",
        "-accel", "tcg,thread=single", "-cpu", "max", *cpus, "-m", args.memory,
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


def run(args):
    tests = parse_list(args.list, args.timeout_scale)
    os.makedirs(args.logdir, exist_ok=True)
    console_log = os.path.join(args.logdir, "console.log")
    checks = ["tdp_mmu_enabled", "kernel_log", "free_memory"] + (["kmemleak"] if args.kmemleak else [])
    rep = Report(len(tests) + len(checks), sys.stdout)
    print(f"# kvm selftests on the {args.flavour} kernel, QEMU TCG -cpu max (SVM + NPT)")
    print(f"# logs: {args.logdir}")

    t_start = time.monotonic()
    con = Console(console_log)
    vm = VM(qemu_cmd(args, console_log), os.path.join(args.logdir, "results.log"))
    times = {"boot": None, "suite": None}
    params, pending, leaks, boot_leaks = {}, list(tests), None, []
    mem, tainted, kmemleak_errors = {}, None, []
    section, cur, cur_lines, left = None, None, [], []
    deadline = t_start + BOOT_SECS
    t_booted = None
    broke = None

    def end_test(status, why):
        """Report the current test; a failure gets its output and its kernel log."""
        nonlocal cur, section
        n, test = cur
        while cur_lines and not cur_lines[-1].strip():
            cur_lines.pop()     # vm-init's newline before END
        if status == "fail" or args.verbose:
            rep.diag(cur_lines, limit=None if args.verbose else 200)
        elif status in ("skip", "partial"):
            rep.diag([f"{test.name}: {why}"])
        if status == "fail":
            con.wait_for(re.compile(rf"kt: END {n} "), CONSOLE_WAIT_SECS)
            klines = excerpt(con.test_lines(n), test.name)
            if klines:
                rep.diag([f"{test.name}: the kernel log during the test:"] + klines, limit=300)
        rep.result(test.name, status, why)
        cur, section = None, None

    try:
        while True:
            line = vm.line(deadline)
            if line is None:
                broke = "the VM stopped before the tests were done"
                break
            # A marker can land in the middle of a line (after the last
            # output of a test killed mid-line): the text before it is output.
            at = line.find(MARKER)
            text, line = (line, "") if at < 0 else (line[:at], line[at:])
            if text or at < 0:
                if section == "test":
                    cur_lines.append(text)
                elif section == "kmemleak":
                    leaks.append(text)
                elif section == "kmemleak_boot":
                    boot_leaks.append(text)
            if not line:
                continue
            word, _, rest = line[len(MARKER):].partition(" ")
            if word == "BOOTED":
                t_booted = time.monotonic()
                times["boot"] = round(t_booted - t_start, 1)
                # Before the first test: a kmemleak scan, on a debug kernel.
                deadline = t_booted + END_SECS
            elif word == "KMEMLEAK_BOOT":
                section = "kmemleak_boot"
            elif word == "KMEMLEAK_ERROR":
                kmemleak_errors.append(rest)
            elif word == "MEM":
                when, _, figures = rest.partition(" ")
                mem[when] = parse_meminfo(figures)
                if when == "boot" and args.kmemleak:
                    nboot = sum(line.startswith("unreferenced object") for line in boot_leaks)
                    print(f"# kmemleak: {nboot} suspect(s) from boot, before any test:"
                          f" not counted (kmemleak_boot.log)")
                    with open(os.path.join(args.logdir, "kmemleak_boot.log"), "w") as f:
                        f.write("\n".join(boot_leaks) + "\n")
                section = None
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
                if cur:
                    end_test("fail", "no END marker: its result was lost")
                if not pending or pending[0].name != rest:
                    sys.exit(f"vmtest: the VM ran {rest}, not what {args.list} says next:"
                             " the initramfs was made from another list")
                cur = (len(tests) - len(pending) + 1, pending.pop(0))
                cur_lines, section, left = [], "test", []
                slow = ICOUNT_SLOWDOWN if args.icount else 1
                deadline = time.monotonic() + cur[1].secs * slow + GRACE_SECS
            elif word == "END":
                m = re.match(r"(\S+) rc=(\d+) secs=(\d+)", rest)
                if not cur or not m or m.group(1) != cur[1].name:
                    sys.exit(f"vmtest: an END marker for no running test: {line}")
                rc, secs = int(m.group(2)), int(m.group(3))
                status, why = left_params(*classify(rc, secs, cur[1].secs, cur_lines,
                                                    cur[1].noskip), left)
                end_test(status, f"{why} ({secs}s)" if status == "fail" else why)
                deadline = time.monotonic() + 60
            elif word == "LEFT":
                # Before its END: the parameter it left changed.
                if cur:
                    left.append(rest)
            elif word == "SUITE_END":
                if cur:
                    end_test("fail", "no END marker: its result was lost")
                times["suite"] = round(time.monotonic() - t_booted, 1)
                # Dropping caches, and the kmemleak scan on a debug kernel.
                deadline = time.monotonic() + END_SECS
            elif word == "KMEMLEAK":
                section, leaks = "kmemleak", []
            elif word == "TAINTED":
                tainted = int(rest) if rest.strip().isdigit() else None
                section = None
            elif word == "DONE":
                break
    except TimeoutError:
        broke = "the VM hung: the host killed it"
    finally:
        vm.stop()
    klog = con.read(final=True)

    if broke:
        if cur:
            # The hung test's kernel log runs to the end of console.log.
            print(f"# {broke}; the kernel log since {cur[1].name} started:")
            rep.diag(excerpt(con.test_lines(cur[0]), cur[1].name), limit=200)
        else:
            print(f"# {broke}; the end of the kernel console:")
            rep.diag(klog[-60:])
        if t_booted is None:
            rep.result("tdp_mmu_enabled", "fail", "the VM never reached init")
        elif len(params) < 2:
            rep.result("tdp_mmu_enabled", "fail", "no kvm parameters reported")
        if cur:
            rep.diag(cur_lines, limit=100)
            rep.result(cur[1].name, "fail", f"{broke} during this test")
    for test in pending:
        rep.result(test.name, "fail", "not run")

    status, why, diag = kernel_log_verdict(klog, tests, tainted)
    rep.diag(diag)
    rep.result("kernel_log", status, why)

    status, why, diag = memory_verdict(mem.get("boot", {}), mem.get("end", {}))
    rep.diag(diag)
    rep.result("free_memory", status, why)

    if args.kmemleak:
        status, why, diag = kmemleak_verdict(klog, leaks, kmemleak_errors, boot_leaks)
        rep.diag(diag, limit=400)
        rep.result("kmemleak", status, why)
    rep.finish()

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
    ap.add_argument("--icount", action="store_true",
                    help="one vCPU, virtual time from the instruction count (benchmarks)")
    ap.add_argument("--append", default="", help="more kernel command line")
    ap.add_argument("--verbose", action="store_true", help="print every test's output")
    ap.add_argument("--timeout-scale", type=int, default=1,
                    help="multiply every test's timeout (a slow kernel)")
    sys.exit(run(ap.parse_args()))


if __name__ == "__main__":
    main()
