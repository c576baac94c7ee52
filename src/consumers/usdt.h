/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * USDT probes through libbpf (bpf_program__attach_usdt, usdt.bpf.h): attach by
 * provider and name on a file open on an fd, count hits per process and probe,
 * or stream each hit with its arguments decoded by the probe's spec.
 */
#ifndef SZ_CONSUMERS_USDT_H
#define SZ_CONSUMERS_USDT_H

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "symbolyze.h"
#include "../../bpf/stack.h"
#include "../../bpf/usdt_rec.h"
#include "elf/usdt.h"

#define SZ_USDT_STACK_RING (16u << 20) /* the ring's size with --stacks */

struct sz_usdt_mgr;
struct ring_buffer;

enum sz_usdt_mode { SZ_USDT_COUNT = 1, SZ_USDT_TRACE = 2 };

/* One hit, decoded: args[i] as the spec types it (size, sign: bpf_usdt_arg
 * already sign-extends), str[i] the bytes of an argument marked as a string. */
struct sz_usdt_hit {
	uint32_t probe;
	pid_t pid, tid;
	uint64_t ts_ns;
	const char *comm;
	int nargs;
	int64_t sargs[SZ_USDT_NARGS];	/* for signed arguments */
	uint64_t uargs[SZ_USDT_NARGS];	/* for unsigned ones, cut to their size */
	const char *str[SZ_USDT_NARGS]; /* NULL unless marked as a string */
};

typedef int (*sz_usdt_hit_fn)(const struct sz_usdt_hit *h, void *ctx);
typedef void (*sz_usdt_mgr_count_fn)(pid_t pid, uint32_t probe, uint64_t hits, void *ctx);

/* A stack record (struct sz_stack_rec, bpf/stack.h) as the ring gave it. */
typedef int (*sz_usdt_stack_fn)(const void *data, size_t len, void *ctx);

/* STACKS other than SZ_STACKS_OFF: each hit's user stack too, STACK_BYTES of stack
 * copied in DWARF mode (0: 8 KiB), to the handler of sz_usdt_mgr_on_stack. */
int sz_usdt_mgr_new(enum sz_usdt_mode mode, enum sz_stack_method stacks, size_t stack_bytes,
		    struct sz_usdt_mgr **out, char *err, size_t errlen);
void sz_usdt_mgr_on_stack(struct sz_usdt_mgr *m, sz_usdt_stack_fn fn, void *ctx);
uint64_t sz_usdt_mgr_stack_drops(const struct sz_usdt_mgr *m);
void sz_usdt_mgr_free(struct sz_usdt_mgr *m);

/* Attach every site of PROBE (from sz_usdt_read over the same file) in the file
 * open on FD, in process PID or every process (-1), semaphore included.  ID (<
 * SZ_USDT_MAX_IDS) comes back with each hit; STR_MASK marks arguments read
 * as strings (bit i: argument i).  0 or a negative errno with ERR set. */
int sz_usdt_mgr_attach(struct sz_usdt_mgr *m, int fd, pid_t pid, const struct sz_usdt_probe *probe,
		       uint32_t id, uint32_t str_mask, char *err, size_t errlen);
size_t sz_usdt_mgr_attached(const struct sz_usdt_mgr *m);
/* --trace: poll for hits, FN called with each (ARGS typed by PROBE's spec, which
 * the caller resolves from the id: see sz_usdt_mgr_attach). */
int sz_usdt_mgr_poll(struct sz_usdt_mgr *m, int timeout_ms, sz_usdt_hit_fn fn, void *ctx);
/* --trace (and --stacks): the hits go to FN through RB, the caller's ring buffer (created if
 * NULL), polled with the caller's other rings. */
int sz_usdt_mgr_add_ring(struct sz_usdt_mgr *m, struct ring_buffer **rb, sz_usdt_hit_fn fn,
			 void *ctx);
int sz_usdt_mgr_counts(const struct sz_usdt_mgr *m, sz_usdt_mgr_count_fn fn, void *ctx);
uint64_t sz_usdt_mgr_drops(const struct sz_usdt_mgr *m);
/* Detach every probe (counts stay readable): as jobs of D (util/detach.h),
 * or here if D is NULL. */
struct sz_detach;
void sz_usdt_mgr_detach(struct sz_usdt_mgr *m, struct sz_detach *d);
/* No hit recorded from now on (the watch stops), nor probe attached. */
void sz_usdt_mgr_quiet(struct sz_usdt_mgr *m);
int sz_usdt_mgr_is_quiet(const struct sz_usdt_mgr *m);

/* The object's bytes, for a minimal kernel BTF made before it loads (util/kbtf.h). */
const void *sz_usdt_bpf_elf(size_t *size);

#endif
