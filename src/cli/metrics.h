/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What watch adds to its event loop for a fleet: the Prometheus endpoint
 * (--metrics, --by), periodic batches (--interval, --per-interval) and the
 * cgroup label.  cmd_watch.c calls in at four points and knows no more.
 */
#ifndef SZ_CLI_METRICS_H
#define SZ_CLI_METRICS_H

#include "cli.h"

#include <stdint.h>

/* Options of this room: 1 if OPT was one (then *RC is 0 or an exit code). */
int cli_ext_option(struct cli *c, int opt, const char *arg, int *rc);
/* After parsing: the rules between these options and the others. -1 to go on. */
int cli_ext_check(struct cli *c);
/* 1 if OPT (a getopt_long value) is one of ours that takes an argument. */
int cli_ext_wants_value(int opt);
/* Before sz_watch_start: observers, the listening socket.  0 or an exit code. */
int cli_ext_setup(struct cli *c, struct sz_watch *w);
/* In place of sz_watch_poll(): also answers scrapes and prints batches. */
int cli_ext_poll(struct cli *c, struct sz_watch *w, int timeout_ms);
/* After sz_watch_stop, before sz_watch_free: the HTTP thread ends. */
void cli_ext_finish(struct cli *c);
/* The cgroup v2 path of PID for a found record, or NULL. */
const char *cli_cgroup_of(pid_t pid, char *buf, size_t size);
/* The same by the kernel's cgroup id (0: unknown), resolved once per id
 * (cgroup_path.c). */
const char *cli_cgroup_path(pid_t pid, uint64_t id);

/* Symbol names by index: those requested, then each new one seen (the
 * matches of a -s GLOB).  STABLE: NAME's pointer lives as long as the watch
 * (the probe manager's), so it may be compared by address next time. */
struct mx_names {
	char **s;
	const char **ptr;
	size_t n, cap;
};
int mx_name_index(struct mx_names *t, const char *name, int stable);
const char *mx_name(const struct mx_names *t, int i);
void mx_names_free(struct mx_names *t);

/* The exposition (src/cli/metrics.c), built in the event loop's thread. */
struct mx;
enum mx_by { MX_BY_COMM = 0, MX_BY_PID, MX_BY_CGROUP };
/* LATENCY: the histogram too when MODE is SZ_PROBE_COUNT (--count --latency). */
int mx_new(enum mx_by by, enum sz_probe_mode mode, int latency, const char *const *symbols,
	   size_t n, struct mx **out);
void mx_free(struct mx *m);
/* A found record: the labels of its process (first seen wins: a label that
 * changed would move a counter's past to another series). */
void mx_found(struct mx *m, const struct sz_found *r);
/* --count: the calls of a process that exited, and its end (the watch's
 * sz__watch_fold_exited callbacks): folded into its label set's series. */
void mx_exited_calls(pid_t pid, const char *symbol, uint64_t calls, void *ctx);
void mx_exited(pid_t pid, void *ctx);
/* --by pid: drop the series of processes that exited KEEP seconds ago (the
 * default MX_KEEP_DEFAULT); mx_render does it too. */
#define MX_KEEP_DEFAULT 300.0
void mx_set_keep(struct mx *m, double seconds);
void mx_expire(struct mx *m);
/* The whole exposition text, malloc'd, into *BUF and *LEN. */
int mx_render(struct mx *m, struct sz_watch *w, uint64_t output_dropped, char **buf, size_t *len);
/* Series in the last rendering (the benchmark's scale). */
size_t mx_series(const struct mx *m);

#endif
