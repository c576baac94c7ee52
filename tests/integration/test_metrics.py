# SPDX-License-Identifier: BSD-2-Clause
"""watch --metrics against a real Prometheus server (Debian's prometheus, in a
temporary directory, scraping every second): the counter and the histogram
count Prometheus stores equal the calls the caller fixture made, across the
exit of the calling processes; the endpoint binds to loopback unless told
otherwise; bad addresses are usage errors naming the argument."""
import json
import os
import shutil
import socket
import subprocess
import threading
import urllib.parse
import urllib.request

import pytest

from conftest import WAIT, poll_until

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def endpoint(w):
    """(address, port) of the watch's metrics endpoint, from its metrics record."""
    r = w.of("metrics")
    assert len(r) == 1, w.records[:5]
    return r[0]["address"], r[0]["port"]


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=WAIT) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


class Prometheus:
    """A Prometheus server of our own: its config, data and port in SCRATCH."""

    def __init__(self, scratch, targets):
        self.port = free_port()
        d = os.path.join(scratch, "prometheus")
        os.makedirs(os.path.join(d, "data"))
        cfg = os.path.join(d, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n")
            for job, port in targets.items():
                f.write("  - job_name: %s\n    static_configs:\n"
                        "      - targets: ['127.0.0.1:%d']\n" % (job, port))
        self.log = open(os.path.join(d, "log"), "w+")
        self.p = subprocess.Popen([PROMETHEUS, "--config.file=" + cfg,
                                   "--storage.tsdb.path=" + os.path.join(d, "data"),
                                   "--web.listen-address=127.0.0.1:%d" % self.port],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        ok = poll_until(lambda: self.p.poll() is None and self._ready(), 60, 0.2)
        if not ok:
            self.log.seek(0)
            pytest.fail("prometheus did not become ready: %s" % self.log.read()[-3000:])

    def _ready(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port,
                                        timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, q):
        """The instant vector of Q: {frozenset(labels): float value}."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            self.port, urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=WAIT) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return {frozenset(v["metric"].items()): float(v["value"][1])
                for v in body["data"]["result"]}

    def wait_value(self, q, want, timeout=60):
        """Poll Prometheus until Q has one series whose value is WANT."""
        got = {}

        def ok():
            nonlocal got
            got = self.query(q)
            return len(got) == 1 and list(got.values())[0] == want
        if not poll_until(ok, timeout, 0.5):
            pytest.fail("prometheus: %s = %s, want one series = %s" % (q, got, want))
        return got

    def targets_up(self):
        return self.query("up")

    def close(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


@pytest.fixture
def prometheus(scratch):
    started = []

    def start(targets):
        p = Prometheus(scratch, targets)
        started.append(p)
        return p
    yield start
    for p in started:
        p.close()


def test_prometheus_counter_and_histogram(caller, watch, fresh, prometheus):
    """N known calls: Prometheus' HTTP API reports calls_total == N (the
    calling processes have exited by then: their counts stay) and the
    latency histogram's _count == N; the counter never reset."""
    lib_c = fresh("libfix.so", "libfixprom.so")
    lib_l = fresh("libfix.so", "libfixpromlat.so")
    wc = watch("libfixprom.so", ["fix_func"], "--count", "--metrics", "127.0.0.1:0")
    wl = watch("libfixpromlat.so", ["fix_func"], "--latency", "--metrics", "127.0.0.1:0")
    addr_c, port_c = endpoint(wc)
    addr_l, port_l = endpoint(wl)
    assert addr_c == addr_l == "127.0.0.1"
    # --count --latency: both families from one endpoint, as each alone.
    lib_b = fresh("libfix.so", "libfixpromboth.so")
    wb = watch("libfixpromboth.so", ["fix_func"], "--count", "--latency", "--metrics",
               "127.0.0.1:0")
    port_b = endpoint(wb)[1]
    prom = prometheus({"count": port_c, "latency": port_l, "both": port_b})
    # Two processes, one after the other; both exit before the last scrape.
    runs = [(lib_c, 3000), (lib_c, 1700), (lib_l, 2500), (lib_b, 1300)]
    for path, n in runs:
        c = caller(path, n, ["-w", "-x"])
        c.expect("loaded")
        w_of = {lib_c: wc, lib_l: wl, lib_b: wb}[path]
        assert w_of.wait_found(c.pid, "fix_func")["probed"]
        c.send("go")
        c.expect("done")
        c.p.wait(timeout=WAIT)
    sel = 'symbolyze_calls_total{job="count",symbol="fix_func",path="%s",comm="caller"}' % lib_c
    prom.wait_value(sel, 4700.0)
    prom.wait_value('symbolyze_call_duration_seconds_count{job="latency",symbol="fix_func"}',
                    2500.0)
    prom.wait_value('symbolyze_call_duration_seconds_bucket{job="latency",symbol="fix_func",'
                    'le="+Inf"}', 2500.0)
    # Prometheus saw a counter, never a reset (a counter that went down).
    prom.wait_value('resets(symbolyze_calls_total{job="count"}[10m])', 0.0)
    # Every process's exit was seen: retired counts carried the total.
    prom.wait_value('symbolyze_uprobes_attached{job="count"}', 1.0)
    got = prom.query('symbolyze_call_duration_seconds_sum{job="latency"}')
    assert len(got) == 1 and list(got.values())[0] > 0, got
    # The same scrape of the --count --latency watch: counter and histogram.
    prom.wait_value('symbolyze_calls_total{job="both",symbol="fix_func",path="%s",'
                    'comm="caller"}' % lib_b, 1300.0)
    prom.wait_value('symbolyze_call_duration_seconds_count{job="both",symbol="fix_func"}',
                    1300.0)
    prom.wait_value('symbolyze_call_duration_seconds_bucket{job="both",symbol="fix_func",'
                    'le="+Inf"}', 1300.0)
    both = prom.query('{job="both",symbol="fix_func",'
                      '__name__=~"symbolyze_calls_total|symbolyze_call_duration_seconds_count"}')
    assert sorted(both.values()) == [1300.0, 1300.0], both
    got = prom.query('symbolyze_call_duration_seconds_sum{job="both"}')
    assert len(got) == 1 and list(got.values())[0] > 0, got
    prom.wait_value('resets(symbolyze_calls_total{job="both"}[10m])', 0.0)
    up = prom.targets_up()
    assert sorted(v for v in up.values()) == [1.0, 1.0, 1.0], up
    # The tool's own final table agrees with what Prometheus stored.
    assert wc.stop() == 0 and wl.stop() == 0 and wb.stop() == 0
    assert sum(wc.counts().values()) == 4700
    assert sum(wb.counts().values()) == 1300


def test_metrics_exposition_format(caller, watch, fresh):
    """The text format: HELP/TYPE lines, cumulative le buckets ending in +Inf
    == _count, the self-metrics, Content-Type 0.0.4; 404 elsewhere."""
    lib = fresh("libfix.so", "libfixexpo.so")
    w = watch("libfixexpo.so", ["fix_func"], "--latency", "--metrics", "0")
    _, port = endpoint(w)
    c = caller(lib, 500, ["-w", "-S", "3"])
    c.expect("loaded")
    assert w.wait_found(c.pid, "fix_func")["probed"]
    c.send("go")
    c.expect("done")
    status, ctype, text = scrape(port)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    buckets = []
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
        if name.startswith("symbolyze_call_duration_seconds_bucket"):
            le = name.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(value)))
    assert "# TYPE symbolyze_call_duration_seconds histogram" in text
    assert [b for b, _ in buckets] == sorted(b for b, _ in buckets)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets), "le buckets not cumulative"
    assert buckets[-1] == (float("inf"), 500.0)
    assert values['symbolyze_call_duration_seconds_count{symbol="fix_func"}'] == 500
    # _sum lies within what the buckets allow: each call of the bucket with
    # upper bound le = 2^(i+1)-1 ns took at least 2^i ns and at most le.
    lo = hi = 0
    prev = 0.0
    for i, (le, v) in enumerate(buckets[:-1]):
        n = v - prev
        prev = v
        lo += n * (2 ** i) * 1e-9
        hi += n * le
    assert prev == 500, "calls beyond the last finite bucket"
    total = values['symbolyze_call_duration_seconds_sum{symbol="fix_func"}']
    assert lo * 0.999999 <= total <= hi * 1.000001, (lo, total, hi)
    assert buckets[0][0] == 1e-9 and buckets[9][0] == 1.023e-6, buckets[:10]
    for m in ("symbolyze_loads_found_total", "symbolyze_processes_scanned_total",
              "symbolyze_uprobes_attached", 'symbolyze_lost_records_total{reason="ring"}',
              "symbolyze_repairs_total", "symbolyze_processes_frozen_total",
              "symbolyze_resident_memory_bytes"):
        assert m in values, m
    assert values["symbolyze_uprobes_attached"] == 1
    assert values["symbolyze_loads_found_total"] >= 1
    assert values["symbolyze_resident_memory_bytes"] > 1 << 20
    with pytest.raises(urllib.error.HTTPError) as e:
        scrape(port, "/")
    assert e.value.code == 404


