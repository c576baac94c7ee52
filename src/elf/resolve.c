// SPDX-License-Identifier: BSD-2-Clause
/*
 * Offline resolution: one symbol in one file, no process involved.  Used by
 * `symbolyze resolve` and by anyone who wants a uprobe offset for a file.
 */
#include "pipeline/pipeline.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sz_resolve_file(const char *path, const char *symbol, struct sz_symbol_info *out)
{
	char err[160];
	struct stat st;
	struct sz_symbol_info info;
	struct sz_elf *e = NULL;
	struct sz_elf_sym sym;
	struct sz_layout l;
	const unsigned char *id;
	size_t idlen;
	int fd, r;

	if (!path || !symbol || !out || out->sz < sizeof(size_t))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		sz_log(SZ_LOG_ERROR, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		r = -ENOEXEC;
		sz_log(SZ_LOG_ERROR, "%s is not a regular file", path);
		goto out;
	}
	r = sz_elf_open(fd, &e, err, sizeof(err));
	if (r) {
		sz_log(SZ_LOG_ERROR, "%s: %s", path, err);
		goto out;
	}
	r = sz_elf_lookup(e, symbol, 0, &sym);
	if (r) {
		r = -ESRCH;
		sz_log(SZ_LOG_ERROR, "%s: symbol %s not found", path, symbol);
		goto out;
	}
	sz_elf_layout(e, &l);
	memset(&info, 0, sizeof(info));
	info.type = sz_sym_type_of(sym.type);
	info.bind = sym.bind;
	if (sym.version)
		snprintf(info.version, sizeof(info.version), "%s", sym.version);
	info.value = sym.value;
	info.size = sym.size;
	info.has_file_offset = !sz_elf_vaddr_to_offset(&l, sym.value, &info.file_offset);
	info.from_symtab = sym.table == SZ_TAB_SYMTAB;
	info.elf_type = l.e_type;
	if (sz_elf_build_id(e, &id, &idlen) == 0)
		for (size_t i = 0; i < idlen; i++)
			snprintf(info.build_id + 2 * i, 3, "%02x", id[i]);
	/* Copy only what the caller's (possibly older, smaller) struct holds. */
	info.sz = out->sz;
	memcpy(out, &info, out->sz < sizeof(info) ? out->sz : sizeof(info));
out:
	sz_elf_close(e);
	close(fd);
	return r;
}
