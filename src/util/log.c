// SPDX-License-Identifier: BSD-2-Clause
/*
 * Log callback of the library, and libbpf's messages forwarded into it while
 * the library is inside libbpf.  Nothing here prints.
 */
#include "util/log.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sz_log_fn log_fn;
static void *log_ctx;

sz_log_fn sz_set_log(sz_log_fn fn, void *ctx)
{
	sz_log_fn old = log_fn;

	log_fn = fn;
	log_ctx = ctx;
	return old;
}

static __attribute__((format(printf, 2, 0))) void vlog(enum sz_log_level level, const char *fmt,
						       va_list ap)
{
	char *msg = NULL;
	int n;

	if (!log_fn)
		return;
	n = vasprintf(&msg, fmt, ap);
	if (n < 0)
		return;
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_fn(level, msg, log_ctx);
	free(msg);
}

void sz_log(enum sz_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

static __attribute__((format(printf, 2, 0))) int forward_libbpf(enum libbpf_print_level level,
								const char *fmt, va_list ap)
{
	/* libbpf's WARN carries load failures and the verifier's log: detail a
	 * user asks for with -v, next to our own one-line error. */
	enum sz_log_level l = level == LIBBPF_WARN ? SZ_LOG_DEBUG : SZ_LOG_DEBUG + 1;

	if (l > SZ_LOG_DEBUG)
		return 0; /* libbpf's INFO/DEBUG chatter: not even -v wants it */
	vlog(l, fmt, ap);
	return 0;
}

void *sz_libbpf_enter(void)
{
	return (void *)libbpf_set_print(forward_libbpf);
}

void sz_libbpf_leave(void *saved)
{
	libbpf_set_print((libbpf_print_fn_t)saved);
}
