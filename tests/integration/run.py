#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Integration tests: real processes, real files, ground truth from the target.

Each fixture process prints "addr BIAS SYM ADDRESS" lines (dlsym/dlvsym, the
loader's l_addr, or an address taken inside the process) and then waits; the
test runs `symbolyze scan --json` against it and demands the very same
addresses and biases, no more and no fewer records.
"""
import argparse
import json
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ARGS = None
RESULTS = []
LIBSYMS = ["fix_func", "fix_data", "fix_bss", "fix_local", "fix_ver", "fix_ver@FIX_1"]
EXESYMS = ["exe_func", "exe_data", "exe_bss", "exe_local"]


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def close_child(p, timeout):
    """Close a fixture's stdin (its cue to exit) and reap it, killing if need be."""
    try:
        p.stdin.close()
    except OSError:
        pass
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


class Target:
    """A fixture process; its ground truth is read from its stdout."""

    def __init__(self, argv, env=None):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
        self.truth = []  # (bias, symbol, address)
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.p.stdout.readline()
            if not line:
                raise Fail("target %s exited early: %s" % (argv, self.p.stderr.read()))
            f = line.split()
            if f == ["ready"]:
                return
            if len(f) == 4 and f[0] == "addr":
                self.truth.append((int(f[1], 16), f[2], int(f[3], 16)))
        raise Fail("target %s never became ready" % argv)

    @property
    def pid(self):
        return self.p.pid

    def close(self):
        close_child(self.p, 5)


def run_sz(*args, expect=None):
    cmd = [ARGS.bin] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if expect is not None and r.returncode != expect:
        raise Fail("%s exited %d, wanted %d\nstdout: %s\nstderr: %s"
                   % (" ".join(cmd), r.returncode, expect, r.stdout[-2000:], r.stderr[-2000:]))
    return r


def scan_json(glob, syms, pid=None, expect=0):
    args = ["scan", "--json", "-g", glob]
    for s in syms:
        args += ["-s", s]
    if pid:
        args += ["-p", str(pid)]
    r = run_sz(*args, expect=expect)
    recs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    return recs, r


def found(recs, pid=None):
    return [x for x in recs if x["event"] == "found" and (pid is None or x["pid"] == pid)]


def compare(target, recs, what):
    """Every ground-truth address appears exactly once, with the right bias."""
    got = sorted((int(x["load_bias"], 16), x["symbol"], int(x["address"], 16))
                 for x in found(recs, target.pid))
    want = sorted(target.truth)
    check(got == want, "%s: symbolyze says\n  %s\nprocess says\n  %s" % (
        what, "\n  ".join("bias %x %s %x" % g for g in got),
        "\n  ".join("bias %x %s %x" % w for w in want)))


def test(fn):
    RESULTS.append(fn)
    return fn


def fix(name):
    return os.path.join(ARGS.fixtures, name)


def lib_layout_test(libname):
    def t():
        tg = Target([fix("target-pie"), "-l", fix(libname)] + sum([["-s", s] for s in LIBSYMS], []))
        try:
            recs, _ = scan_json(libname, LIBSYMS, tg.pid)
            compare(tg, recs, libname)
            for x in found(recs):
                check(x["source"] == "scan" and x["build_id"] and len(x["build_id"]) == 40,
                      "record lacks source/build_id: %s" % x)
                if x["symbol"] == "fix_bss":
                    check(x["file_offset"] is None, ".bss object has a file offset: %s" % x)
                if x["symbol"] == "fix_func":
                    check(x["file_offset"] is not None and x["type"] == "func", str(x))
        finally:
            tg.close()
    t.__name__ = "layout_" + libname.replace("-", "_").replace(".", "_")
    return t


for _lib in ["libfix.so", "libfix-maxpage.so", "libfix-nosep.so", "libfix-64k-nosep.so",
             "libfix-nosep-maxpage.so"]:
    test(lib_layout_test(_lib))


@test
def same_file_two_bases():
    """dlmopen loads one file a second time: both loads are reported."""
    lib = fix("libfix.so")
    tg = Target([fix("target-pie"), "-l", lib, "-m", lib, "-s", "fix_func", "-s", "fix_data"])
    try:
        recs, _ = scan_json("libfix.so", ["fix_func", "fix_data"], tg.pid)
        check(len({b for b, _, _ in tg.truth}) == 2, "fixture did not load twice")
        compare(tg, recs, "dlmopen")
    finally:
        tg.close()


@test
def several_matching_files_one_process():
    tg = Target([fix("target-pie"), "-l", fix("libfix.so"), "-l", fix("libfix-nosep.so"),
                 "-s", "fix_func"])
    try:
        recs, _ = scan_json("libfix*.so", ["fix_func"], tg.pid)
        compare(tg, recs, "two libraries")
    finally:
        tg.close()


def exe_test(exe):
    def t():
        tg = Target([fix(exe), "-x"])
        try:
            recs, _ = scan_json(exe, EXESYMS, tg.pid)
            compare(tg, recs, exe)
            if exe == "target-nopie":
                check(all(x["load_bias"] == "0x0" for x in found(recs)), "non-PIE bias != 0")
        finally:
            tg.close()
    t.__name__ = "executable_" + exe.replace("-", "_")
    return t


test(exe_test("target-pie"))
test(exe_test("target-nopie"))


@test
def deleted_library():
    d = tempfile.mkdtemp(prefix="sz-del-")
    lib = os.path.join(d, "libdel.so")
    shutil.copy(fix("libfix.so"), lib)
    tg = Target([fix("target-pie"), "-l", lib, "-u", "-s", "fix_func", "-s", "fix_bss"])
    try:
        check(not os.path.exists(lib), "fixture did not unlink the library")
        recs, _ = scan_json("libdel.so", ["fix_func", "fix_bss"], tg.pid)
        compare(tg, recs, "deleted")
        check(all(x["deleted"] and x["path"] == lib for x in found(recs)), str(recs))
    finally:
        tg.close()
        shutil.rmtree(d)


@test
def path_with_spaces():
    d = tempfile.mkdtemp(prefix="sz dir with spaces ")
    lib = os.path.join(d, "lib fix space.so")
    shutil.copy(fix("libfix.so"), lib)
    tg = Target([fix("target-pie"), "-l", lib, "-s", "fix_func", "-s", "fix_local"])
    try:
        recs, _ = scan_json("lib fix space.so", ["fix_func", "fix_local"], tg.pid)
        compare(tg, recs, "spaces")
        check(all(x["path"] == lib for x in found(recs)), "path mangled: %s" % recs)
        # A glob with '/' matches the whole path.
        recs, _ = scan_json(d + "/lib*", ["fix_func"], tg.pid)
        check(len(found(recs)) == 1, "path glob: %s" % recs)
    finally:
        tg.close()
        shutil.rmtree(d)


@test
def whole_host_scan_finds_target():
    """Without -p every process is scanned; the fixture is among them, correct."""
    tg = Target([fix("target-pie"), "-l", fix("libfix-nosep.so"), "-s", "fix_func"])
    try:
        recs, r = scan_json("libfix-nosep.so", ["fix_func"])
        compare(tg, recs, "host scan")
        check("processes scanned" in r.stderr and "unresolved:" in r.stderr,
              "no summary line: %s" % r.stderr)
    finally:
        tg.close()


@test
def libc_parsed_once():
    """Every process maps libc; the cache parses it once per distinct file."""
    tgs = [Target([fix("target-pie"), "-l", fix("libfix.so"), "-s", "fix_func"])
           for _ in range(3)]
    try:
        recs, r = scan_json("libc.so.6", ["malloc"])
        idents = {(x["dev"], x["ino"]) for x in found(recs)}
        pids = {x["pid"] for x in found(recs)}
        check(all(t.pid in pids for t in tgs), "fixtures missing from host scan")
        parsed = int(r.stderr.split(" files parsed")[0].rsplit(" ", 1)[1])
        check(parsed == len(idents), "parsed %d files for %d distinct libc files"
              % (parsed, len(idents)))
    finally:
        for t in tgs:
            t.close()


PY_LIBC = r"""
import ctypes, sys
libc = ctypes.CDLL("libc.so.6")
m = ctypes.cast(libc.malloc, ctypes.c_void_p).value
e = ctypes.addressof(ctypes.c_void_p.in_dll(libc, "environ"))
print("addr 0x0 malloc 0x%x" % m)
print("addr 0x0 environ 0x%x" % e)
print("ready", flush=True)
sys.stdin.read()
"""


@test
def system_python_libc():
    """malloc and environ in the libc of a running (Debian) python3."""
    tg = Target(["/usr/bin/python3", "-c", PY_LIBC])
    try:
        recs, _ = scan_json("libc.so.6", ["malloc", "environ"], tg.pid)
        got = {(x["symbol"], int(x["address"], 16)) for x in found(recs)}
        want = {(s, a) for _, s, a in tg.truth}
        check(got == want, "got %s want %s" % (got, want))
    finally:
        tg.close()


@test
def dynamic_libpython_pyruntime():
    """_PyRuntime in an interpreter linked against libpython dynamically."""
    tg = Target([fix("pyembed")])
    try:
        recs, _ = scan_json("libpython3*.so*", ["_PyRuntime"], tg.pid)
        got = [(x["symbol"], int(x["address"], 16)) for x in found(recs)]
        want = [(s, a) for _, s, a in tg.truth]
        check(got == want, "got %s want %s" % (got, want))
    finally:
        tg.close()


@test
def problems_are_explained_and_scan_goes_on():
    """A non-ELF file matching the glob and an absent symbol: reasons, no stop."""
    d = tempfile.mkdtemp(prefix="sz-bogus-")
    bogus = os.path.join(d, "libfixbogus.so")
    with open(bogus, "wb") as f:
        f.write(b"\x7fELF this is not really an ELF file" * 200)
    code = ("import mmap,sys\nf=open(%r,'rb')\nm=mmap.mmap(f.fileno(),0,flags=mmap.MAP_PRIVATE,prot=mmap.PROT_READ)\n"
            "print('ready',flush=True)\nsys.stdin.read()\n" % bogus)
    py = Target(["/usr/bin/python3", "-c", code])
    tg = Target([fix("target-pie"), "-l", fix("libfix.so"), "-s", "fix_func"])
    try:
        recs, r = scan_json("libfix*", ["fix_func", "no_such_symbol"], expect=0)
        errs = [x for x in recs if x["event"] == "error"]
        check(any(x["reason"] == "not-elf" and x["pid"] == py.pid and x["path"] == bogus
                  for x in errs), "no not-elf error: %s" % errs)
        check(any(x["reason"] == "symbol-absent" and x["symbol"] == "no_such_symbol"
                  and x["pid"] == tg.pid for x in errs), "no symbol-absent error: %s" % errs)
        check(any(x["symbol"] == "fix_func" and x["pid"] == tg.pid for x in found(recs)),
              "good record lost next to bad ones")
        check("not-elf 1" in r.stderr, "summary does not count not-elf: %s" % r.stderr)
    finally:
        py.close()
        tg.close()
        shutil.rmtree(d)


@test
def exit_codes():
    run_sz("scan", "-g", "no-such-library-*.so", "-s", "x", expect=1)
    r = run_sz("scan", "-g", "libc.so.6", "-s", "malloc", "-p", "999999999", expect=1)
    check("999999999" in r.stderr, "vanished pid not named: %s" % r.stderr)
    run_sz("scan", "-s", "malloc", expect=2)
    run_sz("scan", "-g", "x", expect=2)
    run_sz("scan", "-g", "x", "-s", "y", "-p", "abc", expect=2)
    run_sz("scan", "-g", "[[:alpha:]]", "-s", "y", expect=2)
    run_sz("frobnicate", expect=2)
    run_sz("resolve", "/etc/passwd", "x", expect=1)
    check(run_sz("--version", expect=0).stdout.startswith("symbolyze "), "version")


@test
def resolve_matches_nm():
    lib = fix("libfix.so")
    r = run_sz("resolve", "--json", lib, "fix_func", expect=0)
    rec = json.loads(r.stdout)
    nm = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True,
                        text=True).stdout
    vals = {l.split()[2].split("@")[0]: int(l.split()[0], 16) for l in nm.splitlines() if len(l.split()) == 3}
    check(int(rec["value"], 16) == vals["fix_func"], "resolve %s vs nm %x" % (rec, vals["fix_func"]))
    r = run_sz("resolve", "--json", lib, "fix_local", expect=0)
    check(json.loads(r.stdout)["table"] == "symtab", "fix_local not from .symtab")


