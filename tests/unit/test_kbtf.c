// SPDX-License-Identifier: BSD-2-Clause
/*
 * The minimal kernel BTF (src/util/kbtf.c) against libbpf's own reading of the
 * running kernel's: every type our objects relocate against comes out with the
 * same size, members, offsets and member sizes; the iterator's attach target
 * has the kernel's id; malformed BTF and ELF are refused, not read past.
 */
#include "util/kbtf.h"

#include <bpf/btf.h>
#include <errno.h>
#include <linux/btf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_ROOTS 128

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 20, n = 0;
	char *p = malloc(cap);

	if (!f) {
		fail_msg("cannot open %s", path);
		return NULL;
	}
	for (;;) {
		size_t r = fread(p + n, 1, cap - n, f);

		n += r;
		if (n < cap)
			break;
		cap *= 2;
		p = realloc(p, cap);
		assert_non_null(p);
	}
	fclose(f);
	*len = n;
	return p;
}

/* The roots of our three objects, as the watch asks for them. */
static size_t our_roots(struct sz_kbtf_root *roots)
{
	static const char *const objs[] = { "watch", "probe", "usdt" };
	const char *fix = getenv("SZ_FIXTURES");
	size_t n = 0;

	assert_non_null(fix); /* build/fixtures: the objects are in build/bpf */
	for (size_t i = 0; i < 3; i++) {
		char path[512];
		size_t len;
		void *elf;

		snprintf(path, sizeof(path), "%s/../bpf/%s.bpf.o", fix, objs[i]);
		elf = slurp(path, &len);
		assert_int_equal(sz_kbtf_roots(elf, len, roots, &n, MAX_ROOTS), 0);
		free(elf);
	}
	return n;
}

/* A type's size as libbpf resolves it (pointers: 8). */
static long size_of(const struct btf *b, __u32 id)
{
	return btf__resolve_size(b, id);
}

static void check_same(const struct btf *full, __u32 fid, const struct btf *min, __u32 mid)
{
	const struct btf_type *f = btf__type_by_id(full, fid), *m = btf__type_by_id(min, mid);
	const struct btf_member *fm, *mm;

	assert_non_null(f);
	assert_non_null(m);
	assert_int_equal(btf_kind(f), btf_kind(m));
	assert_string_equal(btf__name_by_offset(full, f->name_off),
			    btf__name_by_offset(min, m->name_off));
	assert_int_equal(size_of(full, fid), size_of(min, mid));
	if (!btf_is_composite(f))
		return;
	assert_int_equal(btf_vlen(f), btf_vlen(m));
	fm = btf_members(f);
	mm = btf_members(m);
	for (int i = 0; i < btf_vlen(f); i++) {
		assert_string_equal(btf__name_by_offset(full, fm[i].name_off),
				    btf__name_by_offset(min, mm[i].name_off));
		assert_int_equal(btf_member_bit_offset(f, i), btf_member_bit_offset(m, i));
		assert_int_equal(btf_member_bitfield_size(f, i), btf_member_bitfield_size(m, i));
		/* what CO-RE reads: the member's size, and its kind once typedefs
		 * and modifiers are skipped (a pointer stays a pointer) */
		assert_int_equal(size_of(full, fm[i].type), size_of(min, mm[i].type));
		assert_int_equal(btf_kind(btf__type_by_id(full, btf__resolve_type(full, fm[i].type))),
				 btf_kind(btf__type_by_id(min, btf__resolve_type(min, mm[i].type))));
		/* an embedded struct or union is there whole: check it too */
		if (btf_is_composite(btf__type_by_id(full, btf__resolve_type(full, fm[i].type))))
			check_same(full, (__u32)btf__resolve_type(full, fm[i].type), min,
				   (__u32)btf__resolve_type(min, mm[i].type));
	}
}

static void test_copy_is_faithful(void **state)
{
	struct sz_kbtf_root roots[MAX_ROOTS];
	struct sz_kbtf_want want = { BTF_KIND_FUNC, "bpf_iter_task_vma", 0 };
	struct btf *full, *min;
	size_t nroots, klen, mlen;
	void *kern, *out;

	(void)state;
	nroots = our_roots(roots);
	assert_true(nroots > 10);
	kern = slurp("/sys/kernel/btf/vmlinux", &klen);
	assert_int_equal(sz_kbtf_build(kern, klen, roots, nroots, &want, 1, &out, &mlen), 0);
	full = btf__new(kern, (__u32)klen);
	min = btf__new(out, (__u32)mlen); /* libbpf accepts it */
	assert_non_null(full);
	assert_non_null(min);
	assert_true(btf__type_cnt(min) < btf__type_cnt(full) / 20);
	for (size_t r = 0; r < nroots; r++) {
		__s32 fid = btf__find_by_name_kind(full, roots[r].name, roots[r].kind);
		__s32 mid = btf__find_by_name_kind(min, roots[r].name, roots[r].kind);

		assert_true(fid > 0); /* every root is the kernel's */
		assert_true(mid > 0);
		check_same(full, (__u32)fid, min, (__u32)mid);
	}
	assert_int_equal(want.id, btf__find_by_name_kind(full, "bpf_iter_task_vma", BTF_KIND_FUNC));
	btf__free(min);
	btf__free(full);
	free(out);
	free(kern);
}

