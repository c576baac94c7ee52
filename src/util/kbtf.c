// SPDX-License-Identifier: BSD-2-Clause
/*
 * The minimal kernel BTF (kbtf.h): the CO-RE roots of our eBPF objects, and a
 * BTF of just those kernel types and what they embed, from one pass over the
 * kernel's.  Pure and bounded: every offset and count is checked against the
 * buffer it indexes (the input is the kernel's, but it is fuzzed all the same).
 */
#include <elf.h>
#include <errno.h>
#include <linux/btf.h>
#include <stdlib.h>
#include <string.h>

#include "util/kbtf.h"

/* ---- reading BTF ---- */

struct bt {
	const unsigned char *types;
	size_t tlen;
	const char *strs;
	size_t slen;
	uint32_t *off; /* off[id]: where type ID starts in types; id 0 is void */
	uint32_t n;    /* ids 0 .. n-1 */
};

static uint32_t rd32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void wr32(void *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* A type's fixed part, read wherever it lies. */
static void type_at(const struct bt *b, uint32_t id, struct btf_type *t)
{
	memcpy(t, b->types + b->off[id], sizeof(*t));
}

/* The bytes after the fixed part, by kind; -1 for a kind we do not know
 * (a newer kernel's: then we do not guess at its layout). */
static long extra_size(uint32_t kind, uint32_t vlen)
{
	switch (kind) {
	case BTF_KIND_INT:
	case BTF_KIND_VAR:
	case BTF_KIND_DECL_TAG:
		return 4;
	case BTF_KIND_PTR:
	case BTF_KIND_FWD:
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_FUNC:
	case BTF_KIND_FLOAT:
	case BTF_KIND_TYPE_TAG:
		return 0;
	case BTF_KIND_ARRAY:
		return (long)sizeof(struct btf_array);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		return (long)vlen * (long)sizeof(struct btf_member);
	case BTF_KIND_ENUM:
		return (long)vlen * (long)sizeof(struct btf_enum);
	case BTF_KIND_FUNC_PROTO:
		return (long)vlen * (long)sizeof(struct btf_param);
	case BTF_KIND_DATASEC:
		return (long)vlen * (long)sizeof(struct btf_var_secinfo);
	case BTF_KIND_ENUM64:
		return (long)vlen * (long)sizeof(struct btf_enum64);
	default:
		return -1;
	}
}

/* A name at string offset OFF, or NULL when OFF is outside the strings. */
static const char *str_at(const struct bt *b, uint32_t off)
{
	return off < b->slen ? b->strs + off : NULL;
}

static void bt_close(struct bt *b)
{
	free(b->off);
	b->off = NULL;
}

static int bt_open(struct bt *b, const void *buf, size_t len)
{
	struct btf_header h;
	size_t pos, cap;

	memset(b, 0, sizeof(*b));
	if (len < sizeof(h))
		return -EPROTO;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != BTF_MAGIC || h.version != BTF_VERSION || h.hdr_len < sizeof(h) ||
	    h.hdr_len > len)
		return -EPROTO;
	len -= h.hdr_len;
	if (h.type_off > len || h.type_len > len - h.type_off || h.str_off > len ||
	    h.str_len > len - h.str_off || h.str_len == 0)
		return -EPROTO;
	b->types = (const unsigned char *)buf + h.hdr_len + h.type_off;
	b->tlen = h.type_len;
	b->strs = (const char *)buf + h.hdr_len + h.str_off;
	b->slen = h.str_len;
	if (b->strs[b->slen - 1] != '\0') /* then every name ends inside */
		return -EPROTO;
	cap = b->tlen / sizeof(struct btf_type) + 1;
	b->off = malloc(cap * sizeof(*b->off));
	if (!b->off)
		return -ENOMEM;
	b->n = 1;
	for (pos = 0; pos < b->tlen;) {
		struct btf_type t;
		long extra;

		if (b->tlen - pos < sizeof(t) || b->n >= cap)
			goto bad;
		memcpy(&t, b->types + pos, sizeof(t));
		extra = extra_size(BTF_INFO_KIND(t.info), BTF_INFO_VLEN(t.info));
		if (extra < 0 || (size_t)extra > b->tlen - pos - sizeof(t))
			goto bad;
		b->off[b->n++] = (uint32_t)pos;
		pos += sizeof(t) + (size_t)extra;
	}
	return 0;
bad:
	bt_close(b);
	return -EPROTO;
}

