# mux-streams: the HTTP/2 server holding per-connection stream state (wl-mux-streams) and its
# nghttp2 load client (wl-mux-client).
MUX_DIR := workloads/mux-streams
MUX_LIBS = -lnghttp2 $(WL_LIBS)
EXTRA_CFLAGS_workloads/mux-streams/ = $(WL_CFLAGS)

ALL_TARGETS += $(BIN)/wl-mux-streams $(BIN)/wl-mux-client
INSTALL_EXTRA_BINS += $(BIN)/wl-mux-streams $(BIN)/wl-mux-client

$(BIN)/wl-mux-streams: $(OBJ)/$(MUX_DIR)/server.o $(OBJ)/$(MUX_DIR)/stream_map.o \
		$(OBJ)/workloads/common/libwlcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(MUX_LIBS)

$(BIN)/wl-mux-client: $(OBJ)/$(MUX_DIR)/client.o $(OBJ)/workloads/common/libwlcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(MUX_LIBS)
