// SPDX-License-Identifier: BSD-2-Clause
/*
 * Lookup benchmark: the same names (every defined .dynsym symbol, or NAMES of
 * them) resolved through our ELF hash tables, by our linear scan of every
 * symbol, and by glibc's dlsym()/dlvsym() on FILE dlopen()ed here (a baseline
 * that is not our code), the three passes interleaved for ROUNDS rounds, the
 * order rotated each round so that drift hits each alike; each timed pass
 * follows an untimed one of the same kind (warm caches for all three).
 *   lookup FILE [NAMES [ROUNDS]]
 * prints per round "round R hash NS linear NS dlsym NS" (ns per lookup), then
 * "names N symbols N misses N".
 */
#include "elf/sz_elf.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct names {
	char **v;	     /* name[@[@]VER], as our lookup takes it */
	char **plain, **ver; /* name and its version alone, for dlsym/dlvsym */
	size_t n, cap;
};

static int collect(const struct sz_elf_sym *s, void *ctx)
{
	struct names *nm = ctx;
	char buf[1024];

	/* undefined ones would send dlsym to other libraries */
	if (s->bind == STB_LOCAL || s->shndx == SHN_UNDEF)
		return 0;
	if (nm->n == nm->cap) {
		nm->cap = nm->cap ? nm->cap * 2 : 1024;
		nm->v = realloc(nm->v, nm->cap * sizeof(*nm->v));
		nm->plain = realloc(nm->plain, nm->cap * sizeof(*nm->plain));
		nm->ver = realloc(nm->ver, nm->cap * sizeof(*nm->ver));
		if (!nm->v || !nm->plain || !nm->ver)
			return 1;
	}
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)s->name_len, s->name,
		 s->version ? (s->hidden ? "@" : "@@") : "", s->version ? s->version : "");
	nm->v[nm->n] = strdup(buf);
	nm->plain[nm->n] = strndup(s->name, s->name_len);
	/* a default version is what dlsym finds; a hidden one needs dlvsym */
	nm->ver[nm->n] = s->version && s->hidden ? strdup(s->version) : NULL;
	nm->n++;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One pass over every STEPth name; ns per lookup, misses added to *MISSES. */
static double pass(int how, struct sz_elf *e, void *h, const struct names *nm, size_t step,
		   size_t *misses)
{
	struct sz_elf_sym s;
	size_t n = 0;
	double t0 = now();

	for (size_t i = 0; i < nm->n; i += step, n++) {
		if (how == 0)
			*misses += sz_elf_lookup(e, nm->v[i], SZ_LOOKUP_NO_SYMTAB, &s) != 0;
		else if (how == 1)
			*misses += sz_elf_lookup(e, nm->v[i],
						 SZ_LOOKUP_LINEAR | SZ_LOOKUP_NO_SYMTAB, &s) != 0;
		else if (nm->ver[i])
			*misses += !dlvsym(h, nm->plain[i], nm->ver[i]);
		else
			*misses += !dlsym(h, nm->plain[i]);
	}
	return (now() - t0) * 1e9 / (double)n;
}

int main(int argc, char **argv)
{
	struct names nm = { 0 };
	struct sz_elf *e;
	size_t want, step, misses[3] = { 0 };
	long rounds;
	char err[128];
	double ns[3];
	void *h;
	int fd;

	if (argc < 2)
		return 2;
	want = argc > 2 ? (size_t)atol(argv[2]) : 2000;
	rounds = argc > 3 ? atol(argv[3]) : 1;
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || sz_elf_open(fd, &e, err, sizeof(err))) {
		fprintf(stderr, "lookup: %s: %s\n", argv[1], err);
		return 1;
	}
	h = dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "lookup: dlopen: %s\n", dlerror());
		return 1;
	}
	sz_elf_for_each(e, SZ_TAB_DYNSYM, collect, &nm);
	if (!nm.n)
		return 1;
	step = nm.n > want ? nm.n / want : 1;
	for (long r = 0; r < rounds; r++) {
		for (int k = 0; k < 3; k++) {
			int how = (int)((r + k) % 3);
			size_t warm = 0;

			/* untimed first: no pass pays for what the one before evicted */
			pass(how, e, h, &nm, step, &warm);
			ns[how] = pass(how, e, h, &nm, step, &misses[how]);
		}
		printf("round %ld hash %.1f linear %.1f dlsym %.1f\n", r, ns[0], ns[1], ns[2]);
	}
	printf("names %zu symbols %zu misses %zu %zu %zu\n", (nm.n + step - 1) / step, nm.n,
	       misses[0], misses[1], misses[2]);
	sz_elf_close(e);
	close(fd);
	return misses[0] || misses[1] || misses[2] ? 1 : 0;
}
