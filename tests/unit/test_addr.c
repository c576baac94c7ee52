// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of address -> symbol (src/elf/addr.c, src/elf/debug.c): the index against
 * nm(1) on real files (libc's .dynsym, a fixture's .symtab), the alias rule on aliases
 * made for it, zero-size and nested functions, the .gnu_debuglink parser, xz
 * decompression against xz(1), and the search for separate debug files.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "elf/sz_addr.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

static char tmpdir[] = "/tmp/sz-test-addr-XXXXXX";

static const char *fixture(const char *name)
{
	static char buf[4][4096];
	static int n;
	const char *dir = getenv("SZ_FIXTURES");
	char *b = buf[n++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir ? dir : "build/fixtures", name);
	return b;
}

struct img {
	int fd;
	struct sz_elf *e;
};

static void img_open(struct img *im, const char *path)
{
	char err[256];

	im->fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(im->fd >= 0);
	assert_int_equal(sz_elf_open(im->fd, &im->e, err, sizeof(err)), 0);
}

static void img_close(struct img *im)
{
	sz_elf_close(im->e);
	close(im->fd);
}

/* One defined text symbol as nm prints it. */
struct nmsym {
	uint64_t addr, size;
	char letter;
	int hidden; /* "name@VER" rather than "name@@VER" */
	char name[512];
	char version[64];
};

static int nm_cmp(const void *pa, const void *pb)
{
	const struct nmsym *a = pa, *b = pb;

	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* Text symbols (T, t, W, i) of PATH from `nm -S --defined-only FLAGS`, by address. */
static size_t run_nm(const char *flags, const char *path, struct nmsym **out)
{
	char cmd[4200], line[1024];
	struct nmsym *v = NULL;
	size_t n = 0, cap = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm -S --defined-only %s '%s'", flags, path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char f[4][512], *at;
		struct nmsym s = { 0 };
		int k = sscanf(line, "%511s %511s %511s %511s", f[0], f[1], f[2], f[3]);

		if (k == 4) {
			s.addr = strtoull(f[0], NULL, 16);
			s.size = strtoull(f[1], NULL, 16);
			s.letter = f[2][0];
			snprintf(s.name, sizeof(s.name), "%s", f[3]);
		} else if (k == 3) {
			s.addr = strtoull(f[0], NULL, 16);
			s.letter = f[1][0];
			snprintf(s.name, sizeof(s.name), "%s", f[2]);
		} else {
			continue;
		}
		if (!strchr("TtWi", s.letter))
			continue;
		at = strchr(s.name, '@');
		if (at) {
			s.hidden = at[1] != '@';
			snprintf(s.version, sizeof(s.version), "%s", at + (s.hidden ? 1 : 2));
			*at = '\0';
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			v = realloc(v, cap * sizeof(*v));
			assert_non_null(v);
		}
		v[n++] = s;
	}
	assert_int_equal(pclose(p), 0);
	qsort(v, n, sizeof(*v), nm_cmp);
	*out = v;
	return n;
}

static int letter_rank(char l)
{
	return l == 'T' ? 3 : l == 'W' ? 2 : l == 't' ? 1 : -1;
}

static size_t leading(const char *s)
{
	size_t n = 0;

	while (s[n] == '_')
		n++;
	return n;
}

/* nm's symbols better by the documented rule: global, default version, fewer leading
 * underscores, shorter, lower in byte order. */
static int nm_better(const struct nmsym *a, const struct nmsym *b)
{
	if (letter_rank(a->letter) != letter_rank(b->letter))
		return letter_rank(a->letter) > letter_rank(b->letter);
	if (a->hidden != b->hidden)
		return !a->hidden;
	if (leading(a->name) != leading(b->name))
		return leading(a->name) < leading(b->name);
	if (strlen(a->name) != strlen(b->name))
		return strlen(a->name) < strlen(b->name);
	return strcmp(a->name, b->name) < 0;
}

static int sym_is(const struct sz_addr_sym *s, const char *name)
{
	return s->name_len == strlen(name) && !memcmp(s->name, name, s->name_len);
}

/* Every address nm lists is in the index, under the name the rule prefers among its
 * aliases, with the largest size; its last byte still answers with it; and the index
 * holds nothing nm does not. */
