// SPDX-License-Identifier: BSD-2-Clause
/*
 * The watch's perf mmap source (--mmap-hook perf): per-CPU software perf events
 * with attr.mmap2, read from their rings in the watch's poll loop, each MMAP2
 * record of a matching file handed to the pipeline as a mapping.
 */
#include "sources/perfmmap.h"
#include "pipeline/pipeline.h"
#include "proc/maps.h" /* sz_read_file */
#include "util/glob.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PERF_DEFAULT_TOTAL (1u << 20)
#define PERF_MIN_DATA (16u << 10)
#define PERF_MAX_DATA (256u << 10)
#define PERF_MAX_CPUS 4096
#define PERF_WAKEUP_BYTES 8192
#define REC_MAX 65536 /* header.size is a __u16 */
#define TASK_SLOTS 4096 /* recent execs and exits, by pid: direct-mapped */

struct perf_ring {
	int fd;
	struct perf_event_mmap_page *meta;
	char *data;
};

/* A slot overwritten by another pid only loses the ordering of one process
 * (its records are then handled as if the event had not happened). */
struct task_ev {
	pid_t pid;
	int exited;
	uint64_t ts;
	pid_t marked; /* put into `seen` since its last exit: no bpf(2) per record */
	/* the process name its exec or hint record gave (MMAP2 has none, and
	 * /proc has none once the process is gone); "" if none */
	char comm[SZ_PERFMMAP_COMM_LEN + 1];
	uint64_t cgroup_id; /* from the same record (MMAP2 has none); 0 if none */
	int hinted; /* a hint came, and no matching record of it since */
};

struct sz_perfmmap {
	struct sz_perfmmap_opts o;
	struct task_ev ev[TASK_SLOTS];
	struct perf_ring *rings;
	unsigned nrings;
	size_t data_sz, map_sz;
	char *rec; /* a record copied out of the ring: it may wrap */
	/* PERF_FORMAT_LOST (6.0): read() gives the kernel's count of what it could
	 * not write, which a PERF_RECORD_LOST only tells once a later record fits
	 * (never, if none comes before we stop) */
	int read_lost;
	struct sz_perfmmap_stats st;
};

/* PERF_RECORD_MMAP2 (include/uapi/linux/perf_event.h): header 0, pid 8,
 * tid 12, addr 16, len 24, pgoff 32, maj 40, min 44, ino 48,
 * ino_generation 56, prot 64, flags 68, filename 72 */
_Static_assert(SZ_PERF_MMAP2_HDR == 72, "PERF_RECORD_MMAP2's fixed part");

