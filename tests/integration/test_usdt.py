# SPDX-License-Identifier: BSD-2-Clause
"""USDT probes through the CLI (`-u PROVIDER:NAME` in scan and watch), root, real
BPF: discovery in the one pipeline (scan, exec, mmap) against the process's own
addresses and readelf's notes; attach with --count and --trace on the
<sys/sdt.h> fixture with exact argument values and counts, semaphore included;
Debian's python3.11 function__entry (semaphore-guarded) in processes started
before and after the watch; a real PostgreSQL 15 server's query__start with the
query text read as a string."""
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import Proc, poll_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loads BPF: root")

PYTHON = "/usr/bin/python3.11"
PGBIN = "/usr/lib/postgresql/15/bin"
SDT_PROBES = ("noargs", "ints", "str", "twelve", "sema")


def readelf_notes(path):
    """{name: [(provider, location, semaphore, args)]} from binutils' readelf: a
    parser that is not ours."""
    out = subprocess.run(["readelf", "-n", "--wide", path], capture_output=True, text=True,
                         check=True).stdout
    notes = {}
    for m in re.finditer(r"Provider: (\S+)\s+Name: (\S+)\s+Location: (0x[0-9a-f]+), "
                         r"Base: 0x[0-9a-f]+, Semaphore: (0x[0-9a-f]+)\s+Arguments: ?([^\n]*)",
                         out):
        notes.setdefault(m.group(2), []).append(
            (m.group(1), int(m.group(3), 16), int(m.group(4), 16), m.group(5).strip()))
    return notes


class Sdt(Proc):
    """The sdt fixture: says where it is loaded and where its semaphore is, then
    fires N rounds on "go" and prints what it fired."""

    def __init__(self, path, rounds):
        super().__init__([path, str(rounds)])
        f = self.expect("ready", timeout=20).split()
        self.base, self.sema = int(f[1], 16), int(f[2], 16)

    def fire(self):
        self.send("go")
        return json.loads(self.expect("{", timeout=60))


@pytest.fixture
def sdt(sz):
    procs = []

    def start(rounds, path=None):
        p = Sdt(path or sz.fix("sdt"), rounds)
        procs.append(p)
        return p
    yield start
    for p in procs:
        p.close()


def usdt_found(records, pid=None):
    return [r for r in records if r["event"] == "found" and r.get("kind") == "usdt" and
            (pid is None or r["pid"] == pid)]


def check_sdt_records(recs, proc, path, want_names):
    """Every probe site of the fixture, at its runtime address (the process's
    own load address + readelf's location), semaphore likewise."""
    notes = readelf_notes(path)
    got = sorted((r["name"], int(r["address"], 16)) for r in recs)
    want = sorted((n, proc.base + loc) for n in want_names for (_, loc, _, _) in notes[n])
    assert got == want
    for r in recs:
        (prov, loc, sema, args), = notes[r["name"]]
        assert r["provider"] == prov == "sztest" and r["symbol"] == "sztest:" + r["name"]
        assert r["type"] == "usdt" and r["arg_spec"] == args
        assert int(r["file_offset"], 16) == loc  # this fixture's text: offset == vaddr
        if r["name"] == "sema":
            assert int(r["semaphore"], 16) == proc.sema == proc.base + sema
        else:
            assert r["semaphore"] is None and sema == 0


# --- discovery: scan and watch, no probes -------------------------------------------

