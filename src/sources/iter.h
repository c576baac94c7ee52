/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The kernel-side scan source (bpf/iter.bpf.c, an iter/task_vma program): the
 * watch's scan of every process, filtered in the kernel, with /proc (scan.c)
 * as the fallback and as the reference it is tested against.
 */
#ifndef SZ_SOURCES_ITER_H
#define SZ_SOURCES_ITER_H

#include "sources/scan.h"

#include <linux/types.h>
#include <stddef.h>

#include "../../bpf/iter.h"

struct watch_bpf;

/* SYMBOLYZE_SCAN in the environment picks the scan: "proc" forces /proc,
 * "iter" requires the iterator (an error when it cannot run), unset or
 * "auto" tries the iterator and falls back to /proc. */
#define SZ_SCAN_ENV "SYMBOLYZE_SCAN"

/* Every process but ourselves (or only ONLY if > 0, always by /proc), by the
 * iterator (in SKEL, the loaded watch; NULL: none) when it can run and the
 * pipeline reads the host's /proc, else by /proc: 0, SZ_STOP, or a negative errno (-ENOMEM; the iterator required but
 * not available; /proc unreadable). */
int sz_scan_host(struct sz_pipeline *p, struct watch_bpf *skel, pid_t only,
		 struct sz_scan_counts *c);

/* [perf] The processes of the pipeline's loads into the watch's BPF map of
 * known processes (SEEN_FD, a hash of tgids), a batch per bpf(2) call, not
 * one call per load.  Returns how many processes the full map refused. */
uint64_t sz_iter_mark_seen(struct sz_pipeline *p, int seen_fd);

/* Before SKEL (the watch's, which holds the iterator) is loaded: the
 * iterator is loaded only if a scan of P's host (ONLY, NO_SCAN: the watch's
 * -p and --no-scan) will run it, or SZ_SCAN_ENV requires it. */
int sz_iter_prepare(struct watch_bpf *skel, const struct sz_pipeline *p, pid_t only, int no_scan);

/* The iterator alone.  *RAN is set once every record was read: when it is
 * not, nothing may be assumed of what was submitted, and /proc must be read. */
int sz_iter_scan_all(struct sz_pipeline *p, struct watch_bpf *skel, struct sz_scan_counts *c,
		     int *ran);

/* One record at the head of BUF (N bytes): its length, 0 if BUF holds only a
 * part of it, -EINVAL if it is malformed. */
long sz_iter_rec_len(const void *buf, size_t n);

/* The mapping of a record sz_iter_rec_len accepted (its path is edited in
 * place: " (deleted)" goes to a flag), its process's name in COMM: 0 or
 * -EINVAL for values no VMA has. */
int sz_iter_rec_mapping(char *rec, char comm[SZ_ITER_COMM_LEN + 1], struct sz_mapping *m);

#endif
