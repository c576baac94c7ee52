// SPDX-License-Identifier: BSD-2-Clause
/*
 * `symbolyze list`: the functions, objects and USDT probes of matching files,
 * in running processes (-g GLOB [-p PID], each file once by device and inode)
 * or of one FILE offline, as `bpftrace -l` and bcc's tplist show them.
 */
#include "cli/output.h"
#include "elf/symsel.h"
#include "elf/usdt.h"
#include "proc/maps.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int cmd_list(int argc, char **argv); /* registered in main.c's commands[] */

enum { EXIT_NOMATCH = 1, EXIT_USAGE = 2, EXIT_ENV = 3 };

#define MAX_PATTERNS 64
#define MAPS_MAX (256u << 20)

struct list_cfg {
	const char *file, *glob_text;
	struct sz_glob glob;
	pid_t pid;
	int json;
	size_t nsym, nusdt;
	struct sz_sympat sym[MAX_PATTERNS];
	struct sz_usdt_pattern usdt[MAX_PATTERNS];
	int want_syms, want_usdt;
};

struct list_stats {
	uint64_t processes, unreadable, files, functions, objects, usdt, problems, too_long,
		unparsed_args;
};

struct file_id {
	dev_t dev;
	ino_t ino;
};

struct list_ctx {
	struct list_cfg *cfg;
	struct list_stats st;
	struct file_id *seen;
	size_t nseen, capseen;
};

static const char *type_str(unsigned char t)
{
	return t == STT_FUNC ? "func" : t == STT_GNU_IFUNC ? "ifunc" : "object";
}

static void print_file_fields(FILE *f, const char *path, const struct stat *st, pid_t pid)
{
	fputs("\"path\":", f);
	sz_json_str(f, path);
	fprintf(f, ",\"dev\":\"%u:%u\",\"ino\":%" PRIu64 ",\"pid\":", major(st->st_dev),
		minor(st->st_dev), (uint64_t)st->st_ino);
	if (pid > 0)
		fprintf(f, "%d", (int)pid);
	else
		fputs("null", f);
}

static void list_symbols(struct list_ctx *x, const struct sz_elf *e, const char *path,
			 const struct stat *st, pid_t pid)
{
	char buf[4 * 4096 + 1], nbuf[4 * 1024 + 1], vbuf[4 * 1024 + 1];
	struct sz_selsyms ev;

	if (sz_symsel(e, x->cfg->sym, x->cfg->nsym, &ev, NULL)) {
		fprintf(stderr, "symbolyze: %s: out of memory listing symbols\n",
			sz_escape(path, buf, sizeof(buf)));
		x->st.problems++;
	}
	x->st.too_long += ev.too_long;
	for (size_t i = 0; i < ev.n; i++) {
		const struct sz_selsym *s = &ev.v[i];

		if (s->type == STT_OBJECT)
			x->st.objects++;
		else
			x->st.functions++;
		if (!x->cfg->json) {
			printf("%s:%s:%s%s%s\n", s->type == STT_OBJECT ? "object" : "uprobe",
			       sz_escape(path, buf, sizeof(buf)),
			       sz_escape(s->name, nbuf, sizeof(nbuf)),
			       s->version ? (s->hidden ? "@" : "@@") : "",
			       s->version ? sz_escape(s->version, vbuf, sizeof(vbuf)) : "");
			continue;
		}
		fputs("{\"event\":\"symbol\",", stdout);
		print_file_fields(stdout, path, st, pid);
		fputs(",\"name\":", stdout);
		sz_json_str(stdout, s->name);
		fputs(",\"version\":", stdout);
		sz_json_str(stdout, s->version);
		printf(",\"default\":%s,\"type\":\"%s\",\"value\":\"0x%" PRIx64
		       "\",\"size\":%" PRIu64 ",\"file_offset\":",
		       s->version && s->hidden ? "false" : "true", type_str(s->type), s->value,
		       s->size);
		if (s->has_off)
			printf("\"0x%" PRIx64 "\"", s->off);
		else
			fputs("null", stdout);
		printf(",\"table\":\"%s\"}\n", s->table == SZ_TAB_SYMTAB ? "symtab" : "dynsym");
	}
	sz_selsyms_free(&ev);
}

