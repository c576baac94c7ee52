/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * `watch --freeze`, safe by construction (see freeze.c): a guardian process
 * renews the lease the BPF side stops processes under, ends every stop at the
 * time bound, and resumes everything when the watcher dies, however it dies.
 * The event loop only says that it is alive and resumes what its records were
 * stopped for.  Every function accepts NULL (no --freeze) and then does nothing.
 */
#ifndef SZ_SOURCES_FREEZE_H
#define SZ_SOURCES_FREEZE_H

#include <stdint.h>
#include <sys/types.h>

struct sz_freeze;

struct sz_freeze_stats {
	uint64_t processes; /* distinct processes stopped for us (records handled) */
	uint64_t timeouts;  /* stops the guardian ended at the bound */
};

/* Fork the guardian.  Call after the BPF programs are loaded and before any is
 * attached: it keeps only FROZEN_FD and CTL_FD (the maps of bpf/freeze.bpf.h),
 * so it never keeps a program or link alive.  TIMEOUT_NS: the bound. */
int sz_freeze_start(int frozen_fd, int ctl_fd, uint64_t timeout_ns, struct sz_freeze **out);
/* The event loop is alive, and back within WAIT_MS (-1: it waits for records
 * without limit).  Without this the lease lapses: no new stop. */
void sz_freeze_alive(struct sz_freeze *f, int wait_ms);
/* The record of ts TS stopped PID: resume it, unless a later record of the same
 * stop is still to come or the bound already resumed it. */
void sz_freeze_record(struct sz_freeze *f, pid_t pid, uint64_t ts);
/* PID exited: a later process with its number is a new process. */
void sz_freeze_exited(struct sz_freeze *f, pid_t pid);
/* No new stop from now on. */
void sz_freeze_off(struct sz_freeze *f);
/* Off, and the guardian told to go now: its last steps (a grace period, a
 * sweep that resumes every stop) then overlap the caller's detach; after
 * off no new stop is made, so nothing can be left stopped if we die after
 * it.  sz_freeze_free reaps it. */
void sz_freeze_quit(struct sz_freeze *f);
/* Resume every process still stopped for us. */
void sz_freeze_resume_all(struct sz_freeze *f);
/* After a loss: resume the stops none of whose records is still to come. */
void sz_freeze_settle(struct sz_freeze *f);
void sz_freeze_stats(const struct sz_freeze *f, struct sz_freeze_stats *out);
/* Off, resume everything, and let the guardian go. */
void sz_freeze_free(struct sz_freeze *f);

#endif /* SZ_SOURCES_FREEZE_H */
