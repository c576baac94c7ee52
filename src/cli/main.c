// SPDX-License-Identifier: BSD-2-Clause
/*
 * symbolyze command line: option parsing and output only; everything a
 * library user would also want lives in libsymbolyze.
 */
#include "symbolyze.h"
#include "output.h"

#include <elf.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { EXIT_NOMATCH = 1, EXIT_USAGE = 2, EXIT_ENV = 3 };

struct cli {
	int watch;
	enum sz_probe_mode probe;
	int freeze;
	unsigned freeze_timeout_ms; /* 0: the library's default */
	unsigned long ring_bytes;
	int no_scan;
	double duration; /* seconds; 0: until SIGINT/SIGTERM */
	const char *glob;
	const char *symbols[64];
	size_t nsymbols;
	pid_t pid;
	int json, verbose;
	int header_done;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: symbolyze scan    -s SYMBOL [-s SYMBOL ...] -g GLOB [-p PID] [--json] [-v]\n"
		"       symbolyze watch   -s SYMBOL [-s ...] -g GLOB [-p PID] [--json] [--no-scan]\n"
		"                         [-d SECONDS] [--count | --trace | --latency]\n"
		"                         [--freeze [--freeze-timeout MS]]\n"
		"                         [--ring-size BYTES] [-v]\n"
		"       symbolyze resolve FILE SYMBOL [--json]\n"
		"       symbolyze --help | --version\n"
		"\n"
		"scan      find SYMBOL in every process that maps a file matching GLOB and\n"
		"          print its runtime address (GLOB: fnmatch(3) on the base name, or\n"
		"          on the whole path if it contains '/'; SYMBOL: name or name@VERSION)\n"
		"watch     report loads of matching files as they happen (execve, mmap), after\n"
		"          a scan of the running processes; until SIGINT/SIGTERM or -d SECONDS\n"
		"          --count   calls per process and symbol (at exit; SIGUSR1: now)\n"
		"          --trace   each call with its first six arguments, each return\n"
		"          --latency log2 histograms of call durations (at exit; SIGUSR1: now)\n"
		"          --freeze  stop a process that maps a matching file until its probes\n"
		"                    are attached, so not even the first call is missed; never\n"
		"                    longer than --freeze-timeout MS (default 500), whatever\n"
		"                    happens to symbolyze\n"
		"resolve   print a symbol's value, size, type, file offset and build-ID\n"
		"\n"
		"Exit status: 0 found, 1 nothing matched, 2 usage error, 3 environment.\n");
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

static const struct option scan_opts[] = {
	{ "symbol", required_argument, NULL, 's' },   { "glob", required_argument, NULL, 'g' },
	{ "pid", required_argument, NULL, 'p' },      { "json", no_argument, NULL, 'j' },
	{ "verbose", no_argument, NULL, 'v' },	      { "no-scan", no_argument, NULL, 'N' },
	{ "duration", required_argument, NULL, 'd' }, { "ring-size", required_argument, NULL, 'R' },
	{ "count", no_argument, NULL, 'C' },	      { "trace", no_argument, NULL, 'T' },
	{ "latency", no_argument, NULL, 'L' },	      { "freeze", no_argument, NULL, 'F' },
	{ "empty-probe", no_argument, NULL, 'E' }, /* benchmarks: the kernel's floor */
	{ "freeze-timeout", required_argument, NULL, 'Z' }, /* --freeze's bound */
	{ "help", no_argument, NULL, 'h' },	      { NULL, 0, NULL, 0 },
};

