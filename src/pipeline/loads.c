// SPDX-License-Identifier: BSD-2-Clause
/*
 * The set of loads already reported, keyed by (pid, dev, ino, bias), so that a
 * load seen both by the /proc scan and by a BPF event is reported once.
 * Buckets are chosen by pid alone, so forgetting a process is one chain walk.
 */
#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdlib.h>

struct sz_load {
	struct sz_load *next;
	pid_t pid;
	dev_t dev;
	ino_t ino;
	uint64_t bias;
	uint64_t ts; /* CLOCK_MONOTONIC ns when the load was seen */
};

static size_t bucket(pid_t pid)
{
	return ((size_t)pid * 2654435761u) % SZ_LOADS_BUCKETS;
}

int sz_loads_add(struct sz_loads *l, pid_t pid, dev_t dev, ino_t ino, uint64_t bias, uint64_t ts)
{
	struct sz_load **head = &l->bucket[bucket(pid)], *e;

	for (e = *head; e; e = e->next)
		if (e->pid == pid && e->dev == dev && e->ino == ino && e->bias == bias)
			return 0;
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	*e = (struct sz_load){ *head, pid, dev, ino, bias, ts };
	*head = e;
	l->count++;
	return 1;
}

/* Unlink and free the entries of one chain that DROP selects. */
static size_t drop_if(struct sz_load **pp, int (*drop)(const struct sz_load *e, void *ctx),
		      void *ctx)
{
	size_t n = 0;

	while (*pp) {
		struct sz_load *e = *pp;

		if (drop(e, ctx)) {
			*pp = e->next;
			free(e);
			n++;
		} else {
			pp = &e->next;
		}
	}
	return n;
}

struct forget_ctx {
	pid_t pid;
	uint64_t before;
};

static int seen_before(const struct sz_load *e, void *ctx)
{
	const struct forget_ctx *f = ctx;

	return e->pid == f->pid && e->ts < f->before;
}

size_t sz_loads_forget(struct sz_loads *l, pid_t pid, uint64_t before)
{
	struct forget_ctx f = { pid, before };
	size_t n = drop_if(&l->bucket[bucket(pid)], seen_before, &f);

	l->count -= n;
	return n;
}

struct prune_ctx {
	int (*alive)(pid_t pid, void *ctx);
	void *ctx;
};

static int process_gone(const struct sz_load *e, void *ctx)
{
	const struct prune_ctx *p = ctx;

	return !p->alive(e->pid, p->ctx);
}

size_t sz_loads_prune(struct sz_loads *l, int (*alive)(pid_t pid, void *ctx), void *ctx)
{
	struct prune_ctx p = { alive, ctx };
	size_t n = 0;

	for (size_t b = 0; b < SZ_LOADS_BUCKETS; b++)
		n += drop_if(&l->bucket[b], process_gone, &p);
	l->count -= n;
	return n;
}

void sz_loads_fini(struct sz_loads *l)
{
	for (size_t b = 0; b < SZ_LOADS_BUCKETS; b++) {
		struct sz_load *e = l->bucket[b], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
		l->bucket[b] = NULL;
	}
	l->count = 0;
}

void sz_loads_for_each_pid(const struct sz_loads *l, void (*fn)(pid_t pid, void *ctx), void *ctx)
{
	for (size_t b = 0; b < SZ_LOADS_BUCKETS; b++)
		for (const struct sz_load *e = l->bucket[b]; e; e = e->next)
			fn(e->pid, ctx);
}

int sz_loads_has_file(const struct sz_loads *l, dev_t dev, ino_t ino)
{
	for (size_t b = 0; b < SZ_LOADS_BUCKETS; b++)
		for (const struct sz_load *e = l->bucket[b]; e; e = e->next)
			if (e->dev == dev && e->ino == ino)
				return 1;
	return 0;
}
