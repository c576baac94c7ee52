// SPDX-License-Identifier: BSD-2-Clause
/*
 * watch's fleet options: the Prometheus endpoint (libmicrohttpd serves it
 * from its own thread), periodic batches, the cgroup of found records.  The
 * HTTP thread never reads BPF maps or the watch's tables: it asks the event
 * loop for a fresh exposition (an eventfd the loop polls beside the watch's
 * descriptor) and waits for it; the loop renders between two polls and holds
 * the mutex only to swap a pointer.  A busy loop delays a scrape, never the
 * other way round.
 */
#include "metrics.h"
#include "out.h"
#include "output.h"
#include "proc/cgroup.h"
#include "sources/watch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include "mhd_dl.h" /* libmicrohttpd by dlopen: mapped only with --metrics */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <mntent.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>

#define SCRAPE_WAIT_S 10 /* a scrape waits this long for the loop, then 503 */

struct cli_ext {
	struct mx *mx;
	struct MHD_Daemon *d;
	int ep, efd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t asked, answered; /* under mu */
	int stopping;		  /* under mu */
	char *text;		  /* the last exposition, under mu */
	size_t len;
	/* --interval */
	double next;
	int watch_added;
	uint64_t seq;
	struct pcount *prev;
	size_t nprev;
	uint64_t *prev_lat; /* 64 per name */
	size_t nprev_lat;
	uint64_t *folded; /* per name: calls shown under pids folded since (fold_adjust) */
	size_t nfolded;
	struct mx_names names; /* --interval's symbols, -s GLOB matches included */
};

enum {
	OPT_METRICS = 0x1301,
	OPT_BY,
	OPT_EXPOSE,
	OPT_INTERVAL,
	OPT_PER_INTERVAL,
	OPT_CGROUP,
	OPT_KEEP,
};

static const struct {
	const char *name;
	int id, arg;
} ext_opts[] = {
	{ "metrics", OPT_METRICS, 1 },		 { "by", OPT_BY, 1 },
	{ "metrics-expose", OPT_EXPOSE, 0 },	 { "interval", OPT_INTERVAL, 1 },
	{ "per-interval", OPT_PER_INTERVAL, 0 }, { "cgroup", OPT_CGROUP, 1 },
	{ "metrics-keep", OPT_KEEP, 1 },
};

int cli_ext_wants_value(int opt)
{
	for (size_t i = 0; i < sizeof(ext_opts) / sizeof(ext_opts[0]); i++)
		if (ext_opts[i].id == opt)
			return ext_opts[i].arg;
	return 0;
}

/* [ADDR:]PORT: ADDR an IPv4 address, [IPv6] or localhost; PORT 0..65535 (0:
 * any free port, said in the metrics record). */