/* libbpf's "essential" name length: up to a ___flavor suffix (X___Y, X and
 * Y not underscores), which CO-RE ignores when it matches names. */
static size_t essential_len(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = n >= 5 ? n - 4 : 0; i-- > 0;) {
		const char *s = name + i;

		if (s[0] != '_' && s[1] == '_' && s[2] == '_' && s[3] == '_' && s[4] != '_')
			return i + 1;
	}
	return n;
}

/* ---- the CO-RE roots of an eBPF object ---- */

struct sect {
	const unsigned char *p;
	size_t len;
};

/* Sections .BTF and .BTF.ext of a little-endian ELF64 image. */
static int elf_btf(const unsigned char *img, size_t size, struct sect *btf, struct sect *ext)
{
	Elf64_Ehdr eh;
	Elf64_Shdr strsh;

	if (size < sizeof(eh))
		return -EPROTO;
	memcpy(&eh, img, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_shentsize < sizeof(Elf64_Shdr) ||
	    eh.e_shoff > size || eh.e_shnum > (size - eh.e_shoff) / eh.e_shentsize ||
	    eh.e_shstrndx >= eh.e_shnum)
		return -EPROTO;
	memcpy(&strsh, img + eh.e_shoff + (size_t)eh.e_shstrndx * eh.e_shentsize, sizeof(strsh));
	if (strsh.sh_offset > size || strsh.sh_size > size - strsh.sh_offset)
		return -EPROTO;
	memset(btf, 0, sizeof(*btf));
	memset(ext, 0, sizeof(*ext));
	for (size_t i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;
		const char *name;
		size_t room;

		memcpy(&sh, img + eh.e_shoff + i * eh.e_shentsize, sizeof(sh));
		if (sh.sh_name >= strsh.sh_size || sh.sh_type == SHT_NOBITS)
			continue;
		name = (const char *)img + strsh.sh_offset + sh.sh_name;
		room = strsh.sh_size - sh.sh_name;
		if (sh.sh_offset > size || sh.sh_size > size - sh.sh_offset)
			continue;
		if (room > 4 && !memcmp(name, ".BTF", 5)) {
			btf->p = img + sh.sh_offset;
			btf->len = sh.sh_size;
		} else if (room > 8 && !memcmp(name, ".BTF.ext", 9)) {
			ext->p = img + sh.sh_offset;
			ext->len = sh.sh_size;
		}
	}
	return btf->p ? 0 : -EPROTO;
}

static int add_root(struct sz_kbtf_root *roots, size_t *n, size_t max, uint32_t kind,
		    const char *name, size_t len)
{
	if (!len || len >= sizeof(roots[0].name))
		return len ? -E2BIG : 0; /* anonymous: libbpf relocates nothing against it */
	for (size_t i = 0; i < *n; i++)
		if (roots[i].kind == kind && !strncmp(roots[i].name, name, len) &&
		    !roots[i].name[len])
			return 0;
	if (*n >= max)
		return -E2BIG;
	roots[*n].kind = kind;
	memcpy(roots[*n].name, name, len);
	roots[*n].name[len] = '\0';
	(*n)++;
	return 0;
}

/* struct bpf_core_relo's layout (libbpf's .BTF.ext format, in the kernel's
 * uapi since 5.17): the root type is the second word, the kind the fourth. */
#define RELO_TYPE_ID 4
#define RELO_KIND 12
#define RELO_MIN 16
#define RELO_TYPE_ID_LOCAL 6 /* BPF_CORE_TYPE_ID_LOCAL: needs no kernel type */

