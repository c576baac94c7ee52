/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Address -> symbol, the reverse of sz_elf_lookup: a sorted index of the function
 * symbols of one image (.symtab and .dynsym), built lazily once per struct sz_elf, and
 * the separate debug files (build-ID tree, .gnu_debuglink, MiniDebugInfo) that name
 * what a stripped image no longer does.
 */
#ifndef SZ_ADDR_H
#define SZ_ADDR_H

#include "sz_elf.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SZ_DEBUGLINK_NAME_MAX 255u	  /* a file name (NAME_MAX), never a path */
#define SZ_MINIDEBUG_MAX (128u << 20)	  /* decompressed .gnu_debugdata */
#define SZ_MINIDEBUG_MEMLIMIT (64u << 20) /* liblzma's decoder memory */
#define SZ_DEBUG_FILE_MAX (4ull << 30)	  /* a debug file we checksum */
#define SZ_DEBUG_DIR_DEFAULT "/usr/lib/debug"

/* Which table, or which separate file, named an address. */
enum sz_sym_source {
	SZ_SRC_NONE = 0,
	SZ_SRC_SYMTAB,
	SZ_SRC_DYNSYM,
	SZ_SRC_DEBUGLINK,
	SZ_SRC_BUILD_ID,
	SZ_SRC_MINIDEBUG,
};
const char *sz_sym_source_str(enum sz_sym_source s);

/* One function of the index: the preferred name among the aliases at START, and the
 * range [start, end) it answers for.  NAME points into the image (not NUL-terminated at
 * NAME_LEN when a .symtab name carries "@VER"). */
struct sz_addr_sym {
	const char *name;
	size_t name_len;
	const char *version; /* NULL if unversioned */
	int hidden;	     /* non-default version */
	uint64_t start, end;
	uint64_t size; /* the largest st_size among the aliases; 0: a zero-size symbol */
	unsigned char bind, type;
	enum sz_elf_table table;
};

struct sz_addr_index;

/* Build the index of E's function symbols (both tables).  A zero-size function answers
 * from its start up to the next function or the end of its section; among several names
 * at one address the preferred one is kept: global over weak over local, the default
 * version over a hidden one, then fewer leading underscores, the shorter name, the
 * lower in byte order, .dynsym before .symtab.  0 or a negative errno. */
int sz_addr_index_build(const struct sz_elf *e, struct sz_addr_index **out);
void sz_addr_index_free(struct sz_addr_index *ix);
size_t sz_addr_index_count(const struct sz_addr_index *ix);
/* Entry I in address order (tests). */
int sz_addr_index_entry(const struct sz_addr_index *ix, size_t i, struct sz_addr_sym *out);
/* The function that holds file address VADDR: 0, or -ENOENT. */
int sz_addr_index_lookup(const struct sz_addr_index *ix, uint64_t vaddr, struct sz_addr_sym *out);

/* Where separate debug files may be, for one image. */
struct sz_debug_where {
	int rootfd;	       /* "/" of the file's filesystem view (/proc/PID/root): required */
	const char *dir;       /* the image's directory, absolute in that view; NULL: unknown */
	const char *debug_dir; /* NULL: SZ_DEBUG_DIR_DEFAULT, in that view too */
	dev_t dev;	       /* the image itself, never its own debug file */
	ino_t ino;
};

/* The reverse-lookup state of one image (struct sz_elf's addr field): its index and
 * the debug file found for it, each built once, on first use. */
struct sz_addr_state;
void sz_addr_state_free(struct sz_addr_state *st);

/* The index of E, built on first call and kept with E: 0 or a negative errno. */
int sz_elf_addr_index(struct sz_elf *e, const struct sz_addr_index **out);

/* The directory of an image's absolute PATH, as sz_debug_where.dir wants it (malloc'd;
 * NULL for a relative path or no memory). */
char *sz_debug_dir_of(const char *path);

/* Find a separate debug file for E (an image without .symtab): the build-ID tree, then
 * .gnu_debuglink (next to the file, in .debug/ beside it, under DEBUG_DIR + dir; CRC-32
 * checked), then MiniDebugInfo.  Searched once per image, with the first WHERE given;
 * the result is kept with E.  Returns 1 and sets DBG, SRC and PATH if one was found, 0 if
 * none, or a negative errno.  ERR receives what was wrong with candidates that were
 * refused (a CRC mismatch, a bad debuglink name), empty if nothing was. */
int sz_elf_debug_file(struct sz_elf *e, const struct sz_debug_where *where, struct sz_elf **dbg,
		      enum sz_sym_source *src, const char **path, char *err, size_t errlen);

/* The answer for one file address of E: the image's own tables, then its debug file. */
struct sz_symbolized {
	struct sz_addr_sym sym;
	enum sz_sym_source source;
	uint64_t offset;	/* vaddr - sym.start */
	const char *debug_path; /* the debug file used, if any (in WHERE's view) */
};
/* 0, -ENOENT if no function holds VADDR, or a negative errno.  WHERE may be NULL: no
 * debug files. */
int sz_symbolize_vaddr(struct sz_elf *e, const struct sz_debug_where *where, uint64_t vaddr,
		       struct sz_symbolized *out, char *err, size_t errlen);

/* .gnu_debuglink contents: a file name (no '/', not "." or "..", at most
 * SZ_DEBUGLINK_NAME_MAX bytes), NUL, padding to 4, a CRC-32 in the image's byte order
 * (SWAP: not the host's).  0, -EBADMSG (truncated, no NUL) or -EINVAL (a bad name). */
int sz_debuglink_parse(const void *buf, size_t len, int swap, char *name, size_t namesz,
		       uint32_t *crc);

/* Decompress xz data (.gnu_debugdata) into a malloc'd buffer of at most MAX bytes:
 * 0, -EFBIG beyond MAX, -EBADMSG corrupt data, -ENOMEM. */
int sz_xz_decompress(const void *in, size_t inlen, size_t max, void **out, size_t *outlen);

/* The ELF image held in .gnu_debugdata of E, decompressed into a memory file: 0 and *OUT
 * / *FD (close both), -ENOENT if none, or a negative errno. */
int sz_minidebug_open(const struct sz_elf *e, struct sz_elf **out, int *fd);

/* A section of E by name: its data (raw bytes), or NULL. */
Elf_Data *sz_elf_section_by_name(const struct sz_elf *e, const char *name);

#endif
