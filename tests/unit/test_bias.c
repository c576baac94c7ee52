// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of the load-bias arithmetic (src/elf/bias.c) over the program
 * headers of real builds (readelf -lW) and the mappings ld.so made of them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "elf/sz_elf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LAYOUT(t, s) { t, ARRAY_SIZE(s), s }

#define R PROT_READ
#define W PROT_WRITE
#define X PROT_EXEC
#define RO PF_R
#define RX (PF_R | PF_X)
#define RW (PF_R | PF_W)

/* build/fixtures/libfix.so: -z separate-code, four PT_LOADs; the RW segment
 * starts on the same file page as the last R one. */
static const struct sz_segment libfix_seg[] = {
	{ PT_LOAD, RO, 0x000000, 0x000000, 0x000650, 0x000650, 0x1000 },
	{ PT_LOAD, RX, 0x001000, 0x001000, 0x00018d, 0x00018d, 0x1000 },
	{ PT_LOAD, RO, 0x002000, 0x002000, 0x000134, 0x000134, 0x1000 },
	{ PT_LOAD, RW, 0x002dd0, 0x003dd0, 0x000244, 0x000250, 0x1000 },
	{ PT_DYNAMIC, RW, 0x002de0, 0x003de0, 0x0001e0, 0x0001e0, 0x8 },
	{ PT_NOTE, RO, 0x000238, 0x000238, 0x000024, 0x000024, 0x4 },
	{ PT_GNU_EH_FRAME, RO, 0x002000, 0x002000, 0x00004c, 0x00004c, 0x4 },
	{ PT_GNU_STACK, RW, 0, 0, 0, 0, 0x10 },
	{ PT_GNU_RELRO, RO, 0x002dd0, 0x003dd0, 0x000230, 0x000230, 0x1 },
};

/* libfix-nosep.so: -z noseparate-code, two PT_LOADs sharing file page 0. */
static const struct sz_segment nosep_seg[] = {
	{ PT_LOAD, RX, 0x000000, 0x000000, 0x0008a4, 0x0008a4, 0x1000 },
	{ PT_LOAD, RW, 0x000dd0, 0x001dd0, 0x000244, 0x000250, 0x1000 },
	{ PT_DYNAMIC, RW, 0x000de0, 0x001de0, 0x0001e0, 0x0001e0, 0x8 },
	{ PT_NOTE, RO, 0x0001c8, 0x0001c8, 0x000024, 0x000024, 0x4 },
	{ PT_GNU_EH_FRAME, RO, 0x000770, 0x000770, 0x00004c, 0x00004c, 0x4 },
	{ PT_GNU_STACK, RW, 0, 0, 0, 0, 0x10 },
	{ PT_GNU_RELRO, RO, 0x000dd0, 0x001dd0, 0x000230, 0x000230, 0x1 },
};

/* libfix-maxpage.so: -z max-page-size=0x200000, file offsets != vaddrs. */
static const struct sz_segment maxpage_seg[] = {
	{ PT_LOAD, RO, 0x000000, 0x000000, 0x000658, 0x000658, 0x200000 },
	{ PT_LOAD, RX, 0x200000, 0x200000, 0x00018d, 0x00018d, 0x200000 },
	{ PT_LOAD, RO, 0x400000, 0x400000, 0x000134, 0x000134, 0x200000 },
	{ PT_LOAD, RW, 0x5ffdd0, 0x7ffdd0, 0x000244, 0x000250, 0x200000 },
	{ PT_DYNAMIC, RW, 0x5ffde0, 0x7ffde0, 0x0001e0, 0x0001e0, 0x8 },
	{ PT_NOTE, RO, 0x000238, 0x000238, 0x000024, 0x000024, 0x4 },
	{ PT_GNU_EH_FRAME, RO, 0x400000, 0x400000, 0x00004c, 0x00004c, 0x4 },
	{ PT_GNU_STACK, RW, 0, 0, 0, 0, 0x10 },
	{ PT_GNU_RELRO, RO, 0x5ffdd0, 0x7ffdd0, 0x000230, 0x000230, 0x1 },
};

/* libfix-nosep-maxpage.so */
static const struct sz_segment nosep_maxpage_seg[] = {
	{ PT_LOAD, RX, 0x000000, 0x000000, 0x0008b4, 0x0008b4, 0x200000 },
	{ PT_LOAD, RW, 0x1ffdd0, 0x3ffdd0, 0x000244, 0x000250, 0x200000 },
	{ PT_NOTE, RO, 0x0001c8, 0x0001c8, 0x000024, 0x000024, 0x4 },
	{ PT_GNU_RELRO, RO, 0x1ffdd0, 0x3ffdd0, 0x000230, 0x000230, 0x1 },
};

