# bulk-download: the file server (not under test) and the downloader (under test).
ALL_TARGETS += $(BIN)/wl-bulk-server $(BIN)/wl-bulk-download
INSTALL_EXTRA_BINS += $(BIN)/wl-bulk-server $(BIN)/wl-bulk-download
EXTRA_CFLAGS_workloads/bulk-download/ = $(WL_CFLAGS)

$(BIN)/wl-bulk-server: $(OBJ)/workloads/bulk-download/bulk_server.o $(OBJ)/workloads/common/libwlcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(WL_LIBS)

$(BIN)/wl-bulk-download: $(OBJ)/workloads/bulk-download/bulk_download.o $(OBJ)/workloads/common/libwlcommon.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(WL_LIBS)
