// SPDX-License-Identifier: BSD-2-Clause
/*
 * The Prometheus exposition of a watch: a reader of the probe state (counts
 * per live process in BPF, latency histograms) and of the found records
 * (which give each process its labels).  When a process exits, the watch
 * hands its counts here (sz__watch_fold_exited) and they are added to its
 * label set's series; its per-process state goes, so memory follows the label
 * sets, not the processes that came and went.  Everything here runs in the
 * event loop's thread, so it sees the counts of a process either in BPF or
 * folded, never in both nor in neither: a counter never goes down.  --by pid:
 * the label set is the process, so an exited one's series stays for
 * --metrics-keep seconds (its last value scraped), then goes, counted.
 */
#include "metrics.h"
#include "output.h"
#include "proc/cgroup.h"
#include "sources/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LAT_BUCKETS 64

/* Interned strings: labels repeat (every process of a service has the same
 * comm, path and cgroup), so each is stored once and named by its index. */
struct strtab {
	char **s;
	size_t n, cap;
	uint32_t *slot; /* open addressing: index + 1, 0 empty */
	size_t nslots;
};

/* u64 -> u64, open addressing, linear probing; key 0 is not used. */
struct u64map {
	uint64_t *k, *v;
	size_t n, cap;
};

#define FREE_SLOT UINT32_MAX /* series.sym of a slot that holds no series */

struct series {
	uint32_t sym, path, label;
	uint32_t next_free;
	uint64_t base;	/* calls of the processes that exited, folded in */
	uint64_t calls; /* base + the live processes', at the last rendering */
	double gone;	/* --by pid: when its process exited (monotonic s), else 0 */
};

/* What one live process needs: its labels, and the series it adds to (to
 * undo its paths and, --by pid, start its series' grace when it exits). */
struct proc {
	uint64_t labels; /* comm id << 32 | cgroup id */
	uint32_t *ser;
	uint32_t nser, cap;
	uint32_t next_free; /* in the pool's free list: the next free slot + 1 */
};

struct expiry {
	uint32_t series;
	double gone;
};

struct mx {
	enum mx_by by;
	enum sz_probe_mode mode;
	int latency;	       /* the duration histogram: --latency, or --count --latency */
	double keep;	       /* --by pid: seconds an exited process's series stays */
	struct mx_names names; /* requested symbols, then the matches of -s GLOBs */
	struct strtab str;
	struct u64map procs; /* pid + 1 -> its slot in pool */
	struct proc *pool;
	size_t npool, cappool;
	uint32_t pool_free;  /* a free slot + 1, chained by next_free */
	struct u64map paths; /* pid << 32 | sym -> path id + 1 */
	uint32_t *index;     /* open addressing on (sym, path, label): series index + 1 */
	size_t nindex;	     /* slots, a power of 2 */
	struct series *series;
	size_t nseries, capseries, used; /* slots, allocated, holding a series */
	uint32_t free_head;		 /* a free slot + 1, chained by next_free */
	struct expiry *q;		 /* --by pid: exited series, oldest first (a ring) */
	size_t qhead, qn, qcap;
	uint64_t exited, expired;
	size_t last_series;
};

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int str_grow(struct strtab *t)
{
	size_t n = t->nslots ? 2 * t->nslots : 256;
	uint32_t *slot = calloc(n, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = str_hash(t->s[i]) & (n - 1);

		while (slot[j])
			j = (j + 1) & (n - 1);
		slot[j] = (uint32_t)i + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->nslots = n;
	return 0;
}

/* The id of S, added if new; 0 is always "" (unknown). */
static uint32_t str_id(struct strtab *t, const char *s)
{
	size_t j;

	if (!s || !*s)
		return 0;
	if ((t->n + 2) * 2 > t->nslots && str_grow(t))
		return 0;
	if (!t->n) { /* id 0 is the empty string */
		t->s = malloc(16 * sizeof(*t->s));
		if (!t->s || !(t->s[0] = strdup("")))
			return 0;
		t->cap = 16;
		t->n = 1;
	}
	for (j = str_hash(s) & (t->nslots - 1); t->slot[j]; j = (j + 1) & (t->nslots - 1))
		if (!strcmp(t->s[t->slot[j] - 1], s))
			return t->slot[j] - 1;
	if (t->n == t->cap) {
		char **ns = realloc(t->s, 2 * t->cap * sizeof(*ns));

		if (!ns)
			return 0;
		t->s = ns;
		t->cap *= 2;
	}
	t->s[t->n] = strdup(s);
	if (!t->s[t->n])
		return 0;
	t->slot[j] = (uint32_t)++t->n;
	return (uint32_t)(t->n - 1);
}

static const char *str_of(const struct strtab *t, uint32_t id)
{
	return id < t->n ? t->s[id] : "";
}

static int map_grow(struct u64map *m)
{
	size_t cap = m->cap ? 2 * m->cap : 256;
	uint64_t *k = calloc(cap, sizeof(*k)), *v = calloc(cap, sizeof(*v));

	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->k[i])
			continue;
		for (j = mix(m->k[i]) & (cap - 1); k[j]; j = (j + 1) & (cap - 1))
			;
		k[j] = m->k[i];
		v[j] = m->v[i];
	}
	free(m->k);
	free(m->v);
	m->k = k;
	m->v = v;
	m->cap = cap;
	return 0;
}

