// SPDX-License-Identifier: BSD-2-Clause
/*
 * Loader of bpf/probe.bpf.c, a consumer of the pipeline: uprobes on what scan
 * and watch find.  A uprobe is (inode, file offset): one attach with pid -1
 * covers every process that maps the inode, now and later, so every function
 * of a file goes on at once, per inode, or per (process, inode) with -p
 * (src/consumers/probe_set.c: one multi-uprobe link per program, or one
 * perf-event uprobe per function).  Attach goes through /proc/self/fd/N of
 * the file we parsed, so it is the very inode, whatever its path.  The symbol
 * id (the pipeline's registry) is the cookie; maps are sized from the
 * registry's bound before load.
 */
#include "consumers/probe.h"
#include "consumers/args.h"
#include "consumers/probe_fold.h"
#include "consumers/probe_set.h"
#include "consumers/uprobe_multi.h"
#include "consumers/stacks.h"
#include "util/kbtf.h"
#include "util/log.h"
#include "probe.skel.h"
#include "proc/pidns.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SYMBOLS (1u << 24) /* ids * SZ_LAT_BUCKETS fit in a u32 slot */
#define COUNT_KEYS_MIN 65536u
#define COUNT_KEYS_MAX (1u << 22)
#define MORE_PROGS 4 /* programs beside the mode's pair: modes combined, keys, gates */

#define RETIRE_BY_ID_MAX 256 /* more ids than this: an exit walks the hash instead */

struct call_obs {
	sz_call_fn fn;
	void *ctx;
};

/* Counts of a process that exited: taken out of the BPF hash (which would
 * otherwise fill up with the dead on a long-running host), kept here. */
struct retired {
	pid_t pid;
	uint32_t sym;
	uint64_t calls;
};

struct sz_probe_mgr {
	enum sz_probe_mode mode;
	pid_t pid; /* -1: every process */
	struct probe_bpf *skel;
	struct bpf_program *entry_prog, *ret_prog;
	struct bpf_program *more[MORE_PROGS]; /* attached beside them (args.c) */
	int more_ret[MORE_PROGS];
	size_t nmore;
	const struct sz_args *args;  /* --arg, --filter, --key, ...; NULL: none */
	struct sz_arg_value *values; /* decoded --arg values of one call */
	struct sz_probe_sets *sets;  /* uprobes per (file, process) */
	int ncpus;
	struct call_obs *obs;
	size_t nobs;
	const struct sz_symbols *syms; /* the registry: id -> name */
	size_t max_ids;		       /* what the maps were sized for */
	struct sz_pipeline *p;	       /* where attach failures are reported */
	struct retired *retired;
	size_t nretired, capretired;
	uint64_t *vals;	   /* one per CPU, for reading per-CPU values */
	uint64_t bad_args; /* call records whose argument data did not decode */
	struct sz_stacks *stacks; /* --stacks (consumers/stacks.c) */
	struct sz_fold *fold;	  /* exited processes summed, not retired (probe_fold.c) */
};

static void add_prog(struct sz_probe_mgr *m, struct bpf_program *p, int ret)
{
	if (m->nmore < MORE_PROGS) {
		m->more[m->nmore] = p;
		m->more_ret[m->nmore++] = ret;
	}
}

/* Programs beside the mode's pair: --count --latency, --key/--hist, and
 * the filter verdicts that return probes read. */
static void pick_more(struct sz_probe_mgr *m)
{
	const struct sz_args *a = m->args;
	int rets = m->ret_prog != NULL;

	if (sz_args_latency(a)) {
		add_prog(m, m->skel->progs.sz_lat_entry, 0);
		add_prog(m, m->skel->progs.sz_lat_exit, 1);
		rets = 1;
	}
	if (sz_args_key_entry(a))
		add_prog(m, m->skel->progs.sz_key_entry, 0);
	if (sz_args_key_exit(a)) {
		add_prog(m, m->skel->progs.sz_key_exit, 1);
		rets = 1;
	}
	if (rets && sz_args_has_filters(a))
		add_prog(m, m->skel->progs.sz_gate_entry, 0);
}

