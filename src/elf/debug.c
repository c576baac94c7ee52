// SPDX-License-Identifier: BSD-2-Clause
/*
 * Separate debug files, as gdb finds them: the build-ID tree, .gnu_debuglink (CRC-32
 * checked) and MiniDebugInfo (.gnu_debugdata, an xz-compressed ELF holding .symtab).
 * Every name that comes from the image is untrusted: a debuglink is a file name, never
 * a path; files are opened beneath the process's root without following symbolic
 * links, regular files only, and a debug file is used only if it proves it belongs
 * (same build-ID, or the CRC the image asked for).  Also the per-image state that keeps
 * the address index and the debug file once found.
 */
#include "sz_addr.h"
#include "proc/maps.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <lzma.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

struct sz_addr_state {
	struct sz_addr_index *ix;
	int ix_err, ix_done;
	int dbg_done, dbg_err;
	struct sz_elf *dbg;
	int dbg_fd;
	enum sz_sym_source dbg_src;
	char dbg_path[PATH_MAX];
	char note[256]; /* why candidates were refused */
};

void sz_addr_state_free(struct sz_addr_state *st)
{
	if (!st)
		return;
	sz_addr_index_free(st->ix);
	if (st->dbg)
		sz_elf_close(st->dbg);
	if (st->dbg_fd >= 0)
		close(st->dbg_fd);
	free(st);
}

/* -errno of the call that just failed, never 0. */
static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

static struct sz_addr_state *state_of(struct sz_elf *e)
{
	if (!e->addr) {
		e->addr = calloc(1, sizeof(*e->addr));
		if (e->addr)
			e->addr->dbg_fd = -1;
	}
	return e->addr;
}

int sz_elf_addr_index(struct sz_elf *e, const struct sz_addr_index **out)
{
	struct sz_addr_state *st = state_of(e);

	if (!st)
		return -ENOMEM;
	if (!st->ix_done) {
		st->ix_err = sz_addr_index_build(e, &st->ix);
		/* Out of memory may pass; anything else is the image's and stays. */
		st->ix_done = st->ix_err != -ENOMEM;
		if (st->ix_err)
			return st->ix_err;
	}
	*out = st->ix;
	return st->ix_err;
}

