// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of the probe-options checker and the call-record argument
 * decoder (src/consumers/args.c): tables of requests the library must refuse,
 * the slot layout the BPF side is given, and records that lie.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "consumers/args.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct bad_case {
	const char *what;
	struct sz_arg_spec spec;
	enum sz_probe_mode mode;
};

static void refuses_bad_specs(void **state)
{
	static const struct bad_case cases[] = {
		{ "arg 6", { 6, SZ_ARG_INT, 0, 0, 0 }, SZ_PROBE_TRACE },
		{ "unknown type", { 0, 99, 0, 0, 0 }, SZ_PROBE_TRACE },
		{ "buf without a length", { 0, SZ_ARG_BUF, 0, 0, 0 }, SZ_PROBE_TRACE },
		{ "buf over 4096", { 0, SZ_ARG_BUF, 4097, 0, 0 }, SZ_PROBE_TRACE },
		{ "length from arg 6", { 0, SZ_ARG_BUF, 0, 1, 6 }, SZ_PROBE_TRACE },
		{ "values without trace", { 0, SZ_ARG_INT, 0, 0, 0 }, SZ_PROBE_COUNT },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		SZ_OPTS(sz_probe_extra, x, .args = &cases[i].spec, .nargs = 1);
		struct sz_args *a = NULL;

		if (sz_args_new(&x, cases[i].mode, &a) != -EINVAL)
			fail_msg("%s: accepted", cases[i].what);
		assert_null(a);
	}
}

static void layout_and_decode(void **state)
{
	const struct sz_arg_spec specs[] = {
		{ 1, SZ_ARG_INT32, 0, 0, 0 },
		{ 0, SZ_ARG_STR, 5, 0, 0 },
		{ 0, SZ_ARG_BUF, 8, 1, 2 },
	};
	SZ_OPTS(sz_probe_extra, x, .args = specs, .nargs = 3);
	uint64_t regs[6] = { 0x1000, 0xffffffff, 100, 0, 0, 0 };
	struct sz_arg_value v[3];
	struct sz_args_cfg cfg;
	struct sz_glob g;
	struct sz_args_hdr h;
	unsigned char rec[256] = { 0 };
	struct sz_args *a = NULL;

	assert_int_equal(sz_args_new(&x, SZ_PROBE_TRACE, &a), 0);
	assert_non_null(a);
	sz_args_cfg(a, &cfg, &g);
	/* two slots: str (16 + 5 + 2 -> 24), buf at 24 (16 + 8 -> 24) */
	assert_int_equal(cfg.nslots, 2);
	assert_int_equal(cfg.slot[0].off, 0);
	assert_int_equal(cfg.slot[1].off, 24);
	assert_int_equal(cfg.slot[1].len_arg, 3); /* arg2 + 1 */
	assert_int_equal(cfg.data_bytes, 48);
	/* a record as BPF writes it */
	h = (struct sz_args_hdr){ 0, 5, SZ_AF_TRUNC, 0 };
	memcpy(rec, &h, sizeof(h));
	memcpy(rec + 16, "hello", 5);
	h = (struct sz_args_hdr){ 100, 8, SZ_AF_TRUNC, 0 };
	memcpy(rec + 24, &h, sizeof(h));
	memcpy(rec + 40, "a\0b\xff" "cdef", 8);
	assert_int_equal(sz_args_decode(a, regs, rec, 48, v), 0);
	assert_int_equal((int64_t)v[0].value, -1); /* int32 of 0xffffffff */
	assert_int_equal(v[1].len, 5);
	assert_memory_equal(v[1].data, "hello", 5);
	assert_true(v[1].truncated);
	assert_int_equal(v[2].len, 8);
	assert_int_equal(v[2].value, 100);
	assert_true(v[2].len_from_arg && v[2].len_arg == 2);
	assert_memory_equal(v[2].data, "a\0b\xff" "cdef", 8);
	/* lies: too short, a length over the cap, a fault with data */
	assert_int_equal(sz_args_decode(a, regs, rec, 47, v), -EINVAL);
	h = (struct sz_args_hdr){ 0, 6, 0, 0 };
	memcpy(rec, &h, sizeof(h));
	assert_int_equal(sz_args_decode(a, regs, rec, 48, v), -EINVAL);
	h = (struct sz_args_hdr){ 0, 1, SZ_AF_FAULT, 0 };
	memcpy(rec, &h, sizeof(h));
	assert_int_equal(sz_args_decode(a, regs, rec, 48, v), -EINVAL);
	h = (struct sz_args_hdr){ 0, 0, SZ_AF_FAULT, 0 };
	memcpy(rec, &h, sizeof(h));
	assert_int_equal(sz_args_decode(a, regs, rec, 48, v), 0);
	assert_true(v[1].fault && !v[1].len);
	sz_args_free(a);
}

static void modes_combine_only_where_they_make_sense(void **state)
{
	struct sz_args *a = NULL;
	SZ_OPTS(sz_probe_extra, lat, .latency = 1);
	SZ_OPTS(sz_probe_extra, key, .key = { SZ_VALUE_ARG, 0, SZ_ARG_INT });
	SZ_OPTS(sz_probe_extra, ret, .hist = { SZ_VALUE_RET, 0, SZ_ARG_UINT });

	assert_int_equal(sz_args_new(&lat, SZ_PROBE_COUNT, &a), 0);
	assert_true(sz_args_latency(a));
	sz_args_free(a);
	assert_int_equal(sz_args_new(&lat, SZ_PROBE_TRACE, &a), -EINVAL);
	assert_int_equal(sz_args_new(&key, SZ_PROBE_LATENCY, &a), -EINVAL);
	assert_int_equal(sz_args_new(&ret, SZ_PROBE_LATENCY, &a), 0);
	assert_true(sz_args_key_exit(a) && !sz_args_key_entry(a));
	sz_args_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refuses_bad_specs),
		cmocka_unit_test(layout_and_decode),
		cmocka_unit_test(modes_combine_only_where_they_make_sense),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
