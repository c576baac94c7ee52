// SPDX-License-Identifier: BSD-2-Clause
/*
 * Loader of bench/hooks.bpf.c: attaches one hook variant, prints "ready", and
 * holds it until stdin closes; then prints "hits N".  bench/run.py times a
 * workload with and without it, in interleaved pairs.
 *   hooks btf|tp|tp-exit|lock|perf|perf-data|none
 * perf and perf-data load no BPF: one software perf event per CPU with
 * PERF_RECORD_MMAP2 records (executable mappings only, or every mapping), the
 * way perf(1) follows mappings; a thread reads the rings.  "hits" counts MMAP2
 * records then.
 *   hooks uprobe FILE FUNC    a uprobe on FUNC of FILE, every process (probe rows)
 */
#include "sources/tracefs.h"
#include "hooks.skel.h"

#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PERF_PAGES 64 /* data pages per CPU ring */

struct perf_ring {
	int fd;
	struct perf_event_mmap_page *meta;
	char *data;
};

static struct perf_ring rings[256];
static int nrings;
static volatile int perf_stop;
static unsigned long long perf_hits, perf_lost;

/* Drains every ring; records are only counted, as the cost of reading them. */
static void *perf_reader(void *arg)
{
	struct pollfd pfd[256];
	size_t size = PERF_PAGES * 4096UL;

	(void)arg;
	for (int i = 0; i < nrings; i++)
		pfd[i] = (struct pollfd){ .fd = rings[i].fd, .events = POLLIN };
	while (!perf_stop) {
		poll(pfd, nrings, 100);
		for (int i = 0; i < nrings; i++) {
			struct perf_event_mmap_page *m = rings[i].meta;
			__u64 head = __atomic_load_n(&m->data_head, __ATOMIC_ACQUIRE);
			__u64 tail = m->data_tail;

			while (tail < head) {
				struct perf_event_header h;
				size_t off = tail % size, n = sizeof(h);

				if (off + n <= size) {
					memcpy(&h, rings[i].data + off, n);
				} else {
					memcpy(&h, rings[i].data + off, size - off);
					memcpy((char *)&h + size - off, rings[i].data, n - (size - off));
				}
				if (h.type == PERF_RECORD_MMAP2)
					perf_hits++;
				else if (h.type == PERF_RECORD_LOST)
					perf_lost++;
				tail += h.size ? h.size : 8;
			}
			__atomic_store_n(&m->data_tail, tail, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

static int perf_open(int data)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);

	for (int c = 0; c < ncpu && c < 256; c++) {
		struct perf_event_attr a = {
			.size = sizeof(a),
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_DUMMY,
			.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME,
			.mmap = 1,
			.mmap2 = 1,
			.mmap_data = data,
			.comm = 1,
			.comm_exec = 1,
			.task = 1,
			.sample_id_all = 1,
			.watermark = 1,
			.wakeup_watermark = 16384,
		};
		int fd = (int)syscall(SYS_perf_event_open, &a, -1, c, -1, PERF_FLAG_FD_CLOEXEC);
		void *m;

		if (fd < 0) {
			perror("hooks: perf_event_open");
			return -1;
		}
		m = mmap(NULL, (PERF_PAGES + 1) * 4096UL, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			perror("hooks: mmap perf ring");
			return -1;
		}
		rings[nrings++] = (struct perf_ring){ fd, m, (char *)m + 4096 };
	}
	return 0;
}

static int perf_main(int data)
{
	pthread_t t;
	char buf[64];

	if (perf_open(data) || pthread_create(&t, NULL, perf_reader, NULL))
		return 1;
	printf("ready\n");
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	perf_stop = 1;
	pthread_join(t, NULL);
	printf("hits %llu lost %llu\n", perf_hits, perf_lost);
	return 0;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

int main(int argc, char **argv)
{
	struct hooks_bpf *s;
	const char *v = argc > 1 ? argv[1] : "";
	struct bpf_program *keep[2] = { 0 }, *p;
	struct bpf_link *links[2] = { 0 };
	char buf[64];
	int mounted, err;

	if (!strcmp(v, "perf") || !strcmp(v, "perf-data"))
		return perf_main(!strcmp(v, "perf-data"));
	libbpf_set_print(quiet);
	s = hooks_bpf__open();
	if (!s)
		return 1;
	if (!strcmp(v, "btf")) {
		keep[0] = s->progs.btf_enter;
		keep[1] = s->progs.btf_exit;
	} else if (!strcmp(v, "tp")) {
		keep[0] = s->progs.tp_enter;
		keep[1] = s->progs.tp_exit;
	} else if (!strcmp(v, "tp-exit")) {
		keep[0] = s->progs.tp_exit;
	} else if (!strcmp(v, "lock")) {
		keep[0] = s->progs.lock_rel;
	} else if (!strcmp(v, "uprobe") && argc == 4) {
		keep[0] = s->progs.uprobe_add;
	} else if (strcmp(v, "none")) {
		fprintf(stderr,
			"usage: hooks btf|tp|tp-exit|lock|perf|perf-data|none|uprobe FILE FUNC\n");
		return 2;
	}
	bpf_object__for_each_program(p, s->obj)
		bpf_program__set_autoload(p, p == keep[0] || p == keep[1]);
	if (keep[0] && !strncmp(bpf_program__section_name(keep[0]), "tp/", 3)) {
		err = sz_tracefs_ensure(&mounted);
		if (err) {
			fprintf(stderr, "hooks: cannot mount tracefs: %s\n", strerror(-err));
			return 1;
		}
	}
	if (hooks_bpf__load(s)) {
		fprintf(stderr, "hooks: load failed\n");
		return 1;
	}
	if (keep[0] == s->progs.uprobe_add) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = argv[3]);

		links[0] = bpf_program__attach_uprobe_opts(keep[0], -1, argv[2], 0, &uo);
		if (!links[0]) {
			fprintf(stderr, "hooks: uprobe %s:%s failed\n", argv[2], argv[3]);
			return 1;
		}
		keep[0] = NULL;
	}
	for (int i = 0; i < 2; i++)
		if (keep[i] && !(links[i] = bpf_program__attach(keep[i]))) {
			fprintf(stderr, "hooks: attach %s failed\n", bpf_program__name(keep[i]));
			return 1;
		}
	printf("ready\n");
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	printf("hits %llu\n", (unsigned long long)s->bss->hits);
	for (int i = 0; i < 2; i++)
		bpf_link__destroy(links[i]);
	hooks_bpf__destroy(s);
	return 0;
}
