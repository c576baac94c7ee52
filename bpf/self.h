/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The watcher never observes itself: a uprobe goes on an inode for every process, ours
 * too, and a probed function that the tool calls while handling a hit (malloc, while it
 * unwinds a stack or formats a call) would feed it one more hit for each it handles,
 * for ever.  The scan leaves itself out the same way (iter.bpf.h's self_tgid).
 */
#ifndef SZ_BPF_SELF_H
#define SZ_BPF_SELF_H

/* Our own process id as our PID namespace sees it (getpid()); 0: no check. */
const volatile __u32 sz_self_tgid = 0;
/* Set as the watch stops (sz_probe_mgr_quiet): no record and no count after it, so the
 * final drain of the ring ends however busy the probed functions are. */
__u32 sz_quiet = 0;

/* TGID: the current task's process id in our namespace (sz_ns_cur_tgid()). */
static __always_inline int sz_is_self(__u32 tgid)
{
	return sz_quiet || (sz_self_tgid && tgid == sz_self_tgid);
}

#endif /* SZ_BPF_SELF_H */
