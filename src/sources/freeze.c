// SPDX-License-Identifier: BSD-2-Clause
/*
 * Userspace half of `watch --freeze`.  The BPF side (bpf/freeze.bpf.h) stops a
 * process only while a lease is fresh, and writes each stop in the frozen set.
 * The guardian, a small process forked here before anything is attached:
 *   - renews the lease while the watcher's event loop says it is alive (a
 *     heartbeat in a shared page): a dead, stopped (Ctrl-Z) or stalled loop
 *     (stdout nobody reads) makes no new stop happen within ~LEASE + STALL;
 *   - resumes every process stopped longer than the bound;
 *   - when the watcher dies (pidfd, or reparenting), turns stopping off and
 *     resumes everything in the set, then exits.
 * It never prints, reads nothing the watcher controls, and holds no BPF
 * program or link: only the two maps.  The event loop resumes a process when
 * it has handled its record, as before; whoever deletes the entry sends SIGCONT.
 */
#include "sources/freeze.h"
#include "pipeline/pipeline.h"

#include <linux/types.h>
#include "../../bpf/freeze.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS (1000ull * 1000ull)
#define LEASE_NS (100 * MS)	 /* a stop is allowed this long after a renewal */
#define TICK_NS (20 * MS)	 /* the guardian renews and checks this often */
#define STALL_NS (100 * MS)	 /* the loop is stalled if not back this long after it said */
#define EARLY_NS (5 * MS)	 /* resume this much before the bound: wake-up latency */
#define FINAL_PAUSE_NS (20 * MS) /* the guardian's second sweep, after the watcher died */

/* Shared between the watcher and its guardian (MAP_SHARED, survives fork). */
struct shared {
	uint64_t alive_until_ns; /* the event loop's heartbeat: back by then */
	uint64_t timeouts;	 /* stops the guardian ended at the bound */
};

/* A process stopped for us, and the records of its current stop handled. */
struct pid_slot {
	uint32_t pid;
	uint32_t handled; /* records of the stop that began at stop_ns */
	uint64_t stop_ns;
};

struct sz_freeze {
	int frozen_fd, ctl_fd; /* the skeleton's maps (not ours to close) */
	uint64_t timeout_ns;
	struct shared *sh;
	pid_t guardian;
	int quit_fd; /* write end: a byte (or its closing) tells the guardian to finish */
	int off;
	/* distinct processes stopped for us: open addressing, pid 0 = empty */
	struct pid_slot *pids;
	size_t npids, cap;
	uint64_t processes;
};

static void set_lease(int ctl_fd, uint64_t until_ns)
{
	__u32 k = SZ_FREEZE_LEASE;
	__u64 v = until_ns;

	bpf_map_update_elem(ctl_fd, &k, &v, BPF_ANY);
}

static void set_off(int ctl_fd)
{
	__u32 k = SZ_FREEZE_OFF;
	__u64 one = 1;

	bpf_map_update_elem(ctl_fd, &k, &one, BPF_ANY);
	set_lease(ctl_fd, 0);
}

/*
 * Resume every process stopped at or before CUTOFF_NS (UINT64_MAX: all); say
 * how many in *RESUMED.  Returns the earliest stop left, or UINT64_MAX.  Only
 * the caller whose delete succeeds sends SIGCONT, so the event loop and the
 * guardian never both do, and an exited process (its entry deleted by BPF) is
 * never signalled: its pid may be someone else's now.  No allocation: the
 * guardian calls it in a child of a possibly multithreaded process.
 */
static uint64_t sweep(int frozen_fd, uint64_t cutoff_ns, uint64_t *resumed)
{
	__u32 keys[SZ_FREEZE_MAX];
	uint64_t earliest = UINT64_MAX, count = 0;
	size_t n = 0;

	while (n < SZ_FREEZE_MAX &&
	       !bpf_map_get_next_key(frozen_fd, n ? &keys[n - 1] : NULL, &keys[n]))
		n++;
	for (size_t i = 0; i < n; i++) {
		struct sz_frozen e;

		if (bpf_map_lookup_elem(frozen_fd, &keys[i], &e))
			continue; /* gone meanwhile (or a duplicate of a restarted walk) */
		if (e.stop_ns > cutoff_ns) {
			earliest = e.stop_ns < earliest ? e.stop_ns : earliest;
			continue;
		}
		if (bpf_map_delete_elem(frozen_fd, &keys[i]))
			continue;
		kill((pid_t)keys[i], SIGCONT);
		count++;
	}
	if (resumed)
		*resumed = count;
	return earliest;
}

