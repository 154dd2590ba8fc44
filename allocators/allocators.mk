# The allocator registry (registry.ini; read with common/ini). Part of the core library.
CORE_SRCS += $(wildcard allocators/*.c)

# tests/helpers/alloc_probe.c drives the shim's allocator module on its own (no shim),
# so the allocator code is tested under each allocator independently of the recorder.
HELPER_LIBS_alloc_probe := -Iprobes/shim probes/shim/allocator.c -ldl
$(TESTBIN)/alloc_probe: probes/shim/allocator.c probes/shim/allocator.h
