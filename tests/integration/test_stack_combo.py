# SPDX-License-Identifier: BSD-2-Clause
"""--stacks combined with the other probe options in one run (issue 11: "modes combine
where it makes sense").  Each part is what it is alone: --count --stacks counts calls per
unique stack, and beside it --latency gives each function's histogram, --key and --hist
their per-value tables; --trace --stacks --arg gives each call its stack and its values.
The stackfix fixture (tests/fixtures/stackfix.c) makes N calls main -> sf_a -> sf_b ->
sf_probed(3 (i + 1)) and M calls main -> sf_c -> sf_probed(i - 1); what each call passes
and returns is computed here from the fixture's own arithmetic, so every table is checked
exactly, in the same run as the exact per-stack counts.  Refused combinations exit 2
naming their rule."""
import collections
import os
import signal
import time

import pytest

from conftest import Proc
from test_pprof import go_pprof, parse_raw
from test_stacks import (CHAIN_AB, CHAIN_C, MU, NU, M, N, check_chain, check_site_chain, drive,
                         nm_funcs, run_stackfix, sdt_sites, stacks_of)

MASK = 2**64 - 1


def s64(v):
    v &= MASK
    return v - 2**64 if v >> 63 else v


def stackfix_calls(n, m):
    """(arg0, return value) of each sf_probed call in order, signed 64-bit, as stackfix.c
    computes them: sf_probed adds its argument to sf_sink and returns it; main adds
    sf_a's (sf_b's + 1, xor 5) or sf_c's (times 7) result to sf_sink."""
    sink, calls = 0, []
    for i in range(n):
        x = 3 * (i + 1)
        sink = (sink + x) & MASK
        calls.append((x, sink))
        sink = (sink + (((sink + 1) & MASK) ^ 5)) & MASK
    for i in range(m):
        x = (i - 1) & MASK
        sink = (sink + x) & MASK
        r = sink
        calls.append((x, r))
        sink = (sink + r * 7) & MASK
    return [(s64(x), s64(r)) for x, r in calls]


def log2_buckets(values):
    """{(low, high) or "negative": count}: the log2 buckets of --hist (probe_args.c)."""
    b = collections.Counter()
    for v in values:
        if v < 0:
            b["negative"] += 1
        elif v == 0:
            b[(0, 0)] += 1
        else:
            n = v.bit_length()
            b[(1 << (n - 1), (1 << n) - 1)] += 1
    return dict(b)


def hist_of(rec):
    got = {}
    for k in rec["buckets"]:
        if k["count"]:
            got["negative" if k.get("negative") else (k["low"], k["high"])] = k["count"]
    return got


def latency_calls(w, symbol):
    lat = [r for r in w.of("latency") if r["symbol"] == symbol]
    assert len(lat) == 1, w.of("latency")
    return sum(b["count"] for b in lat[0]["buckets"])


def check_stacks(w, path, mode):
    """The two chains of sf_probed with their exact counts, most frequent first."""
    funcs = nm_funcs(path)
    st = stacks_of(w)
    assert [(r["symbol"], r["calls"]) for r in st] == [("sf_probed", N), ("sf_probed", M)], st
    check_chain(st[0]["stack"], CHAIN_AB, path, funcs)
    check_chain(st[1]["stack"], CHAIN_C, path, funcs)
    if mode == "dwarf":
        for r in st:
            assert r["stack"]["frames"][-1]["symbol"] == "_start", r
            assert r["stack"]["truncated"] is None, r
    s = w.summary
    assert s["stacks"] == N + M and s["stack_records_dropped"] == 0, s


# (options beside --count --stacks, mode): every part of each checked exactly below
COMBOS = [
    (["--count", "--latency"], "dwarf"),
    (["--count", "--latency"], "fp"),
    (["--count", "--key", "arg0"], "dwarf"),
    (["--count", "--key", "ret"], "fp"),
    (["--hist", "arg0"], "dwarf"),
    (["--count", "--hist", "ret"], "dwarf"),
    (["--count", "--latency", "--key", "arg0:uint32", "--hist", "ret"], "dwarf"),
]


