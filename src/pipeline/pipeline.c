// SPDX-License-Identifier: BSD-2-Clause
/*
 * The one pipeline every mapping goes through, whatever its source: glob,
 * the file (cache or the one open policy), the rule for which mapping speaks
 * for a load, the load bias, the set of reported loads, the symbols, then the
 * consumers in subscription order.  Outcomes that are not a found symbol are
 * problems: counted under one reason each and explained, never silent.
 */
#include "pipeline/pipeline.h"
#include "pipeline/internal.h"
#include "pipeline/usdt.h"
#include "proc/maps.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Trust a file's identity check this long: a burst of mappings of one library
 * (an exec storm) costs no system call per mapping. */
#define RECHECK_NS (1000ull * 1000000ull)

uint64_t sz_now_ns(void)
{
	struct timespec ts;

	/* The clock of bpf_ktime_get_ns(), so scan and event times compare. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int sz_loaded_fd(struct sz_loaded *l)
{
	struct stat st;
	int fd, err;

	if (l->f->fd >= 0)
		return l->f->fd;
	fd = sz_open_mapping(l->p->proc, l->m, &st);
	if (fd < 0)
		return fd;
	err = sz_cache_reopen(&l->p->cache, l->f, fd, &st);
	return err ? err : l->f->fd;
}

dev_t sz_loaded_dev(const struct sz_loaded *l)
{
	return l->f->dev;
}

ino_t sz_loaded_ino(const struct sz_loaded *l)
{
	return l->f->ino;
}

uint32_t sz_loaded_kdev(const struct sz_loaded *l)
{
	return l->m->dev;
}

uint32_t sz_loaded_symbol(const struct sz_loaded *l)
{
	return l->f->syms.v[l->ent].id;
}

size_t sz_loaded_entry(const struct sz_loaded *l)
{
	return l->ent;
}

const struct sz_file *sz_loaded_file(const struct sz_loaded *l)
{
	return l->f;
}

pid_t sz_loaded_pid(const struct sz_loaded *l)
{
	return l->m->pid;
}

const struct sz_symbols *sz_pipeline_symbols(const struct sz_pipeline *p)
{
	return p->cache.symbols;
}

const struct sz_usdt_probe *sz_loaded_usdt(const struct sz_loaded *l)
{
	return l->usdt;
}

int sz_pipeline_new(const struct sz_pipeline_opts *o, struct sz_pipeline **out)
{
	struct sz_pipeline *p;
	int err;

	*out = NULL;
	if (!o->glob || (!o->nsymbols && !o->nusdt) || (o->nsymbols && !o->symbols) ||
	    (o->nusdt && !o->usdt))
		return -EINVAL;
	for (size_t i = 0; i < o->nsymbols; i++)
		if (!o->symbols[i] || !*o->symbols[i] || *o->symbols[i] == '@')
			return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	err = sz_glob_compile(o->glob, &p->glob);
	if (err)
		goto fail;
	err = -ENOMEM;
	p->glob_text = strdup(o->glob);
	p->symbols = calloc(o->nsymbols ? o->nsymbols : 1, sizeof(*p->symbols));
	if (!p->glob_text || !p->symbols)
		goto fail;
	err = sz_pipeline_usdt_init(p, o->usdt, o->nusdt);
	if (err)
		goto fail;
	err = -ENOMEM;
	for (size_t i = 0; i < o->nsymbols; i++) {
		p->symbols[i] = strdup(o->symbols[i]);
		if (!p->symbols[i])
			goto fail;
		p->nsymbols++;
	}
	snprintf(p->proc, sizeof(p->proc), "%s", o->proc ? o->proc : "/proc");
	p->pagesz = (uint64_t)sysconf(_SC_PAGESIZE);
	p->dedupe = o->dedupe;
	p->stats.sz = sizeof(p->stats);
	err = sz_cache_init(&p->cache, (const char *const *)p->symbols, p->nsymbols,
			    o->max_open_files, 0);
	if (err)
		goto fail;
	sz_symbols_set_max_ids(p->cache.symbols, o->max_symbol_ids);
	p->cache.usdt = p->usdt_pats;
	p->cache.nusdt = p->nusdt;
	*out = p;
	return 0;
fail:
	sz_pipeline_free(p);
	return err;
}

void sz_pipeline_free(struct sz_pipeline *p)
{
	if (!p)
		return;
	free(p->cgroup_under);
	if (p->cache.bucket)
		sz_cache_fini(&p->cache);
	sz_loads_fini(&p->loads);
	for (size_t i = 0; i < p->nsymbols; i++)
		free(p->symbols[i]);
	free(p->symbols);
	sz_pipeline_usdt_fini(p);
	free(p->glob_text);
	free(p->cons);
	free(p);
}

int sz_pipeline_subscribe(struct sz_pipeline *p, const struct sz_consumer *c, int first)
{
	struct sz_consumer *n = realloc(p->cons, (p->ncons + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	p->cons = n;
	if (first) {
		memmove(n + 1, n, p->ncons * sizeof(*n));
		n[0] = *c;
	} else {
		n[p->ncons] = *c;
	}
	p->ncons++;
	return 0;
}

void sz_pipeline_unsubscribe(struct sz_pipeline *p, const void *ctx)
{
	size_t j = 0;

	for (size_t i = 0; i < p->ncons; i++)
		if (p->cons[i].ctx != ctx || !ctx)
			p->cons[j++] = p->cons[i];
	p->ncons = j;
}

static __attribute__((format(printf, 9, 0))) void
vproblem(struct sz_pipeline *p, enum sz_reason reason, int err, pid_t pid, const char *comm,
	 const char *path, const char *symbol, int first, const char *fmt, va_list ap)
{
	struct sz_problem pr = { .reason = reason,
				 .err = err,
				 .pid = pid,
				 .comm = comm,
				 .path = path,
				 .symbol = symbol,
				 .first = first };
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	pr.message = msg;
	if ((unsigned)reason < SZ_REASON_MAX)
		p->stats.problems[reason]++;
	for (size_t i = 0; i < p->ncons; i++) {
		if (p->cons[i].problem)
			p->cons[i].problem(p->cons[i].ctx, &pr);
		if (p->cons[i].user_problem)
			p->cons[i].user_problem(&pr, p->cons[i].ctx);
	}
}

void sz_pipeline_problem(struct sz_pipeline *p, enum sz_reason reason, int err, pid_t pid,
			 const char *comm, const char *path, const char *symbol, int first,
			 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vproblem(p, reason, err, pid, comm, path, symbol, first, fmt, ap);
	va_end(ap);
}

/* The process's name: the source's, else /proc's, read once per process. */
static const char *comm_of(struct sz_pipeline *p, const struct sz_mapping *m)
{
	char path[320], *buf = NULL;
	ssize_t n;

	if (m->comm)
		return m->comm;
	if (p->comm_pid == m->pid && p->comm_ts == m->ts_ns)
		return p->comm;
	p->comm_pid = m->pid;
	p->comm_ts = m->ts_ns;
	p->comm[0] = '\0';
	snprintf(path, sizeof(path), "%s/%d/comm", p->proc, (int)m->pid);
	n = sz_read_file(AT_FDCWD, path, sizeof(p->comm) * 2, &buf);
	if (n > 0) {
		if (buf[n - 1] == '\n')
			buf[--n] = '\0';
		snprintf(p->comm, sizeof(p->comm), "%s", buf);
	}
	free(buf);
	return p->comm;
}

static void problem_at(struct sz_pipeline *p, const struct sz_mapping *m, enum sz_reason reason,
		       int err, const char *symbol, int first, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
static void problem_at(struct sz_pipeline *p, const struct sz_mapping *m, enum sz_reason reason,
		       int err, const char *symbol, int first, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vproblem(p, reason, err, m->pid, comm_of(p, m), m->path, symbol, first, fmt, ap);
	va_end(ap);
}

void sz__pipeline_problem_at(struct sz_pipeline *p, const struct sz_mapping *m,
			     enum sz_reason reason, int err, const char *symbol, int first,
			     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vproblem(p, reason, err, m->pid, comm_of(p, m), m->path, symbol, first, fmt, ap);
	va_end(ap);
}

/* A file that could not be opened for this process is not tried again for
 * its other mappings. */
static int failed_before(struct sz_pipeline *p, const struct sz_mapping *m, int add)
{
	size_t n = sizeof(p->failed) / sizeof(p->failed[0]);

	for (size_t i = 0; i < n; i++)
		if (p->failed[i].pid == m->pid && p->failed[i].ts == m->ts_ns &&
		    p->failed[i].ino == m->ino && p->failed[i].dev == m->dev)
			return 1;
	if (add) {
		size_t i = p->nfailed++ % n;

		p->failed[i].pid = m->pid;
		p->failed[i].ts = m->ts_ns;
		p->failed[i].ino = m->ino;
		p->failed[i].dev = m->dev;
	}
	return 0;
}

/* The parsed file of M: from the cache when its identity was checked
 * moments ago or still holds, else opened by the one policy and parsed. */
static struct sz_file *file_of(struct sz_pipeline *p, const struct sz_mapping *m, int *errp)
{
	struct sz_file *f;
	struct stat st;
	int fd;

	*errp = 0;
	f = sz_cache_find_recent(&p->cache, sz_kdev_to_dev(m->dev), m->ino, RECHECK_NS);
	if (f)
		return f;
	if (failed_before(p, m, 0)) {
		*errp = -EAGAIN; /* already explained */
		return NULL;
	}
	fd = sz_open_mapping(p->proc, m, &st);
	if (fd < 0) {
		failed_before(p, m, 1);
		*errp = fd;
		return NULL;
	}
	f = sz_cache_find(&p->cache, &st);
	if (f) {
		if (f->fd < 0 && !f->err)
			sz_cache_reopen(&p->cache, f, fd, &st);
		else
			close(fd);
		return f;
	}
	f = sz_cache_add(&p->cache, fd, &st);
	if (!f)
		*errp = -ENOMEM;
	else
		p->stats.names_too_long += f->syms.too_long;
	return f;
}

/* The rule, in one place: a load is reported once, through its code mapping
 * (a tool that only reads a library never maps its code, and no call can
 * come before it); a source that knows a mapping starts a load (the
 * interpreter at AT_BASE) says so.  A file we cannot parse speaks through
 * an executable mapping: mapped only to be read (locale archives, fonts,
 * caches) it is data, not a load, and not worth a problem. */
static int speaks_for_load(const struct sz_pipeline *p, const struct sz_file *f,
			   const struct sz_mapping *m)
{
	if (f->err)
		return !!(m->prot & PROT_EXEC);
	if (m->flags & SZ_MAPPING_LOAD_START)
		return sz_elf_is_first_load_mapping(&f->layout, m->pgoff, m->prot, p->pagesz);
	return sz_elf_is_code_mapping(&f->layout, m->pgoff, m->prot, p->pagesz);
}

static int deliver(struct sz_pipeline *p, struct sz_found *fd, struct sz_loaded *l)
{
	p->stats.found++;
	for (size_t i = 0; i < p->ncons; i++) {
		int rc = 0;

		if (p->cons[i].found)
			rc = p->cons[i].found(p->cons[i].ctx, fd, l);
		if (!rc && p->cons[i].user_found)
			rc = p->cons[i].user_found(fd, p->cons[i].ctx);
		if (rc)
			return SZ_STOP;
	}
	return 0;
}

/* A problem instead of a found record: the name is absent, the glob matched
 * nothing here, or the symbol has no process-wide address. */
static int entry_problem(struct sz_pipeline *p, const struct sz_mapping *m, struct sz_fsym *e)
{
	int first = !e->reported;

	if (!e->err && e->type != STT_TLS)
		return 0;
	e->reported = 1;
	if (e->err && e->glob)
		problem_at(p, m, SZ_REASON_SYMBOL_ABSENT, e->err, e->name, first,
			   "no symbol matches %s", e->name);
	else if (e->err)
		problem_at(p, m, SZ_REASON_SYMBOL_ABSENT, e->err, e->name, first,
			   "symbol %s not found", e->name);
	else
		problem_at(p, m, SZ_REASON_LAYOUT, -EINVAL, e->name, first,
			   "symbol %s is thread-local: no process-wide address", e->name);
	return 1;
}

int sz__pipeline_deliver(struct sz_pipeline *p, struct sz_found *fd, struct sz_loaded *l)
{
	return deliver(p, fd, l);
}

static int resolve_load(struct sz_pipeline *p, const struct sz_mapping *m, struct sz_file *f,
			uint64_t bias)
{
	struct sz_loaded l = { p, f, m, 0, NULL };
	const char *comm = comm_of(p, m);
	int rc = 0;

	p->stats.mappings++;
	sz_file_pin(&p->cache, f);
	for (size_t i = 0; i < f->syms.n && !rc; i++) {
		struct sz_fsym *e = &f->syms.v[i];
		struct sz_found fd;

		if (entry_problem(p, m, e))
			continue;
		memset(&fd, 0, sizeof(fd));
		fd.source = m->source;
		fd.pid = m->pid;
		fd.comm = comm;
		fd.path = m->path;
		fd.deleted = !!(m->flags & SZ_MAPPING_DELETED);
		fd.dev = (uint64_t)f->dev;
		fd.ino = (uint64_t)f->ino;
		fd.build_id = f->build_id[0] ? f->build_id : NULL;
		fd.symbol = e->name;
		fd.version = e->version;
		fd.type = sz_sym_type_of(e->type);
		fd.value = e->value;
		fd.size = e->size;
		fd.load_bias = bias;
		fd.address = bias + e->value;
		fd.has_file_offset = e->has_off;
		fd.file_offset = e->off;
		fd.aliases = (const char *const *)e->aliases;
		fd.naliases = e->naliases;
		fd.cgroup_id = m->cgroup_id;
		l.ent = i;
		rc = deliver(p, &fd, &l);
	}
	if (!rc && p->nusdt)
		rc = sz_pipeline_usdt_load(p, &l, bias, comm);
	sz_file_unpin(&p->cache, f);
	return rc;
}

int sz_pipeline_submit(struct sz_pipeline *p, const struct sz_mapping *m)
{
	struct sz_file *f;
	uint64_t bias;
	int err;

	if ((m->flags & SZ_MAPPING_SHARED) || !m->ino || !m->path)
		return 0;
	if ((m->flags & SZ_MAPPING_PATH_INCOMPLETE) && (p->glob.flags & SZ_GLOB_PATHNAME)) {
		if (m->pgoff == 0)
			problem_at(p, m, SZ_REASON_PATH, -ENAMETOOLONG, NULL, 1,
				   "the file's full path is unknown (too deep or too long): "
				   "a path pattern cannot be checked against it");
		return 0;
	}
	if (!sz_glob_match_path(&p->glob, m->path))
		return 0;
	f = file_of(p, m, &err);
	if (!f) {
		if (err == -ENOMEM)
			return err;
		/* Once per file and process, through its first mapping. */
		if (err != -EAGAIN && m->pgoff == 0 && (m->prot & PROT_READ))
			problem_at(p, m, sz_reason_of(err), err, NULL, 1,
				   "cannot open the mapped file: %s", strerror(-err));
		return 0;
	}
	if (!speaks_for_load(p, f, m))
		return 0;
	if (f->err) {
		problem_at(p, m, sz_reason_of(f->err), f->err, NULL, !f->err_reported, "%s",
			   f->errmsg[0] ? f->errmsg : strerror(-f->err));
		f->err_reported = 1;
		return 0;
	}
	err = sz_elf_load_bias(&f->layout, m->start, m->end, m->pgoff, m->prot, p->pagesz, &bias);
	if (err) {
		problem_at(p, m, SZ_REASON_LAYOUT, err, NULL, !f->layout_reported,
			   "mapping %llx-%llx at offset %llx fits no loadable segment",
			   (unsigned long long)m->start, (unsigned long long)m->end,
			   (unsigned long long)m->pgoff);
		f->layout_reported = 1;
		return 0;
	}
	if (p->dedupe) {
		err = sz_loads_add(&p->loads, m->pid, f->dev, f->ino, bias, m->ts_ns);
		if (err < 0)
			return err;
		if (err == 0) {
			p->stats.duplicates++;
			return 0;
		}
	}
	return resolve_load(p, m, f, bias);
}

void sz_pipeline_forget(struct sz_pipeline *p, pid_t pid, uint64_t ts, int exited)
{
	sz_loads_forget(&p->loads, pid, ts);
	if (!exited)
		return;
	for (size_t i = 0; i < p->ncons; i++)
		if (p->cons[i].exited)
			p->cons[i].exited(p->cons[i].ctx, pid);
}

static int file_in_use(const struct sz_file *f, void *ctx)
{
	const struct sz_pipeline *p = ctx;

	/* Failed parses stay: they are small, and keep their problem explained
	 * once rather than again after every eviction. */
	return f->err || sz_loads_has_file(&p->loads, f->dev, f->ino);
}

struct prune_ctx {
	struct sz_pipeline *p;
	int (*alive)(pid_t pid, void *ctx);
	void *ctx;
	pid_t last;
	int last_alive;
};

static int alive_and_told(pid_t pid, void *ctx)
{
	struct prune_ctx *c = ctx;

	if (pid == c->last)
		return c->last_alive;
	c->last = pid;
	c->last_alive = c->alive(pid, c->ctx);
	if (!c->last_alive)
		for (size_t i = 0; i < c->p->ncons; i++)
			if (c->p->cons[i].exited)
				c->p->cons[i].exited(c->p->cons[i].ctx, pid);
	return c->last_alive;
}

void sz_pipeline_prune(struct sz_pipeline *p, int (*alive)(pid_t pid, void *ctx), void *ctx)
{
	struct prune_ctx c = { p, alive, ctx, 0, 1 };

	sz_loads_prune(&p->loads, alive_and_told, &c);
	if (p->dedupe)
		sz_cache_evict(&p->cache, file_in_use, p);
}

void sz_pipeline_for_each_pid(const struct sz_pipeline *p, void (*fn)(pid_t pid, void *ctx),
			      void *ctx)
{
	sz_loads_for_each_pid(&p->loads, fn, ctx);
}

void sz_pipeline_stats(const struct sz_pipeline *p, struct sz_stats *out)
{
	*out = p->stats;
	out->files_parsed = p->cache.parsed;
	out->files_cached = p->cache.count;
	out->files_open = p->cache.open;
	out->symbol_ids = sz_symbols_ids(p->cache.symbols);
	out->symbol_ids_overflow = sz_symbols_id_overflow(p->cache.symbols);
}