def test_scan_usdt_alone_and_with_symbols(sz, sdt):
    p = sdt(1)
    path = sz.fix("sdt")
    out = sz.run("scan", "--json", "-g", "sdt", "-p", str(p.pid), "-u", "sztest:*",
                 expect=0)
    recs = [json.loads(line) for line in out.stdout.splitlines()]
    check_sdt_records(usdt_found(recs), p, path, SDT_PROBES)
    assert recs[-1]["event"] == "summary" and recs[-1]["found"] == len(SDT_PROBES)
    # globs on both parts, repeatable, with -s: each kind once
    out = sz.run("scan", "--json", "-g", "sdt", "-p", str(p.pid), "-u", "sz*:s*",
                 "-u", "sztest:tw?lve", "-s", "main", "-u", "nothere:*", expect=0)
    recs = [json.loads(line) for line in out.stdout.splitlines()]
    check_sdt_records(usdt_found(recs), p, path, ("str", "sema", "twelve"))
    syms = [r for r in recs if r["event"] == "found" and r["kind"] == "symbol"]
    assert [r["symbol"] for r in syms] == ["main"]
    absent = [r for r in recs if r["event"] == "error" and r["reason"] == "symbol-absent"]
    assert [r["symbol"] for r in absent] == ["nothere:*"]
    assert recs[-1]["problems"]["symbol-absent"] == 1


def test_usage_errors(sz):
    for args, word in ((["-u", "a:b:c"], "-u"), (["-u", ":x"], "-u"),
                       (["-u", "p:[z"], "-u")):
        r = sz.run("scan", "-g", "sdt", *args, expect=2)
        assert word in r.stderr and len(r.stderr.splitlines()) == 1
    r = sz.run("watch", "-g", "sdt", "-u", "x:y", "--latency", expect=2)
    assert "--latency" in r.stderr
    r = sz.run("watch", "-g", "sdt", "-u", "x:y", "--count", "--usdt-str", "0", expect=2)
    assert "--usdt-str" in r.stderr
    r = sz.run("watch", "-g", "sdt", "-u", "x:y", "--trace", "--usdt-str", "x:12", expect=2)
    assert "--usdt-str" in r.stderr
    r = sz.run("scan", "-g", "sdt", "--usdt-str", "0", expect=2)
    assert "watch" in r.stderr


def test_watch_discovers_exec_and_mmap(sz, watch, sdt, tmp_path):
    """A process started after ready: its executable (exec) and libc (mmap),
    each probe site once, at the address the process itself implies."""
    path = sz.fix("sdt")
    w = watch("sdt", [], "-u", "sztest:*")
    p = sdt(1)
    recs = w.wait_for(lambda r: r["event"] == "found" and r["pid"] == p.pid,
                      count=len(SDT_PROBES), what="the fixture's probes")
    assert {r["source"] for r in recs} == {"exec"}
    check_sdt_records(recs, p, path, SDT_PROBES)
    assert w.stop() == 0

    # libstdc++'s own probes (Debian's libc has none), in a process that
    # dlopens it after the watch is ready (python does not link it); the ground
    # truth is the process's own dlsym(__cxa_throw) and readelf's value of it.
    lib = os.path.realpath("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")
    notes = readelf_notes(lib)
    assert sorted(notes) == ["catch", "rethrow", "throw"]
    value = int(re.search(r"\s([0-9a-f]+)\s+\d+\s+FUNC\s+GLOBAL\s+DEFAULT\s+\d+\s+"
                          r"__cxa_throw@@",
                          subprocess.run(["readelf", "-sW", lib], capture_output=True,
                                         text=True, check=True).stdout).group(1), 16)
    w = watch("libstdc++.so*", [], "-u", "libstdcxx:*")
    script = tmp_path / "m.py"
    script.write_text("import ctypes, sys\n"
                      "f = ctypes.CDLL('libstdc++.so.6').__cxa_throw\n"
                      "print(hex(ctypes.cast(f, ctypes.c_void_p).value))\n"
                      "sys.stdout.flush(); sys.stdin.readline()\n")
    t = Proc([PYTHON, str(script)])
    try:
        base = int(t.expect("0x"), 16) - value
        recs = w.wait_for(lambda r: r["event"] == "found" and r["pid"] == t.pid, count=3,
                          what="libstdc++'s probes")
        time.sleep(0.2)
        recs = usdt_found(w.records, t.pid)
        assert {r["source"] for r in recs} == {"mmap"}
        got = sorted((r["name"], int(r["address"], 16)) for r in recs)
        assert got == sorted((n, base + loc) for n in notes for (_, loc, _, _) in notes[n])
        assert all(r["provider"] == "libstdcxx" and r["semaphore"] is None for r in recs)
    finally:
        t.close()
    assert w.stop() == 0


