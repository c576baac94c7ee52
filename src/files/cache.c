// SPDX-License-Identifier: BSD-2-Clause
/*
 * Parsed ELF files keyed by identity (st_dev, st_ino) and checked against size
 * and mtime: never by path, which can be replaced under a running process or
 * name another file in another mount namespace.  libc is parsed once however
 * many processes map it.  Bounded twice: a least-recently-used list caps the
 * parsed files, and only the most recently used few keep a descriptor (the
 * process's fd limit is shared with BPF links, /proc walks and the caller).
 */
#include "files/files.h"
#include "pipeline/pipeline.h"
#include "pipeline/usdt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define DEFAULT_MAX_FILES 4096
#define FD_RESERVE 16	/* descriptors left for everything but cached files */
#define MAX_OPEN_CAP 64 /* more open files buy nothing: the summary is cached */

static size_t bucket_of(const struct sz_cache *c, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;

	return (size_t)(h >> 40) % c->nbuckets;
}

/* Raise the soft fd limit to the hard one (as retsnoop does) and give cached
 * files half of what is left after a reserve. */
static size_t fd_budget(void)
{
	struct rlimit rl;
	size_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { rl.rlim_max, rl.rlim_max };

		if (!setrlimit(RLIMIT_NOFILE, &want))
			rl.rlim_cur = rl.rlim_max;
	}
	n = rl.rlim_cur > FD_RESERVE ? (size_t)(rl.rlim_cur - FD_RESERVE) / 2 : 0;
	return n < 1 ? 1 : n > MAX_OPEN_CAP ? MAX_OPEN_CAP : n;
}

int sz_cache_init(struct sz_cache *c, const char *const *symbols, size_t nsymbols, size_t max_open,
		  size_t max_files)
{
	int err;

	memset(c, 0, sizeof(*c));
	err = sz_symbols_new(symbols, nsymbols, &c->symbols, NULL);
	if (err)
		return err;
	c->max_open = max_open ? max_open : fd_budget();
	c->max_files = max_files ? max_files : DEFAULT_MAX_FILES;
	c->nbuckets = 256;
	while (c->nbuckets < c->max_files / 2)
		c->nbuckets *= 2;
	c->bucket = calloc(c->nbuckets, sizeof(struct sz_file *));
	if (c->bucket)
		return 0;
	sz_symbols_free(c->symbols);
	c->symbols = NULL;
	return -ENOMEM;
}

static void lru_unlink(struct sz_cache *c, struct sz_file *f)
{
	if (f->lru_prev)
		f->lru_prev->lru_next = f->lru_next;
	else
		c->lru_head = f->lru_next;
	if (f->lru_next)
		f->lru_next->lru_prev = f->lru_prev;
	else
		c->lru_tail = f->lru_prev;
	f->lru_prev = f->lru_next = NULL;
}

static void lru_push(struct sz_cache *c, struct sz_file *f)
{
	f->lru_next = c->lru_head;
	f->lru_prev = NULL;
	if (c->lru_head)
		c->lru_head->lru_prev = f;
	c->lru_head = f;
	if (!c->lru_tail)
		c->lru_tail = f;
}

static void touch(struct sz_cache *c, struct sz_file *f)
{
	if (c->lru_head != f) {
		lru_unlink(c, f);
		lru_push(c, f);
	}
}

static void file_close(struct sz_cache *c, struct sz_file *f)
{
	if (f->fd < 0)
		return;
	sz_elf_close(f->elf);
	f->elf = NULL;
	close(f->fd);
	f->fd = -1;
	c->open--;
	c->closed++;
}

static void file_free(struct sz_cache *c, struct sz_file *f)
{
	file_close(c, f);
	sz_fsyms_free(&f->syms);
	sz_file_usdt_free(f->usdt);
	free((void *)f->layout.seg);
	free(f);
}

/* Unlink F from its hash chain and the LRU list, and free it. */
static void file_drop(struct sz_cache *c, struct sz_file *f)
{
	struct sz_file **pp = &c->bucket[bucket_of(c, f->dev, f->ino)];

	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	lru_unlink(c, f);
	c->count--;
	file_free(c, f);
}

/* Close the least recently used unpinned descriptors over the budget. */
static void trim_open(struct sz_cache *c)
{
	for (struct sz_file *f = c->lru_tail; f && c->open > c->max_open; f = f->lru_prev)
		if (f->fd >= 0 && !f->pins)
			file_close(c, f);
}

static void trim_files(struct sz_cache *c)
{
	struct sz_file *f = c->lru_tail;

	while (f && c->count > c->max_files) {
		struct sz_file *prev = f->lru_prev;

		if (!f->pins) {
			file_drop(c, f);
			c->evicted++;
		}
		f = prev;
	}
}

void sz_cache_fini(struct sz_cache *c)
{
	while (c->lru_head)
		file_drop(c, c->lru_head);
	free(c->bucket);
	c->bucket = NULL;
	sz_symbols_free(c->symbols);
	c->symbols = NULL;
}