__attribute__((format(printf, 3, 4))) static void note(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(buf, len);
	va_list ap;

	if (used + 3 >= len)
		return;
	if (used) {
		memcpy(buf + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

Elf_Data *sz_elf_section_by_name(const struct sz_elf *e, const char *name)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(e->elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;
		const char *n;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS ||
		    (sh.sh_flags & SHF_COMPRESSED) || sh.sh_size > SZ_SECTION_MAX)
			continue;
		n = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (!n || strcmp(n, name))
			continue;
		d = elf_rawdata(scn, NULL);
		return d && d->d_buf && d->d_size ? d : NULL;
	}
	return NULL;
}

int sz_debuglink_parse(const void *buf, size_t len, int swap, char *name, size_t namesz,
		       uint32_t *crc)
{
	const char *p = buf, *nul = len ? memchr(p, 0, len) : NULL;
	size_t n, crc_off;
	uint32_t v;

	if (!nul)
		return -EBADMSG;
	n = (size_t)(nul - p);
	if (!n || n > SZ_DEBUGLINK_NAME_MAX || n >= namesz || memchr(p, '/', n) ||
	    !strcmp(p, ".") || !strcmp(p, ".."))
		return -EINVAL;
	crc_off = (n + 1 + 3) & ~(size_t)3;
	if (crc_off + 4 > len)
		return -EBADMSG;
	memcpy(&v, p + crc_off, 4);
	*crc = swap ? __builtin_bswap32(v) : v;
	memcpy(name, p, n + 1);
	return 0;
}

int sz_xz_decompress(const void *in, size_t inlen, size_t max, void **out, size_t *outlen)
{
	lzma_stream s = LZMA_STREAM_INIT;
	size_t cap = inlen < (1u << 20) ? 4 * inlen + 4096 : 4 * (size_t)(1u << 20);
	unsigned char *buf = NULL;
	lzma_ret lr;
	int r = 0;

	*out = NULL;
	*outlen = 0;
	if (!max)
		return -EFBIG;
	if (cap > max)
		cap = max;
	if (lzma_stream_decoder(&s, SZ_MINIDEBUG_MEMLIMIT, 0) != LZMA_OK)
		return -ENOMEM;
	buf = malloc(cap);
	if (!buf) {
		lzma_end(&s);
		return -ENOMEM;
	}
	s.next_in = in;
	s.avail_in = inlen;
	s.next_out = buf;
	s.avail_out = cap;
	for (;;) {
		lr = lzma_code(&s, LZMA_FINISH);
		if (lr == LZMA_STREAM_END)
			break;
		if (lr != LZMA_OK && lr != LZMA_BUF_ERROR) {
			r = lr == LZMA_MEM_ERROR || lr == LZMA_MEMLIMIT_ERROR ? -ENOMEM : -EBADMSG;
			break;
		}
		if (s.avail_out == 0) {
			size_t ncap = cap * 2;
			unsigned char *nb;

			if (cap >= max) {
				r = -EFBIG;
				break;
			}
			if (ncap > max)
				ncap = max;
			nb = realloc(buf, ncap);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
			s.next_out = buf + cap;
			s.avail_out = ncap - cap;
			cap = ncap;
		} else if (lr == LZMA_BUF_ERROR) {
			r = -EBADMSG; /* input ended inside the stream */
			break;
		}
	}
	*outlen = cap - s.avail_out;
	lzma_end(&s);
	if (r) {
		free(buf);
		*outlen = 0;
		return r;
	}
	*out = buf;
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? neg_errno() : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sz_minidebug_open(const struct sz_elf *e, struct sz_elf **out, int *fdp)
{
	Elf_Data *d = sz_elf_section_by_name(e, ".gnu_debugdata");
	size_t len;
	void *buf;
	int fd, r;

	*out = NULL;
	*fdp = -1;
	if (!d)
		return -ENOENT;
	r = sz_xz_decompress(d->d_buf, d->d_size, SZ_MINIDEBUG_MAX, &buf, &len);
	if (r)
		return r;
	/* A memory file, so the inner image goes through the one sz_elf_open. */
	fd = memfd_create("symbolyze-minidebuginfo", MFD_CLOEXEC);
	if (fd < 0) {
		r = neg_errno();
		free(buf);
		return r;
	}
	r = write_all(fd, buf, len);
	free(buf);
	if (!r && lseek(fd, 0, SEEK_SET) < 0)
		r = neg_errno();
	if (!r)
		r = sz_elf_open(fd, out, NULL, 0);
	if (r) {
		close(fd);
		return r;
	}
	*fdp = fd;
	return 0;
}

/* A regular file PATH beneath ROOTFD, opened for reading without following any symbolic
 * link (openat2; without it, O_NOFOLLOW on the last component, and the content checks
 * that follow are the guard). */
static int open_debug(int rootfd, const char *path, struct stat *st)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int pfd = -1;

	for (int tries = 0; tries < 3; tries++) {
		pfd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
		if (pfd >= 0 || errno != EAGAIN)
			break;
	}
	if (pfd < 0 && (errno == ENOSYS || errno == EPERM)) {
		while (*path == '/')
			path++;
		pfd = openat(rootfd, path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
	}
	if (pfd < 0)
		return neg_errno();
	if (fstat(pfd, st) || !S_ISREG(st->st_mode)) {
		close(pfd);
		return -EINVAL;
	}
	return sz_reopen_read(pfd);
}

static int file_crc32(int fd, uint64_t size, uint32_t *out)
{
	const size_t chunk = 1u << 16;
	unsigned char *buf;
	uLong crc = crc32(0L, Z_NULL, 0);
	uint64_t done = 0;
	int r = 0;

	if (size > SZ_DEBUG_FILE_MAX)
		return -EFBIG;
	buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = pread(fd, buf, chunk, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = neg_errno();
			break;
		}
		if (n == 0)
			break;
		done += (uint64_t)n;
		if (done > SZ_DEBUG_FILE_MAX) { /* it grew while we read */
			r = -EFBIG;
			break;
		}
		crc = crc32(crc, buf, (uInt)n);
	}
	free(buf);
	if (!r)
		*out = (uint32_t)crc;
	return r;
}

struct found {
	struct sz_elf *elf;
	int fd;
};

/* Open candidate PATH; 1 if it is usable (*F set), 0 if not (why noted, unless it is
 * simply absent), or a negative errno for our own failures.  WANT_CRC: the debuglink's
 * CRC (else the build-ID of E must match). */
static int try_candidate(const struct sz_elf *e, const struct sz_debug_where *w, const char *path,
			 const uint32_t *want_crc, struct found *f, char *err, size_t errlen)
{
	struct stat st = { 0 };
	struct sz_elf *d = NULL;
	int fd, r;

	fd = open_debug(w->rootfd, path, &st);
	if (fd < 0) {
		if (fd != -ENOENT && fd != -ENOTDIR)
			note(err, errlen, "%s: %s", path,
			     fd == -EINVAL  ? "not a regular file"
			     : fd == -ELOOP ? "a symbolic link"
					    : strerror(-fd));
		return fd == -ENOMEM ? fd : 0;
	}
	if (st.st_dev == w->dev && st.st_ino == w->ino) {
		close(fd); /* the image itself */
		return 0;
	}
	if (want_crc) {
		uint32_t crc = 0;

		r = file_crc32(fd, (uint64_t)st.st_size, &crc);
		if (r || crc != *want_crc) {
			if (r)
				note(err, errlen, "%s: %s", path, strerror(-r));
			else
				note(err, errlen, "%s: CRC 0x%08x, the image wants 0x%08x", path,
				     crc, *want_crc);
			close(fd);
			return 0;
		}
	}
	r = sz_elf_open(fd, &d, NULL, 0);
	if (r) {
		note(err, errlen, "%s: not an ELF file", path);
		close(fd);
		return r == -ENOMEM ? r : 0;
	}
	if (!want_crc) {
		const unsigned char *a, *b;
		size_t alen, blen;

		if (sz_elf_build_id(e, &a, &alen) || sz_elf_build_id(d, &b, &blen) ||
		    alen != blen || !alen || memcmp(a, b, alen)) {
			note(err, errlen, "%s: another build-ID", path);
			goto refuse;
		}
	}
	if (!d->symtab.present) {
		note(err, errlen, "%s: no .symtab", path);
		goto refuse;
	}
	f->elf = d;
	f->fd = fd;
	return 1;
refuse:
	sz_elf_close(d);
	close(fd);
	return 0;
}

static int find_build_id(const struct sz_elf *e, const struct sz_debug_where *w, const char *dir,
			 struct found *f, char *path, size_t pathsz, char *err, size_t errlen)
{
	const unsigned char *id;
	size_t len, n;

	if (sz_elf_build_id(e, &id, &len) || len < 2)
		return 0;
	n = (size_t)snprintf(path, pathsz, "%s/.build-id/%02x/", dir, id[0]);
	for (size_t i = 1; i < len && n + 3 < pathsz; i++, n += 2)
		snprintf(path + n, pathsz - n, "%02x", id[i]);
	if (n + sizeof(".debug") > pathsz)
		return 0;
	memcpy(path + n, ".debug", sizeof(".debug"));
	return try_candidate(e, w, path, NULL, f, err, errlen);
}

static int find_debuglink(const struct sz_elf *e, const struct sz_debug_where *w, const char *dir,
			  struct found *f, char *path, size_t pathsz, char *err, size_t errlen)
{
	Elf_Data *d = sz_elf_section_by_name(e, ".gnu_debuglink");
	int swap = e->ehdr.e_ident[EI_DATA] !=
		   (__BYTE_ORDER == __LITTLE_ENDIAN ? ELFDATA2LSB : ELFDATA2MSB);
	char name[SZ_DEBUGLINK_NAME_MAX + 1];
	const char *sub[] = { "", "/.debug" };
	uint32_t crc;
	int r;

	if (!d)
		return 0;
	r = sz_debuglink_parse(d->d_buf, d->d_size, swap, name, sizeof(name), &crc);
	if (r) {
		note(err, errlen, ".gnu_debuglink: %s",
		     r == -EINVAL ? "not a plain file name" : "truncated");
		return 0;
	}
	if (w->dir && w->dir[0] == '/') {
		for (size_t i = 0; i < 2; i++) {
			if ((size_t)snprintf(path, pathsz, "%s%s/%s", w->dir, sub[i], name) >=
			    pathsz)
				continue;
			r = try_candidate(e, w, path, &crc, f, err, errlen);
			if (r)
				return r;
		}
		if ((size_t)snprintf(path, pathsz, "%s%s/%s", dir, w->dir, name) < pathsz)
			return try_candidate(e, w, path, &crc, f, err, errlen);
	}
	return 0;
}

char *sz_debug_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash || path[0] != '/')
		return NULL;
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int sz_elf_debug_file(struct sz_elf *e, const struct sz_debug_where *where, struct sz_elf **dbg,
		      enum sz_sym_source *src, const char **path, char *err, size_t errlen)
{
	struct sz_addr_state *st = state_of(e);
	const char *dir;
	struct found f = { NULL, -1 };
	int r;

