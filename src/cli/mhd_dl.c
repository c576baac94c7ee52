// SPDX-License-Identifier: BSD-2-Clause
/*
 * dlopen() of libmicrohttpd for --metrics (see mhd_dl.h): the package still
 * depends on it (debian/control), the command maps it only when serving.
 */
#include "mhd_dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The soname of the ABI microhttpd.h describes (Debian: libmicrohttpd12). */
#define MHD_SONAME "libmicrohttpd.so.12"

struct sz_mhd sz_mhd;
static void *mhd_handle; /* kept open: the daemon's thread runs its code */

/* POSIX's way to store a dlsym() result in a function pointer. */
#define SZ_MHD_SYM(h, field, ok) \
	((ok) && (*(void **)&sz_mhd.field = dlsym(h, "MHD_" #field)) != NULL)

int sz_mhd_load(char *why, size_t len)
{
	void *h;
	int ok = 1;

	if (sz_mhd.start_daemon)
		return 0;
	h = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, len, "%s", dlerror());
		return -ENOENT;
	}
	ok = SZ_MHD_SYM(h, start_daemon, ok);
	ok = SZ_MHD_SYM(h, stop_daemon, ok);
	ok = SZ_MHD_SYM(h, get_daemon_info, ok);
	ok = SZ_MHD_SYM(h, create_response_from_buffer, ok);
	ok = SZ_MHD_SYM(h, add_response_header, ok);
	ok = SZ_MHD_SYM(h, queue_response, ok);
	ok = SZ_MHD_SYM(h, destroy_response, ok);
	if (!ok) {
		snprintf(why, len, "%s: a function is missing", MHD_SONAME);
		memset(&sz_mhd, 0, sizeof(sz_mhd));
		dlclose(h);
		return -ENOENT;
	}
	mhd_handle = h;
	return 0;
}
