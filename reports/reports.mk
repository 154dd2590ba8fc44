# Analysis: everything here only reads run files (docs/FORMAT.md). Linked into allocscope.
ALLOCSCOPE_OBJS += $(patsubst %.c,$(OBJ)/%.o,$(wildcard reports/*.c))
