#!/bin/bash
# Leaky vs fixed variants of stream-proxy and bulk-download under steady load: the leaky
# variant's live heap grows with traffic and the growth is attributed to the named site;
# the fixed variant stays flat. api-burst: glibc keeps ~peak RSS after the burst, jemalloc
# with a background thread and short decay gives it back.
#
# Measure: with the shim built, the target runs under it in exact mode and the numbers are
# samples.csv's live_bytes; without it, VmRSS of the target (noted in the output).
# The loads are counted in requests, not seconds, so that what grows does not depend on how
# fast a busy machine serves them. Bounds: leaky end > 3x after-warm-up and grew > 20 MB;
# fixed grew < 2 MB (live heap) or < 8 MB (RSS).
source "$(dirname "$0")/../helpers/lib.sh"
source "$(dirname "$0")/../helpers/workloads_lib.sh"

WARM_REQUESTS=500
LOAD_REQUESTS=2000
MB=$((1024 * 1024))

if wl_have_shim; then
    MEASURE=live
    echo "# measuring the live heap (samples.csv live_bytes) under $SHIM"
else
    MEASURE=rss
    echo "# $SHIM not built: measuring VmRSS instead of the live heap"
fi

# target_env NAME: the environment prefix that records the target under the shim.
target_env() {
    if [ "$MEASURE" = live ]; then
        echo "LD_PRELOAD=$SHIM ALLOCSCOPE_OUT=$TMP/rec-$1 ALLOCSCOPE_SAMPLE=all"
    fi
}

# measure NAME PID: the live heap (a samples.csv row taken after the load ended) or RSS, bytes.
measure() {
    if [ "$MEASURE" = live ]; then
        wl_live_bytes_fresh "$TMP/rec-$1"
    else
        echo $(($(wl_rss_kb "$2") * 1024))
    fi
}

# judge NAME VARIANT WARM END REQUESTS: check the bounds and print the growth per request.
judge() {
    local name=$1 variant=$2 warm=${3:-0} end=${4:-0} requests=$5 grown
    grown=$((end - warm))
    echo "# $name $variant ($MEASURE): after warm-up $((warm / 1024)) KiB, after $requests" \
        "requests $((end / 1024)) KiB, grew $((grown / 1024)) KiB:" \
        "$(awk -v g="$grown" -v n="$requests" 'BEGIN {if (n > 0) printf "%.1f", g / 1024 / n; else print "n/a"}') KiB per request"
    if [ "$variant" = leaky ]; then
        if [ "$end" -gt $((3 * warm)) ] && [ "$grown" -gt $((20 * MB)) ]; then
            pass "$name leaky grows with traffic"
        else
            fail "$name leaky grows with traffic" "warm=$warm end=$end"
        fi
    else
        local bound=$((2 * MB))
        [ "$MEASURE" = rss ] && bound=$((8 * MB))
        if [ "$grown" -lt "$bound" ]; then
            pass "$name fixed stays flat (grew < $((bound / MB)) MB)"
        else
            fail "$name fixed stays flat" "grew $grown bytes (bound $bound)"
        fi
    fi
}


# ---- stream-proxy -----------------------------------------------------------------------------
run_stream_proxy() {
    local variant=$1 name=stream-proxy-$1 warm end rps
    wl_start origin-$variant "$WL_BIN/wl-stream-origin" --port 0 --media-size 32768 \
        --chunk-size 8192 || {
        fail "$name origin starts"
        return
    }
    local origin_pid=$WL_PID origin_port=$WL_PORT
    # shellcheck disable=SC2046
    wl_start "$name" env $(target_env "$name") "$WL_BIN/wl-stream-proxy" --port 0 \
        --origin "127.0.0.1:$origin_port" --variant "$variant" || {
        fail "$name starts"
        return
    }
    local pid=$WL_PID port=$WL_PORT
    local load=("$WL_BIN/loadgen" --target "127.0.0.1:$port" --scenario stream-proxy -c 16
        --rate 500 -p /stream/media-1 -q --timeout 60 --max-time 300)
    "${load[@]}" -n "$WARM_REQUESTS"
    warm=$(measure "$name" "$pid")
    "${load[@]}" -n "$LOAD_REQUESTS" --json "$TMP/$name.json"
    end=$(measure "$name" "$pid")
    expect_eq "$name load had no errors" "$(wl_json_get "$TMP/$name.json" errors)" 0
    expect_eq "$name load: every request answered" \
        "$(wl_json_get "$TMP/$name.json" requests)" "$LOAD_REQUESTS"
    judge stream-proxy "$variant" "$warm" "$end" "$LOAD_REQUESTS"
    wl_stop "$pid"
    expect_eq "$name exits cleanly on SIGTERM" "$WL_RC" 0
    wl_stop "$origin_pid"
    wl_attribution "$name" "$TMP/rec-$name" "$variant" "$([ "$variant" = leaky ] && echo upstream_client_new)"
}

