#!/bin/bash
# Tests of allocscope report: charts exist and are valid SVG/PNG with their gnuplot scripts
# beside them; the HTML page is self-contained, loads in headless Chromium without console
# errors and every chart has a size; data-derived text (a symbol named <script>...) comes out
# escaped; the recommendation follows the rule; missing or truncated files are named and
# the report is still made; bad input gets one line. Inputs: real `allocscope run`
# directories, bench directories assembled from them, and a real `allocscope bench`.
. "$(dirname "$0")/../helpers/lib.sh"
use_sanitized # allocscope with ASan/UBSan: any report fails the script

GROWER=$TESTBIN/grower
EVIL='<script>alert(1)</script>'
if [ ! -x "$ALLOCSCOPE" ] || [ ! -x "$GROWER" ]; then
    fail "build" "$ALLOCSCOPE or $GROWER missing; run make all tests-build"
    finish
fi

record() { # DIR ALLOCATOR:CONFIG [extra run options]: the grower for 4 s (enough site snapshots for a growth rate)
    local dir=$1 alloc=$2
    shift 2
    "$ALLOCSCOPE" run --quiet --out "$dir" -a "$alloc" "$@" -- "$GROWER" 4 262144 >/dev/null 2>&1
}

# headless CHROMIUM_ARGS... URL: Debian's chromium, no network, throwaway profile.
headless() {
    local profile
    profile=$(mktemp -d "$TMP/chromium.XXXXXX")
    timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-extensions --user-data-dir="$profile" "$@"
}

png_ok() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }

# check_charts OUT: every chart SVG parses, has a PNG and its script beside it (flame graphs,
# drawn by allocscope itself, only have to parse).
check_charts() {
    local out=$1 svg base bad=""
    local n
    n=$(find "$out/charts" -name '*.svg' ! -name 'flame-*' | wc -l)
    [ "$n" -gt 0 ] || bad="no SVG charts"
    for svg in "$out"/charts/*.svg; do
        base=${svg%.svg}
        if [[ ${svg##*/} == flame-* ]]; then
            xmllint --noout "$svg" 2>/dev/null || bad="$bad ${svg##*/}:invalid-svg"
            continue
        fi
        xmllint --noout "$svg" 2>/dev/null || bad="$bad ${svg##*/}:invalid-svg"
        png_ok "$base.png" || bad="$bad ${base##*/}.png:not-png"
        [ -s "$base.gp" ] || bad="$bad ${base##*/}.gp:missing"
        [ -s "$base.dat" ] || bad="$bad ${base##*/}.dat:missing"
    done
    [ -s "$out/charts/style.gp" ] || bad="$bad style.gp:missing"
    if [ -z "$bad" ]; then pass "$2: $n charts valid SVG + PNG, scripts and data beside them"; else fail "$2: charts" "$bad"; fi
}

# ---- plain runs ---------------------------------------------------------------------
record "$TMP/run-glibc" glibc:default
record "$TMP/run-je" jemalloc:bg-decay --reclaim 1
if [ ! -s "$TMP/run-glibc/samples.csv" ] || [ ! -s "$TMP/run-je/samples.csv" ]; then
    fail "record runs" "allocscope run of the grower wrote no samples.csv"
    finish
fi
"$ALLOCSCOPE" report "$TMP/run-glibc" "$TMP/run-je" -o "$TMP/rep1" >"$TMP/rep1.out" 2>"$TMP/rep1.err"
expect_eq "report on two runs exits 0" "$?" 0
check "index.html and summary.md written" test -s "$TMP/rep1/index.html" -a -s "$TMP/rep1/summary.md"
check "report prints the page's path" grep -q "$TMP/rep1/index.html" "$TMP/rep1.out"
check_charts "$TMP/rep1" "two runs"
for kind in rss bars sites breakdown; do
    check "two runs: a $kind chart" compgen -G "$TMP/rep1/charts/$kind-*.svg" >/dev/null
done
check "sites chart labelled with function and file:line" \
    grep -q 'grow_buffer_list (grower.c:[0-9]*)' "$TMP/rep1/index.html"
figures=$(grep -c '<figure class="chart"' "$TMP/rep1/index.html")
svgs=$(grep -c '<svg' "$TMP/rep1/index.html")
expect_eq "every chart inlined as SVG" "$svgs" "$figures"
check "no XML prolog inside the page" bash -c "! grep -q '<?xml' '$TMP/rep1/index.html'"
check "no external resource (src/href to a URL, link, img, @import)" bash -c \
    "! grep -Eiq '(src|href)=\"?(https?:)?//|<link |<img |@import|<iframe' '$TMP/rep1/index.html'"
