// SPDX-License-Identifier: BSD-2-Clause
/*
 * `symbolyze symbolize`: addresses to function names, in a live process (its maps, the
 * file behind each mapping through /proc/PID/map_files, the load bias) or in a file
 * (addresses are ELF virtual addresses, as addr2line takes them).  Option parsing and
 * output only; the index and the debug files are src/elf's.
 */
#include "elf/sz_addr.h"
#include "proc/maps.h"
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>

int cmd_symbolize(int argc, char **argv);

enum { EXIT_NONE = 1, EXIT_USAGE = 2, EXIT_ENV = 3 };
#define MAX_FILES 256
#define MAPS_MAX (256u << 20)

/* One file met while symbolizing, parsed once however many addresses fall in it. */
struct file {
	dev_t dev;
	ino_t ino;
	int fd, err;
	struct sz_elf *elf;
	struct sz_layout layout;
	char build_id[2 * SZ_BUILD_ID_MAX + 1];
	char *path; /* as the process (or the user) names it */
	char *dir;  /* its directory, for .gnu_debuglink */
	char errmsg[160];
	int warned;
};

struct ctx {
	int json;
	pid_t pid;
	const char *debug_dir;
	int rootfd;
	struct file files[MAX_FILES];
	size_t nfiles;
	struct sz_map *maps;
	size_t nmaps;
	uint64_t pagesz;
	uint64_t total, named;
	char err[512];
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: symbolyze symbolize -p PID [--json] [--debug-dir DIR] [ADDR...]\n"
		   "       symbolyze symbolize FILE [--json] [--debug-dir DIR] [VADDR...]\n"
		   "Addresses are hexadecimal (0x optional); without any, they are read from\n"
		   "standard input.  With -p, runtime addresses in process PID; with FILE, ELF\n"
		   "virtual addresses (st_value, as addr2line takes them).\n");
}

