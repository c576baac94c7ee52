// SPDX-License-Identifier: BSD-2-Clause
/*
 * What loading the watch's BPF object costs, program by program (issue 10,
 * start-up): each program loaded with the verifier's statistics (log level 4),
 * its rodata set as `watch -g GLOB` sets it.  Prints one line per program,
 * "prog NAME insns N verified V usec T", then "load_ms X" for the whole load.
 *   verif GLOB [PROGRAM...]   (PROGRAM...: load only those, autoload off for the rest)
 *   verif --btf               (libbpf parsing the kernel's BTF alone, cold: "btf_ms X")
 *   verif --kbtf              (our minimal copy of it made, cold: "kbtf_ms X")
 * The object is opened as the watch opens it: against our minimal copy of the
 * kernel's BTF (util/kbtf.h), or libbpf's whole reading with SYMBOLYZE_KBTF=off.
 */
#include "util/glob.h"
#include "util/kbtf.h"
#include "watch.skel.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_BYTES (1 << 16)

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	struct watch_bpf *s;
	struct bpf_program *p;
	struct sz_glob g;
	double t0, t;
	int n = 0;

	if (argc == 2 && !strcmp(argv[1], "--btf")) {
		/* In a process of its own: a second parse would reuse the first's
		 * faulted-in heap, and most of a cold parse is page faults. */
		struct btf *b;

		t0 = now_ms();
		b = btf__load_vmlinux_btf();
		t = now_ms() - t0;
		if (!b)
			return 1;
		printf("btf_ms %.3f types %u\n", t, btf__type_cnt(b));
		btf__free(b);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--kbtf")) {
		LIBBPF_OPTS(bpf_object_open_opts, oo);
		struct sz_kbtf_obj o;

		o.elf = watch_bpf__elf_bytes(&o.size);
		t0 = now_ms();
		sz_kbtf_open_opts(&oo, &o, 1);
		t = now_ms() - t0;
		if (!oo.btf_custom_path)
			return 1;
		printf("kbtf_ms %.3f\n", t);
		return 0;
	}
	if (argc < 2 || sz_glob_compile(argv[1], &g))
		return 2;
	libbpf_set_print(quiet);
	t0 = now_ms();
	{
		LIBBPF_OPTS(bpf_object_open_opts, oo);
		struct sz_kbtf_obj o;

		o.elf = watch_bpf__elf_bytes(&o.size);
		sz_kbtf_open_opts(&oo, &o, 1);
		s = watch_bpf__open_opts(&oo);
	}
	if (!s)
		return 1;
	memcpy((void *)&s->rodata->glob, &g, sizeof(g));
	s->rodata->self_tgid = (__u32)getpid();
	bpf_object__for_each_program(p, s->obj) {
		char *buf = calloc(1, LOG_BYTES);
		int keep = argc == 2;

		for (int i = 2; i < argc; i++)
			keep |= !strcmp(argv[i], bpf_program__name(p));
		bpf_program__set_autoload(p, keep);
		if (keep && p == s->progs.sz_scan_vmas)
			sz_kbtf_iter_prepare(p, "task_vma");
		if (!buf || !keep)
			continue;
		bpf_program__set_log_buf(p, buf, LOG_BYTES);
		bpf_program__set_log_level(p, 4);
	}
	if (watch_bpf__load(s)) {
		fprintf(stderr, "verif: load failed\n");
		return 1;
	}
	t = now_ms() - t0;
	bpf_object__for_each_program(p, s->obj) {
		size_t sz;
		const char *log = bpf_program__log_buf(p, &sz);
		const char *a = log ? strstr(log, "processed ") : NULL;
		const char *b = log ? strstr(log, "verification time ") : NULL;

		if (!bpf_program__autoload(p))
			continue;
		printf("prog %s insns %zu verified %ld usec %ld\n", bpf_program__name(p),
		       bpf_program__insn_cnt(p), a ? strtol(a + 10, NULL, 10) : -1L,
		       b ? strtol(b + 18, NULL, 10) : -1L);
		n++;
	}
	printf("load_ms %.3f programs %d\n", t, n); /* open + our copy + load */
	watch_bpf__destroy(s);
	return 0;
}
