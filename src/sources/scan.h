/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The /proc source: reads /proc/PID/maps and submits each file mapping to the
 * pipeline.  Used alone (scan) and by the watch (initial scan, loss repair,
 * forked children).
 */
#ifndef SZ_SOURCES_SCAN_H
#define SZ_SOURCES_SCAN_H

#include "pipeline/pipeline.h"

struct sz_scan_counts {
	uint64_t processes;	       /* maps read */
	uint64_t processes_unreadable; /* maps not readable */
};

/* One process: 0, SZ_STOP, or -ENOMEM; an unreadable process is a problem. */
int sz_scan_pid(struct sz_pipeline *p, pid_t pid, enum sz_source src, struct sz_scan_counts *c);
/* Every process but ourselves (or only ONLY if > 0): 0, SZ_STOP, or a
 * negative errno if /proc itself cannot be read. */
int sz_scan_all(struct sz_pipeline *p, pid_t only, struct sz_scan_counts *c);

#endif
