// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for -s GLOB: any bytes as a file, then the selection by
 * globs over both symbol tables, the grouping of aliases and the registry of
 * ids (bounded small, so overflow runs too).  Must never crash or leak.
 */
#include "pipeline/symbols.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const reqs[] = { "*",	"fix_*",	 "[a-f]?x*",
					    "fix_func", "fix_ver@FIX_1", "no_such" };
	static struct sz_symbols *syms;
	struct sz_elf *e = NULL;
	struct sz_fsyms fs;
	struct sz_layout l;
	char err[128];
	int fd;

	if (!syms) {
		if (sz_symbols_new(reqs, sizeof(reqs) / sizeof(reqs[0]), &syms, NULL))
			abort();
		sz_symbols_set_max_ids(syms, 64);
	}
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (sz_elf_open(fd, &e, err, sizeof(err)) == 0) {
		sz_elf_layout(e, &l);
		if (sz_symbols_resolve(syms, e, &l, &fs) == 0) {
			for (size_t i = 0; i < fs.n; i++)
				if (fs.v[i].id != SZ_SYMID_NONE &&
				    !sz_symbols_name(syms, fs.v[i].id))
					abort();
			sz_fsyms_free(&fs);
		}
		sz_elf_close(e);
	}
	close(fd);
	return 0;
}
