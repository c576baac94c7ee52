# SPDX-License-Identifier: BSD-2-Clause
"""scan and resolve against live processes: every layout we claim, compared
with what the process itself says (dlsym, dlvsym, l_addr), no more and no
fewer records; the summary record's counts checked exactly."""
import os
import shutil
import subprocess

import pytest

LIBSYMS = ["fix_func", "fix_data", "fix_bss", "fix_local", "fix_ver", "fix_ver@FIX_1"]
EXESYMS = ["exe_func", "exe_data", "exe_bss", "exe_local"]


def pids():
    return {int(d) for d in os.listdir("/proc") if d.isdigit()}


@pytest.mark.parametrize("lib", ["libfix.so", "libfix-maxpage.so", "libfix-nosep.so",
                                 "libfix-64k-nosep.so", "libfix-nosep-maxpage.so"])
def test_library_layout(sz, target, lib):
    args = ["target-pie", "-l", sz.fix(lib)]
    for s in LIBSYMS:
        args += ["-s", s]
    tg = target(*args)
    s = sz.scan(lib, LIBSYMS, tg.pid)
    assert s.triples(tg.pid) == tg.truth
    assert s.summary["found"] == len(LIBSYMS) and s.summary["loads"] == 1
    assert s.summary["processes"] == 1
    for r in s.found():
        assert r["source"] == "scan" and len(r["build_id"] or "") == 40, r
    # .bss has no bytes in the file; a function does, and says what it is.
    bss = [r for r in s.found() if r["symbol"] == "fix_bss"]
    func = [r for r in s.found() if r["symbol"] == "fix_func"]
    assert len(bss) == 1 and bss[0]["file_offset"] is None, bss
    assert len(func) == 1 and func[0]["file_offset"] is not None and \
        func[0]["type"] == "func", func


def test_same_file_two_bases(sz, target):
    """dlmopen loads one file a second time: both loads are reported."""
    lib = sz.fix("libfix.so")
    tg = target("target-pie", "-l", lib, "-m", lib, "-s", "fix_func", "-s", "fix_data")
    assert len({bias for bias, _, _ in tg.truth}) == 2, "the fixture did not load twice"
    s = sz.scan("libfix.so", ["fix_func", "fix_data"], tg.pid)
    assert s.triples(tg.pid) == tg.truth
    assert s.summary["loads"] == 2 and s.summary["found"] == 4


def test_several_matching_files_one_process(sz, target):
    tg = target("target-pie", "-l", sz.fix("libfix.so"), "-l", sz.fix("libfix-nosep.so"),
                "-s", "fix_func")
    s = sz.scan("libfix*.so", ["fix_func"], tg.pid)
    assert s.triples(tg.pid) == tg.truth
    assert s.summary["loads"] == 2 and s.summary["files_parsed"] == 2


@pytest.mark.parametrize("exe", ["target-pie", "target-nopie"])
def test_executable(sz, target, exe):
    tg = target(exe, "-x")
    s = sz.scan(exe, EXESYMS, tg.pid)
    assert s.triples(tg.pid) == tg.truth
    if exe == "target-nopie":
        assert all(bias == 0 for bias, _, _ in tg.truth), "the fixture is not ET_EXEC"


def test_deleted_library(sz, target, fresh):
    lib = fresh("libfix.so", "libdel.so")
    tg = target("target-pie", "-l", lib, "-u", "-s", "fix_func", "-s", "fix_bss")
    assert not os.path.exists(lib), "the fixture did not unlink the library"
    s = sz.scan("libdel.so", ["fix_func", "fix_bss"], tg.pid)
    assert s.triples(tg.pid) == tg.truth
    assert all(r["deleted"] and r["path"] == lib for r in s.found()), s.found()


def test_path_with_spaces(sz, target, scratch):
    d = os.path.join(scratch, "sz dir with spaces ")
    os.mkdir(d)
    lib = os.path.join(d, "lib fix space.so")
    shutil.copy(sz.fix("libfix.so"), lib)
    tg = target("target-pie", "-l", lib, "-s", "fix_func", "-s", "fix_local")
    s = sz.scan("lib fix space.so", ["fix_func", "fix_local"], tg.pid)
    assert s.triples(tg.pid) == tg.truth
    assert all(r["path"] == lib for r in s.found()), s.found()
    # A glob with '/' matches the whole path.
    s = sz.scan(d + "/lib*", ["fix_func"], tg.pid)
    assert [r["path"] for r in s.found()] == [lib]


def test_whole_host_scan_finds_target(sz, target):
    """Without -p every process is scanned; the fixture is among them, correct."""
    tg = target("target-pie", "-l", sz.fix("libfix-nosep.so"), "-s", "fix_func")
    before = pids()
    s = sz.scan("libfix-nosep.so", ["fix_func"])
    alive_throughout = before & pids()
    assert s.triples(tg.pid) == tg.truth
    assert s.summary["found"] == len(s.found())
    # Every process that lived through the scan was read, or counted unreadable.
    assert s.summary["processes"] + s.summary["processes_unreadable"] >= \
        len(alive_throughout)


