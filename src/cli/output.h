/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Output formatting for the CLI: names are hostile input (a file may be
 * called anything), so every name is escaped on the way out.
 */
#ifndef SZ_CLI_OUTPUT_H
#define SZ_CLI_OUTPUT_H

#include <stdio.h>
#include <stddef.h>

/* Escape NAME for one line of text: printable ASCII and valid UTF-8 pass,
 * '\\' becomes "\\\\", control bytes and invalid UTF-8 become "\\xNN".
 * Writes at most OUTSZ bytes including the NUL; returns OUT. */
char *sz_escape(const char *name, char *out, size_t outsz);

/* Write S as a JSON string (quotes included): escaped as by sz_escape, then
 * '"' and '\\' JSON-escaped, so the result is always valid JSON and UTF-8. */
void sz_json_str(FILE *f, const char *s);

#endif
