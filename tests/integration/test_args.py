# SPDX-License-Identifier: BSD-2-Clause
"""Argument values, filters, keys and histograms evaluated in BPF (issue 11):
the argcaller fixture (tests/fixtures/argcaller.c) makes calls whose
arguments the tests know byte for byte, including faulting pointers and
binary bytes; counts per value and per bucket are exact."""
import collections
import os

import pytest

# The calls of `argcaller LIB data`, in order: (symbol, bytes at arg0 or a
# marker, arg1).  None: a NULL pointer; "fault": a page that was unmapped.
LONG = b"A" * 300
ALL = bytes(range(256))
BIG = bytes((i * 7) & 0xff for i in range(5000))
BIN = b'ab\x00cd\xff\n"\\'
DATA_CALLS = [
    ("argfix_str", b"hello, world", 1),
    ("argfix_str", b"", 2),
    ("argfix_str", LONG, 3),
    ("argfix_str", None, 4),
    ("argfix_str", "fault", 5),
    ("argfix_str", b'q\x01\xfe"\\ end', 6),
    ("argfix_buf", BIN, len(BIN)),
    ("argfix_buf", ALL, 256),
    ("argfix_buf", "fault", 16),
    ("argfix_buf", BIG, 5000),
    ("argfix_buf", ALL, 0),
]


def value_bytes(v):
    """The bytes of a str/buf value: JSON carries one code point per byte."""
    return v["bytes"].encode("latin-1")


def start_args(argcaller, lib, *argv):
    c = argcaller(lib, *argv)
    c.expect("loaded")
    return c


@pytest.fixture
def argcaller(sz):
    """argcaller(lib, mode, ...): the argument fixture; expect("loaded"),
    send("go"), expect("done")."""
    procs = []

    def start(lib, *argv, binary=None):
        from conftest import Proc
        c = Proc([binary or sz.fix("argcaller"), lib] + list(argv))
        procs.append(c)
        return c
    yield start
    for c in procs:
        c.close()


def run_calls(w, c, symbols, n):
    """Let C make its calls once W has probed SYMBOLS in it; wait for N call records."""
    for s in symbols:
        assert w.wait_found(c.pid, s)["probed"]
    c.send("go")
    c.expect("done")
    return w.wait_for(lambda r: r["event"] == "call" and r["pid"] == c.pid, count=n,
                      what="%d calls" % n)


def test_arg_str_byte_exact_with_pid(argcaller, watch, fresh):
    """--arg 0:str (default 128 bytes) and 0:str:5 with -p: strings byte-exact,
    binary bytes escaped and recovered, NULL and an unmapped page said as such."""
    lib = fresh("libargs.so", "libargs-str.so")
    c = start_args(argcaller, lib, "data")
    w = watch("libargs-str.so", ["argfix_str"], "-p", str(c.pid), "--trace",
              "--arg", "0:str", "--arg", "1:int", "--arg", "0:str:5", "--arg", "1:hex")
    calls = [x for x in DATA_CALLS if x[0] == "argfix_str"]
    got = run_calls(w, c, ["argfix_str"], len(calls))
    assert w.stop() == 0
    assert len(got) == len(calls)
    for rec, (sym, data, tag) in zip(got, calls):
        v = rec["values"]
        assert [x["arg"] for x in v] == [0, 1, 0, 1]
        assert [x["type"] for x in v] == ["str", "int", "str", "hex"]
        assert v[1]["value"] == tag and v[3]["value"] == "0x%x" % tag
        for x, cap in ((v[0], 128), (v[2], 5)):
            if data is None:
                assert x == {"arg": 0, "type": "str", "null": True}
            elif data == "fault":
                assert x == {"arg": 0, "type": "str", "fault": True}
            else:
                assert value_bytes(x) == data[:cap], (rec, cap)
                assert x["len"] == min(len(data), cap)
                assert x["truncated"] == (len(data) > cap)
    assert w.summary["bad_records"] == 0
    assert w.summary["call_records_dropped"] == 0


