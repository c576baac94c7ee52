// SPDX-License-Identifier: BSD-2-Clause
/*
 * Loader of bpf/probe.bpf.c, a consumer of the pipeline: uprobes on what scan
 * and watch find.  A uprobe is (inode, file offset): one attach with pid -1
 * covers every process that maps the inode, now and later, so we attach once
 * per (inode, symbol), or per (process, inode, symbol) with -p.  Attach goes
 * through /proc/self/fd/N of the file we parsed, so it is the very inode,
 * whatever its path.  Maps are sized from the number of symbols before load.
 */
#include "consumers/probe.h"
#include "consumers/args.h"
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

struct attachment {
	struct attachment *next;
	dev_t dev;
	ino_t ino;
	uint32_t sym;
	pid_t pid;
	uint64_t off; /* a file rewritten in place moves its functions */
	struct bpf_link *entry, *ret;
	struct bpf_link *more[MORE_PROGS];
};

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
	const struct sz_args *args; /* --arg, --filter, --key, ...; NULL: none */
	struct sz_arg_value *values; /* decoded --arg values of one call */
	struct attachment **bucket; /* (dev, ino, sym, pid) -> attachment */
	size_t nbuckets, natt;
	int ncpus;
	struct call_obs *obs;
	size_t nobs;
	char *const *symbols;
	size_t nsymbols;
	struct sz_pipeline *p; /* where attach failures are reported */
	struct retired *retired;
	size_t nretired, capretired;
	uint64_t *vals; /* one per CPU, for reading per-CPU values */
	uint64_t bad_args; /* call records whose argument data did not decode */
};

static size_t att_hash(const struct sz_probe_mgr *m, dev_t dev, ino_t ino, uint32_t sym, pid_t pid)
{
	uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)dev << 17) ^
		     ((uint64_t)sym * 0xff51afd7ed558ccdull) ^ (uint64_t)(uint32_t)pid;

	return (size_t)(h ^ (h >> 29)) & (m->nbuckets - 1);
}

static struct attachment *att_find(const struct sz_probe_mgr *m, dev_t dev, ino_t ino, uint32_t sym,
				   pid_t pid, uint64_t off)
{
	for (struct attachment *a = m->bucket[att_hash(m, dev, ino, sym, pid)]; a; a = a->next)
		if (a->dev == dev && a->ino == ino && a->sym == sym && a->pid == pid &&
		    a->off == off)
			return a;
	return NULL;
}

/* Double the table when it averages two per bucket: lookups stay O(1) with
 * thousands of symbols on hundreds of files. */
static int att_grow(struct sz_probe_mgr *m)
{
	size_t n = m->nbuckets * 2;
	struct attachment **nb = calloc(n, sizeof(struct attachment *));
	struct attachment **old = m->bucket;
	size_t oldn = m->nbuckets;

	if (!nb)
		return -ENOMEM;
	m->bucket = nb;
	m->nbuckets = n;
	for (size_t b = 0; b < oldn; b++)
		while (old[b]) {
			struct attachment *a = old[b];
			size_t h = att_hash(m, a->dev, a->ino, a->sym, a->pid);

			old[b] = a->next;
			a->next = nb[h];
			nb[h] = a;
		}
	free(old);
	return 0;
}

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

