// SPDX-License-Identifier: BSD-2-Clause
/*
 * --pprof FILE: the --count --stacks report as a pprof profile (gzip'd protobuf), so go
 * tool pprof and Grafana Pyroscope open it.  The messages come from proto/profile.proto
 * through protoc-c; this file only dedupes strings, mappings (one per file, with its
 * build-ID), functions and locations, and writes the result through zlib.
 */
#include "cli.h"
#include "profile.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int cli_pprof_add(struct cli *c, const char *symbol, const struct sz_stack *st, uint64_t calls);
int cli_pprof_write(struct cli *c);

/* The file, opened when the options are checked (a bad path fails before any probe), and
 * rewritten from its start by each report (SIGUSR1, then the final one). */
static int pprof_fd = -1;

int cli_pprof_open(const char *path)
{
	pprof_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
	if (pprof_fd < 0) {
		int err = errno;

		fprintf(stderr, "symbolyze: --pprof '%s': cannot create the file: %s\n", path,
			strerror(err));
		return -err;
	}
	return 0;
}

/* A string -> id map (open addressing, doubled at half full). */
struct smap {
	char **keys;
	uint64_t *vals;
	size_t cap, n;
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
	return h;
}

static int smap_grow(struct smap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	char **k = calloc(cap, sizeof(char *));
	uint64_t *v = calloc(cap, sizeof(uint64_t));

	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i]) {
			size_t j = fnv(m->keys[i]) & (cap - 1);

			while (k[j])
				j = (j + 1) & (cap - 1);
			k[j] = m->keys[i];
			v[j] = m->vals[i];
		}
	free(m->keys);
	free(m->vals);
	m->keys = k;
	m->vals = v;
	m->cap = cap;
	return 0;
}

/* The id of KEY, or 0 and *SLOT where it goes. */
static uint64_t smap_get(struct smap *m, const char *key, size_t *slot)
{
	size_t j = fnv(key) & (m->cap - 1);

	while (m->keys[j]) {
		if (!strcmp(m->keys[j], key))
			return m->vals[j];
		j = (j + 1) & (m->cap - 1);
	}
	*slot = j;
	return 0;
}

/* KEY's id; a new one (NEXT, then incremented) if it was not there.  0 on ENOMEM. */
static uint64_t smap_id(struct smap *m, const char *key, uint64_t *next, int *added)
{
	size_t slot = 0;
	uint64_t id;

	*added = 0;
	if ((m->n + 1) * 2 > m->cap && smap_grow(m))
		return 0;
	id = smap_get(m, key, &slot);
	if (id)
		return id;
	if (!(m->keys[slot] = strdup(key)))
		return 0;
	m->vals[slot] = (*next)++;
	m->n++;
	*added = 1;
	return m->vals[slot];
}

static void smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
}

static struct {
	struct smap strs, maps, funcs, locs;
	char **strings;
	size_t nstrings;
	uint64_t next_str, next_map, next_func, next_loc;
	Szpprof__Mapping **mapping;
	Szpprof__Function **function;
	Szpprof__Location **location;
	Szpprof__Sample **sample;
	size_t nmapping, nfunction, nlocation, nsample;
	int failed;
} P;

static int grow(void *pp, size_t n)
{
	void **p = pp;
	void *q;

	if (n & (n - 1)) /* capacities are powers of two */
		return 0;
	q = realloc(*p, (n ? 2 * n : 1) * sizeof(void *));
	if (!q)
		return -ENOMEM;
	*p = q;
	return 0;
}

static int64_t str(const char *s)
{
	uint64_t id;
	int added;

	if (!s || !*s)
		return 0;
	if (!P.next_str) { /* index 0 is "", as the format wants */
		P.next_str = 1;
		if (grow(&P.strings, P.nstrings) || !(P.strings[P.nstrings] = strdup("")))
			return P.failed = -ENOMEM, 0;
		P.nstrings++;
	}
	id = smap_id(&P.strs, s, &P.next_str, &added);
	if (!id)
		return P.failed = -ENOMEM, 0;
	if (added) {
		if (grow(&P.strings, P.nstrings) || !(P.strings[P.nstrings] = strdup(s)))
			return P.failed = -ENOMEM, 0;
		P.nstrings++;
	}
	return (int64_t)id;
}

