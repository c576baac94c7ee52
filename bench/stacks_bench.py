# SPDX-License-Identifier: BSD-2-Clause
"""Issue 11's measured parts for bench/run.py (`--only stacks`): what --stacks costs per
call (fp and dwarf) beside --count alone and bpftrace's @[ustack] = count(); how deep a
stack each recovers through Debian's python3.11 and libc (built without frame pointers);
the kernel's build-ID stack form against plain addresses plus our per-process mappings
record (bench/stackcap); and what --arg str/buf adds to --trace.  Variants run
interleaved (A B C A B C ...); figures are medians with min-max, nothing is asserted."""
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

A = None          # bench/run.py's arguments
REPORT = None     # bench/run.py's report(name, value, unit, baseline_name, baseline, note)
RESULTS = None    # bench/run.py's RESULTS (for figures that could not be taken)
RING = str(64 << 20)  # every hit of a run fits: no drop depends on how fast we read
STACK_CALLS = 4000    # dwarf: ~9.4 KiB per hit in the ring
ARG_CALLS = 20000
PY_SCRIPT = r'''
import os, sys
def f(n):
    if n == 0:
        for _ in range(int(sys.argv[2])):
            os.getppid()
        return 0
    if sys.argv[3] == "c":  # through C: map() calls f back, each level a C frame chain
        return list(map(f, [n - 1]))[0]
    return f(n - 1)         # Python to Python: 3.11 stays in one C frame
print("loaded %d" % os.getpid(), flush=True)
sys.stdin.readline()
f(int(sys.argv[1]))
print("done %d" % os.getpid(), flush=True)
sys.stdin.read()
'''


def mmr(xs, fmt="%.3g"):
    return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(xs), min(xs), max(xs))


