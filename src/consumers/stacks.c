// SPDX-License-Identifier: BSD-2-Clause
/*
 * --stacks in userspace: turn each struct sz_stack_rec into frames (the kernel's
 * frame-pointer walk with the exact caller from *sp put in, or libdw's CFI unwinder over
 * the copied registers and stack slice), tie each frame to a file the process mapped
 * when we first met it, and count unique stacks (--count) or keep one for the call that
 * follows (--trace).  Files stay open with the stacks that name them, so a process that
 * has exited is symbolized all the same.
 */
#include "consumers/stacks.h"
#include "elf/sz_addr.h"
#include "pipeline/symbols.h"
#include "proc/maps.h"
#include "util/log.h"

#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define FILE_BUCKETS 256
#define PROC_BUCKETS 1024
#define MAX_FILES 4096		   /* files held open for symbolization */
#define PENDING 256		   /* --trace: stacks waiting for their call, by tid */
#define MAPS_MAX (64u << 20)	   /* a /proc/PID/maps we read whole */
#define MAX_UNIQUE (1u << 20)	   /* unique stacks counted; beyond, counted as overflow */
#define DEAD_KEEP_NS 5000000000ull /* an exited process's unwinder outlives it by this */
#define NAME_MAX_OUT 1024	   /* a symbol name as reported */
#define REREAD_NS 100000000ull	   /* maps re-read for an unknown outer frame, at most this often */
#define BURST_NS 100000000ull	   /* stacks unwound in one go before the poll loop's turn */
#define BURST_GAP_NS 20000000ull   /* a pause this long starts a new burst */

enum why {
	WHY_NONE = 0,
	WHY_SLICE,   /* DWARF: the unwinder wanted stack beyond the copied slice */
	WHY_DEPTH,   /* SZ_STACK_MAX_FRAMES reached */
	WHY_UNWIND,  /* DWARF: libdw gave up (message in whymsg) */
	WHY_NOMAPS,  /* the process was gone before its mappings could be read */
	WHY_FPERR,   /* FP: bpf_get_stack failed */
	WHY_NOSLICE, /* DWARF: not a byte of stack could be copied */
	WHY_NORET,   /* the return address at *sp could not be read */
};

static const char *const why_str[] = {
	[WHY_NONE] = NULL,
	[WHY_SLICE] =
		"slice end: the unwinder needed stack beyond the bytes copied (--stack-bytes)",
	[WHY_DEPTH] = "depth cap: 128 frames",
	[WHY_UNWIND] = "unwinder error",
	[WHY_NOMAPS] = "the process exited before its mappings were read",
	[WHY_FPERR] = "the kernel's frame-pointer walk failed",
	[WHY_NOSLICE] = "no stack could be copied",
	[WHY_NORET] = "the return address at the stack pointer was unreadable",
};

struct sfile {
	struct sfile *next;
	dev_t dev; /* as /proc/PID/maps names it */
	ino_t ino;
	int fd, rootfd;
	struct sz_elf *elf;
	struct sz_layout layout;
	char build_id[2 * SZ_BUILD_ID_MAX + 1];
	char *path, *dir;
};

struct smap {
	uint64_t start, end, bias;
	struct sfile *f;
};

/* A frame as counted: (file, ELF vaddr) when a file holds it, else the bare address. */
struct rawframe {
	struct sfile *f;
	uint64_t vaddr;
	uint64_t addr;
};

struct sproc {
	struct sproc *next;
	pid_t pid;
	struct smap *maps;
	size_t nmaps;
	int unread;
	int dead;
	uint64_t read_ns; /* when the maps were last read */
	int reread_vain;  /* re-reading them did not find the outermost frame */
	uint64_t dead_ns;
	Dwfl *dwfl;
	int dwfl_err;
	/* the record being unwound, for libdw's callbacks */
	const struct sz_stack_rec *rec;
	const unsigned char *slice;
	uint64_t pcs[SZ_STACK_MAX_FRAMES];
	size_t npcs;
	int outside, capped;
};

