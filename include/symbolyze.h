/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libsymbolyze: find where a symbol lives in every process that maps a
 * matching ELF file.  Opaque handles, options and stats structs that start
 * with their size (grow the ABI without breaking it, libbpf's OPTS rules),
 * observer callbacks.  Three channels, each for one thing: return values
 * (0, SZ_STOP, or a negative errno), problem observers (per-mapping outcomes,
 * data), and the log callback (human detail, e.g. the verifier's reason).
 * The library never prints.
 */
#ifndef SYMBOLYZE_H
#define SYMBOLYZE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SZ_API __attribute__((visibility("default")))

#define SZ_VERSION_MAJOR 0
#define SZ_VERSION_MINOR 1
#define SZ_VERSION_PATCH 0
#define SZ_VERSION "0.1.0"

/* Declare and size an options struct: SZ_OPTS(sz_scanner_opts, o, .glob = "libc.so*");
 * A struct from a newer header is accepted while the bytes this library does
 * not know are zero; otherwise the call fails with -EINVAL (libbpf's rule).
 * The structs have no padding (holes are named reservedN fields, which must be
 * 0), so an initializer zeroes every byte and a later field can take a hole. */
#define SZ_OPTS(TYPE, NAME, ...) struct TYPE NAME = { .sz = sizeof(struct TYPE), __VA_ARGS__ }

/* What an observer returns: go on, or stop the scan or poll now. */
#define SZ_CONTINUE 0
#define SZ_STOP 1

/* Log: where the library's human-readable detail goes (and libbpf's, while
 * the library calls into libbpf: a load failure carries the verifier's log at
 * SZ_LOG_DEBUG).  Process-wide, like libbpf_set_print; NULL discards.  The
 * previous callback is returned. */
enum sz_log_level { SZ_LOG_ERROR = 0, SZ_LOG_WARN, SZ_LOG_INFO, SZ_LOG_DEBUG };
typedef void (*sz_log_fn)(enum sz_log_level level, const char *msg, void *ctx);
SZ_API sz_log_fn sz_set_log(sz_log_fn fn, void *ctx);

enum sz_source {
	SZ_SOURCE_SCAN = 0, /* found by reading /proc */
	SZ_SOURCE_EXEC = 1, /* mapped by execve() */
	SZ_SOURCE_MMAP = 2, /* mapped by mmap() */
	SZ_SOURCE_FORK = 3, /* inherited: forked by a process that maps it */
};

enum sz_sym_type {
	SZ_SYM_NOTYPE = 0,
	SZ_SYM_FUNC,
	SZ_SYM_OBJECT,
	SZ_SYM_IFUNC, /* address is the resolver's, not the implementation dlsym() returns */
	SZ_SYM_TLS,
	SZ_SYM_COMMON,
	SZ_SYM_OTHER,
	SZ_SYM_USDT, /* a USDT probe (.note.stapsdt): struct sz_found's usdt fields */
};

/* One symbol found in one load of one file in one process. */
struct sz_found {
	enum sz_source source;
	pid_t pid;
	const char *comm;
	const char *path;     /* as the process sees it, without " (deleted)" */
	int deleted;	      /* the file was unlinked */
	uint64_t dev, ino;    /* identity of the file (st_dev, st_ino) */
	const char *build_id; /* lowercase hex, or NULL */
	const char *symbol;   /* as requested, e.g. "memcpy@GLIBC_2.14" */
	const char *version;  /* version of the matched definition, or NULL */
	enum sz_sym_type type;
	uint64_t address;	/* runtime address in the process */
	uint64_t load_bias;	/* address - symbol value */
	uint64_t value, size;	/* st_value, st_size */
	int has_file_offset;	/* 0 for symbols in .bss */
	uint64_t file_offset;	/* the uprobe offset */
	int probed;		/* watch with probes: a uprobe covers this function here */
	const char *probe_note; /* why not, when probes were asked for; else NULL */
	/* -s GLOB: the other names of the symbol at this address (one record,
	 * one probe, under the preferred name) */
	const char *const *aliases;
	size_t naliases;
	/* USDT probes (type SZ_SYM_USDT; symbol is "provider:name", value the
	 * note's pc, file_offset the uprobe offset), one record per site: */
	const char *provider, *usdt_name;
	const char *usdt_args;	   /* the argument spec, e.g. "-4@%edi 8@%rsi" */
	uint64_t semaphore;	   /* runtime address of its semaphore; 0: none */
	uint64_t semaphore_offset; /* its file offset (the kernel's ref_ctr_offset) */
	/* watch: the process's cgroup v2 id (its directory's inode) as the
	 * kernel recorded it with the mapping; 0 when the source was /proc */
	uint64_t cgroup_id;
};

/* Why a mapping or symbol could not be resolved: one table (sz_reason_str,
 * and the negative errno of each problem maps to exactly one reason). */
enum sz_reason {
	SZ_REASON_VANISHED = 0, /* process or mapping went away */
	SZ_REASON_PERMISSION,	/* /proc or the file could not be read */
	SZ_REASON_NOT_ELF,	/* mapped file is not a readable ELF image */
	SZ_REASON_SYMBOL_ABSENT,
	SZ_REASON_LAYOUT, /* the mapping fits no segment / TLS symbol */
	SZ_REASON_IO,	  /* anything else */
	SZ_REASON_PATH,	  /* the file's path is unknown or too long to match */
	SZ_REASON_PROBE,  /* a uprobe could not be attached */
	SZ_REASON_COUNT,
	SZ_REASON_MAX = 16 /* room in struct sz_stats: new reasons keep its size */
};

/* Something that could not be resolved; counted and explained, never fatal. */
struct sz_problem {
	enum sz_reason reason;
	int err;	     /* negative errno */
	pid_t pid;	     /* 0 if not about one process */
	const char *comm;    /* or NULL */
	const char *path;    /* or NULL */
	const char *symbol;  /* or NULL */
	const char *message; /* one line, no newline */
	int first;	     /* first report of this (file, symbol, reason); repeats have 0 */
};

/* Return SZ_CONTINUE to go on, SZ_STOP to stop the scan (it returns SZ_STOP). */
typedef int (*sz_found_fn)(const struct sz_found *found, void *ctx);
typedef void (*sz_problem_fn)(const struct sz_problem *problem, void *ctx);

struct sz_scanner_opts {
	size_t sz;	  /* sizeof(struct sz_scanner_opts) */
	const char *glob; /* fnmatch(3) on the base name, or on the path if it has '/' */
	/* "name", "name@VERSION", or a glob over names ("pthread_*": every
	 * function and object of .dynsym and .symtab it matches); as many as
	 * you like */
	const char *const *symbols;
	size_t nsymbols;
	pid_t pid;	       /* only this process; 0 for all */
	int reserved0;	       /* must be 0: a named hole, so that initializers zero it */
	const char *proc;      /* procfs mount point; NULL for "/proc" */
	size_t max_open_files; /* parsed files kept open at once; 0: from RLIMIT_NOFILE */
	/* USDT probes: "PROVIDER:NAME" globs ("NAME": any provider); with or
	 * without symbols (either may be empty, not both). */
	const char *const *usdt;
	size_t nusdt;
};

/* Set sz before the call: the library fills what that size covers. */
struct sz_stats {
	size_t sz;		       /* sizeof(struct sz_stats) */
	uint64_t processes;	       /* processes whose maps were read */
	uint64_t processes_unreadable; /* maps not readable (vanished, permission) */
	uint64_t mappings;	       /* loads of matching files examined */
	uint64_t files_parsed;	       /* distinct files opened and parsed */
	uint64_t found;		       /* found records delivered */
	uint64_t problems[SZ_REASON_MAX];
	uint64_t duplicates;	      /* loads already reported by another source */
	uint64_t files_cached;	      /* parsed files in the cache now */
	uint64_t files_open;	      /* of which open now */
	uint64_t symbol_ids;	      /* distinct function names given an id (BPF keys) */
	uint64_t symbol_ids_overflow; /* functions left without one: the bound was reached */
	uint64_t names_too_long;      /* names past the glob matcher's bound, not matched */
};

struct sz_scanner;

SZ_API int sz_scanner_new(const struct sz_scanner_opts *opts, struct sz_scanner **out);
SZ_API void sz_scanner_free(struct sz_scanner *s);
SZ_API int sz_scanner_on_found(struct sz_scanner *s, sz_found_fn fn, void *ctx);
SZ_API int sz_scanner_on_problem(struct sz_scanner *s, sz_problem_fn fn, void *ctx);
/* One pass over every process (or opts->pid).  Returns 0 or an observer's
 * non-zero return; per-process trouble goes to problem observers. */
SZ_API int sz_scanner_scan(struct sz_scanner *s);
/* 0, or -EINVAL if OUT->sz is smaller than its first field's end. */
SZ_API int sz_scanner_stats(const struct sz_scanner *s, struct sz_stats *out);

/* One-shot convenience: new, on_found, scan, free. */
SZ_API int sz_scan(const struct sz_scanner_opts *opts, sz_found_fn fn, void *ctx);

/* Offline resolution of a symbol in a file (no process). */
struct sz_symbol_info {
	size_t sz;
	enum sz_sym_type type;
	int bind;	   /* STB_* */
	char version[128]; /* "" if unversioned */
	uint64_t value, size;
	int has_file_offset;
	uint64_t file_offset;
	int from_symtab;	   /* found only in .symtab */
	int elf_type;		   /* ET_* */
	char build_id[2 * 64 + 1]; /* hex, "" if none */
};
/* 0; -ESRCH: no such symbol; another negative errno: the file (-ENOENT, not
 * found; -ENOEXEC, not a readable ELF image); detail goes to the log. */
SZ_API int sz_resolve_file(const char *path, const char *symbol, struct sz_symbol_info *out);

/*
 * Watch: a BPF program reports files as they are mapped (execve, mmap); the
 * initial /proc scan runs after the program is attached, so nothing falls in
 * between, and each load is reported once whichever source saw it first.
 */
enum sz_probe_mode {
	SZ_PROBE_NONE = 0,
	SZ_PROBE_COUNT,	  /* calls per process and symbol, aggregated in BPF */
	SZ_PROBE_TRACE,	  /* one record per call and return, with arguments */
	SZ_PROBE_LATENCY, /* log2 histograms of durations, aggregated in BPF */
};

/*
 * Argument values, filters, keys and histograms (struct sz_probe_extra).
 * Arguments are numbered from 0 as in bpftrace (arg0..arg5: the ABI's six
 * integer argument registers).
 */
enum sz_arg_type {
	SZ_ARG_INT = 1, /* signed 64-bit */
	SZ_ARG_UINT,	/* unsigned 64-bit */
	SZ_ARG_INT32,	/* the low 32 bits, signed (the ABI leaves the rest unspecified) */
	SZ_ARG_UINT32,	/* the low 32 bits, unsigned */
	SZ_ARG_HEX,	/* unsigned 64-bit, shown in hex */
	SZ_ARG_STR,	/* NUL-terminated string the argument points to */
	SZ_ARG_BUF,	/* bytes the argument points to */
};

/* --arg N:TYPE: a value to show with each traced call. */
struct sz_arg_spec {
	unsigned arg; /* 0..5 */
	enum sz_arg_type type;
	/* STR: most bytes shown (0: 128); BUF: bytes, or with len_from_arg the
	 * cap (0: 256); at most 4096 */
	unsigned len;
	int len_from_arg; /* BUF: the length is argument len_arg (0..5), not len */
	unsigned len_arg;
};

enum sz_filter_op { SZ_FILTER_EQ = 1, SZ_FILTER_NE, SZ_FILTER_LT, SZ_FILTER_GT };

/* --filter 'argN OP VALUE', evaluated in BPF at function entry. */
struct sz_arg_filter {
	unsigned arg;		/* 0..5 */
	enum sz_arg_type type;	/* INT, UINT, INT32 or UINT32: width and signedness */
	enum sz_filter_op op;
	uint64_t value;		/* two's complement for negative values */
};

enum sz_value_from { SZ_VALUE_NONE = 0, SZ_VALUE_ARG, SZ_VALUE_RET };

/* Where a --key or --hist value comes from. */
struct sz_value_src {
	enum sz_value_from from;
	unsigned arg; /* SZ_VALUE_ARG: 0..5 */
	enum sz_arg_type type; /* INT (0 means INT), UINT, INT32 or UINT32 */
};

struct sz_probe_extra {
	size_t sz; /* sizeof(struct sz_probe_extra) */
	const struct sz_arg_spec *args; /* SZ_PROBE_TRACE: up to 8 */
	size_t nargs;
	const struct sz_arg_filter *filters; /* ANDed; up to 8 */
	size_t nfilters;
	const char *comm; /* fnmatch(3) glob on the process name; NULL: every process */
	int latency;	  /* SZ_PROBE_COUNT: also latency histograms */
	struct sz_value_src key;  /* SZ_PROBE_COUNT/LATENCY: calls per value */
	struct sz_value_src hist; /* SZ_PROBE_COUNT/LATENCY: log2 histogram of a value */
	unsigned reserved0;	  /* must be 0: a named hole, so that initializers zero it */
};

/* One --arg value of a call. */
struct sz_arg_value {
	unsigned arg;
	enum sz_arg_type type;
	uint64_t value;		   /* integer types; BUF from an argument: the length asked */
	const unsigned char *data; /* STR, BUF: LEN bytes (a string without its NUL) */
	size_t len;
	int fault;     /* the memory could not be read: no data */
	int null;      /* the pointer was NULL: no data */
	int truncated; /* longer than shown (the cap) */
	int len_from_arg; /* BUF: the length came from argument len_arg (value: its value) */
	unsigned len_arg;
};

/* --stacks: how user stacks are taken at each probe hit. */
enum sz_stack_method {
	SZ_STACKS_OFF = 0,
	SZ_STACKS_FP,	 /* the kernel walks frame pointers; the caller from *sp */
	SZ_STACKS_DWARF, /* registers + a slice of stack, unwound with CFI (libdw) */
};

/* One frame of a user stack, symbolized with what was known when it was taken. */
struct sz_frame {
	uint64_t address;     /* runtime address (a return address past the first frame) */
	const char *symbol;   /* NULL: no symbol holds it */
	uint64_t offset;      /* address - the symbol's start */
	const char *path;     /* the mapped file, NULL: no file mapping holds it */
	const char *build_id; /* hex, NULL if the file has none */
	uint64_t vaddr;	      /* the file's ELF virtual address for ADDRESS */
};

struct sz_stack {
	const struct sz_frame *frames; /* innermost (the probed function) first */
	size_t nframes;
	/* NULL: the unwinder reached the outermost frame; else why it stopped early
	 * ("slice end", "depth cap", "unwinder: ...", "no frame pointers ...") */
	const char *truncated;
};

/* One call or return (SZ_PROBE_TRACE). */
struct sz_call {
	int is_return;
	pid_t pid, tid;
	const char *comm;
	const char *symbol;
	uint64_t ts_ns;	      /* CLOCK_MONOTONIC */
	uint64_t args[6];     /* calls: the first six integer arguments */
	uint64_t ret;	      /* returns */
	uint64_t duration_ns; /* returns: 0 if the call was not seen */
	const struct sz_arg_value *values; /* calls: the --arg values, in order */
	size_t nvalues;
	const struct sz_stack *stack; /* --stacks, calls: the caller's stack; NULL if none */
};
typedef void (*sz_call_fn)(const struct sz_call *call, void *ctx);
typedef void (*sz_count_fn)(pid_t pid, const char *symbol, uint64_t calls, void *ctx);
/* BUCKETS[i] counts durations in [2^i, 2^(i+1)) ns. */
typedef void (*sz_latency_fn)(const char *symbol, const uint64_t *buckets, size_t nbuckets,
			      void *ctx);
/* --key: calls per value, most frequent first within a symbol. */
typedef void (*sz_key_fn)(const char *symbol, uint64_t value, uint64_t calls, void *ctx);
/* --hist: BUCKETS[0] negative values (signed types), [1] zero, [2 + i] values in
 * [2^i, 2^(i+1)). */
typedef void (*sz_hist_fn)(const char *symbol, const uint64_t *buckets, size_t nbuckets,
			   void *ctx);

/* How the watch learns of new mappings (exec, fork and exit are BPF
 * tracepoints either way). */
enum sz_mmap_hook {
	/* the default: perf, or the tracepoint with freeze, where no perf
	 * event can be opened, or where CPUs may come online later (perf events
	 * are per CPU); the summary's mmap_hook says which ran */
	SZ_MMAP_HOOK_AUTO = 0,
	/* perf's own mapping records (PERF_RECORD_MMAP2, one software event per
	 * CPU): no syscall pays anything; userspace reads every executable
	 * mapping of the host and matches the glob, and a BPF program where
	 * mmap(2) drops the mmap lock wakes it at once for a matching one (see
	 * sz_watch_stats.hints); no freeze */
	SZ_MMAP_HOOK_PERF = 1,
	/* BPF at the exit of mmap(2) (tp/syscalls/sys_exit_mmap): the glob runs in
	 * the kernel and freeze can stop the process there, but an enabled
	 * syscall tracepoint sends every syscall of every task through the
	 * kernel's slow path (a getppid loop pays ~1.3x) */
	SZ_MMAP_HOOK_TRACEPOINT = 2,
};

struct sz_watch_opts {
	size_t sz; /* sizeof(struct sz_watch_opts) */
	const char *glob;
	const char *const *symbols;
	size_t nsymbols;
	pid_t pid;		  /* only this process; 0 for all */
	int no_scan;		  /* skip the initial scan of running processes */
	size_t ring_bytes;	  /* BPF ring buffer size (power of 2); 0: 4 MiB */
	const char *proc;	  /* procfs mount point; NULL for "/proc" */
	enum sz_probe_mode probe; /* attach uprobes to the functions found */
	int freeze;		  /* stop a process that maps a matching file until
				     * its probes are attached, so no call is missed */
	size_t max_open_files;	  /* as in struct sz_scanner_opts */
	/* --freeze: the longest any stop lasts, whatever happens to the watcher;
	 * 0: 500 ms */
	unsigned freeze_timeout_ms;
	unsigned reserved0; /* must be 0: a named hole, so that initializers zero it */
	/* arguments, filters, keys, histograms, --count with latency; NULL: none.
	 * Copied by sz_watch_new. */
	const struct sz_probe_extra *extra;
	/* Probes with a glob in symbols: distinct function names that get an
	 * id (BPF keys and cookies); a function past it is reported, not
	 * probed, and counted (symbol_ids_overflow).  0: 65,536 (4,096 with
	 * SZ_PROBE_LATENCY, whose histograms are per-CPU arrays) */
	size_t max_symbols;
	/* 1: one perf-event uprobe per function even where the kernel has
	 * multi-uprobe links (kernel 6.6; pid filtering 6.9), which are used
	 * otherwise: one link per file and program */
	int uprobe_single;
	unsigned reserved1; /* must be 0: a named hole, so that initializers zero it */
	/* USDT probes, as in struct sz_scanner_opts; probed like symbols. */
	const char *const *usdt;
	size_t nusdt;
	/* Arguments of USDT probes read as C strings (SZ_PROBE_TRACE): "N" (the
	 * Nth argument, from 0, of every probe) or "PROVIDER:NAME:N" (globs). */
	const char *const *usdt_str;
	size_t nusdt_str;
	enum sz_stack_method stacks; /* user stacks with --count and --trace */
	unsigned mmap_hook;	     /* enum sz_mmap_hook (was reserved2: 0, AUTO, is the default) */
	size_t stack_bytes; /* SZ_STACKS_DWARF: stack copied per hit (4 KiB multiple); 0: 8 KiB */
};

/* Why something was lost (struct sz_lost, one report per reason). */
enum sz_lost_reason {
	/* the ring buffer was full: records dropped; a rescan repairs what lives */
	SZ_LOST_RING_FULL = 0,
	/* the kernel side's set of known processes was full: those processes'
	 * forks (loads of their children) and exits are not reported */
	SZ_LOST_SEEN_FULL = 1,
	/* mmaps not examined: the VMA lookup was refused (the process's mmap
	 * lock was taken by another of its threads); any of them may have been a load */
	SZ_LOST_VMA_BUSY = 2,
};
/* One hit of a USDT probe (SZ_PROBE_TRACE), arguments typed by its spec. */
struct sz_usdt_value {
	int size;	 /* bytes: 1, 2, 4 or 8 */
	int is_signed;	 /* the spec's size was negative */
	int64_t s;	 /* signed arguments */
	uint64_t u;	 /* unsigned ones, cut to their size */
	const char *str; /* read as a string (usdt_str), else NULL */
};
struct sz_usdt_call {
	pid_t pid, tid;
	const char *comm;
	const char *provider, *name;
	uint64_t ts_ns; /* CLOCK_MONOTONIC */
	int nargs;
	struct sz_usdt_value args[12];
	const struct sz_stack *stack; /* --trace --stacks: the hit's stack; NULL if none */
};
typedef void (*sz_usdt_call_fn)(const struct sz_usdt_call *call, void *ctx);
typedef void (*sz_usdt_count_fn)(pid_t pid, const char *provider, const char *name, uint64_t hits,
				 void *ctx);

/* Records the kernel side could not deliver, and what a rescan recovered. */
struct sz_lost {
	uint64_t records;  /* dropped since the last report (SZ_LOST_RING_FULL) */
	uint64_t repaired; /* loads the rescan found that had not been reported */
	/* loads that may be missing for this reason since the last report: dropped
	 * records that each stood for a load; processes not remembered; mmaps not
	 * examined (an upper bound: not every one was a load) */
	uint64_t loads;
	enum sz_lost_reason reason;
};
SZ_API const char *sz_lost_reason_str(enum sz_lost_reason r);
typedef void (*sz_lost_fn)(const struct sz_lost *lost, void *ctx);

/* Set sz before the call, as for struct sz_stats. */
struct sz_watch_stats {
	size_t sz;		 /* sizeof(struct sz_watch_stats) */
	uint64_t events;	 /* records received from BPF */
	uint64_t bad_records;	 /* malformed records (counted, dropped) */
	uint64_t duplicates;	 /* loads already reported by another source */
	uint64_t lost, repaired; /* totals of the lost reports */
	uint64_t exits;		 /* processes forgotten on exit */
	uint64_t probes;	 /* uprobes attached (per inode and symbol, or per process) */
	uint64_t probe_drops;	 /* call records the probe ring could not take */
	uint64_t frozen;	 /* processes stopped and resumed for --freeze */
	uint64_t kernel_deduped; /* mmaps BPF did not report: same process image, file, place
				  * (perf hook: wake-ups not sent, same image and file) */
	uint64_t glob_unsure;	 /* records whose match BPF left to userspace (step budget) */
	/* stops ended by the bound (freeze_timeout_ms), not by the watcher */
	uint64_t freeze_timeouts;
	/* stops not made: the event loop was not alive (the lease had lapsed) */
	uint64_t freeze_skipped;
	/* stops not made: too many processes stopped at once */
	uint64_t freeze_full;
	/* records not made: the process has no pid in our PID namespace */
	uint64_t invisible;
	/* --latency: returns whose call's start was not seen (it began before
	 * the probe, or its start was evicted): counted, not timed */
	uint64_t latency_unmatched;
	/* losses by reason (enum sz_lost_reason): the sum of sz_lost.loads, and
	 * each reason's own count: processes not remembered, mmaps not examined
	 * (records dropped by a full ring are `lost`) */
	uint64_t lost_loads;
	uint64_t seen_full;
	uint64_t vma_busy;
	/* bytes of the records received (variable length: events / record_bytes
	 * is the mean record size the ring holds) */
	uint64_t record_bytes;
	/* --stacks: stacks received, the ring could not take, cut short (see
	 * sz_stack.truncated), taken in a process whose mappings could not be read */
	uint64_t stacks, stack_drops, stacks_truncated, stack_procs_unread;
	/* --key: calls whose value found the key table full (counted nowhere else) */
	uint64_t key_overflow;
	/* filters: returns whose call's verdict was not seen (began before the
	 * probe, or evicted): not reported */
	uint64_t filter_unseen;
	/* kernel attachments behind the uprobes: multi-uprobe links (one per
	 * file and program), or perf events (one per uprobe) */
	uint64_t probe_links;
	int probe_multi; /* 1 if the uprobes went on through multi-uprobe links */
	/* USDT: (file, probe) attachments (libbpf's, all sites of a probe each),
	 * and hit records the ring could not take */
	uint64_t usdt_probes;
	uint64_t usdt_drops;
	/* the mmap hook that runs (enum sz_mmap_hook; AUTO only before
	 * sz_watch_start), and with SZ_MMAP_HOOK_PERF the matching mappings BPF
	 * woke the watch for, and of those the ones whose perf record did not
	 * come (the process was scanned instead) */
	unsigned mmap_hook;
	uint64_t hints;
	uint64_t hints_unmet;
};

struct sz_watch;

SZ_API int sz_watch_new(const struct sz_watch_opts *opts, struct sz_watch **out);
/* Observers: same found/problem callbacks as the scanner, plus loss reports. */
SZ_API int sz_watch_on_found(struct sz_watch *w, sz_found_fn fn, void *ctx);
SZ_API int sz_watch_on_problem(struct sz_watch *w, sz_problem_fn fn, void *ctx);
SZ_API int sz_watch_on_lost(struct sz_watch *w, sz_lost_fn fn, void *ctx);
/* Load and attach the BPF program, then scan running processes (unless
 * no_scan).  0, SZ_STOP (an observer stopped the initial scan), or a negative
 * errno if BPF cannot be used (why: the log callback, SZ_LOG_ERROR). */
SZ_API int sz_watch_start(struct sz_watch *w);
/* Wait up to TIMEOUT_MS for records and handle them, and repair any loss.
 * It waits at most 20 ms: records of exits and forks, and calls, returns,
 * stacks and USDT hits until their ring is a quarter full, wake no one and
 * are read within that (sz_watch_fd is readable that often too).  Returns 0,
 * SZ_STOP if an observer asked to stop, or a negative errno
 * (-EINTR on a signal: call again or stop). */
SZ_API int sz_watch_poll(struct sz_watch *w, int timeout_ms);
/* A descriptor for the caller's own poll/epoll loop: readable when records
 * wait or housekeeping is due; then call sz_watch_poll(w, 0).  Valid after
 * sz_watch_start; owned by the watch. */
SZ_API int sz_watch_fd(const struct sz_watch *w);
/* The pipeline's counters (all sources) and the watch's own; either may be
 * NULL.  0, or -EINVAL if a size field is too small. */
SZ_API int sz_watch_stats(const struct sz_watch *w, struct sz_stats *pipeline,
			  struct sz_watch_stats *watch);
/* Stop watching: detach, then deliver the records still queued (resuming any
 * process frozen for them).  Counts and histograms stay readable until
 * sz_watch_free(), which stops first if needed. */
SZ_API void sz_watch_stop(struct sz_watch *w);
/* Probes: the call stream (SZ_PROBE_TRACE; observers are a list, like the
 * others), and what BPF aggregated so far. */
SZ_API int sz_watch_on_call(struct sz_watch *w, sz_call_fn fn, void *ctx);
SZ_API int sz_watch_counts(const struct sz_watch *w, sz_count_fn fn, void *ctx);
SZ_API int sz_watch_latency(const struct sz_watch *w, sz_latency_fn fn, void *ctx);
SZ_API int sz_watch_keys(const struct sz_watch *w, sz_key_fn fn, void *ctx);
SZ_API int sz_watch_hist(const struct sz_watch *w, sz_hist_fn fn, void *ctx);
/* USDT probes: each hit (SZ_PROBE_TRACE), and hits per process and probe
 * (SZ_PROBE_COUNT). */
SZ_API int sz_watch_on_usdt_call(struct sz_watch *w, sz_usdt_call_fn fn, void *ctx);
SZ_API int sz_watch_usdt_counts(const struct sz_watch *w, sz_usdt_count_fn fn, void *ctx);
/* --count --stacks: each unique (symbol, stack) with its calls, most frequent first. */
typedef void (*sz_stack_fn)(const char *symbol, const struct sz_stack *stack, uint64_t calls,
			    void *ctx);
SZ_API int sz_watch_stacks(const struct sz_watch *w, sz_stack_fn fn, void *ctx);
/* Detach and free everything; accepts NULL. */
SZ_API void sz_watch_free(struct sz_watch *w);

SZ_API const char *sz_reason_str(enum sz_reason r);
SZ_API const char *sz_sym_type_str(enum sz_sym_type t);
SZ_API const char *sz_source_str(enum sz_source s);

#ifdef __cplusplus
}
#endif

#endif /* SYMBOLYZE_H */
