// SPDX-License-Identifier: BSD-2-Clause
/*
 * The /proc source and the scanner (the public one-shot API built on it):
 * every file mapping of every process becomes a mapping record for the
 * pipeline.  Nothing here resolves, opens or prints.
 */
#include "sources/scan.h"
#include "proc/cgroup.h"
#include "proc/maps.h"
#include "util/opts.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* No padding: every byte of the caller's struct is a named field, so the bytes
 * an initializer leaves unset are zero and checked (SZ_OPTS). */
_Static_assert(sizeof(struct sz_scanner_opts) ==
		       sizeof(size_t) + 2 * sizeof(char *) + sizeof(size_t) + sizeof(pid_t) +
			       sizeof(int) + sizeof(char *) + sizeof(size_t) + sizeof(char *) +
			       sizeof(size_t),
	       "struct sz_scanner_opts has padding: name the hole reservedN");

#define MAPS_MAX (256u << 20)

/* issue 13, --cgroup: is PID in the subtree?  The kernel paths test the
 * task's ancestor cgroup id in BPF; /proc has the path ("0::/a/b"). */
static int cgroup_ok(const struct sz_pipeline *p, pid_t pid)
{
	char path[4096];
	size_t n;

	if (!p->cgroup_under)
		return 1;
	if (sz_proc_cgroup(p->proc, pid, path, sizeof(path)))
		return 0; /* gone, or no v2 line: not provably inside */
	n = strlen(p->cgroup_under);
	while (n && p->cgroup_under[n - 1] == '/')
		n--; /* "" or "/": the root, everything */
	return !strncmp(path, p->cgroup_under, n) && (path[n] == '\0' || path[n] == '/');
}

int sz_scan_pid(struct sz_pipeline *p, pid_t pid, enum sz_source src, struct sz_scan_counts *c)
{
	struct sz_maps_iter it;
	struct sz_map v;
	uint64_t ts = sz_now_ns();
	int rc;

	if (!cgroup_ok(p, pid))
		return 0;

	rc = sz_maps_open(&it, p->proc, pid, MAPS_MAX);
	if (rc) {
		c->processes_unreadable++;
		sz_pipeline_problem(p, sz_reason_of(rc), rc, pid, NULL, NULL, NULL, 1,
				    "cannot read %s/%d/maps: %s", p->proc, (int)pid, strerror(-rc));
		return rc == -ENOMEM ? rc : 0;
	}
	c->processes++;
	while (!rc && sz_maps_next(&it, &v)) {
		struct sz_mapping m = {
			.pid = pid,
			.source = src,
			.start = v.start,
			.end = v.end,
			.pgoff = v.pgoff,
			.prot = v.prot,
			.flags = (v.shared ? SZ_MAPPING_SHARED : 0) |
				 (v.deleted ? SZ_MAPPING_DELETED : 0),
			.dev = sz_kdev(v.dev_major, v.dev_minor),
			.ino = v.ino,
			.path = v.path,
			.ts_ns = ts,
		};

		if (!sz_map_is_file(&v))
			continue;
		rc = sz_pipeline_submit(p, &m);
	}
	sz_maps_close(&it);
	return rc;
}

int sz_scan_all(struct sz_pipeline *p, pid_t only, struct sz_scan_counts *c)
{
	pid_t self = getpid();
	struct dirent *de;
	DIR *dir;
	int rc = 0;

	if (only > 0)
		return sz_scan_pid(p, only, SZ_SOURCE_SCAN, c);
	dir = opendir(p->proc);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		char *end;
		long pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid > 0x7fffffff)
			continue;
		/* Not ourselves: libelf reads the files we parse. */
		if ((pid_t)pid == self)
			continue;
		rc = sz_scan_pid(p, (pid_t)pid, SZ_SOURCE_SCAN, c);
		if (rc)
			break;
	}
	closedir(dir);
	return rc;
}

/* ---- the scanner: pipeline + this source, for the public API ---- */

struct sz_scanner {
	struct sz_scanner_opts opts;
	struct sz_pipeline *p;
	struct sz_scan_counts counts;
};

int sz_scanner_new(const struct sz_scanner_opts *opts, struct sz_scanner **out)
{
	struct sz_scanner *s;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	err = SZ_OPTS_COPY(&s->opts, opts);
	if (!err && s->opts.reserved0) /* a field of a newer header: not ours to ignore */
		err = -EINVAL;
	if (!err) {
		struct sz_pipeline_opts po = {
			.glob = s->opts.glob,
			.symbols = s->opts.symbols,
			.nsymbols = s->opts.nsymbols,
			.proc = s->opts.proc,
			.max_open_files = s->opts.max_open_files,
			.usdt = s->opts.usdt,
			.nusdt = s->opts.nusdt,
		};

		err = sz_pipeline_new(&po, &s->p);
	}
	if (err) {
		free(s);
		return err;
	}
	/* The pipeline copied what it needs; keep none of the caller's pointers. */
	s->opts.glob = NULL;
	s->opts.symbols = NULL;
	s->opts.usdt = NULL;
	s->opts.proc = NULL;
	*out = s;
	return 0;
}

void sz_scanner_free(struct sz_scanner *s)
{
	if (!s)
		return;
	sz_pipeline_free(s->p);
	free(s);
}

int sz_scanner_on_found(struct sz_scanner *s, sz_found_fn fn, void *ctx)
{
	struct sz_consumer c = { .user_found = fn, .ctx = ctx };

	return s && fn ? sz_pipeline_subscribe(s->p, &c, 0) : -EINVAL;
}

int sz_scanner_on_problem(struct sz_scanner *s, sz_problem_fn fn, void *ctx)
{
	struct sz_consumer c = { .user_problem = fn, .ctx = ctx };

	return s && fn ? sz_pipeline_subscribe(s->p, &c, 0) : -EINVAL;
}

int sz_scanner_scan(struct sz_scanner *s)
{
	return s ? sz_scan_all(s->p, s->opts.pid, &s->counts) : -EINVAL;
}

int sz_scanner_stats(const struct sz_scanner *s, struct sz_stats *out)
{
	struct sz_stats st;

	if (!s)
		return -EINVAL;
	sz_pipeline_stats(s->p, &st);
	st.processes = s->counts.processes;
	st.processes_unreadable = s->counts.processes_unreadable;
	return SZ_STATS_FILL(out, &st);
}

int sz_scan(const struct sz_scanner_opts *opts, sz_found_fn fn, void *ctx)
{
	struct sz_scanner *s;
	int err = sz_scanner_new(opts, &s);

	if (err)
		return err;
	err = sz_scanner_on_found(s, fn, ctx);
	if (!err)
		err = sz_scanner_scan(s);
	sz_scanner_free(s);
	return err;
}
