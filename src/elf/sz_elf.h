/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ELF image over a file descriptor (libelf): symbol lookup through the hash
 * tables or a linear scan, symbol versions, build-ID notes, program headers and
 * the address arithmetic a symbolizer needs.  No /proc and no BPF in here.
 */
#ifndef SZ_ELF_H
#define SZ_ELF_H

#include <gelf.h>
#include <stddef.h>
#include <stdint.h>

#define SZ_BUILD_ID_MAX 64
#define SZ_NOTE_MAX 1048576u	     /* a note's name or desc (elfexec's maxNoteSize) */
#define SZ_NOTE_AREA_MAX (16u << 20) /* a whole note segment or section */
#define SZ_MAX_PHDRS 4096u
#define SZ_INFLATE_MAX (512u << 20) /* a compressed section's claimed size */
#define SZ_SECTION_MAX (256u << 20) /* a section we read into memory */
#define SZ_MAX_SYMS (64u << 20)	    /* sanity bound on a symbol table's entries */

enum sz_elf_table { SZ_TAB_DYNSYM = 1, SZ_TAB_SYMTAB = 2 };

struct sz_elf_sym {
	const char *name; /* points into the image; without any "@VER" suffix length */
	size_t name_len;
	const char *version; /* NULL if unversioned */
	int hidden;	     /* non-default version (name@VER rather than name@@VER) */
	uint64_t value, size;
	unsigned char type, bind;
	uint16_t shndx;
	enum sz_elf_table table;
	uint32_t index;
};

struct sz_segment {
	uint32_t type, flags;
	uint64_t offset, vaddr, filesz, memsz, align;
};

struct sz_layout {
	uint16_t e_type;
	size_t nseg;
	const struct sz_segment *seg;
};

struct sz_symtab {
	Elf_Data *syms, *strs;
	size_t count;
	int present;
};

struct sz_addr_state;

struct sz_elf {
	int fd;
	Elf *elf;
	GElf_Ehdr ehdr;
	struct sz_segment *seg;
	size_t nseg;
	struct sz_symtab dynsym, symtab;
	Elf_Data *gnu_hash, *sysv_hash, *versym;
	const char **vernames; /* verdef index -> name */
	size_t nvernames;
	unsigned char build_id[SZ_BUILD_ID_MAX];
	size_t build_id_len;
	int build_id_err; /* negative errno if the notes were malformed */
	/* The address index and the debug file, built lazily (sz_addr.h). */
	struct sz_addr_state *addr;
};

/* Flags for sz_elf_lookup. */
#define SZ_LOOKUP_LINEAR 1 /* ignore hash tables (tests and benchmarks) */
#define SZ_LOOKUP_NO_SYMTAB 2

/* Open an image over FD (not taken over: the caller closes it after sz_elf_close).
 * On error returns a negative errno and writes a one-line reason into ERR. */
int sz_elf_open(int fd, struct sz_elf **out, char *err, size_t errlen);
void sz_elf_close(struct sz_elf *e);

/* Find a defined symbol.  NAME may carry "@VER" or "@@VER"; without a version the
 * default (or unversioned) definition wins.  Returns 0 or -ENOENT. */
int sz_elf_lookup(const struct sz_elf *e, const char *name, int flags, struct sz_elf_sym *out);

/* Call FN for every defined symbol of TABLE; stops when FN returns non-zero. */
int sz_elf_for_each(const struct sz_elf *e, enum sz_elf_table table,
		    int (*fn)(const struct sz_elf_sym *, void *), void *ctx);

void sz_elf_layout(const struct sz_elf *e, struct sz_layout *l);

/* Build-ID of the image: bytes, or 0 length if none.  Errors in notes -> < 0. */
int sz_elf_build_id(const struct sz_elf *e, const unsigned char **id, size_t *len);

/* Parse a note area (PT_NOTE segment or SHT_NOTE section) and find the GNU
 * build-ID.  ALIGN is the area's alignment (0, 1 and 4 mean 4; 8 is 8; anything
 * else is -EINVAL).  Returns 1 found, 0 none, -EBADMSG truncated or oversized
 * note, -ENOTUNIQ two build-IDs. */
int sz_notes_build_id(const void *buf, size_t len, uint64_t align, int swap, unsigned char *id,
		      size_t *id_len);

/* Load bias for a mapping of the file: runtime address = bias + symbol value.
 * START/END/PGOFF describe the mapping, PROT its PROT_* bits, PAGESZ the
 * system page size.  Returns 0, or -ENOENT if the mapping belongs to no
 * PT_LOAD segment start (e.g. a mid-segment split; another mapping of the same
 * load gives the answer), -EINVAL for layouts we cannot place. */
int sz_elf_load_bias(const struct sz_layout *l, uint64_t start, uint64_t end, uint64_t pgoff,
		     unsigned prot, uint64_t pagesz, uint64_t *bias);

/* Index of the PT_LOAD segment a mapping (PGOFF, PROT) maps: the segment whose
 * page-aligned offset is PGOFF, ties broken by protection bits, else the one
 * segment holding PGOFF.  -ENOENT if none, -EINVAL for PROT_NONE or bad PAGESZ. */
int sz_elf_mapping_segment(const struct sz_layout *l, uint64_t pgoff, unsigned prot,
			   uint64_t pagesz);
int sz_elf_first_load(const struct sz_layout *l);

/* True if the mapping is the start of a load instance: the first PT_LOAD
 * segment, with exactly its protection.  Every loaded instance of a file has
 * one such mapping, and relying on it alone avoids two segments that share a
 * file page (small files, -z noseparate-code) yielding a false second base. */
int sz_elf_is_first_load_mapping(const struct sz_layout *l, uint64_t pgoff, unsigned prot,
				 uint64_t pagesz);

/* True if the mapping is where a load's code begins: the first executable
 * PT_LOAD segment, mapped executable from its page-aligned offset (for a file
 * without code, the load's first mapping).  Every load has exactly one such
 * mapping, and a tool that maps a library only to read it has none, so this
 * mapping is the one that speaks for a load, in scan and in watch alike. */
int sz_elf_is_code_mapping(const struct sz_layout *l, uint64_t pgoff, unsigned prot,
			   uint64_t pagesz);

/* File offset of virtual address VADDR (a uprobe offset): 0 or -ENOENT if no
 * PT_LOAD segment holds it in its file-backed part. */
int sz_elf_vaddr_to_offset(const struct sz_layout *l, uint64_t vaddr, uint64_t *off);
int sz_elf_offset_to_vaddr(const struct sz_layout *l, uint64_t off, uint64_t *vaddr);

#endif