/* libfix-64k-nosep.so: max-page-size=0x10000, run on 4K and on 64K pages. */
static const struct sz_segment nosep64k_seg[] = {
	{ PT_LOAD, RX, 0x000000, 0x000000, 0x0008a4, 0x0008a4, 0x10000 },
	{ PT_LOAD, RW, 0x00fdd0, 0x01fdd0, 0x000244, 0x000250, 0x10000 },
	{ PT_NOTE, RO, 0x0001c8, 0x0001c8, 0x000024, 0x000024, 0x4 },
	{ PT_GNU_RELRO, RO, 0x00fdd0, 0x01fdd0, 0x000230, 0x000230, 0x1 },
};

/* Debian 12 /lib/x86_64-linux-gnu/libc.so.6 */
static const struct sz_segment libc_seg[] = {
	{ PT_PHDR, RO, 0x000040, 0x000040, 0x000310, 0x000310, 0x8 },
	{ PT_INTERP, RO, 0x1a1b10, 0x1a1b10, 0x00001c, 0x00001c, 0x10 },
	{ PT_LOAD, RO, 0x000000, 0x000000, 0x025388, 0x025388, 0x1000 },
	{ PT_LOAD, RX, 0x026000, 0x026000, 0x1550fc, 0x1550fc, 0x1000 },
	{ PT_LOAD, RO, 0x17c000, 0x17c000, 0x052c31, 0x052c31, 0x1000 },
	{ PT_LOAD, RW, 0x1cf8d0, 0x1cf8d0, 0x004f98, 0x012680, 0x1000 },
	{ PT_DYNAMIC, RW, 0x1d2b60, 0x1d2b60, 0x000200, 0x000200, 0x8 },
	{ PT_NOTE, RO, 0x000350, 0x000350, 0x000020, 0x000020, 0x8 },
	{ PT_NOTE, RO, 0x000370, 0x000370, 0x000044, 0x000044, 0x4 },
	{ PT_TLS, RO, 0x1cf8d0, 0x1cf8d0, 0x000010, 0x000090, 0x8 },
	{ PT_GNU_EH_FRAME, RO, 0x1a1b2c, 0x1a1b2c, 0x007414, 0x007414, 0x4 },
	{ PT_GNU_STACK, RW, 0, 0, 0, 0, 0x10 },
	{ PT_GNU_RELRO, RO, 0x1cf8d0, 0x1cf8d0, 0x003730, 0x003730, 0x1 },
};

/* build/fixtures/target-nopie: ET_EXEC at 0x400000. */
static const struct sz_segment exec_seg[] = {
	{ PT_PHDR, RO, 0x000040, 0x400040, 0x0002d8, 0x0002d8, 0x8 },
	{ PT_INTERP, RO, 0x000318, 0x400318, 0x00001c, 0x00001c, 0x1 },
	{ PT_LOAD, RO, 0x000000, 0x400000, 0x000a60, 0x000a60, 0x1000 },
	{ PT_LOAD, RX, 0x001000, 0x401000, 0x0005a5, 0x0005a5, 0x1000 },
	{ PT_LOAD, RO, 0x002000, 0x402000, 0x0002f0, 0x0002f0, 0x1000 },
	{ PT_LOAD, RW, 0x002df8, 0x403df8, 0x000294, 0x0002f8, 0x1000 },
	{ PT_DYNAMIC, RW, 0x002e08, 0x403e08, 0x0001d0, 0x0001d0, 0x8 },
	{ PT_GNU_RELRO, RO, 0x002df8, 0x403df8, 0x000208, 0x000208, 0x1 },
};

/* Synthetic: a bss-only PT_LOAD (filesz 0) whose offset would win if used. */
static const struct sz_segment bss_only_seg[] = {
	{ PT_LOAD, RO, 0x000000, 0x000000, 0x000650, 0x000650, 0x1000 },
	{ PT_LOAD, RX, 0x001000, 0x001000, 0x00018d, 0x00018d, 0x1000 },
	{ PT_LOAD, RW, 0x002000, 0x005000, 0x000000, 0x003000, 0x1000 },
};

