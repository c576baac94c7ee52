// SPDX-License-Identifier: BSD-2-Clause
/*
 * The scanner: walks /proc (or one process), feeds each matching mapping into
 * the one pipeline, and reports found symbols and explained problems to the
 * observers.  Nothing here prints.
 */
#include "pipeline/core.h"
#include "consumers/probe.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static const char *const reason_names[SZ_REASON_COUNT] = {
	[SZ_REASON_VANISHED] = "vanished", [SZ_REASON_PERMISSION] = "permission",
	[SZ_REASON_NOT_ELF] = "not-elf",   [SZ_REASON_SYMBOL_ABSENT] = "symbol-absent",
	[SZ_REASON_LAYOUT] = "layout",	   [SZ_REASON_IO] = "io",
};

const char *sz_reason_str(enum sz_reason r)
{
	return (unsigned)r < SZ_REASON_COUNT ? reason_names[r] : "unknown";
}

const char *sz_sym_type_str(enum sz_sym_type t)
{
	static const char *const names[] = { "notype", "func",	 "object", "ifunc",
					     "tls",    "common", "other" };

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "other";
}

const char *sz_source_str(enum sz_source s)
{
	switch (s) {
	case SZ_SOURCE_SCAN:
		return "scan";
	case SZ_SOURCE_EXEC:
		return "exec";
	case SZ_SOURCE_MMAP:
		return "mmap";
	case SZ_SOURCE_FORK:
		return "fork";
	}
	return "unknown";
}

enum sz_sym_type sz_sym_type_of(unsigned char stt)
{
	switch (stt) {
	case STT_NOTYPE:
		return SZ_SYM_NOTYPE;
	case STT_FUNC:
		return SZ_SYM_FUNC;
	case STT_OBJECT:
		return SZ_SYM_OBJECT;
	case STT_GNU_IFUNC:
		return SZ_SYM_IFUNC;
	case STT_TLS:
		return SZ_SYM_TLS;
	case STT_COMMON:
		return SZ_SYM_COMMON;
	}
	return SZ_SYM_OTHER;
}

uint64_t sz_now_ns(void)
{
	struct timespec ts;

	/* The clock of bpf_ktime_get_ns(), so scan and event times compare. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static enum sz_reason reason_of(int err)
{
	switch (err) {
	case -ESRCH:
	case -ENOENT:
		return SZ_REASON_VANISHED;
	case -EACCES:
	case -EPERM:
		return SZ_REASON_PERMISSION;
	case -ENOEXEC:
		return SZ_REASON_NOT_ELF;
	}
	return SZ_REASON_IO;
}

int sz_scanner_new(const struct sz_scanner_opts *opts, struct sz_scanner **out)
{
	struct sz_scanner *s;
	int err;

	*out = NULL;
	if (!opts || opts->sz < sizeof(size_t) || !opts->glob || !opts->nsymbols ||
	    !opts->symbols || opts->nsymbols > SZ_MAX_SYMBOLS)
		return -EINVAL;
	for (size_t i = 0; i < opts->nsymbols; i++)
		if (!opts->symbols[i] || !*opts->symbols[i] || *opts->symbols[i] == '@')
			return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	/* Copy what the caller's (possibly older, smaller) struct holds. */
	memcpy(&s->opts, opts, opts->sz < sizeof(s->opts) ? opts->sz : sizeof(s->opts));
	s->opts.sz = sizeof(s->opts);
	err = sz_glob_compile(opts->glob, &s->glob);
	if (err)
		goto fail;
	err = -ENOMEM;
	s->symbols = calloc(opts->nsymbols, sizeof(*s->symbols));
	s->glob_text = strdup(opts->glob);
	if (!s->symbols || !s->glob_text)
		goto fail;
	for (size_t i = 0; i < opts->nsymbols; i++) {
		s->symbols[i] = strdup(opts->symbols[i]);
		if (!s->symbols[i])
			goto fail;
		s->nsymbols++;
	}
	s->opts.glob = s->glob_text;
	s->opts.symbols = (const char *const *)s->symbols;
	snprintf(s->proc, sizeof(s->proc), "%s", s->opts.proc ? s->opts.proc : "/proc");
	s->opts.proc = s->proc;
	s->pagesz = (uint64_t)sysconf(_SC_PAGESIZE);
	s->self = getpid();
	sz_cache_init(&s->cache, s->nsymbols);
	*out = s;
	return 0;
fail:
	sz_scanner_free(s);
	return err;
}

