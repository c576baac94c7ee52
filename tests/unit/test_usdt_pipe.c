// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of USDT in the pipeline: the probes of a file the -u patterns
 * pick at parse (src/pipeline/usdt.c) on the <sys/sdt.h> fixture, and the
 * --usdt-str specs (src/consumers/usdt_probes.c) as a table.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "consumers/usdt_probes.h"
#include "pipeline/usdt.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct str_case {
	const char *spec;
	int ret, any, arg;
	const char *match, *nomatch; /* "provider:name" the pattern takes, and not */
};

static const struct str_case str_cases[] = {
	{ "0", 0, 1, 0, NULL, NULL },
	{ "11", 0, 1, 11, NULL, NULL },
	{ "12", -EINVAL, 0, 0, NULL, NULL },
	{ "-1", -EINVAL, 0, 0, NULL, NULL },
	{ "", -EINVAL, 0, 0, NULL, NULL },
	{ "x", -EINVAL, 0, 0, NULL, NULL },
	{ "1x", -EINVAL, 0, 0, NULL, NULL },
	{ "postgresql:query__start:0", 0, 0, 0, "postgresql:query__start",
	  "postgresql:query__done" },
	{ "python:function__*:1", 0, 0, 1, "python:function__entry", "python:line" },
	{ "*:*:2", 0, 0, 2, "a:b", NULL },
	{ "name:3", 0, 0, 3, "any:name", "any:other" }, /* NAME alone: any provider */
	{ "a:b:", -EINVAL, 0, 0, NULL, NULL },
	{ ":b:1", -EINVAL, 0, 0, NULL, NULL },
	{ "a:[b:1", -EINVAL, 0, 0, NULL, NULL },
	{ "a:b:c:1", -EINVAL, 0, 0, NULL, NULL },
};

static int matches(const struct sz_usdt_str *s, const char *both)
{
	char buf[256], *colon;
	struct sz_usdt_probe p = { 0 };

	snprintf(buf, sizeof(buf), "%s", both);
	colon = strchr(buf, ':');
	*colon = '\0';
	p.provider = buf;
	p.name = colon + 1;
	return sz_usdt_pattern_match(&s->pat, &p);
}

static void test_str_specs(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(str_cases); i++) {
		const struct str_case *c = &str_cases[i];
		struct sz_usdt_str s;
		char err[256] = "";
		int r = sz_usdt_str_parse(c->spec, &s, err, sizeof(err));

		if (r != c->ret)
			fail_msg("'%s': %d, want %d (%s)", c->spec, r, c->ret, err);
		if (r) {
			assert_true(err[0] != '\0');
			continue;
		}
		assert_int_equal(s.any, c->any);
		assert_int_equal(s.arg, c->arg);
		if (c->match)
			assert_true(matches(&s, c->match));
		if (c->nomatch)
			assert_false(matches(&s, c->nomatch));
	}
}

struct pick_case {
	const char *pats[3];
	size_t npats;
	const char *want; /* names picked, in note order, space-separated */
	unsigned hit;	  /* bit k: pattern k matched something */
};

static const struct pick_case pick_cases[] = {
	{ { "sztest:*" }, 1, "noargs ints str twelve sema", 1 },
	{ { "sz*:s*" }, 1, "str sema", 1 },
	{ { "twelve", "sztest:s*" }, 2, "str twelve sema", 3 },
	{ { "nothere:*", "sztest:ints" }, 2, "ints", 2 },
	{ { "sztest:ints", "*:ints" }, 2, "ints", 3 }, /* picked once */
	{ { "x:y" }, 1, "", 0 },
};

static void test_pick(void **state)
{
	const char *dir = getenv("SZ_FIXTURES");
	struct sz_elf *e = NULL;
	char path[512], err[256];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/sdt", dir ? dir : "build/fixtures");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sz_elf_open(fd, &e, err, sizeof(err)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(pick_cases); i++) {
		const struct pick_case *c = &pick_cases[i];
		struct sz_usdt_pattern *pats;
		struct sz_file_usdt *u;
		char got[256] = "";
		unsigned hit = 0;

		assert_int_equal(sz_usdt_patterns_new(c->pats, c->npats, &pats), 0);
		u = sz_file_usdt_new(e, pats, c->npats);
		assert_non_null(u);
		assert_int_equal(u->err, 0);
		for (size_t k = 0; k < u->n; k++) {
			const struct sz_usdt_probe *p = &u->probes[k].p;
			char full[128];

			snprintf(full, sizeof(full), "%s:%s", p->provider, p->name);
			assert_string_equal(u->probes[k].full, full);
			assert_int_equal(p->loc_err, 0);
			assert_true(p->pc_offset != 0);
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? " " : "",
				 p->name);
		}
		for (size_t k = 0; k < c->npats; k++)
			hit |= (unsigned)u->pat_hit[k] << k;
		if (strcmp(got, c->want) || hit != c->hit)
			fail_msg("case %zu: picked '%s' hit %x, want '%s' hit %x", i, got, hit,
				 c->want, c->hit);
		sz_file_usdt_free(u);
		free(pats);
	}
	assert_int_equal(sz_usdt_patterns_new((const char *const[]){ "a:b:c" }, 1,
					      &(struct sz_usdt_pattern *){ NULL }),
			 -EINVAL);
	sz_elf_close(e);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str_specs),
		cmocka_unit_test(test_pick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
