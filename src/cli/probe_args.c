// SPDX-License-Identifier: BSD-2-Clause
/*
 * The probe options of issue 11 (--arg, --filter, --comm, --key, --hist, and
 * --count --latency together): parsing, with usage errors that name the
 * argument and the rule, and the output of argument values, key tables and
 * histograms in text and JSON.
 */
#include "cli.h"
#include "out.h"
#include "output.h"
#include "util/glob.h"
#include "../../bpf/args.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/types.h>
#include <stdlib.h>
#include <string.h>

#define ARG_RULE                                                                                            \
	"wants N:TYPE, N from 0 to 5 (arg0 is the first), TYPE one of int, uint, int32, uint32, hex, str, " \
	"str:MAX, buf:BYTES, buf:argK, buf:argK:CAP (MAX, BYTES, CAP from 1 to 4096)"
#define FILTER_RULE                                                                    \
	"wants 'argN OP VALUE': N from 0 to 5, optionally argN:int|uint|int32|uint32 " \
	"(default int, signed 64-bit), OP one of == != < >, VALUE an integer "         \
	"(decimal, 0x hex; negative only for int and int32)"
#define SRC_RULE                                                                  \
	"wants argN (N from 0 to 5) or ret, optionally followed by :int, :uint, " \
	":int32 or :uint32 (default int)"

static int usage(const char *opt, const char *arg, const char *rule)
{
	fprintf(stderr, "symbolyze: %s '%s': %s\n", opt, arg, rule);
	return EXIT_USAGE;
}

/* A decimal number from MIN to MAX spanning all of S. */
static int num_in(const char *s, unsigned long min, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* int, uint, int32, uint32 */
static int int_type(const char *s, enum sz_arg_type *t)
{
	static const struct {
		const char *name;
		enum sz_arg_type t;
	} types[] = { { "int", SZ_ARG_INT },
		      { "uint", SZ_ARG_UINT },
		      { "int32", SZ_ARG_INT32 },
		      { "uint32", SZ_ARG_UINT32 } };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(s, types[i].name)) {
			*t = types[i].t;
			return 0;
		}
	return -1;
}

static int parse_arg(struct cli *c, const char *arg)
{
	struct sz_arg_spec s = { 0 };
	char buf[64], *type, *rest;

	if (c->npargs >= sizeof(c->pargs) / sizeof(c->pargs[0]))
		return usage("--arg", arg, "at most 8 --arg per run");
	if (strlen(arg) >= sizeof(buf))
		return usage("--arg", arg, ARG_RULE);
	memcpy(buf, arg, strlen(arg) + 1);
	type = strchr(buf, ':');
	if (!type)
		return usage("--arg", arg, ARG_RULE);
	*type++ = '\0';
	if (num_in(buf, 0, 5, &s.arg))
		return usage("--arg", arg, ARG_RULE);
	rest = strchr(type, ':');
	if (rest)
		*rest++ = '\0';
	if (!strcmp(type, "hex") && !rest) {
		s.type = SZ_ARG_HEX;
	} else if (!rest && !int_type(type, &s.type)) {
		;
	} else if (!strcmp(type, "str")) {
		s.type = SZ_ARG_STR;
		if (rest && num_in(rest, 1, 4096, &s.len))
			return usage("--arg", arg, ARG_RULE);
	} else if (!strcmp(type, "buf") && rest) {
		s.type = SZ_ARG_BUF;
		if (!strncmp(rest, "arg", 3)) {
			char *cap = strchr(rest, ':');

			if (cap)
				*cap++ = '\0';
			s.len_from_arg = 1;
			if (num_in(rest + 3, 0, 5, &s.len_arg) ||
			    (cap && num_in(cap, 1, 4096, &s.len)))
				return usage("--arg", arg, ARG_RULE);
		} else if (num_in(rest, 1, 4096, &s.len)) {
			return usage("--arg", arg, ARG_RULE);
		}
	} else {
		return usage("--arg", arg, ARG_RULE);
	}
	c->pargs[c->npargs++] = s;
	return 0;
}

/* argN or ret, with an optional :TYPE; RET_OK: ret allowed. */
static int parse_operand(const char *s, size_t n, int ret_ok, struct sz_value_src *v)
{
	char buf[32] = { 0 }, *colon;

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	v->type = SZ_ARG_INT;
	colon = strchr(buf, ':');
	if (colon) {
		*colon++ = '\0';
		if (int_type(colon, &v->type))
			return -1;
	}
	if (ret_ok && !strcmp(buf, "ret")) {
		v->from = SZ_VALUE_RET;
		return 0;
	}
	v->from = SZ_VALUE_ARG;
	if (strncmp(buf, "arg", 3))
		return -1;
	return num_in(buf + 3, 0, 5, &v->arg);
}

