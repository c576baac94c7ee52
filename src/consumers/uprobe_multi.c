// SPDX-License-Identifier: BSD-2-Clause
/*
 * Multi-uprobe links through bpf(2), the feature probe that decides whether
 * to use them (after libbpf's features.c), and the perf-event fallback.  The
 * link_create layout below is kernel UAPI that Debian's linux-libc-dev (6.1)
 * does not carry yet; its fields are checked against the kernel's BTF in
 * vmlinux/x86/vmlinux.h (union bpf_attr, link_create.uprobe_multi).
 */
#include "consumers/uprobe_multi.h"
#include "proc/maps.h"
#include "util/detach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Kernel 6.6, commit 89ae89f53d20 ("bpf: Add multi uprobe link"). */
#define SZ_BPF_TRACE_UPROBE_MULTI 48
#define SZ_BPF_F_UPROBE_MULTI_RETURN (1U << 0)

/* union bpf_attr as BPF_LINK_CREATE reads it for BPF_TRACE_UPROBE_MULTI. */
struct sz_link_create_umulti {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__aligned_u64 path;
	__aligned_u64 offsets;
	__aligned_u64 ref_ctr_offsets;
	__aligned_u64 cookies;
	__u32 cnt;
	__u32 umulti_flags;
	__u32 pid;
	__u32 pad;
};

_Static_assert(offsetof(struct sz_link_create_umulti, path) == 16, "link_create union offset");
_Static_assert(offsetof(struct sz_link_create_umulti, pid) == 56, "uprobe_multi.pid offset");

struct sz_umulti {
	int link_fd;		 /* multi link, or -1 */
	struct bpf_link **links; /* fallback: one per offset */
	size_t n;
};

static int link_create_umulti(int prog_fd, const char *path, const uint64_t *offsets,
			      const uint64_t *ref_ctr, const uint64_t *cookies, uint32_t cnt,
			      uint32_t flags, int pid, int sheltered)
{
	struct sz_link_create_umulti a;
	long fd;

	memset(&a, 0, sizeof(a));
	a.prog_fd = (__u32)prog_fd;
	a.attach_type = SZ_BPF_TRACE_UPROBE_MULTI;
	a.path = (uintptr_t)path;
	a.offsets = (uintptr_t)offsets;
	a.ref_ctr_offsets = (uintptr_t)ref_ctr;
	a.cookies = (uintptr_t)cookies;
	a.cnt = cnt;
	a.umulti_flags = flags;
	a.pid = (__u32)pid;
	if (sheltered) /* out of our SIGKILL's reach: util/detach.h */
		return (int)sz_detach_sheltered_bpf(BPF_LINK_CREATE, &a, sizeof(a));
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : (int)fd;
}

static int probe_multi(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = SZ_BPF_TRACE_UPROBE_MULTI);
	uint64_t off = 0;
	int prog, r1, r2;

	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns, 2, &o);
	if (prog < 0)
		return 0;
	/* A kernel with multi links refuses "/" as not a regular file (-EBADF). */
	r1 = link_create_umulti(prog, "/", &off, NULL, NULL, 1, 0, 0, 0);
	/* Kernel 6.9, commit 46ba0e49b642 ("bpf: fix multi-uprobe PID filtering
	 * logic") made pid a process, not a thread, and refuses pid -1 early
	 * (-EINVAL); before it -pid filtering is per thread: not what -p means. */
	r2 = link_create_umulti(prog, "/", &off, NULL, NULL, 1, 0, -1, 0);
	if (r1 >= 0)
		close(r1);
	if (r2 >= 0)
		close(r2);
	close(prog);
	return r1 == -EBADF && r2 == -EINVAL;
}

int sz_uprobe_multi_supported(void)
{
	static int cached = -1;

	if (cached < 0)
		cached = probe_multi();
	return cached;
}

int sz_umulti_prepare(struct bpf_program *prog, enum sz_umulti_mode mode)
{
	int multi = mode == SZ_UMULTI_SINGLE ? 0 : sz_uprobe_multi_supported();

	if (mode == SZ_UMULTI_MULTI && !multi)
		return -EOPNOTSUPP;
	bpf_program__set_expected_attach_type(prog, multi ? (enum bpf_attach_type)
								    SZ_BPF_TRACE_UPROBE_MULTI
							  : (enum bpf_attach_type)0);
	return multi;
}

void sz_umulti_detach(struct sz_umulti *m)
{
	if (!m)
		return;
	if (m->link_fd >= 0)
		close(m->link_fd);
	for (size_t i = 0; m->links && i < m->n; i++)
		bpf_link__destroy(m->links[i]);
	free(m->links);
	free(m);
}

int sz_umulti_is_multi(const struct sz_umulti *m)
{
	return m->link_fd >= 0;
}

size_t sz_umulti_probes(const struct sz_umulti *m)
{
	return m->n;
}

/* A number in sysfs file PATH after PREFIX ("config:0"), or -1. */
static long sysfs_num(const char *path, const char *prefix)
{
	char *buf = NULL, *end;
	size_t k = strlen(prefix);
	long v = -1;

	if (sz_read_file(AT_FDCWD, path, 64, &buf) > 0 && !strncmp(buf, prefix, k)) {
		errno = 0;
		v = strtol(buf + k, &end, 10);
		if (errno || end == buf + k || v < 0)
			v = -1;
	}
	free(buf);
	return v;
}

