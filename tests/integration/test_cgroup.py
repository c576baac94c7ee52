# SPDX-License-Identifier: BSD-2-Clause
"""watch --cgroup PATH: only processes in that cgroup v2 subtree are found
(initial scan, exec/mmap) and counted (uprobes), decided in BPF; found
records carry the cgroup path, and --metrics --by cgroup labels calls with
it.  The cgroup is made by the test under the cgroup2 mount, with a caller
inside and one outside, started before the watch and after it."""
import os
import urllib.request

import pytest

from conftest import WAIT, Proc, poll_until


def cgroup2_root():
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    pytest.fail("no cgroup v2 hierarchy mounted: --cgroup cannot be tested")


@pytest.fixture
def cgroup():
    root = cgroup2_root()
    name = "sz-test-%d" % os.getpid()
    path = os.path.join(root, name)
    os.mkdir(path)
    yield "/" + name, path
    # Empty once its processes have exited (the callers are closed first).
    poll_until(lambda: not open(os.path.join(path, "cgroup.procs")).read().strip(), WAIT)
    os.rmdir(path)


def inside(sz, cgdir, lib, n, procs):
    """The caller fixture, moved into CGDIR before it execs."""
    p = Proc(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgdir,
              sz.fix("caller"), "-w", lib, str(n)])
    procs.append(p)
    return p


@pytest.mark.parametrize("scan", ["iter", "proc"])
def test_cgroup_limits_discovery_and_probes(sz, caller, watch, fresh, cgroup, scan, monkeypatch):
    """The initial scan by the BPF iterator (filtered in the kernel) and by /proc
    (the fallback: filtered by the process's cgroup path) find the same."""
    monkeypatch.setenv("SYMBOLYZE_SCAN", scan)
    name, cgdir = cgroup
    lib = fresh("libfix.so", "libfixcg.so")
    procs = []
    try:
        early_in = inside(sz, cgdir, lib, 1100, procs)
        early_out = caller(lib, 900, ["-w"])
        early_in.expect("loaded")
        early_out.expect("loaded")
        w = watch("libfixcg.so", ["fix_func"], "--count", "--cgroup", name,
                  "--metrics", "0", "--by", "cgroup")
        late_in = inside(sz, cgdir, lib, 2300, procs)
        late_in.expect("loaded")
        found = w.wait_found(early_in.pid, "fix_func")
        assert found["source"] == "scan" and found["probed"] and found["cgroup"] == name
        found = w.wait_found(late_in.pid, "fix_func")
        assert found["source"] != "scan" and found["probed"] and found["cgroup"] == name
        late_out = caller(lib, 700, ["-w"])
        late_out.expect("loaded")
        for c in (early_in, early_out, late_in, late_out):
            c.send("go")
        for c in (early_in, early_out, late_in, late_out):
            c.expect("done")
        port = w.of("metrics")[0]["port"]
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=WAIT) as r:
            lines = [ln for ln in r.read().decode().splitlines()
                     if ln.startswith("symbolyze_calls_total{")]
        assert lines == ['symbolyze_calls_total{symbol="fix_func",path="%s",cgroup="%s"} 3400'
                         % (lib, name)]
        assert w.stop() == 0
        # Nothing of the processes outside: not found, not counted, not
        # even seen by the scan (the iterator skips them in the kernel, the
        # /proc scan by their cgroup path).
        assert {r["pid"] for r in w.found()} == {early_in.pid, late_in.pid}
        assert w.counts() == {(early_in.pid, "fix_func"): 1100, (late_in.pid, "fix_func"): 2300}
        assert w.summary["uprobes"] == 1
    finally:
        for p in procs:
            p.close()


def test_cgroup_found_records_carry_the_path(caller, watch, fresh):
    """Without --cgroup, a found record names the process's own cgroup v2 path."""
    lib = fresh("libfix.so", "libfixcgpath.so")
    w = watch("libfixcgpath.so", ["fix_func"])
    c = caller(lib, 1, ["-w"])
    c.expect("loaded")
    rec = w.wait_found(c.pid, "fix_func")
    with open("/proc/%d/cgroup" % c.pid) as f:
        want = [ln[3:].rstrip("\n") for ln in f if ln.startswith("0::")]
    assert rec["cgroup"] == want[0]


@pytest.mark.parametrize("value", ["/sz-no-such-cgroup", "/proc"])
def test_cgroup_bad_path_is_a_usage_error(sz, value):
    r = sz.run("watch", "-g", "x", "-s", "f", "--count", "--cgroup", value, "-d", "1", expect=2)
    assert "--cgroup '%s'" % value in r.stderr and r.stderr.count("\n") == 1, r.stderr
