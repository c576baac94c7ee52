// SPDX-License-Identifier: BSD-2-Clause
/*
 * USDT probes from .note.stapsdt, bounded like the build-ID parser: every note,
 * string and count has a ceiling, a truncated note is an error, never a guess.
 * Layout of a note (systemtap's sdt.h, libbpf's usdt.c): desc = pc, base,
 * semaphore (address-sized), then "provider\0name\0args\0".
 */
#include "elf/usdt.h"

#include <asm/ptrace.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t rd_addr(const unsigned char *p, unsigned size)
{
	uint32_t v32;
	uint64_t v64;

	if (size == 4) {
		memcpy(&v32, p, 4);
		return v32;
	}
	memcpy(&v64, p, 8);
	return v64;
}

/* Length of the NUL-terminated string at P within N bytes, or -1. */
static long bounded_len(const char *p, size_t n)
{
	const char *z = memchr(p, 0, n);

	return z ? z - p : -1;
}

int sz_usdt_parse_notes(const void *buf, size_t len, uint64_t align, unsigned addr_size,
			int (*fn)(const struct sz_usdt_note *, void *), void *ctx)
{
	const unsigned char *p = buf;
	uint64_t off = 0;
	int count = 0;

	if (align == 0 || align == 1 || align == 4)
		align = 4;
	else if (align != 8)
		return -EINVAL;
	if (addr_size != 4 && addr_size != 8)
		return -EINVAL;
	if (len > SZ_NOTE_AREA_MAX)
		return -EFBIG;
	while (off < len) {
		uint32_t namesz, descsz, type;
		uint64_t desc_off, next;

		if (len - off < 12)
			return -EBADMSG;
		memcpy(&namesz, p + off, 4);
		memcpy(&descsz, p + off + 4, 4);
		memcpy(&type, p + off + 8, 4);
		if (namesz > SZ_NOTE_MAX || descsz > SZ_NOTE_MAX)
			return -EBADMSG;
		if (off + 12 + namesz > len)
			return -EBADMSG;
		desc_off = off + align_up(12 + (uint64_t)namesz, align);
		if (desc_off > len || desc_off + descsz > len)
			return -EBADMSG;
		if (type == SZ_USDT_NOTE_TYPE && namesz == 8 &&
		    !memcmp(p + off + 12, "stapsdt", 8)) {
			size_t asz = addr_size, left;
			struct sz_usdt_note n;
			const char *s;
			long l1, l2, l3;
			int r;

			if (descsz < 3 * asz + 3)
				return -EBADMSG;
			s = (const char *)p + desc_off + 3 * asz;
			left = descsz - 3 * asz;
			l1 = bounded_len(s, left);
			l2 = l1 < 0 ? -1 : bounded_len(s + l1 + 1, left - l1 - 1);
			l3 = l2 < 0 ? -1 : bounded_len(s + l1 + l2 + 2, left - l1 - l2 - 2);
			if (l3 < 0 || l1 > SZ_USDT_STR_MAX || l2 > SZ_USDT_STR_MAX ||
			    l3 > SZ_USDT_STR_MAX)
				return -EBADMSG;
			if (count >= (int)SZ_USDT_MAX_PROBES)
				return -E2BIG;
			n.pc = rd_addr(p + desc_off, addr_size);
			n.base = rd_addr(p + desc_off + asz, addr_size);
			n.sema = rd_addr(p + desc_off + 2 * asz, addr_size);
			n.provider = s;
			n.name = s + l1 + 1;
			n.spec = s + l1 + l2 + 2;
			if (fn) {
				r = fn(&n, ctx);
				if (r < 0)
					return r;
			}
			count++;
		}
		next = desc_off + align_up(descsz, align);
		off = next > len ? len : next;
	}
	return count;
}

/* x86-64 registers an argument may name, by width, and where pt_regs keeps them
 * (the same table libbpf's usdt.c uses; %ah-style high bytes are not readable
 * through bpf_usdt_arg, so they are refused). */
