# SPDX-License-Identifier: BSD-2-Clause
"""Multi-uprobe links against exact call counts: 1,000 generated functions of
build/fixtures/libmany.so, function k called k+1 times by many_caller (which
prints what it called), one counting uprobe per function with its rank as the
cookie, through one multi link or one perf-event uprobe per function.  Root."""
import json
import os
import subprocess

import pytest


def drive(sz_bin, fixtures, tmp_path, glob, mode):
    drv = os.path.join(os.path.dirname(sz_bin), "tests", "umulti_drive")
    out = tmp_path / "caller.out"
    p = subprocess.run([drv, os.path.join(fixtures, "libmany.so"), glob, mode, "--run",
                        str(out), os.path.join(fixtures, "many_caller")],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    ev = [json.loads(line) for line in p.stdout.splitlines()]
    truth = [json.loads(line) for line in out.read_text().splitlines()]
    return ev, {t["symbol"]: t["calls"] for t in truth}


def nm_functions(path, prefix):
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True,
                         check=True).stdout
    return sorted(f[2] for f in (line.split() for line in out.splitlines())
                  if len(f) == 3 and f[1] == "T" and f[2].startswith(prefix))


@pytest.mark.skipif(os.geteuid() != 0, reason="loads BPF: root")
def test_thousand_functions_one_multi_link(sz_bin, fixtures, tmp_path):
    ev, truth = drive(sz_bin, fixtures, tmp_path, "szf_*", "auto")
    att = ev[0]
    assert att["event"] == "attached" and att["probes"] == 1000
    assert att["multi"] is True  # this kernel (>= 6.9) has multi links
    counts = {e["symbol"]: e["calls"] for e in ev if e["event"] == "count"}
    assert sorted(counts) == nm_functions(os.path.join(fixtures, "libmany.so"), "szf_")
    assert len(truth) == 1000 and len(set(truth.values())) == 1000
    assert counts == truth
    summ = ev[-1]
    assert summ["event"] == "summary" and summ["misses"] == 0 and summ["read_error"] == 0
    assert summ["calls_after_detach"] == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="loads BPF: root")
def test_perf_event_fallback(sz_bin, fixtures, tmp_path):
    ev, truth = drive(sz_bin, fixtures, tmp_path, "szf_0[0-5]?", "single")
    att = ev[0]
    assert att["probes"] == 60 and att["multi"] is False
    counts = {e["symbol"]: e["calls"] for e in ev if e["event"] == "count"}
    assert counts == {k: v for k, v in truth.items() if k in counts}
    assert sorted(counts) == ["szf_%03d" % i for i in range(60)]
    assert ev[-1]["calls_after_detach"] == 0 and ev[-1]["misses"] == 0
