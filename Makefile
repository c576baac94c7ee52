# SPDX-License-Identifier: BSD-2-Clause
# symbolyze build: out-of-tree in $(BUILD), quiet unless V=1, header
# dependencies from -MMD -MP, BPF skeletons generated (never committed).
#   make            library, CLI, fixtures
#   make check      deps, build, unit tests (also under ASan/UBSan), integration tests (root)
#   make demo       run symbolyze on the bundled demo target
#   make fuzz       run each fuzz target for FUZZ_SECONDS
.DELETE_ON_ERROR:
.SUFFIXES:
# BPF objects are inputs of skeletons; keep them for inspection.
.SECONDARY:

BUILD ?= build
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH ?= x86
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 60

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wno-unused-parameter
CFLAGS ?= -O2 -g
ALL_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -fPIC -fvisibility=hidden -D_GNU_SOURCE \
	-Iinclude -Isrc -I$(BUILD) -MMD -MP
ifeq ($(SAN),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_LDFLAGS := -fsanitize=address,undefined
endif
LIBS := -lbpf -ldw -lelf -lz -llzma -lpthread
LLVM_STRIP ?= llvm-strip

# The library, by room: ELF and /proc parsing, files (identity, cache), the
# pipeline, its sources (scan, watch) and its consumers (probes).
LIB_SRCS := src/util/glob.c src/util/log.c src/elf/elf.c src/elf/notes.c src/elf/bias.c \
	src/elf/resolve.c src/elf/addr.c src/elf/debug.c src/proc/maps.c src/files/open.c \
	src/files/cache.c src/pipeline/pipeline.c src/pipeline/loads.c src/pipeline/reason.c \
	src/sources/scan.c src/sources/watch_rec.c src/sources/watch.c \
	src/consumers/probe.c src/sources/tracefs.c
LIB_SRCS += src/elf/usdt.c
LIB_SRCS += src/elf/symsel.c src/pipeline/symbols.c src/consumers/probe_set.c # -s GLOB, attach sets
LIB_SRCS += src/pipeline/usdt.c src/consumers/usdt_probes.c src/sources/watch_usdt.c # -u
LIB_SRCS += src/consumers/uprobe_multi.c src/consumers/umulti_count.c src/consumers/usdt.c
CLI_SRCS := src/cli/main.c src/cli/args.c src/cli/out.c src/cli/output.c src/cli/fmt_text.c \
	src/cli/fmt_json.c src/cli/cmd_scan.c src/cli/cmd_watch.c src/cli/cmd_resolve.c \
	src/cli/cmd_symbolize.c src/cli/cmd_list.c
CLI_SRCS += src/cli/caps.c # least privilege: capability sets checked at start
CLI_SRCS += src/cli/metrics.c src/cli/metrics_http.c # Prometheus endpoint, --interval
LIB_SRCS += src/proc/cgroup.c
CLI_SRCS += src/cli/mhd_dl.c # libmicrohttpd by dlopen (--metrics only): RSS, issue 10
CLI_SRCS += src/cli/probe_args.c # issue 11: --arg, --filter, --comm, --key, --hist
CLI_SRCS += src/cli/args_usdt.c src/cli/fmt_usdt.c # -u, --usdt-str
LIB_SRCS += src/sources/freeze.c src/proc/pidns.c
LIB_SRCS += src/sources/iter.c # issue 10: the initial scan by iter/task_vma
LIB_SRCS += src/sources/perfmmap.c # issue 10: --mmap-hook perf
LIB_SRCS += src/consumers/args.c # issue 11: --arg, --filter, --comm, --key, --hist
CLI_SRCS += src/cli/args_stacks.c src/cli/fmt_stacks.c # --stacks
CLI_SRCS += src/cli/fmt_pprof.c # --pprof FILE (protoc-c rules: mk/pprof.mk)
CLI_SRCS += src/cli/cgroup_path.c # issue 10: a record's cgroup by its kernel id
CLI_LIBS += -lprotobuf-c
LIB_SRCS += src/consumers/stacks.c # --stacks: unwind (libdw), symbolize, aggregate
LIB_SRCS += src/consumers/probe_fold.c # issue 13: exited processes' counts, folded
LIB_SRCS += src/util/kbtf.c src/util/kbtf_load.c # issue 10: a minimal kernel BTF for CO-RE
LIB_SRCS += src/util/detach.c # issue 12: links detached at once, grace periods overlapping
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS += $(BUILD)/proto/profile.pb-c.o # --pprof: generated from proto/profile.proto

# BPF programs, each paired with its loader (bpf/watch.bpf.c <-> src/sources/watch.c,
# bpf/probe.bpf.c <-> src/consumers/probe.c).
BPF_APPS := watch probe
BPF_APPS += umulti usdt
BPF_OBJS := $(BPF_APPS:%=$(BUILD)/bpf/%.bpf.o)
BPF_SKELS := $(BPF_APPS:%=$(BUILD)/%.skel.h)

UNIT_TESTS := test_glob test_maps test_notes test_bias test_elf test_output test_watch_rec \
	test_pipeline test_loads test_addr
UNIT_TESTS += test_usdt test_usdt_pipe
UNIT_TESTS += test_args # issue 11: probe options and argument records
UNIT_TESTS += test_opts # options structs: no padding, unknown bytes refused
UNIT_TESTS += test_cgroup
UNIT_TESTS += test_mx # issue 13: the exporter's tables (src/cli/metrics.c)
UNIT_TESTS += test_perfmmap # issue 10: --mmap-hook perf records
UNIT_TESTS += test_kbtf # issue 10: the minimal kernel BTF against libbpf's reading
UNIT_TESTS += test_detach # issue 12: links detached at once
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/%)

