// SPDX-License-Identifier: BSD-2-Clause
/*
 * Loader of bpf/watch.bpf.c: attach the BPF watch, then scan /proc (so no load
 * falls between the two), then turn each ring-buffer record into a mapping
 * record for the one pipeline.  Loss is counted by BPF, reported and repaired
 * here by a rescan; the set of reported loads keeps every load to one report.
 */
#include "pipeline/core.h"
#include "consumers/probe.h"
#include "sources/watch_rec.h"
#include "sources/freeze.h"
#include "proc/pidns.h"
#include "watch.skel.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <linux/openat2.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_RING_BYTES (4u << 20)
#define PRUNE_INTERVAL_NS (5ull * 1000000000ull)
#define FORK_GRACE_NS (20ull * 1000000ull)	 /* an exec within this wins over the fork */
#define RECHECK_NS (1000ull * 1000000ull)	 /* trust a file's size/mtime check this long */
#define REPAIR_INTERVAL_NS (100ull * 1000000ull) /* at most one repair rescan per interval */
#define FREEZE_TIMEOUT_MS 500			 /* --freeze: default bound on any stop */

struct pending_fork {
	pid_t pid;
	uint64_t due_ns;
};

struct sz_watch;
static int forks_due(struct sz_watch *w, int force);
static int repair_if_lost(struct sz_watch *w);

struct sz_watch {
	struct sz_scanner *sc;
	struct sz_watch_opts opts;
	struct sz_loads loads;
	struct watch_bpf *skel;
	struct ring_buffer *rb;
	struct sz_probe_mgr *probes;
	struct sz_freeze *fz; /* --freeze: lease, bound and guardian (freeze.c) */
	sz_call_fn call_fn;
	void *call_ctx;
	struct {
		sz_lost_fn fn;
		void *ctx;
	} lost_obs[SZ_MAX_OBSERVERS];
	size_t nlost_obs;
	uint64_t drops_seen;
	int stopped; /* detached: only the final drain's records are still delivered */
	struct pending_fork *forks; /* forked children not yet scanned */
	size_t nforks, forks_cap;
	uint64_t last_prune_ns;
	uint64_t last_repair_ns;
	struct sz_watch_stats st;
	char error[512];
};

static __attribute__((format(printf, 2, 3))) void fail(struct sz_watch *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->error, sizeof(w->error), fmt, ap);
	va_end(ap);
}

/* libbpf talks to stderr by default; the library never prints. */
static int quiet_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

int sz_watch_new(const struct sz_watch_opts *opts, struct sz_watch **out)
{
	struct sz_watch *w;
	int err;

	*out = NULL;
	if (!opts || opts->sz < sizeof(size_t))
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	memcpy(&w->opts, opts, opts->sz < sizeof(w->opts) ? opts->sz : sizeof(w->opts));
	w->opts.sz = sizeof(w->opts);
	if ((w->opts.ring_bytes &&
	     (w->opts.ring_bytes & (w->opts.ring_bytes - 1) || w->opts.ring_bytes < 4096)) ||
	    w->opts.freeze_timeout_ms > 3600000) {
		free(w);
		return -EINVAL;
	}
	SZ_OPTS(sz_scanner_opts, so, .glob = w->opts.glob, .symbols = w->opts.symbols,
		.nsymbols = w->opts.nsymbols, .pid = w->opts.pid, .proc = w->opts.proc);
	err = sz_scanner_new(&so, &w->sc);
	if (err) {
		free(w);
		return err;
	}
	/* The scanner copied what it needs; do not keep the caller's pointers. */
	w->opts.glob = NULL;
	w->opts.symbols = NULL;
	w->opts.proc = NULL;
	w->sc->loads = &w->loads;
	*out = w;
	return 0;
}

void sz_watch_stop(struct sz_watch *w)
{
	if (!w || !w->skel || w->stopped)
		return;
	w->stopped = 1;
	/* No stop may follow the last drain: turn freezing off, detach, then
	 * resume whatever the remaining records stopped. */
	sz_freeze_off(w->fz);
	watch_bpf__detach(w->skel);
	/* synchronize_rcu(): programs still running when we detached have
	 * finished, so their records are in the ring for the drain. */
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(50000); /* no membarrier: grace periods are short */
	if (w->rb)
		ring_buffer__consume(w->rb);
	forks_due(w, 1);
	/* A loss in the last moments, or in the drain itself, is reported too. */
	repair_if_lost(w);
	sz_freeze_resume_all(w->fz); /* stops whose records never came */
}

