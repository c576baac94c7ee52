// SPDX-License-Identifier: BSD-2-Clause
/*
 * Loader of bpf/usdt.bpf.c.  libbpf 1.1 parses the notes itself at attach and
 * takes the file by path: we hand it /proc/self/fd/N of the file we parsed, so
 * it is the very inode (whatever its path, deleted or in another mount
 * namespace), and keep our own parse (src/elf/usdt.c) for the types of the
 * arguments, which libbpf does not expose.  --stacks: the stack records
 * bpf/stack.bpf.h puts on the same ring go to the stack handler.
 */
#include "consumers/usdt.h"
#include "util/detach.h"
#include "proc/pidns.h"
#include "util/kbtf.h"
#include "usdt.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct probe_slot {
	int used;
	struct sz_usdt_arg args[SZ_USDT_NARGS];
	int nargs;
	uint32_t str_mask;
};

struct sz_usdt_mgr {
	enum sz_usdt_mode mode;
	struct usdt_bpf *skel;
	struct bpf_program *prog;
	struct bpf_link **links;
	size_t nlinks, cap;
	struct ring_buffer *rb;
	sz_usdt_hit_fn fn;
	void *fn_ctx;
	int stacks;
	sz_usdt_stack_fn stack_fn;
	void *stack_ctx;
	int ncpus;
	struct probe_slot probes[SZ_USDT_MAX_IDS];
};

int sz_usdt_mgr_new(enum sz_usdt_mode mode, enum sz_stack_method stacks, size_t stack_bytes,
		    struct sz_usdt_mgr **out, char *err, size_t errlen)
{
	struct sz_usdt_mgr *m;
	int r;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mode = mode;
	m->stacks = stacks != SZ_STACKS_OFF;
	m->ncpus = libbpf_num_possible_cpus();
	{
		LIBBPF_OPTS(bpf_object_open_opts, oo);
		struct sz_kbtf_obj me;

		me.elf = usdt_bpf__elf_bytes(&me.size);
		sz_kbtf_open_opts(&oo, &me, 1); /* CO-RE without the kernel's whole BTF */
		m->skel = usdt_bpf__open_opts(&oo);
	}
	if (!m->skel || m->ncpus <= 0) {
		r = m->ncpus <= 0 ? m->ncpus : -errno;
		snprintf(err, errlen, "cannot open the USDT BPF program: %s", strerror(-r));
		goto fail;
	}
	m->prog = mode == SZ_USDT_TRACE ? m->skel->progs.sz_usdt_trace
					: m->skel->progs.sz_usdt_count;
	bpf_program__set_autoload(mode == SZ_USDT_TRACE ? m->skel->progs.sz_usdt_count
							: m->skel->progs.sz_usdt_trace,
				  false);
	m->skel->rodata->sz_pidns_ino = sz_pidns_ino(); /* pids as we see them */
	/* bpf/self.h: never ourselves */
	m->skel->rodata->sz_self_tgid = (__u32)getpid();
	if (m->stacks) {
		if (!stack_bytes)
			stack_bytes = 8192;
		if (stack_bytes % 4096 || stack_bytes > SZ_STACK_SLICE_MAX) {
			r = -EINVAL;
			snprintf(err, errlen, "stack bytes: a multiple of 4096 up to %u",
				 SZ_STACK_SLICE_MAX);
			goto fail;
		}
		m->skel->rodata->sz_stack_mode = stacks == SZ_STACKS_FP ? SZ_STACK_FP
									: SZ_STACK_DWARF;
		m->skel->rodata->sz_stack_slice = (__u32)stack_bytes;
		/* each hit's stack goes through the ring, as for symbols' probes */
		r = bpf_map__set_max_entries(m->skel->maps.usdt_events, SZ_USDT_STACK_RING);
		if (r) {
			snprintf(err, errlen, "cannot size the USDT ring: %s", strerror(-r));
			goto fail;
		}
	}
	r = usdt_bpf__load(m->skel);
	if (r) {
		snprintf(err, errlen, "cannot load the USDT BPF program: %s", strerror(-r));
		goto fail;
	}
	*out = m;
	return 0;
fail:
	sz_usdt_mgr_free(m);
	return r ? r : -EINVAL;
}

