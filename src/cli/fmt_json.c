// SPDX-License-Identifier: BSD-2-Clause
/*
 * JSON Lines output: one object per line, each with "event"; names escaped
 * (src/cli/output.c) so the output is always valid JSON and UTF-8.  The last
 * line is the summary, carrying every figure the stderr summary shows.
 */
#include "cli.h"
#include "metrics.h"
#include "fmt_usdt.h"
#include "out.h"
#include "output.h"

#include <inttypes.h>

static void hex(FILE *f, uint64_t v)
{
	fprintf(f, "\"0x%" PRIx64 "\"", v);
}

static int found(struct cli *c, const struct sz_found *r)
{
	FILE *f = out_begin();

	fprintf(f, "{\"event\":\"found\",\"source\":\"%s\",\"pid\":%d,\"comm\":",
		sz_source_str(r->source), (int)r->pid);
	sz_json_str(f, r->comm);
	fputs(",\"path\":", f);
	sz_json_str(f, r->path);
	fprintf(f, ",\"deleted\":%s,\"build_id\":", r->deleted ? "true" : "false");
	sz_json_str(f, r->build_id);
	fputs(",\"symbol\":", f);
	sz_json_str(f, r->symbol);
	fputs(",\"version\":", f);
	sz_json_str(f, r->version);
	fprintf(f, ",\"type\":\"%s\",\"address\":", sz_sym_type_str(r->type));
	hex(f, r->address);
	fputs(",\"load_bias\":", f);
	hex(f, r->load_bias);
	fputs(",\"file_offset\":", f);
	if (r->has_file_offset)
		hex(f, r->file_offset);
	else
		fputs("null", f);
	fprintf(f, ",\"size\":%" PRIu64 ",\"dev\":%" PRIu64 ",\"ino\":%" PRIu64, r->size, r->dev,
		r->ino);
	if (c->watch) { /* issue 13: the process's cgroup v2 path (null: gone, or v1) */
		/* issue 10: by the kernel's cgroup id, one /proc read per cgroup */
		fputs(",\"cgroup\":", f);
		sz_json_str(f, cli_cgroup_path(r->pid, r->cgroup_id));
	}
	if (r->naliases) { /* -s GLOB: the other names at this address */
		fputs(",\"aliases\":[", f);
		for (size_t i = 0; i < r->naliases; i++) {
			if (i)
				fputc(',', f);
			sz_json_str(f, r->aliases[i]);
		}
		fputc(']', f);
	}
	fmt_json_usdt_found(f, r);
	if (c->probe) {
		fprintf(f, ",\"probed\":%s,\"probe_note\":", r->probed ? "true" : "false");
		sz_json_str(f, r->probe_note);
	}
	fputs("}\n", f);
	out_end();
	return 0;
}

static void problem(struct cli *c, const struct sz_problem *p)
{
	FILE *f = out_begin();

	fprintf(f, "{\"event\":\"error\",\"reason\":\"%s\",\"pid\":%d,\"comm\":",
		sz_reason_str(p->reason), (int)p->pid);
	sz_json_str(f, p->comm);
	fputs(",\"path\":", f);
	sz_json_str(f, p->path);
	fputs(",\"symbol\":", f);
	sz_json_str(f, p->symbol);
	fputs(",\"message\":", f);
	sz_json_str(f, p->message);
	fputs("}\n", f);
	out_end();
}

static void call(struct cli *c, const struct sz_call *k)
{
	FILE *f = out_begin();

	fprintf(f, "{\"event\":\"%s\",\"pid\":%d,\"tid\":%d,\"comm\":",
		k->is_return ? "return" : "call", (int)k->pid, (int)k->tid);
	sz_json_str(f, k->comm);
	fputs(",\"symbol\":", f);
	sz_json_str(f, k->symbol);
	fprintf(f, ",\"ts_ns\":%" PRIu64, k->ts_ns);
	if (k->is_return)
		fprintf(f, ",\"ret\":\"0x%" PRIx64 "\",\"duration_ns\":%" PRIu64 "}\n", k->ret,
			k->duration_ns);
	else
		fprintf(f,
			",\"args\":[\"0x%" PRIx64 "\",\"0x%" PRIx64 "\",\"0x%" PRIx64
			"\",\"0x%" PRIx64 "\",\"0x%" PRIx64 "\",\"0x%" PRIx64 "\"]",
			k->args[0], k->args[1], k->args[2], k->args[3], k->args[4], k->args[5]);
	if (!k->is_return && k->stack) {
		fputs(",\"stack\":", f);
		cli_stack_json(f, k->stack);
	}
	if (!k->is_return) {
		cli_values_json(f, k); /* --arg */
		fputs("}\n", f);
	}
	out_end();
}

static void count_header(struct cli *c)
{
}

static void count(struct cli *c, pid_t pid, const char *symbol, uint64_t calls)
{
	FILE *f = out_begin();

	fprintf(f, "{\"event\":\"count\",\"pid\":%d,\"symbol\":", (int)pid);
	sz_json_str(f, symbol);
	fprintf(f, ",\"calls\":%" PRIu64, calls);
	if (c->batch) /* --interval: the batch it belongs to */
		fprintf(f, ",\"interval\":%" PRIu64, c->batch);
	fputs("}\n", f);
	out_end();
}

