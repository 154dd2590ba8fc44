# slow-reader: the live-stream push server (wl-slow-reader) and its viewers (wl-slow-client).
# Both use the small kit in workloads/mux-streams/wlkit.c (WLKIT_OBJ, defined there).
SLOW_DIR := workloads/slow-reader
SLOW_KIT_OBJ := $(OBJ)/workloads/mux-streams/wlkit.o
SLOW_LIBS := -levent -lm

ALL_TARGETS += $(BIN)/wl-slow-reader $(BIN)/wl-slow-client
INSTALL_EXTRA_BINS += $(BIN)/wl-slow-reader $(BIN)/wl-slow-client

$(BIN)/wl-slow-reader: $(OBJ)/$(SLOW_DIR)/server.o $(SLOW_KIT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(SLOW_LIBS)

$(BIN)/wl-slow-client: $(OBJ)/$(SLOW_DIR)/client.o $(SLOW_KIT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(SLOW_LIBS)
