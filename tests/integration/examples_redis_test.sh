#!/bin/bash
# The redis example (examples/redis/bench.ini) in the quick profile, against Debian's real
# redis-server and redis-benchmark: every cell that ran has a throughput read from
# redis-benchmark's CSV and a diagnosis verdict; glibc:default is unsupported (Debian's
# redis-server links libjemalloc itself) without failing the bench; the report says why.
. "$(dirname "$0")/../helpers/lib.sh"

if [ ! -x "$ALLOCSCOPE" ] || [ ! -f "$SHIM" ]; then
    fail "build" "missing $ALLOCSCOPE or $SHIM; run 'make all tests-build'"
    finish
fi
for tool in redis-server redis-benchmark redis-cli stdbuf; do
    if ! command -v "$tool" >/dev/null; then
        skip "redis example" "$tool is not installed (make deps installs redis-server, redis-tools)"
        finish
    fi
done
cleanup() {
    if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then
        kill -INT "$pid"
        sleep 3
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

field() { # CSV CELL_PATTERN COLUMN
    awk -F, -v pat="$2" -v col="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $1 ~ pat { print $(c[col]); exit }' "$1"
}

B=$TMP/redis
# The load phase ends when redis-benchmark does; its bound is generous, because a busy
# machine (load average 29 beside this test) did not finish one of its tests in the quick
# profile's 4 s, and no throughput could be read from it.
"$ALLOCSCOPE" bench "$ROOT/examples/redis/bench.ini" --load-time 60 -o "$B" --quiet \
    >"$TMP/out" 2>"$TMP/err" &
pid=$!
wait "$pid"
expect_eq "the redis example exits 0 (an unsupported cell is not a failure)" "$?" 0
R=$B/results.csv
expect_eq "one row per configuration" "$(tail -n +2 "$R" | wc -l)" 5
expect_eq "glibc:default is unsupported" "$(field "$R" glibc-default status)" unsupported
check_grep "the reason names the library redis-server needs" \
    "redis-server links its own allocator jemalloc \(it needs libjemalloc.so" "$R"
check_grep "stderr says the cell is unsupported, not failed" "1 unsupported, 0 failed" "$TMP/err"
"$ALLOCSCOPE" diagnose "$B" --json >"$TMP/diag.json" 2>"$TMP/diag.err"
for cfg in jemalloc-default jemalloc-bg-decay mimalloc-default tcmalloc-default; do
    expect_eq "$cfg: ok" "$(field "$R" "$cfg" status)" ok
    rps=$(field "$R" "$cfg" throughput_rps)
    if awk -v v="$rps" 'BEGIN { exit !(v > 0) }'; then pass "$cfg: throughput $rps req/s"; else
        fail "$cfg: throughput" "got '$rps' (note: $(field "$R" "$cfg" note))"; fi
    expect_eq "$cfg: read as redis-benchmark's" "$(field "$R" "$cfg" load_format)" redis-benchmark
    p99=$(field "$R" "$cfg" p99_ms)
    [ -n "$p99" ] && pass "$cfg: p99 from --csv" || fail "$cfg: p99 from --csv" "empty"
    verdict=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
cells = d.get("cells", d if isinstance(d, list) else [])
print(next((c.get("verdict") or "" for c in cells if sys.argv[2] in c.get("cell", "") + c.get("dir", "")), ""))' \
        "$TMP/diag.json" "redis-none-$cfg-r1" 2>/dev/null)
    [ -n "$verdict" ] && pass "$cfg: verdict $verdict" || fail "$cfg: a verdict" "none in diagnose --json"
done
check_grep "jemalloc configurations reach redis-server's own copy" \
    "jemalloc-bg-decay.*its own copy ran with this configuration's environment" "$R"

"$ALLOCSCOPE" report "$B" -o "$TMP/report" >/dev/null 2>"$TMP/report.err"
expect_eq "report exit status" "$?" 0
check_grep "summary.md recommends a configuration by throughput" \
    "within 5% of the best throughput" "$TMP/report/summary.md"
check_grep "summary.md marks glibc:default unsupported" "glibc:default .*\| unsupported \|" \
    "$TMP/report/summary.md"
check_grep "index.html gives the reason" "glibc&#39;s malloc cannot be put under it" \
    "$TMP/report/index.html"
finish
