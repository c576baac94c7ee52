# SPDX-License-Identifier: BSD-2-Clause
"""watch: loads reported from BPF events (mmap, exec, fork) and the initial
scan, each exactly once with the address the process itself prints; loss
counted, reported and repaired; nothing of ours left in the kernel.

A fixture prints its truth after dlopen() returned, so the records of that
load are already in the ring: stopping the watch (which drains the ring and
prints the summary last) is the barrier after which "exactly once" is judged.
"""
import collections
import json
import os
import signal
import subprocess
import threading
import time

import pytest


WAIT = 15  # seconds a record or a fixture line may take
EXESYMS = ["exe_func", "exe_data", "exe_bss", "exe_local"]


def sflags(syms):
    return [a for s in syms for a in ("-s", s)]


def test_watch_reports_dlopen_from_mmap(target, watch, fresh):
    lib = fresh("libfix.so", "libfixw1.so")
    syms = ["fix_func", "fix_data", "fix_local"]
    w = watch("libfixw1.so", syms)
    tg = target("target-pie", "-l", lib, *sflags(syms))
    for s in syms:
        w.wait_found(tg.pid, s)
    assert w.stop() == 0
    assert w.triples(tg.pid) == tg.truth
    assert {r["source"] for r in w.found(tg.pid)} == {"mmap"}
    assert w.summary["found"] == len(syms)


def test_watch_reports_exec(target, watch, fresh):
    paths = [fresh("target-nopie", "szexe-nopie"), fresh("target-pie", "szexe-pie")]
    w = watch("szexe-*", EXESYMS)
    tgs = []
    for path in paths:
        tgs.append(target(path, "-x"))
        w.wait_found(tgs[-1].pid, "exe_local")
    assert w.stop() == 0
    for tg in tgs:
        assert w.triples(tg.pid) == tg.truth, tg.argv[0]
        assert {r["source"] for r in w.found(tg.pid)} == {"exec"}
    assert w.summary["found"] == 2 * len(EXESYMS)


def test_watch_reports_interpreter_from_exec(sz, target, watch):
    """ld.so is mapped by execve, not mmap: the exec hook reports it, at the
    bias the kernel gave it (AT_BASE, as the process reads it)."""
    ld = os.path.realpath("/lib64/ld-linux-x86-64.so.2")
    value = int(sz.resolve(ld, "__tls_get_addr")["value"], 16)
    w = watch(os.path.basename(ld), ["__tls_get_addr"])
    tg = target("target-pie", "-b")
    base = tg.truth[0][0]
    w.wait_found(tg.pid, "__tls_get_addr")
    assert w.stop() == 0
    recs = w.found(tg.pid)
    assert len(recs) == 1, recs
    assert recs[0]["source"] == "exec"
    assert (int(recs[0]["load_bias"], 16), int(recs[0]["address"], 16)) == (base, base + value)


