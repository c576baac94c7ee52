/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * --stacks, userspace side: records from bpf/stack.bpf.h are unwound (kernel
 * frame-pointer walk, or libdw over the copied registers and stack slice), tied to
 * the files the process mapped when it was first seen (so a process that has exited
 * is still symbolized), then aggregated (--count) or handed to the call that follows
 * (--trace).
 */
#ifndef SZ_STACKS_H
#define SZ_STACKS_H

#include "symbolyze.h"

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../bpf/stack.h"

#define SZ_STACK_MAX_FRAMES 128 /* the depth cap of an unwound stack */

struct sz_stacks;
struct sz_symbols;

/* Check one ring record: 0 and *HDR / *SLICE (SLICE_LEN bytes) pointing into DATA, or
 * -EBADMSG (short, wrong type, lengths beyond the record or the limits). */
int sz_stack_rec_parse(const void *data, size_t size, const struct sz_stack_rec **hdr,
		       const unsigned char **slice);

/* AGGREGATE: --count (unique stacks counted), else --trace (each stack kept for the
 * call record that follows it on the same thread).  SYMBOLS name the probe ids. */
int sz_stacks_new(enum sz_stack_method mode, int aggregate, const char *proc,
		  const struct sz_symbols *syms, struct sz_stacks **out);
/* The same with ids named by NAME (NULL: an id not given out, the record is refused),
 * as USDT probes name theirs. */
typedef const char *(*sz_stacks_name_fn)(const void *ctx, uint32_t id);
int sz_stacks_new_named(enum sz_stack_method mode, int aggregate, const char *proc,
			sz_stacks_name_fn name, const void *name_ctx, struct sz_stacks **out);
void sz_stacks_free(struct sz_stacks *s);
/* One record of the ring (type SZ_PROBE_STACK). */
int sz_stacks_rec(struct sz_stacks *s, const void *data, size_t size);
/* --trace: the stack taken just before thread TID's call record, or NULL; valid until
 * the next sz_stacks_* call. */
const struct sz_stack *sz_stacks_take(struct sz_stacks *s, pid_t tid);
/* After a record: -ECANCELED when the poll loop should have its turn (a flood of stacks),
 * else 0; always 0 once sz_stacks_drain() was called (the final drain). */
int sz_stacks_busy(struct sz_stacks *s);
void sz_stacks_drain(struct sz_stacks *s);
/* PID maps a probed file: read its mappings now, while it lives (a process may exit
 * before its first stack is handled). */
void sz_stacks_seen(struct sz_stacks *s, pid_t pid);
/* A process exited: its unwinder goes, its files (and what they name) stay. */
void sz_stacks_exited(struct sz_stacks *s, pid_t pid);
/* --count: every unique stack, most frequent first. */
int sz_stacks_report(struct sz_stacks *s, sz_stack_fn fn, void *ctx);
void sz_stacks_stats(const struct sz_stacks *s, uint64_t *stacks, uint64_t *truncated,
		     uint64_t *procs_unread);

#endif
