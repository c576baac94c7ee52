/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * /proc/PID/maps parsing and safe opening of mapped files.
 */
#ifndef SZ_MAPS_H
#define SZ_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct sz_map {
	uint64_t start, end, pgoff, ino;
	unsigned dev_major, dev_minor;
	unsigned prot;	  /* PROT_* bits */
	int shared;	  /* 's' rather than 'p' */
	int deleted;	  /* the line ended in " (deleted)" (stripped from path) */
	const char *path; /* points into the line; NUL-terminated by the parser */
	size_t path_len;
};

/* Parse one line (without its newline) in place: LINE is modified to
 * terminate the path.  Returns 0, or -EINVAL for a malformed line.  path is ""
 * for anonymous regions; pseudo names like "[vdso]" are kept as they are. */
int sz_maps_parse_line(char *line, size_t len, struct sz_map *m);

/* Walk the lines of /proc/PID/maps: sz_maps_open reads the file whole (at
 * most MAX bytes; a negative errno if it cannot), sz_maps_next gives one
 * parsed line at a time (1, or 0 at the end; malformed lines are skipped),
 * and the maps it gives stay valid until sz_maps_close. */
struct sz_maps_iter {
	char *buf, *next;
};
int sz_maps_open(struct sz_maps_iter *it, const char *proc, pid_t pid, size_t max);
int sz_maps_next(struct sz_maps_iter *it, struct sz_map *m);
void sz_maps_close(struct sz_maps_iter *it);

/* True if M is a mapping of a regular file we could symbolize. */
int sz_map_is_file(const struct sz_map *m);

/* Read a whole /proc file (maps, comm) into a malloc'd NUL-terminated buffer
 * of at most MAX bytes.  Returns the length or a negative errno. */
ssize_t sz_read_file(int dirfd, const char *path, size_t max, char **out);

/* An O_PATH descriptor of PATH, resolved under DIRFD with openat2 RESOLVE
 * flags (no symlinks, say), only if it is a regular file with M's inode
 * (and device, if CHECK_DEV).  -ESTALE if it is another file. */
int sz_open_checked(int dirfd, const char *path, uint64_t resolve, const struct sz_map *m,
		    int check_dev, struct stat *st);
/* Open the file an O_PATH descriptor holds for reading; closes PFD. */
int sz_reopen_read(int pfd);

/* Open the file behind mapping M of PID: /proc/PID/map_files/START-END (the
 * exact inode, across mount namespaces, deleted or not), falling back to
 * /proc/PID/root/PATH checked against the mapping's device and inode.
 * Returns an O_RDONLY|O_CLOEXEC fd and fills ST, or a negative errno. */
int sz_open_mapped(const char *proc, pid_t pid, const struct sz_map *m, struct stat *st);

#endif
