// SPDX-License-Identifier: BSD-2-Clause
/*
 * Text output for people: aligned columns on stdout, problems and the
 * summary on stderr.  Names are escaped: a file may be called anything.
 */
#include "caps.h"
#include "cli.h"
#include "fmt_usdt.h"
#include "out.h"
#include "output.h"

#include <inttypes.h>
#include <string.h>

static int found(struct cli *c, const struct sz_found *r)
{
	char comm[256], path[4 * 4096 + 1], sym[1024];
	FILE *f = out_begin();

	if (!c->header_done) {
		fprintf(f, "%-6s %-8s %-16s %-18s %-24s %-7s %s\n", "SOURCE", "PID", "COMM",
			"ADDRESS", "SYMBOL", "TYPE", "PATH");
		c->header_done = 1;
	}
	fprintf(f, "%-6s %-8d %-16s 0x%-16" PRIx64 " %-24s %-7s %s%s", sz_source_str(r->source),
		(int)r->pid, sz_escape(r->comm, comm, sizeof(comm)), r->address,
		sz_escape(r->symbol, sym, sizeof(sym)), sz_sym_type_str(r->type),
		sz_escape(r->path, path, sizeof(path)), r->deleted ? " (deleted)" : "");
	fmt_text_usdt_found(f, r);
	fputc('\n', f);
	out_end();
	if (c->probe && r->probe_note)
		fprintf(stderr, "symbolyze: pid %d %s: %s\n", (int)r->pid,
			sz_escape(r->symbol, sym, sizeof(sym)), r->probe_note);
	return 0;
}

static void problem(struct cli *c, const struct sz_problem *p)
{
	char comm[256], path[4 * 4096 + 1];

	if (!p->first && !c->verbose)
		return;
	fprintf(stderr, "symbolyze: pid %d", (int)p->pid);
	if (p->comm)
		fprintf(stderr, " (%s)", sz_escape(p->comm, comm, sizeof(comm)));
	if (p->path)
		fprintf(stderr, " %s", sz_escape(p->path, path, sizeof(path)));
	fprintf(stderr, ": %s [%s]\n", p->message, sz_reason_str(p->reason));
}

static void call(struct cli *c, const struct sz_call *k)
{
	char comm[256], sym[1024];
	FILE *f = out_begin();

	sz_escape(k->comm, comm, sizeof(comm));
	sz_escape(k->symbol, sym, sizeof(sym));
	if (k->is_return)
		fprintf(f, "return %-8d %-8d %-16s %s = 0x%" PRIx64 " (%.3f us)\n", (int)k->pid,
			(int)k->tid, comm, sym, k->ret, (double)k->duration_ns / 1e3);
	else
		fprintf(f,
			"call   %-8d %-8d %-16s %s(0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64
			", 0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64 ")",
			(int)k->pid, (int)k->tid, comm, sym, k->args[0], k->args[1], k->args[2],
			k->args[3], k->args[4], k->args[5]);
	if (!k->is_return) {
		cli_values_text(f, k); /* --arg */
		fputc('\n', f);
	}
	if (!k->is_return && k->stack)
		cli_stack_text(f, k->stack, "       ");
	out_end();
}

static void count_header(struct cli *c)
{
	FILE *f = out_begin();

	fprintf(f, "%-6s %-8s %-24s %s\n", "", "PID", "SYMBOL", "CALLS");
	out_end();
}

static void count(struct cli *c, pid_t pid, const char *symbol, uint64_t calls)
{
	char sym[1024];
	FILE *f = out_begin();

	fprintf(f, "count  %-8d %-24s %" PRIu64 "\n", (int)pid, sz_escape(symbol, sym, sizeof(sym)),
		calls);
	out_end();
}

static void latency(struct cli *c, const char *symbol, const uint64_t *b, size_t n)
{
	char sym[1024];
	uint64_t max = 0;
	size_t lo = n, hi = 0;
	FILE *f = out_begin();

	for (size_t i = 0; i < n; i++) {
		if (!b[i])
			continue;
		max = b[i] > max ? b[i] : max;
		lo = i < lo ? i : lo;
		hi = i;
	}
	fprintf(f, "\n%s\n%24s : %-9s distribution\n", sz_escape(symbol, sym, sizeof(sym)), "nsecs",
		"count");
	for (size_t i = lo; i <= hi && i < n; i++) {
		char bar[41];
		size_t len = max ? (size_t)(b[i] * 40 / max) : 0;

		memset(bar, '*', len);
		memset(bar + len, ' ', 40 - len);
		bar[40] = '\0';
		fprintf(f, "%10" PRIu64 " -> %-10" PRIu64 " : %-9" PRIu64 " |%s|\n",
			(uint64_t)1 << i, ((uint64_t)2 << i) - 1, b[i], bar);
	}
	out_end();
}