/* The slot of KEY (found or empty), or NULL when out of memory. */
static uint64_t *map_slot(struct u64map *m, uint64_t key, int *isnew)
{
	size_t j;

	*isnew = 0;
	if ((m->n + 1) * 2 > m->cap && map_grow(m))
		return NULL;
	for (j = mix(key) & (m->cap - 1); m->k[j]; j = (j + 1) & (m->cap - 1))
		if (m->k[j] == key)
			return &m->v[j];
	m->k[j] = key;
	m->v[j] = 0;
	m->n++;
	*isnew = 1;
	return &m->v[j];
}

static const uint64_t *map_get(const struct u64map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t j = mix(key) & (m->cap - 1); m->k[j]; j = (j + 1) & (m->cap - 1))
		if (m->k[j] == key)
			return &m->v[j];
	return NULL;
}

/* Linear probing's deletion: shift back the entries that probed past KEY. */
static void map_del(struct u64map *m, uint64_t key)
{
	size_t i, j, h;

	if (!m->cap)
		return;
	for (i = mix(key) & (m->cap - 1); m->k[i] != key; i = (i + 1) & (m->cap - 1))
		if (!m->k[i])
			return;
	for (j = i;;) {
		m->k[i] = 0;
		for (;;) {
			j = (j + 1) & (m->cap - 1);
			if (!m->k[j]) {
				m->n--;
				return;
			}
			h = mix(m->k[j]) & (m->cap - 1);
			/* stays if its home lies cyclically in (i, j] */
			if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
				continue;
			break;
		}
		m->k[i] = m->k[j];
		m->v[i] = m->v[j];
		i = j;
	}
}

int mx_new(enum mx_by by, enum sz_probe_mode mode, int latency, const char *const *symbols,
	   size_t n, struct mx **out)
{
	struct mx *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (mx_name_index(&m->names, symbols[i], 0) < 0) {
			mx_names_free(&m->names);
			free(m);
			return -ENOMEM;
		}
	m->by = by;
	m->mode = mode;
	m->latency = mode == SZ_PROBE_LATENCY || latency;
	m->keep = MX_KEEP_DEFAULT;
	*out = m;
	return 0;
}

void mx_free(struct mx *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->str.n; i++)
		free(m->str.s[i]);
	free(m->str.s);
	free(m->str.slot);
	for (size_t i = 0; i < m->npool; i++)
		free(m->pool[i].ser);
	free(m->pool);
	free(m->procs.k);
	free(m->procs.v);
	free(m->paths.k);
	free(m->paths.v);
	free(m->index);
	free(m->series);
	free(m->q);
	mx_names_free(&m->names);
	free(m);
}

