// SPDX-License-Identifier: BSD-2-Clause
/*
 * The --stacks options of watch: --stacks[=dwarf|fp], --stack-bytes N, --folded and
 * --pprof FILE, parsed here so args.c only forwards them; each usage error names the
 * option and its rule.
 */
#include "cli.h"
#include <linux/types.h>

#include "../../bpf/stack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_stack_option(struct cli *c, int opt, const char *arg, int *rc)
{
	char *end;
	unsigned long v;

	*rc = -1;
	switch (opt) {
	case 0x100:
		if (!arg || !strcmp(arg, "dwarf")) {
			c->stacks = SZ_STACKS_DWARF;
		} else if (!strcmp(arg, "fp")) {
			c->stacks = SZ_STACKS_FP;
		} else {
			fprintf(stderr, "symbolyze: --stacks='%s': wants 'dwarf' or 'fp'\n", arg);
			*rc = EXIT_USAGE;
		}
		return 1;
	case 0x101:
		errno = 0;
		v = strtoul(arg, &end, 0);
		if (errno || *end || end == arg || !v || v % 4096 || v > SZ_STACK_SLICE_MAX) {
			fprintf(stderr,
				"symbolyze: --stack-bytes '%s': wants a multiple of 4096 up to %u\n",
				arg, SZ_STACK_SLICE_MAX);
			*rc = EXIT_USAGE;
		}
		c->stack_bytes = v;
		return 1;
	case 0x102:
		c->folded = 1;
		return 1;
	case 0x103:
		if (!*arg) {
			fprintf(stderr, "symbolyze: --pprof: wants a file name\n");
			*rc = EXIT_USAGE;
		}
		c->pprof = arg;
		return 1;
	}
	return 0;
}

/* How --stacks combines with the other probe options (README, "--stacks"): each part is
 * reported as it is alone, in the same run.  --count --stacks counts per unique stack;
 * beside it --latency (per function), --key and --hist (per value) keep their own tables,
 * and --trace --stacks --arg gives each call its stack and its values.  Refused: what has
 * no meaning, or whose output would be misread. */
int cli_stack_check(struct cli *c)
{
	if (c->stacks && c->probe == SZ_PROBE_LATENCY) {
		/* a duration is known at the return, a stack at the entry: not per stack */
		fprintf(stderr, "symbolyze: --stacks goes with --count or --trace; --latency "
				"--stacks is not per stack: --count --latency --stacks gives calls "
				"per stack and latency per function\n");
		return EXIT_USAGE;
	}
	if (c->stacks && c->probe != SZ_PROBE_COUNT && c->probe != SZ_PROBE_TRACE) {
		fprintf(stderr, "symbolyze: --stacks goes with --count or --trace\n");
		return EXIT_USAGE;
	}
	if (c->stacks && c->interval > 0) {
		fprintf(stderr, "symbolyze: --interval does not go with --stacks: stacks are "
				"reported at the end and on SIGUSR1\n");
		return EXIT_USAGE;
	}
	if (c->folded && !c->json && (c->plat || c->pkey.from || c->phist.from)) {
		/* flame-graph tools would read a text table's "VALUE COUNT" line as a stack */
		fprintf(stderr, "symbolyze: --folded with --latency, --key or --hist wants --json "
				"(their text tables would read as folded stacks), or use --pprof "
				"FILE\n");
		return EXIT_USAGE;
	}
	if (c->stacks && c->empty_probe) {
		fprintf(stderr, "symbolyze: --stacks does not go with --empty-probe\n");
		return EXIT_USAGE;
	}
	if (c->stack_bytes && c->stacks != SZ_STACKS_DWARF) {
		fprintf(stderr, "symbolyze: --stack-bytes goes with --stacks (=dwarf)\n");
		return EXIT_USAGE;
	}
	if ((c->folded || c->pprof) && (!c->stacks || c->probe != SZ_PROBE_COUNT)) {
		fprintf(stderr, "symbolyze: %s goes with --count --stacks\n",
			c->folded ? "--folded" : "--pprof");
		return EXIT_USAGE;
	}
	if (c->folded && c->pprof) {
		fprintf(stderr, "symbolyze: --folded and --pprof exclude each other\n");
		return EXIT_USAGE;
	}
	return -1;
}