void sz_watch_free(struct sz_watch *w)
{
	if (!w)
		return;
	sz_watch_stop(w);
	sz_freeze_free(w->fz);
	ring_buffer__free(w->rb);
	watch_bpf__destroy(w->skel);
	w->sc->probes = NULL;
	sz_probe_mgr_free(w->probes);
	sz_loads_fini(&w->loads);
	free(w->forks);
	sz_scanner_free(w->sc);
	free(w);
}

int sz_watch_on_found(struct sz_watch *w, sz_found_fn fn, void *ctx)
{
	return w ? sz_scanner_on_found(w->sc, fn, ctx) : -EINVAL;
}

int sz_watch_on_problem(struct sz_watch *w, sz_problem_fn fn, void *ctx)
{
	return w ? sz_scanner_on_problem(w->sc, fn, ctx) : -EINVAL;
}

int sz_watch_on_lost(struct sz_watch *w, sz_lost_fn fn, void *ctx)
{
	if (!w || !fn)
		return -EINVAL;
	if (w->nlost_obs >= SZ_MAX_OBSERVERS)
		return -E2BIG;
	w->lost_obs[w->nlost_obs].fn = fn;
	w->lost_obs[w->nlost_obs++].ctx = ctx;
	return 0;
}

const char *sz_watch_error(const struct sz_watch *w)
{
	return w && w->error[0] ? w->error : "no error";
}

void sz_watch_stats(const struct sz_watch *w, struct sz_watch_stats *out)
{
	struct sz_freeze_stats fs;

	*out = w->st;
	sz_freeze_stats(w->fz, &fs);
	out->frozen = fs.processes;
	out->freeze_timeouts = fs.timeouts;
	if (w->skel) {
		out->freeze_skipped = w->skel->bss->sz_freeze_skipped;
		out->freeze_full = w->skel->bss->sz_freeze_full;
		out->invisible = w->skel->bss->sz_pidns_invisible;
	}
	sz_scanner_stats(w->sc, &out->scan);
	out->duplicates = w->sc->duplicates;
	if (w->probes) {
		out->probes = sz_probe_mgr_attached(w->probes);
		out->probe_drops = sz_probe_mgr_drops(w->probes);
	}
}

int sz_watch_on_call(struct sz_watch *w, sz_call_fn fn, void *ctx)
{
	if (!w || !fn)
		return -EINVAL;
	w->call_fn = fn;
	w->call_ctx = ctx;
	if (w->probes)
		sz_probe_mgr_on_call(w->probes, fn, ctx);
	return 0;
}

int sz_watch_counts(const struct sz_watch *w, sz_count_fn fn, void *ctx)
{
	if (!w || !fn || !w->probes || w->opts.probe != SZ_PROBE_COUNT)
		return -EINVAL;
	return sz_probe_mgr_counts(w->probes, fn, ctx);
}

int sz_watch_latency(const struct sz_watch *w, sz_latency_fn fn, void *ctx)
{
	if (!w || !fn || !w->probes || w->opts.probe != SZ_PROBE_LATENCY)
		return -EINVAL;
	return sz_probe_mgr_latency(w->probes, fn, ctx);
}

/* The record's file by its path, walked without symlinks from our root, or
 * from the process's root for a path of another mount namespace (FOREIGN),
 * and used only if it is the very inode the kernel reported. */
static struct sz_file *file_by_path(struct sz_scanner *s, pid_t pid, const char *path, int foreign,
				    const struct sz_map *m)
{
	uint64_t resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	int fd, dirfd = AT_FDCWD;
	struct sz_file *f;
	struct stat st;

	if (foreign) {
		char root[320];

		snprintf(root, sizeof(root), "%s/%d/root", s->proc, (int)pid);
		dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			return NULL;
		resolve |= RESOLVE_IN_ROOT;
	}
	fd = sz_open_checked(dirfd, path, resolve, m, 1, &st);
	if (foreign)
		close(dirfd);
	if (fd < 0)
		return NULL;
	f = sz_cache_find(&s->cache, &st);
	if (f) {
		close(fd);
		return f;
	}
	fd = sz_reopen_read(fd);
	return fd < 0 ? NULL : sz_cache_add(&s->cache, fd, &st);
}

