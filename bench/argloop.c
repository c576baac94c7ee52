// SPDX-License-Identifier: BSD-2-Clause
/*
 * Workload for the cost of --arg (bench/stacks_bench.py): N calls of al_str(s, i), whose
 * argument 0 is a 43-byte string, or N calls of al_buf(i, p, 64), whose argument 1
 * points to 64 bytes; the loop timed.
 *   argloop N str|buf   prints "loaded PID", waits for a line on stdin (probes attached),
 *                       makes the calls, prints "done PID NS" and exits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile long al_sink;

__attribute__((noipa)) long al_str(const char *s, long tag)
{
	al_sink += tag + (s != 0);
	return al_sink;
}

__attribute__((noipa)) long al_buf(long tag, const void *p, long n)
{
	al_sink += tag + n - (p == 0);
	return al_sink;
}

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ll + t.tv_nsec;
}

int main(int argc, char **argv)
{
	static const char str[] = "GET /index.html HTTP/1.1\r\nHost: example.com";
	unsigned char buf[64];
	long long t0, t1;
	char line[64];
	long n;

	if (argc != 3 || (strcmp(argv[2], "str") && strcmp(argv[2], "buf")))
		return 2;
	n = atol(argv[1]);
	for (int i = 0; i < 64; i++)
		buf[i] = (unsigned char)(i * 37);
	printf("loaded %d\n", (int)getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	t0 = now_ns();
	if (argv[2][0] == 's')
		for (long i = 0; i < n; i++)
			al_str(str, i);
	else
		for (long i = 0; i < n; i++)
			al_buf(i, buf, sizeof(buf));
	t1 = now_ns();
	printf("done %d %lld\n", (int)getpid(), t1 - t0);
	fflush(stdout);
	return 0;
}