struct ustack {
	struct ustack *next;
	uint64_t hash, count;
	uint32_t sym;
	uint16_t why, whymsg;
	uint32_t n;
	struct rawframe fr[];
};

struct pending {
	pid_t tid;
	int valid;
	uint32_t sym;
	uint16_t why, whymsg;
	uint32_t n;
	struct rawframe fr[SZ_STACK_MAX_FRAMES];
};

#define MAX_MSGS 32

struct sz_stacks {
	enum sz_stack_method mode;
	int aggregate;
	char *proc;
	sz_stacks_name_fn name; /* probe ids -> names (the pipeline's symbols, USDT probes) */
	const void *name_ctx;
	uint64_t pagesz;
	struct sfile *files[FILE_BUCKETS];
	size_t nfiles;
	struct sproc *procs[PROC_BUCKETS];
	struct ustack **ubucket;
	size_t nubuckets, nunique;
	struct pending *pend;
	char *msgs[MAX_MSGS]; /* libdw's messages, interned (index + 1 in whymsg) */
	size_t nmsgs;
	/* the current stack handed out */
	struct sz_frame out[SZ_STACK_MAX_FRAMES];
	char *names[SZ_STACK_MAX_FRAMES];
	struct sz_stack outstack;
	char whybuf[256];
	uint64_t stacks, truncated, procs_unread, overflow;
	uint64_t burst_ns, last_ns; /* sz_stacks_busy() */
	int draining;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int sz_stack_rec_parse(const void *data, size_t size, const struct sz_stack_rec **hdr,
		       const unsigned char **slice)
{
	const struct sz_stack_rec *r = data;

	if (!data || size < sizeof(*r) || r->type != SZ_PROBE_STACK)
		return -EBADMSG;
	if (r->nips > SZ_STACK_FP_MAX || r->nret > SZ_STACK_RET_MAX ||
	    r->slice_len > SZ_STACK_SLICE_MAX || r->slice_len > size - sizeof(*r))
		return -EBADMSG;
	*hdr = r;
	*slice = (const unsigned char *)(r + 1);
	return 0;
}

/* --- files and processes ---------------------------------------------------- */

static void file_free(struct sfile *f)
{
	sz_elf_close(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	if (f->rootfd >= 0)
		close(f->rootfd);
	free(f->path);
	free(f->dir);
	free(f);
}

static struct sfile *file_get(struct sz_stacks *s, pid_t pid, const struct sz_map *m, int rootfd)
{
	dev_t dev = makedev(m->dev_major, m->dev_minor);
	size_t b = (size_t)((m->ino * 0x9e3779b97f4a7c15ull) ^ dev) % FILE_BUCKETS;
	struct sfile *f;
	struct stat st;
	char err[160];
	int fd;

	for (f = s->files[b]; f; f = f->next)
		if (f->dev == dev && f->ino == (ino_t)m->ino)
			return f;
	if (s->nfiles >= MAX_FILES)
		return NULL;
	fd = sz_open_mapped(s->proc, pid, m, &st);
	if (fd < 0)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return NULL;
	}
	f->fd = fd;
	f->rootfd = rootfd >= 0 ? fcntl(rootfd, F_DUPFD_CLOEXEC, 0) : -1;
	f->dev = dev;
	f->ino = (ino_t)m->ino;
	f->path = strndup(m->path, m->path_len);
	f->dir = f->path ? sz_debug_dir_of(f->path) : NULL;
	if (!f->path || sz_elf_open(fd, &f->elf, err, sizeof(err))) {
		file_free(f);
		return NULL;
	}
	sz_elf_layout(f->elf, &f->layout);
	if (f->elf->build_id_len)
		for (size_t i = 0; i < f->elf->build_id_len; i++)
			snprintf(f->build_id + 2 * i, 3, "%02x", f->elf->build_id[i]);
	f->next = s->files[b];
	s->files[b] = f;
	s->nfiles++;
	return f;
}

static void proc_drop_unwinder(struct sproc *p)
{
	if (p->dwfl)
		dwfl_end(p->dwfl);
	p->dwfl = NULL;
	p->dwfl_err = 0;
}

/* Read PID's file mappings (again): every file that may hold a frame, with its bias. */
static int proc_read_maps(struct sz_stacks *s, struct sproc *p)
{
	struct sz_maps_iter it;
	struct smap *maps = NULL;
	size_t nmaps = 0;
	struct sz_map m;
	char root[64];
	int rootfd, r;

	r = sz_maps_open(&it, s->proc, p->pid, MAPS_MAX);
	if (r)
		return r;
	snprintf(root, sizeof(root), "%s/%d/root", s->proc, (int)p->pid);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	p->read_ns = now_ns();
	while (sz_maps_next(&it, &m) == 1) {
		struct sfile *f;
		struct smap *n;
		uint64_t bias;

		if (!sz_map_is_file(&m) || !(f = file_get(s, p->pid, &m, rootfd)))
			continue;
		if (sz_elf_load_bias(&f->layout, m.start, m.end, m.pgoff, m.prot, s->pagesz, &bias))
			continue;
		n = realloc(maps, (nmaps + 1) * sizeof(*n));
		if (!n)
			break;
		maps = n;
		maps[nmaps++] = (struct smap){ m.start, m.end, bias, f };
	}
	sz_maps_close(&it);
	if (rootfd >= 0)
		close(rootfd);
	/* No file at all: the process exited under us (its records are still queued).  What
	 * was read while it lived stays. */
	if (!nmaps && p->nmaps) {
		free(maps);
		return -ESRCH;
	}
	proc_drop_unwinder(p);
	free(p->maps);
	p->maps = maps;
	p->nmaps = nmaps;
	return 0;
}

static const struct smap *proc_map(const struct sproc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->nmaps;

	while (lo < hi) { /* /proc lists mappings in address order */
		size_t mid = (lo + hi) / 2;

		if (addr < p->maps[mid].start)
			hi = mid;
		else if (addr >= p->maps[mid].end)
			lo = mid + 1;
		else
			return &p->maps[mid];
	}
	return NULL;
}

static void proc_free(struct sproc *p)
{
	proc_drop_unwinder(p);
	free(p->maps);
	free(p);
}

static struct sproc *proc_get(struct sz_stacks *s, pid_t pid)
{
	struct sproc **b = &s->procs[(uint32_t)pid % PROC_BUCKETS], *p;

