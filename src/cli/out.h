/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The CLI's stdout: records are formatted into a buffer (out_begin returns a
 * FILE to format into, out_end hands the record over) and written whole.
 * Sync mode writes at once (scan, resolve); async mode queues for a writer
 * thread, so the event loop (resume frozen processes, drain the ring, attach
 * probes) never blocks on a slow reader: a full queue drops the record and
 * counts it.  A write error stops output for good and is reported once.
 */
#ifndef SZ_CLI_OUT_H
#define SZ_CLI_OUT_H

#include <stdint.h>
#include <stdio.h>

enum out_mode { OUT_SYNC, OUT_ASYNC };

int out_init(enum out_mode mode, size_t max_queued_bytes);
/* True between out_init and out_close. */
int out_active(void);
FILE *out_begin(void);
void out_end(void);
/* Async mode: out_end() keeps the records of one batch of the event loop;
 * this hands them to the writer (one lock, one wake-up).  The event loop
 * calls it when a batch is done, before it waits again. */
void out_flush(void);
/* 0, or the positive errno of the write that failed (EPIPE: reader gone). */
int out_error(void);
uint64_t out_dropped(void);
/* Records not written because stdout failed (the failed one and every one
 * after it): final once out_close() returned. */
uint64_t out_unwritten(void);
/* True (and out_error() EPIPE from then on) if stdout is a pipe or socket
 * whose reader has gone, even with nothing to write: a watch with no news
 * must still end when `| head -1` has read its line. */
int out_reader_gone(void);
/* Flush what is queued, waiting at most TIMEOUT_MS; returns the records
 * left unwritten. */
uint64_t out_close(int timeout_ms);

#endif