	if (!st)
		return -ENOMEM;
	if (!st->dbg_done && where) {
		dir = where->debug_dir ? where->debug_dir : SZ_DEBUG_DIR_DEFAULT;
		st->dbg_done = 1;
		r = find_build_id(e, where, dir, &f, st->dbg_path, sizeof(st->dbg_path), st->note,
				  sizeof(st->note));
		if (r == 1)
			st->dbg_src = SZ_SRC_BUILD_ID;
		if (!r) {
			r = find_debuglink(e, where, dir, &f, st->dbg_path, sizeof(st->dbg_path),
					   st->note, sizeof(st->note));
			if (r == 1)
				st->dbg_src = SZ_SRC_DEBUGLINK;
		}
		if (!r) {
			r = sz_minidebug_open(e, &f.elf, &f.fd);
			if (r == -ENOENT) {
				r = 0;
			} else if (!r && f.elf && f.elf->symtab.present) {
				snprintf(st->dbg_path, sizeof(st->dbg_path), ".gnu_debugdata");
				st->dbg_src = SZ_SRC_MINIDEBUG;
				r = 1;
			} else if (!r) {
				note(st->note, sizeof(st->note), ".gnu_debugdata: no .symtab");
				sz_elf_close(f.elf);
				if (f.fd >= 0)
					close(f.fd);
				f.elf = NULL;
			} else if (r != -ENOMEM) {
				note(st->note, sizeof(st->note), ".gnu_debugdata: %s",
				     r == -EFBIG     ? "decompresses beyond the bound"
				     : r == -EBADMSG ? "corrupt xz data"
						     : "not an ELF image");
				r = 0;
			}
		}
		if (r < 0) {
			st->dbg_done = r != -ENOMEM;
			st->dbg_err = r;
		} else if (r == 1) {
			st->dbg = f.elf;
			st->dbg_fd = f.fd;
		}
	}
	if (err && errlen)
		snprintf(err, errlen, "%s", st->note);
	if (st->dbg_err < 0)
		return st->dbg_err;
	if (!st->dbg)
		return 0;
	*dbg = st->dbg;
	*src = st->dbg_src;
	*path = st->dbg_path;
	return 1;
}

