# wl-api-burst: the JSON API of the "allocator after a burst" scenario.
ALL_TARGETS += $(BIN)/wl-api-burst
INSTALL_EXTRA_BINS += $(BIN)/wl-api-burst
EXTRA_CFLAGS_workloads/api-burst/ = $(WL_CFLAGS)

$(BIN)/wl-api-burst: $(OBJ)/workloads/api-burst/api_burst.o $(OBJ)/workloads/common/libwlcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(WL_LIBS)