static int parse_addr(const char *s, struct sockaddr_storage *ss, int *loopback)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	size_t hl;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (!colon) {
		colon = s - 1;
		hl = 0;
	} else {
		hl = (size_t)(colon - s);
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (!hl || !strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	if (host[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (hl < 3 || host[hl - 1] != ']')
			return -EINVAL;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	return 0;
}

int cli_ext_option(struct cli *c, int opt, const char *arg, int *rc)
{
	char *end;

	*rc = 0;
	switch (opt) {
	case OPT_METRICS:
		c->metrics = arg;
		break;
	case OPT_EXPOSE:
		c->metrics_expose = 1;
		break;
	case OPT_BY:
		if (!strcmp(arg, "comm"))
			c->by = MX_BY_COMM;
		else if (!strcmp(arg, "pid"))
			c->by = MX_BY_PID;
		else if (!strcmp(arg, "cgroup"))
			c->by = MX_BY_CGROUP;
		else {
			fprintf(stderr, "symbolyze: --by '%s': wants comm, pid or cgroup\n", arg);
			*rc = EXIT_USAGE;
		}
		c->by_set = 1;
		break;
	case OPT_INTERVAL:
		errno = 0;
		c->interval = strtod(arg, &end);
		if (errno || *end || end == arg || !(c->interval >= 0.01) || c->interval > 86400) {
			fprintf(stderr,
				"symbolyze: --interval '%s': wants seconds from 0.01 to 86400\n",
				arg);
			*rc = EXIT_USAGE;
		}
		break;
	case OPT_PER_INTERVAL:
		c->per_interval = 1;
		break;
	case OPT_CGROUP:
		c->cgroup = arg;
		break;
	case OPT_KEEP:
		errno = 0;
		c->metrics_keep = strtod(arg, &end);
		if (errno || *end || end == arg || !(c->metrics_keep >= 1) ||
		    c->metrics_keep > 604800) {
			fprintf(stderr,
				"symbolyze: --metrics-keep '%s': wants seconds from 1 to 604800\n",
				arg);
			*rc = EXIT_USAGE;
		}
		break;
	default:
		return 0;
	}
	if (!*rc && !c->watch) {
		fprintf(stderr, "symbolyze: '--%s' is an option of watch, not of %s\n",
			ext_opts[opt - OPT_METRICS].name, c->cmd);
		*rc = EXIT_USAGE;
	}
	return 1;
}

int cli_ext_check(struct cli *c)
{
	struct sockaddr_storage ss;
	int loopback = 0;

	if (c->metrics) {
		if (parse_addr(c->metrics, &ss, &loopback)) {
			fprintf(stderr,
				"symbolyze: --metrics '%s': wants [ADDR:]PORT, ADDR an IPv4 "
				"address, [IPv6 address] or localhost, PORT 0 to 65535\n",
				c->metrics);
			return EXIT_USAGE;
		}
		if (!loopback && !c->metrics_expose) {
			fprintf(stderr,
				"symbolyze: --metrics '%s': not a loopback address; add "
				"--metrics-expose to serve metrics beyond this host\n",
				c->metrics);
			return EXIT_USAGE;
		}
		if (c->probe != SZ_PROBE_COUNT && c->probe != SZ_PROBE_LATENCY) {
			fprintf(stderr, "symbolyze: --metrics goes with --count or --latency\n");
			return EXIT_USAGE;
		}
	}
	if (c->metrics_expose && !c->metrics) {
		fprintf(stderr, "symbolyze: --metrics-expose goes with --metrics\n");
		return EXIT_USAGE;
	}
	if (c->by_set && !c->metrics) {
		fprintf(stderr, "symbolyze: --by goes with --metrics\n");
		return EXIT_USAGE;
	}
	if (c->metrics_keep && (!c->metrics || c->by != MX_BY_PID)) {
		fprintf(stderr, "symbolyze: --metrics-keep goes with --metrics and --by pid\n");
		return EXIT_USAGE;
	}
	if (c->interval && c->probe != SZ_PROBE_COUNT && c->probe != SZ_PROBE_LATENCY) {
		fprintf(stderr, "symbolyze: --interval goes with --count or --latency\n");
		return EXIT_USAGE;
	}
	if (c->per_interval && !c->interval) {
		fprintf(stderr, "symbolyze: --per-interval goes with --interval\n");
		return EXIT_USAGE;
	}
	return -1;
}

const char *cli_cgroup_of(pid_t pid, char *buf, size_t size)
{
	return sz_proc_cgroup(NULL, pid, buf, size) ? NULL : buf;
}

/* --- the HTTP thread ---------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ok;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	ok = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct cli_ext *x = cls;
	struct MHD_Response *r;
	struct timespec until;
	uint64_t want, one = 1;
	char *copy = NULL;
	size_t len = 0;
	enum MHD_Result ok;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics\n");
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "symbolyze serves /metrics\n");
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SCRAPE_WAIT_S;
	pthread_mutex_lock(&x->mu);
	want = ++x->asked;
	if (write(x->efd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the loop is woken already */
	}
	while (x->answered < want && !x->stopping)
		if (pthread_cond_timedwait(&x->cv, &x->mu, &until) == ETIMEDOUT)
			break;
	if (x->answered >= want && x->text) {
		copy = malloc(x->len ? x->len : 1);
		if (copy) {
			memcpy(copy, x->text, x->len);
			len = x->len;
		}
	}
	pthread_mutex_unlock(&x->mu);
	if (!copy)
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "symbolyze is busy or stopping\n");
	r = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(copy);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ok;
}