def test_metrics_by_pid_and_exits(caller, watch, fresh):
    """--by pid: one series per process, exact, still there after it exits;
    the default (--by comm) never names a pid."""
    lib = fresh("libfix.so", "libfixbypid.so")
    wp = watch("libfixbypid.so", ["fix_func"], "--count", "--metrics", "0", "--by", "pid")
    wc = watch("libfixbypid.so", ["fix_func"], "--count", "--metrics", "0")
    want = {}
    for n in (120, 340):
        c = caller(lib, n, ["-w", "-x"])
        c.expect("loaded")
        wp.wait_found(c.pid, "fix_func")
        wc.wait_found(c.pid, "fix_func")
        c.send("go")
        c.expect("done")
        c.p.wait(timeout=WAIT)
        want[c.pid] = n
    got = {}
    for line in scrape(endpoint(wp)[1])[2].splitlines():
        if line.startswith("symbolyze_calls_total{"):
            pid = int(line.split('pid="')[1].split('"')[0])
            got[pid] = int(line.rsplit(" ", 1)[1])
    assert got == want
    text = scrape(endpoint(wc)[1])[2]
    lines = [ln for ln in text.splitlines() if ln.startswith("symbolyze_calls_total{")]
    assert lines == ['symbolyze_calls_total{symbol="fix_func",path="%s",comm="caller"} %d'
                     % (lib, sum(want.values()))]
    assert "pid=" not in text


