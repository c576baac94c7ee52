// SPDX-License-Identifier: BSD-2-Clause
/*
 * The reader of perf's PERF_RECORD_MMAP2 / PERF_RECORD_LOST records
 * (--mmap-hook perf) as a table: names as the other sources give them
 * (" (deleted)" to a flag, a memfd as "/memfd:NAME"), the kernel's own names
 * refused, and malformed records.
 */
#include "sources/perfmmap.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

/* A record as the kernel writes it: fixed part, NUL-padded name, sample id. */
static size_t mmap2(unsigned char *b, const char *name, uint32_t prot, uint32_t flags,
		    int pad_nul)
{
	size_t n = strlen(name) + (pad_nul ? 1 : 0), len = (n + 7) / 8 * 8, size;
	struct perf_event_header h;
	uint32_t u32[2];
	uint64_t u64[5];

	size = SZ_PERF_MMAP2_HDR + len + SZ_PERF_SAMPLE_ID;
	memset(b, 0, size);
	h = (struct perf_event_header){ PERF_RECORD_MMAP2, 0, (uint16_t)size };
	memcpy(b, &h, sizeof(h));
	u32[0] = u32[1] = 4321; /* pid, tid */
	memcpy(b + 8, u32, 8);
	u64[0] = 0x7f0000001000; /* addr */
	u64[1] = 0x3000;	 /* len */
	u64[2] = 0x1000;	 /* pgoff */
	memcpy(b + 16, u64, 24);
	u32[0] = 254; /* maj, min */
	u32[1] = 3;
	memcpy(b + 40, u32, 8);
	u64[0] = 777; /* ino, generation */
	u64[1] = 1;
	memcpy(b + 48, u64, 16);
	u32[0] = prot;
	u32[1] = flags;
	memcpy(b + 64, u32, 8);
	memcpy(b + SZ_PERF_MMAP2_HDR, name, strlen(name));
	u64[0] = 123456789; /* sample id: pid, tid (again), time */
	memcpy(b + size - 8, u64, 8);
	return size;
}

static const struct {
	const char *name;
	uint32_t flags;
	int pad_nul, ret;
	const char *path;
	unsigned mflags;
} cases[] = {
	{ "/usr/lib/libfix.so", MAP_PRIVATE, 1, 0, "/usr/lib/libfix.so", 0 },
	{ "/tmp/libfix.so (deleted)", MAP_PRIVATE, 1, 0, "/tmp/libfix.so", SZ_MAPPING_DELETED },
	{ "/memfd:jit (deleted)", MAP_PRIVATE, 1, 0, "/memfd:jit", SZ_MAPPING_DELETED },
	{ "/dev/shm/x", MAP_SHARED, 1, 0, "/dev/shm/x", SZ_MAPPING_SHARED },
	{ " (deleted)", MAP_PRIVATE, 1, -ENOENT, NULL, 0 },
	{ "//anon", MAP_PRIVATE, 1, -ENOENT, NULL, 0 },
	{ "[vdso]", MAP_PRIVATE, 1, -ENOENT, NULL, 0 },
	{ "//toolong", MAP_PRIVATE, 1, -ENAMETOOLONG, NULL, 0 },
	{ "/a/name/of/exactly/24/by", MAP_PRIVATE, 0, -EBADMSG, NULL, 0 }, /* no NUL */
};

static void test_table(void **state)
{
	unsigned char b[512];
	char path[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t size = mmap2(b, cases[i].name, PROT_READ | PROT_EXEC, cases[i].flags,
				    cases[i].pad_nul);
		struct sz_mapping m;
		int rc = sz_perfmmap_rec(b, size, path, sizeof(path), &m, NULL);

		print_message("case %zu: %s\n", i, cases[i].name);
		assert_int_equal(rc, cases[i].ret);
		if (rc)
			continue;
		assert_string_equal(m.path, cases[i].path);
		assert_int_equal(m.flags, cases[i].mflags);
		assert_int_equal(m.pid, 4321);
		assert_int_equal(m.source, SZ_SOURCE_MMAP);
		assert_true(m.start == 0x7f0000001000 && m.end == 0x7f0000004000);
		assert_true(m.pgoff == 0x1000 && m.ino == 777 && m.ts_ns == 123456789);
		assert_int_equal(m.dev, (254u << 20) | 3u);
		assert_int_equal(m.prot, PROT_READ | PROT_EXEC);
	}
}

static void test_bounds(void **state)
{
	unsigned char b[512];
	char path[8];
	struct sz_mapping m;
	uint64_t lost = 0;
	size_t size = mmap2(b, "/usr/lib/libfix.so", PROT_READ | PROT_EXEC, MAP_PRIVATE, 1);
	struct perf_event_header h;

	(void)state;
	/* a path longer than the buffer is refused, never cut */
	assert_int_equal(sz_perfmmap_rec(b, size, path, sizeof(path), &m, NULL), -ENAMETOOLONG);
	/* the header's size must be the record's */
	assert_int_equal(sz_perfmmap_rec(b, size - 8, path, sizeof(path), &m, NULL), -EBADMSG);
	assert_int_equal(sz_perfmmap_rec(b, 4, path, sizeof(path), &m, NULL), -EBADMSG);
	/* a zero-length mapping */
	memset(b + 24, 0, 8);
	assert_int_equal(sz_perfmmap_rec(b, size, path, sizeof(path), &m, NULL), -EBADMSG);
	/* LOST: id, lost, sample id */
	memset(b, 0, 40);
	h = (struct perf_event_header){ PERF_RECORD_LOST, 0, 40 };
	memcpy(b, &h, sizeof(h));
	b[16] = 42;
	assert_int_equal(sz_perfmmap_rec(b, 40, path, sizeof(path), &m, &lost), -EAGAIN);
	assert_int_equal(lost, 42);
	h.type = PERF_RECORD_COMM;
	memcpy(b, &h, sizeof(h));
	assert_int_equal(sz_perfmmap_rec(b, 40, path, sizeof(path), &m, &lost), -EINVAL);
}

/* /sys/devices/system/cpu/possible's format: the CPUs perf events must
 * cover; a list it cannot read must not pass for a count. */
static void test_cpulist(void **state)
{
	static const struct {
		const char *s;
		int n;
	} t[] = {
		{ "0-1\n", 2 },   { "0\n", 1 },	  { "0-3,8,10-11\n", 7 }, { "0-127", 128 },
		{ "5", 1 },	  { "", -EINVAL },	  { "\n", -EINVAL },	     { "3-1", -EINVAL },
		{ "0-", -EINVAL }, { "-1", -EINVAL },	  { "0,,1", -EINVAL },     { "0 1", -EINVAL },
		{ "a", -EINVAL },  { "0-4096", -EINVAL }, { "0-+3", -EINVAL },    { "0-4095", 4096 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(sz_cpulist_count(t[i].s), t[i].n);
	assert_int_equal(sz_cpulist_count(NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_cpulist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
