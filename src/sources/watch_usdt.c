// SPDX-License-Identifier: BSD-2-Clause
/*
 * USDT in the watch, kept beside watch.c: the options copied at sz_watch_new,
 * the USDT probes consumer (src/consumers/usdt_probes.c) subscribed to the
 * pipeline at start with its hits on the watch's ring buffer, and the public
 * readers of its hits and counts.
 */
#include "sources/watch_usdt.h"
#include "consumers/usdt_probes.h"
#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct call_obs {
	sz_usdt_call_fn fn;
	void *ctx;
};

struct sz_watch_usdt {
	char **str;
	size_t nstr;
	struct call_obs *calls;
	size_t ncalls;
	struct sz_usdt_probes *probes;
};

int sz_wusdt_new(const struct sz_watch_opts *o, struct sz_watch_usdt **out)
{
	struct sz_watch_usdt *u;
	char err[256];

	*out = NULL;
	if (o->nusdt && o->probe == SZ_PROBE_LATENCY)
		return -EINVAL; /* durations between two probes are not measured */
	if ((o->nusdt_str && !o->usdt_str) || (o->nusdt && !o->usdt))
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	if (o->nusdt_str) {
		u->str = calloc(o->nusdt_str, sizeof(*u->str));
		if (!u->str)
			goto nomem;
	}
	for (size_t i = 0; i < o->nusdt_str; i++) {
		if (!o->usdt_str[i] || sz_usdt_str_check(o->usdt_str[i], err, sizeof(err))) {
			sz_wusdt_free(u);
			return -EINVAL;
		}
		u->str[i] = strdup(o->usdt_str[i]);
		if (!u->str[i])
			goto nomem;
		u->nstr++;
	}
	*out = u;
	return 0;
nomem:
	sz_wusdt_free(u);
	return -ENOMEM;
}

void sz_wusdt_free(struct sz_watch_usdt *u)
{
	if (!u)
		return;
	sz_usdt_probes_free(u->probes);
	for (size_t i = 0; i < u->nstr; i++)
		free(u->str[i]);
	free(u->str);
	free(u->calls);
	free(u);
}

int sz_wusdt_start(struct sz_watch_usdt *u, const struct sz_watch_opts *o, size_t nusdt,
		   struct sz_pipeline *p, struct ring_buffer **rb)
{
	int err;

	if (!nusdt || o->probe == SZ_PROBE_NONE || u->probes)
		return 0;
	err = sz_usdt_probes_new(o->probe, o->pid, (const char *const *)u->str, u->nstr, o->stacks,
				 o->stack_bytes, &u->probes);
	for (size_t i = 0; !err && i < u->ncalls; i++)
		err = sz_usdt_probes_on_call(u->probes, u->calls[i].fn, u->calls[i].ctx);
	if (!err)
		err = sz_usdt_probes_add_ring(u->probes, rb);
	if (!err)
		err = sz_usdt_probes_subscribe(u->probes, p);
	return err;
}

void sz_wusdt_quiet(struct sz_watch_usdt *u)
{
	if (u)
		sz_usdt_probes_quiet(u->probes);
}

void sz_wusdt_detach(struct sz_watch_usdt *u, struct sz_detach *d)
{
	if (u)
		sz_usdt_probes_detach(u->probes, d);
}

void sz_wusdt_teardown(struct sz_watch_usdt *u, struct sz_pipeline *p)
{
	if (!u || !u->probes)
		return;
	sz_pipeline_unsubscribe(p, u->probes);
	sz_usdt_probes_free(u->probes);
	u->probes = NULL;
}

int sz_wusdt_on_call(struct sz_watch_usdt *u, sz_usdt_call_fn fn, void *ctx)
{
	struct call_obs *n;

	if (!u || !fn)
		return -EINVAL;
	n = realloc(u->calls, (u->ncalls + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	u->calls = n;
	u->calls[u->ncalls++] = (struct call_obs){ fn, ctx };
	return u->probes ? sz_usdt_probes_on_call(u->probes, fn, ctx) : 0;
}

int sz_wusdt_counts(const struct sz_watch_usdt *u, sz_usdt_count_fn fn, void *ctx)
{
	if (!u || !fn || !u->probes)
		return -EINVAL;
	return sz_usdt_probes_counts(u->probes, fn, ctx);
}

int sz_wusdt_stacks(const struct sz_watch_usdt *u, sz_stack_fn fn, void *ctx)
{
	if (!u || !fn || !u->probes)
		return -EINVAL;
	return sz_usdt_probes_stacks(u->probes, fn, ctx);
}

void sz_wusdt_stats(const struct sz_watch_usdt *u, struct sz_watch_stats *st)
{
	uint64_t stacks, drops, truncated, unread;

	if (!u || !u->probes)
		return;
	st->usdt_probes = sz_usdt_probes_attached(u->probes);
	st->usdt_drops = sz_usdt_probes_drops(u->probes);
	/* --stacks: the figures cover symbols' and USDT probes' stacks together */
	sz_usdt_probes_stack_stats(u->probes, &stacks, &drops, &truncated, &unread);
	st->stacks += stacks;
	st->stack_drops += drops;
	st->stacks_truncated += truncated;
	st->stack_procs_unread += unread;
}
