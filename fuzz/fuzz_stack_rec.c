// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the userspace side of the --stacks ring record: the bounds check
 * (sz_stack_rec_parse), then unwinding and aggregation of what passed it, in FP or DWARF
 * mode (byte 0), for a process whose /proc cannot be read (a private empty directory),
 * so only the record's own bytes decide what happens.
 */
#include "consumers/stacks.h"
#include "pipeline/symbols.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = { "f", "g" };

static void on_stack(const char *symbol, const struct sz_stack *st, uint64_t calls, void *ctx)
{
	size_t *n = ctx;

	*n += st->nframes + (st->truncated ? strlen(st->truncated) : 0) + strlen(symbol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sz_stack_rec *hdr;
	const unsigned char *slice;
	struct sz_stacks *s;
	struct sz_symbols *syms;
	size_t n = 0, bad;
	void *copy;

	if (size < 1 || sz_symbols_new(names, 2, &syms, &bad))
		return 0;
	/* ring records are 8-byte aligned: so is the copy */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy) {
		sz_symbols_free(syms);
		return 0;
	}
	memcpy(copy, data + 1, size - 1);
	if (sz_stack_rec_parse(copy, size - 1, &hdr, &slice) == 0) {
		if (sz_stacks_new(data[0] & 1 ? SZ_STACKS_DWARF : SZ_STACKS_FP, !(data[0] & 2),
				  "/nonexistent-proc", syms, &s) == 0) {
			sz_stacks_rec(s, copy, size - 1);
			if (data[0] & 2)
				sz_stacks_take(s, (pid_t)hdr->tid);
			else
				sz_stacks_report(s, on_stack, &n);
			sz_stacks_free(s);
		}
	}
	free(copy);
	sz_symbols_free(syms);
	return 0;
}