void sz_usdt_mgr_quiet(struct sz_usdt_mgr *m)
{
	if (m)
		__atomic_store_n(&m->skel->bss->sz_quiet, 1, __ATOMIC_RELAXED); /* bpf/self.h */
}

int sz_usdt_mgr_is_quiet(const struct sz_usdt_mgr *m)
{
	return __atomic_load_n(&m->skel->bss->sz_quiet, __ATOMIC_RELAXED) != 0;
}

static void destroy_link(void *l)
{
	bpf_link__destroy(l);
}

void sz_usdt_mgr_detach(struct sz_usdt_mgr *m, struct sz_detach *d)
{
	for (size_t i = 0; i < m->nlinks; i++)
		if (d)
			sz_detach_add(d, destroy_link, m->links[i]);
		else
			bpf_link__destroy(m->links[i]);
	m->nlinks = 0;
}

void sz_usdt_mgr_free(struct sz_usdt_mgr *m)
{
	if (!m)
		return;
	sz_usdt_mgr_detach(m, NULL);
	free(m->links);
	ring_buffer__free(m->rb);
	usdt_bpf__destroy(m->skel);
	free(m);
}

size_t sz_usdt_mgr_attached(const struct sz_usdt_mgr *m)
{
	return m->nlinks;
}

int sz_usdt_mgr_attach(struct sz_usdt_mgr *m, int fd, pid_t pid, const struct sz_usdt_probe *probe,
		       uint32_t id, uint32_t str_mask, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_usdt_opts, o, .usdt_cookie = id);
	struct bpf_link *l;
	char path[64];
	int r;

	if (id >= SZ_USDT_MAX_IDS) {
		snprintf(err, errlen, "at most %d USDT probes", SZ_USDT_MAX_IDS);
		return -E2BIG;
	}
	if (probe->args_err) {
		snprintf(err, errlen, "%s:%s: argument spec '%s' does not parse", probe->provider,
			 probe->name, probe->spec);
		return probe->args_err;
	}
	if (m->nlinks == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		struct bpf_link **v = realloc(m->links, cap * sizeof(struct bpf_link *));

		if (!v)
			return -ENOMEM;
		m->links = v;
		m->cap = cap;
	}
	r = bpf_map__update_elem(m->skel->maps.str_mask, &id, sizeof(id), &str_mask,
				 sizeof(str_mask), BPF_ANY);
	if (r) {
		snprintf(err, errlen, "cannot set string arguments: %s", strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	l = bpf_program__attach_usdt(m->prog, pid > 0 ? pid : -1, path, probe->provider,
				     probe->name, &o);
	if (!l) {
		r = -errno;
		snprintf(err, errlen, "%s:%s: %s", probe->provider, probe->name,
			 strerror(r ? -r : EINVAL));
		return r ? r : -EINVAL;
	}
	m->links[m->nlinks++] = l;
	m->probes[id].used = 1;
	m->probes[id].nargs = probe->nargs;
	m->probes[id].str_mask = str_mask;
	memcpy(m->probes[id].args, probe->args, sizeof(probe->args[0]) * (size_t)probe->nargs);
	return 0;
}

static int on_rec(void *ctx, void *data, size_t len)
{
	struct sz_usdt_mgr *m = ctx;
	const struct sz_usdt_rec *r = data;
	const struct probe_slot *p;
	struct sz_usdt_hit h;
	char comm[sizeof(r->comm) + 1];
	char str[SZ_USDT_NSTR][SZ_USDT_STR_LEN + 1];
	int slot = 0;

	/* a stack record: larger than any hit record (usdt.bpf.c asserts it) */
	if (len >= sizeof(struct sz_stack_rec) && *(const __u32 *)data == SZ_PROBE_STACK)
		return m->stack_fn ? m->stack_fn(data, len, m->stack_ctx) : 0;
	if (len < sizeof(*r) || r->probe >= SZ_USDT_MAX_IDS)
		return 0;
	p = &m->probes[r->probe];
	memset(&h, 0, sizeof(h));
	memcpy(comm, r->comm, sizeof(r->comm));
	comm[sizeof(r->comm)] = 0;
	h.probe = r->probe;
	h.pid = (pid_t)r->tgid;
	h.tid = (pid_t)r->tid;
	h.ts_ns = r->ts_ns;
	h.comm = comm;
	h.nargs = r->nargs < 0 ? r->nargs : r->nargs > p->nargs ? p->nargs : r->nargs;
	for (int i = 0; i < h.nargs; i++) {
		const struct sz_usdt_arg *a = &p->args[i];
		uint64_t v = r->args[i];

		h.sargs[i] = (int64_t)v;
		h.uargs[i] = a->size >= 8 ? v : v & ((1ull << (8 * a->size)) - 1);
		if (slot < SZ_USDT_NSTR && (p->str_mask & (1u << i))) {
			memcpy(str[slot], r->str[slot], SZ_USDT_STR_LEN);
			str[slot][SZ_USDT_STR_LEN] = 0;
			h.str[i] = str[slot++];
		}
	}
	return m->fn ? m->fn(&h, m->fn_ctx) : 0;
}

int sz_usdt_mgr_poll(struct sz_usdt_mgr *m, int timeout_ms, sz_usdt_hit_fn fn, void *ctx)
{
	int r;

	if (m->mode != SZ_USDT_TRACE)
		return -EINVAL;
	m->fn = fn;
	m->fn_ctx = ctx;
	if (!m->rb) {
		m->rb = ring_buffer__new(bpf_map__fd(m->skel->maps.usdt_events), on_rec, m, NULL);
		if (!m->rb)
			return -errno ? -errno : -ENOMEM;
	}
	r = ring_buffer__poll(m->rb, timeout_ms);
	return r < 0 && r != -EINTR && r != -ECANCELED ? r : 0; /* -ECANCELED: sz_stacks_busy */
}

int sz_usdt_mgr_add_ring(struct sz_usdt_mgr *m, struct ring_buffer **rb, sz_usdt_hit_fn fn,
			 void *ctx)
{
	int fd = bpf_map__fd(m->skel->maps.usdt_events);

	if (m->mode != SZ_USDT_TRACE && !m->stacks)
		return 0;
	m->fn = fn;
	m->fn_ctx = ctx;
	if (*rb)
		return ring_buffer__add(*rb, fd, on_rec, m);
	*rb = ring_buffer__new(fd, on_rec, m, NULL);
	return *rb ? 0 : -errno;
}

int sz_usdt_mgr_counts(const struct sz_usdt_mgr *m, sz_usdt_mgr_count_fn fn, void *ctx)
{
	int fd = bpf_map__fd(m->skel->maps.usdt_counts), r = 0;
	struct sz_usdt_key k, next, *prev = NULL;
	uint64_t *v = calloc((size_t)m->ncpus, sizeof(*v));

	if (!v)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		uint64_t sum = 0;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, v))
			continue; /* the process exited and the entry went: nothing to add */
		for (int i = 0; i < m->ncpus; i++)
			sum += v[i];
		fn((pid_t)k.tgid, k.probe, sum, ctx);
	}
	free(v);
	return r;
}

void sz_usdt_mgr_on_stack(struct sz_usdt_mgr *m, sz_usdt_stack_fn fn, void *ctx)
{
	m->stack_fn = fn;
	m->stack_ctx = ctx;
}

uint64_t sz_usdt_mgr_stack_drops(const struct sz_usdt_mgr *m)
{
	return m->stacks ? __atomic_load_n(&m->skel->bss->sz_stack_drops, __ATOMIC_RELAXED) : 0;
}

uint64_t sz_usdt_mgr_drops(const struct sz_usdt_mgr *m)
{
	return m->skel->bss->drops;
}

const void *sz_usdt_bpf_elf(size_t *size)
{
	return usdt_bpf__elf_bytes(size);
}
