/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libmicrohttpd, opened with dlopen() when --metrics is given: without it the
 * watch does not map libmicrohttpd and GnuTLS with its nine libraries (~2.5 MiB
 * of resident set, issue 10).  metrics_http.c calls the MHD_* names as usual;
 * they resolve to the pointers filled by sz_mhd_load().
 */
#ifndef SZ_CLI_MHD_DL_H
#define SZ_CLI_MHD_DL_H

#include <microhttpd.h>

struct sz_mhd {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_get_daemon_info) *get_daemon_info;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
};

extern struct sz_mhd sz_mhd;

/* Open the library and fill sz_mhd (once): 0, or -ENOENT with WHY (size
 * LEN) saying what was missing. */
int sz_mhd_load(char *why, size_t len);

#define MHD_start_daemon sz_mhd.start_daemon
#define MHD_stop_daemon sz_mhd.stop_daemon
#define MHD_get_daemon_info sz_mhd.get_daemon_info
#define MHD_create_response_from_buffer sz_mhd.create_response_from_buffer
#define MHD_add_response_header sz_mhd.add_response_header
#define MHD_queue_response sz_mhd.queue_response
#define MHD_destroy_response sz_mhd.destroy_response

#endif
