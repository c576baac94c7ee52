// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the decoder of the argument data a --trace call record
 * carries (sz_args_decode): the first bytes choose a set of --arg specs, the
 * rest is the data as the ring would deliver it, any length.
 */
#include "consumers/args.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sz_arg_spec specs[SZ_ARGS_MAX];
	struct sz_arg_value vals[SZ_ARGS_MAX];
	uint64_t regs[6] = { 1, 2, 3, 4, 5, 6 };
	struct sz_args *a = NULL;
	unsigned char *rec;
	size_t n, i;

	if (size < 1)
		return 0;
	n = data[0] % (SZ_ARGS_MAX + 1);
	if (size < 1 + 4 * n)
		return 0;
	for (i = 0; i < n; i++) {
		const uint8_t *s = data + 1 + 4 * i;

		specs[i] = (struct sz_arg_spec){ .arg = s[0] % 7,
						 .type = (enum sz_arg_type)(s[1] % 9),
						 .len = (unsigned)s[2] * 17u,
						 .len_arg = s[3] % 8 };
	}
	if (sz_args_from_specs(specs, n, &a) || !a)
		return 0;
	size -= 1 + 4 * n;
	/* exactly SIZE bytes: ASan catches any read past the data */
	rec = malloc(size ? size : 1);
	if (!rec) {
		sz_args_free(a);
		return 0;
	}
	memcpy(rec, data + 1 + 4 * n, size);
	if (!sz_args_decode(a, regs, rec, size, vals)) {
		for (i = 0; i < sz_args_nvalues(a); i++) {
			const struct sz_arg_value *v = &vals[i];

			if (v->data && (v->data < rec || v->data + v->len > rec + size))
				abort();
			if ((v->fault || v->null) && v->len)
				abort();
			if (v->len > SZ_ARGS_DATA_MAX)
				abort();
		}
	}
	free(rec);
	sz_args_free(a);
	return 0;
}