static const struct reg {
	const char *name[4]; /* 8, 4, 2, 1 bytes */
	uint16_t off;
} regs[] = {
	{ { "rip", "eip", NULL, NULL }, offsetof(struct pt_regs, rip) },
	{ { "rax", "eax", "ax", "al" }, offsetof(struct pt_regs, rax) },
	{ { "rbx", "ebx", "bx", "bl" }, offsetof(struct pt_regs, rbx) },
	{ { "rcx", "ecx", "cx", "cl" }, offsetof(struct pt_regs, rcx) },
	{ { "rdx", "edx", "dx", "dl" }, offsetof(struct pt_regs, rdx) },
	{ { "rsi", "esi", "si", "sil" }, offsetof(struct pt_regs, rsi) },
	{ { "rdi", "edi", "di", "dil" }, offsetof(struct pt_regs, rdi) },
	{ { "rbp", "ebp", "bp", "bpl" }, offsetof(struct pt_regs, rbp) },
	{ { "rsp", "esp", "sp", "spl" }, offsetof(struct pt_regs, rsp) },
	{ { "r8", "r8d", "r8w", "r8b" }, offsetof(struct pt_regs, r8) },
	{ { "r9", "r9d", "r9w", "r9b" }, offsetof(struct pt_regs, r9) },
	{ { "r10", "r10d", "r10w", "r10b" }, offsetof(struct pt_regs, r10) },
	{ { "r11", "r11d", "r11w", "r11b" }, offsetof(struct pt_regs, r11) },
	{ { "r12", "r12d", "r12w", "r12b" }, offsetof(struct pt_regs, r12) },
	{ { "r13", "r13d", "r13w", "r13b" }, offsetof(struct pt_regs, r13) },
	{ { "r14", "r14d", "r14w", "r14b" }, offsetof(struct pt_regs, r14) },
	{ { "r15", "r15d", "r15w", "r15b" }, offsetof(struct pt_regs, r15) },
};

#define NREGS ((int)(sizeof(regs) / sizeof(regs[0])))

const char *sz_usdt_reg_name(int reg, unsigned bytes)
{
	int w = bytes == 8 ? 0 : bytes == 4 ? 1 : bytes == 2 ? 2 : bytes == 1 ? 3 : -1;

	if (reg < 0 || reg >= NREGS || w < 0)
		return NULL;
	return regs[reg].name[w];
}

/* Register name at *S (after '%'); advances *S.  0, -EOPNOTSUPP, -EINVAL. */
static int parse_reg(const char **s, struct sz_usdt_arg *a)
{
	static const char *const unreadable[] = { "ah", "bh", "ch", "dh", "cs",
						  "ds", "es", "fs", "gs", "ss" };
	const char *p = *s;
	size_t n = 0;

	while (isalnum((unsigned char)p[n]))
		n++;
	for (int i = 0; i < NREGS; i++)
		for (int w = 0; w < 4; w++) {
			const char *nm = regs[i].name[w];

			if (nm && strlen(nm) == n && !memcmp(nm, p, n)) {
				a->reg = (int8_t)i;
				a->reg_bytes = (uint8_t)(8 >> w);
				a->reg_off = regs[i].off;
				*s = p + n;
				return 0;
			}
		}
	for (size_t i = 0; i < sizeof(unreadable) / sizeof(unreadable[0]); i++)
		if (strlen(unreadable[i]) == n && !memcmp(unreadable[i], p, n))
			return -EOPNOTSUPP;
	return -EINVAL;
}

/* A signed decimal or 0x-hex integer at *S, with overflow refused. */
static int parse_int(const char **s, int64_t *out)
{
	const char *p = *s;
	uint64_t v = 0, lim;
	int neg = 0, base = 10, digits = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && isxdigit((unsigned char)p[2])) {
		base = 16;
		p += 2;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (;; p++, digits++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && isxdigit((unsigned char)*p))
			d = tolower((unsigned char)*p) - 'a' + 10;
		else
			break;
		if (v > (lim - (uint64_t)d) / (uint64_t)base)
			return -EINVAL;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (!digits)
		return -EINVAL;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	*s = p;
	return 0;
}

static int is_sym_start(char c)
{
	return isalpha((unsigned char)c) || c == '_' || c == '.';
}

static int is_sym_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '$' || c == '@';
}

