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
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
 * system calls only, through syscall(2) (errno: its own copy), on its stack and
 * in static memory only it touches.  Its exit signal is 0: a caller's SIGCHLD
 * handler or wait(-1) never sees it (we wait with __WALL). */

#define KEEP_MAX (1u << 16) /* hooks released in parallel; more close at the end */
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

/* 0 only for what is surely no hook: a descriptor it cannot name is kept
 * (closing a link here would make our own close its release). */
static int is_hook(int dir, const char *name)
{
	char target[64];
	long n = sys(SYS_readlinkat, dir, (long)name, (long)target, sizeof(target) - 1, 0);

	if (n <= 0)
		return 1;
	target[n] = 0;
	return prefix(target, "anon_inode:bpf_link") || prefix(target, "anon_inode:[perf_event]");
}

/* Close every descriptor but the hooks (a pipe of ours held open would keep
 * our reader from its end of file; a socket, a listener) and KEEP1, KEEP2;
 * the hooks in V, how many (-1: no /proc, every descriptor kept). */
static long keep_hooks(int keep1, int keep2, int *v)
{
	char buf[4096] __attribute__((aligned(8)));
	size_t n = 0;
	long len;
	int dir = (int)sys(SYS_openat, AT_FDCWD, (long)"/proc/self/fd",
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0);

	if (dir < 0)
		return -1;
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
			if (!num || fd == dir || fd == keep1 || fd == keep2)
				continue;
			if (!is_hook(dir, e->d_name))
				sys(SYS_close, fd, 0, 0, 0, 0);
			else if (n < KEEP_MAX)
				v[n++] = fd; /* else kept all the same, released at the end */
		}
	sys(SYS_close, dir, 0, 0, 0, 0);
	return (long)n;
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

static void sync_rcu(void)
{
	if (sys(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0, 0, 0)) {
		struct timespec ts = { 0, 50000000 }; /* no membarrier: grace periods are short */

		sys(SYS_nanosleep, (long)&ts, 0, 0, 0, 0);
	}
}

/* GO: our pipe (a byte or its end: our references are gone); PARENT: our
 * pidfd or -1 (we died, though a process forked meanwhile may hold GO). */
static void keeper(int go, int parent, int membar)
{
	struct {
		unsigned long handler, flags, restorer, mask;
	} ign = { (unsigned long)SIG_IGN, 0, 0, 0 }; /* the kernel's struct sigaction */
	struct pollfd pfd[2] = { { go, POLLIN, 0 }, { parent, POLLIN, 0 } };
	size_t step, fast = 0;
	int *v = keep_v;
	long n, r;

	/* Started with every signal blocked (keeper_start); ignored too, so
	 * none of ours, nor the terminal's, can end it as SIGKILL would. */
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD)
			sys(SYS_rt_sigaction, sig, (long)&ign, 0, 8, 0);
	sys(SYS_setpgid, 0, 0, 0, 0, 0);
	sys(SYS_prctl, PR_SET_NAME, (long)"sz-detach", 0, 0, 0);
	n = keep_hooks(go, parent, v);
	while (sys(SYS_poll, (long)pfd, parent >= 0 ? 2 : 1, -1, 0, 0) < 0 && errno == EINTR)
		;
	if (n < 0) { /* no list: every descriptor here, one after the other */
		sys(SYS_close_range, 3, ~0u, 0, 0, 0);
		if (membar)
			sync_rcu();
		keeper_quit(0);
	}
	/* The links that release at once apart (closed below, after the
	 * others' releases have begun): -1 in V. */
	for (long i = 0; i < n; i++)
		if (at_once_fd(v[i])) {
			keep_fast[fast++] = v[i];
			v[i] = -1;
		}
	/* The others from processes sharing this table, their waits overlapping. */
	step = (size_t)n < KEEP_PROCS ? (size_t)n : KEEP_PROCS;
	for (size_t k = 0; k < step && fast < (size_t)n; k++) {
		long pid = sys(SYS_clone, CLONE_FILES, 0, 0, 0, 0);

		if (pid == 0) {
			release(v, (size_t)n, k, step);
			keeper_quit(0);
		}
		if (pid < 0) /* no process: this share here */
			release(v, (size_t)n, k, step);
	}
	for (size_t i = 0; i < fast; i++)
		sys(SYS_close, keep_fast[i], 0, 0, 0, 0);
	if (membar)
		sync_rcu();
	while ((r = sys(SYS_wait4, -1, 0, __WALL, 0, 0)) > 0 || (r < 0 && errno == EINTR))
		;
	/* Hooks beyond KEEP_MAX, and the rest (maps, programs). */
	sys(SYS_close_range, 3, ~0u, 0, 0, 0);
	if (membar && n == KEEP_MAX)
		sync_rcu();
	keeper_quit(0);
}