/* --- the event loop's side ---------------------------------------------- */

static void announce(struct cli *c, const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN] = "";
	unsigned port;
	FILE *f;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
	}
	if (!c->json) {
		fprintf(stderr, "symbolyze: metrics at http://%s%s%s:%u/metrics\n",
			ss->ss_family == AF_INET6 ? "[" : "", host,
			ss->ss_family == AF_INET6 ? "]" : "", port);
		return;
	}
	f = out_begin();
	fprintf(f, "{\"event\":\"metrics\",\"address\":\"%s\",\"port\":%u,\"by\":\"%s\"}\n", host,
		port,
		c->by == MX_BY_PID	? "pid"
		: c->by == MX_BY_CGROUP ? "cgroup"
					: "comm");
	out_end();
}

static int on_found(const struct sz_found *r, void *ctx)
{
	mx_found(ctx, r);
	return 0;
}

static int start_http(struct cli *c, struct cli_ext *x)
{
	struct sockaddr_storage ss;
	struct epoll_event ev = { .events = EPOLLIN };
	const union MHD_DaemonInfo *info;
	socklen_t sl = sizeof(ss);
	sigset_t all, old;
	char why[256];
	int loopback;

	parse_addr(c->metrics, &ss, &loopback);
	if (sz_mhd_load(why, sizeof(why))) {
		fprintf(stderr, "symbolyze: --metrics needs libmicrohttpd: %s\n", why);
		return EXIT_ENV;
	}
	x->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	x->ep = epoll_create1(EPOLL_CLOEXEC);
	if (x->efd < 0 || x->ep < 0 || epoll_ctl(x->ep, EPOLL_CTL_ADD, x->efd, &ev)) {
		fprintf(stderr, "symbolyze: --metrics: cannot set up: %s\n", strerror(errno));
		return EXIT_ENV;
	}
	/* Signals are for the event loop: the HTTP thread inherits them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	x->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
					(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, handle, x, MHD_OPTION_SOCK_ADDR,
				(struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!x->d) {
		fprintf(stderr, "symbolyze: --metrics '%s': cannot listen (address in use?)\n",
			c->metrics);
		return EXIT_ENV;
	}
	info = MHD_get_daemon_info(x->d, MHD_DAEMON_INFO_LISTEN_FD);
	if (info && !getsockname(info->listen_fd, (struct sockaddr *)&ss, &sl))
		announce(c, &ss);
	return 0;
}

/* Where cgroup v2 is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on
 * a hybrid host. */
static int cgroup2_root(char *out, size_t size)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent *e;
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while ((e = getmntent(f)))
		if (!strcmp(e->mnt_type, "cgroup2") && strlen(e->mnt_dir) < size) {
			snprintf(out, size, "%s", e->mnt_dir);
			rc = 0;
			break;
		}
	endmntent(f);
	return rc;
}

/* --cgroup PATH: a cgroup v2 directory, as found records name it ("/a/b",
 * below the cgroup2 mount) or by its full path; its inode is the kernel's id
 * of the cgroup, its depth below the root the level BPF compares at. */
