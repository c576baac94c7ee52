# SPDX-License-Identifier: BSD-2-Clause
"""SIGINT detaches everything before the watch exits (issue 12): the watch's
tracepoint links and the uprobes are released from threads at once (their
grace periods overlap, src/util/detach.c), and none of them may outlive the
process: the moment it is reaped, not one of the links it held exists any
more, and the summary's counts are the calls the caller made (function k of
libmany.so called k+1 times).  Root, real BPF."""
import json
import os
import signal

import pytest

from conftest import Proc, comm
from test_wild import run_many_caller

root = pytest.mark.skipif(os.geteuid() != 0, reason="loads BPF: root")


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return f.read().split()


@root
@pytest.mark.parametrize("glob,n,extra", [
    ("szf_*", 1000, []),                             # one multi-uprobe link
    ("szf_00?", 10, ["--no-uprobe-multi"]),          # one perf-event uprobe each
    ("szf_01?", 10, ["--mmap-hook", "perf"]),        # no syscall tracepoint
    ("szf_02?", 10, ["--freeze"]),                   # its guardian quits with the detach
], ids=["multi", "perf-event-uprobes", "perf-mmap-hook", "freeze"])
def test_sigint_leaves_no_link_and_exact_counts(bpf, watch, fresh, glob, n, extra):
    fresh("libmany.so", "libmany.so")
    caller = Proc([fresh("many_caller", "many_caller"), "--wait"])
    try:
        assert json.loads(caller.expect('{"event":"waiting"'))["event"] == "waiting"
        w = watch("libmany.so", [glob], "--count", *extra)
        found = w.wait_for(lambda r: r["event"] == "found" and r["pid"] == caller.pid and
                           r["type"] == "func", count=n, what="%d functions" % n)
        assert all(r["probed"] for r in found)
        held = bpf.held(w.pid)
        guardians = [int(c) for c in children(w.pid) if comm(int(c)) == "sz-guardian"]
        assert len(guardians) == (1 if "--freeze" in extra else 0)
        links = bpf.show("link")
        mine = {i: links[i] for i in held["link"] if i in links}
        # the watch's own links, and the uprobes': one multi link or one per function
        progs = bpf.show("prog")
        uprobe_links = [i for i, o in mine.items() if progs[o["prog_id"]]["name"] == "sz_count"]
        assert len(uprobe_links) == (n if "--no-uprobe-multi" in extra else 1)
        assert len(mine) > len(uprobe_links)  # the watch's tracepoints
        truth = run_many_caller(caller)
        assert w.stop(signal.SIGINT, timeout=300) == 0
        # reaped: every link it held is gone now, no grace allowed
        left = set(held["link"]) & set(bpf.show("link"))
        assert left == set(), "links of the watch left after its exit: %s" % left
        for g in guardians:  # reaped by the watch, not left behind
            assert not os.path.exists("/proc/%d" % g), "guardian %d outlived the watch" % g
        counts = {s: c for (pid, s), c in w.counts().items() if pid == caller.pid}
        assert len(counts) == n
        assert counts == {s: truth[s] for s in counts}
        summ = w.summary
        assert summ["uprobes"] == n and summ["call_records_dropped"] == 0
        assert summ["uprobe_links"] == (n if "--no-uprobe-multi" in extra else 1)
        assert summ["lost"] == 0
    finally:
        caller.close()