FIX := $(BUILD)/fixtures
FIXTURES := $(FIX)/libfix.so $(FIX)/libfix-maxpage.so $(FIX)/libfix-nosep.so \
	$(FIX)/libfix-64k-nosep.so $(FIX)/libfix-nosep-maxpage.so $(FIX)/target-pie \
	$(FIX)/target-nopie $(FIX)/pyembed $(FIX)/storm $(FIX)/caller
# symbolize: a library with static functions and aliases, its stripped variants (one per
# kind of separate debug file) and a target that answers with dladdr().
FIXTURES += $(FIX)/libsymdbg.so $(FIX)/symtarget $(FIX)/symdbg/.stamp
FIXTURES += $(FIX)/sdt $(FIX)/libmany.so $(FIX)/many_caller
FIXTURES += $(FIX)/loader $(FIX)/libplain.so
# issue 11: arguments with known bytes (str, buf, faulting pointers) and values
FIXTURES += $(FIX)/libargs.so $(FIX)/argcaller
FIXTURES += $(FIX)/sslpair # --arg 1:buf:arg2 on the real libssl (SSL_write)
FIXTURES += $(FIX)/libalias.so $(FIX)/alias_caller
FIXTURES += $(FIX)/stackfix-fp $(FIX)/stackfix-nofp
FIXTURES += $(FIX)/sdtstack-nofp $(FIX)/sdtstack-fp # --stacks on USDT probe sites

all: $(BUILD)/symbolyze $(BUILD)/libsymbolyze.a $(BUILD)/libsymbolyze.so $(FIXTURES)

$(BUILD)/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libsymbolyze.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libsymbolyze.so: $(LIB_OBJS) libsymbolyze.map
	$(call msg,LD,$@)
	$(Q)$(CC) -shared -Wl,--version-script=libsymbolyze.map -Wl,-soname,libsymbolyze.so.0 \
		$(SAN_LDFLAGS) -o $@ $(LIB_OBJS) $(LIBS)

