# SPDX-License-Identifier: BSD-2-Clause
"""watch --mmap-hook perf: new mappings from perf's PERF_RECORD_MMAP2 records
instead of the BPF program on sys_exit_mmap.  Ground truth as in test_watch:
the address dlsym gives the process, exact call counts; names of a deleted
library and of a memfd compared with what the BPF hook reports for the same
process; and the property that removes the syscall tax: no syscall
tracepoint is attached by the watch."""
import json
import os
import signal
import subprocess

from conftest import WAIT, Proc, poll_until
from test_cgroup import cgroup, inside  # noqa: F401 (cgroup is a fixture)

PERF = ("--mmap-hook", "perf")


def sflags(syms):
    return [a for s in syms for a in ("-s", s)]


def attached(pid):
    """The BPF programs the process holds on perf events (tracepoints
    included), as `bpftool perf` lists them: {(fd_type, tracepoint)}."""
    out = subprocess.run(["bpftool", "perf", "-j"], capture_output=True, text=True,
                         check=True).stdout
    return {(e["fd_type"], e.get("tracepoint")) for e in json.loads(out) if e["pid"] == pid}


def test_perf_hook_attaches_no_syscall_tracepoint(watch):
    """The tracepoint hook holds sys_exit_mmap (a syscall tracepoint: every
    syscall of the host takes the slow path); the perf hook, the default,
    holds only the scheduler's exec, fork and exit tracepoints and its
    wake-up's mmap_lock_released, none of them on the syscall path."""
    sched = {("raw_tracepoint", "sched_process_" + t) for t in ("exec", "fork", "exit")}
    tp = watch("libnothing-perfmmap.so", ["f"], "--mmap-hook", "tracepoint")
    got = attached(tp.pid)
    assert ("tracepoint", "sys_exit_mmap") in got and sched <= got, got
    for extra in (PERF, ("--mmap-hook", "auto")):
        pf = watch("libnothing-perfmmap.so", ["f"], *extra)
        assert pf.hook == "perf"
        got = attached(pf.pid)
        assert got == sched | {("raw_tracepoint", "mmap_lock_released")}, got
        assert pf.stop() == 0
    assert tp.stop() == 0


def test_default_hook_is_perf_and_freeze_takes_the_tracepoint(watch):
    """--mmap-hook auto (the default): perf's records, or the tracepoint when
    --freeze needs a stop inside mmap(2); the ready record and the summary
    name the hook that ran."""
    for extra, hook in ((("--mmap-hook", "auto"), "perf"),
                        (("--mmap-hook", "auto", "--freeze", "--count"), "tracepoint"),
                        (("--mmap-hook", "tracepoint"), "tracepoint"), (PERF, "perf")):
        w = watch("libnothing-perfmmap.so", ["f"], *extra)
        assert w.hook == hook, extra
        assert w.stop() == 0
        assert w.summary["mmap_hook"] == hook


def test_cpus_that_may_come_online_take_the_tracepoint(sz):
    """Perf events are per CPU: a CPU the kernel brings online after they were
    opened has none, and what maps there would never be seen.  When
    /sys/devices/system/cpu/possible (stood in for) lists more CPUs than the
    events cover, the default takes the tracepoint and says why; --mmap-hook
    perf runs, with a warning naming the risk."""
    env = dict(os.environ, SYMBOLYZE_TEST_CPU_POSSIBLE="0-%d" % (os.cpu_count() + 1))
    env.pop("SYMBOLYZE_MMAP_HOOK", None)
    for extra, hook, says in (([], "tracepoint", "tracepoint instead"),
                              (list(PERF), "perf", "will not be seen")):
        r = subprocess.run([sz.bin, "watch", "--json", "-g", "libnothing-cpus.so", "-s", "f",
                            "-d", "0.2", "--no-scan"] + extra, capture_output=True, text=True,
                           timeout=WAIT, env=env)
        assert r.returncode == 0, r.stderr
        recs = [json.loads(line) for line in r.stdout.splitlines()]
        assert recs[0] == {"event": "ready", "mmap_hook": hook}
        assert recs[-1]["mmap_hook"] == hook
        lines = [x for x in r.stderr.splitlines() if "CPUs may come online" in x]
        assert len(lines) == 1 and "2 CPUs" in lines[0] and says in lines[0], r.stderr
    # this machine's own list: the same when it has CPUs that may come online
    def count(name):
        with open("/sys/devices/system/cpu/" + name) as f:
            return sum(int(b) - int(a) + 1 for a, _, b in
                       (p.partition("-") if "-" in p else (p, "-", p)
                        for p in f.read().strip().split(",")))
    spare = count("possible") > count("online")
    r = subprocess.run([sz.bin, "watch", "--json", "-g", "libnothing-cpus.so", "-s", "f", "-d",
                        "0.2", "--no-scan", "--mmap-hook", "auto"], capture_output=True,
                       text=True, timeout=WAIT)
    assert json.loads(r.stdout.splitlines()[0])["mmap_hook"] == \
        ("tracepoint" if spare else "perf")
    assert ("CPUs may come online" in r.stderr) == spare, r.stderr


