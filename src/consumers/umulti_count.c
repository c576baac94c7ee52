// SPDX-License-Identifier: BSD-2-Clause
/*
 * Loader of bpf/umulti.bpf.c: the array is sized to the cookies before load,
 * the program prepared for the attach flavour, and counts read back per CPU.
 */
#include "consumers/umulti_count.h"
#include "umulti.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bpf/umulti.h"

struct sz_ucount {
	struct umulti_bpf *skel;
	size_t n;
	int ncpus;
};

int sz_ucount_new(size_t ncookies, enum sz_umulti_mode mode, struct sz_ucount **out, char *err,
		  size_t errlen)
{
	struct sz_ucount *c;
	int r;

	*out = NULL;
	if (!ncookies || ncookies > SZ_UMULTI_MAX_COOKIES) {
		snprintf(err, errlen, "%zu cookies: between 1 and %u", ncookies,
			 SZ_UMULTI_MAX_COOKIES);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->n = ncookies;
	c->ncpus = libbpf_num_possible_cpus();
	c->skel = umulti_bpf__open();
	if (!c->skel || c->ncpus <= 0) {
		r = c->ncpus <= 0 ? c->ncpus : -errno;
		snprintf(err, errlen, "cannot open the counting BPF program: %s", strerror(-r));
		goto fail;
	}
	r = bpf_map__set_max_entries(c->skel->maps.hits, (__u32)ncookies);
	if (!r) {
		r = sz_umulti_prepare(c->skel->progs.sz_umulti_count, mode);
		if (r == -EOPNOTSUPP) {
			snprintf(err, errlen, "this kernel has no multi-uprobe links (6.6+)");
			goto fail;
		}
		r = umulti_bpf__load(c->skel);
	}
	if (r) {
		snprintf(err, errlen, "cannot load the counting BPF program: %s", strerror(-r));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	sz_ucount_free(c);
	return r ? r : -EINVAL;
}

struct bpf_program *sz_ucount_prog(struct sz_ucount *c)
{
	return c->skel->progs.sz_umulti_count;
}

int sz_ucount_read(const struct sz_ucount *c, uint64_t *counts)
{
	uint64_t *v = calloc((size_t)c->ncpus, sizeof(*v));
	int fd = bpf_map__fd(c->skel->maps.hits), r = 0;

	if (!v)
		return -ENOMEM;
	for (__u32 k = 0; k < c->n; k++) {
		counts[k] = 0;
		if (bpf_map_lookup_elem(fd, &k, v)) {
			r = -errno;
			break;
		}
		for (int i = 0; i < c->ncpus; i++)
			counts[k] += v[i];
	}
	free(v);
	return r;
}

uint64_t sz_ucount_misses(const struct sz_ucount *c)
{
	return c->skel->bss->misses;
}

void sz_ucount_free(struct sz_ucount *c)
{
	if (!c)
		return;
	umulti_bpf__destroy(c->skel);
	free(c);
}
