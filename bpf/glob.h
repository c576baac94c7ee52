/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The one glob matcher of symbolyze, shared by userspace and BPF.  Userspace
 * compiles a fnmatch(3) pattern into fixed-size tokens (sz_glob_compile, in
 * src/glob.c); the matcher below runs over those tokens with no parsing and
 * no recursion, so the verifier can bound it and BPF can keep it in rodata.
 */
#ifndef SZ_GLOB_H
#define SZ_GLOB_H

#define SZ_GLOB_MAX_TOKENS 128
#define SZ_GLOB_MAX_CLASSES 8
#define SZ_GLOB_MAX_NAME 256  /* longest base name the matcher looks at */
#define SZ_GLOB_MAX_PATH 1024 /* longest whole path (path patterns) */
#define SZ_GLOB_FILTER_MAX 16 /* literal prefix/suffix tokens the first filter checks */
/* Steps the BPF side spends on one subject before it gives up and lets userspace
 * decide (the record is flagged SZ_WATCH_GLOB_UNSURE).  Ordinary patterns need
 * about one step per byte per star; `*a*a*a...` against 255 bytes would need
 * 16,510. */
#define SZ_GLOB_BUDGET 2048

enum sz_glob_tok {
	SZ_GT_LIT = 1,	 /* arg: the byte */
	SZ_GT_ANY = 2,	 /* '?' */
	SZ_GT_STAR = 3,	 /* '*' */
	SZ_GT_CLASS = 4, /* arg: index into classes[] */
};

#define SZ_GLOB_PATHNAME 1 /* '/' only matched by a literal '/' (FNM_PATHNAME) */

struct sz_glob {
	__u8 ntok;
	__u8 flags;
	__u8 nclass;
	__u8 has_star;
	/* first filter, derived at compile time: tokens before the first '*' and
	 * after the last one (at most SZ_GLOB_FILTER_MAX each) must match the
	 * subject's first and last bytes, and the subject has at least minlen
	 * bytes (exactly ntok without a star) */
	__u8 npre;
	__u8 nsuf;
	__u16 minlen;
	__u8 type[SZ_GLOB_MAX_TOKENS];
	__u8 arg[SZ_GLOB_MAX_TOKENS];
	__u8 classes[SZ_GLOB_MAX_CLASSES][32]; /* 256-bit byte sets */
};

/* Matcher state; one step advances it.  Kept in a struct so BPF can drive it
 * from bpf_loop() and userspace from a plain loop. */
struct sz_glob_state {
	int ti, si;	      /* next token, next subject byte */
	int star_ti, star_si; /* last '*' seen and where it began matching */
};

static __always_inline int sz_glob_tok_matches(const struct sz_glob *g, int ti, unsigned char c)
{
	__u8 type = g->type[ti & (SZ_GLOB_MAX_TOKENS - 1)];
	__u8 arg = g->arg[ti & (SZ_GLOB_MAX_TOKENS - 1)];

	if ((g->flags & SZ_GLOB_PATHNAME) && c == '/')
		return type == SZ_GT_LIT && arg == '/';
	if (type == SZ_GT_LIT)
		return arg == c;
	if (type == SZ_GT_ANY)
		return 1;
	if (type == SZ_GT_CLASS)
		return (g->classes[arg & (SZ_GLOB_MAX_CLASSES - 1)][(c >> 3) & 31] >> (c & 7)) & 1;
	return 0;
}

/*
 * One step of the classic single-backtrack wildcard match.  Returns 0 to go on,
 * 1 when the subject matched, -1 when it did not.  Correct for fnmatch
 * semantics because a later '*' can always absorb what an earlier one would,
 * except across '/' with SZ_GLOB_PATHNAME, where a failed '*' cannot extend.
 */
static __always_inline int sz_glob_step_m(const struct sz_glob *g, const char *s, int slen,
					  struct sz_glob_state *st, int smask)
{
	int ti = st->ti, si = st->si;

