# Unit tests (cmocka): each tests/unit/test_*.c becomes build/tests/test_*, linked with the
# core library and the probe pieces they exercise, all built with ASan/UBSan.
# Integration tests are the scripts in tests/integration/; the programs and shell
# libraries they use are in tests/helpers/.
UNIT_TEST_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(TESTBIN)/%,$(UNIT_TEST_SRCS))
TEST_HELPER_SRCS := $(wildcard tests/helpers/*.c tests/helpers/*.cc)
TEST_HELPERS := $(patsubst tests/helpers/%,$(TESTBIN)/%,$(basename $(TEST_HELPER_SRCS)))
TEST_PROGRAMS += $(UNIT_TESTS) $(TEST_HELPERS)
PROBE_PARTS_SAN_LIB := $(LIB)/liballocscope-probe-parts-san.a

$(PROBE_PARTS_SAN_LIB): $(patsubst %.c,$(SAN_OBJ)/%.o,$(UNIT_TESTED_PROBE_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@.tmp
	ar rcs $@.tmp $^
	mv -f $@.tmp $@

$(TESTBIN)/test_%: $(SAN_OBJ)/tests/unit/test_%.o $(CORE_SAN_LIB) $(PROBE_PARTS_SAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(SANITIZE_FLAGS) -o $@ $^ -lcmocka $(ALLOCSCOPE_LIBS)

# Helper programs that tests run under the shim: plain builds, frame pointers kept (but
# where a helper stands for code built without them), no sanitizer (the shim is the
# allocator's client here).
HELPER_FRAMES_frameless_callers := -fomit-frame-pointer

$(TESTBIN)/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g \
		$(or $(HELPER_FRAMES_$*),-fno-omit-frame-pointer) $< -o $@ -lpthread $(HELPER_LIBS_$*)

$(TESTBIN)/%: tests/helpers/%.cc
	@mkdir -p $(dir $@)
	g++ -std=c++17 -Wall -Wextra -Werror -O2 -g -fno-omit-frame-pointer $< -o $@ -lpthread

tests-build: $(TEST_PROGRAMS)
