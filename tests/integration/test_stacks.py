# SPDX-License-Identifier: BSD-2-Clause
"""--stacks under watch: the stackfix fixture makes N calls main -> sf_a -> sf_b ->
sf_probed and M calls main -> sf_c -> sf_probed (tests/fixtures/stackfix.c), built with
frame pointers and without (-fomit-frame-pointer: only CFI recovers the chain).  Counts
must be exact per stack, each frame named and its address inside that function as nm
says, and a process that exited (its file deleted) before the report still symbolized."""
import os
import re
import signal
import subprocess

import pytest

from conftest import Proc

# Every hit is a ring record (8 KiB stack slice in dwarf mode) and the 16 MiB ring holds
# about 1,900 of them: N + M stays below that, so the exact counts cannot depend on how
# fast userspace unwinds (the ASan build unwinds several times slower than the fixture
# calls; beyond the ring's size, hits are dropped and counted, not wrong).
N, M = 1200, 300
CHAIN_AB = ["sf_probed", "sf_b", "sf_a", "main"]
CHAIN_C = ["sf_probed", "sf_c", "main"]


def nm_funcs(path):
    """name -> (start, end) of the functions of PATH, from nm (ground truth)."""
    out = subprocess.run(["nm", "-S", "--defined-only", path], capture_output=True,
                         text=True, check=True).stdout
    funcs = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tT":
            funcs[f[3]] = (int(f[0], 16), int(f[0], 16) + int(f[1], 16))
    return funcs


def check_chain(stack, chain, path, funcs):
    """The innermost frames are CHAIN, each inside its function (nm) in PATH."""
    frames = stack["frames"]
    assert [f["symbol"] for f in frames[:len(chain)]] == chain, stack
    for i, (f, name) in enumerate(zip(frames, chain)):
        assert f["path"] == path, f
        lo, hi = funcs[name]
        vaddr = int(f["file_vaddr"], 16)
        # frame 0 is the function's entry; the others are return addresses
        assert (vaddr == lo) if i == 0 else (lo < vaddr <= hi), (f, lo, hi)
        assert int(f["offset"], 16) == vaddr - lo
        assert f["build_id"] and len(f["build_id"]) == 40


def drive(w, argv, probes, exit_after=False):
    """A fixture that says "ready", waits for "go" and says "done" (stackfix,
    sdtstack): run once W has probed PROBES in it; closed whatever happens."""
    p = Proc(argv)
    try:
        p.expect("ready")
        for probe in probes:
            assert w.wait_found(p.pid, probe)["probed"]
        p.send("go")
        p.expect("done")
        if exit_after:
            p.p.wait(timeout=30)
    finally:
        p.close()
    return p


def run_stackfix(sz, watch, path, mode, extra=(), exit_after=False):
    name = os.path.basename(path)
    w = watch(name, ["sf_probed"], "--count", "--stacks=" + mode, *extra)
    p = drive(w, [path, str(N), str(M)] + (["-x"] if exit_after else []), ["sf_probed"],
              exit_after)
    return w, p


def stacks_of(w):
    return [r for r in w.of("stack")]


@pytest.mark.parametrize("fixture,mode", [("stackfix-fp", "fp"), ("stackfix-nofp", "dwarf"),
                                          ("stackfix-fp", "dwarf")])
def test_stacks_count_chain_exact(sz, watch, fresh, fixture, mode):
    path = fresh(fixture, "sfc-%s-%s" % (fixture.split("-")[1], mode))
    funcs = nm_funcs(path)
    w, p = run_stackfix(sz, watch, path, mode)
    assert w.stop() == 0
    st = stacks_of(w)
    assert [r["calls"] for r in st] == [N, M], st  # most frequent first, exact
    assert w.summary["stack_records_dropped"] == 0
    assert all(r["symbol"] == "sf_probed" for r in st)
    check_chain(st[0]["stack"], CHAIN_AB, path, funcs)
    check_chain(st[1]["stack"], CHAIN_C, path, funcs)
    if mode == "dwarf":
        # CFI goes through libc to _start, where the unwinder ends: nothing cut
        for r in st:
            names = [f["symbol"] for f in r["stack"]["frames"]]
            assert names[-1] == "_start" and "__libc_start_main" in names, names
            assert r["stack"]["truncated"] is None
    s = w.summary
    assert s["stacks"] == N + M and s["stack_records_dropped"] == 0
    assert w.counts() == {(p.pid, "sf_probed"): N + M}