void sz_scanner_free(struct sz_scanner *s)
{
	if (!s)
		return;
	sz_cache_fini(&s->cache);
	for (size_t i = 0; i < s->nsymbols; i++)
		free(s->symbols[i]);
	free(s->symbols);
	free(s->glob_text);
	free(s);
}

static int add_observer(struct sz_scanner *s, sz_found_fn f, sz_problem_fn p, void *ctx)
{
	if (!s || (!f && !p))
		return -EINVAL;
	if (s->nobs >= SZ_MAX_OBSERVERS)
		return -E2BIG;
	s->obs[s->nobs++] = (struct sz_observer){ f, p, ctx };
	return 0;
}

int sz_scanner_on_found(struct sz_scanner *s, sz_found_fn fn, void *ctx)
{
	return add_observer(s, fn, NULL, ctx);
}

int sz_scanner_on_problem(struct sz_scanner *s, sz_problem_fn fn, void *ctx)
{
	return add_observer(s, NULL, fn, ctx);
}

void sz_scanner_stats(const struct sz_scanner *s, struct sz_stats *out)
{
	*out = s->stats;
	out->files_parsed = s->cache.parsed;
}

void sz_problem_emit(struct sz_scanner *s, enum sz_reason reason, int err,
		     const struct sz_proc_ctx *p, const char *path, const char *symbol, int first,
		     const char *fmt, ...)
{
	struct sz_problem pr = { .reason = reason,
				 .err = err,
				 .path = path,
				 .symbol = symbol,
				 .first = first };
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr.message = msg;
	if (p) {
		pr.pid = p->pid;
		pr.comm = p->have_comm ? p->comm : NULL;
	}
	s->stats.problems[reason]++;
	for (size_t i = 0; i < s->nobs; i++)
		if (s->obs[i].problem)
			s->obs[i].problem(&pr, s->obs[i].ctx);
}

static void load_comm(struct sz_scanner *s, struct sz_proc_ctx *p)
{
	char path[320], *buf = NULL;
	ssize_t n;

	if (p->have_comm)
		return;
	snprintf(path, sizeof(path), "%s/%d/comm", s->proc, (int)p->pid);
	n = sz_read_file(AT_FDCWD, path, sizeof(p->comm) * 2, &buf);
	if (n > 0) {
		if (buf[n - 1] == '\n')
			buf[--n] = '\0';
		snprintf(p->comm, sizeof(p->comm), "%s", buf);
	} else {
		p->comm[0] = '\0';
	}
	free(buf);
	p->have_comm = 1;
}

/* Probes go on before the found record is delivered: whoever sees the record
 * may rely on the function being watched from then on. */
static void attach_probe(struct sz_scanner *s, const struct sz_proc_ctx *p, const struct sz_map *m,
			 const struct sz_file *f, size_t i, struct sz_found *fd)
{
	char err[160] = "uprobe attach failed";
	int r;

	if (fd->type == SZ_SYM_IFUNC) {
		fd->probe_note = "ifunc: not probed (it only selects an implementation)";
		return;
	}
	if (fd->type != SZ_SYM_FUNC && fd->type != SZ_SYM_NOTYPE) {
		fd->probe_note = "not a function: not probed";
		return;
	}
	if (!fd->has_file_offset) {
		fd->probe_note = "no file offset: not probed";
		return;
	}
	r = sz_probe_mgr_attach(s->probes, f->fd, f->dev, f->ino, (uint32_t)i, fd->file_offset,
				p->pid, err, sizeof(err));
	if (r < 0) {
		sz_problem_emit(s, SZ_REASON_IO, r, p, m->path, s->symbols[i], 1, "%s", err);
		fd->probe_note = "uprobe attach failed";
		return;
	}
	fd->probed = 1;
}

