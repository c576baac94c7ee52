/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * USDT (SystemTap SDT) probes of an ELF file: the .note.stapsdt notes (provider,
 * name, pc, base, semaphore) turned into file offsets a uprobe takes, and the
 * x86-64 argument specs ("-4@%edi 8@-8(%rbp) 4@$1") turned into typed locations.
 */
#ifndef SZ_ELF_USDT_H
#define SZ_ELF_USDT_H

#include <stddef.h>
#include <stdint.h>

#include "elf/sz_elf.h"
#include "util/glob.h"

#define SZ_USDT_MAX_ARGS 12	  /* <sys/sdt.h> defines up to 12 */
#define SZ_USDT_MAX_PROBES 65536u /* notes per file we accept */
#define SZ_USDT_STR_MAX 4096u	  /* provider, name or argument spec */
#define SZ_USDT_NOTE_TYPE 3	  /* NT_STAPSDT */

enum sz_usdt_arg_kind {
	SZ_USDT_ARG_CONST = 1, /* 4@$71: the value itself */
	SZ_USDT_ARG_REG = 2,   /* -4@%edi: a register's low SIZE bytes */
	SZ_USDT_ARG_MEM = 3,   /* 8@-8(%rbp), 8@sym+16(%rip): SIZE bytes at reg + disp */
};

struct sz_usdt_arg {
	enum sz_usdt_arg_kind kind;
	uint8_t size;	   /* 1, 2, 4 or 8 bytes */
	uint8_t is_signed; /* the spec's size was negative */
	int8_t reg;	   /* index into the register table, -1 for CONST */
	uint8_t reg_bytes; /* width of the register as written (%dil 1, %edi 4, %rdi 8) */
	uint16_t reg_off;  /* offsetof(struct pt_regs, that register) */
	int64_t val;	   /* CONST: the value; MEM: the displacement */
	uint16_t sym_off;  /* MEM: a symbol before the displacement (sym+16(%rip)): its */
	uint16_t sym_len;  /* place in the spec string; sym_len 0: none */
};

struct sz_usdt_probe {
	const char *provider, *name, *spec; /* NUL-terminated, owned by the set */
	uint64_t note_pc;		    /* the note's location, as written */
	uint64_t base;			    /* the note's idea of .stapsdt.base */
	uint64_t pc;	      /* location adjusted for prelink (as libbpf and systemtap do) */
	uint64_t sema;	      /* semaphore's virtual address, 0: none */
	uint64_t pc_offset;   /* file offset of pc: the uprobe offset */
	uint64_t sema_offset; /* file offset of the semaphore: the kernel's ref_ctr_offset */
	int loc_err;	      /* 0, or -ENOENT: pc or semaphore in no file-backed segment */
	int args_err;	      /* 0, or negative errno: the spec did not parse (see args_pos) */
	int args_pos;	      /* byte of the spec where parsing stopped, on error */
	int nargs;
	struct sz_usdt_arg args[SZ_USDT_MAX_ARGS];
};

struct sz_usdt_set {
	struct sz_usdt_probe *probes;
	size_t n;
	int has_base;	    /* a .stapsdt.base section was found */
	uint64_t base_addr; /* its address */
	char *strings;	    /* storage behind every probe's strings */
};

/* One raw note, as found in the area: strings point into the caller's buffer. */
struct sz_usdt_note {
	uint64_t pc, base, sema;
	const char *provider, *name, *spec;
};

/* Walk a .note.stapsdt area of LEN bytes (alignment ALIGN, 0/1/4 mean 4; 8 is 8)
 * and call FN for every NT_STAPSDT note owned by "stapsdt".  ADDR_SIZE is 8 for
 * ELFCLASS64, 4 for ELFCLASS32.  Other notes are skipped.  Returns the number of
 * probes, or -EBADMSG for a truncated or malformed note (desc too short, strings
 * not NUL-terminated inside desc, a string over SZ_USDT_STR_MAX), -E2BIG over
 * SZ_USDT_MAX_PROBES, -EINVAL for a bad ALIGN or ADDR_SIZE, or FN's negative
 * return. */
int sz_usdt_parse_notes(const void *buf, size_t len, uint64_t align, unsigned addr_size,
			int (*fn)(const struct sz_usdt_note *, void *), void *ctx);

/* Parse an x86-64 argument spec into at most MAX arguments.  Returns the number
 * of arguments, or -EINVAL (syntax; *POS is where), -EOPNOTSUPP (a register or
 * form we cannot read: %ah, an index register), -E2BIG (more than MAX). */
int sz_usdt_parse_args(const char *spec, struct sz_usdt_arg *args, int max, int *pos);

/* Name of register REG as written for width BYTES ("rdi", "edi", "di", "dil"). */
const char *sz_usdt_reg_name(int reg, unsigned bytes);

/* Every probe of the image, pc and semaphore turned into file offsets.  A probe
 * whose spec does not parse is kept, with args_err set.  Returns 0 (possibly
 * with n == 0), or a negative errno with ERR set (malformed notes, memory). */
int sz_usdt_read(const struct sz_elf *e, struct sz_usdt_set **out, char *err, size_t errlen);
void sz_usdt_set_free(struct sz_usdt_set *s);

/* "PROVIDER:NAME", each a glob of the project's matcher; "NAME" alone means any
 * provider.  Returns 0, or -EINVAL with ERR saying which part is wrong. */
struct sz_usdt_pattern {
	struct sz_glob provider, name;
};
int sz_usdt_pattern_compile(const char *spec, struct sz_usdt_pattern *p, char *err, size_t errlen);
int sz_usdt_pattern_match(const struct sz_usdt_pattern *p, const struct sz_usdt_probe *probe);

#endif
