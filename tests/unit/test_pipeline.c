// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of the pipeline, its sources and its file cache, without root
 * and without BPF: a fake /proc (maps lines, comm, map_files links to real
 * fixture files) feeds the scan source, and watch records are decoded into
 * mapping records.  Addresses are checked against the fixture's own symbol
 * table; the real processes' ground truth (dlsym) is the integration tests'.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/pipeline.h"
#include "sources/scan.h"
#include "sources/watch_rec.h"
#include "util/opts.h"

static char fixdir[PATH_MAX], procdir[512];

static const char *fixture(const char *name)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", fixdir, name);
	return path;
}

/* Write PATH with CONTENT. */
static void put(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

/* A fake process PID mapping FILE at BASE the way ld.so does (each PT_LOAD
 * at base + vaddr, page-aligned), plus a MAP_SHARED reader of it if SHARED. */
static void fake_process(pid_t pid, const char *comm, const char *file, uint64_t base,
			 int shared)
{
	char dir[700], path[800], line[PATH_MAX + 256], maps[4 * PATH_MAX] = "";
	struct sz_elf *e = NULL;
	struct sz_layout l;
	struct stat st;
	char err[160];
	int fd;

	snprintf(dir, sizeof(dir), "%s/%d", procdir, (int)pid);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/map_files", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/comm", dir);
	put(path, comm);
	assert_int_equal(stat(file, &st), 0);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	if (sz_elf_open(fd, &e, err, sizeof(err)) == 0) {
		sz_elf_layout(e, &l);
		for (size_t i = 0; i < l.nseg; i++) {
			const struct sz_segment *s = &l.seg[i];
			uint64_t start = base + (s->vaddr & ~0xfffull);
			uint64_t end = (base + s->vaddr + s->filesz + 0xfff) & ~0xfffull;

			if (s->type != PT_LOAD)
				continue;
			snprintf(line, sizeof(line), "%llx-%llx %c%c%cp %08llx %02x:%02x %llu %s\n",
				 (unsigned long long)start, (unsigned long long)end,
				 s->flags & PF_R ? 'r' : '-', s->flags & PF_W ? 'w' : '-',
				 s->flags & PF_X ? 'x' : '-',
				 (unsigned long long)(s->offset & ~0xfffull), major(st.st_dev),
				 minor(st.st_dev), (unsigned long long)st.st_ino, file);
			strcat(maps, line);
			snprintf(path, sizeof(path), "%s/map_files/%llx-%llx", dir,
				 (unsigned long long)start, (unsigned long long)end);
			assert_int_equal(symlink(file, path), 0);
		}
		sz_elf_close(e);
	} else {
		/* Not ELF: mapped executable, or it would be mere data. */
		snprintf(line, sizeof(line), "%llx-%llx r-xp 00000000 %02x:%02x %llu %s\n",
			 (unsigned long long)base, (unsigned long long)base + 0x1000,
			 major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino, file);
		strcat(maps, line);
		snprintf(path, sizeof(path), "%s/map_files/%llx-%llx", dir,
			 (unsigned long long)base, (unsigned long long)base + 0x1000);
		assert_int_equal(symlink(file, path), 0);
	}
	close(fd);
	if (shared) {
		snprintf(line, sizeof(line), "7f0000000000-7f0000001000 r--s 00000000 %02x:%02x %llu %s\n",
			 major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino, file);
		strcat(maps, line);
	}
	snprintf(path, sizeof(path), "%s/maps", dir);
	put(path, maps);
}

/* The fixture's own value of SYM: the address the pipeline must report is
 * BASE + this (libfix's first PT_LOAD has vaddr 0). */
static uint64_t sym_value(const char *file, const char *sym)
{
	struct sz_elf *e = NULL;
	struct sz_elf_sym s;
	char err[160];
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(sz_elf_open(fd, &e, err, sizeof(err)), 0);
	assert_int_equal(sz_elf_lookup(e, sym, 0, &s), 0);
	sz_elf_close(e);
	close(fd);
	return s.value;
}

