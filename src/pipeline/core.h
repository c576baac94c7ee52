/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Internals shared by the scanner and (later) the watch: the parsed-file cache
 * keyed by file identity, and the one pipeline every mapping record goes
 * through, whatever its source.
 */
#ifndef SZ_CORE_H
#define SZ_CORE_H

#include "symbolyze.h"
#include "util/glob.h"
#include "elf/sz_elf.h"
#include "proc/maps.h"

#include <sys/stat.h>
#include <time.h>

#define SZ_MAX_OBSERVERS 8
#define SZ_MAX_SYMBOLS 64
#define SZ_MAPS_MAX (256u << 20)

struct sz_symres {
	int resolved; /* lookup done */
	int err;      /* 0 or negative errno */
	struct sz_elf_sym sym;
	int has_off;
	uint64_t off;
	int reported; /* a problem about it was reported once */
};

/* One parsed file, keyed by (dev, ino), valid while size and mtime agree. */
struct sz_file {
	struct sz_file *next;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	uint64_t checked_ns; /* when size and mtime were last found unchanged */
	int fd;
	struct sz_elf *elf; /* NULL if the file is not a readable ELF image */
	struct sz_layout layout;
	int err;
	char errmsg[160];
	int err_reported;
	char build_id[2 * SZ_BUILD_ID_MAX + 1];
	struct sz_symres *syms; /* one per requested symbol */
};

#define SZ_CACHE_BUCKETS 256

struct sz_cache {
	struct sz_file *bucket[SZ_CACHE_BUCKETS];
	size_t nsyms;
	uint64_t parsed;
};

void sz_cache_init(struct sz_cache *c, size_t nsyms);
void sz_cache_fini(struct sz_cache *c);
/* The cached file for ST, if still valid (a stale entry is dropped). */
struct sz_file *sz_cache_find(struct sz_cache *c, const struct stat *st);
/* The cached file (DEV, INO) if it was checked within MAX_AGE_NS: a burst of
 * records for one library costs no system call. */
struct sz_file *sz_cache_find_recent(struct sz_cache *c, dev_t dev, ino_t ino,
				     uint64_t max_age_ns);
/* Parse the file open on FD (taken over) and cache it; never NULL except on
 * ENOMEM, a failed parse is cached too, with err set. */
struct sz_file *sz_cache_add(struct sz_cache *c, int fd, const struct stat *st);
/* Drop the files KEEP does not want (it returns 0): no parsed copy or open
 * descriptor outlives the loads that needed it. */
size_t sz_cache_evict(struct sz_cache *c, int (*keep)(const struct sz_file *f, void *ctx),
		      void *ctx);
/* Resolve requested symbol I in F (memoized). */
struct sz_symres *sz_file_symbol(struct sz_file *f, size_t i, const char *name);

#define SZ_LOADS_BUCKETS 1024

struct sz_load;
struct sz_probe_mgr;
struct sz_loads {
	struct sz_load *bucket[SZ_LOADS_BUCKETS];
	size_t count;
};

/* 1 if the load is new (and now recorded at time TS), 0 if already there, -ENOMEM. */
int sz_loads_add(struct sz_loads *l, pid_t pid, dev_t dev, ino_t ino, uint64_t bias, uint64_t ts);
/* Forget PID's loads seen before BEFORE (an exec replaces the image: what was
 * seen after it belongs to the new one; UINT64_MAX forgets all). */
size_t sz_loads_forget(struct sz_loads *l, pid_t pid, uint64_t before);
uint64_t sz_now_ns(void);
enum sz_sym_type sz_sym_type_of(unsigned char stt);
size_t sz_loads_prune(struct sz_loads *l, int (*alive)(pid_t pid, void *ctx), void *ctx);
void sz_loads_fini(struct sz_loads *l);
/* True if some load is of the file (DEV, INO). */
int sz_loads_has_file(const struct sz_loads *l, dev_t dev, ino_t ino);
/* FN for the pid of every load (once per load, so a pid may come again). */
void sz_loads_for_each_pid(const struct sz_loads *l, void (*fn)(pid_t pid, void *ctx), void *ctx);

struct sz_observer {
	sz_found_fn found;
	sz_problem_fn problem;
	void *ctx;
};

struct sz_scanner {
	struct sz_scanner_opts opts;
	char *glob_text;
	struct sz_glob glob;
	char **symbols;
	size_t nsymbols;
	char proc[256];
	uint64_t pagesz;
	pid_t self;
	struct sz_cache cache;
	struct sz_observer obs[SZ_MAX_OBSERVERS];
	size_t nobs;
	struct sz_stats stats;
	struct sz_loads *loads;	     /* set by the watch: report each load once */
	struct sz_probe_mgr *probes; /* set by the watch with probes */
	uint64_t duplicates;
};

/* What we know of a process while handling its mappings. */
struct sz_proc_ctx {
	pid_t pid;
	uint64_t ts; /* CLOCK_MONOTONIC ns when its mappings were observed */
	char comm[64];
	int have_comm;
};

void sz_problem_emit(struct sz_scanner *s, enum sz_reason reason, int err,
		     const struct sz_proc_ctx *p, const char *path, const char *symbol, int first,
		     const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* The pipeline: one mapping of one file in one process, file open or cached.
 * Emits found records and problems.  Returns 0 or an observer's stop value. */
/* The parsed file behind mapping M of PID, from the cache when it is still
 * valid; NULL with *ERRP set if it cannot be opened. */
struct sz_file *sz_scanner_file(struct sz_scanner *s, pid_t pid, const struct sz_map *m,
				int *errp);
/* Scan one process, reporting its loads with source SRC. */
int sz_scanner_scan_pid(struct sz_scanner *s, pid_t pid, enum sz_source src);

int sz_handle_mapping(struct sz_scanner *s, enum sz_source src, struct sz_proc_ctx *p,
		      const struct sz_map *m, struct sz_file *f);

#endif
