#!/bin/bash
# api-burst reproduces the shape of field case 3's table (/work/shared/docs/field-notes.md)
# through `allocscope bench`: glibc default keeps its peak RSS for the whole cooldown;
# jemalloc bg-decay falls below 25% of its peak within 2 s of the load ending at about
# glibc's throughput or better; jemalloc aggressive (no tcache, decay 0) drops at once but
# serves fewer requests for more CPU each. Three passes of the bench, each running the three
# configurations one after the other, so that a burst of other work on the machine hits one
# pass, not one configuration; the memory shape must hold in every pass, the throughput
# comparisons on the best requests/s and the median CPU per request of the three. Measured numbers: docs/WORKLOADS.md,
# "api-burst field table". About 65 s.
# shellcheck source=tests/helpers/lib.sh
. "$(dirname "$0")/../helpers/lib.sh"

PASSES=3
CONFIGS="glibc:default jemalloc:bg-decay jemalloc:aggressive"
# Phases: the peak is reached within ~1 s of load; 3 s of cooldown covers the 2 s window.
PHASES=(--idle 0.5 --load-time 3 --cooldown 3)

if [ ! -x "$ALLOCSCOPE" ] || [ ! -f "$SHIM" ] || [ ! -x "$BUILD/bin/wl-api-burst" ] ||
    [ ! -x "$BUILD/bin/loadgen" ]; then
    fail "build" "missing allocscope, the shim, wl-api-burst or loadgen; run 'make'"
    finish
fi
if [ ! -f "$(allocator_lib jemalloc)" ]; then
    skip "api-burst field table" "$(allocator_lib jemalloc) not installed"
    finish
fi

# On exit: a bench still running is stopped as a user would (SIGINT: it stops its targets'
# process groups and its load).
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    if [ -n "${bench_pid:-}" ] && kill -0 "$bench_pid" 2>/dev/null; then
        kill -INT "$bench_pid"
        wait "$bench_pid" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# cell_metrics CELL_DIR RESULTS_CSV: one line from the cell's phases.csv, tree.csv (the
# harness's outside samples of the target's tree RSS), load.json and its results.csv row:
#   status peak_bytes cooldown_min_pct within_2s_min_pct within_750ms_min_pct
#   after_1s_pct end_pct rps p99_ms cpu_s cpu_ms_per_request
# Percentages are of the cell's peak tree RSS; the windows start when the load phase ends.
cell_metrics() {
    local cell requests
    cell=$(basename "$1")
    requests=$(grep -o '"requests":[0-9]*' "$1/load.json" 2>/dev/null | cut -d: -f2)
    awk -F, -v cell="$cell" -v requests="${requests:-0}" '
        FILENAME ~ /phases.csv$/ && $1 == "load" { load_end = $3 }
        FILENAME ~ /phases.csv$/ && $1 == "cooldown" { cd_start = $2; cd_end = $3 }
        FILENAME ~ /tree.csv$/ && FNR > 1 {
            n++; t[n] = $1; rss[n] = $2; if ($2 > peak) peak = $2
        }
        FILENAME ~ /results.csv$/ && FNR == 1 { for (i = 1; i <= NF; i++) col[$i] = i }
        FILENAME ~ /results.csv$/ && FNR > 1 && $1 == cell {
            status = $col["status"]; rps = $col["throughput_rps"]; p99 = $col["p99_ms"]
            cpu = $col["cpu_s"]; after1 = $col["after_1s_rss_bytes"]; after = $col["after_rss_bytes"]
        }
        function pct(x) { return 100 * x / peak }
        END {
            cd_min = w2 = w075 = -1
            for (i = 1; i <= n; i++) {
                if (t[i] >= cd_start && t[i] <= cd_end && (cd_min < 0 || rss[i] < cd_min))
                    cd_min = rss[i]
                if (t[i] > load_end && t[i] <= load_end + 2000 && (w2 < 0 || rss[i] < w2))
                    w2 = rss[i]
                if (t[i] > load_end && t[i] <= load_end + 750 && (w075 < 0 || rss[i] < w075))
                    w075 = rss[i]
            }
            if (status == "" || peak == 0 || load_end == "" || cd_min < 0 || w2 < 0 || w075 < 0 ||
                requests == 0) {
                print "missing"
                exit
            }
            printf "%s %d %.1f %.1f %.1f %.1f %.1f %s %s %s %.3f\n", status, peak, pct(cd_min),
                pct(w2), pct(w075), pct(after1), pct(after), rps, p99, cpu, 1000 * cpu / requests
        }' "$1/phases.csv" "$1/tree.csv" "$2"
}

