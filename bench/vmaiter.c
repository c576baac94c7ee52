// SPDX-License-Identifier: BSD-2-Clause
/*
 * Times the iter/task_vma prototype (bench/vmaiter.bpf.c) against reading every
 * /proc/PID/maps, for one glob:  vmaiter GLOB
 * Prints "iter_ms X records N vmas V procfs_ms Y lines L matches M".
 *   vmaiter --floor vma|touch|task   the kernel's walk alone: an iterator
 *   program that does nothing per VMA (vma), reads each VMA's flags and file
 *   (touch), or does nothing per task (task); prints "iter_ms X".
 *   vmaiter --floor split1|split2   iter/task walking each leader's VMAs with
 *   the open-coded VMA iterator: one iterator over every process, or two at
 *   once (two threads, each a load of its own) over the odd and even tgids.
 */
#include "util/glob.h"
#include "vmaiter.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

/* The /proc way: every maps file read whole, each line's base name matched. */
static void procfs(const struct sz_glob *g, long *lines, long *matches)
{
	static char buf[1 << 20];
	struct dirent *de;
	DIR *d = opendir("/proc");

	while (d && (de = readdir(d))) {
		char path[300];
		ssize_t n, off = 0;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/maps", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		while ((n = read(fd, buf + off, sizeof(buf) - 1 - (size_t)off)) > 0)
			off += n;
		close(fd);
		buf[off] = '\0';
		for (char *l = buf, *e; l && *l; l = e ? e + 1 : NULL) {
			char *slash;

			e = strchr(l, '\n');
			if (e)
				*e = '\0';
			(*lines)++;
			slash = strrchr(l, '/');
			if (slash && sz_glob_match(g, slash + 1, strlen(slash + 1)))
				(*matches)++;
		}
	}
	if (d)
		closedir(d);
}

/* Attach PROG's iterator, read it to the end: the milliseconds it took, or -1. */
static double run_iter(struct bpf_program *prog, long *bytes)
{
	struct bpf_link *link;
	static char buf[1 << 16];
	double t0 = now_ms();
	ssize_t n;
	int fd;

	link = bpf_program__attach_iter(prog, NULL);
	fd = link ? bpf_iter_create(bpf_link__fd(link)) : -1;
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		*bytes += n;
	close(fd);
	t0 = now_ms() - t0;
	bpf_link__destroy(link);
	return n < 0 ? -1 : t0;
}

struct split {
	struct vmaiter_bpf *s;
	pthread_barrier_t *go;
	long bytes;
	double ms;
};

static void *split_run(void *arg)
{
	struct split *sp = arg;

	pthread_barrier_wait(sp->go);
	sp->ms = run_iter(sp->s->progs.split_vma, &sp->bytes);
	return NULL;
}

/* PARTS loads of split_vma, each walking the leaders whose tgid % PARTS is
 * its part, run at once: the wall time from the start to the last end. */
static int split_mode(unsigned parts)
{
	struct split sp[2] = {};
	pthread_t tid[2];
	pthread_barrier_t go;
	double t0, t;
	int bad = 0;

	pthread_barrier_init(&go, NULL, parts + 1);
	for (unsigned i = 0; i < parts; i++) {
		struct bpf_program *p;

		sp[i].s = vmaiter_bpf__open();
		if (!sp[i].s)
			return 1;
		bpf_object__for_each_program(p, sp[i].s->obj)
			bpf_program__set_autoload(p, p == sp[i].s->progs.split_vma);
		if (vmaiter_bpf__load(sp[i].s))
			return 1;
		sp[i].s->bss->part = i;
		sp[i].s->data->parts = parts;
		sp[i].go = &go;
		if (pthread_create(&tid[i], NULL, split_run, &sp[i]))
			return 1;
	}
	t0 = now_ms();
	pthread_barrier_wait(&go);
	for (unsigned i = 0; i < parts; i++) {
		pthread_join(tid[i], NULL);
		bad |= sp[i].ms < 0;
	}
	t = now_ms() - t0;
	if (bad)
		return 1;
	printf("iter_ms %.3f", t);
	for (unsigned i = 0; i < parts; i++) {
		printf(" part%u_ms %.3f part%u_vmas %llu", i, sp[i].ms, i,
		       (unsigned long long)sp[i].s->bss->touched);
		vmaiter_bpf__destroy(sp[i].s);
	}
	printf("\n");
	return 0;
}

static int floor_mode(const char *what)
{
	struct vmaiter_bpf *s;
	struct bpf_program *keep, *p;
	long bytes = 0;
	double t;

	if (!strcmp(what, "split1") || !strcmp(what, "split2"))
		return split_mode(what[5] - '0');
	s = vmaiter_bpf__open();
	if (!s)
		return 1;
	keep = !strcmp(what, "vma")	? s->progs.empty_vma
	       : !strcmp(what, "touch") ? s->progs.touch_vma
	       : !strcmp(what, "task")	? s->progs.empty_task
					: NULL;
	if (!keep)
		return 2;
	bpf_object__for_each_program(p, s->obj)
		bpf_program__set_autoload(p, p == keep);
	if (vmaiter_bpf__load(s))
		return 1;
	t = run_iter(keep, &bytes);
	if (t < 0)
		return 1;
	printf("iter_ms %.3f touched %llu\n", t, (unsigned long long)s->bss->touched);
	vmaiter_bpf__destroy(s);
	return 0;
}

int main(int argc, char **argv)
{
	struct vmaiter_bpf *s;
	struct bpf_link *link;
	struct sz_glob g;
	char buf[1 << 16];
	long records = 0, lines = 0, matches = 0;
	double t0, t_iter, t_proc;
	ssize_t n;
	int fd;

	libbpf_set_print(quiet);
	if (argc == 3 && !strcmp(argv[1], "--floor"))
		return floor_mode(argv[2]);
	if (argc != 2 || sz_glob_compile(argv[1], &g))
		return 2;
	s = vmaiter_bpf__open();
	if (!s)
		return 1;
	bpf_program__set_autoload(s->progs.empty_vma, false);
	bpf_program__set_autoload(s->progs.touch_vma, false);
	bpf_program__set_autoload(s->progs.empty_task, false);
	bpf_program__set_autoload(s->progs.split_vma, false);
	memcpy((void *)&s->rodata->glob, &g, sizeof(g));
	if (vmaiter_bpf__load(s))
		return 1;
	t0 = now_ms();
	link = bpf_program__attach_iter(s->progs.scan_vmas, NULL);
	fd = link ? bpf_iter_create(bpf_link__fd(link)) : -1;
	if (fd < 0)
		return 1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		records += n / 48;
	close(fd);
	t_iter = now_ms() - t0;
	t0 = now_ms();
	procfs(&g, &lines, &matches);
	t_proc = now_ms() - t0;
	printf("iter_ms %.3f records %ld vmas %llu procfs_ms %.3f lines %ld matches %ld\n", t_iter,
	       records, (unsigned long long)s->bss->vmas, t_proc, lines, matches);
	bpf_link__destroy(link);
	vmaiter_bpf__destroy(s);
	return 0;
}
