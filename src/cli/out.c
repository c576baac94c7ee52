// SPDX-License-Identifier: BSD-2-Clause
/*
 * stdout for the CLI, one whole record at a time: formatted into a memory
 * stream, then written (sync) or queued for the writer thread (async).  The
 * writer is the only code that may block on the reader.
 */
#include "out.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct rec {
	struct rec *next;
	size_t len;
	char data[];
};

static struct {
	enum out_mode mode;
	FILE *mem;
	char *membuf;
	size_t memlen;
	pthread_mutex_t lock;
	pthread_cond_t more, drained;
	struct rec *head, *tail;
	size_t queued, max_queued;
	int busy; /* the writer holds records it took from the queue */
	int err;
	int closing;
	uint64_t dropped;
	uint64_t unwritten; /* records given up after a write error (that one included) */
	pthread_t writer;
	int have_writer;
	/* [perf] issue 10: records of one batch of the event loop, its own (no
	 * lock): out_flush() hands them to the writer with one lock and one
	 * wake-up, not one per record; err_seen and queued_seen are the
	 * writer's state as of the last hand-over (the queue only shrinks in
	 * between, and an error only stays). */
	struct rec *phead, *ptail;
	size_t pbytes;
	uint64_t pcount;
	int err_seen;
	size_t queued_seen;
	int waiting;   /* the writer sleeps for more */
	int no_nowait; /* stdout refused RWF_NOWAIT (a terminal, a file): the writer writes */
} o = { .lock = PTHREAD_MUTEX_INITIALIZER,
	.more = PTHREAD_COND_INITIALIZER,
	.drained = PTHREAD_COND_INITIALIZER };

/* Write all of BUF to stdout; 0 or a positive errno. */
static int write_all(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* [perf] Bytes the event loop holds before it hands them over unasked. */
#define FLUSH_BYTES (64u << 10)

/* [perf] Records one write takes: a burst (10,000 processes found by the
 * scan, an exec storm) costs a system call per batch, not per record. */
#define BATCH 64

/* Write the N records of R with as few system calls as can be: 0 or a
 * positive errno; *WRITTEN gets how many were written whole. */
static int write_batch(struct rec *const *r, int n, int *written)
{
	struct iovec iov[BATCH];
	size_t skip = 0; /* bytes of r[first] already written */
	int first = 0;

	*written = 0;
	while (first < n) {
		size_t left;
		ssize_t w;
		int cnt = 0;

		for (int i = first; i < n; i++, cnt++) {
			iov[cnt].iov_base = r[i]->data + (i == first ? skip : 0);
			iov[cnt].iov_len = r[i]->len - (i == first ? skip : 0);
		}
		w = writev(STDOUT_FILENO, iov, cnt);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		for (left = (size_t)w; first < n && left >= r[first]->len - skip; first++) {
			left -= r[first]->len - skip;
			skip = 0;
			(*written)++;
		}
		skip += left;
	}
	return 0;
}

static void *writer(void *arg)
{
	pthread_mutex_lock(&o.lock);
	for (;;) {
		struct rec *r[BATCH];
		int n = 0, written = 0, err;

		while (!o.head && !o.closing) {
			o.waiting = 1;
			pthread_cond_wait(&o.more, &o.lock);
			o.waiting = 0;
		}
		if (!o.head)
			break;
		while (o.head && n < BATCH) {
			r[n] = o.head;
			o.head = r[n]->next;
			o.queued -= r[n++]->len;
		}
		if (!o.head)
			o.tail = NULL;
		o.busy = 1;
		err = o.err; /* read under the lock */
		pthread_mutex_unlock(&o.lock);
		if (!err)
			err = write_batch(r, n, &written);
		for (int i = 0; i < n; i++)
			free(r[i]);
		pthread_mutex_lock(&o.lock);
		o.busy = 0;
		o.unwritten += (uint64_t)(n - written);
		if (err && !o.err)
			o.err = err;
		if (!o.head)
			pthread_cond_broadcast(&o.drained);
	}
	pthread_mutex_unlock(&o.lock);
	return arg;
}

int out_init(enum out_mode mode, size_t max_queued_bytes)
{
	o.mode = mode;
	o.max_queued = max_queued_bytes;
	o.mem = open_memstream(&o.membuf, &o.memlen);
	if (!o.mem)
		return -errno;
	if (mode == OUT_ASYNC) {
		int err = pthread_create(&o.writer, NULL, writer, NULL);

		if (err)
			return -err;
		o.have_writer = 1;
	}
	return 0;
}

int out_active(void)
{
	return o.mem != NULL;
}

FILE *out_begin(void)
{
	rewind(o.mem);
	return o.mem;
}

void out_end(void)
{
	struct rec *r;
	size_t len;

	if (fflush(o.mem))
		return;
	len = (size_t)ftell(o.mem);
	if (o.mode == OUT_SYNC) {
		if (!o.err)
			o.err = write_all(o.membuf, len);
		o.unwritten += o.err != 0;
		return;
	}
	if (o.err_seen || o.queued_seen + o.pbytes + len > o.max_queued) {
		/* The reader is gone or too slow: count it, never wait for it. */
		pthread_mutex_lock(&o.lock);
		o.dropped += !o.err_seen;
		o.unwritten += o.err_seen != 0;
		pthread_mutex_unlock(&o.lock);
		return;
	}
	r = malloc(sizeof(*r) + len);
	if (!r) {
		pthread_mutex_lock(&o.lock);
		o.dropped++;
		pthread_mutex_unlock(&o.lock);
		return;
	}
	r->next = NULL;
	r->len = len;
	memcpy(r->data, o.membuf, len);
	if (o.ptail)
		o.ptail->next = r;
	else
		o.phead = r;
	o.ptail = r;
	o.pbytes += len;
	o.pcount++;
	/* a long burst (the initial scan of a host) streams as it goes */
	if (o.pbytes >= FLUSH_BYTES)
		out_flush();
}

/* [perf] issue 10: with nothing queued, the event loop writes the batch
 * itself, as far as stdout takes it without waiting (RWF_NOWAIT: a pipe or
 * socket whose reader keeps up): no wake-up of the writer, no hand-over.
 * What does not fit goes to the writer, a record cut short included (its
 * rest first).  Under the lock, the writer idle: the order holds. */
static void write_nowait(void)
{
	while (o.phead && !o.err) {
		struct iovec iov[BATCH];
		struct rec *r = o.phead;
		ssize_t w;
		int cnt = 0;

		for (; r && cnt < BATCH; r = r->next, cnt++)
			iov[cnt] = (struct iovec){ r->data, r->len };
		w = pwritev2(STDOUT_FILENO, iov, cnt, -1, RWF_NOWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EOPNOTSUPP || errno == EINVAL)
				o.no_nowait = 1;
			else if (errno != EAGAIN)
				o.err = errno; /* the records left are counted by the caller */
			return;
		}
		if (!w)
			return; /* took nothing: the writer will wait for it */
		while (o.phead && (size_t)w >= o.phead->len) {
			r = o.phead;
			w -= (ssize_t)r->len;
			o.pbytes -= r->len;
			o.pcount--;
			o.phead = r->next;
			free(r);
		}
		if (!o.phead) {
			o.ptail = NULL;
			return;
		}
		if (w > 0) { /* cut short: the rest of it is the next write */
			memmove(o.phead->data, o.phead->data + w, o.phead->len - (size_t)w);
			o.phead->len -= (size_t)w;
			o.pbytes -= (size_t)w;
			return;
		}
	}
}

