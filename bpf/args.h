/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Layouts shared by bpf/args.bpf.h and src/consumers/args.c: the rodata that
 * says which arguments to read, which filters to apply and which values to
 * key or histogram, and the argument data appended to a --trace call record.
 * Fixed-size types only; include after __u8/__u16/__u32/__u64 are defined.
 */
#ifndef SZ_ARGS_H
#define SZ_ARGS_H

#define SZ_ARGS_MAX 8		/* --arg specs per run */
#define SZ_ARGS_FILTERS_MAX 8	/* --filter expressions per run */
#define SZ_ARGS_DATA_MAX 4096	/* bytes one str/buf argument may show */
#define SZ_ARGS_BYTES_MAX 16384 /* data bytes one call record may carry */
#define SZ_ARGS_STR_DEFAULT 128
#define SZ_ARGS_BUFLEN_DEFAULT 256 /* buf:argK without an explicit cap */
#define SZ_ARGS_KEYS_MAX 16384	   /* distinct (symbol, value) keys of --key */
#define SZ_HIST_BUCKETS 66	   /* negative, zero, then [2^i, 2^(i+1)) for i < 64 */
#define SZ_SRC_RET 7		   /* value source: the return value (arg0..arg5 are 1..6) */

/* Value kinds, as in enum sz_arg_type of include/symbolyze.h. */
enum sz_args_kind {
	SZ_AK_INT = 1,
	SZ_AK_UINT,
	SZ_AK_INT32,
	SZ_AK_UINT32,
	SZ_AK_HEX,
	SZ_AK_STR,
	SZ_AK_BUF,
};

enum sz_args_op {
	SZ_OP_EQ = 1,
	SZ_OP_NE,
	SZ_OP_LT,
	SZ_OP_GT,
};

/* One --arg of kind STR or BUF: where its slot lies in the record's data. */
struct sz_args_slot {
	__u8 kind;    /* SZ_AK_STR or SZ_AK_BUF; other kinds need no slot */
	__u8 arg;     /* 0..5: the pointer */
	__u8 len_arg; /* BUF: the length's argument + 1 (1..6); 0: fixed length */
	__u8 pad;
	__u32 cap; /* STR: bytes shown; BUF: fixed length or cap */
	__u32 off; /* of the slot's header, from the start of the data */
	__u32 pad2;
};

struct sz_args_filter {
	__u8 arg;  /* 0..5 */
	__u8 kind; /* INT, UINT, INT32, UINT32: width and signedness */
	__u8 op;   /* enum sz_args_op */
	__u8 pad[5];
	__u64 value;
};

struct sz_args_cfg {
	__u32 nslots, nfilters;
	__u32 has_comm;	  /* a --comm glob is in sz_comm_glob */
	__u32 gate;	  /* filters on arguments and return probes: verdicts in the gate map */
	__u32 key_src;	  /* 0: none; 1..6: argN; SZ_SRC_RET */
	__u32 key_kind;	  /* INT, UINT, INT32, UINT32 */
	__u32 hist_src;	  /* as key_src */
	__u32 hist_kind;  /* as key_kind */
	__u32 data_bytes; /* appended to each call record: the slots' total */
	__u32 pad;
	struct sz_args_slot slot[SZ_ARGS_MAX];
	struct sz_args_filter filter[SZ_ARGS_FILTERS_MAX];
};

/* Each slot starts with this header, then cap bytes (STR: cap + 2, so a
 * string longer than cap is known to be). */
enum sz_args_flag {
	SZ_AF_FAULT = 1, /* the memory could not be read */
	SZ_AF_NULL = 2,	 /* the pointer was NULL */
	SZ_AF_TRUNC = 4, /* longer than shown */
};

struct sz_args_hdr {
	__u64 want; /* BUF from an argument: the length asked for */
	__u32 len;  /* bytes that follow and are valid */
	__u16 flags;
	__u16 pad;
};

/* --key: calls per (symbol, value); a per-CPU hash summed by userspace. */
struct sz_args_key {
	__u32 sym;
	__u32 pad;
	__u64 value;
};

/* The verdict of a call's filters, for its return: (thread, symbol). */
struct sz_args_gate_key {
	__u64 pid_tgid;
	__u32 sym;
	__u32 pad;
};

/* Slot size in the data: header, bytes, rounded to 8. */
#define SZ_ARGS_SLOT_BYTES(kind, cap) \
	((sizeof(struct sz_args_hdr) + (cap) + ((kind) == SZ_AK_STR ? 2 : 0) + 7) & ~7u)

#endif /* SZ_ARGS_H */
