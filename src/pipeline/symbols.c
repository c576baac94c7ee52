// SPDX-License-Identifier: BSD-2-Clause
/*
 * -s requests resolved per file, and the registry of symbol ids.  Exact names
 * keep their meaning (dlsym's choice of version; a miss is a problem per
 * file); a glob selects with the same code as `symbolyze list`, then the
 * symbols of one address become one entry under the preferred name (the rule
 * of the address index, src/elf/addr.c: global over weak over local, the
 * default version, fewer leading underscores, the shorter name) with the
 * others listed, so a function is probed once.
 */
#include "pipeline/symbols.h"
#include "elf/symsel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct req {
	char *text;
	int glob;
	uint32_t id; /* exact names: their id, given up front */
	struct sz_sympat pat;
};

struct regent {
	struct regent *next;
	uint32_t id;
	char name[];
};

struct sz_symbols {
	struct req *req;
	size_t nreq, nexact, nglob;
	struct sz_sympat *pats; /* the globs, for sz_symsel */
	size_t *pat_req;	/* glob k is request pat_req[k] */
	/* registry: name -> id, id -> name */
	struct regent **bucket;
	size_t nbuckets;
	struct regent **byid;
	char **namev; /* byid[i]->name, as an array (readers of BPF tables take one) */
	size_t nids, capids, max_ids;
	uint64_t overflow;
};

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int reg_grow(struct sz_symbols *s)
{
	size_t n = s->nbuckets ? s->nbuckets * 2 : 256;
	struct regent **nb = calloc(n, sizeof(struct regent *));

	if (!nb)
		return -ENOMEM;
	for (size_t i = 0; i < s->nids; i++) {
		struct regent *r = s->byid[i];
		size_t b = hash_name(r->name) & (n - 1);

		r->next = nb[b];
		nb[b] = r;
	}
	free(s->bucket);
	s->bucket = nb;
	s->nbuckets = n;
	return 0;
}

/* The id of NAME, given now if new: 0, -ENOSPC (the registry is full:
 * counted) or -ENOMEM. */
static int reg_id(struct sz_symbols *s, const char *name, int bounded, uint32_t *id)
{
	size_t len = strlen(name);
	struct regent *r;

	if (s->nbuckets)
		for (r = s->bucket[hash_name(name) & (s->nbuckets - 1)]; r; r = r->next)
			if (!strcmp(r->name, name)) {
				*id = r->id;
				return 0;
			}
	if (bounded && s->nids >= s->max_ids) {
		s->overflow++;
		return -ENOSPC;
	}
	if (s->nids == s->capids) {
		size_t cap = s->capids ? 2 * s->capids : 64;
		struct regent **v = realloc(s->byid, cap * sizeof(struct regent *));
		char **nv;

		if (!v)
			return -ENOMEM;
		s->byid = v;
		nv = realloc(s->namev, cap * sizeof(char *));
		if (!nv)
			return -ENOMEM;
		s->namev = nv;
		s->capids = cap;
	}
	if (s->nids >= s->nbuckets && reg_grow(s))
		return -ENOMEM;
	r = malloc(sizeof(*r) + len + 1);
	if (!r)
		return -ENOMEM;
	memcpy(r->name, name, len + 1);
	r->id = (uint32_t)s->nids;
	s->namev[s->nids] = r->name;
	s->byid[s->nids++] = r;
	r->next = s->bucket[hash_name(name) & (s->nbuckets - 1)];
	s->bucket[hash_name(name) & (s->nbuckets - 1)] = r;
	*id = r->id;
	return 0;
}

int sz_symbols_new(const char *const *reqs, size_t n, struct sz_symbols **out, size_t *bad)
{
	struct sz_symbols *s = calloc(1, sizeof(*s));
	int err = -ENOMEM;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->req = calloc(n ? n : 1, sizeof(*s->req));
	s->pats = calloc(n ? n : 1, sizeof(*s->pats));
	s->pat_req = calloc(n ? n : 1, sizeof(*s->pat_req));
	if (!s->req || !s->pats || !s->pat_req)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct req *r = &s->req[s->nreq];
		int dup = 0;

		/* The same request twice is one request (one entry, one probe). */
		for (size_t k = 0; k < s->nreq && !dup; k++)
			dup = !strcmp(s->req[k].text, reqs[i]);
		if (dup)
			continue;
		r->text = strdup(reqs[i]);
		if (!r->text)
			goto fail;
		s->nreq++;
		/* name@VERSION stays exact, as it always was. */
		r->glob = sz_sym_is_pattern(r->text) && !strchr(r->text, '@');
		if (r->glob) {
			err = sz_sympat_compile(r->text, &r->pat);
			if (err) {
				if (bad)
					*bad = i;
				goto fail;
			}
			s->pats[s->nglob] = r->pat;
			s->pat_req[s->nglob++] = s->nreq - 1;
		} else {
			err = reg_id(s, r->text, 0, &r->id);
			if (err)
				goto fail;
			s->nexact++;
		}
	}
	s->max_ids = SZ_SYMIDS_MAX;
	*out = s;
	return 0;
