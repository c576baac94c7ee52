# SPDX-License-Identifier: BSD-2-Clause
"""Hostile input: file names with quotes, control bytes and invalid UTF-8;
ELF files that lie about their sizes. Output stays unambiguous, memory stays
bounded, the real symbols still resolve."""
import os
import shutil
import struct
import subprocess
import time


def test_hostile_file_names_are_escaped(sz, target, scratch):
    """Quotes, control bytes and invalid UTF-8 in a mapped file's name: JSON
    stays valid, text stays one line per record, both unambiguous."""
    lib = os.path.join(scratch.encode(), b'libhost"ile\x01\x1b[31m\xff\\.so')
    shutil.copy(sz.fix("libfix.so"), lib)
    tg = target(sz.fix("target-pie").encode(), b"-l", lib, b"-s", b"fix_func")
    s = sz.scan("libhost*", ["fix_func"], tg.pid)  # decodes as strict UTF-8
    assert s.summary["found"] == 1
    assert [int(x["address"], 16) for x in s.found()] == [tg.truth[0][2]]
    assert s.found()[0]["path"] == scratch + '/libhost"ile\\x01\\x1b[31m\\xff\\\\.so'
    r = sz.run("scan", "-g", "libhost*", "-s", "fix_func", "-p", str(tg.pid), text=False,
               expect=0)
    assert len([line for line in r.stdout.split(b"\n") if line]) == 2, r.stdout  # header, record
    assert not [c for c in r.stdout if c < 0x20 and c != 0x0a or c == 0x7f], r.stdout
    assert b"\xff" not in r.stdout, "invalid UTF-8 passed through"


def max_anon_kib(argv, timeout=120):
    """Run ARGV, sampling its anonymous memory; returns (exit code, peak KiB)."""
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    deadline = time.monotonic() + timeout
    while p.poll() is None and time.monotonic() < deadline:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.002)  # the sampling period: this loop measures, it waits for nothing
    if p.poll() is None:
        p.kill()
        p.wait()
        raise AssertionError("%s did not finish in %ds" % (argv, timeout))
    return p.returncode, peak


def section_headers(data):
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3a)
    return [shoff + i * shentsize for i in range(shnum)]


def symtab_headers(data):
    return [sh for sh in section_headers(data) if struct.unpack_from("<I", data, sh + 4)[0] == 2]


def test_lying_huge_elf_stays_bounded(sz, scratch):
    """A 400 MB file whose .symtab claims 12 million symbols, and a compressed
    section claiming 4 GiB: errors or no-finds, no crash, little memory."""
    with open(sz.fix("libfix.so"), "rb") as f:
        src = f.read()
    func = sz.resolve(sz.fix("libfix.so"), "fix_func")
    data = bytearray(src)
    assert len(symtab_headers(data)) == 1
    for sh in symtab_headers(data):  # SHT_SYMTAB: point it at 300 MB of zeros
        struct.pack_into("<QQ", data, sh + 0x18, 64 << 20, 300 << 20)
    huge = os.path.join(scratch, "libhuge.so")
    with open(huge, "wb") as f:
        f.write(data)
        f.truncate(400 << 20)
    rc, peak = max_anon_kib([sz.bin, "resolve", "--json", huge, "no_such_symbol"])
    assert rc == 1
    assert sz.resolve(huge, "no_such_symbol", expect=1) is None
    assert peak < 32 * 1024, "anonymous memory peaked at %d KiB" % peak
    # The real symbols still resolve through .dynsym.
    rec = sz.resolve(huge, "fix_func")
    assert (rec["value"], rec["type"], rec["table"]) == (func["value"], "func", "dynsym")
    # A compressed .symtab claiming 4 GiB uncompressed.
    data = bytearray(src)
    for sh in symtab_headers(data):
        flags, = struct.unpack_from("<Q", data, sh + 8)
        struct.pack_into("<Q", data, sh + 8, flags | 0x800)  # SHF_COMPRESSED
        off, = struct.unpack_from("<Q", data, sh + 0x18)
        struct.pack_into("<IIQQ", data, off, 1, 0, 4 << 30, 1)  # Elf64_Chdr, zlib
    chdr = os.path.join(scratch, "libchdr.so")
    with open(chdr, "wb") as f:
        f.write(data)
    rc, peak = max_anon_kib([sz.bin, "resolve", "--json", chdr, "fix_local"])
    assert rc == 1, "a lying compressed .symtab resolved fix_local"
    assert peak < 32 * 1024, "anonymous memory peaked at %d KiB" % peak
    assert sz.resolve(chdr, "fix_func")["value"] == func["value"]
