// SPDX-License-Identifier: BSD-2-Clause
/*
 * The one reason table: names for output, and the one mapping from a
 * negative errno to the reason a problem is counted under, whichever source
 * or step met it.
 */
#include "pipeline/pipeline.h"

#include <errno.h>

static const char *const reason_names[SZ_REASON_COUNT] = {
	[SZ_REASON_VANISHED] = "vanished", [SZ_REASON_PERMISSION] = "permission",
	[SZ_REASON_NOT_ELF] = "not-elf",   [SZ_REASON_SYMBOL_ABSENT] = "symbol-absent",
	[SZ_REASON_LAYOUT] = "layout",	   [SZ_REASON_IO] = "io",
	[SZ_REASON_PATH] = "path",	   [SZ_REASON_PROBE] = "probe",
};

const char *sz_reason_str(enum sz_reason r)
{
	return (unsigned)r < SZ_REASON_COUNT ? reason_names[r] : "unknown";
}

/* Names of enum sz_lost_reason, as the CLI prints them (`lost` events, summary). */
const char *sz_lost_reason_str(enum sz_lost_reason r)
{
	switch (r) {
	case SZ_LOST_RING_FULL:
		return "ring_full";
	case SZ_LOST_SEEN_FULL:
		return "seen_full";
	case SZ_LOST_VMA_BUSY:
		return "vma_busy";
	}
	return "unknown";
}

enum sz_reason sz_reason_of(int err)
{
	switch (err) {
	case -ESRCH:
	case -ENOENT:
	case -ESTALE: /* the file behind the path is no longer the one mapped */
		return SZ_REASON_VANISHED;
	case -EACCES:
	case -EPERM:
		return SZ_REASON_PERMISSION;
	case -ENOEXEC:
		return SZ_REASON_NOT_ELF;
	case -ENAMETOOLONG:
		return SZ_REASON_PATH;
	}
	return SZ_REASON_IO;
}

const char *sz_sym_type_str(enum sz_sym_type t)
{
	static const char *const names[] = { "notype", "func",	 "object", "ifunc",
					     "tls",    "common", "other", "usdt" };

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "other";
}

const char *sz_source_str(enum sz_source s)
{
	switch (s) {
	case SZ_SOURCE_SCAN:
		return "scan";
	case SZ_SOURCE_EXEC:
		return "exec";
	case SZ_SOURCE_MMAP:
		return "mmap";
	case SZ_SOURCE_FORK:
		return "fork";
	}
	return "unknown";
}

enum sz_sym_type sz_sym_type_of(unsigned char stt)
{
	switch (stt) {
	case STT_NOTYPE:
		return SZ_SYM_NOTYPE;
	case STT_FUNC:
		return SZ_SYM_FUNC;
	case STT_OBJECT:
		return SZ_SYM_OBJECT;
	case STT_GNU_IFUNC:
		return SZ_SYM_IFUNC;
	case STT_TLS:
		return SZ_SYM_TLS;
	case STT_COMMON:
		return SZ_SYM_COMMON;
	}
	return SZ_SYM_OTHER;
}