/* One argument at *S ("-4@%edi", "8@-8(%rbp)", "4@$5", "8@sym+8(%rip)"). */
static int parse_one(const char *spec, const char **s, struct sz_usdt_arg *a)
{
	const char *p = *s;
	int64_t size;
	int r;

	memset(a, 0, sizeof(*a));
	a->reg = -1;
	if (parse_int(&p, &size) || *p != '@')
		return -EINVAL;
	p++;
	if (size != 1 && size != 2 && size != 4 && size != 8 && size != -1 && size != -2 &&
	    size != -4 && size != -8)
		return -EINVAL;
	a->size = (uint8_t)(size < 0 ? -size : size);
	a->is_signed = size < 0;
	if (*p == '$') {
		p++;
		a->kind = SZ_USDT_ARG_CONST;
		if (parse_int(&p, &a->val))
			return -EINVAL;
	} else if (*p == '%') {
		p++;
		a->kind = SZ_USDT_ARG_REG;
		r = parse_reg(&p, a);
		if (r)
			return r;
		if (*p == ':')
			return -EOPNOTSUPP; /* a segment override, %fs:8 */
	} else {
		a->kind = SZ_USDT_ARG_MEM;
		if (is_sym_start(*p)) {
			const char *b = p;

			while (is_sym_char(*p))
				p++;
			if (p - b > 0xffff || b - spec > 0xffff)
				return -EINVAL;
			a->sym_off = (uint16_t)(b - spec);
			a->sym_len = (uint16_t)(p - b);
			if ((*p == '+' || *p == '-') && parse_int(&p, &a->val))
				return -EINVAL;
		} else if (*p != '(') {
			if (parse_int(&p, &a->val))
				return -EINVAL;
			if (*p == '+' && is_sym_start(p[1])) { /* 16+CheckpointStats(%rip) */
				const char *b = ++p;

				while (is_sym_char(*p))
					p++;
				if (p - b > 0xffff || b - spec > 0xffff)
					return -EINVAL;
				a->sym_off = (uint16_t)(b - spec);
				a->sym_len = (uint16_t)(p - b);
			}
		}
		if (*p++ != '(' || *p++ != '%')
			return -EINVAL;
		r = parse_reg(&p, a);
		if (r)
			return r;
		if (a->reg_bytes != 8)
			return -EOPNOTSUPP; /* 32-bit addressing */
		if (*p == ',')
			return -EOPNOTSUPP; /* an index register: bpf_usdt_arg has none */
		if (*p++ != ')')
			return -EINVAL;
	}
	if (*p && !isspace((unsigned char)*p))
		return -EINVAL;
	*s = p;
	return 0;
}

int sz_usdt_parse_args(const char *spec, struct sz_usdt_arg *args, int max, int *pos)
{
	const char *p = spec;
	int n = 0, r;

	if (pos)
		*pos = 0;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			return n;
		if (n >= max) {
			r = -E2BIG;
			break;
		}
		r = parse_one(spec, &p, &args[n]);
		if (r)
			break;
		n++;
	}
	if (pos)
		*pos = (int)(p - spec);
	return r;
}

__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t errlen, const char *fmt,
							 ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct collect {
	struct sz_usdt_set *set;
	const struct sz_elf *e;
	size_t bytes; /* pass 1: string bytes needed */
	char *next;   /* pass 2: where the next string goes */
};

static int count_note(const struct sz_usdt_note *n, void *ctx)
{
	struct collect *c = ctx;

	c->bytes += strlen(n->provider) + strlen(n->name) + strlen(n->spec) + 3;
	return 0;
}

static const char *keep(struct collect *c, const char *s)
{
	size_t l = strlen(s) + 1;
	char *d = c->next;

	memcpy(d, s, l);
	c->next += l;
	return d;
}

static int add_note(const struct sz_usdt_note *n, void *ctx)
{
	struct collect *c = ctx;
	struct sz_usdt_probe *p = &c->set->probes[c->set->n++];
	struct sz_layout l;
	int r;

	p->provider = keep(c, n->provider);
	p->name = keep(c, n->name);
	p->spec = keep(c, n->spec);
	p->note_pc = n->pc;
	p->base = n->base;
	p->sema = n->sema;
	/* Prelink moves the image but not the note: the distance .stapsdt.base
	 * moved is the distance the probe moved (systemtap, libbpf). */
	p->pc = c->set->has_base ? n->pc + (c->set->base_addr - n->base) : n->pc;
	sz_elf_layout(c->e, &l);
	if (sz_elf_vaddr_to_offset(&l, p->pc, &p->pc_offset))
		p->loc_err = -ENOENT;
	if (p->sema && sz_elf_vaddr_to_offset(&l, p->sema, &p->sema_offset))
		p->loc_err = -ENOENT;
	r = sz_usdt_parse_args(p->spec, p->args, SZ_USDT_MAX_ARGS, &p->args_pos);
	if (r < 0)
		p->args_err = r;
	else
		p->nargs = r;
	return 0;
}

