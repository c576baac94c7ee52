// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for MiniDebugInfo: the first byte chooses whether the rest is xz data
 * (decompressed with the bound, then used as the inner image) or the inner image itself;
 * the image is opened, its address index built and searched, and its own
 * .gnu_debugdata and .gnu_debuglink read.  Must never crash, and never decompress past
 * the bound.
 */
#include "elf/sz_addr.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_XZ_MAX (16u << 20)

static void image(const void *buf, size_t len)
{
	const struct sz_addr_index *ix;
	struct sz_addr_sym s;
	struct sz_elf *e = NULL, *inner = NULL;
	Elf_Data *d;
	char name[SZ_DEBUGLINK_NAME_MAX + 1];
	uint32_t crc;
	int fd = memfd_create("fuzz", MFD_CLOEXEC), ifd;

	if (fd < 0)
		return;
	if (write(fd, buf, len) != (ssize_t)len || sz_elf_open(fd, &e, NULL, 0)) {
		close(fd);
		return;
	}
	if (sz_elf_addr_index(e, &ix) == 0) {
		size_t n = sz_addr_index_count(ix);

		for (size_t i = 0; i < n && i < 64; i++) {
			if (sz_addr_index_entry(ix, i, &s))
				abort();
			if (s.end <= s.start && s.end != UINT64_MAX)
				abort();
			sz_addr_index_lookup(ix, s.start, &s);
			sz_addr_index_lookup(ix, s.start + 1, &s);
		}
		sz_addr_index_lookup(ix, 0, &s);
		sz_addr_index_lookup(ix, UINT64_MAX, &s);
	}
	d = sz_elf_section_by_name(e, ".gnu_debuglink");
	if (d)
		sz_debuglink_parse(d->d_buf, d->d_size, 0, name, sizeof(name), &crc);
	/* One level of nesting: an inner image's own .gnu_debugdata, bounded as well. */
	if (sz_minidebug_open(e, &inner, &ifd) == 0) {
		sz_elf_addr_index(inner, &ix);
		sz_elf_close(inner);
		close(ifd);
	}
	sz_elf_close(e);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *out;
	size_t outlen;

	if (!size)
		return 0;
	if (data[0] & 1) {
		image(data + 1, size - 1);
		return 0;
	}
	if (sz_xz_decompress(data + 1, size - 1, FUZZ_XZ_MAX, &out, &outlen) == 0) {
		if (outlen > FUZZ_XZ_MAX)
			abort();
		image(out, outlen);
		free(out);
	}
	return 0;
}
