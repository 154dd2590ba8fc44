#!/bin/bash
# suite: full alone
# (make test-full: it keeps a core busy itself and so runs alone; make test already runs the
# verdicts beside its other scripts, and the suite is meant to pass with another job busy.)
# Verdicts of bench cells with one CPU kept busy by another program (`yes`, started here,
# bounded by `timeout` and killed on exit): a busy machine does the load's work more slowly,
# and the target may still be working off queued requests when the load command ends.
#   - api-burst under jemalloc:bg-decay stays healthy (before the drain phase and the work
#     axis it came out unbounded-buffering or leak on a busy machine);
#   - the cell's phases.csv has a drain row between the load and the cooldown: the cooldown
#     starts once the target went quiet (settled=yes), not when the load command ended;
#   - stream-proxy leaky stays a leak naming upstream_client_new, fixed stays healthy.
# No timing is asserted: the drain is a condition the bench waits for (with its own bound).
source "$(dirname "$0")/../helpers/lib.sh"
source "$(dirname "$0")/../helpers/workloads_lib.sh"
source "$(dirname "$0")/../helpers/diagnose_lib.sh"

if [ ! -x "$ALLOCSCOPE" ] || [ ! -f "$SHIM" ] || ! "$ALLOCSCOPE" bench --help >/dev/null 2>&1; then
    skip "diagnose on a busy machine" "build/bin/allocscope bench or the shim is not built"
    finish
fi

# One CPU busy for the whole test, at most 10 minutes; killed on exit with the servers.
timeout 600 yes >/dev/null &
BUSY=$!
WL_PIDS+=("$BUSY")

# drain_row CELL_DIR: "DRAIN_END COOLDOWN_START SETTLED" from phases.csv.
drain_row() {
    awk -F, '$1 == "drain" { d = $3; s = $4 } $1 == "cooldown" { c = $2 }
             END { print d, c, s }' "$1/phases.csv"
}

if [ -f "$(allocator_lib jemalloc)" ]; then
    bench_cells busy-api --workload api-burst -a jemalloc:bg-decay
    expect_cell busy-api api-burst-none-jemalloc-bg-decay-r1 healthy
    cell=$TMP/busy-api/cells/api-burst-none-jemalloc-bg-decay-r1
    read -r drain_end cool_start settled <<<"$(drain_row "$cell")"
    echo "# api-burst: $(tr '\n' ' ' <"$cell/phases.csv")"
    if [ -n "$drain_end" ] && [ -n "$cool_start" ] && [ "$drain_end" -le "$cool_start" ] &&
        [ "$settled" = yes ]; then
        pass "api-burst: the cooldown starts after the target drained (settled)"
    else
        fail "api-burst: a settled drain before the cooldown" "$(tr '\n' ' ' <"$cell/phases.csv")"
    fi
    expect_eq "the diagnosis read the drain" \
        "$(diag_field "$TMP/api-burst-none-jemalloc-bg-decay-r1.json" \
            'd["metrics"]["drain_settled"] and d["metrics"]["after_ms"] >= d["metrics"]["drain_end_ms"]')" \
        True
else
    skip "api-burst under jemalloc:bg-decay (busy)" "libjemalloc not installed"
fi

bench_cells busy-proxy --workload stream-proxy -a glibc:default
expect_cell busy-proxy stream-proxy-leaky-glibc-default-r1 "leak|unbounded-buffering" \
    upstream_client_new
expect_cell busy-proxy stream-proxy-fixed-glibc-default-r1 healthy

if kill -0 "$BUSY" 2>/dev/null; then
    pass "the CPU was kept busy through the benches"
else
    fail "the CPU was kept busy through the benches" "yes ended early"
fi
finish