/* Fills C from argv; returns 0, or EXIT_USAGE after saying what is wrong. */
static int parse_scan_args(int argc, char **argv, struct cli *c)
{
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, c->watch ? "s:g:p:jvhd:" : "s:g:p:jvh", scan_opts,
				  NULL)) != -1) {
		if (strchr("NdRCTLFEZ", opt) && !c->watch) {
			fprintf(stderr, "symbolyze: '%s' is an option of watch\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
		switch (opt) {
		case 'C':
		case 'T':
		case 'L':
		case 'E': {
			enum sz_probe_mode want = opt == 'C'   ? SZ_PROBE_COUNT
						  : opt == 'T' ? SZ_PROBE_TRACE
						  : opt == 'L' ? SZ_PROBE_LATENCY
							       : SZ_PROBE_EMPTY;

			if (c->probe && c->probe != want) {
				fprintf(stderr,
					"symbolyze: --count, --trace and --latency exclude each "
					"other\n");
				return EXIT_USAGE;
			}
			c->probe = want;
			break;
		}
		case 'F':
			c->freeze = 1;
			break;
		case 'Z': {
			char *end;
			long ms;

			errno = 0;
			ms = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || ms < 1 || ms > 60000) {
				fprintf(stderr,
					"symbolyze: --freeze-timeout wants milliseconds from 1 to "
					"60000, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			c->freeze_timeout_ms = (unsigned)ms;
			break;
		}
		case 'R': {
			char *end;

			errno = 0;
			c->ring_bytes = strtoul(optarg, &end, 0);
			if (errno || *end || c->ring_bytes < 4096 || c->ring_bytes > (1ul << 30) ||
			    (c->ring_bytes & (c->ring_bytes - 1))) {
				fprintf(stderr,
					"symbolyze: --ring-size wants a power of two "
					"from 4096 to 1 GiB, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case 'N':
			c->no_scan = 1;
			break;
		case 'd': {
			char *end;

			errno = 0;
			c->duration = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(c->duration > 0) ||
			    c->duration > 1e7) {
				fprintf(stderr, "symbolyze: -d wants seconds > 0, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case 's':
			if (c->nsymbols >= sizeof(c->symbols) / sizeof(c->symbols[0])) {
				fprintf(stderr, "symbolyze: too many -s (at most 64)\n");
				return EXIT_USAGE;
			}
			c->symbols[c->nsymbols++] = optarg;
			break;
		case 'g':
			c->glob = optarg;
			break;
		case 'p':
			if (parse_pid(optarg, &c->pid)) {
				fprintf(stderr, "symbolyze: -p wants a process ID, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j':
			c->json = 1;
			break;
		case 'v':
			c->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "symbolyze: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (c->freeze_timeout_ms && !c->freeze) {
		fprintf(stderr, "symbolyze: --freeze-timeout goes with --freeze\n");
		return EXIT_USAGE;
	}
	if (c->freeze && !c->probe) {
		fprintf(stderr, "symbolyze: --freeze goes with --count, --trace or --latency\n");
		return EXIT_USAGE;
	}
	if (!c->nsymbols || !c->glob) {
		fprintf(stderr, "symbolyze: %s needs at least one -s SYMBOL and a -g GLOB\n",
			c->watch ? "watch" : "scan");
		return EXIT_USAGE;
	}
	return 0;
}

static void hex(FILE *f, uint64_t v)
{
	fprintf(f, "\"0x%" PRIx64 "\"", v);
}

static int print_found(const struct sz_found *r, void *ctx)
{
	struct cli *c = ctx;
	char comm[256], path[4 * 4096 + 1], sym[1024];

	if (c->json) {
		printf("{\"event\":\"found\",\"source\":\"%s\",\"pid\":%d,\"comm\":",
		       sz_source_str(r->source), (int)r->pid);
		sz_json_str(stdout, r->comm);
		fputs(",\"path\":", stdout);
		sz_json_str(stdout, r->path);
		printf(",\"deleted\":%s,\"build_id\":", r->deleted ? "true" : "false");
		sz_json_str(stdout, r->build_id);
		fputs(",\"symbol\":", stdout);
		sz_json_str(stdout, r->symbol);
		fputs(",\"version\":", stdout);
		sz_json_str(stdout, r->version);
		printf(",\"type\":\"%s\",\"address\":", sz_sym_type_str(r->type));
		hex(stdout, r->address);
		fputs(",\"load_bias\":", stdout);
		hex(stdout, r->load_bias);
		fputs(",\"file_offset\":", stdout);
		if (r->has_file_offset)
			hex(stdout, r->file_offset);
		else
			fputs("null", stdout);
		printf(",\"size\":%" PRIu64 ",\"dev\":%" PRIu64 ",\"ino\":%" PRIu64, r->size,
		       r->dev, r->ino);
		if (c->probe) {
			printf(",\"probed\":%s,\"probe_note\":", r->probed ? "true" : "false");
			sz_json_str(stdout, r->probe_note);
		}
		fputs("}\n", stdout);
	} else {
		if (!c->header_done) {
			printf("%-6s %-8s %-16s %-18s %-24s %-7s %s\n", "SOURCE", "PID", "COMM",
			       "ADDRESS", "SYMBOL", "TYPE", "PATH");
			c->header_done = 1;
		}
		printf("%-6s %-8d %-16s 0x%-16" PRIx64 " %-24s %-7s %s%s\n",
		       sz_source_str(r->source), (int)r->pid,
		       sz_escape(r->comm, comm, sizeof(comm)), r->address,
		       sz_escape(r->symbol, sym, sizeof(sym)), sz_sym_type_str(r->type),
		       sz_escape(r->path, path, sizeof(path)), r->deleted ? " (deleted)" : "");
		if (c->probe && r->probe_note)
			fprintf(stderr, "symbolyze: pid %d %s: %s\n", (int)r->pid,
				sz_escape(r->symbol, sym, sizeof(sym)), r->probe_note);
	}
	return 0;
}

static void print_problem(const struct sz_problem *p, void *ctx)
{
	struct cli *c = ctx;
	char comm[256], path[4 * 4096 + 1];

	/* Unreadable processes are counted in the summary; name them only when
	 * the user asked about one process or for detail. */
	if (!p->path && !c->verbose && !c->pid)
		return;
	if (c->json) {
		printf("{\"event\":\"error\",\"reason\":\"%s\",\"pid\":%d,\"comm\":",
		       sz_reason_str(p->reason), (int)p->pid);
		sz_json_str(stdout, p->comm);
		fputs(",\"path\":", stdout);
		sz_json_str(stdout, p->path);
		fputs(",\"symbol\":", stdout);
		sz_json_str(stdout, p->symbol);
		fputs(",\"message\":", stdout);
		sz_json_str(stdout, p->message);
		fputs("}\n", stdout);
		return;
	}
	if (!p->first && !c->verbose)
		return;
	fprintf(stderr, "symbolyze: pid %d", (int)p->pid);
	if (p->comm)
		fprintf(stderr, " (%s)", sz_escape(p->comm, comm, sizeof(comm)));
	if (p->path)
		fprintf(stderr, " %s", sz_escape(p->path, path, sizeof(path)));
	fprintf(stderr, ": %s [%s]\n", p->message, sz_reason_str(p->reason));
}

static void print_summary(const struct sz_stats *st)
{
	fprintf(stderr,
		"symbolyze: %" PRIu64 " found in %" PRIu64 " loads; %" PRIu64
		" processes scanned, %" PRIu64 " unreadable, %" PRIu64 " files parsed",
		st->found, st->mappings, st->processes, st->processes_unreadable, st->files_parsed);
	fprintf(stderr, "; unresolved:");
	for (int r = 0; r < SZ_REASON_COUNT; r++)
		fprintf(stderr, " %s %" PRIu64 "%s", sz_reason_str((enum sz_reason)r),
			st->problems[r], r + 1 < SZ_REASON_COUNT ? "," : "\n");
}

/* The final JSON event: every figure of the stderr summary, for scripts. */
static void json_summary(const char *command, const struct sz_stats *st,
			 const struct sz_watch_stats *w)
{
	printf("{\"event\":\"summary\",\"command\":\"%s\",\"found\":%" PRIu64
	       ",\"loads\":%" PRIu64 ",\"processes\":%" PRIu64
	       ",\"processes_unreadable\":%" PRIu64 ",\"files_parsed\":%" PRIu64
	       ",\"problems\":{",
	       command, st->found, st->mappings, st->processes, st->processes_unreadable,
	       st->files_parsed);
	for (int r = 0; r < SZ_REASON_COUNT; r++)
		printf("%s\"%s\":%" PRIu64, r ? "," : "", sz_reason_str((enum sz_reason)r),
		       st->problems[r]);
	putchar('}');
	if (w)
		printf(",\"events\":%" PRIu64 ",\"bad_records\":%" PRIu64
		       ",\"duplicates\":%" PRIu64 ",\"exits\":%" PRIu64 ",\"lost\":%" PRIu64
		       ",\"repaired\":%" PRIu64 ",\"uprobes\":%" PRIu64
		       ",\"call_records_dropped\":%" PRIu64 ",\"frozen\":%" PRIu64
		       ",\"freeze_timeouts\":%" PRIu64
		       ",\"freeze_skipped\":%" PRIu64 ",\"freeze_full\":%" PRIu64
		       ",\"invisible\":%" PRIu64,
		       w->events, w->bad_records, w->duplicates, w->exits, w->lost, w->repaired,
		       w->probes, w->probe_drops, w->frozen, w->freeze_timeouts, w->freeze_skipped,
		       w->freeze_full, w->invisible);
	fputs("}\n", stdout);
	(void)fflush(stdout);
}

static int cmd_scan(int argc, char **argv)
{
	struct cli c = { 0 };
	struct sz_scanner *s = NULL;
	struct sz_stats st;
	int rc;

	rc = parse_scan_args(argc, argv, &c);
	if (rc)
		return rc;
	SZ_OPTS(sz_scanner_opts, o, .glob = c.glob, .symbols = c.symbols, .nsymbols = c.nsymbols,
		.pid = c.pid);
	rc = sz_scanner_new(&o, &s);
	if (rc) {
		fprintf(stderr, "symbolyze: bad glob or symbol: %s\n", strerror(-rc));
		return EXIT_USAGE;
	}
	sz_scanner_on_found(s, print_found, &c);
	sz_scanner_on_problem(s, print_problem, &c);
	rc = sz_scanner_scan(s);
	sz_scanner_stats(s, &st);
	sz_scanner_free(s);
	(void)fflush(stdout);
	if (rc < 0) {
		fprintf(stderr, "symbolyze: cannot scan /proc: %s (is procfs mounted?)\n",
			strerror(-rc));
		return EXIT_ENV;
	}
	if (c.json)
		json_summary("scan", &st, NULL);
	print_summary(&st);
	if (!st.processes && st.problems[SZ_REASON_PERMISSION]) {
		fprintf(stderr, "symbolyze: no process's memory map was readable: run as root "
				"(or with CAP_SYS_PTRACE and CAP_SYS_ADMIN)\n");
		return EXIT_ENV;
	}
	return st.found ? 0 : EXIT_NOMATCH;
}

static volatile sig_atomic_t stop_requested, dump_requested;

static void on_signal(int sig)
{
	stop_requested = sig;
}

static void on_usr1(int sig)
{
	dump_requested = sig;
}

static void print_call(const struct sz_call *k, void *ctx)
{
	struct cli *c = ctx;
	char comm[256], sym[1024];

	if (c->json) {
		printf("{\"event\":\"%s\",\"pid\":%d,\"tid\":%d,\"comm\":",
		       k->is_return ? "return" : "call", (int)k->pid, (int)k->tid);
		sz_json_str(stdout, k->comm);
		fputs(",\"symbol\":", stdout);
		sz_json_str(stdout, k->symbol);
		printf(",\"ts_ns\":%" PRIu64, k->ts_ns);
		if (k->is_return)
			printf(",\"ret\":\"0x%" PRIx64 "\",\"duration_ns\":%" PRIu64 "}\n", k->ret,
			       k->duration_ns);
		else
			printf(",\"args\":[\"0x%" PRIx64 "\",\"0x%" PRIx64 "\",\"0x%" PRIx64
			       "\",\"0x%" PRIx64 "\",\"0x%" PRIx64 "\",\"0x%" PRIx64 "\"]}\n",
			       k->args[0], k->args[1], k->args[2], k->args[3], k->args[4],
			       k->args[5]);
		return;
	}
	sz_escape(k->comm, comm, sizeof(comm));
	sz_escape(k->symbol, sym, sizeof(sym));
	if (k->is_return)
		printf("return %-8d %-8d %-16s %s = 0x%" PRIx64 " (%.3f us)\n", (int)k->pid,
		       (int)k->tid, comm, sym, k->ret, (double)k->duration_ns / 1e3);
	else
		printf("call   %-8d %-8d %-16s %s(0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64
		       ", 0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64 ")\n",
		       (int)k->pid, (int)k->tid, comm, sym, k->args[0], k->args[1], k->args[2],
		       k->args[3], k->args[4], k->args[5]);
}

static void print_count(pid_t pid, const char *symbol, uint64_t calls, void *ctx)
{
	struct cli *c = ctx;
	char sym[1024];

	if (c->json) {
		printf("{\"event\":\"count\",\"pid\":%d,\"symbol\":", (int)pid);
		sz_json_str(stdout, symbol);
		printf(",\"calls\":%" PRIu64 "}\n", calls);
	} else {
		printf("count  %-8d %-24s %" PRIu64 "\n", (int)pid,
		       sz_escape(symbol, sym, sizeof(sym)), calls);
	}
}

static void print_latency(const char *symbol, const uint64_t *b, size_t n, void *ctx)
{
	struct cli *c = ctx;
	char sym[1024];
	uint64_t max = 0;
	size_t lo = n, hi = 0;

	for (size_t i = 0; i < n; i++) {
		if (!b[i])
			continue;
		max = b[i] > max ? b[i] : max;
		lo = i < lo ? i : lo;
		hi = i;
	}
	if (c->json) {
		int first = 1;

		fputs("{\"event\":\"latency\",\"symbol\":", stdout);
		sz_json_str(stdout, symbol);
		fputs(",\"buckets\":[", stdout);
		for (size_t i = lo; i <= hi && i < n; i++) {
			printf("%s{\"low_ns\":%" PRIu64 ",\"high_ns\":%" PRIu64
			       ",\"count\":%" PRIu64 "}",
			       first ? "" : ",", (uint64_t)1 << i, ((uint64_t)2 << i) - 1, b[i]);
			first = 0;
		}
		fputs("]}\n", stdout);
		return;
	}
	printf("\n%s\n%24s : %-9s distribution\n", sz_escape(symbol, sym, sizeof(sym)), "nsecs",
	       "count");
	for (size_t i = lo; i <= hi && i < n; i++) {
		char bar[41];
		size_t len = max ? (size_t)(b[i] * 40 / max) : 0;

		memset(bar, '*', len);
		memset(bar + len, ' ', 40 - len);
		bar[40] = '\0';
		printf("%10" PRIu64 " -> %-10" PRIu64 " : %-9" PRIu64 " |%s|\n", (uint64_t)1 << i,
		       ((uint64_t)2 << i) - 1, b[i], bar);
	}
}

static void print_aggregates(struct sz_watch *w, struct cli *c)
{
	if (c->probe == SZ_PROBE_COUNT) {
		if (!c->json)
			printf("%-6s %-8s %-24s %s\n", "", "PID", "SYMBOL", "CALLS");
		sz_watch_counts(w, print_count, c);
	} else if (c->probe == SZ_PROBE_LATENCY) {
		sz_watch_latency(w, print_latency, c);
	}
	(void)fflush(stdout);
}

/* Signals only set a flag; the poll loop shuts down in order.  SIGHUP (the
 * SSH session dropped) and SIGQUIT shut down like SIGTERM.  A second signal
 * takes the default action should shutdown hang (SA_RESETHAND), except with
 * --freeze: then the drain that resumes frozen processes must not be cut. */
static int install_signals(int freeze)
{
	static const int stops[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = freeze ? 0 : SA_RESETHAND };
	struct sigaction usr = { .sa_handler = on_usr1 };

	sigemptyset(&sa.sa_mask);
	sigemptyset(&usr.sa_mask);
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (sigaction(stops[i], &sa, NULL))
			return -errno;
	if (sigaction(SIGUSR1, &usr, NULL))
		return -errno;
	(void)signal(SIGPIPE, SIG_IGN); /* a closed pipe is an EPIPE, not a death */
	return 0;
}

static void print_lost(const struct sz_lost *l, void *ctx)
{
	struct cli *c = ctx;

	if (c->json)
		printf("{\"event\":\"lost\",\"records\":%" PRIu64 ",\"repaired\":%" PRIu64 "}\n",
		       l->records, l->repaired);
	else
		fprintf(stderr,
			"symbolyze: lost %" PRIu64 " kernel records; rescan repaired %" PRIu64
			" loads\n",
			l->records, l->repaired);
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_watch(int argc, char **argv)
{
	struct cli c = { .watch = 1 };
	struct sz_watch *w = NULL;
	struct sz_watch_stats st;
	double deadline;
	int rc;

	rc = parse_scan_args(argc, argv, &c);
	if (rc)
		return rc;
	/* Records are a stream: each line goes out as it is made. */
	(void)setvbuf(stdout, NULL, _IOLBF, 0); /* fails only for a bad mode */
	SZ_OPTS(sz_watch_opts, o, .glob = c.glob, .symbols = c.symbols, .nsymbols = c.nsymbols,
		.pid = c.pid, .no_scan = c.no_scan, .ring_bytes = c.ring_bytes, .probe = c.probe,
		.freeze = c.freeze, .freeze_timeout_ms = c.freeze_timeout_ms);
	rc = sz_watch_new(&o, &w);
	if (rc) {
		fprintf(stderr, "symbolyze: bad glob or symbol: %s\n", strerror(-rc));
		return EXIT_USAGE;
	}
	sz_watch_on_found(w, print_found, &c);
	sz_watch_on_problem(w, print_problem, &c);
	sz_watch_on_lost(w, print_lost, &c);
	sz_watch_on_call(w, print_call, &c);
	rc = install_signals(c.freeze);
	if (!rc)
		rc = sz_watch_start(w);
	if (rc) {
		fprintf(stderr, "symbolyze: %s\n", sz_watch_error(w));
		sz_watch_free(w);
		return EXIT_ENV;
	}
	/* Tell scripts the initial scan is done and the stream is live. */
	if (c.json)
		printf("{\"event\":\"ready\"}\n");
	else
		fprintf(stderr, "symbolyze: watching for '%s'%s; Ctrl-C to stop\n", c.glob,
			c.pid ? " in one process" : "");
	deadline = c.duration > 0 ? mono_now() + c.duration : 0;
	while (!stop_requested) {
		int timeout = 100;

		if (deadline) {
			double left = deadline - mono_now();

			if (left <= 0)
				break;
			if (left * 1000 < timeout)
				timeout = (int)(left * 1000) + 1;
		}
		rc = sz_watch_poll(w, timeout);
		if (dump_requested) {
			dump_requested = 0;
			print_aggregates(w, &c);
		}
		if (rc < 0 && rc != -EINTR && rc != -ECANCELED) {
			fprintf(stderr, "symbolyze: watch failed: %s\n", strerror(-rc));
			break;
		}
		rc = 0;
	}
	/* Detach and deliver what is still queued, then print what BPF
	 * aggregated: the tables come after the last record. */
	sz_watch_stop(w);
	print_aggregates(w, &c);
	sz_watch_stats(w, &st);
	sz_watch_free(w);
	if (c.json)
		json_summary("watch", &st.scan, &st);
	print_summary(&st.scan);
	fprintf(stderr,
		"symbolyze: watch: %" PRIu64 " events, %" PRIu64 " duplicates, %" PRIu64
		" exits, %" PRIu64 " lost, %" PRIu64 " repaired, %" PRIu64 " malformed",
		st.events, st.duplicates, st.exits, st.lost, st.repaired, st.bad_records);
	if (c.probe)
		fprintf(stderr,
			"; %" PRIu64 " uprobes, %" PRIu64 " call records dropped, %" PRIu64
			" processes frozen and resumed (%" PRIu64 " at the time bound, %" PRIu64
			" stops skipped)",
			st.probes, st.probe_drops, st.frozen, st.freeze_timeouts,
			st.freeze_skipped + st.freeze_full);
	if (st.invisible)
		fprintf(stderr, "; %" PRIu64 " records of processes outside our PID namespace",
			st.invisible);
	fputc('\n', stderr);
	return rc ? EXIT_ENV : 0;
}

static int cmd_resolve(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	struct sz_symbol_info info = { .sz = sizeof(info) };
	char err[256] = "", path[4 * 4096 + 1];
	int json = 0, opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (opt == 'j') {
			json = 1;
		} else if (opt == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "symbolyze: resolve wants FILE SYMBOL\n");
		return EXIT_USAGE;
	}
	rc = sz_resolve_file(argv[optind], argv[optind + 1], &info, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "symbolyze: %s: %s\n", sz_escape(argv[optind], path, sizeof(path)),
			err);
		return EXIT_NOMATCH;
	}
	if (json) {
		fputs("{\"event\":\"resolved\",\"path\":", stdout);
		sz_json_str(stdout, argv[optind]);
		fputs(",\"symbol\":", stdout);
		sz_json_str(stdout, argv[optind + 1]);
		fputs(",\"version\":", stdout);
		sz_json_str(stdout, info.version[0] ? info.version : NULL);
		printf(",\"type\":\"%s\",\"value\":\"0x%" PRIx64 "\",\"size\":%" PRIu64
		       ",\"file_offset\":",
		       sz_sym_type_str(info.type), info.value, info.size);
		if (info.has_file_offset)
			printf("\"0x%" PRIx64 "\"", info.file_offset);
		else
			fputs("null", stdout);
		printf(",\"table\":\"%s\",\"build_id\":", info.from_symtab ? "symtab" : "dynsym");
		sz_json_str(stdout, info.build_id[0] ? info.build_id : NULL);
		fputs("}\n", stdout);
		return 0;
	}
	printf("symbol       %s\n", sz_escape(argv[optind + 1], path, sizeof(path)));
	printf("version      %s\n",
	       info.version[0] ? sz_escape(info.version, path, sizeof(path)) : "-");
	printf("type         %s\n", sz_sym_type_str(info.type));
	printf("bind         %s\n", info.bind == STB_GLOBAL  ? "global"
				    : info.bind == STB_WEAK  ? "weak"
				    : info.bind == STB_LOCAL ? "local"
							     : "other");
	printf("value        0x%" PRIx64 "\n", info.value);
	printf("size         %" PRIu64 "\n", info.size);
	if (info.has_file_offset)
		printf("file_offset  0x%" PRIx64 "\n", info.file_offset);
	else
		printf("file_offset  - (not file-backed: .bss)\n");
	printf("table        %s\n", info.from_symtab ? "symtab" : "dynsym");
	printf("build_id     %s\n", info.build_id[0] ? info.build_id : "-");
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "scan", cmd_scan },
	{ "watch", cmd_watch },
	{ "resolve", cmd_resolve },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("symbolyze %s\n", SZ_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "symbolyze: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