check "each configuration named in the results" \
    bash -c "grep -q 'glibc:default' '$TMP/rep1/summary.md' && grep -q 'jemalloc:bg-decay' '$TMP/rep1/summary.md'"
check "reclaimable bytes from the reclaim test in the table" \
    bash -c "grep 'jemalloc:bg-decay' '$TMP/rep1/summary.md' | grep -Eq '\\| [0-9.]+ ([KMG]i)?B \\| [0-9.]+ ([KMG]i)?B \\| -'"
if (cd "$TMP/rep1/charts" && gnuplot render-svg.gp render-png.gp) >/dev/null 2>&1; then
    pass "the kept gnuplot scripts re-render the charts"
else
    fail "the kept gnuplot scripts re-render the charts" "gnuplot render-svg.gp failed in $TMP/rep1/charts"
fi

# ---- the page in headless Chromium ----------------------------------------------------
check_page() { # OUT NAME
    local out=$1 name=$2 dom log figures ok zero
    dom=$TMP/$name.dom log=$TMP/$name.console
    headless --enable-logging=stderr --v=0 --virtual-time-budget=3000 --dump-dom \
        "file://$out/index.html" >"$dom" 2>"$log"
    figures=$(grep -c '<figure class="chart"' "$out/index.html")
    ok=$(grep -o 'data-charts-ok="[0-9]*"' "$dom" | grep -o '[0-9]*')
    expect_eq "$name: Chromium lays out every chart with a non-zero size" "${ok:-none}" "$figures"
    zero=$(grep -o 'data-rendered="[0-9]*x[0-9]*"' "$dom" | grep -cE '"0x|x0"')
    expect_eq "$name: no chart measured 0 wide or high" "$zero" 0
    if grep -Eiq 'Uncaught|CONSOLE\([0-9]+\)].*(error|refused)|Failed to load resource|net::ERR_' "$log"; then
        fail "$name: no console errors" "$(grep -Ei 'Uncaught|CONSOLE|Failed to load|net::ERR' "$log" | head -3)"
    else
        pass "$name: no console errors"
    fi
}
if command -v chromium >/dev/null 2>&1; then
    check_page "$TMP/rep1" runs
    headless --window-size=1200,1800 --hide-scrollbars --screenshot="$TMP/rep1.png" \
        "file://$TMP/rep1/index.html" >/dev/null 2>&1
    if png_ok "$TMP/rep1.png" && [ "$(stat -c %s "$TMP/rep1.png")" -gt 50000 ]; then
        pass "Chromium screenshot of the page has content"
    else
        fail "Chromium screenshot of the page has content" "$TMP/rep1.png missing or blank"
    fi
else
    skip "headless Chromium checks" "chromium is not installed (tools/install-deps installs it)"
fi

# ---- a symbol named <script>alert(1)</script>, in a program at a path with markup -------
EVIL_BIN="$TMP/evil<b>grower"
objcopy --redefine-sym "grow_buffer_list=$EVIL" "$GROWER" "$EVIL_BIN"
"$ALLOCSCOPE" run --quiet --out "$TMP/run-evil" -- "$EVIL_BIN" 4 262144 >/dev/null 2>&1
"$ALLOCSCOPE" leaks "$TMP/run-evil" 2>/dev/null | grep -qF "$EVIL"
expect_eq "the renamed symbol is what the symbolizer reports" "$?" 0
"$ALLOCSCOPE" report "$TMP/run-evil" -o "$TMP/rep-evil" >/dev/null 2>&1
expect_eq "report on the evil run exits 0" "$?" 0
check "symbol escaped in index.html" grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;' "$TMP/rep-evil/index.html"
check "path escaped in index.html" grep -qF 'evil&lt;b&gt;grower' "$TMP/rep-evil/index.html"
check "no raw <script>alert or <b> from data in index.html" \
    bash -c "! grep -qE '<script>alert|<b>grower' '$TMP/rep-evil/index.html'"
check "symbol escaped in summary.md" bash -c "! grep -qF '<script>' '$TMP/rep-evil/summary.md'"
expect_eq "the page's own measuring script is its only script element" \
    "$(grep -o '<script' "$TMP/rep-evil/index.html" | wc -l)" 1
if command -v chromium >/dev/null 2>&1; then
    check_page "$TMP/rep-evil" evil
    check "the evil symbol is text in the rendered DOM" grep -qF '&lt;script&gt;alert(1)' "$TMP/evil.dom"
fi

