# SPDX-License-Identifier: BSD-2-Clause
"""`symbolyze list` against ground truth: the dynamic symbols `readelf --dyn-syms`
and `nm -D` show, the USDT notes `readelf -n` shows, in files given offline and
in files mapped by processes this test starts (each file listed once)."""
import fnmatch
import json
import os
import re
import shutil
import subprocess

import pytest

PYTHON = "/usr/bin/python3.11"
POSTGRES = "/usr/lib/postgresql/15/bin/postgres"


def run_list(sz_bin, *args, rc=0):
    p = subprocess.run([sz_bin, "list", *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == rc, "exit %d, stderr: %s" % (p.returncode, p.stderr)
    return p


def events(p):
    ev = [json.loads(line) for line in p.stdout.splitlines()]
    assert ev and ev[-1]["event"] == "summary", p.stdout[-500:]
    return ev[:-1], ev[-1]


def dynsyms(path):
    """{display name: type} of the defined dynamic symbols, from readelf."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", path], capture_output=True,
                         text=True, check=True, env={"LC_ALL": "C"}).stdout
    syms = {}
    for line in out.splitlines():
        f = line.split()
        # ABS: version-definition names (GLIBC_2.10), no code, no data
        if len(f) < 8 or not f[0].endswith(":") or f[6] in ("UND", "ABS"):
            continue
        if f[3] not in ("FUNC", "IFUNC", "OBJECT"):
            continue
        syms[f[7]] = {"FUNC": "func", "IFUNC": "ifunc", "OBJECT": "object"}[f[3]]
    return syms


def nm_names(path):
    """Defined dynamic names nm -D shows, without absolute ones (version names)."""
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines()
            if line.strip() and line.split()[-2] != "A"}


def tls_names(path):
    out = subprocess.run(["readelf", "--dyn-syms", "-W", path], capture_output=True,
                         text=True, check=True, env={"LC_ALL": "C"}).stdout
    return {f[7].split("@")[0] for f in (line.split() for line in out.splitlines())
            if len(f) >= 8 and f[3] == "TLS" and f[6] != "UND"}


def usdt_notes(path):
    """[(provider, name, has semaphore, args)] from readelf -n."""
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True,
                         check=True, env={"LC_ALL": "C"}).stdout
    notes = []
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("Provider: "):
            notes.append([s[10:], None, None, None])
        elif s.startswith("Name: ") and notes:
            notes[-1][1] = s[6:]
        elif s.startswith("Location: ") and notes:
            notes[-1][2] = int(re.search(r"Semaphore: (0x[0-9a-f]+)", s).group(1), 16) != 0
        elif s.startswith("Arguments:") and notes:
            notes[-1][3] = s[10:].strip()
    return [tuple(n) for n in notes]


def display(e):
    if e["version"] is None:
        return e["name"]
    return e["name"] + ("@@" if e["default"] else "@") + e["version"]


def listed_dynsyms(ev):
    return {display(e): e["type"] for e in ev if e["event"] == "symbol" and e["table"] == "dynsym"}


@pytest.mark.parametrize("lib", ["libfix.so", "libc"])
def test_offline_symbols_match_readelf(sz_bin, fixtures, lib):
    path = os.path.join(fixtures, lib) if lib != "libc" else "/lib/x86_64-linux-gnu/libc.so.6"
    ev, summ = events(run_list(sz_bin, path, "-s", "*", "--json"))
    got = listed_dynsyms(ev)
    want = dynsyms(path)
    assert got == want
    # nm -D agrees on the names (without versions, its older spelling)
    # nm -D agrees on the names; thread-local ones have no address to list
    assert {n.split("@")[0] for n in got} == \
        {n.split("@")[0] for n in nm_names(path)} - tls_names(path)
    assert summ["files"] == 1 and summ["problems"] == 0 and summ["names_too_long"] == 0
    assert summ["functions"] + summ["objects"] == len([e for e in ev if e["event"] == "symbol"])
    assert summ["usdt"] == 0  # -s alone lists no probes


def test_offline_glob_on_libc(sz_bin):
    path = "/lib/x86_64-linux-gnu/libc.so.6"
    ev, summ = events(run_list(sz_bin, path, "-s", "pthread_*", "-s", "mall?c", "--json"))
    want = {n: t for n, t in dynsyms(path).items()
            if fnmatch.fnmatchcase(n.split("@")[0], "pthread_*") or
            fnmatch.fnmatchcase(n.split("@")[0], "mall?c")}
    assert len(want) > 50
    assert listed_dynsyms(ev) == want
    # versioned pattern: exact on name@VERSION
    ev, _ = events(run_list(sz_bin, path, "-s", "memcpy@GLIBC_2.2.5", "--json"))
    assert {display(e) for e in ev if e["table"] == "dynsym"} == {"memcpy@GLIBC_2.2.5"}


@pytest.mark.parametrize("path,pattern", [(PYTHON, "python:*"), (POSTGRES, "postgresql:*")])
def test_offline_usdt_match_readelf(sz_bin, path, pattern):
    ev, summ = events(run_list(sz_bin, path, "-u", pattern, "--json"))
    want = usdt_notes(path)
    got = [(e["provider"], e["name"], e["semaphore"] is not None, e["spec"])
           for e in ev if e["event"] == "usdt"]
    assert got == want
    assert summ["usdt"] == len(want) and summ["functions"] == 0
    assert summ["unparsed_args"] == 0
    assert all(e["file_offset"] is not None for e in ev)
    assert all(len(e["args"]) == len(e["spec"].split()) for e in ev)


def test_python_function_entry_has_semaphore(sz_bin):
    ev, summ = events(run_list(sz_bin, PYTHON, "-u", "python:function__entry", "--json"))
    assert summ["usdt"] == 1
    assert ev[0]["semaphore"] is not None and ev[0]["semaphore_offset"] is not None
    assert [a["size"] for a in ev[0]["args"]] == [8, 8, 4]


def test_postgres_query_start(sz_bin):
    ev, summ = events(run_list(sz_bin, POSTGRES, "-u", "*:query__start", "--json"))
    assert [(e["provider"], e["name"]) for e in ev] == [("postgresql", "query__start")]


def test_text_output_is_bpftrace_like(sz_bin, fixtures):
    sdt = os.path.join(fixtures, "sdt")
    p = run_list(sz_bin, sdt, "-u", "sztest:s*")
    assert p.stdout.splitlines() == ["usdt:%s:sztest:str" % sdt, "usdt:%s:sztest:sema" % sdt]
    p = run_list(sz_bin, os.path.join(fixtures, "libfix.so"), "-s", "fix_data")
    assert p.stdout.splitlines() == ["object:%s:fix_data@@FIX_1" % os.path.join(fixtures,
                                                                              "libfix.so")]


class Procs:
    """sdt fixture processes that wait on stdin; closed on every path."""

    def __init__(self, argv, n):
        self.p = []
        for _ in range(n):
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
            self.p.append(p)
            assert p.stdout.readline().split()[0] == "ready"  # "ready BASE SEMA"

    def close(self):
        for p in self.p:
            try:
                p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def two_sdt(fixtures):
    procs = Procs([os.path.join(fixtures, "sdt"), "1"], 2)
    yield procs
    procs.close()


def test_live_each_file_once(sz_bin, fixtures, two_sdt):
    sdt = os.path.realpath(os.path.join(fixtures, "sdt"))
    pids = {p.pid for p in two_sdt.p}
    ev, summ = events(run_list(sz_bin, "-g", sdt, "-u", "sztest:*", "--json"))
    probes = [e for e in ev if e["event"] == "usdt"]
    assert sorted(e["name"] for e in probes) == sorted(n[1] for n in usdt_notes(sdt))
    assert summ["files"] == 1 and summ["usdt"] == 5
    assert {e["pid"] for e in probes} <= pids and len({e["pid"] for e in probes}) == 1
    st = os.stat(sdt)
    assert all(e["ino"] == st.st_ino for e in probes)
    assert summ["processes"] >= 2
    # -p: that process only
    pid = two_sdt.p[1].pid
    ev, summ = events(run_list(sz_bin, "-g", "sdt", "-p", str(pid), "-u", "*:*", "--json"))
    assert summ["processes"] == 1 and summ["usdt"] == 5
    assert {e["pid"] for e in ev} == {pid}


def test_live_libc_of_a_process(sz_bin, fixtures, two_sdt):
    pid = two_sdt.p[0].pid
    libc = None
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if re.search(r"/libc\.so\.6$", line.strip()):
                libc = line.split()[-1]
    assert libc
    ev, summ = events(run_list(sz_bin, "-g", "libc.so*", "-p", str(pid), "-s", "str*cmp",
                               "--json"))
    want = {n: t for n, t in dynsyms(libc).items()
            if fnmatch.fnmatchcase(n.split("@")[0], "str*cmp")}
    assert want and listed_dynsyms(ev) == want
    assert {e["path"] for e in ev} == {libc}
    assert summ["files"] == 1 and summ["processes"] == 1


def test_hostile_file_name(sz_bin, fixtures, tmp_path):
    odd = os.fsencode(str(tmp_path)) + b"/sdt\nx\x01\xff.bin"  # newline, control, bad UTF-8
    shutil.copy(os.path.join(fixtures, "sdt"), odd)
    p = subprocess.run([sz_bin, "list", odd, "-u", "sztest:noargs", "--json"],
                       capture_output=True, timeout=60)
    assert p.returncode == 0
    ev = [json.loads(line) for line in p.stdout.decode("utf-8").splitlines()]
    assert ev[-1]["usdt"] == 1
    assert ev[0]["path"] == str(tmp_path) + "/sdt\\x0ax\\x01\\xff.bin"
    assert b"\n" not in p.stderr.rstrip(b"\n")


@pytest.mark.parametrize("args,rc", [
    ([], 2),
    (["-s", "x"], 2),
    (["-g", "libc*", "/bin/true"], 2),
    (["/bin/true", "-s", "[[:alpha:]]"], 2),
    (["/bin/true", "-u", "a:b:c"], 2),
    (["/bin/true", "-u", ":x"], 2),
    (["-g", "x", "-p", "0"], 2),
    (["/nonexistent/file"], 1),
    (["/bin/true", "-s", "no_such_symbol_anywhere"], 1),
])
def test_usage_and_no_match(sz_bin, args, rc):
    p = run_list(sz_bin, *args, rc=rc)
    assert p.stderr.strip(), "an error is explained"
    if rc == 1 and "--json" in args:
        events(p)


def test_not_elf_is_a_problem(sz_bin, tmp_path):
    f = tmp_path / "notelf"
    f.write_text("hello")
    p = run_list(sz_bin, str(f), "--json", rc=1)
    ev, summ = events(p)
    assert summ["problems"] == 1 and ev[0]["event"] == "error" and ev[0]["reason"] == "not_elf"


def test_symtab_only_and_no_repeats(sz_bin, fixtures):
    """.symtab-only (static) functions are listed, and a symbol present in both
    tables is listed once, as nm (without -D) sees the file."""
    lib = os.path.join(fixtures, "libfix.so")
    ev, summ = events(run_list(sz_bin, lib, "-s", "fix_*", "--json"))
    out = subprocess.run(["nm", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    want = {line.split()[-1].split("@")[0] for line in out.splitlines()
            if line.split()[-2] in "TtDdBbRrWwVi" and line.split()[-1].startswith("fix_")}
    names = [e["name"] for e in ev]
    assert set(names) == want
    # fix_ver has two versions (two entries); every other name exactly once
    assert sorted(names) == sorted(want | {"fix_ver"}) or \
        sorted(names) == sorted(list(want) + ["fix_ver"])
    local = [e for e in ev if e["name"] == "fix_local"]
    assert len(local) == 1 and local[0]["table"] == "symtab" and local[0]["type"] == "func"