int mx_name_index(struct mx_names *t, const char *name, int stable)
{
	if (stable)
		for (size_t i = 0; i < t->n; i++)
			if (t->ptr[i] == name)
				return (int)i;
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->s[i], name)) {
			if (stable)
				t->ptr[i] = name;
			return (int)i;
		}
	if (t->n == t->cap) { /* a match of a -s GLOB: a name of its own */
		size_t cap = t->cap ? 2 * t->cap : 16;
		char **s = realloc(t->s, cap * sizeof(*s));
		const char **p;

		if (!s)
			return -1;
		t->s = s;
		p = realloc(t->ptr, cap * sizeof(*p));
		if (!p)
			return -1;
		t->ptr = p;
		t->cap = cap;
	}
	t->s[t->n] = strdup(name);
	if (!t->s[t->n])
		return -1;
	t->ptr[t->n] = stable ? name : NULL;
	return (int)t->n++;
}

const char *mx_name(const struct mx_names *t, int i)
{
	return i >= 0 && (size_t)i < t->n ? t->s[i] : "";
}

void mx_names_free(struct mx_names *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->ptr);
	memset(t, 0, sizeof(*t));
}

static uint32_t read_comm(pid_t pid, struct strtab *t)
{
	char path[64], comm[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	return str_id(t, comm);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The state of PID: made from its first found record, or read now (a
 * process forked by a known one counts before any record names it). */
static struct proc *proc_get(struct mx *m, pid_t pid, const char *comm)
{
	int isnew;
	uint64_t *v = map_slot(&m->procs, (uint64_t)(uint32_t)pid + 1, &isnew);
	char cg[4096];
	uint32_t cid = 0, gid = 0, slot;
	struct proc *p;

	if (!v)
		return NULL;
	if (!isnew)
		return &m->pool[*v];
	if (m->pool_free) {
		slot = m->pool_free - 1;
		m->pool_free = m->pool[slot].next_free;
	} else {
		if (m->npool == m->cappool) {
			size_t cap = m->cappool ? 2 * m->cappool : 64;
			struct proc *n = realloc(m->pool, cap * sizeof(*n));

			if (!n) {
				map_del(&m->procs, (uint64_t)(uint32_t)pid + 1);
				return NULL;
			}
			m->pool = n;
			m->cappool = cap;
		}
		slot = (uint32_t)m->npool++;
	}
	p = &m->pool[slot];
	*p = (struct proc){ 0 };
	if (m->by == MX_BY_CGROUP && !sz_proc_cgroup(NULL, pid, cg, sizeof(cg)))
		gid = str_id(&m->str, cg);
	if (m->by == MX_BY_COMM)
		cid = comm ? str_id(&m->str, comm) : read_comm(pid, &m->str);
	p->labels = (uint64_t)cid << 32 | gid;
	*v = slot;
	return p;
}

static int proc_add_series(struct proc *p, uint32_t idx)
{
	for (uint32_t i = 0; i < p->nser; i++)
		if (p->ser[i] == idx)
			return 0;
	if (p->nser == p->cap) {
		uint32_t cap = p->cap ? 2 * p->cap : 4;
		uint32_t *n = realloc(p->ser, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->ser = n;
		p->cap = cap;
	}
	p->ser[p->nser++] = idx;
	return 0;
}

static size_t series_hash(uint32_t sym, uint32_t path, uint32_t label)
{
	return (size_t)mix(mix(((uint64_t)sym << 32 | path) + 0x9e3779b97f4a7c15ull) ^ label);
}

static int index_grow(struct mx *m)
{
	size_t n = m->nindex ? 2 * m->nindex : 256;
	uint32_t *slot = calloc(n, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < m->nseries; i++) {
		const struct series *s = &m->series[i];
		size_t j;

		if (s->sym == FREE_SLOT)
			continue;
		for (j = series_hash(s->sym, s->path, s->label) & (n - 1); slot[j];
		     j = (j + 1) & (n - 1))
			;
		slot[j] = (uint32_t)i + 1;
	}
	free(m->index);
	m->index = slot;
	m->nindex = n;
	return 0;
}

/* Linear probing's deletion, as map_del, for the series at slot IDX. */
static void index_del(struct mx *m, uint32_t idx)
{
	const struct series *s = &m->series[idx];
	size_t mask = m->nindex - 1, i, j, h;

	for (i = series_hash(s->sym, s->path, s->label) & mask; m->index[i] != idx + 1;
	     i = (i + 1) & mask)
		if (!m->index[i])
			return;
	for (j = i;;) {
		m->index[i] = 0;
		for (;;) {
			const struct series *o;

			j = (j + 1) & mask;
			if (!m->index[j])
				return;
			o = &m->series[m->index[j] - 1];
			h = series_hash(o->sym, o->path, o->label) & mask;
			if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
				continue;
			break;
		}
		m->index[i] = m->index[j];
		i = j;
	}
}

/* The series (sym, path, label), made if new; its slot in *IDX. */
static struct series *series_get(struct mx *m, uint32_t sym, uint32_t path, uint32_t label,
				 uint32_t *idx)
{
	struct series *s;
	size_t j, i;

	if ((m->used + 1) * 2 > m->nindex && index_grow(m))
		return NULL;
	for (j = series_hash(sym, path, label) & (m->nindex - 1); m->index[j];
	     j = (j + 1) & (m->nindex - 1)) {
		s = &m->series[m->index[j] - 1];
		if (s->sym == sym && s->path == path && s->label == label) {
			*idx = m->index[j] - 1;
			return s;
		}
	}
	if (m->free_head) {
		i = m->free_head - 1;
		m->free_head = m->series[i].next_free;
	} else {
		if (m->nseries == m->capseries) {
			size_t cap = m->capseries ? 2 * m->capseries : 64;
			struct series *n = realloc(m->series, cap * sizeof(*n));

			if (!n)
				return NULL;
			m->series = n;
			m->capseries = cap;
		}
		i = m->nseries++;
	}
	s = &m->series[i];
	*s = (struct series){ .sym = sym, .path = path, .label = label };
	m->index[j] = (uint32_t)i + 1;
	m->used++;
	*idx = (uint32_t)i;
	return s;
}

/* The series that PID's calls of SYM go to, marked as PID's (MARK, or no
 * found record gave a path: then nothing marked it). */
static struct series *series_of(struct mx *m, pid_t pid, struct proc *p, uint32_t sym, int mark)
{
	const uint64_t *path = map_get(&m->paths, (uint64_t)(uint32_t)pid << 32 | sym);
	uint32_t label = m->by == MX_BY_PID	 ? (uint32_t)pid
			 : m->by == MX_BY_CGROUP ? (uint32_t)p->labels
						 : (uint32_t)(p->labels >> 32);
	uint32_t idx;
	struct series *s = series_get(m, sym, path ? (uint32_t)(*path - 1) : 0, label, &idx);

	if (!s)
		return NULL;
	s->gone = 0; /* --by pid: a pid reused within the grace, live again */
	if ((mark || !path) && proc_add_series(p, idx))
		return NULL;
	return s;
}

void mx_found(struct mx *m, const struct sz_found *r)
{
	int sym, isnew;
	struct proc *p;
	uint64_t *v;

	if (m->mode != SZ_PROBE_COUNT)
		return; /* only counters are per process */
	sym = mx_name_index(&m->names, r->symbol, 0);
	p = proc_get(m, r->pid, r->comm);
	if (sym < 0 || !p)
		return;
	v = map_slot(&m->paths, (uint64_t)(uint32_t)r->pid << 32 | (uint32_t)sym, &isnew);
	if (!v || !isnew)
		return;
	*v = (uint64_t)str_id(&m->str, r->path) + 1;
	/* The series exists from the first found record: 0 before any call. */
	series_of(m, r->pid, p, (uint32_t)sym, 1);
}

static void on_count(pid_t pid, const char *symbol, uint64_t calls, void *ctx)
{
	struct mx *m = ctx;
	int sym;
	struct proc *p;
	struct series *s;

	if (!pid || !calls)
		return; /* exited processes, summed: folded here already; nothing to add */
	sym = mx_name_index(&m->names, symbol, 1);
	/* Calls counted before the process's found record came through the
	 * pipeline (a slow reader): they wait for it, to go to the series with
	 * its path.  Counted now, they made a series with an empty path that
	 * stayed at 0 for good once they moved (the counter itself only rises). */
	if (sym >= 0 && !map_get(&m->paths, (uint64_t)(uint32_t)pid << 32 | (uint32_t)sym))
		return;
	p = sym < 0 ? NULL : proc_get(m, pid, NULL);
	s = p ? series_of(m, pid, p, (uint32_t)sym, 0) : NULL;
	if (s)
		s->calls += calls;
}

void mx_exited_calls(pid_t pid, const char *symbol, uint64_t calls, void *ctx)
{
	struct mx *m = ctx;
	int sym;
	struct proc *p;
	struct series *s;

	/* No calls: no series.  Folded after its exit was handled, a process's
	 * path is gone, and a series of 0 with an empty path would stay for good
	 * (--by comm: test_metrics_exited_processes_fold_by_comm, ~1 run in 6). */
	if (!calls)
		return;
	sym = mx_name_index(&m->names, symbol, 1);
	p = sym < 0 ? NULL : proc_get(m, pid, NULL);
	s = p ? series_of(m, pid, p, (uint32_t)sym, 0) : NULL;
	if (s)
		s->base += calls;
}

static void expire_push(struct mx *m, uint32_t idx, double gone)
{
	if (m->qn == m->qcap) {
		size_t cap = m->qcap ? 2 * m->qcap : 64;
		struct expiry *n = malloc(cap * sizeof(*n));

		if (!n)
			return; /* kept for good: a series too many, never a wrong one */
		for (size_t i = 0; i < m->qn; i++)
			n[i] = m->q[(m->qhead + i) % m->qcap];
		free(m->q);
		m->q = n;
		m->qhead = 0;
		m->qcap = cap;
	}
	m->q[(m->qhead + m->qn++) % m->qcap] = (struct expiry){ idx, gone };
}

void mx_exited(pid_t pid, void *ctx)
{
	struct mx *m = ctx;
	uint64_t key = (uint64_t)(uint32_t)pid + 1;
	const uint64_t *v = map_get(&m->procs, key);
	struct proc *p;
	double now;

	if (!v)
		return;
	p = &m->pool[*v];
	now = mono_s();
	for (uint32_t i = 0; i < p->nser; i++) {
		struct series *s = &m->series[p->ser[i]];

		map_del(&m->paths, (uint64_t)(uint32_t)pid << 32 | s->sym);
		if (m->by == MX_BY_PID) {
			s->gone = now;
			expire_push(m, p->ser[i], now);
		}
	}
	free(p->ser);
	*p = (struct proc){ .next_free = m->pool_free };
	m->pool_free = (uint32_t)(p - m->pool) + 1;
	map_del(&m->procs, key);
	m->exited++;
}

void mx_expire(struct mx *m)
{
	double now;

	if (!m->qn)
		return;
	now = mono_s();
	while (m->qn) {
		const struct expiry *e = &m->q[m->qhead];
		struct series *s = &m->series[e->series];

		if (e->gone + m->keep > now)
			break;
		/* Not if it lives again (a reused pid) or went again later. */
		if (s->sym != FREE_SLOT && s->gone == e->gone) {
			index_del(m, e->series);
			s->sym = FREE_SLOT;
			s->next_free = m->free_head;
			m->free_head = e->series + 1;
			m->used--;
			m->expired++;
		}
		m->qhead = (m->qhead + 1) % m->qcap;
		m->qn--;
	}
}

void mx_set_keep(struct mx *m, double seconds)
{
	m->keep = seconds;
}

/* A label value: escaped as every name we print (control bytes and invalid
 * UTF-8 as \xNN), then for the exposition format (\ and "). */
static void label(FILE *f, const char *name, const char *v)
{
	char esc[4 * 4096 + 1];

	fprintf(f, "%s=\"", name);
	for (const char *p = sz_escape(v, esc, sizeof(esc)); *p; p++) {
		if (*p == '\\' || *p == '"')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

static const char *by_name(enum mx_by by)
{
	return by == MX_BY_PID ? "pid" : by == MX_BY_CGROUP ? "cgroup" : "comm";
}

/* Seconds with nine decimals, exact for integer nanoseconds, no trailing zeros. */
static void seconds(FILE *f, uint64_t ns)
{
	char frac[16];
	int n;

	if (!(ns % (uint64_t)1000000000)) {
		fprintf(f, "%" PRIu64, ns / (uint64_t)1000000000);
		return;
	}
	n = snprintf(frac, sizeof(frac), "%09" PRIu64, ns % (uint64_t)1000000000);
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	fprintf(f, "%" PRIu64 ".%s", ns / (uint64_t)1000000000, frac);
}

struct lat_ctx {
	struct mx *m;
	struct sz_watch *w;
	FILE *f;
};

/* BUCKETS[i] holds integer durations in [2^i, 2^(i+1)) ns: le = 2^(i+1) - 1 ns. */
static void on_latency(const char *symbol, const uint64_t *b, size_t n, void *ctx)
{
	struct lat_ctx *l = ctx;
	int sym = mx_name_index(&l->m->names, symbol, 1);
	uint64_t total = 0;

	if (sym < 0)
		return;
	for (size_t i = 0; i + 1 < n && i < 63; i++) {
		total += b[i];
		fputs("symbolyze_call_duration_seconds_bucket{", l->f);
		label(l->f, "symbol", symbol);
		fputs(",le=\"", l->f);
		seconds(l->f, (2ull << i) - 1);
		fprintf(l->f, "\"} %" PRIu64 "\n", total);
	}
	for (size_t i = n > 63 ? 63 : n; i < n; i++)
		total += b[i];
	fputs("symbolyze_call_duration_seconds_bucket{", l->f);
	label(l->f, "symbol", symbol);
	fprintf(l->f, ",le=\"+Inf\"} %" PRIu64 "\nsymbolyze_call_duration_seconds_sum{", total);
	label(l->f, "symbol", symbol);
	fputs("} ", l->f);
	seconds(l->f, sz__watch_latency_sum_ns(l->w, (uint32_t)sym));
	fputs("\nsymbolyze_call_duration_seconds_count{", l->f);
	label(l->f, "symbol", symbol);
	fprintf(l->f, "} %" PRIu64 "\n", total);
}

static uint64_t rss_bytes(void)
{
	char text[128], *p;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	p = strchr(text, ' '); /* size, then resident, in pages */
	return p ? strtoull(p + 1, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void metric(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void self_metrics(FILE *f, const struct mx *m, struct sz_watch *w, uint64_t output_dropped)
{
	struct sz_stats st = { .sz = sizeof(st) };
	struct sz_watch_stats ws = { .sz = sizeof(ws) };

	sz_watch_stats(w, &st, &ws);
	metric(f, "symbolyze_loads_found_total", "counter",
	       "Loads of matching files found (scan, exec, mmap, fork).");
	fprintf(f, "symbolyze_loads_found_total %" PRIu64 "\n", st.mappings);
	metric(f, "symbolyze_found_total", "counter", "Found records (one per symbol per load).");
	fprintf(f, "symbolyze_found_total %" PRIu64 "\n", st.found);
	metric(f, "symbolyze_processes_scanned_total", "counter",
	       "Processes whose maps were read.");
	fprintf(f, "symbolyze_processes_scanned_total %" PRIu64 "\n", st.processes);
	metric(f, "symbolyze_uprobes_attached", "gauge",
	       "Uprobes attached (per inode and symbol, or per process with -p).");
	fprintf(f, "symbolyze_uprobes_attached %" PRIu64 "\n", ws.probes);
	metric(f, "symbolyze_lost_records_total", "counter",
	       "Records not delivered, by reason: ring (watch ring full), probe_ring (call "
	       "records), output (stdout queue full), invisible (no pid in our namespace), "
	       "malformed.");
	fprintf(f,
		"symbolyze_lost_records_total{reason=\"ring\"} %" PRIu64 "\n"
		"symbolyze_lost_records_total{reason=\"probe_ring\"} %" PRIu64 "\n"
		"symbolyze_lost_records_total{reason=\"output\"} %" PRIu64 "\n"
		"symbolyze_lost_records_total{reason=\"invisible\"} %" PRIu64 "\n"
		"symbolyze_lost_records_total{reason=\"malformed\"} %" PRIu64 "\n",
		ws.lost, ws.probe_drops, output_dropped, ws.invisible, ws.bad_records);
	metric(f, "symbolyze_repairs_total", "counter",
	       "Loads a rescan of /proc found after records were lost.");
	fprintf(f, "symbolyze_repairs_total %" PRIu64 "\n", ws.repaired);
	metric(f, "symbolyze_processes_frozen_total", "counter",
	       "Processes stopped and resumed for --freeze.");
	fprintf(f, "symbolyze_processes_frozen_total %" PRIu64 "\n", ws.frozen);
	metric(f, "symbolyze_problems_total", "counter",
	       "Unresolved loads and symbols, by reason.");
	for (int r = 0; r < SZ_REASON_COUNT; r++)
		fprintf(f, "symbolyze_problems_total{reason=\"%s\"} %" PRIu64 "\n",
			sz_reason_str((enum sz_reason)r), st.problems[r]);
	metric(f, "symbolyze_resident_memory_bytes", "gauge", "Resident set size of symbolyze.");
	fprintf(f, "symbolyze_resident_memory_bytes %" PRIu64 "\n", rss_bytes());
	if (m->mode != SZ_PROBE_COUNT)
		return;
	metric(f, "symbolyze_series", "gauge",
	       "Series of symbolyze_calls_total held (label sets; --by pid: live and recently "
	       "exited processes).");
	fprintf(f, "symbolyze_series %zu\n", m->used);
	metric(f, "symbolyze_tracked_processes", "gauge",
	       "Live processes the exporter keeps labels for (exited ones are folded).");
	fprintf(f, "symbolyze_tracked_processes %zu\n", m->procs.n);
	metric(f, "symbolyze_exited_processes_total", "counter",
	       "Exited processes whose calls were folded into their label set's series.");
	fprintf(f, "symbolyze_exited_processes_total %" PRIu64 "\n", m->exited);
	metric(f, "symbolyze_series_expired_total", "counter",
	       "--by pid: series of exited processes dropped --metrics-keep seconds after the "
	       "exit.");
	fprintf(f, "symbolyze_series_expired_total %" PRIu64 "\n", m->expired);
}

int mx_render(struct mx *m, struct sz_watch *w, uint64_t output_dropped, char **buf, size_t *len)
{
	FILE *f;

	*buf = NULL;
	*len = 0;
	f = open_memstream(buf, len);
	if (!f)
		return -errno;
	if (m->mode == SZ_PROBE_COUNT) {
		mx_expire(m);
		for (size_t i = 0; i < m->nseries; i++)
			m->series[i].calls = m->series[i].base;
		sz_watch_counts(w, on_count, m);
		fprintf(f,
			"# HELP symbolyze_calls_total Calls of the probed functions, by symbol, "
			"file and %s.\n# TYPE symbolyze_calls_total counter\n",
			by_name(m->by));
		/* A label set's series stays: a counter does not vanish (--by pid:
		 * until --metrics-keep seconds after its process exited). */
		for (size_t i = 0; i < m->nseries; i++) {
			const struct series *s = &m->series[i];
			char pid[16];

			if (s->sym == FREE_SLOT)
				continue;
			fputs("symbolyze_calls_total{", f);
			label(f, "symbol", mx_name(&m->names, (int)s->sym));
			fputc(',', f);
			label(f, "path", str_of(&m->str, s->path));
			fputc(',', f);
			snprintf(pid, sizeof(pid), "%u", s->label);
			label(f, by_name(m->by),
			      m->by == MX_BY_PID ? pid : str_of(&m->str, s->label));
			fprintf(f, "} %" PRIu64 "\n", s->calls);
		}
		m->last_series = m->used;
	}
	if (m->latency) {
		struct lat_ctx l = { m, w, f };

		metric(f, "symbolyze_call_duration_seconds", "histogram",
		       "Durations of the probed functions' calls (log2 buckets), by symbol.");
		sz_watch_latency(w, on_latency, &l);
	}
	self_metrics(f, m, w, output_dropped);
	if (fclose(f)) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	return 0;
}

size_t mx_series(const struct mx *m)
{
	return m->last_series;
}