# ---- a bench directory assembled from real runs -----------------------------------------
record "$TMP/run-mi" mimalloc:default
# make_bench DIR: 2 workloads (variants leaky, fixed) x 3 configurations. Throughput and
# after-load RSS are set so that within 5% of the best the lowest RSS is jemalloc:bg-decay,
# and within 25% it is mimalloc:default.
make_bench() {
    local dir=$1 v a c src
    mkdir -p "$dir/cells"
    cat >"$dir/bench.json" <<EOF
{"tool":"allocscope","version":"0.1","profile":"test","repeats":3,
 "phases":{"idle_s":0.5,"load_s":1.0,"cooldown_s":0.7},"host":{"kernel":"test","cpus":2}}
EOF
    echo "cell,workload,variant,allocator,config,repeat,status,idle_rss_bytes,peak_rss_bytes,after_1s_rss_bytes,after_rss_bytes,reclaimable_bytes,peak_live_bytes,after_live_bytes,throughput_rps,p50_ms,p99_ms,cpu_s,duration_s,error" >"$dir/results.csv"
    for v in leaky fixed; do
        for spec in glibc:default:run-glibc:1000:104857600 jemalloc:bg-decay:run-je:960:52428800 \
            mimalloc:default:run-mi:800:10485760; do
            IFS=: read -r a c src rps after <<<"$spec"
            # Three repeats 0.1% apart: the recommendation tells a 4% gap from noise.
            for r in 1 2 3; do
                local cell="grow-$v-$a-$c-r$r" r_rps=$((rps * (998 + r) / 1000))
                cp -r "$TMP/$src" "$dir/cells/$cell"
                printf 'phase,start_ms,end_ms\nidle,0,500\nload,500,1500\ncooldown,1500,2200\n' \
                    >"$dir/cells/$cell/phases.csv"
                echo "$cell,grow,$v,$a,$c,$r,ok,3000000,20000000,$after,$after,1000000,15000000,0,$r_rps,1.0,5.0,0.5,2.3," >>"$dir/results.csv"
            done
        done
    done
}
make_bench "$TMP/bench"
# Kernel event columns (as bench --kernel joins them) in the leaky workload's cells: the
# chart of bytes returned to the OS appears for that workload only.
for f in "$TMP"/bench/cells/grow-leaky-*/samples.csv; do
    awk -F, -v OFS=, 'NR == 1 { print $0, "munmap_bytes", "madv_free_bytes"; next }
        { print $0, (NR % 5 == 0 ? 1048576 : 0), 4096 }' "$f" >"$f.k" && mv "$f.k" "$f"
done
"$ALLOCSCOPE" report "$TMP/bench" -o "$TMP/rep-bench" >"$TMP/rep-bench.out" 2>&1
expect_eq "report on a bench exits 0" "$?" 0
check_charts "$TMP/rep-bench" "bench"
check "bench: a Pareto chart per workload" test "$(compgen -G "$TMP/rep-bench/charts/pareto-*.svg" | wc -l)" -eq 2
expect_eq "bench: bytes returned to the OS drawn where kernel events exist" \
    "$(compgen -G "$TMP/rep-bench/charts/returned-*.svg" | wc -l)" 1
check "bench: phases shaded in the RSS chart script" grep -q "set object 2 rect" "$(compgen -G "$TMP/rep-bench/charts/rss-*.gp" | head -1)"
rec=$(grep -c '| jemalloc:bg-decay .*\*\*recommended\*\*' "$TMP/rep-bench/summary.md")
expect_eq "recommendation: lowest after-load RSS within 5% of the best throughput" "$rec" 2
check "recommendation names the runners-up and the numbers" \
    grep -q 'jemalloc:bg-decay: after-load RSS 50.0 MiB, the lowest of the 2 configurations within 5% of the best throughput (1000 req/s)' "$TMP/rep-bench/summary.md"
check "overall recommendation across workloads" grep -q 'Across all workloads: jemalloc:bg-decay' "$TMP/rep-bench/summary.md"
"$ALLOCSCOPE" report "$TMP/bench" -o "$TMP/rep-bench25" --tolerance 25 --no-png >/dev/null 2>&1
rec=$(grep -c '| mimalloc:default .*\*\*recommended\*\*' "$TMP/rep-bench25/summary.md")
expect_eq "--tolerance 25: the leaner, 20% slower configuration wins" "$rec" 2
check "--no-png: no PNG written" bash -c "! compgen -G '$TMP/rep-bench25/charts/*.png' >/dev/null"
cp -r "$TMP/bench" "$TMP/bench-failed"
sed -i 's/^\(grow-[a-z]*-mimalloc-default-r\([0-9]\),.*\),\2,ok,/\1,\2,failed:crashed:SIGSEGV,/' "$TMP/bench-failed/results.csv"
sed -i '/mimalloc/s/,$/,target died of SIGSEGV/' "$TMP/bench-failed/results.csv"
"$ALLOCSCOPE" report "$TMP/bench-failed" -o "$TMP/rep-failed" --tolerance 25 --no-png >/dev/null 2>&1
expect_eq "a failed cell is never recommended, however low its numbers" \
    "$(grep -c '| jemalloc:bg-decay .*\*\*recommended\*\*' "$TMP/rep-failed/summary.md"):$(grep -c '| mimalloc:default .*not measured' "$TMP/rep-failed/summary.md")" "2:2"