static int set_cgroup(struct cli *c, struct sz_watch *w)
{
	char full[PATH_MAX], real[PATH_MAX], root[PATH_MAX];
	struct statfs fs;
	struct stat st;
	uint32_t level = 0;
	const char *p;
	size_t rl;

	if (cgroup2_root(root, sizeof(root))) {
		fprintf(stderr, "symbolyze: --cgroup: no cgroup v2 hierarchy is mounted\n");
		return EXIT_ENV;
	}
	rl = strlen(root);
	errno = 0;
	if (snprintf(full, sizeof(full), "%s%s", strncmp(c->cgroup, root, rl) ? root : "",
		     c->cgroup) >= (int)sizeof(full) ||
	    !realpath(full, real) || stat(real, &st) || statfs(real, &fs)) {
		fprintf(stderr, "symbolyze: --cgroup '%s': %s: %s\n", c->cgroup, full,
			strerror(errno ? errno : ENAMETOOLONG));
		return EXIT_USAGE;
	}
	if (fs.f_type != CGROUP2_SUPER_MAGIC || !S_ISDIR(st.st_mode) || strncmp(real, root, rl) ||
	    (real[rl] && real[rl] != '/')) {
		fprintf(stderr, "symbolyze: --cgroup '%s': not a cgroup v2 directory under %s\n",
			c->cgroup, root);
		return EXIT_USAGE;
	}
	for (p = real + rl; *p; p++)
		level += *p == '/';
	if (sz__watch_cgroup(w, (uint64_t)st.st_ino, level, real + rl))
		return EXIT_USAGE;
	return 0;
}

int cli_ext_setup(struct cli *c, struct sz_watch *w)
{
	struct cli_ext *x;
	int rc;

	if (c->cgroup) {
		rc = set_cgroup(c, w);
		if (rc)
			return rc;
	}
	if (!c->metrics && !c->interval)
		return 0;
	x = calloc(1, sizeof(*x));
	if (!x)
		return EXIT_ENV;
	x->ep = x->efd = -1;
	pthread_mutex_init(&x->mu, NULL);
	pthread_cond_init(&x->cv, NULL);
	c->ext = x;
	if (c->metrics) {
		if (mx_new((enum mx_by)c->by, c->probe, c->plat, c->symbols, c->nsymbols, &x->mx) ||
		    sz_watch_on_found(w, on_found, x->mx)) {
			fprintf(stderr, "symbolyze: --metrics: out of memory\n");
			return EXIT_ENV;
		}
		if (c->metrics_keep)
			mx_set_keep(x->mx, c->metrics_keep);
		/* Exited processes leave their counts to their label set's
		 * series and nothing per process: memory stays bounded. */
		if (c->probe == SZ_PROBE_COUNT && !c->empty_probe &&
		    sz__watch_fold_exited(w, mx_exited_calls, mx_exited, x->mx)) {
			fprintf(stderr, "symbolyze: --metrics: cannot fold exited processes\n");
			return EXIT_ENV;
		}
		rc = start_http(c, x);
		if (rc)
			return rc;
	}
	return 0;
}

