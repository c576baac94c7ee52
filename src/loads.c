// SPDX-License-Identifier: BSD-2-Clause
/*
 * The set of loads already reported, keyed by (pid, dev, ino, bias), so that a
 * load seen both by the /proc scan and by a BPF event is reported once.
 * Buckets are chosen by pid alone, so forgetting a process is one chain walk.
 */
#include "core.h"

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

size_t sz_loads_forget(struct sz_loads *l, pid_t pid, uint64_t before)
{
	struct sz_load **pp = &l->bucket[bucket(pid)];
	size_t n = 0;

	while (*pp) {
		struct sz_load *e = *pp;

		if (e->pid == pid && e->ts < before) {
			*pp = e->next;
			free(e);
			n++;
		} else {
			pp = &e->next;
		}
	}
	l->count -= n;
	return n;
}

size_t sz_loads_prune(struct sz_loads *l, int (*alive)(pid_t pid, void *ctx), void *ctx)
{
	size_t n = 0;

	for (size_t b = 0; b < SZ_LOADS_BUCKETS; b++) {
		struct sz_load **pp = &l->bucket[b];

		while (*pp) {
			struct sz_load *e = *pp;

			if (!alive(e->pid, ctx)) {
				*pp = e->next;
				free(e);
				n++;
			} else {
				pp = &e->next;
			}
		}
	}
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
