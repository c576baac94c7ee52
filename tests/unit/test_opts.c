// SPDX-License-Identifier: BSD-2-Clause
/*
 * Options structs grow the libbpf way: no byte of them is padding, so an
 * SZ_OPTS initializer zeroes every byte the caller does not set, and a byte
 * the library does not know (a newer header's field, here in what used to be
 * a hole) is refused rather than ignored.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "symbolyze.h"

static const char *const syms[] = { "malloc" };

/* Leave 0xff where the next call's locals will be. */
static __attribute__((noinline)) void dirty_stack(void)
{
	volatile unsigned char junk[4096];

	memset((void *)junk, 0xff, sizeof(junk));
}

static __attribute__((noinline)) int watch_new_from_stack(void)
{
	SZ_OPTS(sz_watch_opts, o, .glob = "libc.so*", .symbols = syms, .nsymbols = 1,
		.freeze_timeout_ms = 100);
	struct sz_watch *w = NULL;
	int err;

	/* every byte after the last named field is a field too, and zero */
	for (size_t i = offsetof(struct sz_watch_opts, freeze_timeout_ms) + sizeof(unsigned);
	     i < sizeof(o); i++)
		assert_int_equal(((unsigned char *)&o)[i], 0);
	err = sz_watch_new(&o, &w);
	sz_watch_free(w);
	return err;
}

static void test_initializer_zeroes_every_byte(void **state)
{
	dirty_stack();
	assert_int_equal(watch_new_from_stack(), 0);
}

/* What a caller built against a newer header sends: a field placed in what is
 * a hole of today's struct.  Before the holes were named, the library
 * accepted it and ignored the field. */
static void test_unknown_bytes_in_a_hole_are_refused(void **state)
{
	SZ_OPTS(sz_watch_opts, w, .glob = "libc.so*", .symbols = syms, .nsymbols = 1);
	SZ_OPTS(sz_scanner_opts, s, .glob = "libc.so*", .symbols = syms, .nsymbols = 1);
	struct sz_watch *wh = NULL;
	struct sz_scanner *sh = NULL;
	unsigned char *b;

	assert_int_equal(sz_watch_new(&w, &wh), 0);
	sz_watch_free(wh);
	wh = NULL;
	assert_int_equal(sz_scanner_new(&s, &sh), 0);
	sz_scanner_free(sh);
	sh = NULL;

	b = (unsigned char *)&w;
	b[offsetof(struct sz_watch_opts, freeze_timeout_ms) + sizeof(unsigned)] = 1;
	assert_int_equal(sz_watch_new(&w, &wh), -EINVAL);
	assert_null(wh);
	b = (unsigned char *)&s;
	b[offsetof(struct sz_scanner_opts, pid) + sizeof(pid_t)] = 1;
	assert_int_equal(sz_scanner_new(&s, &sh), -EINVAL);
	assert_null(sh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initializer_zeroes_every_byte),
		cmocka_unit_test(test_unknown_bytes_in_a_hole_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
