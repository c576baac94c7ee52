/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Internal hooks of the watch that are not public API: the benchmark's
 * empty uprobe (the kernel's floor) is set here, not in symbolyze.h.
 */
#ifndef SZ_SOURCES_WATCH_H
#define SZ_SOURCES_WATCH_H

#include "symbolyze.h"

/* Before sz_watch_start: probes run a program that does nothing. */
int sz__watch_empty_probe(struct sz_watch *w);

/* --latency: the sum of the timed durations of symbol SYM (its index in
 * opts.symbols), in ns, for a histogram's _sum; 0 without probes. */
uint64_t sz__watch_latency_sum_ns(const struct sz_watch *w, uint32_t sym);

#endif
