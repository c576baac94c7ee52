/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * BPF side of `watch --freeze`: stop the current process so that userspace can
 * attach its probes first, but only under a lease (renewed by the guardian
 * while the watcher's event loop is alive, see src/sources/freeze.c) and only
 * once the stop is written in the frozen set, from which the event loop, the
 * guardian's time bound and the guardian's last sweep resume it.  No lease, no
 * room in the set, or a watcher gone: no stop.
 * Include after vmlinux.h, bpf_helpers.h, watch.h and freeze.h.
 */
#ifndef SZ_FREEZE_BPF_H
#define SZ_FREEZE_BPF_H

#define SZ_SIGSTOP 19
#define SZ_SIGCONT 18

__u64 sz_freeze_skipped = 0; /* stops not made: the lease had lapsed */
__u64 sz_freeze_full = 0;    /* stops not made: the frozen set was full */

/* tgid (our PID namespace) -> since when it is stopped for us */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SZ_FREEZE_MAX);
	__type(key, __u32);
	__type(value, struct sz_frozen);
} frozen SEC(".maps");

/* enum sz_freeze_ctl -> __u64 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SZ_FREEZE_CTL_N);
	__type(key, __u32);
	__type(value, __u64);
} freeze_ctl SEC(".maps");

/* Take back R's share of a stop whose record will not reach userspace: the
 * last record of the stop deletes the entry and resumes (if SENT); otherwise
 * the others' records resume it.  (A drop makes userspace settle the set
 * too, and the bound ends every stop anyway.) */
static __always_inline void sz_freeze_undo(const struct sz_watch_rec *r, int sent)
{
	struct sz_frozen *e = bpf_map_lookup_elem(&frozen, &r->tgid);

	if (!e)
		return;
	if (__sync_fetch_and_add(&e->issued, -1) != 1)
		return;
	bpf_map_delete_elem(&frozen, &r->tgid);
	if (sent)
		bpf_send_signal(SZ_SIGCONT);
}

/* R joins the stop of its process in the set, or starts one.  0, or -1 if
 * the set is full. */
static __always_inline int sz_freeze_enter(const struct sz_watch_rec *r, __u64 now)
{
	struct sz_frozen *e, n = { now, r->ts_ns, 1 };

	e = bpf_map_lookup_elem(&frozen, &r->tgid);
	if (!e && !bpf_map_update_elem(&frozen, &r->tgid, &n, BPF_NOEXIST))
		return 0;
	if (!e) /* another thread of the process was first */
		e = bpf_map_lookup_elem(&frozen, &r->tgid);
	if (!e)
		return -1;
	__sync_fetch_and_add(&e->issued, 1);
	if (r->ts_ns < e->first_ts)
		e->first_ts = r->ts_ns;
	return 0;
}

/*
 * Stop the current process for record R (tgid and ts_ns set).  Returns 1 if
 * it was stopped.  The entry is written before the signal is sent, so whoever
 * sweeps the set after this program has run finds every stop it made; and
 * looked up again after it: had userspace resumed and deleted the entry in
 * between (its SIGCONT then came before our SIGSTOP), it is written again, so
 * no stop is ever left out of the set.
 */
static __always_inline int sz_freeze_stop(const struct sz_watch_rec *r)
{
	__u32 k_lease = SZ_FREEZE_LEASE, k_off = SZ_FREEZE_OFF;
	__u64 *lease = bpf_map_lookup_elem(&freeze_ctl, &k_lease);
	__u64 *off = bpf_map_lookup_elem(&freeze_ctl, &k_off);
	__u64 now = bpf_ktime_get_ns();

	if (!lease || !off || *off || now > *lease) {
		__sync_fetch_and_add(&sz_freeze_skipped, 1);
		return 0;
	}
	if (sz_freeze_enter(r, now)) {
		__sync_fetch_and_add(&sz_freeze_full, 1);
		return 0;
	}
	if (bpf_send_signal(SZ_SIGSTOP)) {
		sz_freeze_undo(r, 0);
		return 0;
	}
	if (!bpf_map_lookup_elem(&frozen, &r->tgid) && sz_freeze_enter(r, now)) {
		__sync_fetch_and_add(&sz_freeze_full, 1);
		bpf_send_signal(SZ_SIGCONT);
		return 0;
	}
	/* The guardian turns the lease off before its last sweeps, and waits
	 * for programs in flight with synchronize_rcu(); a syscall tracepoint
	 * that may fault runs preemptible, outside that wait, so this program
	 * can finish after the last sweep and nobody would resume the stop.
	 * Read the switch again (a full barrier): off now, undo it here. */
	if (__sync_fetch_and_add(off, 0)) {
		bpf_map_delete_elem(&frozen, &r->tgid);
		bpf_send_signal(SZ_SIGCONT);
		__sync_fetch_and_add(&sz_freeze_skipped, 1);
		return 0;
	}
	return 1;
}

/* The process is gone: its pid may be reused, never resume that one. */
static __always_inline void sz_freeze_forget(__u32 tgid)
{
	bpf_map_delete_elem(&frozen, &tgid);
}

#endif /* SZ_FREEZE_BPF_H */
