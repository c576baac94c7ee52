// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of the watch record checker and path decoder (src/watch_rec.c):
 * a table of hand-built records, well-formed and lying, through both calls.
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

#include "sources/watch_rec.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct path_case {
	const char *what;
	const char *enc;   /* path[] bytes (may hold NULs) */
	size_t enc_len;	   /* bytes of enc copied into path[] */
	__u32 path_len;	   /* as stored, may lie */
	__u32 flags;
	size_t outsz;	   /* 0: sizeof(out) */
	int want_check;	   /* sz_watch_rec_check */
	int want;	   /* sz_watch_rec_path */
	const char *want_path;
};

#define ENC(s) s, sizeof(s) - 1

static const struct path_case cases[] = {
	{ "normal", ENC("libc.so.6\0x86_64-linux-gnu\0lib\0usr\0"), 35, 0, 0, 0, 0,
	  "/usr/lib/x86_64-linux-gnu/libc.so.6" },
	{ "root-level file", ENC("vmlinuz\0"), 8, 0, 0, 0, 0, "/vmlinuz" },
	{ "spaces kept", ENC("libx.so\0lib dir\0work\0"), 21, 0, 0, 0, 0, "/work/lib dir/libx.so" },
	{ "no path", "", 0, 0, 0, 0, 0, -ENOENT, "" },
	{ "truncated flag", ENC("a\0b\0"), 4, SZ_WATCH_PATH_TRUNCATED, 0, 0, -ENAMETOOLONG, "" },
	{ "truncated, empty", "", 0, 0, SZ_WATCH_PATH_TRUNCATED, 0, 0, -ENAMETOOLONG, "" },
	{ "deleted flag: still decoded", ENC("gone.so\0tmp\0"), 12, SZ_WATCH_PATH_DELETED, 0, 0,
	  0, "/tmp/gone.so" },
	{ "foreign flag: still decoded", ENC("libc.so.6\0lib\0"), 14, SZ_WATCH_PATH_FOREIGN, 0, 0,
	  0, "/lib/libc.so.6" },
	{ "path_len lying: > buffer", ENC("a\0"), SZ_WATCH_PATH_LEN + 1, 0, 0, -EBADMSG, -EBADMSG,
	  "" },
	{ "path_len lying: huge", ENC("a\0"), 0xffffffffu, 0, 0, -EBADMSG, -EBADMSG, "" },
	{ "path_len lying: short, no NUL", ENC("abc\0"), 2, 0, 0, 0, -EBADMSG, "" },
	{ "path_len lying: longer than data", ENC("a\0"), 5, 0, 0, 0, -EBADMSG, "" },
	{ "no NUL at all", NULL, SZ_WATCH_PATH_LEN, SZ_WATCH_PATH_LEN, 0, 0, 0, -EBADMSG, "" },
	{ "empty component", ENC("a\0\0b\0"), 5, 0, 0, 0, -EBADMSG, "" },
	{ "leading NUL", ENC("\0a\0"), 3, 0, 0, 0, -EBADMSG, "" },
	{ "slash in component", ENC("a/b\0c\0"), 6, 0, 0, 0, -EBADMSG, "" },
	{ "dotdot component", ENC("a\0..\0"), 5, 0, 0, 0, -EBADMSG, "" },
	{ "fits exactly", ENC("ab\0c\0"), 5, 0, 6, 0, 0, "/c/ab" },
	{ "one byte short", ENC("ab\0c\0"), 5, 0, 5, 0, -ENAMETOOLONG, "" },
	{ "full buffer", NULL, SZ_WATCH_PATH_LEN, SZ_WATCH_PATH_LEN, 0, 0, 0, 1, NULL },
	{ "deep: 32 components", NULL, 64, 64, 0, 0, 0, 0, NULL },
};

/* The path of a record built here: after the name "a\0". */
#define PATH_OF(r) ((r)->data + 2)

/* "no NUL at all": 'x' everywhere; "full buffer": 4-byte components "abc\0";
 * "deep": 32 components "a\0". */