@pytest.mark.parametrize("opts,mode", COMBOS, ids=[" ".join(o) + " " + m for o, m in COMBOS])
def test_count_stacks_with_each_table(sz, watch, fresh, opts, mode):
    fixture = "stackfix-nofp" if mode == "dwarf" else "stackfix-fp"
    path = fresh(fixture, "scombo-%d" % COMBOS.index((opts, mode)))
    # run_stackfix adds --count; a second --count is the same mode
    w, p = run_stackfix(sz, watch, path, mode, extra=opts)
    assert w.stop() == 0
    check_stacks(w, path, mode)
    assert w.counts() == {(p.pid, "sf_probed"): N + M}
    truth = stackfix_calls(N, M)
    args = [a for a, _ in truth]
    rets = [r for _, r in truth]
    if "--latency" in opts:
        assert latency_calls(w, "sf_probed") == N + M
        assert w.summary["latency_unmatched"] == 0
    else:
        assert not w.of("latency")
    if "--key" in opts:
        src = opts[opts.index("--key") + 1]
        vals = args if src.startswith("arg0") else rets
        if src.endswith(":uint32"):
            vals = [v & 0xffffffff for v in vals]
        keys = w.of("key")
        assert {r["symbol"] for r in keys} == {"sf_probed"}
        assert {r["key"] for r in keys} == {src.split(":")[0]}
        assert {r["value"]: r["calls"] for r in keys} == dict(collections.Counter(vals))
        assert len(keys) == len(set(vals))  # one record per value
        assert w.summary["key_overflow"] == 0
    else:
        assert not w.of("key")
    if "--hist" in opts:
        src = opts[opts.index("--hist") + 1]
        h = w.of("hist")
        assert len(h) == 1 and h[0]["symbol"] == "sf_probed" and h[0]["of"] == src, h
        assert hist_of(h[0]) == log2_buckets(args if src == "arg0" else rets)
    else:
        assert not w.of("hist")


@pytest.mark.parametrize("fixture,mode", [("stackfix-nofp", "dwarf"), ("stackfix-fp", "fp")])
def test_stacks_under_a_pending_uretprobe(sz, watch, fresh, fixture, mode):
    """sf_b and sf_probed both timed (--latency: uretprobes): while sf_probed runs, sf_b's
    return address slot holds the kernel's uretprobe trampoline, not sf_a.  The unwinder
    must read the real return address (sent by BPF from the task's return instances), or
    every sf_probed stack under sf_b stops there."""
    path = fresh(fixture, "scombo-uret-" + mode)
    funcs = nm_funcs(path)
    w = watch(os.path.basename(path), ["sf_probed", "sf_b"], "--count", "--latency",
              "--stacks=" + mode)
    p = drive(w, [path, str(N), str(M)], ["sf_probed", "sf_b"])
    assert w.stop() == 0
    got = {}
    for r in stacks_of(w):
        names = tuple(f["symbol"] for f in r["stack"]["frames"])
        chain = names[:names.index("main") + 1] if "main" in names else names
        check_chain(r["stack"], list(chain), path, funcs)
        if mode == "dwarf":  # CFI on through libc to _start, nothing cut
            assert names[-1] == "_start" and r["stack"]["truncated"] is None, r
        assert (r["symbol"], chain) not in got, r
        got[(r["symbol"], chain)] = r["calls"]
    assert got == {("sf_probed", tuple(CHAIN_AB)): N, ("sf_probed", tuple(CHAIN_C)): M,
                   ("sf_b", ("sf_b", "sf_a", "main")): N}, got
    assert w.counts() == {(p.pid, "sf_probed"): N + M, (p.pid, "sf_b"): N}
    assert latency_calls(w, "sf_probed") == N + M and latency_calls(w, "sf_b") == N
    assert w.summary["stacks"] == 2 * N + M and w.summary["stack_records_dropped"] == 0


