// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of the USDT parser (src/elf/usdt.c): argument specs as a table,
 * hand-built note areas (good, truncated, unterminated), and real files — the
 * <sys/sdt.h> fixture, python3.11 and postgres 15 — against `readelf -n`.
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
#include <unistd.h>

#include <cmocka.h>

#include "elf/usdt.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --- argument specs ------------------------------------------------------- */

struct arg_want {
	enum sz_usdt_arg_kind kind;
	int size, is_signed;
	const char *reg; /* as written; NULL for CONST */
	int64_t val;
	const char *sym; /* MEM: symbol, or NULL */
};

struct spec_case {
	const char *spec;
	int ret; /* number of args or -errno */
	struct arg_want a[3];
};

static const struct spec_case spec_cases[] = {
	{ "", 0, { { 0 } } },
	{ "   ", 0, { { 0 } } },
	{ "-4@%edi", 1, { { SZ_USDT_ARG_REG, 4, 1, "edi", 0, NULL } } },
	{ "8@%rax", 1, { { SZ_USDT_ARG_REG, 8, 0, "rax", 0, NULL } } },
	{ "-1@%sil 2@%di",
	  2,
	  { { SZ_USDT_ARG_REG, 1, 1, "sil", 0, NULL }, { SZ_USDT_ARG_REG, 2, 0, "di", 0, NULL } } },
	{ "-4@%r12d 8@%r15",
	  2,
	  { { SZ_USDT_ARG_REG, 4, 1, "r12d", 0, NULL },
	    { SZ_USDT_ARG_REG, 8, 0, "r15", 0, NULL } } },
	{ "1@%r9b", 1, { { SZ_USDT_ARG_REG, 1, 0, "r9b", 0, NULL } } },
	{ "8@-8(%rbp)", 1, { { SZ_USDT_ARG_MEM, 8, 0, "rbp", -8, NULL } } },
	{ "-4@112(%rsp)", 1, { { SZ_USDT_ARG_MEM, 4, 1, "rsp", 112, NULL } } },
	{ "8@(%rdi)", 1, { { SZ_USDT_ARG_MEM, 8, 0, "rdi", 0, NULL } } },
	{ "8@0x10(%rbx)", 1, { { SZ_USDT_ARG_MEM, 8, 0, "rbx", 16, NULL } } },
	{ "-4@$42", 1, { { SZ_USDT_ARG_CONST, 4, 1, NULL, 42, NULL } } },
	{ "8@$-1", 1, { { SZ_USDT_ARG_CONST, 8, 0, NULL, -1, NULL } } },
	{ "-8@$-9223372036854775808", 1, { { SZ_USDT_ARG_CONST, 8, 1, NULL, INT64_MIN, NULL } } },
	{ "-4@NBuffers(%rip)", 1, { { SZ_USDT_ARG_MEM, 4, 1, "rip", 0, "NBuffers" } } },
	{ "8@16+CheckpointStats(%rip)",
	  1,
	  { { SZ_USDT_ARG_MEM, 8, 0, "rip", 16, "CheckpointStats" } } },
	{ "8@sym-8(%rip)", 1, { { SZ_USDT_ARG_MEM, 8, 0, "rip", -8, "sym" } } },
	{ "  8@%rax   -4@%edx  ",
	  2,
	  { { SZ_USDT_ARG_REG, 8, 0, "rax", 0, NULL },
	    { SZ_USDT_ARG_REG, 4, 1, "edx", 0, NULL } } },
	/* refused */
	{ "8@(%rcx,%rdx,8)", -EOPNOTSUPP, { { 0 } } },
	{ "1@%ah", -EOPNOTSUPP, { { 0 } } },
	{ "8@%fs:8", -EOPNOTSUPP, { { 0 } } },
	{ "8@(%eax)", -EOPNOTSUPP, { { 0 } } },
	{ "3@%eax", -EINVAL, { { 0 } } },
	{ "16@%rax", -EINVAL, { { 0 } } },
	{ "%rax", -EINVAL, { { 0 } } },
	{ "8%rax", -EINVAL, { { 0 } } },
	{ "8@%xyz", -EINVAL, { { 0 } } },
	{ "8@$", -EINVAL, { { 0 } } },
	{ "8@$99999999999999999999", -EINVAL, { { 0 } } },
	{ "8@-8(%rbp", -EINVAL, { { 0 } } },
	{ "8@-8(rbp)", -EINVAL, { { 0 } } },
	{ "8@%rax,", -EINVAL, { { 0 } } },
	{ "8@%rax 4", -EINVAL, { { 0 } } },
};

