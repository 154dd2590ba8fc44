# The allocscope command: harness/*.c plus the objects other directories add to
# ALLOCSCOPE_OBJS (reports/, allocators/, probes/bpf/ user side).
ALLOCSCOPE_OBJS += $(patsubst %.c,$(OBJ)/%.o,$(wildcard harness/*.c))
ALLOCSCOPE_LIBS += -ljansson -ldw -lelf -lm -lpthread
ALL_TARGETS += $(BIN)/allocscope

$(BIN)/allocscope: $(ALLOCSCOPE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -o $@.tmp $^ $(ALLOCSCOPE_LIBS)
	mv -f $@.tmp $@

# Unit tests of bench file parsing, the matrix and results files (tests/test_bench_spec.c).
TEST_SRCS_test_bench_spec := harness/bench_spec.c harness/bench_results.c harness/util.c \
	allocators/registry.c reports/csv.c
TEST_LIBS_test_bench_spec := -linih -ljansson
$(TESTBIN)/test_bench_spec: $(TEST_SRCS_test_bench_spec) harness/bench_spec.h harness/bench_results.h