	for (p = *b; p; p = p->next)
		if (p->pid == pid)
			return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	if (proc_read_maps(s, p)) {
		p->unread = 1;
		s->procs_unread++;
	}
	p->next = *b;
	*b = p;
	return p;
}

void sz_stacks_seen(struct sz_stacks *s, pid_t pid)
{
	if (s)
		proc_get(s, pid);
}

void sz_stacks_exited(struct sz_stacks *s, pid_t pid)
{
	uint64_t now = now_ns();

	if (!s)
		return;
	/* Records of its last calls may still be queued behind the exit: keep the process
	 * a while, and let go of those that died long enough ago. */
	for (size_t b = 0; b < PROC_BUCKETS; b++)
		for (struct sproc **pp = &s->procs[b]; *pp;) {
			struct sproc *p = *pp;

			if (p->pid == pid && !p->dead) {
				p->dead = 1;
				p->dead_ns = now;
			}
			if (p->dead && now - p->dead_ns > DEAD_KEEP_NS) {
				*pp = p->next;
				proc_free(p);
				continue;
			}
			pp = &p->next;
		}
}

/* --- unwinding -------------------------------------------------------------- */

static pid_t cb_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	return 0; /* only the thread of the record, through get_thread */
}

static bool cb_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	*thread_argp = arg;
	return true;
}

/* The word at SLOT as the function will see it when it returns: a uretprobe pending on
 * it (ours or anyone's) put the kernel's trampoline there and kept the real return
 * address, which the BPF side sent with the record (bpf/stack.h, ips[] pairs). */