int sz_kbtf_roots(const void *elf, size_t size, struct sz_kbtf_root *roots, size_t *n,
		  size_t max)
{
	struct sect btf, ext;
	struct bt b;
	uint32_t hdr_len, co, cl, rec;
	size_t pos, end;
	int err;

	err = elf_btf(elf, size, &btf, &ext);
	if (err)
		return err;
	if (!ext.p)
		return 0; /* no .BTF.ext: no relocations */
	/* struct btf_ext_header: u16 magic, u8 version, u8 flags, u32 hdr_len,
	 * then offset/length pairs: func info, line info, CO-RE relocations */
	if (ext.len < 8 || (ext.p[0] | ext.p[1] << 8) != BTF_MAGIC)
		return -EPROTO;
	hdr_len = rd32(ext.p + 4);
	if (hdr_len < 8 || hdr_len > ext.len)
		return -EPROTO;
	if (hdr_len < 32)
		return 0; /* a header without CO-RE relocations */
	co = rd32(ext.p + 24);
	cl = rd32(ext.p + 28);
	if (!cl)
		return 0;
	if (co > ext.len - hdr_len || cl > ext.len - hdr_len - co || cl < 4)
		return -EPROTO;
	err = bt_open(&b, btf.p, btf.len);
	if (err)
		return err;
	pos = hdr_len + co;
	end = pos + cl;
	rec = rd32(ext.p + pos);
	pos += 4;
	if (rec < RELO_MIN || rec > 1024)
		goto bad;
	while (pos < end) {
		uint32_t nrec;

		if (end - pos < 8)
			goto bad;
		nrec = rd32(ext.p + pos + 4);
		pos += 8;
		if (nrec > (end - pos) / rec)
			goto bad;
		for (uint32_t i = 0; i < nrec; i++, pos += rec) {
			uint32_t id = rd32(ext.p + pos + RELO_TYPE_ID);
			struct btf_type t;
			const char *name;

			if (rd32(ext.p + pos + RELO_KIND) == RELO_TYPE_ID_LOCAL)
				continue;
			if (id == 0 || id >= b.n)
				goto bad;
			type_at(&b, id, &t);
			name = str_at(&b, t.name_off);
			if (!name)
				goto bad;
			err = add_root(roots, n, max, BTF_INFO_KIND(t.info), name,
				       essential_len(name));
			if (err)
				goto out;
		}
	}
	err = 0;
	goto out;
bad:
	err = -EPROTO;
out:
	bt_close(&b);
	return err;
}

/* ---- the minimal BTF ---- */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static int buf_put(struct buf *o, const void *p, size_t len)
{
	if (len > o->cap - o->len) {
		size_t cap = o->cap ? o->cap : 4096;
		void *np;

		while (len > cap - o->len) {
			if (cap > (1u << 30))
				return -E2BIG;
			cap *= 2;
		}
		np = realloc(o->p, cap);
		if (!np)
			return -ENOMEM;
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, p, len);
	o->len += len;
	return 0;
}

/* A string of B appended to STRS; its new offset in *OFF (0 stays 0). */
static int put_str(struct buf *strs, const struct bt *b, uint32_t old, uint32_t *off)
{
	const char *s = str_at(b, old);

	if (!old || !s || !*s) {
		*off = 0;
		return s ? 0 : -EPROTO;
	}
	if (strs->len > UINT32_MAX)
		return -E2BIG;
	*off = (uint32_t)strs->len;
	return buf_put(strs, s, strlen(s) + 1);
}

/* The types a type embeds (its size and layout depend on them); a pointer's
 * target is not embedded: pointers become void *.  Calls VISIT on each. */