/* The live process: the VMA now holding the record's start (ld.so's first
 * mapping has been split by later MAP_FIXED mappings), via map_files. */
static struct sz_file *file_by_vma(struct sz_scanner *s, pid_t pid, const struct sz_map *m,
				   int *errp)
{
	struct sz_maps_iter it;
	struct sz_map v;
	struct sz_file *f = NULL;

	*errp = sz_maps_open(&it, s->proc, pid, SZ_MAPS_MAX);
	if (*errp) {
		if (*errp == -ENOENT)
			*errp = -ESRCH;
		return NULL;
	}
	*errp = -ESRCH;
	while (sz_maps_next(&it, &v))
		if (v.ino == m->ino && v.start <= m->start && m->start < v.end) {
			f = sz_scanner_file(s, pid, &v, errp);
			break;
		}
	sz_maps_close(&it);
	return f;
}

static unsigned vm_prot(uint64_t vm_flags)
{
	return (vm_flags & 1 ? PROT_READ : 0) | (vm_flags & 2 ? PROT_WRITE : 0) |
	       (vm_flags & 4 ? PROT_EXEC : 0);
}

static int fork_pending(struct sz_watch *w, pid_t pid, uint64_t ts)
{
	if (w->nforks == w->forks_cap) {
		size_t cap = w->forks_cap ? 2 * w->forks_cap : 64;
		struct pending_fork *n = realloc(w->forks, cap * sizeof(*n));

		if (!n)
			return sz_scanner_scan_pid(w->sc, pid, SZ_SOURCE_FORK) ? -ECANCELED : 0;
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
		rc = sz_scanner_scan_pid(w->sc, pid, SZ_SOURCE_FORK);
	}
	return rc;
}