static uint64_t uret_fix(const struct sz_stack_rec *r, uint64_t slot, uint64_t word)
{
	for (size_t i = 0; i < r->nret && i < SZ_STACK_RET_MAX; i++)
		if (r->ips[2 * i] == slot)
			return r->ips[2 * i + 1];
	return word;
}

static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct sproc *p = arg;
	uint64_t sp = p->rec->regs[SZ_STACK_REG_SP], end = sp + p->rec->slice_len;

	if (addr >= sp && addr <= end - sizeof(*result) && end - sp >= sizeof(*result)) {
		memcpy(result, p->slice + (addr - sp), sizeof(*result));
		*result = uret_fix(p->rec, addr, *result);
		return true;
	}
	/* Above the slice, within reach of a stack: the slice was too short. */
	if (addr >= end && addr - end < (8u << 20))
		p->outside = 1;
	return false;
}

static bool cb_set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct sproc *p = arg;

	return dwfl_thread_state_registers(thread, 0, SZ_STACK_REGS,
					   (const Dwarf_Word *)p->rec->regs);
}

static const Dwfl_Thread_Callbacks thread_cbs = {
	.next_thread = cb_next_thread,
	.get_thread = cb_get_thread,
	.memory_read = cb_memory_read,
	.set_initial_registers = cb_set_initial_registers,
};

/* CFI is read from the mapped file itself (.eh_frame, and .debug_frame when the file
 * carries it); no search for other files, and never a network lookup. */
static int no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			char **debuginfo_file_name)
{
	return -1;
}

static const Dwfl_Callbacks dwfl_cbs = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = no_debuginfo,
};

static int proc_unwinder(struct sproc *p)
{
	Elf *first = NULL;

	if (p->dwfl || p->dwfl_err)
		return p->dwfl ? 0 : p->dwfl_err;
	p->dwfl = dwfl_begin(&dwfl_cbs);
	if (!p->dwfl)
		return p->dwfl_err = -ENOMEM;
	dwfl_report_begin(p->dwfl);
	for (size_t i = 0; i < p->nmaps; i++) {
		struct sfile *f = p->maps[i].f;
		const char *base;
		int fd, seen = 0;

		for (size_t j = 0; j < i && !seen; j++)
			seen = p->maps[j].f == f;
		if (seen)
			continue;
		fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			continue;
		base = strrchr(f->path, '/');
		/* the library takes FD, even when it refuses the file */
		if (dwfl_report_elf(p->dwfl, base ? base + 1 : f->path, f->path, fd,
				    p->maps[i].bias, true) &&
		    !first)
			first = f->elf->elf;
	}
	dwfl_report_end(p->dwfl, NULL, NULL);
	if (!first || !dwfl_attach_state(p->dwfl, first, p->pid, &thread_cbs, p)) {
		sz_log(SZ_LOG_DEBUG, "pid %d: no unwinder: %s", (int)p->pid, dwfl_errmsg(-1));
		dwfl_end(p->dwfl);
		p->dwfl = NULL;
		return p->dwfl_err = -ENOEXEC;
	}
	return 0;
}

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct sproc *p = arg;
	Dwarf_Addr pc;
	bool act;

	if (!dwfl_frame_pc(state, &pc, &act))
		return DWARF_CB_ABORT;
	if (p->npcs == SZ_STACK_MAX_FRAMES) {
		p->capped = 1;
		return DWARF_CB_ABORT;
	}
	p->pcs[p->npcs++] = pc;
	return DWARF_CB_OK;
}

static uint16_t intern_msg(struct sz_stacks *s, const char *msg)
{
	for (size_t i = 0; i < s->nmsgs; i++)
		if (!strcmp(s->msgs[i], msg))
			return (uint16_t)(i + 1);
	if (s->nmsgs == MAX_MSGS || !(s->msgs[s->nmsgs] = strdup(msg)))
		return 0;
	return (uint16_t)++s->nmsgs;
}

