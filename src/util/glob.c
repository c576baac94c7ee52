// SPDX-License-Identifier: BSD-2-Clause
/*
 * Compiles fnmatch(3) patterns into the token form of bpf/glob.h and runs the
 * shared matcher.  Supported: literals, '\' escapes, '?', '*', bracket
 * expressions with ranges and '!'/'^' negation.  POSIX character classes
 * ("[:alpha:]"), an unterminated '[', "\\/" and a trailing lone '\\' are
 * rejected rather than matched differently from glibc.
 */
#include "util/glob.h"

#include <errno.h>
#include <string.h>

static void class_set(__u8 *set, unsigned char c)
{
	set[c >> 3] |= (__u8)(1u << (c & 7));
}

/* Parse a bracket expression at P (just after '['); returns the index after the
 * closing ']', -1 if there is none, -2 for a class form we do not support. */
static int parse_class(const char *p, int i, int len, __u8 *set, int pathname)
{
	int negate = 0, first = 1;

	memset(set, 0, 32);
	if (i < len && (p[i] == '!' || p[i] == '^')) {
		negate = 1;
		i++;
	}
	for (;;) {
		unsigned char lo, hi;

		if (i >= len)
			return -1;
		if (p[i] == ']' && !first)
			break;
		first = 0;
		if (p[i] == '[' && i + 1 < len &&
		    (p[i + 1] == ':' || p[i + 1] == '=' || p[i + 1] == '.'))
			return -2;
		if (p[i] == '\\' && i + 1 < len)
			i++;
		lo = (unsigned char)p[i++];
		hi = lo;
		if (i + 1 < len && p[i] == '-' && p[i + 1] != ']') {
			i++;
			/* "[a-[.z.]]": a collating symbol as the range's end. */
			if (p[i] == '[' && i + 1 < len &&
			    (p[i + 1] == ':' || p[i + 1] == '=' || p[i + 1] == '.'))
				return -2;
			if (p[i] == '\\' && i + 1 < len)
				i++;
			hi = (unsigned char)p[i++];
		}
		for (unsigned c = lo; c <= hi; c++)
			class_set(set, (unsigned char)c);
	}
	if (negate)
		for (int k = 0; k < 32; k++)
			set[k] = (__u8)~set[k];
	if (pathname) /* a bracket never matches '/' under FNM_PATHNAME */
		set['/' >> 3] &= (__u8) ~(1u << ('/' & 7));
	return i + 1;
}

/* The first filter of bpf/glob.h: what every match needs, read off the tokens. */
static void set_filter(struct sz_glob *g)
{
	int first = -1, last = -1, fixed = 0;

	for (int t = 0; t < g->ntok; t++) {
		if (g->type[t] == SZ_GT_STAR) {
			if (first < 0)
				first = t;
			last = t;
		} else {
			fixed++;
		}
	}
	g->minlen = (__u16)fixed;
	g->has_star = first >= 0;
	if (first < 0) {
		g->npre = (__u8)(g->ntok < SZ_GLOB_FILTER_MAX ? g->ntok : SZ_GLOB_FILTER_MAX);
		g->nsuf = 0;
		return;
	}
	g->npre = (__u8)(first < SZ_GLOB_FILTER_MAX ? first : SZ_GLOB_FILTER_MAX);
	last = g->ntok - 1 - last;
	g->nsuf = (__u8)(last < SZ_GLOB_FILTER_MAX ? last : SZ_GLOB_FILTER_MAX);
}

int sz_glob_compile(const char *pattern, struct sz_glob *g)
{
	int len, i = 0;

	if (!pattern || !*pattern)
		return -EINVAL;
	len = (int)strnlen(pattern, 4096);
	if (pattern[len])
		return -E2BIG; /* not silently cut: "****...*a" must not become "*" */
	memset(g, 0, sizeof(*g));
	/* A trailing unescaped '\\' never matches in fnmatch(3), and glibc gets
	 * "*\\/" wrong under FNM_PATHNAME ('/' needs no escape): refuse both. */
	for (int k = 0; k < len; k++)
		if (pattern[k] == '\\' && (++k == len || pattern[k] == '/'))
			return -EINVAL;
	if (strchr(pattern, '/'))
		g->flags |= SZ_GLOB_PATHNAME;
	while (i < len) {
		char c = pattern[i];
		__u8 type = SZ_GT_LIT, arg = (__u8)c;

		if (g->ntok >= SZ_GLOB_MAX_TOKENS)
			return -E2BIG;
		if (c == '*') {
			i++;
			/* Consecutive stars are one star. */
			if (g->ntok && g->type[g->ntok - 1] == SZ_GT_STAR)
				continue;
			type = SZ_GT_STAR;
			arg = 0;
		} else if (c == '?') {
			i++;
			type = SZ_GT_ANY;
			arg = 0;
		} else if (c == '[') {
			int next;

			if (g->nclass >= SZ_GLOB_MAX_CLASSES)
				return -E2BIG;
			next = parse_class(pattern, i + 1, len, g->classes[g->nclass],
					   g->flags & SZ_GLOB_PATHNAME);
			/* glibc treats an unterminated '[' sometimes as a literal,
			 * sometimes as no match: refuse it; "\\[" is the literal. */
			if (next < 0)
				return -EINVAL;
			type = SZ_GT_CLASS;
			arg = g->nclass++;
			i = next;
		} else if (c == '\\' && i + 1 < len) {
			arg = (__u8)pattern[i + 1];
			i += 2;
		} else {
			i++;
		}
		g->type[g->ntok] = type;
		g->arg[g->ntok] = arg;
		g->ntok++;
	}
	set_filter(g);
	return 0;
}

/* Userspace has no verifier: the mask only has to cover the subject. */
static int match_upto(const struct sz_glob *g, const char *subject, size_t len, size_t max,
		      long *steps)
{
	struct sz_glob_state st;
	long n;

	if (len > max)
		return 0;
	if (!sz_glob_prefilter(g, subject, (int)len, SZ_GLOB_MAX_PATH - 1))
		return 0;
	sz_glob_state_init(&st);
	for (n = 0; n < (long)((max + 2) * (SZ_GLOB_MAX_TOKENS + max + 2)); n++) {
		int r = sz_glob_step_m(g, subject, (int)len, &st, SZ_GLOB_MAX_PATH - 1);

		if (r) {
			if (steps)
				*steps = n + 1;
			return r > 0;
		}
	}
	return 0;
}

int sz_glob_match(const struct sz_glob *g, const char *subject, size_t len)
{
	return match_upto(g, subject, len, SZ_GLOB_MAX_NAME, NULL);
}

long sz_glob_steps(const struct sz_glob *g, const char *subject, size_t len)
{
	long steps = 0;

	match_upto(g, subject, len, SZ_GLOB_MAX_PATH, &steps);
	return steps;
}

int sz_glob_match_path(const struct sz_glob *g, const char *path)
{
	const char *base;

	if (g->flags & SZ_GLOB_PATHNAME)
		return match_upto(g, path, strlen(path), SZ_GLOB_MAX_PATH, NULL);
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return sz_glob_match(g, base, strlen(base));
}
