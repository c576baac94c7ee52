/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Userspace side of the shared glob matcher (bpf/glob.h): compile a fnmatch(3)
 * pattern into tokens and run the same step function the BPF program runs.
 */
#ifndef SZ_SRC_GLOB_H
#define SZ_SRC_GLOB_H

#include <linux/types.h>
#include <stddef.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#include "../../bpf/glob.h"

/* Compile PATTERN.  A pattern containing '/' matches whole paths with '/' only
 * matched literally (fnmatch's FNM_PATHNAME); otherwise it matches base names.
 * Returns 0, or -EINVAL (bad pattern) / -E2BIG (too long, too many classes). */
int sz_glob_compile(const char *pattern, struct sz_glob *g);

/* Match SUBJECT of LEN bytes.  Subjects longer than SZ_GLOB_MAX_NAME never match. */
int sz_glob_match(const struct sz_glob *g, const char *subject, size_t len);

/* Steps the matcher takes on SUBJECT after the first filter (0: the filter
 * decided; subjects up to SZ_GLOB_MAX_PATH): the bench's figure of what a
 * pattern costs the BPF side, which gives up after SZ_GLOB_BUDGET. */
long sz_glob_steps(const struct sz_glob *g, const char *subject, size_t len);

/* Match a mapped path: the whole path for path patterns (up to SZ_GLOB_MAX_PATH
 * bytes), else its base name. */
int sz_glob_match_path(const struct sz_glob *g, const char *path);

#endif