def test_trace_stacks_with_arg_values(sz, watch, fresh):
    """--trace --stacks --arg: each call carries its stack and its decoded values, each
    return its value."""
    path = fresh("stackfix-nofp", "scombo-trace")
    funcs = nm_funcs(path)
    w = watch(os.path.basename(path), ["sf_probed"], "--trace", "--stacks", "--arg", "0:int",
              "--arg", "0:uint32")
    n, m = 6, 4
    p = drive(w, [path, str(n), str(m)], ["sf_probed"])
    assert w.stop() == 0
    truth = stackfix_calls(n, m)
    calls, rets = w.of("call", p.pid), w.of("return", p.pid)
    assert len(calls) == n + m and len(rets) == n + m
    for i, (k, (arg, ret)) in enumerate(zip(calls, truth)):
        check_chain(k["stack"], CHAIN_AB if i < n else CHAIN_C, path, funcs)
        assert k["values"] == [{"arg": 0, "type": "int", "value": arg},
                               {"arg": 0, "type": "uint32", "value": arg & 0xffffffff}], k
    assert [s64(int(r["ret"], 16)) for r in rets] == [r for _, r in truth]
    assert all(r.get("stack") is None for r in rets)
    assert w.summary["stacks"] == n + m


def test_folded_beside_the_json_tables(sz, watch, fresh):
    """--folded with --latency and --key (with --json): the stacks as folded lines, the
    tables as their JSON records, which flame-graph tools skip."""
    path = fresh("stackfix-nofp", "scombo-folded")
    w, p = run_stackfix(sz, watch, path, "dwarf",
                        extra=["--latency", "--key", "arg0", "--folded"])
    w.p.send_signal(signal.SIGINT)
    w.p.wait(timeout=60)
    for t in w.readers:
        t.join(10)
    assert w.p.returncode == 0, w.stderr
    assert not w.of("count") and not w.of("stack")
    libc = "_start;__libc_start_main;__libc_start_call_main;main;"
    assert [ln.rstrip("\n") for ln in w.garbage] == [
        libc + "sf_a;sf_b;sf_probed %d" % N, libc + "sf_c;sf_probed %d" % M]
    assert latency_calls(w, "sf_probed") == N + M
    args = [a for a, _ in stackfix_calls(N, M)]
    assert {r["value"]: r["calls"] for r in w.of("key")} == dict(collections.Counter(args))


def test_pprof_beside_the_key_table(sz, watch, fresh, tmp_path):
    """--pprof FILE with --key and --latency: the file's samples are the calls per stack,
    the tables are on stdout."""
    path = fresh("stackfix-nofp", "scombo-pprof")
    prof = tmp_path / "combo.pb.gz"
    w, p = run_stackfix(sz, watch, path, "dwarf",
                        extra=["--latency", "--hist", "arg0", "--pprof", str(prof)])
    assert w.stop() == 0
    assert not w.of("stack")
    samples, locs, _ = parse_raw(go_pprof(tmp_path, "-raw", str(prof)))
    stacks = sorted(((v, [locs[i][0] for i in ids]) for v, ids in samples), reverse=True)
    assert [v for v, _ in stacks] == [N, M], stacks
    assert stacks[0][1][:4] == CHAIN_AB and stacks[1][1][:3] == CHAIN_C, stacks
    assert latency_calls(w, "sf_probed") == N + M
    h, = w.of("hist")
    assert hist_of(h) == log2_buckets([a for a, _ in stackfix_calls(N, M)])


def test_usdt_stacks_beside_timed_functions(sz, watch, fresh):
    """-u and -s together with --count --latency --stacks: the USDT site inside us_b is
    reached while us_b's uretprobe (--latency) is pending; its stack still goes through
    us_a to main.  Functions' and probes' counts, stacks and latency, all exact."""
    path = fresh("sdtstack-nofp", "scombo-usdt")
    funcs, sites = nm_funcs(path), sdt_sites(path)
    w = watch(os.path.basename(path), ["us_b"], "-u", "szstack:hit", "--count", "--latency",
              "--stacks")
    p = drive(w, [path, str(NU), str(MU)], ["us_b", "szstack:hit"])
    assert w.stop() == 0
    got = {}
    for r in stacks_of(w):
        names = tuple(f["symbol"] for f in r["stack"]["frames"])
        assert names[-1] == "_start" and r["stack"]["truncated"] is None, r
        chain = names[:names.index("main") + 1]
        if r["symbol"] == "us_b":
            check_chain(r["stack"], list(chain), path, funcs)
        else:
            check_site_chain(r["stack"], chain, path, funcs, sites, r["symbol"])
        assert (r["symbol"], chain) not in got
        got[(r["symbol"], chain)] = r["calls"]
    assert got == {("szstack:hit", ("us_b", "us_a", "main")): NU,
                   ("szstack:hit", ("us_c", "main")): MU,
                   ("us_b", ("us_b", "us_a", "main")): NU}
    assert w.counts() == {(p.pid, "us_b"): NU, (p.pid, "szstack:hit"): NU + MU}
    assert latency_calls(w, "us_b") == NU
    assert w.summary["stacks"] == 2 * NU + MU and w.summary["stack_records_dropped"] == 0


