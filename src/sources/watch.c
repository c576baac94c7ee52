// SPDX-License-Identifier: BSD-2-Clause
/*
 * The BPF source (loader of bpf/watch.bpf.c) and the public watch built on
 * the pipeline: attach the BPF watch, then scan /proc (so no load falls
 * between the two), then turn each ring-buffer record into a mapping record.
 * Loss is counted by BPF, reported and repaired here by a rescan; the
 * pipeline's set of reported loads keeps every load to one report.
 */
#include "sources/watch.h"
#include "consumers/probe.h"
#include "consumers/usdt.h"
#include "consumers/args.h"
#include "pipeline/pipeline.h"
#include "sources/scan.h"
#include "sources/tracefs.h"
#include "sources/watch_rec.h"
#include "sources/watch_usdt.h"
#include "util/kbtf.h"
#include "util/log.h"
#include "util/opts.h"
#include "sources/freeze.h"
#include "sources/iter.h" /* issue 10: the initial scan in the kernel */
#include "sources/perfmmap.h" /* issue 10: --mmap-hook perf */
#include "proc/maps.h"	      /* sz_read_file: perf_children */
#include <fcntl.h>
#include "proc/pidns.h"
#include "util/detach.h" /* every link detached at once */
#include "watch.skel.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/utsname.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* [perf] 1 MiB: ~6,500 records of a library's (~160 bytes); userspace maps
 * its data twice, so this is 2 MiB of resident set (a 4 MiB ring was 8). */
#define DEFAULT_RING_BYTES (1u << 20)
#define PRUNE_INTERVAL_NS (5ull * 1000000000ull)
#define FORK_GRACE_NS (20ull * 1000000ull) /* an exec within this wins over the fork */
/* [perf] issue 10: how long a record that wakes nobody (an exit, a fork, an
 * exec of nothing that matches: bpf/watch.bpf.c) may wait to be read; a fork
 * is then scanned at most this long after its grace period */
#define SILENT_MS 20
#define REPAIR_INTERVAL_NS (100ull * 1000000ull) /* at most one repair rescan per interval */
#define TICK_NS (SILENT_MS * 1000000ull)	 /* housekeeping wake-up of sz_watch_fd */
#define FREEZE_TIMEOUT_MS 500			 /* --freeze: default bound on any stop */

/* No padding: every byte of the caller's struct is a named field, so the bytes
 * an initializer leaves unset are zero and checked (SZ_OPTS). */
_Static_assert(sizeof(struct sz_watch_opts) ==
		       sizeof(size_t) + 2 * sizeof(void *) + sizeof(size_t) + sizeof(pid_t) +
			       sizeof(int) + sizeof(size_t) + sizeof(char *) +
			       sizeof(enum sz_probe_mode) + sizeof(int) + sizeof(size_t) +
			       2 * sizeof(unsigned) + sizeof(void *) /* extra */ + sizeof(size_t) +
			       sizeof(int) + sizeof(unsigned) +
			       2 * (sizeof(char *) + sizeof(size_t)) /* usdt */ +
			       sizeof(enum sz_stack_method) + sizeof(unsigned) + sizeof(size_t),
	       "struct sz_watch_opts has padding: name the hole reservedN");

struct pending_fork {
	pid_t pid;
	uint64_t due_ns;
};

struct obs {
	void *fn;
	void *ctx;
};

struct sz_watch {
	struct sz_watch_opts opts;
	struct sz_pipeline *p;
	struct sz_scan_counts counts;
	struct watch_bpf *skel;
	struct watch_bpf *skel_mmap; /* sz_mmap's object: loaded beside skel (load_split) */
	struct ring_buffer *rb;
	struct sz_probe_mgr *probes;
	struct sz_args *args;	    /* opts.extra, checked and copied (consumers/args.c) */
	struct sz_watch_usdt *usdt; /* -u: watch_usdt.c */
	int empty_probe;
	uint64_t cg_id; /* issue 13: --cgroup's subtree (bpf/cgroup.h), 0: all */
	uint32_t cg_level;
	struct obs *calls, *losts;
	size_t ncalls, nlosts;
	struct obs fold; /* issue 13: sz__watch_fold_exited's FN and CTX */
	sz_gone_fn fold_gone;
	struct sz_freeze *fz; /* --freeze: lease, bound and guardian (freeze.c) */
	uint64_t drops_seen;
	/* [safety] losses reported so far, and the processes a scan found that
	 * `seen` could not take */
	uint64_t drops_loads_seen, seen_full_seen, vma_busy_seen;
	uint64_t seen_full_user;
	int stopped;	/* detached: only the final drain's records are still delivered */
	int stop_asked; /* an observer returned SZ_STOP */
	int err;	/* a record could not be handled (-ENOMEM): poll says so */
	struct pending_fork *forks; /* forked children not yet scanned */
	size_t nforks, forks_cap;
	uint64_t last_prune_ns;
	uint64_t last_repair_ns;
	uint64_t last_tick_ns; /* when the timerfd was last read */
	int epfd, tfd;
	int ring_added; /* the watch's ring is in rb (index 0 when probes add theirs) */
	struct sz_watch_stats st;
	struct sz_perfmmap *pm; /* --mmap-hook perf: the mmap source (perfmmap.c) */
	uint64_t perf_lost_seen;
	uint64_t perf_lost_read_ns; /* when the kernel's lost count was last read */
	int perf_hint; /* sz_mmap_hint loads (the kernel's mmap_lock tracepoint is 6.14's) */
	struct sz_file_key last_probed; /* mark_probed: the file last written */
};

static int add_obs(struct obs **list, size_t *n, void *fn, void *ctx)
{
	struct obs *o = realloc(*list, (*n + 1) * sizeof(**list));

	if (!o)
		return -ENOMEM;
	*list = o;
	o[(*n)++] = (struct obs){ fn, ctx };
	return 0;
}

/* Probes size their maps to the symbol ids there may be: the exact names, or
 * with a glob a bound (names are found as files are parsed). */
static void set_symbol_bound(struct sz_watch *w)
{
	struct sz_symbols *syms = w->p->cache.symbols;
	size_t max = w->opts.max_symbols;

	if (w->opts.probe == SZ_PROBE_NONE)
		return;
	if (!sz_symbols_has_glob(syms))
		max = sz_symbols_nexact(syms);
	else if (!max)
		max = w->opts.probe == SZ_PROBE_LATENCY ? 4096 : 65536;
	sz_symbols_set_max_ids(syms, max);
}

