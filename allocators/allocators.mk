# The allocator registry (registry.ini) and its parser, linked into allocscope.
ALLOCSCOPE_OBJS += $(patsubst %.c,$(OBJ)/%.o,$(wildcard allocators/*.c))
ALLOCSCOPE_LIBS += -linih
