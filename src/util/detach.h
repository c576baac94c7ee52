/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Detach many BPF links at once.  Releasing a perf-event link (a syscall
 * tracepoint, a uprobe) or a multi-uprobe link waits in the kernel for RCU and
 * RCU-tasks-trace grace periods (tens of ms each here); closed one after the
 * other those waits add up, closed from threads they overlap.
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
};

struct sz_detach {
	struct sz_detach_job *jobs;
	size_t njobs, cap;
	size_t next; /* the next job a thread takes (atomic) */
	pthread_t th[SZ_DETACH_THREADS];
	size_t nth;
	size_t inline_fast, threaded; /* for tests and the debug log */
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
/* Run the jobs in up to SZ_DETACH_THREADS threads (in this one if none can be
 * made); sz_detach_wait joins them and frees D's memory. */
void sz_detach_start(struct sz_detach *d);
void sz_detach_wait(struct sz_detach *d);

#endif