static uint32_t get_u32(const unsigned char *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint64_t get_u64(const unsigned char *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

int sz_perfmmap_rec(const void *rec, size_t size, char *path, size_t pathsz, struct sz_mapping *m,
		    uint64_t *lost)
{
	static const char deleted[] = " (deleted)";
	const size_t dl = sizeof(deleted) - 1;
	const unsigned char *p = rec;
	struct perf_event_header h;
	const char *name, *nul;
	size_t room, len;

	if (!rec || size < sizeof(h) || !path || !pathsz)
		return -EBADMSG;
	memcpy(&h, p, sizeof(h));
	if (h.size != size)
		return -EBADMSG;
	if (h.type == PERF_RECORD_LOST) {
		/* id, lost, sample_id */
		if (size < sizeof(h) + 16)
			return -EBADMSG;
		if (lost)
			*lost = get_u64(p, sizeof(h) + 8);
		return -EAGAIN;
	}
	if (h.type != PERF_RECORD_MMAP2)
		return -EINVAL;
	/* a name of at least its NUL, padded to 8 bytes, then the sample id;
	 * a build id in place of the identity was not asked for */
	if (size < SZ_PERF_MMAP2_HDR + 8 + SZ_PERF_SAMPLE_ID || size % 8 ||
	    (h.misc & PERF_RECORD_MISC_MMAP_BUILD_ID))
		return -EBADMSG;
	memset(m, 0, sizeof(*m));
	m->pid = (pid_t)get_u32(p, 8);
	m->start = get_u64(p, 16);
	m->end = m->start + get_u64(p, 24);
	m->pgoff = get_u64(p, 32);
	m->dev = sz_kdev(get_u32(p, 40), get_u32(p, 44));
	m->ino = get_u64(p, 48);
	m->prot = get_u32(p, 64) & (PROT_READ | PROT_WRITE | PROT_EXEC);
	if ((get_u32(p, 68) & MAP_TYPE) == MAP_SHARED)
		m->flags |= SZ_MAPPING_SHARED;
	m->ts_ns = get_u64(p, size - 8);
	m->source = SZ_SOURCE_MMAP;
	if (m->end <= m->start || (int32_t)m->pid <= 0)
		return -EBADMSG;
	name = (const char *)p + SZ_PERF_MMAP2_HDR;
	room = size - SZ_PERF_MMAP2_HDR - SZ_PERF_SAMPLE_ID;
	nul = memchr(name, '\0', room);
	if (!nul)
		return -EBADMSG;
	len = (size_t)(nul - name);
	/* d_path's names start with '/'; the kernel's own ("//anon",
	 * "//toolong") with two, the others ("[vdso]") with none */
	if (len >= 2 && name[0] == '/' && name[1] == '/')
		return len == 9 && !memcmp(name, "//toolong", 9) ? -ENAMETOOLONG : -ENOENT;
	if (len < 2 || name[0] != '/' || !m->ino)
		return -ENOENT;
	/* an unlinked file (a memfd among them: "/memfd:NAME (deleted)", as
	 * /proc/PID/maps and the other sources name it) */
	if (len > dl && !memcmp(name + len - dl, deleted, dl)) {
		len -= dl;
		m->flags |= SZ_MAPPING_DELETED;
	}
	if (len >= pathsz)
		return -ENAMETOOLONG;
	memcpy(path, name, len);
	path[len] = '\0';
	/* d_path ran from the mapping task's root, which may not be ours:
	 * the drain flags it SZ_MAPPING_PATH_ROOT_OR_OURS */
	m->path = path;
	return 0;
}

/* Where cgroup v2 is mounted. */
static int cgroup2_root(char *out, size_t size)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent *e;
	int err = -ENOENT;

	if (!f)
		return -errno;
	while ((e = getmntent(f)))
		if (!strcmp(e->mnt_type, "cgroup2") && strlen(e->mnt_dir) < size) {
			snprintf(out, size, "%s", e->mnt_dir);
			err = 0;
			break;
		}
	endmntent(f);
	return err;
}

static int open_cgroup(const struct sz_perfmmap_opts *o)
{
	char root[512], full[1024];
	struct stat st;
	int fd, err;

	err = cgroup2_root(root, sizeof(root));
	if (err)
		return err;
	if (snprintf(full, sizeof(full), "%s%s", root, o->cg_path) >= (int)sizeof(full))
		return -ENAMETOOLONG;
	fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || (o->cg_id && (uint64_t)st.st_ino != o->cg_id)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int sz_cpulist_count(const char *s)
{
	long n = 0;

	if (!s)
		return -EINVAL;
	while (*s && *s != '\n') {
		char *end;
		unsigned long a = strtoul(s, &end, 10), b = a;

		if (end == s || *s == '-' || *s == '+' || a >= PERF_MAX_CPUS)
			return -EINVAL;
		s = end;
		if (*s == '-') {
			s++;
			b = strtoul(s, &end, 10);
			if (end == s || *s == '-' || *s == '+' || b < a || b >= PERF_MAX_CPUS)
				return -EINVAL;
			s = end;
		}
		n += (long)(b - a + 1);
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -EINVAL;
	}
	return n > 0 && n <= PERF_MAX_CPUS ? (int)n : -EINVAL;
}

/* CPUs the kernel may ever run tasks on; SYMBOLYZE_TEST_CPU_POSSIBLE
 * stands in for the file in tests.  -errno when unknown. */
static int cpus_possible(void)
{
	const char *t = getenv("SYMBOLYZE_TEST_CPU_POSSIBLE");
	char *buf = NULL;
	ssize_t n;
	int r;

	if (t)
		return sz_cpulist_count(t);
	n = sz_read_file(AT_FDCWD, "/sys/devices/system/cpu/possible", 4096, &buf);
	r = n > 0 ? sz_cpulist_count(buf) : n < 0 ? (int)n : -EIO;
	free(buf);
	return r;
}

/* Each CPU's share of the total, a power of two the kernel accepts. */
static size_t ring_data_size(size_t total, unsigned ncpu)
{
	size_t per = (total ? total : PERF_DEFAULT_TOTAL) / (ncpu ? ncpu : 1), sz = PERF_MIN_DATA;

	while (sz * 2 <= per && sz * 2 <= PERF_MAX_DATA)
		sz *= 2;
	return sz;
}

int sz_perfmmap_open(const struct sz_perfmmap_opts *o, struct sz_perfmmap **out)
{
	long nconf = sysconf(_SC_NPROCESSORS_CONF);
	unsigned ncpu = nconf > 0 && nconf < PERF_MAX_CPUS ? (unsigned)nconf : 1;
	struct sz_perfmmap *pm;
	int cgfd = -1, err = 0;
	unsigned long flags = PERF_FLAG_FD_CLOEXEC;

	if (!o || !out)
		return -EINVAL;
	*out = NULL;
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	pm->o = *o;
	pm->o.cg_path = NULL; /* used here only */
	pm->rings = calloc(ncpu, sizeof(*pm->rings));
	pm->rec = malloc(REC_MAX);
	if (!pm->rings || !pm->rec) {
		err = -ENOMEM;
		goto fail;
	}
	pm->data_sz = ring_data_size(o->ring_bytes, ncpu);
	pm->map_sz = pm->data_sz + (size_t)sysconf(_SC_PAGESIZE);
	if (o->cg_path) {
		/* cgroup mode: the event counts only while a task of the
		 * directory's subtree runs on the CPU (perf_cgroup_match is
		 * hierarchical), and side-band records follow the same test */
		cgfd = open_cgroup(o);
		if (cgfd < 0) {
			err = cgfd;
			goto fail;
		}
		flags |= PERF_FLAG_PID_CGROUP;
	}
	pm->read_lost = 1;
	for (unsigned c = 0; c < ncpu; c++) {
		/* Executable mappings only (no attr.mmap_data): what speaks for a
		 * load is its code mapping, and the host's anonymous and data
		 * mmaps then cost no record.  CLOCK_MONOTONIC: the timestamps
		 * compare with bpf_ktime_get_ns() of the exec and exit records. */
		struct perf_event_attr a = {
			.size = sizeof(a),
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_DUMMY,
			.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME,
			.mmap = 1,
			.mmap2 = 1,
			.sample_id_all = 1,
			.use_clockid = 1,
			.clockid = CLOCK_MONOTONIC,
			/* [perf] a wake-up per record (an IPI and a scheduler
			 * wake-up each) made a loop mapping a matching file 2.7x
			 * slower, one per 8 KiB 1.2x; sz_watch_poll reads the
			 * rings every SZ_PERFMMAP_POLL_MS meanwhile */
			.watermark = 1,
			.wakeup_watermark = PERF_WAKEUP_BYTES,
			.read_format = pm->read_lost ? PERF_FORMAT_LOST : 0,
		};
		int fd = (int)syscall(SYS_perf_event_open, &a, cgfd >= 0 ? cgfd : -1, (int)c, -1,
				      flags);
		struct perf_ring *r = &pm->rings[pm->nrings];
		void *mem;

		if (fd < 0 && errno == EINVAL && pm->read_lost && !pm->nrings) {
			pm->read_lost = 0; /* before 6.0: PERF_RECORD_LOST only */
			c--;
			continue;
		}
		if (fd < 0) {
			if (errno == ENODEV) /* an offline CPU: nothing runs there */
				continue;
			err = -errno;
			goto fail;
		}
		mem = mmap(NULL, pm->map_sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (mem == MAP_FAILED) {
			err = -errno;
			close(fd);
			goto fail;
		}
		r->fd = fd;
		r->meta = mem;
		r->data = (char *)mem + (pm->map_sz - pm->data_sz);
		pm->nrings++;
	}
	if (!pm->nrings) {
		err = -ENODEV;
		goto fail;
	}
	pm->st.cpus = pm->nrings;
	{
		int possible = cpus_possible();

		if (possible > (int)pm->nrings)
			pm->st.cpus_uncovered = (unsigned)possible - pm->nrings;
	}
	if (cgfd >= 0)
		close(cgfd);
	*out = pm;
	return 0;
fail:
	if (cgfd >= 0)
		close(cgfd);
	sz_perfmmap_free(pm);
	return err;
}

void sz_perfmmap_free(struct sz_perfmmap *pm)
{
	if (!pm)
		return;
	for (unsigned i = 0; pm->rings && i < pm->nrings; i++) {
		munmap(pm->rings[i].meta, pm->map_sz);
		close(pm->rings[i].fd);
	}
	free(pm->rings);
	free(pm->rec);
	free(pm);
}

int sz_perfmmap_add_epoll(struct sz_perfmmap *pm, int epfd)
{
	for (unsigned i = 0; pm && i < pm->nrings; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = pm->rings[i].fd };

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, pm->rings[i].fd, &ev))
			return -errno;
	}
	return pm ? 0 : -EINVAL;
}