class Sz:
    """symbolyze watch --json, its stdout in a file (never a full pipe)."""

    def __init__(self, glob, syms, extra, tmp, scan=False):
        self.out = os.path.join(tmp, "watch-%d.json" % time.monotonic_ns())
        argv = [A.bin, "watch", "--json", "--ring-size", RING, "-g", glob] + \
            sum([["-s", s] for s in syms], []) + list(extra) + ([] if scan else ["--no-scan"])
        with open(self.out, "w") as f:
            self.p = subprocess.Popen(argv, stdout=f, stderr=subprocess.PIPE, text=True)
        self.cpu0 = None
        self._wait(lambda r: r["event"] == "ready", 30, "ready")

    def records(self):
        with open(self.out) as f:
            return [json.loads(ln) for ln in f if ln.endswith("\n")]

    def _wait(self, pred, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise SystemExit("stacks bench: watch ended: %s" % self.p.stderr.read())
            if any(pred(r) for r in self.records()):
                return
            time.sleep(0.02)
        raise SystemExit("stacks bench: watch never reported %s" % what)

    def found(self, pid, n=1):
        """Wait until N probes are on in PID; then note the watch's CPU so far."""
        deadline = time.time() + 30
        while time.time() < deadline:
            got = [r for r in self.records() if r["event"] == "found" and r.get("pid") == pid]
            if len(got) >= n:
                if not all(r["probed"] for r in got):
                    raise SystemExit("stacks bench: not probed: %s" % got)
                self.cpu0 = cpu_s(self.p.pid)
                return
            time.sleep(0.02)
        raise SystemExit("stacks bench: watch never probed pid %d" % pid)

    def stop(self):
        """SIGINT; (records, summary, CPU seconds since found())."""
        self.p.send_signal(signal.SIGINT)
        _, status, ru = os.wait4(self.p.pid, 0)
        self.p.returncode = os.waitstatus_to_exitcode(status)
        recs = self.records()
        summ = [r for r in recs if r["event"] == "summary"]
        if self.p.returncode or not summ:
            raise SystemExit("stacks bench: watch failed (%d): %s"
                             % (self.p.returncode, self.p.stderr.read()))
        cpu = ru.ru_utime + ru.ru_stime - (self.cpu0 or 0)
        os.unlink(self.out)
        return recs, summ[0], cpu


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


class Bpftrace:
    """bpftrace -e PROG until stop(); its output (the maps printed at exit)."""

    def __init__(self, prog, tmp):
        self.out = os.path.join(tmp, "bt-%d.txt" % time.monotonic_ns())
        with open(self.out, "w") as f:
            # BEGIN runs once every probe is attached ("Attaching N probes" comes before)
            self.p = subprocess.Popen(["bpftrace", "-e", prog + ' BEGIN { printf("ready\\n"); }'],
                                      stdout=f, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while "\nready\n" not in self.text():
            if self.p.poll() is not None or time.time() > deadline:
                self.kill()
                raise RuntimeError(self.text().strip().splitlines()[-1:] or "no output")
            time.sleep(0.02)

    def text(self):
        with open(self.out, errors="replace") as f:
            return f.read()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def stop(self):
        # bpftrace 0.17 sometimes takes a SIGINT and sleeps on (see bench_attach_many):
        # signal again while it has not exited.
        for _ in range(20):
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        self.kill()
        out = self.text()
        os.unlink(self.out)
        return out


def bt_stacks(out):
    """[(frames, count)] of bpftrace's printed @[ustack] map."""
    got, cur = [], None
    for ln in out.splitlines():
        s = ln.strip()
        if s == "@[":
            cur = []
        elif cur is not None and s.startswith("]:"):
            got.append((cur, int(s[2:])))
            cur = None
        elif cur is not None and s:
            cur.append(s)
    return got


def proc_go(argv, tool_found):
    """Start a workload that prints "loaded PID" and waits for a line; TOOL_FOUND(pid)
    once the probes are on; then "go"; returns (its "done" line's fields, process) with
    the process still running (stdin open) unless it exits by itself."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        if not line or line[0] != "loaded":
            raise SystemExit("stacks bench: %s did not start" % argv[0])
        tool_found(p.pid)
        p.stdin.write("go\n")
        p.stdin.flush()
        for line in p.stdout:
            if line.startswith("done"):
                return line.split()[1:], p
        raise SystemExit("stacks bench: %s failed" % argv[0])
    except BaseException:
        p.kill()
        p.wait()
        raise


def end(p):
    p.stdin.close()
    p.stdout.read()
    p.wait(timeout=30)


def ratios_note(xs, ys, pre=""):
    r = [y / x for x, y in zip(xs, ys) if x > 0]
    return "%s%d rounds interleaved: ratio %s" % (pre, len(r), mmr(r))


# --- 1. --count --stacks per call vs --count and bpftrace @[ustack] = count() -----------

def stack_cost(tmp):
    lib = os.path.join(tmp, "libszstk.so")
    shutil.copy(os.path.join(A.fixtures, "libfix.so"), lib)
    n = STACK_CALLS
    runs = {k: [] for k in ("none", "empty", "count", "fp", "dwarf", "bpftrace")}
    cpu = {"fp": [], "dwarf": []}
    drops = {"count": 0, "fp": 0, "dwarf": 0}
    got = {"count": [], "fp": [], "dwarf": [], "bpftrace": []}
    bt_ok = shutil.which("bpftrace") is not None
    caller = [A.caller, "-w", "-x", lib, str(n)]
    for _ in range(A.pairs):
        for v in runs:
            if v == "none":
                (pid, ns), p = proc_go(caller, lambda pid: None)
                end(p)
                runs[v].append(int(ns) / n)
            elif v == "bpftrace":
                if not bt_ok:
                    continue
                try:
                    bt = Bpftrace("uprobe:%s:fix_func { @[ustack] = count(); }" % lib, tmp)
                except RuntimeError as e:
                    print("  bpftrace unavailable: %s" % e)
                    bt_ok = False
                    continue
                try:
                    (pid, ns), p = proc_go(caller, lambda pid: None)
                    end(p)
                finally:
                    out = bt.stop()
                runs[v].append(int(ns) / n)
                got[v].append(sum(c for _, c in bt_stacks(out)))
            else:
                extra = {"empty": ["--empty-probe"], "count": ["--count"]}.get(
                    v, ["--count", "--stacks=" + v])
                w = Sz("libszstk.so", ["fix_func"], extra, tmp)
                try:
                    (pid, ns), p = proc_go(caller, w.found)
                    end(p)
                finally:
                    recs, summ, c = w.stop()
                runs[v].append(int(ns) / n)
                if v == "empty":
                    pass
                elif v == "count":
                    got[v].append(sum(r["calls"] for r in recs if r["event"] == "count"))
                    drops[v] += summ.get("call_records_dropped", 0)
                else:
                    got[v].append(summ["stacks"])
                    drops[v] += summ["stack_records_dropped"]
                    cpu[v].append(c / max(1, summ["stacks"]) * 1e9)
    med = {k: statistics.median(v) for k, v in runs.items() if v}
    base = runs["none"]

    def added(v):
        return [x - b for x, b in zip(runs[v], base)]

    def seen(v):
        return "%s saw %s of %d calls per round" % (v, "/".join(map(str, sorted(set(got[v])))),
                                                    n)
    for mode in ("fp", "dwarf"):
        note = "%s; %s; ring drops %d; added per call %s ns vs --count %s ns" % (
            ratios_note(runs["count"], runs[mode]), seen(mode), drops[mode],
            mmr(added(mode), "%.0f"), mmr(added("count"), "%.0f"))
        REPORT("--count --stacks=%s: per call" % mode, med[mode], "ns",
               "--count alone, per call", med["count"], note)
        if runs["bpftrace"]:
            REPORT("--count --stacks=%s: per call" % mode, med[mode], "ns",
                   "bpftrace @[ustack] = count(), per call", med["bpftrace"],
                   "%s; %s; bpftrace added %s ns per call" % (
                       ratios_note(runs["bpftrace"], runs[mode]), seen("bpftrace"),
                       mmr(added("bpftrace"), "%.0f")))
        REPORT("--count --stacks=%s: watch CPU per stack" % mode,
               statistics.median(cpu[mode]) / 1e3, "us", "the probed call, per call",
               med[mode] / 1e3, "userspace: %s; min-max %s us" % (
                   "record, count" if mode == "fp" else "libdw unwind of an 8 KiB slice, count",
                   mmr([x / 1e3 for x in cpu[mode]], "%.1f")))
    REPORT("--count alone: per call (stacks row baseline)", med["count"], "ns",
           "empty uprobe (kernel floor), per call", med["empty"], "%s; %s; unprobed call %.1f ns"
           % (ratios_note(runs["empty"], runs["count"]), seen("count"), med["none"]))


# --- 2. depth through python3.11 and libc (no frame pointers) ----------------------------

def libc_of(pid):
    with open("/proc/%d/maps" % pid) as f:
        for ln in f:
            path = ln.split()[-1]
            if "/libc.so" in path:
                return path
    raise SystemExit("stacks bench: no libc in python3")


def stack_depth(tmp):
    script = os.path.join(tmp, "deep.py")
    with open(script, "w") as f:
        f.write(PY_SCRIPT)
    calls = 5
    cases = (("c", 10, "python3.11 map() x10 -> getppid"),
             ("p", 30, "python3.11 f() x30 -> getppid"))
    for how, depth, what in cases:
        argv = ["/usr/bin/python3.11", script, str(depth), str(calls), how]
        depths = {"dwarf": [], "dwarf64k": [], "fp": [], "bpftrace": []}
        outer = {k: set() for k in depths}
        for _ in range(3):
            for v in depths:
                if v == "bpftrace":
                    if not shutil.which("bpftrace"):
                        continue
                    state = {}

                    def attach(pid, state=state):
                        state["bt"] = Bpftrace(
                            "uprobe:%s:getppid /pid == %d/ { @[ustack] = count(); }"
                            % (libc_of(pid), pid), tmp)
                    try:
                        _, p = proc_go(argv, attach)
                    except RuntimeError as e:
                        print("  bpftrace unavailable: %s" % e)
                        continue
                    out = state["bt"].stop()  # while python lives: its maps for names
                    end(p)
                    for frames, c in bt_stacks(out):
                        depths[v] += [len(frames)] * c
                        outer[v].add("<".join(x.split("+")[0] for x in frames[-3:]))
                    continue
                state = {}

                def attach(pid, state=state, v=v):
                    how = ["--stacks=fp"] if v == "fp" else ["--stacks=dwarf"]
                    if v == "dwarf64k":
                        how += ["--stack-bytes", "65536"]
                    state["w"] = Sz("libc.so*", ["getppid"], ["-p", str(pid), "--count"] + how,
                                    tmp, scan=True)
                    state["w"].found(pid)
                try:
                    _, p = proc_go(argv, attach)
                    end(p)
                finally:
                    if "w" in state:
                        recs, summ, _ = state["w"].stop()
                for r in recs:
                    if r["event"] == "stack":
                        fr = r["stack"]["frames"]
                        depths[v] += [len(fr)] * r["calls"]
                        outer[v].add("%s, truncated: %s" % ("<".join(
                            str(f["symbol"]) for f in fr[-3:]), r["stack"]["truncated"]))
        if not depths["dwarf"]:
            raise SystemExit("stacks bench: no stack recovered (%s)" % what)

        def desc(v):
            if not depths[v]:
                return "%s: no stack" % v
            return "%s: %s frames, outermost 3 %s" % (v, mmr(depths[v], "%d"),
                                                    "/".join(sorted(outer[v])) or "-")
        base = "bpftrace ustack, frames" if depths["bpftrace"] else "(bpftrace unavailable)"
        bt = statistics.median(depths["bpftrace"]) if depths["bpftrace"] else 0
        REPORT("stack depth, %s" % what, statistics.median(depths["dwarf"]), "frm",
               base, bt, "ours --stacks=dwarf; %s; %s; %s; %s; %d calls x 3 rounds" % (
                   desc("dwarf"), desc("dwarf64k"), desc("fp"), desc("bpftrace"), calls))


# --- 3. build-ID stack form vs plain addresses + the mappings record ---------------------

def build_id_form(tmp):
    exe = os.path.join(os.path.dirname(A.bin), "bench", "stackcap")
    n, depths = 20000, (4, 32)  # 8 and 36 frames with main and libc's
    r = subprocess.run([exe, "cap", str(A.pairs), str(n)] + [str(d) for d in depths],
                       capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise SystemExit("stackcap failed: %s" % r.stderr)
    t = {}
    last = {}
    errors, ring = -1, "?"
    for ln in r.stdout.splitlines():
        f = ln.split()
        if f[0] == "round":
            t.setdefault((int(f[2]), f[3]), []).append(int(f[4]) / n)
        elif f[0] == "last":  # last DEPTH VARIANT frames F build_id V ip I
            last[(int(f[1]), f[2])] = int(f[4])
            if f[2] == "buildid":
                last[(int(f[1]), "form")] = "%s as build-ID+offset, %s as bare addresses" % (
                    f[6], f[8])
        elif f[0] == "hits":  # hits H errors E ring_read R ring_drops D
            errors, ring = int(f[3]), "%s ring records read, %s dropped" % (f[5], f[7])
    per_hit = {}
    for d in depths:
        off = t[(d, "off")]
        cost = {v: [x - o for x, o in zip(t[(d, v)], off)]
                for v in ("empty", "ips", "buildid", "ring", "ring-nowake")}
        above = {v: [x - e for x, e in zip(cost[v], cost["empty"])] for v in cost}
        per_hit[d] = cost
        frames = last.get((d, "ips"), -1)
        REPORT("stack capture per hit, build-ID form, %d frames" % frames,
               statistics.median(cost["buildid"]), "ns",
               "plain addresses (what we capture)", statistics.median(cost["ips"]),
               "%s; above the empty uprobe (%s ns): build-ID %s ns, plain %s ns; "
               "last build-ID capture: %s; %d errors" % (
                   ratios_note(cost["ips"], cost["buildid"]), mmr(cost["empty"], "%.0f"),
                   mmr(above["buildid"], "%.0f"), mmr(above["ips"], "%.0f"),
                   last.get((d, "form"), "?"), errors))
        REPORT("fp capture + 1,216 B ring record, %d frames" % frames,
               statistics.median(cost["ring"]), "ns",
               "fp capture alone (no record)", statistics.median(cost["ips"]),
               "%s; the reader woken per record, as the watch's; above the empty uprobe: %s ns"
               % (ratios_note(cost["ips"], cost["ring"]), mmr(above["ring"], "%.0f")))
        REPORT("same record, BPF_RB_NO_WAKEUP, %d frames" % frames,
               statistics.median(cost["ring-nowake"]), "ns",
               "same, reader woken per record", statistics.median(cost["ring"]),
               "%s; reader drains every 10 ms; above the empty uprobe: %s ns; all rounds: %s" % (
                   ratios_note(cost["ring"], cost["ring-nowake"]),
                   mmr(above["ring-nowake"], "%.0f"), ring))
    # What we do instead: every mapping of a process recorded when it is first seen.
    procs = []
    try:
        for _ in range(100):
            procs.append(subprocess.Popen(["sleep", "600"]))
        for _ in range(10):
            procs.append(subprocess.Popen(["/usr/bin/python3.11", "-c",
                                           "import sys; sys.stdin.read()"],
                                          stdin=subprocess.PIPE))
        time.sleep(1.0)  # every one exec'd and mapped
        r = subprocess.run([exe, "maps"] + [str(p.pid) for p in procs], capture_output=True,
                           text=True, timeout=120)
        if r.returncode:
            raise SystemExit("stackcap maps failed: %s" % r.stderr)
        ns = [int(ln.split()[2]) for ln in r.stdout.splitlines()]
        nmaps = []
        for p in (procs[0], procs[-1]):
            with open("/proc/%d/maps" % p.pid) as f:
                nmaps.append(sum(1 for ln in f if "/" in ln))
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
    extra = statistics.median(per_hit[4]["buildid"]) - statistics.median(per_hit[4]["ips"])
    for what, xs, k in (("sleep", ns[1:100], 0), ("python3.11", ns[101:], 1)):
        us = statistics.median(xs) / 1e3
        REPORT("mappings record per new process, %s" % what, us, "us",
               "build-ID form's extra per hit, %d frames" % last.get((depths[0], "ips"), -1),
               extra / 1e3,
               "ratio = hits per process where the two cost the same; %d file mappings; "
               "%d processes, files cached: %s us; first process (opens + parses its "
               "files): %.0f us" % (nmaps[k], len(xs), mmr([x / 1e3 for x in xs], "%.0f"),
                                    (ns[0] if k == 0 else ns[100]) / 1e3))


# --- 4. --arg str / buf per call vs --trace vs --count ------------------------------------

def arg_cost(tmp):
    exe = os.path.join(tmp, "argloop")
    shutil.copy(os.path.join(os.path.dirname(A.bin), "bench", "argloop"), exe)
    n = ARG_CALLS
    # Each probed run makes only its function's calls: no backlog of another loop's
    # records is being formatted while the timed loop runs.
    variants = {("none", "str"): None, ("none", "buf"): None,
                ("count", "str"): ["--count"], ("trace", "str"): ["--trace"],
                ("str", "str"): ["--trace", "--arg", "0:str"],
                ("count", "buf"): ["--count"], ("trace", "buf"): ["--trace"],
                ("buf", "buf"): ["--trace", "--arg", "1:buf:64"]}
    t = {k: [] for k in variants}
    checks = {}
    drops = 0
    for _ in range(A.pairs):
        for (v, fn), extra in variants.items():
            argv = [exe, str(n), fn]
            if extra is None:
                (pid, ns), p = proc_go(argv, lambda pid: None)
                end(p)
            else:
                w = Sz("argloop", ["al_" + fn], extra, tmp)
                try:
                    (pid, ns), p = proc_go(argv, w.found)
                    end(p)
                finally:
                    recs, summ, _ = w.stop()
                drops += summ.get("call_records_dropped", 0)
                calls = [r for r in recs if r["event"] == "call" and r["pid"] == int(pid)]
                if v in ("str", "buf"):
                    vals = calls[-1]["values"][0]
                    checks[v] = (len(calls), vals["bytes"].encode("latin-1"))
                elif v == "trace":
                    checks[(v, fn)] = len(calls)
            t[(v, fn)].append(int(ns) / n)
    want = {"str": b"GET /index.html HTTP/1.1\r\nHost: example.com",
            "buf": bytes((i * 37) & 0xff for i in range(64))}
    for v in ("str", "buf"):
        ok = checks[v][1] == want[v]
        arg = "--arg 0:str (43 bytes)" if v == "str" else "--arg 1:buf:64"
        note = "%d of %d calls traced, last value %s; ring drops (all runs) %d" % (
            checks[v][0], n, "byte-exact" if ok else "WRONG", drops)
        med = {k: statistics.median(t[(k, v)]) for k in ("none", "count", "trace", v)}
        REPORT("--trace %s: per call" % arg, med[v], "ns", "--trace, no --arg, per call",
               med["trace"], "%s; %s" % (ratios_note(t[("trace", v)], t[(v, v)]), note))
        REPORT("--trace %s: per call" % arg, med[v], "ns", "--count, per call", med["count"],
               "%s; unprobed call %.1f ns" % (ratios_note(t[("count", v)], t[(v, v)]),
                                              med["none"]))
        REPORT("--trace (no --arg): per call, al_%s" % v, med["trace"], "ns",
               "--count, per call", med["count"],
               "%s; %d of %d calls traced" % (ratios_note(t[("count", v)], t[("trace", v)]),
                                              checks[("trace", v)], n))


def run(args, report, results):
    global A, REPORT, RESULTS
    A, REPORT, RESULTS = args, report, results
    tmp = tempfile.mkdtemp(prefix="sz-bench-stacks-")
    try:
        stack_cost(tmp)
        stack_depth(tmp)
        build_id_form(tmp)
        arg_cost(tmp)
    finally:
        shutil.rmtree(tmp)