# ---- the bench, PASSES times -----------------------------------------------------------
alloc_args=()
for c in $CONFIGS; do alloc_args+=(-a "$c"); done
for p in $(seq "$PASSES"); do
    "$ALLOCSCOPE" bench --workload api-burst "${alloc_args[@]}" "${PHASES[@]}" --quiet \
        -o "$TMP/pass$p" >"$TMP/pass$p.log" 2>&1 &
    bench_pid=$!
    wait "$bench_pid"
    rc=$?
    bench_pid=
    expect_eq "pass $p: bench exits 0 (every cell ok)" "$rc" 0
    if [ "$rc" -ne 0 ]; then
        sed 's/^/# bench: /' "$TMP/pass$p.log" | tail -5
        # The failed cells' rows, error column included.
        awk -F, 'NR > 1 && $7 != "ok" { print "# results.csv: " $0 }' "$TMP/pass$p/results.csv"
    fi
done

# ---- the measured table ----------------------------------------------------------------
# M[config,pass] = the cell_metrics line; one table line per cell in the log.
declare -A M
echo "# config pass: status peak_MiB cooldown_min% within_2s_min% within_0.75s_min%" \
    "after_1s% end% rps p99_ms cpu_s cpu_ms_per_request"
for p in $(seq "$PASSES"); do
    for c in $CONFIGS; do
        dir=$TMP/pass$p/cells/api-burst-none-${c/:/-}-r1
        M[$c,$p]=$(cell_metrics "$dir" "$TMP/pass$p/results.csv" 2>/dev/null || echo missing)
        read -r status peak rest <<<"${M[$c,$p]}"
        echo "# $c $p: $status $((${peak:-0} / 1048576)) $rest"
    done
done