def test_stacks_fp_without_frame_pointers_keeps_the_caller(sz, watch, fresh):
    """Frame pointers alone lose the chain in code built without them, but the caller
    (the return address at *sp on entry) is exact all the same."""
    path = fresh("stackfix-nofp", "sfc-nofp-fp")
    funcs = nm_funcs(path)
    w, _ = run_stackfix(sz, watch, path, "fp")
    assert w.stop() == 0
    st = stacks_of(w)
    assert sum(r["calls"] for r in st) == N + M
    callers = {}
    for r in st:
        check_chain(r["stack"], ["sf_probed", r["stack"]["frames"][1]["symbol"]], path, funcs)
        callers[r["stack"]["frames"][1]["symbol"]] = \
            callers.get(r["stack"]["frames"][1]["symbol"], 0) + r["calls"]
    assert callers == {"sf_b": N, "sf_c": M}


def test_stacks_of_an_exited_process(sz, watch, fresh):
    """The process exits and its file is deleted before the report: the stacks are
    symbolized from what was kept when it was first seen."""
    path = fresh("stackfix-nofp", "sfc-gone")
    funcs = nm_funcs(path)
    w, p = run_stackfix(sz, watch, path, "dwarf", exit_after=True)
    assert p.p.returncode == 0
    os.unlink(path)
    assert w.stop() == 0
    st = stacks_of(w)
    assert [r["calls"] for r in st] == [N, M]
    check_chain(st[0]["stack"], CHAIN_AB, path, funcs)
    check_chain(st[1]["stack"], CHAIN_C, path, funcs)


def test_stacks_trace_each_call(sz, watch, fresh):
    path = fresh("stackfix-nofp", "sfc-trace")
    funcs = nm_funcs(path)
    name = os.path.basename(path)
    w = watch(name, ["sf_probed"], "--trace", "--stacks")
    p = drive(w, [path, "5", "3"], ["sf_probed"])
    assert w.stop() == 0
    calls = w.of("call", p.pid)
    assert len(calls) == 8
    for k in calls[:5]:
        check_chain(k["stack"], CHAIN_AB, path, funcs)
    for k in calls[5:]:
        check_chain(k["stack"], CHAIN_C, path, funcs)
    # each call's sf_probed argument: 3 * (i + 1) then i - 1 (stackfix.c)
    assert [int(k["args"][0], 16) for k in calls] == [3, 6, 9, 12, 15] + \
        [(i - 1) & (2**64 - 1) for i in range(3)]


def test_stacks_folded(sz, watch, fresh):
    """--folded: one line per unique stack, outermost first, then the count; the other
    records stay JSON Lines, so the folded lines are the ones that are not JSON."""
    path = fresh("stackfix-nofp", "sfc-folded")
    w, _ = run_stackfix(sz, watch, path, "dwarf", extra=["--folded"])
    w.p.send_signal(signal.SIGINT)
    w.p.wait(timeout=30)
    for t in w.readers:
        t.join(10)
    assert w.p.returncode == 0, w.stderr
    assert not w.of("count") and not w.of("stack")
    assert [ln.rstrip("\n") for ln in w.garbage] == [
        "_start;__libc_start_main;__libc_start_call_main;main;sf_a;sf_b;sf_probed %d" % N,
        "_start;__libc_start_main;__libc_start_call_main;main;sf_c;sf_probed %d" % M]


