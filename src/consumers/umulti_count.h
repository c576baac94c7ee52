/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Counting calls behind many uprobes (bpf/umulti.bpf.c): a per-CPU array with
 * one slot per cookie, loaded for multi links or perf-event uprobes alike.
 */
#ifndef SZ_UMULTI_COUNT_H
#define SZ_UMULTI_COUNT_H

#include "consumers/uprobe_multi.h"

struct sz_ucount;

/* Open and load the counter for NCOOKIES cookies (0 .. NCOOKIES-1), prepared
 * for MODE (see sz_umulti_prepare).  ERR says what failed. */
int sz_ucount_new(size_t ncookies, enum sz_umulti_mode mode, struct sz_ucount **out, char *err,
		  size_t errlen);
struct bpf_program *sz_ucount_prog(struct sz_ucount *c);
/* Calls per cookie, summed over CPUs, into COUNTS[ncookies]. */
int sz_ucount_read(const struct sz_ucount *c, uint64_t *counts);
/* Hits whose cookie had no slot (0 unless a caller passed a bad cookie). */
uint64_t sz_ucount_misses(const struct sz_ucount *c);
void sz_ucount_free(struct sz_ucount *c);

#endif