int sz_watch_new(const struct sz_watch_opts *opts, struct sz_watch **out)
{
	struct sz_watch *w;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->epfd = w->tfd = -1;
	err = SZ_OPTS_COPY(&w->opts, opts);
	/* a field of a newer header: not ours to ignore */
	if (!err && (w->opts.reserved0 || w->opts.reserved1))
		err = -EINVAL;
	/* --freeze stops the process in mmap(2), which only the BPF hook runs in */
	if (!err && (w->opts.mmap_hook > SZ_MMAP_HOOK_TRACEPOINT ||
		     (w->opts.mmap_hook == SZ_MMAP_HOOK_PERF && w->opts.freeze)))
		err = -EINVAL;
	if (!err && w->opts.ring_bytes &&
	    (w->opts.ring_bytes & (w->opts.ring_bytes - 1) || w->opts.ring_bytes < 4096))
		err = -EINVAL;
	if (!err && ((unsigned)w->opts.stacks > SZ_STACKS_DWARF ||
		     (w->opts.stacks && w->opts.probe != SZ_PROBE_COUNT &&
		      w->opts.probe != SZ_PROBE_TRACE) ||
		     w->opts.stack_bytes % 4096 || w->opts.stack_bytes > SZ_STACK_SLICE_MAX))
		err = -EINVAL;
	if (!err &&
	    ((unsigned)w->opts.probe > SZ_PROBE_LATENCY || w->opts.freeze_timeout_ms > 3600000))
		err = -EINVAL;
	if (!err)
		err = sz_args_new(w->opts.extra, w->opts.probe, &w->args);
	if (!err) {
		struct sz_pipeline_opts po = {
			.glob = w->opts.glob,
			.symbols = w->opts.symbols,
			.nsymbols = w->opts.nsymbols,
			.proc = w->opts.proc,
			.dedupe = 1,
			.max_open_files = w->opts.max_open_files,
			.usdt = w->opts.usdt,
			.nusdt = w->opts.nusdt,
		};

		err = sz_pipeline_new(&po, &w->p);
	}
	if (!err) {
		err = sz_wusdt_new(&w->opts, &w->usdt);
		if (err)
			sz_pipeline_free(w->p);
	}
	if (err) {
		sz_args_free(w->args);
		free(w);
		return err;
	}
	set_symbol_bound(w);
	/* The pipeline copied what it needs; keep none of the caller's pointers. */
	w->opts.extra = NULL;
	w->opts.glob = NULL;
	w->opts.symbols = NULL;
	w->opts.usdt = NULL;
	w->opts.usdt_str = NULL;
	w->opts.proc = NULL;
	*out = w;
	return 0;
}

int sz__watch_empty_probe(struct sz_watch *w)
{
	if (!w || w->skel)
		return -EINVAL;
	w->empty_probe = 1;
	return 0;
}

static int forks_due(struct sz_watch *w, int force);
static int repair_if_lost(struct sz_watch *w);
static void perf_drain(struct sz_watch *w, int all, uint64_t until);
static void report_other_losses(struct sz_watch *w);

void sz_watch_stop(struct sz_watch *w)
{
	struct sz_detach d;

	if (!w || !w->skel || w->stopped)
		return;
	w->stopped = 1;
	if (w->tfd >= 0) { /* nothing is due any more: sz_watch_fd goes quiet */
		struct itimerspec off = { { 0, 0 }, { 0, 0 } };

		timerfd_settime(w->tfd, 0, &off, NULL);
	}
	/* No stop may follow the last drain: turn freezing off, detach, then
	 * resume whatever the remaining records stopped. */
	sz_freeze_quit(w->fz); /* off; the guardian's last sweep overlaps the detach */
	/* Nor a probe record: under a flood of calls the drain would never end. */
	sz_probe_mgr_quiet(w->probes);
	sz_wusdt_quiet(w->usdt);
	/* The watch's links and the uprobes together, released by a keeper
	 * process, their grace periods overlapping (util/detach.h).  A load
	 * the drain below reports gets no probe (quiet): the keeper holds
	 * every link there will be. */
	sz_detach_init(&d);
	/* synchronize_rcu() after the releases: programs still running when we
	 * detached have finished, so their records are in the ring for the
	 * drain.  (Perf-event and multi-uprobe releases wait for their own.) */
	d.membarrier = 1;
	sz_detach_skeleton(&d, w->skel->skeleton);
	sz_probe_mgr_detach(w->probes, &d);
	sz_wusdt_detach(w->usdt, &d);
	sz_detach_start(&d);
	sz_perfmmap_disable(w->pm);
	sz_detach_wait(&d);
	if (d.keeper_errno)
		sz_log(SZ_LOG_WARN, "detach: no keeper process (%s): the links were released "
		       "here, where a SIGKILL meanwhile could have left uprobes behind",
		       strerror(d.keeper_errno));
	if (d.keeper_signal)
		sz_log(SZ_LOG_WARN, "detach: the keeper process was killed (%s) while it released "
		       "the links: uprobes may be left in probed processes (the kernel logs "
		       "'leaking uprobe')", strsignal(d.keeper_signal));
	if (w->rb)
		ring_buffer__consume(w->rb);
	perf_drain(w, 1, 0); /* after the BPF ring: see perf_poll */
	forks_due(w, 1);
	/* A loss in the last moments, or in the drain itself, is reported too. */
	repair_if_lost(w);
	report_other_losses(w);
	sz_freeze_resume_all(w->fz); /* stops whose records never came */
}

static void teardown(struct sz_watch *w)
{
	sz_freeze_free(w->fz);
	w->fz = NULL;
	sz_pipeline_unsubscribe(w->p, w->probes);
	sz_pipeline_unsubscribe(w->p, w);
	ring_buffer__free(w->rb);
	w->rb = NULL;
	w->ring_added = 0;
	sz_perfmmap_free(w->pm);
	w->pm = NULL;
	watch_bpf__destroy(w->skel); /* its links include sz_mmap's (load_split) */
	w->skel = NULL;
	watch_bpf__destroy(w->skel_mmap);
	w->skel_mmap = NULL;
	sz_probe_mgr_free(w->probes);
	w->probes = NULL;
	sz_wusdt_teardown(w->usdt, w->p);
	if (w->tfd >= 0)
		close(w->tfd);
	if (w->epfd >= 0)
		close(w->epfd);
	w->tfd = w->epfd = -1;
}

void sz_watch_free(struct sz_watch *w)
{
	if (!w)
		return;
	sz_watch_stop(w);
	/* The probes consumer goes with the pipeline's subscription list. */
	teardown(w);
	sz_pipeline_free(w->p);
	sz_args_free(w->args);
	sz_wusdt_free(w->usdt);
	free(w->forks);
	free(w->calls);
	free(w->losts);
	free(w);
}

int sz_watch_on_found(struct sz_watch *w, sz_found_fn fn, void *ctx)
{
	struct sz_consumer c = { .user_found = fn, .ctx = ctx };

	return w && fn ? sz_pipeline_subscribe(w->p, &c, 0) : -EINVAL;
}

int sz_watch_on_problem(struct sz_watch *w, sz_problem_fn fn, void *ctx)
{
	struct sz_consumer c = { .user_problem = fn, .ctx = ctx };

	return w && fn ? sz_pipeline_subscribe(w->p, &c, 0) : -EINVAL;
}

int sz_watch_on_lost(struct sz_watch *w, sz_lost_fn fn, void *ctx)
{
	return w && fn ? add_obs(&w->losts, &w->nlosts, (void *)fn, ctx) : -EINVAL;
}

int sz_watch_on_call(struct sz_watch *w, sz_call_fn fn, void *ctx)
{
	int err;

	if (!w || !fn)
		return -EINVAL;
	err = add_obs(&w->calls, &w->ncalls, (void *)fn, ctx);
	if (!err && w->probes)
		err = sz_probe_mgr_on_call(w->probes, fn, ctx);
	return err;
}

int sz_watch_stats(const struct sz_watch *w, struct sz_stats *pipeline,
		   struct sz_watch_stats *watch)
{
	struct sz_watch_stats st;
	struct sz_stats ps;
	int err = 0;

