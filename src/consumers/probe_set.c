// SPDX-License-Identifier: BSD-2-Clause
/*
 * Uprobe sets per (file, process): every site of a file attached in one go,
 * which is what makes a multi-uprobe link worth it (one link, one syscall, for
 * a thousand functions), and what a perf-event fallback gets for free.
 */
#include "consumers/probe_set.h"
#include "consumers/uprobe_multi.h"
#include "util/detach.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct set {
	struct set *next;
	struct sz_probe_key key;
	int *status; /* per caller entry */
	size_t nent;
};

struct sz_probe_sets {
	struct bpf_program *progs[SZ_PROBE_SET_PROGS];
	int is_ret[SZ_PROBE_SET_PROGS];
	size_t nprogs;
	struct set **bucket;
	size_t nbuckets, nsets;
	struct sz_umulti **links; /* every attachment, entry and return alike */
	size_t nlinks, caplinks;
	size_t probes, kernel_links;
	int multi;
	struct set *last; /* a load's records come in a row: found last, found next */
};

static size_t key_hash(const struct sz_probe_sets *s, const struct sz_probe_key *k)
{
	uint64_t h = ((uint64_t)k->ino * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)k->dev << 17) ^
		     (uint64_t)(uint32_t)k->pid * 0xff51afd7ed558ccdull;

	return (size_t)(h ^ (h >> 29)) & (s->nbuckets - 1);
}

static int key_eq(const struct sz_probe_key *a, const struct sz_probe_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->pid == b->pid && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

int sz_probe_sets_new(struct bpf_program *const *progs, const int *is_ret, size_t nprogs,
		      struct sz_probe_sets **out)
{
	struct sz_probe_sets *s;

	*out = NULL;
	if (!nprogs || nprogs > SZ_PROBE_SET_PROGS)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < nprogs; i++) {
		s->progs[i] = progs[i];
		s->is_ret[i] = is_ret[i];
	}
	s->nprogs = nprogs;
	s->nbuckets = 64;
	s->bucket = calloc(s->nbuckets, sizeof(struct set *));
	if (!s->bucket) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void sz_probe_sets_free(struct sz_probe_sets *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nlinks; i++)
		sz_umulti_detach(s->links[i]);
	for (size_t b = 0; b < s->nbuckets; b++)
		while (s->bucket[b]) {
			struct set *t = s->bucket[b];

			s->bucket[b] = t->next;
			free(t->status);
			free(t);
		}
	free(s->bucket);
	free(s->links);
	free(s);
}

static void detach_one(void *m)
{
	sz_umulti_detach(m);
}

void sz_probe_sets_detach(struct sz_probe_sets *s, struct sz_detach *d)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nlinks; i++)
		sz_detach_add(d, detach_one, s->links[i]);
	s->nlinks = 0;
}

static struct set *find(struct sz_probe_sets *s, const struct sz_probe_key *k)
{
	if (s->last && key_eq(&s->last->key, k))
		return s->last;
	for (struct set *t = s->bucket[key_hash(s, k)]; t; t = t->next)
		if (key_eq(&t->key, k))
			return s->last = t;
	return NULL;
}

int sz_probe_set_status(struct sz_probe_sets *s, const struct sz_probe_key *key, size_t ent)
{
	struct set *t = find(s, key);

	if (!t)
		return -ENOENT;
	return ent < t->nent ? t->status[ent] : 0;
}

/* Double the table when it averages two sets per bucket. */
static int grow(struct sz_probe_sets *s)
{
	size_t n = s->nbuckets * 2, oldn = s->nbuckets;
	struct set **nb = calloc(n, sizeof(struct set *)), **old = s->bucket;

	if (!nb)
		return -ENOMEM;
	s->bucket = nb;
	s->nbuckets = n;
	for (size_t b = 0; b < oldn; b++)
		while (old[b]) {
			struct set *t = old[b];
			size_t h = key_hash(s, &t->key);

			old[b] = t->next;
			t->next = nb[h];
			nb[h] = t;
		}
	free(old);
	return 0;
}

static int keep_link(struct sz_probe_sets *s, struct sz_umulti *l)
{
	if (s->nlinks == s->caplinks) {
		size_t cap = s->caplinks ? 2 * s->caplinks : 64;
		struct sz_umulti **v = realloc(s->links, cap * sizeof(struct sz_umulti *));

		if (!v)
			return -ENOMEM;
		s->links = v;
		s->caplinks = cap;
	}
	s->links[s->nlinks++] = l;
	s->kernel_links += sz_umulti_is_multi(l) ? 1 : sz_umulti_probes(l);
	s->multi |= sz_umulti_is_multi(l);
	return 0;
}