void sz_perfmmap_disable(struct sz_perfmmap *pm)
{
	for (unsigned i = 0; pm && i < pm->nrings; i++)
		ioctl(pm->rings[i].fd, PERF_EVENT_IOC_DISABLE, 0);
}

static void set_comm(struct task_ev *ev, const char *comm)
{
	size_t n = comm ? strnlen(comm, SZ_PERFMMAP_COMM_LEN) : 0;

	memcpy(ev->comm, comm ? comm : "", n);
	ev->comm[n] = '\0';
}

void sz_perfmmap_task_event(struct sz_perfmmap *pm, pid_t pid, uint64_t ts, int exited,
			    const char *comm, uint64_t cgroup_id)
{
	struct task_ev *ev;

	if (!pm || pid <= 0)
		return;
	ev = &pm->ev[(unsigned)pid % TASK_SLOTS];
	/* an exec keeps the process in `seen`; an exit took it out */
	*ev = (struct task_ev){ pid, exited, ts, !exited && ev->marked == pid ? pid : 0, "",
				exited ? 0 : cgroup_id, 0 };
	set_comm(ev, exited ? NULL : comm);
}

void sz_perfmmap_seen(struct sz_perfmmap *pm, pid_t pid, const char *comm, uint64_t cgroup_id)
{
	struct task_ev *ev;

	if (!pm || pid <= 0)
		return;
	ev = &pm->ev[(unsigned)pid % TASK_SLOTS];
	/* no exec or exit of it to order by (an exit here was an earlier
	 * process's: a hint comes before its own process's exit) */
	if (ev->pid != pid || ev->exited)
		*ev = (struct task_ev){ pid, 0, 0, 0, "", 0, 0 };
	ev->marked = pid;
	ev->hinted = 1;
	ev->cgroup_id = cgroup_id;
	set_comm(ev, comm);
}