static void latency(struct cli *c, const char *symbol, const uint64_t *b, size_t n)
{
	FILE *f = out_begin();
	size_t lo = n, hi = 0;
	int first = 1;

	for (size_t i = 0; i < n; i++)
		if (b[i]) {
			lo = i < lo ? i : lo;
			hi = i;
		}
	fputs("{\"event\":\"latency\",\"symbol\":", f);
	sz_json_str(f, symbol);
	fputs(",\"buckets\":[", f);
	for (size_t i = lo; i <= hi && i < n; i++) {
		fprintf(f,
			"%s{\"low_ns\":%" PRIu64 ",\"high_ns\":%" PRIu64 ",\"count\":%" PRIu64 "}",
			first ? "" : ",", (uint64_t)1 << i, ((uint64_t)2 << i) - 1, b[i]);
		first = 0;
	}
	fputc(']', f);
	if (c->batch)
		fprintf(f, ",\"interval\":%" PRIu64, c->batch);
	fputs("}\n", f);
	out_end();
}

static void lost(struct cli *c, const struct sz_lost *l)
{
	FILE *f = out_begin();

	fprintf(f,
		"{\"event\":\"lost\",\"reason\":\"%s\",\"records\":%" PRIu64 ",\"loads\":%" PRIu64
		",\"repaired\":%" PRIu64 "}\n",
		sz_lost_reason_str(l->reason), l->records, l->loads, l->repaired);
	out_end();
}

/* The mmap hook that runs (never AUTO once the watch has started). */
static const char *hook_name(unsigned hook)
{
	return hook == SZ_MMAP_HOOK_PERF ? "perf" : "tracepoint";
}

static void ready(struct cli *c)
{
	FILE *f = out_begin();

	fprintf(f, "{\"event\":\"ready\",\"mmap_hook\":\"%s\"}\n", hook_name(c->mmap_hook));
	out_end();
}

static void summary(struct cli *c, const struct sz_stats *st, const struct sz_watch_stats *w,
		    uint64_t output_dropped)
{
	FILE *f = out_begin();

	fprintf(f,
		"{\"event\":\"summary\",\"command\":\"%s\",\"found\":%" PRIu64 ",\"loads\":%" PRIu64
		",\"processes\":%" PRIu64 ",\"processes_unreadable\":%" PRIu64
		",\"files_parsed\":%" PRIu64 ",",
		c->cmd, st->found, st->mappings, st->processes, st->processes_unreadable,
		st->files_parsed);
	fprintf(f,
		"\"symbol_ids\":%" PRIu64 ",\"symbol_ids_overflow\":%" PRIu64
		",\"names_too_long\":%" PRIu64 ",\"problems\":{",
		st->symbol_ids, st->symbol_ids_overflow, st->names_too_long);
	for (int r = 0; r < SZ_REASON_COUNT; r++)
		fprintf(f, "%s\"%s\":%" PRIu64, r ? "," : "", sz_reason_str((enum sz_reason)r),
			st->problems[r]);
	fputc('}', f);
	if (w)
		fprintf(f,
			",\"events\":%" PRIu64 ",\"bad_records\":%" PRIu64
			",\"duplicates\":%" PRIu64 ",\"exits\":%" PRIu64 ",\"lost\":%" PRIu64
			",\"repaired\":%" PRIu64 ",\"uprobes\":%" PRIu64
			",\"call_records_dropped\":%" PRIu64 ",\"frozen\":%" PRIu64
			",\"kernel_deduped\":%" PRIu64 ",\"glob_unsure\":%" PRIu64
			",\"freeze_timeouts\":%" PRIu64 ",\"freeze_skipped\":%" PRIu64
			",\"freeze_full\":%" PRIu64 ",\"invisible\":%" PRIu64
			",\"latency_unmatched\":%" PRIu64,
			w->events, w->bad_records, w->duplicates, w->exits, w->lost, w->repaired,
			w->probes, w->probe_drops, w->frozen, w->kernel_deduped, w->glob_unsure,
			w->freeze_timeouts, w->freeze_skipped, w->freeze_full, w->invisible,
			w->latency_unmatched);
	if (w) /* [safety] losses by reason; record_bytes: what the ring held */
		fprintf(f,
			",\"lost_loads\":%" PRIu64 ",\"lost_reasons\":{\"ring_full\":%" PRIu64
			",\"seen_full\":%" PRIu64 ",\"vma_busy\":%" PRIu64
			"},\"record_bytes\":%" PRIu64,
			w->lost_loads, w->lost, w->seen_full, w->vma_busy, w->record_bytes);
	if (w) /* issue 10: which hook saw new mappings */
		fprintf(f, ",\"mmap_hook\":\"%s\",\"hints\":%" PRIu64 ",\"hints_unmet\":%" PRIu64,
			hook_name(w->mmap_hook), w->hints,
			w->hints_unmet);
	if (w)
		cli_probe_summary_json(f, w);
	if (w && c->probe)
		fprintf(f, ",\"uprobe_links\":%" PRIu64 ",\"uprobe_attach\":\"%s\"", w->probe_links,
			!w->probes	 ? "none"
			: w->probe_multi ? "multi"
					 : "perf_event");
	if (w)
		fmt_json_usdt_summary(f, w);
	cli_stack_summary(c, f, w);
	fprintf(f, ",\"output_dropped\":%" PRIu64 "}\n", output_dropped);
	out_end();
	fmt_text.summary(c, st, w, output_dropped);
}

const struct fmt fmt_json = {
	.found = found,
	.problem = problem,
	.call = call,
	.count_header = count_header,
	.count = count,
	.latency = latency,
	.lost = lost,
	.ready = ready,
	.summary = summary,
	.usdt_call = fmt_json_usdt_call,
	.usdt_count = fmt_json_usdt_count,
};
