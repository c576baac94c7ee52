#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""make bench: every figure next to a baseline measured in the same run, as a ratio.

Nothing here asserts a time; it measures and reports, and writes
bench/results.json for machines.
"""
import argparse
import fcntl
import functools
import inspect
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

import table

ARGS = None
RESULTS = []
LLVM_LIB = "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1"


def report(name, value, unit, baseline_name, baseline, note="", value_range=None,
           baseline_range=None, ratio=None, ratio_range=None, rounds=None, not_ratio=False):
    """One row: our figure beside its baseline from the same run.  RATIO defaults to
    VALUE / BASELINE; from interleaved runs, report_runs() gives the median of the
    per-round ratios and every range.  NOT_RATIO: a figure reported as is (soak)."""
    if ratio is None and not not_ratio:
        ratio = value / baseline if baseline else float("nan")
    row = {"figure": name, "value": value, "unit": unit, "baseline": baseline_name,
           "baseline_value": baseline, "ratio": None if not_ratio else ratio, "note": note}
    for k, v in (("value_range", value_range), ("baseline_range", baseline_range),
                 ("ratio_range", ratio_range), ("rounds", rounds), ("not_ratio", not_ratio)):
        if v:
            row[k] = v
    RESULTS.append(row)
    print("%-46s %22s %-3s vs %-34s %22s  %-24s %s"
          % (name, table.spread(value, value_range), unit, baseline_name,
             table.spread(baseline, baseline_range),
             ("ratio " if not not_ratio else "") + table.ratio_cell(row), note), flush=True)


def report_runs(name, unit, ours, baseline_name, base, note=""):
    """A row from paired runs (OURS[i] and BASE[i] from round i of interleave()):
    median and min-max of each side and of the per-round ratios."""
    if min(ours) <= 0 or min(base) <= 0:
        # e.g. a record printed before the dlopen() it reports returned
        report(name, statistics.median(ours), unit, baseline_name, statistics.median(base),
               "no ratio: a side was <= 0; " + note, (min(ours), max(ours)),
               (min(base), max(base)), rounds=len(ours), not_ratio=True)
        return
    ratios = [y / x for x, y in zip(base, ours)]
    report(name, statistics.median(ours), unit, baseline_name, statistics.median(base), note,
           (min(ours), max(ours)), (min(base), max(base)), statistics.median(ratios),
           (min(ratios), max(ratios)), len(ours))


def interleave(sides, rounds):
    """Runs each of SIDES (callables, one measurement each) once per round, ROUNDS
    rounds, the order rotated each round (A B, B A, ...; A B C, B C A, C A B, ...):
    drift, and what a run leaves behind for the next, hit every side alike.
    Returns one list per side, element i from round i."""
    out = [[] for _ in sides]
    for r in range(rounds):
        for k in range(len(sides)):
            i = (r + k) % len(sides)
            out[i].append(sides[i]())
    return out


def workload(*args):
    r = subprocess.run([ARGS.workload] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=600)
    if r.returncode:
        raise SystemExit("workload %s failed: %s" % (args, r.stderr))
    lines = r.stdout.splitlines()
    return float(lines[-1].split()[1]), lines[:-1]


class Watch:
    def __init__(self, glob, syms, extra=()):
        cmd = [ARGS.bin, "watch", "--json", "-g", glob] + sum([["-s", s] for s in syms], [])
        self.p = subprocess.Popen(cmd + list(extra), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.lines = []  # (monotonic ns at receipt, record)
        self.ready = threading.Event()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        if not self.ready.wait(30):
            raise SystemExit("watch did not start: %s" % self.p.stderr.read())

    def _read(self):
        for line in self.p.stdout:
            rec = json.loads(line)
            self.lines.append((time.monotonic_ns(), rec))
            if rec["event"] == "ready":
                self.ready.set()

    def stop(self):
        self.p.send_signal(2)
        self.p.wait(timeout=30)
        self.t.join(5)

    def wait_found(self, pid, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(r["event"] == "found" and r.get("pid") == pid for _, r in list(self.lines)):
                return
            time.sleep(0.01)
        raise SystemExit("watch never reported pid %d" % pid)


def caller_run(lib, n, before_go=None):
    """Run the caller fixture; returns the ns its fix_func loop took."""
    flags = ["-w"] if before_go else ["-x"]
    c = subprocess.Popen([ARGS.caller] + flags + [lib, str(n)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        if before_go:
            line = c.stdout.readline()
            before_go(int(line.split()[1]))
            c.stdin.write("go\n")
            c.stdin.flush()
        for line in c.stdout:
            if line.startswith("done"):
                return int(line.split()[2]), c.pid
        raise SystemExit("caller failed")
    finally:
        c.stdin.close()
        c.wait()


def scan_once():
    """One `symbolyze scan` of the whole host for libc's malloc: (seconds, processes
    scanned, "malloc found in F of L libc loads")."""
    t0 = time.monotonic()
    r = subprocess.run([ARGS.bin, "scan", "-g", "libc.so*", "-s", "malloc"],
                       capture_output=True, text=True)
    t = time.monotonic() - t0
    n = int(r.stderr.split(" processes scanned")[0].rsplit(" ", 1)[1])
    f = r.stderr.split(": ", 1)[1].split(" loads;")[0].split()
    return t, n, "malloc found in %s of %s libc loads" % (f[0], f[3])


def shell_once(cmd):
    """Seconds SH -c CMD takes (tools that are not ours, on the same /proc)."""
    t0 = time.monotonic()
    r = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
    return time.monotonic() - t0, r.stdout


GREP_LIBC = r"grep -l 'libc\.so' /proc/[0-9]*/maps 2>/dev/null"
CAT_MAPS = "cat /proc/[0-9]*/maps >/dev/null 2>&1"


def bench_scan():
    """Whole-host scan for libc's malloc against grep -l of every maps file for
    libc (the same processes, no symbols) and against cat of every maps file
    (reading them, nothing else), interleaved.  Returns our median seconds."""
    found = []

    def ours():
        t, _, f = scan_once()
        found.append(f)
        return t * 1e3
    greps = []

    def grep():
        t, out = shell_once(GREP_LIBC)
        greps.append(len(out.splitlines()))
        return t * 1e3
    mine, g, c = interleave([ours, grep, lambda: shell_once(CAT_MAPS)[0] * 1e3], ARGS.pairs)
    note = "last run: %s; grep named %d maps files" % (found[-1], greps[-1])
    report_runs("scan: whole host, libc malloc", "ms", mine,
                "grep -l libc.so every /proc/PID/maps", g, note)
    report_runs("scan: whole host, libc malloc", "ms", mine, "cat every /proc/PID/maps", c)
    return statistics.median(mine) / 1e3


def latency_round(copy):
    """One fresh watch, ARGS.loads processes dlopen()ing COPY: (p50, p99) in us of
    dlopen -> the watch's record read here, and of the floor (the loader's own
    line) for the same loads, and the count of loads not reported."""
    w = Watch("libszlat.so", ["fix_func"], ["--no-scan"])
    got = []  # (ns at receipt, pid, ns after dlopen)
    try:
        p = subprocess.Popen([ARGS.workload, "dlopen", copy, str(ARGS.loads)],
                             stdout=subprocess.PIPE, text=True)
        for line in p.stdout:
            f = line.split()
            if len(f) == 2 and f[0].isdigit():
                got.append((time.monotonic_ns(), int(f[0]), int(f[1])))
        p.wait()
        time.sleep(1)
    finally:
        w.stop()
    done = {pid: t for _, pid, t in got}
    floor = sorted((r - t) / 1e3 for r, _, t in got)
    seen = {}
    for ts, rec in w.lines:
        if rec["event"] == "found" and rec["pid"] in done and rec["pid"] not in seen:
            seen[rec["pid"]] = ts
    lat = sorted((seen[p] - done[p]) / 1e3 for p in seen)
    return (statistics.median(lat), p99(lat), statistics.median(floor), p99(floor),
            len(done) - len(lat))


def bench_latency(lib, scan_s=None):
    """dlopen -> the watch's record read here, beside the floor measured on the
    same loads: the loading process's own line, written through a pipe right
    after dlopen returned and read here the same way (a reader thread stamping
    each line on receipt).  Paired per load, so nothing to interleave; rounds
    (a fresh watch each) give the spread of p50 and p99."""
    d = tempfile.mkdtemp(prefix="sz-bench-")
    try:
        copy = os.path.join(d, "libszlat.so")
        shutil.copy(lib, copy)
        runs = [latency_round(copy) for _ in range(ARGS.latency_rounds)]
        missed = sum(r[4] for r in runs)
        note = "%d rounds of %d loads, a fresh watch each; %d loads not reported" % (
            len(runs), ARGS.loads, missed)
        report_runs("watch: dlopen -> record printed, p50", "us", [r[0] for r in runs],
                    "floor: loader's own line via pipe, p50", [r[2] for r in runs],
                    note + "; negative = printed before dlopen returned")
        report_runs("watch: dlopen -> record printed, p99", "us", [r[1] for r in runs],
                    "floor: loader's own line via pipe, p99", [r[3] for r in runs],
                    note + ("; one whole-host scan: %.0f us" % (scan_s * 1e6) if scan_s
                            else ""))
    finally:
        shutil.rmtree(d)


def pairs_note(med, lo, hi, pre=""):
    return "%s%d pairs interleaved: median ratio %.3f, min %.3f, max %.3f" % (
        pre, ARGS.pairs, med, lo, hi)


def bench_overhead(lib):
    """mmap- and exec-heavy loads with and without a watch, interleaved pairs
    (a fresh watch per pair); exec-heavy also with a glob matching libc, where
    every new process is a load to report."""
    d = tempfile.mkdtemp(prefix="sz-bench-")
    try:
        other = os.path.join(d, "data.bin")
        with open(other, "wb") as f:
            f.write(b"\0" * 65536)
        n_mmap, n_exec = ARGS.mmaps, ARGS.execs

        def mm():
            return workload("mmap", other, n_mmap)[0]

        def ex():
            return workload("exec", n_exec)[0]
        a, b = watch_runs("libfix*.so", mm)
        report_runs("mmap-heavy: %d mmaps, watch running" % n_mmap, "ns",
                    [x * 1e9 / n_mmap for x in b], "same, no watch (ns per mmap)",
                    [x * 1e9 / n_mmap for x in a], "a fresh watch per run; non-matching file")
        a, b = watch_runs("libfix*.so", ex)
        report_runs("exec-heavy: %d fork+exec, watch running" % n_exec, "us",
                    [x * 1e6 / n_exec for x in b], "same, no watch (us per exec)",
                    [x * 1e6 / n_exec for x in a], "a fresh watch per run")
        a, b = watch_runs("libc.so*", ex, ("malloc",))
        report_runs("exec-heavy, glob libc.so* (a load each)", "us",
                    [x * 1e6 / n_exec for x in b], "same, no watch (us per exec)",
                    [x * 1e6 / n_exec for x in a], "goal <= 1.05")
        # Matching mmaps: every one goes through glob and the kernel's dedupe.
        hot = os.path.join(d, "libfixhot.so")
        shutil.copy(lib, hot)

        def mm_hot():
            return workload("mmap", hot, n_mmap // 10)[0]
        a, b = watch_runs("libfixhot.so", mm_hot)
        report_runs("mmap of a MATCHING file, watch running", "ns",
                    [x * 1e9 / (n_mmap // 10) for x in b], "same, no watch (ns per mmap)",
                    [x * 1e9 / (n_mmap // 10) for x in a], "deduplicated in the kernel")
    finally:
        shutil.rmtree(d)


def proc_cpu_ctx(pid):
    """CPU seconds and context switches (voluntary + not, all threads) of PID."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    ctx = 0
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, t)) as f:
            ctx += sum(int(line.split()[1]) for line in f
                       if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")))
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK"), ctx


def bench_records(lib=None):
    """issue 10, per record: an exec storm with a glob matching libc (every exec a
    load to report), interleaved pairs without / with a fresh watch (stdout a
    pipe read as it comes).  Beside the wall-clock ratio, which the other
    sessions on this VM make noisy: the host's CPU (the storm's own, children
    included, plus the watch's) against the storm's alone, and the watch's
    CPU, context switches and records per exec."""
    n = ARGS.execs

    def storm():
        t0 = time.monotonic()
        p = subprocess.Popen([ARGS.workload, "exec", str(n)], stdout=subprocess.DEVNULL)
        _, _, ru = os.wait4(p.pid, 0)
        return time.monotonic() - t0, ru.ru_utime + ru.ru_stime
    rows = []
    for _ in range(ARGS.pairs):
        wall_a, cpu_a = storm()
        w = Watch("libc.so*", ["malloc"], ["--no-scan"])
        try:
            c0, x0 = proc_cpu_ctx(w.p.pid)
            wall_b, cpu_b = storm()
            time.sleep(0.1)  # the last records of the storm
            c1, x1 = proc_cpu_ctx(w.p.pid)
        finally:
            w.stop()
        s = [r for _, r in w.lines if r["event"] == "summary"][0]
        rows.append({"a": wall_a, "b": wall_b, "ca": cpu_a, "cb": cpu_b + c1 - c0,
                     "cpu": (c1 - c0) / n, "ctx": (x1 - x0) / n, "rec": s["events"] / n})

    def col(k, scale=1.0):
        return [r[k] * scale for r in rows]
    report_runs("exec storm, libc.so* (a load each), per exec", "us", col("b", 1e6 / n),
                "same, no watch", col("a", 1e6 / n), "goal <= 1.05")
    report_runs("exec storm, libc.so*: host CPU, storm + watch", "s", col("cb"),
                "the storm's own CPU (children included)", col("ca"))
    cpu, ctx = col("cpu", 1e6), col("ctx")
    report("exec storm, libc.so*: watch CPU per exec", statistics.median(cpu), "us",
           "the storm's own wall time per exec", statistics.median(col("a", 1e6 / n)),
           "context switches of the watch per exec %.2f (%.2f-%.2f), records per exec %.2f"
           % (statistics.median(ctx), min(ctx), max(ctx), statistics.median(col("rec"))),
           (min(cpu), max(cpu)), rounds=len(rows))


def interleaved(base, other, pairs):
    """interleave() of two sides.  Returns (median ratio, min, max, median A,
    median B) over the pairs."""
    a, b = interleave([base, other], pairs)
    ratios = [y / x for x, y in zip(a, b)]
    return statistics.median(ratios), min(ratios), max(ratios), statistics.median(a), \
        statistics.median(b)


class Hook:
    """One hook variant of bench/hooks.c, attached until stop()."""

    def __init__(self, variant, *args):
        self.p = subprocess.Popen([ARGS.hooks, variant] + list(args), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(self.p.stderr.read().strip() or "hooks %s failed" % variant)

    def stop(self):
        self.p.stdin.close()
        out = self.p.stdout.read()
        self.p.wait(timeout=30)
        return int(out.split()[1])  # "hits N" (perf variants add "lost N")


def syscall_tp_holders(exclude=()):
    """Pids holding a syscall tracepoint (BPF) other than EXCLUDE.  Any one of
    them moves every syscall of the host to the slow path, the baseline too:
    a pair run then measures nothing, so the rows say how many ran so."""
    try:
        out = subprocess.run(["bpftool", "perf"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    pids = set()
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "pid" and f[6] == "tracepoint" and f[7].startswith("sys_"):
            if int(f[1]) not in exclude:
                pids.add(int(f[1]))
    return pids


def bench_hooks():
    """Per-syscall tax of each way to hook mmap, on syscalls that are not mmap."""
    loads = {"getppid": ARGS.syscalls, "pipe": ARGS.syscalls // 2}
    for variant, what in (("btf", "tp_btf/sys_enter+sys_exit (before)"),
                          ("tp", "tp/syscalls/sys_enter_mmap+sys_exit_mmap"),
                          ("tp-exit", "tp/syscalls/sys_exit_mmap only (chosen)"),
                          ("lock", "tp_btf/mmap_lock_released (no result)"),
                          ("perf", "perf MMAP2 records, executable mappings, no BPF"),
                          ("perf-data", "perf MMAP2 records, every mapping, no BPF")):
        ld = dict(loads)
        if variant.startswith("perf"):
            # No BPF filters these: every mapping of the host costs a record, so
            # the mmap loop is their price (the watch's own row is in --only cost).
            ld["mmap"] = ARGS.syscalls // 50
        for load, n in ld.items():
            dirty = []

            def run():
                if load == "mmap":
                    return workload(load, "/usr/lib/x86_64-linux-gnu/libc.so.6", n)[0]
                return workload(load, n)[0]

            def alone():
                # only the baseline is checked: with the hook on, its own
                # tracepoint would count
                dirty.append(bool(syscall_tp_holders()))
                return run()

            def hooked():
                h = Hook(variant)
                try:
                    return run()
                finally:
                    h.stop()
            try:
                a, b = interleave([alone, hooked], ARGS.pairs)
            except RuntimeError as e:
                print("  hook %s unavailable: %s" % (variant, e))
                RESULTS.append({"figure": "hook " + variant, "unavailable": str(e)})
                break
            report_runs("%s loop, hook %s" % (load, variant), "ns", [x * 1e9 / n for x in b],
                        "same, no hook (ns per iteration)", [x * 1e9 / n for x in a],
                        "%s, bench/hooks alone%s"
                        % (what, "; %d baselines ran while another process held a syscall "
                           "tracepoint" % sum(dirty) if any(dirty) else ""))


def watch_runs(glob, fn, syms=("fix_func",)):
    """interleave() of FN alone and FN under a fresh watch on GLOB: the two lists."""
    def hooked():
        w = Watch(glob, list(syms), ["--no-scan"])
        try:
            return fn()
        finally:
            w.stop()
    return interleave([fn, hooked], ARGS.pairs)


def watch_pairs(glob, fn, syms=("fix_func",)):
    """Interleaved pairs: FN alone, then FN under a fresh watch on GLOB.  Returns
    what interleaved() does."""
    a, b = watch_runs(glob, fn, syms)
    ratios = [y / x for x, y in zip(a, b)]
    return statistics.median(ratios), min(ratios), max(ratios), statistics.median(a), \
        statistics.median(b)


def bench_cost(lib):
    """What the watch costs processes that do not load what it looks for, and a
    process mapping a matching file again and again (dedupe in the kernel)."""
    n = ARGS.syscalls
    d = tempfile.mkdtemp(prefix="sz-bench-")
    try:
        for load, count in (("getppid", n), ("pipe", n // 2)):
            med, lo, hi, a, b = watch_pairs("libfix-nothing-*.so",
                                            lambda: workload(load, count)[0])
            report("%s loop, watch running (no match)" % load, b * 1e9 / count, "ns",
                   "same, no watch (ns per iteration)", a * 1e9 / count,
                   "%d pairs: median ratio %.3f, min %.3f, max %.3f"
                   % (ARGS.pairs, med, lo, hi))
        hot = os.path.join(d, "libfixhot.so")
        shutil.copy(lib, hot)
        m = ARGS.mmaps // 10
        for mode, what in (("mmap", "read-only"), ("mmapx", "PROT_EXEC")):
            med, lo, hi, a, b = watch_pairs("libfixhot.so",
                                            lambda: workload(mode, hot, m)[0])
            report("mmap %s loop of a MATCHING file, watch running" % what, b * 1e9 / m, "ns",
                   "same, no watch (ns per mmap)", a * 1e9 / m,
                   "%d pairs: median ratio %.3f, min %.3f, max %.3f"
                   % (ARGS.pairs, med, lo, hi))
        # The worst a pattern can make of one name: it passes the first filter
        # and fails after the whole step budget, on every mmap (no record, so
        # nothing to dedupe).
        pat = "*" + "a" * 126 + "b"
        bad = os.path.join(d, "a" * 238 + "x" + "a" * 15 + "b")
        shutil.copy(lib, bad)
        med, lo, hi, a, b = watch_pairs(pat, lambda: workload("mmap", bad, m)[0])
        report("mmap loop, hostile glob at its step budget", b * 1e9 / m, "ns",
               "same, no watch (ns per mmap)", a * 1e9 / m,
               "pattern *a{126}b, name a{238}xa{15}b: 22,490 steps unbounded, 2,048 in "
               "BPF; %d pairs: median ratio %.3f, min %.3f, max %.3f"
               % (ARGS.pairs, med, lo, hi))
    finally:
        shutil.rmtree(d)


def start_to_line(argv, marker, env=None, rss_after=None, stderr=subprocess.DEVNULL):
    """Start ARGV; seconds until its stdout holds MARKER (read raw, so that
    thousands of records before it cost the reader nothing), the CPU seconds
    it used in all, and with RSS_AFTER its (VmRSS, VmHWM) in KiB that many
    seconds after.  Then SIGINT, and reaped."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=stderr, env=env)
    buf, rss = b"", None
    try:
        while marker not in buf:
            c = os.read(p.stdout.fileno(), 1 << 20)
            if not c:
                raise SystemExit("%s: no %r" % (argv[0], marker))
            buf = buf[-len(marker):] + c
        t = time.monotonic() - t0
        if rss_after:
            time.sleep(rss_after)
            with open("/proc/%d/status" % p.pid) as f:
                st = dict(line.split(":", 1) for line in f)
            rss = (int(st["VmRSS"].split()[0]), int(st["VmHWM"].split()[0]))
        p.send_signal(2)
        p.stdin.close()
        p.stdout.read()
        _, _, ru = os.wait4(p.pid, 0)
        p.returncode = 0
        return t, ru.ru_utime + ru.ru_stime, rss
    finally:
        if p.returncode is None:
            p.kill()
            p.wait()


def watch_argv(glob, syms, extra=()):
    return [ARGS.bin, "watch", "--json", "-g", glob] + sum([["-s", x] for x in syms], []) + \
        list(extra)


def bench_ready(nproc=10000):
    """With NPROC idle processes: watch's start -> ready with the BPF iterator
    scan against the same with its /proc scan (SYMBOLYZE_SCAN=proc), against
    reading every /proc/PID/maps and matching (bench/vmaiter), and against the
    floors: the kernel's iter/task_vma walk under an empty program, and
    iter/task (one call per task), all rotated round by round.  The watch runs
    with -v: its debug line gives its iterator's own run (time in read(2))."""
    sleepers = []
    try:
        for _ in range(nproc):
            sleepers.append(subprocess.Popen(["sleep", "900"]))
        time.sleep(1)
        n = len(os.listdir("/proc"))
        argv = watch_argv("libc.so*", ["malloc"], ["-v"])
        cpu = {"iter": [], "proc": []}
        scan = {}

        def watch(mode):
            with tempfile.TemporaryFile() as err:
                t, c, _ = start_to_line(argv, b'"event":"ready"',
                                        dict(os.environ, SYMBOLYZE_SCAN=mode), stderr=err)
                err.seek(0)
                log = err.read().decode(errors="replace")
            cpu[mode].append(c * 1e3)
            if mode == "iter":
                m = re.search(r"iterator scan: (\d+) processes, (\d+) VMAs, (\d+) records "
                              r"\((\d+) bytes\); ([\d.]+) ms in all, ([\d.]+) ms in read",
                              log)
                if not m:
                    raise SystemExit("watch -v: no iterator scan line: %r" % log[-500:])
                scan.setdefault("read", []).append(float(m.group(6)))
                scan.setdefault("all", []).append(float(m.group(5)))
                scan["counts"] = m.groups()[:4]
            return t * 1e3

        def vmaiter(*a):
            out = subprocess.run([ARGS.vmaiter] + list(a), capture_output=True, text=True,
                                 timeout=120).stdout.split()
            return dict(zip(out[0::2], map(float, out[1::2])))

        def procfs():
            v = vmaiter("libc.so*")
            scan.setdefault("proto", []).append(v["iter_ms"])
            scan["proto_records"] = v["records"]
            return v["procfs_ms"]

        sides = [lambda: watch("iter"), lambda: watch("proc"), procfs,
                 lambda: vmaiter("--floor", "vma")["iter_ms"],
                 lambda: vmaiter("--floor", "task")["iter_ms"]]
        it, pr, pf, fvma, ftask = interleave(sides, ARGS.ready_pairs)
        procs, vmas, recs, _ = scan["counts"]
        report_runs("watch start -> ready, %d procs, iter scan" % n, "ms", it,
                    "same watch, SYMBOLYZE_SCAN=proc", pr,
                    "CPU %.0f vs %.0f ms; goal < 100 ms"
                    % (statistics.median(cpu["iter"]), statistics.median(cpu["proc"])))
        report_runs("watch start -> ready, %d procs, iter scan" % n, "ms", it,
                    "reading every /proc/PID/maps + match", pf,
                    "bench/vmaiter, no BPF load; goal ratio <= 0.2")
        report_runs("watch start -> ready, %d procs, iter scan" % n, "ms", it,
                    "floor: empty iter/task_vma walk", fvma,
                    "what is above the walk: start-up, our program, records, output")
        report_runs("watch's iterator run alone (read(2) time)", "ms", scan["read"],
                    "floor: empty iter/task_vma walk", fvma,
                    "%s processes, %s VMAs, %s records; scan in all (records to output "
                    "included) %.1f ms" % (procs, vmas, recs, statistics.median(scan["all"])))
        report_runs("floor: empty iter/task_vma walk, %d procs" % n, "ms", fvma,
                    "empty iter/task (one call per task)", ftask,
                    "what visiting every VMA costs the kernel")
        report_runs("iter/task_vma prototype scan, %d procs" % n, "ms", scan["proto"],
                    "reading every /proc/PID/maps + match", pf,
                    "bench/vmaiter: walk + match only, matches: %d" % scan["proto_records"])
    finally:
        for p in sleepers:
            p.kill()
        for p in sleepers:
            p.wait()


def bench_startup():
    """Launch -> ready of an idle watch (no scan, a glob that matches nothing)
    against a minimal libbpf loader (bench/hooks: one tracepoint program),
    interleaved; then what the verifier spends per program (bench/verif)."""
    w_argv = watch_argv("nomatch-bench.so", ["x"], ["--no-scan"])
    m_argv = [ARGS.hooks, "tp-exit"]
    a, b, ca, cb = [], [], [], []
    for _ in range(ARGS.pairs):
        t, c, _ = start_to_line(m_argv, b"ready")
        a.append(t * 1e3)
        ca.append(c * 1e3)
        t, c, _ = start_to_line(w_argv, b'"event":"ready"')
        b.append(t * 1e3)
        cb.append(c * 1e3)
    ratios = [y / x for x, y in zip(a, b)]
    report("watch launch -> ready (no scan)", statistics.median(b), "ms",
           "minimal libbpf loader (1 tp program)", statistics.median(a),
           "CPU %.0f vs %.0f ms; goal <= 30 ms; %s" % (
               statistics.median(cb), statistics.median(ca),
               pairs_note(statistics.median(ratios), min(ratios), max(ratios))))
    # The same with the initial scan (the iterator loaded and run) on libc,
    # and with --count (the probe skeleton loaded too, its tables created).
    for what, w_argv in (("-g libc.so* (scan included)", watch_argv("libc.so*", ["malloc"])),
                         ("--count --no-scan", watch_argv("nomatch-bench.so", ["x"],
                                                          ["--count", "--no-scan"]))):
        a, b = [], []
        for _ in range(ARGS.pairs):
            a.append(start_to_line(m_argv, b"ready")[0] * 1e3)
            b.append(start_to_line(w_argv, b'"event":"ready"')[0] * 1e3)
        ratios = [y / x for x, y in zip(a, b)]
        report("watch %s launch -> ready" % what, statistics.median(b), "ms",
               "minimal libbpf loader (1 tp program)", statistics.median(a),
               "min %.1f max %.1f; %s" % (min(b), max(b), pairs_note(
                   statistics.median(ratios), min(ratios), max(ratios))))
    # The same watch with libbpf reading the kernel's whole BTF itself
    # (SYMBOLYZE_KBTF=off) against ours with the minimal copy (util/kbtf.h).
    w_argv = watch_argv("nomatch-bench.so", ["x"], ["--count", "--no-scan"])
    a, b = [], []
    off = dict(os.environ, SYMBOLYZE_KBTF="off")
    for _ in range(ARGS.pairs):
        a.append(start_to_line(w_argv, b'"event":"ready"', env=off)[0] * 1e3)
        b.append(start_to_line(w_argv, b'"event":"ready"')[0] * 1e3)
    ratios = [y / x for x, y in zip(a, b)]
    report("watch --count --no-scan launch -> ready, minimal kernel BTF", statistics.median(b),
           "ms", "the same, libbpf reading the kernel's BTF (SYMBOLYZE_KBTF=off)",
           statistics.median(a), pairs_note(statistics.median(ratios), min(ratios), max(ratios)))
    # Where the object load goes: our copy of the kernel's BTF against
    # libbpf's own parse of it (each cold, in a process of its own), the
    # verifier per program, the rest (maps, relocation).
    progs = {}
    loads, loads_off, btfs, kbtfs = [], [], [], []
    for _ in range(max(3, ARGS.pairs // 2)):
        out = subprocess.run([ARGS.verif, "libc.so*"], capture_output=True, text=True,
                             timeout=120).stdout.splitlines()
        out += subprocess.run([ARGS.verif, "--btf"], capture_output=True, text=True,
                              timeout=120).stdout.splitlines()
        out += subprocess.run([ARGS.verif, "--kbtf"], capture_output=True, text=True,
                              timeout=120).stdout.splitlines()
        for line in subprocess.run([ARGS.verif, "libc.so*"], capture_output=True, text=True,
                                   env=off, timeout=120).stdout.splitlines():
            if line.startswith("load_ms"):
                loads_off.append(float(line.split()[1]))
        for line in out:
            f = line.split()
            if f[0] == "prog":
                progs.setdefault(f[1], []).append((int(f[5]), int(f[7])))
            elif f[0] == "load_ms":
                loads.append(float(f[1]))
            elif f[0] == "btf_ms":
                btfs.append(float(f[1]))
            elif f[0] == "kbtf_ms":
                kbtfs.append(float(f[1]))
    load = statistics.median(loads)
    ratios = [y / x for x, y in zip(loads_off, loads)]
    report("whole watch object open + load (iterator included)", load, "ms",
           "libbpf reading the kernel's BTF (SYMBOLYZE_KBTF=off)", statistics.median(loads_off),
           pairs_note(statistics.median(ratios), min(ratios), max(ratios)))
    verify = 0.0
    for name, v in progs.items():
        ms = statistics.median(x[1] for x in v) / 1e3
        verify += ms
        report("verifier: %s" % name, ms, "ms", "whole watch object load", load,
               "%d instructions verified" % v[0][0])
    kbtf = statistics.median(kbtfs)
    ratios = [y / x for x, y in zip(btfs, kbtfs)]
    report("our minimal kernel BTF (cold: map, pick, write)", kbtf, "ms",
           "libbpf: kernel BTF parse alone (cold)", statistics.median(btfs),
           "min %.1f max %.1f; %s" % (min(kbtfs), max(kbtfs), pairs_note(
               statistics.median(ratios), min(ratios), max(ratios))))
    report("maps + relocation (load - our BTF - verifier)", load - kbtf - verify, "ms",
           "whole watch object load", load, "verifier total %.1f ms" % verify)


def bench_rss():
    """The watch's resident set, idle and with --count on every libc of the
    host, 2 s after ready, against the minimal libbpf loader's, interleaved."""
    cases = (("idle", watch_argv("nomatch-bench.so", ["x"])),
             ("-g libc.so* -s malloc --count", watch_argv("libc.so*", ["malloc"], ["--count"])))
    for what, argv in cases:
        a, b = [], []
        for _ in range(3):
            a.append(start_to_line([ARGS.hooks, "tp-exit"], b"ready", rss_after=2)[2])
            b.append(start_to_line(argv, b'"event":"ready"', rss_after=2)[2])
        for i, name in ((0, "VmRSS"), (1, "VmHWM (peak)")):
            mine = [x[i] for x in b]
            base = [x[i] for x in a]
            report("watch %s: %s" % (what, name), statistics.median(mine), "KiB",
                   "minimal libbpf loader, %s" % name, statistics.median(base),
                   "min %d max %d; goal %s" % (min(mine), max(mine),
                                               "< 8 MiB" if i == 0 else "< 12 MiB"))


class Bpftrace:
    """bpftrace counting FUNC of PATH per pid, once its BEGIN ran (all probes
    attached); .ok is False (and why printed) when it cannot run here."""

    def __init__(self, path, func):
        self.ok, self.out = False, []
        bt = shutil.which("bpftrace")
        if not bt:
            return
        self.p = subprocess.Popen([bt, "-e", 'uprobe:%s:%s { @[pid] = count(); } '
                                   'BEGIN { printf("ready\\n"); }' % (path, func)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # bpftrace warns that it cannot raise RLIMIT_MEMLOCK, then goes on.
        for line in self.p.stdout:
            self.out.append(line)
            if line.strip() == "ready":
                self.ok = True
                break
        if not self.ok:
            self.p.wait()
            print("  bpftrace unavailable: %s" % "".join(self.out[-2:]).strip())
            return
        self.t = threading.Thread(target=lambda: self.out.extend(self.p.stdout), daemon=True)
        self.t.start()

    def stop(self):
        """SIGINT until it exits (bpftrace 0.17 sometimes takes one SIGINT and goes
        back to sleep, see timed_session()); its output lines."""
        for _ in range(20):
            self.p.send_signal(2)
            try:
                self.p.wait(timeout=3)
                break
            except subprocess.TimeoutExpired:
                pass
        else:
            self.p.kill()
            self.p.wait()
        self.t.join(10)
        return self.out


def bench_probe(lib):
    """Per-call cost of --count against an unprobed call, against the kernel's
    floor from a minimal loader (bench/hooks uprobe: one uprobe program adding 1,
    not our code) and against bpftrace counting the same calls; the four sides
    interleaved, each probing tool started afresh for its run, every count
    checked against the calls made."""
    n = ARGS.probe_calls
    d = tempfile.mkdtemp(prefix="sz-bench-")
    wrong = {"ours": 0, "minimal": 0, "bpftrace": 0}
    try:
        copy = os.path.join(d, "libszprobe.so")
        shutil.copy(lib, copy)

        def unprobed():
            return caller_run(copy, n)[0] / n

        def minimal():
            h = Hook("uprobe", copy, "fix_func")
            try:
                ns = caller_run(copy, n)[0]
            finally:
                hits = h.stop()
            wrong["minimal"] += hits != n
            return ns / n

        def ours():
            w = Watch("libszprobe.so", ["fix_func"], ["--count", "--no-scan"])
            try:
                ns, pid = caller_run(copy, n, w.wait_found)
            finally:
                w.stop()
            calls = [r["calls"] for _, r in w.lines if r["event"] == "count" and r["pid"] == pid]
            wrong["ours"] += calls != [n]
            return ns / n
        sides = [unprobed, minimal, ours]
        probe = Bpftrace(copy, "fix_func")
        if probe.ok:
            probe.stop()

            def bpftrace():
                p = Bpftrace(copy, "fix_func")
                try:
                    ns, pid = caller_run(copy, n)
                finally:
                    out = p.stop()
                got = [l.split()[-1] for l in out if l.startswith("@[%d]" % pid)]
                wrong["bpftrace"] += got != [str(n)]
                return ns / n
            sides.append(bpftrace)
        runs = interleave(sides, ARGS.pairs)
        note = "%d calls a run; runs whose count was not exactly that: ours %d, minimal %d" % (
            n, wrong["ours"], wrong["minimal"])
        report_runs("probe --count: per call", "ns", runs[2], "unprobed call", runs[0], note)
        report_runs("probe --count: per call", "ns", runs[2],
                    "minimal loader's uprobe (kernel floor)", runs[1])
        if probe.ok:
            report_runs("probe --count: per call", "ns", runs[2], "bpftrace count() per call",
                        runs[3], "bpftrace 0.17; its runs miscounted: %d" % wrong["bpftrace"])
        report_runs("probe: minimal loader's uprobe per call", "ns", runs[1], "unprobed call",
                    runs[0], "bench/hooks uprobe: one add, no map")
        fc = shutil.which("funccount-bpfcc")
        if fc:
            r = subprocess.run([fc, "-d", "1", "%s:fix_func" % copy], capture_output=True,
                               text=True, timeout=120)
            if r.returncode:
                why = (r.stderr.strip().splitlines() or ["failed"])[0]
                print("  bcc funccount unavailable here: %s" % why)
                RESULTS.append({"figure": "bcc funccount", "unavailable": why})
    finally:
        shutil.rmtree(d)


RESENT = [0]  # SIGINTs sent again by timed_session
ONLY_SETS = ()  # bench_attach_many: restrict to these sizes (for a partial rerun)


class Breakpoints:
    """The first byte of each probed function in a process's memory, read in
    one pread of /proc/PID/mem: how long after a moment every int3 (0xcc)
    a uprobe put there is gone, whichever tool put it there."""

    def __init__(self, pid, lib, pattern):
        import fnmatch
        out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True,
                             text=True, check=True).stdout
        vaddrs = [int(f[0], 16) for f in (line.split() for line in out.splitlines())
                  if len(f) == 3 and f[1] == "T" and fnmatch.fnmatchcase(f[2], pattern)]
        base = None
        with open("/proc/%d/maps" % pid) as f:
            for line in f:
                p = line.split()
                if len(p) >= 6 and p[5] == os.path.realpath(lib) and int(p[2], 16) == 0:
                    base = int(p[0].split("-")[0], 16)
                    break
        self.addrs = [base + v for v in vaddrs]  # a PIC library: vaddr 0 at offset 0
        self.lo, self.hi = min(self.addrs), max(self.addrs) + 1
        self.fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)

    def set(self):
        """How many of the functions start with an int3 now."""
        b = os.pread(self.fd, self.hi - self.lo, self.lo)
        return sum(b[a - self.lo] == 0xCC for a in self.addrs)

    def gone_after(self, t1, out, stop):
        """Poll (1 ms, then 10 ms after 1 s) until none is left: OUT[0] = the
        seconds since T1 (monotonic), or None if STOP was set first."""
        while not stop.is_set():
            if not self.set():
                out[0] = time.monotonic() - t1
                return
            time.sleep(0.001 if time.monotonic() - t1 < 1 else 0.01)

    def close(self):
        os.close(self.fd)


def timed_session(argv, ready, env=None, bps=None):
    """Start ARGV; seconds until a stdout line contains READY (all probes live),
    then seconds from SIGINT to exit (all probes gone).  None if it never got
    ready (its last line is printed).  With BPS (a Breakpoints), also the
    seconds from SIGINT to the last int3 gone from the process's code, None
    if its int3s were not all there when it was ready."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env)
    guard = threading.Timer(900, p.kill)  # a tool that never gets ready ends the row
    guard.start()
    live = None
    last = ""
    try:
        for line in p.stdout:
            if ready in line:
                live = time.monotonic() - t0
                break
            last = line.strip() or last
        if live is None:
            print("  %s never got ready: %s" % (os.path.basename(argv[0]), last))
            return None
        # bpftrace 0.17 sometimes handles a SIGINT and goes back to sleep in
        # epoll_wait for good (seen here, minutes later).  Asleep there with
        # not one descriptor closed for 3 s, it is not detaching: signal it
        # again, still timing from the first signal, and count the resend.
        time.sleep(0.5)
        bp_out, bp_stop, bp_thread = [None], threading.Event(), None
        if bps and bps.set() == len(bps.addrs):
            bp_thread = threading.Thread(target=bps.gone_after,
                                         args=(time.monotonic(), bp_out, bp_stop))
        t1 = time.monotonic()
        p.send_signal(2)
        if bp_thread:
            bp_thread.start()
        last_fds, still = None, 0
        while True:
            try:
                p.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                try:
                    with open("/proc/%d/wchan" % p.pid) as f:
                        idle = f.read().strip() == "do_epoll_wait"
                    fds = len(os.listdir("/proc/%d/fd" % p.pid))
                except OSError:
                    idle, fds = False, None
                still = still + 1 if idle and fds == last_fds else 0
                last_fds = fds
                if still >= 3:
                    RESENT[0] += 1
                    still = 0
                    p.send_signal(2)
        p.stdout.read()
        gone = time.monotonic() - t1
        if bp_thread:
            bp_thread.join(timeout=10)
            bp_stop.set()
            bp_thread.join()
        return (live, gone, bp_out[0]) if bps else (live, gone)
    finally:
        guard.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()


def hooks_gone(variant="tp-exit"):
    """The kernel's floor for "gone": a minimal loader (bench/hooks, not our
    code) holding the watch's costliest hook alone, the sys_exit_mmap
    tracepoint through perf; (seconds to its "ready", seconds from closing its
    stdin to its exit), timed as timed_session() times ours."""
    t0 = time.monotonic()
    p = subprocess.Popen([ARGS.hooks, variant], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    try:
        if p.stdout.readline().strip() != "ready":
            return None
        live = time.monotonic() - t0
        time.sleep(0.5)
        t1 = time.monotonic()
        p.stdin.close()
        p.wait(timeout=30)
        return live, time.monotonic() - t1
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def bench_attach_many(reps=None):
    """Start to all probes live, SIGINT to exit and SIGINT to the last int3 gone
    from the process's code, for 1, 64 and 1,000
    functions of the generated libmany.so: `symbolyze watch -s GLOB --count`
    (one multi-uprobe link, or with --no-uprobe-multi one perf-event uprobe
    per function) against bpftrace 0.17 (one perf-event uprobe per function)
    on the same functions of one running process (-p for both: a host-wide
    scan of this shared machine's thousands of processes is another figure),
    runs interleaved."""
    reps = reps or ARGS.attach_reps
    lib = os.path.join(ARGS.fixtures, "libmany.so")
    holder = subprocess.Popen([os.path.join(ARGS.fixtures, "many_caller"), "--wait"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()  # {"event":"waiting"}: libmany.so is mapped
    bt = shutil.which("bpftrace")
    # (ours: one glob of our matcher; bpftrace: the same functions its way,
    # since bpftrace 0.17 globs only with '*')
    sets = [(1, "szf_000", ["szf_000"]),
            (64, "szf_0[0-7][0-7]", ["szf_0%d%d" % (a, b) for a in range(8) for b in range(8)]),
            (1000, "szf_*", ["szf_*"])]
    # bpftrace refuses more than 512 probes unless told otherwise
    bt_env = dict(os.environ, BPFTRACE_MAX_PROBES="4096")
    try:
        for n, glob, bt_names in sets:
            if ONLY_SETS and n not in ONLY_SETS:
                continue
            RESENT[0] = 0
            bt_prog = ",".join("uprobe:%s:%s" % (lib, x) for x in bt_names) + \
                ' { @n = count(); } BEGIN { printf("ready\\n"); }'
            argv = [ARGS.bin, "watch", "--json", "--count", "-g", "libmany.so", "-s", glob,
                    "-p", str(holder.pid)]
            bps = Breakpoints(holder.pid, lib, glob)
            assert len(bps.addrs) == n and not bps.set()
            sides = [lambda: timed_session(argv, '"event":"ready"', bps=bps)]
            if bt:
                sides.append(lambda: timed_session([bt, "-B", "none", "-p", str(holder.pid),
                                                    "-e", bt_prog], "ready", bt_env, bps=bps))
            if ARGS.attach_fallback:
                sides.append(lambda: timed_session(argv + ["--no-uprobe-multi"],
                                                   '"event":"ready"'))
            sides.append(hooks_gone)  # issue 12: the kernel's floor for "gone"
            runs = interleave(sides, reps)
            floor = runs.pop()
            # rounds where both got ready pair up; a side that never did is named
            ours = [r for r in runs[0] if r]
            theirs = [r for r in runs[1] if r] if bt else []
            pairs = [(a, b) for a, b in zip(runs[0], runs[1]) if a and b] if bt else []
            single = [r for r in runs[-1] if r] if ARGS.attach_fallback else []
            fpairs = [(a, b) for a, b in zip(runs[0], floor) if a and b]
            if fpairs:
                report_runs("%d functions: SIGINT to exit" % n, "ms",
                            [a[1] * 1e3 for a, _ in fpairs],
                            "minimal loader's sys_exit_mmap tracepoint detach (kernel floor)",
                            [b[1] * 1e3 for _, b in fpairs],
                            "bench/hooks tp-exit, stdin closed to exit; ours also detaches "
                            "the uprobes and 3 sched tracepoints (in its keeper process, "
                            "src/util/detach.h)")
            bpairs = [(a[2], b[2]) for a, b in pairs if a[2] is not None and b[2] is not None]
            if bpairs:
                report_runs("%d functions: SIGINT to the last breakpoint gone" % n, "ms",
                            [a * 1e3 for a, _ in bpairs], "bpftrace 0.17, same functions",
                            [b * 1e3 for _, b in bpairs],
                            "every probed function's first byte in the process is its own "
                            "again (not 0xcc), read from /proc/PID/mem each ms; %d of %d "
                            "rounds had every int3 in place at ready" % (len(bpairs), reps))
            bps.close()
            for i, what in ((0, "live"), (1, "detached")):
                name = "%d functions: %s" % (n, "start to all live" if i == 0 else
                                             "SIGINT to exit")
                if not ours:
                    print("  attach %d functions: ours never got ready" % n)
                    continue
                note = "%d runs each; %d of ours, %d of bpftrace's got ready" % (
                    reps, len(ours), len(theirs))
                if i == 1 and RESENT[0]:
                    note += (", bpftrace ignored %d SIGINTs (sent again after 3 s asleep;"
                             " timed from the first)" % RESENT[0])
                if single:
                    fb = [x[i] * 1e3 for x in single]
                    note += ", ours with --no-uprobe-multi %.1f ms (%.1f-%.1f)" % (
                        statistics.median(fb), min(fb), max(fb))
                if pairs:
                    report_runs(name, "ms", [a[i] * 1e3 for a, _ in pairs],
                                "bpftrace 0.17, same functions", [b[i] * 1e3 for _, b in pairs],
                                note)
                else:
                    mine = [x[i] * 1e3 for x in ours]
                    report(name, statistics.median(mine), "ms", "(bpftrace unavailable)", None,
                           note, (min(mine), max(mine)), ratio=float("nan"),
                           rounds=len(mine))
    finally:
        holder.kill()
        holder.wait()


def bench_lookup():
    """Per-name lookup in libLLVM-15 (stripped: .dynsym): our hash tables against our
    linear scan of every symbol and against glibc's dlsym() on the library
    dlopen()ed (not our code); bench/lookup interleaves the three passes per round."""
    lib = LLVM_LIB
    if not os.path.exists(lib):
        print("  %s missing: lookup figure skipped" % lib)
        RESULTS.append({"figure": "lookup libLLVM-15", "unavailable": "no " + lib})
        return
    r = subprocess.run([ARGS.lookup, lib, "250", str(ARGS.pairs)], capture_output=True,
                       text=True, timeout=600)
    if r.returncode:
        raise SystemExit("lookup bench failed: %s %s" % (r.stdout, r.stderr))
    rounds = [dict(zip(f[2::2], map(float, f[3::2]))) for f in map(str.split, r.stdout.splitlines())
              if f[0] == "round"]
    f = r.stdout.splitlines()[-1].split()
    v = dict(zip(f[0::2], f[1::2]))
    hashed = [x["hash"] for x in rounds]
    note = "%s of %s defined names, each found all three ways; each pass after a warm-up" % (
        v["names"], v["symbols"])
    report_runs("lookup per name, libLLVM-15 (.gnu.hash)", "ns", hashed,
                "glibc dlsym() of the same names", [x["dlsym"] for x in rounds], note)
    report_runs("lookup per name, libLLVM-15 (.gnu.hash)", "ns", hashed,
                "our linear scan of all %s symbols" % v["symbols"],
                [x["linear"] for x in rounds])


def bench_scan_500():
    """Whole-host scan with 500 extra processes, per process, against the floor
    of reading every /proc/PID/maps once (cat), interleaved."""
    sleepers = [subprocess.Popen(["sleep", "300"]) for _ in range(500)]
    try:
        procs, found = [], []

        def ours():
            t, n, f = scan_once()
            procs.append(n)
            found.append(f)
            return t / n * 1e6

        def floor():
            return shell_once(CAT_MAPS)[0] / len(os.listdir("/proc")) * 1e6
        mine, base = interleave([ours, floor], ARGS.pairs)
        report_runs("scan per process, %d processes" % statistics.median(procs), "us", mine,
                    "cat of every /proc/PID/maps, per process", base,
                    "last run: %s" % found[-1])
    finally:
        for p in sleepers:
            p.kill()
        for p in sleepers:
            p.wait()


def loader_loop(libs, n, extra=()):
    """The loader fixture: N processes each dlopen() one of LIBS; the time
    each one's dlopen() took, as it measured it (a --freeze stop included)."""
    r = subprocess.run([os.path.join(ARGS.fixtures, "loader"), "-n", str(n), "-P", "4"] +
                       list(extra) + libs, capture_output=True, text=True, timeout=600)
    ns = [int(l.split()[2]) for l in r.stdout.splitlines() if l.startswith("child ")]
    if r.returncode or len(ns) != n:
        raise SystemExit("loader failed: %s %s" % (r.stdout[-500:], r.stderr[-500:]))
    return sorted(ns)


def p99(xs):
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def stalled_round(libs):
    """One fresh `watch --freeze` whose stdout is a full pipe nobody reads (the
    event loop blocks in write(); the bound and the lease must hold alone), while
    200 processes dlopen() the 20 LIBS: (sorted dlopen ns, the summary record)."""
    rd, wr = os.pipe()
    fcntl.fcntl(wr, 1031, 4096)  # F_SETPIPE_SZ
    p = subprocess.Popen([ARGS.bin, "watch", "--json", "--no-scan", "--count", "--freeze",
                          "-g", "libszstall-*.so", "-s", "fix_func"], stdout=wr,
                         stderr=subprocess.DEVNULL)
    try:
        buf = b""
        while b"ready" not in buf:
            chunk = os.read(rd, 4096)
            if not chunk:
                raise SystemExit("watch (stalled) did not start")
            buf += chunk
        # From here on nobody reads: fill the pipe through a file description
        # of our own (O_NONBLOCK on the shared one would make writes fail).
        filler = os.open("/proc/self/fd/%d" % wr, os.O_WRONLY | os.O_NONBLOCK)
        try:
            while True:
                os.write(filler, b"\n" * 4096)
        except BlockingIOError:
            pass
        os.close(filler)
        os.close(wr)
        wr = None
        stalled = loader_loop(libs, 200, ["-i", "20000"])
        p.send_signal(2)
        out = b""
        while True:
            chunk = os.read(rd, 65536)
            if not chunk:
                break
            out += chunk
        p.wait(timeout=30)
    finally:
        if wr is not None:
            os.close(wr)
        os.close(rd)
        if p.poll() is None:
            p.kill()
            p.wait()
    s = [json.loads(l) for l in out.decode().splitlines() if '"summary"' in l][0]
    return stalled, s


def bench_freeze():
    """--freeze: how long 1,000 processes are held, each one stopped at its
    dlopen() (a library with no probed symbol: every load is stopped), against
    the bound (--freeze-timeout, 500 ms) and against dlopen() without a watch,
    interleaved (a fresh watch per run); then the same with symbolyze's stdout
    a full pipe nobody reads, against the same dlopen()s without a watch."""
    n, bound_ms = 1000, 500
    d = tempfile.mkdtemp(prefix="sz-freeze-")
    try:
        lib = os.path.join(d, "libszfreeze.so")
        shutil.copy(os.path.join(ARGS.fixtures, "libplain.so"), lib)
        sums = []

        def held():
            w = Watch("libszfreeze*.so", ["fix_func"], ["--count", "--freeze", "--no-scan"])
            try:
                ns = loader_loop([lib], n)
            finally:
                w.stop()
            sums.append([r for _, r in w.lines if r["event"] == "summary"][0])
            return ns
        base, mine = interleave([lambda: loader_loop([lib], n), held], ARGS.freeze_rounds)
        note = "%d runs: %d processes frozen, %d ended by the bound" % (
            len(sums), sum(s["frozen"] for s in sums), sum(s["freeze_timeouts"] for s in sums))
        report_runs("--freeze %d dlopen: max (stop incl.)" % n, "ms", [x[-1] / 1e6 for x in mine],
                    "the bound (--freeze-timeout)", [bound_ms] * len(mine), note)
        report_runs("--freeze %d dlopen: max (stop incl.)" % n, "ms", [x[-1] / 1e6 for x in mine],
                    "max dlopen, no watch", [x[-1] / 1e6 for x in base])
        report_runs("--freeze %d dlopen: p99 (stop incl.)" % n, "ms",
                    [p99(x) / 1e6 for x in mine], "p99 dlopen, no watch",
                    [p99(x) / 1e6 for x in base])
        report_runs("--freeze %d dlopen: median" % n, "ms", [x[n // 2] / 1e6 for x in mine],
                    "median dlopen, no watch", [x[n // 2] / 1e6 for x in base])
        # Stalled output: 20 inodes, none probed while the loop is stuck.
        libs = []
        for i in range(20):
            libs.append(os.path.join(d, "libszstall-%d.so" % i))
            shutil.copy(os.path.join(ARGS.fixtures, "libfix.so"), libs[-1])
        sums = []

        def stalled():
            ns, s = stalled_round(libs)
            sums.append(s)
            return ns[-1] / 1e6
        base, mine = interleave([lambda: loader_loop(libs, 200, ["-i", "20000"])[-1] / 1e6,
                                 stalled], ARGS.freeze_rounds)
        note = "%d runs: %d frozen, %d ended by the bound, %d stops skipped (lease lapsed)" % (
            len(sums), sum(s["frozen"] for s in sums), sum(s["freeze_timeouts"] for s in sums),
            sum(s["freeze_skipped"] for s in sums))
        report_runs("--freeze, stdout stalled, 200 dlopen: max", "ms", mine,
                    "the bound (--freeze-timeout)", [bound_ms] * len(mine), note)
        report_runs("--freeze, stdout stalled, 200 dlopen: max", "ms", mine,
                    "max dlopen, no watch", base)
    finally:
        shutil.rmtree(d)


def rss_fds(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0]
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def bench_soak(lib):
    """watch under continuous process churn for SOAK seconds: RSS and fds stay flat."""
    if ARGS.soak <= 0:
        return
    d = tempfile.mkdtemp(prefix="sz-soak-")
    try:
        copy = os.path.join(d, "libszsoak.so")
        shutil.copy(lib, copy)
        w = Watch("libszsoak.so", ["fix_func"], ["--count"])
        # The watch's own stdout grows with records; drop what we read.
        samples = []
        end = time.time() + ARGS.soak
        started = 0
        try:
            while time.time() < end:
                subprocess.run([ARGS.storm, "200", copy, "fix_func", "4"], capture_output=True)
                started += 200
                w.lines.clear()
                samples.append((time.time(), rss_fds(w.p.pid)))
        finally:
            w.stop()
        first = samples[min(2, len(samples) - 1)][1]  # after warm-up
        last = samples[-1][1]
        peak = max(s[1][0] for s in samples)
        note = ("not a ratio: one watch, its sample after warm-up (3rd of %d) beside its "
                "last; nothing to interleave" % len(samples))
        report("watch soak %ds, %d processes: RSS end" % (ARGS.soak, started), last[0], "KiB",
               "RSS after warm-up", first[0], note + "; peak %d KiB" % peak, not_ratio=True)
        report("watch soak: open fds end", last[1], "fds", "open fds after warm-up", first[1],
               note, not_ratio=True)
    finally:
        shutil.rmtree(d)

def bench_metrics(lib):
    """issue 13: watch --metrics (bench/metrics_bench.py)."""
    import metrics_bench
    metrics_bench.run(ARGS, lib, report, interleaved, caller_run, Watch)


def bench_stacks():
    """issue 11, measured: --stacks, the build-ID stack form, --arg (bench/stacks_bench.py)."""
    import stacks_bench
    stacks_bench.run(ARGS, report, RESULTS)



def bench_symbolize():
    """Symbolization throughput, function names only: 100,000 random addresses in the
    .text of libLLVM-15 (stripped: .dynsym only), on stdin of each tool, whole process
    timed (start, parse, every lookup, output), runs interleaved."""
    if not os.path.exists(LLVM_LIB):
        print("symbolize: %s missing (scripts/deps.sh bench installs libllvm15)" % LLVM_LIB)
        return
    out = subprocess.run(["readelf", "-SW", LLVM_LIB], capture_output=True, text=True,
                         check=True).stdout
    text = [l.split() for l in out.splitlines() if " .text " in l][0]
    i = text.index(".text")
    lo, size = int(text[i + 2], 16), int(text[i + 4], 16)
    rng = random.Random(15)
    addrs = [rng.randrange(lo, lo + size) for _ in range(ARGS.symbolize_addrs)]
    d = tempfile.mkdtemp(prefix="sz-bench-symbolize-")
    try:
        inp = os.path.join(d, "addrs")
        with open(inp, "w") as f:
            f.write("".join("0x%x\n" % a for a in addrs))
        tools = {
            "ours": [ARGS.bin, "symbolize", LLVM_LIB],
            "addr2line": ["addr2line", "-f", "-e", LLVM_LIB],
            "llvm-symbolizer": ["llvm-symbolizer", "--no-demangle", "--no-inlines",
                                "--obj=" + LLVM_LIB],
        }
        outs = {}

        def side(name):
            def run():
                o = os.path.join(d, name + ".out")
                with open(inp) as fi, open(o, "w") as fo:
                    t0 = time.monotonic()
                    subprocess.run(tools[name], stdin=fi, stdout=fo, check=True)
                    t = time.monotonic() - t0
                with open(o) as fo:
                    outs[name] = fo.read().splitlines()
                return t
            return run
        times = dict(zip(tools, interleave([side(k) for k in tools], ARGS.symbolize_runs)))
        # What each said, to show the answers are comparable.
        ours = [None if "??" in l.split()[1] else l.split()[1].rsplit("+", 1)[0]
                for l in outs["ours"]]
        a2l = [None if n == "??" else n for n in outs["addr2line"][0::2]]
        llvm = [b.splitlines()[0] for b in "\n".join(outs["llvm-symbolizer"]).split("\n\n")
                if b.strip()]
        llvm = [None if n == "??" else n for n in llvm]
        if not len(ours) == len(a2l) == len(llvm) == len(addrs):
            raise SystemExit("symbolize: answer counts differ: %d %d %d"
                             % (len(ours), len(a2l), len(llvm)))
        same_llvm = sum(1 for a, b in zip(ours, llvm) if a == b) / len(addrs)
        named = [(a, b) for a, b in zip(ours, a2l) if a is not None]
        same_a2l = sum(1 for a, b in zip(ours, a2l) if a is not None and a == b) / max(
            1, len(named))
        n = len(addrs)
        report_runs("symbolize %d addrs, libLLVM-15 (per run)" % n, "s", times["ours"],
                    "addr2line -f -e", times["addr2line"],
                    "whole process per run; %.1f%% named (.dynsym only); same name as "
                    "addr2line where we name: %.1f%%" % (100.0 * len(named) / n, 100 * same_a2l))
        report_runs("symbolize %d addrs, libLLVM-15 (per run)" % n, "s", times["ours"],
                    "llvm-symbolizer", times["llvm-symbolizer"],
                    "same answer (name or none): %.1f%%" % (100 * same_llvm))
    finally:
        shutil.rmtree(d)


def bench_tphook(lib):
    """issue 10: watch --mmap-hook tracepoint (BPF at sys_exit_mmap, the hook
    --freeze runs on; the default before perf's records) against no watch,
    interleaved: a syscall-heavy loop (the tax its syscall tracepoint puts on
    every syscall of the host) and loops mapping a matching file read-only
    and PROT_EXEC (deduplicated in the kernel).  The default hook's rows are
    bench_cost's."""
    def under_tp(fn, glob):
        def hooked():
            w = Watch(glob, ["fix_func"], ["--no-scan", "--mmap-hook", "tracepoint"])
            try:
                return fn()
            finally:
                w.stop()
        return hooked
    n = ARGS.syscalls
    d = tempfile.mkdtemp(prefix="sz-bench-")
    try:
        load = lambda: workload("getppid", n)[0]  # noqa: E731
        a, b = interleave([load, under_tp(load, "libfix-nothing-*.so")], ARGS.pairs)
        report_runs("getppid loop, watch --mmap-hook tracepoint", "ns",
                    [x * 1e9 / n for x in b], "same, no watch (ns per iteration)",
                    [x * 1e9 / n for x in a], "sys_exit_mmap held: every syscall's slow path")
        hot = os.path.join(d, "libfixhottp.so")
        shutil.copy(lib, hot)
        m = ARGS.mmaps // 10
        for mode, what in (("mmap", "read-only"), ("mmapx", "PROT_EXEC")):
            load = lambda: workload(mode, hot, m)[0]  # noqa: E731
            a, b = interleave([load, under_tp(load, "libfixhottp.so")], ARGS.pairs)
            report_runs("mmap %s loop, MATCHING file, --mmap-hook tracepoint" % what, "ns",
                        [x * 1e9 / m for x in b], "same, no watch (ns per mmap)",
                        [x * 1e9 / m for x in a], "%d mmaps per run" % m)
    finally:
        shutil.rmtree(d)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--loads", type=int, default=600)
    ap.add_argument("--latency-rounds", type=int, default=3)
    ap.add_argument("--mmaps", type=int, default=200000)
    ap.add_argument("--execs", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=200000)
    ap.add_argument("--probe-calls", type=int, default=50000)
    ap.add_argument("--caller", required=True)
    ap.add_argument("--lookup", required=True)
    ap.add_argument("--storm", required=True)
    ap.add_argument("--soak", type=int, default=120, help="seconds of the soak; 0 skips")
    ap.add_argument("--symbolize-addrs", type=int, default=100000)
    ap.add_argument("--symbolize-runs", type=int, default=3)
    ap.add_argument("--hooks", required=True)
    ap.add_argument("--vmaiter", required=True)
    ap.add_argument("--verif", required=True)
    ap.add_argument("--ready-pairs", type=int, default=5)
    ap.add_argument("--freeze-rounds", type=int, default=5)
    ap.add_argument("--syscalls", type=int, default=300000)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--attach-fallback", action="store_true",
                    help="attach_many: also time ours on perf-event uprobes")
    ap.add_argument("--attach-reps", type=int, default=2)
    ap.add_argument("--only", help="run only these parts, comma-separated (symbolize, hooks, "
                    "overhead, stacks, ...)")
    ap.add_argument("--out", default="bench/results.json")
    ap.add_argument("--quick", action="store_true",
                    help="fewer rounds and smaller loads (every row still runs): a few minutes")
    ARGS = ap.parse_args()
    if ARGS.quick:
        # only what was not given on the command line
        for k, v in QUICK.items():
            if getattr(ARGS, k) == ap.get_default(k):
                setattr(ARGS, k, v)
    if os.geteuid() != 0:
        raise SystemExit("bench: needs root (BPF, other processes' maps): sudo make bench")
    lib = os.path.join(ARGS.fixtures, "libfix.so")
    t0 = time.monotonic()
    for k, f in list(globals().items()):
        if k.startswith("bench_") and callable(f):
            globals()[k] = timed(k[len("bench_"):], f)
    print("%-46s %22s %-3s vs %-34s %22s  %s" % ("figure: median (min-max)", "value", "",
                                                 "baseline (same run)", "value",
                                                 "ratio: median (min-max)"))
    try:
        if ARGS.only:
            for part in ARGS.only.split(","):
                fn = globals()["bench_" + part]
                fn(*([lib] if "lib" in inspect.signature(fn).parameters else []))
            return
        scan_s = bench_scan()
        bench_latency(lib, scan_s)
        bench_hooks()
        bench_cost(lib)
        bench_tphook(lib)  # issue 10: --mmap-hook tracepoint (the default is perf)
        bench_overhead(lib)
        bench_records()  # issue 10: the per-record path
        bench_probe(lib)
        bench_attach_many(ARGS.attach_reps)
        bench_lookup()
        bench_scan_500()
        bench_symbolize()
        bench_ready()
        bench_startup()
        bench_rss()
        bench_freeze()
        bench_soak(lib)
        bench_metrics(lib)
        bench_stacks()
    finally:
        with open(ARGS.out, "w") as f:
            json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "kernel": os.uname().release, "quick": ARGS.quick, "only": ARGS.only,
                       "seconds": time.monotonic() - t0, "results": RESULTS}, f, indent=1)
        md = os.path.splitext(ARGS.out)[0] + ".md"
        with open(md, "w") as f:
            f.write(table.markdown(RESULTS))
        print("wrote %s and %s (README's table)" % (ARGS.out, md))
        print("bench total: %.0f s%s" % (time.monotonic() - t0, " (--quick)" if ARGS.quick
                                         else ""))


# --quick: every row, fewer rounds and smaller loads
QUICK = {"pairs": 3, "ready_pairs": 2, "freeze_rounds": 3, "latency_rounds": 2,
         "attach_reps": 1, "symbolize_addrs": 20000, "loads": 300, "mmaps": 50000,
         "execs": 300, "syscalls": 100000, "probe_calls": 20000, "calls": 50000, "soak": 30}


def timed(part, fn):
    """FN, printing how long its part of the bench took (the parts' budget)."""
    @functools.wraps(fn)
    def run(*a, **kw):
        t0 = time.monotonic()
        try:
            return fn(*a, **kw)
        finally:
            print("  [%s: %.0f s]" % (part, time.monotonic() - t0), flush=True)
    return run


if __name__ == "__main__":
    main()
