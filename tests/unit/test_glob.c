// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of the glob compiler (src/glob.c) and the shared matcher
 * (bpf/glob.h): hand-written tables, then an oracle comparison with fnmatch(3).
 */
#include <errno.h>
#include <fnmatch.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/glob.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct glob_case {
	const char *pat, *subj;
	int match;
};

/* Compile PAT (must succeed) and match SUBJ as a whole. */
static int match_whole(const char *pat, const char *subj)
{
	struct sz_glob g;
	int r = sz_glob_compile(pat, &g);

	if (r) {
		print_error("pattern \"%s\" did not compile: %d\n", pat, r);
		fail();
	}
	return sz_glob_match(&g, subj, strlen(subj));
}

static void run_table(const struct glob_case *c, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		int got = match_whole(c[i].pat, c[i].subj);

		if (got != c[i].match) {
			print_error("pattern \"%s\" subject \"%s\": got %d, want %d\n", c[i].pat,
				    c[i].subj, got, c[i].match);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_literals_and_any(void **state)
{
	static const struct glob_case c[] = {
		{ "libc.so.6", "libc.so.6", 1 },
		{ "libc.so.6", "libc.so.7", 0 },
		{ "libc.so.6", "libc.so.6x", 0 },
		{ "libc.so.6", "libc.so.", 0 },
		{ "libc.so.6", "xlibc.so.6", 0 },
		{ "a", "A", 0 }, /* case-sensitive */
		{ "a", "a", 1 },
		{ "lib?.so", "libc.so", 1 },
		{ "lib?.so", "lib.so", 0 },
		{ "lib?.so", "libcc.so", 0 },
		{ "???", "abc", 1 },
		{ "???", "ab", 0 },
		{ "???", "abcd", 0 },
		{ "?", "/", 1 }, /* base-name pattern: '?' may match '/' */
		{ "a.b", "axb", 0 }, /* '.' is literal */
	};

	run_table(c, ARRAY_SIZE(c));
}

static void test_stars(void **state)
{
	static const struct glob_case c[] = {
		{ "*", "", 1 },
		{ "*", "anything at all", 1 },
		{ "lib*.so", "lib.so", 1 },
		{ "lib*.so", "libfoo.so", 1 },
		{ "lib*.so", "libfoo.so.1", 0 },
		{ "*.so*", "libc.so.6", 1 },
		{ "*.so*", "libc.os", 0 },
		{ "libc*", "libc", 1 },
		{ "*x", "", 0 },
		{ "*.so", "a/b.so", 1 }, /* base-name pattern: '*' crosses '/' */
		{ "*a*b*c*", "xxaxxbxxcxx", 1 },
		{ "*a*b*c*", "cba", 0 },
		{ "a*b*a", "abba", 1 },
		{ "a*a*a", "aaa", 1 },
		{ "a*a*a", "aa", 0 },
		{ "**", "x", 1 },
		{ "***a***", "bab", 1 },
		{ "*?*?*", "a", 0 },
		{ "*?*?*", "ab", 1 },
		{ "*ab", "aab", 1 },	      /* needs the star to back up */
		{ "*aab", "aaab", 1 },
		{ "a*bc*d", "abcbcd", 1 },
		{ "a*bc*d", "abcbc", 0 },
		{ "*libc-2.*.so", "libc-2.36.so", 1 },
		{ "*libc-2.*.so", "libc-2.36.so.1", 0 },
	};

	run_table(c, ARRAY_SIZE(c));
}

static void test_brackets(void **state)
{
	static const struct glob_case c[] = {
		{ "[abc]", "b", 1 },
		{ "[abc]", "d", 0 },
		{ "[abc]", "", 0 },
		{ "[a-c]x", "bx", 1 },
		{ "[a-c]", "d", 0 },
		{ "[0-9][0-9]", "42", 1 },
		{ "[0-9][0-9]", "4x", 0 },
		{ "[a-cx-z]", "y", 1 },
		{ "[a-cx-z]", "m", 0 },
		{ "[-a]", "-", 1 },  /* leading '-' is literal */
		{ "[a-]", "-", 1 },  /* trailing '-' is literal */
		{ "[a-]", "b", 0 },
		{ "[b-a]", "a", 0 }, /* reversed range is empty */
		{ "[b-a]", "b", 0 },
		{ "[[]", "[", 1 },
		{ "[.]", ".", 1 },
		{ "lib[cm].so.6", "libm.so.6", 1 },
		{ "lib[cm].so.6", "libz.so.6", 0 },
		/* negation with '!' and '^' */
		{ "[!abc]", "d", 1 },
		{ "[!abc]", "a", 0 },
		{ "[!abc]", "", 0 },
		{ "[^abc]", "d", 1 },
		{ "[^abc]", "b", 0 },
		{ "[!a-z]", "5", 1 },
		{ "[!a-z]", "q", 0 },
		{ "[^0-9]x", "ax", 1 },
		{ "[a!]", "!", 1 }, /* '!' not first: literal */
		{ "[a^]", "^", 1 },
		/* ']' first in a class is a member */
		{ "[]]", "]", 1 },
		{ "[]a]", "a", 1 },
		{ "[]a]", "]", 1 },
		{ "[]a]", "b", 0 },
		{ "[]-a]", "^", 1 }, /* range ']'..'a' holds '^' */
		{ "[]-a]", "b", 0 },
		{ "[!]]", "]", 0 },
		{ "[!]]", "x", 1 },
		{ "[^]a]", "a", 0 },
		{ "[^]a]", "b", 1 },
		/* high bytes */
		{ "[\x80-\xff]", "\xe9", 1 },
		{ "[!\x80-\xff]", "\xe9", 0 },
	};

	run_table(c, ARRAY_SIZE(c));
}

static void test_escapes(void **state)
{
	static const struct glob_case c[] = {
		{ "\\*", "*", 1 },
		{ "\\*", "x", 0 },
		{ "\\*", "", 0 },
		{ "\\?", "?", 1 },
		{ "\\?", "a", 0 },
		{ "a\\[b", "a[b", 1 },
		{ "\\[", "[", 1 },
		{ "\\\\", "\\", 1 },
		{ "\\\\", "\\\\", 0 },
		{ "\\a", "a", 1 },
		{ "[\\]]", "]", 1 },
		{ "[\\]]", "\\", 0 },
		{ "[\\!a]", "!", 1 }, /* escaped '!' is no negation */
		{ "[\\!a]", "b", 0 },
		{ "[a\\-c]", "-", 1 }, /* escaped '-' is no range */
		{ "[a\\-c]", "b", 0 },
		{ "*\\*", "abc*", 1 },
		{ "*\\*", "abc", 0 },
	};

	run_table(c, ARRAY_SIZE(c));
}

/* Patterns with '/' match whole paths; only a literal '/' matches '/'. */
static void test_path_patterns(void **state)
{
	static const struct glob_case c[] = {
		{ "/usr/lib/*.so", "/usr/lib/libc.so", 1 },
		{ "/usr/lib/*.so", "/usr/lib/x/libc.so", 0 },
		{ "/usr/*/libc.so", "/usr/lib/libc.so", 1 },
		{ "/usr/*/libc.so", "/usr/lib/x86/libc.so", 0 },
		{ "/usr/*", "/usr/lib", 1 },
		{ "/usr/*", "/usr/lib/libc.so", 0 },
		{ "/usr/lib?libc.so", "/usr/lib/libc.so", 0 },
		{ "/usr/lib?libc.so", "/usr/libxlibc.so", 1 },
		{ "/usr/lib[/]libc.so", "/usr/lib/libc.so", 0 },
		{ "/usr/lib[!a]libc.so", "/usr/lib/libc.so", 0 },
		{ "/usr/lib[!a]libc.so", "/usr/libXlibc.so", 1 },
		{ "/usr/lib[^a]libc.so", "/usr/lib/libc.so", 0 },
		{ "*/libc.so", "/libc.so", 1 },
		{ "*/libc.so", "lib/libc.so", 1 },
		{ "*/libc.so", "a/b/libc.so", 0 },
		{ "/*/*/libc*", "/usr/lib/libc.so.6", 1 },
		{ "/*/*/libc*", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0 },
		{ "/*", "/usr/lib", 0 },
		{ "/*/", "/usr/", 1 },
		{ "/usr/*lib*/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0 },
		{ "/usr/lib/*/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", 1 },
		{ "*/*", "a/b", 1 },
		{ "*/*", "a/b/c", 0 },
		{ "a/**/b", "a/x/b", 1 }, /* "**" is just '*' */
		{ "a/**/b", "a/x/y/b", 0 },
		{ "a/*b", "a/x/b", 0 },	  /* a star never extends across '/' */
		{ "a*/b*c", "ab/bxc", 1 },
		{ "a*/b*c", "a/b/c", 0 },
		{ "/tmp/[a-z]*", "/tmp/x", 1 },
		{ "/tmp/[.-0]", "/tmp/0", 1 }, /* range '.'..'0' spans '/', never matches it */
		{ "/tmp/[.-0]", "/tmp/-", 0 },
		{ "/tmp[.-0]x", "/tmp/x", 0 },
	};

	run_table(c, ARRAY_SIZE(c));
}

static void test_empty_subject(void **state)
{
	static const struct glob_case c[] = {
		{ "*", "", 1 }, { "**", "", 1 },  { "?", "", 0 },   { "a", "", 0 },
		{ "[a]", "", 0 }, { "[!a]", "", 0 }, { "*?", "", 0 }, { "/", "", 0 },
		{ "\\*", "", 0 },
	};

	run_table(c, ARRAY_SIZE(c));
}

/* sz_glob_match_path: base-name patterns see only the part after the last '/'. */
static void test_match_path(void **state)
{
	static const struct glob_case c[] = {
		{ "libc.so*", "/usr/lib/x86_64-linux-gnu/libc.so.6", 1 },
		{ "libc.so*", "libc.so.6", 1 },
		{ "libc.so*", "/usr/lib/libc.so.6/x", 0 },
		{ "lib*", "/lib/x", 0 },
		{ "*", "/a/", 1 },    /* empty base name */
		{ "?*", "/a/", 0 },
		{ "*lib*", "/lib/x", 0 }, /* base-name star does not see the directory */
		{ "/usr/lib/*", "/usr/lib/libc.so.6", 1 },
		{ "/usr/lib/*", "libc.so.6", 0 },
		{ "/usr/lib/*", "/usr/lib/a/libc.so.6", 0 },
		{ "*/libc.so.6", "/usr/lib/libc.so.6", 0 }, /* path pattern: whole path */
	};
	int bad = 0;

	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		struct sz_glob g;
		int got;

		assert_int_equal(sz_glob_compile(c[i].pat, &g), 0);
		got = sz_glob_match_path(&g, c[i].subj);
		if (got != c[i].match) {
			print_error("match_path \"%s\" \"%s\": got %d, want %d\n", c[i].pat,
				    c[i].subj, got, c[i].match);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_compile_errors(void **state)
{
	static const struct {
		const char *pat;
		int ret;
	} c[] = {
		{ "", -EINVAL },
		{ "[[:alpha:]]", -EINVAL },
		{ "x/[[:digit:]]*", -EINVAL },
		{ "[[=a=]]", -EINVAL },
		{ "[[.a.]]", -EINVAL },
		{ "[a-[.z.]]", -EINVAL }, /* collating symbol as a range end */
		{ "[a-[:z:]]", -EINVAL },
		{ "[!a-[=z=]]", -EINVAL },
		/* unterminated brackets: refused, "\\[" is the literal */
		{ "[", -EINVAL },
		{ "ab[", -EINVAL },
		{ "[ab", -EINVAL },
		{ "[!", -EINVAL },
		{ "[]", -EINVAL },
		{ "[!]", -EINVAL },
		{ "[a-", -EINVAL },
		{ "*[", -EINVAL },
		{ "a\\", -EINVAL },  /* trailing lone backslash */
		{ "*\\/", -EINVAL }, /* escaped '/' */
		{ "[[]", 0 },
		{ "[[:]", -EINVAL },
		{ "[a-b-c]", 0 },
		{ "\\[", 0 },
		{ "a\\\\", 0 },
		{ "[]]", 0 },
		{ "/", 0 },
	};
	int bad = 0;

	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		struct sz_glob g;
		int r = sz_glob_compile(c[i].pat, &g);

		if (r != c[i].ret) {
			print_error("compile \"%s\": got %d, want %d\n", c[i].pat, r, c[i].ret);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	{
		struct sz_glob g;

		assert_int_equal(sz_glob_compile(NULL, &g), -EINVAL);
	}
}

static void test_limits(void **state)
{
	char pat[5200], subj[SZ_GLOB_MAX_NAME + 2];
	struct sz_glob g;

	/* Tokens: SZ_GLOB_MAX_TOKENS literals fit, one more does not. */
	memset(pat, 'a', SZ_GLOB_MAX_TOKENS);
	pat[SZ_GLOB_MAX_TOKENS] = '\0';
	assert_int_equal(sz_glob_compile(pat, &g), 0);
	assert_int_equal(g.ntok, SZ_GLOB_MAX_TOKENS);
	assert_int_equal(sz_glob_match(&g, pat, SZ_GLOB_MAX_TOKENS), 1);
	assert_int_equal(sz_glob_match(&g, pat, SZ_GLOB_MAX_TOKENS - 1), 0);
	pat[SZ_GLOB_MAX_TOKENS] = 'a';
	pat[SZ_GLOB_MAX_TOKENS + 1] = '\0';
	assert_int_equal(sz_glob_compile(pat, &g), -E2BIG);

	/* Escapes and stars count as one token each; runs of stars as one. */
	pat[0] = '\0';
	for (int i = 0; i < SZ_GLOB_MAX_TOKENS; i++)
		strcat(pat, i & 1 ? "\\*" : "*");
	assert_int_equal(sz_glob_compile(pat, &g), 0);
	strcat(pat, "?");
	assert_int_equal(sz_glob_compile(pat, &g), -E2BIG);
	memset(pat, '*', 1000);
	strcpy(pat + 1000, "a");
	assert_int_equal(sz_glob_compile(pat, &g), 0);
	assert_int_equal(g.ntok, 2);
	assert_int_equal(sz_glob_match(&g, "xyza", 4), 1);
	assert_int_equal(sz_glob_match(&g, "xyzb", 4), 0);

	/* A pattern too long to read whole is refused, not cut to "*". */
	memset(pat, '*', 5000);
	strcpy(pat + 5000, "a");
	assert_int_equal(sz_glob_compile(pat, &g), -E2BIG);

	/* Classes: SZ_GLOB_MAX_CLASSES fit, one more does not. */
	pat[0] = '\0';
	for (int i = 0; i < SZ_GLOB_MAX_CLASSES; i++)
		strcat(pat, "[ab]");
	assert_int_equal(sz_glob_compile(pat, &g), 0);
	assert_int_equal(sz_glob_match(&g, "abababab", SZ_GLOB_MAX_CLASSES), 1);
	strcat(pat, "[ab]");
	assert_int_equal(sz_glob_compile(pat, &g), -E2BIG);

	/* Subjects: SZ_GLOB_MAX_NAME bytes are matched, longer ones never. */
	memset(subj, 'x', sizeof(subj));
	assert_int_equal(sz_glob_compile("*", &g), 0);
	assert_int_equal(sz_glob_match(&g, subj, SZ_GLOB_MAX_NAME), 1);
	assert_int_equal(sz_glob_match(&g, subj, SZ_GLOB_MAX_NAME + 1), 0);
	assert_int_equal(sz_glob_compile("x*x", &g), 0);
	assert_int_equal(sz_glob_match(&g, subj, SZ_GLOB_MAX_NAME), 1);
	assert_int_equal(sz_glob_match(&g, subj, SZ_GLOB_MAX_NAME + 1), 0);
	subj[SZ_GLOB_MAX_NAME - 1] = 'y';
	assert_int_equal(sz_glob_compile("*y", &g), 0);
	assert_int_equal(sz_glob_match(&g, subj, SZ_GLOB_MAX_NAME), 1);
	subj[SZ_GLOB_MAX_NAME - 1] = 'x';

	/* A long path whose base name is short: base-name patterns still match;
	 * path patterns match whole paths up to SZ_GLOB_MAX_PATH bytes, as BPF. */
	{
		char path[SZ_GLOB_MAX_PATH + 20];

		memset(path, 'd', sizeof(path));
		path[0] = '/';
		strcpy(path + 300, "/libc.so.6");
		assert_int_equal(sz_glob_compile("libc.so.*", &g), 0);
		assert_int_equal(sz_glob_match_path(&g, path), 1);
		assert_int_equal(sz_glob_compile("/d*/libc.so.*", &g), 0);
		assert_int_equal(sz_glob_match_path(&g, path), 1);
		memset(path, 'd', sizeof(path));
		path[0] = '/';
		strcpy(path + SZ_GLOB_MAX_PATH - 10, "/libc.so.6"); /* exactly the limit */
		assert_int_equal(sz_glob_match_path(&g, path), 1);
		strcpy(path + SZ_GLOB_MAX_PATH - 9, "/libc.so.6"); /* one byte more */
		assert_int_equal(sz_glob_match_path(&g, path), 0);
		memset(path, 'd', sizeof(path));
		path[0] = '/';
		path[100] = '\0';
		strcat(path, "/libc.so.6");
		assert_int_equal(sz_glob_match_path(&g, path), 1);
	}
}

/* Worst case for the bounded matcher: many stars, a long non-matching subject.
 * It must answer (and answer right) within SZ_GLOB_MAX_STEPS. */
static void test_step_bound(void **state)
{
	char pat[SZ_GLOB_MAX_TOKENS + 1], subj[SZ_GLOB_MAX_NAME + 1];
	struct sz_glob g;

	for (int i = 0; i < SZ_GLOB_MAX_TOKENS; i++)
		pat[i] = i & 1 ? 'a' : '*';
	pat[SZ_GLOB_MAX_TOKENS - 1] = 'b';
	pat[SZ_GLOB_MAX_TOKENS] = '\0';
	memset(subj, 'a', SZ_GLOB_MAX_NAME);
	subj[SZ_GLOB_MAX_NAME] = '\0';
	assert_int_equal(sz_glob_compile(pat, &g), 0);
	/* (fnmatch(3) backtracks exponentially here, so no oracle.) */
	assert_int_equal(sz_glob_match(&g, subj, SZ_GLOB_MAX_NAME), 0);
	subj[SZ_GLOB_MAX_NAME - 1] = 'b';
	assert_int_equal(sz_glob_match(&g, subj, SZ_GLOB_MAX_NAME), 1);
	subj[10] = 'b'; /* "a...aba...ab": still 63 'a's before the last 'b' */
	assert_int_equal(sz_glob_match(&g, subj, SZ_GLOB_MAX_NAME), 1);
	memset(subj, 'b', SZ_GLOB_MAX_NAME - 62); /* 61 'a's left: too few */
	assert_int_equal(sz_glob_match(&g, subj, SZ_GLOB_MAX_NAME), 0);
}

/* The first filter, derived at compile time: prefix and suffix tokens, the
 * shortest subject; it decides alone (0 steps) for most names. */
static void test_filter(void **state)
{
	static const struct {
		const char *pat;
		int npre, nsuf, minlen, has_star;
		const char *subj;
		int match;
		long steps; /* -1: more than 0 */
	} t[] = {
		{ "libc.so*", 7, 0, 7, 1, "libm.so.6", 0, 0 },
		{ "libc.so*", 7, 0, 7, 1, "libc.so.6", 1, -1 },
		{ "*.so", 0, 3, 3, 1, "libc.so.6", 0, 0 },
		{ "*.so", 0, 3, 3, 1, "libx.so", 1, -1 },
		{ "lib?.so", 7, 0, 7, 0, "libcc.so", 0, 0 },
		{ "lib[cm].so.6", 9, 0, 9, 0, "libm.so.6", 1, -1 },
		{ "a*b*c", 1, 1, 3, 1, "ab", 0, 0 },
		{ "a*b*c", 1, 1, 3, 1, "axbxc", 1, -1 },
		{ "*", 0, 0, 0, 1, "", 1, -1 },
		{ "abcdefghijklmnopqrstuvwxyz", 16, 0, 26, 0, "abcdefghijklmnopqrstuvwxyz", 1, -1 },
		{ "abcdefghijklmnopqrstuvwxyz*0123456789abcdefghij", 16, 16, 46, 1,
		  "abcdefghijklmnopqrstuvwxyz0123456789abcdefghij", 1, -1 },
	};
	struct sz_glob g;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		long steps;

		assert_int_equal(sz_glob_compile(t[i].pat, &g), 0);
		assert_int_equal(g.npre, t[i].npre);
		assert_int_equal(g.nsuf, t[i].nsuf);
		assert_int_equal(g.minlen, t[i].minlen);
		assert_int_equal(g.has_star, t[i].has_star);
		assert_int_equal(sz_glob_match(&g, t[i].subj, strlen(t[i].subj)), t[i].match);
		steps = sz_glob_steps(&g, t[i].subj, strlen(t[i].subj));
		if (t[i].steps < 0)
			assert_true(steps > 0);
		else
			assert_int_equal(steps, t[i].steps);
	}
}

/* Hostile patterns.  `*a` repeated (issue 10's case): the first filter
 * decides on names that do not end in 'a', and spread-out names cost little.
 * One star and a long literal tail that fails 16 bytes before the end gets
 * through the filter and costs the step matcher far more than BPF's budget,
 * which is why the budget exists (BPF then leaves the name to userspace). */
static void test_hostile_steps(void **state)
{
	char pat[SZ_GLOB_MAX_TOKENS + 1], subj[256];
	struct sz_glob g;
	long steps;

	(void)state;
	for (int i = 0; i < SZ_GLOB_MAX_TOKENS; i += 2)
		memcpy(pat + i, "*a", 2);
	pat[SZ_GLOB_MAX_TOKENS] = '\0';
	assert_int_equal(sz_glob_compile(pat, &g), 0);
	memset(subj, 'b', 255);
	subj[255] = '\0';
	assert_int_equal(sz_glob_steps(&g, subj, 255), 0); /* the filter decides */
	for (int i = 0; i < 62; i++) /* 63 'a's: one too few */
		subj[4 * i] = 'a';
	subj[254] = 'a';
	assert_int_equal(sz_glob_match(&g, subj, 255), 0);
	steps = sz_glob_steps(&g, subj, 255);
	print_message("*a x64 vs 255 bytes, 63 a's: %ld steps\n", steps);
	assert_true(steps > 0 && steps < SZ_GLOB_BUDGET);

	pat[0] = '*';
	memset(pat + 1, 'a', SZ_GLOB_MAX_TOKENS - 2);
	pat[SZ_GLOB_MAX_TOKENS - 1] = 'b';
	assert_int_equal(sz_glob_compile(pat, &g), 0);
	memset(subj, 'a', 255);
	subj[238] = 'x';
	subj[254] = 'b';
	assert_int_equal(sz_glob_match(&g, subj, 255), 0);
	steps = sz_glob_steps(&g, subj, 255);
	print_message("*a{126}b vs a{238}xa{15}b: %ld steps (BPF budget %d)\n", steps,
		      SZ_GLOB_BUDGET);
	assert_true(steps > SZ_GLOB_BUDGET);
}

/* Would the compiler be right to refuse P?  An independent reading of the
 * rules: unterminated brackets, "[:", "[=" and "[." inside a bracket, a
 * trailing backslash and "\\/". */
static int refusal_justified(const char *p)
{
	size_t n = strlen(p);

	for (size_t i = 0; i < n; i++) {
		size_t j;

		if (p[i] == '\\') {
			if (i + 1 == n || p[i + 1] == '/')
				return 1;
			i++;
			continue;
		}
		if (p[i] != '[')
			continue;
		j = i + 1;
		if (j < n && (p[j] == '!' || p[j] == '^'))
			j++;
		if (j < n && p[j] == ']')
			j++;
		for (; j < n && p[j] != ']'; j++) {
			if (p[j] == '[' && j + 1 < n && strchr(":=.", p[j + 1]))
				return 1;
			if (p[j] == '\\')
				j++;
		}
		if (j >= n)
			return 1;
		i = j;
	}
	return 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static void random_string(char *out, const char *alphabet, size_t minlen, size_t maxlen)
{
	size_t n = minlen + rng() % (maxlen - minlen + 1), k = strlen(alphabet);

	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[rng() % k];
	out[n] = '\0';
}

/* The oracle: sz_glob_match against fnmatch(3) with the flags the compiler
 * chose (FNM_PATHNAME iff the pattern has a '/'), on generated pairs. */
static void test_oracle_fnmatch(void **state)
{
	const char *pat_alpha = "ab/.*?[]!^-", *subj_alpha = "ab/.";
	int tested = 0, matched = 0, refused = 0, pathpats = 0, bad = 0;

	for (int k = 0; k < 40000 && bad < 10; k++) {
		char pat[16], subj[16];
		const char *base;
		struct sz_glob g;
		int r, flags, want, got;

		random_string(pat, pat_alpha, 1, 8);
		random_string(subj, subj_alpha, 0, 7);
		r = sz_glob_compile(pat, &g);
		if (r) {
			if (r != -EINVAL || !refusal_justified(pat)) {
				print_error("pattern \"%s\" refused with %d\n", pat, r);
				bad++;
			}
			refused++;
			continue;
		}
		if (refusal_justified(pat)) {
			print_error("pattern \"%s\" should have been refused\n", pat);
			bad++;
			continue;
		}
		flags = strchr(pat, '/') ? FNM_PATHNAME : 0;
		pathpats += !!flags;
		want = fnmatch(pat, subj, flags) == 0;
		got = sz_glob_match(&g, subj, strlen(subj));
		if (got != want) {
			print_error("pattern \"%s\" subject \"%s\" flags %d: fnmatch %d, sz %d\n",
				    pat, subj, flags, want, got);
			bad++;
		}
		/* And sz_glob_match_path: the base name for base-name patterns. */
		base = flags ? subj : (strrchr(subj, '/') ? strrchr(subj, '/') + 1 : subj);
		want = fnmatch(pat, base, flags) == 0;
		got = sz_glob_match_path(&g, subj);
		if (got != want) {
			print_error("match_path \"%s\" \"%s\": fnmatch %d, sz %d\n", pat, subj,
				    want, got);
			bad++;
		}
		tested++;
		matched += want;
	}
	print_message("oracle: %d pairs compared (%d path patterns), %d matches, %d refused\n",
		      tested, pathpats, matched, refused);
	assert_int_equal(bad, 0);
	/* The comparison means something only if both outcomes occur often. */
	assert_true(tested >= 10000);
	assert_true(pathpats >= 2000);
	assert_true(matched >= 300);
	assert_true(tested - matched >= 300);
	assert_true(refused >= 100);
}

/* Oracle on subjects built to match: each pattern instantiated by replacing
 * '*' and '?' with random text, then compared with fnmatch(3). */
static void test_oracle_instantiated(void **state)
{
	const char *pat_alpha = "ab.*?[]!-", *fill = "ab.";
	int tested = 0, matched = 0, bad = 0;

	for (int k = 0; k < 20000 && bad < 10; k++) {
		char pat[16], subj[64];
		size_t o = 0;
		struct sz_glob g;
		int want, got, flags;

		random_string(pat, pat_alpha, 1, 10);
		/* Half of them get a directory part, to exercise FNM_PATHNAME. */
		if (k & 1) {
			memmove(pat + 2, pat, strlen(pat) + 1);
			memcpy(pat, "a/", 2);
		}
		if (sz_glob_compile(pat, &g))
			continue;
		for (const char *p = pat; *p && o < sizeof(subj) - 8; p++) {
			if (*p == '*') {
				for (unsigned n = rng() % 4; n; n--)
					subj[o++] = fill[rng() % 3];
			} else if (*p == '?') {
				subj[o++] = fill[rng() % 3];
			} else {
				subj[o++] = *p; /* brackets and all: often no match */
			}
		}
		subj[o] = '\0';
		flags = strchr(pat, '/') ? FNM_PATHNAME : 0;
		want = fnmatch(pat, subj, flags) == 0;
		got = sz_glob_match(&g, subj, o);
		if (got != want) {
			print_error("pattern \"%s\" subject \"%s\" flags %d: fnmatch %d, sz %d\n",
				    pat, subj, flags, want, got);
			bad++;
		}
		tested++;
		matched += want;
	}
	print_message("instantiated oracle: %d pairs, %d matches\n", tested, matched);
	assert_int_equal(bad, 0);
	assert_true(tested >= 5000);
	assert_true(matched >= 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals_and_any),
		cmocka_unit_test(test_stars),
		cmocka_unit_test(test_brackets),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_path_patterns),
		cmocka_unit_test(test_empty_subject),
		cmocka_unit_test(test_match_path),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_hostile_steps),
		cmocka_unit_test(test_step_bound),
		cmocka_unit_test(test_oracle_fnmatch),
		cmocka_unit_test(test_oracle_instantiated),
	};

	return cmocka_run_group_tests_name("glob", tests, NULL, NULL);
}