static int is_picked(const struct sz_probe_mgr *m, const struct bpf_program *prog)
{
	if (prog == m->entry_prog || prog == m->ret_prog)
		return 1;
	for (size_t i = 0; i < m->nmore; i++)
		if (m->more[i] == prog)
			return 1;
	return 0;
}

/* Load-time setup of the attach path: one multi-uprobe link per (file,
 * program) where the kernel has them (probed once), unless SINGLE. */
static int prepare_attach(struct sz_probe_mgr *m, int single)
{
	enum sz_umulti_mode mode = single ? SZ_UMULTI_SINGLE : SZ_UMULTI_AUTO;
	int r = sz_umulti_prepare(m->entry_prog, mode);

	if (r >= 0 && m->ret_prog)
		r = sz_umulti_prepare(m->ret_prog, mode);
	for (size_t i = 0; r >= 0 && i < m->nmore; i++)
		r = sz_umulti_prepare(m->more[i], mode);
	return r < 0 ? r : 0;
}

/* Every program this mode runs, attached to every site of a file. */
static int make_sets(struct sz_probe_mgr *m)
{
	struct bpf_program *progs[2 + MORE_PROGS];
	int is_ret[2 + MORE_PROGS];
	size_t n = 0;

	progs[n] = m->entry_prog;
	is_ret[n++] = 0;
	if (m->ret_prog) {
		progs[n] = m->ret_prog;
		is_ret[n++] = 1;
	}
	for (size_t i = 0; i < m->nmore; i++) {
		progs[n] = m->more[i];
		is_ret[n++] = m->more_ret[i];
	}
	return sz_probe_sets_new(progs, is_ret, n, &m->sets);
}