void out_flush(void)
{
	int wake = 0;

	pthread_mutex_lock(&o.lock);
	if (o.phead && !o.err && !o.head && !o.busy && !o.no_nowait)
		write_nowait();
	if (o.phead && o.err) {
		/* stdout failed meanwhile: these are given up, and counted */
		o.unwritten += o.pcount;
		while (o.phead) {
			struct rec *r = o.phead;

			o.phead = r->next;
			free(r);
		}
	} else if (o.phead) {
		if (o.tail)
			o.tail->next = o.phead;
		else
			o.head = o.phead;
		o.tail = o.ptail;
		o.queued += o.pbytes;
		wake = o.waiting;
	}
	o.phead = o.ptail = NULL;
	o.pbytes = 0;
	o.pcount = 0;
	o.err_seen = o.err;
	o.queued_seen = o.queued;
	pthread_mutex_unlock(&o.lock);
	/* after the unlock: the writer does not wake into a lock still held */
	if (wake)
		pthread_cond_signal(&o.more);
}

int out_error(void)
{
	int err;

	pthread_mutex_lock(&o.lock);
	err = o.err;
	pthread_mutex_unlock(&o.lock);
	return err;
}

int out_reader_gone(void)
{
	struct pollfd pfd = { .fd = STDOUT_FILENO, .events = 0 };

	/* POLLERR on a pipe's write end: the read end is closed (a file or
	 * terminal never says so). */
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP))) {
		pthread_mutex_lock(&o.lock);
		if (!o.err)
			o.err = EPIPE;
		pthread_mutex_unlock(&o.lock);
		return 1;
	}
	return 0;
}

uint64_t out_dropped(void)
{
	uint64_t n;

	pthread_mutex_lock(&o.lock);
	n = o.dropped;
	pthread_mutex_unlock(&o.lock);
	return n;
}

uint64_t out_unwritten(void)
{
	uint64_t n;

	pthread_mutex_lock(&o.lock);
	n = o.unwritten;
	pthread_mutex_unlock(&o.lock);
	return n;
}

uint64_t out_close(int timeout_ms)
{
	struct timespec until;
	uint64_t left = 0;

	if (o.have_writer)
		out_flush();
	if (!o.have_writer) {
		if (o.mem)
			(void)fclose(o.mem);
		free(o.membuf);
		o.mem = NULL;
		o.membuf = NULL;
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&o.lock);
	o.closing = 1;
	pthread_cond_signal(&o.more);
	/* After a write error the writer only counts and frees: it drains at once. */
	while (o.head || o.busy)
		if (pthread_cond_timedwait(&o.drained, &o.lock, &until) == ETIMEDOUT)
			break;
	for (struct rec *r = o.head; r; r = r->next)
		left++;
	left += (uint64_t)o.busy;
	pthread_mutex_unlock(&o.lock);
	/* A writer still blocked on a reader that never reads is left to the
	 * process's exit; one that finished is joined. */
	if (!left)
		pthread_join(o.writer, NULL);
	return left;
}
