// SPDX-License-Identifier: BSD-2-Clause
/*
 * `symbolyze resolve FILE SYMBOL`: one symbol in one file, no process.
 */
#include "cli.h"
#include "out.h"
#include "output.h"

#include <elf.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int cli_output_failed(void);

static void print_json(FILE *f, const char *file, const char *symbol,
		       const struct sz_symbol_info *info)
{
	fputs("{\"event\":\"resolved\",\"path\":", f);
	sz_json_str(f, file);
	fputs(",\"symbol\":", f);
	sz_json_str(f, symbol);
	fputs(",\"version\":", f);
	sz_json_str(f, info->version[0] ? info->version : NULL);
	fprintf(f,
		",\"type\":\"%s\",\"value\":\"0x%" PRIx64 "\",\"size\":%" PRIu64
		",\"file_offset\":",
		sz_sym_type_str(info->type), info->value, info->size);
	if (info->has_file_offset)
		fprintf(f, "\"0x%" PRIx64 "\"", info->file_offset);
	else
		fputs("null", f);
	fprintf(f, ",\"table\":\"%s\",\"build_id\":", info->from_symtab ? "symtab" : "dynsym");
	sz_json_str(f, info->build_id[0] ? info->build_id : NULL);
	fputs("}\n", f);
}

static void print_text(FILE *f, const char *symbol, const struct sz_symbol_info *info)
{
	char buf[1024];

	fprintf(f, "symbol       %s\n", sz_escape(symbol, buf, sizeof(buf)));
	fprintf(f, "version      %s\n",
		info->version[0] ? sz_escape(info->version, buf, sizeof(buf)) : "-");
	fprintf(f, "type         %s\n", sz_sym_type_str(info->type));
	fprintf(f, "bind         %s\n",
		info->bind == STB_GLOBAL  ? "global"
		: info->bind == STB_WEAK  ? "weak"
		: info->bind == STB_LOCAL ? "local"
					  : "other");
	fprintf(f, "value        0x%" PRIx64 "\n", info->value);
	fprintf(f, "size         %" PRIu64 "\n", info->size);
	if (info->has_file_offset)
		fprintf(f, "file_offset  0x%" PRIx64 "\n", info->file_offset);
	else
		fprintf(f, "file_offset  - (not file-backed: .bss)\n");
	fprintf(f, "table        %s\n", info->from_symtab ? "symtab" : "dynsym");
	fprintf(f, "build_id     %s\n", info->build_id[0] ? info->build_id : "-");
}

int cmd_resolve(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      { "version", no_argument, NULL, 'V' },
					      { NULL, 0, NULL, 0 } };
	struct sz_symbol_info info = { .sz = sizeof(info) };
	int json = 0, opt, rc;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (opt == 'j') {
			json = 1;
		} else if (opt == 'h') {
			cli_usage(stdout);
			return 0;
		} else if (opt == 'V') {
			printf("symbolyze %s\n", SZ_VERSION);
			return 0;
		} else {
			fprintf(stderr, "symbolyze: resolve: unknown option '%s'\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "symbolyze: resolve wants FILE SYMBOL\n");
		return EXIT_USAGE;
	}
	/* The library names the file and what is wrong with it (log). */
	rc = sz_resolve_file(argv[optind], argv[optind + 1], &info);
	if (rc)
		return rc == -ESRCH ? EXIT_NOMATCH : EXIT_USAGE;
	rc = out_init(OUT_SYNC, 0);
	if (rc) {
		fprintf(stderr, "symbolyze: cannot set up output: %s\n", strerror(-rc));
		return EXIT_ENV;
	}
	if (json)
		print_json(out_begin(), argv[optind], argv[optind + 1], &info);
	else
		print_text(out_begin(), argv[optind + 1], &info);
	out_end();
	rc = cli_output_failed();
	out_close(0);
	return rc;
}
