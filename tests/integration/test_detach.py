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
import random
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


class KernelLog:
    """The kernel's log lines from now on, read from /dev/kmsg (dmesg's ring may
    wrap); leaks(): its "failed to unregister, leaking uprobe" lines, a uprobe
    whose breakpoints stay in the processes that had it."""

    def __init__(self):
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)
        self.lines = []

    def leaks(self):
        while True:
            try:
                rec = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:  # overwritten while we read: the next one
                continue
            self.lines.append(rec.decode(errors="replace").split(";", 1)[-1].strip())
        return [x for x in self.lines if "leaking uprobe" in x]

    def close(self):
        os.close(self.fd)


@pytest.fixture
def kernel_log():
    log = KernelLog()
    try:
        yield log
    finally:
        log.close()


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


def keeper_of(pid):
    """The keeper (sz-detach) of watch PID while PID lives, or None."""
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                for c in f.read().split():
                    if comm(int(c)) == "sz-detach":
                        return int(c)
    except OSError:
        pass
    return None


def gone(pid):
    """PID exited (a zombie nobody reaped counts as exited)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def kill_in_detach(w, delay):
    """SIGINT the watch, SIGKILL it DELAY s after its keeper appeared (the
    detach has begun); the keeper's pid, once it exited."""
    w.p.send_signal(signal.SIGINT)
    keeper = poll_until(lambda: keeper_of(w.pid), timeout=30, interval=0.0002)
    assert keeper, "no keeper appeared after SIGINT"
    time.sleep(delay)
    w.p.send_signal(signal.SIGKILL)
    w.p.wait(timeout=30)
    assert poll_until(lambda: gone(keeper), timeout=30), "keeper %d outlived its release" % keeper
    return keeper


@root
@pytest.mark.parametrize("glob,n,extra", [
    ("szf_*", 1000, []),                             # one multi-uprobe link
    ("szf_00?", 10, ["--no-uprobe-multi"]),          # one perf-event uprobe each
], ids=["multi", "perf-event-uprobes"])
def test_sigkill_during_detach_leaves_no_breakpoint(watch, fresh, kernel_log, glob, n, extra):
    """kill -9 while the uprobes are being released: the kernel gives up
    removing a uprobe's breakpoints when the task releasing it has SIGKILL
    pending, so the releases happen in a keeper process the signal does not
    reach.  Each trial: SIGINT, then SIGKILL 0 to 40 ms after the keeper
    appeared; then every probed function's first byte in the caller is the
    file's byte again, the kernel logged no leak, and the keeper is gone."""
    lib = fresh("libmany.so", "libmany.so")
    caller = Proc([fresh("many_caller", "many_caller"), "--wait"])
    try:
        assert json.loads(caller.expect('{"event":"waiting"'))["event"] == "waiting"
        for delay in (0.0, 0.002, 0.005, 0.01, 0.02, 0.04):
            w = watch("libmany.so", [glob], "--count", "-p", str(caller.pid), *extra)
            found = w.wait_for(lambda r: r["event"] == "found" and r["type"] == "func",
                               count=n, what="%d functions" % n)
            assert all(r["probed"] for r in found)
            addrs = [int(r["address"], 16) for r in found]
            probed = code_bytes(caller.pid, lib, addrs)
            assert all(m == b"\xcc" for m, _ in probed.values()), "not every site has its int3"
            kill_in_detach(w, delay)
            left = {a: b for a, b in code_bytes(caller.pid, lib, addrs).items() if b[0] != b[1]}
            assert not left, "delay %s: %d breakpoints left in the caller" % (delay, len(left))
            assert not kernel_log.leaks(), "delay %s: the kernel leaked uprobes" % delay
        # still counted exactly by a watch that ends well
        w = watch("libmany.so", [glob], "--count", "-p", str(caller.pid), *extra)
        w.wait_for(lambda r: r["event"] == "found" and r["type"] == "func", count=n)
        truth = run_many_caller(caller)
        assert w.stop(signal.SIGINT, timeout=300) == 0
        counts = {s: c for (pid, s), c in w.counts().items() if pid == caller.pid}
        assert len(counts) == n and counts == {s: truth[s] for s in counts}
    finally:
        caller.close()


