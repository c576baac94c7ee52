// SPDX-License-Identifier: BSD-2-Clause
/*
 * Example of the public libsymbolyze API only: print "pid address path" for
 * SYMBOL in every process (or in PID) that maps a file matching GLOB.
 *   find_symbol GLOB SYMBOL [PID]    exit 0 if found, 1 if not, 2 on errors
 *   cc find_symbol.c $(pkg-config --cflags --libs symbolyze)
 */
#include <symbolyze.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_found(const struct sz_found *f, void *ctx)
{
	printf("%d 0x%" PRIx64 " %s\n", (int)f->pid, f->address, f->path);
	return SZ_CONTINUE;
}

static void on_problem(const struct sz_problem *p, void *ctx)
{
	/* Each (file, symbol, reason) once; repeats are only counted. */
	if (!p->first)
		return;
	fprintf(stderr, "find_symbol: pid %d %s: %s [%s]\n", (int)p->pid,
		p->path ? p->path : "-", p->message, sz_reason_str(p->reason));
}

int main(int argc, char **argv)
{
	const char *symbols[1];
	struct sz_scanner *s;
	struct sz_stats st = { .sz = sizeof(st) };
	pid_t pid = 0;
	int err;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: find_symbol GLOB SYMBOL [PID]\n");
		return 2;
	}
	if (argc == 4) {
		char *end;
		long v;

		errno = 0;
		v = strtol(argv[3], &end, 10);
		if (errno || *end || end == argv[3] || v <= 0 || v > INT_MAX) {
			fprintf(stderr, "find_symbol: bad PID '%s'\n", argv[3]);
			return 2;
		}
		pid = (pid_t)v;
	}
	symbols[0] = argv[2];

	SZ_OPTS(sz_scanner_opts, opts, .glob = argv[1], .symbols = symbols, .nsymbols = 1,
		.pid = pid);
	err = sz_scanner_new(&opts, &s);
	if (err) {
		fprintf(stderr, "find_symbol: sz_scanner_new: %s\n", strerror(-err));
		return 2;
	}
	sz_scanner_on_found(s, on_found, NULL);
	sz_scanner_on_problem(s, on_problem, NULL);
	err = sz_scanner_scan(s);
	sz_scanner_stats(s, &st);
	sz_scanner_free(s);
	if (err < 0) {
		fprintf(stderr, "find_symbol: scan: %s\n", strerror(-err));
		return 2;
	}
	fprintf(stderr,
		"find_symbol: %" PRIu64 " found in %" PRIu64 " loads; %" PRIu64
		" processes, %" PRIu64 " unreadable, %" PRIu64 " files parsed\n",
		st.found, st.mappings, st.processes, st.processes_unreadable, st.files_parsed);
	return st.found ? 0 : 1;
}