static uint64_t mapping_of(const struct sz_frame *fr)
{
	char key[4200];
	uint64_t id;
	int added;

	if (!fr->path)
		return 0;
	if (!P.next_map)
		P.next_map = 1;
	snprintf(key, sizeof(key), "%s\n%s", fr->build_id ? fr->build_id : "", fr->path);
	id = smap_id(&P.maps, key, &P.next_map, &added);
	if (!id)
		return P.failed = -ENOMEM, 0;
	if (added) {
		Szpprof__Mapping *m = malloc(sizeof(*m));

		if (!m || grow(&P.mapping, P.nmapping)) {
			free(m);
			return P.failed = -ENOMEM, 0;
		}
		szpprof__mapping__init(m);
		m->id = id;
		m->filename = str(fr->path);
		m->build_id = str(fr->build_id);
		m->has_functions = 1;
		P.mapping[P.nmapping++] = m;
	}
	/* Locations are ELF virtual addresses of the file (stacks of many processes share
	 * them), so the mapping spans the file's addresses from 0. */
	if (fr->vaddr >= P.mapping[id - 1]->memory_limit)
		P.mapping[id - 1]->memory_limit = fr->vaddr + 1;
	return id;
}

static uint64_t function_of(const struct sz_frame *fr)
{
	char key[4200];
	uint64_t id;
	int added;

	if (!fr->symbol)
		return 0;
	if (!P.next_func)
		P.next_func = 1;
	snprintf(key, sizeof(key), "%s\n%s", fr->symbol, fr->path ? fr->path : "");
	id = smap_id(&P.funcs, key, &P.next_func, &added);
	if (!id)
		return P.failed = -ENOMEM, 0;
	if (added) {
		Szpprof__Function *f = malloc(sizeof(*f));

		if (!f || grow(&P.function, P.nfunction)) {
			free(f);
			return P.failed = -ENOMEM, 0;
		}
		szpprof__function__init(f);
		f->id = id;
		f->name = str(fr->symbol);
		f->system_name = f->name;
		f->filename = str(fr->path);
		P.function[P.nfunction++] = f;
	}
	return id;
}

static uint64_t location_of(const struct sz_frame *fr)
{
	uint64_t map = mapping_of(fr), id;
	char key[64];
	int added;

	if (!P.next_loc)
		P.next_loc = 1;
	snprintf(key, sizeof(key), "%" PRIu64 ":%" PRIx64, map, map ? fr->vaddr : fr->address);
	id = smap_id(&P.locs, key, &P.next_loc, &added);
	if (!id)
		return P.failed = -ENOMEM, 0;
	if (added) {
		Szpprof__Location *l = malloc(sizeof(*l));
		uint64_t fn = function_of(fr);

		if (!l || grow(&P.location, P.nlocation)) {
			free(l);
			return P.failed = -ENOMEM, 0;
		}
		szpprof__location__init(l);
		l->id = id;
		l->mapping_id = map;
		l->address = map ? fr->vaddr : fr->address;
		if (fn) {
			Szpprof__Line *ln = malloc(sizeof(*ln));

			l->line = malloc(sizeof(Szpprof__Line *)); /* one line: no inlining */
			if (!ln || !l->line) {
				free(ln);
				free(l->line);
				free(l);
				return P.failed = -ENOMEM, 0;
			}
			szpprof__line__init(ln);
			ln->function_id = fn;
			l->line[0] = ln;
			l->n_line = 1;
		}
		P.location[P.nlocation++] = l;
	}
	return id;
}

