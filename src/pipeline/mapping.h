/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The neutral mapping record: what every source (the /proc scan, the BPF
 * exec/mmap/fork watch) produces and the one pipeline takes.  Nothing after
 * it knows which source made it, except to print the source's name.
 */
#ifndef SZ_MAPPING_H
#define SZ_MAPPING_H

#include "symbolyze.h"

#include <stdint.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

enum sz_mapping_flags {
	SZ_MAPPING_SHARED = 1 << 0,	/* MAP_SHARED: someone reading the file, never a load */
	SZ_MAPPING_DELETED = 1 << 1,	/* the file was unlinked: its path names nothing */
	SZ_MAPPING_PATH_OURS = 1 << 2,	/* path is from our root, not the process's root */
	SZ_MAPPING_LOAD_START = 1 << 3, /* the source knows it is a load's first mapping
					 * (the interpreter found at AT_BASE) */
	SZ_MAPPING_PATH_INCOMPLETE = 1 << 4, /* the full path could not be known */
	/* path is from the process's root; once the process is gone, taken
	 * from ours (the inode checked): perf's records, which do not say */
	SZ_MAPPING_PATH_ROOT_OR_OURS = 1 << 5,
};

struct sz_mapping {
	pid_t pid;
	enum sz_source source;
	uint64_t start, end, pgoff; /* pgoff in bytes */
	unsigned prot;		    /* PROT_* */
	unsigned flags;		    /* enum sz_mapping_flags */
	uint32_t dev;		    /* as the kernel gives it: major << 20 | minor */
	uint64_t ino;
	const char *path;   /* absolute, NUL-terminated, without " (deleted)"; may be NULL */
	uint64_t ts_ns;	    /* CLOCK_MONOTONIC when observed */
	const char *comm;   /* NULL: read from /proc/PID/comm when needed */
	uint64_t cgroup_id; /* the process's cgroup v2 id when the source knows it, else 0 */
};

/* The kernel's device encoding (s_dev) from /proc's "major:minor", and back
 * to the dev_t that stat() reports. */
static inline uint32_t sz_kdev(unsigned major, unsigned minor)
{
	return (uint32_t)major << 20 | (minor & 0xfffff);
}

static inline dev_t sz_kdev_to_dev(uint32_t kdev)
{
	return makedev(kdev >> 20, kdev & 0xfffff);
}

#endif