def test_libc_parsed_once(sz, target):
    """Every process maps libc; the cache parses it once per distinct file."""
    tgs = [target("target-pie", "-l", sz.fix("libfix.so"), "-s", "fix_func")
           for _ in range(3)]
    s = sz.scan("libc.so.6", ["malloc"])
    assert {t.pid for t in tgs} <= {r["pid"] for r in s.found()}
    distinct = {(r["dev"], r["ino"]) for r in s.found()}
    assert s.summary["files_parsed"] == len(distinct)


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


def test_system_python_libc(sz, target):
    """malloc and environ in the libc of a running (Debian) python3."""
    tg = target("/usr/bin/python3", "-c", PY_LIBC)
    s = sz.scan("libc.so.6", ["malloc", "environ"], tg.pid)
    assert sorted((r["symbol"], int(r["address"], 16)) for r in s.found()) == \
        sorted((sym, addr) for _, sym, addr in tg.truth)


def test_dynamic_libpython_pyruntime(sz, target):
    """_PyRuntime in an interpreter linked against libpython dynamically."""
    tg = target("pyembed")
    s = sz.scan("libpython3*.so*", ["_PyRuntime"], tg.pid)
    assert [(r["symbol"], int(r["address"], 16)) for r in s.found()] == \
        [(sym, addr) for _, sym, addr in tg.truth]


def test_problems_are_explained_and_scan_goes_on(sz, target, scratch):
    """A non-ELF file matching the glob and an absent symbol: reasons, no stop.
    The bogus file is mapped executable, as a loader maps code: one only
    mapped to be read is data (locale archives, caches), not a load."""
    bogus = os.path.join(scratch, "libfixbogus.so")
    data = os.path.join(scratch, "libfixdata.so")
    for path in (bogus, data):
        with open(path, "wb") as f:
            f.write(b"\x7fELF this is not really an ELF file" * 200)
    py = target("/usr/bin/python3", "-c",
                "import mmap,sys\nf=open(%r,'rb')\nm=mmap.mmap(f.fileno(),0,"
                "flags=mmap.MAP_PRIVATE,prot=mmap.PROT_READ|mmap.PROT_EXEC)\n"
                "g=open(%r,'rb')\nn=mmap.mmap(g.fileno(),0,"
                "flags=mmap.MAP_PRIVATE,prot=mmap.PROT_READ)\n"
                "print('ready',flush=True)\nsys.stdin.read()\n" % (bogus, data))
    tg = target("target-pie", "-l", sz.fix("libfix.so"), "-s", "fix_func")
    s = sz.scan("libfix*", ["fix_func", "no_such_symbol"])
    assert [(r["pid"], r["path"]) for r in s.errors("not-elf")
            if r["pid"] == py.pid] == [(py.pid, bogus)]
    assert [r["symbol"] for r in s.errors("symbol-absent") if r["pid"] == tg.pid] == \
        ["no_such_symbol"]
    assert s.triples(tg.pid) == tg.truth, "a good record lost next to bad ones"
    # The summary counts every problem the stream explained, no more, no fewer.
    for reason in ("not-elf", "symbol-absent"):
        assert s.summary["problems"][reason] == len(s.errors(reason)), reason
    assert s.summary["found"] == len(s.found())


def test_exit_codes(sz):
    s = sz.scan("no-such-library-*.so", ["x"], expect=1)
    assert s.summary["found"] == 0 and s.summary["loads"] == 0
    # A vanished -p process is named, and counted.
    s = sz.scan("libc.so.6", ["malloc"], pid=999999999, expect=1)
    assert [(r["reason"], r["pid"]) for r in s.errors()] == [("vanished", 999999999)]
    assert s.summary["processes_unreadable"] == 1 and \
        s.summary["problems"]["vanished"] == 1 and s.summary["processes"] == 0
    # Usage errors: exit 2, and no records.
    for args in (["-s", "malloc"], ["-g", "x"], ["-g", "x", "-s", "y", "-p", "abc"],
                 ["-g", "[[:alpha:]]", "-s", "y"]):
        assert sz.run("scan", "--json", *args, expect=2).stdout == ""
    sz.run("frobnicate", expect=2)
    # resolve: a FILE that is no ELF image, or no file, is a bad argument (2);
    # a symbol the file does not have is "nothing matched" (1).
    sz.run("resolve", "/etc/passwd", "x", expect=2)
    sz.run("resolve", "/nonexistent/libx.so", "x", expect=2)
    sz.run("resolve", sz.fix("libfix.so"), "no_such_symbol", expect=1)
    assert sz.run("--version", expect=0).stdout.startswith("symbolyze ")


def test_resolve_matches_nm(sz):
    lib = sz.fix("libfix.so")
    nm = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True,
                        text=True, check=True).stdout
    values = {f[2].split("@")[0]: int(f[0], 16)
              for f in (line.split() for line in nm.splitlines()) if len(f) == 3}
    rec = sz.resolve(lib, "fix_func")
    assert int(rec["value"], 16) == values["fix_func"]
    assert rec["table"] == "dynsym"
    assert sz.resolve(lib, "fix_local")["table"] == "symtab"