def test_metrics_loopback_by_default(sz, watch, fresh):
    """A port alone binds 127.0.0.1; another address needs --metrics-expose."""
    fresh("libfix.so", "libfixloop.so")
    w = watch("libfixloop.so", ["fix_func"], "--count", "--metrics", "0")
    addr, port = endpoint(w)
    assert addr == "127.0.0.1"
    # Not reachable on another local address of the host.
    with socket.socket() as s:
        s.settimeout(2)
        others = [a for a in local_addresses() if not a.startswith("127.")]
        for a in others:
            assert s.connect_ex((a, port)) != 0, "metrics reachable on %s" % a
    r = sz.run("watch", "-g", "x", "-s", "f", "--count", "--metrics", "0.0.0.0:0", expect=2)
    assert "--metrics '0.0.0.0:0'" in r.stderr and "--metrics-expose" in r.stderr
    w2 = watch("libfixloop.so", ["fix_func"], "--count", "--metrics", "0.0.0.0:0",
               "--metrics-expose")
    assert endpoint(w2)[0] == "0.0.0.0"


def local_addresses():
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True)
    return [f.split()[3].split("/")[0] for f in out.stdout.splitlines()] if out.returncode == 0 \
        else []


@pytest.mark.parametrize("value", ["abc", "127.0.0.1:", "127.0.0.1:65536", "1.2.3.4.5:80",
                                   "[::1:80", "127.0.0.1:-1", "host.example:80", ":x"])