def helpers():
    """Our helper processes still running on the host (sz-attach makes a link,
    sz-detach releases them), as [(pid, comm)]; zombies are gone."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and comm(int(d)) in ("sz-attach", "sz-detach") and not gone(int(d)):
            found.append((int(d), comm(int(d))))
    return found


def in_syscall(pid, call):
    """A thread of PID, or of a child of PID (where links and events are made,
    out of our SIGKILL's reach: util/detach.h), is in system call CALL (the
    first fields of /proc/PID/task/TID/syscall) now."""
    try:
        tasks = ["/proc/%d/task/%s" % (pid, t) for t in os.listdir("/proc/%d/task" % pid)]
        for t in list(tasks):
            with open(t + "/children") as f:
                tasks += ["/proc/%s" % c for c in f.read().split()]
        for t in tasks:
            with open(t + "/syscall") as f:
                if f.read().split()[:len(call)] == call:
                    return True
    except (OSError, IndexError):
        pass
    return False


@root
@pytest.mark.parametrize("glob,n,extra,call,trials", [
    # one multi-uprobe link: inside bpf(BPF_LINK_CREATE)
    ("szf_*", 1000, [], ["321", "0x1c"], (10, 10)),
    # one perf-event uprobe each (each takes ~0.1 s to go): inside perf_event_open
    ("szf_0??", 100, ["--no-uprobe-multi"], ["298"], (4, 2)),
], ids=["multi", "perf-event-uprobes"])
def test_sigkill_during_attach_leaves_no_breakpoint(sz, fresh, kernel_log, glob, n, extra, call,
                                                   trials):
    """kill -9 while the kernel registers the uprobes (caught inside the
    system call that does it, through /proc/PID/syscall), and at random
    moments of start-up: not one int3 is left in the caller and the kernel
    logs no leak.  (A registration a SIGKILL interrupts is undone, and the
    undoing fails the same way: the multi link and the fallback's perf events
    are made by a child sharing our descriptors, util/detach.h.)"""
    lib = fresh("libmany.so", "libmany.so")
    caller = Proc([fresh("many_caller", "many_caller"), "--wait"])
    argv = [sz.bin, "watch", "--json", "-g", "libmany.so", "-s", glob, "--count",
            "-p", str(caller.pid)] + extra
    try:
        assert json.loads(caller.expect('{"event":"waiting"'))["event"] == "waiting"
        addrs = []
        with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as p:
            for line in p.stdout:
                r = json.loads(line)
                if r["event"] == "found" and r["type"] == "func":
                    addrs.append(int(r["address"], 16))
                if r["event"] == "ready":
                    break
            p.send_signal(signal.SIGINT)
            p.communicate(timeout=300)
        assert len(addrs) == n
        seed = int.from_bytes(os.urandom(4), "little")
        rnd = random.Random(seed)
        caught = 0
        for trial in range(sum(trials)):
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if trial < trials[0]:  # inside the registering call
                deadline = time.monotonic() + 10
                while p.poll() is None and time.monotonic() < deadline:
                    if in_syscall(p.pid, call):
                        caught += 1
                        break
            else:
                time.sleep(rnd.uniform(0, 0.06))
            p.kill()
            p.wait(timeout=30)
            # a link being made goes on in its maker, then goes with it
            assert poll_until(lambda: not helpers(), timeout=300), "%s outlived us" % helpers()
            assert poll_until(lambda: all(a == b for a, b in code_bytes(
                caller.pid, lib, addrs).values()), timeout=300), \
                "seed %d trial %d: int3 left" % (seed, trial)
            assert not kernel_log.leaks(), "seed %d trial %d: the kernel leaked uprobes" % (
                seed, trial)
        assert caught >= trials[0] // 2, "caught inside %s %d times of %d" % (
            call, caught, trials[0])
    finally:
        caller.close()
