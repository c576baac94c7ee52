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
import shutil
import subprocess
import sys
import tempfile
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
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


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
    code = ("import mmap,sys\nf=open(%r,'rb')\nm=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)\n"
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