/* Wait for child PID's exit and reap it: through PIDFD where there is one
 * (no other child's status can be taken), else by pid.  0 (SI filled) or
 * -errno. */
static int reap(int pidfd, long pid, siginfo_t *si)
{
	int r = -1;

	memset(si, 0, sizeof(*si));
	errno = EINVAL;
	if (pidfd >= 0)
		while ((r = (int)syscall(SYS_waitid, P_PIDFD, pidfd, si, WEXITED | __WALL, NULL)) <
			       0 &&
		       errno == EINTR)
			;
	if (r < 0 && errno == EINVAL) /* no pidfd, or P_PIDFD before 5.4 */
		while ((r = waitid(P_PID, (id_t)pid, si, WEXITED | __WALL)) < 0 && errno == EINTR)
			;
	return r < 0 ? -errno : 0;
}

/* clone(FLAGS) with every signal blocked across the call: the child starts
 * with all blocked (it makes system calls only), the parent's mask is
 * restored.  The child's 0, our child's pid, or -1 (errno set). */
static long clone_blocked(unsigned long flags, int *pidfd)
{
	sigset_t all, old;
	long pid;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = sys(SYS_clone, (long)flags, 0, (long)pidfd, 0, 0);
	if (pid == 0)
		return 0;
	err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return pid;
}

/* One keeper at a time in a process: a keeper holds copies of every link
 * here, so another watch's detach would not be over until it exits. */
static pthread_mutex_t keeper_lock = PTHREAD_MUTEX_INITIALIZER;

static int keeper_start(struct sz_detach *d, int *go)
{
	const char *e = getenv("SYMBOLYZE_DETACH");
	int p[2], self, err;
	long pid;

	if (d->no_keeper || (e && !strcmp(e, "inprocess")) || !d->njobs)
		return 1; /* not wanted, or nothing to release */
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	self = (int)syscall(SYS_pidfd_open, getpid(), 0); /* -1 before 5.3: EOF only */
	pthread_mutex_lock(&keeper_lock);
	/* A pidfd to wait on, whoever reaps it; exit signal 0. */
	d->keeper_pidfd = -1;
	pid = clone_blocked(CLONE_PIDFD, &d->keeper_pidfd);
	if (pid < 0 && errno == EINVAL) { /* before 5.2 */
		d->keeper_pidfd = -1;
		pid = clone_blocked(0, NULL);
	}
	if (pid == 0) {
		sys(SYS_close, p[1], 0, 0, 0, 0);
		keeper(p[0], self, d->membarrier);
	}
	err = errno;
	close(p[0]);
	if (self >= 0)
		close(self);
	if (pid < 0) {
		pthread_mutex_unlock(&keeper_lock);
		close(p[1]);
		return -err;
	}
	d->keeper = (int)pid;
	*go = p[1];
	return 0;
}

