// SPDX-License-Identifier: BSD-2-Clause
/*
 * ELF image over a file descriptor: the tables a symbolizer needs, found once
 * at open, and symbol lookup through .gnu.hash/.hash (or a linear scan of
 * .dynsym) with .symtab as the fallback for names the dynamic table lacks.
 */
#include "sz_elf.h"
#include "sz_addr.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSYM_HIDDEN 0x8000
#define VERSYM_INDEX 0x7fff
#define MAX_VERDEFS 4096u

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

static uint32_t rd32(const void *base, size_t off)
{
	uint32_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

static uint64_t rd64(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

/* Section data, decompressed first if SHF_COMPRESSED.  NULL if absent/bad. */
static Elf_Data *section_data(Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *d;

	if (sh->sh_type == SHT_NOBITS || sh->sh_size > SZ_SECTION_MAX)
		return NULL;
	if (sh->sh_flags & SHF_COMPRESSED) {
		GElf_Chdr ch;

		/* libelf allocates what the header claims: refuse claims that are
		 * absurd in themselves or beyond zlib's ~1032:1 ratio. */
		if (!gelf_getchdr(scn, &ch) || ch.ch_size > SZ_INFLATE_MAX ||
		    ch.ch_size / 1032 > sh->sh_size || elf_compress(scn, 0, 0) < 0)
			return NULL;
	}
	d = elf_getdata(scn, NULL);
	if (!d || !d->d_buf || d->d_size == 0)
		return NULL;
	return d;
}

static int load_symtab(struct sz_elf *e, Elf_Scn *scn, const GElf_Shdr *sh, struct sz_symtab *t)
{
	size_t entsz = gelf_fsize(e->elf, ELF_T_SYM, 1, EV_CURRENT);
	Elf_Scn *strscn;
	GElf_Shdr strsh;

	t->syms = section_data(scn, sh);
	strscn = elf_getscn(e->elf, sh->sh_link);
	if (!t->syms || !entsz || !strscn || !gelf_getshdr(strscn, &strsh))
		return -EINVAL;
	t->strs = section_data(strscn, &strsh);
	if (!t->strs)
		return -EINVAL;
	t->count = t->syms->d_size / entsz;
	if (t->count > SZ_MAX_SYMS)
		return -E2BIG;
	t->present = 1;
	return 0;
}

/* Version definitions: index -> name, from SHT_GNU_verdef. */
static int load_verdefs(struct sz_elf *e, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *d = section_data(scn, sh), *strs;
	Elf_Scn *strscn = elf_getscn(e->elf, sh->sh_link);
	GElf_Shdr strsh;
	size_t off = 0;

	if (!d || !strscn || !gelf_getshdr(strscn, &strsh))
		return -EINVAL;
	strs = section_data(strscn, &strsh);
	if (!strs)
		return -EINVAL;
	for (unsigned n = 0; n < MAX_VERDEFS && n < sh->sh_info; n++) {
		GElf_Verdef vd;
		GElf_Verdaux va;
		unsigned ndx;

		if (!gelf_getverdef(d, (int)off, &vd))
			return -EINVAL;
		ndx = vd.vd_ndx & VERSYM_INDEX;
		if (vd.vd_aux && gelf_getverdaux(d, (int)(off + vd.vd_aux), &va) &&
		    va.vda_name < strs->d_size &&
		    memchr((char *)strs->d_buf + va.vda_name, 0, strs->d_size - va.vda_name)) {
			if (ndx >= e->nvernames) {
				size_t nn = ndx + 1;
				const char **v = realloc(e->vernames, nn * sizeof(*v));

				if (!v)
					return -ENOMEM;
				memset(v + e->nvernames, 0, (nn - e->nvernames) * sizeof(*v));
				e->vernames = v;
				e->nvernames = nn;
			}
			/* False positive: vernames and nvernames are only set together (above), but
			 * the analyzer drops that link once a libelf call invalidates *e.
			 * NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
			e->vernames[ndx] = (const char *)strs->d_buf + va.vda_name;
		}
		if (!vd.vd_next || off + vd.vd_next > d->d_size)
			break;
		off += vd.vd_next;
	}
	return 0;
}

static void find_build_id(struct sz_elf *e)
{
	int swap = e->ehdr.e_ident[EI_DATA] !=
		   (__BYTE_ORDER == __LITTLE_ENDIAN ? ELFDATA2LSB : ELFDATA2MSB);
	Elf_Scn *scn = NULL;
	int r;

	for (size_t i = 0; i < e->nseg; i++) {
		const struct sz_segment *s = &e->seg[i];
		Elf_Data *d;

		if (s->type != PT_NOTE || !s->filesz)
			continue;
		if (s->filesz > SZ_NOTE_AREA_MAX) {
			e->build_id_err = -EFBIG;
			return;
		}
		d = elf_getdata_rawchunk(e->elf, (int64_t)s->offset, s->filesz, ELF_T_BYTE);
		if (!d || !d->d_buf) {
			e->build_id_err = -EBADMSG;
			return;
		}
		r = sz_notes_build_id(d->d_buf, d->d_size, s->align, swap, e->build_id,
				      &e->build_id_len);
		if (r) {
			e->build_id_err = r < 0 ? r : 0;
			return;
		}
	}
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		d = section_data(scn, &sh);
		if (!d)
			continue;
		/* elf_getdata already converted note headers to host order. */
		r = sz_notes_build_id(d->d_buf, d->d_size, sh.sh_addralign, 0, e->build_id,
				      &e->build_id_len);
		if (r) {
			e->build_id_err = r < 0 ? r : 0;
			return;
		}
	}
}

int sz_elf_open(int fd, struct sz_elf **out, char *err, size_t errlen)
{
	struct sz_elf *e;
	Elf_Scn *scn = NULL;
	size_t phnum;
	int r = -EINVAL;

	*out = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		seterr(err, errlen, "libelf: %s", elf_errmsg(-1));
		return -ENOSYS;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->fd = fd;
	/* Read, not mmap: a file mapped by a user who can truncate it would
	 * otherwise SIGBUS us.  libelf reads a section only when asked. */
	e->elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF || !gelf_getehdr(e->elf, &e->ehdr)) {
		seterr(err, errlen, "not an ELF file");
		r = -ENOEXEC;
		goto fail;
	}
	if (elf_getphdrnum(e->elf, &phnum) || phnum > SZ_MAX_PHDRS) {
		seterr(err, errlen, "bad program header table");
		goto fail;
	}
	e->seg = calloc(phnum ? phnum : 1, sizeof(*e->seg));
	if (!e->seg) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e->elf, (int)i, &ph)) {
			seterr(err, errlen, "unreadable program header %zu", i);
			goto fail;
		}
		e->seg[e->nseg++] = (struct sz_segment){ ph.p_type,  ph.p_flags,  ph.p_offset,
							 ph.p_vaddr, ph.p_filesz, ph.p_memsz,
							 ph.p_align };
	}
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		switch (sh.sh_type) {
		case SHT_DYNSYM:
			if (!e->dynsym.present && load_symtab(e, scn, &sh, &e->dynsym))
				memset(&e->dynsym, 0, sizeof(e->dynsym));
			break;
		case SHT_SYMTAB:
			if (!e->symtab.present && load_symtab(e, scn, &sh, &e->symtab))
				memset(&e->symtab, 0, sizeof(e->symtab));
			break;
		case SHT_GNU_HASH:
			if (!e->gnu_hash)
				e->gnu_hash = section_data(scn, &sh);
			break;
		case SHT_HASH:
			if (!e->sysv_hash)
				e->sysv_hash = section_data(scn, &sh);
			break;
		case SHT_GNU_versym:
			if (!e->versym)
				e->versym = section_data(scn, &sh);
			break;
		case SHT_GNU_verdef:
			if (!e->vernames && load_verdefs(e, scn, &sh) == -ENOMEM) {
				r = -ENOMEM;
				goto fail;
			}
			break;
		}
	}
	find_build_id(e);
	*out = e;
	return 0;