def test_the_watch_never_probes_itself(sz, watch):
    """A uprobe is per inode, so it fires in symbolyze too: unwinding a stack calls malloc,
    which would be one more malloc stack to unwind, for ever (a watch of libc's malloc
    with --stacks never ended, deaf to -d and SIGINT).  --comm keeps the host's other
    processes out of it; other sessions' symbolyze may still show up, ours may not."""
    w = watch("libc.so*", ["malloc", "free"], "--count", "--latency", "--stacks",
              "--comm", "symbolyze", "-d", "2")
    w.p.wait(timeout=60)
    assert w.stop() == 0
    assert w.summary["uprobes"] >= 2
    for ev in ("count", "stack"):
        assert all(r.get("pid") != w.pid for r in w.of(ev)), w.of(ev)[:3]
    mine = [r for r in w.of("stack") for f in r["stack"]["frames"]
            if f["path"] and os.path.realpath(f["path"]) == os.path.realpath(sz.bin)]
    assert not mine, mine[:1]


@pytest.mark.parametrize("argv,word", [
    (["--latency", "--stacks"], "--count --latency --stacks gives calls per stack"),
    (["--latency", "--hist", "arg0", "--stacks"], "--stacks goes with --count or --trace"),
    (["--count", "--stacks", "--interval", "1"], "--interval does not go with --stacks"),
    (["--count", "--latency", "--stacks", "--folded"], "--folded with --latency, --key or "
     "--hist wants --json"),
    (["--count", "--key", "arg0", "--stacks", "--folded"], "wants --json"),
    (["--hist", "ret", "--stacks", "--folded"], "wants --json"),
    (["--trace", "--stacks", "--pprof", "/tmp/x.pb.gz"], "--pprof goes with --count --stacks"),
])
def test_refused_combinations(sz, argv, word):
    r = sz.run("watch", "-g", "x", "-s", "y", *argv)
    assert r.returncode == 2 and word in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("argv", [["--count", "--latency"], ["--count", "--key", "arg0"],
                                  ["--hist", "arg0"], ["--trace", "--arg", "0:int"],
                                  ["--count", "--filter", "arg0 == 1"],
                                  ["--count", "--comm", "x"]])
def test_usdt_alone_refuses_function_options(sz, argv):
    """USDT arguments come from the probe's spec: --latency, --key, --hist, --arg,
    --filter and --comm are functions' (with -s beside -u they apply to the -s ones)."""
    r = sz.run("watch", "-g", "x", "-u", "p:n", "--stacks", *argv)
    assert r.returncode == 2, r.stderr
    assert "apply to functions (-s), not to USDT probes (-u)" in r.stderr, r.stderr


def test_a_flood_of_stacks_does_not_deafen_the_watch(sz, watch, fresh):
    """The fixture calls sf_probed as fast as it can while the watch unwinds every stack
    (DWARF, 64 KiB slices): records come faster than they are unwound.  libbpf's poll
    would hand them over for as long as the ring has any, and the drain at the end would
    go on for as long as the fixture runs; SIGINT must still end the watch, in order,
    with its summary, and the figures must add up."""
    path = fresh("stackfix-nofp", "scombo-flood")
    w = watch(os.path.basename(path), ["sf_probed"], "--count", "--stacks",
              "--stack-bytes", "65536")
    p = Proc([path, "100000000", "0"])
    try:
        p.expect("ready")
        assert w.wait_found(p.pid, "sf_probed")["probed"]
        p.send("go")
        time.sleep(3)
        assert p.p.poll() is None  # still calling
        assert w.stop(timeout=30) == 0
        assert p.p.poll() is None  # the watch ended while the flood went on
    finally:
        p.p.kill()
        p.close()
    s = w.summary
    calls = sum(r["calls"] for r in w.of("stack"))
    assert s["stacks"] == calls > 0, s
    assert w.counts()[(p.pid, "sf_probed")] >= calls
