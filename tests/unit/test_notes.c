// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of the ELF note parser (src/elf/notes.c) on hand-built note
 * areas, and of the build-ID sz_elf_open finds in real files.
 */
#include <byteswap.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "elf/sz_elf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NT_BUILD_ID 3
#define NT_ABI_TAG 1

struct note {
	const char *name;   /* NULL ends the list; bytes past its NUL are zero */
	uint32_t namesz, descsz, type;
	uint8_t fill;	    /* desc[i] = fill + i */
	uint32_t hdr_namesz, hdr_descsz; /* if non-zero: what the header claims */
};

struct note_case {
	const char *what;
	struct note notes[4]; /* up to three, then a NULL name */
	unsigned build_align; /* padding while building: 1 is none */
	uint64_t align;	      /* what the parser is told */
	int swap;
	size_t cut;	      /* bytes dropped from the end */
	int ret;
	uint8_t id_fill;
	size_t id_len;
};

static void put32(unsigned char *p, uint32_t v, int swap)
{
	if (swap)
		v = bswap_32(v);
	memcpy(p, &v, sizeof(v));
}

static size_t pad(size_t v, unsigned a)
{
	return (v + a - 1) / a * a;
}

/* Lay out NOTES into a fresh buffer; returns its length. */
static size_t build(const struct note *notes, unsigned align, int swap, unsigned char **out)
{
	size_t len = 0, off = 0;
	unsigned char *b;

	for (const struct note *n = notes; n->name; n++)
		len = pad(pad(len + 12 + n->namesz, align) + n->descsz, align);
	b = calloc(1, len ? len : 1);
	assert_non_null(b);
	for (const struct note *n = notes; n->name; n++) {
		size_t nl = strlen(n->name) + 1;

		put32(b + off, n->hdr_namesz ? n->hdr_namesz : n->namesz, swap);
		put32(b + off + 4, n->hdr_descsz ? n->hdr_descsz : n->descsz, swap);
		put32(b + off + 8, n->type, swap);
		memcpy(b + off + 12, n->name, nl < n->namesz ? nl : n->namesz);
		off = pad(off + 12 + n->namesz, align);
		for (uint32_t i = 0; i < n->descsz; i++)
			b[off + i] = (uint8_t)(n->fill + i);
		off = pad(off + n->descsz, align);
	}
	*out = b;
	return len;
}

#define BID(f) { "GNU", 4, 20, NT_BUILD_ID, f, 0, 0 }
#define END { NULL, 0, 0, 0, 0, 0, 0 }

