/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Counts of exited processes, folded (issue 13): handed to an observer, then
 * kept summed per symbol instead of per process, so a watch that outlives
 * millions of short-lived processes keeps memory bounded by its symbols.
 */
#ifndef SZ_PROBE_FOLD_H
#define SZ_PROBE_FOLD_H

#include "symbolyze.h"
#include "pipeline/symbols.h"

#include <stdint.h>

typedef void (*sz_gone_fn)(pid_t pid, void *ctx);

struct sz_fold;

/* FN gets each (pid, symbol, calls) of an exited process, GONE(pid) then
 * says the process is done with (every exit, calls or not). */
int sz_fold_new(sz_count_fn fn, sz_gone_fn gone, void *ctx, struct sz_fold **out);
void sz_fold_free(struct sz_fold *f);
/* CALLS of symbol SYM (NAME) by PID, which exited.  0, or -ENOMEM (then
 * nothing changed: the caller keeps the count where it was). */
int sz_fold_add(struct sz_fold *f, pid_t pid, uint32_t sym, const char *name, uint64_t calls);
/* F may be NULL. */
void sz_fold_gone(struct sz_fold *f, pid_t pid);
/* The sums so far, one per symbol with calls, as pid 0. */
void sz_fold_report(const struct sz_fold *f, const struct sz_symbols *syms, sz_count_fn fn,
		    void *ctx);

#endif