int sz_symbolize_vaddr(struct sz_elf *e, const struct sz_debug_where *where, uint64_t vaddr,
		       struct sz_symbolized *out, char *err, size_t errlen)
{
	const struct sz_addr_index *ix;
	struct sz_addr_sym a = { 0 }, d = { 0 };
	struct sz_elf *dbg = NULL;
	enum sz_sym_source src = SZ_SRC_NONE;
	const char *dpath = NULL;
	int ha, hd = 0, r;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	r = sz_elf_addr_index(e, &ix);
	if (r)
		return r;
	ha = !sz_addr_index_lookup(ix, vaddr, &a);
	/* A stripped image: its own tables name only what it exports. */
	if (!e->symtab.present && where) {
		r = sz_elf_debug_file(e, where, &dbg, &src, &dpath, err, errlen);
		if (r < 0)
			return r;
		if (r == 1) {
			const struct sz_addr_index *dix;

			r = sz_elf_addr_index(dbg, &dix);
			if (r)
				return r;
			hd = !sz_addr_index_lookup(dix, vaddr, &d);
		}
	}
	/* Both answer: the nearer start is the more specific function (a zero-size
	 * symbol of the image stretched over statics the debug file names); at one
	 * start, a sized symbol over a stretched one, else the image's own. */
	if (hd && ha && (d.start < a.start || (d.start == a.start && (a.size || !d.size))))
		hd = 0;
	if (hd) {
		out->sym = d;
		out->source = src;
		out->debug_path = dpath;
	} else if (ha) {
		out->sym = a;
		out->source = a.table == SZ_TAB_SYMTAB ? SZ_SRC_SYMTAB : SZ_SRC_DYNSYM;
	} else {
		return -ENOENT;
	}
	out->offset = vaddr - out->sym.start;
	return 0;
}
