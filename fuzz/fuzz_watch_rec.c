// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the watch record checker and path decoder: any bytes go
 * to sz_watch_rec_check, records it accepts (variable-length) to
 * sz_watch_rec_name and sz_watch_rec_path.
 */
#include "sources/watch_rec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sz_watch_rec *r;
	char out[SZ_WATCH_PATH_LEN + 1];
	size_t outsz;
	int ret;

	if (sz_watch_rec_check(data, size))
		return 0;
	/* exactly SIZE bytes, aligned: ASan catches any read past the record */
	r = malloc(size);
	if (!r)
		return 0;
	memcpy(r, data, size);
	if (strlen(sz_watch_rec_name(r)) != r->name_len)
		abort();
	/* vary the output size too, from the record's flags word */
	outsz = r->flags % sizeof(out) + 1;
	memset(out, '#', sizeof(out));
	ret = sz_watch_rec_path(r, out, outsz);
	if (!memchr(out, '\0', outsz))
		abort();
	if (ret != 0 && ret != -ENOENT && ret != -ENAMETOOLONG && ret != -EBADMSG)
		abort();
	if (ret == 0 && (out[0] != '/' || strlen(out) != r->path_len))
		abort();
	free(r);
	return 0;
}
