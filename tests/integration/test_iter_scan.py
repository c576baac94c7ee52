# SPDX-License-Identifier: BSD-2-Clause
"""The watch's initial scan by the BPF iterator (iter/task_vma, src/sources/iter.c)
against the /proc scan, its reference: the same loads, the same addresses, the
same records, for our own targets (ground truth from dlsym) and for every
process of the host that stays put while both scans run.

SYMBOLYZE_SCAN=iter makes the iterator required (an error if it cannot run),
=proc forces /proc: each run below is known to have used the scan it names.
"""
import json
import os
import subprocess
import uuid

from conftest import parse_lines, summary_of
from test_names import bind  # noqa: F401 (a fixture: mount --bind, undone after)

FIELDS = ("pid", "comm", "path", "deleted", "build_id", "symbol", "version", "type",
          "address", "load_bias", "file_offset", "size", "dev", "ino")


def scan_of(sz, mode, glob, syms):
    """One watch that only does its initial scan (-d 0.01): the scan's found
    records as comparable tuples, its problems, and its summary."""
    argv = [sz.bin, "watch", "--json", "-d", "0.01", "-g", glob]
    for s in syms:
        argv += ["-s", s]
    r = subprocess.run(argv, capture_output=True, timeout=120,
                       env=dict(os.environ, SYMBOLYZE_SCAN=mode))
    assert r.returncode == 0, "%s scan: exit %d: %s" % (mode, r.returncode, r.stderr[-2000:])
    recs = parse_lines(r.stdout.decode("utf-8"))
    found = {tuple(json.dumps(x[f]) for f in FIELDS)
             for x in recs if x["event"] == "found" and x["source"] == "scan"}
    errors = sorted((x["reason"], x["pid"], x["path"]) for x in recs if x["event"] == "error")
    return found, errors, summary_of(recs)


def test_iter_scan_finds_what_proc_finds(sz, target, fresh, scratch):
    """Two loads of one file in one process (dlmopen), a library unlinked once
    loaded, a path pattern: the iterator's records must give exactly /proc's."""
    lib = fresh("libfix.so", "libfixiter.so")
    gone = fresh("libfix.so", "libfixitergone.so")
    syms = ["fix_func", "fix_data", "fix_local"]
    flags = [a for s in syms for a in ("-s", s)]
    tgs = [target("target-pie", "-l", lib, *flags),
           target("target-nopie", "-l", lib, "-m", lib, *flags),
           target("target-pie", "-l", gone, "-u", *flags)]
    assert not os.path.exists(gone)
    for glob in ("libfixiter*.so", os.path.join(scratch, "libfixiter*.so")):
        it, it_err, it_sum = scan_of(sz, "iter", glob, syms)
        pr, pr_err, pr_sum = scan_of(sz, "proc", glob, syms)
        assert it == pr, "iter only: %s\nproc only: %s" % (sorted(it - pr), sorted(pr - it))
        assert it_err == pr_err
        # ...and both are the targets' own truth (dlsym, l_addr)
        for t in tgs:
            got = sorted((int(json.loads(f[9]), 16), json.loads(f[5]), int(json.loads(f[8]), 16))
                         for f in it if json.loads(f[0]) == t.pid)
            assert got == t.truth, "pid %d" % t.pid
        assert it_sum["found"] == pr_sum["found"] == sum(len(t.truth) for t in tgs)
        deleted = {json.loads(f[3]) for f in it if json.loads(f[0]) == tgs[2].pid}
        assert deleted == {True}
        # The iterator visits processes, not /proc entries: it counts the ones
        # with an address space, never more than /proc lists.
        assert 0 < it_sum["processes"] <= pr_sum["processes"] + 50
        assert it_sum["processes_unreadable"] == 0