static const struct note_case cases[] = {
	{ "build-ID, align 4", { BID(0x10) }, 4, 4, 0, 0, 1, 0x10, 20 },
	{ "build-ID, align 8", { BID(0x10) }, 8, 8, 0, 0, 1, 0x10, 20 },
	{ "align 0 means 4", { BID(0x10) }, 4, 0, 0, 0, 1, 0x10, 20 },
	{ "align 1 means 4", { BID(0x10) }, 4, 1, 0, 0, 1, 0x10, 20 },
	{ "non-GNU note first",
	  { { "stapsdt", 8, 32, NT_BUILD_ID, 0x40, 0, 0 }, BID(0x11) }, 4, 4, 0, 0, 1, 0x11, 20 },
	{ "ABI tag first", { { "GNU", 4, 16, NT_ABI_TAG, 0x50, 0, 0 }, BID(0x12) }, 4, 4, 0, 0, 1,
	  0x12, 20 },
	{ "8-aligned, 5-byte name first", { { "ABCD", 5, 4, NT_ABI_TAG, 0x11, 0, 0 }, BID(0x20) },
	  8, 8, 0, 0, 1, 0x20, 20 },
	/* The same area read with the wrong alignment lands in the first desc. */
	{ "8-aligned read as 4", { { "ABCD", 5, 4, NT_ABI_TAG, 0x11, 0, 0 }, BID(0x20) }, 8, 4, 0,
	  0, -EBADMSG, 0, 0 },
	{ "name \"GNU\" without NUL", { { "GNU", 3, 20, NT_BUILD_ID, 0x30, 0, 0 } }, 4, 4, 0, 0, 1,
	  0x30, 20 },
	{ "other name, build-ID type", { { "GNX", 4, 20, NT_BUILD_ID, 0x30, 0, 0 } }, 4, 4, 0, 0,
	  0, 0, 0 },
	{ "GNU name, other type", { { "GNU", 4, 20, NT_ABI_TAG, 0x30, 0, 0 } }, 4, 4, 0, 0, 0, 0,
	  0 },
	{ "GNU with a longer namesz", { { "GNU", 5, 20, NT_BUILD_ID, 0x30, 0, 0 } }, 4, 4, 0, 0, 0,
	  0, 0 },
	{ "empty area", { END }, 4, 4, 0, 0, 0, 0, 0 },
	{ "header cut after 11 bytes", { BID(0x10) }, 4, 4, 0, 36 - 11, -EBADMSG, 0, 0 },
	{ "second header cut short", { BID(0x10), { "X", 2, 0, NT_ABI_TAG, 0, 0, 0 } }, 4, 4, 0, 8,
	  -EBADMSG, 0, 0 },
	{ "name cut short", { BID(0x10) }, 4, 4, 0, 36 - 14, -EBADMSG, 0, 0 },
	{ "desc cut short", { BID(0x10) }, 4, 4, 0, 10, -EBADMSG, 0, 0 },
	{ "desc cut by one", { BID(0x10) }, 4, 4, 0, 1, -EBADMSG, 0, 0 },
	{ "namesz > 1 MiB", { { "GNU", 4, 20, NT_BUILD_ID, 0x10, 0x100001, 0 } }, 4, 4, 0, 0,
	  -EBADMSG, 0, 0 },
	{ "descsz > 1 MiB", { { "GNU", 4, 20, NT_BUILD_ID, 0x10, 0, 0x100001 } }, 4, 4, 0, 0,
	  -EBADMSG, 0, 0 },
	{ "namesz 0xffffffff", { { "GNU", 4, 20, NT_BUILD_ID, 0x10, 0xffffffff, 0 } }, 4, 4, 0, 0,
	  -EBADMSG, 0, 0 },
	{ "descsz 0xffffffff", { { "GNU", 4, 20, NT_BUILD_ID, 0x10, 0, 0xffffffff } }, 4, 4, 0, 0,
	  -EBADMSG, 0, 0 },
	{ "descsz past the end", { { "GNU", 4, 20, NT_BUILD_ID, 0x10, 0, 24 } }, 4, 4, 0, 0,
	  -EBADMSG, 0, 0 },
	{ "align 2", { BID(0x10) }, 4, 2, 0, 0, -EINVAL, 0, 0 },
	{ "align 3", { BID(0x10) }, 4, 3, 0, 0, -EINVAL, 0, 0 },
	{ "align 16", { BID(0x10) }, 4, 16, 0, 0, -EINVAL, 0, 0 },
	{ "align 0x1000", { BID(0x10) }, 4, 0x1000, 0, 0, -EINVAL, 0, 0 },
	{ "missing padding after a 3-byte name", { { "GNU", 3, 20, NT_BUILD_ID, 0x30, 0, 0 } }, 1,
	  4, 0, 0, -EBADMSG, 0, 0 },
	{ "two build-IDs", { BID(0x10), BID(0x20) }, 4, 4, 0, 0, -ENOTUNIQ, 0, 0 },
	{ "two build-IDs apart", { BID(0x10), { "Go", 4, 8, 4, 0, 0, 0 }, BID(0x10) }, 4, 4, 0, 0,
	  -ENOTUNIQ, 0, 0 },
	{ "empty build-ID", { { "GNU", 4, 0, NT_BUILD_ID, 0, 0, 0 } }, 4, 4, 0, 0, -EBADMSG, 0,
	  0 },
	{ "65-byte build-ID", { { "GNU", 4, 65, NT_BUILD_ID, 0, 0, 0 } }, 4, 4, 0, 0, -EBADMSG, 0,
	  0 },
	{ "64-byte build-ID", { { "GNU", 4, 64, NT_BUILD_ID, 0x80, 0, 0 } }, 4, 4, 0, 0, 1, 0x80,
	  64 },
	{ "16-byte (MD5) build-ID", { { "GNU", 4, 16, NT_BUILD_ID, 0x90, 0, 0 } }, 8, 8, 0, 0, 1,
	  0x90, 16 },
	{ "byte-swapped", { { "GNU", 4, 20, NT_ABI_TAG, 0x50, 0, 0 }, BID(0x60) }, 4, 4, 1, 0, 1,
	  0x60, 20 },
	{ "last padding past the end", { { "GNU", 4, 18, NT_BUILD_ID, 0x70, 0, 0 } }, 4, 4, 0, 2,
	  1, 0x70, 18 },
	{ "last padding past the end, align 8", { BID(0x71) }, 8, 8, 0, 4, 1, 0x71, 20 },
	{ "other note's padding past the end",
	  { BID(0x72), { "X", 2, 3, NT_ABI_TAG, 0, 0, 0 } }, 4, 4, 0, 1, 1, 0x72, 20 },
};

