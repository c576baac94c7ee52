/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the CLI's files share: the parsed command line, exit codes, and the
 * event formatters (one set for text, one for JSON Lines) the commands call.
 */
#ifndef SZ_CLI_H
#define SZ_CLI_H

#include "symbolyze.h"

#include <stddef.h>
#include <stdio.h>

enum {
	EXIT_NOMATCH = 1, /* scan: nothing matched; resolve: no such symbol */
	EXIT_USAGE = 2,	  /* a bad argument, named in the message */
	EXIT_ENV = 3,	  /* no BPF, a missing capability, no /proc */
	EXIT_OUTPUT = 4,  /* stdout could not be written (a closed pipe: no message) */
};

struct cli {
	const char *cmd; /* "scan", "watch" */
	int watch;
	enum sz_probe_mode probe;
	int empty_probe; /* benchmarks: a uprobe that does nothing */
	int freeze;
	unsigned freeze_timeout_ms; /* 0: the library's default */
	unsigned long ring_bytes;
	int no_scan;
	double duration; /* seconds; 0: until SIGINT/SIGTERM */
	const char *glob;
	const char **symbols;
	size_t nsymbols;
	const char **usdt; /* -u PROVIDER:NAME (args_usdt.c) */
	size_t nusdt;
	const char **usdt_str; /* --usdt-str [PROVIDER:NAME:]N */
	size_t nusdt_str;
	pid_t pid;
	int json, verbose;
	int header_done;
	/* issue 13 (src/cli/metrics_http.c): --metrics [ADDR:]PORT, --metrics-expose,
	 * --by, --interval, --per-interval, --cgroup */
	const char *metrics;
	int metrics_expose, by, by_set;
	double metrics_keep; /* --metrics-keep SECONDS (--by pid), 0: not given */
	double interval;
	int per_interval;
	const char *cgroup;
	uint64_t batch; /* the --interval batch being printed, else 0 */
	struct cli_ext *ext;
	/* issue 11 (probe_args.c): --arg, --filter, --comm, --key, --hist,
	 * --count --latency together */
	struct sz_arg_spec pargs[8];
	size_t npargs;
	struct sz_arg_filter pfilters[8];
	size_t npfilters;
	const char *pcomm;
	struct sz_value_src pkey, phist;
	int plat, phist_alone;
	struct sz_probe_extra pextra;
	unsigned long max_symbols; /* --max-symbols: ids for -s GLOB (0: the library's) */
	int uprobe_single;	   /* --no-uprobe-multi: perf-event uprobes (tests) */
	enum sz_stack_method stacks; /* --stacks[=fp|dwarf] */
	size_t stack_bytes;	     /* --stack-bytes */
	int folded;		     /* --folded */
	const char *pprof;	     /* --pprof FILE */
	unsigned mmap_hook;	     /* issue 10: --mmap-hook (enum sz_mmap_hook) */
	int mmap_hook_set;
};

/* probe_args.c: the long options of issue 11 (values past any letter). */
enum {
	OPT_ARG = 0x1100,
	OPT_FILTER,
	OPT_COMM,
	OPT_KEY,
	OPT_HIST,
};
#define OPT_PROBE_ARGS_LONG                                                                 \
	{ "arg", required_argument, NULL, OPT_ARG },                                        \
		{ "filter", required_argument, NULL, OPT_FILTER },                          \
		{ "comm", required_argument, NULL, OPT_COMM },                              \
		{ "key", required_argument, NULL, OPT_KEY },                                \
		{ "hist", required_argument, NULL, OPT_HIST }
/* One of those options (EXIT_USAGE after saying what is wrong, else 0). */
int cli_probe_opt(struct cli *c, int opt, const char *arg);
/* After every option: how they combine with the mode; fills c->pextra. */
int cli_probe_check(struct cli *c);
/* &c->pextra, or NULL when none of the options was given. */
const struct sz_probe_extra *cli_probe_extra(struct cli *c);
/* The --arg values of a call: appended to its text line / JSON object. */
void cli_values_text(FILE *f, const struct sz_call *k);
void cli_values_json(FILE *f, const struct sz_call *k);
/* The --key table and --hist histograms, after the counts. */
struct sz_watch;
void cli_probe_aggregates(struct cli *c, struct sz_watch *w);
/* Their figures in the summary. */
void cli_probe_summary_json(FILE *f, const struct sz_watch_stats *w);
void cli_probe_summary_text(FILE *f, const struct sz_watch_stats *w);

/* Parse scan/watch options into C.  Returns -1 to go on, or the exit code
 * (0 after --help/--version, EXIT_USAGE after saying what is wrong). */
int cli_parse(int argc, char **argv, struct cli *c);
/* args_usdt.c: -u and --usdt-str (0 or EXIT_USAGE/EXIT_ENV after saying
 * why), and the checks once every option is in. */
int cli_add_usdt(struct cli *c, int opt, const char *arg);
int cli_check_usdt(const struct cli *c);
void cli_free(struct cli *c);
void cli_usage(FILE *f);
/* The log callback: errors and warnings on stderr, detail with -v. */
void cli_log(enum sz_log_level level, const char *msg, void *ctx);
int cli_verbose_log(int on);

/* Formatters: each writes one record (one line in JSON) to the output. */
struct fmt {
	int (*found)(struct cli *c, const struct sz_found *r);
	void (*problem)(struct cli *c, const struct sz_problem *p);
	void (*call)(struct cli *c, const struct sz_call *k);
	void (*count_header)(struct cli *c);
	void (*count)(struct cli *c, pid_t pid, const char *symbol, uint64_t calls);
	void (*latency)(struct cli *c, const char *symbol, const uint64_t *b, size_t n);
	void (*lost)(struct cli *c, const struct sz_lost *l);
	void (*ready)(struct cli *c);
	/* USDT probes: a hit with its typed arguments, hits per process */
	void (*usdt_call)(struct cli *c, const struct sz_usdt_call *k);
	void (*usdt_count)(struct cli *c, pid_t pid, const char *provider, const char *name,
			   uint64_t hits);
	/* The closing summary: every figure, W NULL for scan. */
	void (*summary)(struct cli *c, const struct sz_stats *st, const struct sz_watch_stats *w,
			uint64_t output_dropped);
};
extern const struct fmt fmt_text, fmt_json;
const struct fmt *cli_fmt(const struct cli *c);
void cli_on_problem(const struct sz_problem *p, void *ctx);

/* --stacks output (fmt_stacks.c): a trace call's stack, and the --count report. */
void cli_stack_text(FILE *f, const struct sz_stack *st, const char *indent);
void cli_stack_json(FILE *f, const struct sz_stack *st);
struct sz_watch;
int cli_stacks_report(struct cli *c, struct sz_watch *w);
/* --pprof FILE created before the watch (EXIT_USAGE after saying why, else -1); 1 if a
 * report could not be written (said on stderr). */
int cli_stacks_open(struct cli *c);
int cli_stacks_failed(void);
/* stacks' figures in the summary */
void cli_stack_summary(struct cli *c, FILE *f, const struct sz_watch_stats *w);
/* --stacks options (args_stacks.c): 1 if OPT was one, with *RC the exit code or -1. */
int cli_stack_option(struct cli *c, int opt, const char *arg, int *rc);
int cli_stack_check(struct cli *c);

int cmd_scan(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_resolve(int argc, char **argv);
int cmd_symbolize(int argc, char **argv);
int cmd_list(int argc, char **argv);

#endif
