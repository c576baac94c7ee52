// SPDX-License-Identifier: BSD-2-Clause
/*
 * Argument values, filters, keys and histograms of probes, userspace half
 * (bpf/args.bpf.h is the other): checks what the caller asked for, lays out
 * the str/buf slots of a call record, and decodes them bounded by what the
 * ring actually delivered.
 */
#include "consumers/args.h"
#include "util/log.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sz_args {
	struct sz_arg_spec args[SZ_ARGS_MAX];
	size_t nargs;
	struct sz_arg_filter filters[SZ_ARGS_FILTERS_MAX];
	size_t nfilters;
	int has_comm;
	struct sz_glob comm;
	int latency;
	struct sz_value_src key, hist;
	/* layout: slot index and offset of each str/buf spec */
	int slot_of[SZ_ARGS_MAX];
	uint32_t off[SZ_ARGS_MAX], cap[SZ_ARGS_MAX];
	uint32_t data_bytes;
	size_t nslots;
};

static int is_int_type(enum sz_arg_type t)
{
	return t == SZ_ARG_INT || t == SZ_ARG_UINT || t == SZ_ARG_INT32 || t == SZ_ARG_UINT32;
}

static int bad(const char *why)
{
	sz_log(SZ_LOG_ERROR, "probe options: %s", why);
	return -EINVAL;
}

/* Lay out the str/buf slots: each its header and bytes, 8-aligned. */
static int layout(struct sz_args *a)
{
	uint32_t off = 0;

	for (size_t i = 0; i < a->nargs; i++) {
		const struct sz_arg_spec *s = &a->args[i];
		uint32_t cap;

		a->slot_of[i] = -1;
		if (s->arg > 5)
			return bad("an argument number is 0 to 5");
		if (s->type < SZ_ARG_INT || s->type > SZ_ARG_BUF)
			return bad("unknown argument type");
		if (s->type != SZ_ARG_STR && s->type != SZ_ARG_BUF)
			continue;
		if (s->len > SZ_ARGS_DATA_MAX)
			return bad("a str or buf shows at most 4096 bytes");
		if (s->type == SZ_ARG_STR) {
			cap = s->len ? s->len : SZ_ARGS_STR_DEFAULT;
		} else if (s->len_from_arg) {
			if (s->len_arg > 5)
				return bad("a buf's length argument is 0 to 5");
			cap = s->len ? s->len : SZ_ARGS_BUFLEN_DEFAULT;
		} else {
			if (!s->len)
				return bad(
					"a buf has a length (buf:M) or a length argument (buf:argK)");
			cap = s->len;
		}
		a->slot_of[i] = (int)a->nslots;
		a->off[a->nslots] = off;
		a->cap[a->nslots] = cap;
		off += SZ_ARGS_SLOT_BYTES(s->type == SZ_ARG_STR ? SZ_AK_STR : SZ_AK_BUF, cap);
		if (off > SZ_ARGS_BYTES_MAX)
			return bad("the str and buf arguments of a call total at most 16384 bytes");
		a->nslots++;
	}
	a->data_bytes = off;
	return 0;
}

static int check_src(const struct sz_value_src *v)
{
	if (v->from > SZ_VALUE_RET || (v->from == SZ_VALUE_ARG && v->arg > 5))
		return bad("a key or histogram value is arg0 to arg5 or ret");
	if (v->type && !is_int_type(v->type))
		return bad("a key or histogram value is int, uint, int32 or uint32");
	return 0;
}

