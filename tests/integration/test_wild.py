# SPDX-License-Identifier: BSD-2-Clause
"""-s GLOB end to end through the CLI: 1,000 generated functions of libmany.so
(function k called k+1 times by many_caller, which prints what it called)
counted exactly through one multi-uprobe link and through one perf-event
uprobe per function; aliases probed once under one name; pthread_* in libc
against the target's own dlsym(); name@VERSION still exact; hostile globs
refused.  Root, real BPF."""
import json
import os
import subprocess

import pytest

from conftest import Proc

root = pytest.mark.skipif(os.geteuid() != 0, reason="loads BPF: root")


def nm_defined(path, types="T"):
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True,
                         check=True).stdout
    return {f[2]: int(f[0], 16) for f in (line.split() for line in out.splitlines())
            if len(f) == 3 and f[1] in types}


def run_many_caller(caller):
    """many_caller's "go": its own count of each function's calls, once it exited."""
    caller.send("go")
    truth = {}
    for _ in range(1000):
        t = json.loads(caller.expect('{"symbol"'))
        truth[t["symbol"]] = t["calls"]
    caller.p.wait(timeout=120)
    return truth


@pytest.fixture
def proc():
    """proc(argv): a fixture process, closed (stdin, then killed) on teardown."""
    started = []

    def start(argv):
        p = Proc(argv)
        started.append(p)
        return p
    yield start
    for p in started:
        p.close()


def thousand(sz, watch, fresh, proc, extra):
    lib = fresh("libmany.so", "libmany.so")  # a new inode, and its caller beside it
    caller = proc([fresh("many_caller", "many_caller"), "--wait"])
    assert json.loads(caller.expect('{"event":"waiting"'))["event"] == "waiting"
    w = watch("libmany.so", ["szf_*"], "--count", *extra)
    fns = nm_defined(lib)
    assert len([n for n in fns if n.startswith("szf_")]) == 1000
    found = w.wait_for(lambda r: r["event"] == "found" and r["pid"] == caller.pid and
                       r["type"] == "func", count=1000, what="1,000 functions")
    assert {r["symbol"] for r in found} == {n for n in fns if n.startswith("szf_")}
    assert all(r["probed"] for r in found)
    # the objects the glob matches are reported, not probed
    objs = [r for r in w.found(caller.pid) if r["type"] == "object"]
    assert sorted(r["symbol"] for r in objs) == ["szf_count", "szf_names", "szf_table"]
    assert not any(r["probed"] for r in objs)
    truth = run_many_caller(caller)
    # the fallback's detach waits ~0.1 s per uprobe in the kernel (bpftrace too)
    assert w.stop(timeout=600) == 0
    counts = {s: c for (pid, s), c in w.counts().items() if pid == caller.pid}
    assert len(truth) == 1000 and len(set(truth.values())) == 1000
    assert counts == truth
    summ = w.summary
    assert summ["uprobes"] == 1000 and summ["symbol_ids"] == 1000
    assert summ["symbol_ids_overflow"] == 0 and summ["call_records_dropped"] == 0
    return summ


@root
def test_thousand_functions_multi_link(sz, watch, fresh, proc):
    summ = thousand(sz, watch, fresh, proc, [])
    assert summ["uprobe_attach"] == "multi" and summ["uprobe_links"] == 1


@root
def test_thousand_functions_perf_event_fallback(sz, watch, fresh, proc):
    summ = thousand(sz, watch, fresh, proc, ["--no-uprobe-multi"])
    assert summ["uprobe_attach"] == "perf_event" and summ["uprobe_links"] == 1000


@root
def test_aliases_probed_once_under_one_name(sz, watch, fresh, proc):
    lib = fresh("libalias.so", "libalias.so")
    c = proc([fresh("alias_caller", "alias_caller")])
    c.expect("waiting")
    w = watch("libalias.so", ["alias_*"], "--count", "-p", str(c.pid))
    funcs = w.wait_for(lambda r: r["event"] == "found" and r["type"] == "func", count=2)
    by = {r["symbol"]: r for r in funcs}
    assert sorted(by) == ["alias_impl", "alias_solo"]
    nm = nm_defined(lib, "TW")
    assert nm["alias_impl"] == nm["alias_other"] == nm["alias_weak"]
    assert sorted(by["alias_impl"]["aliases"]) == ["alias_other", "alias_weak"]
    assert "aliases" not in by["alias_solo"]
    assert by["alias_impl"]["probed"] and by["alias_solo"]["probed"]
    c.send("go")
    c.expect("done")
    assert w.stop() == 0
    assert w.counts() == {(c.pid, "alias_impl"): 15, (c.pid, "alias_solo"): 4}
    assert w.summary["uprobes"] == 2


