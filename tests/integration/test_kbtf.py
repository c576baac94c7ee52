"""The minimal kernel BTF (src/util/kbtf.c, issue 10: start-up): libbpf
relocates every program of ours against our small copy exactly as against the
kernel's whole BTF (the kernel's program tags, a hash of the instructions with
map fds zeroed, are equal), libbpf never reads the kernel's BTF itself, and a
copy that cannot serve is replaced by libbpf's own way, not an error."""

import os
import subprocess

from test_usdt import SDT_PROBES, sdt  # noqa: F401  (fixture)

VMLINUX = "/sys/kernel/btf/vmlinux"

# Each mode loads another set of programs: the watch's with the iterator, the
# probe object's count, latency, trace and stack programs, the USDT object's.
MODES = [
    ("--count", "--mmap-hook", "perf"),
    ("--count", "--latency"),
    ("--trace", "--stacks"),
    # issue 10: the tracepoint's mmap program, and perf's wake-up (the
    # default's, the first mode's)
    ("--count", "--mmap-hook", "tracepoint"),
]


def tags(bpf, pid):
    """{program name: tag} of the programs PID holds."""
    shown = bpf.show("prog")
    return {shown[i]["name"]: shown[i]["tag"] for i in bpf.held(pid)["prog"] if i in shown}


def run_watch(watch, env, *extra):
    old = dict(os.environ)
    os.environ.update(env)
    try:
        return watch("sdt", ["sdt_fire_sema"], "-u", "sztest:*", *extra)
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_programs_relocate_as_against_the_whole_kernel_btf(sz, watch, bpf, sdt):  # noqa: F811
    p = sdt(3)
    for mode in MODES:
        ours = run_watch(watch, {}, *mode)
        ours.wait_found(p.pid, "sdt_fire_sema")
        mine = tags(bpf, ours.pid)
        assert ours.stop() == 0
        libbpfs = run_watch(watch, {"SYMBOLYZE_KBTF": "off"}, *mode)
        libbpfs.wait_found(p.pid, "sdt_fire_sema")
        theirs = tags(bpf, libbpfs.pid)
        assert libbpfs.stop() == 0
        # the watch's four programs and the iterator, the probe's, the USDT's
        mmap = "sz_mmap" if ours.hook == "tracepoint" else "sz_mmap_hint"
        assert "--mmap-hook" not in mode or ours.hook == mode[-1]
        assert {"sz_exec", mmap[:bpf.NAME_LEN], "sz_scan_vmas"} <= set(mine), mode
        assert any(n.startswith("sz_usdt") for n in mine), mode
        assert len(mine) >= 7, mode
        assert mine == theirs, mode


def strace_watch(sz, tmp_path, env, *extra):
    """The watch's openat(2) calls and whether it ran to ready, under strace."""
    log = tmp_path / "strace.log"
    e = dict(os.environ, **env)
    argv = ["strace", "-f", "-qq", "-e", "trace=openat,memfd_create", "-o", str(log),
            sz.bin, "watch", "--json", "-g", "libsz-none.so", "-s", "x", "--count"] + list(extra)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         env=e)
    ready = False
    for line in p.stdout:
        if '"event":"ready"' in line:
            ready = True
            break
    # SIGINT to the watch itself (strace would detach and leave it running)
    with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
        child = int(f.read().split()[0])
    os.kill(child, 2)
    out = p.communicate(timeout=30)[0]
    text = log.read_text()
    return ready, out, text.count('"%s"' % VMLINUX), text.count("symbolyze-kbtf")


def test_libbpf_never_reads_the_kernel_btf(sz, tmp_path):
    # mapped (this kernel), then read as kernels before 6.16 make us
    for env in ({}, {"SYMBOLYZE_TEST_KBTF_READ": "1"}):
        ready, out, opens, memfds = strace_watch(sz, tmp_path, env)
        assert ready, env
        assert opens == 1, "%s: the kernel's BTF opened %d times: ours, libbpf's" % (env, opens)
        assert memfds == 1, env
    # ...where libbpf's own way opens it once per object (watch and probe)
    ready, out, opens, memfds = strace_watch(sz, tmp_path, {"SYMBOLYZE_KBTF": "off"})
    assert ready
    assert opens >= 2 and memfds == 0


def test_a_copy_that_fails_falls_back_to_libbpf(sz, tmp_path, watch, sdt):  # noqa: F811
    """A copy without a single type: the watch's load against it fails, and it
    loads again the slow way, instead of an error; then works as always."""
    ready, out, opens, memfds = strace_watch(sz, tmp_path, {"SYMBOLYZE_TEST_KBTF_EMPTY": "1"})
    assert ready
    assert memfds == 1 and opens >= 2
    p = sdt(5)
    w = run_watch(watch, {"SYMBOLYZE_TEST_KBTF_EMPTY": "1"}, "--count")
    f = w.wait_found(p.pid, "sdt_fire_sema")
    assert f["probed"]
    assert p.fire()["sema_fired"] == 5
    p.close()
    assert w.stop() == 0
    counts = {(c["symbol"], c.get("kind")): c["calls"] for c in w.of("count", p.pid)}
    assert counts == dict([(("sdt_fire_sema", None), 5)] +
                          [(("sztest:" + n, "usdt"), 5) for n in SDT_PROBES])