$(BUILD)/symbolyze: $(CLI_OBJS) $(BUILD)/libsymbolyze.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(SAN_LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libsymbolyze.a $(LIBS) $(CLI_LIBS)

# --- BPF: clang -target bpf, then a skeleton in the build directory ---------
$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c vmlinux/$(ARCH)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux/$(ARCH) -Ibpf \
		-MMD -MP -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@ # keep BTF, drop DWARF: a smaller skeleton

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GENSKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# libbpf's usdt.bpf.h includes <linux/errno.h>, whose <asm/errno.h> lives in the
# multiarch directory clang -target bpf does not search.
$(BUILD)/bpf/usdt.bpf.o: bpf/usdt.bpf.c vmlinux/$(ARCH)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux/$(ARCH) -Ibpf \
		-idirafter /usr/include/$(shell gcc -print-multiarch) -MMD -MP -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

# Each loader needs its skeleton before it compiles.
$(BUILD)/src/sources/watch.o: $(BUILD)/watch.skel.h
$(BUILD)/src/consumers/probe.o: $(BUILD)/probe.skel.h
$(BUILD)/src/consumers/umulti_count.o: $(BUILD)/umulti.skel.h
$(BUILD)/src/consumers/usdt.o: $(BUILD)/usdt.skel.h
$(BUILD)/src/sources/iter.o: $(BUILD)/watch.skel.h

# --- fixtures: target programs and libraries in every layout we claim -------
# Fixtures are built with gcc whatever CC is (noipa keeps symbols where tests expect them).
FIX_CC ?= gcc
FIX_CFLAGS := -O2 -g -Wall -Wextra -Werror -fPIC
LIBFIX_LD := -shared -Wl,--version-script=tests/fixtures/libfix.map

$(FIX)/libfix.so: tests/fixtures/libfix.c tests/fixtures/libfix.map
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) $(LIBFIX_LD) -o $@ $<
$(FIX)/libfix-maxpage.so: tests/fixtures/libfix.c tests/fixtures/libfix.map
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) $(LIBFIX_LD) -Wl,-z,max-page-size=0x200000 -o $@ $<
$(FIX)/libfix-nosep.so: tests/fixtures/libfix.c tests/fixtures/libfix.map
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) $(LIBFIX_LD) -Wl,-z,noseparate-code -o $@ $<
$(FIX)/libfix-64k-nosep.so: tests/fixtures/libfix.c tests/fixtures/libfix.map
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) $(LIBFIX_LD) -Wl,-z,max-page-size=0x10000 \
		-Wl,-z,noseparate-code -o $@ $<
$(FIX)/libfix-nosep-maxpage.so: tests/fixtures/libfix.c tests/fixtures/libfix.map
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) $(LIBFIX_LD) -Wl,-z,max-page-size=0x200000 \
		-Wl,-z,noseparate-code -o $@ $<
$(FIX)/target-pie: tests/fixtures/target.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -fPIE -pie -rdynamic -o $@ $< -ldl
$(FIX)/target-nopie: tests/fixtures/target.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(filter-out -fPIC,$(FIX_CFLAGS)) -fno-PIE -no-pie -rdynamic -o $@ $< -ldl
$(FIX)/caller: tests/fixtures/caller.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -o $@ $< -ldl
$(FIX)/loader: tests/fixtures/loader.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -o $@ $< -ldl
$(FIX)/libargs.so: tests/fixtures/libargs.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -shared -o $@ $<
$(FIX)/sslpair: tests/fixtures/sslpair.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -o $@ $< -lssl -lcrypto -lpthread
$(FIX)/argcaller: tests/fixtures/argcaller.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -o $@ $< -ldl
$(FIX)/libplain.so: tests/fixtures/libplain.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -shared -o $@ $<
$(FIX)/storm: tests/fixtures/storm.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -o $@ $< -ldl
$(FIX)/pyembed: tests/fixtures/pyembed.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) $$(PKG_CONFIG_PATH= /usr/bin/pkg-config --cflags python3-embed) \
		-o $@ $< $$(PKG_CONFIG_PATH= /usr/bin/pkg-config --libs python3-embed) -ldl

# --stacks: one call chain, with frame pointers and without (only CFI recovers it).
$(FIX)/stackfix-fp: tests/fixtures/stackfix.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -fno-omit-frame-pointer -o $@ $<
$(FIX)/stackfix-nofp: tests/fixtures/stackfix.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -fomit-frame-pointer -o $@ $<
$(FIX)/sdtstack-nofp: tests/fixtures/sdtstack.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -fomit-frame-pointer -o $@ $<
$(FIX)/sdtstack-fp: tests/fixtures/sdtstack.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -fno-omit-frame-pointer -o $@ $<

