# shellcheck shell=bash
# Shared by the diagnose_*_test.sh scripts (sourced after lib.sh and workloads_lib.sh): record
# the reference workloads or tests/helpers/diag_retainer, diagnose them, check the verdicts.
#
# With `allocscope bench` (its --help exits 0): quick bench cells (idle 1 s, load 4 s,
# cooldown 3 s, reclaim), glibc:default, plus jemalloc:bg-decay for api-burst. Without it:
# each target under `allocscope run` (default sampling), 1 s idle, the scenario's quick load,
# 3 s cooldown, SIGTERM; api-burst adds --reclaim at the end of the cooldown.
LOAD_S=4
COOLDOWN_S=3

# diag_json DIR: the diagnosis as JSON in DIR.json; returns diagnose's status.
diag_json() {
    "$ALLOCSCOPE" diagnose --json "$1" >"$1.json" 2>"$1.diag-err"
}

# diag_field FILE EXPR: a python expression over the JSON object `d`.
diag_field() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$1" "$2" 2>/dev/null
}

# evidence FILE: one line of the numbers behind the verdict.
evidence() {
    diag_field "$1" '"%s/%s: " % (d["verdict"], d["confidence"]) + "; ".join(
        ["%s grew %.1f MiB at %.2f MiB/s t=%.0f kept %.0f%%" % (s["function"],
         (s["peak_bytes"] - s["start_bytes"]) / 2**20, s["growth_bytes_per_s"] / 2**20,
         s["slope_t"], 100 * s["kept_share"]) for s in d["sites"][:2]] +
        ["live %.1f/%.1f/%.1f MiB rss %.1f/%.1f/%.1f MiB (idle/peak/after)" % tuple(
         (d["metrics"][k] or 0) / 2**20 for k in ("idle_live_bytes", "peak_live_bytes",
         "after_live_bytes", "idle_rss_bytes", "peak_rss_bytes", "after_rss_bytes"))] +
        (["reclaim %.1f -> %.1f MiB" % (d["metrics"]["reclaim_before_rss_bytes"] / 2**20,
          d["metrics"]["reclaim_after_rss_bytes"] / 2**20)]
         if d["metrics"]["reclaim_before_rss_bytes"] is not None else []))'
}

# record NAME RUN_OPTIONS -- TARGET...: start TARGET under allocscope run in $TMP/NAME; sets
# REC_PID (allocscope), REC_TARGET (the target's pid) and REC_PORT.
record() {
    local name=$1 opts=()
    shift
    while [ "$1" != -- ]; do
        opts+=("$1")
        shift
    done
    shift
    wl_start "$name" "$ALLOCSCOPE" run --quiet "${opts[@]}" --out "$TMP/$name" -- "$@" ||
        return 1
    REC_PID=$WL_PID REC_PORT=$WL_PORT
    REC_TARGET=$(pgrep -P "$REC_PID" | head -1)
    [ -n "$REC_TARGET" ]
}

# finish_record: SIGTERM the target, wait for allocscope run.
finish_record() {
    kill -TERM "$REC_TARGET" 2>/dev/null
    wl_stop_wait "$REC_PID"
}

