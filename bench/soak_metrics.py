#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""make soak: `watch --count --metrics` for SECONDS (default 600), scraped every
second as Prometheus would, while a new process calls fix_func N times and
exits every second.  Samples the watch's RSS and open fds every 10 s; reports
the first (after warm-up) and the last, and checks on the way that every
scrape's counter is monotonic and the last one equals every call made.
Measures and reports; asserts no time.

    bench/soak_metrics.py --bin build/symbolyze --caller build/fixtures/caller \
        --lib build/fixtures/libfix.so --seconds 600 [--out FILE.json]
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request


def gauge(text, name):
    """The value of the unlabelled series NAME in an exposition, or None."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def rss_fds(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0]
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def calls_total(text):
    return sum(int(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("symbolyze_calls_total{"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--caller", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--calls", type=int, default=5000, help="calls per process")
    ap.add_argument("--out")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="sz-soak-metrics-")
    lib = os.path.join(d, "libszmsoak.so")
    shutil.copy(a.lib, lib)
    w = subprocess.Popen([a.bin, "watch", "--json", "-g", "libszmsoak.so", "-s", "fix_func",
                          "--count", "--metrics", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = None
    for line in w.stdout:
        rec = json.loads(line)
        if rec["event"] == "metrics":
            port = rec["port"]
        if rec["event"] == "ready":
            break
    # Found records keep coming; read and drop them so stdout never fills.
    threading.Thread(target=lambda: [None for _ in w.stdout], daemon=True).start()
    url = "http://127.0.0.1:%d/metrics" % port

    def scrape():
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()
    # Warm-up: a first process gets the uprobe attached (its early calls may
    # come before); from then on every call of every process is counted.
    deadline = time.monotonic() + 30
    while "symbolyze_uprobes_attached 1" not in scrape().splitlines():
        subprocess.run([a.caller, "-x", lib, "10"], capture_output=True, timeout=60)
        if time.monotonic() > deadline:
            raise SystemExit("soak: the uprobe never attached")
        time.sleep(0.2)
    base = calls_total(scrape())
    samples, scrape_ms, problems = [], [], []
    made = procs = last = 0
    t0 = time.monotonic()
    next_scrape = next_proc = next_sample = t0
    try:
        while time.monotonic() - t0 < a.seconds:
            now = time.monotonic()
            if now >= next_proc:
                c = subprocess.run([a.caller, "-x", lib, str(a.calls)], capture_output=True,
                                   text=True, timeout=60)
                if c.returncode == 0:
                    made += a.calls
                    procs += 1
                next_proc += 1
            if now >= next_scrape:
                s = time.monotonic()
                total = calls_total(scrape()) - base
                scrape_ms.append((time.monotonic() - s) * 1e3)
                if total < last:
                    problems.append("counter went down: %d -> %d" % (last, total))
                last = total
                next_scrape += 1
            if now >= next_sample:
                samples.append((round(now - t0), *rss_fds(w.pid)))
                next_sample += 10
            time.sleep(max(0.0, min(next_proc, next_scrape, next_sample) - time.monotonic()))
        time.sleep(1.5)  # the last exits reach the watch
        text = scrape()
        final = calls_total(text) - base
        gauges = {k: gauge(text, k) for k in ("symbolyze_series", "symbolyze_tracked_processes",
                                              "symbolyze_exited_processes_total")}
        samples.append((round(time.monotonic() - t0), *rss_fds(w.pid)))
    finally:
        w.send_signal(2)
        w.wait(timeout=30)
        shutil.rmtree(d)
    warm = samples[min(3, len(samples) - 1)]
    res = {"seconds": a.seconds, "processes": procs, "calls_made": made,
           "calls_total_last_scrape": final, "calls_before": base, "scrapes": len(scrape_ms),
           "scrape_ms_median": sorted(scrape_ms)[len(scrape_ms) // 2] if scrape_ms else None,
           "rss_kib_first": samples[0][1], "rss_kib_after_warmup": warm[1],
           "rss_kib_last": samples[-1][1], "rss_kib_peak": max(s[1] for s in samples),
           "fds_first": samples[0][2], "fds_after_warmup": warm[2], "fds_last": samples[-1][2],
           "problems": problems, "samples": samples, "last_scrape": gauges}
    print("soak: %ds, %d processes, %d calls made, last scrape %d; %d scrapes (median %.2f ms)"
          % (a.seconds, procs, made, final, len(scrape_ms), res["scrape_ms_median"] or 0))
    print("soak: RSS KiB first %d, after warm-up (%ds) %d, last %d, peak %d; fds first %d, "
          "after warm-up %d, last %d"
          % (samples[0][1], warm[0], warm[1], samples[-1][1], res["rss_kib_peak"],
             samples[0][2], warm[2], samples[-1][2]))
    print("soak: at the end, %s" % ", ".join("%s %s" % kv for kv in gauges.items()))
    print("soak: %s" % ("; ".join(problems) if problems else
                        "counter monotonic on every scrape" +
                        (", last == calls made" if final == made else
                         ", LAST != calls made")))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