static void serve(struct cli_ext *x, struct sz_watch *w)
{
	uint64_t asked, n;
	char *buf;
	size_t len;

	if (read(x->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&x->mu);
	asked = x->asked;
	pthread_mutex_unlock(&x->mu);
	if (asked == x->answered) /* only the loop writes answered */
		return;
	if (mx_render(x->mx, w, out_dropped(), &buf, &len))
		return; /* out of memory: the scrape times out with 503 */
	pthread_mutex_lock(&x->mu);
	free(x->text);
	x->text = buf;
	x->len = len;
	x->answered = asked;
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
}

void cli_ext_interval(struct cli *c, struct sz_watch *w, double now);

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cli_ext_poll(struct cli *c, struct sz_watch *w, int timeout_ms)
{
	struct cli_ext *x = c->ext;
	double now;
	int rc;

	if (!x)
		return sz_watch_poll(w, timeout_ms);
	now = mono();
	if (c->interval) {
		if (!x->next)
			x->next = now + c->interval;
		if ((x->next - now) * 1000 < timeout_ms)
			timeout_ms = x->next > now ? (int)((x->next - now) * 1000) + 1 : 0;
	}
	if (x->d) {
		struct epoll_event ev[2];
		struct epoll_event wev = { .events = EPOLLIN };
		int wfd = sz_watch_fd(w);

		/* The watch's descriptor joins ours once it exists (after start);
		 * its timer ticks every 20 ms, so the --freeze lease is renewed
		 * as often as under sz_watch_poll(w, 100). */
		if (wfd >= 0 && !x->watch_added++)
			epoll_ctl(x->ep, EPOLL_CTL_ADD, wfd, &wev);
		if (epoll_wait(x->ep, ev, 2, timeout_ms) < 0 && errno != EINTR)
			return -errno;
		rc = sz_watch_poll(w, 0);
		mx_expire(x->mx); /* --by pid: O(1) unless a series is due */
		serve(x, w);
	} else {
		rc = sz_watch_poll(w, timeout_ms);
	}
	if (c->interval && mono() >= x->next) {
		cli_ext_interval(c, w, mono());
		x->next += c->interval;
		if (x->next < mono()) /* a stalled loop skips batches, not time */
			x->next = mono() + c->interval;
	}
	return rc;
}

void cli_ext_finish(struct cli *c)
{
	struct cli_ext *x = c->ext;

	if (!x)
		return;
	if (x->d) {
		pthread_mutex_lock(&x->mu);
		x->stopping = 1;
		pthread_cond_broadcast(&x->cv);
		pthread_mutex_unlock(&x->mu);
		MHD_stop_daemon(x->d);
	}
	if (x->ep >= 0)
		close(x->ep);
	if (x->efd >= 0)
		close(x->efd);
	mx_free(x->mx);
	free(x->text);
	free(x->prev);
	free(x->prev_lat);
	free(x->folded);
	mx_names_free(&x->names);
	pthread_cond_destroy(&x->cv);
	pthread_mutex_destroy(&x->mu);
	free(x);
	c->ext = NULL;
}

/* --- --interval: a batch of counts or histograms, timestamped ------------ */

struct pcount {
	uint64_t key; /* pid << 32 | symbol index */
	uint64_t calls;
};

struct batch {
	struct cli *c;
	struct pcount *v;
	size_t n, cap;
	int oom;
};

static int sym_of(const struct cli *c, const char *symbol)
{
	return mx_name_index(&c->ext->names, symbol, 1);
}

static void collect(pid_t pid, const char *symbol, uint64_t calls, void *ctx)
{
	struct batch *b = ctx;
	int sym = sym_of(b->c, symbol);

	if (sym < 0)
		return;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct pcount *n = realloc(b->v, cap * sizeof(*n));

		if (!n) {
			b->oom = 1;
			return;
		}
		b->v = n;
		b->cap = cap;
	}
	b->v[b->n++] = (struct pcount){ (uint64_t)(uint32_t)pid << 32 | (uint32_t)sym, calls };
}

static int by_key(const void *a, const void *b)
{
	uint64_t x = ((const struct pcount *)a)->key, y = ((const struct pcount *)b)->key;

	return x < y ? -1 : x > y;
}

static void lat_batch(const char *symbol, const uint64_t *b, size_t n, void *ctx)
{
	struct cli *c = ctx;
	struct cli_ext *x = c->ext;
	int sym = sym_of(c, symbol);
	uint64_t d[64] = { 0 }, any = 0;

	if (sym < 0 || n > 64)
		return;
	if ((size_t)sym >= x->nprev_lat) {
		size_t cap = (size_t)sym + 16;
		uint64_t *np = realloc(x->prev_lat, cap * 64 * sizeof(*np));

		if (np) {
			memset(np + x->nprev_lat * 64, 0, (cap - x->nprev_lat) * 64 * sizeof(*np));
			x->prev_lat = np;
			x->nprev_lat = cap;
		}
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t *p = (size_t)sym < x->nprev_lat ? &x->prev_lat[(size_t)sym * 64 + i]
							 : NULL;

		d[i] = c->per_interval && p ? b[i] - *p : b[i];
		any |= d[i];
		if (p)
			*p = b[i];
	}
	if (any)
		cli_fmt(c)->latency(c, symbol, d, n);
}

/* Into x->folded[sym]: the calls last shown under pids that are gone from
 * CUR (N keys, sorted), i.e. folded into pid 0 since the last batch. */