struct seen {
	int found, problems, stop_after;
	pid_t pid[16];
	uint64_t addr[16];
	char comm[16][32];
	int probed[16];
	enum sz_reason reason[16];
	int first[16];
};

static int seen_found(const struct sz_found *f, void *ctx)
{
	struct seen *s = ctx;

	if (s->found < 16) {
		s->pid[s->found] = f->pid;
		s->addr[s->found] = f->address;
		s->probed[s->found] = f->probed;
		snprintf(s->comm[s->found], sizeof(s->comm[0]), "%s", f->comm);
	}
	s->found++;
	return s->stop_after && s->found >= s->stop_after ? SZ_STOP : SZ_CONTINUE;
}

static void seen_problem(const struct sz_problem *p, void *ctx)
{
	struct seen *s = ctx;

	if (s->problems < 16) {
		s->reason[s->problems] = p->reason;
		s->first[s->problems] = p->first;
	}
	s->problems++;
}

static int setup(void **state)
{
	const char *f = getenv("SZ_FIXTURES");

	/* Mapped paths are absolute, as in /proc. */
	assert_non_null(realpath(f ? f : "build/fixtures", fixdir));
	snprintf(procdir, sizeof(procdir), "/tmp/sz-fakeproc-XXXXXX");
	assert_non_null(mkdtemp(procdir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", procdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct sz_pipeline *new_pipeline(const char *glob, const char *const *syms, size_t n,
					int dedupe, size_t max_open)
{
	struct sz_pipeline_opts o = { .glob = glob,
				      .symbols = syms,
				      .nsymbols = n,
				      .proc = procdir,
				      .dedupe = dedupe,
				      .max_open_files = max_open };
	struct sz_pipeline *p = NULL;

	assert_int_equal(sz_pipeline_new(&o, &p), 0);
	return p;
}

/* Two processes, one library: each load found once, at base + value, with
 * the comm from /proc; the shared reader mapping is not a load. */
static void test_scan_source_finds_each_load(void **state)
{
	static const char *const syms[] = { "fix_func" };
	const char *lib = fixture("libfix.so");
	struct sz_scan_counts cnt = { 0 };
	struct seen s = { 0 };
	struct sz_consumer c = { .user_found = seen_found, .user_problem = seen_problem, .ctx = &s };
	struct sz_pipeline *p;
	struct sz_stats st;
	uint64_t v = sym_value(lib, "fix_func");

	fake_process(101, "alpha\n", lib, 0x7f1000000000, 1);
	fake_process(102, "beta\n", lib, 0x7f2000000000, 0);
	p = new_pipeline("libfix.so", syms, 1, 1, 0);
	assert_int_equal(sz_pipeline_subscribe(p, &c, 0), 0);
	assert_int_equal(sz_scan_all(p, 0, &cnt), 0);
	assert_int_equal(cnt.processes, 2);
	assert_int_equal(s.found, 2);
	assert_int_equal(s.problems, 0);
	for (int i = 0; i < 2; i++) {
		uint64_t base = s.pid[i] == 101 ? 0x7f1000000000 : 0x7f2000000000;

		assert_true(s.pid[i] == 101 || s.pid[i] == 102);
		assert_int_equal(s.addr[i], base + v);
		assert_string_equal(s.comm[i], s.pid[i] == 101 ? "alpha" : "beta");
	}
	/* The same loads again (a rescan): the set of reported loads holds. */
	assert_int_equal(sz_scan_all(p, 0, &cnt), 0);
	assert_int_equal(s.found, 2);
	sz_pipeline_stats(p, &st);
	assert_int_equal(st.duplicates, 2);
	assert_int_equal(st.files_parsed, 1); /* one file, parsed once */
	/* An exit forgets the process: a new process with its pid is news. */
	sz_pipeline_forget(p, 101, UINT64_MAX, 1);
	assert_int_equal(sz_scan_pid(p, 101, SZ_SOURCE_SCAN, &cnt), 0);
	assert_int_equal(s.found, 3);
	sz_pipeline_free(p);
}

static int mark_probed(void *ctx, struct sz_found *f, struct sz_loaded *l)
{
	int *calls = ctx;

	(*calls)++;
	assert_true(sz_loaded_fd(l) >= 0); /* the file is there for probes */
	f->probed = 1;
	return 0;
}

/* A consumer subscribed first runs first; a stop ends the scan with SZ_STOP. */
static void test_consumer_order_and_stop(void **state)
{
	static const char *const syms[] = { "fix_func", "fix_local" };
	const char *lib = fixture("libfix.so");
	struct sz_scan_counts cnt = { 0 };
	struct seen s = { .stop_after = 1 };
	struct sz_consumer user = { .user_found = seen_found, .ctx = &s };
	int calls = 0;
	struct sz_consumer probes = { .found = mark_probed, .ctx = &calls };
	struct sz_pipeline *p;

	fake_process(201, "gamma\n", lib, 0x7f3000000000, 0);
	p = new_pipeline("libfix*", syms, 2, 0, 1);
	assert_int_equal(sz_pipeline_subscribe(p, &user, 0), 0);
	assert_int_equal(sz_pipeline_subscribe(p, &probes, 1), 0);
	assert_int_equal(sz_scan_pid(p, 201, SZ_SOURCE_SCAN, &cnt), SZ_STOP);
	assert_int_equal(s.found, 1); /* the second symbol never came */
	assert_int_equal(calls, 1);
	assert_int_equal(s.probed[0], 1);
	sz_pipeline_free(p);
}

/* Explained outcomes: not ELF (first report once per file), missing symbol,
 * vanished process. */
static void test_problems_have_one_reason_each(void **state)
{
	static const char *const syms[] = { "fix_func", "no_such_symbol" };
	char bogus[700];
	struct sz_scan_counts cnt = { 0 };
	struct seen s = { 0 };
	struct sz_consumer c = { .user_found = seen_found, .user_problem = seen_problem, .ctx = &s };
	struct sz_pipeline *p;
	struct sz_stats st;

	snprintf(bogus, sizeof(bogus), "%s/libfixbogus.so", procdir);
	put(bogus, "\177ELF but not really");
	fake_process(301, "delta\n", bogus, 0x7f4000000000, 0);
	fake_process(302, "eps\n", bogus, 0x7f5000000000, 0);
	fake_process(303, "zeta\n", fixture("libfix.so"), 0x7f6000000000, 0);
	p = new_pipeline("libfix*", syms, 2, 1, 0);
	assert_int_equal(sz_pipeline_subscribe(p, &c, 0), 0);
	assert_int_equal(sz_scan_pid(p, 301, SZ_SOURCE_SCAN, &cnt), 0);
	assert_int_equal(sz_scan_pid(p, 302, SZ_SOURCE_SCAN, &cnt), 0);
	assert_int_equal(sz_scan_pid(p, 303, SZ_SOURCE_SCAN, &cnt), 0);
	assert_int_equal(sz_scan_pid(p, 399, SZ_SOURCE_SCAN, &cnt), 0); /* no such process */
	sz_pipeline_stats(p, &st);
	assert_int_equal(st.problems[SZ_REASON_NOT_ELF], 2);
	assert_int_equal(st.problems[SZ_REASON_SYMBOL_ABSENT], 1);
	assert_int_equal(st.problems[SZ_REASON_VANISHED], 1);
	assert_int_equal(s.found, 1);
	assert_int_equal(s.reason[0], SZ_REASON_NOT_ELF);
	assert_int_equal(s.first[0], 1);
	assert_int_equal(s.reason[1], SZ_REASON_NOT_ELF);
	assert_int_equal(s.first[1], 0); /* the same file again: counted, not repeated */
	assert_int_equal(cnt.processes_unreadable, 1);
	sz_pipeline_free(p);
}

/* The cache: a file rewritten in place is parsed again; the LRU bounds the
 * files kept and, separately, the descriptors held. */
static void test_cache_staleness_and_bounds(void **state)
{
	static const char *const syms[] = { "fix_func" };
	const char *names[] = { "libfix.so", "libfix-nosep.so", "libfix-maxpage.so" };
	char copy[600];
	struct sz_cache c;
	struct sz_file *f[3], *g;
	struct stat st;
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 12345, 0 } };
	int fd;

	assert_int_equal(sz_cache_init(&c, syms, 1, 1, 2), 0);
	for (int i = 0; i < 3; i++) {
		fd = open(fixture(names[i]), O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &st), 0);
		f[i] = sz_cache_add(&c, fd, &st);
		assert_non_null(f[i]);
		assert_int_equal(f[i]->err, 0);
		assert_int_equal(f[i]->syms.v[0].err, 0);
		assert_true(c.open <= 1); /* one descriptor at most */
	}
	assert_int_equal(c.count, 2); /* the oldest file went */
	assert_int_equal(c.evicted, 1);
	assert_int_equal(stat(fixture(names[0]), &st), 0);
	assert_null(sz_cache_find(&c, &st));
	assert_int_equal(stat(fixture(names[2]), &st), 0);
	assert_ptr_equal(sz_cache_find(&c, &st), f[2]);
	/* What the pipeline needs stays valid without the descriptor. */
	assert_int_equal(f[1]->fd, -1);
	assert_true(f[1]->layout.nseg > 0);
	assert_int_equal(f[1]->syms.v[0].err, 0);
	/* A pinned file keeps its descriptor whatever the budget. */
	fd = open(fixture(names[1]), O_RDONLY | O_CLOEXEC);
	assert_int_equal(fstat(fd, &st), 0);
	sz_file_pin(&c, f[1]);
	assert_int_equal(sz_cache_reopen(&c, f[1], fd, &st), 0);
	assert_true(f[1]->fd >= 0);
	sz_file_unpin(&c, f[1]);
	sz_cache_fini(&c);

	/* Rewritten in place (same inode, new mtime): stale, parsed again. */
	snprintf(copy, sizeof(copy), "%s/libcopy.so", procdir);
	{
		char cmd[2 * PATH_MAX + 256];

		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", fixture("libfix.so"), copy);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(sz_cache_init(&c, syms, 1, 4, 16), 0);
	fd = open(copy, O_RDONLY | O_CLOEXEC);
	assert_int_equal(fstat(fd, &st), 0);
	g = sz_cache_add(&c, fd, &st);
	assert_non_null(g);
	assert_ptr_equal(sz_cache_find(&c, &st), g);
	assert_int_equal(utimensat(AT_FDCWD, copy, ts, 0), 0);
	assert_int_equal(stat(copy, &st), 0);
	assert_null(sz_cache_find(&c, &st));
	assert_int_equal(c.count, 0);
	sz_cache_fini(&c);
}