static void test_specs(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(spec_cases); i++) {
		const struct spec_case *c = &spec_cases[i];
		struct sz_usdt_arg a[SZ_USDT_MAX_ARGS];
		int pos, n = sz_usdt_parse_args(c->spec, a, SZ_USDT_MAX_ARGS, &pos);

		if (n != c->ret)
			fail_msg("'%s': got %d, want %d", c->spec, n, c->ret);
		for (int k = 0; k < n; k++) {
			const struct arg_want *w = &c->a[k];

			assert_int_equal(a[k].kind, w->kind);
			assert_int_equal(a[k].size, w->size);
			assert_int_equal(a[k].is_signed, w->is_signed);
			if (w->reg)
				assert_string_equal(sz_usdt_reg_name(a[k].reg, a[k].reg_bytes),
						    w->reg);
			else
				assert_int_equal(a[k].reg, -1);
			assert_true(a[k].val == w->val);
			if (w->sym) {
				assert_int_equal(a[k].sym_len, strlen(w->sym));
				assert_memory_equal(c->spec + a[k].sym_off, w->sym, a[k].sym_len);
			} else {
				assert_int_equal(a[k].sym_len, 0);
			}
		}
	}
}

static void test_spec_limits(void **state)
{
	struct sz_usdt_arg a[SZ_USDT_MAX_ARGS];
	char spec[256] = "";
	int pos;

	(void)state;
	for (int i = 0; i < 13; i++)
		strcat(spec, "8@%rax ");
	assert_int_equal(sz_usdt_parse_args(spec, a, SZ_USDT_MAX_ARGS, &pos), -E2BIG);
	assert_int_equal(pos, 12 * 7);
	spec[12 * 7] = 0;
	assert_int_equal(sz_usdt_parse_args(spec, a, SZ_USDT_MAX_ARGS, &pos), 12);
	/* The position of a syntax error is the argument that failed. */
	assert_int_equal(sz_usdt_parse_args("8@%rax 4@%bogus", a, 12, &pos), -EINVAL);
	assert_int_equal(pos, 7);
	/* pt_regs offsets: rdi is the 15th word, rip the 17th (asm/ptrace.h). */
	assert_int_equal(sz_usdt_parse_args("4@%edi 8@%rip", a, 12, &pos), 2);
	assert_int_equal(a[0].reg_off, 14 * 8);
	assert_int_equal(a[1].reg_off, 16 * 8);
}

/* --- note areas ------------------------------------------------------------ */

struct buf {
	unsigned char b[1024];
	size_t len;
	size_t nnotes, desc_end[8]; /* where each note's desc ends, before padding */
};

static void put_note(struct buf *b, const char *owner, uint32_t type, uint64_t pc, uint64_t base,
		     uint64_t sema, const char *strs, size_t strs_len, uint32_t descsz_claim)
{
	uint32_t namesz = (uint32_t)strlen(owner) + 1, descsz = (uint32_t)(24 + strs_len);

	memcpy(b->b + b->len, &namesz, 4);
	memcpy(b->b + b->len + 4, descsz_claim ? &descsz_claim : &descsz, 4);
	memcpy(b->b + b->len + 8, &type, 4);
	b->len += 12;
	memcpy(b->b + b->len, owner, namesz);
	b->len = (b->len + namesz + 3) & ~3ul;
	memcpy(b->b + b->len, &pc, 8);
	memcpy(b->b + b->len + 8, &base, 8);
	memcpy(b->b + b->len + 16, &sema, 8);
	memcpy(b->b + b->len + 24, strs, strs_len);
	b->desc_end[b->nnotes++] = b->len + descsz;
	b->len = (b->len + descsz + 3) & ~3ul;
}