int sz_probe_mgr_new(enum sz_probe_mode mode, int empty, pid_t pid, const struct sz_symbols *syms,
		     int single, const struct sz_args *args, uint64_t cg_id, uint32_t cg_level,
		     const struct sz_probe_stack_opts *so, struct sz_probe_mgr **out)
{
	struct sz_probe_mgr *m;
	size_t ids = sz_symbols_max_ids(syms);
	void *saved;
	__u32 keys;
	int lat, r;

	*out = NULL;
	if (!ids || ids > SZ_SYMIDS_MAX) {
		sz_log(SZ_LOG_ERROR, "between 1 and %u symbols can be probed, not %zu",
		       SZ_SYMIDS_MAX, ids);
		return -E2BIG;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mode = mode;
	m->pid = pid > 0 ? pid : -1;
	m->syms = syms;
	m->max_ids = ids;
	m->args = empty ? NULL : args;
	m->values = calloc(sz_args_nvalues(m->args) + 1, sizeof(*m->values));
	m->ncpus = libbpf_num_possible_cpus();
	m->vals = m->ncpus > 0 ? calloc((size_t)m->ncpus, sizeof(*m->vals)) : NULL;
	saved = sz_libbpf_enter();
	if (m->values) {
		LIBBPF_OPTS(bpf_object_open_opts, oo);
		struct sz_kbtf_obj me;

		me.elf = probe_bpf__elf_bytes(&me.size);
		sz_kbtf_open_opts(&oo, &me, 1); /* CO-RE without the kernel's whole BTF */
		m->skel = probe_bpf__open_opts(&oo);
	}
	if (!m->skel || m->ncpus <= 0) {
		r = m->ncpus <= 0 ? m->ncpus : !m->values ? -ENOMEM : -errno;
		sz_log(SZ_LOG_ERROR, "cannot open the probe BPF program: %s", strerror(-r));
		goto fail;
	}
	if (empty) {
		m->entry_prog = m->skel->progs.sz_empty;
	} else {
		switch (mode) {
		case SZ_PROBE_COUNT:
			m->entry_prog = m->skel->progs.sz_count;
			break;
		case SZ_PROBE_TRACE:
			m->entry_prog = m->skel->progs.sz_trace_entry;
			m->ret_prog = m->skel->progs.sz_trace_exit;
			break;
		case SZ_PROBE_LATENCY:
			m->entry_prog = m->skel->progs.sz_lat_entry;
			m->ret_prog = m->skel->progs.sz_lat_exit;
			break;
		default:
			r = -EINVAL;
			sz_log(SZ_LOG_ERROR, "unknown probe mode %d", (int)mode);
			goto fail;
		}
	}
	pick_more(m);
	/* Only the programs this mode runs are loaded: less to verify. */
	for (struct bpf_program *prog = bpf_object__next_program(m->skel->obj, NULL); prog;
	     prog = bpf_object__next_program(m->skel->obj, prog))
		bpf_program__set_autoload(prog, is_picked(m, prog));
	sz_args_cfg(m->args, (struct sz_args_cfg *)&m->skel->rodata->sz_args,
		    (struct sz_glob *)&m->skel->rodata->sz_comm_glob);
	/* return probes read the entry's verdict only when an entry writes it */
	m->skel->rodata->sz_args.gate = is_picked(m, m->skel->progs.sz_gate_entry);
	m->skel->rodata->nsyms = (__u32)ids;
	m->skel->rodata->sz_pidns_ino = sz_pidns_ino(); /* pids as we see them */
	/* bpf/self.h: never ourselves */
	m->skel->rodata->sz_self_tgid = (__u32)getpid();
	m->skel->rodata->sz_cg_id = cg_id; /* issue 13: --cgroup */
	m->skel->rodata->sz_cg_level = cg_level;
	if (so && so->method != SZ_STACKS_OFF && !empty) {
		r = sz_probe_stacks_setup(m, so);
		if (r)
			goto fail;
	}
	keys = (__u32)(ids * 1024 < COUNT_KEYS_MIN   ? COUNT_KEYS_MIN
		       : ids * 1024 > COUNT_KEYS_MAX ? COUNT_KEYS_MAX
						     : ids * 1024);
	/* -p: the uprobes run for that process alone (attached with its pid,
	 * the kernel filters by thread group), so every key is (PID, id): one
	 * per id is all there can be.  [perf] A hash's buckets are allocated
	 * and initialised at load, 16 bytes each: for a glob's 4M keys, 64 MB
	 * and ~45 ms of start-up (issue 12). */
	if (m->pid > 0 && keys > ids)
		keys = (__u32)ids;
	r = bpf_map__set_max_entries(m->skel->maps.counts, keys);
	/* Memory as (process, function) pairs are seen, not all of it up front
	 * (nor the time to clear it): [perf] preallocating the smallest table,
	 * 65,536 per-CPU entries, took 55-120 ms of start-up (issue 10). */
	if (!r)
		r = bpf_map__set_map_flags(m->skel->maps.counts,
					   bpf_map__map_flags(m->skel->maps.counts) |
						   BPF_F_NO_PREALLOC);
	/* [perf] --key's table (preallocated: 18-35 ms) is never written without --key */
	if (!r && !sz_args_has_key(m->args))
		r = bpf_map__set_max_entries(m->skel->maps.keys, 1);
	/* [perf] Nor are the LRU tables (always preallocated, ~2.5 ms each)
	 * of the call starts (--latency, --trace) and the filters' verdicts
	 * without the programs that write them (an LRU wants an entry per CPU). */
	if (!r && !is_picked(m, m->skel->progs.sz_lat_entry) &&
	    !is_picked(m, m->skel->progs.sz_trace_entry))
		r = bpf_map__set_max_entries(m->skel->maps.starts, (__u32)m->ncpus);
	if (!r && !is_picked(m, m->skel->progs.sz_gate_entry))
		r = bpf_map__set_max_entries(m->skel->maps.gate, (__u32)m->ncpus);
	/* Per-CPU arrays of ids x buckets are made whether a program uses them
	 * or not: full size only for the modes that do. */
	lat = mode == SZ_PROBE_LATENCY || sz_args_latency(m->args);
	if (!r)
		r = bpf_map__set_max_entries(m->skel->maps.hist,
					     (__u32)(lat ? ids : 1) * SZ_LAT_BUCKETS);
	if (!r)
		r = bpf_map__set_max_entries(m->skel->maps.lat_sum, (__u32)(lat ? ids : 1));
	if (!r)
		r = bpf_map__set_max_entries(m->skel->maps.vhist,
					     (__u32)(sz_args_has_hist(m->args) ? ids : 1) *
						     SZ_HIST_BUCKETS);
	if (!r)
		r = prepare_attach(m, single);
	if (!r && mode != SZ_PROBE_TRACE && !m->stacks)
		r = bpf_map__set_max_entries(m->skel->maps.events, 4096);
	if (!r && m->stacks)
		r = bpf_map__set_max_entries(m->skel->maps.events, SZ_STACK_RING_BYTES);
	if (!r)
		r = probe_bpf__load(m->skel);
	if (r) {
		sz_log(SZ_LOG_ERROR, "cannot load the probe BPF program: %s%s", strerror(-r),
		       r == -EPERM ? " (needs CAP_BPF and CAP_PERFMON, or root)" : "");
		goto fail;
	}
	sz_libbpf_leave(saved);
	r = make_sets(m);
	if (r)
		goto fail_loaded;
	*out = m;
	return 0;
fail:
	sz_libbpf_leave(saved);
fail_loaded:
	probe_bpf__destroy(m->skel);
	sz_stacks_free(m->stacks);
	free(m->vals);
	free(m->values);
	free(m);
	return r;
}

void sz_probe_mgr_free(struct sz_probe_mgr *m)
{
	if (!m)
		return;
	sz_probe_sets_free(m->sets);
	free(m->obs);
	free(m->retired);
	sz_fold_free(m->fold);
	free(m->vals);
	free(m->values);
	probe_bpf__destroy(m->skel);
	sz_stacks_free(m->stacks);
	free(m);
}

void sz_probe_mgr_detach(struct sz_probe_mgr *m, struct sz_detach *d)
{
	if (m)
		sz_probe_sets_detach(m->sets, d);
}

int sz_probe_mgr_on_call(struct sz_probe_mgr *m, sz_call_fn fn, void *ctx)
{
	struct call_obs *n = realloc(m->obs, (m->nobs + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	m->obs = n;
	m->obs[m->nobs++] = (struct call_obs){ fn, ctx };
	return 0;
}

size_t sz_probe_mgr_attached(const struct sz_probe_mgr *m)
{
	return sz_probe_sets_probes(m->sets);
}

size_t sz_probe_mgr_links(const struct sz_probe_mgr *m)
{
	return sz_probe_sets_links(m->sets);
}

int sz_probe_mgr_multi(const struct sz_probe_mgr *m)
{
	return sz_probe_sets_multi(m->sets);
}

/* An entry of a file's symbol set gets a uprobe: a function with a file
 * offset and an id (NOTYPE too: assembly often has no type). */
static int is_site(const struct sz_fsym *e)
{
	return !e->err && (e->type == STT_FUNC || e->type == STT_NOTYPE) && e->has_off &&
	       e->id != SZ_SYMID_NONE;
}

/* Every function of the load's file goes on at once, the first time the file
 * (for this process, with -p) is seen. */
static int attach_file(struct sz_probe_mgr *m, struct sz_loaded *l, const struct sz_probe_key *key)
{
	const struct sz_fsyms *fs = &sz_loaded_file(l)->syms;
	struct sz_probe_site *sites = malloc((fs->n ? fs->n : 1) * sizeof(*sites));
	size_t n = 0;
	void *saved;
	int fd, r;

	if (!sites)
		return -ENOMEM;
	for (size_t i = 0; i < fs->n; i++)
		if (is_site(&fs->v[i]))
			sites[n++] = (struct sz_probe_site){ fs->v[i].off, fs->v[i].id, i };
	fd = n ? sz_loaded_fd(l) : 0;
	if (fd < 0) {
		free(sites);
		return fd;
	}
	saved = sz_libbpf_enter();
	r = sz_probe_set_attach(m->sets, key, fd, sites, n, fs->n);
	sz_libbpf_leave(saved);
	free(sites);
	return r;
}

/* Probes go on before the found record is delivered: whoever sees the record
 * may rely on the function being watched from then on. */
static int on_found(void *ctx, struct sz_found *fd, struct sz_loaded *l)
{
	struct sz_probe_mgr *m = ctx;
	const struct sz_file *f = sz_loaded_file(l);
	const struct sz_fsym *e = &f->syms.v[sz_loaded_entry(l)];
	struct sz_probe_key key = { f->dev, f->ino, m->pid > 0 ? fd->pid : -1, f->size, f->mtime };
	int r;

	if (fd->type == SZ_SYM_USDT) /* the USDT consumer's (usdt_probes.c) */
		return 0;
	if (__atomic_load_n(&m->skel->bss->sz_quiet, __ATOMIC_RELAXED)) {
		/* Its links are being released (util/detach.h); a new one would
		 * count nothing. */
		fd->probe_note = "the watch was stopping: not probed";
		return 0;
	}
	if (fd->type == SZ_SYM_IFUNC) {
		fd->probe_note = "ifunc: not probed (it only selects an implementation)";
		return 0;
	}
	if (fd->type != SZ_SYM_FUNC && fd->type != SZ_SYM_NOTYPE) {
		fd->probe_note = "not a function: not probed";
		return 0;
	}
	if (!fd->has_file_offset) {
		fd->probe_note = "no file offset: not probed";
		return 0;
	}
	if (e->id == SZ_SYMID_NONE) {
		fd->probe_note = "no symbol id left (the bound on distinct names was reached): "
				 "not probed, counted in the summary";
		return 0;
	}
	r = sz_probe_set_status(m->sets, &key, sz_loaded_entry(l));
	if (r == -ENOENT) {
		r = attach_file(m, l, &key);
		if (r < 0) {
			fd->probe_note = "uprobe attach failed";
			sz_pipeline_problem(m->p, SZ_REASON_PROBE, r, fd->pid, fd->comm, fd->path,
					    fd->symbol, 1, "cannot attach uprobes: %s",
					    strerror(-r));
			return 0;
		}
		r = sz_probe_set_status(m->sets, &key, sz_loaded_entry(l));
	}
	if (r < 0) {
		fd->probe_note = "uprobe attach failed";
		sz_pipeline_problem(m->p, SZ_REASON_PROBE, r, fd->pid, fd->comm, fd->path,
				    fd->symbol, 1, "cannot attach uprobe at file offset 0x%llx: %s",
				    (unsigned long long)fd->file_offset, strerror(-r));
		return 0;
	}
	fd->probed = r == 1;
	sz_stacks_seen(m->stacks, fd->pid); /* its mappings, before it can exit */
	return 0;
}

static int retire(struct sz_probe_mgr *m, int fd, const struct sz_count_key *k)
{
	uint64_t sum = 0;

	if (bpf_map_lookup_elem(fd, k, m->vals))
		return 0;
	for (int c = 0; c < m->ncpus; c++)
		sum += m->vals[c];
	if (m->fold) {
		if (sz_fold_add(m->fold, (pid_t)k->tgid, k->sym, sz_symbols_name(m->syms, k->sym),
				sum))
			return -ENOMEM; /* left in the hash: still reported */
		bpf_map_delete_elem(fd, k);
		return 0;
	}
	if (m->nretired == m->capretired) {
		size_t cap = m->capretired ? 2 * m->capretired : 64;
		struct retired *n = realloc(m->retired, cap * sizeof(*n));

		if (!n)
			return -ENOMEM; /* left in the hash: still reported, just not retired */
		m->retired = n;
		m->capretired = cap;
	}
	m->retired[m->nretired++] = (struct retired){ (pid_t)k->tgid, k->sym, sum };
	bpf_map_delete_elem(fd, k);
	return 0;
}

/* A process is gone: its counts move from the BPF hash to the retired table
 * (or the fold), so they are still reported (and the hash keeps room for the
 * living). */
static void retire_pid(struct sz_probe_mgr *m, pid_t pid)
{
	struct sz_count_key key, next, *prev = NULL;
	size_t ids = sz_symbols_ids(m->syms);
	int fd;

	if (m->mode != SZ_PROBE_COUNT || !m->vals)
		return;
	fd = bpf_map__fd(m->skel->maps.counts);
	if (ids <= RETIRE_BY_ID_MAX) {
		for (uint32_t s = 0; s < ids; s++) {
			struct sz_count_key k = { (__u32)pid, s };

			if (retire(m, fd, &k))
				return;
		}
		return;
	}
	/* Thousands of ids (a glob): walk the pairs the hash holds, then
	 * retire the process's (deleting while walking would restart it). */
	{
		struct sz_count_key *mine = NULL;
		size_t n = 0, cap = 0;

		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			key = next;
			prev = &key;
			if (key.tgid != (__u32)pid)
				continue;
			if (n == cap) {
				struct sz_count_key *v;

				cap = cap ? 2 * cap : 64;
				v = realloc(mine, cap * sizeof(*v));
				if (!v)
					break; /* the rest stay in the hash: still reported */
				mine = v;
			}
			mine[n++] = key;
		}
		for (size_t i = 0; i < n && !retire(m, fd, &mine[i]); i++)
			;
		free(mine);
	}
}

static void on_exited(void *ctx, pid_t pid)
{
	struct sz_probe_mgr *m = ctx;

	sz_stacks_exited(m->stacks, pid);
	retire_pid(m, pid);
	sz_fold_gone(m->fold, pid);
}

int sz_probe_mgr_fold(struct sz_probe_mgr *m, sz_count_fn fn, sz_gone_fn gone, void *ctx)
{
	if (m->fold || m->nretired)
		return -EBUSY;
	return sz_fold_new(fn, gone, ctx, &m->fold);
}

int sz_probe_mgr_subscribe(struct sz_probe_mgr *m, struct sz_pipeline *p)
{
	struct sz_consumer c = { .found = on_found, .exited = on_exited, .ctx = m };

	m->p = p;
	return sz_pipeline_subscribe(p, &c, 1);
}

static int handle_call(void *ctx, void *data, size_t size)
{
	struct sz_probe_mgr *m = ctx;
	const struct sz_probe_rec *r = data;
	struct sz_call c = { 0 };
	char comm[17];

	if (size >= sizeof(__u32) && *(const __u32 *)data == SZ_PROBE_STACK) {
		sz_stacks_rec(m->stacks, data, size); /* malformed: counted as not unwound */
		return sz_stacks_busy(m->stacks);     /* a flood: the poll loop's turn */
	}
	if (size < sizeof(*r) || (r->type != SZ_PROBE_CALL && r->type != SZ_PROBE_RETURN) ||
	    !sz_symbols_name(m->syms, r->sym))
		return 0;
	memcpy(comm, r->comm, sizeof(r->comm));
	comm[16] = '\0';
	c.is_return = r->type == SZ_PROBE_RETURN;
	c.pid = (pid_t)r->tgid;
	c.tid = (pid_t)r->tid;
	c.comm = comm;
	c.symbol = sz_symbols_name(m->syms, r->sym);
	c.ts_ns = r->ts_ns;
	memcpy(c.args, r->args, sizeof(c.args));
	if (!c.is_return && sz_args_nvalues(m->args)) {
		uint64_t regs[SZ_PROBE_NARGS];

		memcpy(regs, r->args, sizeof(regs));
		if (sz_args_decode(m->args, regs, (const char *)data + sizeof(*r),
				   size - sizeof(*r), m->values)) {
			m->bad_args++;
			return 0;
		}
		c.values = m->values;
		c.nvalues = sz_args_nvalues(m->args);
	}
	c.ret = r->ret;
	c.duration_ns = r->duration_ns;
	c.stack = c.is_return ? NULL : sz_stacks_take(m->stacks, c.tid);
	for (size_t i = 0; i < m->nobs; i++)
		m->obs[i].fn(&c, m->obs[i].ctx);
	return 0;
}

int sz_probe_mgr_add_ring(struct sz_probe_mgr *m, struct ring_buffer **rb)
{
	int fd = bpf_map__fd(m->skel->maps.events);

	if (m->mode != SZ_PROBE_TRACE && !m->stacks)
		return 0;
	if (*rb)
		return ring_buffer__add(*rb, fd, handle_call, m);
	*rb = ring_buffer__new(fd, handle_call, m, NULL);
	return *rb ? 0 : -errno;
}

uint64_t sz_probe_mgr_drops(const struct sz_probe_mgr *m)
{
	return __atomic_load_n(&m->skel->bss->drops, __ATOMIC_RELAXED);
}

uint64_t sz_probe_mgr_lat_misses(const struct sz_probe_mgr *m)
{
	return __atomic_load_n(&m->skel->bss->lat_misses, __ATOMIC_RELAXED);
}

int sz_probe_mgr_counts(const struct sz_probe_mgr *m, sz_count_fn fn, void *ctx)
{
	int fd = bpf_map__fd(m->skel->maps.counts);
	struct sz_count_key key, next, *prev = NULL;
	uint64_t *vals = calloc((size_t)m->ncpus, sizeof(*vals));

	if (!vals)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		uint64_t sum = 0;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals) || !sz_symbols_name(m->syms, key.sym))
			continue;
		for (int c = 0; c < m->ncpus; c++)
			sum += vals[c];
		fn((pid_t)key.tgid, sz_symbols_name(m->syms, key.sym), sum, ctx);
	}
	for (size_t i = 0; i < m->nretired; i++)
		fn(m->retired[i].pid, sz_symbols_name(m->syms, m->retired[i].sym),
		   m->retired[i].calls, ctx);
	sz_fold_report(m->fold, m->syms, fn, ctx);
	free(vals);
	return 0;
}

