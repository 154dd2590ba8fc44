# The allocator registry (registry.ini) and its parser, linked into allocscope.
ALLOCSCOPE_OBJS += $(patsubst %.c,$(OBJ)/%.o,$(wildcard allocators/*.c))
ALLOCSCOPE_LIBS += -linih

# Unit tests of the registry parser (tests/test_registry.c).
TEST_SRCS_test_registry := allocators/registry.c harness/util.c
TEST_LIBS_test_registry := -linih -ljansson

# tests/helpers/alloc_probe.c drives the shim's allocator module on its own (no shim),
# so the allocator code is tested under each allocator independently of the recorder.
HELPER_LIBS_alloc_probe := -Iprobes/shim probes/shim/allocator.c -ldl
$(TESTBIN)/alloc_probe: probes/shim/allocator.c probes/shim/allocator.h
$(TESTBIN)/test_registry: allocators/registry.c allocators/registry.h harness/util.c
