/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Internal hooks of the watch that are not public API: the benchmark's
 * empty uprobe (the kernel's floor) is set here, not in symbolyze.h.
 */
#ifndef SZ_SOURCES_WATCH_H
#define SZ_SOURCES_WATCH_H

#include "symbolyze.h"
#include "consumers/probe_fold.h"

/* Before sz_watch_start: probes run a program that does nothing. */
int sz__watch_empty_probe(struct sz_watch *w);

/* Before sz_watch_start: only tasks in the cgroup v2 subtree whose directory
 * has inode ID, LEVEL levels below the root (issue 13, bpf/cgroup.h), in
 * every BPF program: the scan's iterator, exec, mmap, fork and the probes. */
int sz__watch_cgroup(struct sz_watch *w, uint64_t id, uint32_t level, const char *path);
/* --latency: the sum of the timed durations of symbol SYM (its index in
 * opts.symbols), in ns, for a histogram's _sum; 0 without probes. */
uint64_t sz__watch_latency_sum_ns(const struct sz_watch *w, uint32_t sym);
/* Before sz_watch_start, --count (issue 13, --metrics): the counts of each
 * process that exits go to FN, then GONE(pid) (every exit); the watch keeps
 * them summed per symbol, reported by sz_watch_counts as pid 0, not per
 * process, so its memory does not grow with the processes that come and go. */
int sz__watch_fold_exited(struct sz_watch *w, sz_count_fn fn, sz_gone_fn gone, void *ctx);

#endif