int sz_probe_mgr_new(enum sz_probe_mode mode, int empty, pid_t pid, char *const *symbols,
		     size_t nsymbols, const struct sz_args *args, struct sz_probe_mgr **out)
{
	struct sz_probe_mgr *m;
	void *saved;
	__u32 keys;
	int r;

	*out = NULL;
	if (!nsymbols || nsymbols > MAX_SYMBOLS) {
		sz_log(SZ_LOG_ERROR, "between 1 and %u symbols can be probed, not %zu", MAX_SYMBOLS,
		       nsymbols);
		return -E2BIG;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mode = mode;
	m->pid = pid > 0 ? pid : -1;
	m->symbols = symbols;
	m->nsymbols = nsymbols;
	m->args = empty ? NULL : args;
	m->values = calloc(sz_args_nvalues(m->args) + 1, sizeof(*m->values));
	m->nbuckets = 64;
	m->bucket = calloc(m->nbuckets, sizeof(struct attachment *));
	m->ncpus = libbpf_num_possible_cpus();
	m->vals = m->ncpus > 0 ? calloc((size_t)m->ncpus, sizeof(*m->vals)) : NULL;
	saved = sz_libbpf_enter();
	m->skel = m->bucket && m->values ? probe_bpf__open() : NULL;
	if (!m->skel || m->ncpus <= 0) {
		r = m->ncpus <= 0 ? m->ncpus : !m->bucket || !m->values ? -ENOMEM : -errno;
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
	m->skel->rodata->nsyms = (__u32)nsymbols;
	m->skel->rodata->sz_pidns_ino = sz_pidns_ino(); /* pids as we see them */
	keys = (__u32)(nsymbols * 1024 < COUNT_KEYS_MIN	  ? COUNT_KEYS_MIN
		       : nsymbols * 1024 > COUNT_KEYS_MAX ? COUNT_KEYS_MAX
							  : nsymbols * 1024);
	r = bpf_map__set_max_entries(m->skel->maps.counts, keys);
	if (!r)
		r = bpf_map__set_max_entries(m->skel->maps.hist, (__u32)nsymbols * SZ_LAT_BUCKETS);
	if (!r)
		r = bpf_map__set_max_entries(m->skel->maps.lat_sum, (__u32)nsymbols);
	if (!r)
		r = bpf_map__set_max_entries(m->skel->maps.vhist,
					     (__u32)nsymbols * SZ_HIST_BUCKETS);
	if (!r && mode != SZ_PROBE_TRACE)
		r = bpf_map__set_max_entries(m->skel->maps.events, 4096);
	if (!r)
		r = probe_bpf__load(m->skel);
	if (r) {
		sz_log(SZ_LOG_ERROR, "cannot load the probe BPF program: %s%s", strerror(-r),
		       r == -EPERM ? " (needs CAP_BPF and CAP_PERFMON, or root)" : "");
		goto fail;
	}
	sz_libbpf_leave(saved);
	*out = m;
	return 0;
fail:
	sz_libbpf_leave(saved);
	probe_bpf__destroy(m->skel);
	free(m->bucket);
	free(m->vals);
	free(m->values);
	free(m);
	return r;
}

void sz_probe_mgr_free(struct sz_probe_mgr *m)
{
	if (!m)
		return;
	for (size_t b = 0; b < m->nbuckets; b++)
		while (m->bucket[b]) {
			struct attachment *a = m->bucket[b];

			m->bucket[b] = a->next;
			for (size_t i = 0; i < MORE_PROGS; i++)
				bpf_link__destroy(a->more[i]);
			bpf_link__destroy(a->ret);
			bpf_link__destroy(a->entry);
			free(a);
		}
	free(m->bucket);
	free(m->obs);
	free(m->retired);
	free(m->vals);
	free(m->values);
	probe_bpf__destroy(m->skel);
	free(m);
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
	return m->natt;
}

/* 1 attached, 0 already attached, negative errno (logged) otherwise. */
static int attach(struct sz_probe_mgr *m, int fd, dev_t dev, ino_t ino, uint32_t sym,
		  uint64_t file_offset, pid_t process)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = sym);
	pid_t pid = m->pid > 0 ? process : -1;
	struct attachment *a;
	char path[64];
	void *saved;
	int r = 0;

	if (att_find(m, dev, ino, sym, pid, file_offset))
		return 0;
	if (m->natt >= 2 * m->nbuckets && att_grow(m))
		return -ENOMEM;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	*a = (struct attachment){ NULL, dev, ino, sym, pid, file_offset, NULL, NULL, { NULL } };
	/* The kernel follows the magic link to the inode we hold open. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	saved = sz_libbpf_enter();
	a->entry = bpf_program__attach_uprobe_opts(m->entry_prog, pid, path, file_offset, &o);
	if (!a->entry)
		r = -errno;
	if (!r && m->ret_prog) {
		o.retprobe = true;
		a->ret = bpf_program__attach_uprobe_opts(m->ret_prog, pid, path, file_offset, &o);
		if (!a->ret) {
			r = -errno;
			bpf_link__destroy(a->entry);
		}
	}
	for (size_t i = 0; !r && i < m->nmore; i++) {
		o.retprobe = m->more_ret[i];
		a->more[i] = bpf_program__attach_uprobe_opts(m->more[i], pid, path, file_offset,
							     &o);
		if (!a->more[i]) {
			r = -errno;
			for (size_t j = 0; j < i; j++)
				bpf_link__destroy(a->more[j]);
			bpf_link__destroy(a->ret);
			bpf_link__destroy(a->entry);
		}
	}
	sz_libbpf_leave(saved);
	if (r) {
		free(a);
		return r;
	}
	a->next = m->bucket[att_hash(m, dev, ino, sym, pid)];
	m->bucket[att_hash(m, dev, ino, sym, pid)] = a;
	m->natt++;
	return 1;
}

/* Probes go on before the found record is delivered: whoever sees the record
 * may rely on the function being watched from then on. */
static int on_found(void *ctx, struct sz_found *fd, struct sz_loaded *l)
{
	struct sz_probe_mgr *m = ctx;
	uint32_t sym = (uint32_t)sz_loaded_symbol(l);
	int r, file;

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
	file = sz_loaded_fd(l);
	r = file < 0 ? file
		     : attach(m, file, sz_loaded_dev(l), sz_loaded_ino(l), sym, fd->file_offset,
			      fd->pid);
	if (r < 0) {
		fd->probe_note = "uprobe attach failed";
		sz_pipeline_problem(m->p, SZ_REASON_PROBE, r, fd->pid, fd->comm, fd->path,
				    fd->symbol, 1, "cannot attach uprobe at file offset 0x%llx: %s",
				    (unsigned long long)fd->file_offset, strerror(-r));
		return 0;
	}
	fd->probed = 1;
	return 0;
}

/* A process is gone: its counts move from the BPF hash to the retired table,
 * so they are still reported (and the hash keeps room for the living). */
static void on_exited(void *ctx, pid_t pid)
{
	struct sz_probe_mgr *m = ctx;
	int fd;

	if (m->mode != SZ_PROBE_COUNT || !m->vals)
		return;
	fd = bpf_map__fd(m->skel->maps.counts);
	for (uint32_t s = 0; s < m->nsymbols; s++) {
		struct sz_count_key k = { (__u32)pid, s };
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fd, &k, m->vals))
			continue;
		for (int c = 0; c < m->ncpus; c++)
			sum += m->vals[c];
		if (m->nretired == m->capretired) {
			size_t cap = m->capretired ? 2 * m->capretired : 64;
			struct retired *n = realloc(m->retired, cap * sizeof(*n));

			if (!n)
				return; /* left in the hash: still reported, just not retired */
			m->retired = n;
			m->capretired = cap;
		}
		m->retired[m->nretired++] = (struct retired){ pid, s, sum };
		bpf_map_delete_elem(fd, &k);
	}
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

	if (size < sizeof(*r) || (r->type != SZ_PROBE_CALL && r->type != SZ_PROBE_RETURN) ||
	    r->sym >= m->nsymbols)
		return 0;
	memcpy(comm, r->comm, sizeof(r->comm));
	comm[16] = '\0';
	c.is_return = r->type == SZ_PROBE_RETURN;
	c.pid = (pid_t)r->tgid;
	c.tid = (pid_t)r->tid;
	c.comm = comm;
	c.symbol = m->symbols[r->sym];
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
	for (size_t i = 0; i < m->nobs; i++)
		m->obs[i].fn(&c, m->obs[i].ctx);
	return 0;
}