struct seen {
	struct sz_usdt_note n[4];
	int count;
};

static int remember(const struct sz_usdt_note *n, void *ctx)
{
	struct seen *s = ctx;

	if (s->count < 4)
		s->n[s->count] = *n;
	s->count++;
	return 0;
}

static void test_notes(void **state)
{
	static const char a[] = "prov\0name\0-4@%edi 8@%rax";
	static const char b[] = "p2\0n2\0";
	struct seen s = { 0 };
	struct buf nb = { 0 };

	(void)state;
	put_note(&nb, "stapsdt", 3, 0x1000, 0x2000, 0x3000, a, sizeof(a), 0);
	put_note(&nb, "GNU", 3, 1, 2, 3, b, sizeof(b), 0);     /* other owner: skipped */
	put_note(&nb, "stapsdt", 1, 1, 2, 3, b, sizeof(b), 0); /* other type: skipped */
	put_note(&nb, "stapsdt", 3, 0x1100, 0x2000, 0, b, sizeof(b), 0);
	assert_int_equal(sz_usdt_parse_notes(nb.b, nb.len, 4, 8, remember, &s), 2);
	assert_int_equal(s.count, 2);
	assert_string_equal(s.n[0].provider, "prov");
	assert_string_equal(s.n[0].name, "name");
	assert_string_equal(s.n[0].spec, "-4@%edi 8@%rax");
	assert_true(s.n[0].pc == 0x1000 && s.n[0].base == 0x2000 && s.n[0].sema == 0x3000);
	assert_string_equal(s.n[1].provider, "p2");
	assert_string_equal(s.n[1].spec, "");
	assert_true(s.n[1].pc == 0x1100 && s.n[1].sema == 0);
	/* Every cut of the area is refused, never read past. */
	for (size_t len = 0; len < nb.len; len++) {
		int r = sz_usdt_parse_notes(nb.b, len, 4, 8, NULL, NULL), whole = -1;

		/* Only a cut between notes (in a note's tail padding) leaves an area of
		 * whole notes: 2 stapsdt notes in the area if all four remain, else 1. */
		for (size_t k = 0; k < nb.nnotes; k++)
			if (len >= nb.desc_end[k] &&
			    (k + 1 == nb.nnotes || len <= ((nb.desc_end[k] + 3) & ~3ul)))
				whole = k == 3 ? 2 : 1;
		if (len == 0)
			whole = 0;
		if (r != (whole >= 0 ? whole : -EBADMSG))
			fail_msg("area cut to %zu bytes: %d", len, r);
	}
	assert_int_equal(sz_usdt_parse_notes(nb.b, nb.len, 3, 8, NULL, NULL), -EINVAL);
	assert_int_equal(sz_usdt_parse_notes(nb.b, nb.len, 4, 2, NULL, NULL), -EINVAL);
}

static void test_bad_notes(void **state)
{
	static const char two[] = "prov\0name"; /* no third string */
	static const char unterminated[] = { 'p', 0, 'n', 0, 'x', 'y' };
	struct buf nb = { 0 };

	(void)state;
	put_note(&nb, "stapsdt", 3, 1, 2, 3, two, sizeof(two), 0);
	assert_int_equal(sz_usdt_parse_notes(nb.b, nb.len, 4, 8, NULL, NULL), -EBADMSG);
	memset(&nb, 0, sizeof(nb));
	put_note(&nb, "stapsdt", 3, 1, 2, 3, unterminated, sizeof(unterminated), 0);
	assert_int_equal(sz_usdt_parse_notes(nb.b, nb.len, 4, 8, NULL, NULL), -EBADMSG);
	/* desc shorter than the three addresses */
	memset(&nb, 0, sizeof(nb));
	put_note(&nb, "stapsdt", 3, 1, 2, 3, "a\0b\0c", 6, 20);
	assert_int_equal(sz_usdt_parse_notes(nb.b, nb.len, 4, 8, NULL, NULL), -EBADMSG);
	/* desc claiming more than the area */
	memset(&nb, 0, sizeof(nb));
	put_note(&nb, "stapsdt", 3, 1, 2, 3, "a\0b\0c", 6, 600);
	assert_int_equal(sz_usdt_parse_notes(nb.b, nb.len, 4, 8, NULL, NULL), -EBADMSG);
	/* the callback's error stops the walk */
	memset(&nb, 0, sizeof(nb));
	put_note(&nb, "stapsdt", 3, 1, 2, 3, "a\0b\0c", 6, 0);
	assert_int_equal(sz_usdt_parse_notes(nb.b, nb.len, 4, 8, NULL, NULL), 1);
}