void sz_detach_start(struct sz_detach *d)
{
	size_t want = d->njobs < SZ_DETACH_THREADS ? d->njobs : SZ_DETACH_THREADS;
	int go = -1, r = keeper_start(d, &go);

	d->keeper_errno = r < 0 ? -r : 0;
	if (!r) { /* each close drops a reference, the keeper's release */
		for (size_t i = 0; i < d->njobs; i++)
			d->jobs[i].fn(d->jobs[i].arg);
		d->next = d->njobs;
		/* A byte, not only the end of the pipe: a process forked
		 * meanwhile may hold a copy of its writing end. */
		while (write(go, "", 1) < 0 && errno == EINTR)
			;
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

/* Wait for the keeper's exit (its releases are done then) and reap it: on its
 * pidfd where there is one (no other child's status can be taken); else by
 * pid.  0, or -ECHILD if another reaped it, or the signal that killed it. */
static int keeper_wait(struct sz_detach *d)
{
	siginfo_t si;
	int r = reap(d->keeper_pidfd, d->keeper, &si);

	if (d->keeper_pidfd >= 0)
		close(d->keeper_pidfd);
	d->keeper_pidfd = -1;
	if (r < 0)
		return r;
	return si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED ? si.si_status : 0;
}

void sz_detach_wait(struct sz_detach *d)
{
	/* synchronize_rcu(), overlapping the threads' releases (the keeper
	 * makes its own): programs of the links released at once that were
	 * still running have finished. */
	if (!d->keeper && d->membarrier && syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(50000); /* no membarrier: grace periods are short */
	if (d->keeper) {
		int r = keeper_wait(d);

		d->keeper_signal = r > 0 ? r : 0;
		d->keeper = 0;
		pthread_mutex_unlock(&keeper_lock);
	}
	for (size_t i = 0; i < d->nth; i++)
		pthread_join(d->th[i], NULL);
	d->nth = 0;
	free(d->jobs);
	d->jobs = NULL;
	d->njobs = d->cap = d->next = 0;
}

/* --- Links made out of SIGKILL's reach -----------------------------------
 * Making a uprobe link registers its uprobes, writing their int3s with the
 * same get_user_pages; a SIGKILL then fails the registration, and its undoing
 * fails the same way: leaked uprobes (seen with a kill inside BPF_LINK_CREATE).
 * So the call is made by a child that shares our descriptor table
 * (CLONE_FILES) but is not of our thread group: a kill of ours does not reach
 * it.  It puts the new descriptor in a slot we reserved and exits; if we died
 * meanwhile, the link is released when the last of us leaves the table, by a
 * task with no signal pending.  Perf-event uprobes register as they open:
 * the same way, N at once. */

/* N calls CALL(i, ARG), each returning a new descriptor or -errno, made by
 * such a child (system calls only), each descriptor put in a slot reserved
 * here.  FDS[i]: the descriptor (O_CLOEXEC), or -errno; the first failure
 * ends the calls (the rest, and all of a child killed midway: -ECANCELED).
 * 0, or -errno if no child could make them (nothing made). */
static int sheltered(size_t n, long (*call)(size_t i, const void *arg), const void *arg,
		     int *fds)
{
	size_t bytes = (n ? n : 1) * sizeof(int);
	int *res, pidfd = -1, r = 0;
	siginfo_t si;
	long child;

	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	res = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		return -errno;
	for (size_t i = 0; i < n && !r; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC); /* its number, reserved */
		res[i] = -ECANCELED;
		if (fds[i] < 0)
			r = -errno;
	}
	if (r)
		goto undo;
	child = clone_blocked(CLONE_FILES | CLONE_PIDFD, &pidfd);
	if (child == 0) {
		sys(SYS_prctl, PR_SET_NAME, (long)"sz-attach", 0, 0, 0);
		for (size_t i = 0; i < n; i++) {
			long fd = call(i, arg);

			if (fd < 0) {
				res[i] = (int)fd;
				break;
			}
			sys(SYS_dup3, fd, fds[i], O_CLOEXEC, 0, 0);
			sys(SYS_close, fd, 0, 0, 0, 0);
			res[i] = 0;
		}
		keeper_quit(0);
	}
	if (child < 0) {
		r = -errno;
		goto undo;
	}
	(void)reap(pidfd, child, &si); /* RES says what it did */
	if (pidfd >= 0)
		close(pidfd);
	for (size_t i = 0; i < n; i++)
		if (res[i]) { /* /dev/null still (a child killed midway: ECANCELED) */
			close(fds[i]);
			fds[i] = res[i];
		}
	munmap(res, bytes);
	return 0;
undo:
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	munmap(res, bytes);
	return r;
}

struct bpf_call {
	int cmd;
	void *attr;
	unsigned int size;
};

static long bpf_call(size_t i, const void *arg)
{
	const struct bpf_call *c = arg;
	long fd = sys(SYS_bpf, c->cmd, (long)c->attr, c->size, 0, 0);

	(void)i;
	return fd < 0 ? -(errno > 0 && errno < 256 ? errno : EINVAL) : fd;
}

long sz_detach_sheltered_bpf(int cmd, void *attr, unsigned int size)
{
	const char *e = getenv("SYMBOLYZE_DETACH");
	struct bpf_call c = { cmd, attr, size };
	int fd, r;

	if (!(e && !strcmp(e, "inprocess")) && !sheltered(1, bpf_call, &c, &fd))
		return fd == -ECANCELED ? -EINTR : fd; /* a child killed before its call */
	r = (int)syscall(SYS_bpf, cmd, attr, size); /* in this process, as before */
	return r < 0 ? -errno : r;
}

struct perf_call {
	const struct perf_event_attr *attrs;
	int pid, cpu;
};

static long perf_call(size_t i, const void *arg)
{
	const struct perf_call *c = arg;
	long fd = sys(SYS_perf_event_open, (long)&c->attrs[i], c->pid, c->cpu, -1,
		      PERF_FLAG_FD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int sz_detach_sheltered_perf(const struct perf_event_attr *attrs, size_t n, int pid, int cpu,
			     int *fds)
{
	struct perf_call c = { attrs, pid, cpu };

	return sheltered(n, perf_call, &c, fds);
}
