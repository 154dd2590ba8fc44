# stream-proxy: the media origin (not under test) and the proxy (under test).
ALL_TARGETS += $(BIN)/wl-stream-origin $(BIN)/wl-stream-proxy
INSTALL_EXTRA_BINS += $(BIN)/wl-stream-origin $(BIN)/wl-stream-proxy
EXTRA_CFLAGS_workloads/stream-proxy/ = $(WL_CFLAGS)

$(BIN)/wl-stream-origin: $(OBJ)/workloads/stream-proxy/origin.o $(OBJ)/workloads/common/libwlcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(WL_LIBS)

$(BIN)/wl-stream-proxy: $(OBJ)/workloads/stream-proxy/proxy.o $(OBJ)/workloads/common/libwlcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(WL_LIBS)
