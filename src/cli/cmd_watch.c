// SPDX-License-Identifier: BSD-2-Clause
/*
 * `symbolyze watch`: the library's watch driven by a poll loop that never
 * blocks on stdout (records go through the asynchronous writer), stops on a
 * signal, a deadline, the end of the -p process, or a reader that is gone,
 * and always shuts down in order: detach, drain (resuming frozen processes),
 * then the tables and the summary.
 */
#include "caps.h"
#include "cli.h"
#include "metrics.h"
#include "out.h"
#include "sources/watch.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define OUT_QUEUE_BYTES (8u << 20) /* what a slow reader may fall behind by */
#define OUT_CLOSE_MS 500	   /* how long the end waits for a slow reader */

int cli_output_failed(void);

static volatile sig_atomic_t stop_requested, dump_requested;

static void on_signal(int sig)
{
	stop_requested = sig;
}

static void on_usr1(int sig)
{
	dump_requested = sig;
}

/* Signals only set a flag; the poll loop shuts down in order.  SIGHUP (the
 * SSH session dropped) and SIGQUIT shut down like SIGTERM.  A second signal
 * takes the default action should shutdown hang (SA_RESETHAND), except with
 * --freeze: then the drain that resumes frozen processes must not be cut.
 * SIGPIPE is ignored: a closed pipe is an EPIPE the writer reports, which
 * ends the watch in order like a signal. */
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
	(void)signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int on_found(const struct sz_found *r, void *ctx)
{
	struct cli *c = ctx;

	return cli_fmt(c)->found(c, r);
}

static void on_call(const struct sz_call *k, void *ctx)
{
	struct cli *c = ctx;

	cli_fmt(c)->call(c, k);
}

static void on_usdt_call(const struct sz_usdt_call *k, void *ctx)
{
	struct cli *c = ctx;

	cli_fmt(c)->usdt_call(c, k);
}

static void on_usdt_count(pid_t pid, const char *provider, const char *name, uint64_t hits,
			  void *ctx)
{
	struct cli *c = ctx;

	cli_fmt(c)->usdt_count(c, pid, provider, name, hits);
}

static void on_lost(const struct sz_lost *l, void *ctx)
{
	struct cli *c = ctx;

	cli_fmt(c)->lost(c, l);
}

static void on_count(pid_t pid, const char *symbol, uint64_t calls, void *ctx)
{
	struct cli *c = ctx;

	cli_fmt(c)->count(c, pid, symbol, calls);
}

static void on_latency(const char *symbol, const uint64_t *b, size_t n, void *ctx)
{
	struct cli *c = ctx;

	cli_fmt(c)->latency(c, symbol, b, n);
}