@pytest.mark.parametrize("argv,word", [
    (["--stacks"], "--stacks goes with --count or --trace"),
    (["--latency", "--stacks"], "--stacks goes with --count or --trace"),
    (["--count", "--stacks=lbr"], "--stacks='lbr'"),
    (["--count", "--stacks=fp", "--stack-bytes", "8192"], "--stack-bytes goes with"),
    (["--count", "--stacks", "--stack-bytes", "1000"], "--stack-bytes '1000'"),
    (["--trace", "--stacks", "--folded"], "--folded goes with --count --stacks"),
    (["--count", "--folded"], "--folded goes with --count --stacks"),
])
def test_stacks_usage_errors(sz, argv, word):
    r = sz.run("watch", "-g", "x", "-s", "y", *argv)
    assert r.returncode == 2 and word in r.stderr, r.stderr


# --- USDT probes (issue 12 §3): the same stacks at probe sites inside functions ---------
# sdtstack (tests/fixtures/sdtstack.c): NU rounds main -> us_a (szstack:enter) -> us_b
# (szstack:hit), MU rounds main -> us_c (szstack:hit, its second site).  At a site the
# word at the stack pointer is no return address: only the unwinder finds the caller.
# Fewer hits than above: 2 * NU + MU records of ~9 KiB (dwarf) fit the 16 MiB ring all at
# once, so none can be dropped however slow the reader is on a loaded machine.
NU, MU = 600, 150

def sdt_sites(path):
    """{(provider:name, function): site vaddr} from readelf's notes and nm: not ours."""
    out = subprocess.run(["readelf", "-n", "--wide", path], capture_output=True, text=True,
                         check=True).stdout
    funcs = nm_funcs(path)
    sites = {}
    for m in re.finditer(r"Provider: (\S+)\s+Name: (\S+)\s+Location: (0x[0-9a-f]+)", out):
        loc = int(m.group(3), 16)
        fn, = [n for n, (lo, hi) in funcs.items() if lo <= loc < hi]
        sites[("%s:%s" % (m.group(1), m.group(2)), fn)] = loc
    return sites


USDT_STACKS = {("szstack:hit", ("us_b", "us_a", "main")): NU,
               ("szstack:enter", ("us_a", "main")): NU,
               ("szstack:hit", ("us_c", "main")): MU}


def check_site_chain(stack, chain, path, funcs, sites, probe):
    """Frame 0 is the probe's site in CHAIN[0] (readelf), the others return addresses
    inside their functions (nm), all in PATH."""
    frames = stack["frames"]
    assert tuple(f["symbol"] for f in frames[:len(chain)]) == chain, stack
    for i, (f, name) in enumerate(zip(frames, chain)):
        assert f["path"] == path and f["build_id"] and len(f["build_id"]) == 40, f
        lo, hi = funcs[name]
        vaddr = int(f["file_vaddr"], 16)
        if i == 0:
            assert vaddr == sites[(probe, name)], (f, sites)
        else:
            assert lo < vaddr <= hi, (f, lo, hi)
        assert int(f["offset"], 16) == vaddr - lo


def run_sdtstack(watch, path, *extra, n=NU, m=MU):
    w = watch(os.path.basename(path), [], "-u", "szstack:*", *extra)
    return w, drive(w, [path, str(n), str(m)], ["szstack:hit", "szstack:enter"])


@pytest.mark.parametrize("fixture,mode", [("sdtstack-nofp", "dwarf"), ("sdtstack-fp", "fp")])
def test_usdt_stacks_count_chain_exact(sz, watch, fresh, fixture, mode):
    path = fresh(fixture, "usc-%s" % mode)
    funcs, sites = nm_funcs(path), sdt_sites(path)
    w, p = run_sdtstack(watch, path, "--count", "--stacks=" + mode)
    assert w.stop() == 0
    st = stacks_of(w)
    got = {}
    for r in st:
        chain = tuple(f["symbol"] for f in r["stack"]["frames"])
        key = next(k for k in USDT_STACKS if k[0] == r["symbol"] and chain[:len(k[1])] == k[1])
        check_site_chain(r["stack"], key[1], path, funcs, sites, r["symbol"])
        assert key not in got, st  # one unique stack each
        got[key] = r["calls"]
        if mode == "dwarf":  # CFI all the way to _start, nothing cut
            assert chain[-1] == "_start" and "__libc_start_main" in chain, chain
            assert r["stack"]["truncated"] is None
    assert got == USDT_STACKS
    assert [r["calls"] for r in st] == sorted((r["calls"] for r in st), reverse=True)
    s = w.summary
    assert s["stacks"] == 2 * NU + MU and s["stack_records_dropped"] == 0
    assert s["usdt_records_dropped"] == 0
    assert w.counts() == {(p.pid, "szstack:hit"): NU + MU, (p.pid, "szstack:enter"): NU}


