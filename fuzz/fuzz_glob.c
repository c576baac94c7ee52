// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the glob matcher, with fnmatch(3) as the oracle: input
 * is "pattern\0subject"; every pattern we accept must match as fnmatch does.
 */
#include "util/glob.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[1024], *subject;
	struct sz_glob g;
	size_t plen;
	int ours, theirs;

	if (size >= sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	plen = strlen(buf);
	if (plen == size)
		return 0;
	subject = buf + plen + 1;
	if (strlen(subject) > SZ_GLOB_MAX_NAME || sz_glob_compile(buf, &g))
		return 0;
	ours = sz_glob_match(&g, subject, strlen(subject));
	theirs = fnmatch(buf, subject, (g.flags & SZ_GLOB_PATHNAME) ? FNM_PATHNAME : 0) == 0;
	if (ours != theirs)
		abort();
	return 0;
}