static void test_patterns(void **state)
{
	struct sz_usdt_probe p = { .provider = "python", .name = "function__entry" };
	struct sz_usdt_pattern pat;
	char err[128];

	(void)state;
	assert_int_equal(sz_usdt_pattern_compile("python:function__*", &pat, err, 128), 0);
	assert_true(sz_usdt_pattern_match(&pat, &p));
	assert_int_equal(sz_usdt_pattern_compile("py*:*__return", &pat, err, 128), 0);
	assert_false(sz_usdt_pattern_match(&pat, &p));
	assert_int_equal(sz_usdt_pattern_compile("function__entry", &pat, err, 128), 0);
	assert_true(sz_usdt_pattern_match(&pat, &p));
	assert_int_equal(sz_usdt_pattern_compile("postgresql:*", &pat, err, 128), 0);
	assert_false(sz_usdt_pattern_match(&pat, &p));
	assert_int_equal(sz_usdt_pattern_compile(":x", &pat, err, 128), -EINVAL);
	assert_int_equal(sz_usdt_pattern_compile("a:", &pat, err, 128), -EINVAL);
	assert_int_equal(sz_usdt_pattern_compile("a:b:c", &pat, err, 128), -EINVAL);
	assert_int_equal(sz_usdt_pattern_compile("a:[b", &pat, err, 128), -EINVAL);
}

/* --- real files against readelf -n ------------------------------------------ */

struct ref_probe {
	char provider[64], name[128], args[1024];
	uint64_t pc, base, sema;
};

/* Every stapsdt note `readelf -n` shows, in order. */
static size_t readelf_probes(const char *path, struct ref_probe **out)
{
	char cmd[512], line[2048];
	struct ref_probe *v = NULL;
	size_t n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "LC_ALL=C readelf -n '%s'", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *s = line + strspn(line, " ");

		s[strcspn(s, "\n")] = 0;
		if (!strncmp(s, "Provider: ", 10)) {
			v = realloc(v, (n + 1) * sizeof(*v));
			assert_non_null(v);
			memset(&v[n], 0, sizeof(v[n]));
			snprintf(v[n++].provider, 64, "%s", s + 10);
		} else if (n && !strncmp(s, "Name: ", 6)) {
			snprintf(v[n - 1].name, 128, "%s", s + 6);
		} else if (n && !strncmp(s, "Location: ", 10)) {
			assert_int_equal(sscanf(s, "Location: %lx, Base: %lx, Semaphore: %lx",
						&v[n - 1].pc, &v[n - 1].base, &v[n - 1].sema),
					 3);
		} else if (n && !strncmp(s, "Arguments:", 10)) {
			snprintf(v[n - 1].args, 1024, "%s", s + 10 + (s[10] == ' '));
		}
	}
	assert_int_equal(pclose(f), 0);
	*out = v;
	return n;
}

/* Section SECT's address and file offset, from `readelf -S`. */
static int readelf_section(const char *path, const char *sect, uint64_t *addr, uint64_t *off)
{
	char cmd[512], line[512], name[64];
	int found = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "LC_ALL=C readelf -S --wide '%s'", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *b = strchr(line, ']');
		char type[32];

		if (!b || sscanf(b + 1, "%63s %31s %lx %lx", name, type, addr, off) != 4)
			continue;
		if (!strcmp(name, sect)) {
			found = 1;
			break;
		}
	}
	while (fgets(line, sizeof(line), f))
		;
	pclose(f);
	return found;
}

