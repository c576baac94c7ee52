// SPDX-License-Identifier: BSD-2-Clause
/*
 * The USDT options of scan and watch: -u PROVIDER:NAME (globs on both parts,
 * repeatable) and --usdt-str [PROVIDER:NAME:]N (argument N of the matching
 * probes is a pointer to a C string: a USDT spec gives sizes, not types).
 */
#include "cli.h"
#include "consumers/usdt_probes.h"
#include "elf/usdt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push(const char ***v, size_t *n, const char *s)
{
	const char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

	if (!nv) {
		fprintf(stderr, "symbolyze: out of memory\n");
		return EXIT_ENV;
	}
	*v = nv;
	nv[(*n)++] = s;
	return 0;
}

int cli_add_usdt(struct cli *c, int opt, const char *arg)
{
	struct sz_usdt_pattern pat;
	char err[256];

	if (opt == 'u') {
		if (sz_usdt_pattern_compile(arg, &pat, err, sizeof(err))) {
			fprintf(stderr, "symbolyze: -u '%s': %s (PROVIDER:NAME, globs)\n", arg,
				err);
			return EXIT_USAGE;
		}
		return push(&c->usdt, &c->nusdt, arg);
	}
	if (sz_usdt_str_check(arg, err, sizeof(err))) {
		fprintf(stderr, "symbolyze: --usdt-str '%s': %s\n", arg, err);
		return EXIT_USAGE;
	}
	return push(&c->usdt_str, &c->nusdt_str, arg);
}

int cli_check_usdt(const struct cli *c)
{
	if (c->nusdt_str && (!c->nusdt || c->probe != SZ_PROBE_TRACE)) {
		fprintf(stderr, "symbolyze: --usdt-str goes with -u and --trace\n");
		return EXIT_USAGE;
	}
	if (c->nusdt && !c->nsymbols &&
	    (c->plat || c->pkey.from || c->phist.from || c->npargs || c->npfilters || c->pcomm)) {
		/* usdt.bpf.c reads a probe's arguments from its spec: these are functions' */
		fprintf(stderr, "symbolyze: --latency, --key, --hist, --arg, --filter and --comm "
				"apply to functions (-s), not to USDT probes (-u)\n");
		return EXIT_USAGE;
	}
	if (c->nusdt && c->probe == SZ_PROBE_LATENCY) {
		fprintf(stderr, "symbolyze: --latency times functions (-s); USDT probes (-u) "
				"take --count or --trace\n");
		return EXIT_USAGE;
	}
	return 0;
}
