/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * USDT probes in the one pipeline: the -u patterns, the probes of each cached
 * file that match them (computed once per file, at parse, next to its
 * symbols), and the found records of a load (one per probe site).
 */
#ifndef SZ_PIPELINE_USDT_H
#define SZ_PIPELINE_USDT_H

#include "elf/usdt.h"
#include "files/files.h"

struct sz_pipeline;
struct sz_loaded;

/* The matching probes of one file (owned by its cache entry). */
struct sz_file_usdt_probe {
	struct sz_usdt_probe p; /* strings point into FULL */
	char *full;		/* "provider:name\0provider\0name\0spec" */
};

struct sz_file_usdt {
	int err; /* the notes could not be read: negative errno, ERRMSG */
	char errmsg[160];
	int err_reported;
	size_t n;
	struct sz_file_usdt_probe *probes;
	unsigned char *pat_hit;	     /* per pattern: some probe of the file matched */
	unsigned char *pat_reported; /* per pattern: "matches nothing" said once */
};

/* Compile the patterns (each "PROVIDER:NAME" or "NAME"); 0, -ENOMEM, or
 * -EINVAL for a pattern that does not compile. */
int sz_usdt_patterns_new(const char *const *specs, size_t n, struct sz_usdt_pattern **out);

/* The probes of the ELF open in F that match the cache's patterns; NULL only
 * when out of memory. */
struct sz_file_usdt *sz_file_usdt_new(const struct sz_elf *e, const struct sz_usdt_pattern *pats,
				      size_t npats);
void sz_file_usdt_free(struct sz_file_usdt *u);

/* The USDT records of a new load of L's file at BIAS: one found record per
 * matching site, a problem per pattern that matches nothing in the file.
 * 0 or SZ_STOP. */
int sz_pipeline_usdt_load(struct sz_pipeline *p, struct sz_loaded *l, uint64_t bias,
			  const char *comm);

#endif
