// SPDX-License-Identifier: BSD-2-Clause
/*
 * Benchmark workloads, timed from inside so process start-up does not blur
 * the figure:
 *   workload mmap FILE N     N x (mmap FILE read-only, touch, munmap)
 *   workload mmapx FILE N    the same mapped PROT_EXEC (a perf MMAP2 record each)
 *   workload exec N          N x (fork, exec /bin/true, wait)
 *   workload getppid N       N x getppid(2): the syscall-heavy floor
 *   workload pipe N          N x (write 1 byte to a pipe, read it back)
 *   workload dlopen LIB N    N children, each dlopen()s LIB and prints
 *                            "PID CLOCK_MONOTONIC-ns-after-dlopen-returned"
 * Prints the elapsed seconds on the last line as "elapsed S".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double t0;

	if (argc < 3)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	t0 = now();
	if ((!strcmp(argv[1], "mmap") || !strcmp(argv[1], "mmapx")) && argc == 4) {
		int prot = argv[1][4] == 'x' ? PROT_READ | PROT_EXEC : PROT_READ;
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		long n = atol(argv[3]);
		volatile char sink;

		if (fd < 0)
			return 1;
		for (long i = 0; i < n; i++) {
			char *p = mmap(NULL, 4096, prot, MAP_PRIVATE, fd, 0);

			if (p == MAP_FAILED)
				return 1;
			sink = p[0];
			munmap(p, 4096);
		}
		(void)sink;
	} else if (!strcmp(argv[1], "exec")) {
		long n = atol(argv[2]);

		for (long i = 0; i < n; i++) {
			pid_t pid = fork();
			int st;

			if (pid == 0) {
				execl("/bin/true", "true", (char *)NULL);
				_exit(127);
			}
			if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
				return 1;
		}
	} else if (!strcmp(argv[1], "getppid")) {
		long n = atol(argv[2]);

		for (long i = 0; i < n; i++)
			syscall(SYS_getppid); /* glibc might cache it one day */
	} else if (!strcmp(argv[1], "pipe")) {
		long n = atol(argv[2]);
		int fds[2];
		char c = 'x';

		if (pipe(fds))
			return 1;
		for (long i = 0; i < n; i++)
			if (write(fds[1], &c, 1) != 1 || read(fds[0], &c, 1) != 1)
				return 1;
	} else if (!strcmp(argv[1], "dlopen") && argc == 4) {
		long n = atol(argv[3]);

		for (long i = 0; i < n; i++) {
			pid_t pid = fork();
			int st;

			if (pid == 0) {
				struct timespec ts;

				if (!dlopen(argv[2], RTLD_NOW | RTLD_LOCAL))
					_exit(1);
				clock_gettime(CLOCK_MONOTONIC, &ts);
				printf("%d %lld\n", (int)getpid(),
				       (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec);
				/* Stay a moment, as a real process would. */
				usleep(2000);
				_exit(0);
			}
			if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
				return 1;
			usleep(1000);
		}
	} else {
		return 2;
	}
	printf("elapsed %.6f\n", now() - t0);
	return 0;
}
