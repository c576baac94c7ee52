# SPDX-License-Identifier: BSD-2-Clause
"""Probes under watch: exact call counts per process and per symbol, traced
arguments and return values, a latency histogram, --freeze; the caller
fixture makes an exact number of calls and says when (tests/fixtures/caller.c)."""
import json
import os
import signal
import subprocess

import pytest

from conftest import poll_until


def test_probe_count_exact_two_processes(bpf, caller, watch, fresh, scratch):
    """Processes started after watch: exact counts, per process, per symbol."""
    lib = fresh("libfix.so", "libfixcount.so")
    w = watch("libfixcount.so", ["fix_func", "fix_args"], "--count")
    # A second copy is a new inode: it gets uprobes of its own.
    os.mkdir(os.path.join(scratch, "second"))
    lib2 = fresh("libfix.so", "second/libfixcount.so")
    calls = {}
    for path, n in ((lib, 100000), (lib, 37000), (lib2, 2500)):
        c = caller(path, n, ["-w", "-a"])
        c.expect("loaded")
        assert w.wait_found(c.pid, "fix_func")["probed"]
        assert w.wait_found(c.pid, "fix_args")["probed"]
        c.send("go")
        calls[c] = n
    for c in calls:
        c.expect("done")
    # Counts on demand: SIGUSR1 prints them and the watch goes on.
    first = next(iter(calls))
    os.kill(w.pid, signal.SIGUSR1)
    w.wait_for(lambda r: r["event"] == "count" and r["pid"] == first.pid and
               r["calls"] == 100000, what="counts on SIGUSR1")
    assert w.p.poll() is None, "the watch ended on SIGUSR1"
    assert w.stop() == 0
    # The final table (after the SIGUSR1 one) has every process exactly.
    final = {}
    for r in w.of("count"):
        final[(r["pid"], r["symbol"])] = r["calls"]
    assert final == {k: v for c, n in calls.items()
                     for k, v in (((c.pid, "fix_func"), n), ((c.pid, "fix_args"), 3))}
    # One attach per (inode, symbol): the second process on the first inode
    # needed none, the second inode needed its own two.
    assert w.summary["uprobes"] == 4
    assert w.summary["call_records_dropped"] == 0
    assert bpf.still_loaded("link") == {}, "links left after probes"
    # Only when libbpf had to fall back to tracefs would uprobe_events name
    # the file; with the uprobe PMU (this kernel) it never does.
    ev = "/sys/kernel/tracing/uprobe_events"
    if os.path.exists(ev):
        with open(ev) as f:
            assert "libfixcount" not in f.read(), "uprobe events left in tracefs"


def count_map_pids(bpf, watch_pid):
    """The tgids that have keys in the watch's BPF counts hash now."""
    maps = bpf.show("map")
    ids = [i for i in bpf.held(watch_pid)["map"] if bpf.map_name(maps[i]["name"]) == "counts"]
    assert len(ids) == 1, ids
    out = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(ids[0])],
                         capture_output=True, text=True, check=True).stdout
    pids = set()
    for e in json.loads(out):
        key = e.get("formatted", {}).get("key") or {}
        if "tgid" in key:
            pids.add(key["tgid"])
        else:  # no BTF formatting: the raw key bytes, tgid first (little-endian)
            pids.add(int.from_bytes(bytes(int(b, 16) for b in e["key"][:4]), "little"))
    return pids


def test_probe_counts_outlive_the_process(bpf, caller, watch, fresh):
    """A process that exits keeps its contribution: its counts leave the BPF
    hash for the watch's own table at its exit (so the hash does not fill up
    with the dead) and are still reported exactly."""
    lib = fresh("libfix.so", "libfixgone.so")
    w = watch("libfixgone.so", ["fix_func", "fix_args"], "--count")
    gone = {}
    def run(n):
        c = caller(lib, n, ["-w", "-a"])
        c.expect("loaded")
        assert w.wait_found(c.pid, "fix_func")["probed"]
        assert w.wait_found(c.pid, "fix_args")["probed"]
        c.send("go")
        c.expect("done")
        return c
    for n in (4000, 6000, 9000):
        c = run(n)
        c.close()  # exits: its exit record reaches the watch
        gone[c.pid] = n
    live = run(1234)
    # The dead leave the kernel's hash once their exit records are handled.
    assert poll_until(lambda: not (count_map_pids(bpf, w.pid) & set(gone)), 10), \
        count_map_pids(bpf, w.pid)
    assert live.pid in count_map_pids(bpf, w.pid)
    assert w.stop() == 0
    counts = w.counts()
    want = {(pid, "fix_func"): n for pid, n in gone.items()}
    want.update({(pid, "fix_args"): 3 for pid in gone})
    want.update({(live.pid, "fix_func"): 1234, (live.pid, "fix_args"): 3})
    assert counts == want
    assert w.summary["exits"] >= 3  # the exits were seen, so the counts were retired
    assert len(w.of("count")) == len(want)  # each once: retired or live, never both


def test_probe_count_one_process_with_p(caller, watch, fresh):
    """-p: per-process uprobes on a process found by the initial scan."""
    lib = fresh("libfix.so", "libfixone.so")
    c = caller(lib, 5000, ["-w"])
    other = caller(lib, 7000, ["-w"])
    c.expect("loaded")
    other.expect("loaded")
    w = watch("libfixone.so", ["fix_func"], "--count", "-p", str(c.pid))
    rec = w.wait_found(c.pid, "fix_func")
    assert rec["source"] == "scan" and rec["probed"]
    c.send("go")
    other.send("go")
    c.expect("done")
    other.expect("done")
    assert w.stop() == 0
    assert w.counts() == {(c.pid, "fix_func"): 5000}
    assert w.summary["found"] == 1 and w.summary["uprobes"] == 1