# col CONFIG PASS N: the Nth field (1-based) of a cell's metrics line.
col() { awk -v n="$3" '{ print $n }' <<<"${M[$1,$2]}"; }
# median CONFIG N, best CONFIG N: the middle (the lower middle for an even count) and the
# highest value of that field over the passes.
median() {
    local p
    for p in $(seq "$PASSES"); do col "$1" "$p" "$2"; done |
        sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
best() {
    local p
    for p in $(seq "$PASSES"); do col "$1" "$p" "$2"; done | sort -g | tail -1
}
# holds EXPR: awk's verdict on a numeric comparison.
holds() { awk "BEGIN { exit !($1) }"; }

all_measured=1
for p in $(seq "$PASSES"); do
    for c in $CONFIGS; do
        if [ "$(col "$c" "$p" 1)" != ok ]; then
            fail "pass $p $c: cell measured" "${M[$c,$p]}"
            all_measured=0
            continue 2
        fi
    done
    # A burst worth the name (measured 170-290 MiB), or keeping "most of the peak" is empty.
    for c in $CONFIGS; do
        v=$(($(col "$c" "$p" 2) / 1048576))
        [ "$v" -ge 100 ] || fail "pass $p: $c peak tree RSS >= 100 MiB" "$v MiB"
    done
    # glibc keeps its heap: no cooldown sample below 70% of the peak.
    v=$(col glibc:default "$p" 3)
    if holds "$v >= 70"; then
        pass "pass $p: glibc:default keeps >= 70% of peak RSS over the whole cooldown ($v%)"
    else
        fail "pass $p: glibc:default keeps >= 70% of peak RSS over the whole cooldown" \
            "lowest cooldown sample $v% of peak"
    fi
    v=$(col jemalloc:bg-decay "$p" 4)
    if holds "$v < 25"; then
        pass "pass $p: jemalloc:bg-decay below 25% of peak RSS within 2 s of the load ($v%)"
    else
        fail "pass $p: jemalloc:bg-decay below 25% of peak RSS within 2 s of the load" \
            "lowest sample in the 2 s is $v% of peak"
    fi
    # "At once": as soon as the requests in flight when the load stopped have finished
    # (measured 0.06-0.47 s: the slow allocator works through its backlog).
    v=$(col jemalloc:aggressive "$p" 5)
    if holds "$v < 40"; then
        pass "pass $p: jemalloc:aggressive below 40% of peak RSS within 0.75 s of the load ($v%)"
    else
        fail "pass $p: jemalloc:aggressive below 40% of peak RSS within 0.75 s of the load" \
            "lowest sample in the 0.75 s is $v% of peak"
    fi
done

# Throughput. Requests/s of one cell swing 2x with whatever else the machine runs
# (bg-decay/glibc per pass measured 0.49-1.80), and other work only ever lowers them, so each
# configuration's capacity is its best pass; the target's CPU per request, which that other
# work moves less (0.72-1.44 per pass), is compared on medians. Aggressive: 0.15-0.39x
# bg-decay's requests/s and 5-8.6x its CPU per request here (decay 0 madvises freed pages at
# once and each request faults them back: ~180 page faults a request against ~2).
if [ "$all_measured" = 1 ]; then
    glibc_rps=$(best glibc:default 8)
    bg_rps=$(best jemalloc:bg-decay 8)
    aggr_rps=$(best jemalloc:aggressive 8)
    glibc_cpu=$(median glibc:default 11)
    bg_cpu=$(median jemalloc:bg-decay 11)
    aggr_cpu=$(median jemalloc:aggressive 11)
    echo "# best req/s: glibc:default $glibc_rps, jemalloc:bg-decay $bg_rps," \
        "jemalloc:aggressive $aggr_rps; median CPU ms per request: $glibc_cpu, $bg_cpu, $aggr_cpu"
    # "About the same throughput" is judged on CPU per request below; requests/s only has to
    # rule out a collapse like aggressive's: even the best of three passes is bimodal on this
    # 2-vCPU VM (a fresh-clone CI once measured 0.77x).
    if holds "$glibc_rps > 0 && $bg_rps >= 0.5 * $glibc_rps"; then
        pass "jemalloc:bg-decay serves >= 0.5x glibc:default's req/s ($bg_rps vs $glibc_rps)"
    else
        fail "jemalloc:bg-decay serves >= 0.5x glibc:default's req/s" \
            "best $bg_rps vs $glibc_rps"
    fi
    if holds "$glibc_cpu > 0 && $bg_cpu <= 1.3 * $glibc_cpu"; then
        pass "jemalloc:bg-decay costs <= 1.3x glibc:default's CPU per request ($bg_cpu vs $glibc_cpu ms)"
    else
        fail "jemalloc:bg-decay costs <= 1.3x glibc:default's CPU per request" \
            "median $bg_cpu vs $glibc_cpu ms"
    fi
    if holds "$bg_rps > 0 && $aggr_rps < 0.8 * $bg_rps"; then
        pass "jemalloc:aggressive serves < 0.8x jemalloc:bg-decay's req/s ($aggr_rps vs $bg_rps)"
    else
        fail "jemalloc:aggressive serves < 0.8x jemalloc:bg-decay's req/s" \
            "best $aggr_rps vs $bg_rps"
    fi
    # The field's +15-20% CPU.
    if holds "$bg_cpu > 0 && $aggr_cpu >= 1.15 * $bg_cpu"; then
        pass "jemalloc:aggressive costs >= 1.15x bg-decay's CPU per request ($aggr_cpu vs $bg_cpu ms)"
    else
        fail "jemalloc:aggressive costs >= 1.15x bg-decay's CPU per request" \
            "median $aggr_cpu vs $bg_cpu ms"
    fi
fi
finish
