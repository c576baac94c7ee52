// SPDX-License-Identifier: BSD-2-Clause
/*
 * The runner behind detaching many links at once (src/util/detach.c): every
 * job runs exactly once whatever their number against the thread bound, the
 * jobs run in several threads (so blocking releases overlap) when there is no
 * keeper, in this one (each only drops a reference) when there is, and wait
 * returns only once all have run and the keeper has exited.  The keeper holds
 * nothing of ours but BPF links and perf events: a pipe we close reaches its
 * reader's end of file while the keeper still runs.  (That the keeper's
 * release survives a SIGKILL of ours: tests/integration/test_detach.py.)
 */
#include "util/detach.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define MAXJOBS 64

struct rec {
	int runs[MAXJOBS];
	pthread_t who[MAXJOBS];
	pthread_barrier_t *meet; /* jobs that must be running at the same time */
};

struct arg {
	struct rec *r;
	int i;
};

static void job(void *p)
{
	struct arg *a = p;

	__atomic_add_fetch(&a->r->runs[a->i], 1, __ATOMIC_RELAXED);
	a->r->who[a->i] = pthread_self();
	if (a->r->meet)
		pthread_barrier_wait(a->r->meet); /* deadlocks unless run concurrently */
}

static void run(struct rec *r, struct arg *a, int n, int keeper)
{
	struct sz_detach d;

	sz_detach_init(&d);
	d.no_keeper = !keeper;
	for (int i = 0; i < n; i++) {
		a[i] = (struct arg){ r, i };
		sz_detach_add(&d, job, &a[i]);
	}
	sz_detach_start(&d);
	assert_int_equal(d.keeper_errno, 0);
	if (keeper && n) { /* none for nothing to release */
		assert_true(d.keeper > 0);
		for (int i = 0; i < n; i++) /* run before start returned, here */
			assert_true(r->runs[i] == 1 && pthread_equal(r->who[i], pthread_self()));
	}
	sz_detach_wait(&d);
	assert_int_equal(d.keeper, 0);
	assert_int_equal(d.njobs, 0);
	assert_null(d.jobs);
	errno = 0; /* the keeper was reaped: no child is left */
	assert_int_equal(waitpid(-1, NULL, WNOHANG | __WALL), -1);
	assert_int_equal(errno, ECHILD);
}

static void every_job_once(void **state)
{
	static const int counts[] = { 0, 1, 2, SZ_DETACH_THREADS - 1, SZ_DETACH_THREADS,
				      SZ_DETACH_THREADS + 1, MAXJOBS };

	(void)state;
	for (int keeper = 0; keeper < 2; keeper++)
		for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			struct rec r;
			struct arg a[MAXJOBS];

			memset(&r, 0, sizeof(r));
			run(&r, a, counts[c], keeper);
			for (int i = 0; i < MAXJOBS; i++)
				assert_int_equal(r.runs[i], i < counts[c] ? 1 : 0);
		}
}

/* Jobs that each wait for all the others: only concurrent threads finish
 * (no keeper: with one, the jobs only drop references and run here). */
static void jobs_overlap(void **state)
{
	pthread_barrier_t b;
	struct rec r;
	struct arg a[4];

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(pthread_barrier_init(&b, NULL, 4), 0);
	r.meet = &b;
	run(&r, a, 4, 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r.runs[i], 1);
		for (int j = 0; j < i; j++)
			assert_false(pthread_equal(r.who[i], r.who[j]));
	}
	pthread_barrier_destroy(&b);
}

static void nothing_to_detach(void **state)
{
	struct sz_detach d;

	(void)state;
	sz_detach_init(&d);
	sz_detach_link(&d, NULL);
	sz_detach_skeleton(&d, NULL);
	assert_int_equal(d.njobs, 0);
	assert_int_equal(d.inline_fast, 0);
	sz_detach_start(&d);
	assert_int_equal(d.nth, 0);
	sz_detach_wait(&d);
}

/* A job that closes our end of a pipe, then waits for the reader's end of
 * file while the keeper, told nothing yet, still runs: it kept no copy. */
static int pipe_r = -1, pipe_w = -1, saw_eof;

static void close_writer(void *p)
{
	struct pollfd pfd = { .fd = pipe_r, .events = POLLIN };
	char c;

	(void)p;
	close(pipe_w);
	saw_eof = poll(&pfd, 1, 10000) == 1 && read(pipe_r, &c, 1) == 0; /* not 10 s */
}

static void keeper_holds_no_pipe(void **state)
{
	struct sz_detach d;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	pipe_r = p[0];
	pipe_w = p[1];
	sz_detach_init(&d);
	sz_detach_add(&d, close_writer, NULL);
	sz_detach_start(&d);
	assert_true(d.keeper > 0);
	assert_true(saw_eof);
	sz_detach_wait(&d);
	close(p[0]);
}

/* A perf event (a hook: what releases a uprobe) stays open in the keeper
 * once it has closed what it does not keep and waits for us (in poll). */
struct hook_check {
	struct sz_detach *d;
	int fd, kept, swept;
};

static void check_hook(void *p)
{
	struct hook_check *h = p;
	char path[64], buf[64];
	ssize_t n;

	for (int i = 0; i < 10000 && !h->swept; i++) {
		FILE *f;
		int nr = -1;

		snprintf(path, sizeof(path), "/proc/%d/syscall", h->d->keeper);
		f = fopen(path, "r");
		if (f && fscanf(f, "%d", &nr) == 1 && nr == SYS_poll)
			h->swept = 1;
		if (f)
			fclose(f);
		if (!h->swept)
			usleep(1000);
	}
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", h->d->keeper, h->fd);
	n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	h->kept = !strcmp(buf, "anon_inode:[perf_event]");
	close(h->fd);
}

static void keeper_holds_hooks(void **state)
{
	struct perf_event_attr a;
	struct hook_check h;
	struct sz_detach d;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_DUMMY;
	a.disabled = 1;
	h = (struct hook_check){ &d, (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0), 0, 0 };
	if (h.fd < 0)
		skip(); /* perf_event_paranoid: as root in make check */
	sz_detach_init(&d);
	sz_detach_add(&d, check_hook, &h);
	sz_detach_start(&d);
	sz_detach_wait(&d);
	assert_true(h.swept);
	assert_true(h.kept);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_job_once),
		cmocka_unit_test(jobs_overlap),
		cmocka_unit_test(nothing_to_detach),
		cmocka_unit_test(keeper_holds_no_pipe),
		cmocka_unit_test(keeper_holds_hooks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
