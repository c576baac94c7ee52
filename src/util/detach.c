// SPDX-License-Identifier: BSD-2-Clause
/*
 * Many BPF links detached at once (detach.h).  Measured on 6.18: closing the
 * watch's sys_exit_mmap link waits for two RCU-tasks-trace grace periods and
 * one RCU grace period (~60 ms), a 1,000-site multi-uprobe link for one of
 * each (~30 ms), one after the other in a single thread; from threads the
 * grace periods overlap and the whole detach costs about the longest one.
 */
#include "util/detach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/membarrier.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void sz_detach_init(struct sz_detach *d)
{
	memset(d, 0, sizeof(*d));
}

static void add(struct sz_detach *d, void (*fn)(void *), void *arg, int at_once)
{
	if (d->njobs == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 16;
		struct sz_detach_job *j = realloc(d->jobs, cap * sizeof(*j));

		if (!j) {
			fn(arg); /* no memory for the list: detach now, serially */
			return;
		}
		d->jobs = j;
		d->cap = cap;
	}
	d->jobs[d->njobs++] = (struct sz_detach_job){ fn, arg, at_once };
}

void sz_detach_add(struct sz_detach *d, void (*fn)(void *), void *arg)
{
	add(d, fn, arg, 0);
}

static void destroy_link(void *link)
{
	bpf_link__destroy(link);
}

/* 1 if releasing the link FD returns without waiting for a grace period:
 * the kernel frees these links after one, asynchronously (raw tracepoint,
 * tracing and iterator links), so the caller's own synchronisation (the
 * watch's membarrier) is what says their programs have finished.  Perf-event
 * links (tracepoints through perf, perf-event uprobes) and multi-uprobe
 * links wait in close() until the programs they ran have finished. */
static int releases_at_once(int fd)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.type == BPF_LINK_TYPE_RAW_TRACEPOINT || info.type == BPF_LINK_TYPE_TRACING ||
	       info.type == BPF_LINK_TYPE_ITER;
}

void sz_detach_link(struct sz_detach *d, struct bpf_link *link)
{
	if (link)
		add(d, destroy_link, link, releases_at_once(bpf_link__fd(link)));
}

void sz_detach_skeleton(struct sz_detach *d, struct bpf_object_skeleton *s)
{
	for (int i = 0; s && i < s->prog_cnt; i++) {
		struct bpf_prog_skeleton *p =
			(void *)((char *)s->progs + (size_t)i * (size_t)s->prog_skel_sz);

		if (p->link && *p->link) {
			sz_detach_link(d, *p->link);
			*p->link = NULL;
		}
	}
}

static void *worker(void *arg)
{
	struct sz_detach *d = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&d->next, 1, __ATOMIC_RELAXED)) < d->njobs)
		if (!d->jobs[i].at_once)
			d->jobs[i].fn(d->jobs[i].arg);
	return NULL;
}

/* --- The keeper ----------------------------------------------------------
 * A child cloned without CLONE_VM or CLONE_FILES: a copy of our memory and of
 * our descriptor table, and no atfork handler run.  Another of our threads
 * may have held a lock (malloc's, ASan's) at the clone, so the keeper makes
 * system calls only, through syscall(2), on its stack and in memory it maps. */

#define KEEP_MAX (1u << 16) /* hooks released in parallel; more close on exit */
#define KEEP_PROCS 16	    /* processes that release at once */

static long sys(long nr, long a, long b, long c, long e, long f)
{
	return syscall(nr, a, b, c, e, f, 0);
}

static void keeper_quit(int code)
{
	for (;;)
		sys(SYS_exit_group, code, 0, 0, 0, 0);
}

static int prefix(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++)
			return 0;
	return 1;
}

static int keep_v[KEEP_MAX], keep_fast[KEEP_MAX]; /* touched in the keeper only */

