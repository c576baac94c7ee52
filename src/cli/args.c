// SPDX-License-Identifier: BSD-2-Clause
/*
 * Command-line parsing for scan and watch: fills struct cli and returns an
 * exit code instead of exiting; every usage error names the argument and the
 * rule it broke.
 */
#include "cli.h"
#include "metrics.h"
#include "output.h"
#include "util/glob.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_usage(FILE *f)
{
	fprintf(f,
		"Usage: symbolyze scan    (-s SYMBOL | -u PROV:NAME)... -g GLOB [-p PID] [--json]\n"
		"                         [-v]\n"
		"       symbolyze watch   (-s SYMBOL | -u PROV:NAME)... -g GLOB [-p PID] [--json]\n"
		"                         [--no-scan] [-d SECONDS] [--count | --trace | --latency]\n"
		"                         [--usdt-str [PROV:NAME:]N]...\n"
		"                         [--arg N:TYPE]... [--filter 'argN OP VALUE']...\n"
		"                         [--comm GLOB] [--key argN|ret] [--hist argN|ret]\n"
		"                         [--freeze [--freeze-timeout MS]] [--ring-size BYTES] [-v]\n"
		"                         [--metrics [ADDR:]PORT [--by comm|pid|cgroup]]\n"
		"                         [--interval SECONDS [--per-interval]] [--cgroup PATH]\n"
		"                         [--mmap-hook auto|perf|tracepoint]\n"
		"                         [--stacks[=dwarf|fp] [--stack-bytes N]\n"
		"                          [--folded | --pprof FILE]]\n"
		"       symbolyze resolve FILE SYMBOL [--json]\n"
		"       symbolyze symbolize (-p PID ADDR... | FILE VADDR...) [--json]\n"
		"                         [--debug-dir DIR]\n"
		"       symbolyze list    (-g GLOB [-p PID] | FILE) [-s GLOB]... [-u PROV:NAME]...\n"
		"                         [--json]\n"
		"       symbolyze --help | --version\n"
		"\n"
		"scan      find SYMBOL in every process that maps a file matching GLOB and\n"
		"          print its runtime address (GLOB: fnmatch(3) on the base name, or\n"
		"          on the whole path if it contains '/'; SYMBOL: name, name@VERSION,\n"
		"          or a glob over names, e.g. 'pthread_*': functions are probed once\n"
		"          per address, under one name, the aliases listed)\n"
		"          -u PROV:NAME  USDT probes (.note.stapsdt), globs on both parts\n"
		"watch     report loads of matching files as they happen (execve, mmap), after\n"
		"          a scan of the running processes; until SIGINT/SIGTERM or -d SECONDS\n"
		"          (with -p, until that process exits)\n"
		"          --count   calls per process and symbol (at exit; SIGUSR1: now)\n"
		"          --trace   each call with its first six arguments, each return;\n"
		"                    each USDT hit with its arguments typed by its spec\n"
		"          --usdt-str [PROV:NAME:]N  read USDT argument N (from 0) as a string\n"
		"          --latency log2 histograms of call durations (at exit; SIGUSR1: now)\n"
		"                    (--count --latency: both in one run)\n"
		"          --arg N:TYPE  with --trace, show argument N (0-5, arg0 first) as int, uint, int32,\n"
		"                    uint32, hex, str[:MAX], buf:BYTES or buf:argK[:CAP]\n"
		"          --filter 'argN OP VALUE'  only calls where it holds (==, !=, <, >;\n"
		"                    argN:uint for unsigned; repeatable, ANDed; in BPF)\n"
		"          --comm GLOB  only processes whose name matches (in BPF)\n"
		"          --key argN|ret  with --count, calls per value, most frequent first\n"
		"          --hist argN|ret log2 histogram of the value\n"
		"          --stacks  the user stack of each call: with --count, calls per unique\n"
		"                    stack; with --trace, each call's stack (dwarf: CFI, the\n"
		"                    default; fp: frame pointers only)\n"
		"          --freeze  stop a process that maps a matching file until its probes\n"
		"                    are attached, so not even the first call is missed; never\n"
		"                    longer than --freeze-timeout MS (default 500), whatever\n"
		"                    happens to symbolyze\n"
		"          --metrics [ADDR:]PORT serve /metrics to Prometheus (ADDR: 127.0.0.1;\n"
		"                    another only with --metrics-expose), --by comm|pid|cgroup\n"
		"                    (--by pid: an exited process's series stays --metrics-keep\n"
		"                    SECONDS, default 300, then goes)\n"
		"          --interval SECONDS print counts or histograms every SECONDS\n"
		"                    (--per-interval: of that interval; default: since start)\n"
		"          --cgroup PATH only processes in this cgroup v2 subtree (in BPF)\n"
		"          --mmap-hook auto|perf|tracepoint  how new mappings are seen:\n"
		"                    perf's mapping records (no syscall pays; no --freeze),\n"
		"                    or BPF at mmap(2)'s exit (every syscall of the host\n"
		"                    pays a little); auto (default): perf, the tracepoint\n"
		"                    with --freeze or when perf events cannot be opened\n"
		"resolve   print a symbol's value, size, type, file offset and build-ID\n"
		"symbolize name the function at each address (hex; none: read from stdin):\n"
		"          runtime addresses of process PID, or ELF virtual addresses of FILE\n"
		"list      the functions, objects and USDT probes of matching files (or FILE)\n"
		"\n"
		"Exit status: 0 found, 1 nothing matched, 2 usage error, 3 environment,\n"
		"4 output error (stdout closed or unwritable).\n");
}