static void fold_adjust(struct cli_ext *x, const struct pcount *cur, size_t n)
{
	size_t i = 0;

	if (x->folded)
		memset(x->folded, 0, x->nfolded * sizeof(*x->folded));
	for (size_t j = 0; j < x->nprev; j++) {
		uint64_t key = x->prev[j].key;
		uint32_t sym = (uint32_t)key;

		while (i < n && cur[i].key < key)
			i++;
		if (!(key >> 32) || (i < n && cur[i].key == key))
			continue;
		if (sym >= x->nfolded || !x->folded) {
			size_t cap = (size_t)sym + 16;
			uint64_t *nf = realloc(x->folded, cap * sizeof(*nf));

			if (!nf)
				continue; /* no memory: pid 0's row shows it again */
			memset(nf + x->nfolded, 0, (cap - x->nfolded) * sizeof(*nf));
			x->folded = nf;
			x->nfolded = cap;
		}
		x->folded[sym] += x->prev[j].calls;
	}
}

void cli_ext_interval(struct cli *c, struct sz_watch *w, double now)
{
	struct cli_ext *x = c->ext;
	struct batch b = { .c = c };
	struct timespec rt;
	struct tm tm;
	char when[40];
	size_t i, j, n = 0;
	FILE *f;

	clock_gettime(CLOCK_REALTIME, &rt);
	gmtime_r(&rt.tv_sec, &tm);
	if (!strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm))
		when[0] = '\0';
	x->seq++;
	f = out_begin();
	if (c->json)
		fprintf(f,
			"{\"event\":\"interval\",\"seq\":%" PRIu64 ",\"time\":\"%s.%03ldZ\","
			"\"ts_ns\":%" PRIu64 ",\"seconds\":%g,\"per_interval\":%s}\n",
			x->seq, when, rt.tv_nsec / 1000000,
			(uint64_t)rt.tv_sec * (uint64_t)1000000000 + (uint64_t)rt.tv_nsec,
			c->interval, c->per_interval ? "true" : "false");
	else
		fprintf(f, "\n%s.%03ldZ interval %" PRIu64 " (%s)\n", when, rt.tv_nsec / 1000000,
			x->seq, c->per_interval ? "this interval" : "since start");
	out_end();
	c->batch = x->seq;
	if (c->probe == SZ_PROBE_LATENCY) {
		sz_watch_latency(w, lat_batch, c);
		c->batch = 0;
		return;
	}
	c->batch = 0;
	if (c->probe != SZ_PROBE_COUNT)
		return;
	sz_watch_counts(w, collect, &b);
	if (b.oom) {
		free(b.v);
		return;
	}
	c->batch = x->seq;
	qsort(b.v, b.n, sizeof(*b.v), by_key);
	for (i = 0; i < b.n; i++) /* a pid retired and reused: one key, summed */
		if (n && b.v[n - 1].key == b.v[i].key)
			b.v[n - 1].calls += b.v[i].calls;
		else
			b.v[n++] = b.v[i];
	/* --metrics folds an exited process into pid 0's row (its whole count):
	 * per interval, what it had already shown is not new in pid 0's row */
	if (c->per_interval)
		fold_adjust(x, b.v, n);
	cli_fmt(c)->count_header(c);
	for (i = 0, j = 0; i < n; i++) {
		uint64_t calls = b.v[i].calls;

		while (j < x->nprev && x->prev[j].key < b.v[i].key)
			j++;
		if (c->per_interval) {
			if (j < x->nprev && x->prev[j].key == b.v[i].key)
				calls -= x->prev[j].calls;
			if (!(b.v[i].key >> 32)) {
				uint32_t sym = (uint32_t)b.v[i].key;
				uint64_t shown = sym < x->nfolded ? x->folded[sym] : 0;

				calls = calls > shown ? calls - shown : 0;
			}
			if (!calls)
				continue;
		}
		cli_fmt(c)->count(c, (pid_t)(b.v[i].key >> 32),
				  mx_name(&x->names, (int)(uint32_t)b.v[i].key), calls);
	}
	c->batch = 0;
	free(x->prev);
	x->prev = b.v;
	x->nprev = n;
	if (c->plat) { /* --count --latency: the histograms of the same batch */
		c->batch = x->seq;
		sz_watch_latency(w, lat_batch, c);
		c->batch = 0;
	}
	(void)now;
}