# --- watch ------------------------------------------------------------------

class Watch:
    """`symbolyze watch --json` in the background, its records collected."""

    def __init__(self, glob, syms, extra=()):
        args = [ARGS.bin, "watch", "--json", "-g", glob] + sum([["-s", x] for x in syms], [])
        self.p = subprocess.Popen(args + list(extra), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.recs = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.wait_for(lambda r: r["event"] == "ready", 30, "watch never became ready")

    def _read(self):
        for line in self.p.stdout:
            try:
                rec = json.loads(line)
            except ValueError:
                rec = {"event": "garbage", "line": line}
            with self.cv:
                self.recs.append(rec)
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_for(self, pred, timeout, msg):
        deadline = time.time() + timeout
        with self.cv:
            while True:
                hit = [r for r in self.recs if pred(r)]
                if hit:
                    return hit
                left = deadline - time.time()
                if left <= 0 or (self.p.poll() is not None and not self.t.is_alive()):
                    raise Fail("%s; records: %s; stderr: %s" % (
                        msg, self.recs[-20:], self.stderr_now()))
                self.cv.wait(min(left, 0.2))

    def stderr_now(self):
        return "(running)" if self.p.poll() is None else self.p.stderr.read()[-3000:]

    def stop(self, sig=signal.SIGINT):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise Fail("watch did not stop on %s" % sig)
        self.t.join(5)
        self.stderr = self.p.stderr.read()
        return self.p.returncode

    def found(self, pid=None):
        with self.cv:
            return [r for r in self.recs if r["event"] == "found" and
                    (pid is None or r["pid"] == pid)]


def our_bpf_objects(kind, pid=None):
    """BPF programs or links of ours (by name), optionally held by PID."""
    out = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True).stdout
    objs = json.loads(out or "[]")
    names = ("sz_exec", "sz_sys_enter", "sz_sys_exit", "sz_exit", "sz_count", "sz_empty",
             "sz_lat_entry", "sz_lat_exit", "sz_trace_entry", "sz_trace_exit")
    if kind == "prog":
        objs = [o for o in objs if o.get("name") in names]
    else:
        progs = {o["id"] for o in our_bpf_objects("prog")}
        objs = [o for o in objs if o.get("prog_id") in progs]
    if pid is not None:
        held = held_bpf_ids(pid, "prog_id" if kind == "prog" else "link_id")
        objs = [o for o in objs if o["id"] in held]
    return objs


