# SPDX-License-Identifier: BSD-2-Clause
"""`symbolyze symbolize` against ground truth: what dladdr() answers inside a live
process (function starts, interior addresses and random addresses in libc's code), and
nm(1) on the debug files of a stripped library whose static functions are named through
a build-ID tree, .gnu_debuglink and MiniDebugInfo, each in turn.

Run: /usr/bin/python3 -m pytest tests/integration/test_symbolize.py \
         --bin build/symbolyze --fixture-dir build/fixtures
"""
import json
import os
import random
import re
import shutil
import subprocess
import tempfile

import pytest

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


class Target:
    """symtarget with one library: where its functions are, and dladdr() on demand."""

    def __init__(self, fixtures, lib, wrap=()):
        self.p = subprocess.Popen(list(wrap) + [os.path.join(fixtures, "symtarget"), lib],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.syms, self.statics = {}, []
        for line in self.p.stdout:
            f = line.split()
            if f == ["ready"]:
                return
            if f[0] == "sym":
                self.syms[f[1]] = int(f[2], 16)
            elif f[0] == "static":
                self.statics.append(int(f[2], 16))
        raise AssertionError("symtarget exited: " + self.p.stderr.read())

    @property
    def pid(self):
        return self.p.pid

    def dladdr(self, addrs):
        """{addr: (sname or None, saddr, fname or None)} from the process itself."""
        self.p.stdin.write("".join("%x\n" % a for a in addrs) + "end\n")
        self.p.stdin.flush()
        out = {}
        for line in self.p.stdout:
            f = line.split()
            if f == ["done"]:
                return out
            assert f[0] == "dladdr", line
            a = int(f[1], 16)
            out[a] = (None if f[2] == "-" else f[2], int(f[3], 16) if f[3] != "(nil)" else 0,
                      None if f[4] == "-" else f[4])
        raise AssertionError("symtarget exited")

    def maps(self):
        with open("/proc/%d/maps" % self.pid) as f:
            return [l.split() for l in f]

    def close(self):
        self.p.stdin.close()
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def target(fixtures_dir):
    made = []

    def start(lib, wrap=()):
        t = Target(fixtures_dir, lib, wrap)
        made.append(t)
        return t
    yield start
    for t in made:
        t.close()


def symbolize(sz_bin, *args, expect=0):
    r = subprocess.run([sz_bin, "symbolize", "--json"] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == expect, (r.returncode, r.stdout, r.stderr)
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert lines and lines[-1]["event"] == "summary", r.stdout
    events = [e for e in lines if e["event"] == "symbolized"]
    assert lines[-1]["addresses"] == len(events)
    assert lines[-1]["symbolized"] == sum(1 for e in events if e["symbol"] is not None)
    return events


def nm(path, dynamic=False):
    """Defined text symbols: [(value, size, letter, name, hidden)]."""
    args = ["nm", "-S", "--defined-only"] + (["-D"] if dynamic else []) + [path]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4:
            value, size, letter, name = int(f[0], 16), int(f[1], 16), f[2], f[3]
        elif len(f) == 3:
            value, size, letter, name = int(f[0], 16), 0, f[1], f[2]
        else:
            continue
        if letter not in "TtWi":
            continue
        hidden = "@" in name and "@@" not in name
        syms.append((value, size, letter, name.split("@")[0], hidden))
    return syms


def preferred(group):
    """The documented alias rule over nm's names at one address (None: has an ifunc,
    whose binding nm does not show)."""
    if any(s[2] == "i" for s in group):
        return None
    rank = {"T": 0, "W": 1, "t": 2}
    return min(group, key=lambda s: (rank[s[2]], s[4], len(s[3]) - len(s[3].lstrip("_")),
                                     len(s[3]), s[3].encode()))[3]


def by_address(syms):
    groups = {}
    for s in syms:
        groups.setdefault(s[0], []).append(s)
    return groups


def test_matches_dladdr(sz_bin, fixtures_dir, target):
    lib = os.path.join(fixtures_dir, "libsymdbg.so")
    t = target(lib)
    sizes = {}
    for path, names, dyn in ((lib, ("symdbg_public", "symdbg_strong", "symdbg_longer_name",
                                    "symdbg_static"), False),
                             (LIBC, ("malloc", "free", "getpid", "qsort", "fopen", "strtol",
                                     "dladdr"), True),
                             (os.path.join(fixtures_dir, "symtarget"), ("target_work",),
                              False)):
        table = nm(path, dyn)
        for n in names:
            sizes[n] = max(s[1] for s in table if s[3] == n)
    addrs = []
    for name, size in sizes.items():
        a = t.syms[name]
        assert size > 4, name
        addrs += [a, a + 1, a + size // 2, a + size - 1]
    # Random addresses in libc's code: whatever dladdr says there.
    rng = random.Random(11)
    code = [m for m in t.maps() if len(m) == 6 and m[1].startswith("r-x") and
            os.path.realpath(m[5]) == os.path.realpath(LIBC)]
    assert code
    lo, hi = (int(x, 16) for x in code[0][0].split("-"))
    addrs += [rng.randrange(lo, hi) for _ in range(300)]
    truth = t.dladdr(addrs)
    events = symbolize(sz_bin, "-p", t.pid, *["%x" % a for a in addrs])
    assert len(events) == len(addrs)
    libc_groups = by_address(nm(LIBC, dynamic=True))
    named = 0
    for a, ev in zip(addrs, events):
        sname, saddr, fname = truth[a]
        assert int(ev["address"], 16) == a
        assert ev["pid"] == t.pid
        if sname is None:
            # dladdr knows .dynsym only: an address it cannot name is named by us only
            # from a table it does not read.
            assert ev["symbol"] is None or ev["source"] not in ("dynsym",), ev
            continue
        named += 1
        assert ev["symbol"] is not None, (hex(a), sname, ev)
        assert os.path.samefile(ev["path"], fname), (ev["path"], fname)
        assert int(ev["offset"], 16) == a - saddr, (hex(a), sname, hex(saddr), ev)
        file_vaddr = int(ev["file_vaddr"], 16)
        if ev["symbol"] != sname:
            # Aliases: dladdr takes the first in hash order, we the documented rule.
            group = libc_groups.get(file_vaddr - int(ev["offset"], 16), [])
            names = {s[3] for s in group}
            assert sname in names and ev["symbol"] in names, (hex(a), sname, ev)
            assert ev["symbol"] == preferred(group), (hex(a), sname, ev, group)
    assert named >= 4 * len(sizes)


def debug_truth(fixtures_dir, variant):
    """nm on the debug file of VARIANT: {name: (value, size)} of its static functions."""
    sd = os.path.join(fixtures_dir, "symdbg")
    if variant == "link":
        path = os.path.join(sd, "libsymdbg-link.so.debug")
    elif variant == "bid":
        out = subprocess.run(["readelf", "-n", os.path.join(sd, "libsymdbg-bid.so")],
                             capture_output=True, text=True, check=True).stdout
        bid = re.search(r"Build ID: ([0-9a-f]+)", out).group(1)
        path = os.path.join(sd, "root/usr/lib/debug/.build-id", bid[:2], bid[2:] + ".debug")
    else:
        fd, path = tempfile.mkstemp(prefix="sz-minidebug-")
        with os.fdopen(fd, "wb") as f:
            f.write(subprocess.run(["xz", "-dc", os.path.join(sd, "mini_debuginfo.xz")],
                                   capture_output=True, check=True).stdout)
    try:
        return {s[3]: (s[0], s[1]) for s in nm(path) if s[2] == "t" and
                s[3].startswith("symdbg_hidden_")}
    finally:
        if variant == "mini":
            os.unlink(path)


SOURCES = {"link": "debuglink", "bid": "build-id", "mini": "minidebuginfo"}


@pytest.mark.parametrize("variant", ["link", "bid", "mini"])
def test_static_through_debug_file(sz_bin, fixtures_dir, target, variant):
    sd = os.path.join(fixtures_dir, "symdbg")
    lib = os.path.join(sd, "libsymdbg-%s.so" % variant)
    assert "symtab" not in subprocess.run(["readelf", "-SW", lib], capture_output=True,
                                          text=True, check=True).stdout
    truth = debug_truth(fixtures_dir, variant)
    assert set(truth) == {"symdbg_hidden_first", "symdbg_hidden_second"}
    extra = ["--debug-dir", os.path.join(sd, "root/usr/lib/debug")] if variant == "bid" else []
    t = target(lib)
    assert len(t.statics) == 2
    # The fixture's statics are, in order, hidden_first and hidden_second.
    cases = []
    for rt, name in zip(t.statics, ("symdbg_hidden_first", "symdbg_hidden_second")):
        value, size = truth[name]
        for off in (0, 1, size - 1):
            cases.append((rt + off, name, value, off))
    events = symbolize(sz_bin, "-p", t.pid, *extra, *["%x" % c[0] for c in cases])
    offline = symbolize(sz_bin, lib, *extra, *["%x" % (c[2] + c[3]) for c in cases])
    for (rt, name, value, off), ev, off_ev in zip(cases, events, offline):
        for e in (ev, off_ev):
            assert e["symbol"] == name, (e, name)
            assert int(e["offset"], 16) == off
            assert int(e["file_vaddr"], 16) == value + off
            assert e["source"] == SOURCES[variant]
            assert e["debug_file"]
        assert int(ev["address"], 16) == rt
        assert os.path.samefile(ev["path"], lib)
    # An exported function is the image's own .dynsym's.
    ev = symbolize(sz_bin, "-p", t.pid, *extra, "%x" % t.syms["symdbg_public"])[0]
    assert (ev["symbol"], ev["offset"], ev["source"]) == ("symdbg_public", "0x0", "dynsym")


def test_static_unnamed_without_debug_file(sz_bin, fixtures_dir, target):
    """The build-ID variant without its tree: nothing names the static function."""
    lib = os.path.join(fixtures_dir, "symdbg", "libsymdbg-bid.so")
    t = target(lib)
    events = symbolize(sz_bin, "-p", t.pid, *["%x" % a for a in t.statics], expect=1)
    assert [e["symbol"] for e in events] == [None, None]
    assert all(e["reason"] == "no symbol" for e in events)
    assert all(e["file_vaddr"] is not None for e in events)


def test_debug_dir_in_the_process_view(sz_bin, fixtures_dir, target):
    """--debug-dir with -p is a path in the process's file system view: a build-ID tree
    that exists only in the target's mount namespace is found (through /proc/PID/root),
    and not from ours."""
    sd = os.path.join(fixtures_dir, "symdbg")
    lib = os.path.join(sd, "libsymdbg-bid.so")
    view = tempfile.mkdtemp(prefix="sz-test-view-")
    ddir = os.path.join(view, "usr/lib/debug")
    os.makedirs(ddir)  # empty in our view; the target mounts its own over VIEW
    try:
        script = 'mount -t tmpfs sz-test "$1" && cp -a "$2/." "$1/" && exec "$3" "$4"'
        t = target(lib, wrap=["unshare", "-m", "sh", "-c", script, "sh", view,
                              os.path.join(sd, "root")])
        assert os.listdir(ddir) == []  # not in our view
        truth = debug_truth(fixtures_dir, "bid")
        ev = symbolize(sz_bin, "-p", t.pid, "--debug-dir", ddir, "%x" % (t.statics[1] + 1))[0]
        assert (ev["symbol"], ev["offset"], ev["source"]) == \
            ("symdbg_hidden_second", "0x1", "build-id")
        assert int(ev["file_vaddr"], 16) == truth["symdbg_hidden_second"][0] + 1
        assert ev["debug_file"].startswith(ddir + "/.build-id/")
        off = symbolize(sz_bin, lib, "--debug-dir", ddir,
                        "%x" % (truth["symdbg_hidden_second"][0] + 1), expect=1)[0]
        assert off["symbol"] is None
        t.close()
    finally:
        shutil.rmtree(view)


def test_unknown_addresses(sz_bin, fixtures_dir, target):
    t = target(os.path.join(fixtures_dir, "libsymdbg.so"))
    stack = [m for m in t.maps() if m[-1] == "[stack]"]
    assert stack
    lo = int(stack[0][0].split("-")[0], 16)
    events = symbolize(sz_bin, "-p", t.pid, "0x10", "%x" % (lo + 8),
                       "%x" % t.syms["malloc"])
    assert [e["reason"] if e["symbol"] is None else e["symbol"] for e in events] == \
        ["no mapping", "not a file mapping", "malloc"]
    assert events[0]["path"] is None and events[0]["file_vaddr"] is None


def test_bad_address_is_usage_error(sz_bin):
    r = subprocess.run([sz_bin, "symbolize", LIBC, "0x12zz"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "0x12zz" in r.stderr
    r = subprocess.run([sz_bin, "symbolize", "/nonexistent/file", "0x1"], capture_output=True,
                       text=True)
    assert r.returncode == 1


def test_offline_reads_stdin(sz_bin, fixtures_dir):
    """Addresses on stdin, as addr2line reads them: every function of the fixture."""
    lib = os.path.join(fixtures_dir, "libsymdbg.so")
    groups = by_address(s for s in nm(lib) if not s[3].startswith("symdbg_asm"))
    addrs = sorted(groups)
    r = subprocess.run([sz_bin, "symbolize", "--json", lib], input="".join(
        "0x%x\n" % a for a in addrs), capture_output=True, text=True, check=True)
    events = [json.loads(l) for l in r.stdout.splitlines()][:-1]
    assert [int(e["address"], 16) for e in events] == addrs
    for a, e in zip(addrs, events):
        assert e["symbol"] == preferred(groups[a]), (hex(a), e, groups[a])
        assert e["offset"] == "0x0"
