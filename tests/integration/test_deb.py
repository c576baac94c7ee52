# SPDX-License-Identifier: BSD-2-Clause
"""The Debian packages `make deb` built (in the build directory's deb/):
lintian reports no error; `apt-get install ./...deb` onto this machine, then
the installed command, unit, conffile and library are checked against ground
truth, and everything is purged again on every path.

    make deb && python3 -m pytest tests/integration/test_deb.py \
        --bin build/symbolyze --fixture-dir build/fixtures
"""
import fcntl
import glob
import json
import os
import re
import subprocess

import pytest

PKGS = ["symbolyze", "libsymbolyze0", "libsymbolyze-dev"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"]

if os.geteuid() != 0:
    pytest.skip("needs root (installs packages)", allow_module_level=True)


def header_version():
    with open(os.path.join(ROOT, "include/symbolyze.h")) as f:
        return re.search(r'#define SZ_VERSION "(.*)"', f.read()).group(1)


@pytest.fixture(scope="module")
def debs(request):
    d = os.path.join(os.path.dirname(os.path.abspath(request.config.getoption("--bin"))),
                     "deb")
    files = {p: glob.glob(os.path.join(d, "%s_*.deb" % p)) for p in PKGS}
    assert all(len(f) == 1 for f in files.values()), "run make deb first: %s" % files
    return {p: f[0] for p, f in files.items()}


def installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg],
                       capture_output=True, text=True)
    return r.stdout == "installed"


@pytest.fixture(scope="module")
def system(debs):
    """The three packages installed on this machine, purged afterwards."""
    with open("/tmp/sz-deb.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one package test on the host at a time
        if any(installed(p) for p in PKGS):
            pytest.skip("symbolyze packages already installed here; not touching them")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            r = subprocess.run(APT + ["install", "--no-install-recommends"] +
                               [debs[p] for p in PKGS], env=env, capture_output=True,
                               text=True, timeout=600)
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
            yield
        finally:
            subprocess.run(APT + ["purge"] + PKGS, env=env, capture_output=True, timeout=600)
            assert not any(installed(p) for p in PKGS)
            assert not os.path.exists("/usr/bin/symbolyze")
            assert not os.path.exists("/etc/default/symbolyze")


def test_lintian_reports_no_error(debs):
    r = subprocess.run(["lintian", "--no-tag-display-limit"] + list(debs.values()),
                       capture_output=True, text=True, timeout=600)
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    assert not errors, r.stdout
    print("lintian:\n" + r.stdout)


def test_version(system):
    r = subprocess.run(["/usr/bin/symbolyze", "--version"], capture_output=True, text=True)
    assert r.stdout == "symbolyze %s\n" % header_version()


def test_installed_scan_finds_dlsym_address(system, request):
    fix = os.path.abspath(request.config.getoption("--fixture-dir"))
    t = subprocess.Popen([os.path.join(fix, "target-pie"), "-l",
                          os.path.join(fix, "libfix.so"), "-s", "fix_func"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        truth = []
        for line in t.stdout:
            f = line.split()
            if f == ["ready"]:
                break
            if len(f) == 4 and f[0] == "addr":
                truth.append((int(f[1], 16), f[2], int(f[3], 16)))
        r = subprocess.run(["/usr/bin/symbolyze", "scan", "--json", "-g", "libfix.so", "-s",
                            "fix_func"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        recs = [json.loads(l) for l in r.stdout.splitlines()]
        got = sorted((int(x["load_bias"], 16), x["symbol"], int(x["address"], 16))
                     for x in recs if x["event"] == "found" and x["pid"] == t.pid)
        assert got == truth and truth
    finally:
        t.stdin.close()
        t.wait(timeout=10)


def test_unit_and_conffile(system):
    unit = "/lib/systemd/system/symbolyze.service"
    r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    with open(unit) as f:
        text = f.read()
    assert "ExecStart=/usr/bin/symbolyze watch $SYMBOLYZE_ARGS" in text
    assert "EnvironmentFile=/etc/default/symbolyze" in text
    r = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "symbolyze"],
                       capture_output=True, text=True)
    assert r.stdout.split()[0] == "/etc/default/symbolyze"
    # Installed, not enabled: a tracer on every process is the admin's call.
    assert not glob.glob("/etc/systemd/system/*/symbolyze.service")


def test_library_packages(system):
    multiarch = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"],
                               capture_output=True, text=True).stdout.strip()
    lib = "/usr/lib/%s/libsymbolyze.so.0" % multiarch
    r = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True)
    assert "Library soname: [libsymbolyze.so.0]" in r.stdout
    assert os.readlink("/usr/lib/%s/libsymbolyze.so" % multiarch) == "libsymbolyze.so.0"
    r = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
    assert r.stdout.startswith("libsymbolyze0:")
    r = subprocess.run(["pkg-config", "--modversion", "symbolyze"], capture_output=True,
                       text=True, env=dict(os.environ, PKG_CONFIG_PATH=""))
    assert r.stdout.strip() == header_version()