static void fill_special(const struct path_case *c, struct sz_watch_rec *r)
{
	if (!strcmp(c->what, "no NUL at all")) {
		memset(PATH_OF(r), 'x', SZ_WATCH_PATH_LEN);
	} else if (!strcmp(c->what, "full buffer")) {
		for (size_t i = 0; i < SZ_WATCH_PATH_LEN; i += 4)
			memcpy(PATH_OF(r) + i, "abc", 4);
	} else {
		for (size_t i = 0; i < 64; i += 2)
			memcpy(PATH_OF(r) + i, i / 2 % 2 ? "b" : "a", 2);
	}
}

static void build(const struct path_case *c, struct sz_watch_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->type = SZ_WATCH_MMAP;
	r->name_len = 1;
	r->data[0] = 'a';
	if (c->enc)
		memcpy(PATH_OF(r), c->enc, c->enc_len);
	else
		fill_special(c, r);
	r->path_len = c->path_len;
	r->path_flags = c->flags;
}

/* The size the ring would carry for R (a lying path_len: the whole struct). */
static size_t wire_size(const struct sz_watch_rec *r)
{
	if (r->path_len > SZ_WATCH_PATH_LEN || r->name_len >= SZ_WATCH_NAME_LEN)
		return sizeof(*r);
	return SZ_WATCH_HDR_LEN + r->name_len + 1 + r->path_len;
}