	if (!w)
		return -EINVAL;
	if (pipeline) {
		sz_pipeline_stats(w->p, &ps);
		ps.processes = w->counts.processes;
		ps.processes_unreadable = w->counts.processes_unreadable;
		err = SZ_STATS_FILL(pipeline, &ps);
	}
	if (watch && !err) {
		struct sz_freeze_stats fs;

		st = w->st;
		sz_freeze_stats(w->fz, &fs);
		st.frozen = fs.processes;
		st.freeze_timeouts = fs.timeouts;
		st.duplicates = w->p->stats.duplicates;
		st.mmap_hook = w->opts.mmap_hook;
		if (w->skel) {
			st.kernel_deduped =
				__atomic_load_n(&w->skel->bss->deduped, __ATOMIC_RELAXED);
			st.glob_unsure =
				__atomic_load_n(&w->skel->bss->glob_unsure, __ATOMIC_RELAXED);
			st.freeze_skipped = w->skel->bss->sz_freeze_skipped;
			st.freeze_full = w->skel->bss->sz_freeze_full;
			st.invisible = w->skel->bss->sz_pidns_invisible;
		}
		if (w->probes) {
			st.probes = sz_probe_mgr_attached(w->probes);
			st.probe_drops = sz_probe_mgr_drops(w->probes);
			st.latency_unmatched = sz_probe_mgr_lat_misses(w->probes);
			st.key_overflow = sz_probe_mgr_key_overflow(w->probes);
			st.filter_unseen = sz_probe_mgr_filter_unseen(w->probes);
			st.bad_records += sz_probe_mgr_bad_args(w->probes);
			st.probe_links = sz_probe_mgr_links(w->probes);
			st.probe_multi = sz_probe_mgr_multi(w->probes);
			sz_probe_mgr_stack_stats(w->probes, &st.stacks, &st.stack_drops,
						 &st.stacks_truncated, &st.stack_procs_unread);
		}
		sz_wusdt_stats(w->usdt, &st);
		if (w->pm) { /* --mmap-hook perf: its records are the watch's too */
			struct sz_perfmmap_stats pst;

			sz_perfmmap_stats(w->pm, &pst);
			st.events += pst.records;
			st.record_bytes += pst.bytes;
			st.bad_records += pst.bad;
		}
		err = SZ_STATS_FILL(watch, &st);
	}
	return err;
}

int sz_watch_counts(const struct sz_watch *w, sz_count_fn fn, void *ctx)
{
	if (!w || !fn || !w->probes || w->opts.probe != SZ_PROBE_COUNT)
		return -EINVAL;
	return sz_probe_mgr_counts(w->probes, fn, ctx);
}

int sz_watch_on_usdt_call(struct sz_watch *w, sz_usdt_call_fn fn, void *ctx)
{
	return w ? sz_wusdt_on_call(w->usdt, fn, ctx) : -EINVAL;
}

int sz_watch_usdt_counts(const struct sz_watch *w, sz_usdt_count_fn fn, void *ctx)
{
	if (!w || w->opts.probe != SZ_PROBE_COUNT)
		return -EINVAL;
	return sz_wusdt_counts(w->usdt, fn, ctx);
}

int sz_watch_stacks(const struct sz_watch *w, sz_stack_fn fn, void *ctx)
{
	int r, ru;

	if (!w || !fn || w->opts.probe != SZ_PROBE_COUNT || !w->opts.stacks)
		return -EINVAL;
	/* symbols' stacks, then USDT probes' (watch_usdt.c): either may be absent */
	r = w->probes ? sz_probe_mgr_stacks(w->probes, fn, ctx) : -EINVAL;
	ru = sz_wusdt_stacks(w->usdt, fn, ctx);
	return r && ru ? (r != -EINVAL ? r : ru) : 0;
}

int sz_watch_latency(const struct sz_watch *w, sz_latency_fn fn, void *ctx)
{
	if (!w || !fn || !w->probes || !sz_probe_mgr_has_latency(w->probes))
		return -EINVAL;
	return sz_probe_mgr_latency(w->probes, fn, ctx);
}

int sz__watch_fold_exited(struct sz_watch *w, sz_count_fn fn, sz_gone_fn gone, void *ctx)
{
	if (!w || !fn || w->probes || w->opts.probe != SZ_PROBE_COUNT)
		return -EINVAL;
	w->fold = (struct obs){ (void *)fn, ctx };
	w->fold_gone = gone;
	return 0;
}

int sz__watch_cgroup(struct sz_watch *w, uint64_t id, uint32_t level, const char *path)
{
	char *under;

	if (!w || w->skel || !path)
		return -EINVAL;
	under = strdup(path);
	if (!under)
		return -ENOMEM;
	free(w->p->cgroup_under); /* the /proc scan's filter (sources/scan.c) */
	w->p->cgroup_under = under;
	w->cg_id = id;
	w->cg_level = level;
	return 0;
}

uint64_t sz__watch_latency_sum_ns(const struct sz_watch *w, uint32_t sym)
{
	if (!w || !w->probes || !sz_probe_mgr_has_latency(w->probes))
		return 0;
	return sz_probe_mgr_latency_sum_ns(w->probes, sym);
}

int sz_watch_keys(const struct sz_watch *w, sz_key_fn fn, void *ctx)
{
	if (!w || !fn || !w->probes)
		return -EINVAL;
	return sz_probe_mgr_keys(w->probes, fn, ctx);
}

int sz_watch_hist(const struct sz_watch *w, sz_hist_fn fn, void *ctx)
{
	if (!w || !fn || !w->probes)
		return -EINVAL;
	return sz_probe_mgr_hist(w->probes, fn, ctx);
}

static int scan_one(struct sz_watch *w, pid_t pid, enum sz_source src)
{
	return sz_scan_pid(w->p, pid, src, &w->counts);
}

static int fork_pending(struct sz_watch *w, pid_t pid, uint64_t ts)
{
	if (w->nforks == w->forks_cap) {
		size_t cap = w->forks_cap ? 2 * w->forks_cap : 64;
		struct pending_fork *n = realloc(w->forks, cap * sizeof(*n));

		if (!n)
			return scan_one(w, pid, SZ_SOURCE_FORK);
		w->forks = n;
		w->forks_cap = cap;
	}
	w->forks[w->nforks].pid = pid;
	w->forks[w->nforks++].due_ns = ts + FORK_GRACE_NS;
	return 0;
}

static void fork_done(struct sz_watch *w, pid_t pid)
{
	for (size_t i = 0; i < w->nforks; i++)
		if (w->forks[i].pid == pid)
			w->forks[i--] = w->forks[--w->nforks];
}

/* Scan the children whose grace period is over (all of them if FORCE). */
static int forks_due(struct sz_watch *w, int force)
{
	uint64_t now = sz_now_ns();
	int rc = 0;

	for (size_t i = 0; i < w->nforks && !rc; i++) {
		pid_t pid = w->forks[i].pid;

		if (!force && w->forks[i].due_ns > now)
			continue;
		w->forks[i--] = w->forks[--w->nforks];
		rc = scan_one(w, pid, SZ_SOURCE_FORK);
	}
	return rc;
}

/* One record: process events change what is known of a process; load
 * records become mapping records for the pipeline.  0, SZ_STOP or -ENOMEM. */