int sz_usdt_read(const struct sz_elf *e, struct sz_usdt_set **out, char *err, size_t errlen)
{
	int native = e->ehdr.e_ident[EI_DATA] ==
		     (__BYTE_ORDER == __LITTLE_ENDIAN ? ELFDATA2LSB : ELFDATA2MSB);
	unsigned addr_size = e->ehdr.e_ident[EI_CLASS] == ELFCLASS32 ? 4 : 8;
	struct collect c = { 0 };
	struct sz_usdt_set *s;
	Elf_Data *notes = NULL;
	uint64_t notes_align = 0;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	int r;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (elf_getshdrstrndx(e->elf, &shstrndx))
		goto done; /* no section names: no notes we can find */
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (!name)
			continue;
		if (!strcmp(name, ".stapsdt.base") && !s->has_base) {
			s->has_base = 1;
			s->base_addr = sh.sh_addr;
		} else if (!strcmp(name, ".note.stapsdt") && sh.sh_type == SHT_NOTE && !notes) {
			if (sh.sh_size > SZ_NOTE_AREA_MAX || (sh.sh_flags & SHF_COMPRESSED)) {
				seterr(err, errlen, ".note.stapsdt: %s",
				       sh.sh_size > SZ_NOTE_AREA_MAX ? "larger than 16 MiB"
								     : "compressed");
				r = -EBADMSG;
				goto fail;
			}
			notes = elf_getdata(scn, NULL);
			notes_align = sh.sh_addralign;
			if (!notes || (!notes->d_buf && notes->d_size)) {
				seterr(err, errlen, ".note.stapsdt: unreadable");
				r = -EBADMSG;
				goto fail;
			}
		}
	}
	if (!notes || !notes->d_size)
		goto done;
	if (!native) {
		seterr(err, errlen, ".note.stapsdt: foreign byte order");
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	r = sz_usdt_parse_notes(notes->d_buf, notes->d_size, notes_align, addr_size, count_note,
				&c);
	if (r < 0) {
		seterr(err, errlen, ".note.stapsdt: %s",
		       r == -E2BIG    ? "more than 65536 probes"
		       : r == -EINVAL ? "bad alignment"
				      : "truncated or malformed note");
		goto fail;
	}
	if (r > 0) {
		s->probes = calloc((size_t)r, sizeof(*s->probes));
		s->strings = malloc(c.bytes);
		if (!s->probes || !s->strings) {
			r = -ENOMEM;
			goto fail;
		}
		c.set = s;
		c.e = e;
		c.next = s->strings;
		sz_usdt_parse_notes(notes->d_buf, notes->d_size, notes_align, addr_size, add_note,
				    &c);
	}
done:
	*out = s;
	return 0;
fail:
	sz_usdt_set_free(s);
	return r;
}

void sz_usdt_set_free(struct sz_usdt_set *s)
{
	if (!s)
		return;
	free(s->probes);
	free(s->strings);
	free(s);
}

int sz_usdt_pattern_compile(const char *spec, struct sz_usdt_pattern *p, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	char prov[SZ_GLOB_MAX_NAME + 1];
	const char *name = spec;
	int r;

	if (colon) {
		if ((size_t)(colon - spec) > SZ_GLOB_MAX_NAME) {
			seterr(err, errlen, "provider pattern too long");
			return -EINVAL;
		}
		memcpy(prov, spec, (size_t)(colon - spec));
		prov[colon - spec] = 0;
		name = colon + 1;
	} else {
		strcpy(prov, "*");
	}
	if (!*prov || !*name || strchr(name, ':')) {
		seterr(err, errlen, "expected PROVIDER:NAME, got '%s'", spec);
		return -EINVAL;
	}
	r = sz_glob_compile(prov, &p->provider);
	if (r) {
		seterr(err, errlen, "bad provider pattern '%s'", prov);
		return -EINVAL;
	}
	r = sz_glob_compile(name, &p->name);
	if (r) {
		seterr(err, errlen, "bad probe name pattern '%s'", name);
		return -EINVAL;
	}
	return 0;
}

int sz_usdt_pattern_match(const struct sz_usdt_pattern *p, const struct sz_usdt_probe *probe)
{
	return sz_glob_match(&p->provider, probe->provider, strlen(probe->provider)) &&
	       sz_glob_match(&p->name, probe->name, strlen(probe->name));
}