static int parse_hex(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!*s || !strchr("0123456789abcdefABCDEF", *s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 16);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static void file_free(struct file *f)
{
	sz_elf_close(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->dir);
}

/* Take over FD (or record ERR) for the file ST, named PATH. */
static struct file *file_add(struct ctx *c, int fd, int err, const struct stat *st,
			     const char *path)
{
	struct file *f;

	if (c->nfiles == MAX_FILES) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	f = &c->files[c->nfiles++];
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->err = err;
	f->dev = st ? st->st_dev : 0;
	f->ino = st ? st->st_ino : 0;
	f->path = strdup(path);
	f->dir = sz_debug_dir_of(path);
	if (f->err)
		snprintf(f->errmsg, sizeof(f->errmsg), "%s", strerror(-f->err));
	else if ((f->err = sz_elf_open(fd, &f->elf, f->errmsg, sizeof(f->errmsg))) == 0) {
		const unsigned char *id;
		size_t len;

		sz_elf_layout(f->elf, &f->layout);
		if (sz_elf_build_id(f->elf, &id, &len) == 0)
			for (size_t i = 0; i < len; i++)
				snprintf(f->build_id + 2 * i, 3, "%02x", id[i]);
	}
	return f;
}

static void print_name(FILE *out, const struct sz_addr_sym *s, int json)
{
	char *name = strndup(s->name, s->name_len);
	size_t cap = s->name_len * 4 + 1;
	char *esc;

	if (!name)
		return;
	if (json) {
		sz_json_str(out, name);
	} else if ((esc = malloc(cap))) {
		fputs(sz_escape(name, esc, cap), out);
		free(esc);
	}
	free(name);
}

static void print_path(FILE *out, const char *path, int json)
{
	char esc[4 * PATH_MAX + 1];

	if (json)
		sz_json_str(out, path);
	else
		fputs(path ? sz_escape(path, esc, sizeof(esc)) : "-", out);
}

/* One line for ADDR: named (R == 0, F and S set), or not, with REASON. */
static void report(struct ctx *c, uint64_t addr, const struct file *f, int have_vaddr,
		   uint64_t vaddr, const struct sz_symbolized *s, const char *reason)
{
	FILE *out = stdout;

	if (!s && !reason)
		reason = "no symbol";
	c->total++;
	if (!reason)
		c->named++;
	if (c->json) {
		fprintf(out, "{\"event\":\"symbolized\",");
		if (c->pid)
			fprintf(out, "\"pid\":%d,", (int)c->pid);
		fprintf(out, "\"address\":\"0x%" PRIx64 "\",\"symbol\":", addr);
		if (reason) {
			fputs("null,\"offset\":null", out);
		} else {
			print_name(out, &s->sym, 1);
			fprintf(out, ",\"offset\":\"0x%" PRIx64 "\"", s->offset);
		}
		fputs(",\"path\":", out);
		sz_json_str(out, f ? f->path : NULL);
		fputs(",\"build_id\":", out);
		sz_json_str(out, f && f->build_id[0] ? f->build_id : NULL);
		fputs(",\"source\":", out);
		sz_json_str(out, reason ? NULL : sz_sym_source_str(s->source));
		fputs(",\"file_vaddr\":", out);
		if (have_vaddr)
			fprintf(out, "\"0x%" PRIx64 "\"", vaddr);
		else
			fputs("null", out);
		if (!reason) {
			fputs(",\"version\":", out);
			sz_json_str(out, s->sym.version);
			fprintf(out, ",\"size\":%" PRIu64 ",\"debug_file\":", s->sym.size);
			sz_json_str(out, s->debug_path);
		} else {
			fputs(",\"reason\":", out);
			sz_json_str(out, reason);
		}
		fputs("}\n", out);
		return;
	}
	fprintf(out, "0x%-16" PRIx64 " ", addr);
	if (reason) {
		fprintf(out, "?? (%s)", reason);
	} else {
		print_name(out, &s->sym, 0);
		fprintf(out, "+0x%" PRIx64 " [%s]", s->offset, sz_sym_source_str(s->source));
	}
	if (have_vaddr)
		fprintf(out, " vaddr 0x%" PRIx64, vaddr);
	if (f) {
		fputc(' ', out);
		print_path(out, f->path, 0);
	}
	fputc('\n', out);
}

static void warn_file(struct ctx *c, struct file *f, const char *what)
{
	char esc[4 * PATH_MAX + 1];

	if (f->warned || !what[0])
		return;
	f->warned = 1;
	fprintf(stderr, "symbolyze: %s: %s\n", sz_escape(f->path, esc, sizeof(esc)), what);
}

static void symbolize_in(struct ctx *c, struct file *f, uint64_t addr, uint64_t vaddr)
{
	struct sz_debug_where w = {
		.rootfd = c->rootfd,
		.dir = f->dir,
		.debug_dir = c->debug_dir,
		.dev = f->dev,
		.ino = f->ino,
	};
	struct sz_symbolized s;
	int r;

	r = sz_symbolize_vaddr(f->elf, &w, vaddr, &s, c->err, sizeof(c->err));
	if (c->err[0])
		warn_file(c, f, c->err); /* refused debug-file candidates, once per file */
	if (r == -ENOENT)
		report(c, addr, f, 1, vaddr, NULL, "no symbol");
	else if (r)
		report(c, addr, f, 1, vaddr, NULL, strerror(-r));
	else
		report(c, addr, f, 1, vaddr, &s, NULL);
}

static int maps_load(struct ctx *c)
{
	struct sz_maps_iter it;
	struct sz_map m;
	size_t cap = 0;
	int r = sz_maps_open(&it, "/proc", c->pid, MAPS_MAX);

	if (r)
		return r;
	while (sz_maps_next(&it, &m) == 1) {
		if (c->nmaps == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct sz_map *nv = realloc(c->maps, ncap * sizeof(*nv));

			if (!nv) {
				r = -ENOMEM;
				break;
			}
			c->maps = nv;
			cap = ncap;
		}
		m.path = strdup(m.path);
		if (!m.path) {
			r = -ENOMEM;
			break;
		}
		c->maps[c->nmaps++] = m;
	}
	sz_maps_close(&it);
	return r;
}

static struct file *file_of_map(struct ctx *c, const struct sz_map *m)
{
	struct stat st;
	int fd;

	for (size_t i = 0; i < c->nfiles; i++)
		if (c->files[i].ino == m->ino && c->files[i].dev != 0 &&
		    major(c->files[i].dev) == m->dev_major &&
		    minor(c->files[i].dev) == m->dev_minor)
			return &c->files[i];
	fd = sz_open_mapped("/proc", c->pid, m, &st);
	/* The device can differ from maps' (overlayfs): key by what maps says. */
	st.st_dev = makedev(m->dev_major, m->dev_minor);
	st.st_ino = (ino_t)m->ino;
	if (fd < 0)
		return file_add(c, -1, fd, &st, m->path);
	return file_add(c, fd, 0, &st, m->path);
}

static void symbolize_live(struct ctx *c, uint64_t addr)
{
	const struct sz_map *m = NULL;
	struct file *f;
	uint64_t bias;
	int r = -ENOENT;

	for (size_t i = 0; i < c->nmaps && !m; i++)
		if (c->maps[i].start <= addr && addr < c->maps[i].end)
			m = &c->maps[i];
	if (!m) {
		report(c, addr, NULL, 0, 0, NULL, "no mapping");
		return;
	}
	if (!sz_map_is_file(m)) {
		report(c, addr, NULL, 0, 0, NULL, "not a file mapping");
		return;
	}
	f = file_of_map(c, m);
	if (!f) {
		report(c, addr, NULL, 0, 0, NULL, "too many files");
		return;
	}
	if (f->err) {
		warn_file(c, f, f->errmsg);
		report(c, addr, f, 0, 0, NULL,
		       f->err == -ENOEXEC ? "not an ELF file"
		       : f->err == -ESRCH ? "mapping gone"
					  : "cannot read the file");
		return;
	}
	/* The load bias from this mapping, else from the nearest earlier mapping of the same
	 * file that begins a segment (a piece split off by mprotect begins none). */
	r = sz_elf_load_bias(&f->layout, m->start, m->end, m->pgoff, m->prot, c->pagesz, &bias);
	for (const struct sz_map *p = m; r && p-- > c->maps;)
		if (p->ino == m->ino && p->dev_major == m->dev_major &&
		    p->dev_minor == m->dev_minor)
			r = sz_elf_load_bias(&f->layout, p->start, p->end, p->pgoff, p->prot,
					     c->pagesz, &bias);
	if (r) {
		report(c, addr, f, 0, 0, NULL, "no load bias for this mapping");
		return;
	}
	symbolize_in(c, f, addr, addr - bias);
}

static int each_address(struct ctx *c, int n, char **v, struct file *offline)
{
	char word[64];
	int bad = 0;

	for (int i = 0; i < n; i++) {
		uint64_t a;

		if (parse_hex(v[i], &a)) {
			fprintf(stderr, "symbolyze: '%s' is not a hexadecimal address\n",
				sz_escape(v[i], word, sizeof(word)));
			return EXIT_USAGE;
		}
	}
	for (int i = 0; i < n; i++) {
		uint64_t a = 0;

		parse_hex(v[i], &a);
		if (offline)
			symbolize_in(c, offline, a, a);
		else
			symbolize_live(c, a);
	}
	if (n)
		return 0;
	/* No address on the command line: one per word of standard input. */
	while (scanf("%63s", word) == 1) {
		uint64_t a;

		if (parse_hex(word, &a)) {
			char esc[4 * sizeof(word)];

			fprintf(stderr, "symbolyze: '%s' is not a hexadecimal address\n",
				sz_escape(word, esc, sizeof(esc)));
			bad = 1;
			continue;
		}
		if (offline)
			symbolize_in(c, offline, a, a);
		else
			symbolize_live(c, a);
	}
	return bad ? EXIT_USAGE : 0;
}

static int open_offline(struct ctx *c, const char *path, struct file **out)
{
	char real[PATH_MAX], esc[4 * PATH_MAX + 1];
	struct stat st;
	struct file *f;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "symbolyze: %s: %s\n", sz_escape(path, esc, sizeof(esc)),
			fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return EXIT_NONE;
	}
	/* The user named this file: its real directory is where its debuglink points. */
	f = file_add(c, fd, 0, &st, realpath(path, real) ? real : path);
	if (!f || f->err) {
		fprintf(stderr, "symbolyze: %s: %s\n", sz_escape(path, esc, sizeof(esc)),
			f && f->errmsg[0] ? f->errmsg : "cannot parse");
		return EXIT_NONE;
	}
	*out = f;
	return 0;
}