/* Synthetic: the first PT_LOAD has no file bytes and exactly the protection of
 * the real first one; it must neither be chosen nor count as the first. */
static const struct sz_segment empty_first_seg[] = {
	{ PT_LOAD, RO, 0x000000, 0x000000, 0x000000, 0x001000, 0x1000 },
	{ PT_LOAD, RO, 0x000000, 0x001000, 0x000650, 0x000650, 0x1000 },
	{ PT_LOAD, RX, 0x001000, 0x002000, 0x00018d, 0x00018d, 0x1000 },
};

/* Synthetic: non-PT_LOAD segments that would give other answers. */
static const struct sz_segment decoy_seg[] = {
	{ PT_NOTE, RO, 0x005000, 0x009000, 0x000100, 0x000100, 0x4 },
	{ PT_LOAD, RO, 0x000000, 0x000000, 0x001000, 0x001000, 0x1000 },
	{ PT_TLS, RO, 0x000000, 0x700000, 0x000100, 0x000100, 0x8 },
};

static const struct sz_layout libfix = LAYOUT(ET_DYN, libfix_seg);
static const struct sz_layout nosep = LAYOUT(ET_DYN, nosep_seg);
static const struct sz_layout maxpage = LAYOUT(ET_DYN, maxpage_seg);
static const struct sz_layout nosep_maxpage = LAYOUT(ET_DYN, nosep_maxpage_seg);
static const struct sz_layout nosep64k = LAYOUT(ET_DYN, nosep64k_seg);
static const struct sz_layout libc = LAYOUT(ET_DYN, libc_seg);
static const struct sz_layout exec = LAYOUT(ET_EXEC, exec_seg);
static const struct sz_layout bss_only = LAYOUT(ET_DYN, bss_only_seg);
static const struct sz_layout empty_first = LAYOUT(ET_DYN, empty_first_seg);
static const struct sz_layout decoy = LAYOUT(ET_DYN, decoy_seg);
static const struct sz_layout core = LAYOUT(ET_CORE, libfix_seg);
static const struct sz_layout none = LAYOUT(ET_NONE, libfix_seg);
static const struct sz_layout rel = { ET_REL, 0, NULL };

#define AMBIGUOUS 2 /* .ret: 0, but the bias is not checked (see the row) */

struct bias_case {
	const char *what;
	const struct sz_layout *l;
	uint64_t start, pgoff;
	unsigned prot;
	uint64_t pagesz;
	int ret;       /* sz_elf_load_bias */
	uint64_t bias; /* by hand: start - (vaddr - offset), page-aligned pieces */
	int seg;       /* sz_elf_mapping_segment: index or -errno */
	int first;     /* sz_elf_is_first_load_mapping */
};

/*
 * Mappings are the ones ld.so made (cat /proc/PID/maps after dlopen); the
 * base B of each load is the start of its first mapping.
 */