	if (si >= slen) {
		/* Subject consumed: only trailing stars may remain. */
		if (ti >= g->ntok)
			return 1;
		if (g->type[ti & (SZ_GLOB_MAX_TOKENS - 1)] == SZ_GT_STAR) {
			st->ti = ti + 1;
			return 0;
		}
		return -1;
	}
	if (ti < g->ntok) {
		if (g->type[ti & (SZ_GLOB_MAX_TOKENS - 1)] == SZ_GT_STAR) {
			st->star_ti = ti;
			st->star_si = si;
			st->ti = ti + 1;
			return 0;
		}
		if (sz_glob_tok_matches(g, ti, (unsigned char)s[si & smask])) {
			st->ti = ti + 1;
			st->si = si + 1;
			return 0;
		}
	}
	/* Mismatch: let the last star absorb one more byte, if it may. */
	if (st->star_ti < 0)
		return -1;
	if ((g->flags & SZ_GLOB_PATHNAME) && s[st->star_si & smask] == '/')
		return -1;
	st->star_si++;
	st->ti = st->star_ti + 1;
	st->si = st->star_si;
	return 0;
}

/* SMASK bounds every subject index for the verifier: SZ_GLOB_MAX_NAME - 1 for
 * names, SZ_GLOB_MAX_PATH - 1 for paths; the subject buffer holds smask + 1. */
static __always_inline int sz_glob_step(const struct sz_glob *g, const char *s, int slen,
					struct sz_glob_state *st)
{
	return sz_glob_step_m(g, s, slen, st, SZ_GLOB_MAX_NAME - 1);
}

/*
 * The first filter: 0 when S (SLEN bytes, buffer of smask + 1) cannot match,
 * 1 when it may.  A few comparisons, no backtracking: most names on a host
 * fail here and never reach the step matcher.
 */
static __always_inline int sz_glob_prefilter(const struct sz_glob *g, const char *s, int slen,
					     int smask)
{
	int i;

	if (slen < g->minlen || (!g->has_star && slen != g->ntok))
		return 0;
	for (i = 0; i < SZ_GLOB_FILTER_MAX; i++) {
		if (i >= g->npre)
			break;
		if (!sz_glob_tok_matches(g, i, (unsigned char)s[i & smask]))
			return 0;
	}
	for (i = 0; i < SZ_GLOB_FILTER_MAX; i++) {
		if (i >= g->nsuf)
			break;
		/* npre + nsuf <= minlen <= slen: the two ends do not overlap */
		if (!sz_glob_tok_matches(g, g->ntok - g->nsuf + i,
					 (unsigned char)s[(slen - g->nsuf + i) & smask]))
			return 0;
	}
	return 1;
}

/* Upper bound on steps for a subject of at most SZ_GLOB_MAX_NAME bytes: between two
 * star restarts every step advances ti or si; restarts happen at most slen times. */
#define SZ_GLOB_MAX_STEPS ((SZ_GLOB_MAX_NAME + 2) * (SZ_GLOB_MAX_TOKENS + SZ_GLOB_MAX_NAME + 2))

#ifdef __bpf__
/* [perf] Always 0, but the verifier cannot know it (.bss is writable): the
 * matcher's state starts unknown, so the bpf_loop callback that steps it is
 * verified once for any state, not once per token of the pattern walked with
 * known values (the watch's sz_exec with a 16-byte literal: 15,673 -> 8,604
 * instructions verified; a 58-byte one loaded in 927 ms, now 50 ms). */
static volatile int sz_glob_zero;
#endif

static __always_inline void sz_glob_state_init(struct sz_glob_state *st)
{
#ifdef __bpf__
	int z = sz_glob_zero;

	st->ti = z;
	st->si = z;
	st->star_ti = z - 1;
	st->star_si = z;
#else
	st->ti = 0;
	st->si = 0;
	st->star_ti = -1;
	st->star_si = 0;
#endif
}

#endif /* SZ_GLOB_H */
