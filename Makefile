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
LIBS := -lbpf -lelf -lz
LLVM_STRIP ?= llvm-strip

# The library, by room: ELF and /proc parsing, files (identity, cache), the
# pipeline, its sources (scan, watch) and its consumers (probes).
LIB_SRCS := src/util/glob.c src/elf/elf.c src/elf/notes.c src/elf/bias.c src/elf/resolve.c \
	src/proc/maps.c src/files/cache.c src/pipeline/loads.c \
	src/sources/scan.c src/sources/watch_rec.c src/sources/watch.c \
	src/consumers/probe.c
LIB_SRCS += src/sources/freeze.c src/proc/pidns.c
CLI_SRCS := src/cli/main.c src/cli/output.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)

# BPF programs, each paired with its loader (bpf/watch.bpf.c <-> src/sources/watch.c,
# bpf/probe.bpf.c <-> src/consumers/probe.c).
BPF_APPS := watch probe
BPF_OBJS := $(BPF_APPS:%=$(BUILD)/bpf/%.bpf.o)
BPF_SKELS := $(BPF_APPS:%=$(BUILD)/%.skel.h)

UNIT_TESTS := test_glob test_maps test_notes test_bias test_elf test_output test_watch_rec \
	test_loads
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/%)

FIX := $(BUILD)/fixtures
FIXTURES := $(FIX)/libfix.so $(FIX)/libfix-maxpage.so $(FIX)/libfix-nosep.so \
	$(FIX)/libfix-64k-nosep.so $(FIX)/libfix-nosep-maxpage.so $(FIX)/target-pie \
	$(FIX)/target-nopie $(FIX)/pyembed $(FIX)/storm $(FIX)/caller
FIXTURES += $(FIX)/loader $(FIX)/libplain.so

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
	$(Q)$(CC) $(SAN_LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libsymbolyze.a $(LIBS)

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

# Each loader needs its skeleton before it compiles.
$(BUILD)/src/sources/watch.o: $(BUILD)/watch.skel.h
$(BUILD)/src/consumers/probe.o: $(BUILD)/probe.skel.h

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

# --- tests ------------------------------------------------------------------
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsymbolyze.a $(BUILD)/src/cli/output.o
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/src/cli/output.o $(BUILD)/libsymbolyze.a \
		$(SAN_LDFLAGS) -lcmocka $(LIBS)

unit: $(UNIT_BINS) $(FIX)/libfix.so
	$(Q)set -e; for t in $(UNIT_BINS); do SZ_FIXTURES=$(FIX) ./$$t; done

# The same tests against an ASan/UBSan build (clang); fixtures stay the gcc ones.
asan: $(FIX)/libfix.so
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SAN=1 CC=clang FIX=$(FIX) \
		build-asan/symbolyze unit

integration: all
	$(Q)python3 tests/integration/run.py --bin $(BUILD)/symbolyze --fixtures $(FIX)
	$(Q)/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_freeze.py \
		--bin $(BUILD)/symbolyze --fixtures $(FIX)

deps:
	$(Q)scripts/deps.sh

check: deps
	$(Q)$(MAKE) --no-print-directory all unit
	$(Q)$(MAKE) --no-print-directory -j2 lint
	$(Q)$(MAKE) --no-print-directory asan
	$(Q)$(MAKE) --no-print-directory integration
	$(Q)python3 tests/integration/run.py --bin build-asan/symbolyze --fixtures $(FIX) \
		--label asan
	$(Q)bash tests/install/run.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh $(BUILD)

# --- fuzzing: libFuzzer + ASan/UBSan, each target for FUZZ_SECONDS ---------
FUZZ_TARGETS := fuzz_elf fuzz_notes fuzz_maps fuzz_glob fuzz_watch_rec
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FZ := build-fuzz

fuzz-build:
	$(Q)$(MAKE) --no-print-directory BUILD=$(FZ) CC=clang \
		CFLAGS="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FZ)/libsymbolyze.a
	$(Q)set -e; for t in $(FUZZ_TARGETS); do \
		printf '  %-8s %s\n' FUZZ $(FZ)/$$t; \
		clang -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) -D_GNU_SOURCE -Iinclude -Isrc \
			-o $(FZ)/$$t fuzz/$$t.c $(FZ)/libsymbolyze.a $(LIBS); done

fuzz: deps fuzz-build $(FIX)/libfix.so $(FIX)/target-pie $(FIX)/libfix-nosep.so
	$(Q)set -e; mkdir -p $(FZ)/seed-elf $(FZ)/seed-notes; \
	cp $(FIX)/libfix.so $(FIX)/libfix-nosep.so $(FIX)/target-pie $(FZ)/seed-elf/; \
	objcopy -O binary --only-section=.note.gnu.build-id $(FIX)/libfix.so $(FZ)/note.bin; \
	{ printf '\004'; cat $(FZ)/note.bin; } > $(FZ)/seed-notes/build-id; \
	for t in $(FUZZ_TARGETS); do \
		case $$t in fuzz_elf) seed=$(FZ)/seed-elf;; fuzz_notes) seed=$(FZ)/seed-notes;; \
			fuzz_maps) seed=fuzz/corpus/maps;; fuzz_glob) seed=fuzz/corpus/glob;; \
			fuzz_watch_rec) seed=fuzz/corpus/watch_rec;; esac; \
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

# SOAK_SECONDS: the long-running check of watch's RSS and fds (0 skips it).
SOAK_SECONDS ?= 600
bench: deps
	$(Q)scripts/deps.sh bench
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/bench/workload $(BUILD)/bench/lookup
	$(Q)python3 bench/run.py --bin $(BUILD)/symbolyze --workload $(BUILD)/bench/workload \
		--fixtures $(FIX) --caller $(FIX)/caller --lookup $(BUILD)/bench/lookup \
		--storm $(FIX)/storm --soak $(SOAK_SECONDS) --out bench/results.json

clean:
	$(Q)rm -rf build build-asan build-fuzz

.PHONY: all unit asan integration deps check demo clean fuzz fuzz-build bench

# Further targets (install, lint), one file each.
include $(wildcard mk/*.mk)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
