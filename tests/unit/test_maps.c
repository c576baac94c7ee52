// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of the /proc/PID/maps line parser (src/proc/maps.c): every field
 * of well-formed lines as the kernel prints them, and malformed lines refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc/maps.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define R PROT_READ
#define W PROT_WRITE
#define X PROT_EXEC

struct maps_case {
	const char *line;
	uint64_t start, end, pgoff;
	unsigned prot;
	int shared;
	unsigned maj, min;
	uint64_t ino;
	const char *path;
	int deleted, is_file;
};

static const struct maps_case good[] = {
	/* A library, as on Debian 12 (device fe:01, kernel padding to column 73). */
	{ "7f3c1a200000-7f3c1a228000 r--p 00000000 fe:01 1835029                    "
	  "/usr/lib/x86_64-linux-gnu/libc.so.6",
	  0x7f3c1a200000, 0x7f3c1a228000, 0, R, 0, 0xfe, 0x01, 1835029,
	  "/usr/lib/x86_64-linux-gnu/libc.so.6", 0, 1 },
	{ "7f3c1a228000-7f3c1a37e000 r-xp 00028000 fe:01 1835029                    "
	  "/usr/lib/x86_64-linux-gnu/libc.so.6",
	  0x7f3c1a228000, 0x7f3c1a37e000, 0x28000, R | X, 0, 0xfe, 0x01, 1835029,
	  "/usr/lib/x86_64-linux-gnu/libc.so.6", 0, 1 },
	{ "7fa405b58000-7fa405b5a000 rw-p 001d3000 fe:00 332835                     "
	  "/usr/lib/x86_64-linux-gnu/libc.so.6",
	  0x7fa405b58000, 0x7fa405b5a000, 0x1d3000, R | W, 0, 0xfe, 0x00, 332835,
	  "/usr/lib/x86_64-linux-gnu/libc.so.6", 0, 1 },
	/* NVMe: major 0x103 takes three hex digits. */
	{ "55d0c0a00000-55d0c0a02000 r--p 00000000 103:05 6291459                   /usr/bin/cat",
	  0x55d0c0a00000, 0x55d0c0a02000, 0, R, 0, 0x103, 0x05, 6291459, "/usr/bin/cat", 0, 1 },
	/* Uppercase hex is accepted too. */
	{ "7F00-7F10 r--p 0000A000 FE:0A 12 /x", 0x7f00, 0x7f10, 0xa000, R, 0, 0xfe, 0x0a, 12,
	  "/x", 0, 1 },
	/* Paths with spaces: inside, leading (after the slash), trailing, runs. */
	{ "7f0000000000-7f0000001000 r--p 00000000 00:2a 4242                       /tmp/my lib.so",
	  0x7f0000000000, 0x7f0000001000, 0, R, 0, 0x00, 0x2a, 4242, "/tmp/my lib.so", 0, 1 },
	{ "7f0000000000-7f0000001000 r--p 00000000 00:2a 4242 /tmp/ lead.so", 0x7f0000000000,
	  0x7f0000001000, 0, R, 0, 0x00, 0x2a, 4242, "/tmp/ lead.so", 0, 1 },
	{ "7f0000000000-7f0000001000 r--p 00000000 00:2a 4242 /tmp/trail.so ", 0x7f0000000000,
	  0x7f0000001000, 0, R, 0, 0x00, 0x2a, 4242, "/tmp/trail.so ", 0, 1 },
	{ "7f0000000000-7f0000001000 r--p 00000000 00:2a 4242    /tmp/a  b   c.so",
	  0x7f0000000000, 0x7f0000001000, 0, R, 0, 0x00, 0x2a, 4242, "/tmp/a  b   c.so", 0, 1 },
	{ "7f0000000000-7f0000001000 r--p 00000000 00:2a 4242 /my dir/ x .so  ",
	  0x7f0000000000, 0x7f0000001000, 0, R, 0, 0x00, 0x2a, 4242, "/my dir/ x .so  ", 0, 1 },
	/* Unlinked files. */
	{ "7f0000000000-7f0000001000 r-xp 00001000 08:01 99 /tmp/gone.so (deleted)",
	  0x7f0000000000, 0x7f0000001000, 0x1000, R | X, 0, 0x08, 0x01, 99, "/tmp/gone.so", 1, 1 },
	{ "7f0000000000-7f0000001000 r-xp 00001000 08:01 99 /tmp/my lib.so  (deleted)",
	  0x7f0000000000, 0x7f0000001000, 0x1000, R | X, 0, 0x08, 0x01, 99, "/tmp/my lib.so ", 1,
	  1 },
	{ "7f0000000000-7f0000001000 r-xp 00001000 08:01 99 /tmp/x (deleted) (deleted)",
	  0x7f0000000000, 0x7f0000001000, 0x1000, R | X, 0, 0x08, 0x01, 99, "/tmp/x (deleted)", 1,
	  1 },
	{ "7f0000000000-7f0000001000 r-xp 00001000 08:01 99 /tmp/(deleted)", 0x7f0000000000,
	  0x7f0000001000, 0x1000, R | X, 0, 0x08, 0x01, 99, "/tmp/(deleted)", 0, 1 },
	/* Pseudo files and anonymous memory: kept as they are, not files. */
	{ "7ffd5c3f0000-7ffd5c3f2000 r-xp 00000000 00:00 0                          [vdso]",
	  0x7ffd5c3f0000, 0x7ffd5c3f2000, 0, R | X, 0, 0, 0, 0, "[vdso]", 0, 0 },
	{ "55a4b6e1f000-55a4b6e40000 rw-p 00000000 00:00 0                          [heap]",
	  0x55a4b6e1f000, 0x55a4b6e40000, 0, R | W, 0, 0, 0, 0, "[heap]", 0, 0 },
	{ "7ffd5c2d1000-7ffd5c2f2000 rw-p 00000000 00:00 0                          [stack]",
	  0x7ffd5c2d1000, 0x7ffd5c2f2000, 0, R | W, 0, 0, 0, 0, "[stack]", 0, 0 },
	{ "7f0000000000-7f0000001000 rw-p 00000000 00:00 0                          [anon:jit]",
	  0x7f0000000000, 0x7f0000001000, 0, R | W, 0, 0, 0, 0, "[anon:jit]", 0, 0 },
	{ "7f3c1a000000-7f3c1a021000 rw-p 00000000 00:00 0 ", 0x7f3c1a000000, 0x7f3c1a021000, 0,
	  R | W, 0, 0, 0, 0, "", 0, 0 },
	{ "7f3c1a000000-7f3c1a021000 rw-p 00000000 00:00 0", 0x7f3c1a000000, 0x7f3c1a021000, 0,
	  R | W, 0, 0, 0, 0, "", 0, 0 },
	/* ld.so's reserved gaps: PROT_NONE, still a file mapping. */
	{ "7f6573201000-7f6573400000 ---p 00001000 fe:00 5308558                    /lib/a.so",
	  0x7f6573201000, 0x7f6573400000, 0x1000, 0, 0, 0xfe, 0x00, 5308558, "/lib/a.so", 0, 1 },
	/* Huge pages: THP anonymous, hugetlbfs files, shared anonymous huge pages. */
	{ "7f2a40000000-7f2a80000000 rw-p 00000000 00:00 0 ", 0x7f2a40000000, 0x7f2a80000000, 0,
	  R | W, 0, 0, 0, 0, "", 0, 0 },
	{ "7f1c00000000-7f1c40000000 rw-s 00000000 00:10 1234567                    "
	  "/dev/hugepages/seg",
	  0x7f1c00000000, 0x7f1c40000000, 0, R | W, 1, 0x00, 0x10, 1234567, "/dev/hugepages/seg",
	  0, 1 },
	{ "7f1c00000000-7f1c00200000 rw-s 00000000 00:0f 3078                       "
	  "/anon_hugepage (deleted)",
	  0x7f1c00000000, 0x7f1c00200000, 0, R | W, 1, 0x00, 0x0f, 3078, "/anon_hugepage", 1, 1 },
	/* Shared mappings. */
	{ "7f8e5c000000-7f8e5c100000 rw-s 00000000 00:01 2048                       "
	  "/SYSV00000000 (deleted)",
	  0x7f8e5c000000, 0x7f8e5c100000, 0, R | W, 1, 0x00, 0x01, 2048, "/SYSV00000000", 1, 1 },
	{ "7fa405b6a000-7fa405b71000 r--s 00000000 fe:00 332280                     "
	  "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache",
	  0x7fa405b6a000, 0x7fa405b71000, 0, R, 1, 0xfe, 0x00, 332280,
	  "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache", 0, 1 },
	/* 64-bit high addresses and offsets; execute-only vsyscall. */
	{ "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
	  0xffffffffff600000, 0xffffffffff601000, 0, X, 0, 0, 0, 0, "[vsyscall]", 0, 0 },
	{ "fffffffffffff000-ffffffffffffffff rwxs fffffffffffff000 fff:fffff 18446744073709551615 /m",
	  0xfffffffffffff000, 0xffffffffffffffff, 0xfffffffffffff000, R | W | X, 1, 0xfff,
	  0xfffff, UINT64_MAX, "/m", 0, 1 },
	/* Short (unpadded) addresses and an empty region. */
	{ "0-1000 r--p 0 0:0 1 /a", 0, 0x1000, 0, R, 0, 0, 0, 1, "/a", 0, 1 },
	{ "1000-1000 r--p 0 0:0 1 /a", 0x1000, 0x1000, 0, R, 0, 0, 0, 1, "/a", 0, 1 },
	/* A relative path (never printed by the kernel) is not a file we use. */
	{ "1000-2000 r--p 0 0:0 1 a.so", 0x1000, 0x2000, 0, R, 0, 0, 0, 1, "a.so", 0, 0 },
};