/* What releases a uprobe or a BPF program's hook when it is last closed. */
static int is_hook(int dir, const char *name)
{
	char target[64];
	long n = sys(SYS_readlinkat, dir, (long)name, (long)target, sizeof(target) - 1, 0);

	if (n <= 0)
		return 0;
	target[n] = 0;
	return prefix(target, "anon_inode:bpf_link") || prefix(target, "anon_inode:[perf_event]");
}

/* Close every descriptor but the hooks (a pipe of ours held open would keep
 * our reader from its end of file) and KEEP; the hooks in V, how many. */
static size_t keep_hooks(int keep, int *v)
{
	char buf[4096] __attribute__((aligned(8)));
	size_t n = 0;
	long len;
	int dir = (int)sys(SYS_openat, AT_FDCWD, (long)"/proc/self/fd",
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0);

	if (dir < 0) { /* no /proc: keep them all but the standard three */
		for (int fd = 0; fd < 3; fd++)
			if (fd != keep)
				sys(SYS_close, fd, 0, 0, 0, 0);
		return (size_t)-1;
	}
	while ((len = sys(SYS_getdents64, dir, (long)buf, sizeof(buf), 0, 0)) > 0)
		for (long off = 0; off < len;) {
			struct ent {
				unsigned long long ino;
				long long off;
				unsigned short d_reclen;
				unsigned char type;
				char d_name[];
			} *e = (struct ent *)(buf + off);
			int fd = 0, num = e->d_name[0] != 0;

			off += e->d_reclen;
			for (const char *c = e->d_name; *c; c++) {
				if (*c < '0' || *c > '9' || fd > (1 << 30) / 10)
					num = 0;
				fd = fd * 10 + (*c - '0');
			}
			if (!num || fd == dir || fd == keep)
				continue;
			if (!is_hook(dir, e->d_name))
				sys(SYS_close, fd, 0, 0, 0, 0);
			else if (n < KEEP_MAX)
				v[n++] = fd; /* else kept all the same, released on exit */
		}
	sys(SYS_close, dir, 0, 0, 0, 0);
	return n;
}

static int at_once_fd(int fd)
{
	struct bpf_link_info info;
	union bpf_attr a;

	memset(&info, 0, sizeof(info));
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (__u32)fd;
	a.info.info_len = sizeof(info);
	a.info.info = (__u64)(unsigned long)&info;
	if (sys(SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, (long)&a, sizeof(a), 0, 0))
		return 0;
	return info.type == BPF_LINK_TYPE_RAW_TRACEPOINT || info.type == BPF_LINK_TYPE_TRACING ||
	       info.type == BPF_LINK_TYPE_ITER;
}

static void release(const int *v, size_t n, size_t from, size_t step)
{
	for (size_t i = from; i < n; i += step)
		if (v[i] >= 0)
			sys(SYS_close, v[i], 0, 0, 0, 0);
}

static void keeper(int go, int membar)
{
	static const int quiet[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP,
				     SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU };
	struct { unsigned long handler, flags, restorer, mask; } ign = { (unsigned long)SIG_IGN, 0, 0, 0 };
	size_t n, step, fast = 0;
	int *v = keep_v;
	long r;
	char c;

	/* Our signals, and our terminal's, are not its own: a default action
	 * would kill it just as SIGKILL would. */
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		sys(SYS_rt_sigaction, quiet[i], (long)&ign, 0, 8, 0);
	sys(SYS_setpgid, 0, 0, 0, 0, 0);
	sys(SYS_prctl, PR_SET_NAME, (long)"sz-detach", 0, 0, 0);
	n = keep_hooks(go, v);
	/* Our references go first; EOF (or our death) says they are gone. */
	while ((r = sys(SYS_read, go, (long)&c, 1, 0, 0)) > 0 || (r < 0 && errno == EINTR))
		;
	if (n == (size_t)-1)
		keeper_quit(0); /* no list: exit releases all, one after the other */
	/* The links that release at once apart (closed below, after the
	 * others' releases have begun): -1 in V. */
	for (size_t i = 0; i < n; i++)
		if (at_once_fd(v[i])) {
			keep_fast[fast++] = v[i];
			v[i] = -1;
		}
	/* The others from processes sharing this table, their waits overlapping. */
	step = n < KEEP_PROCS ? n : KEEP_PROCS;
	for (size_t k = 0; k < step && fast < n; k++) {
		long pid = sys(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);

		if (pid == 0) {
			release(v, n, k, step);
			keeper_quit(0);
		}
		if (pid < 0) /* no process: this share here */
			release(v, n, k, step);
	}
	for (size_t i = 0; i < fast; i++)
		sys(SYS_close, keep_fast[i], 0, 0, 0, 0);
	if (membar && sys(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0, 0, 0)) {
		struct timespec ts = { 0, 50000000 }; /* no membarrier: grace periods are short */

		sys(SYS_nanosleep, (long)&ts, 0, 0, 0, 0);
	}
	while ((r = sys(SYS_wait4, -1, 0, __WALL, 0, 0)) > 0 || (r < 0 && errno == EINTR))
		;
	keeper_quit(0);
}

