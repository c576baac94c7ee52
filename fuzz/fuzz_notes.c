// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the build-ID note parser, fed raw note areas: the
 * first byte chooses alignment and byte order, the rest is the area.
 */
#include "elf/sz_elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t aligns[] = { 0, 1, 4, 8, 3, 16 };
	unsigned char id[SZ_BUILD_ID_MAX];
	size_t len = 0;

	if (!size)
		return 0;
	sz_notes_build_id(data + 1, size - 1, aligns[data[0] % 6], (data[0] >> 3) & 1, id, &len);
	return 0;
}
