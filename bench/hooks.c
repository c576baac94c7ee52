// SPDX-License-Identifier: BSD-2-Clause
/*
 * Loader of bench/hooks.bpf.c: attaches one hook variant, prints "ready", and
 * holds it until stdin closes; then prints "hits N".  bench/run.py times a
 * workload with and without it, in interleaved pairs.
 *   hooks btf|tp|tp-exit|lock|none
 */
#include "sources/tracefs.h"
#include "hooks.skel.h"

#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

int main(int argc, char **argv)
{
	struct hooks_bpf *s;
	const char *v = argc > 1 ? argv[1] : "";
	struct bpf_program *keep[2] = { 0 }, *p;
	struct bpf_link *links[2] = { 0 };
	char buf[64];
	int mounted, err;

	libbpf_set_print(quiet);
	s = hooks_bpf__open();
	if (!s)
		return 1;
	if (!strcmp(v, "btf")) {
		keep[0] = s->progs.btf_enter;
		keep[1] = s->progs.btf_exit;
	} else if (!strcmp(v, "tp")) {
		keep[0] = s->progs.tp_enter;
		keep[1] = s->progs.tp_exit;
	} else if (!strcmp(v, "tp-exit")) {
		keep[0] = s->progs.tp_exit;
	} else if (!strcmp(v, "lock")) {
		keep[0] = s->progs.lock_rel;
	} else if (strcmp(v, "none")) {
		fprintf(stderr, "usage: hooks btf|tp|tp-exit|lock|none\n");
		return 2;
	}
	bpf_object__for_each_program(p, s->obj)
		bpf_program__set_autoload(p, p == keep[0] || p == keep[1]);
	if (keep[0] && !strncmp(bpf_program__section_name(keep[0]), "tp/", 3)) {
		err = sz_tracefs_ensure(&mounted);
		if (err) {
			fprintf(stderr, "hooks: cannot mount tracefs: %s\n", strerror(-err));
			return 1;
		}
	}
	if (hooks_bpf__load(s)) {
		fprintf(stderr, "hooks: load failed\n");
		return 1;
	}
	for (int i = 0; i < 2; i++)
		if (keep[i] && !(links[i] = bpf_program__attach(keep[i]))) {
			fprintf(stderr, "hooks: attach %s failed\n", bpf_program__name(keep[i]));
			return 1;
		}
	printf("ready\n");
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	printf("hits %llu\n", (unsigned long long)s->bss->hits);
	for (int i = 0; i < 2; i++)
		bpf_link__destroy(links[i]);
	hooks_bpf__destroy(s);
	return 0;
}
