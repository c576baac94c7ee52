// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the ELF core: any bytes as a file, then every lookup
 * path, the build-ID notes and the address arithmetic.  Must never crash.
 */
#include "elf/sz_elf.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int count_sym(const struct sz_elf_sym *s, void *ctx)
{
	(void)s;
	return ++*(int *)ctx > 100000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "fix_func", "fix_ver@FIX_1", "fix_ver@@FIX_2",
					     "fix_local", "malloc", "memcpy@GLIBC_2.2.5", "x" };
	struct sz_elf *e = NULL;
	struct sz_elf_sym sym;
	struct sz_layout l;
	const unsigned char *id;
	char err[128];
	size_t idlen;
	uint64_t v;
	int fd, n = 0;

	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (sz_elf_open(fd, &e, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			sz_elf_lookup(e, names[i], 0, &sym);
			sz_elf_lookup(e, names[i], SZ_LOOKUP_LINEAR, &sym);
		}
		sz_elf_for_each(e, SZ_TAB_DYNSYM, count_sym, &n);
		sz_elf_for_each(e, SZ_TAB_SYMTAB, count_sym, &n);
		sz_elf_build_id(e, &id, &idlen);
		sz_elf_layout(e, &l);
		for (size_t i = 0; i < l.nseg; i++) {
			sz_elf_load_bias(&l, 0x7f0000000000, 0x7f0000100000, l.seg[i].offset & ~4095ull,
					 PROT_READ | PROT_EXEC, 4096, &v);
			sz_elf_vaddr_to_offset(&l, l.seg[i].vaddr + 16, &v);
		}
		sz_elf_close(e);
	}
	close(fd);
	return 0;
}
