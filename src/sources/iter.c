// SPDX-License-Identifier: BSD-2-Clause
/*
 * Loader and reader of the kernel-side scan (bpf/iter.bpf.c): one pass of an
 * iter/task_vma program over every process, whose records (only the code and
 * first page of files the glob may match) become mapping records for the
 * pipeline, as /proc's lines do in scan.c.  Reading every /proc/PID/maps costs
 * a text file per process; here the kernel writes what matters only.
 */
#include "sources/iter.h"
#include "util/kbtf.h"
#include "util/log.h"
#include "watch.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define READ_BYTES (64u << 10)
#define SEEN_BATCH 1024 /* processes per bpf(2) call when marking them seen */

_Static_assert(SZ_ITER_HDR_LEN == offsetof(struct sz_iter_rec, path), "header length");

static const char deleted_suffix[] = " (deleted)";

long sz_iter_rec_len(const void *buf, size_t n)
{
	struct sz_iter_rec r;

	if (n < SZ_ITER_HDR_LEN)
		return 0;
	memcpy(&r, buf, SZ_ITER_HDR_LEN);
	if (r.len < SZ_ITER_HDR_LEN + 1 || r.len > sizeof(r) ||
	    r.len != SZ_ITER_HDR_LEN + (size_t)r.path_len + 1)
		return -EINVAL;
	if (n < r.len)
		return 0;
	if (((const char *)buf)[SZ_ITER_HDR_LEN + r.path_len])
		return -EINVAL;
	return r.len;
}

int sz_iter_rec_mapping(char *rec, char comm[SZ_ITER_COMM_LEN + 1], struct sz_mapping *m)
{
	struct sz_iter_rec r;
	char *path = rec + SZ_ITER_HDR_LEN;
	size_t plen;

	/* The header is copied out (the buffer is not aligned for it); the path
	 * stays where it is, its NUL checked by sz_iter_rec_len. */
	memcpy(&r, rec, SZ_ITER_HDR_LEN);
	if (!r.tgid || r.tgid > 0x7fffffff || r.end <= r.start)
		return -EINVAL;
	memcpy(comm, r.comm, SZ_ITER_COMM_LEN);
	comm[SZ_ITER_COMM_LEN] = '\0';
	plen = r.path_len;
	*m = (struct sz_mapping){
		.pid = (pid_t)r.tgid,
		.source = SZ_SOURCE_SCAN,
		.start = r.start,
		.end = r.end,
		.pgoff = r.pgoff,
		/* VM_READ, VM_WRITE and VM_EXEC are PROT_READ, _WRITE and _EXEC */
		.prot = (unsigned)(r.vm_flags & (PROT_READ | PROT_WRITE | PROT_EXEC)),
		.dev = r.dev,
		.ino = r.ino,
		.path = path,
		.ts_ns = r.ts_ns,
		.comm = comm,
		.cgroup_id = r.cgroup_id,
	};
	if (r.flags & SZ_ITER_PATH_FAILED) {
		m->flags |= SZ_MAPPING_PATH_INCOMPLETE;
	} else if (plen >= sizeof(deleted_suffix) - 1 &&
		   !memcmp(path + plen - (sizeof(deleted_suffix) - 1), deleted_suffix,
			   sizeof(deleted_suffix) - 1)) {
		/* As /proc/PID/maps says it, and as scan.c reads it. */
		path[plen - (sizeof(deleted_suffix) - 1)] = '\0';
		m->flags |= SZ_MAPPING_DELETED;
	}
	return 0;
}

/* One checked record to the pipeline. */
static int submit(struct sz_pipeline *p, char *rec)
{
	char comm[SZ_ITER_COMM_LEN + 1];
	struct sz_mapping m;

	if (sz_iter_rec_mapping(rec, comm, &m))
		return -EINVAL;
	return sz_pipeline_submit(p, &m);
}

/* What one run cost (the debug log; bench/NOTES.md compares it with the
 * kernel's walk alone): time in read(2), i.e. the kernel walking and our
 * program filtering, and records and bytes it wrote. */
struct drain_stats {
	uint64_t read_ns, records, bytes;
};

/*
 * [perf] issue 10: read(2) on the iterator is the kernel walking every VMA of
 * the host (~90% of the scan); the records it returns then go through the
 * pipeline and out (found records, JSON).  A reader thread keeps the walk
 * going while this thread submits what it returned: on two CPUs the scan
 * costs the walk plus the last chunk's records, not the sum of both.  The
 * reader only reads; every record is submitted here, in the order read.
 */
#define CHUNKS 4

struct chunk {
	size_t n;
	char data[READ_BYTES];
};

struct reader {
	int fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chunk *chunk[CHUNKS];
	size_t head, tail; /* chunks taken, chunks filled (free-running) */
	int done;	   /* the reader has stopped: at the end (err 0) or on err */
	int err;	   /* a negative errno from read(2) */
	int stop;	   /* asked to stop: the consumer gave up */
	uint64_t read_ns;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		struct chunk *c;
		uint64_t t0;
		ssize_t n;

