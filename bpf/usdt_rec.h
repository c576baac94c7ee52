/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Records and keys shared by bpf/usdt.bpf.c and src/consumers/usdt.c.  Fixed-
 * size types only, explicit padding.  Include after __u32/__u64 are defined.
 */
#ifndef SZ_USDT_REC_H
#define SZ_USDT_REC_H

#define SZ_USDT_NARGS 12    /* BPF_USDT_MAX_ARG_CNT */
#define SZ_USDT_NSTR 3	    /* string arguments copied per call */
#define SZ_USDT_STR_LEN 128 /* bytes of each, NUL included */
#define SZ_USDT_MAX_IDS 256 /* ids (the USDT cookie); libbpf's spec table size */

/* --count: hits per (process, probe id) */
struct sz_usdt_key {
	__u32 tgid;
	__u32 probe;
};

/* --trace: one record per hit.  str[k] holds the k-th argument marked as a
 * string for this probe (lowest argument number first). */
struct sz_usdt_rec {
	__u32 probe;
	__u32 tgid;
	__u32 tid;
	__s32 nargs; /* bpf_usdt_arg_cnt(), negative errno if the spec was lost */
	__u64 ts_ns;
	__u64 args[SZ_USDT_NARGS];
	char comm[16];
	char str[SZ_USDT_NSTR][SZ_USDT_STR_LEN];
};

_Static_assert(sizeof(struct sz_usdt_rec) == 24 + 96 + 16 + 384, "sz_usdt_rec layout changed");

#endif