int sz_handle_mapping(struct sz_scanner *s, enum sz_source src, struct sz_proc_ctx *p,
		      const struct sz_map *m, struct sz_file *f)
{
	uint64_t bias;
	int err;

	load_comm(s, p);
	if (f->err) {
		sz_problem_emit(s, reason_of(f->err), f->err, p, m->path, NULL, !f->err_reported,
				"%s", f->errmsg[0] ? f->errmsg : strerror(-f->err));
		f->err_reported = 1;
		return 0;
	}
	err = sz_elf_load_bias(&f->layout, m->start, m->end, m->pgoff, m->prot, s->pagesz, &bias);
	if (err) {
		sz_problem_emit(s, SZ_REASON_LAYOUT, err, p, m->path, NULL, 1,
				"mapping %llx-%llx at offset %llx fits no loadable segment",
				(unsigned long long)m->start, (unsigned long long)m->end,
				(unsigned long long)m->pgoff);
		return 0;
	}
	if (s->loads) {
		int r = sz_loads_add(s->loads, p->pid, f->dev, f->ino, bias, p->ts);

		if (r == 0) {
			s->duplicates++;
			return 0;
		}
	}
	s->stats.mappings++;
	for (size_t i = 0; i < s->nsymbols; i++) {
		struct sz_symres *r = sz_file_symbol(f, i, s->symbols[i]);
		struct sz_found fd;

		if (r->err || r->sym.type == STT_TLS) {
			int first = !r->reported;

			r->reported = 1;
			if (r->err)
				sz_problem_emit(s, SZ_REASON_SYMBOL_ABSENT, r->err, p, m->path,
						s->symbols[i], first, "symbol %s not found",
						s->symbols[i]);
			else
				sz_problem_emit(s, SZ_REASON_LAYOUT, -EINVAL, p, m->path,
						s->symbols[i], first,
						"symbol %s is thread-local: no process-wide address",
						s->symbols[i]);
			continue;
		}
		memset(&fd, 0, sizeof(fd));
		fd.source = src;
		fd.pid = p->pid;
		fd.comm = p->comm;
		fd.path = m->path;
		fd.deleted = m->deleted;
		fd.dev = (uint64_t)f->dev;
		fd.ino = (uint64_t)f->ino;
		fd.build_id = f->build_id[0] ? f->build_id : NULL;
		fd.symbol = s->symbols[i];
		fd.version = r->sym.version;
		fd.type = sz_sym_type_of(r->sym.type);
		fd.value = r->sym.value;
		fd.size = r->sym.size;
		fd.load_bias = bias;
		fd.address = bias + r->sym.value;
		fd.has_file_offset = r->has_off;
		fd.file_offset = r->off;
		if (s->probes)
			attach_probe(s, p, m, f, i, &fd);
		s->stats.found++;
		for (size_t o = 0; o < s->nobs; o++) {
			int rc;

			if (!s->obs[o].found)
				continue;
			rc = s->obs[o].found(&fd, s->obs[o].ctx);
			if (rc)
				return rc;
		}
	}
	return 0;
}

struct sz_file *sz_scanner_file(struct sz_scanner *s, pid_t pid, const struct sz_map *m, int *errp)
{
	struct stat st;
	struct sz_file *f;
	char path[320];
	int fd;

	*errp = 0;
	/* stat() through map_files is cheaper than open() and enough for a hit. */
	snprintf(path, sizeof(path), "%s/%d/map_files/%llx-%llx", s->proc, (int)pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_ino == m->ino) {
		f = sz_cache_find(&s->cache, &st);
		if (f)
			return f;
	}
	fd = sz_open_mapped(s->proc, pid, m, &st);
	if (fd < 0) {
		*errp = fd;
		return NULL;
	}
	f = sz_cache_find(&s->cache, &st);
	if (f) {
		close(fd);
		return f;
	}
	f = sz_cache_add(&s->cache, fd, &st);
	if (!f)
		*errp = -ENOMEM;
	return f;
}

