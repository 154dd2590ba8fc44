# The allocscope command: harness/*.c plus the objects other directories add to
# ALLOCSCOPE_OBJS (reports/, allocators/, probes/bpf/ user side).
ALLOCSCOPE_OBJS += $(patsubst %.c,$(OBJ)/%.o,$(wildcard harness/*.c))
ALLOCSCOPE_LIBS += -ljansson -ldw -lelf -lm -lpthread
ALL_TARGETS += $(BIN)/allocscope

$(BIN)/allocscope: $(ALLOCSCOPE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(ALLOCSCOPE_LIBS)
