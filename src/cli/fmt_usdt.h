/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * USDT output (fmt_usdt.c): the rows fmt_text.c and fmt_json.c put in their
 * tables, and the fields they add to found records and the summary.
 */
#ifndef SZ_CLI_FMT_USDT_H
#define SZ_CLI_FMT_USDT_H

#include "cli.h"

void fmt_text_usdt_call(struct cli *c, const struct sz_usdt_call *k);
void fmt_text_usdt_count(struct cli *c, pid_t pid, const char *provider, const char *name,
			 uint64_t hits);
void fmt_json_usdt_call(struct cli *c, const struct sz_usdt_call *k);
void fmt_json_usdt_count(struct cli *c, pid_t pid, const char *provider, const char *name,
			 uint64_t hits);

void fmt_json_usdt_found(FILE *f, const struct sz_found *r);
void fmt_json_usdt_summary(FILE *f, const struct sz_watch_stats *w);
/* Text found record: the semaphore of a probe that has one, before the path's newline. */
void fmt_text_usdt_found(FILE *f, const struct sz_found *r);

#endif
