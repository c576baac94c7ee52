// SPDX-License-Identifier: BSD-2-Clause
/*
 * Least privilege: the capability set of each command, found by experiment
 * (tests/integration/test_caps.py runs each command under exactly its set and
 * under each set minus one) and checked at start with capget(2).
 */
#include "cli/caps.h"
#include "cli/out.h"
#include "cli/output.h"

#include <errno.h>
#include <stdarg.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The inode of the initial user namespace (PROC_USER_INIT_INO, fixed since
 * Linux 3.8): BPF and perf check capabilities there, not in a container's. */
#define SZ_INIT_USER_NS_INO 0xEFFFFFFDU

struct sz_cap {
	int cap;
	int alt; /* another capability the kernel accepts instead, or -1 */
	const char *name;
	const char *why;
};

/* CAP_SYS_ADMIN stands in for CAP_BPF, CAP_PERFMON and CAP_CHECKPOINT_RESTORE
 * (bpf_capable(), perfmon_capable(), checkpoint_restore_ns_capable()). */
static const struct sz_cap cap_ptrace = { CAP_SYS_PTRACE, -1, "CAP_SYS_PTRACE",
					  "to open other users' processes' mapped files through "
					  "/proc/PID" };
static const struct sz_cap cap_dac = { CAP_DAC_READ_SEARCH, -1, "CAP_DAC_READ_SEARCH",
				       "to read mapped files whatever their mode" };
static const struct sz_cap cap_cr = {
	CAP_CHECKPOINT_RESTORE, CAP_SYS_ADMIN, "CAP_CHECKPOINT_RESTORE",
	"to open /proc/PID/map_files (deleted files, the exact inode)"
};
static const struct sz_cap cap_bpf = { CAP_BPF, CAP_SYS_ADMIN, "CAP_BPF", "to load BPF programs" };
static const struct sz_cap cap_perfmon = { CAP_PERFMON, CAP_SYS_ADMIN, "CAP_PERFMON",
					   "to attach BPF programs to tracepoints" };
/* Since "perf: Require CAP_SYS_ADMIN for uprobes" (2025, also in stable
 * kernels), perf_event_open() of a uprobe wants CAP_SYS_ADMIN; CAP_PERFMON
 * alone gets EACCES. (A BPF uprobe_multi link, Linux 6.6, still attaches with
 * CAP_BPF and CAP_PERFMON on 6.18; src/consumers/probe.c attaches through
 * perf_event_open(), so this set is the one it needs.) */
static const struct sz_cap cap_admin = { CAP_SYS_ADMIN, -1, "CAP_SYS_ADMIN", "to attach uprobes" };
/* SIGCONT to a process of another user outside our session. */
static const struct sz_cap cap_kill = { CAP_KILL, -1, "CAP_KILL",
					"to resume frozen processes of other users" };

#define SZ_MAX_CAPS 5

static const struct {
	const char *what;
	const struct sz_cap *caps[SZ_MAX_CAPS];
	int init_ns; /* BPF or perf: capabilities count only in the initial user ns */
} needs[] = {
	[SZ_CLI_NEED_SCAN] = { "scan", { &cap_ptrace, &cap_dac, &cap_cr }, 0 },
	[SZ_CLI_NEED_WATCH] = { "watch",
				{ &cap_ptrace, &cap_dac, &cap_cr, &cap_bpf, &cap_perfmon },
				1 },
	[SZ_CLI_NEED_PROBES] = { "watch with probes", { &cap_admin, &cap_ptrace, &cap_dac }, 1 },
	[SZ_CLI_NEED_FREEZE] = { "watch --freeze",
				 { &cap_admin, &cap_ptrace, &cap_dac, &cap_kill },
				 1 },
};

static int probe_denied;

enum sz_cli_need sz_cli_watch_need(int probe, int freeze)
{
	if (probe && freeze)
		return SZ_CLI_NEED_FREEZE;
	return probe ? SZ_CLI_NEED_PROBES : SZ_CLI_NEED_WATCH;
}

static int have(const struct __user_cap_data_struct *d, int cap)
{
	return cap >= 0 && (d[cap / 32].effective & (1u << (cap % 32))) != 0;
}

static int in_init_user_ns(void)
{
	struct stat st;

	/* Without procfs we cannot tell; the kernel will say so at load. */
	if (stat("/proc/self/ns/user", &st))
		return 1;
	return st.st_ino == SZ_INIT_USER_NS_INO;
}

