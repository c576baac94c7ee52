# SPDX-License-Identifier: BSD-2-Clause
"""What the BPF side of watch decides before anything reaches userspace:
path patterns matched on the whole path, the matcher's step budget, repeated
mappings deduplicated, variable-length records, and tracefs for the mmap
tracepoint.  Judged by JSON records and the summary's counters."""
import mmap
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest


def test_path_glob_matches_whole_path_in_kernel(sz, target, watch, fresh):
    """A pattern with '/' is matched on the whole path by BPF too: nothing that
    only shares the base-name part is recorded, and --freeze stops nothing."""
    lib = fresh("libfix.so", "libfixpath.so")
    for extra in ([], ["--mmap-hook", "tracepoint"], ["--freeze", "--count"]):
        w = watch("/nonexistent/dir/*.so", ["fix_func"], *extra)
        for _ in range(300):
            subprocess.run(["sh", "-c", "true"], check=True)
        # .so files whose base name matches "*.so": BPF matching only the base
        # name recorded (and froze) these
        tgs = [target("target-pie", "-l", lib, "-s", "fix_func") for _ in range(5)]
        assert w.stop() == 0
        s = w.summary
        # perf's records are every executable mapping of the host: its hint
        # program is what decides in the kernel
        sent = s["hints"] if w.hook == "perf" else s["events"]
        assert (sent, len(w.found()), s["frozen"]) == (0, 0, 0), (extra, s)
        assert all(t.pid for t in tgs)
    # the same directory, named: matched in the kernel and reported
    for extra in ([], ["--mmap-hook", "tracepoint"]):
        w = watch(os.path.join(os.path.dirname(lib), "*.so"), ["fix_func"], *extra)
        t = target("target-pie", "-l", lib, "-s", "fix_func")
        rec = w.wait_found(t.pid, "fix_func")
        assert int(rec["address"], 16) == t.truth[0][2]
        assert w.stop() == 0
        assert w.hook == "tracepoint" or w.summary["hints"] == 1, w.summary


@pytest.mark.parametrize("hook", ["perf", "tracepoint"])
def test_hostile_glob_is_bounded_and_still_right(sz, target, watch, scratch, hook):
    """A pattern that would cost BPF's matcher thousands of steps per name: BPF
    stops at its budget and userspace decides; matches are still reported,
    non-matches still are not."""
    pat = "*" + "a" * 126 + "b"
    yes = os.path.join(scratch, "a" * 127 + "x" + "a" * 126 + "b")  # > 2,048 steps
    no = os.path.join(scratch, "a" * 238 + "x" + "a" * 15 + "b")     # fails late
    for p in (yes, no):
        shutil.copy(sz.fix("libfix.so"), p)
    w = watch(pat, ["fix_func"], "--no-scan", "--mmap-hook", hook)
    t_yes = target("target-pie", "-l", yes, "-s", "fix_func")
    t_no = target("target-pie", "-l", no, "-s", "fix_func")
    rec = w.wait_found(t_yes.pid, "fix_func")
    assert int(rec["address"], 16) == t_yes.truth[0][2]
    assert w.stop() == 0
    assert w.found(t_no.pid) == []
    assert w.summary["glob_unsure"] >= 2, "BPF decided alone: %s" % w.summary


def test_repeated_mapping_deduplicated_in_kernel(watch, fresh):
    """One process mapping the same file at the same place again and again:
    one record, the rest counted as deduplicated by the kernel side.  With
    the perf hook (its records are perf's, every one read): one wake-up, the
    rest counted as deduplicated."""
    lib = fresh("libfix.so", "libfixdd.so")
    code = ("import mmap, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
            "for _ in range(2000):\n"
            "    mmap.mmap(fd, 4096, flags=mmap.MAP_PRIVATE,\n"
            "              prot=mmap.PROT_READ | int(sys.argv[2])).close()\n")
    w = watch("libfixdd.so", ["fix_func"], "--no-scan", "--mmap-hook", "perf")
    subprocess.run(["/usr/bin/python3", "-c", code, lib, str(mmap.PROT_EXEC)], check=True,
                   timeout=60)
    assert w.stop() == 0
    s = w.summary
    assert (s["hints"], s["kernel_deduped"]) == (1, 1999), s
    w = watch("libfixdd.so", ["fix_func"], "--no-scan", "--mmap-hook", "tracepoint")
    subprocess.run(["/usr/bin/python3", "-c", code, lib, "0"], check=True, timeout=60)
    assert w.stop() == 0
    s = w.summary
    # a mapping can move (another thread of python maps in between): a few
    # places, each reported once
    assert s["kernel_deduped"] >= 1900, s
    assert s["events"] <= 2000 - s["kernel_deduped"] + 1, s


def test_ring_holds_variable_length_records(sz, watch, fresh):
    """A 64 KiB ring, consumer stopped, a storm of loads: the records that fit
    are several times what fixed 1,384-byte records allowed (47)."""
    lib = fresh("libfix.so", "libfixring.so")
    w = watch("libfixring.so", ["fix_func"], "--no-scan", "--ring-size", "65536")
    w.p.send_signal(signal.SIGSTOP)
    try:
        r = subprocess.run([sz.fix("storm"), "300", lib, "fix_func", "4"],
                           capture_output=True, text=True, timeout=300)
    finally:
        w.p.send_signal(signal.SIGCONT)
    assert r.returncode == 0, r.stderr
    assert w.stop() == 0
    s = w.summary
    fixed = 65536 // (1384 + 8)
    assert s["lost"] > 0, "the ring never filled: %s" % s
    assert s["events"] >= 4 * fixed, "only %d records fit (fixed-size: %d)" % (s["events"],
                                                                             fixed)


def test_mounts_tracefs_or_says_why(sz):
    """In a mount namespace without tracefs: root mounts it and watches; without
    CAP_SYS_ADMIN the watch cannot, exits 3 and names tracefs in one line."""
    prep = ("umount -l /sys/kernel/debug/tracing 2>/dev/null; umount -l /sys/kernel/debug "
            "2>/dev/null; umount -l /sys/kernel/tracing 2>/dev/null; "
            "test ! -e /sys/kernel/tracing/events || exit 99; ")
    cmd = "%s watch -g x -s y -d 0.3 --mmap-hook tracepoint" % sz.bin
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        prep + cmd + " && test -e /sys/kernel/tracing/events/syscalls"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # the default hook (perf's records) needs no tracefs, nor CAP_SYS_ADMIN
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        prep + "setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin "
                        "%s watch --json -g x -s y -d 0.3 --mmap-hook auto && test ! -e "
                        "/sys/kernel/tracing/events" % sz.bin],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert '"mmap_hook":"perf"' in r.stdout, r.stdout
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        prep + "exec setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin "
                        + cmd], capture_output=True, text=True, timeout=60)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 3, r.stderr
    assert len(lines) == 1 and "tracefs" in lines[0] and "mount" in lines[0], r.stderr
