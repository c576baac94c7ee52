#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# The bundled demo: start a target that loads a fixture library twice (once in
# its own link namespace), then show symbolyze finding its symbols next to the
# target's own dlsym() answers.
set -euo pipefail
B=${1:-build}
SZ=$B/symbolyze
FIX=$(cd "$B/fixtures" && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (sudo make demo): reading other processes' maps needs it" >&2
	exit 3
fi
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

coproc TARGET { exec "$FIX/target-pie" -l "$FIX/libfix.so" -m "$FIX/libfix.so" \
	-s fix_func -s fix_data -s fix_bss -s fix_local -s fix_ver@FIX_1; }
trap 'kill "$TARGET_PID" 2>/dev/null || true' EXIT
pid=$TARGET_PID
echo "demo target: pid $pid ($FIX/target-pie) loaded libfix.so twice; it says:"
addr=""
while read -r -u "${TARGET[0]}" line; do
	[ "$line" = ready ] && break
	echo "  $line"
	set -- $line
	[ -z "$addr" ] && [ "${3:-}" = fix_func ] && addr=$4
done

say "$SZ scan -g 'libfix*.so' -s fix_func -s fix_data -s fix_bss -s fix_local -s fix_ver@FIX_1"
"$SZ" scan -g 'libfix*.so' -s fix_func -s fix_data -s fix_bss -s fix_local -s fix_ver@FIX_1

say "$SZ scan -g 'libc.so*' -s malloc -s environ -p $pid --json"
"$SZ" scan -g 'libc.so*' -s malloc -s environ -p "$pid" --json

say "$SZ resolve $FIX/libfix.so fix_local"
"$SZ" resolve "$FIX/libfix.so" fix_local

say "$SZ symbolize -p $pid $addr $(printf '0x%x' $((addr + 4)))   # address -> function"
"$SZ" symbolize -p "$pid" "$addr" "$(printf '0x%x' $((addr + 4)))"

say "$SZ list $FIX/sdt -u 'sztest:*'   # USDT probes of a file"
"$SZ" list "$FIX/sdt" -u 'sztest:*'

say "$SZ scan -g 'libc.so*' -s malloc     # every process on this host (first lines)"
out=$(mktemp)
"$SZ" scan -g 'libc.so*' -s malloc >"$out"
head -n 12 "$out"
rm -f "$out"

say "$SZ watch -g 'libfix*.so' -s fix_func -d 4   # then new processes load libfix"
"$SZ" watch -g 'libfix*.so' -s fix_func -d 4 &
watch_pid=$!
sleep 1
echo "demo: starting a process that loads libfix-nosep.so, and one that loads libfix.so and exits at once"
"$FIX/target-pie" -l "$FIX/libfix-nosep.so" -s fix_func </dev/null | sed 's/^/  target says: /'
"$FIX/target-pie" -l "$FIX/libfix.so" -s fix_func </dev/null | sed 's/^/  target says: /'
wait "$watch_pid"

# A copy no process maps yet: its first loader is stopped until the probes
# are on (an inode that is probed already needs no stop).
fresh=$(mktemp -d)
cp "$FIX/libfix.so" "$fresh/libfixfresh.so"
say "$SZ watch -g 'libfixfresh.so' -s fix_func -s fix_args -s fix_data --count --freeze -d 3"
echo "demo: a process that calls fix_func 1000 times straight after dlopen(), and fix_args 3 times"
"$SZ" watch -g 'libfixfresh.so' -s fix_func -s fix_args -s fix_data --count --freeze -d 3 &
watch_pid=$!
sleep 1
"$FIX/caller" -x -a "$fresh/libfixfresh.so" 1000 | sed 's/^/  caller says: /'
wait "$watch_pid"
rm -rf "$fresh"

say "$SZ watch -g 'libfix.so' -s fix_args --trace -d 2"
"$SZ" watch -g 'libfix.so' -s fix_args --trace -d 2 &
watch_pid=$!
sleep 1
"$FIX/caller" -x -a "$FIX/libfix.so" 0 >/dev/null
wait "$watch_pid"

say "$SZ watch -g 'libfix.so' -s fix_sleep_ms --latency -d 2"
"$SZ" watch -g 'libfix.so' -s fix_sleep_ms --latency -d 2 &
watch_pid=$!
sleep 1
"$FIX/caller" -x -S 20 "$FIX/libfix.so" 0 >/dev/null
wait "$watch_pid"

# Who called it: user stacks unwound by CFI through a binary built without frame
# pointers (stackfix-nofp: 300 calls main -> sf_a -> sf_b -> sf_probed, 100 calls
# main -> sf_c -> sf_probed), folded for flame-graph tools.
say "$SZ watch -g 'stackfix-nofp' -s sf_probed --count --stacks --folded -d 3"
"$SZ" watch -g 'stackfix-nofp' -s sf_probed --count --stacks --folded -d 3 &
watch_pid=$!
sleep 1
(sleep 1; echo go) | "$FIX/stackfix-nofp" 300 100 -x >/dev/null
wait "$watch_pid"