static void lost(struct cli *c, const struct sz_lost *l)
{
	if (l->reason == SZ_LOST_SEEN_FULL)
		fprintf(stderr,
			"symbolyze: lost: %" PRIu64 " processes the kernel side could not "
			"remember (seen_full): their forks and exits are not reported\n",
			l->loads);
	else if (l->reason == SZ_LOST_VMA_BUSY)
		fprintf(stderr,
			"symbolyze: lost: %" PRIu64 " mmaps not examined (vma_busy: the "
			"process's mmap lock was taken)\n",
			l->loads);
	else
		fprintf(stderr,
			"symbolyze: lost %" PRIu64 " kernel records (%" PRIu64
			" loads; ring_full); rescan repaired %" PRIu64 " loads\n",
			l->records, l->loads, l->repaired);
}

static void ready(struct cli *c)
{
	fprintf(stderr, "symbolyze: watching for '%s'%s; Ctrl-C to stop\n", c->glob,
		c->pid ? " in one process" : "");
}

static void summary(struct cli *c, const struct sz_stats *st, const struct sz_watch_stats *w,
		    uint64_t output_dropped)
{
	fprintf(stderr,
		"symbolyze: %" PRIu64 " found in %" PRIu64 " loads; %" PRIu64
		" processes scanned, %" PRIu64 " unreadable, %" PRIu64 " files parsed",
		st->found, st->mappings, st->processes, st->processes_unreadable, st->files_parsed);
	fprintf(stderr, "; unresolved:");
	for (int r = 0; r < SZ_REASON_COUNT; r++)
		fprintf(stderr, " %s %" PRIu64 "%s", sz_reason_str((enum sz_reason)r),
			st->problems[r], r + 1 < SZ_REASON_COUNT ? "," : "\n");
	if (w) {
		fprintf(stderr,
			"symbolyze: watch: %" PRIu64 " events, %" PRIu64 " duplicates, %" PRIu64
			" exits, %" PRIu64 " lost, %" PRIu64 " repaired, %" PRIu64 " malformed",
			w->events, w->duplicates, w->exits, w->lost, w->repaired, w->bad_records);
		if (w->lost_loads) /* [safety] */
			fprintf(stderr,
				"; %" PRIu64 " loads lost (ring_full %" PRIu64
				" records, seen_full %" PRIu64 ", vma_busy %" PRIu64 ")",
				w->lost_loads, w->lost, w->seen_full, w->vma_busy);
		if (c->probe)
			fprintf(stderr,
				"; %" PRIu64 " uprobes, %" PRIu64 " call records dropped, %" PRIu64
				" processes frozen and resumed (%" PRIu64
				" at the time bound, %" PRIu64 " stops skipped)",
				w->probes, w->probe_drops, w->frozen, w->freeze_timeouts,
				w->freeze_skipped + w->freeze_full);
		cli_probe_summary_text(stderr, w);
		if (c->probe && w->probes)
			fprintf(stderr, "; %s: %" PRIu64 " %s",
				w->probe_multi ? "multi-uprobe links" : "perf-event uprobes",
				w->probe_links, w->probe_multi ? "links" : "events");
		if (c->probe && c->nusdt)
			fprintf(stderr, "; %" PRIu64 " USDT probes, %" PRIu64 " hits dropped",
				w->usdt_probes, w->usdt_drops);
		if (w->invisible)
			fprintf(stderr,
				"; %" PRIu64 " records of processes outside our PID namespace",
				w->invisible);
		fputc('\n', stderr);
		cli_stack_summary(c, NULL, w);
	}
	if (st->symbol_ids_overflow || st->names_too_long)
		fprintf(stderr,
			"symbolyze: %" PRIu64
			" functions not probed: no symbol id left (--max-symbols "
			"%" PRIu64 " reached); %" PRIu64 " names too long to match\n",
			st->symbol_ids_overflow, st->symbol_ids, st->names_too_long);
	if (output_dropped)
		fprintf(stderr,
			"symbolyze: %" PRIu64 " output records dropped: the reader of stdout "
			"was too slow\n",
			output_dropped);
}

const struct fmt fmt_text = {
	.found = found,
	.problem = problem,
	.call = call,
	.count_header = count_header,
	.count = count,
	.latency = latency,
	.lost = lost,
	.ready = ready,
	.summary = summary,
	.usdt_call = fmt_text_usdt_call,
	.usdt_count = fmt_text_usdt_count,
};

/* The problem observer of scan and watch.  Unreadable processes are counted
 * in the summary; they are named only when the user asked about one process
 * or for detail.  A refused uprobe is noted for the capability check. */
void cli_on_problem(const struct sz_problem *p, void *ctx)
{
	struct cli *c = ctx;

	sz_cli_note_problem(p);
	if (!p->path && !c->verbose && !c->pid)
		return;
	cli_fmt(c)->problem(c, p);
}

const struct fmt *cli_fmt(const struct cli *c)
{
	return c->json ? &fmt_json : &fmt_text;
}