def held_bpf_ids(pid, field):
    """IDs of BPF objects PID holds open (from /proc/PID/fdinfo: this bpftool
    build cannot show pids)."""
    ids = set()
    fddir = "/proc/%d/fd" % pid
    for fd in os.listdir(fddir):
        try:
            if not os.readlink(os.path.join(fddir, fd)).startswith("anon_inode:bpf"):
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k == field:
                        ids.add(int(v))
        except OSError:
            pass
    return ids


def wait_gone(kind, timeout=5):
    """The kernel frees programs after an RCU grace period: allow it a moment."""
    deadline = time.time() + timeout
    while our_bpf_objects(kind) and time.time() < deadline:
        time.sleep(0.1)
    return our_bpf_objects(kind)


def fresh_copy(src, name):
    d = tempfile.mkdtemp(prefix="sz-watch-")
    dst = os.path.join(d, name)
    shutil.copy(src, dst)
    return d, dst


@test
def watch_reports_dlopen_from_mmap():
    d, lib = fresh_copy(fix("libfix.so"), "libfixw1.so")
    w = Watch("libfixw1.so", ["fix_func", "fix_data", "fix_local"])
    try:
        tg = Target([fix("target-pie"), "-l", lib, "-s", "fix_func", "-s", "fix_data",
                     "-s", "fix_local"])
        try:
            w.wait_for(lambda r: r["event"] == "found" and r["pid"] == tg.pid and
                       r["symbol"] == "fix_local", 10, "dlopen not reported")
            time.sleep(0.2)
            compare(tg, w.recs, "watch mmap")
            check(all(r["source"] == "mmap" for r in w.found(tg.pid)),
                  "source is not mmap: %s" % w.found(tg.pid))
        finally:
            tg.close()
        check(w.stop() == 0, "watch exit code")
    finally:
        w.stop()
        shutil.rmtree(d)


@test
def watch_reports_exec():
    d, exe = fresh_copy(fix("target-nopie"), "szexe-nopie")
    d2, pie = fresh_copy(fix("target-pie"), "szexe-pie")
    w = Watch("szexe-*", EXESYMS)
    try:
        for path in (exe, pie):
            tg = Target([path, "-x"])
            try:
                w.wait_for(lambda r: r["event"] == "found" and r["pid"] == tg.pid and
                           r["symbol"] == "exe_local", 10, "exec not reported")
                time.sleep(0.1)
                compare(tg, w.recs, "watch exec " + path)
                check(all(r["source"] == "exec" for r in w.found(tg.pid)), "source")
            finally:
                tg.close()
    finally:
        w.stop()
        shutil.rmtree(d)
        shutil.rmtree(d2)