# --- attach: --trace and --count on the fixture ----------------------------------

def usdt_calls(w, pid):
    return [r for r in w.of("call", pid) if r.get("kind") == "usdt"]


def vals(hit):
    return [a["value"] for a in hit["args"]]


def check_rounds(hits, n):
    by = {}
    for h in hits:
        by.setdefault(h["name"], []).append(h)
    assert {k: len(v) for k, v in by.items()} == {k: n for k in SDT_PROBES}
    mem = [-5, 7, 1 << 20, -(1 << 40)]
    words = ["alpha", "beta", "gamma"]
    for i in range(1, n + 1):
        ints, st, tw, se = (by[k][i - 1] for k in ("ints", "str", "twelve", "sema"))
        assert vals(ints) == [-i, 60000 + i, -100000 * i, 0x1122334455667788 + i, 42,
                              mem[i % 4]]
        assert [a["type"] for a in ints["args"]] == ["s8", "u16", "s32", "u64", "s32", "s64"]
        assert vals(st) == [i, words[i % 3]] and st["args"][1]["type"] == "str"
        assert vals(tw) == list(range(i, i + 12))
        assert vals(se) == [i, i * 1000]
        assert by["noargs"][i - 1]["args"] == []
        assert ints["symbol"] == "sztest:ints" and ints["provider"] == "sztest"


def test_trace_exact_arguments_before_and_after(sz, watch, sdt):
    """One fixture running before the watch (found by the scan), one started
    after it (exec): every hit with its typed arguments, the string argument
    read as a string, the semaphore set by the kernel in both."""
    before = sdt(5)
    # Without a tracer the semaphore is 0 and sztest:sema never fires.
    assert sdt(3).fire()["sema_fired"] == 0
    w = watch("sdt", [], "-u", "sztest:*", "--trace", "--usdt-str", "sztest:str:1")
    assert all(r["probed"] for r in usdt_found(w.records, before.pid))
    after = sdt(6)
    w.wait_for(lambda r: r["event"] == "found" and r["pid"] == after.pid and r["probed"],
               count=len(SDT_PROBES), what="the new process's probes")
    assert before.fire()["sema_fired"] == 5
    assert after.fire()["sema_fired"] == 6
    w.wait_for(lambda r: r["event"] == "call" and r["pid"] == after.pid, count=30)
    w.wait_for(lambda r: r["event"] == "call" and r["pid"] == before.pid, count=25)
    assert w.stop() == 0
    check_rounds(usdt_calls(w, before.pid), 5)
    check_rounds(usdt_calls(w, after.pid), 6)
    s = w.summary
    assert s["usdt_probes"] == len(SDT_PROBES)  # one attach per (inode, probe)
    assert s["usdt_records_dropped"] == 0


def test_count_per_process_with_pid(sz, watch, sdt):
    target = sdt(4)
    w = watch("sdt", [], "-u", "sztest:*", "-p", str(target.pid), "--count")
    other = sdt(2)  # another process of the same file: -p leaves it out
    assert other.fire()["sema_fired"] == 0
    assert target.fire()["sema_fired"] == 4
    target.close()
    assert w.stop() == 0
    counts = {(r["pid"], r["symbol"]): r["calls"] for r in w.of("count")}
    assert counts == {(target.pid, "sztest:" + n): 4 for n in SDT_PROBES}


