// SPDX-License-Identifier: BSD-2-Clause
/*
 * Symbol selection by glob over both symbol tables, with the rule that makes
 * an unstripped file's .symtab copy of a .dynsym symbol the same symbol (the
 * one `symbolyze list` showed first; the pipeline's -s GLOB uses it as is).
 */
#include "elf/symsel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sz_sym_is_pattern(const char *text)
{
	return strpbrk(text, "*?[\\") != NULL;
}

int sz_sympat_compile(const char *text, struct sz_sympat *out)
{
	out->text = text;
	out->versioned = strchr(text, '@') != NULL;
	return sz_glob_compile(text, &out->glob);
}

struct ctx {
	struct sz_selsyms *out;
	const struct sz_sympat *pats;
	size_t npats;
	uint64_t *hits;
	struct sz_layout layout;
	int err;
};

static int pat_matches(const struct sz_sympat *p, const struct sz_elf_sym *s, uint64_t *too_long)
{
	char full[SZ_GLOB_MAX_NAME + 1];
	const char *subj = s->name;
	size_t len = s->name_len;

	if (p->versioned) {
		int n = snprintf(full, sizeof(full), "%.*s%s%s", (int)s->name_len, s->name,
				 s->version ? (s->hidden ? "@" : "@@") : "",
				 s->version ? s->version : "");

		if (n < 0 || (size_t)n >= sizeof(full)) {
			(*too_long)++;
			return 0;
		}
		subj = full;
		len = (size_t)n;
	}
	if (len > SZ_GLOB_MAX_NAME) {
		/* The shared matcher bounds its subject (it runs in BPF too):
		 * counted, so a pattern never misses names silently. */
		(*too_long)++;
		return 0;
	}
	return sz_glob_match(&p->glob, subj, len);
}

static int wanted(struct ctx *c, const struct sz_elf_sym *s)
{
	uint64_t too_long = 0;
	int any = 0;

	if (!c->npats)
		return 1;
	for (size_t i = 0; i < c->npats; i++) {
		if (!pat_matches(&c->pats[i], s, &too_long))
			continue;
		any = 1;
		if (!c->hits)
			break;
		c->hits[i]++;
	}
	/* A name too long for every pattern is counted once. */
	if (!any && too_long)
		c->out->too_long++;
	return any;
}

static int collect(const struct sz_elf_sym *s, void *ctx)
{
	struct ctx *c = ctx;
	struct sz_selsyms *o = c->out;
	struct sz_selsym *e;

	if (s->type != STT_FUNC && s->type != STT_GNU_IFUNC && s->type != STT_OBJECT)
		return 0;
	if (!wanted(c, s))
		return 0;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 256;
		struct sz_selsym *v = realloc(o->v, cap * sizeof(*v));

		if (!v) {
			c->err = -ENOMEM;
			return 1;
		}
		o->v = v;
		o->cap = cap;
	}
	e = &o->v[o->n];
	e->name = strndup(s->name, s->name_len);
	if (!e->name) {
		c->err = -ENOMEM;
		return 1;
	}
	o->n++;
	e->version = s->version;
	e->hidden = s->hidden;
	e->value = s->value;
	e->size = s->size;
	e->type = s->type;
	e->bind = s->bind;
	e->table = s->table;
	e->has_off = !sz_elf_vaddr_to_offset(&c->layout, s->value, &e->off);
	return 0;
}

static int cmp_sel(const void *a, const void *b)
{
	const struct sz_selsym *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	if (x->table != y->table)
		return x->table - y->table; /* .dynsym first: it is what the loader sees */
	return strcmp(x->version ? x->version : "", y->version ? y->version : "");
}

/* Y repeats X: the same name and value, and Y comes from .symtab, which in an
 * unstripped file repeats .dynsym (without the version) or itself. */
static int repeats(const struct sz_selsym *x, const struct sz_selsym *y)
{
	return !strcmp(x->name, y->name) && x->value == y->value && y->table == SZ_TAB_SYMTAB &&
	       (x->table == SZ_TAB_DYNSYM ||
		!strcmp(x->version ? x->version : "", y->version ? y->version : ""));
}

int sz_symsel(const struct sz_elf *e, const struct sz_sympat *pats, size_t npats,
	      struct sz_selsyms *out,
	      uint64_t *hits) /* NOLINT(readability-non-const-parameter): written via ctx */
{
	struct ctx c = { .out = out, .pats = pats, .npats = npats, .hits = hits };
	size_t j = 0;

	memset(out, 0, sizeof(*out));
	sz_elf_layout(e, &c.layout);
	sz_elf_for_each(e, SZ_TAB_DYNSYM, collect, &c);
	if (!c.err)
		sz_elf_for_each(e, SZ_TAB_SYMTAB, collect, &c);
	if (c.err)
		return c.err;
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_sel);
	/* A symbol in both tables (an unstripped library) is one symbol: FIRST
	 * is where this run of one name and value began. */
	for (size_t i = 0, first = 0; i < out->n; i++) {
		struct sz_selsym *s = &out->v[i];

		if (!i || strcmp(out->v[first].name, s->name) || out->v[first].value != s->value) {
			first = j;
		} else if (repeats(&out->v[first], s) || repeats(&out->v[j - 1], s)) {
			free(s->name);
			continue;
		}
		out->v[j++] = *s;
	}
	out->n = j;
	return 0;
}

void sz_selsyms_free(struct sz_selsyms *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