static void check_against_nm(const char *path, const char *flags, size_t min_groups)
{
	const struct sz_addr_index *ix;
	struct nmsym *v;
	struct img im;
	size_t n = run_nm(flags, path, &v), groups = 0, ruled = 0;

	img_open(&im, path);
	assert_int_equal(sz_elf_addr_index(im.e, &ix), 0);
	for (size_t i = 0; i < n;) {
		size_t j = i, best = i;
		uint64_t size = 0;
		int has_ifunc = 0, found = 0;
		struct sz_addr_sym s;

		for (; j < n && v[j].addr == v[i].addr; j++) {
			if (v[j].size > size)
				size = v[j].size;
			has_ifunc |= v[j].letter == 'i';
			if (nm_better(&v[j], &v[best]))
				best = j;
		}
		groups++;
		assert_int_equal(sz_addr_index_lookup(ix, v[i].addr, &s), 0);
		if (s.start != v[i].addr)
			fail_msg("%s: 0x%llx (%s) answered by 0x%llx", path,
				 (unsigned long long)v[i].addr, v[i].name,
				 (unsigned long long)s.start);
		for (size_t k = i; k < j; k++)
			found |= sym_is(&s, v[k].name);
		if (!found)
			fail_msg("%s: 0x%llx named %.*s, not one of nm's names (%s...)", path,
				 (unsigned long long)v[i].addr, (int)s.name_len, s.name, v[i].name);
		if (!has_ifunc) {
			ruled++;
			if (!sym_is(&s, v[best].name))
				fail_msg("%s: 0x%llx named %.*s, the rule wants %s", path,
					 (unsigned long long)v[i].addr, (int)s.name_len, s.name,
					 v[best].name);
		}
		assert_int_equal(s.size, size);
		/* The last byte, unless another function begins inside. */
		if (size > 1 && (j == n || v[j].addr >= v[i].addr + size)) {
			assert_int_equal(sz_addr_index_lookup(ix, v[i].addr + size - 1, &s), 0);
			assert_int_equal(s.start, v[i].addr);
		}
		i = j;
	}
	assert_int_equal(sz_addr_index_count(ix), groups);
	assert_true(groups >= min_groups);
	assert_true(ruled > 0);
	free(v);
	img_close(&im);
}

static void test_libc_vs_nm(void **state)
{
	(void)state;
	check_against_nm(LIBC, "-D", 2000);
}

static void test_fixture_vs_nm(void **state)
{
	(void)state;
	check_against_nm(fixture("libsymdbg.so"), "", 15);
	check_against_nm(fixture("libfix.so"), "", 5);
	/* The debug files hold the same .symtab as the unstripped library. */
	check_against_nm(fixture("symdbg/libsymdbg-link.so.debug"), "", 15);
}

static uint64_t value_of(struct sz_elf *e, const char *name)
{
	struct sz_elf_sym s;

	assert_int_equal(sz_elf_lookup(e, name, 0, &s), 0);
	return s.value;
}

static void expect_name(const struct sz_addr_index *ix, uint64_t vaddr, const char *name,
			uint64_t start)
{
	struct sz_addr_sym s;

	assert_int_equal(sz_addr_index_lookup(ix, vaddr, &s), 0);
	if (!sym_is(&s, name) || s.start != start)
		fail_msg("0x%llx: %.*s at 0x%llx, wanted %s at 0x%llx", (unsigned long long)vaddr,
			 (int)s.name_len, s.name, (unsigned long long)s.start, name,
			 (unsigned long long)start);
}

/* Aliases made for the rule, each with a known answer. */
static void test_alias_rule(void **state)
{
	const struct sz_addr_index *ix;
	struct img im;
	uint64_t a;

	(void)state;
	img_open(&im, fixture("libsymdbg.so"));
	assert_int_equal(sz_elf_addr_index(im.e, &ix), 0);
	a = value_of(im.e, "symdbg_weakname");
	assert_int_equal(a, value_of(im.e, "symdbg_strong"));
	expect_name(ix, a, "symdbg_strong", a); /* global over weak */
	a = value_of(im.e, "symdbg_local_impl");
	assert_int_equal(a, value_of(im.e, "symdbg_weak_over_local"));
	expect_name(ix, a + 1, "symdbg_weak_over_local", a); /* weak over local */
	a = value_of(im.e, "__symdbg_underscored");
	assert_int_equal(a, value_of(im.e, "symdbg_plain"));
	expect_name(ix, a, "symdbg_plain", a); /* fewer underscores */
	a = value_of(im.e, "symdbg_longer_name");
	assert_int_equal(a, value_of(im.e, "symdbg_short"));
	expect_name(ix, a, "symdbg_short", a); /* shorter */
	img_close(&im);
}