int sz_args_new(const struct sz_probe_extra *x, enum sz_probe_mode mode, struct sz_args **out)
{
	struct sz_probe_extra e = { 0 };
	struct sz_args *a;
	int err;

	*out = NULL;
	if (!x)
		return 0;
	if (x->sz < sizeof(size_t))
		return -EINVAL;
	/* as the opts structs: an older caller's smaller struct is read as far as it goes */
	memcpy(&e, x, x->sz < sizeof(e) ? x->sz : sizeof(e));
	if (e.reserved0)
		return bad("reserved0 is not 0 (a field of a newer header?)");
	if (!e.nargs && !e.nfilters && !e.comm && !e.latency && !e.key.from && !e.hist.from)
		return 0;
	if (e.nargs > SZ_ARGS_MAX || (e.nargs && !e.args))
		return bad("at most 8 argument values");
	if (e.nfilters > SZ_ARGS_FILTERS_MAX || (e.nfilters && !e.filters))
		return bad("at most 8 filters");
	if (e.nargs && mode != SZ_PROBE_TRACE)
		return bad("argument values go with trace");
	if (e.latency && mode != SZ_PROBE_COUNT)
		return bad("latency is added to count only");
	if ((e.key.from || e.hist.from) && mode != SZ_PROBE_COUNT && mode != SZ_PROBE_LATENCY)
		return bad("keys and histograms go with count or latency");
	if (e.key.from && mode != SZ_PROBE_COUNT)
		return bad("a key goes with count");
	err = check_src(&e.key);
	if (!err)
		err = check_src(&e.hist);
	if (err)
		return err;
	for (size_t i = 0; i < e.nfilters; i++) {
		const struct sz_arg_filter *f = &e.filters[i];

		if (f->arg > 5)
			return bad("a filter's argument is arg0 to arg5");
		if (!is_int_type(f->type))
			return bad("a filter compares int, uint, int32 or uint32");
		if (f->op < SZ_FILTER_EQ || f->op > SZ_FILTER_GT)
			return bad("a filter's operator is ==, !=, < or >");
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	if (e.nargs)
		memcpy(a->args, e.args, e.nargs * sizeof(*e.args));
	a->nargs = e.nargs;
	if (e.nfilters)
		memcpy(a->filters, e.filters, e.nfilters * sizeof(*e.filters));
	a->nfilters = e.nfilters;
	a->latency = e.latency;
	a->key = e.key;
	a->hist = e.hist;
	if (!a->key.type)
		a->key.type = SZ_ARG_INT;
	if (!a->hist.type)
		a->hist.type = SZ_ARG_INT;
	err = layout(a);
	if (!err && e.comm) {
		a->has_comm = 1;
		if (sz_glob_compile(e.comm, &a->comm))
			err = bad("the process name pattern is not a valid glob");
	}
	if (err) {
		free(a);
		return err;
	}
	*out = a;
	return 0;
}

int sz_args_from_specs(const struct sz_arg_spec *specs, size_t n, struct sz_args **out)
{
	SZ_OPTS(sz_probe_extra, x, .args = specs, .nargs = n);

	return sz_args_new(&x, SZ_PROBE_TRACE, out);
}

void sz_args_free(struct sz_args *a)
{
	free(a);
}

int sz_args_latency(const struct sz_args *a)
{
	return a && a->latency;
}

int sz_args_key_entry(const struct sz_args *a)
{
	return a && (a->key.from == SZ_VALUE_ARG || a->hist.from == SZ_VALUE_ARG);
}

int sz_args_key_exit(const struct sz_args *a)
{
	return a && (a->key.from == SZ_VALUE_RET || a->hist.from == SZ_VALUE_RET);
}

int sz_args_has_key(const struct sz_args *a)
{
	return a && a->key.from;
}

int sz_args_has_hist(const struct sz_args *a)
{
	return a && a->hist.from;
}

int sz_args_has_filters(const struct sz_args *a)
{
	return a && a->nfilters;
}

size_t sz_args_nvalues(const struct sz_args *a)
{
	return a ? a->nargs : 0;
}

static __u32 kind_of(enum sz_arg_type t)
{
	/* enum sz_args_kind follows enum sz_arg_type */
	return (__u32)t;
}

/* The BPF side's value source: 1..6 for arg0..arg5, SZ_SRC_RET, 0 none. */
static __u32 src_of(const struct sz_value_src *v)
{
	if (v->from == SZ_VALUE_ARG)
		return v->arg + 1;
	return v->from == SZ_VALUE_RET ? SZ_SRC_RET : 0;
}

void sz_args_cfg(const struct sz_args *a, struct sz_args_cfg *cfg, struct sz_glob *comm)
{
	memset(cfg, 0, sizeof(*cfg));
	memset(comm, 0, sizeof(*comm));
	if (!a)
		return;
	for (size_t i = 0; i < a->nargs; i++) {
		int s = a->slot_of[i];

		if (s < 0)
			continue;
		cfg->slot[s].kind = (__u8)kind_of(a->args[i].type);
		cfg->slot[s].arg = (__u8)a->args[i].arg;
		cfg->slot[s].len_arg = (__u8)(a->args[i].len_from_arg ? a->args[i].len_arg + 1 : 0);
		cfg->slot[s].cap = a->cap[s];
		cfg->slot[s].off = a->off[s];
	}
	cfg->nslots = (__u32)a->nslots;
	cfg->data_bytes = a->data_bytes;
	for (size_t i = 0; i < a->nfilters; i++) {
		cfg->filter[i].arg = (__u8)a->filters[i].arg;
		cfg->filter[i].kind = (__u8)kind_of(a->filters[i].type);
		cfg->filter[i].op = (__u8)a->filters[i].op;
		cfg->filter[i].value = a->filters[i].value;
	}
	cfg->nfilters = (__u32)a->nfilters;
	cfg->has_comm = (__u32)a->has_comm;
	if (a->has_comm)
		*comm = a->comm;
	cfg->key_src = src_of(&a->key);
	cfg->key_kind = kind_of(a->key.type);
	cfg->hist_src = src_of(&a->hist);
	cfg->hist_kind = kind_of(a->hist.type);
}

static uint64_t shape(uint64_t v, enum sz_arg_type t)
{
	if (t == SZ_ARG_INT32)
		return (uint64_t)(int64_t)(int32_t)v;
	if (t == SZ_ARG_UINT32)
		return (uint32_t)v;
	return v;
}

int sz_args_decode(const struct sz_args *a, const uint64_t regs[6], const void *data, size_t len,
		   struct sz_arg_value *out)
{
	const unsigned char *d = data;

	if (!a)
		return 0;
	if (len < a->data_bytes)
		return -EINVAL;
	for (size_t i = 0; i < a->nargs; i++) {
		const struct sz_arg_spec *s = &a->args[i];
		struct sz_arg_value *v = &out[i];
		struct sz_args_hdr h;
		int slot = a->slot_of[i];

		memset(v, 0, sizeof(*v));
		v->arg = s->arg;
		v->type = s->type;
		v->value = shape(regs[s->arg], s->type);
		if (slot < 0)
			continue;
		memcpy(&h, d + a->off[slot], sizeof(h));
		if (h.len > a->cap[slot] || (h.flags & ~7u) ||
		    ((h.flags & (SZ_AF_FAULT | SZ_AF_NULL)) && h.len))
			return -EINVAL;
		v->len_from_arg = s->type == SZ_ARG_BUF && s->len_from_arg;
		v->len_arg = v->len_from_arg ? s->len_arg : 0;
		v->value = v->len_from_arg ? h.want : 0;
		v->fault = !!(h.flags & SZ_AF_FAULT);
		v->null = !!(h.flags & SZ_AF_NULL);
		v->truncated = !!(h.flags & SZ_AF_TRUNC);
		v->data = d + a->off[slot] + sizeof(h);
		v->len = h.len;
	}
	return 0;
}

struct key_row {
	uint32_t sym;
	uint64_t value, calls;
};

static int by_sym_then_calls(const void *x, const void *y)
{
	const struct key_row *a = x, *b = y;

	if (a->sym != b->sym)
		return a->sym < b->sym ? -1 : 1;
	if (a->calls != b->calls)
		return a->calls > b->calls ? -1 : 1;
	return a->value < b->value ? -1 : a->value > b->value;
}

int sz_args_read_keys(int fd, int ncpus, char *const *symbols, size_t nsymbols, sz_key_fn fn,
		      void *ctx)
{
	struct sz_args_key key, next, *prev = NULL;
	uint64_t *vals = calloc((size_t)ncpus, sizeof(*vals));
	struct key_row *rows = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (!vals)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		uint64_t sum = 0;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals) || key.sym >= nsymbols)
			continue;
		for (int c = 0; c < ncpus; c++)
			sum += vals[c];
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 256;
			struct key_row *r = realloc(rows, ncap * sizeof(*r));

			if (!r) {
				err = -ENOMEM;
				break;
			}
			rows = r;
			cap = ncap;
		}
		rows[n++] = (struct key_row){ key.sym, key.value, sum };
	}
	if (!err && rows) {
		qsort(rows, n, sizeof(*rows), by_sym_then_calls);
		for (size_t i = 0; i < n; i++)
			fn(symbols[rows[i].sym], rows[i].value, rows[i].calls, ctx);
	}
	free(rows);
	free(vals);
	return err;
}

int sz_args_read_hist(int fd, int ncpus, char *const *symbols, size_t nsymbols, sz_hist_fn fn,
		      void *ctx)
{
	uint64_t *vals = calloc((size_t)ncpus, sizeof(*vals));

	if (!vals)
		return -ENOMEM;
	for (size_t s = 0; s < nsymbols; s++) {
		uint64_t b[SZ_HIST_BUCKETS] = { 0 }, total = 0;

		for (uint32_t i = 0; i < SZ_HIST_BUCKETS; i++) {
			uint32_t slot = (uint32_t)s * SZ_HIST_BUCKETS + i;

			if (bpf_map_lookup_elem(fd, &slot, vals))
				continue;
			for (int c = 0; c < ncpus; c++)
				b[i] += vals[c];
			total += b[i];
		}
		if (total)
			fn(symbols[s], b, SZ_HIST_BUCKETS, ctx);
	}
	free(vals);
	return 0;
}

/* No padding, as the opts structs: the bytes an initializer leaves unset are
 * zero and checked. */
_Static_assert(sizeof(struct sz_probe_extra) == 6 * sizeof(size_t) + 2 * sizeof(int) +
							 2 * sizeof(struct sz_value_src),
	       "struct sz_probe_extra has padding: name the hole reservedN");
