/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * When a probe's record (a call, a return, a stack, a USDT hit) wakes its
 * reader: only once the ring is a quarter full.  A wake-up per record costs
 * the probed thread an irq_work and the reader a context switch: half of a
 * --stacks call (bench/NOTES.md, issue 11).  The reader reads every ring at
 * least every 20 ms anyway (SILENT_MS in src/sources/watch.c): that bounds how
 * late a record of a slow trickle is shown, and a quarter-full ring still
 * wakes it at once, long before the ring can fill.
 */
#ifndef SZ_LAZYWAKE_H
#define SZ_LAZYWAKE_H

#define sz_lazy_wakeup(ring)                                                        \
	(bpf_ringbuf_query((ring), BPF_RB_AVAIL_DATA) >=                           \
			 bpf_ringbuf_query((ring), BPF_RB_RING_SIZE) / 4 ?         \
		 BPF_RB_FORCE_WAKEUP :                                              \
		 BPF_RB_NO_WAKEUP)

#endif
