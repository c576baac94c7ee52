/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The library's one log channel (sz_set_log), and the bracket that forwards
 * libbpf's messages into it while we call libbpf, without taking over the
 * host application's libbpf printer the rest of the time.
 */
#ifndef SZ_UTIL_LOG_H
#define SZ_UTIL_LOG_H

#include "symbolyze.h"

void sz_log(enum sz_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Around calls into libbpf: route its messages to sz_log, then restore. */
void *sz_libbpf_enter(void);
void sz_libbpf_leave(void *saved);

#endif
