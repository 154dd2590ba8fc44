# Benchmarks. `make` builds the bench programs (bench/*.c; smoke tests run them at a tiny
# size); only `make bench` runs the benchmarks: every executable script in bench/, one after
# the other, each to its end; it fails when any of them did.
BENCH_BIN := $(BUILD)/bench
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_PROGRAMS := $(patsubst bench/%.c,$(BENCH_BIN)/%,$(BENCH_SRCS))
BENCH_SCRIPTS := $(filter-out %.c %.h %.mk %.md,$(wildcard bench/*))
ALL_TARGETS += $(BENCH_PROGRAMS)

# Plain -O2 with frame pointers, like the programs people run under the shim; no sanitizer
# (the allocator is what is measured).
$(BENCH_BIN)/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -fno-omit-frame-pointer $< -o $@ -lpthread

bench: all
	@failed=; for script in $(BENCH_SCRIPTS); do \
		[ -x "$$script" ] || continue; \
		echo "== $$script"; ./$$script || failed="$$failed $$script"; \
	done; \
	if [ -n "$$failed" ]; then echo "bench: failed:$$failed"; exit 1; fi

.PHONY: bench
