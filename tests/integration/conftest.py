# SPDX-License-Identifier: BSD-2-Clause
"""Fixtures of the integration suite: real processes, real BPF, run as root.

Target processes print their own ground truth ("addr BIAS SYM ADDRESS" lines
from dlsym/dlvsym, the loader's l_addr, addresses taken in the process) and
are closed on every path; a watch runs `symbolyze watch --json` with a reader
thread; scans and watches are judged by their JSON records and the final
{"event":"summary"} record, never by the prose on stderr.
"""
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# How long a record or a fixture's line may take: generous, as the two cores
# are shared with other sessions and ASan slows the tool down.
WAIT = 15


def pytest_addoption(parser):
    g = parser.getgroup("symbolyze")
    g.addoption("--bin", default=os.path.join(REPO, "build", "symbolyze"),
                help="the symbolyze binary under test (default build/symbolyze)")
    # pytest owns --fixtures (it lists fixtures), hence --fixture-dir.
    g.addoption("--fixture-dir", default=os.path.join(REPO, "build", "fixtures"),
                help="directory of the fixture programs (default build/fixtures)")
    g.addoption("--skel-dir", default=None,
                help="where watch.skel.h and probe.skel.h are (default: beside --bin)")


def pytest_configure(config):
    if os.geteuid() != 0:
        pytest.exit("these tests need root (map_files, other processes' memory maps, BPF); "
                    "run: sudo make check", returncode=1)


def triples(records, pid=None):
    """(bias, symbol, address) of the found records, sorted: the form of a target's truth."""
    return sorted((int(r["load_bias"], 16), r["symbol"], int(r["address"], 16))
                  for r in records if r["event"] == "found" and (pid is None or r["pid"] == pid))


def parse_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def summary_of(records):
    """The summary record: exactly one, and the last line of the output."""
    sums = [r for r in records if r["event"] == "summary"]
    assert len(sums) == 1 and records[-1] is sums[0], \
        "want one summary record, last; got %s" % records[-5:]
    return sums[0]


def comm(pid):
    """PID's name, or None once it is gone."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def poll_until(cond, timeout, interval=0.05):
    """Wait for a state we cannot be notified of (the kernel freeing BPF
    objects after an RCU grace period); returns cond()'s last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# --- the tool -----------------------------------------------------------------

