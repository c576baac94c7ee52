// SPDX-License-Identifier: BSD-2-Clause
/*
 * Test and bench driver for multi-uprobe links, over the library API (the CLI
 * wiring of -s GLOB comes with the pipeline rework): every function of LIB
 * whose name matches GLOB gets a counting uprobe, cookie = its rank by name.
 *   umulti_drive LIB GLOB MODE --run OUT PROG [ARGS...]   count PROG's calls,
 *       detach, run PROG again; JSON Lines on stdout (PROG's stdout to OUT)
 *   umulti_drive LIB GLOB MODE --bench    "ready" once live, detach on SIGINT
 * MODE: auto, multi or single (one perf-event uprobe per function).
 */
#include "consumers/umulti_count.h"
#include "elf/sz_elf.h"
#include "util/glob.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct fn {
	char *name;
	uint64_t off;
};

struct fns {
	struct fn *v;
	size_t n, cap;
	struct sz_glob g;
	struct sz_layout l;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int collect(const struct sz_elf_sym *s, void *ctx)
{
	struct fns *f = ctx;
	uint64_t off;

	if (s->type != STT_FUNC || !sz_glob_match(&f->g, s->name, s->name_len) ||
	    sz_elf_vaddr_to_offset(&f->l, s->value, &off))
		return 0;
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 1024;
		f->v = realloc(f->v, f->cap * sizeof(*f->v));
		if (!f->v)
			exit(3);
	}
	f->v[f->n].name = strndup(s->name, s->name_len);
	f->v[f->n++].off = off;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct fn *)a)->name, ((const struct fn *)b)->name);
}

static int run(const char *out, char **argv)
{
	int st, fd;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (!pid) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -ECHILD;
}

int main(int argc, char **argv)
{
	enum sz_umulti_mode mode;
	struct fns f = { 0 };
	struct sz_ucount *c = NULL;
	struct sz_umulti *m = NULL;
	struct sz_elf *e = NULL;
	uint64_t t0 = now_ns(), t1, t2, *offs, *cookies, *counts, *after;
	char err[256];
	int fd, r, bench;

	if (argc < 5 || (strcmp(argv[4], "--bench") && (strcmp(argv[4], "--run") || argc < 7))) {
		fprintf(stderr, "usage: umulti_drive LIB GLOB auto|multi|single "
				"(--run OUT PROG [ARGS...] | --bench)\n");
		return 2;
	}
	bench = !strcmp(argv[4], "--bench");
	mode = !strcmp(argv[3], "multi")    ? SZ_UMULTI_MULTI
	       : !strcmp(argv[3], "single") ? SZ_UMULTI_SINGLE
					    : SZ_UMULTI_AUTO;
	if (sz_glob_compile(argv[2], &f.g)) {
		fprintf(stderr, "umulti_drive: bad glob '%s'\n", argv[2]);
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || sz_elf_open(fd, &e, err, sizeof(err))) {
		fprintf(stderr, "umulti_drive: %s: %s\n", argv[1], fd < 0 ? strerror(errno) : err);
		return 1;
	}
	sz_elf_layout(e, &f.l);
	sz_elf_for_each(e, SZ_TAB_DYNSYM, collect, &f);
	if (!f.n) {
		fprintf(stderr, "umulti_drive: no function matches '%s'\n", argv[2]);
		return 1;
	}
	qsort(f.v, f.n, sizeof(*f.v), by_name);
	offs = calloc(f.n, sizeof(*offs));
	cookies = calloc(f.n, sizeof(*cookies));
	counts = calloc(f.n, sizeof(*counts));
	after = calloc(f.n, sizeof(*after));
	if (!offs || !cookies || !counts || !after)
		return 3;
	for (size_t i = 0; i < f.n; i++) {
		offs[i] = f.v[i].off;
		cookies[i] = i;
	}
	r = sz_ucount_new(f.n, mode, &c, err, sizeof(err));
	if (!r) {
		struct sz_umulti_spec s = { .fd = fd,
					    .pid = -1,
					    .cnt = f.n,
					    .offsets = offs,
					    .cookies = cookies };

		t1 = now_ns();
		r = sz_umulti_attach(sz_ucount_prog(c), &s, &m, err, sizeof(err));
	}
	if (r) {
		fprintf(stderr, "umulti_drive: %s\n", err);
		return 3;
	}
	t2 = now_ns();
	printf("{\"event\":\"attached\",\"probes\":%zu,\"multi\":%s,\"setup_ns\":%" PRIu64
	       ",\"attach_ns\":%" PRIu64 "}\n",
	       sz_umulti_probes(m), sz_umulti_is_multi(m) ? "true" : "false", t1 - t0, t2 - t1);
	fflush(stdout);
	if (bench) {
		sigset_t set;
		int sig;

		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
		printf("ready\n");
		fflush(stdout);
		sigwait(&set, &sig);
		sz_umulti_detach(m);
		sz_ucount_free(c);
		return 0;
	}
	if (run(argv[5], argv + 6)) {
		fprintf(stderr, "umulti_drive: %s failed\n", argv[6]);
		sz_umulti_detach(m);
		return 1;
	}
	r = sz_ucount_read(c, counts);
	t1 = now_ns();
	sz_umulti_detach(m);
	t2 = now_ns();
	for (size_t i = 0; !r && i < f.n; i++)
		printf("{\"event\":\"count\",\"symbol\":\"%s\",\"calls\":%" PRIu64 "}\n",
		       f.v[i].name, counts[i]);
	printf("{\"event\":\"detached\",\"detach_ns\":%" PRIu64 "}\n", t2 - t1);
	/* Detached means no probe left: the same calls again change nothing. */
	if (!r && !run(argv[5], argv + 6))
		r = sz_ucount_read(c, after);
	{
		uint64_t moved = 0;

		for (size_t i = 0; i < f.n; i++)
			moved += after[i] - counts[i];
		printf("{\"event\":\"summary\",\"probes\":%zu,\"read_error\":%d,\"misses\":%" PRIu64
		       ",\"calls_after_detach\":%" PRIu64 "}\n",
		       f.n, r, sz_ucount_misses(c), moved);
	}
	sz_ucount_free(c);
	sz_elf_close(e);
	close(fd);
	for (size_t i = 0; i < f.n; i++)
		free(f.v[i].name);
	free(f.v);
	free(counts);
	free(after);
	free(offs);
	free(cookies);
	return r ? 1 : 0;
}
