// SPDX-License-Identifier: BSD-2-Clause
/*
 * Hook variants for the watch's mmap hook, measured by bench/hooks.c: each pair
 * does what the watch does on a syscall that is not mmap (nothing) and counts
 * the mmaps it sees, so only the cost of being called differs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SZ_NR_MMAP 9

__u64 hits = 0;

/* today's watch: every syscall of every process */
SEC("tp_btf/sys_enter")
int BPF_PROG(btf_enter, struct pt_regs *regs, long id)
{
	if (id != SZ_NR_MMAP)
		return 0;
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(btf_exit, struct pt_regs *regs, long ret)
{
	if (BPF_CORE_READ(regs, orig_ax) != SZ_NR_MMAP)
		return 0;
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

/* the per-syscall tracepoints: the kernel tests a bitmap, runs BPF for mmap only */
SEC("tp/syscalls/sys_enter_mmap")
int tp_enter(struct trace_event_raw_sys_enter *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("tp/syscalls/sys_exit_mmap")
int tp_exit(struct trace_event_raw_sys_exit *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

/* mmap_lock tracepoints fire on lock traffic, not on syscalls: a lower bound
 * of what a hook outside the syscall path costs (they carry no mmap result) */
SEC("tp_btf/mmap_lock_released")
int BPF_PROG(lock_rel, struct mm_struct *mm, bool write)
{
	if (write)
		__sync_fetch_and_add(&hits, 1);
	return 0;
}

/* bench/run.py's probe rows: the least a uprobe can do, from a minimal loader
 * (not our probe code): the kernel's trap and one add, counted for the check */
SEC("uprobe")
int uprobe_add(struct pt_regs *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}
