// SPDX-License-Identifier: BSD-2-Clause
/*
 * Parsed ELF files keyed by identity (st_dev, st_ino) and checked against size
 * and mtime: never by path, which can be replaced under a running process or
 * name another file in another mount namespace.  libc is parsed once however
 * many processes map it.
 */
#include "pipeline/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t bucket_of(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;

	return (size_t)(h >> 56) % SZ_CACHE_BUCKETS;
}

void sz_cache_init(struct sz_cache *c, size_t nsyms)
{
	memset(c, 0, sizeof(*c));
	c->nsyms = nsyms;
}

static void file_free(struct sz_file *f)
{
	sz_elf_close(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	free(f->syms);
	free(f);
}

void sz_cache_fini(struct sz_cache *c)
{
	for (size_t b = 0; b < SZ_CACHE_BUCKETS; b++) {
		struct sz_file *f = c->bucket[b], *next;

		for (; f; f = next) {
			next = f->next;
			file_free(f);
		}
		c->bucket[b] = NULL;
	}
}

struct sz_file *sz_cache_find(struct sz_cache *c, const struct stat *st)
{
	struct sz_file **pp = &c->bucket[bucket_of(st->st_dev, st->st_ino)];

	for (; *pp; pp = &(*pp)->next) {
		struct sz_file *f = *pp;

		if (f->dev != st->st_dev || f->ino != st->st_ino)
			continue;
		if (f->size == st->st_size && f->mtime.tv_sec == st->st_mtim.tv_sec &&
		    f->mtime.tv_nsec == st->st_mtim.tv_nsec) {
			f->checked_ns = sz_now_ns();
			return f;
		}
		/* Same inode, new contents (rewritten in place): parse again. */
		*pp = f->next;
		file_free(f);
		return NULL;
	}
	return NULL;
}

struct sz_file *sz_cache_find_recent(struct sz_cache *c, dev_t dev, ino_t ino,
				     uint64_t max_age_ns)
{
	uint64_t now = sz_now_ns();

	for (struct sz_file *f = c->bucket[bucket_of(dev, ino)]; f; f = f->next)
		if (f->dev == dev && f->ino == ino && now - f->checked_ns < max_age_ns)
			return f;
	return NULL;
}

struct sz_file *sz_cache_add(struct sz_cache *c, int fd, const struct stat *st)
{
	struct sz_file *f = calloc(1, sizeof(*f));
	size_t b;

	if (!f || !(f->syms = calloc(c->nsyms ? c->nsyms : 1, sizeof(*f->syms)))) {
		free(f);
		close(fd);
		return NULL;
	}
	f->fd = fd;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = st->st_size;
	f->mtime = st->st_mtim;
	f->checked_ns = sz_now_ns();
	c->parsed++;
	f->err = sz_elf_open(fd, &f->elf, f->errmsg, sizeof(f->errmsg));
	if (!f->err) {
		const unsigned char *id;
		size_t len;

		sz_elf_layout(f->elf, &f->layout);
		if (sz_elf_build_id(f->elf, &id, &len) == 0)
			for (size_t i = 0; i < len; i++)
				snprintf(f->build_id + 2 * i, 3, "%02x", id[i]);
	} else {
		/* Keep the negative entry, drop the descriptor. */
		close(fd);
		f->fd = -1;
	}
	b = bucket_of(st->st_dev, st->st_ino);
	f->next = c->bucket[b];
	c->bucket[b] = f;
	return f;
}

size_t sz_cache_evict(struct sz_cache *c, int (*keep)(const struct sz_file *f, void *ctx),
		      void *ctx)
{
	size_t n = 0;

	for (size_t b = 0; b < SZ_CACHE_BUCKETS; b++) {
		struct sz_file **pp = &c->bucket[b];

		while (*pp) {
			struct sz_file *f = *pp;

			if (keep(f, ctx)) {
				pp = &f->next;
				continue;
			}
			*pp = f->next;
			file_free(f);
			n++;
		}
	}
	return n;
}

struct sz_symres *sz_file_symbol(struct sz_file *f, size_t i, const char *name)
{
	struct sz_symres *r = &f->syms[i];

	if (!r->resolved) {
		r->resolved = 1;
		r->err = sz_elf_lookup(f->elf, name, 0, &r->sym);
		if (!r->err)
			r->has_off = !sz_elf_vaddr_to_offset(&f->layout, r->sym.value, &r->off);
	}
	return r;
}
