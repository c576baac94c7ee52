/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The watch's default mmap source (--mmap-hook perf, auto): perf(1)'s own
 * mapping tracking, one software perf event per CPU whose ring receives the
 * kernel's PERF_RECORD_MMAP2 for every new executable mapping.  No syscall
 * tracepoint is enabled, so other syscalls pay nothing; the BPF wake-up
 * (bpf/watch.bpf.c, sz_mmap_hint) runs where mmap(2) drops the mmap lock.
 */
#ifndef SZ_SOURCES_PERFMMAP_H
#define SZ_SOURCES_PERFMMAP_H

#include "pipeline/mapping.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sz_pipeline;
struct sz_perfmmap;

struct sz_perfmmap_opts {
	pid_t pid;	     /* only this process (filtered here); 0: all */
	pid_t self;	     /* never this one: the watcher maps the files it parses */
	const char *cg_path; /* --cgroup: the directory below the cgroup2 mount; NULL: all */
	uint64_t cg_id;	     /* its inode, checked against what is opened */
	size_t ring_bytes;   /* the host's total, shared by the CPUs' rings; 0: 1 MiB */
};

struct sz_perfmmap_stats {
	uint64_t records; /* MMAP2 records read */
	uint64_t matched; /* of those, records whose file matched the glob */
	uint64_t bytes;	  /* bytes of records read */
	uint64_t bad;	  /* malformed records, or a path the kernel could not build */
	uint64_t lost;	  /* records the kernel could not write (PERF_RECORD_LOST) */
	uint64_t before_exec; /* matching records from before their process's exec */
	unsigned cpus;	  /* events opened */
	/* CPUs the kernel may bring online (/sys/devices/system/cpu/possible)
	 * that have no event: mappings made there are never seen */
	unsigned cpus_uncovered;
};

/* A process whose mapping matched, before it goes to the pipeline: the BPF
 * side then reports its forks and exit (the watch's `seen` map).  0: PID is
 * known there until its exit; else it is asked again at its next record. */
typedef int (*sz_perfmmap_seen_fn)(pid_t pid, void *ctx);

/* The rings wake the watch once some KiB wait: a poll reads them at least
 * this often, which bounds how late a lone load is seen. */
#define SZ_PERFMMAP_POLL_MS 10

/* Open and enable the per-CPU events and map their rings: 0 or a negative
 * errno (-EACCES/-EPERM without CAP_PERFMON or CAP_SYS_ADMIN, -ENOENT: the
 * cgroup directory is not found, -ESTALE: it is not the one CG_ID names). */
int sz_perfmmap_open(const struct sz_perfmmap_opts *o, struct sz_perfmmap **out);
void sz_perfmmap_free(struct sz_perfmmap *pm);

/* Add every ring's descriptor to EPFD (the caller's epoll): readable once
 * the ring holds its wake-up watermark (8 KiB); the caller also drains every
 * SZ_PERFMMAP_POLL_MS.  0 or a negative errno. */
int sz_perfmmap_add_epoll(struct sz_perfmmap *pm, int epfd);

/* No more records are written (sz_watch_stop, before the final drain). */
void sz_perfmmap_disable(struct sz_perfmmap *pm);

/* The BPF side's exec (EXITED 0) or exit (1) of PID at TS, handled before
 * the perf rings are read (the order sz_watch_poll keeps): a mapping PID made
 * before an exec is the old image's or the new image's own (the executable
 * and interpreter, mapped inside execve and reported by the exec hook): not
 * reported; one made before an exit is reported, but PID is not added to
 * `seen` (its exit has gone by: the entry would never leave). */
#define SZ_PERFMMAP_COMM_LEN 16 /* TASK_COMM_LEN, NUL included */
void sz_perfmmap_task_event(struct sz_perfmmap *pm, pid_t pid, uint64_t ts, int exited,
			    const char *comm, uint64_t cgroup_id);
/* PID is in `seen` already (the kernel put it there with its hint): its
 * records need no bpf(2) nor /proc read for that.  COMM and CGROUP_ID (as
 * the exec records' in sz_perfmmap_task_event) name it in its mappings'
 * records, without a read of /proc/PID. */
void sz_perfmmap_seen(struct sz_perfmmap *pm, pid_t pid, const char *comm, uint64_t cgroup_id);
/* After the drain up to a hint of PID: 1 if no matching record of PID came
 * since (the mmap failed after the hint, it ran on a CPU without an event, or
 * its record was read before the hint): the caller scans PID. */
int sz_perfmmap_hint_unmet(struct sz_perfmmap *pm, pid_t pid);

/* Read every ring: each MMAP2 record of a matching file becomes a mapping for
 * P (source SZ_SOURCE_MMAP).  Stops at the first SZ_STOP or error of the
 * pipeline unless ALL (the final drain).  Records written after UNTIL
 * (CLOCK_MONOTONIC ns; 0: no bound) stay in their rings for a later drain.
 * 0, SZ_STOP or a negative errno. */
int sz_perfmmap_drain(struct sz_perfmmap *pm, struct sz_pipeline *p, int all, uint64_t until,
		      sz_perfmmap_seen_fn seen, void *ctx);

void sz_perfmmap_stats(const struct sz_perfmmap *pm, struct sz_perfmmap_stats *st);
/* Bring stats' lost up to the kernel's count (PERF_FORMAT_LOST, 6.0). */
void sz_perfmmap_read_lost(struct sz_perfmmap *pm);

/* The number of CPUs in a kernel CPU list ("0-3,8,10-11\n": 7); -EINVAL if
 * it is not one. */
int sz_cpulist_count(const char *s);

/* ---- the record parser (fuzz/fuzz_perf_rec.c) ---- */

/* The fixed part of a PERF_RECORD_MMAP2 before its file name, and the
 * sample_id trailer that sample_id_all with TID | TIME appends. */
#define SZ_PERF_MMAP2_HDR 72
#define SZ_PERF_SAMPLE_ID 16

/* Decode one record of SIZE bytes (a copy, whatever the kernel wrote):
 *   0: an MMAP2 of a file: M filled, its path (without " (deleted)", which
 *      sets SZ_MAPPING_DELETED) in PATH (PATHSZ bytes);
 *   -ENOENT: an MMAP2 of no file (anonymous, [vdso], a JIT's //anon);
 *   -ENAMETOOLONG: the kernel could not build the path ("//toolong");
 *   -EAGAIN: a PERF_RECORD_LOST, its count in *LOST;
 *   -EINVAL: another record type;  -EBADMSG: malformed. */
int sz_perfmmap_rec(const void *rec, size_t size, char *path, size_t pathsz, struct sz_mapping *m,
		    uint64_t *lost);

#endif