static int handle_rec_inner(struct sz_watch *w, const void *data, size_t size)
{
	const struct sz_watch_rec *r = data;
	char path[SZ_WATCH_PATH_LEN + 1], comm[SZ_WATCH_COMM_LEN + 1];
	struct sz_mapping m;

	w->st.events++;
	w->st.record_bytes += size;
	if (sz_watch_rec_check(data, size)) {
		w->st.bad_records++;
		return 0;
	}
	if (w->pm && r->type != SZ_WATCH_FORK && r->type != SZ_WATCH_MMAP &&
	    r->type != SZ_WATCH_HINT) /* issue 10: perf */
		sz_perfmmap_task_event(w->pm, (pid_t)r->tgid, r->ts_ns, r->type == SZ_WATCH_EXIT,
				       r->comm, r->cgroup_id);
	switch (r->type) {
	case SZ_WATCH_HINT:
		/* issue 10: a matching file was mapped, and perf's record of it
		 * is in a perf ring already (bpf/watch.bpf.c, sz_mmap_hint): read
		 * those now, before this ring's later records, the process's
		 * exit among them.  The kernel put it in `seen`. */
		w->st.hints++;
		sz_perfmmap_seen(w->pm, (pid_t)r->tgid, r->comm, r->cgroup_id);
		perf_drain(w, 0, r->ts_ns);
		if (w->stop_asked)
			return SZ_STOP;
		if (w->err)
			return 0; /* sz_watch_poll returns it */
		/* [safety] a hint whose record did not come (the mmap failed
		 * after it, or ran on a CPU without an event): what the process
		 * maps now, from /proc, so that nothing goes unseen */
		if (sz_perfmmap_hint_unmet(w->pm, (pid_t)r->tgid)) {
			w->st.hints_unmet++;
			return scan_one(w, (pid_t)r->tgid, SZ_SOURCE_SCAN);
		}
		return 0;
	case SZ_WATCH_EXIT:
		fork_done(w, (pid_t)r->tgid);
		sz_freeze_exited(w->fz, (pid_t)r->tgid);
		/* Only what was seen before the exit: a scan may already have seen
		 * a new process that reuses the pid. */
		sz_pipeline_forget(w->p, (pid_t)r->tgid, r->ts_ns, 1);
		w->st.exits++;
		return 0;
	case SZ_WATCH_EXEC_OTHER:
		sz_pipeline_forget(w->p, (pid_t)r->tgid, r->ts_ns, 0);
		fork_done(w, (pid_t)r->tgid);
		return 0;
	case SZ_WATCH_FORK:
		/* The child maps what its parent maps.  Most children exec at
		 * once (shells, spawners) and are better reported by their exec;
		 * the others are scanned when the grace period ends. */
		return fork_pending(w, (pid_t)r->tgid, r->ts_ns);
	case SZ_WATCH_EXEC:
		/* A new image: the old one's loads are gone (but not what a scan
		 * already saw of the new one). */
		sz_pipeline_forget(w->p, (pid_t)r->tgid, r->ts_ns, 0);
		fork_done(w, (pid_t)r->tgid);
		break;
	default:
		break;
	}
	if (sz_watch_rec_mapping(r, path, sizeof(path), comm, &m))
		return 0;
	return sz_pipeline_submit(w->p, &m);
}

/* Every record a process was stopped for is followed by SIGCONT, whatever
 * became of the record: --freeze must never leave a process stopped. */
static int handle_rec(void *ctx, void *data, size_t size)
{
	struct sz_watch *w = ctx;
	const struct sz_watch_rec *r = data;
	int rc;

	sz_freeze_alive(w->fz, 0); /* a handler stuck on output stops the lease */
	rc = handle_rec_inner(w, data, size);
	if (size >= SZ_WATCH_HDR_LEN && (r->flags & SZ_WATCH_FROZEN) && r->tgid > 0)
		sz_freeze_record(w->fz, (pid_t)r->tgid, r->ts_ns);
	if (rc == SZ_STOP)
		w->stop_asked = 1;
	else if (rc < 0 && !w->err)
		w->err = rc;
	/* The final drain must reach every record, whatever observers say;
	 * before it, a stop ends this poll (libbpf stops on a negative value). */
	return w->stopped || !rc ? 0 : -ECANCELED;
}

/* The freeze side of the watch subscribes like any consumer: once probes
 * cover a file, later mappings of it need no stop (the kernel puts a
 * registered uprobe into every later mapping of the inode by itself). */
static int mark_probed(void *ctx, struct sz_found *found, struct sz_loaded *l)
{
	struct sz_watch *w = ctx;
	struct sz_file_key k = { sz_loaded_kdev(l), 0, (__u64)sz_loaded_ino(l) };
	__u8 one = 1;

	/* Only --freeze reads the map; and a file's functions come in a row:
	 * [perf] one write per file, not one per function (1,000 with -s '*'). */
	if (!found->probed || !w->skel || !w->skel->rodata->freeze ||
	    !memcmp(&k, &w->last_probed, sizeof(k)))
		return 0;
	w->last_probed = k;
	bpf_map__update_elem(w->skel->maps.probed, &k, sizeof(k), &one, sizeof(one), BPF_ANY);
	return 0;
}

/* The BPF side first matches base names (a path pattern contributes its last
 * part, cheaply), then a path pattern on the whole path it builds. */
static int bpf_glob(const char *pattern, struct sz_glob *g, struct sz_glob *gp, __u32 *path)
{
	const char *slash = strrchr(pattern, '/');
	int err;

	*path = 0;
	if (!slash)
		return sz_glob_compile(pattern, g);
	err = sz_glob_compile(slash[1] ? slash + 1 : "*", g);
	if (!err)
		err = sz_glob_compile(pattern, gp);
	*path = !err;
	return err;
}

static void report_lost(struct sz_watch *w, enum sz_lost_reason why, uint64_t records,
			uint64_t loads, uint64_t repaired)
{
	struct sz_lost l = { records, repaired, loads, why };

	w->st.lost += records;
	w->st.repaired += repaired;
	w->st.lost_loads += loads;
	for (size_t i = 0; i < w->nlosts; i++)
		((sz_lost_fn)w->losts[i].fn)(&l, w->losts[i].ctx);
}

/* [safety] Losses no rescan repairs, reported as they are counted: a full
 * `seen` (forks and exits of those processes go unreported) and mmaps whose
 * VMA the kernel side could not look up. */
static void report_other_losses(struct sz_watch *w)
{
	uint64_t full =
		__atomic_load_n(&w->skel->bss->seen_full, __ATOMIC_RELAXED) + w->seen_full_user;
	uint64_t busy = __atomic_load_n(&w->skel->bss->vma_busy, __ATOMIC_RELAXED);

	if (full != w->seen_full_seen) {
		report_lost(w, SZ_LOST_SEEN_FULL, 0, full - w->seen_full_seen, 0);
		w->st.seen_full += full - w->seen_full_seen;
		w->seen_full_seen = full;
	}
	if (busy != w->vma_busy_seen) {
		report_lost(w, SZ_LOST_VMA_BUSY, 0, busy - w->vma_busy_seen, 0);
		w->st.vma_busy += busy - w->vma_busy_seen;
		w->vma_busy_seen = busy;
	}
}

static int pid_alive(pid_t pid, void *ctx)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

static void mark_seen(pid_t pid, void *ctx)
{
	struct sz_watch *w = ctx;
	__u32 key = (__u32)pid;
	__u8 one = 1;

	if (bpf_map__update_elem(w->skel->maps.seen, &key, sizeof(key), &one, sizeof(one),
				 BPF_ANY) == -E2BIG)
		w->seen_full_user++; /* [safety] its forks will not be reported: counted */
}

/* ---- issue 10: --mmap-hook perf (sources/perfmmap.c) ---- */

/* Records perf could not write since the last look.  [perf] issue 10: the
 * kernel's count is read (a read(2) per CPU, each an IPI to the CPU the
 * event runs on: a third of the watch's CPU in an exec storm when done
 * per poll) at most once per repair interval, and at the end. */
