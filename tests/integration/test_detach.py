# SPDX-License-Identifier: BSD-2-Clause
"""SIGINT detaches everything before the watch exits (issue 12): the watch's
tracepoint links and the uprobes are released at once by a keeper process
(their grace periods overlap, src/util/detach.h), and none of them may outlive
the process: the moment it is reaped, not one of the links it held exists any
more, and the summary's counts are the calls the caller made (function k of
libmany.so called k+1 times).  A SIGKILL during the detach or the attach
leaves no int3 in the probed process.  Root, real BPF."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import Proc, comm, poll_until
from test_wild import run_many_caller

root = pytest.mark.skipif(os.geteuid() != 0, reason="loads BPF: root")


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return f.read().split()


@root
@pytest.mark.parametrize("glob,n,extra", [
    ("szf_*", 1000, []),                             # one multi-uprobe link
    ("szf_00?", 10, ["--no-uprobe-multi"]),          # one perf-event uprobe each
    ("szf_01?", 10, ["--mmap-hook", "perf"]),        # no syscall tracepoint
    ("szf_02?", 10, ["--freeze"]),                   # its guardian quits with the detach
], ids=["multi", "perf-event-uprobes", "perf-mmap-hook", "freeze"])
def test_sigint_leaves_no_link_and_exact_counts(bpf, watch, fresh, glob, n, extra):
    fresh("libmany.so", "libmany.so")
    caller = Proc([fresh("many_caller", "many_caller"), "--wait"])
    try:
        assert json.loads(caller.expect('{"event":"waiting"'))["event"] == "waiting"
        w = watch("libmany.so", [glob], "--count", *extra)
        found = w.wait_for(lambda r: r["event"] == "found" and r["pid"] == caller.pid and
                           r["type"] == "func", count=n, what="%d functions" % n)
        assert all(r["probed"] for r in found)
        held = bpf.held(w.pid)
        guardians = [int(c) for c in children(w.pid) if comm(int(c)) == "sz-guardian"]
        assert len(guardians) == (1 if "--freeze" in extra else 0)
        links = bpf.show("link")
        mine = {i: links[i] for i in held["link"] if i in links}
        # the watch's own links, and the uprobes': one multi link or one per function
        progs = bpf.show("prog")
        uprobe_links = [i for i, o in mine.items() if progs[o["prog_id"]]["name"] == "sz_count"]
        assert len(uprobe_links) == (n if "--no-uprobe-multi" in extra else 1)
        assert len(mine) > len(uprobe_links)  # the watch's tracepoints
        truth = run_many_caller(caller)
        assert w.stop(signal.SIGINT, timeout=300) == 0
        # reaped: every link it held is gone now, no grace allowed
        left = set(held["link"]) & set(bpf.show("link"))
        assert left == set(), "links of the watch left after its exit: %s" % left
        for g in guardians:  # reaped by the watch, not left behind
            assert not os.path.exists("/proc/%d" % g), "guardian %d outlived the watch" % g
        counts = {s: c for (pid, s), c in w.counts().items() if pid == caller.pid}
        assert len(counts) == n
        assert counts == {s: truth[s] for s in counts}
        summ = w.summary
        assert summ["uprobes"] == n and summ["call_records_dropped"] == 0
        assert summ["uprobe_links"] == (n if "--no-uprobe-multi" in extra else 1)
        assert summ["lost"] == 0
    finally:
        caller.close()


def kernel_leaks():
    """The kernel's "failed to unregister, leaking uprobe" lines so far: a
    uprobe whose breakpoints stay in the processes that had it."""
    out = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout
    return sum("leaking uprobe" in line for line in out.splitlines())


def code_bytes(pid, path, addrs):
    """{address: (the byte in PID's memory, the byte of the file it maps)}."""
    maps = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            p = line.split()
            if len(p) >= 6 and p[5] == path:
                lo, hi = (int(x, 16) for x in p[0].split("-"))
                maps.append((lo, hi, int(p[2], 16)))
    out = {}
    with open("/proc/%d/mem" % pid, "rb") as mem, open(path, "rb") as file:
        for a in addrs:
            lo, _, off = next(m for m in maps if m[0] <= a < m[1])
            mem.seek(a)
            file.seek(a - lo + off)
            out[a] = (mem.read(1), file.read(1))
    return out


def keepers():
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and comm(int(d)) == "sz-detach":
            found.append(int(d))
    return found


@root
@pytest.mark.parametrize("glob,n,extra", [
    ("szf_*", 1000, []),                             # one multi-uprobe link
    ("szf_00?", 10, ["--no-uprobe-multi"]),          # one perf-event uprobe each
], ids=["multi", "perf-event-uprobes"])
def test_sigkill_during_detach_leaves_no_breakpoint(watch, fresh, glob, n, extra):
    """kill -9 while the uprobes are being released: the kernel gives up
    removing a uprobe's breakpoints when the task releasing it has SIGKILL
    pending, so the releases happen in a keeper process the signal does not
    reach.  Each trial: SIGINT, SIGKILL a few ms later (inside the ~60 ms of
    detach), then every probed function's first byte in the caller is the
    file's byte again, the kernel logged no leak, and the keeper is gone."""
    lib = fresh("libmany.so", "libmany.so")
    caller = Proc([fresh("many_caller", "many_caller"), "--wait"])
    try:
        assert json.loads(caller.expect('{"event":"waiting"'))["event"] == "waiting"
        base = kernel_leaks()
        for delay in (0.0, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05):
            w = watch("libmany.so", [glob], "--count", "-p", str(caller.pid), *extra)
            found = w.wait_for(lambda r: r["event"] == "found" and r["type"] == "func",
                               count=n, what="%d functions" % n)
            assert all(r["probed"] for r in found)
            addrs = [int(r["address"], 16) for r in found]
            probed = code_bytes(caller.pid, lib, addrs)
            assert all(m == b"\xcc" for m, _ in probed.values()), "not every site has its int3"
            w.p.send_signal(signal.SIGINT)
            time.sleep(delay)
            w.p.send_signal(signal.SIGKILL)
            w.p.wait(timeout=30)
            poll_until(lambda: not keepers(), timeout=30)
            assert not keepers(), "delay %s: a keeper outlived its release" % delay
            left = {a: b for a, b in code_bytes(caller.pid, lib, addrs).items() if b[0] != b[1]}
            assert not left, "delay %s: %d breakpoints left in the caller" % (delay, len(left))
            assert kernel_leaks() == base, "delay %s: the kernel leaked uprobes" % delay
        # still counted exactly by a watch that ends well
        w = watch("libmany.so", [glob], "--count", "-p", str(caller.pid), *extra)
        w.wait_for(lambda r: r["event"] == "found" and r["type"] == "func", count=n)
        truth = run_many_caller(caller)
        assert w.stop(signal.SIGINT, timeout=300) == 0
        counts = {s: c for (pid, s), c in w.counts().items() if pid == caller.pid}
        assert len(counts) == n and counts == {s: truth[s] for s in counts}
    finally:
        caller.close()


@root
def test_sigkill_during_attach_leaves_no_breakpoint(sz, fresh):
    """kill -9 at random moments of start-up, while the 1,000 uprobes are being
    attached: whatever the moment, not one int3 is left in the caller and the
    kernel logs no leak (an exiting task has no signal pending when its
    descriptors close; a half-made link is undone by the kernel)."""
    lib = fresh("libmany.so", "libmany.so")
    caller = Proc([fresh("many_caller", "many_caller"), "--wait"])
    argv = [sz.bin, "watch", "--json", "-g", "libmany.so", "-s", "szf_*", "--count",
            "-p", str(caller.pid)]
    try:
        assert json.loads(caller.expect('{"event":"waiting"'))["event"] == "waiting"
        addrs = None
        t0 = time.monotonic()
        with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as p:
            for line in p.stdout:
                r = json.loads(line)
                if r["event"] == "found" and r["type"] == "func":
                    addrs = (addrs or []) + [int(r["address"], 16)]
                if r["event"] == "ready":
                    break
            ready = time.monotonic() - t0
            p.send_signal(signal.SIGINT)
            p.communicate(timeout=60)
        assert len(addrs) == 1000
        base = kernel_leaks()
        seed = int.from_bytes(os.urandom(4), "little")
        rnd = __import__("random").Random(seed)
        for trial in range(15):
            delay = rnd.uniform(0, ready * 1.2)
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            p.kill()
            p.wait(timeout=30)
            poll_until(lambda: not keepers(), timeout=30)
            left = {a: b for a, b in code_bytes(caller.pid, lib, addrs).items() if b[0] != b[1]}
            assert not left, "seed %d trial %d (kill %.3f s after start): %d int3 left" % (
                seed, trial, delay, len(left))
            assert kernel_leaks() == base, "seed %d trial %d: the kernel leaked uprobes" % (
                seed, trial)
    finally:
        caller.close()