int sz_probe_mgr_add_ring(struct sz_probe_mgr *m, struct ring_buffer **rb)
{
	int fd = bpf_map__fd(m->skel->maps.events);

	if (m->mode != SZ_PROBE_TRACE)
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
		if (bpf_map_lookup_elem(fd, &key, vals) || key.sym >= m->nsymbols)
			continue;
		for (int c = 0; c < m->ncpus; c++)
			sum += vals[c];
		fn((pid_t)key.tgid, m->symbols[key.sym], sum, ctx);
	}
	for (size_t i = 0; i < m->nretired; i++)
		fn(m->retired[i].pid, m->symbols[m->retired[i].sym], m->retired[i].calls, ctx);
	free(vals);
	return 0;
}

int sz_probe_mgr_latency(const struct sz_probe_mgr *m, sz_latency_fn fn, void *ctx)
{
	int fd = bpf_map__fd(m->skel->maps.hist);
	uint64_t *vals = calloc((size_t)m->ncpus, sizeof(*vals));

	if (!vals)
		return -ENOMEM;
	for (size_t s = 0; s < m->nsymbols; s++) {
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
			fn(m->symbols[s], b, SZ_LAT_BUCKETS, ctx);
	}
	free(vals);
	return 0;
}

uint64_t sz_probe_mgr_latency_sum_ns(const struct sz_probe_mgr *m, uint32_t sym)
{
	uint64_t sum = 0;

	if (sym >= m->nsymbols || !m->vals ||
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
	return sz_args_read_keys(bpf_map__fd(m->skel->maps.keys), m->ncpus, m->symbols,
				 m->nsymbols, fn, ctx);
}

int sz_probe_mgr_hist(const struct sz_probe_mgr *m, sz_hist_fn fn, void *ctx)
{
	if (!sz_args_has_hist(m->args))
		return -ENOENT;
	return sz_args_read_hist(bpf_map__fd(m->skel->maps.vhist), m->ncpus, m->symbols,
				 m->nsymbols, fn, ctx);
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