def test_arg_buf_byte_exact(argcaller, watch, fresh):
    """--arg 0:buf:arg1 (length from argument 1, default cap 256), 0:buf:4 and
    a length from a 32-bit argument: embedded NULs and every byte value
    byte-exact, the cap said with the length asked, a faulting pointer."""
    lib = fresh("libargs.so", "libargs-buf.so")
    w = watch("libargs-buf.so", ["argfix_buf"], "--trace", "--arg", "0:buf:arg1",
              "--arg", "0:buf:4", "--arg", "0:buf:arg1:3", "--arg", "1:uint32")
    c = start_args(argcaller, lib, "data")
    calls = [x for x in DATA_CALLS if x[0] == "argfix_buf"]
    got = run_calls(w, c, ["argfix_buf"], len(calls))
    assert w.stop() == 0
    for rec, (sym, data, n) in zip(got, calls):
        v = rec["values"]
        assert v[3] == {"arg": 1, "type": "uint32", "value": n}
        for x, cap, from_arg in ((v[0], 256, True), (v[1], 4, False), (v[2], 3, True)):
            if data == "fault":
                want = {"arg": 0, "type": "buf", "fault": True}
                if from_arg:
                    want["asked"] = n
                assert x == want
                continue
            shown = min(n if from_arg else cap, cap)
            assert value_bytes(x) == data[:shown], (rec, cap)
            assert x["len"] == shown
            assert x["truncated"] == (from_arg and n > cap)
            assert x.get("asked") == (n if from_arg else None)
    assert w.summary["bad_records"] == 0


def vals_argv(pairs):
    return ["vals"] + ["%d:%d" % (v, n) for v, n in pairs]


VALS = [(5, 7), (100, 3), (4096, 1), (-1, 2), (0, 4), (3, 2)]


def log2_bucket(v):
    """The --hist bucket of V as JSON shows it: (low, high), or 'neg'."""
    if v < 0:
        return "neg"
    if v == 0:
        return (0, 0)
    b = v.bit_length() - 1
    return (1 << b, (2 << b) - 1)


def hist_of(rec):
    out = {}
    for b in rec["buckets"]:
        key = "neg" if b.get("negative") else (b["low"], b["high"])
        if b["count"]:
            out[key] = b["count"]
    return out


def test_filter_key_hist_exact(argcaller, watch, fresh):
    """Four watches on the same calls: filters (signed, unsigned, ANDed) with
    keys on an argument and on the return value, and histograms of both,
    each count exact per value and per bucket."""
    lib = fresh("libargs.so", "libargs-vals.so")
    sym = ["argfix_val"]
    w_key = watch("libargs-vals.so", sym, "--count", "--key", "arg0",
                  "--filter", "arg0 > 4")
    w_ukey = watch("libargs-vals.so", sym, "--count", "--key", "arg0:uint",
                   "--filter", "arg0:uint > 4", "--filter", "arg0 != 100")
    w_ret = watch("libargs-vals.so", sym, "--count", "--key", "ret", "--hist", "ret",
                  "--filter", "arg0!=0")
    w_hist = watch("libargs-vals.so", sym, "--hist", "arg0")
    c = start_args(argcaller, lib, *vals_argv(VALS))
    for w in (w_key, w_ukey, w_ret, w_hist):
        assert w.wait_found(c.pid, "argfix_val")["probed"]
    c.send("go")
    c.expect("done")
    for w in (w_key, w_ukey, w_ret, w_hist):
        assert w.stop() == 0
        assert w.summary["key_overflow"] == 0
        assert w.summary["filter_unseen"] == 0

    def keys(w):
        recs = [r for r in w.of("key")]
        assert all(r["symbol"] == "argfix_val" for r in recs)
        calls = [r["calls"] for r in recs]
        assert calls == sorted(calls, reverse=True), "not most frequent first"
        return {r["value"]: r["calls"] for r in recs}

    signed = {v: n for v, n in VALS if v > 4}
    assert keys(w_key) == signed
    assert w_key.counts() == {(c.pid, "argfix_val"): sum(signed.values())}
    unsigned = {v & (2**64 - 1): n for v, n in VALS if (v & (2**64 - 1)) > 4 and v != 100}
    assert keys(w_ukey) == unsigned
    rets = {2 * v: n for v, n in VALS if v != 0}
    assert keys(w_ret) == rets
    (h,) = w_ret.of("hist")
    assert h["of"] == "ret"
    want = collections.Counter()
    for v, n in VALS:
        if v != 0:
            want[log2_bucket(2 * v)] += n
    assert hist_of(h) == dict(want)
    (h,) = w_hist.of("hist")
    assert h["of"] == "arg0"
    want = collections.Counter()
    for v, n in VALS:
        want[log2_bucket(v)] += n
    assert hist_of(h) == dict(want)
    # --hist alone counts the calls too
    assert w_hist.counts() == {(c.pid, "argfix_val"): sum(n for _, n in VALS)}