static uint64_t perf_lost(struct sz_watch *w)
{
	struct sz_perfmmap_stats ps;
	uint64_t n, now = sz_now_ns();

	if (w->stopped || now - w->perf_lost_read_ns >= REPAIR_INTERVAL_NS) {
		sz_perfmmap_read_lost(w->pm);
		w->perf_lost_read_ns = now;
	}
	sz_perfmmap_stats(w->pm, &ps);
	n = ps.lost - w->perf_lost_seen;
	w->perf_lost_seen = ps.lost;
	return n;
}

/* Children forked between the mapping and its record being read went by
 * the BPF fork hook before their parent was in `seen`: the main thread's
 * children (/proc/PID/task/PID/children) are scanned as forks are. */
static void perf_children(struct sz_watch *w, pid_t pid)
{
	char path[320], *buf = NULL, *p, *end;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/task/%d/children", w->p->proc, (int)pid, (int)pid);
	n = sz_read_file(AT_FDCWD, path, 1 << 16, &buf);
	for (p = buf; n > 0 && p && *p; p = end) {
		long c = strtol(p, &end, 10);

		if (end == p)
			break;
		if (c > 0)
			fork_pending(w, (pid_t)c, sz_now_ns());
	}
	free(buf);
}

/* Whether PID has not exited: a zombie has (its exit hook already ran), and
 * kill(pid, 0) would call it alive.  Unreadable but present: alive. */
static int not_exited(const struct sz_watch *w, pid_t pid)
{
	char path[PATH_MAX], buf[512];
	const char *e;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%d/stat", w->p->proc, (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT && errno != ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	e = strrchr(buf, ')'); /* the state follows the comm, which may hold ')' */
	if (!e || e[1] != ' ')
		return 1;
	return e[2] != 'Z' && e[2] != 'X';
}

/* A process perf reports may have exited before it was in `seen` (its exit
 * then went unreported): such an entry would never leave. */
static int perf_mark_seen(pid_t pid, void *ctx)
{
	struct sz_watch *w = ctx;
	__u32 key = (__u32)pid;

	mark_seen(pid, ctx);
	if (not_exited(w, pid)) {
		perf_children(w, pid);
		return 0;
	}
	bpf_map__delete_elem(w->skel->maps.seen, &key, sizeof(key), 0);
	return 1;
}

/* The perf rings, handled as handle_rec handles the BPF ring's records; a
 * process whose mapping matched goes into `seen`, as the BPF side's do.
 * Their records up to UNTIL (0: all): the two streams merged by time, so a
 * mapping is not handled before the BPF ring's records that precede it
 * (its hint, with the process's name). */
static void perf_drain(struct sz_watch *w, int all, uint64_t until)
{
	int rc;

	if (!w->pm)
		return;
	rc = sz_perfmmap_drain(w->pm, w->p, all || w->stopped, all || w->stopped ? 0 : until,
			       perf_mark_seen, w);
	if (rc == SZ_STOP)
		w->stop_asked = 1;
	else if (rc < 0 && !w->err)
		w->err = rc;
}

/* Wait on the watch's own epoll (the perf rings are there, never in
 * libbpf's), then the BPF ring before the perf rings: an exec's record comes
 * after the executable's and interpreter's mappings (made inside execve),
 * so they are in the perf rings by then, and perfmmap.c knows to leave them
 * to the exec record (sz_perfmmap_task_event). */
static int perf_poll(struct sz_watch *w, int timeout_ms)
{
	struct epoll_event ev[8];
	uint64_t until;
	int n = epoll_wait(w->epfd, ev, 8,
			   timeout_ms < 0 || timeout_ms > SZ_PERFMMAP_POLL_MS ? SZ_PERFMMAP_POLL_MS
									      : timeout_ms);

	if (n < 0)
		return -errno;
	/* the tick is in this epoll, level-triggered: read it when it fires, or
	 * every wait returns at once until the next read (a spin) */
	for (int i = 0; i < n; i++)
		if (ev[i].data.fd == w->tfd) {
			uint64_t ticks;

			w->last_tick_ns = sz_now_ns();
			if (read(w->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				return -errno;
		}
	until = sz_now_ns();
	n = ring_buffer__consume(w->rb);
	/* -ECANCELED: a stack flood gave the loop its turn; the perf rings get
	 * theirs too, up to where the BPF ring was read */
	if ((n >= 0 || n == -ECANCELED) && !w->stop_asked && !w->err)
		perf_drain(w, 0, until);
	return n;
}

/* The kernel's version at least MAJOR.MINOR (uname; a release it cannot
 * read is not). */
static int kernel_at_least(int major, int minor)
{
	struct utsname u;
	char *end;
	long a, b;

	if (uname(&u))
		return 0;
	a = strtol(u.release, &end, 10);
	if (end == u.release || *end != '.')
		return 0;
	b = strtol(end + 1, &end, 10);
	return a > major || (a == major && b >= minor);
}

/* --mmap-hook auto cannot take perf's records, for the reason WHY (a
 * format): the tracepoint, said in one line.  0. */
__attribute__((format(printf, 2, 3))) static int tracepoint_instead(struct sz_watch *w,
								     const char *why, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, why);
	vsnprintf(reason, sizeof(reason), why, ap);
	va_end(ap);
	sz_log(SZ_LOG_WARN, "%s: new mappings are seen by the mmap(2) tracepoint instead, which "
			    "slows every syscall of the host", reason);
	sz_perfmmap_free(w->pm);
	w->pm = NULL;
	w->opts.mmap_hook = SZ_MMAP_HOOK_TRACEPOINT;
	return 0;
}

/*
 * issue 10: which hook sees new mappings.  The default is perf's records: no
 * syscall of the host pays anything (a syscall tracepoint sends every syscall
 * of every task through the kernel's slow path).  The tracepoint where
 * --freeze needs it (a process is stopped inside mmap(2)), where no perf
 * event opens, before 6.14, or where CPUs may come online later (below); the
 * default says why and goes on, --mmap-hook perf fails or warns.  The perf
 * events are opened here, before the programs load: from then on every
 * executable mapping is recorded (what the scan also finds is a duplicate
 * the pipeline drops).
 */
static int choose_hook(struct sz_watch *w)
{
	int is_auto = w->opts.mmap_hook == SZ_MMAP_HOOK_AUTO, err;
	struct sz_perfmmap_opts po = {
		.pid = w->opts.pid,
		.self = getpid(),
		.cg_path = w->cg_id ? w->p->cgroup_under : NULL,
		.cg_id = w->cg_id,
		.ring_bytes = w->opts.ring_bytes,
	};
	struct sz_perfmmap_stats ps;

	if (is_auto)
		w->opts.mmap_hook = w->opts.freeze ? SZ_MMAP_HOOK_TRACEPOINT : SZ_MMAP_HOOK_PERF;
	if (w->opts.mmap_hook != SZ_MMAP_HOOK_PERF)
		return 0;
	err = sz_perfmmap_open(&po, &w->pm);
	if (err && is_auto)
		return tracepoint_instead(w, "cannot open the per-CPU perf events (%s)",
					  strerror(-err));
	if (err) {
		sz_log(SZ_LOG_ERROR,
		       "--mmap-hook perf: cannot open the per-CPU perf events: %s (needs "
		       "CAP_PERFMON or CAP_SYS_ADMIN%s)",
		       strerror(-err), w->cg_id ? "; --cgroup: the cgroup v2 directory" : "");
		return err;
	}
	/* [perf] Before 6.14 the mmap_lock tracepoints were (mm, memcg_path,
	 * write): enabled, they format the memory cgroup's path on every mmap
	 * lock release of the host, page faults among them, which would cost
	 * more than the syscall tracepoint.  The wake-up (sz_mmap_hint) needs
	 * 6.14's (mm, write). */
	w->perf_hint = kernel_at_least(6, 14);
	/* [safety] perf events are per CPU: one the kernel brings online later
	 * has none, and what maps there would go unseen */
	sz_perfmmap_stats(w->pm, &ps);
	if (is_auto && !w->perf_hint)
		return tracepoint_instead(w, "this kernel's mmap_lock tracepoint (before 6.14) "
					     "would cost every mmap lock release");
	if (is_auto && ps.cpus_uncovered)
		return tracepoint_instead(w, "%u CPUs may come online later, and perf events "
					     "opened now would not see them",
					  ps.cpus_uncovered);
	if (!w->perf_hint)
		sz_log(SZ_LOG_WARN, "--mmap-hook perf: before 6.14 no BPF wakes the watch for a "
				    "matching mapping: it is read within 10 ms, and a process that "
				    "exits sooner has its exit unreported");
	if (ps.cpus_uncovered)
		sz_log(SZ_LOG_WARN,
		       "--mmap-hook perf: %u CPUs may come online later, with no perf event: new "
		       "mappings made there will not be seen",
		       ps.cpus_uncovered);
	return 0;
}

/* Processes a scan found are known to the BPF side too, so their forks and
 * exits are reported like those of processes it saw itself. */
static int scan_and_mark(struct sz_watch *w)
{
	/* issue 10: the BPF iterator when it can run, else /proc (sources/iter.c) */
	int rc = sz_scan_host(w->p, w->skel, w->opts.pid, &w->counts);

	/* [safety] a process the full map refused: its forks go unreported, counted */
	w->seen_full_user += sz_iter_mark_seen(w->p, bpf_map__fd(w->skel->maps.seen));
	return rc;
}

/* If BPF dropped records since we last looked: drain what did arrive, then
 * rescan /proc, where the lost loads are found (if the process still lives)
 * and the set of reported loads suppresses the rest; report both counts. */
static int repair_if_lost(struct sz_watch *w)
{
	uint64_t drops = __atomic_load_n(&w->skel->bss->drops, __ATOMIC_RELAXED);
	uint64_t loads = __atomic_load_n(&w->skel->bss->drops_loads, __ATOMIC_RELAXED);
	uint64_t before, dropped = drops - w->drops_seen, dropped_loads;
	uint64_t plost = perf_lost(w);
	int rc;

	if (!dropped && !plost)
		return 0;
	/* drops_loads is bumped after drops: read after it, never ahead.  A
	 * lost perf record was an executable mapping of any file: each may
	 * have been a load (an upper bound) */
	dropped_loads = loads - w->drops_loads_seen + plost;
	dropped += plost;
	w->drops_seen = drops;
	w->drops_loads_seen = loads;
	w->last_repair_ns = sz_now_ns();
	ring_buffer__consume(w->rb);
	perf_drain(w, 0, 0);
	/* Only what the rescan finds counts as repaired, not what the drain
	 * delivered. */
	before = w->p->stats.mappings;
	sz_pipeline_prune(w->p, pid_alive, NULL);
	rc = scan_and_mark(w);
	report_lost(w, SZ_LOST_RING_FULL, dropped, dropped_loads, w->p->stats.mappings - before);
	sz_freeze_settle(w->fz); /* stops whose last records were among the dropped */
	return rc;
}

static int make_fd(struct sz_watch *w)
{
	struct itimerspec its = { .it_interval = { 0, (long)TICK_NS },
				  .it_value = { 0, (long)TICK_NS } };
	struct epoll_event ev = { .events = EPOLLIN };

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->epfd < 0 || w->tfd < 0 || timerfd_settime(w->tfd, 0, &its, NULL))
		return -errno;
	ev.data.fd = w->tfd;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tfd, &ev))
		return -errno;
	ev.data.fd = ring_buffer__epoll_fd(w->rb);
	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) ? -errno : 0;
}

