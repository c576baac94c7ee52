// SPDX-License-Identifier: BSD-2-Clause
/*
 * USDT probes as a consumer of the one pipeline: a found record of type
 * SZ_SYM_USDT names a probe site in a file; libbpf attaches every site of
 * that provider:name in the file at once (semaphores through the kernel's
 * ref_ctr_offset), so we attach once per (inode, probe), for every process
 * (pid -1: the kernel puts the uprobes into later mappings itself) or for
 * the -p process only.  Each provider:name gets one id, the USDT cookie the
 * BPF side keys counts and hits by; its argument types come from our parse
 * of the note's spec (libbpf keeps its own and does not expose it).
 * --stacks: each hit's stack goes to the stacks consumer (consumers/stacks.c),
 * which names its probe id "provider:name".
 */
#include "consumers/usdt_probes.h"
#include "consumers/stacks.h"
#include "consumers/usdt.h"
#include "pipeline/pipeline.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct usdt_att {
	dev_t dev;
	ino_t ino;
	uint32_t id;
};

struct usdt_call_obs {
	sz_usdt_call_fn fn;
	void *ctx;
};

struct sz_usdt_probes {
	enum sz_probe_mode mode;
	pid_t pid;
	struct sz_usdt_mgr *mgr;
	struct sz_pipeline *p;
	struct sz_usdt_str *strs;
	size_t nstrs;
	/* ids: one per provider:name, in order of first sight */
	struct {
		char *provider, *name;
		char *full; /* "provider:name", as stacks are reported */
		struct sz_usdt_arg args[SZ_USDT_MAX_ARGS];
		int nargs;
		uint32_t str_mask;
	} ids[SZ_USDT_MAX_IDS];
	uint32_t nids;
	struct usdt_att *att;
	size_t natt, capatt;
	struct usdt_call_obs *obs;
	size_t nobs;
	struct sz_stacks *stacks; /* --stacks */
};

static const char *id_name(const void *ctx, uint32_t id)
{
	const struct sz_usdt_probes *u = ctx;

	return id < u->nids ? u->ids[id].full : NULL;
}

static int on_stack(const void *data, size_t len, void *ctx)
{
	struct sz_usdt_probes *u = ctx;

	sz_stacks_rec(u->stacks, data, len); /* malformed: counted as not unwound */
	return sz_stacks_busy(u->stacks);    /* a flood: the poll loop's turn */
}

void sz_usdt_probes_quiet(struct sz_usdt_probes *u)
{
	if (!u)
		return;
	sz_usdt_mgr_quiet(u->mgr);
	sz_stacks_drain(u->stacks);
}

int sz_usdt_str_parse(const char *spec, struct sz_usdt_str *out, char *err, size_t errlen)
{
	const char *colon = strrchr(spec, ':'), *num = colon ? colon + 1 : spec;
	char *end, pat[2 * 256 + 2];
	long n;

	memset(out, 0, sizeof(*out));
	n = strtol(num, &end, 10);
	if (!*num || *end || end == num || n < 0 || n >= SZ_USDT_MAX_ARGS) {
		snprintf(err, errlen,
			 "wants N or PROVIDER:NAME:N, N an argument number from 0 to %d",
			 SZ_USDT_MAX_ARGS - 1);
		return -EINVAL;
	}
	out->arg = (int)n;
	if (!colon) {
		out->any = 1;
		return 0;
	}
	if ((size_t)(colon - spec) >= sizeof(pat)) {
		snprintf(err, errlen, "the probe pattern is too long");
		return -EINVAL;
	}
	memcpy(pat, spec, (size_t)(colon - spec));
	pat[colon - spec] = '\0';
	return sz_usdt_pattern_compile(pat, &out->pat, err, errlen);
}

int sz_usdt_str_check(const char *spec, char *err, size_t errlen)
{
	struct sz_usdt_str s;

	return sz_usdt_str_parse(spec, &s, err, errlen);
}

int sz_usdt_probes_new(enum sz_probe_mode mode, pid_t pid, const char *const *str, size_t nstr,
		       enum sz_stack_method stacks, size_t stack_bytes, struct sz_usdt_probes **out)
{
	struct sz_usdt_probes *u;
	char err[256];
	void *saved;
	int r;