def test_iter_scan_verdict_per_mount_and_file(sz, target, fresh, bind):  # noqa: F811
    """The iterator decides the glob once per (mount, file) and CPU, for every
    process mapping it: processes that map one library alternately through its
    source path and through a bind mount (so one cached verdict is followed by
    the same file seen through the other mount) are each matched by the name
    they see, exactly as /proc names them, with the targets' dlsym truth."""
    tag = uuid.uuid4().hex[:6]
    src = fresh("libfix.so", "libfixvsrc%s.so" % tag)
    via = bind(src, "libfixvbind%s.so" % tag)
    tgs = {"src": [], "bind": []}
    for k in ("src", "bind", "src", "bind", "src", "bind"):
        tgs[k].append(target("target-pie", "-l", src if k == "src" else via, "-s", "fix_func"))
    for k, glob in (("bind", "libfixvbind%s.so" % tag), ("src", "libfixvsrc%s*" % tag)):
        it, it_err, _ = scan_of(sz, "iter", glob, ["fix_func"])
        pr, pr_err, _ = scan_of(sz, "proc", glob, ["fix_func"])
        assert it == pr, "iter only: %s\nproc only: %s" % (sorted(it - pr), sorted(pr - it))
        assert it_err == pr_err
        got = {json.loads(f[0]): (json.loads(f[2]), int(json.loads(f[8]), 16)) for f in it}
        want = {t.pid: ((src if k == "src" else via),
                        [a for _, s, a in t.truth if s == "fix_func"][0]) for t in tgs[k]}
        assert got == want, (glob, got, want)


def test_iter_scan_many_reads_equal_proc(sz):
    """More records than one read(2) returns (the reader thread hands the
    watch several chunks, a record may straddle two): 600 processes of our
    own, each with libc's two records (~120 bytes each, ~144 KB in all), found
    alike by the iterator and by /proc, every one of them."""
    procs = [subprocess.Popen(["sleep", "600"]) for _ in range(600)]
    try:
        pids = {p.pid for p in procs}
        runs = {}
        for mode in ("iter", "proc"):
            found, errors, _ = scan_of(sz, mode, "libc.so*", ["malloc"])
            runs[mode] = {f for f in found if json.loads(f[0]) in pids}
            assert not [e for e in errors if e[1] in pids], errors
        assert {json.loads(f[0]) for f in runs["iter"]} == pids
        assert runs["iter"] == runs["proc"], \
            "iter only: %s\nproc only: %s" % (sorted(runs["iter"] - runs["proc"])[:5],
                                             sorted(runs["proc"] - runs["iter"])[:5])
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def stable_pids():
    """pid -> (start time, executable) of every process now."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                start = f.read().rsplit(")", 1)[1].split()[19]
            out[int(d)] = (start, os.readlink("/proc/%s/exe" % d))
        except OSError:
            pass
    return out


def test_iter_scan_equals_proc_scan_host_wide(sz):
    """Every process of the host that mapped libc before both scans and still
    runs the same image after them: the iterator and /proc report the same
    (pid, address) pairs, exactly, including before and after each other."""
    before = stable_pids()
    runs = [scan_of(sz, m, "libc.so*", ["malloc", "environ"])[0]
            for m in ("iter", "proc", "iter")]
    after = stable_pids()
    steady = {p for p, v in before.items() if after.get(p) == v}
    pairs = [{(json.loads(f[0]), json.loads(f[5]), json.loads(f[8])) for f in run
              if json.loads(f[0]) in steady} for run in runs]
    assert len(pairs[1]) >= 2 * 3, "too few libc processes to compare: %s" % pairs[1]
    assert pairs[0] == pairs[1] == pairs[2], \
        "iter only: %s\nproc only: %s" % (sorted(pairs[0] - pairs[1]),
                                          sorted(pairs[1] - pairs[0]))


def test_iter_scan_can_be_forced_off_and_required(sz, target, fresh):
    """SYMBOLYZE_SCAN=iter with a scan the iterator cannot do (one pid, -p) is
    an error naming the setting, not a silent /proc scan; =proc reads /proc."""
    lib = fresh("libfix.so", "libfixiterp.so")
    t = target("target-pie", "-l", lib, "-s", "fix_func")
    r = subprocess.run([sz.bin, "watch", "--json", "-d", "0.01", "-g", "libfixiterp.so", "-s",
                        "fix_func", "-p", str(t.pid)], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, SYMBOLYZE_SCAN="iter"))
    assert r.returncode != 0
    assert "SYMBOLYZE_SCAN" in r.stderr
    found, _, _ = scan_of(sz, "proc", "libfixiterp.so", ["fix_func"])
    assert {json.loads(f[0]) for f in found} == {t.pid}
