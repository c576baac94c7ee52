// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the /proc/PID/maps line parser: parsed fields must be
 * consistent with the input whenever the parser accepts a line.
 */
#include "proc/maps.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	struct sz_map m;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (sz_maps_parse_line(line, size, &m) == 0) {
		if (m.end < m.start || m.path < line || m.path + m.path_len > line + size ||
		    m.path[m.path_len] != '\0')
			abort();
		(void)sz_map_is_file(&m);
	}
	free(line);
	return 0;
}