def test_metrics_bad_address(sz, value):
    r = sz.run("watch", "-g", "x", "-s", "f", "--count", "--metrics", value, expect=2)
    assert r.stderr.count("\n") == 1 and "--metrics '%s'" % value in r.stderr, r.stderr


@pytest.mark.parametrize("args,words", [
    (["--count", "--by", "comm"], "--by goes with --metrics"),
    (["--count", "--metrics", "0", "--by", "uid"], "--by 'uid'"),
    (["--metrics", "0"], "--metrics goes with --count or --latency"),
    (["--trace", "--metrics", "0"], "--metrics goes with --count or --latency"),
    (["--count", "--metrics-expose"], "--metrics-expose goes with --metrics"),
    (["--count", "--metrics"], "'--metrics' wants a value"),
    (["--count", "--per-interval"], "--per-interval goes with --interval"),
    (["--count", "--interval", "0"], "--interval '0'"),
    (["--interval", "1"], "--interval goes with --count or --latency"),
])
def test_metrics_usage_errors(sz, args, words):
    r = sz.run("watch", "-g", "x", "-s", "f", *args, expect=2)
    assert words in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_metrics_option_of_watch_only(sz):
    r = sz.run("scan", "-g", "x", "-s", "f", "--metrics", "0", expect=2)
    assert "'--metrics' is an option of watch" in r.stderr


def test_metrics_port_in_use(sz, watch, fresh):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = sz.run("watch", "-g", "x", "-s", "f", "--count", "--metrics", "127.0.0.1:%d" % port,
                   "-d", "1", expect=3)
        assert "cannot listen" in r.stderr


def exposition(port):
    """{series name with labels: value} of one scrape."""
    values = {}
    for line in scrape(port)[2].splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def run_many(sz, lib, runs, n, parallel=8):
    """RUNS processes of the caller fixture, N calls each, PARALLEL at a time."""
    live = []
    for _ in range(runs):
        live.append(subprocess.Popen([sz.fix("caller"), "-x", lib, str(n)],
                                     stdout=subprocess.DEVNULL))
        if len(live) >= parallel:
            assert live.pop(0).wait(timeout=WAIT) == 0
    for p in live:
        assert p.wait(timeout=WAIT) == 0


