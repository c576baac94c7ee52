/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The uprobes of one file for one process (or every process): all its probe
 * sites attached at once, through one multi-uprobe link per program where the
 * kernel has them (src/consumers/uprobe_multi.c), else one perf-event uprobe
 * per site.  A site the kernel refuses is found by halving the set, so one
 * bad site costs that site, not the file.
 */
#ifndef SZ_PROBE_SET_H
#define SZ_PROBE_SET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct bpf_program;
struct sz_probe_sets;

/* One site to attach: file offset, BPF cookie, and the caller's index for it
 * (its entry in the file's symbol set). */
struct sz_probe_site {
	uint64_t off, cookie;
	size_t ent;
};

/* The identity a set is kept under: the file (contents included: a file
 * rewritten in place moves its functions) and the process (-1: all). */
struct sz_probe_key {
	dev_t dev;
	ino_t ino;
	pid_t pid;
	off_t size;
	struct timespec mtime;
};

#define SZ_PROBE_SET_PROGS 8

/* PROGS[NPROGS] (at most SZ_PROBE_SET_PROGS) are loaded programs, prepared
 * with sz_umulti_prepare, each attached to every site; IS_RET[i]: program i
 * is a uretprobe. */
int sz_probe_sets_new(struct bpf_program *const *progs, const int *is_ret, size_t nprogs,
		      struct sz_probe_sets **out);
/* Detach everything and free (accepts NULL).  A multi link goes at once; a
 * perf-event uprobe waits for the kernel's grace periods under its event
 * mutex (about 0.1 s each on this kernel, whoever closes it: bpftrace too),
 * which is why multi links are worth having. */
void sz_probe_sets_free(struct sz_probe_sets *s);
struct sz_detach;
/* Hand every attachment made so far to D (util/detach.h), to be detached
 * with the others at once; the sets, their statuses and the counts stay (a
 * site is not attached twice), attachments made later are the free's. */
void sz_probe_sets_detach(struct sz_probe_sets *s, struct sz_detach *d);

/* The status of entry ENT in the set of KEY: 1 probed, a negative errno if its
 * attach failed, 0 if it was not a site, or -ENOENT if there is no set yet. */
int sz_probe_set_status(struct sz_probe_sets *s, const struct sz_probe_key *key, size_t ent);
/* Make the set of KEY: attach the N sites (N may be 0) in the file open on FD,
 * NENT the size of the caller's entry table.  0, or -ENOMEM; per-site
 * failures are statuses (and ERRS counts them). */
int sz_probe_set_attach(struct sz_probe_sets *s, const struct sz_probe_key *key, int fd,
			const struct sz_probe_site *sites, size_t n, size_t nent);

size_t sz_probe_sets_probes(const struct sz_probe_sets *s); /* uprobes attached */
size_t sz_probe_sets_links(const struct sz_probe_sets *s);  /* multi links or perf events */
int sz_probe_sets_multi(const struct sz_probe_sets *s);	    /* 1 if through multi links */

#endif