static int parse_pid(const char *s, pid_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v <= 0 || v > INT_MAX)
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

/* Which rule a glob the compiler refused breaks, in words. */
static const char *glob_rule(const char *g, int err)
{
	size_t len = strlen(g);

	if (err == -E2BIG)
		return len > 255 ? "it is longer than 255 bytes"
				 : "it has more than 128 parts or 8 bracket expressions";
	if (len && g[len - 1] == '\\')
		return "it ends in a lone '\\'";
	if (strstr(g, "[:") || strstr(g, "[=") || strstr(g, "[."))
		return "character classes like [:alpha:] are not supported; list the "
		       "characters, e.g. [a-z]";
	if (strstr(g, "\\/"))
		return "'\\/' is ambiguous in a path pattern; write '/'";
	if (strchr(g, '['))
		return "a '[' has no closing ']'";
	return "it is not a valid fnmatch(3) pattern";
}

static const struct option scan_opts[] = {
	{ "symbol", required_argument, NULL, 's' },
	{ "usdt", required_argument, NULL, 'u' },
	{ "usdt-str", required_argument, NULL, 'X' },
	{ "glob", required_argument, NULL, 'g' },
	{ "pid", required_argument, NULL, 'p' },
	{ "json", no_argument, NULL, 'j' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "no-scan", no_argument, NULL, 'N' },
	{ "duration", required_argument, NULL, 'd' },
	{ "ring-size", required_argument, NULL, 'R' },
	{ "count", no_argument, NULL, 'C' },
	{ "trace", no_argument, NULL, 'T' },
	{ "latency", no_argument, NULL, 'L' },
	{ "freeze", no_argument, NULL, 'F' },
	{ "empty-probe", no_argument, NULL, 'E' },	    /* benchmarks: the kernel's floor */
	{ "freeze-timeout", required_argument, NULL, 'Z' }, /* --freeze's bound */
	/* issue 13: the fleet options (src/cli/metrics_http.c) */
	{ "metrics", required_argument, NULL, 0x1301 },
	{ "by", required_argument, NULL, 0x1302 },
	{ "metrics-expose", no_argument, NULL, 0x1303 },
	{ "interval", required_argument, NULL, 0x1304 },
	{ "per-interval", no_argument, NULL, 0x1305 },
	{ "cgroup", required_argument, NULL, 0x1306 },
	{ "metrics-keep", required_argument, NULL, 0x1307 }, /* --by pid: exited series */
	{ "mmap-hook", required_argument, NULL, 0x1001 }, /* issue 10: tracepoint|perf */
	OPT_PROBE_ARGS_LONG, /* --arg, --filter, --comm, --key, --hist: probe_args.c */
	{ "max-symbols", required_argument, NULL, 'M' }, /* -s GLOB: ids for BPF */
	{ "no-uprobe-multi", no_argument, NULL, 'U' },	 /* tests: the perf-event path */
	{ "stacks", optional_argument, NULL, 0x100 },	    /* args_stacks.c */
	{ "stack-bytes", required_argument, NULL, 0x101 },
	{ "folded", no_argument, NULL, 0x102 },
	{ "pprof", required_argument, NULL, 0x103 },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int set_mode(struct cli *c, int opt)
{
	enum sz_probe_mode want = opt == 'T'   ? SZ_PROBE_TRACE
				  : opt == 'L' ? SZ_PROBE_LATENCY
					       : SZ_PROBE_COUNT;

	/* --count --latency: both, in one run (the latency rides along the count) */
	if (c->probe && c->probe != want && !c->empty_probe && opt != 'E' &&
	    ((c->probe == SZ_PROBE_COUNT && want == SZ_PROBE_LATENCY) ||
	     (c->probe == SZ_PROBE_LATENCY && want == SZ_PROBE_COUNT))) {
		c->probe = SZ_PROBE_COUNT;
		c->plat = 1;
		return 0;
	}
	if (c->probe && c->probe != want) {
		fprintf(stderr, "symbolyze: --trace excludes --count and --latency\n");
		return EXIT_USAGE;
	}
	if (c->plat && want != SZ_PROBE_COUNT && want != SZ_PROBE_LATENCY) {
		fprintf(stderr, "symbolyze: --trace excludes --count and --latency\n");
		return EXIT_USAGE;
	}
	if (!c->plat)
		c->probe = want;
	c->empty_probe |= opt == 'E';
	return 0;
}

static int add_symbol(struct cli *c, const char *s)
{
	const char **n;
	struct sz_glob g;
	int rc;

	if (!*s || *s == '@') {
		fprintf(stderr,
			"symbolyze: -s '%s': a symbol is 'name', 'name@VERSION' or a glob "
			"('pthread_*')\n",
			s);
		return EXIT_USAGE;
	}
	/* A glob (name@VERSION stays exact): the matcher's rules, said here. */
	if (strpbrk(s, "*?[\\") && !strchr(s, '@') && (rc = sz_glob_compile(s, &g))) {
		char esc[1024];

		fprintf(stderr, "symbolyze: -s '%s': cannot use the pattern: %s\n",
			sz_escape(s, esc, sizeof(esc)), glob_rule(s, rc));
		return EXIT_USAGE;
	}
	n = realloc(c->symbols, (c->nsymbols + 1) * sizeof(*n));
	if (!n) {
		fprintf(stderr, "symbolyze: out of memory\n");
		return EXIT_ENV;
	}
	c->symbols = n;
	c->symbols[c->nsymbols++] = s;
	return 0;
}

/* issue 10: --mmap-hook auto|perf|tracepoint (SYMBOLYZE_MMAP_HOOK when absent) */
static int mmap_hook_opt(struct cli *c, const char *v, const char *what)
{
	if (!v)
		v = "";
	if (!strcmp(v, "auto")) {
		c->mmap_hook = SZ_MMAP_HOOK_AUTO;
	} else if (!strcmp(v, "tracepoint") || !strcmp(v, "bpf")) {
		c->mmap_hook = SZ_MMAP_HOOK_TRACEPOINT;
	} else if (!strcmp(v, "perf")) {
		c->mmap_hook = SZ_MMAP_HOOK_PERF;
	} else {
		fprintf(stderr, "symbolyze: %s '%s': wants auto, perf or tracepoint\n", what, v);
		return EXIT_USAGE;
	}
	c->mmap_hook_set = 1;
	return 0;
}

static int one_option(struct cli *c, int opt, char **argv)
{
	char *end;
	int rc;

	if (cli_stack_option(c, opt, optarg, &rc))
		return rc < 0 ? 0 : rc;
	switch (opt) {
	case 'C':
	case 'T':
	case 'L':
	case 'E':
		return set_mode(c, opt);
	case 'F':
		c->freeze = 1;
		return 0;
	case 0x1001: /* issue 10: --mmap-hook */
		return mmap_hook_opt(c, optarg, "--mmap-hook");
	case 'Z': {
		long ms;

		errno = 0;
		ms = strtol(optarg, &end, 10);
		if (errno || *end || end == optarg || ms < 1 || ms > 60000) {
			fprintf(stderr,
				"symbolyze: --freeze-timeout '%s': wants milliseconds from 1 to "
				"60000\n",
				optarg);
			return EXIT_USAGE;
		}
		c->freeze_timeout_ms = (unsigned)ms;
		return 0;
	}
	case 'R':
		errno = 0;
		c->ring_bytes = strtoul(optarg, &end, 0);
		if (errno || *end || c->ring_bytes < 4096 || c->ring_bytes > (1ul << 30) ||
		    (c->ring_bytes & (c->ring_bytes - 1))) {
			fprintf(stderr,
				"symbolyze: --ring-size '%s': wants a power of two from 4096 to "
				"1 GiB\n",
				optarg);
			return EXIT_USAGE;
		}
		return 0;
	case 'N':
		c->no_scan = 1;
		return 0;
	case 'M':
		errno = 0;
		c->max_symbols = strtoul(optarg, &end, 10);
		if (errno || *end || end == optarg || c->max_symbols < 1 ||
		    c->max_symbols > (1ul << 24)) {
			fprintf(stderr,
				"symbolyze: --max-symbols '%s': wants a number from 1 to "
				"16777216\n",
				optarg);
			return EXIT_USAGE;
		}
		return 0;
	case 'U':
		c->uprobe_single = 1;
		return 0;
	case 'd':
		errno = 0;
		c->duration = strtod(optarg, &end);
		if (errno || *end || end == optarg || !(c->duration > 0) || c->duration > 1e7) {
			fprintf(stderr, "symbolyze: -d '%s': wants seconds > 0\n", optarg);
			return EXIT_USAGE;
		}
		return 0;
	case 's':
		return add_symbol(c, optarg);
	case 'u':
	case 'X':
		return cli_add_usdt(c, opt, optarg);
	case 'g':
		c->glob = optarg;
		return 0;
	case 'p':
		if (parse_pid(optarg, &c->pid)) {
			fprintf(stderr, "symbolyze: -p '%s': wants a process ID (a number > 0)\n",
				optarg);
			return EXIT_USAGE;
		}
		return 0;
	case 'j':
		c->json = 1;
		return 0;
	case 'v':
		c->verbose = 1;
		return 0;
	case 'h':
		cli_usage(stdout);
		return 0;
	case 'V':
		printf("symbolyze %s\n", SZ_VERSION);
		return 0;
	}
	if (cli_ext_option(c, opt, optarg, &rc))
		return rc;
	fprintf(stderr, "symbolyze: %s: unknown option '%s' (symbolyze --help lists them)\n",
		c->cmd, argv[optind - 1]);
	return EXIT_USAGE;
}

int cli_parse(int argc, char **argv, struct cli *c)
{
	struct sz_glob g;
	int opt, rc;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, c->watch ? "s:u:g:p:jvhd:" : "s:u:g:p:jvh", scan_opts,
				  NULL)) != -1) {
		if (opt != '?' && ((opt < 256 && strchr("NdRCTLFEZMUX", opt)) || opt == 0x1001) &&
		    !c->watch) {
			fprintf(stderr, "symbolyze: '%s' is an option of watch, not of %s\n",
				argv[optind - 1], c->cmd);
			return EXIT_USAGE;
		}
		if (opt == '?' && optopt > 0 &&
		    ((optopt < 256 && strchr("sugpdRZMX", optopt)) || optopt == 0x1001 ||
		     cli_ext_wants_value(optopt))) {
			fprintf(stderr, "symbolyze: %s: '%s' wants a value\n", c->cmd,
				argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (opt >= OPT_ARG && opt <= OPT_HIST) {
			if (!c->watch) {
				fprintf(stderr, "symbolyze: '%s' is an option of watch, not of %s\n",
					argv[optind - 1], c->cmd);
				return EXIT_USAGE;
			}
			rc = cli_probe_opt(c, opt, optarg);
			if (rc)
				return rc;
			continue;
		}
		if (opt == '?' && optopt >= OPT_ARG && optopt <= OPT_HIST) {
			fprintf(stderr, "symbolyze: %s: '%s' wants a value\n", c->cmd,
				argv[optind - 1]);
			return EXIT_USAGE;
		}
		rc = one_option(c, opt, argv);
		if (rc || opt == 'h' || opt == 'V')
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "symbolyze: %s: unexpected argument '%s'\n", c->cmd, argv[optind]);
		return EXIT_USAGE;
	}
	if (c->freeze_timeout_ms && !c->freeze) {
		fprintf(stderr, "symbolyze: --freeze-timeout goes with --freeze\n");
		return EXIT_USAGE;
	}
	rc = cli_probe_check(c);
	if (rc)
		return rc;
	if (c->freeze && !c->probe) {
		fprintf(stderr, "symbolyze: --freeze goes with --count, --trace or --latency\n");
		return EXIT_USAGE;
	}
	if (c->watch && !c->mmap_hook_set && getenv("SYMBOLYZE_MMAP_HOOK")) {
		rc = mmap_hook_opt(c, getenv("SYMBOLYZE_MMAP_HOOK"), "SYMBOLYZE_MMAP_HOOK");
		if (rc)
			return rc;
	}
	if (c->freeze && c->mmap_hook == SZ_MMAP_HOOK_PERF) {
		fprintf(stderr, "symbolyze: --freeze needs --mmap-hook tracepoint (or auto): a "
				"process is stopped in mmap(2), where only the BPF hook runs\n");
		return EXIT_USAGE;
	}
	rc = cli_ext_check(c);
	if (rc >= 0)
		return rc;
	rc = cli_stack_check(c);
	if (rc >= 0)
		return rc;
	if ((!c->nsymbols && !c->nusdt) || !c->glob) {
		fprintf(stderr,
			"symbolyze: %s needs at least one -s SYMBOL or -u PROVIDER:NAME, and a "
			"-g GLOB\n",
			c->cmd);
		return EXIT_USAGE;
	}
	rc = cli_check_usdt(c);
	if (rc)
		return rc;
	rc = sz_glob_compile(c->glob, &g);
	if (rc) {
		fprintf(stderr, "symbolyze: -g: cannot use the pattern: %s\n",
			glob_rule(c->glob, rc));
		return EXIT_USAGE;
	}
	if (c->watch && c->pid && kill(c->pid, 0) && errno == ESRCH) {
		fprintf(stderr, "symbolyze: -p %d: no such process\n", (int)c->pid);
		return EXIT_USAGE;
	}
	return -1;
}

void cli_free(struct cli *c)
{
	free(c->symbols);
	c->symbols = NULL;
	free(c->usdt);
	c->usdt = NULL;
	free(c->usdt_str);
	c->usdt_str = NULL;
}

static int verbose_log;

int cli_verbose_log(int on)
{
	int old = verbose_log;

	verbose_log = on;
	return old;
}

void cli_log(enum sz_log_level level, const char *msg, void *ctx)
{
	static char esc[4 * 4096 + 1];

	if (level > SZ_LOG_WARN && !verbose_log)
		return;
	/* Our messages may hold file names: escaped.  Detail (libbpf's, the
	 * verifier's log) is many lines of its own. */
	if (level <= SZ_LOG_WARN)
		fprintf(stderr, "symbolyze: %s\n", sz_escape(msg, esc, sizeof(esc)));
	else
		fprintf(stderr, "symbolyze: [libbpf] %s\n", msg);
}