static const struct bias_case cases[] = {
	/* libfix.so, B = 0x7fb2aab71000 */
	{ "libfix r--p 0", &libfix, 0x7fb2aab71000, 0x0000, R, 4096, 0, 0x7fb2aab71000, 0, 1 },
	{ "libfix r-xp 1000", &libfix, 0x7fb2aab72000, 0x1000, R | X, 4096, 0, 0x7fb2aab71000, 1,
	  0 },
	{ "libfix r--p 2000", &libfix, 0x7fb2aab73000, 0x2000, R, 4096, 0, 0x7fb2aab71000, 2, 0 },
	/* The RELRO page of the RW segment is r--p at offset 0x2000 too: the
	 * same (offset, prot) as segment 2, so the answer is segment 2 and the
	 * bias is off by a page.  Only the first-load mapping is used for the
	 * bias, and this one is not it. */
	{ "libfix RELRO r--p 2000", &libfix, 0x7fb2aab74000, 0x2000, R, 4096, AMBIGUOUS, 0, 2, 0 },
	{ "libfix rw-p 3000 (RELRO split)", &libfix, 0x7fb2aab75000, 0x3000, R | W, 4096, 0,
	  0x7fb2aab71000, 3, 0 },
	{ "libfix first page made writable", &libfix, 0x7fb2aab71000, 0x0000, R | W, 4096, 0,
	  0x7fb2aab71000, 0, 0 },
	{ "libfix offset in no segment", &libfix, 0x7fb2aab79000, 0x5000, R, 4096, -ENOENT, 0,
	  -ENOENT, 0 },
	{ "libfix offset past the data", &libfix, 0x7fb2aab76000, 0x4000, R | W, 4096, -ENOENT, 0,
	  -ENOENT, 0 },

	/* libfix-nosep.so, B = 0x7f98fd3de000: segments 0 and 1 share page 0 */
	{ "nosep r-xp 0", &nosep, 0x7f98fd3de000, 0x0000, R | X, 4096, 0, 0x7f98fd3de000, 0, 1 },
	{ "nosep RELRO r--p 0", &nosep, 0x7f98fd3df000, 0x0000, R, 4096, 0, 0x7f98fd3de000, 1, 0 },
	{ "nosep rw-p 0 (no RELRO)", &nosep, 0x7f98fd3df000, 0x0000, R | W, 4096, 0,
	  0x7f98fd3de000, 1, 0 },
	{ "nosep rw-p 1000", &nosep, 0x7f98fd3e0000, 0x1000, R | W, 4096, 0, 0x7f98fd3de000, 1,
	  0 },

	/* libfix-maxpage.so, B = 0x7f6573200000 */
	{ "maxpage r--p 0", &maxpage, 0x7f6573200000, 0x000000, R, 4096, 0, 0x7f6573200000, 0, 1 },
	{ "maxpage gap ---p 1000", &maxpage, 0x7f6573201000, 0x001000, 0, 4096, -EINVAL, 0,
	  -EINVAL, 0 },
	{ "maxpage r-xp 200000", &maxpage, 0x7f6573400000, 0x200000, R | X, 4096, 0,
	  0x7f6573200000, 1, 0 },
	{ "maxpage gap ---p 201000", &maxpage, 0x7f6573401000, 0x201000, 0, 4096, -EINVAL, 0,
	  -EINVAL, 0 },
	{ "maxpage r--p 400000", &maxpage, 0x7f6573600000, 0x400000, R, 4096, 0, 0x7f6573200000, 2,
	  0 },
	{ "maxpage RELRO r--p 5ff000", &maxpage, 0x7f65739ff000, 0x5ff000, R, 4096, 0,
	  0x7f6573200000, 3, 0 },
	{ "maxpage rw-p 600000", &maxpage, 0x7f6573a00000, 0x600000, R | W, 4096, 0,
	  0x7f6573200000, 3, 0 },

	/* libfix-nosep-maxpage.so, B = 0x7f2ffe200000 */
	{ "nosep-maxpage r-xp 0", &nosep_maxpage, 0x7f2ffe200000, 0x000000, R | X, 4096, 0,
	  0x7f2ffe200000, 0, 1 },
	{ "nosep-maxpage RELRO r--p 1ff000", &nosep_maxpage, 0x7f2ffe5ff000, 0x1ff000, R, 4096, 0,
	  0x7f2ffe200000, 1, 0 },
	{ "nosep-maxpage rw-p 200000", &nosep_maxpage, 0x7f2ffe600000, 0x200000, R | W, 4096, 0,
	  0x7f2ffe200000, 1, 0 },

	/* libfix-64k-nosep.so on 4K pages, B = 0x7f1000000000 */
	{ "64k on 4k r-xp 0", &nosep64k, 0x7f1000000000, 0x0000, R | X, 4096, 0, 0x7f1000000000, 0,
	  1 },
	{ "64k on 4k RELRO r--p f000", &nosep64k, 0x7f100001f000, 0xf000, R, 4096, 0,
	  0x7f1000000000, 1, 0 },
	{ "64k on 4k rw-p 10000", &nosep64k, 0x7f1000020000, 0x10000, R | W, 4096, 0,
	  0x7f1000000000, 1, 0 },
	/* ... and on 64K pages (arm64), where both segments start on page 0 */
	{ "64k on 64k r-xp 0", &nosep64k, 0x7f1000000000, 0x0000, R | X, 0x10000, 0,
	  0x7f1000000000, 0, 1 },
	{ "64k on 64k RELRO r--p 0", &nosep64k, 0x7f1000010000, 0x0000, R, 0x10000, 0,
	  0x7f1000000000, 1, 0 },
	{ "64k on 64k rw-p 10000", &nosep64k, 0x7f1000020000, 0x10000, R | W, 0x10000, 0,
	  0x7f1000000000, 1, 0 },

	/* libc.so.6, B = 0x7fa405985000 */
	{ "libc r--p 0", &libc, 0x7fa405985000, 0x000000, R, 4096, 0, 0x7fa405985000, 2, 1 },
	{ "libc r-xp 26000", &libc, 0x7fa4059ab000, 0x026000, R | X, 4096, 0, 0x7fa405985000, 3,
	  0 },
	{ "libc r--p 17c000", &libc, 0x7fa405b01000, 0x17c000, R, 4096, 0, 0x7fa405985000, 4, 0 },
	{ "libc RELRO r--p 1cf000", &libc, 0x7fa405b54000, 0x1cf000, R, 4096, 0, 0x7fa405985000, 5,
	  0 },
	/* RELRO split: the writable rest starts inside the data segment */
	{ "libc rw-p 1d3000", &libc, 0x7fa405b58000, 0x1d3000, R | W, 4096, 0, 0x7fa405985000, 5,
	  0 },
	{ "libc offset past the file", &libc, 0x7fa405b5a000, 0x1d5000, R | W, 4096, -ENOENT, 0,
	  -ENOENT, 0 },

	/* target-nopie: ET_EXEC, bias 0 */
	{ "exec r--p 0", &exec, 0x400000, 0x0000, R, 4096, 0, 0, 2, 1 },
	{ "exec r-xp 1000", &exec, 0x401000, 0x1000, R | X, 4096, 0, 0, 3, 0 },
	{ "exec rw-p 3000", &exec, 0x404000, 0x3000, R | W, 4096, 0, 0, 5, 0 },

	/* ET_REL: mapped whole, bias is the start; ET_CORE and ET_NONE refused */
	{ "rel pgoff 0", &rel, 0x7f0000010000, 0, R | X, 4096, 0, 0x7f0000010000, -ENOENT, 1 },
	{ "rel pgoff 1000", &rel, 0x7f0000011000, 0x1000, R, 4096, -EINVAL, 0, -ENOENT, 0 },
	{ "core", &core, 0x7f0000000000, 0, R, 4096, -EINVAL, 0, 0, 1 },
	{ "none", &none, 0x7f0000000000, 0, R, 4096, -EINVAL, 0, 0, 1 },

	/* bad page sizes */
	{ "page size 0", &libfix, 0x7fb2aab71000, 0, R, 0, -EINVAL, 0, -EINVAL, 0 },
	{ "page size 0x1800", &libfix, 0x7fb2aab71000, 0, R, 0x1800, -EINVAL, 0, -EINVAL, 0 },

	/* zero-filesz segments are ignored */
	{ "bss-only segment", &bss_only, 0x7f0000007000, 0x2000, R | W, 4096, -ENOENT, 0, -ENOENT,
	  0 },
	{ "bss-only, text", &bss_only, 0x7f0000001000, 0x1000, R | X, 4096, 0, 0x7f0000000000, 1,
	  0 },
	{ "empty first PT_LOAD", &empty_first, 0x7f0000001000, 0, R, 4096, 0, 0x7f0000000000, 1,
	  1 },
	{ "empty first PT_LOAD, text", &empty_first, 0x7f0000002000, 0x1000, R | X, 4096, 0,
	  0x7f0000000000, 2, 0 },

	/* non-PT_LOAD segments are ignored */
	{ "note segment offset", &decoy, 0x7f0000009000, 0x5000, R, 4096, -ENOENT, 0, -ENOENT, 0 },
	{ "after the note", &decoy, 0x7f0000000000, 0, R, 4096, 0, 0x7f0000000000, 1, 1 },
};