static int each_embedded(const struct bt *b, uint32_t id, int (*visit)(void *, uint32_t),
			 void *ctx)
{
	const unsigned char *x = b->types + b->off[id] + sizeof(struct btf_type);
	struct btf_type t;
	uint32_t vlen;
	int err = 0;

	type_at(b, id, &t);
	vlen = BTF_INFO_VLEN(t.info);
	switch (BTF_INFO_KIND(t.info)) {
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		for (uint32_t i = 0; !err && i < vlen; i++)
			err = visit(ctx, rd32(x + i * sizeof(struct btf_member) + 4));
		return err;
	case BTF_KIND_ARRAY:
		err = visit(ctx, rd32(x));
		return err ? err : visit(ctx, rd32(x + 4));
	case BTF_KIND_FUNC_PROTO:
		err = visit(ctx, t.type);
		for (uint32_t i = 0; !err && i < vlen; i++)
			err = visit(ctx, rd32(x + i * sizeof(struct btf_param) + 4));
		return err;
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
		return visit(ctx, t.type);
	default: /* INT, ENUM, ENUM64, FLOAT, FWD: leaves; PTR: see above */
		return 0;
	}
}

struct mark {
	const struct bt *b;
	unsigned char *on;
	uint32_t *stack;
	uint32_t depth;
};

static int mark_one(void *ctx, uint32_t id)
{
	struct mark *m = ctx;
	struct btf_type t;

	if (id >= m->b->n)
		return -EPROTO;
	if (!id || m->on[id])
		return 0;
	type_at(m->b, id, &t);
	switch (BTF_INFO_KIND(t.info)) {
	case BTF_KIND_FUNC:
	case BTF_KIND_VAR:
	case BTF_KIND_DATASEC:
	case BTF_KIND_DECL_TAG:
		return -EPROTO; /* no member, element or typedef is one of these */
	}
	m->on[id] = 1;
	m->stack[m->depth++] = id; /* each id at most once: n entries suffice */
	return 0;
}

/* Copies type ID into TYPES with its references renumbered by NEWID and its
 * names into STRS. */
static int emit(const struct bt *b, uint32_t id, const uint32_t *newid, struct buf *types,
		struct buf *strs)
{
	const unsigned char *x = b->types + b->off[id] + sizeof(struct btf_type);
	struct btf_type t;
	unsigned char rec[sizeof(struct btf_enum64)];
	uint32_t vlen, kind, name;
	size_t each = 0, name_at = 0, ref_at = 0;
	int err;

	type_at(b, id, &t);
	kind = BTF_INFO_KIND(t.info);
	vlen = BTF_INFO_VLEN(t.info);
	err = put_str(strs, b, t.name_off, &name);
	if (err)
		return err;
	t.name_off = name;
	if (kind == BTF_KIND_PTR)
		t.type = 0; /* void *: the target is not needed to relocate a field */
	else if (kind == BTF_KIND_TYPEDEF || kind == BTF_KIND_VOLATILE ||
		 kind == BTF_KIND_CONST || kind == BTF_KIND_RESTRICT ||
		 kind == BTF_KIND_TYPE_TAG || kind == BTF_KIND_FUNC_PROTO)
		t.type = newid[t.type];
	err = buf_put(types, &t, sizeof(t));
	if (err)
		return err;
	switch (kind) {
	case BTF_KIND_INT:
		return buf_put(types, x, 4);
	case BTF_KIND_ARRAY: {
		struct btf_array a;

		memcpy(&a, x, sizeof(a));
		a.type = newid[a.type];
		a.index_type = newid[a.index_type];
		return buf_put(types, &a, sizeof(a));
	}
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		each = sizeof(struct btf_member), name_at = 0, ref_at = 4;
		break;
	case BTF_KIND_FUNC_PROTO:
		each = sizeof(struct btf_param), name_at = 0, ref_at = 4;
		break;
	case BTF_KIND_ENUM:
		each = sizeof(struct btf_enum), name_at = 0, ref_at = 0;
		break;
	case BTF_KIND_ENUM64:
		each = sizeof(struct btf_enum64), name_at = 0, ref_at = 0;
		break;
	default:
		return 0;
	}
	for (uint32_t i = 0; i < vlen; i++) {
		memcpy(rec, x + i * each, each);
		err = put_str(strs, b, rd32(rec + name_at), &name);
		if (err)
			return err;
		wr32(rec + name_at, name);
		if (ref_at)
			wr32(rec + ref_at, newid[rd32(rec + ref_at)]);
		err = buf_put(types, rec, each);
		if (err)
			return err;
	}
	return 0;
}

