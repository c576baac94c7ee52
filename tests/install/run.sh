#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# End-to-end test of "make install": install into a temporary PREFIX, build
# examples/find_symbol.c against it with nothing but pkg-config (shared and
# static), and check that it finds in a live process the address that process
# reports for its own symbol.  Run from the top directory after "make all", as
# root (reading another process's map_files needs CAP_SYS_ADMIN):
#   bash tests/install/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BUILD=${BUILD:-build}
FIX=$BUILD/fixtures
CC=${CC:-cc}
passed=0 failed=0
target_pid=

tmp=$(mktemp -d /tmp/symbolyze-install.XXXXXX) || exit 1
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup()
{
	if [[ -n $target_pid ]]; then
		exec 3>&- # closing its stdin ends the target
		kill "$target_pid" 2>/dev/null
		wait "$target_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [[ $# -gt 1 ]] && sed 's/^/     /' "$2"; return 0; }
# check NAME COMMAND...: pass if COMMAND succeeds, else show its output.
check()
{
	local name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then pass "$name"; else fail "$name" "$tmp/out"; fi
}

finish()
{
	echo "install: $passed passed, $failed failed"
	[[ $failed -eq 0 ]]
	exit
}

for f in "$BUILD/symbolyze" "$BUILD/libsymbolyze.so" "$FIX/target-pie" "$FIX/libfix.so"; do
	[[ -e $f ]] || { echo "install: $f missing: run make all first"; fail "prerequisites"; finish; }
done

# --- install ------------------------------------------------------------------
prefix=$tmp/prefix
if ! make --no-print-directory install PREFIX="$prefix" >"$tmp/make.log" 2>&1; then
	fail "make install PREFIX=$prefix" "$tmp/make.log"
	finish
fi
pass "make install"

missing=
for f in bin/symbolyze lib/libsymbolyze.a lib/libsymbolyze.so.0.1.0 lib/libsymbolyze.so.0 \
	lib/libsymbolyze.so include/symbolyze.h lib/pkgconfig/symbolyze.pc \
	share/man/man8/symbolyze.8; do
	[[ -e $prefix/$f ]] || missing+=" $f"
done
if [[ -z $missing ]]; then pass "installed files"; else fail "installed files: missing$missing"; fi
if [[ $(readlink "$prefix/lib/libsymbolyze.so") == libsymbolyze.so.0 &&
	$(readlink "$prefix/lib/libsymbolyze.so.0") == libsymbolyze.so.0.1.0 ]]; then
	pass "library symlinks"
else
	# shellcheck disable=SC2012
	fail "library symlinks: $(ls -l "$prefix"/lib/libsymbolyze.so* 2>&1 | tr '\n' ' ')"
fi
soname=$(readelf -d "$prefix/lib/libsymbolyze.so.0.1.0" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
if [[ $soname == libsymbolyze.so.0 ]]; then pass "soname"; else fail "soname is '$soname'"; fi

# Every function the header declares SZ_API is exported by the shared library.
unexported=""
for f in $(grep -o 'SZ_API [^(]*(' include/symbolyze.h | grep -o 'sz_[a-z_]*($' | tr -d '('); do
	nm -D --defined-only "$prefix/lib/libsymbolyze.so.0.1.0" | grep -w "$f" >/dev/null || unexported+=" $f"
done
if [[ -z $unexported ]]; then pass "API exported"; else fail "not exported:$unexported"; fi

# pkg-config sees the installed prefix and nothing else of ours.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
check "pkg-config --exists symbolyze" pkg-config --exists --print-errors symbolyze
if [[ $(pkg-config --variable=prefix symbolyze) == "$prefix" ]]; then
	pass "pkg-config prefix"
else
	fail "pkg-config prefix is '$(pkg-config --variable=prefix symbolyze)'"
fi
if [[ $(pkg-config --modversion symbolyze) == "$("$prefix/bin/symbolyze" --version | cut -d' ' -f2)" ]]; then
	pass "pkg-config version matches symbolyze --version"
else
	fail "pkg-config version $(pkg-config --modversion symbolyze)"
fi

# --- the installed tool and man page -----------------------------------------
out=$("$prefix/bin/symbolyze" --version 2>&1)
if [[ $out =~ ^symbolyze\ [0-9]+\.[0-9]+\.[0-9]+$ ]]; then pass "symbolyze --version: $out"; else fail "symbolyze --version: '$out'"; fi
if MANWIDTH=80 man -l "$prefix/share/man/man8/symbolyze.8" >"$tmp/man.txt" 2>"$tmp/man.err" &&
	[[ ! -s $tmp/man.err ]] && grep -q '^NAME' "$tmp/man.txt" && grep -q '^EXIT STATUS' "$tmp/man.txt"; then
	pass "man page renders"
else
	cat "$tmp/man.err" >>"$tmp/man.txt"
	fail "man page renders" "$tmp/man.txt"
fi
check "man page has no groff warnings" bash -c \
	"groff -man -ww -z '$prefix/share/man/man8/symbolyze.8' 2>&1 | { ! grep .; }"

# --- build the example against the installed library -------------------------
# Nothing from the source tree: the flags are pkg-config's alone.
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
if $CC -o "$tmp/find_symbol" examples/find_symbol.c \
	$(pkg-config --cflags --libs symbolyze) -Wl,-rpath,"$prefix/lib" >"$tmp/cc.log" 2>&1; then
	pass "example builds (shared)"
else
	fail "example builds (shared)" "$tmp/cc.log"
fi
if readelf -d "$tmp/find_symbol" 2>/dev/null | grep 'NEEDED.*\[libsymbolyze\.so\.0\]' >/dev/null &&
	LD_TRACE_LOADED_OBJECTS=1 "$tmp/find_symbol" 2>/dev/null | grep -F "$prefix/lib/libsymbolyze.so.0" >/dev/null; then
	pass "shared example loads the installed libsymbolyze.so.0"
else
	fail "shared example loads the installed libsymbolyze.so.0"
fi

# Static: the archive and its Requires.private (libbpf, libelf, zlib).
# shellcheck disable=SC2046
if $CC -static -o "$tmp/find_symbol_static" examples/find_symbol.c \
	$(pkg-config --static --cflags --libs symbolyze) >"$tmp/cc-static.log" 2>&1; then
	pass "example builds (static)"
else
	fail "example builds (static)" "$tmp/cc-static.log"
fi
if [[ -x $tmp/find_symbol_static ]] && ! readelf -d "$tmp/find_symbol_static" 2>/dev/null | grep NEEDED >/dev/null; then
	pass "static example needs no shared library"
else
	fail "static example needs no shared library"
fi

# --- run it against a live process ----------------------------------------------
# The target prints "addr BIAS fix_func ADDRESS" (its own dlsym) then "ready",
# and lives until its stdin closes.
mkfifo "$tmp/in"
"$FIX/target-pie" -l "$PWD/$FIX/libfix.so" -s fix_func <"$tmp/in" >"$tmp/target.out" 2>&1 &
target_pid=$!
exec 3>"$tmp/in"
for _ in $(seq 100); do
	grep -q '^ready$' "$tmp/target.out" && break
	kill -0 "$target_pid" 2>/dev/null || break
	sleep 0.05
done
want=$(awk '$1 == "addr" && $3 == "fix_func" { print $4 }' "$tmp/target.out")
if [[ -n $want ]] && grep -q '^ready$' "$tmp/target.out"; then
	pass "target ready: fix_func at $want"
else
	fail "target ready" "$tmp/target.out"
fi

# find_symbol prints "pid address path"; the address must be the target's own.
run_example()
{
	local name=$1 bin=$2 rc got

	"$bin" libfix.so fix_func "$target_pid" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	got=$(awk -v p="$target_pid" '$1 == p { print $2 }' "$tmp/$name.out")
	if [[ $rc -eq 0 && -n $want && $((got)) -eq $((want)) ]] &&
		[[ $(wc -l <"$tmp/$name.out") -eq 1 ]] &&
		grep -qF " $PWD/$FIX/libfix.so" "$tmp/$name.out"; then
		pass "$name finds fix_func at $got"
	else
		cat "$tmp/$name.out" "$tmp/$name.err" >"$tmp/$name.log"
		echo "exit $rc, want $want" >>"$tmp/$name.log"
		fail "$name finds fix_func" "$tmp/$name.log"
	fi
	# And says so when nothing matches.
	"$bin" libfix.so no_such_symbol "$target_pid" >"$tmp/$name.none" 2>&1
	rc=$?
	if [[ $rc -eq 1 ]]; then pass "$name exits 1 when nothing matches"; else fail "$name: nothing matched but exit $rc" "$tmp/$name.none"; fi
}
[[ -x $tmp/find_symbol ]] && run_example find_symbol "$tmp/find_symbol"
[[ -x $tmp/find_symbol_static ]] && run_example find_symbol_static "$tmp/find_symbol_static"

# The installed CLI agrees.
if "$prefix/bin/symbolyze" scan -g libfix.so -s fix_func -p "$target_pid" --json >"$tmp/cli.out" 2>&1 &&
	grep -q "\"address\":\"$want\"" "$tmp/cli.out"; then
	pass "installed symbolyze scan agrees"
else
	fail "installed symbolyze scan agrees" "$tmp/cli.out"
fi

# --- uninstall ------------------------------------------------------------------
if make --no-print-directory uninstall PREFIX="$prefix" >"$tmp/make.log" 2>&1 &&
	[[ -z $(find "$prefix" ! -type d) ]]; then
	pass "make uninstall leaves no file"
else
	find "$prefix" ! -type d >>"$tmp/make.log"
	fail "make uninstall leaves no file" "$tmp/make.log"
fi

finish
