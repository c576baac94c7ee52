// SPDX-License-Identifier: BSD-2-Clause
/*
 * Address arithmetic between a mapping, the file and the symbol table.  The
 * loader maps each PT_LOAD segment at bias + p_vaddr rounded down to the
 * system page size, from file offset p_offset rounded down the same way; so a
 * mapping (start, pgoff) that begins a segment gives
 *     bias = start - pgoff + (p_offset - p_vaddr)            (pprof's GetBase)
 * The work is in choosing the segment: with -z noseparate-code or small
 * segments two segments can share a file page, so we match the mapping's
 * offset to a segment start and break ties with the protection bits; and in
 * choosing the mapping: one per load speaks for it, its code.
 */
#include "sz_elf.h"

#include <errno.h>
#include <sys/mman.h>

static int prot_score(uint32_t pflags, unsigned prot)
{
	int s = 0;

	s += !!(pflags & PF_R) == !!(prot & PROT_READ);
	s += !!(pflags & PF_W) == !!(prot & PROT_WRITE);
	s += 2 * (!!(pflags & PF_X) == !!(prot & PROT_EXEC));
	return s;
}

int sz_elf_mapping_segment(const struct sz_layout *l, uint64_t pgoff, unsigned prot,
			   uint64_t pagesz)
{
	int best = -1, inside = -1, best_score = -1, ninside = 0;
	uint64_t mask = pagesz - 1;

	if (!pagesz || (pagesz & mask) || !(prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
		return -EINVAL; /* PROT_NONE: a gap ld.so reserved, not a segment */
	for (size_t i = 0; i < l->nseg; i++) {
		const struct sz_segment *s = &l->seg[i];
		uint64_t aligned = s->offset & ~mask;
		int score;

		/* Zero-filesz segments have meaningless offsets (elfexec). */
		if (s->type != PT_LOAD || !s->filesz)
			continue;
		if (aligned <= pgoff && pgoff < s->offset + s->filesz) {
			inside = (int)i;
			ninside++;
		}
		if (aligned != pgoff)
			continue;
		score = prot_score(s->flags, prot);
		if (score > best_score) {
			best = (int)i;
			best_score = score;
		}
	}
	if (best >= 0)
		return best;
	/* A piece of a segment split by mprotect (RELRO): unambiguous only if one
	 * segment holds that offset. */
	return ninside == 1 ? inside : -ENOENT;
}

int sz_elf_first_load(const struct sz_layout *l)
{
	for (size_t i = 0; i < l->nseg; i++)
		if (l->seg[i].type == PT_LOAD && l->seg[i].filesz)
			return (int)i;
	return -ENOENT;
}

/* Index of the first executable PT_LOAD segment, or -ENOENT. */
static int exec_segment(const struct sz_layout *l)
{
	for (size_t i = 0; i < l->nseg; i++)
		if (l->seg[i].type == PT_LOAD && l->seg[i].filesz && (l->seg[i].flags & PF_X))
			return (int)i;
	return -ENOENT;
}

int sz_elf_is_first_load_mapping(const struct sz_layout *l, uint64_t pgoff, unsigned prot,
				 uint64_t pagesz)
{
	int first = sz_elf_first_load(l);
	const struct sz_segment *s;

	if (l->e_type == ET_REL)
		return pgoff == 0;
	if (first < 0 || sz_elf_mapping_segment(l, pgoff, prot, pagesz) != first)
		return 0;
	s = &l->seg[first];
	return prot_score(s->flags, prot) == 4;
}

int sz_elf_is_code_mapping(const struct sz_layout *l, uint64_t pgoff, unsigned prot,
			   uint64_t pagesz)
{
	int x = exec_segment(l);

	if (x < 0 || l->e_type == ET_REL) /* no code: the load's first mapping is all */
		return sz_elf_is_first_load_mapping(l, pgoff, prot, pagesz);
	return (prot & PROT_EXEC) && pgoff == (l->seg[x].offset & ~(pagesz - 1)) &&
	       sz_elf_mapping_segment(l, pgoff, prot, pagesz) == x;
}

int sz_elf_load_bias(const struct sz_layout *l, uint64_t start, uint64_t end, uint64_t pgoff,
		     unsigned prot, uint64_t pagesz, uint64_t *bias)
{
	const struct sz_segment *s;
	int i;

	if (end < start)
		return -EINVAL;
	if (l->e_type == ET_REL) {
		/* Relocatable objects are mapped whole; symbols are file-relative. */
		if (pgoff)
			return -EINVAL;
		*bias = start;
		return 0;
	}
	if (l->e_type != ET_EXEC && l->e_type != ET_DYN)
		return -EINVAL;
	i = sz_elf_mapping_segment(l, pgoff, prot, pagesz);
	if (i < 0)
		return i;
	s = &l->seg[i];
	*bias = start - pgoff + s->offset - s->vaddr;
	return 0;
}

int sz_elf_vaddr_to_offset(const struct sz_layout *l, uint64_t vaddr, uint64_t *off)
{
	for (size_t i = 0; i < l->nseg; i++) {
		const struct sz_segment *s = &l->seg[i];

		if (s->type == PT_LOAD && vaddr >= s->vaddr && vaddr - s->vaddr < s->filesz) {
			*off = vaddr - s->vaddr + s->offset;
			return 0;
		}
	}
	return -ENOENT;
}

int sz_elf_offset_to_vaddr(const struct sz_layout *l, uint64_t off, uint64_t *vaddr)
{
	for (size_t i = 0; i < l->nseg; i++) {
		const struct sz_segment *s = &l->seg[i];

		if (s->type == PT_LOAD && off >= s->offset && off - s->offset < s->filesz) {
			*vaddr = off - s->offset + s->vaddr;
			return 0;
		}
	}
	return -ENOENT;
}