fail:
	sz_elf_close(e);
	return r;
}

void sz_elf_close(struct sz_elf *e)
{
	if (!e)
		return;
	sz_addr_state_free(e->addr);
	if (e->elf)
		elf_end(e->elf);
	free(e->seg);
	free(e->vernames);
	free(e);
}

void sz_elf_layout(const struct sz_elf *e, struct sz_layout *l)
{
	l->e_type = e->ehdr.e_type;
	l->nseg = e->nseg;
	l->seg = e->seg;
}

int sz_elf_build_id(const struct sz_elf *e, const unsigned char **id, size_t *len)
{
	*id = e->build_id;
	*len = e->build_id_len;
	return e->build_id_err;
}

/* Read symbol I of table T into OUT; 0 if it is a defined, named symbol. */
static int read_sym(const struct sz_elf *e, const struct sz_symtab *t, enum sz_elf_table which,
		    size_t i, struct sz_elf_sym *out)
{
	GElf_Sym s;
	const char *name, *at;
	size_t room;

	if (i >= t->count || !gelf_getsym(t->syms, (int)i, &s))
		return -ENOENT;
	if (s.st_shndx == SHN_UNDEF || s.st_shndx == SHN_ABS || s.st_name == 0 ||
	    s.st_name >= t->strs->d_size)
		return -ENOENT;
	switch (GELF_ST_TYPE(s.st_info)) {
	case STT_SECTION:
	case STT_FILE:
		return -ENOENT;
	}
	name = (const char *)t->strs->d_buf + s.st_name;
	room = t->strs->d_size - s.st_name;
	if (!memchr(name, 0, room))
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->name = name;
	out->name_len = strlen(name);
	out->value = s.st_value;
	out->size = s.st_size;
	out->type = GELF_ST_TYPE(s.st_info);
	out->bind = GELF_ST_BIND(s.st_info);
	out->shndx = s.st_shndx;
	out->table = which;
	out->index = (uint32_t)i;
	if (which == SZ_TAB_DYNSYM && e->versym) {
		size_t voff = i * sizeof(uint16_t);

		if (voff + sizeof(uint16_t) <= e->versym->d_size) {
			uint16_t v;
			unsigned ndx;

			memcpy(&v, (const char *)e->versym->d_buf + voff, sizeof(v));
			ndx = v & VERSYM_INDEX;
			out->hidden = !!(v & VERSYM_HIDDEN);
			if (ndx >= 2 && ndx < e->nvernames)
				out->version = e->vernames[ndx];
		}
	} else if ((at = strchr(name, '@'))) {
		/* .symtab of objects built with .symver: "name@VER" or "name@@VER". */
		out->name_len = (size_t)(at - name);
		out->hidden = at[1] != '@';
		out->version = at + (out->hidden ? 1 : 2);
	}
	return 0;
}