static void check_case(const struct maps_case *c)
{
	size_t len = strlen(c->line);
	char *buf = malloc(len + 1);
	struct sz_map m;

	assert_non_null(buf);
	memcpy(buf, c->line, len + 1);
	memset(&m, 0xa5, sizeof(m));
	if (sz_maps_parse_line(buf, len, &m) != 0) {
		print_error("refused: \"%s\"\n", c->line);
		fail();
	}
	if (m.start != c->start || m.end != c->end || m.pgoff != c->pgoff || m.prot != c->prot ||
	    m.shared != c->shared || m.dev_major != c->maj || m.dev_minor != c->min ||
	    m.ino != c->ino || !m.path || strcmp(m.path, c->path) || m.deleted != c->deleted)
		print_error("mismatch on \"%s\"\n", c->line);
	assert_int_equal(m.start, c->start);
	assert_int_equal(m.end, c->end);
	assert_int_equal(m.pgoff, c->pgoff);
	assert_int_equal(m.prot, c->prot);
	assert_int_equal(m.shared, c->shared);
	assert_int_equal(m.dev_major, c->maj);
	assert_int_equal(m.dev_minor, c->min);
	assert_int_equal(m.ino, c->ino);
	assert_non_null(m.path);
	/* The path lies inside the line, NUL-terminated in place. */
	assert_true(m.path >= buf && m.path <= buf + len);
	assert_string_equal(m.path, c->path);
	assert_int_equal(m.path_len, strlen(c->path));
	assert_int_equal(m.deleted, c->deleted);
	assert_int_equal(sz_map_is_file(&m), c->is_file);
	free(buf);
}

