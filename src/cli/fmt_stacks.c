// SPDX-License-Identifier: BSD-2-Clause
/*
 * --stacks output: a stack as text lines or a JSON object (frames with address,
 * symbol+offset, file and build-ID, and why it was cut short), and the --count report:
 * unique stacks most frequent first, as text, JSON Lines, folded lines (flame graphs)
 * or a pprof profile (fmt_pprof.c).  Names are escaped: a file may be called anything.
 */
#include "cli.h"
#include "out.h"
#include "output.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int cli_pprof_open(const char *path);
int cli_pprof_add(struct cli *c, const char *symbol, const struct sz_stack *st, uint64_t calls);
int cli_pprof_write(struct cli *c);

static int report_failed; /* a --pprof file not written: the exit code says it too */

int cli_stacks_open(struct cli *c)
{
	return c->pprof && cli_pprof_open(c->pprof) ? EXIT_USAGE : -1;
}

int cli_stacks_failed(void)
{
	return report_failed;
}

static const char *base_name(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;

	return s ? s + 1 : path;
}

void cli_stack_text(FILE *f, const struct sz_stack *st, const char *indent)
{
	char name[1024], path[4 * PATH_MAX + 1];

	for (size_t i = 0; i < st->nframes; i++) {
		const struct sz_frame *fr = &st->frames[i];

		fprintf(f, "%s#%-3zu 0x%016" PRIx64 " ", indent, i, fr->address);
		if (fr->symbol)
			fprintf(f, "%s+0x%" PRIx64, sz_escape(fr->symbol, name, sizeof(name)),
				fr->offset);
		else
			fputs("[unknown]", f);
		if (fr->path)
			fprintf(f, " (%s)", sz_escape(fr->path, path, sizeof(path)));
		fputc('\n', f);
	}
	if (st->truncated)
		fprintf(f, "%s[truncated: %s]\n", indent, st->truncated);
}

void cli_stack_json(FILE *f, const struct sz_stack *st)
{
	fputs("{\"truncated\":", f);
	sz_json_str(f, st->truncated);
	fputs(",\"frames\":[", f);
	for (size_t i = 0; i < st->nframes; i++) {
		const struct sz_frame *fr = &st->frames[i];

		fprintf(f, "%s{\"address\":\"0x%" PRIx64 "\",\"symbol\":", i ? "," : "",
			fr->address);
		sz_json_str(f, fr->symbol);
		if (fr->symbol)
			fprintf(f, ",\"offset\":\"0x%" PRIx64 "\"", fr->offset);
		else
			fputs(",\"offset\":null", f);
		fputs(",\"path\":", f);
		sz_json_str(f, fr->path);
		fputs(",\"build_id\":", f);
		sz_json_str(f, fr->build_id);
		if (fr->path)
			fprintf(f, ",\"file_vaddr\":\"0x%" PRIx64 "\"}", fr->vaddr);
		else
			fputs(",\"file_vaddr\":null}", f);
	}
	fputs("]}", f);
}

/* Folded: outermost first, ';' between frames, then the count (flamegraph.pl's input).
 * A frame without a symbol is its file and address, or [unknown]; ';' and ' ' in a name
 * would break the line, so they are escaped too. */
static void folded_frame(FILE *f, const struct sz_frame *fr)
{
	char buf[1024];
	const char *s;

	if (fr->symbol) {
		sz_escape(fr->symbol, buf, sizeof(buf));
	} else if (fr->path) {
		char b[512];

		snprintf(buf, sizeof(buf), "[%s+0x%" PRIx64 "]",
			 sz_escape(base_name(fr->path), b, sizeof(b)), fr->vaddr);
	} else {
		snprintf(buf, sizeof(buf), "[unknown]");
	}
	for (s = buf; *s; s++)
		if (*s == ';' || *s == ' ')
			fprintf(f, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, f);
}

static void on_stack(const char *symbol, const struct sz_stack *st, uint64_t calls, void *ctx)
{
	struct cli *c = ctx;
	char sym[1024];
	FILE *f;

	if (c->pprof) {
		cli_pprof_add(c, symbol, st, calls); /* a failure is said at the write */
		return;
	}
	f = out_begin();
	if (c->folded) {
		for (size_t i = st->nframes; i-- > 0;) {
			folded_frame(f, &st->frames[i]);
			if (i)
				fputc(';', f);
		}
		fprintf(f, " %" PRIu64 "\n", calls);
	} else if (c->json) {
		fputs("{\"event\":\"stack\",\"symbol\":", f);
		sz_json_str(f, symbol);
		fprintf(f, ",\"calls\":%" PRIu64 ",\"stack\":", calls);
		cli_stack_json(f, st);
		fputs("}\n", f);
	} else {
		fprintf(f, "%s: %" PRIu64 " calls\n", sz_escape(symbol, sym, sizeof(sym)), calls);
		cli_stack_text(f, st, "    ");
	}
	out_end();
}

int cli_stacks_report(struct cli *c, struct sz_watch *w)
{
	int r = sz_watch_stacks(w, on_stack, c);

	if (!r && c->pprof)
		r = cli_pprof_write(c);
	if (r)
		report_failed = 1;
	return r;
}

void cli_stack_summary(struct cli *c, FILE *f, const struct sz_watch_stats *w)
{
	if (!c->stacks || !w)
		return;
	if (f) {
		fprintf(f,
			",\"stacks\":%" PRIu64 ",\"stack_records_dropped\":%" PRIu64
			",\"stacks_truncated\":%" PRIu64 ",\"stack_processes_unread\":%" PRIu64,
			w->stacks, w->stack_drops, w->stacks_truncated, w->stack_procs_unread);
		return;
	}
	fprintf(stderr,
		"symbolyze: stacks: %" PRIu64 " taken, %" PRIu64 " dropped (ring full), %" PRIu64
		" truncated, %" PRIu64 " in processes whose mappings could not be read\n",
		w->stacks, w->stack_drops, w->stacks_truncated, w->stack_procs_unread);
}
