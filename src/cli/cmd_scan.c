// SPDX-License-Identifier: BSD-2-Clause
/*
 * `symbolyze scan`: one pass over /proc through the library's scanner,
 * records printed as they are found.
 */
#include "caps.h"
#include "cli.h"
#include "out.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int on_found(const struct sz_found *r, void *ctx)
{
	struct cli *c = ctx;

	cli_fmt(c)->found(c, r);
	/* A reader that went away ends the scan: nothing more can be shown. */
	return out_error() ? SZ_STOP : SZ_CONTINUE;
}

/* The exit status for a failed write: quiet for a closed pipe (as cat is). */
int cli_output_failed(void)
{
	int err = out_error();

	/* Every record given up is counted and said (a closed pipe excepted). */
	if (err && err != EPIPE)
		fprintf(stderr, "symbolyze: cannot write to stdout: %s; %llu records not written\n",
			strerror(err), (unsigned long long)out_unwritten());
	return err ? EXIT_OUTPUT : 0;
}

int cmd_scan(int argc, char **argv)
{
	struct cli c = { .cmd = "scan" };
	struct sz_stats st = { .sz = sizeof(st) };
	struct sz_scanner *s = NULL;
	int rc;

	rc = cli_parse(argc, argv, &c);
	if (rc >= 0)
		goto out;
	/* One process of one's own needs no capability; the host does. */
	if (!c.pid) {
		rc = sz_cli_check_caps(SZ_CLI_NEED_SCAN, c.json);
		if (rc)
			goto out;
	}
	rc = out_init(OUT_SYNC, 0);
	if (rc) {
		fprintf(stderr, "symbolyze: cannot set up output: %s\n", strerror(-rc));
		rc = EXIT_ENV;
		goto out;
	}
	SZ_OPTS(sz_scanner_opts, o, .glob = c.glob, .symbols = c.symbols, .nsymbols = c.nsymbols,
		.pid = c.pid, .usdt = c.usdt, .nusdt = c.nusdt);
	rc = sz_scanner_new(&o, &s);
	if (rc) {
		fprintf(stderr, "symbolyze: cannot scan: %s\n", strerror(-rc));
		rc = rc == -ENOMEM ? EXIT_ENV : EXIT_USAGE;
		goto out;
	}
	sz_scanner_on_found(s, on_found, &c);
	sz_scanner_on_problem(s, cli_on_problem, &c);
	rc = sz_scanner_scan(s);
	sz_scanner_stats(s, &st);
	sz_scanner_free(s);
	if (rc < 0) {
		fprintf(stderr, "symbolyze: cannot scan /proc: %s (is procfs mounted?)\n",
			strerror(-rc));
		rc = EXIT_ENV;
		goto out;
	}
	if (!out_error())
		cli_fmt(&c)->summary(&c, &st, NULL, 0);
	rc = cli_output_failed();
	if (rc)
		goto out;
	if (!st.processes && st.problems[SZ_REASON_PERMISSION]) {
		fprintf(stderr, "symbolyze: no process's memory map was readable: run as root "
				"(or with CAP_SYS_PTRACE, see symbolyze(8))\n");
		rc = EXIT_ENV;
		goto out;
	}
	rc = st.found ? 0 : EXIT_NOMATCH;
out:
	out_close(0);
	cli_free(&c);
	return rc;
}
