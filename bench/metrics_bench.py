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


def scraped_vs_not(args, copy, report, interleaved, caller_run, Watch):
    """Per-call cost of --count with the endpoint scraped every second vs not:
    one watch, a scraper thread switched on for every other caller run."""
    n = args.calls
    w = Watch("libszmetrics.so", ["fix_func"], ["--count", "--metrics", "0"])
    port = port_of(w)
    on = threading.Event()
    done = threading.Event()
    scrapes = [0]

    def scraper():
        while not done.is_set():
            if on.is_set():
                scrape(port)
                scrapes[0] += 1
            done.wait(1.0)
    t = threading.Thread(target=scraper, daemon=True)
    t.start()
    try:
        def quiet():
            on.clear()
            return caller_run(copy, n, w.wait_found)[0] / n

        def scraped():
            on.set()
            try:
                return caller_run(copy, n, w.wait_found)[0] / n
            finally:
                on.clear()
        ratio, lo, hi, a, b = interleaved(quiet, scraped, args.pairs)
        report("metrics: --count per call, scraped every 1 s", b, "ns",
               "--count per call, not scraped", a,
               "%d interleaved pairs, ratio %.4f (%.4f-%.4f); %d scrapes"
               % (args.pairs, ratio, lo, hi, scrapes[0]))
    finally:
        done.set()
        t.join(5)
        w.stop()