@root
def test_pthread_glob_in_libc_matches_dlsym(sz, target):
    names = sorted(n for n in nm_defined("/lib/x86_64-linux-gnu/libc.so.6", "Ti")
                   if n.startswith("pthread_") and "@" not in n)
    sample = names[::max(1, len(names) // 25)]
    args = ["target-pie", "-l", "libc.so.6"]
    for n in sample:
        args += ["-s", n]
    tg = target(*args)
    truth = {s: a for _, s, a in tg.truth if s in sample}
    assert len(truth) == len(sample)
    s = sz.scan("libc.so.6", ["pthread_*"], tg.pid)
    recs = [r for r in s.found() if r["pid"] == tg.pid]
    addr = {}
    for r in recs:
        for n in [r["symbol"]] + r.get("aliases", []):
            assert n not in addr, "%s reported twice" % n
            addr[n] = int(r["address"], 16)
    for n, a in truth.items():
        assert addr.get(n) == a, n
    # every exported pthread_ function is there, under its name or as an alias
    assert set(names) <= set(addr)
    assert s.summary["names_too_long"] == 0


@root
def test_versioned_name_stays_exact(sz, target):
    tg = target("target-pie", "-l", "libc.so.6", "-S", "memcpy@GLIBC_2.2.5")
    want = [a for _, sym, a in tg.truth if sym.startswith("memcpy")]
    assert len(want) == 1
    s = sz.scan("libc.so.6", ["memcpy@GLIBC_2.2.5"], tg.pid)
    (r,) = [r for r in s.found() if r["pid"] == tg.pid]
    assert r["symbol"] == "memcpy@GLIBC_2.2.5" and r["version"] == "GLIBC_2.2.5"
    assert int(r["address"], 16) == want[0]
    assert "aliases" not in r


@root
def test_glob_that_matches_nothing_is_a_problem(sz, target):
    tg = target("target-pie", "-l", sz.fix("libfix.so"), "-s", "fix_func")
    s = sz.scan("libfix.so", ["fix_func", "no_such_prefix_*"], tg.pid)
    assert [r["symbol"] for r in s.found() if r["pid"] == tg.pid] == ["fix_func"]
    errs = [e for e in s.errors("symbol-absent") if e["pid"] == tg.pid]
    assert [e["symbol"] for e in errs] == ["no_such_prefix_*"]


@root
def test_symbol_id_bound_counted(sz, watch, fresh, proc):
    fresh("libmany.so", "libmany.so")
    caller = proc([fresh("many_caller", "many_caller"), "--wait"])
    caller.expect('{"event":"waiting"')
    w = watch("libmany.so", ["szf_*"], "--count", "--max-symbols", "100")
    found = w.wait_for(lambda r: r["event"] == "found" and r["pid"] == caller.pid and
                       r["type"] == "func", count=1000)
    probed = [r for r in found if r["probed"]]
    assert len(probed) == 100
    assert all("no symbol id left" in r["probe_note"] for r in found if not r["probed"])
    caller.close()
    assert w.stop() == 0
    assert w.summary["symbol_ids"] == 100 and w.summary["symbol_ids_overflow"] == 900
    assert w.summary["uprobes"] == 100


@pytest.mark.parametrize("pattern,rule", [
    ("[[:alpha:]]*", "character classes"),
    ("fn_[a-", "no closing"),
    ("x" * 300 + "*", "longer than 255"),
    ("*a" * 70, "more than 128 parts"),
])
def test_hostile_symbol_glob_is_a_usage_error(sz, pattern, rule):
    for cmd in (["scan"], ["watch", "--count"]):
        p = subprocess.run([sz.bin] + cmd + ["-g", "libc.so.6", "-s", pattern],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, p.stderr
        (line,) = p.stderr.splitlines()
        assert line.startswith("symbolyze: -s '") and rule in line, line
