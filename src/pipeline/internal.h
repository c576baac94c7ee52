/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the pipeline's own files share (pipeline.c and the USDT half in
 * pipeline/usdt.c): the load being delivered, and the two ways out of it, a
 * found record to the consumers or an explained problem.  Not for consumers.
 */
#ifndef SZ_PIPELINE_INTERNAL_H
#define SZ_PIPELINE_INTERNAL_H

#include "pipeline/pipeline.h"

struct sz_usdt_probe;

struct sz_loaded {
	struct sz_pipeline *p;
	struct sz_file *f;
	const struct sz_mapping *m;
	size_t ent; /* the found record's entry in f->syms */
	const struct sz_usdt_probe *usdt; /* the probe of a USDT record, else NULL */
};

int sz__pipeline_deliver(struct sz_pipeline *p, struct sz_found *fd, struct sz_loaded *l);
void sz__pipeline_problem_at(struct sz_pipeline *p, const struct sz_mapping *m,
			     enum sz_reason reason, int err, const char *symbol, int first,
			     const char *fmt, ...) __attribute__((format(printf, 7, 8)));

#endif