/* The uprobe PMU's type and its retprobe bit (sysfs, as libbpf reads them);
 * -1 if there is none. */
static int uprobe_pmu(int *retbit)
{
	static int type = -2, bit;

	if (type == -2) {
		long t = sysfs_num("/sys/bus/event_source/devices/uprobe/type", "");
		long b = sysfs_num("/sys/bus/event_source/devices/uprobe/format/retprobe", "config:");

		type = t >= 0 && t < (1L << 31) && b >= 0 && b < 32 ? (int)t : -1;
		bit = (int)b;
	}
	*retbit = bit;
	return type;
}

/* The fallback, one perf-event uprobe per offset: the events (whose opening
 * registers the uprobes; a kill inside it leaked one here) opened out of our
 * SIGKILL's reach (util/detach.h), then the program attached to each here.
 * -EOPNOTSUPP: no uprobe PMU, or no child to open them. */
static int attach_perf_sheltered(struct bpf_program *prog, const struct sz_umulti_spec *s,
				 const char *path, struct sz_umulti *m, char *err, size_t errlen)
{
	struct perf_event_attr *a;
	int bit, type = uprobe_pmu(&bit), r = 0;
	int *fds;

	if (type < 0)
		return -EOPNOTSUPP;
	a = calloc(s->cnt, sizeof(*a));
	fds = calloc(s->cnt, sizeof(*fds));
	if (!a || !fds) {
		free(a);
		free(fds);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->cnt; i++) { /* as libbpf's perf_event_open_probe */
		a[i].size = sizeof(a[i]);
		a[i].type = (__u32)type;
		a[i].config = (s->retprobe ? 1ull << bit : 0) |
			      (s->ref_ctr_offsets ? s->ref_ctr_offsets[i] << 32 : 0);
		a[i].config1 = (uintptr_t)path;
		a[i].config2 = s->offsets[i];
	}
	r = sz_detach_sheltered_perf(a, s->cnt, s->pid > 0 ? s->pid : -1, s->pid > 0 ? -1 : 0, fds);
	if (r)
		r = -EOPNOTSUPP;
	for (size_t i = 0; !r && i < s->cnt; i++) {
		LIBBPF_OPTS(bpf_perf_event_opts, o, .bpf_cookie = s->cookies ? s->cookies[i] : 0);

		if (fds[i] < 0) {
			r = fds[i];
			snprintf(err, errlen, "uprobe at offset 0x%llx: %s",
				 (unsigned long long)s->offsets[i], strerror(-r));
			break;
		}
		m->links[i] = bpf_program__attach_perf_event_opts(prog, fds[i], &o);
		if (!m->links[i]) {
			r = errno ? -errno : -EINVAL;
			snprintf(err, errlen, "uprobe at offset 0x%llx: %s",
				 (unsigned long long)s->offsets[i], strerror(-r));
			break; /* its descriptor closes below */
		}
		fds[i] = -1; /* the link's now */
		m->n = i + 1;
	}
	for (size_t i = 0; i < s->cnt; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(a);
	free(fds);
	return r;
}

int sz_umulti_attach(struct bpf_program *prog, const struct sz_umulti_spec *s,
		     struct sz_umulti **out, char *err, size_t errlen)
{
	char path[64];
	struct sz_umulti *m;
	int r;

	*out = NULL;
	if (!s->cnt || !s->offsets || s->cnt > (1u << 20) || s->fd < 0) {
		snprintf(err, errlen, "bad uprobe set: %zu offsets", s->cnt);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->link_fd = -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->fd);
	if (bpf_program__expected_attach_type(prog) ==
	    (enum bpf_attach_type)SZ_BPF_TRACE_UPROBE_MULTI) {
		r = link_create_umulti(bpf_program__fd(prog), path, s->offsets, s->ref_ctr_offsets,
				       s->cookies, (uint32_t)s->cnt,
				       s->retprobe ? SZ_BPF_F_UPROBE_MULTI_RETURN : 0,
				       s->pid > 0 ? s->pid : 0, 1);
		if (r < 0) {
			snprintf(err, errlen, "multi-uprobe link on %zu offsets: %s", s->cnt,
				 strerror(-r));
			free(m);
			return r;
		}
		m->link_fd = r;
		m->n = s->cnt;
		*out = m;
		return 0;
	}
	m->links = calloc(s->cnt, sizeof(struct bpf_link *));
	if (!m->links) {
		free(m);
		return -ENOMEM;
	}
	r = attach_perf_sheltered(prog, s, path, m, err, errlen);
	if (r == -EOPNOTSUPP) /* no uprobe PMU, or no child: libbpf's way, here */
		for (size_t i = 0; i < s->cnt; i++) {
			LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = s->retprobe,
				    .bpf_cookie = s->cookies ? s->cookies[i] : 0,
				    .ref_ctr_offset = s->ref_ctr_offsets ? s->ref_ctr_offsets[i] : 0);

			m->links[i] = bpf_program__attach_uprobe_opts(prog, s->pid > 0 ? s->pid : -1,
								      path, s->offsets[i], &o);
			if (!m->links[i]) {
				r = -errno;
				snprintf(err, errlen, "uprobe at offset 0x%llx: %s",
					 (unsigned long long)s->offsets[i], strerror(-r));
				sz_umulti_detach(m);
				return r ? r : -EINVAL;
			}
			m->n = i + 1;
			r = 0;
		}
	if (r) {
		sz_umulti_detach(m);
		return r;
	}
	*out = m;
	return 0;
}