/* Render an argument back to its spec form, for the round trip. */
static void render(const struct sz_usdt_arg *a, char *out, size_t n)
{
	int sz = a->is_signed ? -a->size : a->size;

	if (a->kind == SZ_USDT_ARG_CONST)
		snprintf(out, n, "%d@$%ld", sz, (long)a->val);
	else if (a->kind == SZ_USDT_ARG_REG)
		snprintf(out, n, "%d@%%%s", sz, sz_usdt_reg_name(a->reg, a->reg_bytes));
	else if (a->val)
		snprintf(out, n, "%d@%ld(%%%s)", sz, (long)a->val,
			 sz_usdt_reg_name(a->reg, a->reg_bytes));
	else
		snprintf(out, n, "%d@(%%%s)", sz, sz_usdt_reg_name(a->reg, a->reg_bytes));
}

/* Parse PATH and compare each probe with readelf's; returns the set. */
static struct sz_usdt_set *check_file(const char *path, size_t *nref)
{
	struct ref_probe *ref;
	struct sz_usdt_set *set;
	struct sz_elf *e;
	uint64_t base_addr, base_off;
	char err[256];
	size_t n = readelf_probes(path, &ref);
	int fd = open(path, O_RDONLY | O_CLOEXEC), has_base;

	if (fd < 0)
		fail_msg("%s: %s (scripts/deps.sh installs it)", path, strerror(errno));
	assert_int_equal(sz_elf_open(fd, &e, err, sizeof(err)), 0);
	if (sz_usdt_read(e, &set, err, sizeof(err)))
		fail_msg("%s: %s", path, err);
	has_base = readelf_section(path, ".stapsdt.base", &base_addr, &base_off);
	assert_int_equal(set->has_base, has_base);
	if (has_base)
		assert_true(set->base_addr == base_addr);
	assert_true(n > 0);
	assert_int_equal(set->n, n);
	for (size_t i = 0; i < n; i++) {
		const struct sz_usdt_probe *p = &set->probes[i];
		unsigned char byte = 0;
		char spec[1024] = "", one[64], *want;

		assert_string_equal(p->provider, ref[i].provider);
		assert_string_equal(p->name, ref[i].name);
		assert_string_equal(p->spec, ref[i].args);
		assert_true(p->note_pc == ref[i].pc);
		assert_true(p->base == ref[i].base);
		assert_true(p->sema == ref[i].sema);
		assert_true(p->pc == ref[i].pc + (has_base ? base_addr - ref[i].base : 0));
		assert_int_equal(p->loc_err, 0);
		/* Ground truth for the offset: <sys/sdt.h> puts a one-byte nop there. */
		assert_int_equal(pread(fd, &byte, 1, (off_t)p->pc_offset), 1);
		if (byte != 0x90)
			fail_msg("%s %s:%s: byte at 0x%lx is 0x%02x, not a nop", path, p->provider,
				 p->name, (unsigned long)p->pc_offset, byte);
		if (p->sema) {
			uint64_t pa, po;

			/* Semaphores live in .probes; its offset, not our segment math. */
			assert_true(readelf_section(path, ".probes", &pa, &po));
			assert_true(p->sema_offset == p->sema - pa + po);
		} else {
			assert_true(p->sema_offset == 0);
		}
		if (p->args_err)
			fail_msg("%s %s:%s: '%s' does not parse at %d (%d)", path, p->provider,
				 p->name, p->spec, p->args_pos, p->args_err);
		for (int k = 0; k < p->nargs; k++) {
			if (p->args[k].sym_len)
				goto next; /* symbol forms: checked in the spec table */
			render(&p->args[k], one, sizeof(one));
			strcat(spec, k ? " " : "");
			strcat(spec, one);
		}
		/* readelf shows what the assembler wrote: "0(%r13)" is "(%r13)" */
		want = strdup(p->spec);
		assert_non_null(want);
		for (char *z; (z = strstr(want, "@0("));)
			memmove(z + 1, z + 2, strlen(z + 2) + 1);
		assert_string_equal(spec, want);
		free(want);
next:;
	}
	free(ref);
	sz_elf_close(e);
	close(fd);
	*nref = n;
	return set;
}