fail:
	sz_symbols_free(s);
	return err;
}

void sz_symbols_free(struct sz_symbols *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nreq; i++)
		free(s->req[i].text);
	for (size_t i = 0; i < s->nids; i++)
		free(s->byid[i]);
	free(s->byid);
	free(s->namev);
	free(s->bucket);
	free(s->req);
	free(s->pats);
	free(s->pat_req);
	free(s);
}

void sz_symbols_set_max_ids(struct sz_symbols *s, size_t max)
{
	if (!max || max > SZ_SYMIDS_MAX)
		max = SZ_SYMIDS_MAX;
	s->max_ids = max < s->nexact ? s->nexact : max;
}

size_t sz_symbols_max_ids(const struct sz_symbols *s)
{
	return s->max_ids;
}

int sz_symbols_has_glob(const struct sz_symbols *s)
{
	return s->nglob > 0;
}

size_t sz_symbols_nexact(const struct sz_symbols *s)
{
	return s->nexact;
}

size_t sz_symbols_ids(const struct sz_symbols *s)
{
	return s->nids;
}

const char *sz_symbols_name(const struct sz_symbols *s, uint32_t id)
{
	return id < s->nids ? s->byid[id]->name : NULL;
}

char *const *sz_symbols_names(const struct sz_symbols *s)
{
	return s->namev;
}

uint64_t sz_symbols_id_overflow(const struct sz_symbols *s)
{
	return s->overflow;
}

void sz_fsyms_free(struct sz_fsyms *f)
{
	for (size_t i = 0; i < f->n; i++) {
		struct sz_fsym *e = &f->v[i];

		free(e->name);
		free(e->version);
		for (size_t k = 0; k < e->naliases; k++)
			free(e->aliases[k]);
		free(e->aliases);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static int bind_rank(unsigned char bind)
{
	return bind == STB_GLOBAL || bind == STB_GNU_UNIQUE ? 3 : bind == STB_WEAK ? 2 : 1;
}

static size_t underscores(const char *n)
{
	size_t k = 0;

	while (n[k] == '_')
		k++;
	return k;
}

/* By address (objects apart from code), the preferred name first. */
static int cmp_pref(const void *pa, const void *pb)
{
	const struct sz_selsym *a = *(const struct sz_selsym *const *)pa;
	const struct sz_selsym *b = *(const struct sz_selsym *const *)pb;
	int oa = a->type == STT_OBJECT, ob = b->type == STT_OBJECT, r;
	size_t la, lb;

	if (oa != ob)
		return oa - ob;
	if (a->value != b->value)
		return a->value < b->value ? -1 : 1;
	r = bind_rank(b->bind) - bind_rank(a->bind);
	if (r)
		return r;
	if ((a->version && a->hidden) != (b->version && b->hidden))
		return (a->version && a->hidden) ? 1 : -1;
	la = underscores(a->name);
	lb = underscores(b->name);
	if (la != lb)
		return la < lb ? -1 : 1;
	la = strlen(a->name);
	lb = strlen(b->name);
	if (la != lb)
		return la < lb ? -1 : 1;
	r = strcmp(a->name, b->name);
	if (r)
		return r;
	return a->table - b->table;
}

static int same_group(const struct sz_selsym *a, const struct sz_selsym *b)
{
	return a->value == b->value && (a->type == STT_OBJECT) == (b->type == STT_OBJECT);
}

/* "name", or "name@VER" for a hidden (non-default) version: what -s takes. */
static char *display(const struct sz_selsym *s)
{
	char *out;

	if (!s->version || !s->hidden)
		return strdup(s->name);
	if (asprintf(&out, "%s@%s", s->name, s->version) < 0)
		return NULL;
	return out;
}

static int add_alias(struct sz_fsym *e, const struct sz_selsym *s, const char *base)
{
	char *d = display(s), **v;

	if (!d)
		return -ENOMEM;
	if (!strcmp(d, e->name) || (base && !strcmp(d, base))) {
		free(d);
		return 0;
	}
	for (size_t k = 0; k < e->naliases; k++)
		if (!strcmp(e->aliases[k], d)) {
			free(d);
			return 0;
		}
	v = realloc(e->aliases, (e->naliases + 1) * sizeof(*v));
	if (!v) {
		free(d);
		return -ENOMEM;
	}
	e->aliases = v;
	e->aliases[e->naliases++] = d;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct sz_fsym *)a)->name, ((const struct sz_fsym *)b)->name);
}