static int parse_filter(struct cli *c, const char *arg)
{
	static const struct {
		const char *s;
		enum sz_filter_op op;
	} ops[] = { { "==", SZ_FILTER_EQ },
		    { "!=", SZ_FILTER_NE },
		    { "<", SZ_FILTER_LT },
		    { ">", SZ_FILTER_GT } };
	struct sz_arg_filter f = { 0 };
	struct sz_value_src o = { 0 };
	const char *p = arg, *lhs, *v;
	size_t lhs_len;
	char *end;

	if (c->npfilters >= sizeof(c->pfilters) / sizeof(c->pfilters[0]))
		return usage("--filter", arg, "at most 8 --filter per run");
	while (*p == ' ')
		p++;
	lhs = p;
	while (*p && *p != ' ' && !strchr("=!<>", *p))
		p++;
	lhs_len = (size_t)(p - lhs);
	while (*p == ' ')
		p++;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strncmp(p, ops[i].s, strlen(ops[i].s))) {
			f.op = ops[i].op;
			p += strlen(ops[i].s);
			break;
		}
	if (!f.op || parse_operand(lhs, lhs_len, 0, &o))
		return usage("--filter", arg, FILTER_RULE);
	f.arg = o.arg;
	f.type = o.type;
	while (*p == ' ')
		p++;
	v = p;
	errno = 0;
	if (*v == '-') {
		long long x = strtoll(v, &end, 0);

		if (f.type == SZ_ARG_UINT || f.type == SZ_ARG_UINT32 ||
		    (f.type == SZ_ARG_INT32 && (x < INT32_MIN || x > INT32_MAX)))
			errno = ERANGE;
		f.value = (uint64_t)x;
	} else {
		unsigned long long x = strtoull(v, &end, 0);

		if ((f.type == SZ_ARG_UINT32 && x > UINT32_MAX) ||
		    (f.type == SZ_ARG_INT32 && x > INT32_MAX) ||
		    (f.type == SZ_ARG_INT && x > INT64_MAX))
			errno = ERANGE;
		f.value = x;
	}
	while (*end == ' ')
		end++;
	if (errno || end == v || *end || *v == '+' || *v == ' ' || !*v)
		return usage("--filter", arg, FILTER_RULE);
	c->pfilters[c->npfilters++] = f;
	return 0;
}

int cli_probe_opt(struct cli *c, int opt, const char *arg)
{
	struct sz_glob g;

	switch (opt) {
	case OPT_ARG:
		return parse_arg(c, arg);
	case OPT_FILTER:
		return parse_filter(c, arg);
	case OPT_COMM:
		if (!*arg || sz_glob_compile(arg, &g))
			return usage("--comm", arg,
				     "wants a fnmatch(3) pattern of the process name (at most 255 "
				     "bytes, no [:class:])");
		c->pcomm = arg;
		return 0;
	case OPT_KEY:
		if (parse_operand(arg, strlen(arg), 1, &c->pkey))
			return usage("--key", arg, SRC_RULE);
		return 0;
	case OPT_HIST:
		if (parse_operand(arg, strlen(arg), 1, &c->phist))
			return usage("--hist", arg, SRC_RULE);
		return 0;
	}
	return EXIT_USAGE;
}

int cli_probe_check(struct cli *c)
{
	size_t bytes = 0;

	if (c->phist.from && !c->probe) {
		c->probe = SZ_PROBE_COUNT; /* --hist alone: calls are counted too */
		c->phist_alone = 1;
	}
	if (c->npargs && c->probe != SZ_PROBE_TRACE) {
		fprintf(stderr, "symbolyze: --arg goes with --trace\n");
		return EXIT_USAGE;
	}
	if (c->pkey.from && c->probe != SZ_PROBE_COUNT) {
		fprintf(stderr, "symbolyze: --key goes with --count\n");
		return EXIT_USAGE;
	}
	if (c->phist.from && c->probe == SZ_PROBE_TRACE) {
		fprintf(stderr, "symbolyze: --hist goes with --count or --latency, not --trace\n");
		return EXIT_USAGE;
	}
	if ((c->npfilters || c->pcomm) && !c->probe) {
		fprintf(stderr, "symbolyze: --filter and --comm go with --count, --trace, "
				"--latency or --hist\n");
		return EXIT_USAGE;
	}
	if (c->empty_probe &&
	    (c->npargs || c->npfilters || c->pcomm || c->pkey.from || c->phist.from || c->plat)) {
		fprintf(stderr, "symbolyze: --empty-probe takes no other probe option\n");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < c->npargs; i++) {
		const struct sz_arg_spec *s = &c->pargs[i];
		unsigned cap = s->len		       ? s->len
			       : s->type == SZ_ARG_STR ? SZ_ARGS_STR_DEFAULT
						       : SZ_ARGS_BUFLEN_DEFAULT;

		if (s->type == SZ_ARG_STR || s->type == SZ_ARG_BUF)
			bytes += SZ_ARGS_SLOT_BYTES(s->type == SZ_ARG_STR ? SZ_AK_STR : SZ_AK_BUF,
						    cap);
	}
	if (bytes > SZ_ARGS_BYTES_MAX) {
		fprintf(stderr,
			"symbolyze: --arg: the str and buf values of a call total at most "
			"16384 bytes (with their headers); ask for fewer or shorter ones\n");
		return EXIT_USAGE;
	}
	c->pextra = (struct sz_probe_extra){
		.sz = sizeof(struct sz_probe_extra),
		.args = c->pargs,
		.nargs = c->npargs,
		.filters = c->pfilters,
		.nfilters = c->npfilters,
		.comm = c->pcomm,
		.latency = c->plat,
		.key = c->pkey,
		.hist = c->phist,
	};
	return 0;
}

