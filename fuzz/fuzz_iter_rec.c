// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the reader of the kernel-side scan's records
 * (src/sources/iter.c): any bytes are cut into records by sz_iter_rec_len as
 * the reader does, each accepted record goes to sz_iter_rec_mapping.
 */
#include "sources/iter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		char comm[SZ_ITER_COMM_LEN + 1];
		struct sz_mapping m;
		long len = sz_iter_rec_len(data + off, size - off);
		char *rec;

		if (len <= 0)
			break;
		if ((size_t)len > size - off || len < SZ_ITER_HDR_LEN + 1)
			abort();
		/* exactly LEN bytes: ASan catches any access past the record */
		rec = malloc((size_t)len);
		if (!rec)
			return 0;
		memcpy(rec, data + off, (size_t)len);
		if (sz_iter_rec_mapping(rec, comm, &m) == 0) {
			if (strlen(m.path) > (size_t)len - SZ_ITER_HDR_LEN - 1 ||
			    strlen(m.comm) > SZ_ITER_COMM_LEN || m.end <= m.start || m.pid <= 0)
				abort();
		}
		free(rec);
		off += (size_t)len;
	}
	return 0;
}
