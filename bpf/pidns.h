/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Process ids as the watcher's own PID namespace numbers them, for BPF programs.
 * The kernel's pid and tgid are those of the initial namespace; a watcher in a
 * container must report, filter and signal by the numbers it sees there, and
 * must leave alone processes that have no number there at all.
 *
 * Userspace sets sz_pidns_ino before load: the inode of its PID namespace, or 0
 * in the initial namespace (then every task is visible and nothing is translated).
 * bpf_get_ns_current_pid_tgid() does not do: it fails for any task that lives
 * in a namespace nested below ours, though we see it, so the numbers are read
 * from struct pid as task_pid_nr_ns() does.  Include after vmlinux.h and
 * bpf_core_read.h.
 */
#ifndef SZ_BPF_PIDNS_H
#define SZ_BPF_PIDNS_H

#define SZ_PIDNS_MAX_LEVEL 32 /* MAX_PID_NS_LEVEL */

const volatile __u32 sz_pidns_ino = 0;
/* Our namespace's level + 1, learnt at the first match (0: not yet known). */
__u32 sz_pidns_level1 = 0;
/* Records not made for processes with no pid in our namespace. */
__u64 sz_pidns_invisible = 0;

/* numbers[LEVEL].nr of PID if numbers[LEVEL] belongs to our namespace, else 0. */
static __always_inline __u32 sz_pidns_nr_at(struct pid *pid, __u32 level)
{
	struct upid *u = (void *)pid + bpf_core_field_offset(struct pid, numbers) +
			 (__u64)level * bpf_core_type_size(struct upid);

	if (BPF_CORE_READ(u, ns, ns.inum) != sz_pidns_ino)
		return 0;
	return (__u32)BPF_CORE_READ(u, nr);
}

/* PID's number in our namespace; 0 when it has none there (invisible to us). */
static __always_inline __u32 sz_pidns_nr(struct pid *pid)
{
	__u32 level, l1 = sz_pidns_level1, nr;

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	if (l1)
		return level + 1 >= l1 ? sz_pidns_nr_at(pid, l1 - 1) : 0;
	for (__u32 i = 0; i <= SZ_PIDNS_MAX_LEVEL; i++) {
		if (i > level)
			break;
		nr = sz_pidns_nr_at(pid, i);
		if (nr) {
			sz_pidns_level1 = i + 1;
			return nr;
		}
	}
	return 0;
}

/* T's process id (tgid) in our namespace, 0 if invisible. */
static __always_inline __u32 sz_ns_tgid(struct task_struct *t)
{
	if (!sz_pidns_ino)
		return BPF_CORE_READ(t, tgid);
	return sz_pidns_nr(BPF_CORE_READ(t, signal, pids[PIDTYPE_TGID]));
}

/* T's thread id in our namespace, 0 if invisible. */
static __always_inline __u32 sz_ns_pid(struct task_struct *t)
{
	if (!sz_pidns_ino)
		return BPF_CORE_READ(t, pid);
	return sz_pidns_nr(BPF_CORE_READ(t, thread_pid));
}

static __always_inline __u32 sz_ns_cur_tgid(void)
{
	if (!sz_pidns_ino)
		return bpf_get_current_pid_tgid() >> 32;
	return sz_ns_tgid(bpf_get_current_task_btf());
}

static __always_inline __u32 sz_ns_cur_pid(void)
{
	if (!sz_pidns_ino)
		return (__u32)bpf_get_current_pid_tgid();
	return sz_ns_pid(bpf_get_current_task_btf());
}

#endif /* SZ_BPF_PIDNS_H */