def test_perf_hook_wakes_for_matching_code_only(sz, watch, fresh):
    """The wake-up program (sz_mmap_hint) decides in the kernel: a process
    mapping a matching library's code is one hint, once per process and
    file; a library that does not match, and the matching one's data
    segments, none.  The loads are found, under the process's name."""
    lib = fresh("libfix.so", "libfixhint.so")
    other = fresh("libfix.so", "libfixnohint.so")
    w = watch("libfixhint.so", ["fix_func"], "--no-scan", *PERF)
    r = subprocess.run([sz.fix("loader"), "-n", "3", "-A", lib, other], capture_output=True,
                       text=True, timeout=WAIT)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "end 3 0", r.stdout
    kids = [int(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("child")]
    assert len(kids) == 3
    for k in kids:
        w.wait_found(k, "fix_func")
    assert w.stop() == 0
    s = w.summary
    assert (s["hints"], s["found"]) == (3, 3), s
    assert {x["comm"] for x in w.found()} == {"loader"}
    assert {x["path"] for x in w.found()} == {lib}


def test_perf_hook_reports_dlopen_with_dlsym_address(target, watch, fresh):
    lib = fresh("libfix.so", "libfixpm1.so")
    syms = ["fix_func", "fix_data", "fix_local"]
    w = watch("libfixpm1.so", syms, *PERF)
    tg = target("target-pie", "-l", lib, *sflags(syms))
    for s in syms:
        w.wait_found(tg.pid, s)
    assert w.stop() == 0
    assert w.triples(tg.pid) == tg.truth
    assert {r["source"] for r in w.found(tg.pid)} == {"mmap"}
    assert {r["path"] for r in w.found(tg.pid)} == {lib}
    assert w.summary["found"] == len(syms)
    assert w.summary["lost"] == 0


def test_perf_hook_process_that_exits_at_once(sz, watch, fresh):
    """Maps the library and is gone before its record is read: found through
    the path from our root (the very inode, dev and ino checked), at dlsym's
    address."""
    lib = fresh("libfix-nosep.so", "libfixpm8.so")
    w = watch("libfixpm8.so", ["fix_func", "fix_bss"], *PERF)
    p = subprocess.Popen([sz.fix("target-pie"), "-l", lib, "-s", "fix_func", "-s", "fix_bss"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate(timeout=WAIT)
    truth = sorted((int(f[1], 16), f[2], int(f[3], 16))
                   for f in (line.split() for line in out.splitlines()) if len(f) == 4)
    assert len(truth) == 2, out
    w.wait_found(p.pid, "fix_bss")
    assert w.stop() == 0
    assert w.triples(p.pid) == truth


def test_perf_hook_path_glob(target, watch, fresh, scratch):
    """A path pattern is matched on the whole path perf gives."""
    lib = fresh("libfix.so", "libfixpm2.so")
    w = watch(os.path.join(scratch, "libfixpm*.so"), ["fix_func"], *PERF)
    miss = watch("/nowhere/libfixpm*.so", ["fix_func"], *PERF)
    tg = target("target-pie", "-l", lib, "-s", "fix_func")
    w.wait_found(tg.pid, "fix_func")
    assert w.stop() == 0 and miss.stop() == 0
    assert w.triples(tg.pid) == tg.truth
    assert miss.found(tg.pid) == []


def test_perf_hook_count_exact(caller, watch, fresh):
    """Probes attached from a perf record count every call, and the process's
    exit (reported by BPF once perf's record put it in `seen`) keeps them."""
    lib = fresh("libfix.so", "libfixpm3.so")
    w = watch("libfixpm3.so", ["fix_func"], "--count", *PERF)
    calls = {}
    for n in (25000, 3100):
        c = caller(lib, n, ["-w"])
        c.expect("loaded")
        assert w.wait_found(c.pid, "fix_func")["probed"]
        c.send("go")
        calls[c] = n
    for c in calls:
        c.expect("done")
    next(iter(calls)).close()  # exits before the watch stops: its count must survive
    assert w.stop() == 0
    assert w.counts() == {(c.pid, "fix_func"): n for c, n in calls.items()}
    assert w.summary["exits"] >= 1


def test_perf_hook_pid_filter(target, watch, fresh):
    """-p: records of other processes are dropped in userspace."""
    lib = fresh("libfix.so", "libfixpm4.so")
    # the watched process must exist before the watch: a python that
    # dlopens the library when told to
    script = ("import ctypes, sys\n"
              "print('up', flush=True)\n"
              "sys.stdin.readline()\n"
              "lib = ctypes.CDLL(sys.argv[1])\n"
              "print('addr 0 fix_func %#x' % ctypes.cast(lib.fix_func, ctypes.c_void_p).value)\n"
              "print('ready', flush=True)\n"
              "sys.stdin.read()\n")
    me = Proc(["/usr/bin/python3", "-c", script, lib])
    try:
        me.expect("up")
        w = watch("libfixpm4.so", ["fix_func"], "-p", str(me.pid), *PERF)
        other = target("target-pie", "-l", lib, "-s", "fix_func")
        me.send("go")
        addr = int(me.expect("addr").split()[3], 16)
        me.expect("ready")
        found = w.wait_found(me.pid, "fix_func")
        assert int(found["address"], 16) == addr and found["source"] == "mmap"
        assert w.stop() == 0
        assert {r["pid"] for r in w.found()} == {me.pid}, other.pid
    finally:
        me.close()


def test_perf_hook_cgroup(sz, caller, watch, fresh, cgroup):  # noqa: F811
    """--cgroup: the per-CPU events are cgroup events; a process in the
    subtree (in a child cgroup of it, too) is found and counted, one outside
    is not."""
    name, cgdir = cgroup
    sub = os.path.join(cgdir, "child")
    os.mkdir(sub)
    lib = fresh("libfix.so", "libfixpm5.so")
    procs = []
    try:
        w = watch("libfixpm5.so", ["fix_func"], "--count", "--cgroup", name, *PERF)
        out = caller(lib, 700, ["-w"])
        out.expect("loaded")
        ins = [inside(sz, cgdir, lib, 1100, procs), inside(sz, sub, lib, 900, procs)]
        for c in ins:
            c.expect("loaded")
            assert w.wait_found(c.pid, "fix_func")["probed"]
        for c in ins + [out]:
            c.send("go")
        for c in ins + [out]:
            c.expect("done")
        assert w.stop() == 0
        assert {r["pid"] for r in w.found()} == {c.pid for c in ins}
        assert w.counts() == {(ins[0].pid, "fix_func"): 1100, (ins[1].pid, "fix_func"): 900}
    finally:
        for p in procs:
            p.close()
        poll_until(lambda: not open(os.path.join(sub, "cgroup.procs")).read().strip(), WAIT)
        os.rmdir(sub)


DELETED = ("import ctypes, os, sys\n"
           "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
           "os.unlink(sys.argv[1])\n"
           "lib = ctypes.CDLL('/proc/self/fd/%d' % fd)\n"
           "print('addr 0 fix_func %#x' % ctypes.cast(lib.fix_func, ctypes.c_void_p).value)\n"
           "print('ready', flush=True)\n"
           "sys.stdin.read()\n")

MEMFD = ("import ctypes, os, sys\n"
         "fd = os.memfd_create(sys.argv[2], 0)\n"
         "os.write(fd, open(sys.argv[1], 'rb').read())\n"
         "lib = ctypes.CDLL('/proc/self/fd/%d' % fd)\n"
         "print('addr 0 fix_func %#x' % ctypes.cast(lib.fix_func, ctypes.c_void_p).value)\n"
         "print('ready', flush=True)\n"
         "sys.stdin.read()\n")


def both_hooks_name(sz, target, watch, glob, argv):
    """The found record of fix_func from a watch with each hook, for the
    process ARGV starts: (path, deleted, address) of each, and its dlsym."""
    ws = [watch(glob, ["fix_func"], "--no-scan"), watch(glob, ["fix_func"], "--no-scan", *PERF)]
    t = target(*argv)
    names = []
    for w in ws:
        w.wait_found(t.pid, "fix_func")
        assert w.stop() == 0
        recs = w.found(t.pid)
        assert len(recs) == 1, recs
        assert recs[0]["source"] == "mmap"
        names.append((recs[0]["path"], recs[0]["deleted"], int(recs[0]["address"], 16)))
    return names, t.truth[0][2]


def test_perf_hook_names_a_deleted_library(sz, target, watch, fresh):
    lib = fresh("libfix.so", "libfixpm6.so")
    names, addr = both_hooks_name(sz, target, watch, "libfixpm6.so",
                                  ["/usr/bin/python3", "-c", DELETED, lib])
    assert names == [(lib, True, addr)] * 2


def test_perf_hook_names_a_memfd(sz, target, watch):
    name = "libfixpmmemfd%d" % os.getpid()
    names, addr = both_hooks_name(sz, target, watch, "memfd:%s*" % name,
                                  ["/usr/bin/python3", "-c", MEMFD, sz.fix("libfix.so"), name])
    assert names == [("/memfd:" + name, True, addr)] * 2


MMAPS = ("import mmap, sys\n"
         "f = open(sys.argv[1], 'rb')\n"
         "for _ in range(int(sys.argv[2])):\n"
         "    mmap.mmap(f.fileno(), 4096, mmap.MAP_PRIVATE,\n"
         "              mmap.PROT_READ | mmap.PROT_EXEC).close()\n")


def test_perf_hook_full_ring_is_counted_as_lost(watch, fresh):
    """The watch stopped while a process maps a matching file PROT_EXEC 3,000
    times (a record each; the smallest rings, 16 KiB a CPU, hold ~150): the
    kernel's PERF_RECORD_LOST counts come out as lost records, reason
    ring_full, each an executable mapping that may have been a load."""
    lib = fresh("libfix.so", "libfixpm7.so")
    w = watch("libfixpm7.so", ["fix_func"], "--ring-size", "4096", *PERF)
    os.kill(w.pid, signal.SIGSTOP)
    try:
        subprocess.run(["/usr/bin/python3", "-c", MMAPS, lib, "3000"], check=True,
                       timeout=WAIT)
    finally:
        os.kill(w.pid, signal.SIGCONT)
    w.wait_for(lambda r: r["event"] == "lost", what="a lost record")
    assert w.stop() == 0
    lost = w.of("lost")
    assert {r["reason"] for r in lost} == {"ring_full"}, lost
    total = sum(r["records"] for r in lost)
    assert 0 < total < 3000 and total == w.summary["lost"], (lost, w.summary)
    assert sum(r["loads"] for r in lost) == total == w.summary["lost_loads"]
    assert w.summary["lost_reasons"]["ring_full"] == total


def test_freeze_with_perf_hook_is_a_usage_error(sz):
    r = sz.run("watch", "-g", "x", "-s", "f", "--count", "--freeze", *PERF, "-d", "1",
               expect=2)
    assert "--freeze needs --mmap-hook tracepoint" in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr


def test_mmap_hook_bad_value_is_a_usage_error(sz):
    r = sz.run("watch", "-g", "x", "-s", "f", "--mmap-hook", "kprobe", "-d", "1", expect=2)
    assert "--mmap-hook 'kprobe'" in r.stderr and r.stderr.count("\n") == 1, r.stderr
