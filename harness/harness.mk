# Orchestration: running targets under the shim and allocator configurations, bench cells
# and their phases, the probe helpers. Part of the core library.
CORE_SRCS += $(wildcard harness/*.c)