$(FIX)/libsymdbg.so: tests/fixtures/libsymdbg.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -shared -o $@ $<
$(FIX)/symtarget: tests/fixtures/symtarget.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -fPIE -pie -rdynamic -o $@ $< -ldl
# Stripped variants of libsymdbg.so, each named only through one kind of debug file:
#   libsymdbg-link.so  .gnu_debuglink -> libsymdbg-link.so.debug beside it
#   libsymdbg-bid.so   the build-ID tree under symdbg/root/usr/lib/debug (a private root)
#   libsymdbg-mini.so  MiniDebugInfo, made as gdb's manual says (nm, objcopy, xz)
SD := $(FIX)/symdbg
$(SD)/.stamp: $(FIX)/libsymdbg.so
	$(call msg,FIXTURE,$(SD)/)
	$(Q)set -e; rm -rf $(SD); mkdir -p $(SD); export LC_ALL=C; \
	objcopy --only-keep-debug $< $(SD)/libsymdbg-link.so.debug; \
	strip --strip-all -o $(SD)/libsymdbg-link.so $<; \
	cd $(SD) && objcopy --add-gnu-debuglink=libsymdbg-link.so.debug libsymdbg-link.so && cd - >/dev/null; \
	strip --strip-all -o $(SD)/libsymdbg-bid.so $<; \
	id=$$(readelf -n $< | awk '/Build ID:/ {print $$3}'); test -n "$$id"; \
	mkdir -p $(SD)/root/usr/lib/debug/.build-id/$${id%"$${id#??}"}; \
	objcopy --only-keep-debug $< $(SD)/root/usr/lib/debug/.build-id/$${id%"$${id#??}"}/$${id#??}.debug; \
	nm -D $< --format=posix --defined-only | awk '{ print $$1 }' | sort > $(SD)/dynsyms; \
	nm $< --format=posix --defined-only | awk '{ if ($$2 == "T" || $$2 == "t" || $$2 == "D") print $$1 }' | sort > $(SD)/funcsyms; \
	comm -13 $(SD)/dynsyms $(SD)/funcsyms > $(SD)/keep_symbols; \
	objcopy --only-keep-debug $< $(SD)/full.debug; \
	objcopy -S --remove-section .gdb_index --remove-section .comment \
		--keep-symbols=$(SD)/keep_symbols $(SD)/full.debug $(SD)/mini_debuginfo; \
	strip --strip-all -R .comment -o $(SD)/libsymdbg-mini.so $<; \
	xz -f $(SD)/mini_debuginfo; \
	objcopy --add-section .gnu_debugdata=$(SD)/mini_debuginfo.xz $(SD)/libsymdbg-mini.so; \
	touch $@
# USDT fixture: <sys/sdt.h> probes, one of them behind a semaphore (its own unit).
$(FIX)/sdt: tests/fixtures/sdt.c tests/fixtures/sdt_sema.c
	$(call msg,FIXTURE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -o $@ $^

# 1,000 generated functions, distinct bodies (no folding into aliases), and a
# table the caller walks; the C source is generated, never committed.
MANY_N := 1000
$(FIX)/gen/libmany.c: Makefile
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q){ echo '/* generated by the Makefile: $(MANY_N) functions for multi-uprobe tests */'; \
	for i in $$(seq -w 0 $$(($(MANY_N) - 1))); do \
		echo "__attribute__((noinline)) int szf_$$i(int x) { __asm__ volatile(\"\"); return x * 3 + 1$$i; }"; \
	done; echo 'int (*const szf_table[])(int) = {'; \
	for i in $$(seq -w 0 $$(($(MANY_N) - 1))); do echo "szf_$$i,"; done; \
	echo '}; const char *const szf_names[] = {'; \
	for i in $$(seq -w 0 $$(($(MANY_N) - 1))); do echo "\"szf_$$i\","; done; \
	echo '}; const int szf_count = $(MANY_N);'; } > $@
$(FIX)/libmany.so: $(FIX)/gen/libmany.c
	$(call msg,FIXTURE,$@)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -Wno-missing-prototypes -fno-ipa-icf -shared -o $@ $<
$(FIX)/many_caller: tests/fixtures/many_caller.c $(FIX)/libmany.so
	$(call msg,FIXTURE,$@)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -o $@ $< -L$(FIX) -lmany -Wl,-rpath,'$$ORIGIN'

# -s GLOB: three names of one function, and their caller.
$(FIX)/libalias.so: tests/fixtures/libalias.c
	$(call msg,FIXTURE,$@)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -shared -o $@ $<
$(FIX)/alias_caller: tests/fixtures/alias_caller.c $(FIX)/libalias.so
	$(call msg,FIXTURE,$@)
	$(Q)$(FIX_CC) $(FIX_CFLAGS) -o $@ $< -L$(FIX) -lalias -Wl,-rpath,'$$ORIGIN'

# Drivers: small programs over the library API for privileged tests and bench.
DRIVERS := $(BUILD)/tests/umulti_drive
DRIVERS += $(BUILD)/tests/freeze_order # --freeze: records of one stop in any order
$(BUILD)/tests/freeze_order: tests/drivers/freeze_order.c $(BUILD)/libsymbolyze.a
	$(call msg,DRIVER,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libsymbolyze.a $(SAN_LDFLAGS) $(LIBS)
$(BUILD)/tests/umulti_drive: tests/drivers/umulti_drive.c $(BUILD)/libsymbolyze.a
	$(call msg,DRIVER,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libsymbolyze.a $(SAN_LDFLAGS) $(LIBS)
all: $(DRIVERS)

# --- tests ------------------------------------------------------------------
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsymbolyze.a $(BUILD)/src/cli/output.o
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/src/cli/output.o $(BUILD)/libsymbolyze.a \
		$(SAN_LDFLAGS) -lcmocka $(LIBS)

unit: $(UNIT_BINS) $(FIX)/libfix.so $(FIX)/libsymdbg.so $(FIX)/symdbg/.stamp $(FIX)/sdt
	$(Q)set -e; for t in $(UNIT_BINS); do SZ_FIXTURES=$(FIX) ./$$t; done

# The same tests against an ASan/UBSan build (clang); fixtures stay the gcc ones.
asan: $(FIX)/libfix.so $(FIX)/sdt
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SAN=1 CC=clang FIX=$(FIX) \
		build-asan/symbolyze build-asan/tests/umulti_drive build-asan/tests/freeze_order unit

# pytest from Debian (python3-pytest in scripts/deps.sh), not whatever python3 is first in PATH.
# test_deb.py installs packages on the host: make deb-check runs it, not check.
PYTEST := /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration \
	--ignore=tests/integration/test_deb.py
integration: all
	$(call msg,PYTEST,$(BUILD)/symbolyze)
	$(Q)$(PYTEST) --bin $(BUILD)/symbolyze --fixture-dir $(FIX)

deps:
	$(Q)scripts/deps.sh

check: deps
	$(Q)$(MAKE) --no-print-directory all unit
	$(Q)$(MAKE) --no-print-directory -j2 lint
	$(Q)$(MAKE) --no-print-directory asan
	$(Q)$(MAKE) --no-print-directory integration
	@# issue 10: the ASan pass runs every watch on the other mmap hook (the
	@# default is perf's records; --freeze tests run the tracepoint either way)
	$(call msg,PYTEST,build-asan/symbolyze SYMBOLYZE_MMAP_HOOK=tracepoint)
	$(Q)SYMBOLYZE_MMAP_HOOK=tracepoint $(PYTEST) --bin build-asan/symbolyze --fixture-dir $(FIX)
	$(Q)bash tests/install/run.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh $(BUILD)

# --- fuzzing: libFuzzer + ASan/UBSan, each target for FUZZ_SECONDS ---------
FUZZ_TARGETS := fuzz_elf fuzz_notes fuzz_maps fuzz_glob fuzz_watch_rec fuzz_debuglink fuzz_minidebug
FUZZ_TARGETS += fuzz_usdt
FUZZ_TARGETS += fuzz_iter_rec
FUZZ_TARGETS += fuzz_cgroup
FUZZ_TARGETS += fuzz_args_rec # issue 11: argument data of call records
FUZZ_TARGETS += fuzz_symsel # -s GLOB over a hostile file
FUZZ_TARGETS += fuzz_stack_rec
FUZZ_TARGETS += fuzz_perf_rec # issue 10: --mmap-hook perf records
FUZZ_TARGETS += fuzz_kbtf # issue 10: the minimal kernel BTF
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FZ := build-fuzz

fuzz-build:
	$(Q)$(MAKE) --no-print-directory BUILD=$(FZ) CC=clang \
		CFLAGS="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FZ)/libsymbolyze.a
	$(Q)set -e; for t in $(FUZZ_TARGETS); do \
		printf '  %-8s %s\n' FUZZ $(FZ)/$$t; \
		clang -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) -D_GNU_SOURCE -Iinclude -Isrc \
			-o $(FZ)/$$t fuzz/$$t.c $(FZ)/libsymbolyze.a $(LIBS); done

fuzz: deps fuzz-build $(BPF_OBJS) $(FIX)/libfix.so $(FIX)/target-pie $(FIX)/libfix-nosep.so $(SD)/.stamp $(FIX)/sdt
	$(Q)set -e; mkdir -p $(FZ)/seed-elf $(FZ)/seed-notes $(FZ)/seed-debuglink $(FZ)/seed-minidebug; \
	objcopy -O binary --only-section=.gnu_debuglink $(SD)/libsymdbg-link.so $(FZ)/link.bin; \
	{ printf '\000'; cat $(FZ)/link.bin; } > $(FZ)/seed-debuglink/debuglink; \
	{ printf '\000'; cat $(SD)/mini_debuginfo.xz; } > $(FZ)/seed-minidebug/xz; \
	{ printf '\001'; xz -dc $(SD)/mini_debuginfo.xz; } > $(FZ)/seed-minidebug/inner; \
	{ printf '\001'; cat $(SD)/libsymdbg-mini.so; } > $(FZ)/seed-minidebug/outer; \
	cp $(FIX)/libfix.so $(FIX)/libfix-nosep.so $(FIX)/target-pie $(FZ)/seed-elf/; \
	objcopy -O binary --only-section=.note.gnu.build-id $(FIX)/libfix.so $(FZ)/note.bin; \
	{ printf '\004'; cat $(FZ)/note.bin; } > $(FZ)/seed-notes/build-id; \
	mkdir -p $(FZ)/seed-usdt; \
	objcopy -O binary --only-section=.note.stapsdt $(FIX)/sdt $(FZ)/usdt.bin; \
	{ printf '\000'; cat $(FZ)/usdt.bin; } > $(FZ)/seed-usdt/notes; \
	{ printf '\001'; readelf -n $(FIX)/sdt | sed -n 's/^ *Arguments: //p'; } \
		> $(FZ)/seed-usdt/specs; \
	{ printf '\002'; cat $(FIX)/sdt; } > $(FZ)/seed-usdt/elf; \
	mkdir -p $(FZ)/seed-kbtf; \
	for o in $(BPF_APPS); do \
		llvm-objcopy --dump-section .BTF=$(FZ)/btf.bin $(BUILD)/bpf/$$o.bpf.o $(FZ)/junk.o; \
		{ printf '\000'; cat $(FZ)/btf.bin; } > $(FZ)/seed-kbtf/btf-$$o; \
		llvm-objcopy -j .BTF -j .BTF.ext $(BUILD)/bpf/$$o.bpf.o $(FZ)/small.o; \
		{ printf '\001'; cat $(FZ)/small.o; } > $(FZ)/seed-kbtf/elf-$$o; done; \
	for t in $(FUZZ_TARGETS); do \
		case $$t in fuzz_elf|fuzz_symsel) seed=$(FZ)/seed-elf;; fuzz_notes) seed=$(FZ)/seed-notes;; \
			fuzz_maps) seed=fuzz/corpus/maps;; fuzz_glob) seed=fuzz/corpus/glob;; \
			fuzz_watch_rec) seed=fuzz/corpus/watch_rec;; \
			fuzz_iter_rec) seed=fuzz/corpus/iter_rec;; \
			fuzz_debuglink) seed=$(FZ)/seed-debuglink;; \
			fuzz_minidebug) seed=$(FZ)/seed-minidebug;; \
			fuzz_usdt) seed=$(FZ)/seed-usdt;; \
			fuzz_cgroup) seed=fuzz/corpus/cgroup;; \
			fuzz_args_rec) seed=fuzz/corpus/args_rec;; \
			fuzz_stack_rec) seed=fuzz/corpus/stack_rec;; \
			fuzz_perf_rec) seed=fuzz/corpus/perf_rec;; \
			fuzz_kbtf) seed=$(FZ)/seed-kbtf;; esac; \
		mkdir -p $(FZ)/corpus-$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
		./$(FZ)/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
			-print_final_stats=0 -artifact_prefix=$(FZ)/ $(FZ)/corpus-$$t $$seed 2>$(FZ)/$$t.log || \
			{ tail -40 $(FZ)/$$t.log; echo "fuzz: $$t FOUND A CRASH"; exit 1; }; \
		grep -E '^#[0-9]+ +DONE' $(FZ)/$$t.log | tail -1; \
	done

