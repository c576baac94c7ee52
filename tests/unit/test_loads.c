// SPDX-License-Identifier: BSD-2-Clause
/*
 * The set of reported loads: one report per (pid, dev, ino, bias); an exec
 * forgets only what was seen before it; pruning drops processes that are gone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pipeline/pipeline.h"

static void test_add_once(void **state)
{
	struct sz_loads l = { 0 };
	static const struct {
		pid_t pid;
		dev_t dev;
		ino_t ino;
		uint64_t bias;
		int want;
	} rows[] = {
		{ 10, 1, 100, 0x7f0000000000, 1 },
		{ 10, 1, 100, 0x7f0000000000, 0 }, /* same load again */
		{ 10, 1, 100, 0x7f0000100000, 1 }, /* same file, second base (dlmopen) */
		{ 10, 2, 100, 0x7f0000000000, 1 }, /* same inode number, other device */
		{ 10, 1, 101, 0x7f0000000000, 1 },
		{ 11, 1, 100, 0x7f0000000000, 1 }, /* other process */
		{ 10 + SZ_LOADS_BUCKETS, 1, 100, 0x7f0000000000, 1 }, /* same bucket, other pid */
		{ 10 + SZ_LOADS_BUCKETS, 1, 100, 0x7f0000000000, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(sz_loads_add(&l, rows[i].pid, rows[i].dev, rows[i].ino,
					      rows[i].bias, 1000 + i),
				 rows[i].want);
	assert_int_equal(l.count, 6);
	sz_loads_fini(&l);
	assert_int_equal(l.count, 0);
}

static void test_forget_before(void **state)
{
	struct sz_loads l = { 0 };

	/* Seen at t=100 and t=300; an exec at t=200 forgets only the first. */
	assert_int_equal(sz_loads_add(&l, 7, 1, 1, 0x1000, 100), 1);
	assert_int_equal(sz_loads_add(&l, 7, 1, 2, 0x2000, 300), 1);
	assert_int_equal(sz_loads_add(&l, 7 + SZ_LOADS_BUCKETS, 1, 1, 0x1000, 50), 1);
	assert_int_equal(sz_loads_forget(&l, 7, 200), 1);
	assert_int_equal(sz_loads_add(&l, 7, 1, 1, 0x1000, 400), 1); /* new image: new report */
	assert_int_equal(sz_loads_add(&l, 7, 1, 2, 0x2000, 400), 0); /* seen after the exec */
	assert_int_equal(sz_loads_add(&l, 7 + SZ_LOADS_BUCKETS, 1, 1, 0x1000, 60), 0);
	assert_true(sz_loads_has_file(&l, 1, 2));
	assert_false(sz_loads_has_file(&l, 2, 1));
	/* Exit: everything of that pid, nothing of its bucket neighbour. */
	assert_int_equal(sz_loads_forget(&l, 7, UINT64_MAX), 2);
	assert_int_equal(l.count, 1);
	assert_false(sz_loads_has_file(&l, 1, 2)); /* its last load went with it */
	assert_true(sz_loads_has_file(&l, 1, 1));
	sz_loads_fini(&l);
}

static int odd_alive(pid_t pid, void *ctx)
{
	(*(int *)ctx)++;
	return pid & 1;
}

static void test_prune(void **state)
{
	struct sz_loads l = { 0 };
	int calls = 0;

	for (pid_t pid = 1; pid <= 3000; pid++)
		assert_int_equal(sz_loads_add(&l, pid, 1, 1, 0, 0), 1);
	assert_int_equal(sz_loads_prune(&l, odd_alive, &calls), 1500);
	assert_int_equal(calls, 3000);
	assert_int_equal(l.count, 1500);
	assert_int_equal(sz_loads_add(&l, 3, 1, 1, 0, 0), 0);
	assert_int_equal(sz_loads_add(&l, 4, 1, 1, 0, 0), 1);
	sz_loads_fini(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_once),
		cmocka_unit_test(test_forget_before),
		cmocka_unit_test(test_prune),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