static void print_arg_json(const struct sz_usdt_probe *p, const struct sz_usdt_arg *a)
{
	printf("{\"size\":%u,\"signed\":%s,\"kind\":\"%s\"", a->size,
	       a->is_signed ? "true" : "false",
	       a->kind == SZ_USDT_ARG_CONST ? "const"
	       : a->kind == SZ_USDT_ARG_REG ? "reg"
					    : "mem");
	if (a->kind == SZ_USDT_ARG_CONST) {
		printf(",\"value\":%" PRId64 "}", a->val);
		return;
	}
	printf(",\"reg\":\"%s\"", sz_usdt_reg_name(a->reg, a->reg_bytes));
	if (a->kind == SZ_USDT_ARG_MEM) {
		char sym[SZ_USDT_STR_MAX + 1];

		printf(",\"offset\":%" PRId64 ",\"symbol\":", a->val);
		snprintf(sym, sizeof(sym), "%.*s", (int)a->sym_len, p->spec + a->sym_off);
		sz_json_str(stdout, a->sym_len ? sym : NULL);
	}
	putchar('}');
}

static void list_usdt(struct list_ctx *x, const struct sz_elf *e, const char *path,
		      const struct stat *st, pid_t pid)
{
	char buf[4 * 4096 + 1], pbuf[4 * 1024 + 1], nbuf[4 * 1024 + 1], err[256];
	struct sz_usdt_set *set;
	int r = sz_usdt_read(e, &set, err, sizeof(err));

	if (r) {
		fprintf(stderr, "symbolyze: %s: %s\n", sz_escape(path, buf, sizeof(buf)), err);
		x->st.problems++;
		if (x->cfg->json) {
			fputs("{\"event\":\"error\",\"reason\":\"usdt_notes\",", stdout);
			print_file_fields(stdout, path, st, pid);
			fputs(",\"message\":", stdout);
			sz_json_str(stdout, err);
			fputs("}\n", stdout);
		}
		return;
	}
	for (size_t i = 0; i < set->n; i++) {
		const struct sz_usdt_probe *p = &set->probes[i];
		int match = !x->cfg->nusdt;

		for (size_t k = 0; k < x->cfg->nusdt && !match; k++)
			match = sz_usdt_pattern_match(&x->cfg->usdt[k], p);
		if (!match)
			continue;
		x->st.usdt++;
		if (p->args_err)
			x->st.unparsed_args++;
		if (!x->cfg->json) {
			printf("usdt:%s:%s:%s\n", sz_escape(path, buf, sizeof(buf)),
			       sz_escape(p->provider, pbuf, sizeof(pbuf)),
			       sz_escape(p->name, nbuf, sizeof(nbuf)));
			continue;
		}
		fputs("{\"event\":\"usdt\",", stdout);
		print_file_fields(stdout, path, st, pid);
		fputs(",\"provider\":", stdout);
		sz_json_str(stdout, p->provider);
		fputs(",\"name\":", stdout);
		sz_json_str(stdout, p->name);
		printf(",\"pc\":\"0x%" PRIx64 "\",\"file_offset\":", p->pc);
		if (p->loc_err)
			fputs("null", stdout);
		else
			printf("\"0x%" PRIx64 "\"", p->pc_offset);
		fputs(",\"semaphore\":", stdout);
		if (p->sema)
			printf("\"0x%" PRIx64 "\",\"semaphore_offset\":\"0x%" PRIx64 "\"", p->sema,
			       p->sema_offset);
		else
			fputs("null,\"semaphore_offset\":null", stdout);
		fputs(",\"spec\":", stdout);
		sz_json_str(stdout, p->spec);
		fputs(",\"args\":", stdout);
		if (p->args_err) {
			snprintf(err, sizeof(err), "argument spec does not parse at byte %d: %s",
				 p->args_pos, strerror(-p->args_err));
			fputs("null,\"args_error\":", stdout);
			sz_json_str(stdout, err);
		} else {
			putchar('[');
			for (int k = 0; k < p->nargs; k++) {
				if (k)
					putchar(',');
				print_arg_json(p, &p->args[k]);
			}
			putchar(']');
		}
		fputs("}\n", stdout);
	}
	sz_usdt_set_free(set);
}

static void problem(struct list_ctx *x, const char *path, pid_t pid, const char *reason,
		    const char *msg)
{
	char buf[4 * 4096 + 1];

	x->st.problems++;
	fprintf(stderr, "symbolyze: %s: %s\n", sz_escape(path, buf, sizeof(buf)), msg);
	if (x->cfg->json) {
		printf("{\"event\":\"error\",\"reason\":\"%s\",\"path\":", reason);
		sz_json_str(stdout, path);
		printf(",\"pid\":");
		if (pid > 0)
			printf("%d", (int)pid);
		else
			fputs("null", stdout);
		fputs(",\"message\":", stdout);
		sz_json_str(stdout, msg);
		fputs("}\n", stdout);
	}
}

