// SPDX-License-Identifier: BSD-2-Clause
/*
 * The address index of one image: every function of .symtab and .dynsym sorted by
 * address, one preferred name per address, and for each entry the nearest earlier
 * entry that encloses it, so that an address inside a function that contains a nested
 * one (a local label typed as a function) still finds its function in O(depth).
 */
#include "sz_addr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NO_PARENT UINT32_MAX

struct ent {
	struct sz_addr_sym s;
	uint16_t shndx;
	uint32_t index;	 /* in its table: the last, stable tie-break */
	uint32_t parent; /* nearest earlier entry whose range holds this start */
};

struct sz_addr_index {
	struct ent *ent;
	size_t n;
};

struct collect {
	struct ent *v;
	size_t n, cap;
	int err;
};

static int collect_fn(const struct sz_elf_sym *s, void *ctx)
{
	struct collect *c = ctx;
	struct ent *e;

	if (s->type != STT_FUNC && s->type != STT_GNU_IFUNC)
		return 0;
	if (s->shndx >= SHN_LORESERVE && s->shndx != SHN_XINDEX)
		return 0; /* SHN_ABS, SHN_COMMON: no code there */
	if (c->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 1024;
		struct ent *nv = realloc(c->v, ncap * sizeof(*nv));

		if (!nv) {
			c->err = -ENOMEM;
			return 1;
		}
		c->v = nv;
		c->cap = ncap;
	}
	e = &c->v[c->n++];
	memset(e, 0, sizeof(*e));
	e->s.name = s->name;
	e->s.name_len = s->name_len;
	e->s.version = s->version;
	e->s.hidden = s->hidden;
	e->s.start = s->value;
	e->s.size = s->size;
	e->s.bind = s->bind;
	e->s.type = s->type;
	e->s.table = s->table;
	e->shndx = s->shndx;
	e->index = s->index;
	return 0;
}

static int bind_rank(unsigned char bind)
{
	switch (bind) {
	case STB_GLOBAL:
	case STB_GNU_UNIQUE:
		return 3;
	case STB_WEAK:
		return 2;
	case STB_LOCAL:
		return 1;
	}
	return 0;
}

static size_t underscores(const struct sz_addr_sym *s)
{
	size_t n = 0;

	while (n < s->name_len && s->name[n] == '_')
		n++;
	return n;
}

/* Address order; at one address the preferred name first (see sz_addr.h). */
static int ent_cmp(const void *pa, const void *pb)
{
	const struct ent *a = pa, *b = pb;
	size_t ua, ub, n;
	int r;

	if (a->s.start != b->s.start)
		return a->s.start < b->s.start ? -1 : 1;
	r = bind_rank(b->s.bind) - bind_rank(a->s.bind);
	if (r)
		return r;
	if (a->s.hidden != b->s.hidden)
		return a->s.hidden - b->s.hidden;
	ua = underscores(&a->s);
	ub = underscores(&b->s);
	if (ua != ub)
		return ua < ub ? -1 : 1;
	if (a->s.name_len != b->s.name_len)
		return a->s.name_len < b->s.name_len ? -1 : 1;
	n = a->s.name_len;
	r = memcmp(a->s.name, b->s.name, n);
	if (r)
		return r;
	if (!a->s.version != !b->s.version)
		return a->s.version ? 1 : -1;
	if (a->s.version && (r = strcmp(a->s.version, b->s.version)))
		return r;
	if (a->s.table != b->s.table)
		return a->s.table == SZ_TAB_DYNSYM ? -1 : 1;
	return a->index < b->index ? -1 : a->index > b->index;
}

/* End of the allocated section SHNDX if it holds START, else 0. */
static uint64_t section_end(const struct sz_elf *e, uint16_t shndx, uint64_t start)
{
	Elf_Scn *scn = elf_getscn(e->elf, shndx);
	GElf_Shdr sh;

	if (!scn || !gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC))
		return 0;
	if (start < sh.sh_addr || start - sh.sh_addr >= sh.sh_size)
		return 0;
	return sh.sh_addr + sh.sh_size < sh.sh_addr ? UINT64_MAX : sh.sh_addr + sh.sh_size;
}