static void test_good_lines(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		check_case(&good[i]);
}

/* LEN, not the NUL, ends the line: what follows is not part of the path. */
static void test_length_bounds_line(void **state)
{
	char buf[] = "7f00-7f10 r-xp 00001000 08:01 77 /lib/x.so\nGARBAGE (deleted)";
	size_t len = (size_t)(strchr(buf, '\n') - buf);
	struct sz_map m;

	assert_int_equal(sz_maps_parse_line(buf, len, &m), 0);
	assert_string_equal(m.path, "/lib/x.so");
	assert_int_equal(m.path_len, 9);
	assert_int_equal(m.deleted, 0);
	assert_int_equal(m.ino, 77);
	/* A length that cuts the inode's digits short. */
	memcpy(buf, "7f00-7f10 r-xp 00001000 08:01 7777", 35);
	assert_int_equal(sz_maps_parse_line(buf, 32, &m), 0);
	assert_int_equal(m.ino, 77);
	assert_string_equal(m.path, "");
	/* A length inside the permissions. */
	memcpy(buf, "7f00-7f10 r-xp 00001000 08:01 7777", 35);
	assert_int_equal(sz_maps_parse_line(buf, 12, &m), -EINVAL);
}

static void test_malformed_lines(void **state)
{
	static const char *const bad[] = {
		"",
		"garbage",
		" 7f00-7f10 r-xp 00000000 08:01 1 /x", /* leading space */
		"7f00",
		"7f00-",
		"7f00-7f10",
		"7f00-7f10 ",
		"7f00-7f10 r-x",
		"7f00-7f10 r-xp",
		"7f00-7f10 r-xp ",
		"7f00-7f10 r-xp 00000000",
		"7f00-7f10 r-xp 00000000 08",
		"7f00-7f10 r-xp 00000000 08:",
		"7f00-7f10 r-xp 00000000 08:01",	 /* no inode */
		"7f00-7f10 r-xp 00000000 08:01 ",	 /* no inode */
		"7f00-7f10 r-xp 00000000 08:01 /x",	 /* no inode, a path */
		"7f00-7f10 r-xq 00000000 08:01 1 /x",	 /* bad p/s */
		"7f00-7f10 xr-p 00000000 08:01 1 /x",	 /* bad perms order */
		"7f00-7f10 R-xp 00000000 08:01 1 /x",	 /* uppercase perm */
		"7f00-7f10 r?xp 00000000 08:01 1 /x",
		"7f00-7f10 r-x? 00000000 08:01 1 /x",
		"7f00-7f10 r-xpp 00000000 08:01 1 /x",	 /* five perms */
		"7f00-7f10 r-x 00000000 08:01 1 /x",	 /* three perms */
		"7f10-7f00 r-xp 00000000 08:01 1 /x",	 /* end < start */
		"7g00-7f10 r-xp 00000000 08:01 1 /x",	 /* non-hex start */
		"7f00-7f1g r-xp 00000000 08:01 1 /x",	 /* non-hex end */
		"-7f10 r-xp 00000000 08:01 1 /x",	 /* no start */
		"7f00--7f10 r-xp 00000000 08:01 1 /x",
		"7f00+7f10 r-xp 00000000 08:01 1 /x",
		"7f00-7f10 r-xp zz000000 08:01 1 /x",	 /* non-hex offset */
		"7f00-7f10 r-xp 0000000z 08:01 1 /x",
		"7f00-7f10 r-xp 00000000 0801 1 /x",	 /* no colon */
		"7f00-7f10 r-xp 00000000 0g:01 1 /x",	 /* non-hex major */
		"7f00-7f10 r-xp 00000000 08:0g 1 /x",	 /* non-hex minor */
		"7f00-7f10 r-xp 00000000 :01 1 /x",
		"7f00-7f10 r-xp 00000000 08: 1 /x",
		"7f00-7f10 r-xp 00000000 1000:01 1 /x",	 /* major > 12 bits */
		"7f00-7f10 r-xp 00000000 08:100000 1 /x", /* minor > 20 bits */
		"7f00-7f10 r-xp 00000000 08:01 12a /x",	 /* non-decimal inode */
		"7f00-7f10 r-xp 00000000 08:01 0x1 /x",
		"7f00-7f10 r-xp 00000000 08:01 1\t/x",	 /* tab, not space */
		"7f00-7f10 r-xp 00000000 08:01 123456789012345678901 /x", /* 21 digits */
		"7f00-7f10  r-xp 00000000 08:01 1 /x",	 /* two spaces */
		"7f00-7f10 r-xp  00000000 08:01 1 /x",
		"7f00-7f10 r-xp 00000000  08:01 1 /x",
		"7f00 7f10 r-xp 00000000 08:01 1 /x",
		"7f00-7f10-r-xp 00000000 08:01 1 /x",
		"00000000000007f00-7f10 r-xp 00000000 08:01 1 /x", /* 17 hex digits */
		"7f00-7f10 r-xp 00000000000000000 08:01 1 /x",
		"\n",
		"7f00-7f10 r-xp 00000000 08:01 1\n/x",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		size_t len = strlen(bad[i]);
		char *buf = malloc(len + 1);
		struct sz_map m;
		int r;

		assert_non_null(buf);
		memcpy(buf, bad[i], len + 1);
		r = sz_maps_parse_line(buf, len, &m);
		if (r != -EINVAL) {
			print_error("line \"%s\": got %d, want -EINVAL\n", bad[i], r);
			fail();
		}
		free(buf);
	}
}

