/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * User-stack capture for the probe programs (--stacks): one struct sz_stack_rec into the
 * `events` ring, ahead of the call record the same program may send, so userspace meets a
 * thread's stack just before that thread's call.  FP mode lets the kernel walk frame
 * pointers; DWARF mode copies the registers and a bounded slice of the stack for libdw to
 * unwind in userspace (perf --call-graph dwarf).  Either way the caller is exact: at
 * function entry the return address is *sp, whatever frame pointers say.
 */
#ifndef SZ_STACK_BPF_H
#define SZ_STACK_BPF_H

#include "stack.h"
#include "self.h" /* no stack of our own calls: each would cost us another */
#include "lazywake.h"

/* The ring the records go to: the including program's (probe.bpf.c: events). */
#ifndef SZ_STACK_RING
#define SZ_STACK_RING events
#endif

const volatile __u32 sz_stack_mode = SZ_STACK_OFF;
const volatile __u32 sz_stack_slice = 8192; /* a multiple of 4096, <= SZ_STACK_SLICE_MAX */
__u64 sz_stack_drops = 0;		    /* stacks the ring could not take */

static __always_inline void sz_stack_regs(struct pt_regs *ctx, __u64 *r)
{
	r[0] = ctx->ax;
	r[1] = ctx->dx;
	r[2] = ctx->cx;
	r[3] = ctx->bx;
	r[4] = ctx->si;
	r[5] = ctx->di;
	r[6] = ctx->bp;
	r[7] = ctx->sp;
	r[8] = ctx->r8;
	r[9] = ctx->r9;
	r[10] = ctx->r10;
	r[11] = ctx->r11;
	r[12] = ctx->r12;
	r[13] = ctx->r13;
	r[14] = ctx->r14;
	r[15] = ctx->r15;
	r[16] = ctx->ip;
}

/* Copy as much of [sp, sp + sz_stack_slice) as is mapped: the stack's top may be closer
 * than the slice, so on a fault retry up to each lower page boundary. */
static __always_inline __u32 sz_stack_copy(unsigned char *dst, __u64 sp, __u32 *flags)
{
	__u64 end = (sp + sz_stack_slice) & ~4095ull, n;

	if (!bpf_probe_read_user(dst, sz_stack_slice, (void *)sp))
		return sz_stack_slice;
	*flags |= SZ_STACK_F_SHORT;
	for (int i = 0; i < SZ_STACK_SLICE_MAX / 4096; i++) {
		if (end <= sp)
			break;
		n = end - sp;
		if (n > sz_stack_slice)
			n = sz_stack_slice;
		if (!bpf_probe_read_user(dst, n, (void *)sp))
			return (__u32)n;
		end -= 4096;
	}
	*flags |= SZ_STACK_F_NO_SLICE;
	return 0;
}

/* DWARF mode: the return addresses the kernel took away.  A function with a uretprobe
 * pending (ours: --latency, --trace, --key ret; anyone's) has the [uprobes] trampoline in
 * its return address slot until it returns; the kernel keeps the real one in the task's
 * return_instances, innermost first, with the slot's address (the stack pointer at that
 * function's entry).  The unwinder reads the real one for that slot (stacks.c); the
 * kernel's frame-pointer walk does the same itself (Linux 6.11). */
static __always_inline __u32 sz_stack_uret(__u64 *pairs)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct return_instance *ri = BPF_CORE_READ(t, utask, return_instances);
	__u32 n = 0;

	for (int i = 0; i < SZ_STACK_RET_MAX && ri; i++) {
		pairs[(2 * n) & 127] = BPF_CORE_READ(ri, stack);
		pairs[(2 * n + 1) & 127] = BPF_CORE_READ(ri, orig_ret_vaddr);
		n++;
		ri = BPF_CORE_READ(ri, next);
	}
	return n;
}

/* SITE: taken at a probe site inside a function (USDT), not at its entry: *sp is then
 * no return address, so none is sent (SZ_STACK_F_SITE) and the unwinder alone finds the
 * caller. */
static __always_inline void sz_stack_capture_at(struct pt_regs *ctx, __u32 sym, int site)
{
	struct sz_stack_rec *r;
	__u32 tgid, extra = sz_stack_mode == SZ_STACK_DWARF ? sz_stack_slice : 0;
	long n;

	if (sz_stack_mode == SZ_STACK_OFF)
		return;
	tgid = sz_ns_cur_tgid();
	if (!tgid || sz_is_self(tgid))
		return; /* invisible: counted by the caller's own check */
	r = bpf_ringbuf_reserve(&SZ_STACK_RING, sizeof(*r) + extra, 0);
	if (!r) {
		__sync_fetch_and_add(&sz_stack_drops, 1);
		return;
	}
	r->type = SZ_PROBE_STACK;
	r->sym = sym;
	r->tgid = tgid;
	r->tid = sz_ns_cur_pid();
	r->ts_ns = bpf_ktime_get_ns();
	r->flags = 0;
	r->nips = 0;
	r->slice_len = 0;
	r->nret = 0;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	sz_stack_regs(ctx, r->regs);
	if (site) {
		r->ret_addr = 0;
		r->flags |= SZ_STACK_F_SITE;
	} else if (bpf_probe_read_user(&r->ret_addr, sizeof(r->ret_addr), (void *)ctx->sp)) {
		r->ret_addr = 0;
		r->flags |= SZ_STACK_F_NO_RET;
	}
	if (sz_stack_mode == SZ_STACK_FP) {
		n = bpf_get_stack(ctx, r->ips, sizeof(r->ips), BPF_F_USER_STACK);
		if (n < 0)
			r->flags |= SZ_STACK_F_FP_ERROR;
		else
			r->nips = (__u32)n / 8;
	} else {
		r->slice_len = sz_stack_copy((unsigned char *)(r + 1), ctx->sp, &r->flags);
		r->nret = sz_stack_uret(r->ips);
	}
	bpf_ringbuf_submit(r, sz_lazy_wakeup(&SZ_STACK_RING));
}

static __always_inline void sz_stack_capture(struct pt_regs *ctx, __u32 sym)
{
	sz_stack_capture_at(ctx, sym, 0);
}

#endif /* SZ_STACK_BPF_H */