int sz_probe_mgr_latency(const struct sz_probe_mgr *m, sz_latency_fn fn, void *ctx)
{
	int fd = bpf_map__fd(m->skel->maps.hist);
	uint64_t *vals = calloc((size_t)m->ncpus, sizeof(*vals));

	if (!vals)
		return -ENOMEM;
	for (size_t s = 0; s < sz_symbols_ids(m->syms) && s < m->max_ids; s++) {
		uint64_t b[SZ_LAT_BUCKETS] = { 0 }, total = 0;

		for (uint32_t i = 0; i < SZ_LAT_BUCKETS; i++) {
			uint32_t slot = (uint32_t)s * SZ_LAT_BUCKETS + i;

			if (bpf_map_lookup_elem(fd, &slot, vals))
				continue;
			for (int c = 0; c < m->ncpus; c++)
				b[i] += vals[c];
			total += b[i];
		}
		if (total)
			fn(sz_symbols_name(m->syms, (uint32_t)s), b, SZ_LAT_BUCKETS, ctx);
	}
	free(vals);
	return 0;
}

uint64_t sz_probe_mgr_latency_sum_ns(const struct sz_probe_mgr *m, uint32_t sym)
{
	uint64_t sum = 0;

	if (sym >= m->max_ids || !sz_symbols_name(m->syms, sym) || !m->vals ||
	    bpf_map_lookup_elem(bpf_map__fd(m->skel->maps.lat_sum), &sym, m->vals))
		return 0;
	for (int c = 0; c < m->ncpus; c++)
		sum += m->vals[c];
	return sum;
}

