// SPDX-License-Identifier: BSD-2-Clause
/*
 * Lookup benchmark: the same names resolved through the ELF hash tables and
 * by a linear scan of every symbol, in one run.
 *   lookup FILE [NAMES]    prints "hash NS linear NS names N" (ns per lookup)
 */
#include "elf/sz_elf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct names {
	char **v;
	size_t n, cap;
};

static int collect(const struct sz_elf_sym *s, void *ctx)
{
	struct names *nm = ctx;
	char buf[1024];

	if (s->bind == STB_LOCAL)
		return 0;
	if (nm->n == nm->cap) {
		nm->cap = nm->cap ? nm->cap * 2 : 1024;
		nm->v = realloc(nm->v, nm->cap * sizeof(*nm->v));
		if (!nm->v)
			return 1;
	}
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)s->name_len, s->name,
		 s->version ? (s->hidden ? "@" : "@@") : "", s->version ? s->version : "");
	nm->v[nm->n++] = strdup(buf);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct names nm = { 0 };
	struct sz_elf *e;
	struct sz_elf_sym s;
	size_t want, step;
	char err[128];
	double t0, hash, linear;
	int fd, misses = 0;

	if (argc < 2)
		return 2;
	want = argc > 2 ? (size_t)atol(argv[2]) : 2000;
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || sz_elf_open(fd, &e, err, sizeof(err))) {
		fprintf(stderr, "lookup: %s: %s\n", argv[1], err);
		return 1;
	}
	sz_elf_for_each(e, SZ_TAB_DYNSYM, collect, &nm);
	if (!nm.n)
		return 1;
	step = nm.n > want ? nm.n / want : 1;
	t0 = now();
	for (size_t i = 0; i < nm.n; i += step)
		misses += sz_elf_lookup(e, nm.v[i], SZ_LOOKUP_NO_SYMTAB, &s) != 0;
	hash = now() - t0;
	t0 = now();
	for (size_t i = 0; i < nm.n; i += step)
		misses += sz_elf_lookup(e, nm.v[i], SZ_LOOKUP_LINEAR | SZ_LOOKUP_NO_SYMTAB, &s) != 0;
	linear = now() - t0;
	want = (nm.n + step - 1) / step;
	printf("hash %.1f linear %.1f names %zu symbols %zu misses %d\n", hash * 1e9 / (double)want,
	       linear * 1e9 / (double)want, want, nm.n, misses);
	sz_elf_close(e);
	close(fd);
	return misses ? 1 : 0;
}