static const struct sz_usdt_probe *find(const struct sz_usdt_set *s, const char *prov,
					const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->probes[i].provider, prov) && !strcmp(s->probes[i].name, name))
			return &s->probes[i];
	return NULL;
}

static void test_fixture(void **state)
{
	const char *dir = getenv("SZ_FIXTURES");
	const struct sz_usdt_probe *p;
	struct sz_usdt_set *s;
	char path[512];
	size_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/sdt", dir ? dir : "build/fixtures");
	s = check_file(path, &n);
	assert_int_equal(n, 5); /* noargs, ints, str, twelve, sema: tests/fixtures/sdt*.c */
	p = find(s, "sztest", "twelve");
	assert_non_null(p);
	assert_int_equal(p->nargs, 12);
	p = find(s, "sztest", "noargs");
	assert_non_null(p);
	assert_int_equal(p->nargs, 0);
	p = find(s, "sztest", "sema");
	assert_non_null(p);
	assert_true(p->sema != 0);
	p = find(s, "sztest", "ints");
	assert_non_null(p);
	assert_int_equal(p->nargs, 6);
	/* s8, u16, s32, u64, the constant 42, an int64_t */
	assert_true(p->args[0].size == 1 && p->args[0].is_signed);
	assert_true(p->args[1].size == 2 && !p->args[1].is_signed);
	assert_true(p->args[2].size == 4 && p->args[2].is_signed);
	assert_true(p->args[3].size == 8 && !p->args[3].is_signed);
	assert_true(p->args[4].kind == SZ_USDT_ARG_CONST && p->args[4].val == 42);
	assert_true(p->args[5].size == 8 && p->args[5].is_signed);
	sz_usdt_set_free(s);
}

static void test_python(void **state)
{
	const struct sz_usdt_probe *p;
	struct sz_usdt_set *s;
	size_t n;

	(void)state;
	s = check_file("/usr/bin/python3.11", &n);
	p = find(s, "python", "function__entry");
	assert_non_null(p);
	assert_true(p->sema != 0);
	assert_int_equal(p->nargs, 3); /* filename, funcname, lineno */
	assert_int_equal(p->args[2].size, 4);
	sz_usdt_set_free(s);
}

static void test_postgres(void **state)
{
	const struct sz_usdt_probe *p;
	struct sz_usdt_set *s;
	size_t n;

	(void)state;
	s = check_file("/usr/lib/postgresql/15/bin/postgres", &n);
	p = find(s, "postgresql", "query__start");
	assert_non_null(p);
	assert_int_equal(p->nargs, 1);
	assert_int_equal(p->args[0].size, 8);
	sz_usdt_set_free(s);
}

/* A file without notes is an empty set, not an error. */
static void test_no_notes(void **state)
{
	const char *dir = getenv("SZ_FIXTURES");
	struct sz_usdt_set *s;
	struct sz_elf *e;
	char path[512], err[256];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/libfix.so", dir ? dir : "build/fixtures");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sz_elf_open(fd, &e, err, sizeof(err)), 0);
	assert_int_equal(sz_usdt_read(e, &s, err, sizeof(err)), 0);
	assert_int_equal(s->n, 0);
	assert_int_equal(s->has_base, 0);
	sz_usdt_set_free(s);
	sz_elf_close(e);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_specs),	 cmocka_unit_test(test_spec_limits),
		cmocka_unit_test(test_notes),	 cmocka_unit_test(test_bad_notes),
		cmocka_unit_test(test_patterns), cmocka_unit_test(test_fixture),
		cmocka_unit_test(test_python),	 cmocka_unit_test(test_postgres),
		cmocka_unit_test(test_no_notes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