int sz_probe_mgr_keys(const struct sz_probe_mgr *m, sz_key_fn fn, void *ctx)
{
	if (!sz_args_has_key(m->args))
		return -ENOENT;
	return sz_args_read_keys(bpf_map__fd(m->skel->maps.keys), m->ncpus,
				 sz_symbols_names(m->syms), sz_symbols_ids(m->syms), fn, ctx);
}

int sz_probe_mgr_hist(const struct sz_probe_mgr *m, sz_hist_fn fn, void *ctx)
{
	if (!sz_args_has_hist(m->args))
		return -ENOENT;
	return sz_args_read_hist(bpf_map__fd(m->skel->maps.vhist), m->ncpus,
				 sz_symbols_names(m->syms), sz_symbols_ids(m->syms), fn, ctx);
}

int sz_probe_mgr_has_latency(const struct sz_probe_mgr *m)
{
	return m->mode == SZ_PROBE_LATENCY || sz_args_latency(m->args);
}

uint64_t sz_probe_mgr_key_overflow(const struct sz_probe_mgr *m)
{
	return __atomic_load_n(&m->skel->bss->key_overflow, __ATOMIC_RELAXED);
}

uint64_t sz_probe_mgr_filter_unseen(const struct sz_probe_mgr *m)
{
	return __atomic_load_n(&m->skel->bss->gate_unseen, __ATOMIC_RELAXED);
}

