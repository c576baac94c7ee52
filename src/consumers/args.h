/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Userspace half of bpf/args.bpf.h: a validated copy of struct sz_probe_extra,
 * the rodata it becomes, the decoder of the argument data a --trace call
 * record carries, and the readers of the --key and --hist maps.
 */
#ifndef SZ_CONSUMERS_ARGS_H
#define SZ_CONSUMERS_ARGS_H

#include "symbolyze.h"

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>

#include "../../bpf/args.h"
#include "util/glob.h"

struct sz_args;

/* Validate X for MODE and copy it; *OUT NULL when X asks for nothing.
 * 0, or -EINVAL (the reason logged), -ENOMEM. */
int sz_args_new(const struct sz_probe_extra *x, enum sz_probe_mode mode, struct sz_args **out);
void sz_args_free(struct sz_args *a);

/* What the probe manager attaches (A may be NULL: none of it). */
int sz_args_latency(const struct sz_args *a);	/* count and latency together */
int sz_args_key_entry(const struct sz_args *a); /* --key/--hist on an argument */
int sz_args_key_exit(const struct sz_args *a);	/* --key/--hist on the return value */
int sz_args_has_key(const struct sz_args *a);
int sz_args_has_hist(const struct sz_args *a);
/* Filters on arguments: with return probes, the entry's verdict is kept. */
int sz_args_has_filters(const struct sz_args *a);
size_t sz_args_nvalues(const struct sz_args *a);

/* The rodata: CFG and the compiled --comm glob. */
void sz_args_cfg(const struct sz_args *a, struct sz_args_cfg *cfg, struct sz_glob *comm);

/* Decode the argument data after a call record (DATA, LEN bytes, as the ring
 * delivered it: untrusted in length) with the call's six registers into OUT
 * (sz_args_nvalues entries, pointing into DATA).  0, or -EINVAL if the data
 * does not have the layout the rodata said. */
int sz_args_decode(const struct sz_args *a, const uint64_t regs[6], const void *data, size_t len,
		   struct sz_arg_value *out);

/* Read the --key table (sorted: symbol, then most calls first) and the
 * --hist array from their map descriptors. */
int sz_args_read_keys(int fd, int ncpus, char *const *symbols, size_t nsymbols, sz_key_fn fn,
		      void *ctx);
int sz_args_read_hist(int fd, int ncpus, char *const *symbols, size_t nsymbols, sz_hist_fn fn,
		      void *ctx);

/* Layout of a decoder that knows only SPECS (the fuzz target's entry). */
int sz_args_from_specs(const struct sz_arg_spec *specs, size_t n, struct sz_args **out);

#endif
