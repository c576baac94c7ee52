/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Files behind mappings: the one policy for opening the file of a mapping
 * (never trusting a path), and the bounded cache of parsed files keyed by
 * identity (device, inode; checked by size and mtime).  A cached file keeps
 * what the pipeline needs (layout, build-ID, resolved symbols) for as long
 * as it is cached, but its descriptor and libelf handle only while it is one
 * of the most recently used few: the process's fd limit bounds them.
 */
#ifndef SZ_FILES_H
#define SZ_FILES_H

#include "elf/sz_elf.h"
#include "pipeline/mapping.h"
#include "pipeline/symbols.h"

#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

/* Open the file of mapping M of M->pid read-only and prove it is the mapped
 * inode.  In order: /proc/PID/map_files/START-END (the kernel's own link: any
 * mount namespace, deleted or not); the mapping's path, walked without
 * symlinks from our root or the process's (SZ_MAPPING_PATH_OURS), accepted
 * only with the mapping's device and inode; the VMA that holds START now
 * (a first mapping later split by MAP_FIXED), via map_files.  Returns an
 * O_RDONLY|O_CLOEXEC fd with ST filled, or the most telling negative errno
 * (-ESRCH: the process or mapping is gone). */
int sz_open_mapping(const char *proc, const struct sz_mapping *m, struct stat *st);

/* One parsed file.  Valid while size and mtime agree with a fresh stat. */
struct sz_file {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	uint64_t checked_ns; /* when identity was last confirmed */
	int err;	     /* not a usable ELF image: negative errno */
	char errmsg[160];
	int err_reported;
	int layout_reported;	 /* a mapping that fits no segment was explained once */
	struct sz_layout layout; /* segments owned by the entry */
	char build_id[2 * SZ_BUILD_ID_MAX + 1];
	struct sz_fsyms syms; /* what -s asks for in this file, resolved at parse */
	/* The USDT probes -u picks, read at parse (pipeline/usdt.c) */
	struct sz_file_usdt *usdt;
	/* Open state: fd and libelf handle, while among the recently used. */
	int fd;
	struct sz_elf *elf;
	int pins; /* users that need fd right now: never closed while > 0 */
	/* cache links */
	struct sz_file *hnext;
	struct sz_file *lru_prev, *lru_next; /* most recent at the head */
};

struct sz_cache {
	struct sz_file **bucket;
	size_t nbuckets;
	struct sz_file *lru_head, *lru_tail;
	size_t count, max_files;
	size_t open, max_open;
	struct sz_symbols *symbols; /* the requests, resolved in every file at parse,
				     * and the registry of symbol ids */
	const struct sz_usdt_pattern *usdt; /* USDT probes picked in every file at parse */
	size_t nusdt;
	uint64_t parsed, evicted, closed;
};

/* SYMBOLS: the -s requests (copied; -EINVAL or -E2BIG if one is no valid
 * name or pattern).  MAX_OPEN: descriptors kept at once (0: from RLIMIT_NOFILE, after raising
 * its soft limit to the hard one); MAX_FILES: parsed files kept. */
int sz_cache_init(struct sz_cache *c, const char *const *symbols, size_t nsymbols, size_t max_open,
		  size_t max_files);
void sz_cache_fini(struct sz_cache *c);
/* The cached file for ST, if still valid (a stale entry is dropped). */
struct sz_file *sz_cache_find(struct sz_cache *c, const struct stat *st);
/* The cached file (DEV, INO) if its identity was confirmed within MAX_AGE_NS
 * and it is still open (so the inode cannot have been reused): a burst of
 * mappings of one library costs no system call. */
struct sz_file *sz_cache_find_recent(struct sz_cache *c, dev_t dev, ino_t ino, uint64_t max_age_ns);
/* Parse the file open on FD (taken over), resolve every requested symbol in
 * it, and cache it; NULL only on ENOMEM (FD closed).  A failed parse is
 * cached too, with err set and no descriptor. */
struct sz_file *sz_cache_add(struct sz_cache *c, int fd, const struct stat *st);
/* Give F a descriptor again (FD, taken over, must be the same file: checked
 * against ST); 0 or -ESTALE (FD closed). */
int sz_cache_reopen(struct sz_cache *c, struct sz_file *f, int fd, const struct stat *st);
/* Pin F's descriptor while it is used; unpinned ones past the budget close. */
void sz_file_pin(struct sz_cache *c, struct sz_file *f);
void sz_file_unpin(struct sz_cache *c, struct sz_file *f);
/* Drop the files KEEP does not want (it returns 0).  Returns how many. */
size_t sz_cache_evict(struct sz_cache *c, int (*keep)(const struct sz_file *f, void *ctx),
		      void *ctx);

#endif
