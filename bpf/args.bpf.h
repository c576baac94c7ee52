/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Argument values, filters, keys and histograms of probes, in BPF (issue 11):
 * included by bpf/probe.bpf.c after its maps, called from its programs.  All
 * configuration is rodata (sz_args), so a run without these options pays a
 * branch the verifier removes.  Userspace side: src/consumers/args.c.
 */
#ifndef SZ_ARGS_BPF_H
#define SZ_ARGS_BPF_H

#include "args.h"
#include "glob.h"
#include "count.bpf.h"

const volatile struct sz_args_cfg sz_args = {};
const volatile struct sz_glob sz_comm_glob = {};

__u64 key_overflow = 0; /* --key values the table had no room for */
__u64 gate_unseen = 0;	/* returns whose call's filter verdict was not seen */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SZ_ARGS_KEYS_MAX);
	__type(key, struct sz_args_key);
	__type(value, __u64);
} keys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SZ_HIST_BUCKETS); /* set to nsyms * SZ_HIST_BUCKETS before load */
	__type(key, __u32);
	__type(value, __u64);
} vhist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sz_args_gate_key);
	__type(value, __u8);
} gate SEC(".maps");

/* The six argument registers, indexed & 7. */
struct sz_args_regs {
	__u64 r[8];
};

/* Not inlined: clang would otherwise merge two inlined copies into one
 * load through ctx + a computed offset, which the verifier refuses. */
static __noinline void sz_args_load(struct pt_regs *ctx, struct sz_args_regs *a)
{
	a->r[0] = PT_REGS_PARM1(ctx);
	a->r[1] = PT_REGS_PARM2(ctx);
	a->r[2] = PT_REGS_PARM3(ctx);
	a->r[3] = PT_REGS_PARM4(ctx);
	a->r[4] = PT_REGS_PARM5(ctx);
	a->r[5] = PT_REGS_PARM6(ctx);
	a->r[6] = 0;
	a->r[7] = 0;
}

/* A register as the kind says: 32-bit kinds look at the low half only (the
 * ABI leaves the high half of an int argument unspecified). */
static __always_inline __u64 sz_args_shape(__u64 v, __u32 kind)
{
	if (kind == SZ_AK_INT32)
		return (__u64)(__s64)(__s32)v;
	if (kind == SZ_AK_UINT32)
		return (__u32)v;
	return v;
}

static __always_inline int sz_args_signed(__u32 kind)
{
	return kind == SZ_AK_INT || kind == SZ_AK_INT32;
}

struct sz_comm_ctx {
	char s[16];
	int slen;
	int result;
	struct sz_glob_state st;
};

static __always_inline const struct sz_glob *sz_comm_glob_of(void)
{
	const struct sz_glob *g = (const struct sz_glob *)&sz_comm_glob;

	asm volatile("" : "+r"(g)); /* not folded to the zero initializer */
	return g;
}

static long sz_comm_cb(__u32 i, void *data)
{
	struct sz_comm_ctx *c = data;
	int r = sz_glob_step_m(sz_comm_glob_of(), c->s, c->slen, &c->st, 15);

	if (r)
		c->result = r;
	return r != 0;
}

/* 1 when the process name matches --comm (or there is none).  A comm has at
 * most 15 bytes: (15 + 2) * (128 + 15 + 2) steps bound any pattern, so the
 * budget below always reaches a verdict. */
static __always_inline int sz_args_comm_ok(void)
{
	struct sz_comm_ctx c = {};

	if (!sz_args.has_comm)
		return 1;
	bpf_get_current_comm(c.s, sizeof(c.s));
	c.s[15] = 0;
	for (int i = 0; i < 16; i++) {
		if (!c.s[i])
			break;
		c.slen = i + 1;
	}
	if (!sz_glob_prefilter(sz_comm_glob_of(), c.s, c.slen, 15))
		return 0;
	sz_glob_state_init(&c.st);
	bpf_loop(4096, sz_comm_cb, &c, 0);
	return c.result == 1;
}

