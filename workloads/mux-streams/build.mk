# mux-streams: the HTTP/2 server holding per-connection stream state (wl-mux-streams) and its
# nghttp2 load client (wl-mux-client). wlkit.o is shared with workloads/slow-reader.
MUX_DIR := workloads/mux-streams
WLKIT_OBJ := $(OBJ)/$(MUX_DIR)/wlkit.o
MUX_SERVER_OBJS := $(OBJ)/$(MUX_DIR)/server.o $(OBJ)/$(MUX_DIR)/stream_map.o $(WLKIT_OBJ)
MUX_CLIENT_OBJS := $(OBJ)/$(MUX_DIR)/client.o $(WLKIT_OBJ)
MUX_LIBS := -lnghttp2 -levent -levent_pthreads -lpthread -lm

ALL_TARGETS += $(BIN)/wl-mux-streams $(BIN)/wl-mux-client
INSTALL_EXTRA_BINS += $(BIN)/wl-mux-streams $(BIN)/wl-mux-client

$(BIN)/wl-mux-streams: $(MUX_SERVER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(MUX_LIBS)

$(BIN)/wl-mux-client: $(MUX_CLIENT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(MUX_LIBS)
