# SPDX-License-Identifier: BSD-2-Clause
"""symbolyze.service: `systemd-analyze verify` on the unit `make install`
writes (into a temporary prefix), and the unit's confinement reproduced by
hand -- systemd is not PID 1 on the test hosts -- with its own capability
set read from the unit: uid 65534, no_new_privs, / read-only, /home and /root
hidden, a private /tmp.  watch --count --freeze must still count every call of
a root process whose library lives under the hidden /root.

    python3 -m pytest tests/integration/test_service.py --bin build/symbolyze \
        --fixture-dir build/fixtures
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if os.geteuid() != 0:
    pytest.skip("needs root", allow_module_level=True)


@pytest.fixture(scope="module")
def prefix():
    d = tempfile.mkdtemp(prefix="sz-service-")
    try:
        r = subprocess.run(["make", "--no-print-directory", "install", "PREFIX=" + d],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        yield d
    finally:
        shutil.rmtree(d)


def unit_path(prefix):
    return os.path.join(prefix, "lib/systemd/system/symbolyze.service")


def unit_value(prefix, key):
    with open(unit_path(prefix)) as f:
        vals = re.findall(r"^%s=(.*)$" % key, f.read(), re.M)
    assert len(vals) == 1, (key, vals)
    return vals[0]


def test_unit_verifies(prefix):
    # verify checks Documentation=man:symbolyze(8) too: the installed page.
    env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man"))
    r = subprocess.run(["systemd-analyze", "verify", unit_path(prefix)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_unit_runs_installed_binary_with_env_file_arguments(prefix):
    assert unit_value(prefix, "ExecStart") == \
        os.path.join(prefix, "bin/symbolyze") + " watch $SYMBOLYZE_ARGS"
    env_file = unit_value(prefix, "EnvironmentFile")
    assert env_file == os.path.join(prefix, "etc/default/symbolyze")
    with open(env_file) as f:
        args = re.findall(r"^SYMBOLYZE_ARGS=\"(.*)\"$", f.read(), re.M)
    assert len(args) == 1
    # The shipped arguments are a valid watch serving metrics on loopback.
    argv = args[0].split()
    assert argv[argv.index("--metrics") + 1].startswith("127.0.0.1:")
    binary = os.path.join(prefix, "bin/symbolyze")
    r = subprocess.run([binary, "watch", "--json"] + argv[:argv.index("--metrics") + 1] +
                       ["127.0.0.1:0"] + argv[argv.index("--metrics") + 2:] + ["-d", "0.5"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout.splitlines()[0])
    assert first["event"] == "metrics" and first["address"] == "127.0.0.1", r.stdout[:500]


def test_unit_capabilities_are_the_documented_set(prefix):
    caps = unit_value(prefix, "AmbientCapabilities").split()
    assert caps == unit_value(prefix, "CapabilityBoundingSet").split()
    assert sorted(caps) == sorted(["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH",
                                   "CAP_KILL"])
    for key, want in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                      ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                      ("Restart", "on-failure")):
        assert unit_value(prefix, key) == want


# The unit's confinement, by hand: a mount namespace with / read-only and
# /home, /root, /run/user and /tmp replaced by empty file systems, then the
# unprivileged user with exactly the unit's ambient capabilities.
SANDBOX = r"""
set -e
mount --make-rprivate /
mount -o bind,remount,ro /
for d in /home /root /run/user; do [ -d $d ] && mount -t tmpfs -o mode=000 none $d; done
mount -t tmpfs -o mode=1777 none /tmp
exec setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs \
    --inh-caps="$CAPS" --ambient-caps="$CAPS" --bounding-set="$CAPS" "$@"
"""


@pytest.fixture
def fixtures(request):
    return os.path.abspath(request.config.getoption("--fixture-dir"))


def test_confined_like_the_unit_it_still_counts(prefix, fixtures):
    caps = unit_value(prefix, "AmbientCapabilities").split()
    capset = ",".join(["-all"] + ["+" + c[4:].lower() for c in caps])
    hidden = tempfile.mkdtemp(prefix="sz-service-", dir="/root")
    work = tempfile.mkdtemp(prefix="sz-service-bin-", dir="/var/tmp")
    w = c = None
    try:
        os.chmod(work, 0o755)
        binary = os.path.join(work, "symbolyze")
        shutil.copy(os.path.join(prefix, "bin/symbolyze"), binary)
        lib = os.path.join(hidden, "libfixsvc.so")
        shutil.copy(os.path.join(fixtures, "libfix.so"), lib)
        w = subprocess.Popen(["unshare", "--mount", "sh", "-c", SANDBOX, "sandbox", binary,
                              "watch", "--json", "-g", "libfixsvc.so", "-s", "fix_func",
                              "--count", "--freeze", "--metrics", "127.0.0.1:0"],
                             env=dict(os.environ, CAPS=capset), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        # The metrics endpoint comes first (its port), then the watch is live.
        line = w.stdout.readline()
        assert line and json.loads(line)["event"] == "metrics", line + w.stderr.read()
        port = json.loads(line)["port"]
        line = w.stdout.readline()
        assert line and json.loads(line)["event"] == "ready", line + w.stderr.read()
        c = subprocess.Popen([os.path.join(fixtures, "caller"), lib, "40000"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
        deadline = time.time() + 30
        out = ""
        while time.time() < deadline and not out.startswith("done"):
            out = c.stdout.readline()
            if not out:
                break
        assert out.startswith("done"), "caller did not finish"
        # Scraped as Prometheus would, from outside the confinement.
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=15) as r:
            text = r.read().decode()
        assert 'symbolyze_calls_total{symbol="fix_func",path="%s",comm="caller"} 40000' \
            % lib in text.splitlines(), text[:2000]
        w.send_signal(2)
        stdout, stderr = w.communicate(timeout=30)
        assert w.returncode == 0, stderr
        recs = [json.loads(l) for l in stdout.splitlines() if l.strip()]
        counts = {(r["pid"], r["symbol"]): r["calls"] for r in recs if r["event"] == "count"}
        assert counts == {(c.pid, "fix_func"): 40000}, stderr
    finally:
        for p in (w, c):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(hidden)
        shutil.rmtree(work)