		while (r->tail - r->head == CHUNKS && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop)
			break;
		c = r->chunk[r->tail % CHUNKS];
		pthread_mutex_unlock(&r->mu);
		t0 = sz_now_ns();
		do
			n = read(r->fd, c->data, sizeof(c->data));
		while (n < 0 && errno == EINTR);
		c->n = n > 0 ? (size_t)n : 0;
		pthread_mutex_lock(&r->mu);
		r->read_ns += sz_now_ns() - t0;
		if (n <= 0) {
			r->err = n < 0 ? -errno : 0;
			break;
		}
		r->tail++;
		pthread_cond_broadcast(&r->cv);
	}
	r->done = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* The next chunk the reader filled (NULL at the end or on its error), once
 * the one taken before (if any) is given back. */
static struct chunk *reader_next(struct reader *r, int give_back)
{
	struct chunk *c = NULL;

	pthread_mutex_lock(&r->mu);
	if (give_back) {
		r->head++;
		pthread_cond_broadcast(&r->cv);
	}
	while (r->head == r->tail && !r->done)
		pthread_cond_wait(&r->cv, &r->mu);
	if (r->head != r->tail)
		c = r->chunk[r->head % CHUNKS];
	pthread_mutex_unlock(&r->mu);
	return c;
}

/* Started with every signal blocked: a signal for the process (SIGINT) is
 * the caller's thread's to take, never the reader's. */
static int reader_start(struct reader *r, pthread_t *tid)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(tid, NULL, reader_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

/* Submit every whole record at the head of BUF (HAVE bytes): the bytes used,
 * or a negative errno for a malformed record; *RC gets the pipeline's answer. */
static long submit_all(struct sz_pipeline *p, char *buf, size_t have, int *rc,
		       struct drain_stats *st)
{
	size_t off = 0;

	while (!*rc) {
		long len = sz_iter_rec_len(buf + off, have - off);

		if (len < 0)
			return len;
		if (!len)
			break;
		*rc = submit(p, buf + off);
		if (*rc == -EINVAL) {
			*rc = 0;
			return -EINVAL;
		}
		off += (size_t)len;
		st->records++;
	}
	return (long)off;
}

/* Read the iterator's records and submit them: 0 when all were read, else a
 * negative errno; *RC gets the pipeline's answer (0, SZ_STOP, -ENOMEM). */
static int drain(struct sz_pipeline *p, int fd, int *rc, struct drain_stats *st)
{
	struct reader r = { .fd = fd };
	char *buf = malloc(READ_BYTES + sizeof(struct sz_iter_rec));
	struct chunk *c = NULL;
	size_t have = 0;
	pthread_t tid;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < CHUNKS && !err; i++) {
		r.chunk[i] = malloc(sizeof(*r.chunk[i]));
		err = r.chunk[i] ? 0 : -ENOMEM;
	}
	if (!err) {
		pthread_mutex_init(&r.mu, NULL);
		pthread_cond_init(&r.cv, NULL);
		err = reader_start(&r, &tid);
		if (err) {
			pthread_cond_destroy(&r.cv);
			pthread_mutex_destroy(&r.mu);
		}
	}
	if (err) {
		for (size_t i = 0; i < CHUNKS; i++)
			free(r.chunk[i]);
		free(buf);
		return err;
	}
	while ((c = reader_next(&r, c != NULL))) {
		long used;

		/* A record may straddle two reads: what is left of the last
		 * chunk, then this one (a chunk is never more than READ_BYTES,
		 * what is left never a whole record). */
		memcpy(buf + have, c->data, c->n);
		have += c->n;
		st->bytes += c->n;
		used = submit_all(p, buf, have, rc, st);
		if (used < 0) {
			err = (int)used;
			break;
		}
		if (*rc)
			break;
		memmove(buf, buf + used, have - (size_t)used);
		have -= (size_t)used;
	}
	pthread_mutex_lock(&r.mu);
	r.stop = 1;
	pthread_cond_broadcast(&r.cv);
	pthread_mutex_unlock(&r.mu);
	pthread_join(tid, NULL);
	if (!err && !*rc)
		err = r.err ? r.err : have ? -EINVAL : 0; /* a record cut short */
	st->read_ns += r.read_ns;
	pthread_cond_destroy(&r.cv);
	pthread_mutex_destroy(&r.mu);
	for (size_t i = 0; i < CHUNKS; i++)
		free(r.chunk[i]);
	free(buf);
	return err;
}

struct seen_batch {
	int fd;
	uint64_t full;
	size_t n;
	__u32 keys[SEEN_BATCH];
	__u8 vals[SEEN_BATCH];
};

static void seen_flush(struct seen_batch *b)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);
	__u32 done = (__u32)b->n;

	if (b->n && bpf_map_update_batch(b->fd, b->keys, b->vals, &done, &o)) {
		/* what the batch did not take (a full map, a kernel without
		 * batches), one by one: a full map is counted per process */
		for (size_t i = done <= b->n ? done : 0; i < b->n; i++)
			if (bpf_map_update_elem(b->fd, &b->keys[i], &b->vals[i], BPF_ANY) &&
			    errno == E2BIG)
				b->full++;
	}
	b->n = 0;
}

