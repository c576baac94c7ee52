// SPDX-License-Identifier: BSD-2-Clause
/*
 * Driver for the --freeze record order (tests/integration/test_freeze.py):
 * two threads of one process stop it at once, and their records reach
 * userspace in the other order.  A real stopped child, a frozen set written
 * as bpf/freeze.bpf.h writes it for two records, then sz_freeze_record() for
 * the later record first.  Prints one line per step: "STEP STATE ENTRY" (the
 * child's /proc state letter, whether the set still holds it).
 */
#include "sources/freeze.h"
#include "pipeline/pipeline.h"

#include <linux/types.h>
#include "../../bpf/freeze.h"

#include <bpf/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char state_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return '?';
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	return p && p[1] == ' ' ? p[2] : '?';
}

static void report(const char *step, int frozen_fd, pid_t pid)
{
	struct sz_frozen e;
	__u32 k = (__u32)pid;
	char st = state_of(pid);

	/* a SIGCONT takes a moment to show in /proc */
	for (int i = 0; i < 100 && st == 't'; i++)
		st = state_of(pid);
	for (int i = 0; i < 200 && st == 'T' && bpf_map_lookup_elem(frozen_fd, &k, &e); i++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
		st = state_of(pid);
	}
	printf("%s %c %s\n", step, st,
	       bpf_map_lookup_elem(frozen_fd, &k, &e) ? "absent" : "present");
	fflush(stdout);
}

int main(void)
{
	int frozen_fd, ctl_fd, st;
	struct sz_freeze *f;
	struct sz_frozen e;
	pid_t child;
	__u32 k;

	frozen_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "frozen", sizeof(__u32), sizeof(e),
				   SZ_FREEZE_MAX, NULL);
	ctl_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "freeze_ctl", sizeof(__u32), sizeof(__u64),
				SZ_FREEZE_CTL_N, NULL);
	if (frozen_fd < 0 || ctl_fd < 0) {
		perror("bpf_map_create");
		return 1;
	}
	child = fork();
	if (child == 0) {
		for (;;)
			pause();
	}
	kill(child, SIGSTOP);
	waitpid(child, &st, WUNTRACED);
	/* Thread A's record (ts 100) made the stop, thread B's (ts 200) joined it. */
	k = (__u32)child;
	e = (struct sz_frozen){ sz_now_ns(), 100, 2 };
	bpf_map_update_elem(frozen_fd, &k, &e, BPF_NOEXIST);
	if (sz_freeze_start(frozen_fd, ctl_fd, 60ull * 1000000000ull, &f)) {
		kill(child, SIGKILL);
		return 1;
	}
	sz_freeze_record(f, child, 50); /* of an earlier stop: not one of these */
	report("stale", frozen_fd, child);
	sz_freeze_record(f, child, 200); /* B's record arrives first */
	report("first", frozen_fd, child);
	sz_freeze_record(f, child, 100); /* then A's: the stop is over */
	report("second", frozen_fd, child);
	sz_freeze_free(f);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	return 0;
}
