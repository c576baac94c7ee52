/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The USDT side of the watch (src/sources/watch.c calls in here): the string
 * argument specs and observers given before start, the USDT probes consumer
 * made at start when probes are asked for, its hits, counts and figures.
 */
#ifndef SZ_SOURCES_WATCH_USDT_H
#define SZ_SOURCES_WATCH_USDT_H

#include "symbolyze.h"

struct ring_buffer;
struct sz_pipeline;
struct sz_watch_usdt;

/* Copy what O says about USDT (its pointers are not kept): 0, -EINVAL (a
 * string spec that does not parse, --latency with USDT), -ENOMEM. */
int sz_wusdt_new(const struct sz_watch_opts *o, struct sz_watch_usdt **out);
void sz_wusdt_free(struct sz_watch_usdt *u);
/* With probes and USDT patterns: attach the consumer to P, hits into RB. */
int sz_wusdt_start(struct sz_watch_usdt *u, const struct sz_watch_opts *o, size_t nusdt,
		   struct sz_pipeline *p, struct ring_buffer **rb);
/* Unsubscribe from P and detach (counts are gone with it). */
void sz_wusdt_teardown(struct sz_watch_usdt *u, struct sz_pipeline *p);
/* The watch stops: the probes record nothing more, so the last drain ends. */
void sz_wusdt_quiet(struct sz_watch_usdt *u);
struct sz_detach;
/* Its links, as jobs of D (util/detach.h). */
void sz_wusdt_detach(struct sz_watch_usdt *u, struct sz_detach *d);
int sz_wusdt_on_call(struct sz_watch_usdt *u, sz_usdt_call_fn fn, void *ctx);
int sz_wusdt_counts(const struct sz_watch_usdt *u, sz_usdt_count_fn fn, void *ctx);
/* --count --stacks: USDT probes' unique stacks (-EINVAL without). */
int sz_wusdt_stacks(const struct sz_watch_usdt *u, sz_stack_fn fn, void *ctx);
void sz_wusdt_stats(const struct sz_watch_usdt *u, struct sz_watch_stats *st);

#endif