int sz_addr_index_build(const struct sz_elf *e, struct sz_addr_index **out)
{
	struct collect c = { 0 };
	struct sz_addr_index *ix;
	uint32_t *stack = NULL;
	size_t n = 0, depth = 0;

	*out = NULL;
	if (sz_elf_for_each(e, SZ_TAB_DYNSYM, collect_fn, &c) ||
	    sz_elf_for_each(e, SZ_TAB_SYMTAB, collect_fn, &c) || c.err) {
		free(c.v);
		return c.err ? c.err : -EINVAL;
	}
	if (c.n > UINT32_MAX - 1) {
		free(c.v);
		return -E2BIG;
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), ent_cmp);
	/* One entry per address, the first of its group (the preferred name), covering
	 * the largest size among its aliases. */
	for (size_t i = 0; i < c.n;) {
		size_t j = i + 1;
		uint64_t size = c.v[i].s.size;

		for (; j < c.n && c.v[j].s.start == c.v[i].s.start; j++)
			if (c.v[j].s.size > size)
				size = c.v[j].s.size;
		c.v[n] = c.v[i];
		c.v[n].s.size = size;
		n++;
		i = j;
	}
	if (n)
		stack = malloc(n * sizeof(*stack));
	if (n && !stack) {
		free(c.v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct ent *x = &c.v[i];
		uint64_t next = i + 1 < n ? c.v[i + 1].s.start : UINT64_MAX;

		if (x->s.size) {
			x->s.end = x->s.start + x->s.size;
			if (x->s.end < x->s.start) /* a lying size: to the top */
				x->s.end = UINT64_MAX;
		} else {
			/* Zero size (hand-written assembly): up to the next function, not
			 * past its section; with no section known, only its first byte. */
			uint64_t send = section_end(e, x->shndx, x->s.start);

			if (!send)
				send = x->s.start + 1;
			x->s.end = next < send ? next : send;
		}
		/* A section end that wraps, a symbol at the very top: at least its byte. */
		if (x->s.end <= x->s.start)
			x->s.end = x->s.start == UINT64_MAX ? UINT64_MAX : x->s.start + 1;
		while (depth && c.v[stack[depth - 1]].s.end <= x->s.start)
			depth--;
		x->parent = depth ? stack[depth - 1] : NO_PARENT;
		stack[depth++] = (uint32_t)i;
	}
	free(stack);
	ix = calloc(1, sizeof(*ix));
	if (!ix) {
		free(c.v);
		return -ENOMEM;
	}
	if (n && n < c.cap) {
		struct ent *shrunk = realloc(c.v, n * sizeof(*shrunk));

		if (shrunk)
			c.v = shrunk;
	}
	ix->ent = c.v;
	ix->n = n;
	*out = ix;
	return 0;
}

void sz_addr_index_free(struct sz_addr_index *ix)
{
	if (!ix)
		return;
	free(ix->ent);
	free(ix);
}

size_t sz_addr_index_count(const struct sz_addr_index *ix)
{
	return ix ? ix->n : 0;
}

int sz_addr_index_entry(const struct sz_addr_index *ix, size_t i, struct sz_addr_sym *out)
{
	if (!ix || i >= ix->n)
		return -ENOENT;
	*out = ix->ent[i].s;
	return 0;
}

int sz_addr_index_lookup(const struct sz_addr_index *ix, uint64_t vaddr, struct sz_addr_sym *out)
{
	size_t lo = 0, hi = ix ? ix->n : 0;
	uint32_t i;

	/* The last entry that starts at or before VADDR. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix->ent[mid].s.start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -ENOENT;
	i = (uint32_t)(lo - 1);
	/* Past its end: an enclosing entry may still hold VADDR. */
	while (i != NO_PARENT && vaddr >= ix->ent[i].s.end)
		i = ix->ent[i].parent;
	if (i == NO_PARENT)
		return -ENOENT;
	*out = ix->ent[i].s;
	return 0;
}

const char *sz_sym_source_str(enum sz_sym_source s)
{
	switch (s) {
	case SZ_SRC_SYMTAB:
		return "symtab";
	case SZ_SRC_DYNSYM:
		return "dynsym";
	case SZ_SRC_DEBUGLINK:
		return "debuglink";
	case SZ_SRC_BUILD_ID:
		return "build-id";
	case SZ_SRC_MINIDEBUG:
		return "minidebuginfo";
	case SZ_SRC_NONE:
		break;
	}
	return "none";
}