@test
def watch_reports_interpreter_from_exec():
    """ld.so is mapped by execve, not mmap: the exec hook reports it, at the
    bias the kernel gave it (AT_BASE, as the process reads it)."""
    ld = os.path.realpath("/lib64/ld-linux-x86-64.so.2")
    value = int(json.loads(run_sz("resolve", "--json", ld, "__tls_get_addr",
                                  expect=0).stdout)["value"], 16)
    w = Watch(os.path.basename(ld), ["__tls_get_addr"])
    try:
        tg = Target([fix("target-pie"), "-b"])
        try:
            base = tg.truth[0][0]
            recs = w.wait_for(lambda r: r["event"] == "found" and r["pid"] == tg.pid, 10,
                              "interpreter not reported")
            time.sleep(0.1)
            check(len(w.found(tg.pid)) == 1, "reported %d times" % len(w.found(tg.pid)))
            r = recs[0]
            check(r["source"] == "exec", "source %s" % r["source"])
            check(int(r["load_bias"], 16) == base and int(r["address"], 16) == base + value,
                  "bias %s address %s, AT_BASE 0x%x" % (r["load_bias"], r["address"], base))
        finally:
            tg.close()
    finally:
        w.stop()


@test
def watch_process_that_exits_at_once():
    """Maps the library and is gone before symbolyze reads anything of it."""
    d, lib = fresh_copy(fix("libfix-nosep.so"), "libfixw2.so")
    w = Watch("libfixw2.so", ["fix_func", "fix_bss"])
    try:
        r = subprocess.run([fix("target-pie"), "-l", lib, "-s", "fix_func", "-s", "fix_bss"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
        truth = [(int(f[1], 16), f[2], int(f[3], 16)) for f in
                 (l.split() for l in r.stdout.splitlines()) if len(f) == 4]
        recs = w.wait_for(lambda x: x["event"] == "found" and x["symbol"] == "fix_bss",
                          10, "short-lived process not reported")
        pid = recs[0]["pid"]
        time.sleep(0.2)
        got = sorted((int(x["load_bias"], 16), x["symbol"], int(x["address"], 16))
                     for x in w.found(pid))
        check(got == sorted(truth), "got %s want %s" % (got, truth))
        check(not os.path.exists("/proc/%d/maps" % pid), "process still alive?")
    finally:
        w.stop()
        shutil.rmtree(d)


@test
def watch_no_gap_no_duplicate_during_scan():
    """Processes start while watch starts: each load reported exactly once."""
    d, lib = fresh_copy(fix("libfix.so"), "libfixw3.so")
    tgs = []
    stop = threading.Event()

    def spawn():
        while not stop.is_set() and len(tgs) < 60:
            tgs.append(Target([fix("target-pie"), "-l", lib, "-s", "fix_func"]))
            time.sleep(0.01)
    th = threading.Thread(target=spawn)
    th.start()
    try:
        time.sleep(0.05)
        w = Watch("libfixw3.so", ["fix_func"])
        try:
            time.sleep(0.3)
            stop.set()
            th.join()
            for t in tgs:
                w.wait_for(lambda r, t=t: r["event"] == "found" and r["pid"] == t.pid, 10,
                           "pid %d (started around the scan) never reported" % t.pid)
            time.sleep(0.3)
            sources = set()
            for t in tgs:
                got = w.found(t.pid)
                check(len(got) == 1, "pid %d reported %d times: %s" % (t.pid, len(got), got))
                check(int(got[0]["address"], 16) == t.truth[0][2], "address of %d" % t.pid)
                sources.add(got[0]["source"])
            check(len(tgs) >= 20, "only %d processes spawned" % len(tgs))
            print("    (%d processes, sources %s)" % (len(tgs), sorted(sources)))
        finally:
            w.stop()
    finally:
        stop.set()
        th.join()
        for t in tgs:
            t.close()
        shutil.rmtree(d)


@test
def watch_storm_2000_processes():
    """2,000 short-lived loads: every one reported, or the shortfall is in lost."""
    d, lib = fresh_copy(fix("libfix.so"), "libfixstorm.so")
    w = Watch("libfixstorm.so", ["fix_func"], extra=["--no-scan"])
    try:
        r = subprocess.run([fix("storm"), "2000", lib, "fix_func", "8"],
                           capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, "storm failed: %s" % r.stderr)
        truth = {int(a): int(b, 16) for a, b in (l.split() for l in r.stdout.splitlines())}
        check(len(truth) == 2000, "storm printed %d lines" % len(truth))
        deadline = time.time() + 30
        while time.time() < deadline:
            got = {x["pid"] for x in w.found()} & set(truth)
            if len(got) == 2000:
                break
            time.sleep(0.2)
        check(w.stop() == 0, "watch exit code")
        found_recs = [x for x in w.found() if x["pid"] in truth]
        pids = {x["pid"] for x in found_recs}
        lost = sum(x["records"] for x in w.recs if x["event"] == "lost")
        wrong = [x for x in found_recs if int(x["address"], 16) != truth[x["pid"]]]
        dups = len(found_recs) - len(pids)
        check(not wrong, "%d wrong addresses, e.g. %s" % (len(wrong), wrong[:2]))
        check(dups == 0, "%d duplicate reports" % dups)
        missing = 2000 - len(pids)
        check(missing <= lost, "%d processes missing but only %d records reported lost"
              % (missing, lost))
        if missing:
            check(lost > 0, "silent loss")
        print("    (%d/2000 reported, %d lost records)" % (len(pids), lost))
    finally:
        w.stop()
        shutil.rmtree(d)


@test
def watch_loss_is_reported_and_repaired():
    """A ring too small for the burst, consumer stopped: records are dropped,
    counted, reported as lost, and the rescan finds every live process."""
    d, lib = fresh_copy(fix("libfix.so"), "libfixloss.so")
    w = Watch("libfixloss.so", ["fix_func"], extra=["--no-scan", "--ring-size", "4096"])
    tgs = []
    try:
        w.p.send_signal(signal.SIGSTOP)
        try:
            tgs = [Target([fix("target-pie"), "-l", lib, "-s", "fix_func"]) for _ in range(20)]
        finally:
            w.p.send_signal(signal.SIGCONT)
        for t in tgs:
            w.wait_for(lambda r, t=t: r["event"] == "found" and r["pid"] == t.pid, 15,
                       "pid %d never reported after loss" % t.pid)
        time.sleep(0.3)
        lost = [r for r in w.recs if r["event"] == "lost"]
        check(lost and sum(r["records"] for r in lost) > 0, "no lost record: %s" % w.recs)
        repaired = sum(r["repaired"] for r in lost)
        check(repaired > 0, "loss reported but nothing repaired: %s" % lost)
        for t in tgs:
            got = w.found(t.pid)
            check(len(got) == 1 and int(got[0]["address"], 16) == t.truth[0][2],
                  "pid %d: %s" % (t.pid, got))
        by_scan = sum(1 for t in tgs if w.found(t.pid)[0]["source"] == "scan")
        check(by_scan == repaired, "%d reported by the rescan, %d counted as repaired"
              % (by_scan, repaired))
        print("    (lost %d records, repaired %d loads)" % (sum(r["records"] for r in lost),
                                                         repaired))
    finally:
        w.stop()
        for t in tgs:
            t.close()
        shutil.rmtree(d)


@test
def watch_reports_forked_children():
    """A child inherits its parent's libraries without mmap or exec: reported
    with source fork, whether the parent was seen by an event or by the scan."""
    d, lib = fresh_copy(fix("libfix.so"), "libfixfork.so")
    early = Caller(lib, 0, ["-w", "-F"])  # loaded before watch: found by the scan
    w = None
    late = None
    try:
        early.expect("loaded")
        w = Watch("libfixfork.so", ["fix_func"])
        addr = {}
        parent = probed(w, early.pid, "fix_func")
        check(parent["source"] == "scan", "parent source %s" % parent["source"])
        early.go()
        child = int(early.expect("child").split()[1])
        rec = probed(w, child, "fix_func")
        check(rec["source"] == "fork" and rec["address"] == parent["address"],
              "child %s vs parent %s" % (rec, parent))
        late = Caller(lib, 0, ["-F"])  # loads under watch: found by mmap
        child = int(late.expect("child").split()[1])
        parent = probed(w, late.pid, "fix_func")
        rec = probed(w, child, "fix_func")
        check(parent["source"] == "mmap" and rec["source"] == "fork" and
              rec["address"] == parent["address"], "late: %s / %s" % (parent, rec))
        time.sleep(0.2)
        check(len(w.found(child)) == 1, "child reported %d times" % len(w.found(child)))
    finally:
        if w:
            w.stop()
        for c in (early, late):
            if c:
                c.close()
        shutil.rmtree(d)


@test
def watch_fork_then_exec_reports_no_stale_child():
    """A known process forks and the child execs something that matches nothing
    at once: the child's short pre-exec life is not reported as a load."""
    d, lib = fresh_copy(fix("libfix.so"), "libfixspawn.so")
    code = ("import ctypes,os,sys\nctypes.CDLL(%r)\nprint('ready',flush=True)\n"
            "sys.stdin.readline()\npid=os.fork()\n"
            "if pid==0: os.execv('/bin/sleep',['sleep','1'])\n"
            "print('addr 0x0 child %%d' %% pid, flush=True)\nos.waitpid(pid,0)\n"
            "print('done',flush=True)\nsys.stdin.read()\n" % lib)
    w = Watch("libfixspawn.so", ["fix_func"])
    py = None
    try:
        py = subprocess.Popen(["/usr/bin/python3", "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
        check(py.stdout.readline().strip() == "ready", "python fixture failed")
        probed(w, py.pid, "fix_func")
        py.stdin.write("go\n")
        py.stdin.flush()
        child = int(py.stdout.readline().split()[3])
        check(py.stdout.readline().strip() == "done", "child did not finish")
        time.sleep(0.3)
        check(not w.found(child), "pre-exec child reported: %s" % w.found(child))
    finally:
        w.stop()
        if py:
            close_child(py, 5)
        shutil.rmtree(d)


@test
def reading_a_library_is_not_loading_it():
    """A process that mmaps a library to read it (as profilers and libelf do)
    maps no code: neither scan nor watch reports it."""
    d, lib = fresh_copy(fix("libfix.so"), "libfixread.so")
    code = ("import mmap,sys\nf=open(%r,'rb')\n"
            "a=mmap.mmap(f.fileno(),0,flags=mmap.MAP_PRIVATE,prot=mmap.PROT_READ)\n"
            "b=mmap.mmap(f.fileno(),0,flags=mmap.MAP_SHARED,prot=mmap.PROT_READ)\n"
            "print('ready',flush=True)\nsys.stdin.read()\n" % lib)
    w = Watch("libfixread.so", ["fix_func"])
    py = tg = None
    try:
        py = Target(["/usr/bin/python3", "-c", code])
        tg = Target([fix("target-pie"), "-l", lib, "-s", "fix_func"])
        probed(w, tg.pid, "fix_func")
        time.sleep(0.3)
        check(not w.found(py.pid), "watch reported a reader: %s" % w.found(py.pid))
        recs, _ = scan_json("libfixread.so", ["fix_func"])
        check(not found(recs, py.pid), "scan reported a reader: %s" % found(recs, py.pid))
        compare(tg, recs, "the real load next to the reader")
    finally:
        w.stop()
        for t in (py, tg):
            if t:
                t.close()
        shutil.rmtree(d)


@test
def watch_sigint_and_sigterm_leave_nothing_behind():
    for sig in (signal.SIGINT, signal.SIGTERM):
        check(not wait_gone("prog"), "programs of an earlier run still loaded")
        w = Watch("libfix-nothing-*.so", ["x"])
        try:
            held = our_bpf_objects("prog", w.p.pid)
            check(len(held) == 4, "watch holds %d of our 4 programs" % len(held))
            check(len(our_bpf_objects("link", w.p.pid)) == 4, "watch holds no links")
        finally:
            rc = w.stop(sig)
        check(rc == 0, "exit code %d on %s" % (rc, sig))
        check("events" in w.stderr, "no summary on %s: %s" % (sig, w.stderr))
        left = wait_gone("prog")
        check(not left, "programs left after %s: %s" % (sig, left))
        check(not wait_gone("link"), "links left after %s" % sig)


@test
def watch_without_privilege_exits_3():
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", ARGS.bin, "watch", "-g",
                        "x", "-s", "y", "-d", "1"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 3, "exit %d: %s" % (r.returncode, r.stderr))
    check("BPF" in r.stderr and "root" in r.stderr, "unclear message: %s" % r.stderr)


# --- probes -----------------------------------------------------------------

class Caller:
    """The caller fixture: loads LIB, (optionally) waits for "go", then calls."""

    def __init__(self, lib, n, flags=()):
        self.p = subprocess.Popen([fix("caller")] + list(flags) + [lib, str(n)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.p.pid

    def expect(self, word, timeout=60):
        deadline = time.time() + timeout
        line = ""
        while time.time() < deadline:
            line = self.p.stdout.readline()
            if line.startswith(word):
                return line
            if not line:
                break
        raise Fail("caller %d: no '%s' (last: %r)" % (self.pid, word, line))

    def go(self):
        self.p.stdin.write("go\n")
        self.p.stdin.flush()

    def close(self):
        close_child(self.p, 10)


def probed(w, pid, sym):
    return w.wait_for(lambda r: r["event"] == "found" and r["pid"] == pid and
                      r["symbol"] == sym, 15, "%s in %d not found" % (sym, pid))[0]


def counts(w):
    return {(r["pid"], r["symbol"]): r["calls"] for r in w.recs if r["event"] == "count"}


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


@test
def probe_count_exact_two_processes():
    """Processes started after watch: exact counts, per process, per symbol."""
    d, lib = fresh_copy(fix("libfix.so"), "libfixcount.so")
    w = Watch("libfixcount.so", ["fix_func", "fix_args"], ["--count"])
    cs = []
    try:
        for n in (100000, 37000):
            c = Caller(lib, n, ["-w", "-a"])
            cs.append((c, n))
            c.expect("loaded")
            check(probed(w, c.pid, "fix_func")["probed"], "fix_func not probed")
            probed(w, c.pid, "fix_args")
            c.go()
        # A second copy is a new inode: it gets uprobes of its own.
        d2, lib2 = fresh_copy(fix("libfix.so"), "libfixcount.so")
        try:
            c = Caller(lib2, 2500, ["-w", "-a"])
            cs.append((c, 2500))
            c.expect("loaded")
            probed(w, c.pid, "fix_args")
            c.go()
            for c, _ in cs:
                c.expect("done")
            # Counts on demand: SIGUSR1 prints them and the watch goes on.
            w.p.send_signal(signal.SIGUSR1)
            w.wait_for(lambda r: r["event"] == "count" and r["pid"] == cs[0][0].pid and
                       r["calls"] == 100000, 10, "no counts on SIGUSR1")
            check(w.p.poll() is None, "watch ended on SIGUSR1")
            w.stop()
        finally:
            shutil.rmtree(d2)
        got = counts(w)
        for c, n in cs:
            check(got.get((c.pid, "fix_func")) == n, "pid %d: fix_func counted %s, called %d"
                  % (c.pid, got.get((c.pid, "fix_func")), n))
            check(got.get((c.pid, "fix_args")) == 3, "pid %d: fix_args %s"
                  % (c.pid, got.get((c.pid, "fix_args"))))
        # One attach per (inode, symbol): the second process on the first inode
        # needed none, the second inode needed its own two.
        check("; 4 uprobes," in w.stderr, "uprobe count: %s" % w.stderr)
        check(not wait_gone("link"), "links left after probes")
        ev = "/sys/kernel/tracing/uprobe_events"
        if os.path.exists(ev):
            check("libfixcount" not in open(ev).read(), "uprobe events left in tracefs")
    finally:
        w.stop()
        for c, _ in cs:
            c.close()
        shutil.rmtree(d)


@test
def probe_count_one_process_with_p():
    """-p: per-process uprobes on a process found by the initial scan."""
    d, lib = fresh_copy(fix("libfix.so"), "libfixone.so")
    c = Caller(lib, 5000, ["-w"])
    other = Caller(lib, 7000, ["-w"])
    w = None
    try:
        c.expect("loaded")
        other.expect("loaded")
        w = Watch("libfixone.so", ["fix_func"], ["--count", "-p", str(c.pid)])
        check(probed(w, c.pid, "fix_func")["source"] == "scan", "not from the scan")
        c.go()
        other.go()
        c.expect("done")
        other.expect("done")
        w.stop()
        got = counts(w)
        check(got == {(c.pid, "fix_func"): 5000}, "counts %s" % got)
    finally:
        if w:
            w.stop()
        c.close()
        other.close()
        shutil.rmtree(d)


@test
def probe_trace_arguments_and_returns():
    d, lib = fresh_copy(fix("libfix.so"), "libfixtrace.so")
    w = Watch("libfixtrace.so", ["fix_args"], ["--trace"])
    c = Caller(lib, 0, ["-w", "-a"])
    try:
        c.expect("loaded")
        probed(w, c.pid, "fix_args")
        c.go()
        c.expect("done")
        w.wait_for(lambda r: r["event"] == "return" and r["pid"] == c.pid and
                   int(r["ret"], 16) == 141, 10, "last return not traced")
        calls = [r for r in w.recs if r["event"] == "call" and r["pid"] == c.pid]
        rets = [r for r in w.recs if r["event"] == "return" and r["pid"] == c.pid]
        want = [[10 * k + i for i in range(1, 7)] for k in range(3)]
        check([[int(a, 16) for a in r["args"]] for r in calls] == want,
              "args %s" % [r["args"] for r in calls])
        check([int(r["ret"], 16) for r in rets] == [21, 81, 141], "returns %s" % rets)
        check(all(r["duration_ns"] > 0 and r["symbol"] == "fix_args" and r["tid"] == c.pid
                  and r["comm"] == "caller" for r in rets), "return records: %s" % rets)
        check(all(a["ts_ns"] < b["ts_ns"] for a, b in zip(calls, rets)), "timestamps")
    finally:
        w.stop()
        c.close()
        shutil.rmtree(d)


@test
def probe_latency_histogram():
    """fix_sleep_ms(1) x 40: every duration lands in the 1-2 ms octave or the next."""
    d, lib = fresh_copy(fix("libfix.so"), "libfixlat.so")
    w = Watch("libfixlat.so", ["fix_sleep_ms"], ["--latency"])
    c = Caller(lib, 0, ["-w", "-S", "40"])
    try:
        c.expect("loaded")
        probed(w, c.pid, "fix_sleep_ms")
        c.go()
        c.expect("done")
        w.stop()
        lat = [r for r in w.recs if r["event"] == "latency"]
        check(len(lat) == 1 and lat[0]["symbol"] == "fix_sleep_ms", "latency records %s" % lat)
        b = lat[0]["buckets"]
        check(sum(x["count"] for x in b) == 40, "40 calls, histogram has %s" % b)
        check(all(x["low_ns"] >= 1 << 19 and x["high_ns"] < 1 << 23 for x in b if x["count"]),
              "durations outside 0.5-8 ms: %s" % b)
        check(max(b, key=lambda x: x["count"])["low_ns"] == 1 << 20,
              "most calls not in [1.05, 2.1) ms: %s" % b)
    finally:
        w.stop()
        c.close()
        shutil.rmtree(d)


@test
def probe_freeze_counts_first_calls():
    """Calls straight after dlopen(): exact with --freeze; without, the test
    shows what was missed."""
    d, lib = fresh_copy(fix("libfix.so"), "libfixfreeze.so")
    try:
        results = {}
        for mode in (["--freeze"], []):
            w = Watch("libfixfreeze.so", ["fix_func", "fix_args"], ["--count"] + mode)
            c = Caller(lib, 100000, ["-a"])
            try:
                c.expect("done")
                check(proc_state(c.pid) not in ("T", "t"), "caller left stopped")
                w.stop()
                got = counts(w)
                results[bool(mode)] = (got.get((c.pid, "fix_func"), 0),
                                       got.get((c.pid, "fix_args"), 0))
            finally:
                w.stop()
                c.close()
        check(results[True] == (100000, 3), "--freeze counted %s of (100000, 3)"
              % (results[True],))
        # Once the inode is probed, later processes need no freeze (the kernel
        # puts the uprobes in their mappings) and are still counted exactly.
        w = Watch("libfixfreeze.so", ["fix_func"], ["--count", "--freeze"])
        pids = []
        try:
            for _ in range(2):
                c = Caller(lib, 50000, [])
                c.expect("done")
                pids.append(c.pid)
                c.close()
            w.stop()
            got = counts(w)
            check([got.get((p, "fix_func")) for p in pids] == [50000, 50000], "%s" % got)
            # One process frozen (one stop per load, counted per process).
            check("1 processes frozen and resumed" in w.stderr,
                  "only the first load should freeze: %s" % w.stderr)
        finally:
            w.stop()
        check(results[False][0] <= 100000, "more calls than made")
        print("    (--freeze: %d of 100000; without: %d of 100000)"
              % (results[True][0], results[False][0]))
    finally:
        shutil.rmtree(d)


@test
def probe_freeze_never_leaves_a_process_stopped():
    """SIGTERM while processes are being frozen: all of them run to the end."""
    d, lib = fresh_copy(fix("libfix.so"), "libfixstop.so")
    w = Watch("libfixstop.so", ["fix_func"], ["--count", "--freeze"])
    cs = []
    try:
        for _ in range(10):
            cs.append(Caller(lib, 1000, ["-x"]))
        w.stop(signal.SIGTERM)
        for c in cs:
            try:
                c.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                raise Fail("caller %d stuck in state %s" % (c.pid, proc_state(c.pid)))
            check(c.p.returncode == 0, "caller %d exit %d" % (c.pid, c.p.returncode))
    finally:
        w.stop()
        for c in cs:
            if c.p.poll() is None:
                os.kill(c.pid, signal.SIGCONT)
            c.close()
        shutil.rmtree(d)


@test
def probe_objects_reported_not_probed():
    d, lib = fresh_copy(fix("libfix.so"), "libfixobj.so")
    w = Watch("libfixobj.so", ["fix_data", "fix_func"], ["--count"])
    c = Caller(lib, 10, ["-w"])
    try:
        c.expect("loaded")
        r = probed(w, c.pid, "fix_data")
        check(not r["probed"] and "not a function" in r["probe_note"], str(r))
        check(probed(w, c.pid, "fix_func")["probed"], "fix_func not probed")
    finally:
        w.stop()
        c.close()
        shutil.rmtree(d)


# --- hostile input ----------------------------------------------------------

@test
def hostile_file_names_are_escaped():
    """Quotes, control bytes and invalid UTF-8 in a mapped file's name: JSON
    stays valid, text stays one line per record, both unambiguous."""
    d = tempfile.mkdtemp(prefix="sz-hostile-")
    name = b'libhost"ile\x01\x1b[31m\xff\\.so'
    lib = os.path.join(d.encode(), name)
    shutil.copy(fix("libfix.so"), lib)
    tg = Target([fix("target-pie").encode(), b"-l", lib, b"-s", b"fix_func"])
    try:
        r = subprocess.run([ARGS.bin, "scan", "--json", "-g", "libhost*", "-s", "fix_func",
                            "-p", str(tg.pid)], capture_output=True, timeout=60)
        check(r.returncode == 0, "scan failed: %s" % r.stderr)
        out = r.stdout.decode("utf-8")  # must be valid UTF-8
        recs = [json.loads(l) for l in out.splitlines()]
        check(recs[-1]["event"] == "summary" and recs[-1]["found"] == 1, str(recs))
        recs = found(recs)
        check(len(recs) == 1 and int(recs[0]["address"], 16) == tg.truth[0][2], str(recs))
        want = d + '/libhost"ile\\x01\\x1b[31m\\xff\\\\.so'
        check(recs[0]["path"] == want, "path %r, want %r" % (recs[0]["path"], want))
        r = subprocess.run([ARGS.bin, "scan", "-g", "libhost*", "-s", "fix_func", "-p",
                            str(tg.pid)], capture_output=True, timeout=60)
        lines = r.stdout.split(b"\n")
        check(len([l for l in lines if l]) == 2, "text output lines: %r" % lines)
        check(not any(c < 0x20 and c != 0x0a or c == 0x7f for c in r.stdout),
              "control bytes in text output: %r" % r.stdout)
        check(b"\xff" not in r.stdout, "invalid UTF-8 passed through")
    finally:
        tg.close()
        shutil.rmtree(d)


def max_anon_kib(argv, timeout=120):
    """Run ARGV, sampling its anonymous memory; returns (returncode, stderr, peak KiB)."""
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    deadline = time.time() + timeout
    while p.poll() is None and time.time() < deadline:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.002)
    if p.poll() is None:
        p.kill()
        raise Fail("%s did not finish in %ds" % (argv, timeout))
    return p.returncode, p.stderr.read().decode(errors="replace"), peak


@test
def lying_huge_elf_stays_bounded():
    """A 400 MB file whose .symtab claims 12 million symbols, and a compressed
    section claiming 4 GiB: errors or no-finds, no crash, little memory."""
    import struct
    d = tempfile.mkdtemp(prefix="sz-huge-")
    try:
        src = open(fix("libfix.so"), "rb").read()
        path = os.path.join(d, "libhuge.so")
        data = bytearray(src)
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3a)
        big_off = 64 << 20
        for i in range(shnum):
            sh = shoff + i * shentsize
            sh_type, = struct.unpack_from("<I", data, sh + 4)
            if sh_type == 2:  # SHT_SYMTAB: point it at 300 MB of zeros
                struct.pack_into("<QQ", data, sh + 0x18, big_off, 300 << 20)
        with open(path, "wb") as f:
            f.write(data)
            f.truncate(400 << 20)
        rc, err, peak = max_anon_kib([ARGS.bin, "resolve", path, "no_such_symbol"])
        check(rc == 1 and "not found" in err, "rc %d: %s" % (rc, err))
        check(peak < 32 * 1024, "anonymous memory peaked at %d KiB" % peak)
        # The real symbols still resolve through .dynsym.
        r = run_sz("resolve", path, "fix_func", expect=0)
        check("func" in r.stdout, r.stdout)
        # A compressed .symtab claiming 4 GiB uncompressed.
        data = bytearray(src)
        for i in range(shnum):
            sh = shoff + i * shentsize
            sh_type, = struct.unpack_from("<I", data, sh + 4)
            if sh_type == 2:
                flags, = struct.unpack_from("<Q", data, sh + 8)
                struct.pack_into("<Q", data, sh + 8, flags | 0x800)  # SHF_COMPRESSED
                off, = struct.unpack_from("<Q", data, sh + 0x18)
                struct.pack_into("<IIQQ", data, off, 1, 0, 4 << 30, 1)  # Elf64_Chdr, zlib
        path2 = os.path.join(d, "libchdr.so")
        with open(path2, "wb") as f:
            f.write(data)
        rc, err, peak = max_anon_kib([ARGS.bin, "resolve", path2, "fix_local"])
        check(rc == 1, "lying compressed .symtab resolved? rc %d %s" % (rc, err))
        check(peak < 32 * 1024, "anonymous memory peaked at %d KiB" % peak)
        run_sz("resolve", path2, "fix_func", expect=0)
    finally:
        shutil.rmtree(d)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--label", default="integration")
    ap.add_argument("-k", default="")
    ARGS = ap.parse_args()
    ARGS.bin = os.path.abspath(ARGS.bin)
    ARGS.fixtures = os.path.abspath(ARGS.fixtures)
    if os.geteuid() != 0:
        print("%s: these tests need root (map_files, other processes' memory maps); "
              "run: sudo make check" % ARGS.label)
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    for fn in RESULTS:
        if ARGS.k and ARGS.k not in fn.__name__:
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("ok     %-44s %.2fs" % (fn.__name__, time.time() - t0))
        except (Fail, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
            failed += 1
            print("FAIL   %s: %s" % (fn.__name__, e))
        sys.stdout.flush()
    print("%s: %d passed, %d failed" % (ARGS.label, passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