static __always_inline int sz_args_cmp(__u64 v, __u32 kind, __u32 op, __u64 want)
{
	v = sz_args_shape(v, kind);
	if (op == SZ_OP_EQ)
		return v == want;
	if (op == SZ_OP_NE)
		return v != want;
	if (sz_args_signed(kind))
		return op == SZ_OP_LT ? (__s64)v < (__s64)want : (__s64)v > (__s64)want;
	return op == SZ_OP_LT ? v < want : v > want;
}

/* The filters on arguments, ANDed. */
static __always_inline int sz_args_filters_ok(struct pt_regs *ctx)
{
	struct sz_args_regs a;

	sz_args_load(ctx, &a);
#pragma unroll
	for (__u32 i = 0; i < SZ_ARGS_FILTERS_MAX; i++) {
		if (i >= sz_args.nfilters)
			break;
		if (!sz_args_cmp(a.r[sz_args.filter[i].arg & 7], sz_args.filter[i].kind,
				 sz_args.filter[i].op, sz_args.filter[i].value))
			return 0;
	}
	return 1;
}

/* At function entry: does this call pass --comm and every --filter? */
static __always_inline int sz_args_pass(struct pt_regs *ctx)
{
	if (!sz_args.has_comm && !sz_args.nfilters)
		return 1;
	return sz_args_comm_ok() && sz_args_filters_ok(ctx);
}

/* At function return: the comm is still there; the arguments are not, so
 * their verdict comes from the gate the entry program wrote. */
static __always_inline int sz_args_ret_pass(__u32 sym)
{
	struct sz_args_gate_key k = { bpf_get_current_pid_tgid(), sym };
	__u8 *v;

	if (!sz_args_comm_ok())
		return 0;
	if (!sz_args.gate)
		return 1;
	v = bpf_map_lookup_elem(&gate, &k);
	if (!v) {
		__sync_fetch_and_add(&gate_unseen, 1);
		return 0;
	}
	return *v;
}

/* Bytes appended to a record of TYPE: the str/buf slots of a call. */
static __always_inline __u32 sz_args_extra(__u32 type)
{
	return type == SZ_PROBE_CALL ? sz_args.data_bytes : 0;
}

/* Fill the slots after a call record: DATA has sz_args.data_bytes bytes. */
static __always_inline void sz_args_fill(struct pt_regs *ctx, char *data)
{
	struct sz_args_regs a;

	if (!sz_args.nslots)
		return;
	sz_args_load(ctx, &a);
#pragma unroll
	for (__u32 i = 0; i < SZ_ARGS_MAX; i++) {
		struct sz_args_hdr *h;
		const void *p;
		__u32 cap, off;
		__u64 n;
		long rc;

		if (i >= sz_args.nslots)
			break;
		off = sz_args.slot[i].off;
		cap = sz_args.slot[i].cap;
		if (off > SZ_ARGS_BYTES_MAX || cap > SZ_ARGS_DATA_MAX)
			break; /* never: userspace lays the slots out; tells the verifier */
		h = (struct sz_args_hdr *)(data + off);
		p = (const void *)a.r[sz_args.slot[i].arg & 7];
		h->want = 0;
		h->len = 0;
		h->flags = 0;
		h->pad = 0;
		if (!p) {
			h->flags = SZ_AF_NULL;
			continue;
		}
		if (sz_args.slot[i].kind == SZ_AK_STR) {
			rc = bpf_probe_read_user_str((char *)(h + 1), cap + 2, p);
			if (rc <= 0) {
				h->flags = SZ_AF_FAULT;
				continue;
			}
			n = (__u64)rc - 1; /* without the NUL */
			if (n > cap) {
				n = cap;
				h->flags = SZ_AF_TRUNC;
			}
			h->len = (__u32)n;
			continue;
		}
		n = cap;
		if (sz_args.slot[i].len_arg) {
			h->want = a.r[(sz_args.slot[i].len_arg - 1) & 7];
			n = h->want;
			if (n > cap) {
				n = cap;
				h->flags = SZ_AF_TRUNC;
			}
		}
		n &= SZ_ARGS_DATA_MAX * 2 - 1;
		if (n > cap)
			n = cap;
		if (bpf_probe_read_user((char *)(h + 1), (__u32)n, p)) {
			h->flags = SZ_AF_FAULT;
			continue;
		}
		h->len = (__u32)n;
	}
}