static int handle_rec_inner(struct sz_watch *w, const void *data, size_t size)
{
	struct sz_scanner *s = w->sc;
	const struct sz_watch_rec *r = data;
	struct sz_proc_ctx p = { 0 };
	enum sz_source src = SZ_SOURCE_MMAP;
	struct sz_file *f;
	struct sz_map m = { 0 };
	char path[SZ_WATCH_PATH_LEN + 1];
	int have_path, err = 0, rc;

	w->st.events++;
	if (sz_watch_rec_check(data, size)) {
		w->st.bad_records++;
		return 0;
	}
	p.pid = (pid_t)r->tgid;
	p.ts = r->ts_ns;
	memcpy(p.comm, r->comm, sizeof(r->comm));
	p.comm[sizeof(r->comm)] = '\0';
	p.have_comm = 1;
	switch (r->type) {
	case SZ_WATCH_EXIT:
		fork_done(w, p.pid);
		sz_freeze_exited(w->fz, p.pid);
		/* Only what was seen before the exit: a scan may already have seen
		 * a new process that reuses the pid. */
		sz_loads_forget(&w->loads, p.pid, r->ts_ns);
		w->st.exits++;
		return 0;
	case SZ_WATCH_EXEC_OTHER:
		sz_loads_forget(&w->loads, p.pid, r->ts_ns);
		fork_done(w, p.pid);
		return 0;
	case SZ_WATCH_FORK:
		/* The child maps what its parent maps.  Most children exec at
		 * once (shells, spawners) and are better reported by their exec;
		 * the others are scanned when the grace period ends. */
		return fork_pending(w, p.pid, r->ts_ns);
	case SZ_WATCH_EXEC:
		/* A new image: the old one's loads are gone (but not what a scan
		 * already saw of the new one). */
		sz_loads_forget(&w->loads, p.pid, r->ts_ns);
		fork_done(w, p.pid);
		src = SZ_SOURCE_EXEC;
		m.prot = vm_prot(r->vm_flags);
		break;
	case SZ_WATCH_EXEC_INTERP:
		src = SZ_SOURCE_EXEC;
		m.prot = vm_prot(r->vm_flags);
		break;
	default:
		/* A shared mapping is someone reading the file, never a load. */
		if ((r->mflags & MAP_TYPE) == MAP_SHARED ||
		    (r->mflags & MAP_TYPE) == MAP_SHARED_VALIDATE)
			return 0;
		m.prot = r->prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
		break;
	}
	m.start = r->start;
	m.end = r->end;
	m.pgoff = r->offset;
	m.ino = r->ino;
	m.dev_major = r->dev >> 20;
	m.dev_minor = r->dev & 0xfffff;
	have_path = sz_watch_rec_path(r, path, sizeof(path)) == 0;
	if (!have_path)
		snprintf(path, sizeof(path), "%s", r->name);
	m.path = path;
	m.path_len = strlen(path);
	m.deleted = !!(r->path_flags & SZ_WATCH_PATH_DELETED);
	/* BPF matched the base name; a path pattern is checked on the whole path. */
	if (s->glob.flags & SZ_GLOB_PATHNAME) {
		if (!have_path) {
			sz_problem_emit(s, SZ_REASON_IO, -ENAMETOOLONG, &p, r->name, NULL, 1,
					"the file's full path is unknown (too deep or too long): "
					"a path pattern cannot be checked against it");
			return 0;
		}
		if (!sz_glob_match_path(&s->glob, path))
			return 0;
	}
	/* A file checked moments ago, else the record's own path, else the live
	 * process's mapping. */
	f = sz_cache_find_recent(&s->cache, makedev(m.dev_major, m.dev_minor), m.ino, RECHECK_NS);
	if (!f && have_path && !m.deleted)
		f = file_by_path(s, p.pid, path, !!(r->path_flags & SZ_WATCH_PATH_FOREIGN), &m);
	if (!f)
		f = file_by_vma(s, p.pid, &m, &err);
	if (!f) {
		/* Only a load's first mapping speaks for it, as in the scan. */
		if (m.pgoff == 0)
			sz_problem_emit(s, err == -ESRCH ? SZ_REASON_VANISHED : SZ_REASON_IO,
					err ? err : -EIO, &p, path, NULL, 1,
					"process exited before its mapped file could be read: %s",
					strerror(err ? -err : EIO));
		return 0;
	}
	/* One record speaks for a load.  mmap: the one that maps the code, which
	 * a tool merely reading the library never does, and before which no
	 * call can happen (so --freeze loses none).  The interpreter's record is
	 * its first mapping; the executable's, its text. */
	if (!f->err && r->type == SZ_WATCH_MMAP &&
	    !sz_elf_is_code_mapping(&f->layout, m.pgoff, m.prot, s->pagesz))
		return 0;
	if (!f->err && r->type == SZ_WATCH_EXEC_INTERP &&
	    !sz_elf_is_first_load_mapping(&f->layout, m.pgoff, m.prot, s->pagesz))
		return 0;
	if (f->err && m.pgoff != 0)
		return 0;
	/* An observer's stop value ends the poll, like a scan. */
	rc = sz_handle_mapping(s, src, &p, &m, f);
	if (w->probes && sz_probe_mgr_has_file(w->probes, f->dev, f->ino)) {
		/* Probes are on this inode now: no later mapping of it needs a
		 * freeze (per-process probes are keyed by inode too, -p watches
		 * one process). */
		struct sz_file_key k = { r->dev, 0, r->ino };
		__u8 one = 1;

		bpf_map__update_elem(w->skel->maps.probed, &k, sizeof(k), &one, sizeof(one),
				     BPF_ANY);
	}
	return rc ? -ECANCELED : 0;
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
	if (size >= sizeof(*r) && (r->flags & SZ_WATCH_FROZEN) && r->tgid > 0)
		sz_freeze_record(w->fz, (pid_t)r->tgid, r->ts_ns);
	/* The final drain must reach every record, whatever observers say. */
	return w->stopped ? 0 : rc;
}

/* The BPF side matches base names: a path pattern contributes its last part. */
static int bpf_glob(const char *pattern, struct sz_glob *g)
{
	const char *slash = strrchr(pattern, '/');

	if (!slash)
		return sz_glob_compile(pattern, g);
	return sz_glob_compile(slash[1] ? slash + 1 : "*", g);
}