wl_stop_wait() {
    local i
    for i in $(seq 1 200); do
        wl_alive "$1" || break
        sleep 0.05
    done
    wl_alive "$1" && kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# The frames of the site a diagnosis names (docs/DIAGNOSE.md): the first significant site,
# else, when the whole heap's growth is significant but no one site's own coarse series is
# (a short run sampled on a busy machine), the site that grew most.
NAMED_SITE='" ".join(s["where"] for s in (d["sites"] or d.get("top_growing_sites") or [])[:1])'

# expect_verdict NAME DIR VERDICTS FUNCTION: the verdict is one of VERDICTS (a|b) and, when
# FUNCTION is given, the site the diagnosis names has it in its frames.
expect_verdict() {
    local name=$1 dir=$2 want=$3 func=$4 verdict sites
    if ! diag_json "$dir"; then
        fail "$name diagnosed" "$(head -c 300 "$dir.diag-err")"
        return
    fi
    echo "# $name: $(evidence "$dir.json")"
    verdict=$(diag_field "$dir.json" 'd["verdict"]')
    if [[ "|$want|" == *"|$verdict|"* ]]; then
        pass "$name: $verdict"
    else
        fail "$name: verdict" "got $verdict, want $want: $(diag_field "$dir.json" 'd["reason"]')"
    fi
    [ -n "$func" ] || return
    sites=$(diag_field "$dir.json" "$NAMED_SITE")
    if [[ "$sites" == *"$func"* ]]; then
        pass "$name names $func"
    else
        fail "$name names $func" "first site: ${sites:-none}"
    fi
}

# ---- the reference workloads -----------------------------------------------------------------

stream_proxy() { # variant
    local v=$1 name=stream-proxy-$1
    wl_start origin-$v "$WL_BIN/wl-stream-origin" --port 0 --media-size 32768 \
        --chunk-size 8192 || {
        fail "$name origin starts"
        return
    }
    local origin=$WL_PID
    record "$name" -- "$WL_BIN/wl-stream-proxy" --port 0 --origin "127.0.0.1:$WL_PORT" \
        --variant "$v" || {
        fail "$name starts under allocscope run"
        return
    }
    sleep 1
    "$WL_BIN/loadgen" --target "127.0.0.1:$REC_PORT" --scenario stream-proxy -c 16 --rate 500 \
        -d "$LOAD_S" -p /stream/media-1 -q
    sleep "$COOLDOWN_S"
    finish_record
    wl_stop "$origin"
    if [ "$v" = leaky ]; then
        expect_verdict "$name" "$TMP/$name" "leak|unbounded-buffering" upstream_client_new
    else
        expect_verdict "$name" "$TMP/$name" healthy
    fi
}

bulk_download() { # variant
    local v=$1 name=bulk-download-$1
    wl_start files-$v "$WL_BIN/wl-bulk-server" --port 0 --min-size 8K --max-size 64K || {
        fail "$name file server starts"
        return
    }
    local server=$WL_PID
    mkdir -p "$TMP/work-$v"
    record "$name" -- "$WL_BIN/wl-bulk-download" --port 0 --server "127.0.0.1:$WL_PORT" \
        --variant "$v" --concurrency 8 --workdir "$TMP/work-$v" || {
        fail "$name starts under allocscope run"
        return
    }
    sleep 1
    "$WL_BIN/wl-bulk-download" --control "127.0.0.1:$REC_PORT" --rate 400 \
        --duration "$LOAD_S" >/dev/null
    sleep "$COOLDOWN_S"
    finish_record
    wl_stop "$server"
    if [ "$v" = leaky ]; then
        expect_verdict "$name" "$TMP/$name" "leak|unbounded-buffering" body_buffer_append
    else
        expect_verdict "$name" "$TMP/$name" healthy
    fi
}

slow_reader() { # variant
    local v=$1 name=slow-reader-$1
    # The scenario's [quick] sizes (workloads/slow-reader/scenario.ini).
    record "$name" -- "$WL_BIN/wl-slow-reader" --port 0 --variant "$v" --frame-bytes 65536 \
        --fps 50 --high-water 524288 --idle-timeout 3 || {
        fail "$name starts under allocscope run"
        return
    }
    sleep 1
    "$WL_BIN/wl-slow-client" --target "127.0.0.1:$REC_PORT" --duration "$LOAD_S" \
        --stalled 0.5 --stalled-rcvbuf 4096 >/dev/null
    sleep "$COOLDOWN_S"
    finish_record
    if [ "$v" = leaky ]; then
        expect_verdict "$name" "$TMP/$name" "unbounded-buffering|leak" conn_queue_frame
    else
        expect_verdict "$name" "$TMP/$name" healthy
    fi
}

mux_streams() { # variant
    local v=$1 name=mux-streams-$1
    record "$name" -- "$WL_BIN/wl-mux-streams" --port 0 --variant "$v" || {
        fail "$name starts under allocscope run"
        return
    }
    sleep 1
    "$WL_BIN/wl-mux-client" --target "127.0.0.1:$REC_PORT" --duration "$LOAD_S" >/dev/null
    sleep "$COOLDOWN_S"
    finish_record
    if [ "$v" = leaky ]; then
        expect_verdict "$name" "$TMP/$name" "unbounded-buffering|leak" stream_state_new
    else
        expect_verdict "$name" "$TMP/$name" healthy
    fi
}

api_burst() { # allocator:config expected
    local config=$1 want=$2 name=api-burst-${1//:/-}
    record "$name" -a "$config" --reclaim $((1 + LOAD_S + COOLDOWN_S + 1)) -- \
        "$WL_BIN/wl-api-burst" --port 0 --threads 2 || {
        fail "$name starts under allocscope run"
        return
    }
    sleep 1
    "$WL_BIN/loadgen" --target "127.0.0.1:$REC_PORT" --scenario api-burst -c 256 -d "$LOAD_S" \
        -p /api/items -p POST:/api/orders --payload 256-4096 -q
    sleep $((COOLDOWN_S + 2))
    finish_record
    expect_verdict "$name" "$TMP/$name" "$want"
}

# ---- the same through allocscope bench ---------------------------------------------------------

# bench_cells NAME BENCH_ARGS...: a quick bench in $TMP/NAME, diagnosed to $TMP/NAME.json.
bench_cells() {
    local name=$1
    shift
    if ! "$ALLOCSCOPE" bench --quiet -o "$TMP/$name" "$@" >"$TMP/$name.log" 2>&1; then
        fail "bench $name ran" "$(grep -v '^allocscope: cell' "$TMP/$name.log" | head -c 400)"
    fi
    "$ALLOCSCOPE" diagnose --json "$TMP/$name" >"$TMP/$name.json" 2>"$TMP/$name.diag-err" ||
        fail "diagnose bench $name" "$(head -c 300 "$TMP/$name.diag-err")"
}

# expect_cell BENCH CELL VERDICTS FUNCTION: like expect_verdict, on one cell of a bench.
expect_cell() {
    local bench=$1 cell=$2 want=$3 func=$4 out=$TMP/$2.json
    python3 -c 'import json,sys
for c in json.load(open(sys.argv[1]))["cells"]:
    if c["cell"] == sys.argv[2]:
        json.dump(c, open(sys.argv[3], "w"))' "$TMP/$bench.json" "$cell" "$out" 2>/dev/null
    if [ ! -s "$out" ] || [ -z "$(diag_field "$out" 'd["verdict"]')" ]; then
        fail "$cell diagnosed" "no verdict: $(diag_field "$out" 'd.get("error")')"
        return
    fi
    echo "# $cell: $(evidence "$out")"
    local verdict sites
    verdict=$(diag_field "$out" 'd["verdict"]')
    if [[ "|$want|" == *"|$verdict|"* ]]; then
        pass "$cell: $verdict"
    else
        fail "$cell: verdict" "got $verdict, want $want: $(diag_field "$out" 'd["reason"]')"
    fi
    [ -n "$func" ] || return
    sites=$(diag_field "$out" "$NAMED_SITE")
    if [[ "$sites" == *"$func"* ]]; then
        pass "$cell names $func"
    else
        fail "$cell names $func" "first site: ${sites:-none}"
    fi
}

# with_bench WORKLOAD...: the workloads' leaky and fixed cells in one quick bench under
# glibc:default; api-burst under glibc:default and jemalloc:bg-decay in another.
with_bench() {
    local w cells=() want=" $* "
    for w in stream-proxy bulk-download slow-reader mux-streams; do
        [[ $want == *" $w "* ]] || continue
        if [ -f "$ROOT/workloads/$w/scenario.ini" ]; then
            cells+=(--workload "$w")
        else
            skip "$w (bench)" "workloads/$w/scenario.ini does not exist yet"
        fi
    done
    if [ ${#cells[@]} -gt 0 ]; then
        bench_cells leaky-fixed "${cells[@]}" -a glibc:default
    fi
    local site
    for w in stream-proxy:upstream_client_new bulk-download:body_buffer_append \
        slow-reader:conn_queue_frame mux-streams:stream_state_new; do
        site=${w#*:} w=${w%%:*}
        [[ $want == *" $w "* ]] && [ -f "$ROOT/workloads/$w/scenario.ini" ] || continue
        expect_cell leaky-fixed "$w-leaky-glibc-default-r1" "leak|unbounded-buffering" "$site"
        expect_cell leaky-fixed "$w-fixed-glibc-default-r1" healthy
    done
    [[ $want == *" api-burst "* ]] || return
    if [ ! -f "$(allocator_lib jemalloc)" ]; then
        bench_cells api --workload api-burst -a glibc:default
        expect_cell api api-burst-none-glibc-default-r1 allocator-retention
        skip "api-burst under jemalloc:bg-decay" "libjemalloc not installed"
        return
    fi
    bench_cells api --workload api-burst -a glibc:default -a jemalloc:bg-decay
    expect_cell api api-burst-none-glibc-default-r1 allocator-retention
    expect_cell api api-burst-none-jemalloc-bg-decay-r1 healthy
    expect_eq "the retaining cell names the configuration of the bench that did not" \
        "$(diag_field "$TMP/api-burst-none-glibc-default-r1.json" \
            '"jemalloc:bg-decay did not retain" in d["suggestion"]')" True
}

# without_bench WORKLOAD...: the same through allocscope run.
without_bench() {
    local w list=("$@")
    [ -n "${DIAG_WORKLOADS:-}" ] && read -ra list <<<"$DIAG_WORKLOADS"
    for w in "${list[@]}"; do
        w=${w//-/_}
        case $w in
        api_burst)
            api_burst glibc:default allocator-retention
            if [ -f "$(allocator_lib jemalloc)" ]; then
                api_burst jemalloc:bg-decay healthy
            else
                skip "api-burst under jemalloc:bg-decay" "libjemalloc not installed"
            fi
            ;;
        *)
            if [ -x "$WL_BIN/wl-${w//_/-}" ]; then
                "$w" leaky
                "$w" fixed
            else
                skip "$w" "its binaries are not built"
            fi
            ;;
        esac
    done
}

# diagnose_workloads WORKLOAD...: the verdicts on the reference workloads, through allocscope
# bench when it is there (DIAG_NO_BENCH=1: through allocscope run).
diagnose_workloads() {
    if "$ALLOCSCOPE" bench --help >/dev/null 2>&1 && [ -z "${DIAG_NO_BENCH:-}" ]; then
        echo "# reference workloads through allocscope bench"
        with_bench "$@"
    else
        echo "# reference workloads through allocscope run (no allocscope bench)"
        without_bench "$@"
    fi
}

# ---- plain runs of a program with a known behaviour -------------------------------------------

plain_runs() {
    local retainer=$TESTBIN/diag_retainer mode
    if [ ! -x "$retainer" ]; then
        skip "plain runs" "$retainer is not built (make tests-build)"
        return
    fi
    local extra
    for mode in leak buffer flat retain; do
        # retain frees its step at exit: a longer cooldown keeps rows of the held step well
        # ahead of the exit row on a busy machine (beside one at load average 20, "after the
        # load" came out as the exit state: live 64 KiB, allocator-retention).
        extra=()
        [ "$mode" = retain ] && extra=(--cooldown-ms 3000)
        "$ALLOCSCOPE" run --quiet --out "$TMP/plain-$mode" -- "$retainer" --mode "$mode" \
            "${extra[@]}" || fail "plain $mode ran"
    done
    expect_verdict "plain leak" "$TMP/plain-leak" leak diag_leak_block
    expect_verdict "plain buffer" "$TMP/plain-buffer" unbounded-buffering diag_buffer_block
    expect_verdict "plain flat" "$TMP/plain-flat" healthy
    # 32 MiB kept from the load's first tick to exit: a bounded step, not a leak.
    expect_verdict "plain bounded step" "$TMP/plain-retain" healthy
    expect_eq "a plain run says it inferred the load" \
        "$(diag_field "$TMP/plain-leak.json" 'any("phases.csv" in l for l in d["lacking"])')" True
    "$ALLOCSCOPE" run --quiet --sample none --out "$TMP/plain-count" -- "$retainer" --mode leak
    expect_verdict "plain leak without stacks" "$TMP/plain-count" leak
    expect_eq "without stacks the verdict says it lacked them" \
        "$(diag_field "$TMP/plain-count.json" 'any("no stacks" in l for l in d["lacking"])')" True
    if "$ALLOCSCOPE" diagnose "$TMP/plain-leak" >"$TMP/plain-text" 2>&1 &&
        grep -q '^  suggestion: ' "$TMP/plain-text" && head -1 "$TMP/plain-text" | grep -q 'verdict: leak'; then
        pass "text output: verdict line, evidence, suggestion"
    else
        fail "text output" "$(head -c 300 "$TMP/plain-text")"
    fi
}

bad_input() {
    local out rc
    out=$("$ALLOCSCOPE" diagnose "$TMP/no-such-dir" 2>&1)
    rc=$?
    expect_eq "diagnose of a missing directory exits 2" "$rc" 2
    expect_eq "... with one line naming it" \
        "$(echo "$out" | wc -l) $(echo "$out" | grep -c 'no-such-dir')" "1 1"
    "$ALLOCSCOPE" diagnose >/dev/null 2>&1
    expect_eq "diagnose without a directory exits 2" "$?" 2
    "$ALLOCSCOPE" diagnose --threshold bogus=1 "$TMP/plain-flat" >/dev/null 2>&1
    expect_eq "diagnose with an unknown threshold exits 2" "$?" 2
    mkdir -p "$TMP/cut" && cp "$TMP/plain-flat"/* "$TMP/cut/" 2>/dev/null
    head -c 200 "$TMP/plain-flat/samples.csv" >"$TMP/cut/samples.csv"
    "$ALLOCSCOPE" diagnose "$TMP/cut" >"$TMP/cut.out" 2>&1
    rc=$?
    if [ "$rc" = 2 ] && [ "$(wc -l <"$TMP/cut.out")" -le 2 ]; then
        pass "diagnose of a truncated samples.csv exits 2 with a message"
    else
        fail "diagnose of a truncated samples.csv" "exit $rc: $(head -c 300 "$TMP/cut.out")"
    fi
}

# A kernel-only attach (samples.csv of RSS, no shim.txt): RSS grows 19 MiB through a
# phase of activity and stays; the verdict says it had no live heap and no stacks.
kernel_only() {
    mkdir -p "$TMP/kernel-only"
    python3 -c 'print("t_ms,rss_bytes,pss_bytes,anon_bytes,lazyfree_bytes")
for i in range(80):
    t = i * 100
    r = (4 << 20) + min(max(t - 1000, 0), 4000) * 5000
    print("%d,%d,%d,%d,0" % (t, r, r, r))' >"$TMP/kernel-only/samples.csv"
    expect_verdict "kernel-only recording" "$TMP/kernel-only" leak
    expect_eq "... low confidence, no live heap noted" "$(diag_field "$TMP/kernel-only.json" \
        'd["confidence"] + " " + str(any("no live heap" in l for l in d["lacking"]))')" "low True"
}