check "the failure and its reason shown in the results table" \
    grep -q 'failed:crashed:SIGSEGV<br><span class="muted">target died of SIGSEGV' "$TMP/rep-failed/index.html"
"$ALLOCSCOPE" report "$TMP/bench" -o "$TMP/rep-peak" --metric peak --no-png >/dev/null 2>&1
check "--metric peak changes the rule's text" grep -q 'lowest peak RSS among' "$TMP/rep-peak/summary.md"

# ---- missing and truncated files ----------------------------------------------------------
cp -r "$TMP/bench" "$TMP/broken"
rm "$TMP/broken/cells/grow-leaky-glibc-default-r1/run.json"
f=$TMP/broken/cells/grow-fixed-jemalloc-bg-decay-r1/samples.csv
head -c $(($(stat -c %s "$f") - 7)) "$f" >"$f.cut" && mv "$f.cut" "$f"
rm -rf "$TMP/broken/cells/grow-fixed-mimalloc-default-r1"
"$ALLOCSCOPE" report "$TMP/broken" -o "$TMP/rep-broken" >"$TMP/broken.out" 2>"$TMP/broken.err"
expect_eq "report on a damaged bench still exits 0" "$?" 0
check "damaged bench: page written" test -s "$TMP/rep-broken/index.html"
check "missing run.json named" grep -q "grow-leaky-glibc-default-r1/run.json is missing" "$TMP/broken.err"
check "truncated samples.csv named" grep -q "grow-fixed-jemalloc-bg-decay-r1/samples.csv:[0-9]*: truncated" "$TMP/broken.err"
check "truncated samples.csv listed in the page" grep -q "grow-fixed-jemalloc-bg-decay-r1/samples.csv is truncated" "$TMP/rep-broken/index.html"
check "missing cell directory named" grep -q "grow-fixed-mimalloc-default-r1" "$TMP/broken.err"
check "problems listed in the page" grep -q 'id="problems"' "$TMP/rep-broken/index.html"
printf 'cell,workload\ngrow-leaky-glibc-def' >"$TMP/broken/results.csv"
"$ALLOCSCOPE" report "$TMP/broken" -o "$TMP/rep-broken2" >/dev/null 2>"$TMP/broken2.err"
expect_eq "truncated results.csv: report still made from the cells" "$?" 0
check "truncated results.csv named" grep -q "results.csv:[0-9]*: truncated" "$TMP/broken2.err"

# ---- bad input --------------------------------------------------------------------------
"$ALLOCSCOPE" report "$TMP/nonexistent" -o "$TMP/rep-none" >/dev/null 2>"$TMP/bad1.err"
rc=$?
check "nonexistent directory: non-zero exit" test "$rc" -ne 0
check "nonexistent directory: 'allocscope:' lines naming it" grep -q "^allocscope: .*nonexistent" "$TMP/bad1.err"
"$ALLOCSCOPE" report >/dev/null 2>"$TMP/bad2.err"
expect_eq "no directory: exit 2" "$?" 2
expect_eq "no directory: one line" "$(wc -l <"$TMP/bad2.err")" 1
"$ALLOCSCOPE" report "$TMP/run-glibc" --metric bogus >/dev/null 2>"$TMP/bad3.err"
expect_eq "bad --metric: exit 2 with one line" "$?:$(wc -l <"$TMP/bad3.err")" "2:1"
"$ALLOCSCOPE" report "$TMP/run-glibc" -o /proc/allocscope-report >/dev/null 2>"$TMP/bad4.err"
rc=$?
check "unwritable output: non-zero exit and a message" test "$rc" -ne 0 -a -s "$TMP/bad4.err"
mkdir -p "$TMP/empty"
"$ALLOCSCOPE" report "$TMP/empty" -o "$TMP/rep-empty" >/dev/null 2>"$TMP/bad5.err"
rc=$?
check "a directory with no run: non-zero exit, says what to pass" \
    bash -c "[ $rc -ne 0 ] && grep -q 'nothing to report' '$TMP/bad5.err'"

