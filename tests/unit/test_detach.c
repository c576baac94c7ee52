// SPDX-License-Identifier: BSD-2-Clause
/*
 * The runner behind detaching many links at once (src/util/detach.c): every
 * job runs exactly once whatever their number against the thread bound, the
 * jobs run in several threads (so blocking releases overlap), and wait
 * returns only once all have run.
 */
#include "util/detach.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
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

static void run(struct rec *r, struct arg *a, int n)
{
	struct sz_detach d;

	sz_detach_init(&d);
	for (int i = 0; i < n; i++) {
		a[i] = (struct arg){ r, i };
		sz_detach_add(&d, job, &a[i]);
	}
	sz_detach_start(&d);
	sz_detach_wait(&d);
	assert_int_equal(d.njobs, 0);
	assert_null(d.jobs);
}

static void every_job_once(void **state)
{
	static const int counts[] = { 0, 1, 2, SZ_DETACH_THREADS - 1, SZ_DETACH_THREADS,
				      SZ_DETACH_THREADS + 1, MAXJOBS };

	(void)state;
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		struct rec r;
		struct arg a[MAXJOBS];

		memset(&r, 0, sizeof(r));
		run(&r, a, counts[c]);
		for (int i = 0; i < MAXJOBS; i++)
			assert_int_equal(r.runs[i], i < counts[c] ? 1 : 0);
	}
}

/* Jobs that each wait for all the others: only concurrent threads finish. */
static void jobs_overlap(void **state)
{
	pthread_barrier_t b;
	struct rec r;
	struct arg a[4];

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(pthread_barrier_init(&b, NULL, 4), 0);
	r.meet = &b;
	run(&r, a, 4);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_job_once),
		cmocka_unit_test(jobs_overlap),
		cmocka_unit_test(nothing_to_detach),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
