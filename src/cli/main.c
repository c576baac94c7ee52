// SPDX-License-Identifier: BSD-2-Clause
/*
 * symbolyze command line: the command table and nothing else.  Each command
 * lives in its own file (cmd_*.c), options in args.c, output in fmt_*.c and
 * out.c; everything a library user would also want lives in libsymbolyze.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "scan", cmd_scan },
	{ "watch", cmd_watch },
	{ "resolve", cmd_resolve },
	{ "symbolize", cmd_symbolize },
	{ "list", cmd_list },
};

int main(int argc, char **argv)
{
	int verbose = 0;

	if (argc < 2) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		cli_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("symbolyze %s\n", SZ_VERSION);
		return 0;
	}
	for (int i = 2; i < argc; i++)
		verbose |= !strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose");
	cli_verbose_log(verbose);
	sz_set_log(cli_log, NULL);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "symbolyze: unknown command '%s' (symbolyze --help lists them)\n", argv[1]);
	return EXIT_USAGE;
}