static void seen_add(pid_t pid, void *ctx)
{
	struct seen_batch *b = ctx;

	if (b->n && b->keys[b->n - 1] == (__u32)pid)
		return; /* the same process's next load */
	b->keys[b->n] = (__u32)pid;
	b->vals[b->n++] = 1;
	if (b->n == SEEN_BATCH)
		seen_flush(b);
}

uint64_t sz_iter_mark_seen(struct sz_pipeline *p, int seen_fd)
{
	struct seen_batch b = { .fd = seen_fd };
	void *saved = sz_libbpf_enter(); /* a kernel without batches: not an error to print */

	sz_pipeline_for_each_pid(p, seen_add, &b);
	seen_flush(&b);
	sz_libbpf_leave(saved);
	return b.full;
}

/* Whether sz_scan_host would run the iterator (the env var, -p, the procfs). */
static int iter_usable(const struct sz_pipeline *p, pid_t only, int *required)
{
	const char *want = getenv(SZ_SCAN_ENV);

	*required = want && !strcmp(want, "iter");
	return only <= 0 && !(want && !strcmp(want, "proc")) && !strcmp(p->proc, "/proc");
}

int sz_iter_prepare(struct watch_bpf *skel, const struct sz_pipeline *p, pid_t only, int no_scan)
{
	int required, usable = iter_usable(p, only, &required), load;

	/* Run on demand (bpf_iter_create), never attached by the skeleton. */
	bpf_program__set_autoattach(skel->progs.sz_scan_vmas, false);
	/* [perf] Not loaded (not verified: ~3-10 ms of start-up) when no scan
	 * will run it: with --no-scan only a repair after a loss scans, and
	 * then by /proc, which finds the same loads. */
	load = required || (usable && !no_scan);
	bpf_program__set_autoload(skel->progs.sz_scan_vmas, load);
	/* its attach target, from our pass over the kernel's BTF (util/kbtf.h) */
	return load ? sz_kbtf_iter_prepare(skel->progs.sz_scan_vmas, "task_vma") : 0;
}

int sz_iter_scan_all(struct sz_pipeline *p, struct watch_bpf *skel, struct sz_scan_counts *c,
		     int *ran)
{
	struct drain_stats st = { 0 };
	uint64_t t0 = sz_now_ns();
	struct bpf_link *link;
	void *saved;
	int err, fd = -1, rc = 0;

	*ran = 0;
	if (!bpf_program__autoload(skel->progs.sz_scan_vmas))
		return -EOPNOTSUPP; /* not loaded: sz_iter_prepare */
	skel->bss->sz_it_processes = 0;
	skel->bss->sz_it_vmas = 0;
	skel->bss->sz_it_tid = 0;
	skel->bss->sz_it_file = 0;
	skel->bss->sz_it_gen++;
	saved = sz_libbpf_enter();
	link = bpf_program__attach_iter(skel->progs.sz_scan_vmas, NULL);
	err = link ? 0 : -errno;
	if (!err) {
		fd = bpf_iter_create(bpf_link__fd(link));
		err = fd < 0 ? -errno : 0;
	}
	sz_libbpf_leave(saved);
	if (!err)
		err = drain(p, fd, &rc, &st);
	if (!err) {
		*ran = 1;
		c->processes += skel->bss->sz_it_processes;
		sz_log(SZ_LOG_DEBUG,
		       "iterator scan: %llu processes, %llu VMAs, %llu records (%llu bytes); "
		       "%.1f ms in all, %.1f ms in read(2) (its own thread)",
		       (unsigned long long)skel->bss->sz_it_processes,
		       (unsigned long long)skel->bss->sz_it_vmas, (unsigned long long)st.records,
		       (unsigned long long)st.bytes, (double)(sz_now_ns() - t0) / 1e6,
		       (double)st.read_ns / 1e6);
	}
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	return rc ? rc : err;
}

int sz_scan_host(struct sz_pipeline *p, struct watch_bpf *skel, pid_t only,
		 struct sz_scan_counts *c)
{
	int need_iter, ran = 0, rc;

	/* The iterator sees the host's processes: another procfs (a test's, a
	 * container's) is read as it is. */
	if (!iter_usable(p, only, &need_iter) || !skel) {
		if (!need_iter)
			return sz_scan_all(p, only, c);
		sz_log(SZ_LOG_ERROR,
		       "%s=iter: the BPF iterator scans the whole host from the host's /proc, "
		       "not one process (-p) nor another procfs",
		       SZ_SCAN_ENV);
		return -EOPNOTSUPP;
	}
	rc = sz_iter_scan_all(p, skel, c, &ran);
	if (ran || rc == SZ_STOP || rc == -ENOMEM)
		return rc;
	if (need_iter) {
		sz_log(SZ_LOG_ERROR, "the BPF iterator scan cannot run (%s=iter): %s", SZ_SCAN_ENV,
		       strerror(-rc));
		return rc;
	}
	sz_log(SZ_LOG_DEBUG, "BPF iterator scan unavailable (%s): reading /proc", strerror(-rc));
	return sz_scan_all(p, only, c);
}
