# Benchmarks. `make` builds the bench programs (the smoke tests run them at a tiny size);
# only `make bench` runs them: every bench/run-* script, one after the other.
BENCH_BIN := $(BUILD)/bench
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_PROGRAMS := $(patsubst bench/%.c,$(BENCH_BIN)/%,$(BENCH_SRCS))
BENCH_RUNNERS := $(wildcard bench/run-*)
ALL_TARGETS += $(BENCH_PROGRAMS)

# Plain -O2 with frame pointers, like the programs people run under the shim; no sanitizer
# (the allocator is what is measured).
$(BENCH_BIN)/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -fno-omit-frame-pointer $< -o $@ -lpthread

bench: all
	@for runner in $(BENCH_RUNNERS); do echo "== $$runner"; ./$$runner || exit 1; done

.PHONY: bench
