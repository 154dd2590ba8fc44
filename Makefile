# allocscope: a plain Makefile.
#   make            build everything into build/
#   make deps       install missing Debian packages (apt-get; sudo when not root)
#   make test       install deps, build, run the tests; last line "N passed, N failed"
#   make test-full  the same plus the long soaks and field-table checks
#   make fuzz       run each fuzz target for FUZZ_SECONDS (default 60) under libFuzzer
#   make demo       install deps, build, run the quick allocator comparison, write a report
#   make SANITIZE=1 build allocscope itself with ASan/UBSan (the shim stays unsanitized)
#   make install PREFIX=/usr/local
#
# The allocscope command is cli/ (argument parsing and printing) linked with the core, one
# static library of common/, allocators/, harness/ and reports/. Each directory contributes
# a fragment (*.mk) that appends to the variables below; the fragments are plain make and
# can be read on their own.

PREFIX ?= /usr/local
CC ?= cc
BUILD := build
BIN := $(BUILD)/bin
LIB := $(BUILD)/lib
OBJ := $(BUILD)/obj
SAN_OBJ := $(BUILD)/obj-san
TESTBIN := $(BUILD)/tests

WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -fno-omit-frame-pointer -MMD -MP
# Every header is included with its folder: "common/csv.h", "harness/runner.h".
INCLUDES := -I.
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined

# Filled in by the fragments.
ALL_TARGETS :=
TEST_PROGRAMS :=
CORE_SRCS :=
CLI_SRCS :=
ALLOCSCOPE_LIBS :=
# probes/ sources that unit tests exercise on their own (built sanitized for them).
UNIT_TESTED_PROBE_SRCS :=
# Named before the fragments, which use them as prerequisites.
CORE_LIB := $(LIB)/liballocscope-core.a
CORE_SAN_LIB := $(LIB)/liballocscope-core-san.a

all: build-all

include common/common.mk
include allocators/allocators.mk
include harness/harness.mk
include reports/reports.mk
include cli/cli.mk
include probes/shim/shim.mk
include probes/bpf/bpf.mk
include workloads/workloads.mk
include tests/tests.mk
include bench/bench.mk
include fuzz/fuzz.mk

# ---- the core library and the allocscope command ----
CORE_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(CORE_SRCS))
CORE_SAN_OBJS := $(patsubst %.c,$(SAN_OBJ)/%.o,$(CORE_SRCS))
CLI_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(CLI_SRCS))
CLI_SAN_OBJS := $(patsubst %.c,$(SAN_OBJ)/%.o,$(CLI_SRCS))
ALL_TARGETS += $(BIN)/allocscope

$(CORE_LIB): $(CORE_OBJS)
$(CORE_SAN_LIB): $(CORE_SAN_OBJS)
$(CORE_LIB) $(CORE_SAN_LIB):
	@mkdir -p $(dir $@)
	rm -f $@.tmp
	ar rcs $@.tmp $^
	mv -f $@.tmp $@

define link_sanitized
	@mkdir -p $(dir $@)
	$(CC) $(SANITIZE_FLAGS) -o $@.tmp $^ $(ALLOCSCOPE_LIBS)
	mv -f $@.tmp $@
endef

ifeq ($(SANITIZE),1)
$(BIN)/allocscope: $(CLI_SAN_OBJS) $(CORE_SAN_LIB)
	$(link_sanitized)
else
$(BIN)/allocscope: $(CLI_OBJS) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) -o $@.tmp $^ $(ALLOCSCOPE_LIBS)
	mv -f $@.tmp $@
endif

# ---- the sanitized allocscope the integration tests run (tests/helpers/lib.sh) ----
# build/bin-san/allocscope: the objects of build/obj-san (the unit tests' core library and the
# CLI built the same way), ASan/UBSan. It sits beside build/bin so that it finds what the plain
# one finds, the same way: the shim in ../lib, registry.ini, charts and workloads in ../../
# (the source tree). The probe tools and workload programs it runs from its own directory
# (probe helpers, bench's PATH) are links to build/bin's. The sanitizer runtimes are linked in
# statically: one runtime, so that log_path holds UBSan's reports too (with gcc's shared
# libasan and libubsan, libubsan's log_path lands on libasan's copy and its own reports stay
# on stderr, where a test that throws stderr away would lose them).
SAN_BIN := $(BUILD)/bin-san
SAN_BIN_LINKS := $(patsubst $(BIN)/%,$(SAN_BIN)/%,\
	$(filter-out $(BIN)/allocscope,$(filter $(BIN)/%,$(ALL_TARGETS))))

$(SAN_BIN)/allocscope: $(CLI_SAN_OBJS) $(CORE_SAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(SANITIZE_FLAGS) -static-libasan -static-libubsan -o $@.tmp $^ $(ALLOCSCOPE_LIBS)
	mv -f $@.tmp $@

$(SAN_BIN_LINKS): $(SAN_BIN)/%: $(BIN)/%
	@mkdir -p $(dir $@)
	ln -sfn ../bin/$* $@

tests-build: $(SAN_BIN)/allocscope $(SAN_BIN_LINKS)

build-all: $(ALL_TARGETS)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(INCLUDES) $(EXTRA_CFLAGS_$(dir $<)) -c $< -o $@

# The same sources for unit tests and SANITIZE=1: -O1, ASan and UBSan.
$(SAN_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SANITIZE_FLAGS) $(INCLUDES) $(EXTRA_CFLAGS_$(dir $<)) -c $< -o $@

deps:
	@./tools/install-deps

# The build behind test, test-full and demo uses every core unless make was given -j itself:
# from a fresh clone it is most of a minute of compiling, which a plain `make test` would
# otherwise do on one core.
PARALLEL = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 2))

test: deps
	@$(MAKE) --no-print-directory $(PARALLEL) all tests-build
	@./tests/run-tests

test-full: deps
	@$(MAKE) --no-print-directory $(PARALLEL) all tests-build
	@ALLOCSCOPE_TEST_FULL=1 ./tests/run-tests

demo: deps
	@$(MAKE) --no-print-directory $(PARALLEL) all
	@./tools/demo

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/allocscope $(DESTDIR)$(PREFIX)/share/allocscope
	install -m 755 $(BIN)/allocscope $(DESTDIR)$(PREFIX)/bin/allocscope
	install -m 755 $(LIB)/liballocscope.so $(DESTDIR)$(PREFIX)/lib/allocscope/liballocscope.so
	install -m 644 allocators/registry.ini $(DESTDIR)$(PREFIX)/share/allocscope/registry.ini
	install -d $(DESTDIR)$(PREFIX)/share/allocscope/charts
	install -m 644 reports/charts/*.gp $(DESTDIR)$(PREFIX)/share/allocscope/charts/
	@for f in $(INSTALL_EXTRA_BINS); do install -m 755 $$f $(DESTDIR)$(PREFIX)/lib/allocscope/; done
	@for f in workloads/*/scenario.ini; do install -D -m 644 $$f $(DESTDIR)$(PREFIX)/share/allocscope/$$f; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

.PHONY: all build-all deps test test-full demo install format clean tests-build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