int sz_watch_fd(const struct sz_watch *w)
{
	return w && w->epfd >= 0 ? w->epfd : -EINVAL;
}

/* [perf] The watch's ring after the probe skeleton's load: a ring is
 * mapped (its data twice) from here on, and libbpf's load holds the
 * kernel's BTF twice (2 x 5.5 MB) for a moment: one peak, not the sum. */
static int add_watch_ring(struct sz_watch *w)
{
	int err;

	if (w->ring_added)
		return 0;
	if (w->rb) {
		err = ring_buffer__add(w->rb, bpf_map__fd(w->skel->maps.rb), handle_rec, w);
	} else {
		w->rb = ring_buffer__new(bpf_map__fd(w->skel->maps.rb), handle_rec, w, NULL);
		err = w->rb ? 0 : -errno;
	}
	if (err)
		sz_log(SZ_LOG_ERROR, "cannot set up the ring buffer: %s", strerror(-err));
	else
		w->ring_added = 1;
	return err;
}

/* ---- loading: two programs verified at once ---- */

struct split_load {
	struct watch_bpf *skel;
	int err;
};

static void *split_load_thread(void *arg)
{
	struct split_load *l = arg;

	l->err = watch_bpf__load(l->skel);
	return NULL;
}

/* Every map of TO is FROM's map of the same name. */
static int reuse_maps(struct watch_bpf *to, struct watch_bpf *from)
{
	struct bpf_map *m;
	int err;

	bpf_object__for_each_map(m, from->obj) {
		struct bpf_map *t = bpf_object__find_map_by_name(to->obj, bpf_map__name(m));

		if (!t)
			return -ENOENT;
		err = bpf_map__reuse_fd(t, bpf_map__fd(m));
		if (err)
			return err;
	}
	return 0;
}

/* The mmap hook's program in S: sz_mmap, or with --mmap-hook perf its
 * wake-up, sz_mmap_hint (none before 6.14: choose_hook). */
static struct bpf_program *mmap_prog(const struct sz_watch *w, struct watch_bpf *s)
{
	if (w->opts.mmap_hook == SZ_MMAP_HOOK_PERF)
		return w->perf_hint ? s->progs.sz_mmap_hint : NULL;
	return s->progs.sz_mmap;
}

/*
 * [perf] issue 10: start-up is mostly the verifier, and sz_exec and the mmap
 * hook's program (mmap_prog: sz_mmap or sz_mmap_hint) are its two largest
 * (~8 and ~6 ms here): verified one after the other by libbpf, they are
 * verified at once here, on two CPUs.  MAPS (the configured object: rodata,
 * sizes) is loaded with no program, which only creates and fills its maps; two
 * more openings of the same object reuse those maps, one with the mmap program
 * alone (loaded in a thread), one with the rest (here).
 * The latter becomes w->skel, the former w->skel_mmap; MAPS is closed (the
 * maps live on in the others' descriptors).  The programs are the same
 * instructions against the same maps as one load makes.
 */