int sz_perfmmap_hint_unmet(struct sz_perfmmap *pm, pid_t pid)
{
	struct task_ev *ev;
	int unmet;

	if (!pm || pid <= 0)
		return 0;
	ev = &pm->ev[(unsigned)pid % TASK_SLOTS];
	unmet = ev->pid == pid && ev->hinted;
	ev->hinted = 0;
	return unmet;
}

void sz_perfmmap_read_lost(struct sz_perfmmap *pm)
{
	uint64_t sum = 0, v[2];

	if (!pm || !pm->read_lost)
		return;
	for (unsigned i = 0; i < pm->nrings; i++) {
		if (read(pm->rings[i].fd, v, sizeof(v)) != (ssize_t)sizeof(v))
			return; /* keep the last whole count */
		sum += v[1];
	}
	if (sum > pm->st.lost)
		pm->st.lost = sum;
}

void sz_perfmmap_stats(const struct sz_perfmmap *pm, struct sz_perfmmap_stats *st)
{
	if (pm)
		*st = pm->st;
	else
		memset(st, 0, sizeof(*st));
}

/* One record of a ring: filtered, then to the pipeline.  0, SZ_STOP or
 * a negative errno (-ENOMEM). */
static int one_record(struct sz_perfmmap *pm, size_t size, struct sz_pipeline *p,
		      sz_perfmmap_seen_fn seen, void *ctx)
{
	char path[4096 + 1], comm[SZ_PERFMMAP_COMM_LEN + 1];
	struct sz_mapping m;
	struct task_ev *ev;
	uint64_t lost = 0;
	int rc = sz_perfmmap_rec(pm->rec, size, path, sizeof(path), &m, &lost);

	if (rc == -EAGAIN) {
		if (!pm->read_lost)
			pm->st.lost += lost;
		return 0;
	}
	if (rc == -EINVAL) /* a record type we did not ask for: ignored */
		return 0;
	if (rc != -EBADMSG)
		pm->st.records++;
	if (rc == -EBADMSG || rc == -ENAMETOOLONG) {
		pm->st.bad++;
		return 0;
	}
	if (rc)
		return 0;
	if ((pm->o.pid > 0 && m.pid != pm->o.pid) || m.pid == pm->o.self)
		return 0;
	/* the pipeline matches again; this first test keeps the host's other
	 * mappings away from `seen` */
	if (!sz_glob_match_path(&p->glob, m.path))
		return 0;
	pm->st.matched++;
	ev = &pm->ev[(unsigned)m.pid % TASK_SLOTS];
	if (ev->pid == m.pid && m.ts_ns < ev->ts && !ev->exited) {
		pm->st.before_exec++;
		return 0;
	}
	if (seen && !(ev->pid == m.pid && m.ts_ns < ev->ts) && ev->marked != m.pid &&
	    !seen(m.pid, ctx))
		ev->marked = m.pid;
	if (ev->pid == m.pid && !ev->exited) { /* what the BPF records said of it */
		ev->hinted = 0;
		if (ev->comm[0]) {
			memcpy(comm, ev->comm, sizeof(comm));
			m.comm = comm;
		}
		m.cgroup_id = ev->cgroup_id;
	}
	/* d_path ran from the mapping task's root: that root while the
	 * process lives (its map_files link is tried first anyway), ours with
	 * the inode checked once it is gone.  [perf] Decided by the opening,
	 * when needed: a stat of /proc/PID/root per record was a fifth of the
	 * watch's CPU in an exec storm. */
	m.flags |= SZ_MAPPING_PATH_ROOT_OR_OURS;
	return sz_pipeline_submit(p, &m);
}

