/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What -s asks for, resolved per file: exact names (looked up as dlsym does,
 * name@VERSION included) and globs over .dynsym and .symtab (expanded with
 * src/elf/symsel.c, aliases grouped under one preferred name); and the
 * registry of symbol ids, the names discovered as files are parsed, which is
 * what BPF keys and cookies carry.  The registry is bounded: a name past the
 * bound gets no id (SZ_SYMID_NONE) and is counted, never folded into another.
 */
#ifndef SZ_PIPELINE_SYMBOLS_H
#define SZ_PIPELINE_SYMBOLS_H

#include "elf/sz_elf.h"

#include <stddef.h>
#include <stdint.h>

#define SZ_SYMID_NONE UINT32_MAX
#define SZ_SYMIDS_MAX (1u << 24) /* ids * 64 latency buckets fit a u32 slot */

/* One symbol to report in one file. */
struct sz_fsym {
	char *name;	/* reported: the request (exact) or name / name@VER (glob) */
	char *version;	/* of the definition, or NULL */
	char **aliases; /* other names at the same address (globs), or NULL */
	size_t naliases;
	uint32_t id;	    /* SZ_SYMID_NONE: none (not a function, or the registry is full) */
	int err;	    /* 0, or -ENOENT: the exact name is absent / the glob matched nothing */
	int glob;	    /* from a glob (err: the glob matched nothing in this file) */
	int id_full;	    /* a function left without an id: the registry was full */
	int reported;	    /* a problem about it was reported once */
	unsigned char type; /* STT_* */
	int has_off;
	uint64_t value, size, off;
};

struct sz_fsyms {
	struct sz_fsym *v;
	size_t n;
	uint64_t too_long; /* names past the matcher's bound */
};

struct sz_symbols;

/* Compile the requests (copied).  -EINVAL / -E2BIG: REQS[*BAD] is no valid
 * name or pattern. */
int sz_symbols_new(const char *const *reqs, size_t n, struct sz_symbols **out, size_t *bad);
void sz_symbols_free(struct sz_symbols *s);
/* Bound the registry (0: SZ_SYMIDS_MAX); never below the exact names. */
void sz_symbols_set_max_ids(struct sz_symbols *s, size_t max);
size_t sz_symbols_max_ids(const struct sz_symbols *s);
int sz_symbols_has_glob(const struct sz_symbols *s);
size_t sz_symbols_nexact(const struct sz_symbols *s);
/* Ids given so far, the name of one, functions left without one. */
size_t sz_symbols_ids(const struct sz_symbols *s);
const char *sz_symbols_name(const struct sz_symbols *s, uint32_t id);
uint64_t sz_symbols_id_overflow(const struct sz_symbols *s);
/* Every name by id (sz_symbols_ids of them), valid until the next id. */
char *const *sz_symbols_names(const struct sz_symbols *s);

/* Resolve every request in the image E (layout L): exact names in request
 * order, then the globs' matches sorted by name, each address once.  0 or
 * -ENOMEM (OUT freed). */
int sz_symbols_resolve(struct sz_symbols *s, const struct sz_elf *e, const struct sz_layout *l,
		       struct sz_fsyms *out);
void sz_fsyms_free(struct sz_fsyms *f);

#endif