static int load_split(struct sz_watch *w, struct watch_bpf *maps,
		      const struct bpf_object_open_opts *oo)
{
	struct split_load l = { NULL, 0 };
	struct watch_bpf *rest = NULL;
	struct bpf_program *prog;
	pthread_t th;
	int err, threaded;

	rest = watch_bpf__open_opts(oo);
	l.skel = watch_bpf__open_opts(oo);
	err = rest && l.skel ? 0 : -errno;
	if (err)
		goto out;
	bpf_object__for_each_program(prog, maps->obj) {
		struct bpf_program *mine = bpf_object__find_program_by_name(
			rest->obj, bpf_program__name(prog));
		int on = bpf_program__autoload(prog);

		if (!mine) {
			err = -ENOENT;
			goto out;
		}
		bpf_program__set_autoload(mine, on && prog != mmap_prog(w, maps));
		bpf_program__set_autoattach(mine, bpf_program__autoattach(prog));
		bpf_program__set_autoload(prog, false);
	}
	bpf_object__for_each_program(prog, l.skel->obj)
		bpf_program__set_autoload(prog, prog == mmap_prog(w, l.skel));
	if (bpf_program__autoload(rest->progs.sz_scan_vmas))
		err = sz_kbtf_iter_prepare(rest->progs.sz_scan_vmas, "task_vma");
	if (!err)
		err = watch_bpf__load(maps); /* the maps, created and filled */
	if (!err)
		err = reuse_maps(rest, maps);
	if (!err)
		err = reuse_maps(l.skel, maps);
	if (err)
		goto out;
	threaded = !pthread_create(&th, NULL, split_load_thread, &l);
	if (!threaded)
		split_load_thread(&l);
	err = watch_bpf__load(rest);
	if (threaded)
		pthread_join(th, NULL);
	if (!err)
		err = l.err;
out:
	if (err) {
		watch_bpf__destroy(rest);
		watch_bpf__destroy(l.skel);
		return err;
	}
	watch_bpf__destroy(maps);
	w->skel = rest;
	w->skel_mmap = l.skel;
	return 0;
}

/* Opens the watch's object, sets it up and loads it; with USE_KBTF, against a
 * minimal copy of the kernel's BTF (-EAGAIN when that load failed: the object
 * is closed again). */
static int open_load(struct sz_watch *w, const struct sz_glob *g, const struct sz_glob *gp,
		     __u32 path_glob, int use_kbtf)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	const char *seen_env;
	struct stat nsst;
	int err, kbtf;

	{
		/* [perf] CO-RE against a minimal copy of the kernel's BTF, one for
		 * the probe and USDT objects too (util/kbtf.h, issue 10) */
		struct sz_kbtf_obj objs[3];

		objs[0].elf = watch_bpf__elf_bytes(&objs[0].size);
		objs[1].elf = sz_probe_bpf_elf(&objs[1].size);
		objs[2].elf = sz_usdt_bpf_elf(&objs[2].size);
		if (use_kbtf)
			sz_kbtf_open_opts(&oo, objs, w->opts.probe != SZ_PROBE_NONE ? 3 : 1);
		kbtf = oo.btf_custom_path != NULL;
		w->skel = watch_bpf__open_opts(&oo);
	}
	if (!w->skel) {
		err = -errno;
		sz_log(SZ_LOG_ERROR, "cannot open the BPF program: %s", strerror(-err));
		return err;
	}
	memcpy((void *)&w->skel->rodata->glob, g, sizeof(*g));
	memcpy((void *)&w->skel->rodata->glob_path, gp, sizeof(*gp));
	w->skel->rodata->path_glob = path_glob;
	w->skel->rodata->targ_tgid = (__u32)(w->opts.pid > 0 ? w->opts.pid : 0);
	w->skel->rodata->self_tgid = (__u32)getpid();
	w->skel->rodata->sz_cg_id = w->cg_id; /* issue 13: --cgroup */
	w->skel->rodata->sz_cg_level = w->cg_level;
	w->skel->rodata->freeze = w->opts.freeze && w->opts.probe != SZ_PROBE_NONE;
	/* Pids as we see them, in records and in the frozen set. */
	w->skel->rodata->sz_pidns_ino = sz_pidns_ino();
	/* Paths that end in another mount namespace are flagged: they name a file
	 * there, not here. */
	if (stat("/proc/self/ns/mnt", &nsst) == 0)
		w->skel->rodata->root_mntns = (__u32)nsst.st_ino;
	/* [safety] tests shrink `seen` to show that a full one is counted */
	seen_env = getenv("SYMBOLYZE_TEST_SEEN_ENTRIES");
	if (seen_env) {
		unsigned long n = strtoul(seen_env, NULL, 10);

		if (n > 0 && n <= 16384)
			bpf_map__set_max_entries(w->skel->maps.seen, (__u32)n);
	}
	err = bpf_map__set_max_entries(w->skel->maps.rb,
				       (__u32)(w->opts.ring_bytes ? w->opts.ring_bytes
								  : DEFAULT_RING_BYTES));
	if (!err)
		err = sz_iter_prepare(w->skel, w->p, w->opts.pid, w->opts.no_scan); /* issue 10 */
	/* at most one of the two mmap programs: the tracepoint's, or with
	 * perf's records (perfmmap.c) the wake-up (mmap_prog) */
	if (!err)
		err = bpf_program__set_autoload(w->skel->progs.sz_mmap,
						mmap_prog(w, w->skel) == w->skel->progs.sz_mmap);
	if (!err)
		err = bpf_program__set_autoload(w->skel->progs.sz_mmap_hint,
						mmap_prog(w, w->skel) == w->skel->progs.sz_mmap_hint);
	if (!err && mmap_prog(w, w->skel) && !getenv("SYMBOLYZE_ONE_LOAD")) {
		struct watch_bpf *maps = w->skel;

		w->skel = NULL;
		err = load_split(w, maps, &oo);
		if (err)
			w->skel = maps;
	} else if (!err) {
		err = watch_bpf__load(w->skel);
	}
	if (err && kbtf) {
		watch_bpf__destroy(w->skel);
		w->skel = NULL;
		return -EAGAIN;
	}
	if (err)
		sz_log(SZ_LOG_ERROR,
		       "cannot load the BPF program: %s (needs root or its capabilities in "
		       "symbolyze(8), and a kernel with BTF: /sys/kernel/btf/vmlinux)",
		       strerror(-err));
	return err;
}