/* floor(log2(v)) for v > 0 */
static __always_inline __u32 sz_args_log2(__u64 v)
{
	__u32 b = 0;

	if (v >> 32) {
		v >>= 32;
		b += 32;
	}
	if (v >> 16) {
		v >>= 16;
		b += 16;
	}
	if (v >> 8) {
		v >>= 8;
		b += 8;
	}
	if (v >> 4) {
		v >>= 4;
		b += 4;
	}
	if (v >> 2) {
		v >>= 2;
		b += 2;
	}
	if (v >> 1)
		b += 1;
	return b;
}

static __always_inline void sz_args_key_add(__u32 sym, __u64 v)
{
	struct sz_args_key k = { .sym = sym, .value = sz_args_shape(v, sz_args.key_kind) };

	sz_count_add(&keys, &k, &key_overflow);
}

static __always_inline void sz_args_hist_add(__u32 sym, __u64 v)
{
	__u32 b, slot;
	__u64 *c;

	v = sz_args_shape(v, sz_args.hist_kind);
	if (sz_args_signed(sz_args.hist_kind) && (__s64)v < 0)
		b = 0;
	else if (!v)
		b = 1;
	else
		b = 2 + sz_args_log2(v);
	if (sym >= nsyms || b >= SZ_HIST_BUCKETS)
		return;
	slot = sym * SZ_HIST_BUCKETS + b;
	c = bpf_map_lookup_elem(&vhist, &slot);
	if (c)
		*c += 1;
}

/* --key/--hist on arguments: at entry, after the filters. */
SEC("uprobe")
int sz_key_entry(struct pt_regs *ctx)
{
	__u32 sym = (__u32)bpf_get_attach_cookie(ctx);
	struct sz_args_regs a;

	if (!sz_cg_ok(bpf_get_current_task_btf()) || sz_is_self(sz_ns_cur_tgid()) ||
	    !sz_args_pass(ctx)) /* --cgroup */
		return 0;
	sz_args_load(ctx, &a);
	if (sz_args.key_src >= 1 && sz_args.key_src <= 6)
		sz_args_key_add(sym, a.r[(sz_args.key_src - 1) & 7]);
	if (sz_args.hist_src >= 1 && sz_args.hist_src <= 6)
		sz_args_hist_add(sym, a.r[(sz_args.hist_src - 1) & 7]);
	return 0;
}

/* --key ret/--hist ret: at return, if the call passed. */
SEC("uretprobe")
int sz_key_exit(struct pt_regs *ctx)
{
	__u32 sym = (__u32)bpf_get_attach_cookie(ctx);

	if (!sz_cg_ok(bpf_get_current_task_btf()) || sz_is_self(sz_ns_cur_tgid()) ||
	    !sz_args_ret_pass(sym))
		return 0;
	if (sz_args.key_src == SZ_SRC_RET)
		sz_args_key_add(sym, PT_REGS_RC(ctx));
	if (sz_args.hist_src == SZ_SRC_RET)
		sz_args_hist_add(sym, PT_REGS_RC(ctx));
	return 0;
}

/* With filters on arguments and probes on returns: each call's verdict. */
SEC("uprobe")
int sz_gate_entry(struct pt_regs *ctx)
{
	struct sz_args_gate_key k = { bpf_get_current_pid_tgid(),
				      (__u32)bpf_get_attach_cookie(ctx) };
	__u8 v = (__u8)sz_args_filters_ok(ctx);

	bpf_map_update_elem(&gate, &k, &v, BPF_ANY);
	return 0;
}

#endif /* SZ_ARGS_BPF_H */