# ---- 50 cells ---------------------------------------------------------------------------
mkdir -p "$TMP/big/cells"
cp "$TMP/bench/bench.json" "$TMP/big/"
head -1 "$TMP/bench/results.csv" >"$TMP/big/results.csv"
i=0
for w in w1 w2 w3 w4 w5; do
    for v in leaky fixed; do
        for src in grow-leaky-glibc-default-r1 grow-leaky-jemalloc-bg-decay-r1 grow-leaky-mimalloc-default-r1 \
            grow-fixed-glibc-default-r1 grow-fixed-jemalloc-bg-decay-r1; do
            i=$((i + 1))
            cell="$w-$v-c$i-r1"
            cp -r "$TMP/bench/cells/$src" "$TMP/big/cells/$cell"
            grep "^$src," "$TMP/bench/results.csv" |
                awk -F, -v OFS=, -v c="$cell" -v w="$w" -v v="$v" -v i="$i" '{$1=c;$2=w;$3=v;$5=$5 i;print}' \
                    >>"$TMP/big/results.csv"
        done
    done
done
start=$(date +%s.%N)
"$ALLOCSCOPE" report "$TMP/big" -o "$TMP/rep-big" >/dev/null 2>"$TMP/big.err"
rc=$?
end=$(date +%s.%N)
expect_eq "report on 50 cells exits 0" "$rc" 0
echo "# 50-cell report took $(awk "BEGIN{printf \"%.2f\", $end - $start}") s"
check_charts "$TMP/rep-big" "50 cells"
expect_eq "50 cells: a breakdown chart per cell" "$(compgen -G "$TMP/rep-big/charts/breakdown-*.svg" | wc -l)" 50
grep -v 'truncated last line' "$TMP/big.err" | head -5 | sed 's/^/# report stderr: /'

# ---- a real allocscope bench ------------------------------------------------------------
if "$ALLOCSCOPE" bench --help >/dev/null 2>&1; then
    # With kernel events where eBPF is allowed (root), for the returned-to-the-OS chart.
    kernel=""
    [ "$(id -u)" -eq 0 ] && "$ALLOCSCOPE" bench --help 2>&1 | grep -q -- --kernel && kernel=--kernel
    "$ALLOCSCOPE" bench --workload api-burst -a glibc:default -a jemalloc:bg-decay $kernel \
        --idle 1 --load-time 2 --cooldown 2 --quiet -o "$TMP/realbench" >"$TMP/realbench.log" 2>&1
    if [ -n "$kernel" ] && [ ! -s "$TMP/realbench/results.csv" ]; then
        kernel=""
        rm -rf "$TMP/realbench"
        "$ALLOCSCOPE" bench --workload api-burst -a glibc:default -a jemalloc:bg-decay \
            --idle 1 --load-time 2 --cooldown 2 --quiet -o "$TMP/realbench" >"$TMP/realbench.log" 2>&1
    fi
    if [ -s "$TMP/realbench/results.csv" ]; then
        "$ALLOCSCOPE" report "$TMP/realbench" -o "$TMP/rep-real" >"$TMP/rep-real.out" 2>&1
        expect_eq "report on a real bench exits 0" "$?" 0
        check_charts "$TMP/rep-real" "real bench"
        check "real bench: throughput measured, Pareto chart drawn" compgen -G "$TMP/rep-real/charts/pareto-*.svg"
        cut -d, -f1,7,15 "$TMP/realbench/results.csv" | sed 's/^/# real bench: /'
        check "real bench: a recommendation" grep -q '\*\*recommended\*\*' "$TMP/rep-real/summary.md"
        if [ -n "$kernel" ] && head -1 "$TMP"/realbench/cells/*glibc*/samples.csv | grep -q munmap_bytes; then
            check "real bench with kernel events: bytes returned to the OS charted" \
                compgen -G "$TMP/rep-real/charts/returned-*.svg"
        else
            skip "bytes returned to the OS on a real bench" "no kernel events (not root, or bench --kernel failed: $(tail -1 "$TMP/realbench.log"))"
        fi
        command -v chromium >/dev/null 2>&1 && check_page "$TMP/rep-real" realbench
    else
        skip "report on a real bench" "allocscope bench wrote no results.csv (see its log: $(tail -1 "$TMP/realbench.log"))"
    fi
else
    skip "report on a real bench" "allocscope bench is not built"
fi

finish