static int keeper_start(struct sz_detach *d, int *go)
{
	const char *e = getenv("SYMBOLYZE_DETACH");
	int p[2];
	long pid;

	if (d->no_keeper || (e && !strcmp(e, "inprocess")))
		return -EPERM;
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	/* A pidfd to wait on: a library's caller may reap children itself. */
	d->keeper_pidfd = -1;
	pid = sys(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, (long)&d->keeper_pidfd, 0, 0);
	if (pid < 0 && errno == EINVAL) { /* before 5.2 */
		d->keeper_pidfd = -1;
		pid = sys(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	}
	if (pid == 0) {
		sys(SYS_close, p[1], 0, 0, 0, 0);
		keeper(p[0], d->membarrier);
	}
	close(p[0]);
	if (pid < 0) {
		close(p[1]);
		return -errno;
	}
	d->keeper = (int)pid;
	*go = p[1];
	return 0;
}

void sz_detach_start(struct sz_detach *d)
{
	size_t want = d->njobs < SZ_DETACH_THREADS ? d->njobs : SZ_DETACH_THREADS;
	int go = -1, r = keeper_start(d, &go);

	d->keeper_errno = -r;
	if (!r) { /* each close drops a reference, the keeper's release */
		for (size_t i = 0; i < d->njobs; i++)
			d->jobs[i].fn(d->jobs[i].arg);
		d->next = d->njobs;
		close(go);
		return;
	}
	for (size_t i = 0; i < d->njobs; i++)
		if (d->jobs[i].at_once) {
			d->jobs[i].fn(d->jobs[i].arg);
			d->inline_fast++;
		}
	d->threaded = d->njobs - d->inline_fast;
	/* Even a single job gets a thread: the caller overlaps its own wait
	 * with it. */
	for (d->nth = 0; d->nth < want; d->nth++)
		if (pthread_create(&d->th[d->nth], NULL, worker, d))
			break;
	if (!d->nth)
		worker(d); /* no thread: serially, as before */
}

void sz_detach_wait(struct sz_detach *d)
{
	/* synchronize_rcu(), overlapping the threads' releases (the keeper
	 * makes its own): programs of the links released at once that were
	 * still running have finished. */
	if (!d->keeper && d->membarrier && syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(50000); /* no membarrier: grace periods are short */
	if (d->keeper) {
		struct pollfd pfd = { .fd = d->keeper_pidfd, .events = POLLIN };

		/* readable when it exited, whoever reaps it */
		while (pfd.fd >= 0 && poll(&pfd, 1, -1) < 0 && errno == EINTR)
			;
		while (waitpid(d->keeper, NULL, __WALL | (pfd.fd >= 0 ? WNOHANG : 0)) < 0 &&
		       errno == EINTR)
			;
		if (pfd.fd >= 0)
			close(pfd.fd);
		d->keeper = 0;
	}
	for (size_t i = 0; i < d->nth; i++)
		pthread_join(d->th[i], NULL);
	d->nth = 0;
	free(d->jobs);
	d->jobs = NULL;
	d->njobs = d->cap = d->next = 0;
}