def test_usdt_stacks_trace_each_hit(sz, watch, fresh):
    path = fresh("sdtstack-nofp", "usc-trace")
    funcs, sites = nm_funcs(path), sdt_sites(path)
    w, p = run_sdtstack(watch, path, "--trace", "--stacks", n=4, m=3)
    assert w.stop() == 0
    calls = w.of("call", p.pid)
    want = [("szstack:enter", ("us_a", "main")), ("szstack:hit", ("us_b", "us_a", "main"))] * 4 \
        + [("szstack:hit", ("us_c", "main"))] * 3
    assert [k["symbol"] for k in calls] == [probe for probe, _ in want]
    for k, (probe, chain) in zip(calls, want):
        check_site_chain(k["stack"], chain, path, funcs, sites, probe)
    # each hit's argument (sdtstack.c): us_a's i, us_b's i + 1, us_c's i
    assert [k["args"][0]["value"] for k in calls] == \
        [v for i in range(4) for v in (i, i + 1)] + list(range(3))
    assert w.summary["stacks"] == 11


def test_usdt_stacks_folded(sz, watch, fresh):
    path = fresh("sdtstack-nofp", "usc-folded")
    w, _ = run_sdtstack(watch, path, "--count", "--stacks", "--folded")
    w.p.send_signal(signal.SIGINT)
    w.p.wait(timeout=30)
    for t in w.readers:
        t.join(10)
    assert w.p.returncode == 0, w.stderr
    assert not w.of("count") and not w.of("stack")
    lines = [ln.rstrip("\n") for ln in w.garbage]
    libc = "_start;__libc_start_main;__libc_start_call_main;main;"
    assert sorted(lines) == sorted([libc + "us_a;us_b %d" % NU, libc + "us_a %d" % NU,
                                    libc + "us_c %d" % MU])
    assert lines[-1] == libc + "us_c %d" % MU  # most frequent first


@pytest.mark.parametrize("stack_bytes,cut", [(None, True), ("65536", False)])
def test_stacks_cut_by_the_slice_say_so(sz, watch, fresh, monkeypatch, stack_bytes, cut):
    """main -> sf_deep x 12 (1 KiB each) -> sf_probed: the default 8 KiB slice ends
    inside the sf_deep frames, and the stack must say it was cut there (libdw ends
    such a walk without an error); 64 KiB reach _start, nothing cut."""
    path = fresh("stackfix-nofp", "sfc-deep-%s" % (stack_bytes or "default"))
    monkeypatch.setenv("SF_DEEP", "12")
    extra = ("--stack-bytes", stack_bytes) if stack_bytes else ()
    w, p = run_stackfix(sz, watch, path, "dwarf", extra)
    assert w.stop() == 0
    deep = [r for r in stacks_of(w) if "sf_deep" in [f["symbol"] for f in r["stack"]["frames"]]]
    assert sum(r["calls"] for r in deep) == M, deep
    for r in deep:
        names = [f["symbol"] for f in r["stack"]["frames"]]
        assert names[:2] == ["sf_probed", "sf_deep"], names
        if cut:
            assert r["stack"]["truncated"].startswith("slice end"), r["stack"]
            assert names[-1] != "_start" and "main" not in names, names
        else:
            assert r["stack"]["truncated"] is None, r["stack"]
            assert names[-1] == "_start", names
            assert names[1:13] == ["sf_deep"] * 12 and names[13] == "main", names