static void test_note_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct note_case *c = &cases[i];
		unsigned char *b, id[SZ_BUILD_ID_MAX + 8];
		size_t len = build(c->notes, c->build_align, c->swap, &b), id_len = 0;
		int r;

		assert_true(c->cut <= len);
		len -= c->cut;
		memset(id, 0xee, sizeof(id));
		r = sz_notes_build_id(b, len, c->align, c->swap, id, &id_len);
		if (r != c->ret) {
			print_error("%s: got %d, want %d\n", c->what, r, c->ret);
			fail();
		}
		if (r == 1) {
			assert_int_equal(id_len, c->id_len);
			for (size_t k = 0; k < id_len; k++)
				assert_int_equal(id[k], (uint8_t)(c->id_fill + k));
			assert_int_equal(id[id_len], 0xee); /* nothing written past it */
		}
		free(b);
	}
}

/* The swap flag matters: a foreign-endian area read as native is refused. */
static void test_swap_matters(void **state)
{
	static const struct note n[] = { BID(0x60), END };
	unsigned char *b, id[SZ_BUILD_ID_MAX];
	size_t len = build(n, 4, 1, &b), id_len = 0;

	assert_int_equal(sz_notes_build_id(b, len, 4, 0, id, &id_len), -EBADMSG);
	assert_int_equal(sz_notes_build_id(b, len, 4, 1, id, &id_len), 1);
	assert_int_equal(id_len, 20);
	assert_int_equal(id[19], 0x60 + 19);
	free(b);
	len = build(n, 4, 0, &b);
	assert_int_equal(sz_notes_build_id(b, len, 4, 1, id, &id_len), -EBADMSG);
	free(b);
}

/* Limits: a name of exactly 1 MiB is fine, the whole area has a cap. */
static void test_note_limits(void **state)
{
	static const struct note n[] = { { "big", SZ_NOTE_MAX, 4, NT_ABI_TAG, 0, 0, 0 }, BID(0x33),
					 END };
	unsigned char *b, id[SZ_BUILD_ID_MAX];
	size_t len = build(n, 4, 0, &b), id_len = 0;
	unsigned char *huge;

	assert_int_equal(sz_notes_build_id(b, len, 4, 0, id, &id_len), 1);
	assert_int_equal(id[0], 0x33);
	free(b);

	huge = calloc(1, SZ_NOTE_AREA_MAX + 1);
	assert_non_null(huge);
	assert_int_equal(sz_notes_build_id(huge, SZ_NOTE_AREA_MAX + 1, 4, 0, id, &id_len), -EFBIG);
	/* Zeroes are empty notes, 12 bytes each: allowed, none a build-ID, but
	 * 16 MiB is not a multiple of 12 and ends in a cut header. */
	assert_int_equal(sz_notes_build_id(huge, SZ_NOTE_AREA_MAX - 4, 4, 0, id, &id_len), 0);
	assert_int_equal(sz_notes_build_id(huge, SZ_NOTE_AREA_MAX, 4, 0, id, &id_len), -EBADMSG);
	free(huge);
}

