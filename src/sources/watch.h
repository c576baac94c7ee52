/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Internal hooks of the watch that are not public API: the benchmark's
 * empty uprobe (the kernel's floor) is set here, not in symbolyze.h.
 */
#ifndef SZ_SOURCES_WATCH_H
#define SZ_SOURCES_WATCH_H

#include "symbolyze.h"

/* Before sz_watch_start: probes run a program that does nothing. */
int sz__watch_empty_probe(struct sz_watch *w);

#endif
