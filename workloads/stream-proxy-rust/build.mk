# stream-proxy in Rust: a test target beside the C reference servers (docs/WORKLOADS.md,
# "stream-proxy-rust"), std only. Built only when rustc is on PATH (Debian's rustc 1.63 and
# later); without it the target is left out and its test says SKIP.
WL_RUSTC := $(shell command -v rustc 2>/dev/null)
ifneq ($(WL_RUSTC),)
ALL_TARGETS += $(BIN)/wl-stream-proxy-rs

$(BIN)/wl-stream-proxy-rs: workloads/stream-proxy-rust/stream_proxy.rs
	@mkdir -p $(dir $@)
	MAKEFLAGS= $(WL_RUSTC) --edition 2021 -O -g -C force-frame-pointers=yes --crate-name wl_stream_proxy_rs \
		-o $@.tmp $<
	mv -f $@.tmp $@
endif
