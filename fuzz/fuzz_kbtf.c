// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the minimal kernel BTF (src/util/kbtf.c): the first
 * byte picks the parser, the rest is its input.
 *   0: the bytes as a kernel BTF, copied for a few roots and a wanted FUNC
 *   1: the bytes as an eBPF ELF object, its CO-RE roots read
 * Seeds: our own objects' .BTF sections and objects (make fuzz).
 */
#include "util/kbtf.h"

#include <linux/btf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sz_kbtf_root roots[8] = {
		{ BTF_KIND_STRUCT, "task_struct" }, { BTF_KIND_STRUCT, "file" },
		{ BTF_KIND_UNION, "u" },	       { BTF_KIND_TYPEDEF, "t" },
		{ BTF_KIND_ENUM, "pid_type" },
	};
	struct sz_kbtf_want want = { BTF_KIND_FUNC, "bpf_iter_task_vma", 0 };
	unsigned char *copy;
	size_t n = 0, len;
	void *out;

	if (size < 1)
		return 0;
	/* exactly the input's bytes: ASan catches any read past them */
	copy = malloc(size - 1 ? size - 1 : 1);
	memcpy(copy, data + 1, size - 1);
	if (data[0] == 0) {
		if (sz_kbtf_build(copy, size - 1, roots, 5, &want, 1, &out, &len) == 0)
			free(out);
	} else {
		sz_kbtf_roots(copy, size - 1, roots, &n, 8);
	}
	free(copy);
	return 0;
}