/* Frames of one record into P->pcs; returns why the stack ends early (WHY_NONE if not). */
static enum why unwind(struct sz_stacks *s, struct sproc *p, const struct sz_stack_rec *r,
		       const unsigned char *slice, uint16_t *whymsg)
{
	uint64_t ret = uret_fix(r, r->regs[SZ_STACK_REG_SP], r->ret_addr);

	p->npcs = 0;
	p->outside = p->capped = 0;
	if (s->mode == SZ_STACKS_FP) {
		p->pcs[p->npcs++] = r->nips ? r->ips[0] : r->regs[SZ_STACK_REG_IP];
		if (r->flags & SZ_STACK_F_SITE) {
			/* inside a function: rbp is its own frame, the walk is all there is */
			for (uint32_t i = 1; i < r->nips && p->npcs < SZ_STACK_MAX_FRAMES; i++)
				p->pcs[p->npcs++] = r->ips[i];
			if (r->flags & SZ_STACK_F_FP_ERROR)
				return WHY_FPERR;
			return r->nips >= SZ_STACK_FP_MAX ? WHY_DEPTH : WHY_NONE;
		}
		if (r->flags & SZ_STACK_F_NO_RET)
			return WHY_NORET;
		p->pcs[p->npcs++] = ret;
		/* ips[1] is the caller's caller: at entry rbp is still the caller's frame */
		for (uint32_t i = 1; i < r->nips && p->npcs < SZ_STACK_MAX_FRAMES; i++)
			if (i > 1 || r->ips[i] != ret)
				p->pcs[p->npcs++] = r->ips[i];
		if (r->flags & SZ_STACK_F_FP_ERROR)
			return WHY_FPERR;
		return r->nips >= SZ_STACK_FP_MAX ? WHY_DEPTH : WHY_NONE;
	}
	if (r->flags & SZ_STACK_F_NO_SLICE || !r->slice_len) {
		p->pcs[p->npcs++] = r->regs[SZ_STACK_REG_IP];
		if (r->flags & (SZ_STACK_F_NO_RET | SZ_STACK_F_SITE))
			return WHY_NOSLICE;
		p->pcs[p->npcs++] = ret;
		return WHY_NOSLICE;
	}
	p->rec = r;
	p->slice = slice;
	if (!proc_unwinder(p)) {
		int rc = dwfl_getthread_frames(p->dwfl, (pid_t)r->tid, frame_cb, p);

		p->rec = NULL;
		if (p->npcs < 2 && !(r->flags & (SZ_STACK_F_NO_RET | SZ_STACK_F_SITE))) {
			/* libdw could not even start: the caller is still exact */
			p->npcs = 0;
			p->pcs[p->npcs++] = r->regs[SZ_STACK_REG_IP];
			p->pcs[p->npcs++] = ret;
		}
		/* libdw ends a walk without error when a frame's memory cannot be read:
		 * a read above the slice is why, and the stack is cut, not complete */
		if (rc == 0)
			return p->outside ? WHY_SLICE : WHY_NONE;
		if (p->capped)
			return WHY_DEPTH;
		if (p->outside)
			return WHY_SLICE;
		*whymsg = intern_msg(s, dwfl_errmsg(-1));
		return WHY_UNWIND;
	}
	p->rec = NULL;
	p->pcs[p->npcs++] = r->regs[SZ_STACK_REG_IP];
	if (!(r->flags & (SZ_STACK_F_NO_RET | SZ_STACK_F_SITE)))
		p->pcs[p->npcs++] = ret;
	*whymsg = intern_msg(s, "no CFI: none of the process's files could be read");
	return WHY_UNWIND;
}