/* List the file open on FD (kept by the caller). */
static void list_fd(struct list_ctx *x, int fd, const char *path, const struct stat *st, pid_t pid)
{
	struct sz_elf *e;
	char err[256];

	if (sz_elf_open(fd, &e, err, sizeof(err))) {
		problem(x, path, pid, "not_elf", err);
		return;
	}
	x->st.files++;
	if (x->cfg->want_syms)
		list_symbols(x, e, path, st, pid);
	if (x->cfg->want_usdt)
		list_usdt(x, e, path, st, pid);
	sz_elf_close(e);
}

/* 1 if (DEV, INO) was listed already, else remember it (0), -ENOMEM. */
static int seen_before(struct list_ctx *x, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < x->nseen; i++)
		if (x->seen[i].dev == dev && x->seen[i].ino == ino)
			return 1;
	if (x->nseen == x->capseen) {
		size_t cap = x->capseen ? x->capseen * 2 : 64;
		struct file_id *v = realloc(x->seen, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		x->seen = v;
		x->capseen = cap;
	}
	x->seen[x->nseen++] = (struct file_id){ dev, ino };
	return 0;
}

static void list_pid(struct list_ctx *x, pid_t pid)
{
	struct sz_maps_iter it;
	struct sz_map m;
	int r = sz_maps_open(&it, "/proc", pid, MAPS_MAX);

	if (r) {
		if (r != -ENOENT && r != -ESRCH)
			x->st.unreadable++;
		return;
	}
	x->st.processes++;
	while (sz_maps_next(&it, &m) == 1) {
		struct stat st;
		char msg[256];
		int fd;

		if (!sz_map_is_file(&m) || !sz_glob_match_path(&x->cfg->glob, m.path))
			continue;
		/* Before any open: the maps line already names the inode. */
		if (seen_before(x, makedev(m.dev_major, m.dev_minor), (ino_t)m.ino))
			continue;
		fd = sz_open_mapped("/proc", pid, &m, &st);
		if (fd < 0) {
			snprintf(msg, sizeof(msg), "cannot open as mapped by pid %d: %s", (int)pid,
				 strerror(-fd));
			problem(x, m.path, pid, "open", msg);
			continue;
		}
		/* overlayfs: stat's identity may differ from the maps line's, and
		 * then it is the one to dedupe on too. */
		if ((st.st_dev != makedev(m.dev_major, m.dev_minor) || st.st_ino != m.ino) &&
		    seen_before(x, st.st_dev, st.st_ino) == 1) {
			close(fd);
			continue;
		}
		list_fd(x, fd, m.path, &st, pid);
		close(fd);
	}
	sz_maps_close(&it);
}

static void list_procs(struct list_ctx *x)
{
	pid_t self = getpid();
	struct dirent *d;
	DIR *dir;

	if (x->cfg->pid > 0) {
		list_pid(x, x->cfg->pid);
		return;
	}
	dir = opendir("/proc");
	if (!dir) {
		problem(x, "/proc", 0, "proc", strerror(errno));
		return;
	}
	while ((d = readdir(dir))) {
		char *end;
		long v = strtol(d->d_name, &end, 10);

		if (*end || v <= 0 || v > INT_MAX || (pid_t)v == self)
			continue;
		list_pid(x, (pid_t)v);
	}
	closedir(dir);
}

static void usage_list(FILE *f)
{
	fprintf(f, "Usage: symbolyze list -g GLOB [-p PID] [-s GLOB]... [-u PROVIDER:NAME]... "
		   "[--json]\n"
		   "       symbolyze list FILE [-s GLOB]... [-u PROVIDER:NAME]... [--json]\n");
}

