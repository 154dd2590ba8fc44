# allocscope: a plain Makefile.
#   make            build everything into build/
#   make deps       install missing Debian packages (apt-get; sudo when not root)
#   make test       install deps, build, run every test; last line "N passed, N failed"
#   make demo       install deps, build, run the quick allocator comparison, write a report
#   make install PREFIX=/usr/local
#
# Each directory contributes a fragment (*.mk) that appends to the variables below;
# the fragments are plain make and can be read on their own.

PREFIX ?= /usr/local
CC ?= cc
BUILD := build
BIN := $(BUILD)/bin
LIB := $(BUILD)/lib
OBJ := $(BUILD)/obj
TESTBIN := $(BUILD)/tests

WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -fno-omit-frame-pointer -MMD -MP
INCLUDES := -Iharness -Ireports -Iallocators
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined

# Filled in by the fragments.
ALL_TARGETS :=
TEST_PROGRAMS :=
ALLOCSCOPE_OBJS :=
ALLOCSCOPE_LIBS :=

all: build-all

include probes/shim/shim.mk
include allocators/allocators.mk
-include probes/bpf/bpf.mk
-include workloads/workloads.mk
-include reports/reports.mk
# harness.mk links allocscope from ALLOCSCOPE_OBJS: it comes after every fragment adding to it.
include harness/harness.mk
include tests/tests.mk
-include bench/bench.mk

build-all: $(ALL_TARGETS)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(INCLUDES) $(EXTRA_CFLAGS_$(dir $<)) -c $< -o $@

deps:
	@./tools/install-deps

test: deps
	@$(MAKE) --no-print-directory all tests-build
	@./tests/run-tests

demo: deps
	@$(MAKE) --no-print-directory all
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

.PHONY: all build-all deps test demo install format clean tests-build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