int sz_watch_start(struct sz_watch *w)
{
	struct sz_consumer freeze = { .found = mark_probed };
	struct sz_glob g, gp = { 0 };
	__u32 path_glob;
	void *saved;
	int err, mounted;

	if (!w || w->skel)
		return -EINVAL;
	err = bpf_glob(w->p->glob_text, &g, &gp, &path_glob);
	if (err)
		return err;
	/* The procfs we read must number processes as our namespace does. */
	if (sz_proc_is_ours(w->p->proc) == -EXDEV) {
		sz_log(SZ_LOG_ERROR,
		       "%s is the procfs of another PID namespace: its pids are not the ones "
		       "we see (mount one for this namespace, e.g. unshare --pid --fork "
		       "--mount-proc)",
		       w->p->proc);
		return -EXDEV;
	}
	err = choose_hook(w);
	if (err)
		return err;
	saved = sz_libbpf_enter();
	err = open_load(w, &g, &gp, path_glob, 1);
	if (err == -EAGAIN) {
		/* [safety] a kernel whose BTF our minimal copy got wrong: libbpf's
		 * own way, slower, for this and every later object */
		sz_log(SZ_LOG_DEBUG, "loading with a minimal copy of the kernel's BTF failed: "
				     "again with all of it");
		sz_kbtf_disable();
		err = open_load(w, &g, &gp, path_glob, 0);
	}
	if (err)
		goto fail;
	/* Before attach, so that it holds no link: from the first stop on,
	 * something outside this process bounds it and survives us. */
	if (w->skel->rodata->freeze) {
		unsigned ms = w->opts.freeze_timeout_ms ? w->opts.freeze_timeout_ms
							: FREEZE_TIMEOUT_MS;

		err = sz_freeze_start(bpf_map__fd(w->skel->maps.frozen),
				      bpf_map__fd(w->skel->maps.freeze_ctl), ms * 1000000ull,
				      &w->fz);
		if (err) {
			sz_log(SZ_LOG_ERROR, "cannot start the --freeze guardian: %s",
			       strerror(-err));
			goto fail;
		}
	}
	/* Everything that can fail goes before attach: once attached with
	 * --freeze, processes stop, and only a consumer resumes them.
	 * The mmap hook is a per-syscall tracepoint: libbpf finds it in tracefs. */
	err = w->opts.mmap_hook == SZ_MMAP_HOOK_PERF ? 0 : sz_tracefs_ensure(&mounted);
	if (err) {
		sz_log(SZ_LOG_ERROR,
		       "tracefs is not mounted and cannot be mounted at " SZ_TRACEFS_DIR
		       " (the mmap tracepoint needs it): %s; as root: "
		       "mount -t tracefs tracefs " SZ_TRACEFS_DIR,
		       strerror(-err));
		goto fail;
	}
	if (w->opts.probe != SZ_PROBE_NONE && w->p->nsymbols) {
		struct sz_probe_stack_opts so = { w->opts.stacks, w->opts.stack_bytes, NULL };

		err = sz_probe_mgr_new(w->opts.probe, w->empty_probe, w->opts.pid,
				       sz_pipeline_symbols(w->p), w->opts.uprobe_single,
				       w->empty_probe ? NULL : w->args, w->cg_id, w->cg_level, &so,
				       &w->probes);
		for (size_t i = 0; !err && i < w->ncalls; i++)
			err = sz_probe_mgr_on_call(w->probes, (sz_call_fn)w->calls[i].fn,
						   w->calls[i].ctx);
		/* the watch's ring first: ring_buffer__consume reads rings in
		 * order, and a stack flood ends a read early (sz_stacks_busy) */
		if (!err)
			err = add_watch_ring(w);
		if (!err)
			err = sz_probe_mgr_add_ring(w->probes, &w->rb);
		if (!err && w->fold.fn)
			err = sz_probe_mgr_fold(w->probes, (sz_count_fn)w->fold.fn, w->fold_gone,
						w->fold.ctx);
		if (!err)
			err = sz_probe_mgr_subscribe(w->probes, w->p);
		if (err)
			goto fail;
	}
	if (w->opts.probe != SZ_PROBE_NONE) {
		err = w->p->nusdt ? add_watch_ring(w) : 0; /* first, as above */
		if (!err)
			err = sz_wusdt_start(w->usdt, &w->opts, w->p->nusdt, w->p, &w->rb);
		if (err)
			goto fail;
		freeze.ctx = w;
		err = sz_pipeline_subscribe(w->p, &freeze, 0);
		if (err)
			goto fail;
	}
	err = add_watch_ring(w);
	if (err)
		goto fail;
	err = make_fd(w);
	if (err) {
		sz_log(SZ_LOG_ERROR, "cannot set up the watch's descriptor: %s", strerror(-err));
		goto fail;
	}
	if (w->pm) {
		err = sz_perfmmap_add_epoll(w->pm, w->epfd);
		if (err) {
			sz_log(SZ_LOG_ERROR, "cannot poll the perf events: %s", strerror(-err));
			goto fail;
		}
	}
	err = watch_bpf__attach(w->skel);
	if (!err && w->skel_mmap) { /* its link kept with the others' (load_split) */
		struct bpf_link *l = bpf_program__attach(mmap_prog(w, w->skel_mmap));

		err = l ? 0 : -errno;
		if (w->opts.mmap_hook == SZ_MMAP_HOOK_PERF)
			w->skel->links.sz_mmap_hint = l;
		else
			w->skel->links.sz_mmap = l;
	}
	if (err) {
		sz_log(SZ_LOG_ERROR, "cannot attach the BPF program to tracepoints: %s",
		       strerror(-err));
		goto fail;
	}
	sz_libbpf_leave(saved);
	w->last_prune_ns = sz_now_ns();
	/* The watch is live: whatever maps a file from now on is recorded, so the
	 * scan cannot miss anything in between. */
	if (!w->opts.no_scan) {
		err = scan_and_mark(w);
		if (err < 0) {
			sz_log(SZ_LOG_ERROR, "cannot scan %s: %s", w->p->proc, strerror(-err));
			saved = NULL;
			goto fail_attached;
		}
		if (err == SZ_STOP)
			w->stop_asked = 1;
	}
	return w->stop_asked ? SZ_STOP : 0;
fail:
	sz_libbpf_leave(saved);
fail_attached:
	sz_watch_stop(w); /* resumes whatever a partial start froze */
	teardown(w);
	w->stopped = 0;
	return err;
}

int sz_watch_poll(struct sz_watch *w, int timeout_ms)
{
	uint64_t ticks;
	int n;

	if (!w || !w->rb || w->stopped)
		return -EINVAL;
	/* [perf] the tick is cleared for sz_watch_fd's users (they poll with 0)
	 * and when one can have come: not a read(2) per wake-up */
	if (w->tfd >= 0 && (!timeout_ms || sz_now_ns() - w->last_tick_ns >= TICK_NS)) {
		w->last_tick_ns = sz_now_ns();
		if (read(w->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
			return -errno;
	}
	/* [perf] issue 10: records that wake nobody wait at most this long */
	if (timeout_ms < 0 || timeout_ms > SILENT_MS)
		timeout_ms = SILENT_MS;
	sz_freeze_alive(w->fz, timeout_ms);
	if (w->pm) { /* issue 10: --mmap-hook perf */
		n = perf_poll(w, timeout_ms);
	} else {
		n = ring_buffer__poll(w->rb, timeout_ms);
		/* [perf] issue 10: records that wake nobody (exits, forks, an exec
		 * of nothing that matches: bpf/watch.bpf.c, wake_flags) are read
		 * here at the latest, SILENT_MS after they were written. */
		/* ... and when a stack flood ended the poll (sz_stacks_busy),
		 * maybe before the watch's ring, which epoll may list after it
		 * every time: read the rings in order, the watch's first */
		if (n == 0 || (n == -ECANCELED && !w->stop_asked && !w->err))
			n = ring_buffer__consume(w->rb);
	}
	sz_freeze_alive(w->fz, 0); /* the caller's turn: back soon, or no more stops */
	if (n < 0 && n != -EINTR && n != -ECANCELED)
		return n;
	if (w->err) {
		int err = w->err;

		w->err = 0;
		return err;
	}
	if (w->stop_asked)
		return SZ_STOP;
	/* Under a flood one rescan per interval repairs as much as one per poll
	 * would, and does not add a full /proc walk to every burst. */
	if (sz_now_ns() - w->last_repair_ns >= REPAIR_INTERVAL_NS) {
		int rc = repair_if_lost(w);

		if (rc)
			return rc;
	}
	report_other_losses(w);
	if (w->nforks) {
		int rc = forks_due(w, 0);

		if (rc)
			return rc;
	}
	if (sz_now_ns() - w->last_prune_ns > PRUNE_INTERVAL_NS) {
		/* Exit records can be dropped too: forget processes that are gone,
		 * then the files no live load needs (a deleted library's inode is
		 * freed once its last user is gone). */
		sz_pipeline_prune(w->p, pid_alive, NULL);
		w->last_prune_ns = sz_now_ns();
	}
	return n == -EINTR ? n : 0;
}