struct want {
	const char *name;
	size_t len;
	const char *version; /* NULL: default */
	int exact_default;   /* "name@@VER": the default version only */
};

static void parse_want(const char *req, struct want *w)
{
	const char *at = strchr(req, '@');

	w->name = req;
	w->len = at ? (size_t)(at - req) : strlen(req);
	w->version = NULL;
	w->exact_default = 0;
	if (at) {
		w->exact_default = at[1] == '@';
		w->version = at + (w->exact_default ? 2 : 1);
	}
}

/* Rank a candidate: -1 no match, otherwise higher is better. */
static int rank(const struct sz_elf_sym *s, const struct want *w)
{
	if (s->name_len != w->len || memcmp(s->name, w->name, w->len))
		return -1;
	if (w->version) {
		if (!s->version || strcmp(s->version, w->version))
			return -1;
		if (w->exact_default && s->hidden)
			return -1;
		return 3;
	}
	/* No version asked: the default definition, as dlsym() picks it; a
	 * hidden (non-default) version never answers a plain name. */
	if (s->hidden)
		return -1;
	return s->bind == STB_LOCAL ? 1 : 2;
}

static uint32_t gnu_hash(const char *s, size_t n)
{
	uint32_t h = 5381;

	for (size_t i = 0; i < n; i++)
		h = h * 33 + (unsigned char)s[i];
	return h;
}

static unsigned long sysv_hash(const char *s, size_t n)
{
	unsigned long h = 0, g;

	for (size_t i = 0; i < n; i++) {
		h = (h << 4) + (unsigned char)s[i];
		g = h & 0xf0000000;
		if (g)
			h ^= g >> 24;
		h &= ~g;
	}
	return h;
}

static void consider(const struct sz_elf *e, const struct sz_symtab *t, enum sz_elf_table tab,
		     size_t i, const struct want *w, struct sz_elf_sym *best, int *best_rank)
{
	struct sz_elf_sym s;
	int r;

	if (read_sym(e, t, tab, i, &s))
		return;
	r = rank(&s, w);
	if (r > *best_rank) {
		*best = s;
		*best_rank = r;
	}
}

