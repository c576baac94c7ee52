/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The one pipeline.  Sources (src/sources/) produce struct sz_mapping;
 * sz_pipeline_submit takes each through glob -> identity -> the one open
 * policy -> the file cache -> "does this mapping speak for a load" -> bias ->
 * the set of reported loads -> symbols -> consumers.  Consumers (probes,
 * library observers, the CLI through them) subscribe; sources never call
 * them, and they never reach into sources.
 */
#ifndef SZ_PIPELINE_H
#define SZ_PIPELINE_H

#include "symbolyze.h"
#include "elf/sz_elf.h"
#include "files/files.h"
#include "pipeline/mapping.h"
#include "util/glob.h"

#include <stdint.h>
#include <sys/types.h>

/* ---- the set of reported loads (loads.c) ---- */
#define SZ_LOADS_BUCKETS 1024

struct sz_load;
struct sz_loads {
	struct sz_load *bucket[SZ_LOADS_BUCKETS];
	size_t count;
};

/* 1 if the load is new (and now recorded at time TS), 0 if already there, -ENOMEM. */
int sz_loads_add(struct sz_loads *l, pid_t pid, dev_t dev, ino_t ino, uint64_t bias, uint64_t ts);
/* Forget PID's loads seen before BEFORE (an exec replaces the image: what was
 * seen after it belongs to the new one; UINT64_MAX forgets all). */
size_t sz_loads_forget(struct sz_loads *l, pid_t pid, uint64_t before);
size_t sz_loads_prune(struct sz_loads *l, int (*alive)(pid_t pid, void *ctx), void *ctx);
void sz_loads_fini(struct sz_loads *l);
/* True if some load is of the file (DEV, INO). */
int sz_loads_has_file(const struct sz_loads *l, dev_t dev, ino_t ino);
/* FN for the pid of every load (once per load, so a pid may come again). */
void sz_loads_for_each_pid(const struct sz_loads *l, void (*fn)(pid_t pid, void *ctx), void *ctx);

/* ---- reasons and names (reason.c) ---- */
enum sz_reason sz_reason_of(int err);
enum sz_sym_type sz_sym_type_of(unsigned char stt);
uint64_t sz_now_ns(void);

/* ---- consumers ---- */

/* The file of the load being delivered, for consumers that need it open. */
struct sz_loaded;
/* A descriptor of the load's file, valid until the consumer returns
 * (reopened through the mapping if the cache had closed it), or -errno. */
int sz_loaded_fd(struct sz_loaded *l);
dev_t sz_loaded_dev(const struct sz_loaded *l);
ino_t sz_loaded_ino(const struct sz_loaded *l);
/* The kernel's encoding of the mapping's device (for BPF maps). */
uint32_t sz_loaded_kdev(const struct sz_loaded *l);
/* The found record's symbol id (the registry's: BPF keys and cookies), or
 * SZ_SYMID_NONE; its entry in the file's set, the set, the process. */
uint32_t sz_loaded_symbol(const struct sz_loaded *l);
size_t sz_loaded_entry(const struct sz_loaded *l);
const struct sz_file *sz_loaded_file(const struct sz_loaded *l);
pid_t sz_loaded_pid(const struct sz_loaded *l);
/* The probe of a USDT found record (type SZ_SYM_USDT), else NULL. */
struct sz_usdt_probe;
const struct sz_usdt_probe *sz_loaded_usdt(const struct sz_loaded *l);

struct sz_consumer {
	/* A symbol found in a new load; may fill found->probed/probe_note
	 * (consumers subscribed first run first).  SZ_CONTINUE or SZ_STOP. */
	int (*found)(void *ctx, struct sz_found *found, struct sz_loaded *l);
	void (*problem)(void *ctx, const struct sz_problem *p);
	/* The process is gone: drop what is kept for it. */
	void (*exited)(void *ctx, pid_t pid);
	/* Library observers, called after the internal ones. */
	sz_found_fn user_found;
	sz_problem_fn user_problem;
	void *ctx;
};