/* The record's frames tied to files: FR[0..*N). */
static enum why record_frames(struct sz_stacks *s, const struct sz_stack_rec *r,
			      const unsigned char *slice, struct rawframe *fr, uint32_t *n,
			      uint16_t *whymsg)
{
	struct sproc *p = proc_get(s, (pid_t)r->tgid);
	enum why why;

	*whymsg = 0;
	*n = 0;
	if (!p)
		return WHY_NOMAPS;
	/* A library mapped since we read the maps: read them again (alive only). */
	if (!p->dead && !p->unread &&
	    (!proc_map(p, r->regs[SZ_STACK_REG_IP]) ||
	     (!(r->flags & (SZ_STACK_F_NO_RET | SZ_STACK_F_SITE)) &&
	      !proc_map(p, uret_fix(r, r->regs[SZ_STACK_REG_SP], r->ret_addr)))))
		proc_read_maps(s, p);
	why = unwind(s, p, r, slice, whymsg);
	/* The outermost frame in no file we know: a library mapped since the maps were read
	 * (a process met at exec, probed inside a function where no return address tells
	 * beforehand).  Read them again and unwind anew; once that was in vain (JIT code is
	 * in no file at all), at most every REREAD_NS. */
	if (!p->dead && !p->unread && p->npcs && !proc_map(p, p->pcs[p->npcs - 1]) &&
	    (!p->reread_vain || now_ns() - p->read_ns > REREAD_NS)) {
		proc_read_maps(s, p);
		*whymsg = 0;
		why = unwind(s, p, r, slice, whymsg);
		p->reread_vain = p->npcs && !proc_map(p, p->pcs[p->npcs - 1]);
	}
	for (size_t i = 0; i < p->npcs; i++) {
		const struct smap *m = proc_map(p, p->pcs[i]);

		fr[i] = (struct rawframe){ m ? m->f : NULL, m ? p->pcs[i] - m->bias : 0,
					   p->pcs[i] };
	}
	*n = (uint32_t)p->npcs;
	if (p->unread && why == WHY_NONE)
		why = WHY_NOMAPS;
	return why;
}

/* --- aggregation and output ------------------------------------------------- */

static uint64_t stack_hash(uint32_t sym, uint16_t why, const struct rawframe *fr, uint32_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ ((uint64_t)sym << 16) ^ why;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t v = fr[i].f ? (uint64_t)(uintptr_t)fr[i].f ^ (fr[i].vaddr << 1)
				     : fr[i].addr;

		h = (h ^ v) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h;
}

static int same_frames(const struct rawframe *a, const struct rawframe *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i].f != b[i].f ||
		    (a[i].f ? a[i].vaddr != b[i].vaddr : a[i].addr != b[i].addr))
			return 0;
	return 1;
}

static int count_stack(struct sz_stacks *s, uint32_t sym, uint16_t why, uint16_t whymsg,
		       const struct rawframe *fr, uint32_t n)
{
	uint64_t h = stack_hash(sym, why, fr, n);
	struct ustack *u;
	size_t b;

	if (s->nunique >= 2 * s->nubuckets) {
		size_t nb = s->nubuckets * 2;
		struct ustack **t = calloc(nb, sizeof(struct ustack *));

		if (t) {
			for (size_t i = 0; i < s->nubuckets; i++)
				while (s->ubucket[i]) {
					u = s->ubucket[i];
					s->ubucket[i] = u->next;
					u->next = t[u->hash & (nb - 1)];
					t[u->hash & (nb - 1)] = u;
				}
			free(s->ubucket);
			s->ubucket = t;
			s->nubuckets = nb;
		}
	}
	b = h & (s->nubuckets - 1);
	for (u = s->ubucket[b]; u; u = u->next)
		if (u->hash == h && u->sym == sym && u->why == why && u->n == n &&
		    same_frames(u->fr, fr, n)) {
			u->count++;
			return 0;
		}
	if (s->nunique >= MAX_UNIQUE) {
		s->overflow++;
		return 0;
	}
	u = malloc(sizeof(*u) + n * sizeof(*fr));
	if (!u)
		return -ENOMEM;
	*u = (struct ustack){ s->ubucket[b], h, 1, sym, why, whymsg, n };
	memcpy(u->fr, fr, n * sizeof(*fr));
	s->ubucket[b] = u;
	s->nunique++;
	return 0;
}

