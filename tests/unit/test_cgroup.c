// SPDX-License-Identifier: BSD-2-Clause
/*
 * The /proc/PID/cgroup parser as a table (v2 only, hybrid, v1 only, bounds),
 * and against the kernel: our own cgroup read through /proc/self.
 */
#include "proc/cgroup.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const struct {
	const char *text;
	size_t bufsz;
	int ret;
	const char *path;
} cases[] = {
	{ "0::/system.slice/nginx.service\n", 64, 0, "/system.slice/nginx.service" },
	{ "0::/\n", 64, 0, "/" },
	{ "0::/no-newline", 64, 0, "/no-newline" },
	{ "12:pids:/user.slice\n1:name=systemd:/user.slice/x\n0::/user.slice/x\n", 64, 0,
	  "/user.slice/x" },
	{ "12:pids:/user.slice\n1:name=systemd:/x\n", 64, -ENOENT, NULL },
	{ "", 64, -ENOENT, NULL },
	{ "10::/not-v2\n", 64, -ENOENT, NULL },
	{ "0::/exactly-ten\n", 11, -ENAMETOOLONG, NULL },
	{ "0::/nine-byte\n", 11, 0, "/nine-byte" },
	{ "0:/x\n0::/y\n", 64, 0, "/y" },
	{ "0::/a b\\c\"d\n", 64, 0, "/a b\\c\"d" },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64] = "";
		int r = sz_cgroup_parse(cases[i].text, strlen(cases[i].text), buf, cases[i].bufsz);

		if (r != cases[i].ret)
			fail_msg("case %zu: %d, want %d", i, r, cases[i].ret);
		if (!r)
			assert_string_equal(buf, cases[i].path);
	}
}

static void test_embedded_nul(void **state)
{
	static const char text[] = "0::/a\0b\n";
	char buf[64];

	(void)state;
	assert_int_equal(sz_cgroup_parse(text, sizeof(text) - 1, buf, sizeof(buf)), -EINVAL);
}

static void test_self(void **state)
{
	char buf[4096], want[4096], *p;
	FILE *f = fopen("/proc/self/cgroup", "r");
	int found = 0;

	(void)state;
	assert_non_null(f);
	while (fgets(want, sizeof(want), f))
		if (!strncmp(want, "0::", 3)) {
			found = 1;
			break;
		}
	fclose(f);
	if (!found) { /* a v1-only host: the reader says so */
		assert_int_equal(sz_proc_cgroup(NULL, getpid(), buf, sizeof(buf)), -ENOENT);
		return;
	}
	p = strchr(want, '\n');
	if (p)
		*p = '\0';
	assert_int_equal(sz_proc_cgroup(NULL, getpid(), buf, sizeof(buf)), 0);
	assert_string_equal(buf, want + 3);
	assert_int_equal(sz_proc_cgroup(NULL, 0x3fffffff, buf, sizeof(buf)), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