def test_metrics_exited_processes_fold_by_comm(sz, caller, watch, fresh, prometheus):
    """2,001 short-lived processes, --by comm: the counter equals the exact
    total (Prometheus saw it rise, never reset), one series, and no state per
    exited process stays (tracked processes back to 0, exits all folded)."""
    lib = fresh("libfix.so", "libfixfold.so")
    w = watch("libfixfold.so", ["fix_func"], "--count", "--metrics", "127.0.0.1:0")
    port = endpoint(w)[1]
    prom = prometheus({"fold": port})
    # The first process waits for its uprobe: from then on the kernel counts
    # every process that maps the file from its first call.
    c = caller(lib, 7, ["-w", "-x"])
    c.expect("loaded")
    assert w.wait_found(c.pid, "fix_func")["probed"]
    c.send("go")
    c.expect("done")
    c.p.wait(timeout=WAIT)
    runs, n = 2000, 3
    peak = [0]
    done = threading.Event()

    def sample():  # the tracked processes while they come and go
        while not done.is_set():
            peak[0] = max(peak[0], exposition(port)["symbolyze_tracked_processes"])
            done.wait(0.2)
    t = threading.Thread(target=sample)
    t.start()
    try:
        run_many(sz, lib, runs, n)
    finally:
        done.set()
        t.join()
    total = 7 + runs * n
    assert poll_until(lambda: exposition(port)["symbolyze_exited_processes_total"] == runs + 1,
                      WAIT * 4, 0.5), exposition(port)
    v = exposition(port)
    sel = 'symbolyze_calls_total{symbol="fix_func",path="%s",comm="caller"}' % lib
    assert v[sel] == total
    assert [k for k in v if k.startswith("symbolyze_calls_total")] == [sel], \
        {k: x for k, x in v.items() if k.startswith("symbolyze_")}
    assert v["symbolyze_series"] == 1
    assert v["symbolyze_tracked_processes"] == 0
    assert v["symbolyze_series_expired_total"] == 0
    # At most the processes running at once, and those whose exit was queued.
    assert peak[0] <= 64, peak
    prom.wait_value('symbolyze_calls_total{job="fold"}', float(total))
    prom.wait_value('resets(symbolyze_calls_total{job="fold"}[10m])', 0.0)
    # The final table: live processes by pid, the exited ones summed as pid 0.
    assert w.stop() == 0
    assert w.counts() == {(0, "fix_func"): total}


def test_metrics_by_pid_series_expire(caller, watch, fresh, prometheus):
    """--by pid --metrics-keep 4: an exited process's series is exported with
    its last value (Prometheus stored it), then goes; the expired counter
    says how many went, and nothing of them stays."""
    lib = fresh("libfix.so", "libfixexpire.so")
    w = watch("libfixexpire.so", ["fix_func"], "--count", "--metrics", "127.0.0.1:0",
              "--by", "pid", "--metrics-keep", "4")
    port = endpoint(w)[1]
    prom = prometheus({"pid": port})
    # The grace must outlast the scrape interval: here, from the first scrape.
    prom.wait_value('up{job="pid"}', 1.0)
    want = {}
    for n in (210, 95, 333):
        c = caller(lib, n, ["-w", "-x"])
        c.expect("loaded")
        assert w.wait_found(c.pid, "fix_func")["probed"]
        c.send("go")
        c.expect("done")
        c.p.wait(timeout=WAIT)
        want[c.pid] = n
    # Within the grace period: every exited process, exact.
    got = {int(k.split('pid="')[1].split('"')[0]): v for k, v in exposition(port).items()
           if k.startswith("symbolyze_calls_total{")}
    assert got == want
    # Then they go, counted.
    assert poll_until(lambda: exposition(port)["symbolyze_series_expired_total"] == 3,
                      WAIT, 0.5), exposition(port)
    v = exposition(port)
    assert not [k for k in v if k.startswith("symbolyze_calls_total")], v
    assert v["symbolyze_series"] == 0 and v["symbolyze_tracked_processes"] == 0
    assert v["symbolyze_exited_processes_total"] == 3
    # Prometheus scraped each last value before the series went stale.
    for pid, n in want.items():
        prom.wait_value('max_over_time(symbolyze_calls_total{job="pid",pid="%d"}[10m])' % pid,
                        float(n))
    prom.wait_value('count(symbolyze_calls_total{job="pid"}) or vector(0)', 0.0)
    assert w.stop() == 0
    assert w.counts() == {(0, "fix_func"): sum(want.values())}


@pytest.mark.parametrize("args,words", [
    (["--count", "--metrics", "0", "--metrics-keep", "10"],
     "--metrics-keep goes with --metrics and --by pid"),
    (["--count", "--metrics", "0", "--by", "pid", "--metrics-keep", "0.5"],
     "--metrics-keep '0.5'"),
])
def test_metrics_keep_usage(sz, args, words):
    r = sz.run("watch", "-g", "x", "-s", "f", *args, expect=2)
    assert words in r.stderr and r.stderr.count("\n") == 1, r.stderr