const struct sz_probe_extra *cli_probe_extra(struct cli *c)
{
	if (!c->npargs && !c->npfilters && !c->pcomm && !c->pkey.from && !c->phist.from && !c->plat)
		return NULL;
	return &c->pextra;
}

/* Bytes for a text line: C-style escapes, nothing else changed. */
static void bytes_text(FILE *f, const unsigned char *d, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char b = d[i];

		if (b == '"' || b == '\\')
			fprintf(f, "\\%c", b);
		else if (b == '\n')
			fputs("\\n", f);
		else if (b == '\t')
			fputs("\\t", f);
		else if (b >= 0x20 && b < 0x7f)
			fputc(b, f);
		else
			fprintf(f, "\\x%02x", b);
	}
	fputc('"', f);
}

/* Bytes for JSON: one code point per byte (U+0000..U+00FF), so the string's
 * latin-1 encoding is the bytes exactly (Python: s.encode("latin-1")). */
static void bytes_json(FILE *f, const unsigned char *d, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char b = d[i];

		if (b == '"' || b == '\\')
			fprintf(f, "\\%c", b);
		else if (b >= 0x20 && b < 0x7f)
			fputc(b, f);
		else
			fprintf(f, "\\u%04x", b);
	}
	fputc('"', f);
}

static const char *type_name(enum sz_arg_type t)
{
	static const char *const names[] = { "?",      "int", "uint", "int32",
					     "uint32", "hex", "str",  "buf" };

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

static void int_value(FILE *f, enum sz_arg_type t, uint64_t v, int json)
{
	if (t == SZ_ARG_INT || t == SZ_ARG_INT32)
		fprintf(f, "%" PRId64, (int64_t)v);
	else if (t == SZ_ARG_HEX)
		fprintf(f, json ? "\"0x%" PRIx64 "\"" : "0x%" PRIx64, v);
	else
		fprintf(f, "%" PRIu64, v);
}

void cli_values_text(FILE *f, const struct sz_call *k)
{
	for (size_t i = 0; i < k->nvalues; i++) {
		const struct sz_arg_value *v = &k->values[i];

		fprintf(f, " arg%u=", v->arg);
		if (v->type != SZ_ARG_STR && v->type != SZ_ARG_BUF)
			int_value(f, v->type, v->value, 0);
		else if (v->null)
			fputs("<null>", f);
		else if (v->fault)
			fputs("<fault>", f);
		else
			bytes_text(f, v->data, v->len);
		if (v->truncated)
			fputs("...", f);
		if (v->len_from_arg && v->truncated)
			fprintf(f, "(%zu of %" PRIu64 ")", v->len, v->value);
	}
}

void cli_values_json(FILE *f, const struct sz_call *k)
{
	if (!k->nvalues)
		return;
	fputs(",\"values\":[", f);
	for (size_t i = 0; i < k->nvalues; i++) {
		const struct sz_arg_value *v = &k->values[i];

		fprintf(f, "%s{\"arg\":%u,\"type\":\"%s\"", i ? "," : "", v->arg,
			type_name(v->type));
		if (v->type != SZ_ARG_STR && v->type != SZ_ARG_BUF) {
			fputs(",\"value\":", f);
			int_value(f, v->type, v->value, 1);
		} else if (v->null || v->fault) {
			fprintf(f, ",\"%s\":true", v->null ? "null" : "fault");
		} else {
			fputs(",\"bytes\":", f);
			bytes_json(f, v->data, v->len);
			fprintf(f, ",\"len\":%zu,\"truncated\":%s", v->len,
				v->truncated ? "true" : "false");
		}
		if (v->len_from_arg)
			fprintf(f, ",\"asked\":%" PRIu64, v->value);
		fputc('}', f);
	}
	fputc(']', f);
}

static void src_name(char *out, size_t n, const struct sz_value_src *s)
{
	if (s->from == SZ_VALUE_RET)
		snprintf(out, n, "ret");
	else
		snprintf(out, n, "arg%u", s->arg & 7);
}

struct agg_ctx {
	struct cli *c;
	const struct sz_value_src *src;
	char name[16];
	const char *last_symbol;
};

static void on_key(const char *symbol, uint64_t value, uint64_t calls, void *ctx)
{
	struct agg_ctx *a = ctx;
	FILE *f = out_begin();

	if (a->c->json) {
		fputs("{\"event\":\"key\",\"symbol\":", f);
		sz_json_str(f, symbol);
		fprintf(f, ",\"key\":\"%s\",\"value\":", a->name);
		int_value(f, a->src->type ? a->src->type : SZ_ARG_INT, value, 1);
		fprintf(f, ",\"calls\":%" PRIu64 "}\n", calls);
	} else {
		char sym[1024];

		sz_escape(symbol, sym, sizeof(sym));
		if (!a->last_symbol || strcmp(a->last_symbol, symbol))
			fprintf(f, "%s %s:\n", sym, a->name);
		fputs("    ", f);
		int_value(f, a->src->type ? a->src->type : SZ_ARG_INT, value, 0);
		fprintf(f, "\t%" PRIu64 "\n", calls);
		a->last_symbol = symbol;
	}
	out_end();
}

static void on_hist(const char *symbol, const uint64_t *b, size_t n, void *ctx)
{
	struct agg_ctx *a = ctx;
	FILE *f = out_begin();
	size_t lo = n, hi = 0;
	uint64_t max = 0;
	char sym[1024];

	for (size_t i = 0; i < n; i++)
		if (b[i]) {
			lo = i < lo ? i : lo;
			hi = i;
			max = b[i] > max ? b[i] : max;
		}
	if (a->c->json) {
		fputs("{\"event\":\"hist\",\"symbol\":", f);
		sz_json_str(f, symbol);
		fprintf(f, ",\"of\":\"%s\",\"buckets\":[", a->name);
	} else {
		sz_escape(symbol, sym, sizeof(sym));
		fprintf(f, "%s %s:\n", sym, a->name);
	}
	for (size_t i = lo; i <= hi && i < n; i++) {
		uint64_t low = i < 2 ? 0 : (uint64_t)1 << (i - 2);
		uint64_t high = i < 2 ? 0 : i == 65 ? UINT64_MAX : ((uint64_t)1 << (i - 1)) - 1;

		if (a->c->json) {
			fputs(i > lo ? "," : "", f);
			if (i == 0)
				fprintf(f, "{\"negative\":true,\"count\":%" PRIu64 "}", b[i]);
			else
				fprintf(f,
					"{\"low\":%" PRIu64 ",\"high\":%" PRIu64
					",\"count\":%" PRIu64 "}",
					low, high, b[i]);
			continue;
		}
		if (i == 0)
			fprintf(f, "  %-24s", "(<0)");
		else {
			char range[48];

			snprintf(range, sizeof(range), "[%" PRIu64 ", %" PRIu64 "]", low, high);
			fprintf(f, "  %-24s", range);
		}
		fprintf(f, " %10" PRIu64 " |%-40.*s|\n", b[i], (int)(max ? b[i] * 40 / max : 0),
			"@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
	}
	if (a->c->json)
		fputs("]}\n", f);
	out_end();
}

void cli_probe_aggregates(struct cli *c, struct sz_watch *w)
{
	struct agg_ctx a = { c, NULL, "", NULL };

	if (c->pkey.from) {
		a.src = &c->pkey;
		src_name(a.name, sizeof(a.name), &c->pkey);
		sz_watch_keys(w, on_key, &a);
	}
	if (c->phist.from) {
		a.src = &c->phist;
		a.last_symbol = NULL;
		src_name(a.name, sizeof(a.name), &c->phist);
		sz_watch_hist(w, on_hist, &a);
	}
}

void cli_probe_summary_json(FILE *f, const struct sz_watch_stats *w)
{
	fprintf(f, ",\"key_overflow\":%" PRIu64 ",\"filter_unseen\":%" PRIu64, w->key_overflow,
		w->filter_unseen);
}

void cli_probe_summary_text(FILE *f, const struct sz_watch_stats *w)
{
	if (w->key_overflow)
		fprintf(f, "; %" PRIu64 " calls not keyed (the key table was full)",
			w->key_overflow);
	if (w->filter_unseen)
		fprintf(f, "; %" PRIu64 " returns whose call's filter verdict was not seen",
			w->filter_unseen);
}