/* libc's default version over a hidden one of the same name at one address (nm -D
 * shows the pairs: name@@GLIBC_2.34 and name@GLIBC_2.2.5). */
static void test_libc_versions(void **state)
{
	const struct sz_addr_index *ix;
	struct nmsym *v;
	struct img im;
	size_t n = run_nm("-D", LIBC, &v), checked = 0;

	(void)state;
	img_open(&im, LIBC);
	assert_int_equal(sz_elf_addr_index(im.e, &ix), 0);
	for (size_t i = 0; i + 1 < n; i++) {
		const struct nmsym *def;
		struct sz_addr_sym s;

		if (v[i].addr != v[i + 1].addr || (i && v[i - 1].addr == v[i].addr) ||
		    (i + 2 < n && v[i + 2].addr == v[i].addr))
			continue; /* exactly two names at this address */
		if (strcmp(v[i].name, v[i + 1].name) || v[i].hidden == v[i + 1].hidden ||
		    v[i].letter != v[i + 1].letter)
			continue;
		def = v[i].hidden ? &v[i + 1] : &v[i];
		assert_int_equal(sz_addr_index_lookup(ix, v[i].addr, &s), 0);
		assert_true(sym_is(&s, def->name));
		assert_false(s.hidden);
		assert_non_null(s.version);
		assert_string_equal(s.version, def->version);
		checked++;
	}
	assert_true(checked >= 10);
	free(v);
	img_close(&im);
}

static void test_zero_size_and_nested(void **state)
{
	const struct sz_addr_index *ix;
	struct sz_addr_sym s;
	struct img im;
	uint64_t z, outer, inner;

	(void)state;
	img_open(&im, fixture("libsymdbg.so"));
	assert_int_equal(sz_elf_addr_index(im.e, &ix), 0);
	z = value_of(im.e, "symdbg_asm_zero");
	outer = value_of(im.e, "symdbg_asm_outer");
	inner = value_of(im.e, "symdbg_asm_inner");
	assert_int_equal(outer, z + 4);
	assert_int_equal(inner, outer + 2);
	/* Zero size: from its start up to the next function. */
	expect_name(ix, z, "symdbg_asm_zero", z);
	expect_name(ix, z + 3, "symdbg_asm_zero", z);
	assert_int_equal(sz_addr_index_lookup(ix, z + 3, &s), 0);
	assert_int_equal(s.end, outer);
	expect_name(ix, outer, "symdbg_asm_outer", outer);
	expect_name(ix, inner + 1, "symdbg_asm_inner", inner);
	/* Past the nested function's end, the enclosing one again. */
	expect_name(ix, inner + 2, "symdbg_asm_outer", outer);
	expect_name(ix, outer + 6, "symdbg_asm_outer", outer);
	img_close(&im);
}

static void test_no_symbol(void **state)
{
	const struct sz_addr_index *ix;
	struct sz_addr_sym s;
	struct img im;

	(void)state;
	img_open(&im, fixture("libsymdbg.so"));
	assert_int_equal(sz_elf_addr_index(im.e, &ix), 0);
	assert_int_equal(sz_addr_index_lookup(ix, 0, &s), -ENOENT);
	assert_int_equal(sz_addr_index_lookup(ix, UINT64_MAX, &s), -ENOENT);
	img_close(&im);
}