def test_probe_trace_arguments_and_returns(caller, watch, fresh):
    lib = fresh("libfix.so", "libfixtrace.so")
    w = watch("libfixtrace.so", ["fix_args"], "--trace")
    c = caller(lib, 0, ["-w", "-a"])
    c.expect("loaded")
    assert w.wait_found(c.pid, "fix_args")["probed"]
    c.send("go")
    c.expect("done")
    assert w.stop() == 0  # the calls were made: their records are drained
    calls, rets = w.of("call", c.pid), w.of("return", c.pid)
    assert [[int(a, 16) for a in r["args"]] for r in calls] == \
        [[10 * k + i for i in range(1, 7)] for k in range(3)]
    assert [int(r["ret"], 16) for r in rets] == [21, 81, 141]
    assert all(r["duration_ns"] > 0 and r["symbol"] == "fix_args" and r["tid"] == c.pid
               and r["comm"] == "caller" for r in rets), rets
    assert all(a["ts_ns"] < b["ts_ns"] for a, b in zip(calls, rets))
    assert w.summary["call_records_dropped"] == 0


def test_probe_latency_histogram(caller, watch, fresh):
    """fix_sleep_ms(1) x 40: every duration lands in the 1-2 ms octave or near it."""
    lib = fresh("libfix.so", "libfixlat.so")
    w = watch("libfixlat.so", ["fix_sleep_ms"], "--latency")
    c = caller(lib, 0, ["-w", "-S", "40"])
    c.expect("loaded")
    assert w.wait_found(c.pid, "fix_sleep_ms")["probed"]
    c.send("go")
    c.expect("done")
    assert w.stop() == 0
    lat = w.of("latency")
    assert [r["symbol"] for r in lat] == ["fix_sleep_ms"]
    b = lat[0]["buckets"]
    assert sum(x["count"] for x in b) == 40
    assert all(x["low_ns"] >= 1 << 19 and x["high_ns"] < 1 << 23 for x in b if x["count"]), \
        "durations outside 0.5-8 ms: %s" % b
    assert max(b, key=lambda x: x["count"])["low_ns"] == 1 << 20, \
        "most calls not in [1.05, 2.1) ms: %s" % b


def test_probe_freeze_counts_first_calls(caller, watch, fresh):
    """Calls straight after dlopen(): exact with --freeze; without, some may
    be missed (never more counted than made)."""
    lib = fresh("libfix.so", "libfixfreeze.so")
    got, frozen = {}, {}
    for freeze in (["--freeze"], []):
        w = watch("libfixfreeze.so", ["fix_func", "fix_args"], "--count", *freeze)
        c = caller(lib, 100000, ["-a"])
        c.expect("done")
        assert c.state not in ("T", "t"), "caller left stopped"
        assert w.stop() == 0
        counts = w.counts()
        got[bool(freeze)] = (counts.get((c.pid, "fix_func"), 0),
                             counts.get((c.pid, "fix_args"), 0))
        frozen[bool(freeze)] = w.summary["frozen"]
        c.close()  # gone before the next watch: its scan must find no probed inode
    assert got[True] == (100000, 3)
    assert got[False][0] <= 100000 and got[False][1] <= 3
    assert frozen[True] > 0 and frozen[False] == 0
    # Once the inode is probed, later processes need no freeze (the kernel
    # puts the uprobes in their mappings) and are still counted exactly.
    w = watch("libfixfreeze.so", ["fix_func"], "--count", "--freeze")
    pids = []
    for _ in range(2):
        c = caller(lib, 50000, [])
        c.expect("done")
        pids.append(c.pid)
        c.close()
    assert w.stop() == 0
    assert [w.counts().get((p, "fix_func")) for p in pids] == [50000, 50000]
    assert w.summary["frozen"] == frozen[True], "only the first load should freeze"


def test_probe_freeze_never_leaves_a_process_stopped(caller, watch, fresh):
    """SIGTERM while processes are being frozen: all of them run to the end."""
    lib = fresh("libfix.so", "libfixstop.so")
    w = watch("libfixstop.so", ["fix_func"], "--count", "--freeze")
    cs = [caller(lib, 1000, ["-x"]) for _ in range(10)]
    assert w.stop(signal.SIGTERM) == 0
    for c in cs:
        try:
            c.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("caller %d stuck in state %s" % (c.pid, c.state))
        assert c.p.returncode == 0, "caller %d exit %d" % (c.pid, c.p.returncode)


def test_probe_objects_reported_not_probed(caller, watch, fresh):
    lib = fresh("libfix.so", "libfixobj.so")
    w = watch("libfixobj.so", ["fix_data", "fix_func"], "--count")
    c = caller(lib, 10, ["-w"])
    c.expect("loaded")
    r = w.wait_found(c.pid, "fix_data")
    assert r["type"] == "object" and not r["probed"] and r["probe_note"], r
    assert w.wait_found(c.pid, "fix_func")["probed"]
    assert w.stop() == 0
    assert w.summary["uprobes"] == 1
