/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The probe manager: uprobes/uretprobes on found functions, and the readers of
 * what the BPF side aggregated (counts, latency histograms) or streamed (calls).
 */
#ifndef SZ_PROBE_MGR_H
#define SZ_PROBE_MGR_H

#include "symbolyze.h"

#include <linux/types.h>
#include <sys/types.h>

#include "../../bpf/probe.h"

struct ring_buffer;
struct sz_probe_mgr;

int sz_probe_mgr_new(enum sz_probe_mode mode, pid_t pid, char *const *symbols, size_t nsymbols,
		     struct sz_probe_mgr **out, char *err, size_t errlen);
void sz_probe_mgr_free(struct sz_probe_mgr *m);
/* Attach to symbol SYM at FILE_OFFSET of the file open on FD (identity DEV,
 * INO); PROCESS is used only in per-process mode.  1 attached, 0 already
 * attached, negative errno with ERR set. */
int sz_probe_mgr_attach(struct sz_probe_mgr *m, int fd, dev_t dev, ino_t ino, uint32_t sym,
			uint64_t file_offset, pid_t process, char *err, size_t errlen);
size_t sz_probe_mgr_attached(const struct sz_probe_mgr *m);
/* True if at least one uprobe is attached to the file (DEV, INO). */
int sz_probe_mgr_has_file(const struct sz_probe_mgr *m, dev_t dev, ino_t ino);
void sz_probe_mgr_on_call(struct sz_probe_mgr *m, sz_call_fn fn, void *ctx);
/* With --trace, add the call stream to RB (created if NULL). */
int sz_probe_mgr_add_ring(struct sz_probe_mgr *m, struct ring_buffer **rb);
uint64_t sz_probe_mgr_drops(const struct sz_probe_mgr *m);
int sz_probe_mgr_counts(const struct sz_probe_mgr *m, sz_count_fn fn, void *ctx);
int sz_probe_mgr_latency(const struct sz_probe_mgr *m, sz_latency_fn fn, void *ctx);

#endif
