// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of the ELF core (src/elf/elf.c): lookups through the hash tables
 * against linear scans and the dynamic loader, versions, .symtab, compressed
 * sections, and survival of malformed and truncated files.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
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

#include "pipeline/pipeline.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

static char tmpdir[] = "/tmp/sz-test-elf-XXXXXX";

static const char *fixture(const char *name)
{
	static char buf[4096];
	const char *dir = getenv("SZ_FIXTURES");

	snprintf(buf, sizeof(buf), "%s/%s", dir ? dir : "build/fixtures", name);
	return buf;
}

static const char *tmpfile_path(const char *name)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
	return buf;
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

static void spit(const char *path, const void *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

struct image {
	int fd;
	struct sz_elf *e;
};

static void image_open(struct image *im, const char *path)
{
	char err[256] = "";
	int r;

	im->fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(im->fd >= 0);
	r = sz_elf_open(im->fd, &im->e, err, sizeof(err));
	if (r)
		print_error("%s: %d %s\n", path, r, err);
	assert_int_equal(r, 0);
}

static void image_close(struct image *im)
{
	sz_elf_close(im->e);
	close(im->fd);
}

static int setup(void **state)
{
	if (!mkdtemp(tmpdir))
		return -1;
	return elf_version(EV_CURRENT) == EV_NONE ? -1 : 0;
}

static int teardown(void **state)
{
	static const char *const names[] = { "libc-sysv.so", "z.so", "m.so", "t.so" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		unlink(tmpfile_path(names[i]));
	rmdir(tmpdir);
	return 0;
}

/* --- (1) every .dynsym symbol of libc: hash lookup == linear lookup ------- */

struct all_ctx {
	const struct sz_elf *e;
	int checked, hidden, bad;
};

static int same_version(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int check_symbol(const struct sz_elf_sym *s, void *p)
{
	struct all_ctx *c = p;
	char req[2][512];
	int nreq = 0;

	if (s->version)
		snprintf(req[nreq++], sizeof(req[0]), "%.*s@%s%s", (int)s->name_len, s->name,
			 s->hidden ? "" : "@", s->version);
	if (!s->hidden)
		snprintf(req[nreq++], sizeof(req[0]), "%.*s", (int)s->name_len, s->name);
	for (int i = 0; i < nreq; i++) {
		static const int flags[] = { 0, SZ_LOOKUP_LINEAR };

		for (size_t f = 0; f < ARRAY_SIZE(flags); f++) {
			struct sz_elf_sym o;
			int r = sz_elf_lookup(c->e, req[i], flags[f], &o);

			if (r || o.index != s->index || o.value != s->value || o.size != s->size ||
			    o.type != s->type || o.table != SZ_TAB_DYNSYM ||
			    !same_version(o.version, s->version) || o.hidden != s->hidden) {
				if (c->bad++ < 10)
					print_error("%s (flags %d): r %d index %u, want %u\n", req[i],
						    flags[f], r, o.index, s->index);
			}
		}
	}
	c->checked++;
	c->hidden += s->hidden;
	return 0;
}

static void check_all_dynsym(const char *path)
{
	struct image im;
	struct all_ctx c = { 0 };

	image_open(&im, path);
	c.e = im.e;
	assert_int_equal(sz_elf_for_each(im.e, SZ_TAB_DYNSYM, check_symbol, &c), 0);
	print_message("%s: %d symbols (%d hidden versions) checked\n", path, c.checked, c.hidden);
	assert_int_equal(c.bad, 0);
	assert_true(c.checked > 2000);
	assert_true(c.hidden > 50);
	image_close(&im);
}

/* Section header I of a 64-bit little-endian image in memory. */
static Elf64_Shdr *shdr_at(unsigned char *b, size_t i)
{
	Elf64_Ehdr eh;

	memcpy(&eh, b, sizeof(eh));
	return (Elf64_Shdr *)(b + eh.e_shoff + i * eh.e_shentsize);
}

/* Index of the section called NAME, or -1. */
static int find_section(unsigned char *b, const char *name)
{
	Elf64_Ehdr eh;
	Elf64_Shdr strs;

	memcpy(&eh, b, sizeof(eh));
	memcpy(&strs, shdr_at(b, eh.e_shstrndx), sizeof(strs));
	for (int i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;

		memcpy(&sh, shdr_at(b, (size_t)i), sizeof(sh));
		if (!strcmp((char *)b + strs.sh_offset + sh.sh_name, name))
			return i;
	}
	return -1;
}

static void test_libc_all_dynsym(void **state)
{
	check_all_dynsym(LIBC);
}

/* The same on a copy whose .gnu.hash is hidden, so the SysV .hash is used. */
static void test_libc_all_dynsym_sysv_hash(void **state)
{
	size_t len;
	unsigned char *b = slurp(LIBC, &len);
	int gh = find_section(b, ".gnu.hash"), h = find_section(b, ".hash");
	uint32_t progbits = SHT_PROGBITS;

	assert_true(gh > 0 && h > 0);
	memcpy(&shdr_at(b, (size_t)gh)->sh_type, &progbits, sizeof(progbits));
	spit(tmpfile_path("libc-sysv.so"), b, len);
	free(b);
	check_all_dynsym(tmpfile_path("libc-sysv.so"));
	unlink(tmpfile_path("libc-sysv.so"));
}

/* --- (2) versions ----------------------------------------------------------- */

static void lookup_ok(const struct sz_elf *e, const char *name, struct sz_elf_sym *s)
{
	struct sz_elf_sym lin;
	int r = sz_elf_lookup(e, name, 0, s);

	if (r)
		print_error("lookup %s: %d\n", name, r);
	assert_int_equal(r, 0);
	assert_int_equal(sz_elf_lookup(e, name, SZ_LOOKUP_LINEAR, &lin), 0);
	assert_int_equal(lin.index, s->index);
	assert_int_equal(lin.table, s->table);
}

static void lookup_absent(const struct sz_elf *e, const char *name, int flags)
{
	struct sz_elf_sym s;

	assert_int_equal(sz_elf_lookup(e, name, flags, &s), -ENOENT);
	assert_int_equal(sz_elf_lookup(e, name, flags | SZ_LOOKUP_LINEAR, &s), -ENOENT);
}

/* The loader's view: address - l_addr of a loaded object. */
static uint64_t loader_value(void *handle, void *addr)
{
	struct link_map *lm = NULL;

	assert_non_null(addr);
	assert_int_equal(dlinfo(handle, RTLD_DI_LINKMAP, &lm), 0);
	return (uint64_t)(uintptr_t)addr - (uint64_t)lm->l_addr;
}

static void test_libc_versions(void **state)
{
	struct image im;
	struct sz_elf_sym def, old, exact, s;
	void *h;

	image_open(&im, LIBC);
	lookup_ok(im.e, "memcpy", &def);
	assert_string_equal(def.version, "GLIBC_2.14");
	assert_int_equal(def.hidden, 0);
	lookup_ok(im.e, "memcpy@GLIBC_2.2.5", &old);
	assert_string_equal(old.version, "GLIBC_2.2.5");
	assert_int_equal(old.hidden, 1);
	assert_true(old.value != def.value);
	lookup_ok(im.e, "memcpy@@GLIBC_2.14", &exact);
	assert_int_equal(exact.value, def.value);
	lookup_ok(im.e, "memcpy@GLIBC_2.14", &exact); /* '@' also names a default */
	assert_int_equal(exact.value, def.value);
	lookup_absent(im.e, "memcpy@@GLIBC_2.2.5", 0); /* not the default */
	lookup_absent(im.e, "memcpy@NOPE", 0);
	/* Only hidden (compat) versions: a plain name finds none, as with dlsym(). */
	lookup_absent(im.e, "sys_errlist", 0);
	lookup_absent(im.e, "sys_errlist", SZ_LOOKUP_LINEAR);
	lookup_ok(im.e, "sys_errlist@GLIBC_2.12", &s);
	assert_int_equal(s.hidden, 1);
	lookup_absent(im.e, "memcpy@", 0);
	lookup_absent(im.e, "memcpyy", 0);
	lookup_absent(im.e, "memcp", 0);
	assert_int_equal(sz_elf_lookup(im.e, "", 0, &s), -EINVAL);
	assert_int_equal(sz_elf_lookup(im.e, "@GLIBC_2.14", 0, &s), -EINVAL);

	/* Compare with the loader for plain functions (IFUNCs resolve elsewhere). */
	h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(h);
	assert_int_equal(old.type, STT_FUNC);
	assert_int_equal(loader_value(h, dlvsym(h, "memcpy", "GLIBC_2.2.5")), old.value);
	lookup_ok(im.e, "fopen", &s);
	assert_int_equal(s.type, STT_FUNC);
	assert_int_equal(loader_value(h, dlvsym(h, "fopen", "GLIBC_2.2.5")), s.value);
	lookup_ok(im.e, "environ", &s);
	assert_int_equal(s.type, STT_OBJECT);
	assert_int_equal(loader_value(h, dlsym(h, "environ")), s.value);
	dlclose(h);
	image_close(&im);
}

static void test_fixture_versions(void **state)
{
	struct image im;
	struct sz_elf_sym v2, v1, s;
	void *h;

	image_open(&im, fixture("libfix.so"));
	lookup_ok(im.e, "fix_ver", &v2);
	assert_string_equal(v2.version, "FIX_2");
	assert_int_equal(v2.hidden, 0);
	lookup_ok(im.e, "fix_ver@FIX_1", &v1);
	assert_string_equal(v1.version, "FIX_1");
	assert_int_equal(v1.hidden, 1);
	assert_true(v1.value != v2.value);
	lookup_ok(im.e, "fix_ver@@FIX_2", &s);
	assert_int_equal(s.value, v2.value);
	lookup_absent(im.e, "fix_ver@@FIX_1", 0);
	lookup_absent(im.e, "fix_ver@FIX_3", 0);
	lookup_ok(im.e, "fix_func@@FIX_1", &s);
	assert_string_equal(s.version, "FIX_1");

	h = dlopen(fixture("libfix.so"), RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	assert_int_equal(loader_value(h, dlvsym(h, "fix_ver", "FIX_1")), v1.value);
	assert_int_equal(loader_value(h, dlvsym(h, "fix_ver", "FIX_2")), v2.value);
	assert_int_equal(loader_value(h, dlsym(h, "fix_ver")), v2.value);
	dlclose(h);
	image_close(&im);
}

/* --- (3) .symtab only, (4) types and file offsets ------------------------- */

struct symtab_ctx {
	int fix_ver_1, fix_ver_2, n;
};

static int scan_symtab(const struct sz_elf_sym *s, void *p)
{
	struct symtab_ctx *c = p;

	assert_int_equal(s->table, SZ_TAB_SYMTAB);
	assert_int_equal(strlen(s->name) >= s->name_len, 1);
	c->n++;
	/* .symtab spells versions into the name: "fix_ver@FIX_1", "fix_ver@@FIX_2" */
	if (s->name_len == 7 && !strncmp(s->name, "fix_ver", 7) && s->version) {
		if (!strcmp(s->version, "FIX_1") && s->hidden)
			c->fix_ver_1++;
		if (!strcmp(s->version, "FIX_2") && !s->hidden)
			c->fix_ver_2++;
	}
	return 0;
}

static void check_fix_local(const char *path)
{
	struct image im;
	struct sz_elf_sym s;
	struct symtab_ctx c = { 0 };
	void *h;
	void *(*addr)(void);

	image_open(&im, path);
	lookup_ok(im.e, "fix_local", &s);
	assert_int_equal(s.table, SZ_TAB_SYMTAB);
	assert_int_equal(s.type, STT_FUNC);
	assert_int_equal(s.bind, STB_LOCAL);
	assert_null(s.version);
	lookup_absent(im.e, "fix_local", SZ_LOOKUP_NO_SYMTAB);
	/* Not in .dynsym either when walked. */
	assert_int_equal(sz_elf_for_each(im.e, SZ_TAB_SYMTAB, scan_symtab, &c), 0);
	assert_true(c.n > 10);
	assert_int_equal(c.fix_ver_1, 1);
	assert_int_equal(c.fix_ver_2, 1);

	/* The loaded library reports its static function's address itself. */
	h = dlopen(fixture("libfix.so"), RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	*(void **)&addr = dlsym(h, "fix_local_addr");
	assert_non_null(addr);
	assert_int_equal(loader_value(h, addr()), s.value);
	dlclose(h);
	image_close(&im);
}

static void test_symtab_only(void **state)
{
	check_fix_local(fixture("libfix.so"));
}

static void test_types_and_offsets(void **state)
{
	struct image im;
	struct sz_elf_sym fn, data, bss;
	struct sz_layout l;
	uint64_t off;
	int32_t v;
	unsigned char code[64];
	void *h;

	image_open(&im, fixture("libfix.so"));
	sz_elf_layout(im.e, &l);
	assert_int_equal(l.e_type, ET_DYN);
	lookup_ok(im.e, "fix_func", &fn);
	lookup_ok(im.e, "fix_data", &data);
	lookup_ok(im.e, "fix_bss", &bss);
	assert_int_equal(fn.type, STT_FUNC);
	assert_int_equal(data.type, STT_OBJECT);
	assert_int_equal(bss.type, STT_OBJECT);
	assert_int_equal(data.size, 4);
	assert_int_equal(bss.size, 4);
	assert_string_equal(sz_sym_type_str(sz_sym_type_of(fn.type)), "func");
	assert_string_equal(sz_sym_type_str(sz_sym_type_of(data.type)), "object");
	assert_string_equal(sz_sym_type_str(sz_sym_type_of(STT_GNU_IFUNC)), "ifunc");

	/* .bss has no file bytes; .data holds the initializer 42. */
	assert_int_equal(sz_elf_vaddr_to_offset(&l, bss.value, &off), -ENOENT);
	assert_int_equal(sz_elf_vaddr_to_offset(&l, data.value, &off), 0);
	assert_int_equal(pread(im.fd, &v, sizeof(v), (off_t)off), sizeof(v));
	assert_int_equal(v, 42);

	/* The function's file bytes are the loaded code (PIC: no relocations). */
	assert_true(fn.size > 0 && fn.size <= sizeof(code));
	assert_int_equal(sz_elf_vaddr_to_offset(&l, fn.value, &off), 0);
	assert_int_equal(pread(im.fd, code, fn.size, (off_t)off), (ssize_t)fn.size);
	h = dlopen(fixture("libfix.so"), RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	assert_int_equal(loader_value(h, dlsym(h, "fix_func")), fn.value);
	assert_int_equal(loader_value(h, dlsym(h, "fix_data")), data.value);
	assert_int_equal(loader_value(h, dlsym(h, "fix_bss")), bss.value);
	assert_memory_equal(code, dlsym(h, "fix_func"), fn.size);
	dlclose(h);
	image_close(&im);
}

/* --- (5) compressed .symtab/.strtab ------------------------------------------ */

/*
 * libelf rewrites the file; without ELF_F_LAYOUT it re-lays out every section
 * and breaks the PT_LOAD contents, and with ELF_F_LAYOUT (libelf 0.188) it
 * does not write the section headers elf_compress changed unless they are
 * marked dirty by hand.
 */
static void compress_sections(const char *path, const char *const *names, size_t n)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	size_t shstrndx, done = 0;
	Elf_Scn *scn = NULL;
	Elf *elf;

	assert_true(fd >= 0);
	elf = elf_begin(fd, ELF_C_RDWR, NULL);
	assert_non_null(elf);
	assert_int_equal(elf_flagelf(elf, ELF_C_SET, ELF_F_LAYOUT), ELF_F_LAYOUT);
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		assert_non_null(gelf_getshdr(scn, &sh));
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		for (size_t i = 0; i < n; i++) {
			if (strcmp(name, names[i]))
				continue;
			if (elf_compress(scn, ELFCOMPRESS_ZLIB, 0) != 1)
				fail_msg("elf_compress %s: %s", name, elf_errmsg(-1));
			assert_true(elf_flagscn(scn, ELF_C_SET, ELF_F_DIRTY) != 0);
			assert_true(elf_flagshdr(scn, ELF_C_SET, ELF_F_DIRTY) != 0);
			done++;
		}
	}
	assert_int_equal(done, n);
	if (elf_update(elf, ELF_C_WRITE) < 0)
		fail_msg("elf_update: %s", elf_errmsg(-1));
	elf_end(elf);
	close(fd);
}

static uint64_t section_flags(const char *path, const char *name)
{
	size_t len;
	unsigned char *b = slurp(path, &len);
	int i = find_section(b, name);
	uint64_t flags;

	assert_true(i > 0);
	memcpy(&flags, &shdr_at(b, (size_t)i)->sh_flags, sizeof(flags));
	free(b);
	return flags;
}

static void test_compressed_symtab(void **state)
{
	static const char *const names[] = { ".symtab", ".strtab" };
	const char *z = tmpfile_path("z.so");
	size_t len;
	unsigned char *b = slurp(fixture("libfix.so"), &len);

	spit(z, b, len);
	free(b);
	compress_sections(z, names, ARRAY_SIZE(names));
	assert_true(section_flags(z, ".symtab") & SHF_COMPRESSED);
	assert_true(section_flags(z, ".strtab") & SHF_COMPRESSED);
	assert_false(section_flags(z, ".dynsym") & SHF_COMPRESSED);
	check_fix_local(z);

	/* A compressed section with a lying uncompressed size: no symtab, no crash. */
	b = slurp(z, &len);
	{
		int i = find_section(b, ".symtab");
		uint64_t off, lies[] = { UINT64_MAX, 1ull << 40, 8, 0 };
		struct image im;
		struct sz_elf_sym s;

		assert_true(i > 0);
		memcpy(&off, &shdr_at(b, (size_t)i)->sh_offset, sizeof(off));
		for (size_t k = 0; k < ARRAY_SIZE(lies); k++) {
			memcpy(b + off + offsetof(Elf64_Chdr, ch_size), &lies[k], sizeof(lies[k]));
			spit(z, b, len);
			image_open(&im, z);
			lookup_absent(im.e, "fix_local", 0);
			lookup_ok(im.e, "fix_func", &s);
			image_close(&im);
		}
	}
	free(b);
	unlink(z);
}

/* --- (6) malformed files ------------------------------------------------------ */

struct probe_stats {
	int opened, refused;
};

static int touch_symbol(const struct sz_elf_sym *s, void *p)
{
	size_t *total = p;

	/* Make ASan look at every byte the library hands out. */
	*total += strlen(s->name) + (s->version ? strlen(s->version) : 0);
	assert_true(s->name_len <= strlen(s->name));
	return 0;
}

/* Open PATH: either a negative errno with a message, or an image whose
 * lookups answer 0 or -ENOENT. */
static void probe(const char *path, const char *what, struct probe_stats *st)
{
	static const char *const names[] = { "fix_func",       "fix_ver",   "fix_ver@FIX_1",
					     "fix_ver@@FIX_2", "fix_local", "fix_data",
					     "fix_bss",	       "memcpy",    "memcpy@GLIBC_2.2.5",
					     "nope",	       "a" };
	static const int flags[] = { 0, SZ_LOOKUP_LINEAR, SZ_LOOKUP_NO_SYMTAB };
	char err[256];
	struct sz_elf *e;
	struct sz_layout l;
	const unsigned char *id;
	size_t idlen, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	assert_true(fd >= 0);
	memset(err, 0, sizeof(err));
	r = sz_elf_open(fd, &e, err, sizeof(err));
	if (r) {
		if (r >= 0 || !err[0])
			fail_msg("%s: open returned %d with message \"%s\"", what, r, err);
		assert_null(e);
		st->refused++;
		close(fd);
		return;
	}
	st->opened++;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		for (size_t f = 0; f < ARRAY_SIZE(flags); f++) {
			struct sz_elf_sym s;
			uint64_t off;

			r = sz_elf_lookup(e, names[i], flags[f], &s);
			if (r != 0 && r != -ENOENT)
				fail_msg("%s: lookup %s returned %d", what, names[i], r);
			if (!r) {
				total += strlen(s.name) + (s.version ? strlen(s.version) : 0);
				sz_elf_layout(e, &l);
				(void)sz_elf_vaddr_to_offset(&l, s.value, &off);
			}
		}
	assert_int_equal(sz_elf_for_each(e, SZ_TAB_DYNSYM, touch_symbol, &total), 0);
	assert_int_equal(sz_elf_for_each(e, SZ_TAB_SYMTAB, touch_symbol, &total), 0);
	r = sz_elf_build_id(e, &id, &idlen);
	assert_true(r <= 0);
	assert_true(idlen <= SZ_BUILD_ID_MAX);
	sz_elf_layout(e, &l);
	{
		uint64_t bias;

		(void)sz_elf_load_bias(&l, 0x7f0000000000, 0x7f0000001000, 0, PROT_READ, 4096,
				       &bias);
		(void)sz_elf_is_first_load_mapping(&l, 0, PROT_READ, 4096);
	}
	sz_elf_close(e);
	close(fd);
}

static void test_not_elf(void **state)
{
	struct probe_stats st = { 0 };
	const char *t = tmpfile_path("t.so");
	static const unsigned char only_magic[] = { 0x7f, 'E', 'L', 'F' };
	unsigned char hdr[64] = { 0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, EV_CURRENT };
	char err[256];
	struct sz_elf *e = (void *)1;
	int fd;

	spit(t, "#!/bin/sh\necho not an ELF file\n", 31);
	probe(t, "text", &st);
	spit(t, "", 0);
	probe(t, "empty", &st);
	spit(t, only_magic, sizeof(only_magic));
	probe(t, "magic only", &st);
	spit(t, hdr, sizeof(hdr)); /* a header of zeroes: ET_NONE, nothing else */
	probe(t, "zero header", &st);
	assert_int_equal(st.refused + st.opened, 4);
	assert_true(st.refused >= 3);

	/* The text file's reason, precisely. */
	spit(t, "hello\n", 6);
	fd = open(t, O_RDONLY | O_CLOEXEC);
	assert_int_equal(sz_elf_open(fd, &e, err, sizeof(err)), -ENOEXEC);
	assert_null(e);
	assert_string_equal(err, "not an ELF file");
	close(fd);
	/* A directory. */
	fd = open(tmpdir, O_RDONLY | O_CLOEXEC);
	assert_true(sz_elf_open(fd, &e, err, sizeof(err)) < 0);
	close(fd);
	unlink(t);
}

static void truncations(const char *src)
{
	struct probe_stats st = { 0 };
	const char *t = tmpfile_path("t.so");
	size_t len;
	unsigned char *b = slurp(src, &len);
	char what[64];

	for (size_t k = 1; k < 64; k++) {
		size_t cut = len * k / 64;

		snprintf(what, sizeof(what), "truncated to %zu", cut);
		spit(t, b, cut);
		probe(t, what, &st);
	}
	for (size_t cut = 1; cut <= 64; cut++) {
		snprintf(what, sizeof(what), "truncated to %zu", cut);
		spit(t, b, cut);
		probe(t, what, &st);
	}
	/* And the last bytes, where the section headers live. */
	for (size_t cut = len - 64; cut < len; cut++) {
		snprintf(what, sizeof(what), "truncated to %zu", cut);
		spit(t, b, cut);
		probe(t, what, &st);
	}
	print_message("%s: %d truncations opened, %d refused\n", src, st.opened, st.refused);
	assert_int_equal(st.opened + st.refused, 63 + 64 + 64);
	assert_true(st.refused >= 64); /* at least the cuts inside the ELF header */
	free(b);
	unlink(t);
}

static void test_truncated_fixture(void **state)
{
	truncations(fixture("libfix.so"));
}

static void test_truncated_libc(void **state)
{
	truncations(LIBC);
}

enum where { EHDR, SHDR, PHDR, DATA };

#define V_SELF ((uint64_t)-2) /* the section's own index */
#define V_EOF(d) ((uint64_t)-1000 + (d)) /* file size + d, d in -100..100 */

struct mutation {
	const char *what;
	enum where where;
	const char *sec;  /* SHDR, DATA: section name */
	uint32_t ptype;	  /* PHDR: first header of this type */
	size_t field;	  /* offset in the header or the section's data */
	unsigned width;	  /* bytes */
	uint64_t value;
	size_t stride;	  /* DATA: repeat every STRIDE bytes; 0: once */
};

#define EH(f, v) { "e_" #f "=" #v, EHDR, NULL, 0, offsetof(Elf64_Ehdr, e_##f), \
		   sizeof(((Elf64_Ehdr *)0)->e_##f), v, 0 }
#define SH(s, f, v) { s " sh_" #f "=" #v, SHDR, s, 0, offsetof(Elf64_Shdr, sh_##f), \
		      sizeof(((Elf64_Shdr *)0)->sh_##f), v, 0 }
#define PH(t, f, v) { #t " p_" #f "=" #v, PHDR, NULL, t, offsetof(Elf64_Phdr, p_##f), \
		      sizeof(((Elf64_Phdr *)0)->p_##f), v, 0 }
#define DA(s, off, w, v, stride) { s " data+" #off "=" #v, DATA, s, 0, off, w, v, stride }

static const struct mutation mutations[] = {
	/* ELF header: tables past EOF, absurd counts and sizes */
	EH(shoff, UINT64_MAX), EH(shoff, V_EOF(0)), EH(shoff, V_EOF(-10)), EH(shoff, V_EOF(-64)),
	EH(shoff, 1), EH(shoff, 0), EH(shoff, 0x40),
	EH(shnum, 0xffff), EH(shnum, 0), EH(shnum, 1), EH(shnum, 1000), EH(shnum, 36),
	EH(shentsize, 0), EH(shentsize, 0x10), EH(shentsize, 0xffff), EH(shentsize, 0x41),
	EH(shstrndx, 0xffff), EH(shstrndx, 1000), EH(shstrndx, 0), EH(shstrndx, 3),
	EH(phoff, UINT64_MAX), EH(phoff, V_EOF(0)), EH(phoff, V_EOF(-8)), EH(phoff, 1),
	EH(phoff, 0),
	EH(phnum, 0xffff), EH(phnum, 5000), EH(phnum, 0), EH(phnum, 1000),
	EH(phentsize, 0), EH(phentsize, 1), EH(phentsize, 0xffff),
	EH(type, ET_CORE), EH(type, ET_REL), EH(type, 0xffff), EH(machine, 0),
	EH(version, 0), EH(ehsize, 0), EH(ehsize, 0xffff),
	{ "EI_CLASS=32", EHDR, NULL, 0, EI_CLASS, 1, ELFCLASS32, 0 },
	{ "EI_CLASS=0", EHDR, NULL, 0, EI_CLASS, 1, 0, 0 },
	{ "EI_CLASS=7", EHDR, NULL, 0, EI_CLASS, 1, 7, 0 },
	{ "EI_DATA=MSB", EHDR, NULL, 0, EI_DATA, 1, ELFDATA2MSB, 0 },
	{ "EI_DATA=0", EHDR, NULL, 0, EI_DATA, 1, 0, 0 },
	{ "EI_VERSION=0", EHDR, NULL, 0, EI_VERSION, 1, 0, 0 },
	/* section headers of the tables symbolyze reads */
	SH(".dynsym", size, UINT64_MAX), SH(".dynsym", size, 1ull << 40),
	SH(".dynsym", size, V_EOF(1)), SH(".dynsym", size, 0), SH(".dynsym", size, 7),
	SH(".dynsym", size, 25), SH(".dynsym", offset, UINT64_MAX), SH(".dynsym", offset, V_EOF(0)),
	SH(".dynsym", offset, V_EOF(-4)), SH(".dynsym", offset, 3), SH(".dynsym", offset, 0),
	SH(".dynsym", link, 0xffff), SH(".dynsym", link, 1000), SH(".dynsym", link, 0),
	SH(".dynsym", link, V_SELF), SH(".dynsym", entsize, 0), SH(".dynsym", entsize, 1),
	SH(".dynsym", entsize, 0xffff), SH(".dynsym", type, SHT_NOBITS),
	SH(".dynsym", flags, SHF_COMPRESSED), SH(".dynsym", info, 0xffffffff),
	SH(".dynstr", size, UINT64_MAX), SH(".dynstr", size, 0), SH(".dynstr", size, 3),
	SH(".dynstr", offset, V_EOF(-2)), SH(".dynstr", type, SHT_DYNSYM),
	SH(".dynstr", type, SHT_NOBITS), SH(".dynstr", flags, SHF_COMPRESSED),
	SH(".symtab", size, UINT64_MAX), SH(".symtab", size, 23), SH(".symtab", offset, V_EOF(-8)),
	SH(".symtab", link, 0xffff), SH(".symtab", link, V_SELF), SH(".symtab", link, 0),
	SH(".symtab", flags, SHF_COMPRESSED), SH(".symtab", type, SHT_DYNSYM),
	SH(".strtab", size, 1), SH(".strtab", size, UINT64_MAX), SH(".strtab", offset, UINT64_MAX),
	SH(".gnu.hash", size, 15), SH(".gnu.hash", size, 16), SH(".gnu.hash", size, UINT64_MAX),
	SH(".gnu.hash", offset, V_EOF(-16)), SH(".gnu.hash", type, SHT_HASH),
	SH(".gnu.version", size, 2), SH(".gnu.version", size, 0), SH(".gnu.version", size, 1),
	SH(".gnu.version", size, UINT64_MAX), SH(".gnu.version", offset, V_EOF(-2)),
	SH(".gnu.version_d", info, 0xffffffff), SH(".gnu.version_d", size, 4),
	SH(".gnu.version_d", size, UINT64_MAX), SH(".gnu.version_d", link, 0xffff),
	SH(".gnu.version_d", link, 0), SH(".gnu.version_d", link, V_SELF),
	SH(".gnu.version_d", type, SHT_GNU_versym),
	SH(".note.gnu.build-id", size, UINT64_MAX), SH(".note.gnu.build-id", size, 5),
	SH(".note.gnu.build-id", addralign, 3), SH(".note.gnu.build-id", addralign, 1ull << 63),
	SH(".text", type, SHT_GNU_verdef), SH(".text", type, SHT_GNU_HASH),
	SH(".text", type, SHT_HASH), SH(".text", type, SHT_NOTE), SH(".data", type, SHT_GNU_versym),
	SH(".bss", type, SHT_DYNSYM), SH(".bss", type, SHT_SYMTAB),
	/* program headers */
	PH(PT_NOTE, filesz, UINT64_MAX), PH(PT_NOTE, filesz, 1ull << 30),
	PH(PT_NOTE, offset, UINT64_MAX), PH(PT_NOTE, offset, V_EOF(-4)),
	PH(PT_NOTE, align, 3), PH(PT_NOTE, align, UINT64_MAX), PH(PT_NOTE, filesz, 5),
	PH(PT_LOAD, filesz, UINT64_MAX), PH(PT_LOAD, offset, UINT64_MAX),
	PH(PT_LOAD, type, PT_NOTE), PH(PT_DYNAMIC, type, PT_NOTE),
	/* .gnu.hash contents: nbuckets, symoffset, bloom_size, shift, buckets, chains */
	DA(".gnu.hash", 0, 4, 0, 0), DA(".gnu.hash", 0, 4, 0xffffffff, 0),
	DA(".gnu.hash", 0, 4, 1, 0), DA(".gnu.hash", 0, 4, 0x40000000, 0),
	DA(".gnu.hash", 4, 4, 0, 0), DA(".gnu.hash", 4, 4, 0xffffffff, 0),
	DA(".gnu.hash", 4, 4, 1000, 0), DA(".gnu.hash", 4, 4, 15, 0),
	DA(".gnu.hash", 8, 4, 0, 0), DA(".gnu.hash", 8, 4, 3, 0),
	DA(".gnu.hash", 8, 4, 0x80000000, 0), DA(".gnu.hash", 8, 4, 0xffffffff, 0),
	DA(".gnu.hash", 8, 4, 0x20000000, 0),
	DA(".gnu.hash", 12, 4, 0xffffffff, 0), DA(".gnu.hash", 12, 4, 64, 0),
	DA(".gnu.hash", 12, 4, 63, 0), DA(".gnu.hash", 12, 4, 32, 0),
	DA(".gnu.hash", 16, 8, UINT64_MAX, 0), /* bloom: everything may be there */
	DA(".gnu.hash", 24, 4, 0xffffffff, 4), /* buckets and chains */
	DA(".gnu.hash", 24, 4, 0x7fffffff, 4), DA(".gnu.hash", 24, 4, 0, 4),
	DA(".gnu.hash", 24, 4, 15, 4), DA(".gnu.hash", 24, 4, 1, 4),
	/* .dynsym and .dynstr contents */
	DA(".dynsym", offsetof(Elf64_Sym, st_name), 4, 0xfffffff0, sizeof(Elf64_Sym)),
	DA(".dynsym", offsetof(Elf64_Sym, st_name), 4, 0xc5, sizeof(Elf64_Sym)),
	DA(".dynsym", offsetof(Elf64_Sym, st_shndx), 2, 0xffff, sizeof(Elf64_Sym)),
	DA(".dynsym", offsetof(Elf64_Sym, st_shndx), 2, SHN_ABS, sizeof(Elf64_Sym)),
	DA(".dynsym", offsetof(Elf64_Sym, st_info), 1, 0xff, sizeof(Elf64_Sym)),
	DA(".dynsym", offsetof(Elf64_Sym, st_value), 8, UINT64_MAX, sizeof(Elf64_Sym)),
	DA(".dynstr", 0, 1, 'A', 1), /* no NUL anywhere */
	DA(".strtab", 0, 1, 'A', 1),
	DA(".symtab", offsetof(Elf64_Sym, st_name), 4, 0xfffffff0, sizeof(Elf64_Sym)),
	/* versions: bad indexes, lying verdef offsets */
	DA(".gnu.version", 0, 2, 0x7fff, 2), DA(".gnu.version", 0, 2, 0xffff, 2),
	DA(".gnu.version", 0, 2, 2, 2),
	DA(".gnu.version_d", offsetof(Elf64_Verdef, vd_aux), 4, 0xffffffff, 0),
	DA(".gnu.version_d", offsetof(Elf64_Verdef, vd_aux), 4, 0x7ffffff0, 0),
	DA(".gnu.version_d", offsetof(Elf64_Verdef, vd_next), 4, 0xffffffff, 0),
	DA(".gnu.version_d", offsetof(Elf64_Verdef, vd_next), 4, 0, 0),
	DA(".gnu.version_d", offsetof(Elf64_Verdef, vd_next), 4, 1, 0),
	DA(".gnu.version_d", offsetof(Elf64_Verdef, vd_ndx), 2, 0x7fff, 0),
	DA(".gnu.version_d", offsetof(Elf64_Verdef, vd_version), 2, 7, 0),
	DA(".gnu.version_d", sizeof(Elf64_Verdef) + offsetof(Elf64_Verdaux, vda_name), 4,
	   0xffffffff, 0),
	DA(".gnu.version_d", 0, 4, 0xffffffff, 4), /* all of it */
	/* the build-ID note: see test_notes for the parser itself */
	DA(".note.gnu.build-id", 0, 4, 0xffffffff, 0), DA(".note.gnu.build-id", 4, 4, 0, 0),
};

static uint64_t resolve_value(uint64_t v, size_t len, int self)
{
	if (v == V_SELF)
		return (uint64_t)self;
	if (v >= V_EOF(-100) && v <= V_EOF(100))
		return (uint64_t)len + (v - V_EOF(0));
	return v;
}

static void test_mutations(void **state)
{
	struct probe_stats st = { 0 };
	const char *m = tmpfile_path("m.so");
	size_t len;
	unsigned char *orig = slurp(fixture("libfix.so"), &len), *b = malloc(len);
	Elf64_Ehdr eh;

	assert_non_null(b);
	memcpy(&eh, orig, sizeof(eh));
	assert_int_equal(eh.e_ident[EI_CLASS], ELFCLASS64);
	assert_int_equal(eh.e_ident[EI_DATA], ELFDATA2LSB);
	for (size_t i = 0; i < ARRAY_SIZE(mutations); i++) {
		const struct mutation *mu = &mutations[i];
		size_t at = 0, end = 0, stride = mu->stride ? mu->stride : len;
		int sec = -1;
		uint64_t v;

		memcpy(b, orig, len);
		if (mu->sec) {
			sec = find_section(orig, mu->sec);
			if (sec < 0)
				fail_msg("%s: no section %s", mu->what, mu->sec);
		}
		switch (mu->where) {
		case EHDR:
			at = mu->field;
			break;
		case SHDR:
			at = eh.e_shoff + (size_t)sec * eh.e_shentsize + mu->field;
			break;
		case PHDR:
			for (size_t k = 0; k < eh.e_phnum; k++) {
				Elf64_Phdr ph;

				memcpy(&ph, orig + eh.e_phoff + k * eh.e_phentsize, sizeof(ph));
				if (ph.p_type == mu->ptype) {
					at = eh.e_phoff + k * eh.e_phentsize + mu->field;
					break;
				}
			}
			assert_true(at > 0);
			break;
		case DATA: {
			Elf64_Shdr sh;

			memcpy(&sh, shdr_at(orig, (size_t)sec), sizeof(sh));
			at = sh.sh_offset + mu->field;
			end = sh.sh_offset + sh.sh_size;
			break;
		}
		}
		v = resolve_value(mu->value, len, sec);
		do {
			assert_true(at + mu->width <= len);
			memcpy(b + at, &v, mu->width); /* little-endian host and file */
			at += stride;
		} while (mu->stride && at + mu->width <= end);
		/* Each mutation must change the file, or it tests nothing. */
		if (!memcmp(b, orig, len))
			fail_msg("%s: no change", mu->what);
		spit(m, b, len);
		probe(m, mu->what, &st);
	}
	print_message("%zu mutations: %d opened, %d refused\n", ARRAY_SIZE(mutations), st.opened,
		      st.refused);
	assert_true(st.opened > 0 && st.refused > 0);
	free(b);
	free(orig);
	unlink(m);
}

/* A .gnu.version shorter than .dynsym: symbols past its end are unversioned
 * (the bytes after it in the file are not versions). */
static void test_short_versym(void **state)
{
	const char *m = tmpfile_path("m.so");
	size_t len;
	unsigned char *b = slurp(fixture("libfix.so"), &len);
	int i = find_section(b, ".gnu.version");
	uint64_t two = 2;
	struct image im;
	struct sz_elf_sym s;

	assert_true(i > 0);
	memcpy(&shdr_at(b, (size_t)i)->sh_size, &two, sizeof(two));
	spit(m, b, len);
	free(b);
	image_open(&im, m);
	lookup_ok(im.e, "fix_func", &s);
	assert_null(s.version);
	assert_int_equal(s.hidden, 0);
	lookup_absent(im.e, "fix_ver@FIX_1", SZ_LOOKUP_NO_SYMTAB);
	lookup_absent(im.e, "fix_func@@FIX_1", SZ_LOOKUP_NO_SYMTAB);
	/* .symtab spells the version in the name and still knows it. */
	lookup_ok(im.e, "fix_ver@FIX_1", &s);
	assert_int_equal(s.table, SZ_TAB_SYMTAB);
	image_close(&im);
	unlink(m);
}

/* Random byte damage in the parts symbolyze reads, deterministic. */
static void test_random_damage(void **state)
{
	struct probe_stats st = { 0 };
	const char *m = tmpfile_path("m.so");
	size_t len;
	unsigned char *orig = slurp(fixture("libfix.so"), &len), *b = malloc(len);
	uint64_t x = 0x243f6a8885a308d3ull;
	Elf64_Ehdr eh;
	int dyn = find_section(orig, ".gnu.version_d");
	Elf64_Shdr vd;

	assert_non_null(b);
	assert_true(dyn > 0);
	memcpy(&vd, shdr_at(orig, (size_t)dyn), sizeof(vd));
	memcpy(&eh, orig, sizeof(eh));
	for (int k = 0; k < 3000; k++) {
		memcpy(b, orig, len);
		for (int n = 1 + k % 4; n; n--) {
			size_t at;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			switch (x % 3) {
			case 0: /* headers, .gnu.hash, .dynsym, .dynstr, versions */
				at = (size_t)((x >> 8) % (vd.sh_offset + vd.sh_size));
				break;
			case 1: /* section header table */
				at = eh.e_shoff + (size_t)((x >> 8) % (len - eh.e_shoff));
				break;
			default:
				at = (size_t)((x >> 8) % len);
			}
			b[at] = (unsigned char)(x >> 40);
		}
		spit(m, b, len);
		probe(m, "random damage", &st);
	}
	print_message("random damage: %d opened, %d refused\n", st.opened, st.refused);
	free(b);
	free(orig);
	unlink(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libc_all_dynsym),
		cmocka_unit_test(test_libc_all_dynsym_sysv_hash),
		cmocka_unit_test(test_libc_versions),
		cmocka_unit_test(test_fixture_versions),
		cmocka_unit_test(test_symtab_only),
		cmocka_unit_test(test_types_and_offsets),
		cmocka_unit_test(test_compressed_symtab),
		cmocka_unit_test(test_not_elf),
		cmocka_unit_test(test_truncated_fixture),
		cmocka_unit_test(test_truncated_libc),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_short_versym),
		cmocka_unit_test(test_random_damage),
	};

	return cmocka_run_group_tests_name("elf", tests, setup, teardown);
}