/* Close every descriptor but KEEP[0..N) (sorted here). */
static void close_except(int *keep, int n)
{
	unsigned lo = 0;

	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (int i = 0; i <= n; i++) {
		unsigned hi = i < n ? (unsigned)keep[i] : ~0u;

		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0)) {
			struct rlimit rl;

			/* before Linux 5.9: one by one */
			if (hi == ~0u)
				hi = getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur > 1u << 20
					     ? 1u << 16
					     : (unsigned)rl.rlim_cur;
			for (unsigned fd = lo; fd < hi; fd++)
				close((int)fd);
		}
		if (i < n)
			lo = (unsigned)keep[i] + 1;
	}
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The guardian: async-signal-safe calls only (it is the child of a fork). */
static __attribute__((noreturn)) void guardian(struct sz_freeze *f, int quit_rd, int pidfd,
					       pid_t parent)
{
	static const int ignored[] = { SIGHUP,	SIGINT,	 SIGQUIT, SIGPIPE, SIGTERM, SIGTSTP,
				       SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGALRM };
	struct sigaction sa = { .sa_handler = SIG_IGN };
	int keep[4] = { f->frozen_fd, f->ctl_fd, quit_rd, pidfd };
	struct pollfd pfd[2] = { { .fd = quit_rd, .events = POLLIN },
				 { .fd = pidfd, .events = POLLIN } };
	int died = 0;

	/* Out of the terminal's reach: Ctrl-C, Ctrl-Z and a hangup are for the
	 * watcher, whose death or stop is what we are here for. */
	setsid();
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		sigaction(ignored[i], &sa, NULL);
	prctl(PR_SET_NAME, "sz-guardian", 0, 0, 0);
	prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0); /* wake at the bound, not 50 us later */
	close_except(keep, pidfd >= 0 ? 4 : 3);
	for (;;) {
		uint64_t now = sz_now_ns(), next, wait = TICK_NS, resumed;
		struct timespec ts;

		if (now < __atomic_load_n(&f->sh->alive_until_ns, __ATOMIC_ACQUIRE))
			set_lease(f->ctl_fd, now + LEASE_NS);
		next = sweep(f->frozen_fd,
			     now + EARLY_NS > f->timeout_ns ? now + EARLY_NS - f->timeout_ns : 0,
			     &resumed);
		__atomic_fetch_add(&f->sh->timeouts, resumed, __ATOMIC_RELAXED);
		if (next != UINT64_MAX) {
			uint64_t due = next + f->timeout_ns - EARLY_NS;

			if (due <= now)
				wait = 0;
			else if (due - now < wait)
				wait = due - now;
		}
		ts.tv_sec = (time_t)(wait / 1000000000ull);
		ts.tv_nsec = (long)(wait % 1000000000ull);
		if (ppoll(pfd, pidfd >= 0 ? 2 : 1, &ts, NULL) > 0)
			break;
		if (getppid() != parent) { /* reparented: the watcher is gone */
			died = 1;
			break;
		}
	}
	died |= pfd[1].revents != 0;
	set_off(f->ctl_fd);
	/* synchronize_rcu(): a program that read the lease before it went off
	 * has finished, and its entry is in the set for the sweep. */
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		sleep_ns(FINAL_PAUSE_NS);
	sweep(f->frozen_fd, UINT64_MAX, NULL);
	if (died) { /* and once more, should a late stop have slipped through */
		sleep_ns(FINAL_PAUSE_NS);
		sweep(f->frozen_fd, UINT64_MAX, NULL);
	}
	_exit(0);
}