	*out = NULL;
	if (mode != SZ_PROBE_COUNT && mode != SZ_PROBE_TRACE)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->mode = mode;
	u->pid = pid > 0 ? pid : -1;
	if (nstr) {
		u->strs = calloc(nstr, sizeof(*u->strs));
		if (!u->strs) {
			free(u);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < nstr; i++) {
		r = sz_usdt_str_parse(str[i], &u->strs[i], err, sizeof(err));
		if (r) {
			sz_log(SZ_LOG_ERROR, "usdt string argument '%s': %s", str[i], err);
			sz_usdt_probes_free(u);
			return r;
		}
		u->nstrs++;
	}
	if (stacks != SZ_STACKS_OFF) {
		r = sz_stacks_new_named(stacks, mode == SZ_PROBE_COUNT, NULL, id_name, u,
					&u->stacks);
		if (r) {
			sz_usdt_probes_free(u);
			return r;
		}
	}
	saved = sz_libbpf_enter();
	r = sz_usdt_mgr_new(mode == SZ_PROBE_TRACE ? SZ_USDT_TRACE : SZ_USDT_COUNT, stacks,
			    stack_bytes, &u->mgr, err, sizeof(err));
	sz_libbpf_leave(saved);
	if (r) {
		sz_log(SZ_LOG_ERROR, "%s%s", err,
		       r == -EPERM ? " (needs CAP_BPF and CAP_PERFMON, or root)" : "");
		sz_usdt_probes_free(u);
		return r;
	}
	if (u->stacks)
		sz_usdt_mgr_on_stack(u->mgr, on_stack, u);
	*out = u;
	return 0;
}

void sz_usdt_probes_free(struct sz_usdt_probes *u)
{
	if (!u)
		return;
	sz_usdt_mgr_free(u->mgr);
	sz_stacks_free(u->stacks);
	for (uint32_t i = 0; i < u->nids; i++) {
		free(u->ids[i].provider);
		free(u->ids[i].name);
		free(u->ids[i].full);
	}
	free(u->strs);
	free(u->att);
	free(u->obs);
	free(u);
}

void sz_usdt_probes_detach(struct sz_usdt_probes *u, struct sz_detach *d)
{
	if (u && u->mgr)
		sz_usdt_mgr_detach(u->mgr, d);
}

/* The id of PR's provider:name, given out on first sight: 0..SZ_USDT_MAX_IDS-1,
 * -E2BIG when they are all taken, -ENOMEM. */
static int id_of(struct sz_usdt_probes *u, const struct sz_usdt_probe *pr)
{
	uint32_t i;

	for (i = 0; i < u->nids; i++)
		if (!strcmp(u->ids[i].provider, pr->provider) && !strcmp(u->ids[i].name, pr->name))
			return (int)i;
	if (u->nids == SZ_USDT_MAX_IDS)
		return -E2BIG;
	u->ids[i].provider = strdup(pr->provider);
	u->ids[i].name = strdup(pr->name);
	if (asprintf(&u->ids[i].full, "%s:%s", pr->provider, pr->name) < 0)
		u->ids[i].full = NULL;
	if (!u->ids[i].provider || !u->ids[i].name || !u->ids[i].full) {
		free(u->ids[i].provider);
		free(u->ids[i].name);
		free(u->ids[i].full);
		return -ENOMEM;
	}
	u->ids[i].nargs = pr->nargs;
	memcpy(u->ids[i].args, pr->args, sizeof(pr->args[0]) * (size_t)pr->nargs);
	for (size_t k = 0; k < u->nstrs; k++)
		if (u->strs[k].any || sz_usdt_pattern_match(&u->strs[k].pat, pr))
			u->ids[i].str_mask |= 1u << u->strs[k].arg;
	u->nids++;
	return (int)i;
}

static int attached(const struct sz_usdt_probes *u, dev_t dev, ino_t ino, uint32_t id)
{
	for (size_t i = 0; i < u->natt; i++)
		if (u->att[i].dev == dev && u->att[i].ino == ino && u->att[i].id == id)
			return 1;
	return 0;
}

static int on_found(void *ctx, struct sz_found *fd, struct sz_loaded *l)
{
	struct sz_usdt_probes *u = ctx;
	const struct sz_usdt_probe *pr = sz_loaded_usdt(l);
	dev_t dev = sz_loaded_dev(l);
	ino_t ino = sz_loaded_ino(l);
	char err[256] = "";
	void *saved;
	int id, file, r;

	if (fd->type != SZ_SYM_USDT || !pr)
		return 0;
	if (sz_usdt_mgr_is_quiet(u->mgr)) { /* its links are being released */
		fd->probe_note = "the watch was stopping: not probed";
		return 0;
	}
	sz_stacks_seen(u->stacks, fd->pid); /* its mappings, before it can exit */
	id = id_of(u, pr);
	if (id >= 0 && attached(u, dev, ino, (uint32_t)id)) {
		fd->probed = 1;
		return 0;
	}
	if (id >= 0 && u->natt == u->capatt) {
		size_t cap = u->capatt ? 2 * u->capatt : 16;
		struct usdt_att *n = realloc(u->att, cap * sizeof(*n));

		if (n) {
			u->att = n;
			u->capatt = cap;
		} else {
			id = -ENOMEM;
		}
	}
	if (id < 0) {
		r = id;
		snprintf(err, sizeof(err), "%s",
			 id == -E2BIG ? "more than 256 distinct USDT probes" : strerror(-id));
	} else {
		file = sz_loaded_fd(l);
		saved = sz_libbpf_enter();
		r = file < 0 ? file
			     : sz_usdt_mgr_attach(u->mgr, file, u->pid, pr, (uint32_t)id,
						  u->ids[id].str_mask, err, sizeof(err));
		sz_libbpf_leave(saved);
		if (file < 0)
			snprintf(err, sizeof(err), "cannot open the file: %s", strerror(-file));
	}
	if (r) {
		fd->probe_note = "USDT attach failed";
		sz_pipeline_problem(u->p, SZ_REASON_PROBE, r, fd->pid, fd->comm, fd->path,
				    fd->symbol, 1, "cannot attach USDT probe %s: %s", fd->symbol,
				    err);
		return 0;
	}
	u->att[u->natt++] = (struct usdt_att){ dev, ino, (uint32_t)id };
	fd->probed = 1;
	return 0;
}

static void on_exited(void *ctx, pid_t pid)
{
	struct sz_usdt_probes *u = ctx;

	sz_stacks_exited(u->stacks, pid);
}

int sz_usdt_probes_subscribe(struct sz_usdt_probes *u, struct sz_pipeline *p)
{
	struct sz_consumer c = { .found = on_found, .exited = on_exited, .ctx = u };

	u->p = p;
	return sz_pipeline_subscribe(p, &c, 1);
}

int sz_usdt_probes_on_call(struct sz_usdt_probes *u, sz_usdt_call_fn fn, void *ctx)
{
	struct usdt_call_obs *n = realloc(u->obs, (u->nobs + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	u->obs = n;
	u->obs[u->nobs++] = (struct usdt_call_obs){ fn, ctx };
	return 0;
}

static int on_hit(const struct sz_usdt_hit *h, void *ctx)
{
	struct sz_usdt_probes *u = ctx;
	struct sz_usdt_call c;

	if (h->probe >= u->nids)
		return 0;
	memset(&c, 0, sizeof(c));
	c.pid = h->pid;
	c.tid = h->tid;
	c.comm = h->comm;
	c.provider = u->ids[h->probe].provider;
	c.name = u->ids[h->probe].name;
	c.ts_ns = h->ts_ns;
	c.stack = sz_stacks_take(u->stacks, h->tid); /* NULL without --stacks */
	c.nargs = h->nargs < 0 ? 0 : h->nargs;
	for (int i = 0; i < c.nargs && i < SZ_USDT_MAX_ARGS; i++) {
		const struct sz_usdt_arg *a = &u->ids[h->probe].args[i];

		c.args[i].size = a->size;
		c.args[i].is_signed = a->is_signed;
		c.args[i].s = h->sargs[i];
		c.args[i].u = h->uargs[i];
		c.args[i].str = h->str[i];
	}
	for (size_t i = 0; i < u->nobs; i++)
		u->obs[i].fn(&c, u->obs[i].ctx);
	return 0;
}

int sz_usdt_probes_add_ring(struct sz_usdt_probes *u, struct ring_buffer **rb)
{
	return sz_usdt_mgr_add_ring(u->mgr, rb, on_hit, u);
}

size_t sz_usdt_probes_attached(const struct sz_usdt_probes *u)
{
	return u ? u->natt : 0;
}

int sz_usdt_probes_stacks(const struct sz_usdt_probes *u, sz_stack_fn fn, void *ctx)
{
	return u && u->stacks ? sz_stacks_report(u->stacks, fn, ctx) : -EINVAL;
}

void sz_usdt_probes_stack_stats(const struct sz_usdt_probes *u, uint64_t *stacks, uint64_t *drops,
				uint64_t *truncated, uint64_t *procs_unread)
{
	sz_stacks_stats(u ? u->stacks : NULL, stacks, truncated, procs_unread);
	*drops = u && u->stacks ? sz_usdt_mgr_stack_drops(u->mgr) : 0;
}

uint64_t sz_usdt_probes_drops(const struct sz_usdt_probes *u)
{
	return u ? sz_usdt_mgr_drops(u->mgr) : 0;
}

struct count_ctx {
	const struct sz_usdt_probes *u;
	sz_usdt_count_fn fn;
	void *ctx;
};

static void one_count(pid_t pid, uint32_t probe, uint64_t hits, void *ctx)
{
	struct count_ctx *c = ctx;

	if (probe < c->u->nids)
		c->fn(pid, c->u->ids[probe].provider, c->u->ids[probe].name, hits, c->ctx);
}

int sz_usdt_probes_counts(const struct sz_usdt_probes *u, sz_usdt_count_fn fn, void *ctx)
{
	struct count_ctx c = { u, fn, ctx };

	if (u->mode != SZ_PROBE_COUNT)
		return -EINVAL;
	return sz_usdt_mgr_counts(u->mgr, one_count, &c);
}