static const char *fixture(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("SZ_FIXTURES");

	snprintf(buf, len, "%s/%s", dir ? dir : "build/fixtures", name);
	return buf;
}

/* The build-ID read independently with libelf from .note.gnu.build-id. */
static size_t section_build_id(const char *path, unsigned char *id)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t shstrndx, len = 0;
	Elf_Scn *scn = NULL;
	Elf *elf;

	assert_true(fd >= 0);
	assert_true(elf_version(EV_CURRENT) != EV_NONE);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(elf);
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;
		uint32_t hdr[3];

		assert_non_null(gelf_getshdr(scn, &sh));
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".note.gnu.build-id"))
			continue;
		d = elf_rawdata(scn, NULL);
		assert_non_null(d);
		assert_true(d->d_size >= 16);
		memcpy(hdr, d->d_buf, sizeof(hdr));
		assert_int_equal(hdr[0], 4);
		assert_int_equal(hdr[2], NT_BUILD_ID);
		assert_memory_equal((char *)d->d_buf + 12, "GNU", 4);
		assert_true(hdr[1] <= SZ_BUILD_ID_MAX && 16 + hdr[1] <= d->d_size);
		len = hdr[1];
		memcpy(id, (char *)d->d_buf + 16, len);
	}
	elf_end(elf);
	close(fd);
	return len;
}

static void check_file_build_id(const char *path)
{
	unsigned char want[SZ_BUILD_ID_MAX];
	size_t want_len = section_build_id(path, want), len = 0;
	const unsigned char *id = NULL;
	struct sz_elf *e;
	char err[256] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(want_len, 20); /* both are linked with --build-id=sha1 */
	assert_int_equal(sz_elf_open(fd, &e, err, sizeof(err)), 0);
	assert_int_equal(sz_elf_build_id(e, &id, &len), 0);
	assert_int_equal(len, want_len);
	assert_memory_equal(id, want, want_len);
	sz_elf_close(e);
	close(fd);
}

static void test_real_build_id(void **state)
{
	char path[4096];

	check_file_build_id(fixture("libfix.so", path, sizeof(path)));
	check_file_build_id("/lib/x86_64-linux-gnu/libc.so.6");
}

/* A file whose build-ID note lies about its size: the error is reported. */
static void test_file_with_bad_note(void **state)
{
	char src[4096], tmp[] = "/tmp/sz-notes-XXXXXX";
	unsigned char id[SZ_BUILD_ID_MAX];
	const unsigned char *got;
	size_t len, shstrndx;
	int in, out, fd;
	off_t note_off = -1;
	struct sz_elf *e;
	Elf_Scn *scn = NULL;
	Elf *elf;
	char buf[65536], err[256];
	ssize_t n;
	uint32_t lie = 0x100001;

	assert_int_equal(section_build_id(fixture("libfix.so", src, sizeof(src)), id), 20);
	in = open(src, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	elf = elf_begin(in, ELF_C_READ, NULL);
	assert_non_null(elf);
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		assert_non_null(gelf_getshdr(scn, &sh));
		if (!strcmp(elf_strptr(elf, shstrndx, sh.sh_name), ".note.gnu.build-id"))
			note_off = (off_t)sh.sh_offset;
	}
	elf_end(elf);
	assert_true(note_off > 0);
	out = mkstemp(tmp);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	assert_int_equal(pwrite(out, &lie, 4, note_off + 4), 4); /* descsz */
	close(out);

	fd = open(tmp, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sz_elf_open(fd, &e, err, sizeof(err)), 0);
	assert_int_equal(sz_elf_build_id(e, &got, &len), -EBADMSG);
	assert_int_equal(len, 0);
	sz_elf_close(e);
	close(fd);
	unlink(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_note_table),
		cmocka_unit_test(test_swap_matters),
		cmocka_unit_test(test_note_limits),
		cmocka_unit_test(test_real_build_id),
		cmocka_unit_test(test_file_with_bad_note),
	};

	return cmocka_run_group_tests_name("notes", tests, NULL, NULL);
}