static void test_bias_table(void **state)
{
	int bad = 0;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct bias_case *c = &cases[i];
		uint64_t bias = 0xdeadbeef;
		int r = sz_elf_load_bias(c->l, c->start, c->start + 0x1000, c->pgoff, c->prot,
					 c->pagesz, &bias);
		int seg = sz_elf_mapping_segment(c->l, c->pgoff, c->prot, c->pagesz);
		int first = sz_elf_is_first_load_mapping(c->l, c->pgoff, c->prot, c->pagesz);
		int want = c->ret == AMBIGUOUS ? 0 : c->ret;

		if (r != want || (c->ret == 0 && bias != c->bias) || seg != c->seg ||
		    first != c->first) {
			print_error("%s: ret %d bias %#llx seg %d first %d, want %d %#llx %d %d\n",
				    c->what, r, (unsigned long long)bias, seg, first, want,
				    (unsigned long long)c->bias, c->seg, c->first);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Each load has exactly one first-load mapping among ld.so's mappings. */
static void test_one_first_load_per_instance(void **state)
{
	const struct sz_layout *layouts[] = { &libfix, &nosep, &maxpage, &nosep_maxpage,
					      &nosep64k, &libc, &exec };

	for (size_t k = 0; k < ARRAY_SIZE(layouts); k++) {
		int n = 0;

		for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
			if (cases[i].l == layouts[k] && cases[i].pagesz == 4096 &&
			    cases[i].ret == 0 && cases[i].prot != (R | W))
				n += sz_elf_is_first_load_mapping(layouts[k], cases[i].pgoff,
								  cases[i].prot, 4096);
		assert_int_equal(n, 1);
	}
}

static void test_bad_range(void **state)
{
	uint64_t bias = 7;

	assert_int_equal(sz_elf_load_bias(&libfix, 0x2000, 0x1000, 0, R, 4096, &bias), -EINVAL);
	assert_int_equal(sz_elf_load_bias(&rel, 0x2000, 0x1000, 0, R, 4096, &bias), -EINVAL);
	assert_int_equal(bias, 7);
	assert_int_equal(sz_elf_load_bias(&libfix, 0x2000, 0x2000, 0, R, 4096, &bias), 0);
	assert_int_equal(bias, 0x2000);
}

/* The mapping that speaks for a load: its code, mapped executable from the
 * code segment's page; never a reader's read-only mapping, never a piece. */
static void test_code_mapping(void **state)
{
	static const struct sz_segment data_only_seg[] = {
		{ PT_LOAD, RO, 0, 0, 0x100, 0x100, 0x1000 },
	};
	static const struct sz_layout data_only = LAYOUT(ET_DYN, data_only_seg);
	static const struct {
		const struct sz_layout *l;
		uint64_t pgoff;
		unsigned prot;
		int want;
	} rows[] = {
		{ &libfix, 0x1000, PROT_READ | PROT_EXEC, 1 },
		{ &libfix, 0x0000, PROT_READ, 0 },		 /* first load, no code */
		{ &libfix, 0x1000, PROT_READ, 0 },		 /* code page mapped to be read */
		{ &libfix, 0x2000, PROT_READ, 0 },
		{ &nosep, 0x0000, PROT_READ | PROT_EXEC, 1 }, /* first segment is the code */
		{ &nosep, 0x0000, PROT_READ | PROT_WRITE, 0 }, /* the data page at offset 0 */
		{ &nosep, 0x0000, PROT_READ, 0 },		 /* a reader of the whole file */
		{ &maxpage, 0x200000, PROT_READ | PROT_EXEC, 1 },
		{ &maxpage, 0x000000, PROT_READ, 0 },
		{ &nosep64k, 0x0000, PROT_READ | PROT_EXEC, 1 },
		{ &exec, 0x1000, PROT_READ | PROT_EXEC, 1 },
		{ &libc, 0x26000, PROT_READ | PROT_EXEC, 1 },
		{ &libc, 0x27000, PROT_READ | PROT_EXEC, 0 }, /* a piece of split code */
		{ &data_only, 0, PROT_READ, 1 },		 /* no code: the first mapping */
		{ &data_only, 0, PROT_READ | PROT_WRITE, 0 },
		{ &libfix, 0x1000, PROT_NONE, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int got = sz_elf_is_code_mapping(rows[i].l, rows[i].pgoff, rows[i].prot, 4096);

		if (got != rows[i].want)
			fail_msg("row %zu: pgoff 0x%llx prot %u: got %d, want %d", i,
				 (unsigned long long)rows[i].pgoff, rows[i].prot, got, rows[i].want);
	}
}

static void test_first_load(void **state)
{
	static const struct sz_segment nothing[] = {
		{ PT_NOTE, RO, 0, 0, 0x10, 0x10, 4 },
		{ PT_LOAD, RW, 0, 0, 0, 0x1000, 0x1000 },
	};
	static const struct sz_layout empty = LAYOUT(ET_DYN, nothing);

	assert_int_equal(sz_elf_first_load(&libfix), 0);
	assert_int_equal(sz_elf_first_load(&libc), 2);
	assert_int_equal(sz_elf_first_load(&empty_first), 1);
	assert_int_equal(sz_elf_first_load(&empty), -ENOENT);
	assert_int_equal(sz_elf_is_first_load_mapping(&empty, 0, R, 4096), 0);
}

struct off_case {
	const char *what;
	const struct sz_layout *l;
	uint64_t vaddr;
	int ret;
	uint64_t off;
};

static const struct off_case offs[] = {
	{ "libfix fix_func", &libfix, 0x1120, 0, 0x1120 },
	{ "libfix fix_data", &libfix, 0x4010, 0, 0x3010 },
	{ "libfix last file byte", &libfix, 0x4013, 0, 0x3013 },
	{ "libfix fix_bss", &libfix, 0x4018, -ENOENT, 0 },
	{ "libfix first bss byte", &libfix, 0x4014, -ENOENT, 0 },
	{ "libfix .dynamic", &libfix, 0x3de0, 0, 0x2de0 },
	{ "libfix between segments", &libfix, 0x650, -ENOENT, 0 },
	{ "libfix end of segment 0", &libfix, 0x64f, 0, 0x64f },
	{ "libfix vaddr 0", &libfix, 0, 0, 0 },
	{ "libfix huge vaddr", &libfix, UINT64_MAX, -ENOENT, 0 },
	{ "maxpage data", &maxpage, 0x800010, 0, 0x600010 },
	{ "maxpage text", &maxpage, 0x200100, 0, 0x200100 },
	{ "maxpage gap", &maxpage, 0x300000, -ENOENT, 0 },
	{ "nosep data", &nosep, 0x1dd0, 0, 0xdd0 },
	{ "libc text", &libc, 0x9be70, 0, 0x9be70 },
	{ "libc data", &libc, 0x1cf9d0, 0, 0x1cf9d0 },
	{ "libc bss", &libc, 0x1cf8d0 + 0x5000, -ENOENT, 0 },
	{ "exec text", &exec, 0x401010, 0, 0x1010 },
	{ "exec data", &exec, 0x404000, 0, 0x3000 },
	{ "exec below the image", &exec, 0x1010, -ENOENT, 0 },
	{ "decoy note vaddr", &decoy, 0x9010, -ENOENT, 0 },
	{ "decoy tls vaddr", &decoy, 0x700010, -ENOENT, 0 },
	{ "bss-only segment", &bss_only, 0x5000, -ENOENT, 0 },
};

static void test_vaddr_to_offset(void **state)
{
	int bad = 0;

	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		uint64_t off = 0x1234567;
		int r = sz_elf_vaddr_to_offset(offs[i].l, offs[i].vaddr, &off);

		if (r != offs[i].ret || (!r && off != offs[i].off)) {
			print_error("%s: ret %d off %#llx\n", offs[i].what, r,
				    (unsigned long long)off);
			bad++;
		}
		/* And back, where there is a way back. */
		if (!r) {
			uint64_t va = 0;

			assert_int_equal(sz_elf_offset_to_vaddr(offs[i].l, off, &va), 0);
			assert_int_equal(va, offs[i].vaddr);
		}
	}
	assert_int_equal(bad, 0);
}

static void test_offset_to_vaddr(void **state)
{
	uint64_t va;

	assert_int_equal(sz_elf_offset_to_vaddr(&libfix, 0x3010, &va), 0);
	assert_int_equal(va, 0x4010);
	assert_int_equal(sz_elf_offset_to_vaddr(&libfix, 0x2010, &va), 0);
	assert_int_equal(va, 0x2010); /* segment 2 holds it */
	assert_int_equal(sz_elf_offset_to_vaddr(&libfix, 0x2dd0, &va), 0);
	assert_int_equal(va, 0x3dd0);
	assert_int_equal(sz_elf_offset_to_vaddr(&libfix, 0x3014, &va), -ENOENT);
	assert_int_equal(sz_elf_offset_to_vaddr(&maxpage, 0x5ffdd0, &va), 0);
	assert_int_equal(va, 0x7ffdd0);
	assert_int_equal(sz_elf_offset_to_vaddr(&exec, 0x1000, &va), 0);
	assert_int_equal(va, 0x401000);
	assert_int_equal(sz_elf_offset_to_vaddr(&decoy, 0x5010, &va), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bias_table),
		cmocka_unit_test(test_one_first_load_per_instance),
		cmocka_unit_test(test_bad_range),
		cmocka_unit_test(test_first_load),
		cmocka_unit_test(test_code_mapping),
		cmocka_unit_test(test_vaddr_to_offset),
		cmocka_unit_test(test_offset_to_vaddr),
	};

	return cmocka_run_group_tests_name("bias", tests, NULL, NULL);
}