def test_sigkill_during_detach_leaves_no_breakpoint_nor_semaphore(sz, watch, sdt):
    """kill -9 inside the detach of USDT probes (released by the keeper,
    src/util/detach.h): every probe site is the file's byte again, the
    semaphore is back to 0 (the fixture's own count of guarded firings says
    so), and the kernel logged no leak."""
    from test_detach import KernelLog, code_bytes, kill_in_detach
    path = os.path.realpath(sz.fix("sdt"))
    target = sdt(4)
    log = KernelLog()
    try:
        for delay in (0.0, 0.001, 0.003):
            w = watch("sdt", [], "-u", "sztest:*", "-p", str(target.pid), "--count")
            recs = w.wait_for(lambda r: r["event"] == "found" and r["pid"] == target.pid,
                              count=len(SDT_PROBES), what="the fixture's probes")
            assert all(r["probed"] for r in recs)
            sites = [int(r["address"], 16) for r in recs]
            assert all(m == b"\xcc" for m, _ in code_bytes(target.pid, path, sites).values())
            kill_in_detach(w, delay)
            left = {a: b for a, b in code_bytes(target.pid, path, sites).items()
                    if b[0] != b[1]}
            assert not left, "delay %s: %d USDT sites still hold an int3" % (delay, len(left))
            assert not log.leaks(), "delay %s: the kernel leaked uprobes" % delay
    finally:
        log.close()
    assert target.fire()["sema_fired"] == 0  # the semaphore was let go


def test_count_with_symbols(sz, watch, sdt):
    """-s and -u together: one table, a row per process and symbol or probe."""
    p = sdt(7)
    w = watch("sdt", ["main", "sdt_fire_sema"], "-u", "sztest:*", "--count")
    assert p.fire()["sema_fired"] == 7
    p.close()
    assert w.stop() == 0
    counts = {(c["symbol"], c.get("kind")): c["calls"] for c in w.of("count", p.pid)}
    assert counts == dict([(("sdt_fire_sema", None), 7)] +
                          [(("sztest:" + n, "usdt"), 7) for n in SDT_PROBES])
    assert w.summary["uprobes"] == 2 and w.summary["usdt_probes"] == len(SDT_PROBES)


# --- python3.11 ----------------------------------------------------------------

SCRIPT = '''import sys
def sz_usdt_target(x):
    return x + 1
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
for i in range(int(sys.argv[1])):
    sz_usdt_target(i)
sys.stdout.write("done\\n"); sys.stdout.flush()
sys.stdin.readline()
'''


def semaphore(pid, addr):
    with open("/proc/%d/mem" % pid, "rb") as m:
        m.seek(addr)
        return int.from_bytes(m.read(2), "little")


def settle(w, timeout=60):
    """Until the watch's output stops growing for a second (its rings drained)."""
    end, last = time.monotonic() + timeout, -1
    while time.monotonic() < end:
        with w.cv:
            n = len(w.records)
        if n == last:
            return
        last = n
        time.sleep(1.0)


