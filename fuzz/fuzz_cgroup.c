// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the /proc/PID/cgroup parser (the path in it names
 * directories a container may create): an accepted path is a NUL-free copy
 * of the "0::" line's rest, within the buffer, whatever the input.
 */
#include "proc/cgroup.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[64];
	size_t n;

	memset(out, 'x', sizeof(out));
	if (sz_cgroup_parse((const char *)data, size, out, sizeof(out)) == 0) {
		n = strlen(out);
		if (n >= sizeof(out) || !memmem(data, size, "0::", 3) ||
		    !memmem(data, size, out, n))
			abort();
	}
	return 0;
}
