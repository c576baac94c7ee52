// SPDX-License-Identifier: BSD-2-Clause
/*
 * The process's minimal kernel BTF (kbtf.h): made once from
 * /sys/kernel/btf/vmlinux for the objects we load, kept in a memfd whose
 * /proc/self/fd path libbpf reads as btf_custom_path, and the iterator's attach
 * target found in the same pass, through a custom section handler
 * ("sz_iter/"), so that libbpf never parses the kernel's whole BTF.
 */

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/btf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc/maps.h" /* sz_read_file */
#include "util/kbtf.h"
#include "util/log.h"

#define KBTF_VMLINUX "/sys/kernel/btf/vmlinux"
#define KBTF_MAX_ROOTS 128
#define KBTF_MAX_SIZE (256u << 20) /* a kernel BTF above this is not one */
#define ITER_PREFIX "bpf_iter_"

static pthread_mutex_t kbtf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sz_kbtf_root kbtf_roots[KBTF_MAX_ROOTS];
static size_t kbtf_nroots;
static char kbtf_path[64];    /* of the newest memfd; "" when none */
static int kbtf_fd = -1;      /* that memfd (older ones stay open: a path handed out stays good) */
static int kbtf_failed;       /* the kernel's BTF cannot be read or parsed */
static struct sz_kbtf_want kbtf_want[] = { { BTF_KIND_FUNC, ITER_PREFIX "task_vma", 0 } };
static pthread_once_t kbtf_once = PTHREAD_ONCE_INIT;
static int kbtf_handler_err;

/* The kernel's BTF: mapped where the kernel allows it (6.16+: no copy, no
 * fresh memory to fault in), else read.  *MAPPED says which to undo. */
static int get_btf(const char *path, void **out, size_t *len, int *mapped)
{
	struct stat st;
	char *buf;
	ssize_t n;
	void *p;
	int fd;

	*mapped = 0;
	/* [test] SYMBOLYZE_TEST_KBTF_READ: the older kernels' way (test_kbtf.py) */
	fd = getenv("SYMBOLYZE_TEST_KBTF_READ") ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 &&
	    (size_t)st.st_size < KBTF_MAX_SIZE) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			close(fd);
			*out = p;
			*len = (size_t)st.st_size;
			*mapped = 1;
			return 0;
		}
	}
	if (fd >= 0)
		close(fd);
	n = sz_read_file(AT_FDCWD, path, KBTF_MAX_SIZE, &buf);
	if (n < 0)
		return (int)n;
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/* A new minimal BTF for the roots now known, in a memfd of its own (a path
 * handed out before stays valid: libbpf reads it at load). */
