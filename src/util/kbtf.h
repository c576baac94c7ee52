/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A minimal copy of the running kernel's BTF, made in one pass over
 * /sys/kernel/btf/vmlinux, for libbpf's CO-RE relocations (btf_custom_path):
 * only the types our programs relocate against, with what they embed.
 * libbpf 1.1 otherwise parses all ~126,000 kernel types and searches them once
 * per relocated type: most of a watch's start-up (bench/NOTES.md, issue 10).
 *
 * kbtf.c is pure (buffers in, buffer out; fuzz/fuzz_kbtf.c); kbtf_load.c keeps
 * the process's copy in a memfd and hands libbpf its path and attach targets.
 */
#ifndef SZ_KBTF_H
#define SZ_KBTF_H

#include <stddef.h>
#include <stdint.h>

struct bpf_object_open_opts;
struct bpf_program;

/* A type whose definition a CO-RE relocation needs: its BTF kind and its
 * "essential" name (libbpf's: without a ___flavor suffix). */
struct sz_kbtf_root {
	uint32_t kind;
	char name[64];
};

/* A named kernel type looked up by exact name and kind (attach targets such
 * as FUNC bpf_iter_task_vma); id 0 when the kernel has none. */
struct sz_kbtf_want {
	uint32_t kind;
	const char *name;
	uint32_t id;
};

/* The CO-RE roots of an eBPF ELF object (from its .BTF and .BTF.ext),
 * appended to ROOTS[*N..MAX) without duplicates.  -EPROTO on a malformed
 * object, -E2BIG when MAX is too small. */
int sz_kbtf_roots(const void *elf, size_t size, struct sz_kbtf_root *roots, size_t *n,
		  size_t max);

/* From the kernel's BTF (BTF, LEN bytes), a BTF holding every type of kind
 * and essential name in ROOTS, with every type they embed (members, arrays,
 * typedefs, modifiers); pointers point to void.  Fills WANT[].id.  *OUT is
 * malloc'ed.  -EPROTO on a malformed or unknown BTF (the caller then lets
 * libbpf read the kernel's BTF itself). */
int sz_kbtf_build(const void *btf, size_t len, const struct sz_kbtf_root *roots, size_t nroots,
		  struct sz_kbtf_want *want, size_t nwant, void **out, size_t *out_len);

/* ---- kbtf_load.c: the process's minimal BTF ---- */

/* Before opening an object (ELF, SIZE: its skeleton's bytes) with OPTS:
 * point OPTS->btf_custom_path at a minimal BTF that covers its relocations
 * (and those of EXTRA objects, built together to save a pass), made once per
 * process and remade only for new roots.  Leaves OPTS alone when it cannot
 * (no /sys/kernel/btf/vmlinux, unknown BTF, SYMBOLYZE_KBTF=off): libbpf then
 * works as before.  Never fails. */
struct sz_kbtf_obj {
	const void *elf;
	size_t size;
};
void sz_kbtf_open_opts(struct bpf_object_open_opts *opts, const struct sz_kbtf_obj *objs,
		       size_t n);

/* For a program in SEC("sz_iter/NAME") (an iter/NAME program whose attach
 * target we find ourselves): set it up so libbpf need not load the kernel's
 * BTF.  0, or a negative errno. */
int sz_kbtf_iter_prepare(struct bpf_program *prog, const char *name);

/* After a load against our copy failed: libbpf's own way from now on. */
void sz_kbtf_disable(void);

#endif