# ---- bulk-download ------------------------------------------------------------------------------
run_bulk_download() {
    local variant=$1 name=bulk-download-$1 warm end rps
    wl_start files-$variant "$WL_BIN/wl-bulk-server" --port 0 --min-size 8K --max-size 64K || {
        fail "$name file server starts"
        return
    }
    local server_pid=$WL_PID server_port=$WL_PORT
    mkdir -p "$TMP/work-$variant"
    # shellcheck disable=SC2046
    wl_start "$name" env $(target_env "$name") "$WL_BIN/wl-bulk-download" --port 0 \
        --server "127.0.0.1:$server_port" --variant "$variant" --concurrency 8 \
        --workdir "$TMP/work-$variant" || {
        fail "$name starts"
        return
    }
    local pid=$WL_PID port=$WL_PORT
    local load=("$WL_BIN/wl-bulk-download" --control "127.0.0.1:$port" --rate 400)
    "${load[@]}" --files $((WARM_REQUESTS * 4 / 5)) >/dev/null
    warm=$(measure "$name" "$pid")
    "${load[@]}" --files $((LOAD_REQUESTS * 4 / 5)) --json "$TMP/$name.json" >/dev/null
    end=$(measure "$name" "$pid")
    expect_eq "$name load had no errors" "$(wl_json_get "$TMP/$name.json" errors)" 0
    expect_eq "$name load: every file fetched" \
        "$(wl_json_get "$TMP/$name.json" requests)" $((LOAD_REQUESTS * 4 / 5))
    judge bulk-download "$variant" "$warm" "$end" $((LOAD_REQUESTS * 4 / 5))
    wl_stop "$pid"
    expect_eq "$name exits cleanly on SIGTERM" "$WL_RC" 0
    if [ "$variant" = fixed ]; then
        expect_eq "bulk-download fixed cleans its temp dir" "$(ls -A "$TMP/work-$variant")" ""
    fi
    wl_stop "$server_pid"
    wl_attribution "$name" "$TMP/rec-$name" "$variant" "$([ "$variant" = leaky ] && echo body_buffer_append)"
}

# ---- api-burst: what the allocator keeps after the burst ----------------------------------------
# rss_under_half_hwm PID: VmRSS is at most half the high-water mark.
rss_under_half_hwm() {
    [ "$(wl_rss_kb "$1")" -le $(($(awk '/^VmHWM:/ {print $2}' "/proc/$1/status") / 2)) ]
}

# run_api_burst LIB LABEL keeps|gives [MALLOC_CONF]: a burst of 8000 requests over 256
# connections; then "keeps" samples RSS 3 s after it (glibc gives nothing back, so waiting
# longer could only make that stronger), "gives" waits up to 60 s for RSS to fall to half
# the peak. The peak is the high-water mark read at the end: a busy server is still working
# through the requests in flight when the load stops.
run_api_burst() {
    local lib=$1 label=$2 expect=$3 conf=${4:-} pid port peak after
    local envs=()
    [ -n "$lib" ] && envs+=("LD_PRELOAD=$lib")
    [ -n "$conf" ] && envs+=("MALLOC_CONF=$conf")
    wl_start "api-$label" env "${envs[@]}" "$WL_BIN/wl-api-burst" --port 0 --threads 2 || {
        fail "api-burst $label starts"
        return
    }
    pid=$WL_PID port=$WL_PORT
    "$WL_BIN/loadgen" --target "127.0.0.1:$port" --scenario api-burst -c 256 -n 8000 \
        --timeout 60 --max-time 300 -p /api/items -p POST:/api/orders --payload 256-4096 -q \
        --json "$TMP/api-$label.json"
    local start=$(date +%s)
    if [ "$expect" = keeps ]; then
        sleep 3
    else
        wl_wait_until 60 rss_under_half_hwm "$pid"
    fi
    peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    after=$(wl_rss_kb "$pid")
    echo "# api-burst $label: $(wl_json_get "$TMP/api-$label.json" requests) requests, peak RSS" \
        "$((peak / 1024)) MiB, $(($(date +%s) - start)) s after the load $((after / 1024)) MiB"
    API_PEAK=$peak API_AFTER=$after
    wl_stop "$pid"
    expect_eq "api-burst $label exits cleanly on SIGTERM" "$WL_RC" 0
}

run_stream_proxy leaky
run_stream_proxy fixed
run_bulk_download leaky
run_bulk_download fixed

run_api_burst "" glibc keeps
if [ "${API_PEAK:-0}" -ge $((150 * 1024)) ]; then
    pass "api-burst peak RSS >= 150 MiB"
else
    fail "api-burst peak RSS >= 150 MiB" "peak ${API_PEAK:-0} kB"
fi
if [ "${API_AFTER:-0}" -ge $((API_PEAK * 3 / 4)) ]; then
    pass "api-burst under glibc keeps >= 75% of peak RSS after the load"
else
    fail "api-burst under glibc keeps >= 75% of peak RSS" "peak $API_PEAK kB, after $API_AFTER kB"
fi
JEMALLOC=$(allocator_lib jemalloc)
if [ -f "$JEMALLOC" ]; then
    run_api_burst "$JEMALLOC" jemalloc-bg gives \
        background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:0
    # The process is idle: only the background thread's decay can give pages back.
    if [ "${API_AFTER:-0}" -gt 0 ] && [ "$API_AFTER" -le $((API_PEAK / 2)) ]; then
        pass "api-burst under jemalloc background_thread gives back > half of peak RSS while idle"
    else
        fail "api-burst under jemalloc background_thread gives memory back" \
            "peak ${API_PEAK:-0} kB, after ${API_AFTER:-0} kB"
    fi
else
    skip "api-burst under jemalloc" "$JEMALLOC not installed"
fi
finish
