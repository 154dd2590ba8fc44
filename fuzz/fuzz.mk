# Fuzz targets: one per reader of outside data (fuzz/fuzz_*.c; fuzz_run_file.c once per file
# of a run directory; fuzz_results.c for results.csv and, as cell_json, a cell's cell.json).
# Two builds of each:
#   build/fuzz-replay/NAME  gcc, ASan/UBSan, the core's sanitized objects and fuzz/replay.c:
#                           `make test` runs it over fuzz/corpus/NAME and fuzz/crashes/NAME
#                           (tests/integration/fuzz_replay_test.sh)
#   build/fuzz/NAME         clang's libFuzzer: `make fuzz` runs each for FUZZ_SECONDS (default
#                           60) from fuzz/corpus/NAME, new inputs kept in build/fuzz/corpus/NAME,
#                           a crash written to build/fuzz/crashes/NAME/ (copy it into
#                           fuzz/crashes/NAME once fixed, so every later run replays it)
FUZZ_RUN_FILES := samples.csv sites.csv stacks.csv phases.csv shim.txt reachability.csv maps.txt \
	run.json
FUZZ_PLAIN := csv registry bench_file baseline load_report results cell_json
FUZZ_NAMES := $(FUZZ_PLAIN) $(foreach f,$(FUZZ_RUN_FILES),run_$(subst .,_,$(f)))
FUZZ_SECONDS ?= 60
FUZZ_DEFS := -DFUZZ_TEMPLATE='"$(abspath fuzz/template-run)"' \
	-DFUZZ_SCENARIOS='"$(abspath workloads)"'
FUZZ_REPLAY := $(patsubst %,$(BUILD)/fuzz-replay/%,$(FUZZ_NAMES))
FUZZ_BINS := $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_NAMES))
FUZZ_CLANG := clang $(filter-out -MMD -MP,$(BASE_CFLAGS)) -Wno-unknown-warning-option -O1 -g $(INCLUDES) \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CORE_OBJS := $(patsubst %.c,$(BUILD)/obj-fuzz/%.o,$(CORE_SRCS))
tests-build: $(FUZZ_REPLAY)

# The source of a target: fuzz/fuzz_NAME.c, or fuzz_run_file.c with the file's name.
fuzz_source = $(if $(filter run_%,$(1)),fuzz/fuzz_run_file.c,$(if $(filter cell_json,$(1)),fuzz/fuzz_results.c,fuzz/fuzz_$(1).c))
fuzz_file_def = $(if $(filter run_%,$(1)),-DFUZZ_FILE='"$(filter $(subst _,.,$(patsubst run_%,%,$(1))),$(FUZZ_RUN_FILES))"')$(if $(filter cell_json,$(1)), -DFUZZ_CELL_JSON)

.SECONDEXPANSION:
$(BUILD)/fuzz-replay/%: $$(call fuzz_source,$$*) fuzz/fuzz_common.c fuzz/replay.c fuzz/fuzz.h \
	$(CORE_SAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(BASE_CFLAGS)) -O1 -g $(SANITIZE_FLAGS) $(INCLUDES) $(FUZZ_DEFS) \
		$(call fuzz_file_def,$*) $(call fuzz_source,$*) fuzz/fuzz_common.c fuzz/replay.c \
		$(CORE_SAN_LIB) -o $@ $(ALLOCSCOPE_LIBS)

$(BUILD)/obj-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/%: $$(call fuzz_source,$$*) fuzz/fuzz_common.c fuzz/fuzz.h $(FUZZ_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) -fsanitize=fuzzer $(FUZZ_DEFS) $(call fuzz_file_def,$*) \
		$(call fuzz_source,$*) fuzz/fuzz_common.c $(FUZZ_CORE_OBJS) -o $@ $(ALLOCSCOPE_LIBS)

fuzz-build: $(FUZZ_BINS)

# Each target for FUZZ_SECONDS; stops at the first crash and says where it is.
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@failed=; for name in $(FUZZ_NAMES); do \
		mkdir -p $(BUILD)/fuzz/corpus/$$name $(BUILD)/fuzz/crashes/$$name; \
		echo "== fuzz $$name for $(FUZZ_SECONDS) s"; \
		$(BUILD)/fuzz/$$name -max_total_time=$(FUZZ_SECONDS) -close_fd_mask=2 \
			-rss_limit_mb=4096 -artifact_prefix=$(BUILD)/fuzz/crashes/$$name/ \
			$(BUILD)/fuzz/corpus/$$name fuzz/corpus/$$name 2>&1 | \
			grep -E '^(#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY|artifact_prefix)' ; \
		[ -z "$$(ls $(BUILD)/fuzz/crashes/$$name)" ] || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in:$$failed (build/fuzz/crashes/)"; exit 1; fi

.PHONY: fuzz fuzz-build
.SECONDARY: $(FUZZ_CORE_OBJS)