/* .gnu.hash: bloom filter, bucket, then the chain of equal-bucket symbols. */
static int lookup_gnu(const struct sz_elf *e, const struct want *w, struct sz_elf_sym *best,
		      int *best_rank)
{
	const Elf_Data *d = e->gnu_hash;
	size_t size = d->d_size, wordsz = e->ehdr.e_ident[EI_CLASS] == ELFCLASS64 ? 8 : 4;
	uint32_t nbuckets, symoffset, bloom_size, shift, h1, idx;
	size_t buckets_off, chain_off;
	uint64_t word, mask;

	if (size < 16)
		return -EINVAL;
	nbuckets = rd32(d->d_buf, 0);
	symoffset = rd32(d->d_buf, 4);
	bloom_size = rd32(d->d_buf, 8);
	shift = rd32(d->d_buf, 12);
	if (!nbuckets || !bloom_size || (bloom_size & (bloom_size - 1)) || shift >= wordsz * 8 ||
	    16 + (uint64_t)bloom_size * wordsz + (uint64_t)nbuckets * 4 > size ||
	    symoffset > e->dynsym.count)
		return -EINVAL;
	buckets_off = 16 + (size_t)bloom_size * wordsz;
	chain_off = buckets_off + (size_t)nbuckets * 4;
	h1 = gnu_hash(w->name, w->len);
	if (wordsz == 8) {
		word = rd64(d->d_buf, 16 + ((h1 / 64) % bloom_size) * 8);
		mask = (1ull << (h1 % 64)) | (1ull << (((uint64_t)h1 >> shift) % 64));
	} else {
		word = rd32(d->d_buf, 16 + ((h1 / 32) % bloom_size) * 4);
		mask = (1ull << (h1 % 32)) | (1ull << (((uint64_t)h1 >> shift) % 32));
	}
	if ((word & mask) != mask)
		return 0;
	idx = rd32(d->d_buf, buckets_off + (size_t)(h1 % nbuckets) * 4);
	if (idx < symoffset)
		return 0;
	for (; idx < e->dynsym.count; idx++) {
		size_t coff = chain_off + (size_t)(idx - symoffset) * 4;
		uint32_t h2;

		if (coff + 4 > size)
			return -EINVAL;
		h2 = rd32(d->d_buf, coff);
		if ((h1 | 1) == (h2 | 1))
			consider(e, &e->dynsym, SZ_TAB_DYNSYM, idx, w, best, best_rank);
		if (h2 & 1)
			break;
	}
	return 0;
}

/* SysV .hash: nbucket, nchain, buckets, chains (32-bit words on x86-64). */
static int lookup_sysv(const struct sz_elf *e, const struct want *w, struct sz_elf_sym *best,
		       int *best_rank)
{
	const Elf_Data *d = e->sysv_hash;
	uint32_t nbucket, nchain, idx;

	if (d->d_size < 8)
		return -EINVAL;
	nbucket = rd32(d->d_buf, 0);
	nchain = rd32(d->d_buf, 4);
	if (!nbucket || 8 + ((uint64_t)nbucket + nchain) * 4 > d->d_size)
		return -EINVAL;
	idx = rd32(d->d_buf, 8 + (sysv_hash(w->name, w->len) % nbucket) * 4);
	/* A chain longer than nchain is a loop in a lying file. */
	for (uint32_t steps = 0; idx != 0 && idx < nchain && steps <= nchain; steps++) {
		consider(e, &e->dynsym, SZ_TAB_DYNSYM, idx, w, best, best_rank);
		idx = rd32(d->d_buf, 8 + ((size_t)nbucket + idx) * 4);
	}
	return 0;
}

static void lookup_linear(const struct sz_elf *e, const struct sz_symtab *t, enum sz_elf_table tab,
			  const struct want *w, struct sz_elf_sym *best, int *best_rank)
{
	for (size_t i = 1; i < t->count; i++)
		consider(e, t, tab, i, w, best, best_rank);
}

int sz_elf_lookup(const struct sz_elf *e, const char *name, int flags, struct sz_elf_sym *out)
{
	struct want w;
	int best_rank = -1;

	parse_want(name, &w);
	if (!w.len)
		return -EINVAL;
	if (e->dynsym.present) {
		int r = -EINVAL;

		if (!(flags & SZ_LOOKUP_LINEAR) && e->gnu_hash)
			r = lookup_gnu(e, &w, out, &best_rank);
		if (r && !(flags & SZ_LOOKUP_LINEAR) && e->sysv_hash)
			r = lookup_sysv(e, &w, out, &best_rank);
		if (r) /* no usable hash table: scan */
			lookup_linear(e, &e->dynsym, SZ_TAB_DYNSYM, &w, out, &best_rank);
	}
	if (best_rank < 0 && e->symtab.present && !(flags & SZ_LOOKUP_NO_SYMTAB))
		lookup_linear(e, &e->symtab, SZ_TAB_SYMTAB, &w, out, &best_rank);
	return best_rank < 0 ? -ENOENT : 0;
}

int sz_elf_for_each(const struct sz_elf *e, enum sz_elf_table table,
		    int (*fn)(const struct sz_elf_sym *, void *), void *ctx)
{
	const struct sz_symtab *t = table == SZ_TAB_DYNSYM ? &e->dynsym : &e->symtab;

	for (size_t i = 1; i < t->count; i++) {
		struct sz_elf_sym s;
		int r;

		if (read_sym(e, t, table, i, &s))
			continue;
		r = fn(&s, ctx);
		if (r)
			return r;
	}
	return 0;
}
