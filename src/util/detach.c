// SPDX-License-Identifier: BSD-2-Clause
/*
 * Many BPF links detached at once (detach.h).  Measured on 6.18: closing the
 * watch's sys_exit_mmap link waits for two RCU-tasks-trace grace periods and
 * one RCU grace period (~60 ms), a 1,000-site multi-uprobe link for one of
 * each (~30 ms), one after the other in a single thread; from threads the
 * grace periods overlap and the whole detach costs about the longest one.
 */
#include "util/detach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>

void sz_detach_init(struct sz_detach *d)
{
	memset(d, 0, sizeof(*d));
}

void sz_detach_add(struct sz_detach *d, void (*fn)(void *), void *arg)
{
	if (d->njobs == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 16;
		struct sz_detach_job *j = realloc(d->jobs, cap * sizeof(*j));

		if (!j) {
			fn(arg); /* no memory for the list: detach now, serially */
			return;
		}
		d->jobs = j;
		d->cap = cap;
	}
	d->jobs[d->njobs++] = (struct sz_detach_job){ fn, arg };
}

static void destroy_link(void *link)
{
	bpf_link__destroy(link);
}

/* 1 if releasing the link FD returns without waiting for a grace period:
 * the kernel frees these links after one, asynchronously (raw tracepoint,
 * tracing and iterator links), so the caller's own synchronisation (the
 * watch's membarrier) is what says their programs have finished.  Perf-event
 * links (tracepoints through perf, perf-event uprobes) and multi-uprobe
 * links wait in close() until the programs they ran have finished. */
static int releases_at_once(int fd)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.type == BPF_LINK_TYPE_RAW_TRACEPOINT || info.type == BPF_LINK_TYPE_TRACING ||
	       info.type == BPF_LINK_TYPE_ITER;
}

void sz_detach_link(struct sz_detach *d, struct bpf_link *link)
{
	if (!link)
		return;
	if (releases_at_once(bpf_link__fd(link))) {
		bpf_link__destroy(link);
		d->inline_fast++;
		return;
	}
	sz_detach_add(d, destroy_link, link);
}

void sz_detach_skeleton(struct sz_detach *d, struct bpf_object_skeleton *s)
{
	for (int i = 0; s && i < s->prog_cnt; i++) {
		struct bpf_prog_skeleton *p =
			(void *)((char *)s->progs + (size_t)i * (size_t)s->prog_skel_sz);

		if (p->link && *p->link) {
			sz_detach_link(d, *p->link);
			*p->link = NULL;
		}
	}
}

static void *worker(void *arg)
{
	struct sz_detach *d = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&d->next, 1, __ATOMIC_RELAXED)) < d->njobs)
		d->jobs[i].fn(d->jobs[i].arg);
	return NULL;
}

void sz_detach_start(struct sz_detach *d)
{
	size_t want = d->njobs < SZ_DETACH_THREADS ? d->njobs : SZ_DETACH_THREADS;

	d->threaded = d->njobs;
	/* Even a single job gets a thread: the caller overlaps its own wait
	 * (the watch's membarrier) with it. */
	for (d->nth = 0; d->nth < want; d->nth++)
		if (pthread_create(&d->th[d->nth], NULL, worker, d))
			break;
	if (!d->nth)
		worker(d); /* no thread: serially, as before */
}

void sz_detach_wait(struct sz_detach *d)
{
	for (size_t i = 0; i < d->nth; i++)
		pthread_join(d->th[i], NULL);
	d->nth = 0;
	free(d->jobs);
	d->jobs = NULL;
	d->njobs = d->cap = d->next = 0;
}
