#!/bin/bash
# allocscope attach --uprobes on a reference workload started without the shim: the leaky
# stream-proxy under steady load is found growing at upstream_client_new, the fixed one
# shows no growing site; under glibc and jemalloc. The load is light (uprobes cost 15-25 us
# per malloc+free pair here), long enough for the sampled growth to stand out.
. "$(dirname "$0")/../helpers/lib.sh"
. "$(dirname "$0")/../helpers/bpf_lib.sh"
. "$(dirname "$0")/../helpers/workloads_lib.sh"
trap 'wl_kill_all; for p in "${BPF_CHILDREN[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

KIB=1024
ATTACH_S=6
RATE=100

reason=$(bpf_refusal)
if [ -n "$reason" ]; then
    skip "attach to a reference workload" "$reason"
    finish
fi

# growing_functions: "GROWTH_BYTES_PER_S BYTES FUNCTION" of the recording's `leaks --json`, the
# sites summed by their allocating function (upstream_client_new allocates the connection,
# its pool and its buffers at several lines, some inside libevent, whose own functions have
# no name here: a site counts for its first named frame), fastest growing first; BYTES were
# allocated during the recording and are still live at its end.
growing_functions() {
    python3 -c '
import json, sys
growth, held = {}, {}
for s in json.load(open(sys.argv[1]))["sites"]:
    named = [f["function"] for f in s["frames"] if f["function"] not in ("", "??")]
    function = named[0] if named else "??"
    growth[function] = growth.get(function, 0) + s["growth_bytes_per_s"]
    held[function] = held.get(function, 0) + s["bytes"]
for function, rate in sorted(growth.items(), key=lambda item: -item[1]):
    print(int(rate), held[function], function)' "$LEAKS_JSON"
}

# attach_under_load ALLOCATOR VARIANT: starts origin and proxy (the allocator preloaded, no
# shim), warms it up, attaches for ATTACH_S seconds while loadgen runs; sets OUT and
# LEAKS_JSON (the recording's `allocscope leaks --json`).
attach_under_load() {
    local allocator=$1 variant=$2 name=$1-$2 lib
    lib=$(allocator_lib "$allocator")
    OUT=$TMP/attach-$name
    wl_start "origin-$name" "$WL_BIN/wl-stream-origin" --port 0 --media-size 32768 \
        --chunk-size 8192 || return 1
    local origin_pid=$WL_PID origin_port=$WL_PORT
    wl_start "proxy-$name" env ${lib:+LD_PRELOAD=$lib} "$WL_BIN/wl-stream-proxy" --port 0 \
        --origin "127.0.0.1:$origin_port" --variant "$variant" || return 1
    local pid=$WL_PID port=$WL_PORT
    local load=("$WL_BIN/loadgen" --target "127.0.0.1:$port" --scenario stream-proxy -c 8
        --rate "$RATE" -p /stream/media-1 -q)
    "${load[@]}" -d 1 # the fixed variant's pool and the buffers fill before the recording
    # The load runs until the recording is over (loading and calibrating the probes took
    # 4 s and more on a busy machine), bounded at 120 s; SIGTERM ends it with its report.
    "${load[@]}" -d 120 --json "$TMP/load-$name.json" &
    local load_pid=$!
    WL_PIDS+=("$load_pid")
    "$ALLOCSCOPE" attach "$pid" --uprobes --sample 64K --duration "$ATTACH_S" --out "$OUT" \
        >"$TMP/attach-$name.log" 2>&1
    expect_eq "$name: attach exit status" "$?" 0
    kill -TERM "$load_pid"
    wait "$load_pid"
    expect_eq "$name: load had no errors" "$(wl_json_get "$TMP/load-$name.json" errors)" 0
    expect_eq "$name: shim.txt names the allocator" "$(grep '^allocator=' "$OUT/shim.txt")" \
        "allocator=$allocator"
    LEAKS_JSON=$OUT.leaks.json
    "$ALLOCSCOPE" leaks --json "$OUT" >"$LEAKS_JSON" 2>"$TMP/leaks-$name.err"
    expect_eq "$name: allocscope leaks reads the recording" "$?" 0
    wl_stop "$pid"
    expect_eq "$name: the proxy ran on and exits cleanly" "$WL_RC" 0
    wl_stop "$origin_pid"
}

for allocator in glibc jemalloc; do
    if attach_under_load "$allocator" leaky; then
        functions=$(growing_functions)
        read -r growth held function <<<"$(head -1 <<<"$functions")"
        # ~41 KB leaked per request: 2 MiB held is 50 requests' worth, which no function of
        # the fixed variant holds, however few requests a busy machine served.
        if [ "$function" = upstream_client_new ] && [ "${growth:-0}" -gt 0 ] &&
            [ "${held:-0}" -gt $((2048 * KIB)) ]; then
            pass "$allocator leaky: fastest growing function upstream_client_new, $((held / KIB)) KiB held ($((growth / KIB)) KiB/s)"
        else
            fail "$allocator leaky: fastest growing function" "$(head -3 <<<"$functions" | tr '\n' ' ')"
        fi
    else
        fail "$allocator leaky: workload starts" "$(tail -c 300 "$TMP"/*"$allocator-leaky".err)"
    fi
    if attach_under_load "$allocator" fixed; then
        functions=$(growing_functions)
        # Sites with no named frame at all are libevent's buffers of the streams in flight,
        # more of them on a busy machine: the fixed variant's own functions must hold little.
        holding=$(awk -v lim=$((1024 * KIB)) '$2 > lim && $3 != "??"' <<<"$functions" | wc -l)
        sampled=$(grep '^sampled_allocations=' "$OUT/shim.txt" | cut -d= -f2)
        echo "# $allocator fixed: fastest growing function: $(head -1 <<<"$functions")"
        echo "# $allocator fixed: most held: $(sort -k2,2nr <<<"$functions" | head -1)"
        if [ "$holding" -eq 0 ] && [ "${sampled:-0}" -gt 100 ]; then
            pass "$allocator fixed: no function holds 1 MiB at the end ($sampled samples)"
        else
            fail "$allocator fixed: growing functions" "$(head -3 <<<"$functions" | tr '\n' ' ') samples ${sampled:-0}"
        fi
    else
        fail "$allocator fixed: workload starts" "$(tail -c 300 "$TMP"/*"$allocator-fixed".err)"
    fi
done
finish
