// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the reader of perf's mapping records (src/sources/
 * perfmmap.c, --mmap-hook perf): any bytes are cut into records by their
 * header's size as the ring reader does, each one goes to sz_perfmmap_rec.
 */
#include "sources/perfmmap.h"

#include <linux/perf_event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (size - off >= sizeof(struct perf_event_header)) {
		struct perf_event_header h;
		char path[256];
		struct sz_mapping m;
		uint64_t lost = 0;
		char *rec;
		int rc;

		memcpy(&h, data + off, sizeof(h));
		if (h.size < sizeof(h) || h.size > size - off)
			break;
		/* exactly h.size bytes: ASan catches any access past the record */
		rec = malloc(h.size);
		if (!rec)
			return 0;
		memcpy(rec, data + off, h.size);
		/* a small PATH: names longer than it are refused, never cut */
		rc = sz_perfmmap_rec(rec, h.size, path, sizeof(path), &m, &lost);
		if (rc == 0 && (strlen(m.path) >= sizeof(path) || m.path[0] != '/' ||
				m.end <= m.start || m.pid <= 0 || !m.ino))
			abort();
		free(rec);
		off += h.size;
	}
	return 0;
}