static void report_lost(struct sz_watch *w, uint64_t records, uint64_t repaired)
{
	struct sz_lost l = { records, repaired };

	w->st.lost += records;
	w->st.repaired += repaired;
	for (size_t i = 0; i < w->nlost_obs; i++)
		w->lost_obs[i].fn(&l, w->lost_obs[i].ctx);
}

static int file_in_use(const struct sz_file *f, void *ctx)
{
	const struct sz_watch *w = ctx;

	/* Failed parses stay: they are small, and keep their problem explained
	 * once rather than again after every eviction. */
	return f->err || sz_loads_has_file(&w->loads, f->dev, f->ino);
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

	bpf_map__update_elem(w->skel->maps.seen, &key, sizeof(key), &one, sizeof(one), BPF_ANY);
}

/* Processes a scan found are known to the BPF side too, so their forks and
 * exits are reported like those of processes it saw itself. */
static int scan_and_mark(struct sz_watch *w)
{
	int rc = sz_scanner_scan(w->sc);

	sz_loads_for_each_pid(&w->loads, mark_seen, w);
	return rc;
}

/* If BPF dropped records since we last looked: drain what did arrive, then
 * rescan /proc, where the lost loads are found (if the process still lives)
 * and the set of reported loads suppresses the rest; report both counts. */
static int repair_if_lost(struct sz_watch *w)
{
	uint64_t drops = __atomic_load_n(&w->skel->bss->drops, __ATOMIC_RELAXED);
	uint64_t before, dropped = drops - w->drops_seen;
	int rc;

	if (!dropped)
		return 0;
	w->drops_seen = drops;
	w->last_repair_ns = sz_now_ns();
	ring_buffer__consume(w->rb);
	/* Only what the rescan finds counts as repaired, not what the drain
	 * delivered. */
	before = w->sc->stats.mappings;
	sz_loads_prune(&w->loads, pid_alive, NULL);
	rc = scan_and_mark(w);
	report_lost(w, dropped, w->sc->stats.mappings - before);
	return rc;
}

