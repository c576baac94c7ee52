// SPDX-License-Identifier: BSD-2-Clause
/*
 * Counts of exited processes, folded per symbol (issue 13, --metrics): the
 * exporter takes each exited process's counts into its label set's series,
 * and the watch keeps one sum per symbol, not one row per process forever.
 */
#include "consumers/probe_fold.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sz_fold {
	sz_count_fn fn;
	sz_gone_fn gone;
	void *ctx;
	uint64_t *calls; /* by symbol id */
	size_t n;
};

int sz_fold_new(sz_count_fn fn, sz_gone_fn gone, void *ctx, struct sz_fold **out)
{
	struct sz_fold *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->fn = fn;
	f->gone = gone;
	f->ctx = ctx;
	*out = f;
	return 0;
}

void sz_fold_free(struct sz_fold *f)
{
	if (!f)
		return;
	free(f->calls);
	free(f);
}

int sz_fold_add(struct sz_fold *f, pid_t pid, uint32_t sym, const char *name, uint64_t calls)
{
	if (sym >= f->n) {
		size_t n = (size_t)sym + 16;
		uint64_t *c = realloc(f->calls, n * sizeof(*c));

		if (!c)
			return -ENOMEM;
		memset(c + f->n, 0, (n - f->n) * sizeof(*c));
		f->calls = c;
		f->n = n;
	}
	f->calls[sym] += calls;
	if (f->fn)
		f->fn(pid, name, calls, f->ctx);
	return 0;
}

void sz_fold_gone(struct sz_fold *f, pid_t pid)
{
	if (f && f->gone)
		f->gone(pid, f->ctx);
}

void sz_fold_report(const struct sz_fold *f, const struct sz_symbols *syms, sz_count_fn fn,
		    void *ctx)
{
	if (!f)
		return;
	for (size_t s = 0; s < f->n; s++)
		if (f->calls[s] && sz_symbols_name(syms, (uint32_t)s))
			fn(0, sz_symbols_name(syms, (uint32_t)s), f->calls[s], ctx);
}
