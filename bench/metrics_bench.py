# SPDX-License-Identifier: BSD-2-Clause
"""Issue 13's figures for bench/run.py (make bench): what a Prometheus scrape of
watch --metrics costs with 1,000 series, and what being scraped every second
costs each counted call.  Ratios against baselines measured in the same run,
interleaved; nothing asserted."""
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request


def scrape(port):
    t = time.monotonic()
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30) as r:
        body = r.read().decode()
    return (time.monotonic() - t) * 1e3, body


def port_of(w):
    deadline = time.time() + 10
    while time.time() < deadline:
        for _, r in list(w.lines):
            if r["event"] == "metrics":
                return r["port"]
        time.sleep(0.01)
    raise SystemExit("watch --metrics: no metrics record")


def series(body):
    return sum(1 for ln in body.splitlines() if ln.startswith("symbolyze_calls_total{"))


def run(args, lib, report, interleaved, caller_run, Watch):
    d = tempfile.mkdtemp(prefix="sz-bench-metrics-")
    try:
        copy = os.path.join(d, "libszmetrics.so")
        shutil.copy(lib, copy)
        scrape_cost(args, copy, report, interleaved, caller_run, Watch)
        scraped_vs_not(args, copy, report, interleaved, caller_run, Watch)
    finally:
        shutil.rmtree(d)


def scrape_cost(args, copy, report, interleaved, caller_run, Watch, nproc=1000):
    """1,000 series: --by pid over 1,000 processes that called and exited (their
    series kept for --metrics-keep after the exit), against the same processes
    --by comm (one series: every one is a "caller")."""
    one = Watch("libszmetrics.so", ["fix_func"], ["--count", "--metrics", "0"])
    many = Watch("libszmetrics.so", ["fix_func"], ["--count", "--metrics", "0", "--by", "pid",
                                                   "--metrics-keep", "3600"])
    try:
        caller_run(copy, 1, lambda pid: (one.wait_found(pid), many.wait_found(pid)))
        p1, pm = port_of(one), port_of(many)
        procs = []
        for _ in range(nproc - 1):
            procs.append(subprocess.Popen([args.caller, "-x", copy, "1"],
                                          stdout=subprocess.DEVNULL))
            if len(procs) >= 8:
                procs.pop(0).wait()
        for p in procs:
            p.wait()
        deadline = time.time() + 60
        while series(scrape(pm)[1]) < nproc and time.time() < deadline:
            time.sleep(0.5)
        n_one, n_many = series(scrape(p1)[1]), series(scrape(pm)[1])
        ratio, lo, hi, a, b = interleaved(lambda: scrape(p1)[0], lambda: scrape(pm)[0], 31)
        report("metrics: scrape, %d series" % n_many, b, "ms",
               "scrape, %d series" % n_one, a,
               "31 interleaved pairs, ratio %.3g (%.3g-%.3g)" % (ratio, lo, hi))
    finally:
        one.stop()
        many.stop()


def pin(pid, cpu):
    """Every thread of process PID (0: this thread) on CPU."""
    tids = os.listdir("/proc/%d/task" % pid) if pid else ["0"]
    for t in tids:
        try:
            os.sched_setaffinity(int(t), {cpu})
        except OSError:
            pass


def oncpu_ns(pid):
    """Time PID has run on a CPU (ns, /proc/PID/schedstat): unlike wall time,
    not stretched when other processes take the CPU from it."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0])


def pinned_run(args, lib, n, w, cpu):
    """One caller run pinned to CPU: N calls of fix_func once its probe is on.
    Returns (on-CPU ns per call, wall ns per call) of the call loop (the caller
    waits with its stdin open after "done", so it can be read then)."""
    c = subprocess.Popen([args.caller, "-w", lib, str(n)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, preexec_fn=lambda: pin(0, cpu))
    try:
        w.wait_found(int(c.stdout.readline().split()[1]))
        t0 = oncpu_ns(c.pid)
        c.stdin.write("go\n")
        c.stdin.flush()
        for line in c.stdout:
            if line.startswith("done"):
                return (oncpu_ns(c.pid) - t0) / n, int(line.split()[2]) / n
        raise SystemExit("caller failed")
    finally:
        c.stdin.close()
        c.wait()


def scraped_vs_not(args, copy, report, interleaved, caller_run, Watch):
    """Per-call cost of --count while the endpoint is scraped vs not: one watch,
    a scraper thread switched on for every other caller run (A B A B).  The
    calling process is pinned to one CPU, the watch (all its threads) and the
    scraper to the other, and the figure is the caller's own on-CPU time per
    call (the uprobe and the BPF program run in it), so what a scrape does to
    the call path shows, not CPU time that this or any other load takes from
    the caller (wall time per call in the note).  Two rates: every second (the
    issue's figure), and back to back (thousands a second), which magnifies
    any real cost of a scrape on the call path far above the noise."""
    import statistics
    n = args.calls
    pairs = max(args.pairs, 15)
    caller_cpu, tool_cpu = (1, 0) if os.cpu_count() > 1 else (0, 0)
    w = Watch("libszmetrics.so", ["fix_func"], ["--count", "--metrics", "0"])
    port = port_of(w)
    pin(w.p.pid, tool_cpu)
    period = [1.0]
    on = threading.Event()
    done = threading.Event()
    scrapes = [0]

    def scraper():
        pin(0, tool_cpu)
        while not done.is_set():
            if on.is_set():
                scrape(port)
                scrapes[0] += 1
                if period[0]:
                    done.wait(period[0])
            else:
                done.wait(0.05)
    t = threading.Thread(target=scraper, daemon=True)
    t.start()
    try:
        for label, every in (("every 1 s", 1.0), ("back to back", 0)):
            period[0] = every
            scrapes[0] = 0
            cpu, wall = [], []
            on_s = 0.0
            for _ in range(pairs):
                on.clear()
                a = pinned_run(args, copy, n, w, caller_cpu)
                on.set()
                t0 = time.monotonic()
                b = pinned_run(args, copy, n, w, caller_cpu)
                on.clear()
                on_s += time.monotonic() - t0
                cpu.append((a[0], b[0]))
                wall.append((a[1], b[1]))
            rc = [y / x for x, y in cpu]
            rw = [y / x for x, y in wall]
            report("metrics: --count on-CPU per call, scraped %s" % label,
                   statistics.median(y for _, y in cpu), "ns",
                   "not scraped", statistics.median(x for x, _ in cpu),
                   "%d interleaved pairs of %d calls, caller pinned to CPU %d, watch and "
                   "scraper to CPU %d; ratio %.4f (%.4f-%.4f); wall time per call: ratio "
                   "%.4f (%.4f-%.4f); %d scrapes (%.0f/s while on)"
                   % (pairs, n, caller_cpu, tool_cpu, statistics.median(rc), min(rc), max(rc),
                      statistics.median(rw), min(rw), max(rw), scrapes[0],
                      scrapes[0] / on_s))
    finally:
        done.set()
        t.join(5)
        w.stop()
