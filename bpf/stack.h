/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The user-stack record shared by bpf/stack.bpf.h (capture, in the probe programs) and
 * src/consumers/stacks.c (unwind, symbolize, aggregate).  Fixed-size types only; the copied
 * slice of user stack follows the header, slice_len bytes.  Include after __u32/__u64.
 */
#ifndef SZ_STACK_H
#define SZ_STACK_H

#define SZ_PROBE_STACK 3	  /* record type, next to SZ_PROBE_CALL and SZ_PROBE_RETURN */
#define SZ_STACK_REGS 17	  /* x86-64 DWARF registers 0..16 (rax ... r15, rip) */
#define SZ_STACK_FP_MAX 127	  /* frames of the kernel's frame-pointer walk */
#define SZ_STACK_SLICE_MAX 65536u /* largest --stack-bytes */
#define SZ_STACK_REG_SP 7	  /* DWARF numbers of rsp, rbp and rip */
#define SZ_STACK_REG_BP 6
#define SZ_STACK_REG_IP 16
#define SZ_STACK_RET_MAX 32 /* pending uretprobes' return addresses sent in DWARF mode */

enum sz_stack_mode {
	SZ_STACK_OFF = 0,
	SZ_STACK_FP = 1,    /* the kernel walks frame pointers (bpf_get_stack) */
	SZ_STACK_DWARF = 2, /* registers + a slice of stack, unwound with CFI in userspace */
};

/* flags */
#define SZ_STACK_F_NO_RET 1u   /* the return address at *sp could not be read */
#define SZ_STACK_F_SHORT 2u    /* the stack ended before the asked slice size */
#define SZ_STACK_F_NO_SLICE 4u /* not a byte of the stack could be read */
#define SZ_STACK_F_FP_ERROR 8u /* bpf_get_stack failed */
#define SZ_STACK_F_SITE 16u    /* taken inside a function (USDT site): no ret_addr */

struct sz_stack_rec {
	__u32 type; /* SZ_PROBE_STACK: first, like struct sz_probe_rec's */
	__u32 sym;
	__u32 tgid;
	__u32 tid;
	__u64 ts_ns;
	__u32 flags;
	__u32 nips;	 /* FP mode: entries of ips[] */
	__u32 slice_len; /* DWARF mode: bytes of stack copied from regs[SZ_STACK_REG_SP] up */
	__u32 nret;	 /* DWARF mode: pairs in ips[] of pending uretprobes (SZ_STACK_RET_MAX) */
	__u64 ret_addr;	 /* *sp at function entry: the caller, exact without frame pointers */
	__u64 regs[SZ_STACK_REGS];
	/* FP mode: the kernel's walk.  DWARF mode: {slot, return address} pairs, innermost
	 * first: a function with a uretprobe pending (--latency, --trace, --key ret) has the
	 * kernel's trampoline at its return address slot, the real one is kept here. */
	__u64 ips[SZ_STACK_FP_MAX];
	char comm[16];
	/* unsigned char slice[slice_len] follows */
};

_Static_assert(sizeof(struct sz_stack_rec) == 1216, "sz_stack_rec layout changed");

#endif /* SZ_STACK_H */
