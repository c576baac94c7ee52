#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# Install the Debian packages symbolyze builds and tests with, if missing.
set -euo pipefail
pkgs=(make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libcmocka-dev pkg-config
      libpython3-dev python3 libclang-rt-14-dev binutils clang-tidy cppcheck clang-format
      man-db groff-base util-linux python3-pytest
      liblzma-dev xz-utils libcap2-bin strace systemd debhelper dpkg-dev lintian)
# watch --metrics: the HTTP server, and a real Prometheus for its test.
pkgs+=(libmicrohttpd-dev prometheus)
# --stacks: elfutils libdw unwinds user stacks with the files' CFI.
pkgs+=(libdw-dev)
# libc's static functions (__libc_start_call_main) named through its build-ID debug files:
# test_stacks' chains and the stacks bench's depth rows name every libc frame with them.
pkgs+=(libc6-dbg)
# --pprof FILE: protoc-c generates the profile's C; go tool pprof reads it in the tests.
pkgs+=(libprotobuf-c-dev protobuf-c-compiler golang-go)
# USDT: <sys/sdt.h> for the fixture; python3.11 and PostgreSQL 15 are real targets.
pkgs+=(systemtap-sdt-dev python3.11 postgresql-15 postgresql-client-15)
# --arg on the real libssl: the SSL_write fixture links it; openssl makes its certificate.
pkgs+=(libssl-dev openssl)
# The benchmark also measures the tools users would otherwise reach for.
[ "${1:-}" = bench ] && pkgs+=(bpftrace bpfcc-tools libllvm15)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}; run as root (sudo make ...) to install them" >&2
	exit 3
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