int sz_watch_start(struct sz_watch *w)
{
	struct sz_glob g;
	struct stat nsst;
	int err;

	if (!w || w->skel)
		return -EINVAL;
	libbpf_set_print(quiet_libbpf);
	err = bpf_glob(w->sc->glob_text, &g);
	if (err)
		return err;
	/* The procfs we read must number processes as our namespace does. */
	if (sz_proc_is_ours(w->sc->proc) == -EXDEV) {
		fail(w,
		     "%s is the procfs of another PID namespace: its pids are not the ones "
		     "we see (mount one for this namespace, e.g. unshare --pid --fork --mount-proc)",
		     w->sc->proc);
		return -EXDEV;
	}
	w->skel = watch_bpf__open();
	if (!w->skel) {
		err = -errno;
		fail(w, "cannot open the BPF program: %s", strerror(-err));
		return err;
	}
	memcpy((void *)&w->skel->rodata->glob, &g, sizeof(g));
	w->skel->rodata->targ_tgid = (__u32)(w->opts.pid > 0 ? w->opts.pid : 0);
	w->skel->rodata->self_tgid = (__u32)getpid();
	w->skel->rodata->freeze = w->opts.freeze && w->opts.probe != SZ_PROBE_NONE;
	/* Pids as we see them, in records and in the frozen set. */
	w->skel->rodata->sz_pidns_ino = sz_pidns_ino();
	/* Paths that end in another mount namespace are flagged: they name a file
	 * there, not here. */
	if (stat("/proc/self/ns/mnt", &nsst) == 0)
		w->skel->rodata->root_mntns = (__u32)nsst.st_ino;
	err = bpf_map__set_max_entries(w->skel->maps.rb,
				       (__u32)(w->opts.ring_bytes ? w->opts.ring_bytes
								  : DEFAULT_RING_BYTES));
	if (!err)
		err = watch_bpf__load(w->skel);
	if (err) {
		fail(w,
		     "cannot load the BPF program: %s (needs root or CAP_BPF+CAP_PERFMON, "
		     "and a kernel with BTF: /sys/kernel/btf/vmlinux)",
		     strerror(-err));
		goto fail;
	}
	/* Before attach, so that it holds no link: from the first stop on,
	 * something outside this process bounds it and survives us. */
	if (w->skel->rodata->freeze) {
		unsigned ms = w->opts.freeze_timeout_ms ? w->opts.freeze_timeout_ms
							: FREEZE_TIMEOUT_MS;

		err = sz_freeze_start(bpf_map__fd(w->skel->maps.frozen),
				      bpf_map__fd(w->skel->maps.freeze_ctl), ms * 1000000ull,
				      &w->fz);
		if (err) {
			fail(w, "cannot start the --freeze guardian: %s", strerror(-err));
			goto fail;
		}
	}
	/* Everything that can fail goes before attach: once attached with
	 * --freeze, processes stop, and only a consumer resumes them. */
	w->rb = ring_buffer__new(bpf_map__fd(w->skel->maps.rb), handle_rec, w, NULL);
	if (!w->rb) {
		err = -errno;
		fail(w, "cannot set up the ring buffer: %s", strerror(-err));
		goto fail;
	}
	if (w->opts.probe != SZ_PROBE_NONE) {
		char perr[256] = "";

		err = sz_probe_mgr_new(w->opts.probe, w->opts.pid, w->sc->symbols, w->sc->nsymbols,
				       &w->probes, perr, sizeof(perr));
		if (!err && w->call_fn)
			sz_probe_mgr_on_call(w->probes, w->call_fn, w->call_ctx);
		if (!err)
			err = sz_probe_mgr_add_ring(w->probes, &w->rb);
		if (err) {
			fail(w, "%s", perr[0] ? perr : strerror(-err));
			goto fail;
		}
		w->sc->probes = w->probes;
	}
	err = watch_bpf__attach(w->skel);
	if (err) {
		fail(w, "cannot attach the BPF program to tracepoints: %s", strerror(-err));
		goto fail;
	}
	w->last_prune_ns = sz_now_ns();
	/* The watch is live: whatever maps a file from now on is recorded, so the
	 * scan cannot miss anything in between. */
	if (!w->opts.no_scan) {
		err = scan_and_mark(w);
		if (err < 0 && err != -ECANCELED) {
			fail(w, "cannot scan %s: %s", w->sc->proc, strerror(-err));
			goto fail;
		}
	}
	return 0;
fail:
	sz_watch_stop(w); /* resumes whatever a partial start froze */
	sz_freeze_free(w->fz);
	w->fz = NULL;
	ring_buffer__free(w->rb);
	w->rb = NULL;
	watch_bpf__destroy(w->skel);
	w->skel = NULL;
	w->sc->probes = NULL;
	sz_probe_mgr_free(w->probes);
	w->probes = NULL;
	w->stopped = 0;
	return err;
}

int sz_watch_poll(struct sz_watch *w, int timeout_ms)
{
	int n;

	if (!w || !w->rb || w->stopped)
		return -EINVAL;
	sz_freeze_alive(w->fz, timeout_ms);
	n = ring_buffer__poll(w->rb, timeout_ms);
	sz_freeze_alive(w->fz, 0); /* the caller's turn: back soon, or no more stops */
	if (n < 0 && n != -EINTR)
		return n;
	/* Under a flood one rescan per interval repairs as much as one per poll
	 * would, and does not add a full /proc walk to every burst. */
	if (sz_now_ns() - w->last_repair_ns >= REPAIR_INTERVAL_NS) {
		int rc = repair_if_lost(w);

		if (rc < 0)
			return rc;
	}
	if (w->nforks && forks_due(w, 0))
		return -ECANCELED;
	if (sz_now_ns() - w->last_prune_ns > PRUNE_INTERVAL_NS) {
		/* Exit records can be dropped too: forget processes that are gone,
		 * then the files no live load needs (a deleted library's inode is
		 * freed once its last user is gone). */
		sz_loads_prune(&w->loads, pid_alive, NULL);
		sz_cache_evict(&w->sc->cache, file_in_use, w);
		w->last_prune_ns = sz_now_ns();
	}
	return n;
}