static int add_exact(struct sz_symbols *s, const struct sz_elf *e, const struct sz_layout *l,
		     const struct req *r, struct sz_fsym *f)
{
	struct sz_elf_sym sym;

	f->name = strdup(r->text);
	if (!f->name)
		return -ENOMEM;
	f->id = r->id;
	f->err = sz_elf_lookup(e, r->text, 0, &sym);
	if (f->err)
		return 0;
	if (sym.version && !(f->version = strdup(sym.version)))
		return -ENOMEM;
	f->type = sym.type;
	f->value = sym.value;
	f->size = sym.size;
	f->has_off = !sz_elf_vaddr_to_offset(l, sym.value, &f->off);
	return 0;
}

/* The globs' matches, one entry per address, appended to OUT after the
 * NEXACT exact names. */
static int add_globs(struct sz_symbols *s, const struct sz_elf *e, struct sz_fsyms *out,
		     size_t nexact)
{
	struct sz_selsyms sel;
	const struct sz_selsym **idx = NULL;
	uint64_t *hits = calloc(s->nglob, sizeof(*hits));
	size_t base = out->n;
	int err;

	if (!hits)
		return -ENOMEM;
	err = sz_symsel(e, s->pats, s->nglob, &sel, hits);
	out->too_long = sel.too_long;
	if (!err && sel.n && !(idx = malloc(sel.n * sizeof(const struct sz_selsym *))))
		err = -ENOMEM;
	if (!err) {
		/* Room for one entry per match and one per glob, at most. */
		struct sz_fsym *v = realloc(out->v, (out->n + sel.n + s->nglob) * sizeof(*v));

		if (v)
			out->v = v;
		else
			err = -ENOMEM;
	}
	if (err)
		goto out;
	for (size_t i = 0; i < sel.n; i++)
		idx[i] = &sel.v[i];
	if (sel.n)
		qsort(idx, sel.n, sizeof(const struct sz_selsym *), cmp_pref);
	for (size_t i = 0, end; i < sel.n && !err; i = end) {
		const struct sz_selsym *p = idx[i];
		struct sz_fsym *f = NULL;

		for (end = i + 1; end < sel.n && same_group(p, idx[end]); end++)
			;
		/* An address an exact name took: its names are that entry's aliases. */
		for (size_t k = 0; k < nexact && !f; k++)
			if (!out->v[k].err && out->v[k].value == p->value &&
			    (out->v[k].type == STT_OBJECT) == (p->type == STT_OBJECT))
				f = &out->v[k];
		if (f) {
			const char *at = strchr(f->name, '@');
			char base_name[512];

			snprintf(base_name, sizeof(base_name), "%.*s",
				 (int)(at ? (size_t)(at - f->name) : strlen(f->name)), f->name);
			for (size_t k = i; k < end && !err; k++)
				err = add_alias(f, idx[k], base_name);
			continue;
		}
		f = &out->v[out->n++];
		memset(f, 0, sizeof(*f));
		f->id = SZ_SYMID_NONE;
		f->glob = 1;
		f->name = display(p);
		if (!f->name || (p->version && !(f->version = strdup(p->version)))) {
			err = -ENOMEM;
			break;
		}
		f->type = p->type;
		f->value = p->value;
		f->size = p->size;
		f->has_off = p->has_off;
		f->off = p->off;
		for (size_t k = i + 1; k < end && !err; k++)
			err = add_alias(f, idx[k], NULL);
		if (!err && p->type == STT_FUNC && p->has_off) {
			err = reg_id(s, f->name, 1, &f->id);
			if (err == -ENOSPC) {
				f->id_full = 1;
				err = 0;
			}
		}
	}
	if (!err && out->n > base)
		qsort(out->v + base, out->n - base, sizeof(*out->v), cmp_name);
	/* A glob that matched nothing here is said so, as an absent name is. */
	for (size_t k = 0; k < s->nglob && !err; k++) {
		struct sz_fsym *f;

		if (hits[k])
			continue;
		f = &out->v[out->n++];
		memset(f, 0, sizeof(*f));
		f->id = SZ_SYMID_NONE;
		f->glob = 1;
		f->err = -ENOENT;
		f->name = strdup(s->req[s->pat_req[k]].text);
		if (!f->name)
			err = -ENOMEM;
	}
out:
	free(idx);
	free(hits);
	sz_selsyms_free(&sel);
	return err;
}

int sz_symbols_resolve(struct sz_symbols *s, const struct sz_elf *e, const struct sz_layout *l,
		       struct sz_fsyms *out)
{
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->v = calloc(s->nexact ? s->nexact : 1, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	for (size_t i = 0; i < s->nreq && !err; i++) {
		if (s->req[i].glob)
			continue;
		err = add_exact(s, e, l, &s->req[i], &out->v[out->n]);
		out->n++;
	}
	if (!err && s->nglob)
		err = add_globs(s, e, out, out->n);
	if (err)
		sz_fsyms_free(out);
	return err;
}
