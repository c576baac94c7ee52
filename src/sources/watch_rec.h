/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Userspace side of the `symbolyze watch` record (bpf/watch.h): validation of
 * ring-buffer bytes and decoding of the leaf-first path the BPF walk builds.
 */
#ifndef SZ_WATCH_REC_H
#define SZ_WATCH_REC_H

#include <stddef.h>

#include <linux/types.h>

#include "../../bpf/watch.h"

/*
 * 0 if DATA/SIZE is one whole record of a known type: at least the header,
 * name_len and path_len within bounds, the name NUL-terminated at name_len,
 * and SIZE exactly SZ_WATCH_HDR_LEN + name_len + 1 + path_len (records are
 * variable-length, bpf/watch.h); else -EBADMSG.  DATA needs no particular
 * alignment.
 */
int sz_watch_rec_check(const void *data, size_t size);

/* The file's base name (NUL-terminated) of a record that passed the check. */
static inline const char *sz_watch_rec_name(const struct sz_watch_rec *r)
{
	return r->data;
}

/*
 * Absolute path of the file of R into OUT (OUTSZ bytes, NUL-terminated).
 * Returns 0, or
 *   -ENOENT        the record carries no path (EXIT record, empty walk),
 *   -ENAMETOOLONG  BPF flagged the path TRUNCATED, or it does not fit in OUT,
 *   -EBADMSG       path_len/path[] do not follow the encoding of bpf/watch.h.
 * Reads only bytes of R that sz_watch_rec_check accepted as part of the record
 * (and, for a record that was not checked, nothing outside a whole struct
 * sz_watch_rec, whatever its bytes).  When OUTSZ > 0, OUT is
 * always NUL-terminated ("" on error).  0 is also returned for DELETED and
 * FOREIGN paths: check r->path_flags before opening.
 */
int sz_watch_rec_path(const struct sz_watch_rec *r, char *out, size_t outsz);

struct sz_mapping;

/*
 * The mapping record of an EXEC, EXEC_INTERP or MMAP record R (already
 * checked with sz_watch_rec_check): fills M, with M->path pointing into PATH
 * (PATHSZ bytes: the decoded path, or the base name flagged
 * SZ_MAPPING_PATH_INCOMPLETE when the walk could not finish) and M->comm
 * into COMM (at least SZ_WATCH_COMM_LEN + 1 bytes).  Returns 0, or -EINVAL
 * for a record of another type.
 */
int sz_watch_rec_mapping(const struct sz_watch_rec *r, char *path, size_t pathsz, char *comm,
			 struct sz_mapping *m);

#endif /* SZ_WATCH_REC_H */