int cli_pprof_add(struct cli *c, const char *symbol, const struct sz_stack *st, uint64_t calls)
{
	Szpprof__Sample *s = malloc(sizeof(*s));

	if (!s || grow(&P.sample, P.nsample)) {
		free(s);
		return P.failed = -ENOMEM;
	}
	szpprof__sample__init(s);
	s->location_id = calloc(st->nframes ? st->nframes : 1, sizeof(uint64_t));
	s->value = malloc(sizeof(int64_t));
	if (!s->location_id || !s->value) {
		free(s->location_id);
		free(s->value);
		free(s);
		return P.failed = -ENOMEM;
	}
	for (size_t i = 0; i < st->nframes; i++) /* leaf first, as ours */
		s->location_id[s->n_location_id++] = location_of(&st->frames[i]);
	s->value[0] = (int64_t)calls;
	s->n_value = 1;
	P.sample[P.nsample++] = s;
	return 0;
}

static void pprof_free(void)
{
	for (size_t i = 0; i < P.nsample; i++) {
		free(P.sample[i]->location_id);
		free(P.sample[i]->value);
		free(P.sample[i]);
	}
	for (size_t i = 0; i < P.nlocation; i++) {
		if (P.location[i]->n_line)
			free(P.location[i]->line[0]);
		free(P.location[i]->line);
		free(P.location[i]);
	}
	for (size_t i = 0; i < P.nfunction; i++)
		free(P.function[i]);
	for (size_t i = 0; i < P.nmapping; i++)
		free(P.mapping[i]);
	for (size_t i = 0; i < P.nstrings; i++)
		free(P.strings[i]);
	free(P.sample);
	free(P.location);
	free(P.function);
	free(P.mapping);
	free(P.strings);
	smap_free(&P.strs);
	smap_free(&P.maps);
	smap_free(&P.funcs);
	smap_free(&P.locs);
	memset(&P, 0, sizeof(P));
}

/* Write the profile gzip'd to C->pprof; 0, or a negative errno after saying why. */
int cli_pprof_write(struct cli *c)
{
	Szpprof__Profile prof = SZPPROF__PROFILE__INIT;
	Szpprof__ValueType vt = SZPPROF__VALUE_TYPE__INIT, *vts[1] = { &vt };
	uint8_t *buf = NULL;
	size_t len;
	gzFile gz;
	int fd, r = 0;

	vt.type = str("calls");
	vt.unit = str("count");
	if (!P.nstrings)
		str("calls");
	prof.n_sample_type = 1;
	prof.sample_type = vts;
	prof.period_type = &vt;
	prof.period = 1;
	prof.n_sample = P.nsample;
	prof.sample = P.sample;
	prof.n_mapping = P.nmapping;
	prof.mapping = P.mapping;
	prof.n_location = P.nlocation;
	prof.location = P.location;
	prof.n_function = P.nfunction;
	prof.function = P.function;
	prof.n_string_table = P.nstrings;
	prof.string_table = P.strings;
	if (P.failed) {
		r = P.failed;
		goto out;
	}
	len = szpprof__profile__get_packed_size(&prof);
	buf = malloc(len ? len : 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	szpprof__profile__pack(&prof, buf);
	fd = pprof_fd < 0 ? -EBADF : dup(pprof_fd); /* gzclose() closes its own */
	if (fd < 0 || ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET)) {
		r = fd == -EBADF ? -EBADF : -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	gz = gzdopen(fd, "wb");
	if (!gz) {
		close(fd);
		r = -ENOMEM;
		goto out;
	}
	if (len && gzwrite(gz, buf, (unsigned)len) != (int)len)
		r = -EIO;
	if (gzclose(gz) != Z_OK && !r)
		r = -EIO;
out:
	if (r)
		fprintf(stderr, "symbolyze: --pprof '%s': cannot write the profile: %s\n", c->pprof,
			strerror(-r));
	free(buf);
	pprof_free();
	return r;
}