/* Which of NEED's capabilities are missing: a bit per slot of needs[]. */
static int missing_mask(enum sz_cli_need need, char *msg, size_t len)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	int mask = 0;

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &hdr, d)) {
		snprintf(msg, len, "symbolyze: cannot read this process's capabilities: %s",
			 strerror(errno));
		return -errno;
	}
	for (int i = 0; i < SZ_MAX_CAPS && needs[need].caps[i]; i++) {
		const struct sz_cap *c = needs[need].caps[i];

		if (!have(d, c->cap) && !have(d, c->alt))
			mask |= 1 << i;
	}
	return mask;
}

static __attribute__((format(printf, 4, 5))) void append(char *msg, size_t len, size_t *off,
							 const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

int sz_cli_require_caps(enum sz_cli_need need, char *msg, size_t len)
{
	size_t off = 0;
	int mask, nmiss = 0;

	if (need < 0 || need > SZ_CLI_NEED_FREEZE || !len)
		return -EINVAL;
	msg[0] = '\0';
	mask = missing_mask(need, msg, len);
	if (mask < 0)
		return mask;
	if (!mask && (!needs[need].init_ns || in_init_user_ns()))
		return 0;
	if (!mask) {
		snprintf(msg, len,
			 "symbolyze: %s needs its capabilities in the initial user namespace, "
			 "and this process runs in a child one (a container?): run it on the host",
			 needs[need].what);
		return -EPERM;
	}
	append(msg, len, &off, "symbolyze: %s needs", needs[need].what);
	for (int i = 0; i < SZ_MAX_CAPS; i++) {
		if (!(mask & (1 << i)))
			continue;
		append(msg, len, &off, nmiss ? ", %s %s" : " %s %s", needs[need].caps[i]->name,
		       needs[need].caps[i]->why);
		nmiss++;
	}
	append(msg, len, &off, "; this process lacks %s (its set:", nmiss > 1 ? "them" : "it");
	for (int i = 0; i < SZ_MAX_CAPS && needs[need].caps[i]; i++)
		append(msg, len, &off, " %s", needs[need].caps[i]->name);
	append(msg, len, &off, "%s", "; or run as root)");
	return -EPERM;
}

static void json_names(FILE *f, const char *key, enum sz_cli_need need, int mask)
{
	int first = 1;

	fprintf(f, ",\"%s\":[", key);
	for (int i = 0; i < SZ_MAX_CAPS && needs[need].caps[i]; i++) {
		if (!(mask & (1 << i)))
			continue;
		fprintf(f, "%s\"%s\"", first ? "" : ",", needs[need].caps[i]->name);
		first = 0;
	}
	fputc(']', f);
}

/* The line on stderr; with JSON, the event through the CLI's output once it
 * is set up (in order with the other records), else straight to stdout. */
static void report(enum sz_cli_need need, int mask, const char *msg, int json)
{
	int through_out = out_active();
	FILE *f = through_out ? out_begin() : stdout;

	fprintf(stderr, "%s\n", msg);
	if (!json)
		return;
	fputs("{\"event\":\"error\",\"reason\":\"capability\"", f);
	json_names(f, "missing", need, mask);
	json_names(f, "needed", need, ~0);
	fputs(",\"message\":", f);
	sz_json_str(f, msg);
	fputs("}\n", f);
	if (through_out)
		out_end();
	else
		(void)fflush(stdout);
}

int sz_cli_check_caps(enum sz_cli_need need, int json)
{
	char msg[1024], ignored[16];
	int mask;

	if (!sz_cli_require_caps(need, msg, sizeof(msg)))
		return 0;
	mask = missing_mask(need, ignored, sizeof(ignored));
	report(need, mask > 0 ? mask : 0, msg, json);
	return 3;
}

void sz_cli_note_problem(const struct sz_problem *p)
{
	/* A refused attach (the probes consumer's problem); EACCES/EPERM
	 * there is privilege, and it will be the same for every other uprobe. */
	if (p->reason == SZ_REASON_PROBE && (p->err == -EACCES || p->err == -EPERM))
		probe_denied = p->err;
}

int sz_cli_probe_denied(void)
{
	return probe_denied != 0;
}

int sz_cli_report_denied(int json)
{
	char msg[512];

	if (!probe_denied)
		return 0;
	snprintf(msg, sizeof(msg),
		 "symbolyze: the kernel refused to attach a uprobe (%s): uprobes need "
		 "CAP_SYS_ADMIN in the initial user namespace, and no security module forbidding "
		 "them; nothing was counted",
		 strerror(-probe_denied));
	/* The missing capability is CAP_SYS_ADMIN, slot 0 of the probe sets. */
	report(SZ_CLI_NEED_PROBES, 1, msg, json);
	return 3;
}
