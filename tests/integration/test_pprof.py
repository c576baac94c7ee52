# SPDX-License-Identifier: BSD-2-Clause
"""--count --stacks --pprof FILE: the stackfix fixture (N calls main -> sf_a -> sf_b ->
sf_probed, M calls main -> sf_c -> sf_probed; tests/fixtures/stackfix.c) profiled into a
gzip'd pprof protobuf, then read by Go's own reader (`go tool pprof`, Debian golang-go):
the samples are the two chains with their exact counts, and the fixture's mapping carries
its build-ID as `readelf -n` reads it."""
import gzip
import os
import re
import subprocess

import pytest

from test_stacks import CHAIN_AB, CHAIN_C, M, N, run_stackfix


def go_pprof(tmp_path, *args):
    """`go tool pprof ARGS` with its caches in TMP_PATH (no $HOME of root touched)."""
    home = tmp_path / "gohome"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, HOME=str(home), GOCACHE=str(home / "cache"),
               GOPATH=str(home / "go"), PPROF_TMPDIR=str(home), GOFLAGS="-mod=mod",
               PPROF_BINARY_PATH="/nonexistent")
    r = subprocess.run(["go", "tool", "pprof"] + list(args), capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def build_id_of(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True,
                         check=True).stdout
    return re.search(r"Build ID: ([0-9a-f]+)", out).group(1)


def parse_raw(text):
    """go tool pprof -raw: samples (value, [location ids]), locations id -> [function
    names], mappings (start, limit, offset, file, build-ID)."""
    samples, locs, maps = [], {}, []
    part, last = None, None
    for line in text.splitlines():
        if line.startswith(("Samples:", "Locations", "Mappings")):
            part = line.split()[0].rstrip(":")
            continue
        f = line.split()
        if not f:
            continue
        if part == "Samples" and re.match(r"^\d+:$", f[0]):
            samples.append((int(f[0][:-1]), [int(x) for x in f[1:]]))
        elif part == "Locations":
            m = re.match(r"^\s*(\d+): (0x[0-9a-f]+) M=(\d+) (\S+)", line)
            if m:
                last = int(m.group(1))
                locs[last] = [m.group(4)]
            elif last is not None and line.startswith(" " * 10):
                locs[last].append(f[0])  # an inlined frame's line
        elif part == "Mappings":
            m = re.match(r"^\s*\d+: (0x[0-9a-f]+)/(0x[0-9a-f]+)/(0x[0-9a-f]+) (\S+) ?(\S*)",
                         line)
            if m:
                maps.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16),
                             m.group(4), m.group(5)))
    return samples, locs, maps


def test_pprof_read_by_go_tool_pprof(sz, watch, fresh, tmp_path):
    path = fresh("stackfix-nofp", "sfc-pprof")
    prof = tmp_path / "stackfix.pb.gz"
    w, p = run_stackfix(sz, watch, path, "dwarf", extra=["--pprof", str(prof)])
    assert w.stop() == 0, w.stderr
    # the stacks went to the file, not to stdout; the summary counts them all
    assert not w.of("stack")
    assert w.summary["stacks"] == N + M and w.summary["stack_records_dropped"] == 0
    raw = prof.read_bytes()
    assert raw[:2] == b"\x1f\x8b"  # gzip
    gzip.decompress(raw)

    samples, locs, maps = parse_raw(go_pprof(tmp_path, "-raw", str(prof)))
    # innermost first; the chain then goes through libc to _start (CFI)
    stacks = sorted(((v, [locs[i][0] for i in ids]) for v, ids in samples), reverse=True)
    assert [v for v, _ in stacks] == [N, M], stacks
    assert stacks[0][1][:4] == CHAIN_AB and stacks[0][1][-1] == "_start", stacks
    assert stacks[1][1][:3] == CHAIN_C and stacks[1][1][-1] == "_start", stacks
    mine = [m for m in maps if m[3] == path]
    assert len(mine) == 1, maps
    assert mine[0][4] == build_id_of(path), (mine, maps)
    # the libc frames' mapping carries libc's build-ID too
    libc = [m for m in maps if os.path.basename(m[3]).startswith("libc.so")]
    assert len(libc) == 1 and libc[0][4] == build_id_of(libc[0][3]), maps

    # -top: flat and cumulative counts per function, as go tool pprof computes them
    top = go_pprof(tmp_path, "-top", "-nodecount=100", str(prof))
    flat, cum = {}, {}
    for line in top.splitlines():
        f = line.split()
        if len(f) == 6 and f[0].isdigit() and f[3].isdigit():
            flat[f[5]], cum[f[5]] = int(f[0]), int(f[3])
    assert flat["sf_probed"] == N + M and cum["sf_probed"] == N + M, top
    assert cum["sf_b"] == N and cum["sf_a"] == N and cum["sf_c"] == M, top
    assert cum["main"] == N + M and cum["_start"] == N + M, top
    assert sum(flat.values()) == N + M, top


def test_pprof_bad_path_is_a_usage_error(sz, tmp_path):
    bad = str(tmp_path / "no-such-dir" / "x.pb.gz")
    r = sz.run("watch", "--json", "-g", "x", "-s", "y", "--count", "--stacks",
               "--pprof", bad)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == \
        "symbolyze: --pprof '%s': cannot create the file: No such file or directory" % bad
    assert not os.path.exists(bad)


@pytest.mark.parametrize("argv,word", [
    (["--count", "--pprof", "x"], "--pprof goes with --count --stacks"),
    (["--trace", "--stacks", "--pprof", "x"], "--pprof goes with --count --stacks"),
    (["--count", "--stacks", "--folded", "--pprof", "x"], "exclude each other"),
])
def test_pprof_usage_errors(sz, argv, word, tmp_path):
    r = sz.run("watch", "-g", "x", "-s", "y", *argv)
    assert r.returncode == 2 and word in r.stderr, r.stderr
