/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The USDT probes consumer of the pipeline: attaches libbpf's USDT support
 * (src/consumers/usdt.c) to the probes scan and watch find, once per (file
 * inode, probe), and reads back hits (--trace) and counts (--count).
 */
#ifndef SZ_CONSUMERS_USDT_PROBES_H
#define SZ_CONSUMERS_USDT_PROBES_H

#include "symbolyze.h"
#include "elf/usdt.h"

#include <stddef.h>
#include <sys/types.h>

struct ring_buffer;
struct sz_pipeline;
struct sz_usdt_probes;

/* "N" (argument N, from 0, of every probe), "PROVIDER:NAME:N" or "NAME:N"
 * (globs, as -u takes them): an argument to read as a C string.  0 or -EINVAL with ERR saying why. */
struct sz_usdt_str {
	int any; /* no PROVIDER:NAME: every probe */
	struct sz_usdt_pattern pat;
	int arg;
};
int sz_usdt_str_parse(const char *spec, struct sz_usdt_str *out, char *err, size_t errlen);
int sz_usdt_str_check(const char *spec, char *err, size_t errlen);

/* MODE: SZ_PROBE_COUNT or SZ_PROBE_TRACE; PID > 0: that process only; STACKS
 * (not SZ_STACKS_OFF): each hit's user stack, STACK_BYTES copied (0: 8 KiB). */
int sz_usdt_probes_new(enum sz_probe_mode mode, pid_t pid, const char *const *str, size_t nstr,
		       enum sz_stack_method stacks, size_t stack_bytes,
		       struct sz_usdt_probes **out);
void sz_usdt_probes_free(struct sz_usdt_probes *u);
/* Subscribe to P ahead of the consumers that print: a found record says
 * whether its probe is attached. */
int sz_usdt_probes_subscribe(struct sz_usdt_probes *u, struct sz_pipeline *p);
int sz_usdt_probes_on_call(struct sz_usdt_probes *u, sz_usdt_call_fn fn, void *ctx);
int sz_usdt_probes_add_ring(struct sz_usdt_probes *u, struct ring_buffer **rb);
size_t sz_usdt_probes_attached(const struct sz_usdt_probes *u);
uint64_t sz_usdt_probes_drops(const struct sz_usdt_probes *u);
/* --count --stacks: each unique (probe, stack), most frequent first; figures. */
int sz_usdt_probes_stacks(const struct sz_usdt_probes *u, sz_stack_fn fn, void *ctx);
void sz_usdt_probes_stack_stats(const struct sz_usdt_probes *u, uint64_t *stacks, uint64_t *drops,
				uint64_t *truncated, uint64_t *procs_unread);
int sz_usdt_probes_counts(const struct sz_usdt_probes *u, sz_usdt_count_fn fn, void *ctx);
struct sz_detach;
/* Every probe's link, as jobs of D (util/detach.h). */
void sz_usdt_probes_detach(struct sz_usdt_probes *u, struct sz_detach *d);
/* The watch stops: no hit recorded from now on, stacks unwound to the last. */
void sz_usdt_probes_quiet(struct sz_usdt_probes *u);

#endif
