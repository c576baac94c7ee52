# SPDX-License-Identifier: BSD-2-Clause
"""watch --interval: a timestamped batch every interval, counts per interval
(--per-interval) or since the start (default), and histograms likewise; the
caller fixture makes an exact number of calls between two batches."""
import datetime

from conftest import WAIT


def batches(w):
    """[(interval record, [records of its batch])] in output order: a batch's
    records name it ("interval": seq) and follow its interval record."""
    out = []
    with w.cv:
        recs = list(w.records)
    for r in recs:
        if r["event"] == "interval":
            out.append((r, []))
        elif r["event"] in ("count", "latency") and "interval" in r:
            assert out and r["interval"] == out[-1][0]["seq"], r
            out[-1][1].append(r)
    return out


def run_one(caller, w_list, lib, n):
    """A process making N calls after every watch probed it; it exits. Returns its pid."""
    c = caller(lib, n, ["-w", "-x"])
    c.expect("loaded")
    for w in w_list:
        assert w.wait_found(c.pid, "fix_func")["probed"]
    c.send("go")
    c.expect("done")
    c.p.wait(timeout=WAIT)
    return c.pid


def test_interval_per_interval_and_cumulative(caller, watch, fresh):
    lib = fresh("libfix.so", "libfixival.so")
    per = watch("libfixival.so", ["fix_func"], "--count", "--interval", "0.5", "--per-interval")
    cum = watch("libfixival.so", ["fix_func"], "--count", "--interval", "0.5")
    a = run_one(caller, (per, cum), lib, 1300)
    # A's calls are complete in some batch of each watch; B starts after.
    per.wait_for(lambda r: r["event"] == "count" and r["pid"] == a, what="A's batch")
    cum.wait_for(lambda r: r["event"] == "count" and r["pid"] == a and r["calls"] == 1300,
                 what="A's batch")
    mark = len(per.of("interval"))
    b = run_one(caller, (per, cum), lib, 2700)
    per.wait_for(lambda r: r["event"] == "interval", count=mark + 3, what="three more batches")
    cum.wait_for(lambda r: r["event"] == "count" and r["pid"] == b and r["calls"] == 2700,
                 what="B's batch")
    cum.wait_for(lambda r: r["event"] == "interval", count=len(cum.of("interval")) + 2,
                 what="two more batches")
    assert per.stop() == 0 and cum.stop() == 0

    bp = batches(per)
    seqs = [r["seq"] for r, _ in bp]
    assert seqs == list(range(1, len(seqs) + 1))
    times = [datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S.%fZ") for r, _ in bp]
    assert times == sorted(times) and all(r["per_interval"] for r, _ in bp)
    assert [r["ts_ns"] for r, _ in bp] == sorted(r["ts_ns"] for r, _ in bp)
    # Per interval: each process's calls appear once in all (the batch where
    # they happened; or split over two adjacent ones if the burst crossed a
    # boundary), summing exactly to what it made; no zero rows.
    for pid, n in ((a, 1300), (b, 2700)):
        rows = [(i, rec["calls"]) for i, (_, recs) in enumerate(bp) for rec in recs
                if rec["pid"] == pid]
        assert sum(c for _, c in rows) == n, rows
        assert all(c > 0 for _, c in rows)
        assert rows[-1][0] - rows[0][0] <= 1, rows
    # Cumulative: once A's 1300 appear, every later batch repeats them;
    # B's 2700 likewise, and nothing but A and B is counted.
    bc = batches(cum)
    assert not any(r["per_interval"] for r, _ in bc)
    first_a = min(i for i, (_, recs) in enumerate(bc)
                  if any(x["pid"] == a and x["calls"] == 1300 for x in recs))
    for _, recs in bc[first_a:]:
        got = {x["pid"]: x["calls"] for x in recs}
        assert got.get(a) == 1300 and set(got) <= {a, b}, got
    assert {x["pid"]: x["calls"] for x in bc[-1][1]} == {a: 1300, b: 2700}


def test_interval_latency_per_interval(caller, watch, fresh):
    lib = fresh("libfix.so", "libfixivlat.so")
    w = watch("libfixivlat.so", ["fix_func"], "--latency", "--interval", "0.5",
              "--per-interval")
    run_one(caller, (w,), lib, 800)
    w.wait_for(lambda r: r["event"] == "latency", what="a histogram batch")
    mark = len(w.of("interval"))
    run_one(caller, (w,), lib, 450)
    w.wait_for(lambda r: r["event"] == "interval", count=mark + 3, what="three more batches")
    assert w.stop() == 0
    per = [sum(b["count"] for b in rec["buckets"])
           for _, recs in batches(w) for rec in recs if rec["symbol"] == "fix_func"]
    # Each burst in one batch or split across two; in all, every call once.
    assert sum(per) == 1250 and all(p > 0 for p in per), per
    # The final table (at exit) is cumulative: all 1,250 calls.
    final = [r for r in w.of("latency")][-1]
    assert sum(b["count"] for b in final["buckets"]) == 1250


def test_interval_count_and_latency_together(caller, watch, fresh):
    """--count --latency --interval: each batch carries both the counts and
    the histograms; per interval, both sum to the exact calls made."""
    lib = fresh("libfix.so", "libfixivboth.so")
    w = watch("libfixivboth.so", ["fix_func"], "--count", "--latency", "--interval", "0.5",
              "--per-interval")
    a = run_one(caller, (w,), lib, 600)
    w.wait_for(lambda r: r["event"] == "latency" and "interval" in r, what="a histogram batch")
    mark = len(w.of("interval"))
    b = run_one(caller, (w,), lib, 350)
    w.wait_for(lambda r: r["event"] == "interval", count=mark + 3, what="three more batches")
    assert w.stop() == 0
    bs = batches(w)
    counts = [rec["calls"] for _, recs in bs for rec in recs
              if rec["event"] == "count" and rec["pid"] in (a, b)]
    hists = [sum(x["count"] for x in rec["buckets"]) for _, recs in bs for rec in recs
             if rec["event"] == "latency" and rec["symbol"] == "fix_func"]
    assert sum(counts) == 950 and all(c > 0 for c in counts), counts
    assert sum(hists) == 950 and all(h > 0 for h in hists), hists
    # Both kinds in one batch (a call in flight at the read can put its count
    # and its duration in adjacent batches, so not in every batch).
    assert any({"count", "latency"} <= {r["event"] for r in recs} for _, recs in bs)


def test_interval_per_interval_with_metrics_fold_counts_each_call_once(caller, watch, fresh):
    """--metrics folds an exited process into one pid-0 row per symbol; per
    interval, the calls it had already shown under its pid are not shown again
    under pid 0: all rows of all batches sum to the calls made, exactly."""
    lib = fresh("libfix.so", "libfixivfold.so")
    w = watch("libfixivfold.so", ["fix_func"], "--count", "--interval", "0.3",
              "--per-interval", "--metrics", "0")
    # A is shown under its pid while it lives, then exits and is folded
    c = caller(lib, 1300, ["-w"])
    c.expect("loaded")
    assert w.wait_found(c.pid, "fix_func")["probed"]
    c.send("go")
    c.expect("done")
    a = c.pid
    w.wait_for(lambda r: r["event"] == "count" and r.get("interval") and r["pid"] == a,
               what="A's calls under its pid")
    c.close()
    b = run_one(caller, (w,), lib, 2700)
    mark = len(w.of("interval"))
    w.wait_for(lambda r: r["event"] == "interval", count=mark + 5, what="five more batches")
    assert w.stop() == 0
    rows = [(rec["pid"], rec["calls"]) for _, recs in batches(w) for rec in recs
            if rec["event"] == "count"]
    assert {p for p, _ in rows} <= {a, b, 0}, rows
    assert any(p == 0 for p, _ in rows), rows  # the fold happened within the run
    assert sum(c for _, c in rows) == 4000, rows