int sz_stacks_rec(struct sz_stacks *s, const void *data, size_t size)
{
	const struct sz_stack_rec *r;
	const unsigned char *slice;
	struct rawframe fr[SZ_STACK_MAX_FRAMES];
	uint16_t whymsg;
	uint32_t n;
	enum why why;

	if (sz_stack_rec_parse(data, size, &r, &slice) || !s->name(s->name_ctx, r->sym))
		return -EBADMSG;
	why = record_frames(s, r, slice, fr, &n, &whymsg);
	s->stacks++;
	if (why != WHY_NONE)
		s->truncated++;
	if (s->aggregate)
		return count_stack(s, r->sym, (uint16_t)why, whymsg, fr, n);
	struct pending *pd = &s->pend[(uint32_t)r->tid % PENDING];

	pd->tid = (pid_t)r->tid;
	pd->valid = 1;
	pd->sym = r->sym;
	pd->why = (uint16_t)why;
	pd->whymsg = whymsg;
	pd->n = n;
	memcpy(pd->fr, fr, n * sizeof(*fr));
	return 0;
}

static void clear_out(struct sz_stacks *s)
{
	for (size_t i = 0; i < SZ_STACK_MAX_FRAMES; i++) {
		free(s->names[i]);
		s->names[i] = NULL;
	}
}

/* FR as the public struct sz_stack, in S->outstack (valid until the next call). */
static const struct sz_stack *symbolize(struct sz_stacks *s, const struct rawframe *fr, uint32_t n,
					uint16_t why, uint16_t whymsg)
{
	clear_out(s);
	for (uint32_t i = 0; i < n; i++) {
		struct sz_frame *o = &s->out[i];
		const struct sfile *f = fr[i].f;
		struct sz_symbolized sym;
		char err[160];

		*o = (struct sz_frame){ .address = fr[i].addr };
		if (!f)
			continue;
		o->path = f->path;
		o->build_id = f->build_id[0] ? f->build_id : NULL;
		o->vaddr = fr[i].vaddr;
		if (f->rootfd >= 0) {
			struct sz_debug_where where = { f->rootfd, f->dir, NULL, f->dev, f->ino };

			/* a return address points past its call: look up the call itself */
			if (sz_symbolize_vaddr(f->elf, &where, fr[i].vaddr - (i > 0), &sym, err,
					       sizeof(err)))
				continue;
		} else if (sz_symbolize_vaddr(f->elf, NULL, fr[i].vaddr - (i > 0), &sym, err,
					      sizeof(err))) {
			continue;
		}
		s->names[i] = strndup(sym.sym.name, sym.sym.name_len < NAME_MAX_OUT
							    ? sym.sym.name_len
							    : NAME_MAX_OUT);
		o->symbol = s->names[i];
		o->offset = fr[i].vaddr - sym.sym.start;
	}
	s->outstack.frames = s->out;
	s->outstack.nframes = n;
	s->outstack.truncated = why_str[why];
	if (why == WHY_UNWIND && whymsg) {
		snprintf(s->whybuf, sizeof(s->whybuf), "unwinder error: %s", s->msgs[whymsg - 1]);
		s->outstack.truncated = s->whybuf;
	}
	return &s->outstack;
}

const struct sz_stack *sz_stacks_take(struct sz_stacks *s, pid_t tid)
{
	struct pending *pd;

	if (!s || s->aggregate)
		return NULL;
	pd = &s->pend[(uint32_t)tid % PENDING];
	if (!pd->valid || pd->tid != tid)
		return NULL;
	pd->valid = 0;
	return symbolize(s, pd->fr, pd->n, pd->why, pd->whymsg);
}

static int by_count(const void *a, const void *b)
{
	const struct ustack *x = *(const struct ustack *const *)a;
	const struct ustack *y = *(const struct ustack *const *)b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->hash < y->hash ? -1 : x->hash > y->hash; /* a stable order between runs */
}