/* Watch records become the same mapping records scan lines do. */
static void test_watch_record_to_mapping(void **state)
{
	static struct sz_watch_rec r;
	char path[SZ_WATCH_PATH_LEN + 1], comm[SZ_WATCH_COMM_LEN + 1];
	struct sz_mapping m;

	memset(&r, 0, sizeof(r));
	r.type = SZ_WATCH_EXEC_INTERP;
	r.tgid = 77;
	r.dev = (8u << 20) | 3;
	r.ino = 4242;
	r.start = 0x7f0000000000;
	r.end = 0x7f0000001000;
	r.vm_flags = 0x1; /* VM_READ */
	r.ts_ns = 99;
	memcpy(r.comm, "sh", 3);
	/* variable length: the name and its NUL, then the path's components */
	memcpy(r.data, "ld.so\0ld.so\0lib\0", 16);
	r.name_len = 5;
	r.path_len = 10;
	assert_int_equal(sz_watch_rec_check(&r, SZ_WATCH_HDR_LEN + 6 + 10), 0);
	assert_int_equal(sz_watch_rec_mapping(&r, path, sizeof(path), comm, &m), 0);
	assert_int_equal(m.source, SZ_SOURCE_EXEC);
	assert_int_equal(m.pid, 77);
	assert_int_equal(m.dev, (8u << 20) | 3);
	assert_int_equal(m.prot, PROT_READ);
	assert_true(m.flags & SZ_MAPPING_LOAD_START);
	assert_true(m.flags & SZ_MAPPING_PATH_OURS);
	assert_string_equal(m.path, "/lib/ld.so");
	assert_string_equal(m.comm, "sh");
	assert_int_equal(major(sz_kdev_to_dev(m.dev)), 8);
	assert_int_equal(minor(sz_kdev_to_dev(m.dev)), 3);

	/* A shared mmap is a reader; a walk that could not finish keeps only
	 * the base name, flagged; another mount namespace's path is not ours. */
	r.type = SZ_WATCH_MMAP;
	r.prot = PROT_READ | PROT_EXEC;
	r.mflags = MAP_SHARED;
	r.path_flags = SZ_WATCH_PATH_TRUNCATED | SZ_WATCH_PATH_FOREIGN;
	assert_int_equal(sz_watch_rec_mapping(&r, path, sizeof(path), comm, &m), 0);
	assert_int_equal(m.source, SZ_SOURCE_MMAP);
	assert_true(m.flags & SZ_MAPPING_SHARED);
	assert_true(m.flags & SZ_MAPPING_PATH_INCOMPLETE);
	assert_false(m.flags & SZ_MAPPING_PATH_OURS);
	assert_string_equal(m.path, "ld.so");
	r.type = SZ_WATCH_EXIT;
	assert_int_equal(sz_watch_rec_mapping(&r, path, sizeof(path), comm, &m), -EINVAL);
}