/* One matching file of a process, so that its several mappings cost one open. */
struct seen_file {
	unsigned maj, min;
	uint64_t ino;
	struct sz_file *f;
	int err;
};

static int scan_pid(struct sz_scanner *s, pid_t pid, enum sz_source src)
{
	struct sz_proc_ctx p = { .pid = pid, .ts = sz_now_ns() };
	struct seen_file *seen = NULL;
	size_t n = 0, cap = 0;
	struct sz_maps_iter it;
	struct sz_map m;
	int rc;

	rc = sz_maps_open(&it, s->proc, pid, SZ_MAPS_MAX);
	if (rc) {
		s->stats.processes_unreadable++;
		sz_problem_emit(s, reason_of(rc), rc, &p, NULL, NULL, 1,
				"cannot read %s/%d/maps: %s", s->proc, (int)pid, strerror(-rc));
		return 0;
	}
	s->stats.processes++;
	while (!rc && sz_maps_next(&it, &m)) {
		struct seen_file *k = NULL;

		if (!sz_map_is_file(&m) || m.shared || !sz_glob_match_path(&s->glob, m.path))
			continue;
		for (size_t i = 0; i < n && !k; i++)
			if (seen[i].ino == m.ino && seen[i].maj == m.dev_major &&
			    seen[i].min == m.dev_minor)
				k = &seen[i];
		if (!k) {
			if (n == cap) {
				struct seen_file *ns = realloc(seen, (cap = cap ? 2 * cap : 8) *
									     sizeof(*seen));

				if (!ns) {
					rc = -ENOMEM;
					break;
				}
				seen = ns;
			}
			k = &seen[n++];
			*k = (struct seen_file){ m.dev_major, m.dev_minor, m.ino, NULL, 0 };
			k->f = sz_scanner_file(s, pid, &m, &k->err);
		}
		if (!k->f) {
			/* Only the load-instance mapping speaks for the file, so one
			 * unreadable library is one problem, not one per mapping. */
			if (m.pgoff == 0 && (m.prot & PROT_READ)) {
				load_comm(s, &p);
				sz_problem_emit(s, reason_of(k->err), k->err, &p, m.path, NULL, 1,
						"cannot open mapped file: %s", strerror(-k->err));
			}
			continue;
		}
		/* The load's code mapping speaks for it (as in the watch); a file
		 * that is not ELF, through its first page. */
		if (k->f->err ? m.pgoff != 0
			      : !sz_elf_is_code_mapping(&k->f->layout, m.pgoff, m.prot, s->pagesz))
			continue;
		rc = sz_handle_mapping(s, src, &p, &m, k->f);
	}
	free(seen);
	sz_maps_close(&it);
	return rc;
}

int sz_scanner_scan_pid(struct sz_scanner *s, pid_t pid, enum sz_source src)
{
	return scan_pid(s, pid, src);
}

int sz_scanner_scan(struct sz_scanner *s)
{
	struct dirent *de;
	DIR *dir;
	int rc = 0;

	if (!s)
		return -EINVAL;
	if (s->opts.pid > 0)
		return scan_pid(s, s->opts.pid, SZ_SOURCE_SCAN);
	dir = opendir(s->proc);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		char *end;
		long pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid > 0x7fffffff)
			continue;
		/* Not ourselves: libelf maps the files we parse. */
		if ((pid_t)pid == s->self)
			continue;
		rc = scan_pid(s, (pid_t)pid, SZ_SOURCE_SCAN);
		if (rc)
			break;
	}
	closedir(dir);
	return rc;
}

int sz_scan(const struct sz_scanner_opts *opts, sz_found_fn fn, void *ctx)
{
	struct sz_scanner *s;
	int err = sz_scanner_new(opts, &s);

	if (err)
		return err;
	err = sz_scanner_on_found(s, fn, ctx);
	if (!err)
		err = sz_scanner_scan(s);
	sz_scanner_free(s);
	return err;
}