def test_comm_two_names(argcaller, watch, fresh, sz):
    """--comm: of two processes running the same code under different names,
    only the matching one is counted, traced and timed (evaluated in BPF)."""
    lib = fresh("libargs.so", "libargs-comm.so")
    alpha = fresh("argcaller", "argc-alpha")
    beta = fresh("argcaller", "argc-beta")
    os.chmod(alpha, 0o755)
    os.chmod(beta, 0o755)
    sym = ["argfix_val"]
    w_count = watch("libargs-comm.so", sym, "--count", "--latency", "--comm", "argc-al*")
    w_trace = watch("libargs-comm.so", sym, "--trace", "--comm", "*-beta", "--arg", "0:int")
    ca = argcaller(lib, *vals_argv([(7, 5)]), binary=alpha)
    cb = argcaller(lib, *vals_argv([(9, 3)]), binary=beta)
    for p in (ca, cb):
        p.expect("loaded")
        for w in (w_count, w_trace):
            assert w.wait_found(p.pid, "argfix_val")["probed"]
        p.send("go")
        p.expect("done")
    w_trace.wait_for(lambda r: r["event"] == "return", count=3, what="3 returns")
    for w in (w_count, w_trace):
        assert w.stop() == 0
    assert w_count.counts() == {(ca.pid, "argfix_val"): 5}
    (lat,) = w_count.of("latency")
    assert sum(b["count"] for b in lat["buckets"]) == 5
    calls = w_trace.of("call")
    assert [(r["pid"], r["comm"], r["values"][0]["value"]) for r in calls] == \
        [(cb.pid, "argc-beta", 9)] * 3
    assert len(w_trace.of("return")) == 3


@pytest.mark.parametrize("extra", [[], ["--no-uprobe-multi"]], ids=["multi", "perf-event"])
def test_count_latency_together(caller, watch, fresh, extra):
    """--count --latency in one run, with a key: exact calls, every one timed,
    none shorter than the 1 ms the fixture sleeps; on multi-uprobe links and
    on perf-event uprobes (entry and return events, util/detach.h)."""
    lib = fresh("libfix.so", "libfixcl.so")
    w = watch("libfixcl.so", ["fix_sleep_ms"], "--count", "--latency", "--key", "arg0", *extra)
    c = caller(lib, 0, ["-w", "-S", "12"])
    c.expect("loaded")
    assert w.wait_found(c.pid, "fix_sleep_ms")["probed"]
    c.send("go")
    c.expect("done")
    assert w.stop() == 0
    assert w.counts() == {(c.pid, "fix_sleep_ms"): 12}
    (lat,) = w.of("latency")
    assert sum(b["count"] for b in lat["buckets"]) == 12
    assert min(b["low_ns"] for b in lat["buckets"] if b["count"]) >= 1 << 19
    assert [(r["value"], r["calls"]) for r in w.of("key")] == [(1, 12)]
    assert w.summary["latency_unmatched"] == 0


BAD = [
    (["--trace", "--arg", "6:int"], "--arg '6:int'", "N from 0 to 5"),
    (["--trace", "--arg", "-1:str"], "--arg '-1:str'", "N from 0 to 5"),
    (["--trace", "--arg", "1:float"], "--arg '1:float'", "TYPE one of"),
    (["--trace", "--arg", "1:buf"], "--arg '1:buf'", "buf:BYTES"),
    (["--trace", "--arg", "1:str:0"], "--arg '1:str:0'", "from 1 to 4096"),
    (["--trace", "--arg", "1:buf:5000"], "--arg '1:buf:5000'", "from 1 to 4096"),
    (["--trace", "--arg", "1:buf:arg6"], "--arg '1:buf:arg6'", "buf:argK"),
    (["--trace", "--arg", "1"], "--arg '1'", "N:TYPE"),
    (["--trace"] + ["--arg", "1:buf:4096"] * 4, "--arg", "16384 bytes"),
    (["--count", "--arg", "1:int"], "--arg goes with --trace", ""),
    (["--count", "--filter", "arg1 >= 3"], "--filter 'arg1 >= 3'", "OP one of == != < >"),
    (["--count", "--filter", "arg6 == 1"], "--filter 'arg6 == 1'", "N from 0 to 5"),
    (["--count", "--filter", "arg1 == x"], "--filter 'arg1 == x'", "VALUE an integer"),
    (["--count", "--filter", "arg1:uint < -1"], "--filter 'arg1:uint < -1'",
     "negative only for int"),
    (["--count", "--filter", "arg1:int32 == 4294967296"],
     "--filter 'arg1:int32 == 4294967296'", "VALUE an integer"),
    (["--filter", "arg1 == 1"], "--filter and --comm go with", ""),
    (["--count", "--key", "arg6"], "--key 'arg6'", "argN (N from 0 to 5) or ret"),
    (["--count", "--hist", "ret:float"], "--hist 'ret:float'", ":int32"),
    (["--latency", "--key", "arg1"], "--key goes with --count", ""),
    (["--trace", "--hist", "arg1"], "--hist goes with --count or --latency", ""),
    (["--count", "--comm", "[a"], "--comm '[a'", "fnmatch(3) pattern"),
    (["--trace", "--count"], "--trace excludes --count and --latency", ""),
    (["--count", "--arg"], "'--arg' wants a value", ""),
]


