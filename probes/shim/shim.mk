# The recording shim, liballocscope.so: every probes/shim/*.c, position independent,
# frame pointers kept (stacks are walked through them), unwind tables for C++ exceptions
# that pass through the operator new wrappers, TLS in the initial-exec model (no
# allocation on first access from the hot path).
SHIM_SRCS := $(wildcard probes/shim/*.c)
SHIM_OBJS := $(patsubst %.c,$(OBJ)/shim/%.o,$(SHIM_SRCS))
SHIM_CFLAGS := -flto -fPIC -fexceptions -ftls-model=initial-exec -fvisibility=hidden \
	-fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc
ALL_TARGETS += $(LIB)/liballocscope.so

$(OBJ)/shim/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SHIM_CFLAGS) $(INCLUDES) -c $< -o $@

$(LIB)/liballocscope.so: $(SHIM_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -flto -O2 -fPIC -o $@.tmp $^ -Wl,-z,nodelete -ldl -lpthread -lunwind -lm
	mv -f $@.tmp $@  # a program starting meanwhile loads the old file or the new, never half

# The site and live-block tables are unit-tested on their own (tests/unit/test_shim_tables.c).
UNIT_TESTED_PROBE_SRCS += probes/shim/sites.c probes/shim/ptrtable.c probes/shim/shadow.c