struct opts_v2 {
	size_t sz;
	int a;
	uint64_t b; /* a field this "library" does not know */
};

struct opts_v1 {
	size_t sz;
	int a;
};

/* libbpf's rules: older structs read as far as they go, newer ones only with
 * zero bytes past what we know. */
static void test_opts_rules(void **state)
{
	struct opts_v2 newer = { sizeof(newer), 1, 0 };
	struct opts_v1 mine = { 0 };
	size_t older = sizeof(older); /* a struct with nothing but its size */

	assert_int_equal(SZ_OPTS_COPY(&mine, &newer), 0);
	assert_int_equal(mine.a, 1);
	assert_int_equal(mine.sz, sizeof(mine));
	newer.b = 5;
	assert_int_equal(SZ_OPTS_COPY(&mine, &newer), -EINVAL);
	mine.a = 9;
	assert_int_equal(SZ_OPTS_COPY(&mine, &older), 0);
	assert_int_equal(mine.a, 0); /* not in the caller's struct: zero */
	older = 3;
	assert_int_equal(SZ_OPTS_COPY(&mine, &older), -EINVAL);
	{
		SZ_OPTS(sz_scanner_opts, so, .glob = "x", .symbols = NULL, .nsymbols = 0);
		struct sz_scanner *s = NULL;

		assert_int_equal(sz_scanner_new(&so, &s), -EINVAL); /* no symbols */
		assert_null(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_source_finds_each_load),
		cmocka_unit_test(test_consumer_order_and_stop),
		cmocka_unit_test(test_problems_have_one_reason_each),
		cmocka_unit_test(test_cache_staleness_and_bounds),
		cmocka_unit_test(test_watch_record_to_mapping),
		cmocka_unit_test(test_opts_rules),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
