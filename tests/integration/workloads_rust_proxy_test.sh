#!/bin/bash
# stream-proxy in Rust (workloads/stream-proxy-rust): recorded in exact mode, the leaky
# variant's lost upstream clients are found at the Rust function that builds them, by its
# demangled name, with one read buffer per request; the fixed variant frees everything it
# allocated. Built only where rustc is: without it, SKIP. 100 requests of 32 KiB each way.
. "$(dirname "$0")/../helpers/lib.sh"

BIN=$BUILD/bin/wl-stream-proxy-rs
SRC=$ROOT/workloads/stream-proxy-rust/stream_proxy.rs
REQUESTS=100
BUFFER=32768

if [ ! -x "$BIN" ]; then
    skip "stream-proxy in Rust" "$BIN is not built (rustc was not on PATH when make ran)"
    finish
fi

# Debian 12's rustc is 1.63: the scenario builds with it too (checked where it is).
if [ -x /usr/bin/rustc ] && [ "$(command -v rustc)" != /usr/bin/rustc ]; then
    check "the scenario builds with $(/usr/bin/rustc --version | cut -d' ' -f1-2)" \
        /usr/bin/rustc --edition 2021 -O -o "$TMP/proxy-debian-rustc" "$SRC"
fi

# record VARIANT: runs it under allocscope in exact mode; DIR.json is its leaks report.
record() {
    local dir=$TMP/$1
    "$ALLOCSCOPE" run -q --sample all --out "$dir" -- "$BIN" --variant "$1" \
        --requests "$REQUESTS" --buffer "$BUFFER" >"$dir.out" 2>"$dir.err"
    expect_eq "$1: runs to its end, every byte relayed" "$?:$(cat "$dir.out")" \
        "0:wl-stream-proxy-rs: $1: $REQUESTS requests, $((REQUESTS * 32768)) bytes relayed"
    "$ALLOCSCOPE" leaks --json "$dir" >"$dir.json"
}

# ours DIR.json: "SITES BYTES BLOCKS LOST_BLOCKS BUFFERS" of the unfreed blocks allocated
# in the program's own functions (a frame named wl_stream_proxy_rs::...), BUFFERS the
# read buffers among them (BUFFER-byte blocks at upstream_client_new). A thread's TLS
# vector (glibc's _dl_allocate_tls under pthread_create) is glibc's: it stays with the
# stacks glibc caches after a join, where the exit scan does not look.
ours() {
    python3 - "$1" "$BUFFER" <<'PY'
import json, sys
sites = json.load(open(sys.argv[1]))["sites"]
size = int(sys.argv[2])
mine = [s for s in sites if any(f["function"].startswith("wl_stream_proxy_rs::") for f in s["frames"])
        and not any(f["function"] == "_dl_allocate_tls" for f in s["frames"])]
at_new = [s for s in mine
          if any(f["function"] == "wl_stream_proxy_rs::upstream_client_new" for f in s["frames"])]
buffers = sum(s["blocks"] for s in at_new if s["bytes"] == s["blocks"] * size)
lost = sum(s["definitely_lost_blocks"] + s["indirectly_lost_blocks"] for s in mine)
print(len(mine), sum(s["bytes"] for s in mine), sum(s["blocks"] for s in mine), lost, buffers)
PY
}

record leaky
read -r sites bytes blocks lost buffers <<<"$(ours "$TMP/leaky.json")"
expect_eq "leaky: one lost read buffer per request at wl_stream_proxy_rs::upstream_client_new" \
    "$buffers" "$REQUESTS"
if [ "$lost" -eq "$blocks" ] && [ "$bytes" -ge $((REQUESTS * (BUFFER + 8192))) ]; then
    pass "leaky: every unfreed block of the program is lost (the Rc cycle): $bytes B in $blocks blocks"
else
    fail "leaky: the program's unfreed blocks are lost" "$bytes B in $blocks blocks, $lost lost"
fi
"$ALLOCSCOPE" diagnose "$TMP/leaky" >"$TMP/leaky.diag" 2>&1
check_grep "leaky: diagnose says leak" "^$TMP/leaky: verdict: leak " "$TMP/leaky.diag"
check_grep "leaky: diagnose puts most of the lost bytes at wl_stream_proxy_rs::upstream_client_new" \
    "lost at exit, most at wl_stream_proxy_rs::upstream_client_new " "$TMP/leaky.diag"
"$ALLOCSCOPE" leaks "$TMP/leaky" >"$TMP/leaky.txt"
check_grep "leaky: leaks lists the read buffers by the function's name" \
    "^ +$((REQUESTS * BUFFER)) +$REQUESTS +wl_stream_proxy_rs::upstream_client_new " "$TMP/leaky.txt"

record fixed
got=$(ours "$TMP/fixed.json" | cut -d' ' -f1-3)
expect_eq "fixed: nothing the program allocated is unfreed at exit (sites, bytes, blocks)" "$got" "0 0 0"

finish