/* A BTF of an int and one struct NAME { int FIELD; }, as its raw bytes. */
static struct btf *one_struct(const char *name, const char *field, const void **raw, size_t *len)
{
	struct btf *b = btf__new_empty();
	__u32 rlen;
	int i32;

	assert_non_null(b);
	i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
	assert_true(btf__add_struct(b, name, 4) > 0);
	assert_int_equal(btf__add_field(b, field, i32, 0, 0), 0);
	*raw = btf__raw_data(b, &rlen);
	*len = rlen;
	return b;
}

/* A ___flavor suffix is not part of the name CO-RE matches. */
static void test_flavor_suffix(void **state)
{
	struct sz_kbtf_root root = { BTF_KIND_STRUCT, "task_struct" };
	struct sz_kbtf_root flavored = { BTF_KIND_STRUCT, "task_struct___old" };
	struct btf *b, *min;
	size_t len, mlen;
	const void *raw;
	void *out;

	(void)state;
	b = one_struct("task_struct___v2", "pid", &raw, &len);
	assert_int_equal(sz_kbtf_build(raw, len, &root, 1, NULL, 0, &out, &mlen), 0);
	min = btf__new(out, (__u32)mlen);
	assert_non_null(min);
	assert_int_equal(btf__type_cnt(min), 3); /* void, the struct, its int */
	free(out);
	btf__free(min);
	/* a root named with a flavor finds nothing by its full name */
	assert_int_equal(sz_kbtf_build(raw, len, &flavored, 1, NULL, 0, &out, &mlen), 0);
	min = btf__new(out, (__u32)mlen);
	assert_int_equal(btf__type_cnt(min), 1);
	free(out);
	btf__free(min);
	btf__free(b);
}

/* A member pointing past the last type, strings without their NUL, a header
 * longer than the data, an unknown kind: refused. */
static void test_malformed(void **state)
{
	struct sz_kbtf_root root = { BTF_KIND_STRUCT, "s" };
	unsigned char *copy;
	struct btf_header h;
	size_t len, mlen, n = 0;
	const void *raw;
	struct btf *b;
	void *out;

	(void)state;
	b = one_struct("s", "x", &raw, &len);
	copy = malloc(len);
	memcpy(&h, raw, sizeof(h));

	for (size_t cut = 0; cut < len; cut++) /* every truncation */
		assert_true(sz_kbtf_build(raw, cut, &root, 1, NULL, 0, &out, &mlen) < 0);

	memcpy(copy, raw, len); /* the member's type: id 99 */
	{
		size_t member = h.hdr_len + h.type_off + 16 + 12 + 4; /* int + struct, type */
		__u32 bad = 99;

		memcpy(copy + member, &bad, 4);
		assert_int_equal(sz_kbtf_build(copy, len, &root, 1, NULL, 0, &out, &mlen), -EPROTO);
	}
	memcpy(copy, raw, len); /* last string byte not NUL */
	copy[len - 1] = 'x';
	assert_int_equal(sz_kbtf_build(copy, len, &root, 1, NULL, 0, &out, &mlen), -EPROTO);
	memcpy(copy, raw, len); /* kind 31 */
	copy[h.hdr_len + h.type_off + 7] = 31; /* info's top byte: the first type's kind */
	assert_int_equal(sz_kbtf_build(copy, len, &root, 1, NULL, 0, &out, &mlen), -EPROTO);

	/* BTF is no ELF; an ELF header alone has no .BTF */
	assert_int_equal(sz_kbtf_roots(raw, len, &root, &n, 1), -EPROTO);
	memset(copy, 0, len);
	memcpy(copy, "\177ELF\2\1\1", 7);
	assert_int_equal(sz_kbtf_roots(copy, len, &root, &n, 1), -EPROTO);
	free(copy);
	btf__free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_is_faithful),
		cmocka_unit_test(test_flavor_suffix),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