static void test_path_table(void **state)
{
	static struct sz_watch_rec r;
	char out[SZ_WATCH_PATH_LEN + 1], want[SZ_WATCH_PATH_LEN + 1];
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct path_case *c = &cases[i];
		size_t outsz = c->outsz ? c->outsz : sizeof(out);
		const char *wp = c->want_path;
		int got, chk, want_ret = c->want;

		build(c, &r);
		if (!strcmp(c->what, "full buffer")) {
			/* 256 components "abc": 1 + 1024 bytes needed, out has exactly that */
			want_ret = 0;
			for (size_t k = 0; k < SZ_WATCH_PATH_LEN / 4; k++)
				memcpy(want + 4 * k, "/abc", 4);
			want[SZ_WATCH_PATH_LEN] = '\0';
			wp = want;
		} else if (!strcmp(c->what, "deep: 32 components")) {
			for (size_t k = 0; k < 32; k++)
				memcpy(want + 2 * k, k % 2 ? "/a" : "/b", 2);
			want[64] = '\0';
			wp = want;
		}
		memset(out, '#', sizeof(out));
		chk = sz_watch_rec_check(&r, wire_size(&r));
		got = sz_watch_rec_path(&r, out, outsz);
		if (chk != c->want_check || got != want_ret || !memchr(out, '\0', outsz) ||
		    strcmp(out, wp)) {
			print_error("%s: check %d (want %d), path %d (want %d) \"%.*s\" (want \"%s\")\n",
				    c->what, chk, c->want_check, got, want_ret,
				    memchr(out, '\0', outsz) ? (int)outsz : 0, out, wp);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_outsz_zero_and_one(void **state)
{
	struct sz_watch_rec r;
	char out[1] = { '#' };

	(void)state;
	build(&cases[0], &r);
	assert_int_equal(sz_watch_rec_path(&r, out, 0), -ENAMETOOLONG);
	assert_int_equal(out[0], '#'); /* nothing written */
	assert_int_equal(sz_watch_rec_path(&r, out, 1), -ENAMETOOLONG);
	assert_int_equal(out[0], '\0');
}

static void test_check(void **state)
{
	static unsigned char buf[sizeof(struct sz_watch_rec) + 1];
	struct sz_watch_rec r;
	size_t n;

	(void)state;
	build(&cases[0], &r);
	n = wire_size(&r);
	assert_int_equal(n, SZ_WATCH_HDR_LEN + 2 + 35);
	assert_int_equal(sz_watch_rec_check(&r, n), 0);
	/* variable length: exactly header + name + NUL + path, not a byte more or less */
	assert_int_equal(sz_watch_rec_check(&r, n - 1), -EBADMSG);
	assert_int_equal(sz_watch_rec_check(&r, n + 1), -EBADMSG);
	assert_int_equal(sz_watch_rec_check(&r, sizeof(r)), -EBADMSG);
	assert_int_equal(sz_watch_rec_check(&r, SZ_WATCH_HDR_LEN - 1), -EBADMSG);
	assert_int_equal(sz_watch_rec_check(&r, 0), -EBADMSG);
	assert_int_equal(sz_watch_rec_check(NULL, n), -EBADMSG);
	/* unaligned copy is fine */
	memcpy(buf + 1, &r, n);
	assert_int_equal(sz_watch_rec_check(buf + 1, n), 0);

	for (__u32 t = 0; t < 9; t++) {
		r.type = t;
		assert_int_equal(sz_watch_rec_check(&r, n),
				 t >= SZ_WATCH_EXEC && t <= SZ_WATCH_HINT ? 0 : -EBADMSG);
	}
	r.type = SZ_WATCH_EXEC;
	r.name_len = SZ_WATCH_NAME_LEN; /* no room for the NUL */
	assert_int_equal(sz_watch_rec_check(&r, sizeof(r)), -EBADMSG);
	r.name_len = 0x7fffffff; /* sizes that overflow if added carelessly */
	r.path_len = 0x80000001u;
	assert_int_equal(sz_watch_rec_check(&r, sizeof(r)), -EBADMSG);
	r.path_len = 35;
	r.name_len = 0; /* data[0] is 'a', not NUL */
	assert_int_equal(sz_watch_rec_check(&r, SZ_WATCH_HDR_LEN + 1 + 35), -EBADMSG);
	r.name_len = 3; /* "a\0l" + NUL: a NUL inside the name */
	r.data[3] = '\0';
	assert_int_equal(sz_watch_rec_check(&r, SZ_WATCH_HDR_LEN + 4 + 35), -EBADMSG);
	/* the longest record: a 255-byte name and a full path */
	memset(r.data, 'n', sizeof(r.data));
	r.data[SZ_WATCH_NAME_LEN - 1] = '\0';
	r.name_len = SZ_WATCH_NAME_LEN - 1;
	r.path_len = SZ_WATCH_PATH_LEN;
	assert_int_equal(sz_watch_rec_check(&r, sizeof(r)), 0);
	assert_int_equal(sizeof(r), SZ_WATCH_REC_MAX);
	assert_int_equal(sz_watch_rec_check(buf, sizeof(r) + 1), -EBADMSG);
	/* an EXIT record: header and an empty name, nothing else */
	memset(&r, 0, sizeof(r));
	r.type = SZ_WATCH_EXIT;
	assert_int_equal(sz_watch_rec_check(&r, SZ_WATCH_HDR_LEN + 1), 0);
	assert_int_equal(sz_watch_rec_path(&r, (char *)buf, sizeof(buf)), -ENOENT);
	assert_string_equal(sz_watch_rec_name(&r), "");
}

/* What the ring holds: libc's record as the BPF side sends it now, against the
 * fixed 1,384 bytes it took before (plus the ring's 8-byte header each). */
static void test_ring_capacity(void **state)
{
	static const char enc[] = "libc.so.6\0x86_64-linux-gnu\0lib\0usr\0";
	struct sz_watch_rec r;
	char out[SZ_WATCH_PATH_LEN + 1];
	size_t n, ring = 4u << 20, before, now;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.type = SZ_WATCH_MMAP;
	r.name_len = 9;
	memcpy(r.data, "libc.so.6", 10);
	r.path_len = sizeof(enc) - 1;
	memcpy(r.data + 10, enc, sizeof(enc) - 1);
	n = SZ_WATCH_HDR_LEN + 10 + r.path_len;
	assert_int_equal(sz_watch_rec_check(&r, n), 0);
	assert_int_equal(sz_watch_rec_path(&r, out, sizeof(out)), 0);
	assert_string_equal(out, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	assert_string_equal(sz_watch_rec_name(&r), "libc.so.6");
	before = ring / (8 + 1384);
	now = ring / (8 + ((n + 7) & ~(size_t)7));
	print_message("4 MiB ring: %zu libc records of %zu bytes, was %zu of 1384\n", now, n,
		      before);
	assert_true(now >= 7 * before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_table),
		cmocka_unit_test(test_outsz_zero_and_one),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_ring_capacity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