def test_watch_process_that_exits_at_once(sz, watch, fresh):
    """Maps the library and is gone before symbolyze reads anything of it."""
    lib = fresh("libfix-nosep.so", "libfixw2.so")
    w = watch("libfixw2.so", ["fix_func", "fix_bss"])
    p = subprocess.Popen([sz.fix("target-pie"), "-l", lib, "-s", "fix_func", "-s", "fix_bss"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate(timeout=WAIT)
    truth = sorted((int(f[1], 16), f[2], int(f[3], 16))
                   for f in (line.split() for line in out.splitlines()) if len(f) == 4)
    assert len(truth) == 2, out
    w.wait_found(p.pid, "fix_bss")
    assert w.stop() == 0
    assert w.triples(p.pid) == truth


def test_watch_no_gap_no_duplicate_during_scan(target, watch, fresh):
    """Processes start before, while and after the watch starts: each load is
    reported exactly once; those loaded before by the scan, those started
    after the ready record by their mmap."""
    lib = fresh("libfix.so", "libfixw3.so")
    tgs, after_ready, errors = [], set(), []
    cv = threading.Condition()
    ready, done = threading.Event(), threading.Event()

    def spawn():
        try:
            while not done.is_set() and len(tgs) < 200:
                late = ready.is_set()
                t = target("target-pie", "-l", lib, "-s", "fix_func")
                with cv:
                    tgs.append(t)
                    if late:
                        after_ready.add(t.pid)
                    cv.notify_all()
        except BaseException as e:  # reported by the test, not lost in the thread
            with cv:
                errors.append(e)
                cv.notify_all()
    th = threading.Thread(target=spawn)
    th.start()
    try:
        with cv:
            assert cv.wait_for(lambda: len(tgs) >= 5 or errors, WAIT) and not errors, errors
            before = {t.pid for t in tgs}
        w = watch("libfixw3.so", ["fix_func"])
        ready.set()
        with cv:
            assert cv.wait_for(lambda: len(after_ready) >= 15 or errors, 60) and not errors, \
                errors
    finally:
        done.set()
        th.join()
    assert not errors, errors
    for t in tgs:
        w.wait_found(t.pid, "fix_func")
    assert w.stop() == 0
    for t in tgs:
        got = w.found(t.pid)
        assert len(got) == 1, "pid %d reported %d times: %s" % (t.pid, len(got), got)
        assert int(got[0]["address"], 16) == t.truth[0][2]
        if t.pid in before:
            assert got[0]["source"] == "scan", got
        if t.pid in after_ready:
            assert got[0]["source"] == "mmap", got
    assert w.summary["found"] == len(tgs)


@pytest.mark.parametrize("mode", ["live", "stalled"])
def test_watch_storm_10000_processes(sz, watch, fresh, mode):
    """10,000 short-lived loads: each reported once at its address, or the
    shortfall is at most the loads counted as lost.  The storm prints every
    child's pid and dlsym() answer, so a load missing without a count fails
    (before, `lost` counted records: 2,000 loads could vanish within it).
    live: the default 4 MiB ring, read as usual; stalled: a 64 KiB ring whose
    reader is stopped during the storm, so most loads are lost and counted."""
    n = 10000
    lib = fresh("libfix.so", "libfixstorm.so")
    ring = 4 << 20 if mode == "live" else 65536  # the bounds below depend on it
    w = watch("libfixstorm.so", ["fix_func"], "--no-scan", "--ring-size", str(ring))
    if mode == "stalled":
        w.p.send_signal(signal.SIGSTOP)
    try:
        r = subprocess.run([sz.fix("storm"), str(n), lib, "fix_func", "8"],
                           capture_output=True, text=True, timeout=900)
    finally:
        w.p.send_signal(signal.SIGCONT)
    assert r.returncode == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()]
    assert len(lines) == n
    # pid_max may be small (32,768 here): a pid can come back within the storm
    started = collections.Counter(int(pid) for pid, _ in lines)
    truth = {int(pid): int(addr, 16) for pid, addr in lines}
    # Every child has exited: its records are in the ring or counted as dropped.
    assert w.stop() == 0
    found = [x for x in w.found() if x["pid"] in truth]
    assert [x for x in found if int(x["address"], 16) != truth[x["pid"]]] == []
    per_pid = collections.Counter(x["pid"] for x in found)
    assert [p for p, k in per_pid.items() if k > started[p]] == [], "reported twice"
    s = w.summary
    assert s["found"] == len(w.found()) == len(found)
    assert s["bad_records"] == 0
    # Every loss was reported on the stream, with its reason, in loads.
    lost = w.of("lost")
    assert s["lost"] == sum(x["records"] for x in lost)
    assert s["repaired"] == sum(x["repaired"] for x in lost)
    assert s["lost_loads"] == sum(x["loads"] for x in lost)
    assert s["lost_reasons"]["ring_full"] == s["lost"]
    missing = sum((started - per_pid).values())
    assert missing <= s["lost_loads"], "%d loads missing, %d counted lost (%s)" % (
        missing, s["lost_loads"], s["lost_reasons"])
    # and not more: a dropped record of a load is a load missing, unless the
    # rescan found it (each child makes one code mapping, and no fork record)
    ring_loads = s["lost_loads"] - s["lost_reasons"]["seen_full"] - \
        s["lost_reasons"]["vma_busy"]
    # (with the perf hook a lost record was any executable mapping of the
    # host, perhaps a load: an upper bound only)
    assert w.hook == "perf" or ring_loads <= missing + s["repaired"], s
    if mode == "stalled":
        assert s["lost"] > 0 and missing > n // 2, s
    # What the rescan after a loss found is what it counted as repaired.
    assert sum(1 for x in found if x["source"] == "scan") == s["repaired"]
    # Variable-length records: the mean record this storm sent is a fraction
    # of the fixed 1,384 bytes, so the ring holds several times more.
    mean = s["record_bytes"] / s["events"]
    assert ring // (mean + 8) >= 4 * (ring // (1384 + 8)), mean
    print("storm %s: %d loads, %d found, %d missing, lost %d records / %d loads, repaired %d, "
          "ring holds %d records (fixed-size: %d)" % (
              mode, n, len(found), missing, s["lost"], s["lost_loads"], s["repaired"],
              ring // (mean + 8), ring // (1384 + 8)))


def test_full_seen_set_is_counted_as_lost(caller, watch, fresh, monkeypatch):
    """The kernel side remembers which processes mapped a matching file (map
    `seen`) to report their forks and exits.  Shrunk to 2 entries: every
    other process is counted (seen_full), the forked children of the 3 not
    remembered are the loads missing, and no child of a remembered one is.  Before, `seen` was an
    LRU that evicted silently."""
    lib = fresh("libfix.so", "libfixseen.so")
    monkeypatch.setenv("SYMBOLYZE_TEST_SEEN_ENTRIES", "2")
    w = watch("libfixseen.so", ["fix_func"], "--no-scan")
    monkeypatch.delenv("SYMBOLYZE_TEST_SEEN_ENTRIES")
    parents = []
    for _ in range(5):  # one at a time: the first two take the two entries
        c = caller(lib, 0, ["-w", "-F"])
        c.expect("loaded")
        w.wait_found(c.pid, "fix_func")
        parents.append(c)
    children = []
    for c in parents:
        c.send("go")
        children.append(int(c.expect("child").split()[1]))
    for child in children[:2]:
        assert w.wait_found(child, "fix_func")["source"] == "fork"
    # the others' fork records are never made: the grace period of a fork
    # record (20 ms) is long past once the remembered ones were reported
    time.sleep(0.5)
    assert w.stop() == 0
    assert [len(w.found(p)) for p in children] == [1, 1, 0, 0, 0]
    s = w.summary
    # the 3 parents, and the 2 children reported by their fork, which cannot
    # be remembered either (their own forks and exits would go unreported)
    assert s["lost_reasons"]["seen_full"] == 5, s
    assert s["lost_loads"] >= 5
    ev = [x for x in w.of("lost") if x["reason"] == "seen_full"]
    assert sum(x["loads"] for x in ev) == 5 and all(x["records"] == 0 for x in ev), ev


def test_watch_loss_is_reported_and_repaired(target, watch, fresh):
    """A ring too small for the burst, consumer stopped: records are dropped,
    counted, reported as lost, and the rescan finds every live process."""
    lib = fresh("libfix.so", "libfixloss.so")
    w = watch("libfixloss.so", ["fix_func"], "--no-scan", "--ring-size", "4096")
    # perf's rings take 16 KiB per CPU at least: a longer burst, on one CPU
    # (the targets inherit our affinity), fills one whatever the CPU count
    n = 20 if w.hook == "tracepoint" else 150
    cpus = os.sched_getaffinity(0)
    os.kill(w.pid, signal.SIGSTOP)
    try:
        os.sched_setaffinity(0, {min(cpus)})
        tgs = [target("target-pie", "-l", lib, "-s", "fix_func") for _ in range(n)]
    finally:
        os.sched_setaffinity(0, cpus)
        os.kill(w.pid, signal.SIGCONT)
    for t in tgs:
        w.wait_found(t.pid, "fix_func")
    assert w.stop() == 0
    for t in tgs:
        got = w.found(t.pid)
        assert [int(x["address"], 16) for x in got] == [t.truth[0][2]], got
    s, lost = w.summary, w.of("lost")
    assert s["lost"] == sum(x["records"] for x in lost) > 0
    assert s["repaired"] == sum(x["repaired"] for x in lost) > 0
    # Each process was reported by its event or repaired by the rescan, and
    # what the rescan found is exactly what it counted; with the perf hook a
    # process whose hint came without its record is scanned at once too.
    sources = collections.Counter(w.found(t.pid)[0]["source"] for t in tgs)
    assert s["repaired"] <= sources["scan"] <= s["repaired"] + s["hints_unmet"], s
    assert sources["mmap"] + sources["scan"] == len(tgs) == s["found"]


def test_watch_reports_forked_children(caller, watch, fresh):
    """A child inherits its parent's libraries without mmap or exec: reported
    with source fork, whether the parent was seen by an event or by the scan."""
    lib = fresh("libfix.so", "libfixfork.so")
    early = caller(lib, 0, ["-w", "-F"])  # loaded before the watch: found by the scan
    early.expect("loaded")
    w = watch("libfixfork.so", ["fix_func"])
    parent = w.wait_found(early.pid, "fix_func")
    assert parent["source"] == "scan"
    early.send("go")
    child1 = int(early.expect("child").split()[1])
    rec = w.wait_found(child1, "fix_func")
    assert (rec["source"], rec["address"]) == ("fork", parent["address"])
    late = caller(lib, 0, ["-F"])  # loads under the watch: found by mmap
    child2 = int(late.expect("child").split()[1])
    parent = w.wait_found(late.pid, "fix_func")
    rec = w.wait_found(child2, "fix_func")
    assert parent["source"] == "mmap"
    assert (rec["source"], rec["address"]) == ("fork", parent["address"])
    assert w.stop() == 0
    assert [len(w.found(p)) for p in (early.pid, child1, late.pid, child2)] == [1, 1, 1, 1]


def test_watch_fork_then_exec_reports_no_stale_child(target, watch, fresh):
    """A known process forks and the child execs something that matches nothing
    at once: the child's short pre-exec life is not reported as a load."""
    lib = fresh("libfix.so", "libfixspawn.so")
    w = watch("libfixspawn.so", ["fix_func"])
    # The child runs `sleep 1`: alive, with its new image, when the watch
    # handles the fork record (a child gone by then would test another path).
    py = target("/usr/bin/python3", "-c",
                "import ctypes,os,sys\nctypes.CDLL(%r)\nprint('ready',flush=True)\n"
                "sys.stdin.readline()\npid=os.fork()\n"
                "if pid==0: os.execv('/bin/sleep',['sleep','1'])\n"
                "print('child %%d' %% pid, flush=True)\nos.waitpid(pid,0)\n"
                "print('done',flush=True)\nsys.stdin.read()\n" % lib)
    w.wait_found(py.pid, "fix_func")
    py.send("go")
    child = int(py.expect("child").split()[1])
    py.expect("done")
    assert w.stop() == 0
    assert w.found(child) == []
    assert w.summary["found"] == 1


def test_reading_a_library_is_not_loading_it(sz, target, watch, fresh):
    """A process that mmaps a library to read it (as profilers and libelf do)
    maps no code: neither scan nor watch reports it."""
    lib = fresh("libfix.so", "libfixread.so")
    w = watch("libfixread.so", ["fix_func"])
    py = target("/usr/bin/python3", "-c",
                "import mmap,sys\nf=open(%r,'rb')\n"
                "a=mmap.mmap(f.fileno(),0,flags=mmap.MAP_PRIVATE,prot=mmap.PROT_READ)\n"
                "b=mmap.mmap(f.fileno(),0,flags=mmap.MAP_SHARED,prot=mmap.PROT_READ)\n"
                "print('ready',flush=True)\nsys.stdin.read()\n" % lib)
    tg = target("target-pie", "-l", lib, "-s", "fix_func")
    w.wait_found(tg.pid, "fix_func")
    assert w.stop() == 0
    assert w.found(py.pid) == []
    assert w.triples(tg.pid) == tg.truth
    s = sz.scan("libfixread.so", ["fix_func"])
    assert s.found(py.pid) == []
    assert s.triples(tg.pid) == tg.truth, "the real load next to the reader"


def test_watch_signals_leave_nothing_behind(bpf, caller, watch, fresh):
    """SIGINT and SIGTERM, idle and with uprobes attached: the watch holds
    every program and map of its skeletons while it runs, and every one of
    them, with its links, is gone once it has exited."""
    lib = fresh("libfix.so", "libfixleak.so")
    runs = [(signal.SIGINT, []), (signal.SIGTERM, []), (signal.SIGTERM, ["--count"])]
    for sig, extra in runs:
        assert bpf.still_loaded("prog") == {}, "programs of an earlier run still loaded"
        apps = ["watch"] + (["probe"] if extra else [])
        w = watch("libfixleak.so", ["fix_func"], *extra)
        # issue 10: the scan's iterator (sz_scan_vmas) is linked only while it scans
        links = len([n for n in bpf.watch_progs(w.hook) if n != "sz_scan_vmas"])
        if extra:
            c = caller(lib, 10, ["-w"])
            c.expect("loaded")
            assert w.wait_found(c.pid, "fix_func")["probed"]
            links += 1  # one uprobe: --count has no return probe
        held = bpf.held(w.pid)
        progs, maps, all_links = bpf.show("prog"), bpf.show("map"), bpf.show("link")
        # The probe skeleton loads only its mode's programs (--count: one).
        want = bpf.watch_progs(w.hook) + (["sz_count"] if extra else [])
        assert "sz_count" in bpf.progs["probe"]
        assert sorted(progs[i]["name"] for i in held["prog"]) == \
            sorted(n[:bpf.NAME_LEN] for n in want)
        assert sorted(bpf.map_name(maps[i]["name"]) for i in held["map"]) == \
            sorted(n for a in apps for n in bpf.maps[a])
        assert len(held["link"]) == links
        assert {all_links[i]["prog_id"] for i in held["link"]} <= held["prog"]
        assert w.stop(sig) == 0
        assert w.summary["command"] == "watch"
        assert w.summary["uprobes"] == (1 if extra else 0)
        for kind in ("prog", "map", "link"):
            assert bpf.still_loaded(kind, held[kind]) == {}, "%ss left after %s" % (kind, sig)
        assert bpf.still_loaded("link") == {}


def test_watch_without_privilege_exits_3(sz):
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", sz.bin, "watch", "--json",
                        "-g", "x", "-s", "y", "-d", "1"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 3, r.stderr
    # Checked before anything is loaded: one error record naming what is missing.
    recs = [json.loads(l) for l in r.stdout.splitlines()]
    assert [x["event"] for x in recs] == ["error"], r.stdout
    assert recs[0]["reason"] == "capability" and "CAP_BPF" in recs[0]["missing"]
    # A person must understand why: one line naming the capability.
    assert r.stderr.count("\n") == 1 and "CAP_BPF" in r.stderr, r.stderr