/* Errors every half would meet again: no point in halving. */
static int fatal(int err)
{
	return err == -EPERM || err == -EACCES || err == -ENOMEM || err == -EMFILE ||
	       err == -ENFILE || err == -ENODEV || err == -EOPNOTSUPP;
}

/* Attach sites [0, N) in one go, every program; 1 done, 0 refused (ERRP
 * says why), or a negative errno that ends everything. */
static int attach_once(struct sz_probe_sets *s, struct set *t, int fd, pid_t pid,
		       const struct sz_probe_site *sites, const uint64_t *offs,
		       const uint64_t *cookies, size_t n, int *errp)
{
	struct sz_umulti *l[SZ_PROBE_SET_PROGS] = { NULL };
	size_t kept = s->nlinks;
	char err[256];
	int rc = 0;

	for (size_t i = 0; i < s->nprogs && !rc; i++) {
		struct sz_umulti_spec spec = { .fd = fd,
					       .pid = pid,
					       .retprobe = s->is_ret[i],
					       .cnt = n,
					       .offsets = offs,
					       .cookies = cookies };

		rc = sz_umulti_attach(s->progs[i], &spec, &l[i], err, sizeof(err));
	}
	if (rc) {
		for (size_t i = 0; i < s->nprogs; i++)
			sz_umulti_detach(l[i]);
		*errp = rc < 0 ? rc : -EINVAL;
		return 0;
	}
	for (size_t i = 0; i < s->nprogs && !rc; i++)
		rc = keep_link(s, l[i]);
	if (rc) {
		s->nlinks = kept; /* not kept: not attached after all */
		for (size_t i = 0; i < s->nprogs; i++)
			sz_umulti_detach(l[i]);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		t->status[sites[i].ent] = 1;
	s->probes += n;
	return 1;
}

/* All sites at once; a refused set is halved until the sites the kernel
 * refuses are alone (an explicit stack: depth 2 log2 n at most). */
static int attach_range(struct sz_probe_sets *s, struct set *t, int fd, pid_t pid,
			const struct sz_probe_site *sites, const uint64_t *offs,
			const uint64_t *cookies, size_t n)
{
	struct {
		size_t lo, n;
	} stack[2 * 64];
	size_t depth = 0;

	stack[depth].lo = 0;
	stack[depth++].n = n;
	while (depth) {
		size_t lo = stack[depth - 1].lo, k = stack[depth - 1].n;
		int err = 0, rc;

		depth--;
		rc = attach_once(s, t, fd, pid, sites + lo, offs + lo, cookies + lo, k, &err);
		if (rc < 0)
			return rc;
		if (rc)
			continue;
		if (k == 1 || fatal(err) || depth + 2 > sizeof(stack) / sizeof(stack[0])) {
			for (size_t i = lo; i < lo + k; i++)
				t->status[sites[i].ent] = err;
			if (err == -ENOMEM)
				return err;
			continue;
		}
		stack[depth].lo = lo + k / 2;
		stack[depth++].n = k - k / 2;
		stack[depth].lo = lo;
		stack[depth++].n = k / 2;
	}
	return 0;
}

int sz_probe_set_attach(struct sz_probe_sets *s, const struct sz_probe_key *key, int fd,
			const struct sz_probe_site *sites, size_t n, size_t nent)
{
	uint64_t *offs = NULL, *cookies = NULL;
	struct set *t;
	size_t h;
	int rc = 0;

	if (find(s, key))
		return 0;
	if (s->nsets >= 2 * s->nbuckets && grow(s))
		return -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->status = calloc(nent ? nent : 1, sizeof(*t->status)))) {
		free(t);
		return -ENOMEM;
	}
	t->key = *key;
	t->nent = nent;
	if (n) {
		offs = malloc(n * sizeof(*offs));
		cookies = malloc(n * sizeof(*cookies));
		if (!offs || !cookies)
			rc = -ENOMEM;
		for (size_t i = 0; !rc && i < n; i++) {
			offs[i] = sites[i].off;
			cookies[i] = sites[i].cookie;
		}
		if (!rc)
			rc = attach_range(s, t, fd, key->pid, sites, offs, cookies, n);
	}
	free(offs);
	free(cookies);
	if (rc) {
		free(t->status);
		free(t);
		return rc;
	}
	h = key_hash(s, key);
	t->next = s->bucket[h];
	s->bucket[h] = t;
	s->nsets++;
	s->last = t;
	return 0;
}

size_t sz_probe_sets_probes(const struct sz_probe_sets *s)
{
	return s->probes;
}

size_t sz_probe_sets_links(const struct sz_probe_sets *s)
{
	return s->kernel_links;
}

int sz_probe_sets_multi(const struct sz_probe_sets *s)
{
	return s->multi;
}
