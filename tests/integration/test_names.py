# SPDX-License-Identifier: BSD-2-Clause
"""Scan and watch name a mapped file alike, so one glob finds the same loads
in both: a bind-mounted file by the name the process sees (the mountpoint's,
as /proc/PID/maps shows it), not by its source's; a memfd as
"/memfd:NAME", deleted, with the base name "memfd:NAME".  Ground truth: the
target's own dlsym() answers."""
import os
import shutil
import subprocess
import uuid

import pytest

EXESYMS = ["exe_func", "exe_local"]


def sflags(syms):
    return [a for s in syms for a in ("-s", s)]


@pytest.fixture
def bind(scratch):
    """bind(src, name): bind-mount SRC onto a new file NAME in another directory
    (mount --bind src.so /mnt/x/bind.so); unmounted after the test."""
    mounts = []

    def mount(src, name):
        d = os.path.join(scratch, "mnt")
        os.makedirs(d, exist_ok=True)
        dst = os.path.join(d, name)
        open(dst, "w").close()
        subprocess.run(["mount", "--bind", src, dst], check=True)
        mounts.append(dst)
        return dst
    yield mount
    for m in reversed(mounts):
        subprocess.run(["umount", "-l", m], check=False)


def found_once(recs, pid, symbol):
    got = [r for r in recs if r["pid"] == pid and r["symbol"] == symbol]
    assert len(got) == 1, got
    return got[0]


@pytest.mark.parametrize("kind", ["library", "executable"])
def test_bind_mounted_file_matches_by_the_name_the_process_sees(sz, target, watch, fresh,
                                                                 bind, kind):
    """One process maps the file through its bind mount, another through its
    source path: with the bind name's glob scan and watch both find the first
    and not the second; with the source name's glob, the reverse.  Before,
    watch matched the source's dentry name for both."""
    tag = uuid.uuid4().hex[:6]
    if kind == "library":
        src = fresh("libfix.so", "libfixsrc%s.so" % tag)
        via_bind = bind(src, "libfixbind%s.so" % tag)
        syms, argv = ["fix_func"], lambda p: ["target-pie", "-l", p, "-s", "fix_func"]
    else:
        src = fresh("target-pie", "szsrc%s" % tag)
        via_bind = bind(src, "szbind%s" % tag)
        syms, argv = EXESYMS, lambda p: [p, "-x"]
    globs = {"bind": os.path.basename(via_bind)[:-4] + "*" if kind == "library"
             else os.path.basename(via_bind) + "*",
             "src": os.path.basename(src)[:-4] + "*" if kind == "library"
             else os.path.basename(src) + "*"}
    ws = {k: watch(g, syms, "--no-scan") for k, g in globs.items()}
    tgs = {"bind": target(*argv(via_bind)), "src": target(*argv(src))}
    for k in ("bind", "src"):
        for s in syms:
            ws[k].wait_found(tgs[k].pid, s)
    for w in ws.values():
        assert w.stop() == 0
    paths = {"bind": via_bind, "src": src}
    for k, g in globs.items():
        other = "src" if k == "bind" else "bind"
        scan = sz.scan(g, syms)
        for name, recs in (("watch", ws[k].found()), ("scan", scan.found())):
            mine = [r for r in recs if r["pid"] in (tgs["bind"].pid, tgs["src"].pid)]
            assert {r["pid"] for r in mine} == {tgs[k].pid}, (name, g, mine)
            got = sorted((int(r["load_bias"], 16), r["symbol"], int(r["address"], 16))
                         for r in mine)
            want = [t for t in tgs[k].truth if t[1] in syms]
            assert got == want, (name, g)
            # the path printed is the one the glob matched
            assert {r["path"] for r in mine} == {paths[k]}, (name, g, mine)
            assert all(r["pid"] != tgs[other].pid for r in recs)


MEMFD = ("import ctypes, os, sys\n"
         "fd = os.memfd_create(sys.argv[2], 0)\n"
         "os.write(fd, open(sys.argv[1], 'rb').read())\n"
         "lib = ctypes.CDLL('/proc/self/fd/%d' % fd)\n"
         "print('addr 0 fix_func %#x' % ctypes.cast(lib.fix_func, ctypes.c_void_p).value)\n"
         "print('ready', flush=True)\n"
         "sys.stdin.read()\n")


def test_memfd_named_alike_by_scan_and_watch(sz, target, watch):
    """A library loaded from a memfd: scan and watch both call it
    "/memfd:NAME", deleted; its base name "memfd:NAME" is what a glob matches,
    and a path glob matches "/memfd:NAME".  Before, watch said "memfd:NAME",
    not deleted, and a path glob found it in scan only."""
    name = "libfixmemfd%s" % uuid.uuid4().hex[:6]
    globs = ["memfd:%s*" % name, "/memfd:%s*" % name]
    ws = [watch(g, ["fix_func"], "--no-scan") for g in globs]
    miss = watch(name + "*", ["fix_func"], "--no-scan")
    t = target("/usr/bin/python3", "-c", MEMFD, sz.fix("libfix.so"), name)
    addr = t.truth[0][2]
    for w in ws:
        w.wait_found(t.pid, "fix_func")
        assert w.stop() == 0
    assert miss.stop() == 0
    assert miss.found(t.pid) == []
    assert sz.scan(name + "*", ["fix_func"], expect=1).found(t.pid) == []
    for g, w in zip(globs, ws):
        for src, recs in (("watch", w.found(t.pid)), ("scan", sz.scan(g, ["fix_func"]).found(t.pid))):
            assert len(recs) == 1, (src, g, recs)
            r = recs[0]
            assert (r["path"], r["deleted"], int(r["address"], 16)) == \
                ("/memfd:" + name, True, addr), (src, g, r)
