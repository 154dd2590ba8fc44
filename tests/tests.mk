# Unit tests (cmocka). Each test_*.c in tests/ becomes build/tests/test_*; a test
# names the project sources it exercises in TEST_SRCS_<name>. They run under ASan/UBSan.
UNIT_TEST_SRCS := $(wildcard tests/test_*.c)
UNIT_TESTS := $(patsubst tests/%.c,$(TESTBIN)/%,$(UNIT_TEST_SRCS))
TEST_HELPER_SRCS := $(wildcard tests/helpers/*.c tests/helpers/*.cc)
TEST_HELPERS := $(patsubst tests/helpers/%,$(TESTBIN)/%,$(basename $(TEST_HELPER_SRCS)))
TEST_PROGRAMS += $(UNIT_TESTS) $(TEST_HELPERS)

.SECONDEXPANSION:
$(TESTBIN)/test_%: tests/test_%.c $$(TEST_SRCS_test_$$*)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SANITIZE) -I. -Iprobes/shim -Iharness -Ireports -Iallocators \
		$< $(TEST_SRCS_test_$*) -o $@ -lcmocka $(TEST_LIBS_test_$*) -lpthread -lm

# Helper programs that tests run under the shim: plain builds, frame pointers kept,
# no sanitizer (the shim is the allocator's client here).
$(TESTBIN)/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -fno-omit-frame-pointer \
		$< -o $@ -lpthread $(HELPER_LIBS_$*)

$(TESTBIN)/%: tests/helpers/%.cc
	@mkdir -p $(dir $@)
	g++ -std=c++17 -Wall -Wextra -Werror -O2 -g -fno-omit-frame-pointer $< -o $@ -lpthread

tests-build: $(TEST_PROGRAMS)

TEST_SRCS_test_shim_tables := probes/shim/sites.c probes/shim/ptrtable.c
TEST_SRCS_test_csv := reports/csv.c reports/rundata.c harness/util.c
