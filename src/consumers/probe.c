// SPDX-License-Identifier: BSD-2-Clause
/*
 * Loader of bpf/probe.bpf.c: uprobes on what scan and watch find.  A uprobe
 * is (inode, file offset): one attach with pid -1 covers every process that
 * maps the inode, now and later, so we attach once per (inode, symbol), or per
 * (process, inode, symbol) with -p.  Attach goes through /proc/self/fd/N of
 * the file we parsed, so it is the very inode, whatever its path.
 */
#include "consumers/probe.h"
#include "probe.skel.h"
#include "proc/pidns.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct attachment {
	dev_t dev;
	ino_t ino;
	uint32_t sym;
	pid_t pid;
	struct bpf_link *entry, *ret;
};

struct sz_probe_mgr {
	enum sz_probe_mode mode;
	pid_t pid; /* -1: every process */
	struct probe_bpf *skel;
	struct bpf_program *entry_prog, *ret_prog;
	struct attachment *att;
	size_t natt, cap;
	int ncpus;
	sz_call_fn call_fn;
	void *call_ctx;
	char *const *symbols;
	size_t nsymbols;
};

int sz_probe_mgr_new(enum sz_probe_mode mode, pid_t pid, char *const *symbols, size_t nsymbols,
		     struct sz_probe_mgr **out, char *err, size_t errlen)
{
	struct sz_probe_mgr *m;
	int r;

	*out = NULL;
	if (nsymbols > SZ_PROBE_MAX_SYMS) {
		snprintf(err, errlen, "at most %d symbols can be probed", SZ_PROBE_MAX_SYMS);
		return -E2BIG;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mode = mode;
	m->pid = pid > 0 ? pid : -1;
	m->symbols = symbols;
	m->nsymbols = nsymbols;
	m->ncpus = libbpf_num_possible_cpus();
	m->skel = probe_bpf__open();
	if (!m->skel || m->ncpus <= 0) {
		r = m->ncpus <= 0 ? m->ncpus : -errno;
		snprintf(err, errlen, "cannot open the probe BPF program: %s", strerror(-r));
		goto fail;
	}
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
	case SZ_PROBE_EMPTY:
		m->entry_prog = m->skel->progs.sz_empty;
		break;
	default:
		r = -EINVAL;
		snprintf(err, errlen, "unknown probe mode");
		goto fail;
	}
	m->skel->rodata->sz_pidns_ino = sz_pidns_ino(); /* pids as we see them */
	r = probe_bpf__load(m->skel);
	if (r) {
		snprintf(err, errlen, "cannot load the probe BPF program: %s", strerror(-r));
		goto fail;
	}
	*out = m;
	return 0;
fail:
	probe_bpf__destroy(m->skel);
	free(m);
	return r;
}

void sz_probe_mgr_free(struct sz_probe_mgr *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->natt; i++) {
		bpf_link__destroy(m->att[i].ret);
		bpf_link__destroy(m->att[i].entry);
	}
	free(m->att);
	probe_bpf__destroy(m->skel);
	free(m);
}

void sz_probe_mgr_on_call(struct sz_probe_mgr *m, sz_call_fn fn, void *ctx)
{
	m->call_fn = fn;
	m->call_ctx = ctx;
}

int sz_probe_mgr_has_file(const struct sz_probe_mgr *m, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < m->natt; i++)
		if (m->att[i].dev == dev && m->att[i].ino == ino)
			return 1;
	return 0;
}

size_t sz_probe_mgr_attached(const struct sz_probe_mgr *m)
{
	return m->natt;
}

int sz_probe_mgr_attach(struct sz_probe_mgr *m, int fd, dev_t dev, ino_t ino, uint32_t sym,
			uint64_t file_offset, pid_t process, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = sym);
	pid_t pid = m->pid > 0 ? process : -1;
	struct attachment a = { dev, ino, sym, pid, NULL, NULL };
	char path[64];
	int r;

	for (size_t i = 0; i < m->natt; i++)
		if (m->att[i].dev == dev && m->att[i].ino == ino && m->att[i].sym == sym &&
		    m->att[i].pid == pid)
			return 0;
	if (m->natt == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct attachment *n = realloc(m->att, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		m->att = n;
		m->cap = cap;
	}
	/* The kernel follows the magic link to the inode we hold open. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	a.entry = bpf_program__attach_uprobe_opts(m->entry_prog, pid, path, file_offset, &o);
	if (!a.entry) {
		r = -errno;
		goto fail;
	}
	if (m->ret_prog) {
		o.retprobe = true;
		a.ret = bpf_program__attach_uprobe_opts(m->ret_prog, pid, path, file_offset, &o);
		if (!a.ret) {
			r = -errno;
			bpf_link__destroy(a.entry);
			goto fail;
		}
	}
	m->att[m->natt++] = a;
	return 1;
fail:
	snprintf(err, errlen, "cannot attach uprobe at file offset 0x%llx: %s",
		 (unsigned long long)file_offset, strerror(-r));
	return r;
}

static int handle_call(void *ctx, void *data, size_t size)
{
	struct sz_probe_mgr *m = ctx;
	const struct sz_probe_rec *r = data;
	struct sz_call c = { 0 };
	char comm[17];

	if (size < sizeof(*r) || (r->type != SZ_PROBE_CALL && r->type != SZ_PROBE_RETURN) ||
	    r->sym >= m->nsymbols || !m->call_fn)
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
	c.ret = r->ret;
	c.duration_ns = r->duration_ns;
	m->call_fn(&c, m->call_ctx);
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