static int parse_list_args(int argc, char **argv, struct list_cfg *c)
{
	static const struct option opts[] = {
		{ "glob", required_argument, NULL, 'g' },
		{ "pid", required_argument, NULL, 'p' },
		{ "symbol", required_argument, NULL, 's' },
		{ "usdt", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "g:p:s:u:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'g':
			c->glob_text = optarg;
			if (sz_glob_compile(optarg, &c->glob)) {
				fprintf(stderr, "symbolyze: -g: bad pattern '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'p': {
			char *end;
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v <= 0 || v > INT_MAX) {
				fprintf(stderr, "symbolyze: -p: not a process id: '%s'\n", optarg);
				return EXIT_USAGE;
			}
			c->pid = (pid_t)v;
			break;
		}
		case 's':
			if (c->nsym == MAX_PATTERNS) {
				fprintf(stderr, "symbolyze: -s: at most %d patterns\n",
					MAX_PATTERNS);
				return EXIT_USAGE;
			}
			if (sz_sympat_compile(optarg, &c->sym[c->nsym])) {
				fprintf(stderr, "symbolyze: -s: bad pattern '%s'\n", optarg);
				return EXIT_USAGE;
			}
			c->nsym++;
			break;
		case 'u':
			if (c->nusdt == MAX_PATTERNS) {
				fprintf(stderr, "symbolyze: -u: at most %d patterns\n",
					MAX_PATTERNS);
				return EXIT_USAGE;
			}
			if (sz_usdt_pattern_compile(optarg, &c->usdt[c->nusdt], err, sizeof(err))) {
				fprintf(stderr, "symbolyze: -u: %s\n", err);
				return EXIT_USAGE;
			}
			c->nusdt++;
			break;
		case 'j':
			c->json = 1;
			break;
		case 'h':
			usage_list(stdout);
			return -1;
		default:
			usage_list(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind == 1 && !c->glob_text && !c->pid) {
		c->file = argv[optind];
	} else if (argc - optind || !c->glob_text) {
		fprintf(stderr, "symbolyze: list wants -g GLOB [-p PID], or one FILE\n");
		usage_list(stderr);
		return EXIT_USAGE;
	}
	/* Neither -s nor -u: everything; otherwise what was asked for. */
	c->want_syms = c->nsym || !c->nusdt;
	c->want_usdt = c->nusdt || !c->nsym;
	return 0;
}

int cmd_list(int argc, char **argv)
{
	struct list_cfg *c = calloc(1, sizeof(*c));
	struct list_ctx x = { 0 };
	int rc;

	if (!c) {
		fprintf(stderr, "symbolyze: out of memory\n");
		return EXIT_ENV;
	}
	x.cfg = c;
	rc = parse_list_args(argc, argv, c);
	if (rc) {
		free(c);
		return rc < 0 ? 0 : rc;
	}
	if (c->file) {
		char buf[4 * 4096 + 1];
		struct stat st;
		int fd = open(c->file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

		if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "symbolyze: %s: %s\n", sz_escape(c->file, buf, sizeof(buf)),
				fd < 0 ? strerror(errno) : "not a regular file");
			if (fd >= 0)
				close(fd);
			free(c);
			return EXIT_NOMATCH;
		}
		list_fd(&x, fd, c->file, &st, 0);
		close(fd);
	} else {
		list_procs(&x);
	}
	if (c->json)
		printf("{\"event\":\"summary\",\"command\":\"list\",\"processes\":%" PRIu64
		       ",\"unreadable\":%" PRIu64 ",\"files\":%" PRIu64 ",\"functions\":%" PRIu64
		       ",\"objects\":%" PRIu64 ",\"usdt\":%" PRIu64 ",\"problems\":%" PRIu64
		       ",\"names_too_long\":%" PRIu64 ",\"unparsed_args\":%" PRIu64 "}\n",
		       x.st.processes, x.st.unreadable, x.st.files, x.st.functions, x.st.objects,
		       x.st.usdt, x.st.problems, x.st.too_long, x.st.unparsed_args);
	fprintf(stderr,
		"symbolyze: list: %" PRIu64 " functions, %" PRIu64 " objects, %" PRIu64
		" USDT probes in %" PRIu64 " files",
		x.st.functions, x.st.objects, x.st.usdt, x.st.files);
	if (!c->file)
		fprintf(stderr, "; %" PRIu64 " processes scanned, %" PRIu64 " unreadable",
			x.st.processes, x.st.unreadable);
	if (x.st.problems)
		fprintf(stderr, "; %" PRIu64 " problems", x.st.problems);
	if (x.st.too_long)
		fprintf(stderr, "; %" PRIu64 " names longer than %d bytes not matched",
			x.st.too_long, SZ_GLOB_MAX_NAME);
	fputc('\n', stderr);
	rc = x.st.functions + x.st.objects + x.st.usdt ? 0 : EXIT_NOMATCH;
	free(x.seen);
	free(c);
	if (fflush(stdout) || ferror(stdout))
		return EXIT_ENV;
	return rc;
}