static int drain_ring(struct sz_perfmmap *pm, struct perf_ring *r, struct sz_pipeline *p, int all,
		      uint64_t until, sz_perfmmap_seen_fn seen, void *ctx)
{
	uint64_t head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->meta->data_tail;
	int first = 0;

	while (tail < head) {
		struct perf_event_header h;
		size_t off = tail % pm->data_sz, n = sizeof(h), part;
		int rc;

		part = pm->data_sz - off < n ? pm->data_sz - off : n;
		memcpy(&h, r->data + off, part);
		memcpy((char *)&h + part, r->data, n - part);
		if (h.size < sizeof(h) || h.size > head - tail) {
			/* the kernel writes whole records: the ring is not what
			 * we think; start again at its head */
			pm->st.bad++;
			tail = head;
			break;
		}
		n = h.size;
		part = pm->data_sz - off < n ? pm->data_sz - off : n;
		memcpy(pm->rec, r->data + off, part);
		memcpy(pm->rec + part, r->data, n - part);
		/* a record newer than UNTIL waits: the BPF ring's records up to
		 * then come first (sample_id_all: the time is its last field) */
		if (until && (h.type == PERF_RECORD_MMAP2 || h.type == PERF_RECORD_LOST) &&
		    n >= sizeof(h) + 8 && get_u64((const unsigned char *)pm->rec, n - 8) > until)
			break;
		tail += h.size;
		pm->st.bytes += h.size;
		rc = one_record(pm, n, p, seen, ctx);
		if (rc && !first)
			first = rc;
		if (rc && !all)
			break;
	}
	__atomic_store_n(&r->meta->data_tail, tail, __ATOMIC_RELEASE);
	return first;
}

int sz_perfmmap_drain(struct sz_perfmmap *pm, struct sz_pipeline *p, int all, uint64_t until,
		      sz_perfmmap_seen_fn seen, void *ctx)
{
	int first = 0;

	if (!pm || !p)
		return -EINVAL;
	for (unsigned i = 0; i < pm->nrings; i++) {
		int rc = drain_ring(pm, &pm->rings[i], p, all, until, seen, ctx);

		if (rc && !first)
			first = rc;
		if (rc && !all)
			break;
	}
	return first;
}
