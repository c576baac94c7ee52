// SPDX-License-Identifier: BSD-2-Clause
/*
 * Output of USDT probes, text and JSON Lines: the fields a found record of a
 * probe adds, each hit with its arguments typed by the probe's spec (s8..s64,
 * u8..u64, or str when read as a string), and hits per process and probe.
 */
#include "cli.h"
#include "fmt_usdt.h"
#include "out.h"
#include "output.h"

#include <inttypes.h>

void fmt_json_usdt_found(FILE *f, const struct sz_found *r)
{
	fprintf(f, ",\"kind\":\"%s\"", r->type == SZ_SYM_USDT ? "usdt" : "symbol");
	if (r->type != SZ_SYM_USDT)
		return;
	fputs(",\"provider\":", f);
	sz_json_str(f, r->provider);
	fputs(",\"name\":", f);
	sz_json_str(f, r->usdt_name);
	fputs(",\"arg_spec\":", f);
	sz_json_str(f, r->usdt_args);
	if (r->semaphore)
		fprintf(f,
			",\"semaphore\":\"0x%" PRIx64 "\",\"semaphore_offset\":\"0x%" PRIx64 "\"",
			r->semaphore, r->semaphore_offset);
	else
		fputs(",\"semaphore\":null,\"semaphore_offset\":null", f);
}

/* "provider:name" as one JSON string, as found records name a probe. */
static void json_probe_name(FILE *f, const char *provider, const char *name)
{
	char buf[2 * 4096 + 2];

	snprintf(buf, sizeof(buf), "%s:%s", provider, name);
	sz_json_str(f, buf);
}

void fmt_json_usdt_summary(FILE *f, const struct sz_watch_stats *w)
{
	fprintf(f, ",\"usdt_probes\":%" PRIu64 ",\"usdt_records_dropped\":%" PRIu64, w->usdt_probes,
		w->usdt_drops);
}

void fmt_json_usdt_call(struct cli *c, const struct sz_usdt_call *k)
{
	FILE *f = out_begin();

	fprintf(f, "{\"event\":\"call\",\"kind\":\"usdt\",\"pid\":%d,\"tid\":%d,\"comm\":",
		(int)k->pid, (int)k->tid);
	sz_json_str(f, k->comm);
	fputs(",\"symbol\":", f);
	json_probe_name(f, k->provider, k->name);
	fputs(",\"provider\":", f);
	sz_json_str(f, k->provider);
	fputs(",\"name\":", f);
	sz_json_str(f, k->name);
	fprintf(f, ",\"ts_ns\":%" PRIu64 ",\"args\":[", k->ts_ns);
	for (int i = 0; i < k->nargs; i++) {
		const struct sz_usdt_value *a = &k->args[i];

		if (i)
			fputc(',', f);
		if (a->str) {
			fputs("{\"type\":\"str\",\"value\":", f);
			sz_json_str(f, a->str);
			fputc('}', f);
		} else if (a->is_signed) {
			fprintf(f, "{\"type\":\"s%d\",\"value\":%" PRId64 "}", 8 * a->size, a->s);
		} else {
			fprintf(f, "{\"type\":\"u%d\",\"value\":%" PRIu64 "}", 8 * a->size, a->u);
		}
	}
	fputs("]", f);
	if (k->stack) { /* --trace --stacks, as a symbol's call carries it */
		fputs(",\"stack\":", f);
		cli_stack_json(f, k->stack);
	}
	fputs("}\n", f);
	out_end();
	(void)c;
}

void fmt_json_usdt_count(struct cli *c, pid_t pid, const char *provider, const char *name,
			 uint64_t hits)
{
	FILE *f = out_begin();

	fprintf(f, "{\"event\":\"count\",\"kind\":\"usdt\",\"pid\":%d,\"symbol\":", (int)pid);
	json_probe_name(f, provider, name);
	fputs(",\"provider\":", f);
	sz_json_str(f, provider);
	fputs(",\"name\":", f);
	sz_json_str(f, name);
	fprintf(f, ",\"calls\":%" PRIu64 "}\n", hits);
	out_end();
	(void)c;
}

void fmt_text_usdt_call(struct cli *c, const struct sz_usdt_call *k)
{
	char comm[256], prov[1024], name[1024], str[4 * 256 + 1];
	FILE *f = out_begin();

	fprintf(f, "usdt   %-8d %-8d %-16s %s:%s(", (int)k->pid, (int)k->tid,
		sz_escape(k->comm, comm, sizeof(comm)), sz_escape(k->provider, prov, sizeof(prov)),
		sz_escape(k->name, name, sizeof(name)));
	for (int i = 0; i < k->nargs; i++) {
		const struct sz_usdt_value *a = &k->args[i];

		if (i)
			fputs(", ", f);
		if (a->str)
			fprintf(f, "\"%s\"", sz_escape(a->str, str, sizeof(str)));
		else if (a->is_signed)
			fprintf(f, "%" PRId64, a->s);
		else
			fprintf(f, "%" PRIu64, a->u);
	}
	fputs(")\n", f);
	if (k->stack)
		cli_stack_text(f, k->stack, "       ");
	out_end();
	(void)c;
}

void fmt_text_usdt_count(struct cli *c, pid_t pid, const char *provider, const char *name,
			 uint64_t hits)
{
	char prov[1024], nm[1024], both[2100];
	FILE *f = out_begin();

	snprintf(both, sizeof(both), "%s:%s", sz_escape(provider, prov, sizeof(prov)),
		 sz_escape(name, nm, sizeof(nm)));
	fprintf(f, "count  %-8d %-24s %" PRIu64 "\n", (int)pid, both, hits);
	out_end();
	(void)c;
}

void fmt_text_usdt_found(FILE *f, const struct sz_found *r)
{
	if (r->type == SZ_SYM_USDT && r->semaphore)
		fprintf(f, " [semaphore 0x%" PRIx64 "]", r->semaphore);
}
