# loadgen: the HTTP/1.1 load generator every scenario's load phase uses.
ALL_TARGETS += $(BIN)/loadgen
INSTALL_EXTRA_BINS += $(BIN)/loadgen
EXTRA_CFLAGS_workloads/loadgen/ = $(WL_CFLAGS)

$(BIN)/loadgen: $(OBJ)/workloads/loadgen/loadgen.o $(OBJ)/workloads/common/libwlcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(WL_LIBS)