/* Every prefix of a good line parses or is refused and never takes the byte
 * after LEN (a non-NUL sentinel here) into the line. */
static void test_every_prefix(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		size_t full = strlen(good[i].line);

		for (size_t len = 0; len <= full; len++) {
			char *buf = malloc(len + 1);
			struct sz_map m;
			int r;

			assert_non_null(buf);
			memcpy(buf, good[i].line, len);
			buf[len] = 'Z';
			r = sz_maps_parse_line(buf, len, &m);
			assert_true(r == 0 || r == -EINVAL);
			if (!r) {
				assert_true(m.path >= buf && m.path + m.path_len <= buf + len);
				assert_int_equal(strlen(m.path), m.path_len);
				assert_null(memchr(m.path, 'Z', m.path_len));
			}
			free(buf);
		}
	}
}

/* The iterator over a whole maps file: malformed lines skipped, a last line
 * without its newline kept, paths valid until close; a missing file is an
 * errno.  A directory stands in for /proc (the scanner takes its root). */
static void test_iterator(void **state)
{
	static const char text[] =
		"7f0000000000-7f0000001000 r--p 00000000 fe:00 42   /lib/a b.so\n"
		"garbage line\n"
		"\n"
		"7f0000001000-7f0000002000 r-xp 00001000 fe:00 42   /lib/a b.so\n"
		"7ffd0000-7ffd1000 rw-p 00000000 00:00 0                          [stack]";
	char dir[] = "/tmp/sz-maps-XXXXXX", path[64];
	struct sz_maps_iter it;
	struct sz_map m[4];
	int n = 0;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/123", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/123/maps", dir);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(sz_maps_open(&it, dir, 123, 1 << 20), 0);
	while (n < 4 && sz_maps_next(&it, &m[n]))
		n++;
	assert_int_equal(n, 3);
	assert_string_equal(m[0].path, "/lib/a b.so");
	assert_int_equal(m[1].pgoff, 0x1000);
	assert_int_equal(m[1].prot, PROT_READ | PROT_EXEC);
	assert_string_equal(m[2].path, "[stack]");
	assert_int_equal(sz_maps_next(&it, &m[0]), 0);
	sz_maps_close(&it);
	/* Too big for the bound, and absent. */
	assert_int_equal(sz_maps_open(&it, dir, 123, 16), -EFBIG);
	assert_int_equal(sz_maps_open(&it, dir, 124, 1 << 20), -ENOENT);
	unlink(path);
	snprintf(path, sizeof(path), "%s/123", dir);
	rmdir(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_lines),
		cmocka_unit_test(test_length_bounds_line),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_iterator),
	};

	return cmocka_run_group_tests_name("maps", tests, NULL, NULL);
}