@pytest.mark.parametrize("extra,names,rule", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_malformed_probe_options(sz, extra, names, rule):
    """A malformed spec is a usage error (exit 2) naming the option, the
    argument and the rule, before anything is loaded."""
    r = sz.run("watch", "-g", "libargs.so", "-s", "argfix_val", *extra, expect=2)
    assert names in r.stderr and rule in r.stderr, r.stderr
    assert r.stdout == ""


SSL_PAYLOAD = b'GET /secret?k=\x00\xff\x01"\\ HTTP/1.1\r\n\r\n'  # as in sslpair.c


def test_ssl_write_plaintext_real_libssl(sz, watch, scratch, argcaller):
    """The README's example on the real libssl (Debian's libssl.so.3):
    `-s SSL_write --trace --arg 1:buf:arg2` shows the plaintext a process
    writes into TLS, byte-exact, with -p on a client/server pair whose
    certificate the test made."""
    import subprocess
    cert, key = os.path.join(scratch, "c.pem"), os.path.join(scratch, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    c = argcaller(cert, key, binary=sz.fix("sslpair"))
    c.expect("loaded")
    w = watch("libssl.so*", ["SSL_write"], "-p", str(c.pid), "--trace",
              "--arg", "1:buf:arg2")
    assert w.wait_found(c.pid, "SSL_write")["probed"]
    c.send("go")
    assert c.expect("done").split()[2] == str(len(SSL_PAYLOAD))
    (call,) = w.wait_for(lambda r: r["event"] == "call" and r["symbol"] == "SSL_write",
                         what="the SSL_write call")
    assert w.stop() == 0
    (v,) = call["values"]
    assert value_bytes(v) == SSL_PAYLOAD
    assert v["asked"] == len(SSL_PAYLOAD) and not v["truncated"]
    assert len(w.of("call")) == 1


def test_filter_trace_and_latency_returns(argcaller, watch, fresh):
    """A filter on an argument also decides the returns (traced returns,
    latency histograms, --hist ret): each follows its own call's verdict."""
    lib = fresh("libargs.so", "libargs-ret.so")
    sym = ["argfix_val"]
    w_trace = watch("libargs-ret.so", sym, "--trace", "--filter", "arg0 == 100",
                    "--arg", "0:int")
    w_lat = watch("libargs-ret.so", sym, "--latency", "--hist", "ret",
                  "--filter", "arg0 < 0", "--filter", "arg0:int32 != -7")
    c = start_args(argcaller, lib, *vals_argv(VALS + [(-7, 5)]))
    for w in (w_trace, w_lat):
        assert w.wait_found(c.pid, "argfix_val")["probed"]
    c.send("go")
    c.expect("done")
    w_trace.wait_for(lambda r: r["event"] == "return", count=3, what="3 returns")
    for w in (w_trace, w_lat):
        assert w.stop() == 0
        assert w.summary["filter_unseen"] == 0
    assert [r["values"][0]["value"] for r in w_trace.of("call")] == [100] * 3
    assert [int(r["ret"], 16) for r in w_trace.of("return")] == [200] * 3
    (lat,) = w_lat.of("latency")
    assert sum(b["count"] for b in lat["buckets"]) == 2  # the two -1 calls
    (h,) = w_lat.of("hist")
    assert hist_of(h) == {"neg": 2}
    assert w_lat.summary["latency_unmatched"] == 0