int sz_kbtf_build(const void *btf, size_t len, const struct sz_kbtf_root *roots, size_t nroots,
		  struct sz_kbtf_want *want, size_t nwant, void **out, size_t *out_len)
{
	struct buf types = { 0 }, strs = { 0 }, all = { 0 };
	struct mark m = { 0 };
	struct btf_header h;
	uint32_t *newid = NULL, next = 1, kinds = 0;
	struct bt b;
	int err;

	*out = NULL;
	*out_len = 0;
	for (size_t w = 0; w < nwant; w++)
		want[w].id = 0;
	err = bt_open(&b, btf, len);
	if (err)
		return err;
	m.b = &b;
	m.on = calloc(b.n, 1);
	m.stack = malloc(b.n * sizeof(*m.stack));
	newid = calloc(b.n, sizeof(*newid));
	err = -ENOMEM;
	if (!m.on || !m.stack || !newid)
		goto out;
	for (size_t r = 0; r < nroots; r++)
		kinds |= 1u << (roots[r].kind & 31);
	for (size_t w = 0; w < nwant; w++)
		kinds |= 1u << (want[w].kind & 31);
	/* the roots, by kind and essential name; the wanted, by exact name */
	for (uint32_t id = 1; id < b.n; id++) {
		struct btf_type t;
		const char *name;
		size_t ess;

		type_at(&b, id, &t);
		if (!t.name_off || !(kinds & (1u << BTF_INFO_KIND(t.info))))
			continue; /* [perf] most of the kernel's ~126,000 types */
		name = str_at(&b, t.name_off);
		err = -EPROTO;
		if (!name)
			goto out;
		ess = 0;
		for (size_t r = 0; r < nroots; r++) {
			if (roots[r].kind != BTF_INFO_KIND(t.info) || roots[r].name[0] != name[0])
				continue;
			if (!ess)
				ess = essential_len(name);
			if (!strncmp(roots[r].name, name, ess) && !roots[r].name[ess]) {
				err = mark_one(&m, id);
				if (err)
					goto out;
				break;
			}
		}
		for (size_t w = 0; w < nwant; w++)
			if (!want[w].id && want[w].kind == BTF_INFO_KIND(t.info) &&
			    !strcmp(want[w].name, name))
				want[w].id = id;
	}
	/* what they embed */
	for (uint32_t done = 0; done < m.depth; done++) {
		err = each_embedded(&b, m.stack[done], mark_one, &m);
		if (err)
			goto out;
	}
	for (uint32_t id = 1; id < b.n; id++)
		if (m.on[id])
			newid[id] = next++;
	err = buf_put(&strs, "", 1);
	for (uint32_t id = 1; !err && id < b.n; id++)
		if (m.on[id])
			err = emit(&b, id, newid, &types, &strs);
	if (err)
		goto out;
	memset(&h, 0, sizeof(h));
	h.magic = BTF_MAGIC;
	h.version = BTF_VERSION;
	h.hdr_len = sizeof(h);
	h.type_off = 0;
	h.type_len = (uint32_t)types.len;
	h.str_off = (uint32_t)types.len;
	h.str_len = (uint32_t)strs.len;
	err = buf_put(&all, &h, sizeof(h));
	if (!err && types.len)
		err = buf_put(&all, types.p, types.len);
	if (!err)
		err = buf_put(&all, strs.p, strs.len);
	if (err)
		goto out;
	*out = all.p;
	*out_len = all.len;
	all.p = NULL;
out:
	free(all.p);
	free(types.p);
	free(strs.p);
	free(newid);
	free(m.stack);
	free(m.on);
	bt_close(&b);
	return err;
}