# --- benchmarks: figures as ratios to baselines measured in the same run ----
$(BUILD)/bench/workload: bench/workload.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -o $@ $< -ldl

$(BUILD)/bench/lookup: bench/lookup.c $(BUILD)/libsymbolyze.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libsymbolyze.a $(LIBS)

# Hook variants of the watch, each loaded alone (bench/hooks.c).
$(BUILD)/bench/hooks.bpf.o: bench/hooks.bpf.c vmlinux/$(ARCH)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux/$(ARCH) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(BUILD)/bench/hooks.skel.h: $(BUILD)/bench/hooks.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name hooks_bpf > $@

$(BUILD)/bench/hooks: bench/hooks.c $(BUILD)/bench/hooks.skel.h $(BUILD)/libsymbolyze.a
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -I$(BUILD)/bench -o $@ $< $(BUILD)/libsymbolyze.a $(LIBS)

# Prototype of a kernel-side initial scan (bench/vmaiter.c): iter/task_vma vs /proc.
$(BUILD)/bench/vmaiter.bpf.o: bench/vmaiter.bpf.c bpf/glob.h vmlinux/$(ARCH)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux/$(ARCH) -Ibpf -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(BUILD)/bench/vmaiter.skel.h: $(BUILD)/bench/vmaiter.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name vmaiter_bpf > $@

