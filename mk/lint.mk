# SPDX-License-Identifier: BSD-2-Clause
# Static analysis and formatting (included by the Makefile).
#   make lint      clang-tidy (.clang-tidy) on each of LIB_SRCS and CLI_SRCS, then cppcheck on
#                  src/; any finding fails the target (make -j runs the clang-tidy jobs in parallel)
#   make format    clang-format -i (.clang-format) on src/, include/ and bpf/ (not vmlinux/)

CLANG_TIDY ?= clang-tidy-14
CPPCHECK ?= cppcheck
CLANG_FORMAT ?= clang-format-14

LINT_SRCS := $(LIB_SRCS) $(CLI_SRCS)
LINT_SKELS := $(BUILD)/lint/watch.skel.h $(BUILD)/lint/probe.skel.h
LINT_SKELS += $(BUILD)/lint/umulti.skel.h $(BUILD)/lint/usdt.skel.h
# Same include paths and defines as ALL_CFLAGS, except that the skeletons come from $(BUILD)/lint.
LINT_CFLAGS := -Iinclude -Isrc -I$(BUILD)/lint -D_GNU_SOURCE -std=gnu11

# bpftool's generated skeletons, with one annotation: clang-analyzer reports a leak of 's' on the
# error path of X_bpf__create_skeleton(), but bpf_object__destroy_skeleton(s) frees it (the
# analyzer assumes functions declared in system headers such as libbpf.h free nothing). The
# skeleton is generated, so the NOLINT goes into a copy used only by lint.
$(BUILD)/lint/%.skel.h: $(BUILD)/%.skel.h
	$(Q)mkdir -p $(@D)
	$(Q)sed '/^[[:space:]]*bpf_object__destroy_skeleton(s);$$/s|$$| /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): it frees s */|' $< > $@

# One clang-tidy process per file: clang-tidy 14's valist checker reports a false "uninitialized
# va_list" on vsnprintf() in every file after the first when given several files at once.
LINT_TIDY := $(LINT_SRCS:%=lint-tidy/%)
$(LINT_TIDY): lint-tidy/%: % $(LINT_SKELS)
	$(call msg,TIDY,$<)
	$(Q)out=$$($(CLANG_TIDY) --quiet --warnings-as-errors='*' $< -- $(LINT_CFLAGS) 2>&1) || \
		{ printf '%s\n' "$$out" | grep -v 'warnings\? \(and [0-9]* errors\? \)\?generated\.$$'; exit 1; }

# readdirCalled is off: it recommends readdir_r(), which glibc deprecates (readdir() is safe
# when each thread uses its own DIR). mk/libbpf.cfg describes the libbpf macros cppcheck needs.
CPPCHECK_FLAGS := --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
	--suppress=missingIncludeSystem --suppress=readdirCalled --std=c11 --quiet \
	--library=posix --library=gnu --library=mk/libbpf.cfg -D_GNU_SOURCE -Iinclude -Isrc

lint-cppcheck:
	$(call msg,CPPCHECK,src/)
	$(Q)$(CPPCHECK) $(CPPCHECK_FLAGS) src/

lint: $(BUILD)/watch.skel.h $(BUILD)/probe.skel.h $(LINT_TIDY) lint-cppcheck

FORMAT_SRCS = $(shell find src include -name '*.[ch]') $(wildcard bpf/*.h bpf/*.c)

format:
	$(call msg,FORMAT,src/ include/ bpf/)
	$(Q)$(CLANG_FORMAT) -i $(FORMAT_SRCS)

.PHONY: lint format lint-cppcheck $(LINT_TIDY)
