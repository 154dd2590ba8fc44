# slow-reader: the live-stream push server (wl-slow-reader) and its viewers (wl-slow-client).
SLOW_DIR := workloads/slow-reader
EXTRA_CFLAGS_workloads/slow-reader/ = $(WL_CFLAGS)

ALL_TARGETS += $(BIN)/wl-slow-reader $(BIN)/wl-slow-client
INSTALL_EXTRA_BINS += $(BIN)/wl-slow-reader $(BIN)/wl-slow-client

$(BIN)/wl-slow-reader: $(OBJ)/$(SLOW_DIR)/server.o $(OBJ)/workloads/common/libwlcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(WL_LIBS)

$(BIN)/wl-slow-client: $(OBJ)/$(SLOW_DIR)/client.o $(OBJ)/workloads/common/libwlcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(WL_LIBS)
