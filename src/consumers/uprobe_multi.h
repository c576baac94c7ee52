/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Many uprobes on one file at once: one BPF_TRACE_UPROBE_MULTI link for every
 * offset (kernel >= 6.6), made with the bpf(2) syscall because Debian's libbpf
 * 1.1 has no wrapper, or one perf-event uprobe per offset on older kernels.
 */
#ifndef SZ_UPROBE_MULTI_H
#define SZ_UPROBE_MULTI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bpf_program;
struct sz_umulti;

enum sz_umulti_mode {
	SZ_UMULTI_AUTO = 0,   /* a multi link where the kernel has it */
	SZ_UMULTI_MULTI = 1,  /* a multi link or an error */
	SZ_UMULTI_SINGLE = 2, /* one perf-event uprobe per offset */
};

/* 1 if the kernel makes multi-uprobe links with process-wide pid filtering,
 * else 0.  Probed once (a throwaway program and two refused links), then
 * remembered. */
int sz_uprobe_multi_supported(void);

/* Before the program's object is loaded: choose how PROG will attach, and set
 * its expected attach type to match (the kernel refuses a multi link for a
 * program loaded without it, and a perf-event uprobe for one loaded with it).
 * Returns 1 (multi link), 0 (perf-event uprobes) or -EOPNOTSUPP (MULTI asked,
 * the kernel lacks it). */
int sz_umulti_prepare(struct bpf_program *prog, enum sz_umulti_mode mode);

/* What to attach: the file open on FD (the very inode parsed: attached through
 * /proc/self/fd/FD), in process PID or every process (-1), at CNT file offsets,
 * each with its cookie (bpf_get_attach_cookie) and optional semaphore file
 * offset (the kernel's ref_ctr_offset; NULL or 0: none). */
struct sz_umulti_spec {
	int fd;
	pid_t pid;
	int retprobe;
	size_t cnt;
	const uint64_t *offsets;
	const uint64_t *ref_ctr_offsets;
	const uint64_t *cookies;
};

/* Attach PROG (prepared, loaded) as SPEC says.  All or nothing: on error no
 * probe stays and ERR says which offset failed and why. */
int sz_umulti_attach(struct bpf_program *prog, const struct sz_umulti_spec *spec,
		     struct sz_umulti **out, char *err, size_t errlen);
/* 1 if the probes went on through one multi link. */
int sz_umulti_is_multi(const struct sz_umulti *m);
size_t sz_umulti_probes(const struct sz_umulti *m);
/* Detach every probe (accepts NULL). */
void sz_umulti_detach(struct sz_umulti *m);

#endif
