// SPDX-License-Identifier: BSD-2-Clause
/*
 * The exporter's tables (src/cli/metrics.c, included): deletion from the open
 * addressing maps against a reference, exited processes folded into their
 * label set's series with nothing per process left, and --by pid expiry.
 */
#include "../../src/cli/metrics.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/* Random inserts and deletes, the survivors checked against a plain array
 * after every step that deletes (backward shift must not lose a neighbour). */
static void test_map_del(void **state)
{
	enum { N = 3000 };
	static uint64_t ref[N]; /* value + 1 while present, else 0 */
	struct u64map m = { 0 };
	uint64_t seed = 12345;
	int isnew;

	(void)state;
	for (int step = 0; step < 40000; step++) {
		uint64_t r, key, *v;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		r = seed >> 33;
		key = r % N + 1;
		if (r & 0x100000) {
			v = map_slot(&m, key, &isnew);
			assert_non_null(v);
			assert_int_equal(isnew, !ref[key - 1]);
			*v = (uint64_t)step;
			ref[key - 1] = (uint64_t)step + 1;
		} else {
			map_del(&m, key);
			ref[key - 1] = 0;
		}
		if (step % 997)
			continue;
		for (uint64_t k = 1; k <= N; k++) {
			const uint64_t *g = map_get(&m, k);

			if (ref[k - 1]) {
				assert_non_null(g);
				assert_int_equal(*g, ref[k - 1] - 1);
			} else {
				assert_null(g);
			}
		}
	}
	{
		size_t live = 0;

		for (size_t i = 0; i < N; i++)
			live += ref[i] != 0;
		assert_int_equal(m.n, live);
	}
	free(m.k);
	free(m.v);
}

static void found(struct mx *m, pid_t pid, const char *comm, const char *path, const char *sym)
{
	struct sz_found r = { .pid = pid, .comm = comm, .path = path, .symbol = sym };

	mx_found(m, &r);
}

/* The value of the series whose line starts with SERIES, -1 if none. */
static long long value_of(struct mx *m, const char *series)
{
	char *buf, *p;
	size_t len;
	long long v = -1;

	assert_int_equal(mx_render(m, NULL, 0, &buf, &len), 0);
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, series, strlen(series)) && p[strlen(series)] == ' ')
			v = strtoll(p + strlen(series) + 1, NULL, 10);
	free(buf);
	return v;
}

/* 10,000 processes of two comms come and go: two series with the exact sums,
 * and nothing left per process. */
static void test_fold_by_comm(void **state)
{
	const char *const syms[] = { "f", "g" };
	struct mx *m = NULL;
	uint64_t want[2] = { 0, 0 };

	(void)state;
	assert_int_equal(mx_new(MX_BY_COMM, SZ_PROBE_COUNT, 0, syms, 2, &m), 0);
	for (pid_t pid = 1000; pid < 11000; pid++) {
		const char *comm = pid % 3 ? "web" : "cron";

		found(m, pid, comm, "/lib/x.so", "f");
		found(m, pid, comm, "/lib/x.so", "g");
		mx_exited_calls(pid, "f", (uint64_t)pid % 7, m);
		want[pid % 3 ? 0 : 1] += (uint64_t)pid % 7;
		if (pid % 5)
			mx_exited_calls(pid, "g", 1, m);
		mx_exited(pid, m);
	}
	assert_int_equal(value_of(m, "symbolyze_calls_total{symbol=\"f\",path=\"/lib/x.so\","
				     "comm=\"web\"}"),
			 want[0]);
	assert_int_equal(value_of(m, "symbolyze_calls_total{symbol=\"f\",path=\"/lib/x.so\","
				     "comm=\"cron\"}"),
			 want[1]);
	assert_int_equal(value_of(m, "symbolyze_calls_total{symbol=\"g\",path=\"/lib/x.so\","
				     "comm=\"web\"}") +
				 value_of(m, "symbolyze_calls_total{symbol=\"g\",path=\"/lib/x.so\","
					     "comm=\"cron\"}"),
			 8000);
	assert_int_equal(value_of(m, "symbolyze_series"), 4);
	assert_int_equal(value_of(m, "symbolyze_tracked_processes"), 0);
	assert_int_equal(value_of(m, "symbolyze_exited_processes_total"), 10000);
	assert_int_equal(m->paths.n, 0);
	assert_int_equal(m->procs.n, 0);
	assert_int_equal(m->npool, 1); /* one process at a time: one slot, reused */
	mx_free(m);
}

/* --by pid: a series stays until its grace ends, unless the pid lives again. */
static void test_by_pid_expiry(void **state)
{
	const char *const syms[] = { "f" };
	struct mx *m = NULL;

	(void)state;
	assert_int_equal(mx_new(MX_BY_PID, SZ_PROBE_COUNT, 0, syms, 1, &m), 0);
	for (pid_t pid = 1; pid <= 500; pid++) {
		found(m, pid, "c", "/x", "f");
		mx_exited_calls(pid, "f", (uint64_t)pid, m);
		mx_exited(pid, m);
	}
	found(m, 7, "c", "/x", "f"); /* pid 7 reused: live again */
	assert_int_equal(value_of(m, "symbolyze_calls_total{symbol=\"f\",path=\"/x\",pid=\"42\"}"),
			 42);
	assert_int_equal(value_of(m, "symbolyze_series"), 500);
	mx_set_keep(m, 0);
	assert_int_equal(value_of(m, "symbolyze_series_expired_total"), 499);
	assert_int_equal(value_of(m, "symbolyze_series"), 1);
	assert_int_equal(value_of(m, "symbolyze_calls_total{symbol=\"f\",path=\"/x\",pid=\"42\"}"),
			 -1);
	/* the reused pid's series kept its past: monotonic */
	assert_int_equal(value_of(m, "symbolyze_calls_total{symbol=\"f\",path=\"/x\",pid=\"7\"}"),
			 7);
	mx_exited(7, m);
	mx_expire(m);
	assert_int_equal(value_of(m, "symbolyze_series"), 0);
	/* slots are reused: 500 more make no more than the first 500 did */
	for (pid_t pid = 1000; pid < 1500; pid++)
		found(m, pid, "c", "/x", "f");
	assert_int_equal(value_of(m, "symbolyze_series"), 500);
	assert_true(m->nseries <= 500);
	mx_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_del),
		cmocka_unit_test(test_fold_by_comm),
		cmocka_unit_test(test_by_pid_expiry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
