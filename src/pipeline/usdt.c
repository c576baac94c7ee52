// SPDX-License-Identifier: BSD-2-Clause
/*
 * USDT probes as the pipeline sees them: the probes of a file that match the
 * -u patterns are picked once, when the cache parses the file (the notes are
 * read with our bounded parser, src/elf/usdt.c), and every new load of the
 * file reports each matching site as a found record at its runtime address,
 * semaphore included, the way symbols are reported.
 */
#include "pipeline/usdt.h"
#include "pipeline/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sz_usdt_patterns_new(const char *const *specs, size_t n, struct sz_usdt_pattern **out)
{
	struct sz_usdt_pattern *v;
	char err[128];

	*out = NULL;
	if (!n)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!specs[i] || sz_usdt_pattern_compile(specs[i], &v[i], err, sizeof(err))) {
			free(v);
			return -EINVAL;
		}
	*out = v;
	return 0;
}

/* Copy probe SRC with its strings into one allocation of its own: the set
 * read from the file is dropped once the matching few are kept. */
static int keep_probe(struct sz_file_usdt_probe *dst, const struct sz_usdt_probe *src)
{
	size_t lp = strlen(src->provider), ln = strlen(src->name), ls = strlen(src->spec);
	char *s = malloc(2 * (lp + ln) + ls + 5);

	if (!s)
		return -ENOMEM;
	dst->p = *src;
	dst->full = s;
	memcpy(s, src->provider, lp);
	s[lp] = ':';
	memcpy(s + lp + 1, src->name, ln + 1);
	s += lp + ln + 2;
	dst->p.provider = memcpy(s, src->provider, lp + 1);
	s += lp + 1;
	dst->p.name = memcpy(s, src->name, ln + 1);
	s += ln + 1;
	dst->p.spec = memcpy(s, src->spec, ls + 1);
	return 0;
}

struct sz_file_usdt *sz_file_usdt_new(const struct sz_elf *e, const struct sz_usdt_pattern *pats,
				      size_t npats)
{
	struct sz_file_usdt *u = calloc(1, sizeof(*u));
	struct sz_usdt_set *set = NULL;
	size_t want = 0;

	if (!u)
		return NULL;
	u->pat_hit = calloc(npats ? npats : 1, 1);
	u->pat_reported = calloc(npats ? npats : 1, 1);
	if (!u->pat_hit || !u->pat_reported)
		goto nomem;
	u->err = sz_usdt_read(e, &set, u->errmsg, sizeof(u->errmsg));
	if (u->err == -ENOMEM)
		goto nomem;
	if (u->err)
		return u;
	for (size_t i = 0; i < set->n; i++)
		for (size_t k = 0; k < npats; k++)
			if (sz_usdt_pattern_match(&pats[k], &set->probes[i])) {
				want++;
				break;
			}
	if (want) {
		u->probes = calloc(want, sizeof(*u->probes));
		if (!u->probes)
			goto nomem;
	}
	for (size_t i = 0; i < set->n; i++) {
		int hit = 0;

		for (size_t k = 0; k < npats; k++)
			if (sz_usdt_pattern_match(&pats[k], &set->probes[i]))
				hit = u->pat_hit[k] = 1;
		if (!hit)
			continue;
		if (keep_probe(&u->probes[u->n], &set->probes[i]))
			goto nomem;
		u->n++;
	}
	sz_usdt_set_free(set);
	return u;
nomem:
	sz_usdt_set_free(set);
	sz_file_usdt_free(u);
	return NULL;
}

void sz_file_usdt_free(struct sz_file_usdt *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++)
		free(u->probes[i].full);
	free(u->probes);
	free(u->pat_hit);
	free(u->pat_reported);
	free(u);
}

int sz_pipeline_usdt_load(struct sz_pipeline *p, struct sz_loaded *l, uint64_t bias,
			  const char *comm)
{
	struct sz_file_usdt *u = l->f->usdt;
	const struct sz_mapping *m = l->m;
	int rc = 0;

	if (!u)
		return 0;
	if (u->err) {
		sz__pipeline_problem_at(p, m, SZ_REASON_NOT_ELF, u->err, NULL, !u->err_reported,
					"USDT notes unreadable: %s", u->errmsg);
		u->err_reported = 1;
		return 0;
	}
	for (size_t k = 0; k < p->nusdt; k++) {
		if (u->pat_hit[k])
			continue;
		sz__pipeline_problem_at(p, m, SZ_REASON_SYMBOL_ABSENT, -ENOENT, p->usdt[k],
					!u->pat_reported[k], "no USDT probe matches %s",
					p->usdt[k]);
		u->pat_reported[k] = 1;
	}
	for (size_t i = 0; i < u->n && !rc; i++) {
		const struct sz_usdt_probe *pr = &u->probes[i].p;
		struct sz_found fd;

		if (pr->loc_err) {
			sz__pipeline_problem_at(
				p, m, SZ_REASON_LAYOUT, pr->loc_err, u->probes[i].full, 1,
				"USDT probe %s: its pc or semaphore is in no loadable "
				"segment",
				u->probes[i].full);
			continue;
		}
		memset(&fd, 0, sizeof(fd));
		fd.source = m->source;
		fd.pid = m->pid;
		fd.comm = comm;
		fd.path = m->path;
		fd.deleted = !!(m->flags & SZ_MAPPING_DELETED);
		fd.dev = (uint64_t)l->f->dev;
		fd.ino = (uint64_t)l->f->ino;
		fd.build_id = l->f->build_id[0] ? l->f->build_id : NULL;
		fd.symbol = u->probes[i].full;
		fd.type = SZ_SYM_USDT;
		fd.value = pr->pc;
		fd.load_bias = bias;
		fd.address = bias + pr->pc;
		fd.has_file_offset = 1;
		fd.file_offset = pr->pc_offset;
		fd.provider = pr->provider;
		fd.usdt_name = pr->name;
		fd.usdt_args = pr->spec;
		fd.cgroup_id = m->cgroup_id;
		if (pr->sema) {
			fd.semaphore = bias + pr->sema;
			fd.semaphore_offset = pr->sema_offset;
		}
		l->usdt = pr;
		rc = sz__pipeline_deliver(p, &fd, l);
	}
	l->usdt = NULL;
	return rc;
}

int sz_pipeline_usdt_init(struct sz_pipeline *p, const char *const *usdt, size_t n)
{
	int err;

	if (!n)
		return 0;
	p->usdt = calloc(n, sizeof(*p->usdt));
	if (!p->usdt)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		p->usdt[i] = usdt[i] ? strdup(usdt[i]) : NULL;
		if (!p->usdt[i]) {
			sz_pipeline_usdt_fini(p);
			return usdt[i] ? -ENOMEM : -EINVAL;
		}
		p->nusdt++;
	}
	err = sz_usdt_patterns_new(usdt, n, &p->usdt_pats);
	if (err)
		sz_pipeline_usdt_fini(p);
	return err;
}

void sz_pipeline_usdt_fini(struct sz_pipeline *p)
{
	for (size_t i = 0; i < p->nusdt; i++)
		free(p->usdt[i]);
	free(p->usdt);
	free(p->usdt_pats);
	p->usdt = NULL;
	p->usdt_pats = NULL;
	p->nusdt = 0;
}