class Scan:
    """One finished `symbolyze scan --json`: its records and its summary."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.stderr = proc.stderr.decode(errors="replace")
        # Whatever the names in it, the output is valid UTF-8 (escaped) JSON.
        self.records = parse_lines(proc.stdout.decode("utf-8"))
        self.summary = summary_of(self.records)

    def found(self, pid=None):
        return [r for r in self.records if r["event"] == "found" and
                (pid is None or r["pid"] == pid)]

    def errors(self, reason=None):
        return [r for r in self.records if r["event"] == "error" and
                (reason is None or r["reason"] == reason)]

    def triples(self, pid=None):
        return triples(self.records, pid)


class Symbolyze:
    def __init__(self, config):
        self.bin = os.path.abspath(config.getoption("--bin"))
        self.fixtures = os.path.abspath(config.getoption("--fixture-dir"))
        self.skel_dir = os.path.abspath(config.getoption("--skel-dir") or
                                        os.path.dirname(self.bin))

    def fix(self, name):
        return os.path.join(self.fixtures, name)

    def run(self, *args, expect=None, text=True, timeout=120):
        r = subprocess.run([self.bin] + list(args), capture_output=True, text=text,
                           timeout=timeout)
        if expect is not None:
            assert r.returncode == expect, "symbolyze %s: exit %d, want %d\nstdout: %r\n" \
                "stderr: %r" % (" ".join(map(str, args)), r.returncode, expect,
                                r.stdout[-2000:], r.stderr[-2000:])
        return r

    def scan(self, glob, syms, pid=None, expect=0):
        args = ["scan", "--json", "-g", glob]
        for s in syms:
            args += ["-s", s]
        if pid is not None:
            args += ["-p", str(pid)]
        return Scan(self.run(*args, expect=expect, text=False))

    def resolve(self, path, sym, expect=0):
        """`resolve --json`: the record, or None when the symbol is not there."""
        r = self.run("resolve", "--json", path, sym, expect=expect)
        return json.loads(r.stdout) if r.stdout.strip() else None


@pytest.fixture(scope="session")
def sz(pytestconfig):
    return Symbolyze(pytestconfig)


@pytest.fixture
def scratch():
    """A private directory, removed after the test."""
    d = tempfile.mkdtemp(prefix="sz-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fresh(sz, scratch):
    """fresh(fixture, name): a private copy of a fixture file under a new name
    (a new inode no earlier test or other process has mapped or probed)."""
    def copy(src, name):
        dst = os.path.join(scratch, name)
        shutil.copy(sz.fix(src), dst)
        return dst
    return copy


# --- fixture processes ----------------------------------------------------------

class Proc:
    """A fixture process talking in lines; a reader thread queues its stdout so
    every wait has a deadline."""

    def __init__(self, argv):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, errors="replace")
        self.pid = self.p.pid
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of output

    def expect(self, word, timeout=60):
        """The next line that starts with WORD (earlier lines are kept in seen)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                line, why = None, "timed out after %ds" % timeout
            else:
                why = "output ended"
                if line is None:
                    self.lines.put(None)  # later calls fail as fast
            if line is None:
                try:
                    self.p.wait(timeout=1 if why == "output ended" else 0.001)
                    err = self.p.stderr.read()
                except subprocess.TimeoutExpired:
                    err = "(running)"
                pytest.fail("%s (pid %d): no line '%s', %s; saw %s; stderr: %s"
                            % (self.argv[0], self.pid, word, why, self.seen[-10:], err))
            self.seen.append(line)
            if line.startswith(word):
                return line

    @property
    def state(self):
        """The one-letter state (T when stopped), None once reaped."""
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return None

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def close(self, timeout=10):
        """Closing stdin is the fixtures' cue to exit; a process left stopped
        (a --freeze test gone wrong) is continued first, a stuck one killed."""
        if self.p.poll() is None:
            try:
                os.kill(self.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()


class Target(Proc):
    """target-pie / target-nopie / a python script: prints its truth, then "ready"."""

    def __init__(self, argv):
        super().__init__(argv)
        self.truth = []  # sorted (bias, symbol, address)
        while True:
            f = self.expect("", timeout=20).split()
            if f == ["ready"]:
                break
            if len(f) == 4 and f[0] == "addr":
                self.truth.append((int(f[1], 16), f[2], int(f[3], 16)))
        self.truth.sort()


@pytest.fixture
def target(sz):
    """target(arg, ...): a fixture process that printed its truth and is ready.
    A first argument without '/' names a program in the fixtures directory."""
    procs = []

    def start(*argv):
        argv = list(argv)
        if isinstance(argv[0], str) and "/" not in argv[0]:
            argv[0] = sz.fix(argv[0])
        t = Target(argv)
        procs.append(t)
        return t
    yield start
    for t in procs:
        t.close()


@pytest.fixture
def caller(sz):
    """caller(lib, n, flags): the probe fixture, calling fix_func N times
    (see tests/fixtures/caller.c); use expect("loaded") / send("go") / expect("done")."""
    procs = []

    def start(lib, n, flags=()):
        c = Proc([sz.fix("caller")] + list(flags) + [lib, str(n)])
        procs.append(c)
        return c
    yield start
    for c in procs:
        c.close()


# --- a running watch ------------------------------------------------------------

class Watch:
    """`symbolyze watch --json` in the background; records are collected by a
    reader thread as they come."""

    def __init__(self, binary, glob, syms, extra):
        argv = [binary, "watch", "--json", "-g", glob]
        for s in syms:
            argv += ["-s", s]
        self.argv = argv + list(extra)
        self.p = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, errors="replace")
        self.pid = self.p.pid
        self.records = []
        self.garbage = []
        self.err = []
        self.cv = threading.Condition()
        self.readers = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=self._read_err, daemon=True)]
        for t in self.readers:
            t.start()
        self.rc = None
        self.wait_for(lambda r: r["event"] == "ready", timeout=30, what="the ready record")
        # issue 10: the mmap hook that runs (--mmap-hook auto chooses)
        self.hook = next(r for r in self.records if r["event"] == "ready")["mmap_hook"]

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                try:
                    self.records.append(json.loads(line))
                except ValueError:
                    self.garbage.append(line)
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line)

    @property
    def stderr(self):
        return "".join(self.err)

    def wait_for(self, pred, timeout=WAIT, count=1, what="a record"):
        """Block until COUNT records satisfy PRED; returns them all."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                hit = [r for r in self.records if pred(r)]
                if len(hit) >= count:
                    return hit
                left = deadline - time.monotonic()
                if left <= 0 or not self.readers[0].is_alive():
                    pytest.fail("watch: %s not seen (%d of %d) in %ds; exit %s; last records "
                                "%s; stderr %s" % (what, len(hit), count, timeout,
                                                   self.p.poll(), self.records[-4:],
                                                   self.stderr[-2000:]))
                self.cv.wait(min(left, 0.5))

    def wait_found(self, pid, symbol, timeout=WAIT):
        """The found record of SYMBOL in PID (the first, should there be more)."""
        return self.wait_for(lambda r: r["event"] == "found" and r["pid"] == pid and
                             r["symbol"] == symbol, timeout,
                             what="%s in pid %d" % (symbol, pid))[0]

    def of(self, event, pid=None):
        with self.cv:
            return [r for r in self.records if r["event"] == event and
                    (pid is None or r["pid"] == pid)]

    def found(self, pid=None):
        return self.of("found", pid)

    def triples(self, pid=None):
        with self.cv:
            return triples(self.records, pid)

    def counts(self):
        return {(r["pid"], r["symbol"]): r["calls"] for r in self.of("count")}

    def stop(self, sig=signal.SIGINT, timeout=30):
        """Signal the watch and reap it: it detaches, drains what is queued and
        prints its summary last. Returns the exit code."""
        if self.rc is not None:
            return self.rc
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("watch did not stop within %ds of signal %d" % (timeout, sig))
        for t in self.readers:
            t.join(10)
        self.rc = self.p.returncode
        assert not self.garbage, "watch printed lines that are not JSON: %r" % self.garbage[:3]
        return self.rc

    @property
    def summary(self):
        assert self.rc is not None, "the summary comes when the watch has stopped"
        return summary_of(self.records)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        if self.rc is None:
            self.rc = self.p.returncode


@pytest.fixture
def watch(sz):
    """watch(glob, symbols, *options): a running `symbolyze watch --json` that
    has printed its ready record; stopped (SIGINT, then SIGKILL) and reaped on
    teardown whatever the test did."""
    started = []

    def start(glob, syms, *extra):
        w = Watch(sz.bin, glob, syms, extra)
        started.append(w)
        return w
    yield start
    for w in started:
        if w.p.poll() is None:
            w.p.send_signal(signal.SIGINT)
            try:
                w.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        w.kill()


# --- BPF objects ------------------------------------------------------------------

def skeleton_names(path):
    """Program and map names of a generated skeleton (bpftool gen skeleton):
    the fields of its progs and maps structs."""
    with open(path) as f:
        text = f.read()
    progs = re.findall(r"struct bpf_program \*(\w+);", text)
    maps = re.findall(r"struct bpf_map \*(\w+);", text)
    assert progs and maps, "%s: no programs or maps in the skeleton" % path
    return progs, maps


class Bpf:
    NAME_LEN = 15  # BPF_OBJ_NAME_LEN - 1: the kernel truncates longer names

    @staticmethod
    def map_name(name):
        """The kernel names internal maps OBJ.rodata, OBJ.bss (OBJ cut to 8
        chars); the skeleton calls them rodata, bss."""
        return name.split(".", 1)[1] if "." in name else name

    def __init__(self, skel_dir):
        self.progs, self.maps = {}, {}
        for app in ("watch", "probe"):
            self.progs[app], self.maps[app] = skeleton_names(
                os.path.join(skel_dir, app + ".skel.h"))
        self.all_progs = {n[:self.NAME_LEN] for ps in self.progs.values() for n in ps}

    def watch_progs(self, hook):
        """The watch's programs that load with mmap HOOK: one of its two mmap
        programs (sz_mmap, the tracepoint's; sz_mmap_hint, perf's wake-up)."""
        other = "sz_mmap" if hook == "perf" else "sz_mmap_hint"
        return [n for n in self.progs["watch"] if n != other]

    @staticmethod
    def show(kind):
        out = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True,
                             text=True, timeout=30).stdout
        return {o["id"]: o for o in json.loads(out or "[]")}

    def ours(self, kind):
        """Programs of ours loaded anywhere (by name), or links to them."""
        progs = {i: o for i, o in self.show("prog").items() if o.get("name") in self.all_progs}
        if kind == "prog":
            return progs
        return {i: o for i, o in self.show("link").items() if o.get("prog_id") in progs}

    @staticmethod
    def held(pid):
        """{"prog"|"map"|"link": {id, ...}} of the BPF objects PID holds open, from
        /proc/PID/fdinfo (this bpftool build cannot show pids)."""
        held = {"prog": set(), "map": set(), "link": set()}
        fddir = "/proc/%d/fd" % pid
        for fd in os.listdir(fddir):
            try:
                kind = {"anon_inode:bpf-prog": "prog", "anon_inode:bpf-map": "map",
                        "anon_inode:bpf_link": "link"}.get(os.readlink(os.path.join(fddir, fd)))
                if not kind:
                    continue
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                    for line in f:
                        k, _, v = line.partition(":")
                        if k == kind + "_id":
                            held[kind].add(int(v))
            except OSError:
                pass
        return held

    def still_loaded(self, kind, ids=None, timeout=5):
        """Which of IDS (or of our objects, when IDS is None) still exist after
        allowing the kernel its RCU grace period to free them: {id: name}."""
        left = {}

        def gone():
            objs = self.ours(kind) if ids is None else self.show(kind)
            left.clear()
            left.update((i, o.get("name") or "prog %s" % o.get("prog_id"))
                        for i, o in objs.items() if ids is None or i in ids)
            return not left
        poll_until(gone, timeout)
        return left


@pytest.fixture(scope="session")
def bpf(sz):
    return Bpf(sz.skel_dir)


# --- plain paths, for test files that drive the binary themselves -------------

@pytest.fixture(scope="session")
def sz_bin(sz):
    return sz.bin


@pytest.fixture(scope="session")
def fixtures_dir(sz):
    return sz.fixtures


@pytest.fixture(scope="session")
def fixtures(sz):
    return sz.fixtures