def test_python_function_entry_with_semaphore(sz, watch, tmp_path):
    """Debian's python3.11, copied to a file of its own so that the probes (per
    inode) and their semaphores touch no other python on this host, such as the
    test runner's.  function__entry fires for Python-to-Python calls only while
    python:line is enabled too (bpftrace alike: with function__entry alone, zero
    hits), so both are asked for.  One process started before the watch, one
    after; each calls the known function a known number of times."""
    # A base name of its own: path patterns this deep do not load today
    # (watch.bpf.c's budget: E2BIG), and the base name is enough.
    py = tmp_path / "sz-usdt-python3.11"
    shutil.copy2(PYTHON, py)
    script = tmp_path / "sz_target.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONHOME="/usr")
    pattern = py.name
    n_before, n_after = 37, 23

    def start(n):
        p = subprocess.Popen([str(py), str(script), str(n)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
        assert p.stdout.readline().strip() == "ready"
        return p

    before = start(n_before)
    procs = [before]
    try:
        sema = {}
        w = watch(pattern, [], "-u", "python:function__entry", "-u", "python:line",
                  "--trace", "--usdt-str", "python:function__entry:0",
                  "--usdt-str", "python:function__entry:1")
        found = {r["name"]: r for r in usdt_found(w.records, before.pid)}
        assert set(found) == {"function__entry", "line"} and all(
            r["probed"] for r in found.values())
        sema = int(found["function__entry"]["semaphore"], 16)
        assert semaphore(before.pid, sema) > 0  # the kernel set it (ref_ctr_offset)
        after = start(n_after)
        procs.append(after)
        w.wait_for(lambda r: r["event"] == "found" and r["pid"] == after.pid and r["probed"],
                   count=2, what="the later python's probes")
        assert semaphore(after.pid, sema) > 0
        # The later python's start-up runs thousands of lines, each a python:line
        # hit: a slow reader (ASan) may still be draining them, and the calls
        # counted below would find the ring full. Let it catch up first.
        settle(w)
        for p, n in ((before, n_before), (after, n_after)):
            p.stdin.write("\n")
            p.stdin.flush()
            assert p.stdout.readline().strip() == "done"
        for p, n in ((before, n_before), (after, n_after)):
            w.wait_for(lambda r: r["event"] == "call" and r["pid"] == p.pid and
                       r["name"] == "function__entry" and
                       r["args"][1]["value"] == "sz_usdt_target", count=n, timeout=30)
        assert w.stop() == 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
    for p, n in ((before, n_before), (after, n_after)):
        mine = [h for h in usdt_calls(w, p.pid) if h["name"] == "function__entry" and
                h["args"][1]["value"] == "sz_usdt_target"]
        assert len(mine) == n
        assert all(h["args"][0] == {"type": "str", "value": str(script)} and
                   h["args"][2] == {"type": "s32", "value": 2} for h in mine)
    # No "0 drops" here: python:line (asked for only because function__entry needs it)
    # fires on every line python runs, and a slow reader (the ASan build) lets the ring
    # overflow with line hits; those drops are counted in the summary, and the exact
    # function__entry counts above show that none of the asked-for hits went missing.


# --- PostgreSQL 15 -------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A PostgreSQL 15 server of our own: throwaway cluster in a temp dir, its
    socket there too, 127.0.0.1 only, stopped and removed on every path."""
    pw = pwd.getpwnam("postgres")
    d = tempfile.mkdtemp(prefix="sz-pg-")
    os.chown(d, pw.pw_uid, pw.pw_gid)
    data = os.path.join(d, "data")
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]
    started = False
    try:
        subprocess.run(as_pg + [PGBIN + "/initdb", "-D", data, "-A", "trust", "-U", "postgres",
                                "--no-sync"], check=True, capture_output=True, timeout=300)
        subprocess.run(as_pg + [PGBIN + "/pg_ctl", "-D", data, "-l", os.path.join(d, "log"),
                                "-w", "-t", "120", "-o",
                                "-p %d -k %s -c listen_addresses=127.0.0.1" % (port, d),
                                "start"], check=True, capture_output=True, timeout=180)
        started = True
        yield port, d
    finally:
        if started:
            subprocess.run(as_pg + [PGBIN + "/pg_ctl", "-D", data, "-m", "immediate", "-w",
                                    "stop"], capture_output=True, timeout=120)
        shutil.rmtree(d, ignore_errors=True)


def test_postgres_query_start(sz, watch, postgres):
    port, sockdir = postgres
    w = watch("postgres", [], "-u", "postgresql:query__start", "--trace",
              "--usdt-str", "0")
    assert any(r["probed"] for r in usdt_found(w.records))
    token = uuid.uuid4().hex[:12]
    n = 9
    queries = ["SELECT %d AS sz_%s" % (i, token) for i in range(n)]
    argv = ["psql", "-X", "-q", "-h", sockdir, "-p", str(port), "-U", "postgres",
            "-d", "postgres"]
    for q in queries:
        argv += ["-c", q]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    w.wait_for(lambda r: r["event"] == "call" and token in str(r["args"][0]["value"]),
               count=n, timeout=30)
    assert w.stop() == 0
    hits = [r for r in w.of("call") if r.get("kind") == "usdt" and
            token in str(r["args"][0]["value"])]
    assert [h["args"][0] for h in hits] == [{"type": "str", "value": q} for q in queries]
    assert {h["symbol"] for h in hits} == {"postgresql:query__start"}
    assert w.summary["usdt_records_dropped"] == 0
