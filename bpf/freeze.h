/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Layout shared by the BPF side of `watch --freeze` (bpf/freeze.bpf.h) and its
 * userspace half (src/sources/freeze.c): the frozen set and the control array.
 * Fixed-size types only.  Include after the definitions of __u32/__u64.
 */
#ifndef SZ_FREEZE_H
#define SZ_FREEZE_H

/* Processes stopped at once, at most; beyond that the BPF side stops nobody
 * (and counts it) rather than stop a process it could not account for. */
#define SZ_FREEZE_MAX 1024

/* Value of the frozen set, keyed by __u32 tgid as the watcher's PID namespace
 * numbers it: the process is stopped for us, since STOP_NS. */
struct sz_frozen {
	__u64 stop_ns;	/* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the stop */
	__u64 first_ts; /* the earliest ts_ns of the records that carry this stop */
	/* records that carry this stop (threads of one process may stop it at
	 * once, and their records reach the ring in any order): userspace
	 * resumes once it has handled as many of them, never at the first */
	__u64 issued;
};

/* Keys of the control array (__u64 values). */
enum sz_freeze_ctl {
	SZ_FREEZE_LEASE = 0, /* CLOCK_MONOTONIC ns until which stops are allowed */
	SZ_FREEZE_OFF = 1,   /* non-zero: no stop ever again (shutdown, guardian) */
	SZ_FREEZE_CTL_N = 2,
};

#endif /* SZ_FREEZE_H */