int cmd_symbolize(int argc, char **argv)
{
	static const struct option opts[] = { { "pid", required_argument, NULL, 'p' },
					      { "json", no_argument, NULL, 'j' },
					      { "debug-dir", required_argument, NULL, 'D' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	struct ctx *c = calloc(1, sizeof(*c));
	struct file *offline = NULL;
	char real[PATH_MAX], esc[4 * PATH_MAX + 1];
	int opt, rc = 0;

	if (!c)
		return EXIT_ENV;
	c->rootfd = -1;
	c->pagesz = (uint64_t)sysconf(_SC_PAGESIZE);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "p:jh", opts, NULL)) != -1) {
		char *end;
		long v;

		switch (opt) {
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v <= 0 || v > INT_MAX) {
				fprintf(stderr, "symbolyze: -p wants a process ID, not '%s'\n",
					sz_escape(optarg, esc, sizeof(esc)));
				rc = EXIT_USAGE;
				goto out;
			}
			c->pid = (pid_t)v;
			break;
		case 'j':
			c->json = 1;
			break;
		case 'D':
			c->debug_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			goto out;
		default:
			usage(stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (!c->pid && optind >= argc) {
		fprintf(stderr, "symbolyze: symbolize wants -p PID or a FILE\n");
		usage(stderr);
		rc = EXIT_USAGE;
		goto out;
	}
	if (c->debug_dir && c->pid && c->debug_dir[0] != '/') {
		fprintf(stderr, "symbolyze: --debug-dir must be absolute with -p: it is a path "
				"in the process's filesystem view\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if (c->debug_dir && !c->pid) {
		if (!realpath(c->debug_dir, real)) {
			fprintf(stderr, "symbolyze: --debug-dir %s: %s\n",
				sz_escape(c->debug_dir, esc, sizeof(esc)), strerror(errno));
			rc = EXIT_USAGE;
			goto out;
		}
		c->debug_dir = real;
	}
	if (c->pid) {
		char root[64];

		rc = maps_load(c);
		if (rc) {
			fprintf(stderr, "symbolyze: /proc/%d/maps: %s\n", (int)c->pid,
				strerror(-rc));
			rc = rc == -ENOENT || rc == -ESRCH ? EXIT_NONE : EXIT_ENV;
			goto out;
		}
		/* Debug files are looked for in the process's own filesystem view. */
		snprintf(root, sizeof(root), "/proc/%d/root", (int)c->pid);
		c->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	} else {
		c->rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		rc = open_offline(c, argv[optind], &offline);
		if (rc)
			goto out;
		optind++;
	}
	if (c->rootfd < 0) {
		fprintf(stderr, "symbolyze: the process's root: %s\n", strerror(errno));
		rc = EXIT_ENV;
		goto out;
	}
	rc = each_address(c, argc - optind, argv + optind, offline);
	if (rc)
		goto out;
	if (c->json)
		printf("{\"event\":\"summary\",\"addresses\":%" PRIu64 ",\"symbolized\":%" PRIu64
		       ",\"unknown\":%" PRIu64 ",\"files\":%zu}\n",
		       c->total, c->named, c->total - c->named, c->nfiles);
	rc = c->total && !c->named ? EXIT_NONE : 0;
out:
	if (fflush(stdout) && !rc)
		rc = EXIT_ENV;
	for (size_t i = 0; i < c->nfiles; i++)
		file_free(&c->files[i]);
	for (size_t i = 0; i < c->nmaps; i++)
		free((void *)c->maps[i].path);
	free(c->maps);
	if (c->rootfd >= 0)
		close(c->rootfd);
	free(c);
	return rc;
}
