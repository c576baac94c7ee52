// SPDX-License-Identifier: BSD-2-Clause
/*
 * ELF note parsing for the GNU build-ID, bounded as pprof's elfexec does it:
 * name and desc limited to 1 MiB each, padding to the area's alignment, a
 * truncated note is an error, and two build-IDs in one area are an error.
 */
#include "sz_elf.h"

#include <byteswap.h>
#include <errno.h>
#include <string.h>

#define NT_GNU_BUILD_ID_TYPE 3

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint32_t rd32(const unsigned char *p, int swap)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return swap ? bswap_32(v) : v;
}

int sz_notes_build_id(const void *buf, size_t len, uint64_t align, int swap, unsigned char *id,
		      size_t *id_len)
{
	const unsigned char *p = buf;
	uint64_t off = 0;
	int found = 0;

	if (align == 0 || align == 1 || align == 4)
		align = 4;
	else if (align != 8)
		return -EINVAL;
	if (len > SZ_NOTE_AREA_MAX)
		return -EFBIG;
	while (off < len) {
		uint32_t namesz, descsz, type;
		uint64_t desc_off, next;

		if (len - off < 12)
			return -EBADMSG; /* truncated header */
		namesz = rd32(p + off, swap);
		descsz = rd32(p + off + 4, swap);
		type = rd32(p + off + 8, swap);
		if (namesz > SZ_NOTE_MAX || descsz > SZ_NOTE_MAX)
			return -EBADMSG; /* oversized */
		if (off + 12 + namesz > len)
			return -EBADMSG; /* name cut short */
		desc_off = off + align_up(12 + (uint64_t)namesz, align);
		if (desc_off > len || desc_off + descsz > len)
			return -EBADMSG; /* padding or desc cut short */
		if (type == NT_GNU_BUILD_ID_TYPE &&
		    ((namesz == 4 && !memcmp(p + off + 12, "GNU", 4)) ||
		     (namesz == 3 && !memcmp(p + off + 12, "GNU", 3)))) {
			if (found)
				return -ENOTUNIQ;
			if (descsz == 0 || descsz > SZ_BUILD_ID_MAX)
				return -EBADMSG;
			memcpy(id, p + desc_off, descsz);
			*id_len = descsz;
			found = 1;
		}
		/* The last note's padding may run past the area's end. */
		next = desc_off + align_up(descsz, align);
		off = next > len ? len : next;
	}
	return found;
}
