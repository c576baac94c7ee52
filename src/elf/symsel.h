/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Symbols of an image chosen by name patterns (the glob matcher of file
 * patterns, src/util/glob.c) over .dynsym and .symtab: one entry per symbol (a
 * symbol an unstripped file has in both tables comes once), sorted by name.
 * Shared by `symbolyze list` and the pipeline's -s GLOB.
 */
#ifndef SZ_SYMSEL_H
#define SZ_SYMSEL_H

#include "elf/sz_elf.h"
#include "util/glob.h"

#include <stddef.h>
#include <stdint.h>

struct sz_sympat {
	const char *text;
	int versioned; /* the pattern has '@': matched against name@VER / name@@VER */
	struct sz_glob glob;
};

/* 1 if TEXT has a glob metacharacter ('*', '?', '[', '\\'): a pattern, not a name. */
int sz_sym_is_pattern(const char *text);
/* Compile TEXT (kept by pointer): 0, -EINVAL (bad pattern) or -E2BIG (too long). */
int sz_sympat_compile(const char *text, struct sz_sympat *out);

/* One selected symbol.  VERSION points into the image (valid while it is open). */
struct sz_selsym {
	char *name; /* without version */
	const char *version;
	int hidden;
	uint64_t value, size;
	unsigned char type, bind;
	int table; /* enum sz_elf_table */
	int has_off;
	uint64_t off; /* file offset (a uprobe's) */
};

struct sz_selsyms {
	struct sz_selsym *v;
	size_t n, cap;
	uint64_t too_long; /* names past the matcher's bound: counted, never matched */
};

/* The functions (FUNC, IFUNC) and objects of E matching any of PATS (all when
 * NPATS is 0).  HITS, if not NULL, gets per pattern the number of symbols it
 * matched.  0 or -ENOMEM; free with sz_selsyms_free either way. */
int sz_symsel(const struct sz_elf *e, const struct sz_sympat *pats, size_t npats,
	      struct sz_selsyms *out, uint64_t *hits);
void sz_selsyms_free(struct sz_selsyms *s);

#endif
