#!/bin/bash
# Load figures from the real load tools Debian ships, briefly, against nginx and redis:
# wrk (--latency), h2load and ab on nginx (examples/nginx/run-nginx), redis-benchmark in its
# -q and plain formats, memcaslap read with throughput_regex; memtier_benchmark and k6
# reports (not in Debian: fixtures written from their documented formats) read from
# {json}; a load whose output is nobody's format; programs that end by themselves;
# a configuration taken over at run time by the program's own allocator (through env).
. "$(dirname "$0")/../helpers/lib.sh"

if [ ! -x "$ALLOCSCOPE" ] || [ ! -f "$SHIM" ]; then
    fail "build" "missing $ALLOCSCOPE or $SHIM; run 'make all tests-build'"
    finish
fi
cleanup() {
    if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then
        kill -INT "$pid"
        sleep 3
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
have() { command -v "$1" >/dev/null; }
field() { # CSV CELL_PATTERN COLUMN
    awk -F, -v pat="$2" -v col="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $1 ~ pat { print $(c[col]); exit }' "$1"
}
positive() { awk -v v="$1" 'BEGIN { exit !(v > 0) }'; }
# bench NAME ARGS...: runs a bench into $TMP/NAME (as a user would: waited for, stoppable)
bench() {
    local name=$1
    shift
    "$ALLOCSCOPE" bench "$@" -o "$TMP/$name" --quiet >"$TMP/$name.out" 2>"$TMP/$name.err" &
    pid=$!
    wait "$pid"
}
# figures NAME CELL FORMAT WANT_P99: the cell's throughput, format and (yes/no) p99
figures() {
    local r=$TMP/$1/results.csv rps
    rps=$(field "$r" "$2" throughput_rps)
    if positive "$rps"; then pass "$2: throughput $rps/s"; else
        fail "$2: throughput" "got '$rps'; note: $(field "$r" "$2" note)"; fi
    expect_eq "$2: recognized as $3" "$(field "$r" "$2" load_format)" "$3"
    if [ "$4" = yes ]; then
        positive "$(field "$r" "$2" p99_ms)" || [ "$(field "$r" "$2" p99_ms)" = 0.000 ] &&
            pass "$2: p99" || fail "$2: p99" "empty"
    fi
}
PHASES="--idle 0.3 --cooldown 0.3"

# ---- wrk, h2load, ab against nginx (one glibc cell each; the format is recognized) ----
if ! have nginx; then
    skip "wrk, h2load and ab" "nginx is not installed (make deps installs nginx-light)"
else
    NGINX="$ROOT/examples/nginx/run-nginx"
    cat >"$TMP/http.ini" <<INI
[bench]
allocators = glibc:default
idle_s = 0.3
load_s = 3
cooldown_s = 0.3
[target wrk]
command = $NGINX front {port} {workdir}
ready = port
load = wrk -t 1 -c 8 -d 1s --latency http://127.0.0.1:{port}/static/page.html
[target ab]
command = $NGINX front {port} {workdir}
ready = port
load = ab -n 2000 -c 8 -k http://127.0.0.1:{port}/static/page.html
[target h2load]
command = $NGINX h2 {port} {workdir}
ready = port
load = h2load -n 2000 -c 4 -m 4 http://127.0.0.1:{port}/static/page.html
INI
    bench http "$TMP/http.ini"
    expect_eq "http bench exit status" "$?" 0
    for tool in wrk ab h2load; do
        if ! have $tool; then
            skip "$tool" "$tool is not installed (make deps installs wrk, apache2-utils, nghttp2-client)"
            continue
        fi
        expect_eq "$tool: cell ok" "$(field "$TMP/http/results.csv" "^$tool-" status)" ok
        p99=yes
        [ $tool = h2load ] && p99=no # h2load prints no percentiles
        figures http "^$tool-" $tool $p99
    done
fi

# ---- redis-benchmark -q (\r progress lines) and its plain report, named and recognized ----
if ! have redis-server || ! have redis-benchmark; then
    skip "redis-benchmark formats" "redis-server or redis-benchmark is not installed (make deps)"
else
    REDIS="redis-server --port {port} --bind 127.0.0.1 --dir {workdir} --save '' --appendonly no"
    bench rq -a mimalloc $PHASES --load-time 3 --name rq --target "$REDIS" --ready port \
        --load 'redis-benchmark -p {port} -q -n 20000 -P 8 -t set,get'
    expect_eq "redis-benchmark -q: exit status" "$?" 0
    figures rq "^rq-" redis-benchmark no
    bench rp -a mimalloc $PHASES --load-time 3 --name rp --target "$REDIS" --ready port \
        --load-format redis-benchmark --load 'redis-benchmark -p {port} -n 5000 -t set,get'
    expect_eq "redis-benchmark plain: exit status" "$?" 0
    figures rp "^rp-" redis-benchmark yes
    # Through env, the static check sees env, not redis-server: the run shows jemalloc served.
    bench envr -a glibc $PHASES --load-time 2 --name envr --target "env $REDIS" --ready port \
        --load 'redis-benchmark -p {port} -q -n 2000 -t set'
    expect_eq "a program's own allocator found at run time: exit status" "$?" 0
    expect_eq "found at run time: unsupported" "$(field "$TMP/envr/results.csv" envr status)" unsupported
    check_grep "found at run time: the reason" "ran under jemalloc .* instead of glibc" "$TMP/envr/results.csv"
    expect_eq "found at run time: no numbers of another allocator" \
        "$(field "$TMP/envr/results.csv" envr peak_rss_bytes)" ""
fi

# ---- memcaslap, read with throughput_regex ----
if ! have memcached || ! have memcaslap; then
    skip "throughput_regex on memcaslap" "memcached or memcaslap is not installed (make deps)"
else
    bench mc -a glibc $PHASES --load-time 8 --name mc \
        --target 'memcached -l 127.0.0.1 -p {port} -U 0 -t 1 -m 64 -u root' --ready port \
        --throughput-regex 'TPS: ([0-9.]+)' --load 'memcaslap -s 127.0.0.1:{port} -t 1s -T 1 -c 4 -w 1k'
    expect_eq "memcaslap: exit status" "$?" 0
    figures mc "^mc-" regex no
fi

# ---- memtier_benchmark and k6 reports in {json} (fixtures: the tools are not in Debian) ----
FIX=$ROOT/tests/fixtures/load
bench json -a glibc $PHASES --load-time 1 --name memtier --target 'sleep 30' \
    --load "cp $FIX/memtier.json {json}"
figures json "^memtier-" memtier yes
expect_eq "memtier: Ops/sec of ALL STATS Totals" "$(field "$TMP/json/results.csv" memtier throughput_rps)" 40960.0
bench k6 -a glibc $PHASES --load-time 1 --name k6 --target 'sleep 30' \
    --load-format k6 --load "cp $FIX/k6-summary-export.json {json}"
figures k6 "^k6-" k6 yes

# ---- a load whose output is nobody's format: said, and the report ranks by memory ----
bench none -a glibc -a glibc:trim $PHASES --load-time 1 --name quiet --target 'sleep 30' \
    --load 'echo 12345 things done'
expect_eq "unreadable load: the bench still succeeds" "$?" 0
check_grep "unreadable load: the note names load.log" "no throughput could be read from load.log" \
    "$TMP/none/results.csv"
"$ALLOCSCOPE" report "$TMP/none" -o "$TMP/none-report" >/dev/null 2>&1
check_grep "unreadable load: the recommendation ranks by memory only" \
    "ranked by memory only" "$TMP/none-report/summary.md"

# ---- programs that end by themselves ----
bench batch -a glibc -a glibc:trim --batch --name sorter --target 'sort -S 32M /etc/services'
expect_eq "batch: exit status" "$?" 0
R=$TMP/batch/results.csv
expect_eq "batch: ok" "$(field "$R" sorter-none-glibc-default status)" ok
expect_eq "batch: kind" "$(field "$R" sorter-none-glibc-default kind)" batch
positive "$(field "$R" sorter-none-glibc-default peak_rss_bytes)" && pass "batch: peak RSS" ||
    fail "batch: peak RSS" "empty"
positive "$(field "$R" sorter-none-glibc-default after_rss_bytes)" && pass "batch: RSS before exit" ||
    fail "batch: RSS before exit" "empty"
positive "$(field "$R" sorter-none-glibc-default duration_s)" && pass "batch: wall time" ||
    fail "batch: wall time" "empty"
[ -n "$(field "$R" sorter-none-glibc-default cpu_s)" ] && pass "batch: CPU time" || fail "batch: CPU time" "empty"
check_grep "batch: one run phase" "^run," "$TMP/batch/cells/sorter-none-glibc-default-r1/phases.csv"
"$ALLOCSCOPE" report "$TMP/batch" -o "$TMP/batch-report" >/dev/null 2>&1
check_grep "batch: the report compares peak RSS and time" "within 5% of the fastest run" \
    "$TMP/batch-report/summary.md"
bench early -a glibc --name early --target 'sort /etc/services'
expect_eq "a target without load ending by itself: exit status" "$?" 0
expect_eq "ending by itself: measured as batch" "$(field "$TMP/early/results.csv" early kind)" batch
check_grep "ending by itself: said in the note" "ended by itself" "$TMP/early/results.csv"
bench fails -a glibc --batch --name fails --target 'sh -c "exit 3"'
expect_eq "a batch target exiting 3: bench exit status" "$?" 1
expect_eq "a batch target exiting 3: status" "$(field "$TMP/fails/results.csv" fails status)" failed:exit:3
bench slow -a glibc --batch --timeout 1 --name slow --target 'sleep 20'
expect_eq "a batch target past its timeout: status" "$(field "$TMP/slow/results.csv" slow status)" failed:timeout
finish
