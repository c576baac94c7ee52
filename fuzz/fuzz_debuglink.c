// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the .gnu_debuglink parser, fed raw section contents: the first
 * byte chooses the byte order, the rest is the section.  Must never crash, and a name
 * it accepts must be a plain file name of bounded length.
 */
#include "elf/sz_addr.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[SZ_DEBUGLINK_NAME_MAX + 1];
	uint32_t crc;

	if (!size)
		return 0;
	if (sz_debuglink_parse(data + 1, size - 1, data[0] & 1, name, sizeof(name), &crc) == 0) {
		size_t n = strlen(name);

		if (!n || n > SZ_DEBUGLINK_NAME_MAX || strchr(name, '/') || !strcmp(name, "..") ||
		    !strcmp(name, "."))
			abort();
	}
	return 0;
}