$(BUILD)/bench/vmaiter: bench/vmaiter.c $(BUILD)/bench/vmaiter.skel.h $(BUILD)/libsymbolyze.a
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -I$(BUILD)/bench -o $@ $< $(BUILD)/libsymbolyze.a $(LIBS)

# --stacks=fp capture forms, plain addresses vs build-ID, and the mappings record (issue 11).
$(BUILD)/bench/stackcap.bpf.o: bench/stackcap.bpf.c vmlinux/$(ARCH)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux/$(ARCH) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(BUILD)/bench/stackcap.skel.h: $(BUILD)/bench/stackcap.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name stackcap_bpf > $@

$(BUILD)/bench/stackcap: bench/stackcap.c $(BUILD)/bench/stackcap.skel.h $(BUILD)/libsymbolyze.a
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -fno-omit-frame-pointer -fno-optimize-sibling-calls -I$(BUILD)/bench \
		-o $@ $< $(BUILD)/libsymbolyze.a $(LIBS)

# Timed loops of calls whose arguments --arg reads (issue 11, argument capture).
$(BUILD)/bench/argloop: bench/argloop.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -o $@ $<

# The watch object's load, program by program (issue 10, start-up).
$(BUILD)/bench/verif: bench/verif.c $(BUILD)/watch.skel.h $(BUILD)/libsymbolyze.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libsymbolyze.a $(LIBS)

