// SPDX-License-Identifier: BSD-2-Clause
/*
 * Issue 11's choice for --stacks=fp, measured (bench/stacks_bench.py prints the rows):
 *   stackcap cap ROUNDS N DEPTH...  per hit, plain addresses (bpf_get_stack) against the
 *       kernel's build-ID form (BPF_F_USER_BUILD_ID), on a uprobe on sc_probed in this very
 *       process, reached N times through DEPTH + 1 frame-pointer frames of sc_chain; the
 *       variants off (no probe), empty, ips, buildid, ring (ips + a 1,216-byte ring record
 *       per hit, as --stacks=fp sends, its reader woken per record) and ring-nowake (the
 *       same, BPF_RB_NO_WAKEUP, read every 10 ms) interleaved in every round.  Prints
 *       "round R DEPTH VARIANT NS" per loop, and what the last capture held.
 *   stackcap maps PID...  what we do instead of the build-ID form: the time
 *       sz_stacks_seen() takes to record every mapping of each PID (the first ones open
 *       and parse their files; later ones of the same binaries find them cached).
 * Built with frame pointers, so both forms walk the same frames.
 */
#include "consumers/stacks.h"
#include "stackcap.skel.h"

#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile long sc_sink;

__attribute__((noipa)) long sc_probed(long x)
{
	sc_sink += x;
	return sc_sink;
}

__attribute__((noipa)) long sc_chain(long d, long x)
{
	long r = d ? sc_chain(d - 1, x) : sc_probed(x);

	return r ^ d; /* not a tail call, and nothing the compiler can accumulate */
}

/* stackcap.bpf.c's per-CPU record, as the kernel fills it */
struct scratch {
	__s64 n;
	__u64 ips[127];
	struct bpf_stack_build_id ids[127];
};

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ll + t.tv_nsec;
}

static long long timed_loop(long n, long depth)
{
	long long t0 = now_ns();

	for (long i = 0; i < n; i++)
		sc_chain(depth, i);
	return now_ns() - t0;
}

/* What the last hit on each CPU captured: frames, and in build-ID form how many frames
 * the kernel gave as build-ID + offset and how many fell back to a bare address. */
static void last_capture(struct stackcap_bpf *s, long depth, const char *variant)
{
	int ncpu = libbpf_num_possible_cpus(), valid = 0, ip = 0, frames = -1;
	size_t sz = sizeof(struct scratch);
	unsigned char *all;
	__u32 zero = 0;

	if (ncpu <= 0 || !(all = calloc(ncpu, sz)))
		return;
	if (!bpf_map__lookup_elem(s->maps.scratch, &zero, sizeof(zero), all, ncpu * sz, 0)) {
		for (int c = 0; c < ncpu; c++) {
			struct scratch *r = (struct scratch *)(all + c * sz);

			if (r->n <= 0)
				continue;
			if (!strcmp(variant, "ips")) {
				frames = (int)(r->n / sizeof(r->ips[0]));
				break;
			}
			frames = (int)(r->n / sizeof(r->ids[0]));
			valid = ip = 0;
			for (int i = 0; i < frames && i < 127; i++) {
				valid += r->ids[i].status == BPF_STACK_BUILD_ID_VALID;
				ip += r->ids[i].status == BPF_STACK_BUILD_ID_IP;
			}
			if (!ip)
				break;
		}
	}
	free(all);
	printf("last %ld %s frames %d build_id %d ip %d\n", depth, variant, frames, valid, ip);
}

static atomic_int reader_stop;
static unsigned long long ring_read;

static int on_rec(void *ctx, void *data, size_t size)
{
	ring_read++;
	return 0;
}

/* The ring's reader, as the watch's: woken by the kernel per record, and (for records sent
 * without a wakeup) draining every 10 ms. */
static void *reader(void *arg)
{
	struct ring_buffer *rb = arg;

	while (!atomic_load(&reader_stop)) {
		ring_buffer__poll(rb, 10);
		ring_buffer__consume(rb);
	}
	ring_buffer__consume(rb);
	return NULL;
}