int sz_freeze_start(int frozen_fd, int ctl_fd, uint64_t timeout_ns, struct sz_freeze **out)
{
	struct sz_freeze *f;
	int p[2], pidfd, err;
	pid_t parent = getpid(), pid;

	*out = NULL;
	if (frozen_fd < 0 || ctl_fd < 0 || !timeout_ns)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->frozen_fd = frozen_fd;
	f->ctl_fd = ctl_fd;
	f->timeout_ns = timeout_ns;
	f->guardian = -1;
	f->quit_fd = -1;
	f->sh = mmap(NULL, sizeof(*f->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		     0);
	if (f->sh == MAP_FAILED) {
		err = -errno;
		free(f);
		return err;
	}
	if (pipe2(p, O_CLOEXEC)) {
		err = -errno;
		munmap(f->sh, sizeof(*f->sh));
		free(f);
		return err;
	}
	/* Opened here, so the guardian watches us even if we die before it runs
	 * (Linux 5.3; without it, reparenting tells). */
	pidfd = (int)syscall(SYS_pidfd_open, parent, 0);
	/* Starting (attach, first scan) counts as alive for one bound. */
	f->sh->alive_until_ns = sz_now_ns() + timeout_ns;
	pid = fork();
	if (pid == 0)
		guardian(f, p[0], pidfd, parent);
	err = pid < 0 ? -errno : 0;
	close(p[0]);
	if (pidfd >= 0)
		close(pidfd);
	if (err) {
		close(p[1]);
		munmap(f->sh, sizeof(*f->sh));
		free(f);
		return err;
	}
	f->guardian = pid;
	f->quit_fd = p[1];
	/* The guardian exists: stops may begin now, not at its first tick. */
	set_lease(ctl_fd, sz_now_ns() + LEASE_NS);
	*out = f;
	return 0;
}

void sz_freeze_alive(struct sz_freeze *f, int wait_ms)
{
	uint64_t until;

	if (!f)
		return;
	until = wait_ms < 0 ? UINT64_MAX : sz_now_ns() + (uint64_t)wait_ms * MS + STALL_NS;
	__atomic_store_n(&f->sh->alive_until_ns, until, __ATOMIC_RELEASE);
}

static size_t slot_of(const struct sz_freeze *f, uint32_t pid)
{
	return (size_t)(uint32_t)(pid * 2654435761u) & (f->cap - 1);
}

/* Adds PID to the set; 1 if it was not there.  *SLOT: its slot, or NULL
 * (no memory). */
static int pid_add(struct sz_freeze *f, uint32_t pid, struct pid_slot **slot)
{
	size_t i;

	*slot = NULL;
	if (2 * (f->npids + 1) > f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 64;
		struct pid_slot *n = calloc(cap, sizeof(*n)), *old = f->pids;
		size_t oldcap = f->cap;

		if (!n)
			return 1; /* counted again later at worst */
		f->pids = n;
		f->cap = cap;
		for (size_t j = 0; j < oldcap; j++)
			if (old[j].pid) {
				for (i = slot_of(f, old[j].pid); n[i].pid; i = (i + 1) & (cap - 1))
					;
				n[i] = old[j];
			}
		free(old);
	}
	for (i = slot_of(f, pid); f->pids[i].pid; i = (i + 1) & (f->cap - 1))
		if (f->pids[i].pid == pid) {
			*slot = &f->pids[i];
			return 0;
		}
	f->pids[i] = (struct pid_slot){ pid, 0, 0 };
	f->npids++;
	*slot = &f->pids[i];
	return 1;
}

static struct pid_slot *pid_find(struct sz_freeze *f, uint32_t pid)
{
	if (!f->cap)
		return NULL;
	for (size_t i = slot_of(f, pid); f->pids[i].pid; i = (i + 1) & (f->cap - 1))
		if (f->pids[i].pid == pid)
			return &f->pids[i];
	return NULL;
}

static void pid_del(struct sz_freeze *f, uint32_t pid)
{
	size_t i, j, home;

	if (!f->cap)
		return;
	for (i = slot_of(f, pid); f->pids[i].pid != pid; i = (i + 1) & (f->cap - 1))
		if (!f->pids[i].pid)
			return;
	f->pids[i].pid = 0;
	f->npids--;
	/* Backward shift: move up every later entry of the run that may not
	 * stay behind the hole. */
	for (j = (i + 1) & (f->cap - 1); f->pids[j].pid; j = (j + 1) & (f->cap - 1)) {
		home = slot_of(f, f->pids[j].pid);
		if (((j - home) & (f->cap - 1)) >= ((j - i) & (f->cap - 1))) {
			f->pids[i] = f->pids[j];
			f->pids[j].pid = 0;
			i = j;
		}
	}
}

/*
 * The record (of time TS) of a stop of PID was handled.  Threads of one
 * process can stop it at once, and their records reach the ring in any
 * order: the stop ends when as many of its records as it counts (issued)
 * have been handled, not at the first, whose file may not be the last one
 * probed.  A record older than the stop (of an earlier stop the bound ended)
 * is not one of its records.
 */
void sz_freeze_record(struct sz_freeze *f, pid_t pid, uint64_t ts)
{
	struct sz_frozen e;
	struct pid_slot *slot;
	__u32 k = (__u32)pid;

	if (!f || pid <= 0)
		return;
	if (pid_add(f, k, &slot))
		f->processes++;
	if (bpf_map_lookup_elem(f->frozen_fd, &k, &e))
		return; /* resumed at the bound, or gone */
	if (ts < e.first_ts)
		return; /* a record of an earlier stop */
	if (slot) {
		if (slot->stop_ns != e.stop_ns) {
			slot->stop_ns = e.stop_ns;
			slot->handled = 0;
		}
		if (++slot->handled < e.issued)
			return; /* another record of this stop is still to come */
	}
	if (bpf_map_delete_elem(f->frozen_fd, &k))
		return; /* the guardian was first */
	kill(pid, SIGCONT);
}

/* After records were dropped: a stop whose remaining records were the ones
 * lost would otherwise wait for the bound.  Resume those whose every record
 * still to come was dropped (issued, which the BPF side lowers for a record
 * it could not send, is down to what was handled). */
void sz_freeze_settle(struct sz_freeze *f)
{
	__u32 keys[SZ_FREEZE_MAX];
	size_t n = 0;

	if (!f)
		return;
	while (n < SZ_FREEZE_MAX &&
	       !bpf_map_get_next_key(f->frozen_fd, n ? &keys[n - 1] : NULL, &keys[n]))
		n++;
	for (size_t i = 0; i < n; i++) {
		struct pid_slot *slot;
		struct sz_frozen e;

		if (bpf_map_lookup_elem(f->frozen_fd, &keys[i], &e))
			continue;
		slot = pid_find(f, keys[i]);
		if (!slot || slot->stop_ns != e.stop_ns || slot->handled < e.issued)
			continue;
		if (!bpf_map_delete_elem(f->frozen_fd, &keys[i]))
			kill((pid_t)keys[i], SIGCONT);
	}
}

void sz_freeze_exited(struct sz_freeze *f, pid_t pid)
{
	if (f && pid > 0)
		pid_del(f, (uint32_t)pid);
}

void sz_freeze_off(struct sz_freeze *f)
{
	if (!f || f->off)
		return;
	f->off = 1;
	set_off(f->ctl_fd);
}

void sz_freeze_quit(struct sz_freeze *f)
{
	if (!f)
		return;
	sz_freeze_off(f);
	if (f->quit_fd >= 0) {
		(void)!write(f->quit_fd, "q", 1);
		close(f->quit_fd);
		f->quit_fd = -1;
	}
}

/* Reap the guardian, but never hang on it (it exits on its own anyway, at
 * most a bound later): woken by its exit through a pidfd (Linux 5.3), else
 * by looking every 5 ms. */
static void reap_guardian(pid_t g)
{
	int pidfd = (int)syscall(SYS_pidfd_open, g, 0);

	if (pidfd >= 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

		while (poll(&pfd, 1, 2000) < 0 && errno == EINTR)
			;
		close(pidfd);
	}
	for (int i = 0; i < 400; i++) {
		pid_t r = waitpid(g, NULL, WNOHANG);

		if (r == g || (r < 0 && errno != EINTR))
			break;
		sleep_ns(5 * MS);
	}
}

void sz_freeze_resume_all(struct sz_freeze *f)
{
	if (f)
		sweep(f->frozen_fd, UINT64_MAX, NULL);
}

void sz_freeze_stats(const struct sz_freeze *f, struct sz_freeze_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!f)
		return;
	out->processes = f->processes;
	out->timeouts = __atomic_load_n(&f->sh->timeouts, __ATOMIC_RELAXED);
}

void sz_freeze_free(struct sz_freeze *f)
{
	if (!f)
		return;
	sz_freeze_off(f);
	sz_freeze_resume_all(f);
	sz_freeze_quit(f);
	if (f->guardian > 0)
		reap_guardian(f->guardian);
	munmap(f->sh, sizeof(*f->sh));
	free(f->pids);
	free(f);
}