int sz_stacks_report(struct sz_stacks *s, sz_stack_fn fn, void *ctx)
{
	struct ustack **all;
	size_t k = 0;

	if (!s || !s->aggregate)
		return -EINVAL;
	all = malloc((s->nunique ? s->nunique : 1) * sizeof(struct ustack *));
	if (!all)
		return -ENOMEM;
	for (size_t b = 0; b < s->nubuckets; b++)
		for (struct ustack *u = s->ubucket[b]; u; u = u->next)
			all[k++] = u;
	qsort(all, k, sizeof(struct ustack *), by_count);
	for (size_t i = 0; i < k; i++)
		fn(s->name(s->name_ctx, all[i]->sym),
		   symbolize(s, all[i]->fr, all[i]->n, all[i]->why, all[i]->whymsg), all[i]->count,
		   ctx);
	clear_out(s);
	free(all);
	return 0;
}

/* libbpf's poll hands over records for as long as the ring has any: when the probed
 * functions make stacks faster than we unwind them, it would never return, and the loop
 * would never see -d, a signal or the output.  After BURST_NS of stacks the handler asks
 * for a turn (-ECANCELED ends the poll; the record in hand is consumed); the final drain
 * (sz_stacks_drain) goes to the end: the probes are quiet by then. */
int sz_stacks_busy(struct sz_stacks *s)
{
	uint64_t now;

	if (!s || s->draining)
		return 0;
	now = now_ns();
	if (!s->burst_ns || now - s->last_ns > BURST_GAP_NS)
		s->burst_ns = now;
	s->last_ns = now;
	if (now - s->burst_ns < BURST_NS)
		return 0;
	s->burst_ns = 0;
	return -ECANCELED;
}

void sz_stacks_drain(struct sz_stacks *s)
{
	if (s)
		s->draining = 1;
}

void sz_stacks_stats(const struct sz_stacks *s, uint64_t *stacks, uint64_t *truncated,
		     uint64_t *procs_unread)
{
	*stacks = s ? s->stacks : 0;
	*truncated = s ? s->truncated : 0;
	*procs_unread = s ? s->procs_unread : 0;
}

static const char *symbol_name(const void *syms, uint32_t id)
{
	return id < sz_symbols_ids(syms) ? sz_symbols_name(syms, id) : NULL;
}

int sz_stacks_new(enum sz_stack_method mode, int aggregate, const char *proc,
		  const struct sz_symbols *syms, struct sz_stacks **out)
{
	return sz_stacks_new_named(mode, aggregate, proc, symbol_name, syms, out);
}

int sz_stacks_new_named(enum sz_stack_method mode, int aggregate, const char *proc,
			sz_stacks_name_fn name, const void *name_ctx, struct sz_stacks **out)
{
	struct sz_stacks *s;
	long pg = sysconf(_SC_PAGESIZE);

	*out = NULL;
	if (mode != SZ_STACKS_FP && mode != SZ_STACKS_DWARF)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->mode = mode;
	s->aggregate = aggregate;
	s->name = name;
	s->name_ctx = name_ctx;
	s->pagesz = pg > 0 ? (uint64_t)pg : 4096;
	s->proc = strdup(proc ? proc : "/proc");
	s->nubuckets = 1024;
	s->ubucket = calloc(s->nubuckets, sizeof(struct ustack *));
	s->pend = aggregate ? NULL : calloc(PENDING, sizeof(*s->pend));
	if (!s->proc || !s->ubucket || (!aggregate && !s->pend)) {
		sz_stacks_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void sz_stacks_free(struct sz_stacks *s)
{
	if (!s)
		return;
	clear_out(s);
	for (size_t b = 0; b < PROC_BUCKETS; b++)
		while (s->procs[b]) {
			struct sproc *p = s->procs[b];

			s->procs[b] = p->next;
			proc_free(p);
		}
	for (size_t b = 0; b < s->nubuckets && s->ubucket; b++)
		while (s->ubucket[b]) {
			struct ustack *u = s->ubucket[b];

			s->ubucket[b] = u->next;
			free(u);
		}
	for (size_t b = 0; b < FILE_BUCKETS; b++)
		while (s->files[b]) {
			struct sfile *f = s->files[b];

			s->files[b] = f->next;
			file_free(f);
		}
	for (size_t i = 0; i < s->nmsgs; i++)
		free(s->msgs[i]);
	free(s->ubucket);
	free(s->pend);
	free(s->proc);
	free(s);
}