static void clear_scratch(struct stackcap_bpf *s)
{
	int ncpu = libbpf_num_possible_cpus();
	void *zeros;
	__u32 zero = 0;

	if (ncpu <= 0 || !(zeros = calloc(ncpu, sizeof(struct scratch))))
		return;
	bpf_map__update_elem(s->maps.scratch, &zero, sizeof(zero), zeros,
			     ncpu * sizeof(struct scratch), 0);
	free(zeros);
}

static int cap(int argc, char **argv)
{
	static const char *const variants[] = { "off",	   "empty", "ips",
						"buildid", "ring",  "ring-nowake" };
	long rounds = atol(argv[2]), n = atol(argv[3]);
	struct bpf_program *progs[6];
	struct ring_buffer *rb;
	pthread_t th;
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "sc_probed");
	struct stackcap_bpf *s;
	char exe[4096];
	ssize_t len;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		return 1;
	exe[len] = 0;
	s = stackcap_bpf__open_and_load();
	if (!s) {
		fprintf(stderr, "stackcap: load failed\n");
		return 1;
	}
	progs[0] = NULL;
	progs[1] = s->progs.cap_empty;
	progs[2] = s->progs.cap_ips;
	progs[3] = s->progs.cap_buildid;
	progs[4] = s->progs.cap_ring;
	progs[5] = s->progs.cap_ring_nowake;
	rb = ring_buffer__new(bpf_map__fd(s->maps.ring), on_rec, NULL, NULL);
	if (!rb || pthread_create(&th, NULL, reader, rb)) {
		fprintf(stderr, "stackcap: no ring reader\n");
		return 1;
	}
	for (long r = 0; r < rounds; r++) {
		for (int a = 4; a < argc; a++) {
			long depth = atol(argv[a]);

			for (int v = 0; v < 6; v++) {
				struct bpf_link *l = NULL;

				clear_scratch(s); /* last_capture() reads this variant's only */
				if (progs[v]) {
					l = bpf_program__attach_uprobe_opts(progs[v], getpid(), exe,
									    0, &uo);
					if (!l) {
						fprintf(stderr, "stackcap: attach %s failed\n",
							variants[v]);
						return 1;
					}
				}
				printf("round %ld %ld %s %lld\n", r, depth, variants[v],
				       timed_loop(n, depth));
				bpf_link__destroy(l);
				if ((v == 2 || v == 3) && r == rounds - 1)
					last_capture(s, depth, variants[v]);
			}
		}
	}
	atomic_store(&reader_stop, 1);
	pthread_join(th, NULL);
	printf("hits %llu errors %llu ring_read %llu ring_drops %llu\n",
	       (unsigned long long)s->bss->hits, (unsigned long long)s->bss->errors, ring_read,
	       (unsigned long long)s->bss->ring_drops);
	ring_buffer__free(rb);
	stackcap_bpf__destroy(s);
	return 0;
}

static const char *no_name(const void *ctx, uint32_t id)
{
	return "x";
}

static int maps(int argc, char **argv)
{
	struct sz_stacks *st;

	if (sz_stacks_new_named(SZ_STACKS_FP, 1, NULL, no_name, NULL, &st))
		return 1;
	for (int a = 2; a < argc; a++) {
		long long t0 = now_ns();

		sz_stacks_seen(st, (pid_t)atoi(argv[a]));
		printf("maps %s %lld\n", argv[a], now_ns() - t0);
	}
	sz_stacks_free(st);
	return 0;
}

int main(int argc, char **argv)
{
	libbpf_set_print(quiet);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 5 && !strcmp(argv[1], "cap"))
		return cap(argc, argv);
	if (argc >= 3 && !strcmp(argv[1], "maps"))
		return maps(argc, argv);
	fprintf(stderr, "usage: stackcap cap ROUNDS N DEPTH... | stackcap maps PID...\n");
	return 2;
}
