/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Detach many BPF links at once.  Releasing a perf-event link (a syscall
 * tracepoint, a uprobe) or a multi-uprobe link waits in the kernel for RCU and
 * RCU-tasks-trace grace periods (tens of ms each here); closed one after the
 * other those waits add up, closed from threads they overlap.
 *
 * The releases happen in a keeper process, not in ours.  The kernel removes a
 * uprobe's breakpoints with get_user_pages, which fails when the task doing it
 * has SIGKILL pending: a `kill -9` that lands while our close() is releasing a
 * uprobe link leaves the breakpoints in the probed processes for good ("failed
 * to unregister, leaking uprobe"), 1,000 of them for a 1,000-function link.
 * So sz_detach_start first clones a keeper that shares nothing with us but a
 * copy of our file descriptors; our own closes then only drop references, and
 * the last ones, which release, are the keeper's.  A signal sent to us, or to
 * our process group, cannot reach it; it goes on alone if we die.
 */
#ifndef SZ_UTIL_DETACH_H
#define SZ_UTIL_DETACH_H

#include <pthread.h>
#include <stddef.h>

struct bpf_link;
struct bpf_object_skeleton;

#define SZ_DETACH_THREADS 16

struct sz_detach_job {
	void (*fn)(void *arg);
	void *arg;
	int at_once; /* a link whose release does not wait: before the others */
};

struct sz_detach {
	struct sz_detach_job *jobs;
	size_t njobs, cap;
	size_t next; /* the next job a thread takes (atomic) */
	pthread_t th[SZ_DETACH_THREADS];
	size_t nth;
	size_t inline_fast, threaded; /* for tests and the debug log */
	int membarrier; /* set by the caller: synchronize_rcu() once the links
			 * that release at once are released (sz_detach_wait) */
	int no_keeper;	/* set by the caller: release here (so does
			 * SYMBOLYZE_DETACH=inprocess) */
	int keeper;	/* the keeper's pid while it runs, else 0 */
	int keeper_pidfd; /* its pidfd, or -1 */
	int keeper_signal; /* after sz_detach_wait: the signal that killed the
			    * keeper mid-release (uprobes may be left), or 0 */
	int keeper_errno; /* why none could be made (0: one was, or none wanted) */
};

void sz_detach_init(struct sz_detach *d);
/* Detach LINK: at once if its release does not wait (raw tracepoint,
 * tracing, iterator links), else as a job for sz_detach_start.  LINK may be
 * NULL. */
void sz_detach_link(struct sz_detach *d, struct bpf_link *link);
/* Every link of a skeleton, as sz_detach_link, leaving its slots NULL (the
 * skeleton's own detach then has nothing left to do). */
void sz_detach_skeleton(struct sz_detach *d, struct bpf_object_skeleton *s);
/* FN(ARG) in a thread of sz_detach_start (at once if the job cannot be kept). */
void sz_detach_add(struct sz_detach *d, void (*fn)(void *), void *arg);
/* Clone the keeper, run the jobs here (each only drops a reference) and let
 * the keeper release.  With no keeper (SYMBOLYZE_DETACH=inprocess, or the
 * clone failed): the jobs in up to SZ_DETACH_THREADS threads, or in this one
 * if none can be made.  sz_detach_wait returns once every link is released
 * (and, with D->membarrier, an RCU grace period later) and frees D's memory. */
void sz_detach_start(struct sz_detach *d);
void sz_detach_wait(struct sz_detach *d);

/* bpf(CMD, ATTR, SIZE) that makes a link, from a child sharing our
 * descriptor table out of our SIGKILL's reach (see detach.c): the new
 * descriptor (O_CLOEXEC), or -errno.  In this process, as before, with
 * SYMBOLYZE_DETACH=inprocess or if no child can be made. */
long sz_detach_sheltered_bpf(int cmd, void *attr, unsigned int size);
/* N perf events (uprobes register as they open) opened likewise, each in
 * FDS[i] (O_CLOEXEC) or -errno there; the first failure ends them (the rest
 * -ECANCELED).  0, or -errno if none could be opened that way. */
struct perf_event_attr;
int sz_detach_sheltered_perf(const struct perf_event_attr *attrs, size_t n, int pid, int cpu,
			     int *fds);

#endif
