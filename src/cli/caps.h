/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Least privilege for the CLI: the capability set each command needs, checked
 * with capget(2) before anything is loaded, so a missing capability is one
 * clear line and exit 3 instead of a run that quietly does nothing.
 */
#ifndef SZ_CLI_CAPS_H
#define SZ_CLI_CAPS_H

#include "symbolyze.h"

#include <stddef.h>

/* What a command is about to do; each level is the set in symbolyze(8). */
enum sz_cli_need {
	SZ_CLI_NEED_SCAN,   /* read every process's maps and mapped files */
	SZ_CLI_NEED_WATCH,  /* + BPF programs on tracepoints */
	SZ_CLI_NEED_PROBES, /* + uprobes (--count, --trace, --latency) */
	SZ_CLI_NEED_FREEZE, /* + resume stopped processes of any user (--freeze) */
};

/* The need of `watch` with these options. */
enum sz_cli_need sz_cli_watch_need(int probe, int freeze);

/* 0 if this process holds every capability NEED takes (effective set, in
 * the initial user namespace where the kernel checks them); else -EPERM and
 * MSG says which are missing and why each is needed, one line. */
int sz_cli_require_caps(enum sz_cli_need need, char *msg, size_t len);

/* sz_cli_require_caps, reported: on a miss, the line on stderr (and with
 * JSON an "error" event with "reason":"capability" and the "missing" list on
 * stdout); returns 0 or 3, the exit status for the environment. */
int sz_cli_check_caps(enum sz_cli_need need, int json);

/* Fed every problem the library reports: a uprobe attach the kernel refused
 * for lack of privilege is remembered, since probing cannot work at all. */
void sz_cli_note_problem(const struct sz_problem *p);

/* Whether such a refusal was seen. */
int sz_cli_probe_denied(void);

/* If a refusal was seen, reports it as sz_cli_check_caps does and returns 3;
 * else 0. */
int sz_cli_report_denied(int json);

#endif
