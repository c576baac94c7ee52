// SPDX-License-Identifier: BSD-2-Clause
/*
 * The "cgroup" of a watch's found record.  The kernel records the process's
 * cgroup v2 id with each mapping (bpf/watch.h, bpf/iter.h); its path is read
 * once per id, not once per process: from the first process seen in it
 * (/proc/PID/cgroup, the path as /proc names it to us), kept only if the
 * directory at that path under the cgroup2 mount is that id (its inode).
 * Records of the /proc scan carry no id: those read /proc/PID/cgroup, once
 * per run of one process's records.  Runs on the event loop's thread only.
 */
#include "metrics.h"
#include "proc/cgroup.h"

#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SLOTS 256 /* ids remembered; a collision only costs a read again */

struct slot {
	uint64_t id;
	char *path;
};

static struct {
	struct slot slot[SLOTS];
	int root_known; /* 0: not looked for yet, 1: root[] holds it, -1: none */
	char root[PATH_MAX];
	pid_t pid; /* the last process read without an id, and what it said */
	const char *pid_path;
	char buf[4096];
} cg;

static void find_root(void)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent *e;

	cg.root_known = -1;
	if (!f)
		return;
	while ((e = getmntent(f)))
		if (!strcmp(e->mnt_type, "cgroup2") && strlen(e->mnt_dir) < sizeof(cg.root)) {
			snprintf(cg.root, sizeof(cg.root), "%s", e->mnt_dir);
			cg.root_known = 1;
			break;
		}
	endmntent(f);
}

/* Is PATH (as /proc/PID/cgroup names it) the cgroup whose id is ID? */
static int is_cgroup(const char *path, uint64_t id)
{
	char full[PATH_MAX + 4096];
	struct stat st;

	if (!cg.root_known)
		find_root();
	if (cg.root_known < 0 || path[0] != '/')
		return 0;
	snprintf(full, sizeof(full), "%s%s", cg.root, path);
	return !stat(full, &st) && S_ISDIR(st.st_mode) && (uint64_t)st.st_ino == id;
}

static const char *of_pid(pid_t pid)
{
	if (pid != cg.pid) {
		cg.pid = pid;
		cg.pid_path = sz_proc_cgroup(NULL, pid, cg.buf, sizeof(cg.buf)) ? NULL : cg.buf;
	}
	return cg.pid_path;
}

const char *cli_cgroup_path(pid_t pid, uint64_t id)
{
	struct slot *s = &cg.slot[(id ^ id >> 17) % SLOTS];
	const char *path;
	char *copy;

	if (id && s->id == id)
		return s->path;
	path = of_pid(pid);
	/* The process may have moved since the kernel wrote the record: the
	 * path is kept for the id only if it still is that cgroup. */
	if (!id || !path || !is_cgroup(path, id))
		return path;
	copy = strdup(path);
	if (!copy)
		return path;
	free(s->path);
	s->id = id;
	s->path = copy;
	return copy;
}