# SOAK_SECONDS: the long-running check of watch's RSS and fds (0 skips it); make bench
# runs a shorter one (BENCH_SOAK_SECONDS) to stay within ~15 min.  BENCH_FLAGS: e.g.
# --quick (every row, fewer rounds) or --only probe,lookup.
SOAK_SECONDS ?= 600
BENCH_SOAK_SECONDS ?= 60
BENCH_FLAGS ?=
bench: deps
	$(Q)scripts/deps.sh bench
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/bench/workload $(BUILD)/bench/lookup \
		$(BUILD)/bench/hooks $(BUILD)/bench/vmaiter $(BUILD)/bench/verif \
		$(BUILD)/bench/stackcap $(BUILD)/bench/argloop
	$(Q)python3 bench/run.py --bin $(BUILD)/symbolyze --workload $(BUILD)/bench/workload \
		--fixtures $(FIX) --caller $(FIX)/caller --lookup $(BUILD)/bench/lookup \
		--storm $(FIX)/storm --hooks $(BUILD)/bench/hooks \
		--vmaiter $(BUILD)/bench/vmaiter --verif $(BUILD)/bench/verif \
		--soak $(BENCH_SOAK_SECONDS) --out bench/results.json $(BENCH_FLAGS)

# watch --metrics scraped every second under process churn: RSS and fds (bench/NOTES.md).
soak: all
	$(Q)python3 bench/soak_metrics.py --bin $(BUILD)/symbolyze --caller $(FIX)/caller \
		--lib $(FIX)/libfix.so --seconds $(SOAK_SECONDS) --out $(BUILD)/soak-metrics.json

clean:
	$(Q)rm -rf build build-asan build-fuzz

.PHONY: all unit asan integration deps check demo clean fuzz fuzz-build bench soak

# Further targets (install, lint), one file each.
include $(wildcard mk/*.mk)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