static int rebuild(void)
{
	void *kern = NULL, *min = NULL;
	size_t klen = 0, mlen = 0;
	int fd, err, mapped;

	err = get_btf(KBTF_VMLINUX, &kern, &klen, &mapped);
	if (err)
		return err;
	/* [test] a copy without any type: every load against it fails, and the
	 * watch must fall back to libbpf's own reading (test_kbtf.py) */
	err = sz_kbtf_build(kern, klen, kbtf_roots,
			    getenv("SYMBOLYZE_TEST_KBTF_EMPTY") ? 0 : kbtf_nroots, kbtf_want,
			    sizeof(kbtf_want) / sizeof(kbtf_want[0]), &min, &mlen);
	if (mapped)
		munmap(kern, klen);
	else
		free(kern);
	if (err)
		return err;
	fd = memfd_create("symbolyze-kbtf", MFD_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	for (size_t done = 0; done < mlen;) {
		ssize_t w = write(fd, (char *)min + done, mlen - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			close(fd);
			goto out;
		}
		done += (size_t)w;
	}
	snprintf(kbtf_path, sizeof(kbtf_path), "/proc/self/fd/%d", fd);
	kbtf_fd = fd;
	if (access(kbtf_path, R_OK)) { /* no /proc: let libbpf read the kernel's */
		err = -errno;
		kbtf_path[0] = '\0';
		kbtf_fd = -1;
		close(fd);
	}
	sz_log(SZ_LOG_DEBUG, "kernel BTF: %zu bytes for %zu types", mlen, kbtf_nroots);
out:
	free(min);
	return err;
}

static int iter_prepare_load(struct bpf_program *prog, struct bpf_prog_load_opts *opts,
			     long cookie)
{
	const char *sec = bpf_program__section_name(prog), *name;

	(void)cookie;
	opts->attach_prog_fd = 0; /* set only to keep libbpf off the kernel's BTF */
	if (opts->attach_btf_id)
		return 0; /* found by libbpf (sz_kbtf_iter_prepare's fallback) */
	name = sec ? strchr(sec, '/') : NULL;
	pthread_mutex_lock(&kbtf_lock);
	for (size_t i = 0; name && i < sizeof(kbtf_want) / sizeof(kbtf_want[0]); i++)
		if (!strcmp(kbtf_want[i].name + strlen(ITER_PREFIX), name + 1))
			opts->attach_btf_id = kbtf_want[i].id;
	pthread_mutex_unlock(&kbtf_lock);
	return opts->attach_btf_id ? 0 : -ESRCH;
}

static void register_handler(void)
{
	LIBBPF_OPTS(libbpf_prog_handler_opts, ho, .prog_prepare_load_fn = iter_prepare_load);
	int id = libbpf_register_prog_handler("sz_iter/", BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER,
					      &ho);

	kbtf_handler_err = id < 0 ? id : 0;
}

static int kbtf_off(void)
{
	const char *e = getenv("SYMBOLYZE_KBTF");

	return e && !strcmp(e, "off");
}

void sz_kbtf_open_opts(struct bpf_object_open_opts *opts, const struct sz_kbtf_obj *objs,
		       size_t n)
{
	size_t before;
	int err = 0;

	pthread_once(&kbtf_once, register_handler);
	if (kbtf_off())
		return;
	pthread_mutex_lock(&kbtf_lock);
	before = kbtf_nroots;
	for (size_t i = 0; !err && i < n; i++)
		err = sz_kbtf_roots(objs[i].elf, objs[i].size, kbtf_roots, &kbtf_nroots,
				    KBTF_MAX_ROOTS);
	if (err) {
		kbtf_nroots = before;
		sz_log(SZ_LOG_DEBUG, "cannot read our BPF objects' CO-RE types: %s",
		       strerror(-err));
	} else if (!kbtf_failed && (kbtf_nroots != before || !kbtf_path[0])) {
		err = rebuild();
		if (err) {
			kbtf_failed = 1;
			kbtf_path[0] = '\0';
			sz_log(SZ_LOG_DEBUG, "cannot make a minimal copy of %s (%s): libbpf reads it whole",
			       KBTF_VMLINUX, strerror(-err));
		}
	}
	if (!err && kbtf_path[0])
		opts->btf_custom_path = kbtf_path;
	pthread_mutex_unlock(&kbtf_lock);
}

int sz_kbtf_iter_prepare(struct bpf_program *prog, const char *name)
{
	int fd = -1;

	pthread_once(&kbtf_once, register_handler);
	if (kbtf_handler_err)
		return kbtf_handler_err;
	pthread_mutex_lock(&kbtf_lock);
	for (size_t i = 0; i < sizeof(kbtf_want) / sizeof(kbtf_want[0]); i++)
		if (!strcmp(kbtf_want[i].name + strlen(ITER_PREFIX), name) && kbtf_want[i].id &&
		    kbtf_path[0] && !kbtf_off())
			fd = kbtf_fd;
	pthread_mutex_unlock(&kbtf_lock);
	/* Known: any fd as "attach program" keeps libbpf from loading the
	 * kernel's BTF for this program; iter_prepare_load() then puts our id
	 * in its place.  Unknown: libbpf finds it in the kernel's BTF. */
	return fd > 0 ? bpf_program__set_attach_target(prog, fd, NULL)
		      : bpf_program__set_attach_target(prog, 0, name);
}

void sz_kbtf_disable(void)
{
	pthread_mutex_lock(&kbtf_lock);
	kbtf_failed = 1;
	kbtf_path[0] = '\0';
	pthread_mutex_unlock(&kbtf_lock);
}
