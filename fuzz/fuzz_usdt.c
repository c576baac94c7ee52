// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the USDT parser.  The first byte picks the entry: 0 a raw
 * .note.stapsdt area (bits 3-4: alignment, bit 5: 32-bit addresses), 1 an
 * argument spec, 2 a whole ELF file read by sz_usdt_read.  Must never crash.
 */
#include "elf/usdt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int touch(const struct sz_usdt_note *n, void *ctx)
{
	*(size_t *)ctx += strlen(n->provider) + strlen(n->name) + strlen(n->spec);
	return 0;
}

static void whole_file(const uint8_t *data, size_t size)
{
	struct sz_usdt_pattern pat;
	struct sz_usdt_set *s;
	struct sz_elf *e;
	char err[128];
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, data, size) == (ssize_t)size && !sz_elf_open(fd, &e, err, sizeof(err))) {
		if (!sz_usdt_read(e, &s, err, sizeof(err))) {
			sz_usdt_pattern_compile("*:*", &pat, err, sizeof(err));
			for (size_t i = 0; i < s->n; i++)
				sz_usdt_pattern_match(&pat, &s->probes[i]);
			sz_usdt_set_free(s);
		}
		sz_elf_close(e);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t aligns[] = { 4, 8, 0, 3 };
	struct sz_usdt_arg args[SZ_USDT_MAX_ARGS];
	size_t sum = 0;
	char *spec;
	int pos;

	if (!size)
		return 0;
	switch (data[0] & 3) {
	case 0:
		sz_usdt_parse_notes(data + 1, size - 1, aligns[(data[0] >> 3) & 3],
				    (data[0] >> 5) & 1 ? 4 : 8, touch, &sum);
		break;
	case 1:
		spec = malloc(size);
		if (!spec)
			return 0;
		memcpy(spec, data + 1, size - 1);
		spec[size - 1] = 0;
		sz_usdt_parse_args(spec, args, SZ_USDT_MAX_ARGS, &pos);
		free(spec);
		break;
	default:
		whole_file(data + 1, size - 1);
	}
	return 0;
}
