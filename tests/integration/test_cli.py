# SPDX-License-Identifier: BSD-2-Clause
"""The command line as a Unix tool: a descriptor limit, a closed pipe, a full
disk, a stalled reader, -p and its process, and usage errors that name the
argument.  Ground truth: the targets' own dlsym answers and JSON records."""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

import pytest


def _bin(request):
    return os.path.abspath(request.config.getoption("--bin"))


def _fix(request, name):
    return os.path.join(os.path.abspath(request.config.getoption("--fixture-dir")), name)


class Targets:
    """Fixture processes each loading its own copy of libfix.so; their
    dlsym answers are the truth."""

    def __init__(self, request, n):
        self.dir = tempfile.mkdtemp(prefix="sz-cli-")
        self.procs, self.truth = [], set()
        for i in range(n):
            lib = os.path.join(self.dir, "libfixcopy%03d.so" % i)
            shutil.copy(_fix(request, "libfix.so"), lib)
            p = subprocess.Popen([_fix(request, "target-pie"), "-l", lib, "-s", "fix_func"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.procs.append(p)
        for p in self.procs:
            for line in p.stdout:
                f = line.split()
                if f == ["ready"]:
                    break
                if len(f) == 4 and f[0] == "addr":
                    self.truth.add((p.pid, int(f[3], 16)))

    def close(self):
        for p in self.procs:
            p.stdin.close()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir)


def records(text):
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def test_fd_limit_24_finds_every_match(request):
    """30 distinct matching files, 24 descriptors: before the cache bounded its
    descriptors, each parsed file kept one and the scan failed with 'Too many
    open files'."""
    t = Targets(request, 30)
    try:
        r = subprocess.run(["bash", "-c", 'ulimit -n 24 && exec "$0" "$@"', _bin(request),
                            "scan", "--json", "-g", "libfixcopy*", "-s", "fix_func"],
                           capture_output=True, text=True, timeout=60)
        recs = records(r.stdout)
        got = {(x["pid"], int(x["address"], 16)) for x in recs if x["event"] == "found"}
        assert got == t.truth, r.stderr
        summary = recs[-1]
        assert summary["event"] == "summary" and summary["files_parsed"] == 30
        # Unreadable processes (pid 1 here) are the only problems; none is
        # a file we failed to open.
        problems = dict(summary["problems"])
        assert problems.pop("permission") == summary["processes_unreadable"], summary
        assert not any(problems.values()), summary
        assert r.returncode == 0
    finally:
        t.close()


def test_closed_pipe_ends_watch_promptly(request):
    """`watch | head -1`: the reader goes, the watch goes (exit 4, no message),
    as `cat` would."""
    t = Targets(request, 1)
    try:
        start = time.monotonic()
        r = subprocess.run(["bash", "-c", '"$0" "$@" | head -1; exit ${PIPESTATUS[0]}',
                            _bin(request), "watch", "--json", "-g", "libfixcopy*",
                            "-s", "fix_func"], capture_output=True, text=True, timeout=30)
        assert time.monotonic() - start < 10
        assert r.returncode == 4, r.stderr
        assert json.loads(r.stdout)["event"] == "found"
        assert "cannot write" not in r.stderr  # a closed pipe is not an error to report
    finally:
        t.close()


@pytest.mark.parametrize("args", [
    ["scan", "-g", "libfixcopy*", "-s", "fix_func"],
    ["watch", "-d", "0.5", "-g", "libfixcopy*", "-s", "fix_func"],
    ["resolve", "LIB", "fix_func"],
])
def test_full_disk_is_an_error(request, args):
    """> /dev/full: the write error is named and the status is 4, not 0."""
    t = Targets(request, 1)
    try:
        argv = [a.replace("LIB", _fix(request, "libfix.so")) for a in args]
        with open("/dev/full", "w") as full:
            r = subprocess.run([_bin(request)] + argv, stdout=full, stderr=subprocess.PIPE,
                               text=True, timeout=30)
        assert r.returncode == 4
        assert "cannot write to stdout: No space left on device" in r.stderr
    finally:
        t.close()


@pytest.mark.parametrize("args", [
    ["watch", "--json", "-d", "0.5", "-g", "libfixcopy*", "-s", "fix_func"],
    ["resolve", "--json", "LIB", "fix_func"],
    ["scan", "--json", "-g", "libfixcopy*", "-s", "fix_func"],
])
def test_write_error_counts_what_was_not_written(request, args):
    """After a write error nothing more reaches stdout: every record given up
    (the failed one included) is counted and said, not dropped silently.
    Ground truth: the records the same command writes to a file."""
    t = Targets(request, 3)
    try:
        argv = [_bin(request)] + [a.replace("LIB", _fix(request, "libfix.so")) for a in args]
        with tempfile.TemporaryFile("w+") as f:
            r = subprocess.run(argv, stdout=f, stderr=subprocess.PIPE, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            f.seek(0)
            recs = records(f.read())
        assert recs and recs[-1]["event"] == ("resolved" if args[0] == "resolve" else "summary")
        with open("/dev/full", "w") as full:
            r = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, timeout=30)
        assert r.returncode == 4
        m = re.search(r"cannot write to stdout: No space left on device; (\d+) records not "
                      r"written", r.stderr)
        assert m, r.stderr
        if args[0] == "scan":
            # a scan stops at the first failed write (no summary is made after it)
            assert int(m.group(1)) == 1, r.stderr
        else:
            # the watch goes on queueing until its loop sees the error
            assert int(m.group(1)) == len(recs), (recs, r.stderr)
    finally:
        t.close()


def test_stalled_reader_does_not_stall_shutdown(request):
    """stdout a pipe nobody reads, filled up: the watch goes on (records are
    dropped and counted) and SIGTERM ends it within a second."""
    t = Targets(request, 1)
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    p = subprocess.Popen([_bin(request), "watch", "--json", "-g", "*", "-s", "malloc",
                          "-s", "free", "-s", "fix_func"],
                         stdout=wfd, stderr=subprocess.PIPE, text=True)
    os.close(wfd)
    try:
        # The initial scan alone fills a 64 KiB pipe many times over on any host;
        # exec a few processes too so records keep coming.
        for _ in range(20):
            subprocess.run(["true"])
        time.sleep(1.0)  # the point: a reader that does not read
        assert p.poll() is None
        start = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        assert time.monotonic() - start < 1.5
        assert p.returncode == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(rfd)
        t.close()


def test_watch_p_ends_with_its_process(request):
    """-p PID: the watch ends when PID exits, as strace -p does."""
    t = Targets(request, 1)
    p = subprocess.Popen([_bin(request), "watch", "--json", "-p", str(t.procs[0].pid),
                          "-g", "libfixcopy*", "-s", "fix_func"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = False
        while not ready:
            line = p.stdout.readline()
            assert line, p.stderr.read()
            ready = json.loads(line)["event"] == "ready"
        t.close()
        out, err = p.communicate(timeout=10)
        assert p.returncode == 0
        assert records(out)[-1]["event"] == "summary"
        assert "process %d exited" % t.procs[0].pid in err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.parametrize("args,code,words", [
    (["watch", "-g", "x", "-s", "y", "-p", "999999999"], 2, ["-p 999999999", "no such process"]),
    (["scan", "-g", "[", "-s", "y"], 2, ["-g", "no closing ']'"]),
    (["scan", "-g", "a" * 10000, "-s", "y"], 2, ["-g", "longer than 255 bytes"]),
    (["scan", "-g", "[[:alpha:]]", "-s", "y"], 2, ["-g", "character classes"]),
    (["scan", "-g", "x", "-s", "@V1"], 2, ["-s '@V1'"]),
    (["scan", "-g", "x"], 2, ["-s SYMBOL"]),
    (["scan", "-g", "x", "-s", "y", "-p", "abc"], 2, ["-p 'abc'"]),
    (["scan", "--count", "-g", "x", "-s", "y"], 2, ["'--count' is an option of watch"]),
    (["scan", "--bogus"], 2, ["unknown option '--bogus'"]),
    (["scan", "-g"], 2, ["'-g' wants a value"]),
    (["resolve", "/nonexistent/libx.so", "y"], 2, ["/nonexistent/libx.so", "No such file"]),
    (["resolve", "/etc/passwd", "y"], 2, ["/etc/passwd", "not an ELF file"]),
    (["resolve", "FIX", "no_such_symbol"], 1, ["no_such_symbol not found"]),
])
def test_usage_errors_name_the_argument(request, args, code, words):
    argv = [a.replace("FIX", _fix(request, "libfix.so")) for a in args]
    r = subprocess.run([_bin(request)] + argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == code, r.stderr
    line = r.stderr.strip()
    assert line.count("\n") == 0, "one line, not %r" % r.stderr
    for w in words:
        assert w in line, line


@pytest.mark.parametrize("cmd", ["scan", "watch", "resolve"])
def test_version_in_every_command(request, cmd):
    r = subprocess.run([_bin(request), cmd, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("symbolyze "), r.stderr