uint64_t sz_probe_mgr_bad_args(const struct sz_probe_mgr *m)
{
	return m->bad_args;
}

/* --stacks: the BPF side's mode and slice size (before load), and the userspace side. */
int sz_probe_stacks_setup(struct sz_probe_mgr *m, const struct sz_probe_stack_opts *so)
{
	size_t bytes = so->stack_bytes ? so->stack_bytes : 8192;
	int r;

	if (m->mode != SZ_PROBE_COUNT && m->mode != SZ_PROBE_TRACE)
		return -EINVAL;
	if (bytes % 4096 || bytes > SZ_STACK_SLICE_MAX)
		return -EINVAL;
	r = sz_stacks_new(so->method, m->mode == SZ_PROBE_COUNT, so->proc, m->syms, &m->stacks);
	if (r)
		return r;
	m->skel->rodata->sz_stack_mode = so->method == SZ_STACKS_FP ? SZ_STACK_FP : SZ_STACK_DWARF;
	m->skel->rodata->sz_stack_slice = (__u32)bytes;
	return 0;
}

void sz_probe_mgr_quiet(struct sz_probe_mgr *m)
{
	if (!m)
		return;
	__atomic_store_n(&m->skel->bss->sz_quiet, 1, __ATOMIC_RELAXED); /* bpf/self.h */
	sz_stacks_drain(m->stacks);
}

int sz_probe_mgr_stacks(const struct sz_probe_mgr *m, sz_stack_fn fn, void *ctx)
{
	return m->stacks ? sz_stacks_report(m->stacks, fn, ctx) : -EINVAL;
}

void sz_probe_mgr_stack_stats(const struct sz_probe_mgr *m, uint64_t *stacks, uint64_t *drops,
			      uint64_t *truncated, uint64_t *procs_unread)
{
	sz_stacks_stats(m->stacks, stacks, truncated, procs_unread);
	*drops = m->stacks ? __atomic_load_n(&m->skel->bss->sz_stack_drops, __ATOMIC_RELAXED) : 0;
}

const void *sz_probe_bpf_elf(size_t *size)
{
	return probe_bpf__elf_bytes(size);
}