static void print_aggregates(struct sz_watch *w, struct cli *c)
{
	if (c->probe == SZ_PROBE_COUNT && !c->empty_probe) {
		if (!c->folded && !c->pprof) {
			cli_fmt(c)->count_header(c);
			sz_watch_counts(w, on_count, c);
			sz_watch_usdt_counts(w, on_usdt_count, c);
		}
		if (c->stacks)
			cli_stacks_report(c, w); /* fmt_stacks.c */
	}
	if (c->probe == SZ_PROBE_LATENCY || c->plat)
		sz_watch_latency(w, on_latency, c);
	cli_probe_aggregates(c, w); /* --key, --hist */
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Why the loop ended, for the exit status and the last words. */
enum why { WHY_SIGNAL, WHY_DEADLINE, WHY_TARGET, WHY_OUTPUT, WHY_FAILED };

static enum why loop(struct sz_watch *w, struct cli *c)
{
	double deadline = c->duration > 0 ? mono_now() + c->duration : 0;

	/* A uprobe the kernel refused for lack of privilege: probing cannot
	 * work at all, so the watch ends (exit 3) rather than count nothing. */
	while (!stop_requested && !sz_cli_probe_denied()) {
		int timeout = 100, rc;

		if (deadline) {
			double left = deadline - mono_now();

			if (left <= 0)
				return WHY_DEADLINE;
			if (left * 1000 < timeout)
				timeout = (int)(left * 1000) + 1;
		}
		rc = cli_ext_poll(c, w, timeout); /* sz_watch_poll, and --metrics, --interval */
		if (dump_requested) {
			dump_requested = 0;
			print_aggregates(w, c);
		}
		out_flush(); /* the batch's records to the writer at once */
		if (out_error() || out_reader_gone())
			return WHY_OUTPUT;
		if (rc < 0 && rc != -EINTR) {
			fprintf(stderr, "symbolyze: watch failed: %s\n", strerror(-rc));
			return WHY_FAILED;
		}
		/* Like strace -p: the watched process is gone, so is the watch. */
		if (c->pid && kill(c->pid, 0) && errno == ESRCH) {
			fprintf(stderr, "symbolyze: process %d exited\n", (int)c->pid);
			return WHY_TARGET;
		}
	}
	return WHY_SIGNAL;
}

int cmd_watch(int argc, char **argv)
{
	struct cli c = { .cmd = "watch", .watch = 1 };
	struct sz_stats st = { .sz = sizeof(st) };
	struct sz_watch_stats ws = { .sz = sizeof(ws) };
	struct sz_watch *w = NULL;
	uint64_t left;
	enum why why;
	int rc, denied;

	rc = cli_parse(argc, argv, &c);
	if (rc >= 0)
		goto out;
	rc = cli_stacks_open(&c); /* --pprof FILE: a bad path fails before any probe */
	if (rc >= 0)
		goto out;
	rc = sz_cli_check_caps(sz_cli_watch_need(c.probe, c.freeze), c.json);
	if (rc)
		goto out;
	rc = out_init(OUT_ASYNC, OUT_QUEUE_BYTES);
	if (rc) {
		fprintf(stderr, "symbolyze: cannot set up output: %s\n", strerror(-rc));
		rc = EXIT_ENV;
		goto out;
	}
	SZ_OPTS(sz_watch_opts, o, .glob = c.glob, .symbols = c.symbols, .nsymbols = c.nsymbols,
		.pid = c.pid, .no_scan = c.no_scan, .ring_bytes = c.ring_bytes, .probe = c.probe,
		.freeze = c.freeze, .freeze_timeout_ms = c.freeze_timeout_ms,
		.extra = cli_probe_extra(&c), .max_symbols = c.max_symbols,
		.uprobe_single = c.uprobe_single, .usdt = c.usdt, .nusdt = c.nusdt,
		.usdt_str = c.usdt_str, .nusdt_str = c.nusdt_str, .stacks = c.stacks,
		.stack_bytes = c.stack_bytes, .mmap_hook = c.mmap_hook);
	rc = sz_watch_new(&o, &w);
	if (rc) {
		fprintf(stderr, "symbolyze: cannot watch: %s\n", strerror(-rc));
		rc = rc == -ENOMEM ? EXIT_ENV : EXIT_USAGE;
		goto out;
	}
	if (c.empty_probe)
		sz__watch_empty_probe(w);
	sz_watch_on_found(w, on_found, &c);
	sz_watch_on_problem(w, cli_on_problem, &c);
	sz_watch_on_lost(w, on_lost, &c);
	sz_watch_on_call(w, on_call, &c);
	sz_watch_on_usdt_call(w, on_usdt_call, &c);
	rc = cli_ext_setup(&c, w);
	if (rc) {
		cli_ext_finish(&c);
		sz_watch_free(w);
		goto out;
	}
	rc = install_signals(c.freeze);
	if (rc)
		fprintf(stderr, "symbolyze: cannot install signal handlers: %s\n", strerror(-rc));
	else
		rc = sz_watch_start(w); /* the library says why it failed (log) */
	if (rc < 0) {
		cli_ext_finish(&c);
		sz_watch_free(w);
		rc = EXIT_ENV;
		goto out;
	}
	/* the hook that runs: what --mmap-hook auto chose */
	if (!sz_watch_stats(w, NULL, &ws))
		c.mmap_hook = ws.mmap_hook;
	/* Tell scripts the initial scan is done and the stream is live. */
	cli_fmt(&c)->ready(&c);
	out_flush();
	why = loop(w, &c);
	/* Detach and deliver what is still queued, then print what BPF
	 * aggregated: the tables come after the last record. */
	sz_watch_stop(w);
	cli_ext_finish(&c); /* no scrape reads the watch from here on */
	if (!sz_cli_probe_denied())
		print_aggregates(w, &c);
	sz_watch_stats(w, &st, &ws);
	sz_watch_free(w);
	denied = sz_cli_report_denied(c.json);
	cli_fmt(&c)->summary(&c, &st, &ws, out_dropped());
	left = out_close(OUT_CLOSE_MS);
	if (left && !out_error())
		fprintf(stderr, "symbolyze: %llu output records not written: stdout is not read\n",
			(unsigned long long)left);
	rc = cli_output_failed();
	if (!rc && (why == WHY_FAILED || denied))
		rc = EXIT_ENV;
	if (!rc && cli_stacks_failed())
		rc = EXIT_OUTPUT; /* --pprof FILE not written (fmt_stacks.c said why) */
	cli_free(&c);
	return rc;
out:
	out_close(0);
	cli_free(&c);
	return rc;
}