static int same_contents(const struct sz_file *f, const struct stat *st)
{
	return f->size == st->st_size && f->mtime.tv_sec == st->st_mtim.tv_sec &&
	       f->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

struct sz_file *sz_cache_find(struct sz_cache *c, const struct stat *st)
{
	for (struct sz_file *f = c->bucket[bucket_of(c, st->st_dev, st->st_ino)]; f; f = f->hnext) {
		if (f->dev != st->st_dev || f->ino != st->st_ino)
			continue;
		if (!same_contents(f, st)) {
			/* Same inode, new contents (rewritten in place): parse again. */
			if (!f->pins)
				file_drop(c, f);
			return NULL;
		}
		f->checked_ns = sz_now_ns();
		touch(c, f);
		return f;
	}
	return NULL;
}

struct sz_file *sz_cache_find_recent(struct sz_cache *c, dev_t dev, ino_t ino, uint64_t max_age_ns)
{
	uint64_t now = sz_now_ns();

	/* Only a file we hold open: its descriptor pins the inode, so the number
	 * cannot have gone to another file (deleted, then reused) meanwhile. */
	for (struct sz_file *f = c->bucket[bucket_of(c, dev, ino)]; f; f = f->hnext)
		if (f->dev == dev && f->ino == ino && f->fd >= 0 &&
		    now - f->checked_ns < max_age_ns) {
			touch(c, f);
			return f;
		}
	return NULL;
}

/* Everything the pipeline needs after the descriptor is gone. */
static void summarize(struct sz_cache *c, struct sz_file *f)
{
	struct sz_layout l;
	const unsigned char *id;
	size_t len;

	sz_elf_layout(f->elf, &l);
	f->layout = l;
	f->layout.seg = NULL;
	f->layout.nseg = 0;
	if (l.nseg) {
		struct sz_segment *seg = malloc(l.nseg * sizeof(*seg));

		if (seg) {
			memcpy(seg, l.seg, l.nseg * sizeof(*seg));
			f->layout.seg = seg;
			f->layout.nseg = l.nseg;
		}
	}
	if (sz_elf_build_id(f->elf, &id, &len) == 0)
		for (size_t i = 0; i < len; i++)
			snprintf(f->build_id + 2 * i, 3, "%02x", id[i]);
	if (sz_symbols_resolve(c->symbols, f->elf, &f->layout, &f->syms)) {
		f->err = -ENOMEM;
		snprintf(f->errmsg, sizeof(f->errmsg), "out of memory resolving symbols");
	}
	if (c->nusdt)
		f->usdt = sz_file_usdt_new(f->elf, c->usdt, c->nusdt);
}

struct sz_file *sz_cache_add(struct sz_cache *c, int fd, const struct stat *st)
{
	struct sz_file *f = calloc(1, sizeof(*f));
	size_t b;

	if (!f) {
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
	c->open++;
	f->err = sz_elf_open(fd, &f->elf, f->errmsg, sizeof(f->errmsg));
	if (!f->err) {
		summarize(c, f);
		if (!f->err && ((f->layout.nseg == 0 && f->elf->nseg) || (c->nusdt && !f->usdt))) {
			f->err = -ENOMEM;
			snprintf(f->errmsg, sizeof(f->errmsg), "out of memory");
		}
	}
	if (f->err)
		file_close(c, f); /* keep the negative entry, not the descriptor */
	b = bucket_of(c, st->st_dev, st->st_ino);
	f->hnext = c->bucket[b];
	c->bucket[b] = f;
	lru_push(c, f);
	c->count++;
	trim_open(c);
	trim_files(c);
	return f;
}

int sz_cache_reopen(struct sz_cache *c, struct sz_file *f, int fd, const struct stat *st)
{
	char err[160];

	if (f->fd >= 0) {
		close(fd);
		return 0;
	}
	if (st->st_dev != f->dev || st->st_ino != f->ino || !same_contents(f, st) ||
	    sz_elf_open(fd, &f->elf, err, sizeof(err))) {
		close(fd);
		return -ESTALE;
	}
	f->fd = fd;
	c->open++;
	touch(c, f);
	trim_open(c);
	return 0;
}

void sz_file_pin(struct sz_cache *c, struct sz_file *f)
{
	f->pins++;
	touch(c, f);
}

void sz_file_unpin(struct sz_cache *c, struct sz_file *f)
{
	if (f->pins > 0)
		f->pins--;
	trim_open(c);
	trim_files(c);
}

size_t sz_cache_evict(struct sz_cache *c, int (*keep)(const struct sz_file *f, void *ctx),
		      void *ctx)
{
	struct sz_file *f = c->lru_head;
	size_t n = 0;

	while (f) {
		struct sz_file *next = f->lru_next;

		if (!f->pins && !keep(f, ctx)) {
			file_drop(c, f);
			n++;
		}
		f = next;
	}
	return n;
}
