// SPDX-License-Identifier: BSD-2-Clause
/*
 * Test driver for USDT attach over the library API (the CLI's -u comes with
 * the pipeline rework): our parser finds the probes of FILE matching
 * PROVIDER:NAME, libbpf attaches them (semaphores included), and hits are
 * counted or traced with typed arguments, as JSON Lines, until SIGINT/SIGTERM.
 *   usdt_drive count|trace FILE PID|-1 PROVIDER:NAME [--str NAME:N]...
 * --str NAME:N reads argument N (from 0) of probe NAME as a C string: USDT
 * specs give sizes and signs, not types, so strings are the caller's word.
 */
#include "cli/output.h"
#include "consumers/usdt.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

/* SZ_DRIVE_DEBUG=1: libbpf's own account of the attach, on stderr */
static __attribute__((format(printf, 2, 0))) int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct drive {
	const struct sz_usdt_probe *by_id[SZ_USDT_MAX_IDS];
};

static int on_hit(const struct sz_usdt_hit *h, void *ctx)
{
	struct drive *d = ctx;
	const struct sz_usdt_probe *p = d->by_id[h->probe];

	if (!p)
		return 0;
	printf("{\"event\":\"hit\",\"provider\":");
	sz_json_str(stdout, p->provider);
	printf(",\"name\":");
	sz_json_str(stdout, p->name);
	printf(",\"pid\":%d,\"tid\":%d,\"comm\":", (int)h->pid, (int)h->tid);
	sz_json_str(stdout, h->comm);
	printf(",\"args\":[");
	for (int i = 0; i < h->nargs; i++) {
		const struct sz_usdt_arg *a = &p->args[i];

		if (i)
			putchar(',');
		if (h->str[i]) {
			printf("{\"type\":\"str\",\"value\":");
			sz_json_str(stdout, h->str[i]);
			putchar('}');
		} else if (a->is_signed) {
			printf("{\"type\":\"s%d\",\"value\":%" PRId64 "}", 8 * a->size,
			       h->sargs[i]);
		} else {
			printf("{\"type\":\"u%d\",\"value\":%" PRIu64 "}", 8 * a->size,
			       h->uargs[i]);
		}
	}
	printf("]}\n");
	return 0;
}

static void on_count(pid_t pid, uint32_t probe, uint64_t hits, void *ctx)
{
	struct drive *d = ctx;
	const struct sz_usdt_probe *p = probe < SZ_USDT_MAX_IDS ? d->by_id[probe] : NULL;

	/* an id we never gave out is printed too: nothing is dropped unsaid */
	printf("{\"event\":\"count\",\"pid\":%d,\"id\":%u,\"provider\":", (int)pid, probe);
	sz_json_str(stdout, p ? p->provider : NULL);
	printf(",\"name\":");
	sz_json_str(stdout, p ? p->name : NULL);
	printf(",\"calls\":%" PRIu64 "}\n", hits);
}

/* The --str NAME:N options that name probe NAME, as a bit mask. */
static uint32_t str_mask(int argc, char **argv, const char *name)
{
	uint32_t mask = 0;

	for (int i = 5; i + 1 < argc; i += 2) {
		const char *c = strrchr(argv[i + 1], ':');
		int n = c ? atoi(c + 1) : -1;

		if (!strcmp(argv[i], "--str") && c && n >= 0 && n < SZ_USDT_NARGS &&
		    (size_t)(c - argv[i + 1]) == strlen(name) &&
		    !strncmp(argv[i + 1], name, strlen(name)))
			mask |= 1u << n;
	}
	return mask;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct sz_usdt_pattern pat;
	struct sz_usdt_mgr *m = NULL;
	struct sz_usdt_set *set = NULL;
	struct drive d = { { 0 } };
	struct sz_elf *e = NULL;
	uint32_t nid = 0;
	char err[256];
	int fd, r, trace;
	pid_t pid;

	if (argc < 5 || (strcmp(argv[1], "count") && strcmp(argv[1], "trace"))) {
		fprintf(stderr, "usage: usdt_drive count|trace FILE PID|-1 PROVIDER:NAME "
				"[--str N]...\n");
		return 2;
	}
	trace = !strcmp(argv[1], "trace");
	pid = (pid_t)atoi(argv[3]);
	if (sz_usdt_pattern_compile(argv[4], &pat, err, sizeof(err))) {
		fprintf(stderr, "usdt_drive: %s\n", err);
		return 2;
	}
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || sz_elf_open(fd, &e, err, sizeof(err)) ||
	    sz_usdt_read(e, &set, err, sizeof(err))) {
		fprintf(stderr, "usdt_drive: %s: %s\n", argv[2], fd < 0 ? strerror(errno) : err);
		return 1;
	}
	if (getenv("SZ_DRIVE_DEBUG"))
		libbpf_set_print(libbpf_log);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	r = sz_usdt_mgr_new(trace ? SZ_USDT_TRACE : SZ_USDT_COUNT, &m, err, sizeof(err));
	if (r) {
		fprintf(stderr, "usdt_drive: %s\n", err);
		return 3;
	}
	for (size_t i = 0; i < set->n; i++) {
		const struct sz_usdt_probe *p = &set->probes[i];
		int dup = 0;

		if (!sz_usdt_pattern_match(&pat, p))
			continue;
		/* libbpf attaches every site of one provider:name at once */
		for (uint32_t k = 0; k < nid; k++)
			dup |= !strcmp(d.by_id[k]->provider, p->provider) &&
			       !strcmp(d.by_id[k]->name, p->name);
		if (dup)
			continue;
		r = sz_usdt_mgr_attach(m, fd, pid, p, nid, str_mask(argc, argv, p->name), err,
				       sizeof(err));
		printf("{\"event\":\"probe\",\"provider\":");
		sz_json_str(stdout, p->provider);
		printf(",\"name\":");
		sz_json_str(stdout, p->name);
		printf(",\"semaphore\":%s,\"attached\":%s,\"error\":", p->sema ? "true" : "false",
		       r ? "false" : "true");
		sz_json_str(stdout, r ? err : NULL);
		printf("}\n");
		if (!r)
			d.by_id[nid++] = p;
	}
	printf("{\"event\":\"ready\",\"attached\":%zu}\n", sz_usdt_mgr_attached(m));
	fflush(stdout);
	while (!stop) {
		if (trace) {
			r = sz_usdt_mgr_poll(m, 100, on_hit, &d);
			fflush(stdout);
			if (r < 0) {
				fprintf(stderr, "usdt_drive: poll: %s\n", strerror(-r));
				break;
			}
		} else {
			usleep(100000);
		}
	}
	sz_usdt_mgr_detach(m);
	if (trace)
		sz_usdt_mgr_poll(m, 0, on_hit, &d); /* what was queued before detach */
	else
		sz_usdt_mgr_counts(m, on_count, &d);
	printf("{\"event\":\"summary\",\"attached\":%u,\"drops\":%" PRIu64 "}\n", nid,
	       sz_usdt_mgr_drops(m));
	sz_usdt_mgr_free(m);
	sz_usdt_set_free(set);
	sz_elf_close(e);
	close(fd);
	return 0;
}
