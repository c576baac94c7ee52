/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The probes consumer: uprobes/uretprobes on the functions the pipeline finds,
 * and the readers of what the BPF side aggregated (counts, latency histograms)
 * or streamed (calls).
 */
#ifndef SZ_PROBE_MGR_H
#define SZ_PROBE_MGR_H

#include "symbolyze.h"
#include "pipeline/pipeline.h"

#include <linux/types.h>
#include <sys/types.h>

#include "../../bpf/probe.h"
#include "../../bpf/stack.h"

struct ring_buffer;
struct sz_probe_mgr;
struct sz_args;

/* --stacks: how stacks are taken (SZ_STACKS_OFF: none). */
struct sz_probe_stack_opts {
	enum sz_stack_method method;
	size_t stack_bytes; /* DWARF: bytes copied per hit; 0: 8192 */
	const char *proc;   /* procfs mount point; NULL: "/proc" */
};
#define SZ_STACK_RING_BYTES (16u << 20)

/* EMPTY: a uprobe that does nothing, the kernel's floor (benchmarks only).
 * ARGS (consumers/args.h, may be NULL): values, filters, keys, modes added;
 * it must outlive the manager.
 * SYMS: the pipeline's registry (names of ids; maps sized to its bound).
 * SINGLE: one perf-event uprobe per function even where the kernel has
 * multi-uprobe links.  CG_ID, CG_LEVEL: --cgroup's subtree (bpf/cgroup.h),
 * 0 for every task. */
int sz_probe_mgr_new(enum sz_probe_mode mode, int empty, pid_t pid,
		     const struct sz_symbols *syms, int single, const struct sz_args *args,
		     uint64_t cg_id, uint32_t cg_level,
		     const struct sz_probe_stack_opts *so, struct sz_probe_mgr **out);
/* The watch stops: the programs record and count nothing more (the drain that follows
 * ends), and stacks are unwound to the last. */
void sz_probe_mgr_quiet(struct sz_probe_mgr *m);
int sz_probe_stacks_setup(struct sz_probe_mgr *m, const struct sz_probe_stack_opts *so);
int sz_probe_mgr_stacks(const struct sz_probe_mgr *m, sz_stack_fn fn, void *ctx);
void sz_probe_mgr_stack_stats(const struct sz_probe_mgr *m, uint64_t *stacks, uint64_t *drops,
			      uint64_t *truncated, uint64_t *procs_unread);
void sz_probe_mgr_free(struct sz_probe_mgr *m);
struct sz_detach;
/* The uprobes attached so far, to D (util/detach.h): detached with the
 * watch's links at once; the counts stay readable. */
void sz_probe_mgr_detach(struct sz_probe_mgr *m, struct sz_detach *d);
/* Subscribe to P, ahead of every other consumer: a found record says whether
 * its function is probed before anyone sees it. */
int sz_probe_mgr_subscribe(struct sz_probe_mgr *m, struct sz_pipeline *p);
size_t sz_probe_mgr_attached(const struct sz_probe_mgr *m);
/* Kernel attachments made (multi links, or perf events), and whether the
 * multi-link path was taken. */
size_t sz_probe_mgr_links(const struct sz_probe_mgr *m);
int sz_probe_mgr_multi(const struct sz_probe_mgr *m);
int sz_probe_mgr_on_call(struct sz_probe_mgr *m, sz_call_fn fn, void *ctx);
/* With --trace, add the call stream to RB (created if NULL). */
int sz_probe_mgr_add_ring(struct sz_probe_mgr *m, struct ring_buffer **rb);
uint64_t sz_probe_mgr_drops(const struct sz_probe_mgr *m);
uint64_t sz_probe_mgr_lat_misses(const struct sz_probe_mgr *m);
int sz_probe_mgr_counts(const struct sz_probe_mgr *m, sz_count_fn fn, void *ctx);
/* issue 13: exited processes' counts go to FN, then GONE(pid), and are kept
 * summed per symbol (counts reports them as pid 0), not per process
 * (consumers/probe_fold.h).  Before any process exited. */
int sz_probe_mgr_fold(struct sz_probe_mgr *m, sz_count_fn fn, void (*gone)(pid_t pid, void *ctx),
		      void *ctx);
int sz_probe_mgr_latency(const struct sz_probe_mgr *m, sz_latency_fn fn, void *ctx);
/* --latency: the sum of the durations of symbol SYM's timed calls, in ns. */
uint64_t sz_probe_mgr_latency_sum_ns(const struct sz_probe_mgr *m, uint32_t sym);
/* issue 11: --key and --hist tables (-ENOENT when not asked for), whether
 * latency is measured (alone or with count), and the drops they count. */
int sz_probe_mgr_keys(const struct sz_probe_mgr *m, sz_key_fn fn, void *ctx);
int sz_probe_mgr_hist(const struct sz_probe_mgr *m, sz_hist_fn fn, void *ctx);
int sz_probe_mgr_has_latency(const struct sz_probe_mgr *m);
uint64_t sz_probe_mgr_key_overflow(const struct sz_probe_mgr *m);
uint64_t sz_probe_mgr_filter_unseen(const struct sz_probe_mgr *m);
uint64_t sz_probe_mgr_bad_args(const struct sz_probe_mgr *m);

/* The object's bytes, for a minimal kernel BTF made before it loads (util/kbtf.h). */
const void *sz_probe_bpf_elf(size_t *size);

#endif