static void test_debuglink_parse(void **state)
{
	char name[SZ_DEBUGLINK_NAME_MAX + 1], buf[600];
	uint32_t crc;

	(void)state;
	memcpy(buf, "libx.so.debug\0\0\0\x78\x56\x34\x12", 20);
	assert_int_equal(sz_debuglink_parse(buf, 20, 0, name, sizeof(name), &crc), 0);
	assert_string_equal(name, "libx.so.debug");
	assert_int_equal(crc, 0x12345678);
	assert_int_equal(sz_debuglink_parse(buf, 20, 1, name, sizeof(name), &crc), 0);
	assert_int_equal(crc, 0x78563412);
	/* The CRC cut short, no NUL at all, nothing. */
	assert_int_equal(sz_debuglink_parse(buf, 19, 0, name, sizeof(name), &crc), -EBADMSG);
	assert_int_equal(sz_debuglink_parse(buf, 13, 0, name, sizeof(name), &crc), -EBADMSG);
	assert_int_equal(sz_debuglink_parse(buf, 0, 0, name, sizeof(name), &crc), -EBADMSG);
	/* Names that would be paths. */
	memcpy(buf, "../etc/shadow\0\0\0abcd", 20);
	assert_int_equal(sz_debuglink_parse(buf, 20, 0, name, sizeof(name), &crc), -EINVAL);
	memcpy(buf, "..\0\0abcd", 8);
	assert_int_equal(sz_debuglink_parse(buf, 8, 0, name, sizeof(name), &crc), -EINVAL);
	memcpy(buf, ".\0\0\0abcd", 8);
	assert_int_equal(sz_debuglink_parse(buf, 8, 0, name, sizeof(name), &crc), -EINVAL);
	memcpy(buf, "\0\0\0\0abcd", 8);
	assert_int_equal(sz_debuglink_parse(buf, 8, 0, name, sizeof(name), &crc), -EINVAL);
	/* At the bound, and one past it. */
	memset(buf, 'a', sizeof(buf));
	buf[SZ_DEBUGLINK_NAME_MAX] = '\0';
	assert_int_equal(sz_debuglink_parse(buf, SZ_DEBUGLINK_NAME_MAX + 5, 0, name, sizeof(name),
					    &crc),
			 0);
	assert_int_equal(strlen(name), SZ_DEBUGLINK_NAME_MAX);
	buf[SZ_DEBUGLINK_NAME_MAX] = 'a';
	buf[SZ_DEBUGLINK_NAME_MAX + 1] = '\0';
	assert_int_equal(sz_debuglink_parse(buf, SZ_DEBUGLINK_NAME_MAX + 6, 0, name, sizeof(name),
					    &crc),
			 -EINVAL);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *b;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

/* Our decompression against xz(1) on the MiniDebugInfo the Makefile made. */
static void test_xz(void **state)
{
	char cmd[4200], path[4096];
	unsigned char *xz, *plain;
	size_t xzlen, plainlen, outlen;
	void *out;

	(void)state;
	snprintf(path, sizeof(path), "%s/plain", tmpdir);
	snprintf(cmd, sizeof(cmd), "xz -dc '%s' > '%s'", fixture("symdbg/mini_debuginfo.xz"),
		 path);
	assert_int_equal(system(cmd), 0);
	plain = slurp(path, &plainlen);
	xz = slurp(fixture("symdbg/mini_debuginfo.xz"), &xzlen);
	assert_int_equal(sz_xz_decompress(xz, xzlen, SZ_MINIDEBUG_MAX, &out, &outlen), 0);
	assert_int_equal(outlen, plainlen);
	assert_memory_equal(out, plain, plainlen);
	free(out);
	/* Exactly at the bound, and one byte short of it. */
	assert_int_equal(sz_xz_decompress(xz, xzlen, plainlen, &out, &outlen), 0);
	free(out);
	assert_int_equal(sz_xz_decompress(xz, xzlen, plainlen - 1, &out, &outlen), -EFBIG);
	assert_null(out);
	/* Cut short, and damaged in the middle (xz's CRC catches it). */
	assert_int_equal(sz_xz_decompress(xz, xzlen - 9, SZ_MINIDEBUG_MAX, &out, &outlen),
			 -EBADMSG);
	xz[xzlen / 2] ^= 0x55;
	assert_int_equal(sz_xz_decompress(xz, xzlen, SZ_MINIDEBUG_MAX, &out, &outlen), -EBADMSG);
	assert_int_equal(sz_xz_decompress(plain, plainlen, SZ_MINIDEBUG_MAX, &out, &outlen),
			 -EBADMSG);
	free(xz);
	free(plain);
}

/* The static function of each stripped variant, named through its one debug source. */
static void check_variant(const char *lib, const char *debug_dir, enum sz_sym_source want,
			  const char *want_note)
{
	char dir[4096], err[512], real[4096];
	struct sz_debug_where w = { 0 };
	struct sz_symbolized s;
	struct img full, im;
	struct stat st;
	uint64_t a;
	int r;

	img_open(&full, fixture("libsymdbg.so"));
	a = value_of(full.e, "symdbg_hidden_second");
	img_close(&full);
	assert_non_null(realpath(lib, real));
	snprintf(dir, sizeof(dir), "%s", real);
	*strrchr(dir, '/') = '\0';
	img_open(&im, lib);
	assert_int_equal(fstat(im.fd, &st), 0);
	w.rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	w.dir = dir;
	w.debug_dir = debug_dir;
	w.dev = st.st_dev;
	w.ino = st.st_ino;
	r = sz_symbolize_vaddr(im.e, &w, a + 3, &s, err, sizeof(err));
	if (want == SZ_SRC_NONE) {
		assert_int_equal(r, -ENOENT);
	} else {
		assert_int_equal(r, 0);
		assert_true(sym_is(&s.sym, "symdbg_hidden_second"));
		assert_int_equal(s.sym.start, a);
		assert_int_equal(s.offset, 3);
		assert_int_equal(s.source, want);
	}
	if (want_note && !strstr(err, want_note))
		fail_msg("note '%s' lacks '%s'", err, want_note);
	/* An exported function comes from the image's own .dynsym. */
	assert_int_equal(sz_symbolize_vaddr(im.e, &w, value_of(im.e, "symdbg_public"), &s, err,
					    sizeof(err)),
			 0);
	assert_int_equal(s.source, SZ_SRC_DYNSYM);
	close(w.rootfd);
	img_close(&im);
}

static void test_debug_sources(void **state)
{
	char root[4096];

	(void)state;
	/* A path beneath the root "/": absolute. */
	assert_non_null(realpath(fixture("symdbg/root/usr/lib/debug"), root));
	check_variant(fixture("symdbg/libsymdbg-link.so"), NULL, SZ_SRC_DEBUGLINK, NULL);
	check_variant(fixture("symdbg/libsymdbg-mini.so"), NULL, SZ_SRC_MINIDEBUG, NULL);
	check_variant(fixture("symdbg/libsymdbg-bid.so"), root, SZ_SRC_BUILD_ID, NULL);
	/* Without the tree, nothing names it. */
	check_variant(fixture("symdbg/libsymdbg-bid.so"), NULL, SZ_SRC_NONE, NULL);
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	unsigned char *b = slurp(from, &len);
	int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
	free(b);
}

/* Debug files that are not what the image asked for are refused, and said so. */
static void test_debug_refused(void **state)
{
	char lib[4096], dbg[4096], dbg2[4200], sub[4096];
	size_t len;
	unsigned char *b;

	(void)state;
	snprintf(lib, sizeof(lib), "%s/libsymdbg-link.so", tmpdir);
	snprintf(dbg, sizeof(dbg), "%s/libsymdbg-link.so.debug", tmpdir);
	copy_file(fixture("symdbg/libsymdbg-link.so"), lib);
	/* A debug file with one byte changed: its CRC is not the one asked for. */
	b = slurp(fixture("symdbg/libsymdbg-link.so.debug"), &len);
	b[len - 1] ^= 1;
	{
		int fd = open(dbg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, b, len), (ssize_t)len);
		close(fd);
	}
	free(b);
	check_variant(lib, NULL, SZ_SRC_NONE, "CRC");
	/* A symbolic link to the right file is not followed. */
	unlink(dbg);
	assert_int_equal(symlink(fixture("symdbg/libsymdbg-link.so.debug"), dbg), 0);
	check_variant(lib, NULL, SZ_SRC_NONE, "symbolic link");
	/* The right file in .debug/ beside the image is found. */
	unlink(dbg);
	snprintf(sub, sizeof(sub), "%s/.debug", tmpdir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(dbg2, sizeof(dbg2), "%s/libsymdbg-link.so.debug", sub);
	copy_file(fixture("symdbg/libsymdbg-link.so.debug"), dbg2);
	check_variant(lib, NULL, SZ_SRC_DEBUGLINK, NULL);
	unlink(dbg2);
	rmdir(sub);
	/* And under the debug directory + the image's directory, as gdb looks. */
	{
		char gdir[4096], target[8400], cmd[8600];

		snprintf(gdir, sizeof(gdir), "%s/global", tmpdir);
		snprintf(target, sizeof(target), "%s%s", gdir, tmpdir);
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", target);
		assert_int_equal(system(cmd), 0);
		snprintf(target, sizeof(target), "%s%s/libsymdbg-link.so.debug", gdir, tmpdir);
		copy_file(fixture("symdbg/libsymdbg-link.so.debug"), target);
		check_variant(lib, gdir, SZ_SRC_DEBUGLINK, NULL);
		unlink(target);
	}
	unlink(lib);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libc_vs_nm),
		cmocka_unit_test(test_fixture_vs_nm),
		cmocka_unit_test(test_alias_rule),
		cmocka_unit_test(test_libc_versions),
		cmocka_unit_test(test_zero_size_and_nested),
		cmocka_unit_test(test_no_symbol),
		cmocka_unit_test(test_debuglink_parse),
		cmocka_unit_test(test_xz),
		cmocka_unit_test(test_debug_sources),
		cmocka_unit_test(test_debug_refused),
	};
	int r;

	if (!mkdtemp(tmpdir))
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd))
			r = r ? r : 1;
	}
	return r;
}