/* ---- the pipeline ---- */

struct sz_pipeline_opts {
	const char *glob;
	const char *const *symbols;
	size_t nsymbols;
	const char *proc; /* NULL: "/proc" */
	int dedupe;	  /* keep the set of reported loads: one report per load */
	size_t max_open_files;
	size_t max_symbol_ids; /* the registry's bound (0: SZ_SYMIDS_MAX) */
	const char *const *usdt; /* USDT patterns, "PROVIDER:NAME" */
	size_t nusdt;
};

struct sz_pipeline {
	/* issue 13, --cgroup: the /proc scan takes only processes under this cgroup v2
	 * path ("/a/b"); the kernel paths filter in BPF.  NULL: every process. */
	char *cgroup_under;
	char *glob_text;
	struct sz_glob glob;
	char **symbols;
	size_t nsymbols;
	char **usdt; /* USDT patterns as given, and compiled (pipeline/usdt.c) */
	struct sz_usdt_pattern *usdt_pats;
	size_t nusdt;
	char proc[256];
	uint64_t pagesz;
	struct sz_cache cache;
	int dedupe;
	struct sz_loads loads;
	struct sz_consumer *cons;
	size_t ncons;
	struct sz_stats stats;
	/* comm of the process whose mappings come in now */
	pid_t comm_pid;
	uint64_t comm_ts;
	char comm[64];
	/* files that could not be opened for the process now coming in */
	struct {
		pid_t pid;
		uint64_t ts, ino;
		uint32_t dev;
	} failed[8];
	unsigned nfailed;
};

int sz_pipeline_new(const struct sz_pipeline_opts *o, struct sz_pipeline **out);
/* pipeline/usdt.c: copy and compile the USDT patterns (-EINVAL: one does not
 * compile), and free them. */
int sz_pipeline_usdt_init(struct sz_pipeline *p, const char *const *usdt, size_t n);
void sz_pipeline_usdt_fini(struct sz_pipeline *p);
void sz_pipeline_free(struct sz_pipeline *p);
/* FIRST: run before those subscribed so far (probes, before anything prints). */
int sz_pipeline_subscribe(struct sz_pipeline *p, const struct sz_consumer *c, int first);
/* Remove the consumers subscribed with CTX. */
void sz_pipeline_unsubscribe(struct sz_pipeline *p, const void *ctx);
/* One mapping: 0, SZ_STOP (a consumer said so), or -ENOMEM.  Everything
 * else that goes wrong is a counted, explained problem. */
int sz_pipeline_submit(struct sz_pipeline *p, const struct sz_mapping *m);
/* A problem met by a source (an unreadable maps file, say). */
void sz_pipeline_problem(struct sz_pipeline *p, enum sz_reason reason, int err, pid_t pid,
			 const char *comm, const char *path, const char *symbol, int first,
			 const char *fmt, ...) __attribute__((format(printf, 9, 10)));
/* PID exec'd or exited at TS: its loads seen before TS are gone (not those a
 * scan saw since, of a new image or a new process with the pid); on EXITED
 * the consumers are told. */
void sz_pipeline_forget(struct sz_pipeline *p, pid_t pid, uint64_t ts, int exited);
/* Forget processes ALIVE says are gone, then the cached files no load uses. */
void sz_pipeline_prune(struct sz_pipeline *p, int (*alive)(pid_t pid, void *ctx), void *ctx);
void sz_pipeline_for_each_pid(const struct sz_pipeline *p, void (*fn)(pid_t pid, void *ctx),
			      void *ctx);
/* The requests and the registry of symbol ids (names of ids). */
const struct sz_symbols *sz_pipeline_symbols(const struct sz_pipeline *p);
/* Counters so far (files_* from the cache). */
void sz_pipeline_stats(const struct sz_pipeline *p, struct sz_stats *out);

#endif
