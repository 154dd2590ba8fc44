#!/bin/bash
# allocscope bench and merge: a scattered 1 GiB heap through the phases under glibc default,
# glibc trim and jemalloc bg-decay (RSS kept, trimmed, decayed; the reclaim test); every
# built-in configuration proven by its read-back; a misspelled setting; bad bench and
# registry files; a missing allocator library; a target that segfaults mid-load; Ctrl-C then
# --resume; the GNU parallel recipe (--list-cells, --cell, merge) against a single run.
. "$(dirname "$0")/../helpers/lib.sh"
use_sanitized # allocscope with ASan/UBSan: any report fails the script

SCATTER=$TESTBIN/bench_scatter
if [ ! -x "$ALLOCSCOPE" ] || [ ! -x "$SCATTER" ] || [ ! -f "$SHIM" ]; then
    fail "build" "missing $ALLOCSCOPE, $SCATTER or $SHIM; run 'make all tests-build'"
    finish
fi
# On exit: a bench still running is stopped as a user would (SIGINT: it stops its targets'
# process groups); anything left has this test's $TMP in its command line.
cleanup() {
    if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then
        kill -INT "$pid"
        sleep 3
    fi
    for p in $(pgrep -f "$TMP/"); do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

# field CSV ROW_PATTERN COLUMN: a column of the results.csv row whose cell matches.
field() {
    awk -F, -v pat="$2" -v col="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $1 ~ pat { print $(c[col]); exit }' "$1"
}
rows() { tail -n +2 "$1" 2>/dev/null | wc -l; }

# ---- the scattered heap through the phases ----
# 4 threads x 4000 blocks of 32-8032 B (~65 MB: the shape of the field notes' 1.6 GB test,
# small enough that malloc_trim in the reclaim test ends well within the harness's 2.5 s
# wait on a busy machine: it took 1.1 s at 260 MB beside other tests); the load signals the
# target (once it is ready for the signal) and waits until it has allocated and freed 63 of
# every 64 blocks. The cooldown is the generous bound for decay and trim to happen.
USR1="sh $ROOT/tests/helpers/usr1_when_ready"
cat >"$TMP/scatter.ini" <<EOF
[bench]
idle_s = 0.5
load_s = 20
cooldown_s = 6
allocators = glibc:default, glibc:trim, jemalloc:bg-decay

[target scatter]
command = $SCATTER --threads 4 --blocks 4000 --done {dir}/scatter.done
ready = delay:200
load = $USR1 {pid}; i=0; while [ ! -e {dir}/scatter.done ] && [ \$i -lt 400 ]; do sleep 0.05; i=\$((i+1)); done
EOF
"$ALLOCSCOPE" bench "$TMP/scatter.ini" -o "$TMP/scatter" >"$TMP/scatter.out" 2>"$TMP/scatter.err"
expect_eq "scatter bench exit status" "$?" 0
R=$TMP/scatter/results.csv
expect_eq "scatter: one results.csv row per cell" "$(rows "$R")" 3
for cfg in glibc-default glibc-trim jemalloc-bg-decay; do
    expect_eq "scatter $cfg: status" "$(field "$R" "$cfg" status)" ok
    for f in bench.json cells/scatter-none-$cfg-r1/run.json cells/scatter-none-$cfg-r1/tree.csv \
        cells/scatter-none-$cfg-r1/phases.csv cells/scatter-none-$cfg-r1/samples.csv \
        cells/scatter-none-$cfg-r1/cell.json; do
        [ -s "$TMP/scatter/$f" ] || fail "scatter $cfg: $f written" "missing or empty"
    done
done
if head -1 "$TMP/scatter/cells/scatter-none-glibc-default-r1/samples.csv" |
    grep -q 'live_bytes.*tree_rss_bytes,tree_pss_bytes,tree_anon_bytes,tree_lazyfree_bytes'; then
    pass "samples.csv: the shim's columns with the tree's joined in"
else
    fail "samples.csv: tree columns joined" "$(head -1 "$TMP/scatter/cells/scatter-none-glibc-default-r1/samples.csv")"
fi
# Ratios of one cell: RSS at points of the cooldown against the cell's peak.
# cooldown_stats CELL -> "peak min_cooldown_rss ms_until_below_25%_after_load (-1: never)
# idle_rss"; "below 25%" is of what the load added to the idle RSS (at this heap size the
# program's own few MB would otherwise weigh on the share).
cooldown_stats() {
    local d=$TMP/scatter/cells/$1
    awk -F, -v phases="$d/phases.csv" '
        BEGIN { while ((getline l < phases) > 0) { split(l, p, ",");
                  if (p[1] == "idle") ie = p[3]
                  if (p[1] == "load") le = p[3]; if (p[1] == "cooldown") ce = p[3] } }
        NR == 1 { next }
        { if ($2 > peak) peak = $2; t[NR] = $1; r[NR] = $2; n = NR
          if (idle == "" || $1 <= ie) idle = $2 }
        END { min = -1; below = -1
              for (i = 2; i <= n; i++) if (t[i] >= le && t[i] <= ce) {
                  if (min < 0 || r[i] < min) min = r[i]
                  if (below < 0 && r[i] < idle + (peak - idle) / 4) below = t[i] - le }
              print peak, min, below, idle }' "$d/tree.csv"
}
read -r peak min_default _ <<<"$(cooldown_stats scatter-none-glibc-default-r1)"
after_default=$(field "$R" glibc-default after_rss_bytes)
reclaim_default=$(field "$R" glibc-default reclaimable_bytes)
read -r peak_trim min_trim _ <<<"$(cooldown_stats scatter-none-glibc-trim-r1)"
read -r peak_bg _ below_bg idle_bg <<<"$(cooldown_stats scatter-none-jemalloc-bg-decay-r1)"
after_bg=$(field "$R" jemalloc-bg-decay after_rss_bytes)
echo "# glibc default: peak $peak, lowest in cooldown $min_default, after $after_default, reclaimable $reclaim_default"
echo "# glibc trim: peak $peak_trim, lowest in cooldown $min_trim"
echo "# jemalloc bg-decay: idle $idle_bg, peak $peak_bg, after $after_bg, under 25% of the load's rise ${below_bg} ms after the load"
if [ "${peak:-0}" -gt 40000000 ]; then
    pass "scatter: peak RSS above 40 MB ($peak)"
else
    fail "scatter: peak RSS above 40 MB" "peak $peak"
fi
if [ "$min_default" -ge $((peak * 8 / 10)) ]; then
    pass "glibc default keeps >= 80% of its peak RSS through the cooldown"
else
    fail "glibc default keeps >= 80% of its peak RSS" "lowest $min_default of $peak"
fi
if [ "$min_trim" -lt $((peak_trim / 2)) ]; then
    pass "glibc trim falls under half its peak after its first trim"
else
    fail "glibc trim falls after its first trim" "lowest $min_trim of $peak_trim"
fi
# The target is idle through the cooldown: only the background thread can give pages back.
if [ "$below_bg" -ge 0 ]; then
    pass "jemalloc bg-decay gives back 75% of the load's rise while idle in the cooldown (${below_bg} ms)"
else
    fail "jemalloc bg-decay gives back 75% of the load's rise while idle in the cooldown" \
        "never did; idle $idle_bg, peak $peak_bg, after $after_bg"
fi
if [ "${reclaim_default:-0}" -gt $((peak / 2)) ]; then
    pass "reclaim test: most of glibc default's peak is reclaimable"
else
    fail "reclaim test on glibc default" "reclaimable '$reclaim_default' of peak $peak"
fi

# ---- every built-in configuration, proven by its read-back in run.json ----
cat >"$TMP/tiny.ini" <<EOF
[bench]
idle_s = 0.2
load_s = 1
cooldown_s = 0.3
[target tiny]
command = $SCATTER --threads 1 --blocks 2000
ready = delay:100
load = $USR1 {pid}; sleep 0.3
EOF
all_configs=$("$ALLOCSCOPE" allocators --json | jq -r '.allocators[] | select(.installed) | .configs[].name')
args=()
for c in $all_configs; do args+=(-a "$c"); done
"$ALLOCSCOPE" bench "$TMP/tiny.ini" "${args[@]}" --quiet -o "$TMP/configs" >"$TMP/configs.out" 2>&1
expect_eq "all built-in configurations: exit status" "$?" 0
"$ALLOCSCOPE" allocators --json >"$TMP/registry.json"
for c in $all_configs; do
    cell=tiny-none-${c/:/-}-r1
    run=$TMP/configs/cells/$cell/run.json
    missing=$(jq -r --arg c "$c" --slurpfile run "$run" '
        .allocators[].configs[] | select(.name == $c) | .expect | to_entries[]
        | select($run[0].allocator.settings[.key] != .value)
        | "\(.key)=\(.value) read back as \($run[0].allocator.settings[.key])"' \
        "$TMP/registry.json" 2>&1)
    ok=$(jq -r '.config_ok' "$run" 2>/dev/null)
    if [ "$(field "$TMP/configs/results.csv" "$cell" status)" = ok ] && [ "$ok" = true ] &&
        [ -z "$missing" ]; then
        pass "config $c applied (read back in run.json)"
    else
        fail "config $c applied" "status $(field "$TMP/configs/results.csv" "$cell" status), config_ok $ok; $missing"
    fi
done

# ---- --kernel: kernel events joined into samples.csv ----
"$ALLOCSCOPE" bench "$TMP/tiny.ini" -a glibc --kernel --quiet -o "$TMP/kernel" >/dev/null 2>"$TMP/kernel.err"
kdir=$TMP/kernel/cells/tiny-none-glibc-default-r1
if [ -s "$kdir/kernel.csv" ]; then
    if head -1 "$kdir/samples.csv" | grep -q 'tree_rss_bytes.*kernel_rss_bytes.*madv_free_bytes'; then
        pass "--kernel: kernel.csv columns joined into samples.csv"
    else
        fail "--kernel: kernel.csv joined" "$(head -1 "$kdir/samples.csv")"
    fi
else
    skip "--kernel" "allocscope-kevents did not run here: $(head -c 200 "$kdir/kevents.log" 2>/dev/null)"
fi

# ---- a misspelled setting, a misspelled configuration, bad files, a missing library ----
cat >"$TMP/user.ini" <<EOF
[allocator fakealloc]
library = /nonexistent/libfakealloc.so
package = fakealloc
[config jemalloc:typo]
env = MALLOC_CONF=background_thread:true,dirty_decay_msx:500
EOF
"$ALLOCSCOPE" bench "$TMP/tiny.ini" --allocators "$TMP/user.ini" -a jemalloc:typo \
    -o "$TMP/typo" >"$TMP/typo.out" 2>"$TMP/typo.err"
rc=$?
st=$(field "$TMP/typo/results.csv" typo status)
if [ "$rc" = 1 ] && [ "$st" = failed:config ] && grep -q "dirty_decay_msx" "$TMP/typo.err" &&
    grep -q "dirty_decay_msx" "$TMP/typo/results.csv"; then
    pass "a misspelled setting fails the cell (failed:config) with the key named"
else
    fail "misspelled setting" "exit $rc, status $st; $(head -3 "$TMP/typo.err")"
fi
expect_msg() { # NAME WANT_RC PATTERN CMD...
    local name=$1 want=$2 pat=$3 out
    shift 3
    out=$("$@" 2>&1)
    local rc=$?
    if [ "$rc" = "$want" ] && grep -qE "$pat" <<<"$out" && [ "$(wc -l <<<"$out")" -le 2 ]; then
        pass "$name"
    else
        fail "$name" "exit $rc: $out"
    fi
}
expect_msg "misspelled configuration name" 2 "no configuration 'bg-decy'.*bg-decay" \
    "$ALLOCSCOPE" bench "$TMP/tiny.ini" -a jemalloc:bg-decy -o "$TMP/x1"
printf '[bench]\nrepeats = 1\n\n[target t]\ncommand = true\nreddy = delay:5\n' >"$TMP/bad.ini"
expect_msg "malformed bench file: line number" 2 "bad.ini:6: unknown key 'reddy'" \
    "$ALLOCSCOPE" bench "$TMP/bad.ini" -o "$TMP/x2"
printf '[bench]\nrepeats = 1\nnot a key value line\n' >"$TMP/bad2.ini"
expect_msg "bench file without = : line number" 2 "bad2.ini:3: malformed line" \
    "$ALLOCSCOPE" bench "$TMP/bad2.ini" -o "$TMP/x3"
printf '[allocator jemalloc]\nlibary = /x.so\n' >"$TMP/badreg.ini"
expect_msg "malformed registry: line number" 2 "badreg.ini:2: unknown key 'libary'" \
    "$ALLOCSCOPE" bench "$TMP/tiny.ini" --allocators "$TMP/badreg.ini" -o "$TMP/x4"
expect_msg "absent allocator library: clear message" 2 \
    "allocator 'fakealloc' is not installed \(missing /nonexistent/libfakealloc.so\)" \
    "$ALLOCSCOPE" bench "$TMP/tiny.ini" --allocators "$TMP/user.ini" -a fakealloc -o "$TMP/x5"
"$ALLOCSCOPE" bench --target "$SCATTER {nope}" -a glibc -o "$TMP/x6" --quiet >/dev/null 2>"$TMP/x6.err"
if [ "$?" = 1 ] && [ "$(field "$TMP/x6/results.csv" . status)" = failed:config ] &&
    grep -q "unknown placeholder {nope}" "$TMP/x6.err" && [ -s "$TMP/x6/cells/bench_scatter-none-glibc-default-r1/run.json" ]; then
    pass "an unknown placeholder fails its cell, named"
else
    fail "an unknown placeholder fails its cell" "$(cat "$TMP/x6.err")"
fi
if [ ! -e "$TMP/x1" ] && [ ! -e "$TMP/x2" ] && [ ! -e "$TMP/x5" ]; then
    pass "refused matrices write nothing"
else
    fail "refused matrices write nothing" "$(ls "$TMP")"
fi

# ---- a target that segfaults mid-load; the GNU parallel recipe; Ctrl-C and --resume ----
cat >"$TMP/crash.ini" <<EOF
[bench]
idle_s = 0.3
load_s = 1
cooldown_s = 1.2
allocators = glibc, jemalloc
[target crash]
command = $SCATTER --crash --done $TMP/never
ready = delay:100
load = $USR1 {pid}; sleep 0.5
[target fine]
command = $SCATTER --threads 2 --blocks 4000 --done {dir}/done
ready = delay:100
load = $USR1 {pid}; sleep 0.5
EOF
"$ALLOCSCOPE" bench "$TMP/crash.ini" -o "$TMP/single" >/dev/null 2>"$TMP/single.err"
expect_eq "a matrix with crashing cells exits 1" "$?" 1
S=$TMP/single/results.csv
expect_eq "segfault mid-load: cell failed:crashed:SIGSEGV" \
    "$(field "$S" crash-none-glibc status) $(field "$S" crash-none-jemalloc status)" \
    "failed:crashed:SIGSEGV failed:crashed:SIGSEGV"
expect_eq "the matrix goes on after the crash" \
    "$(field "$S" fine-none-glibc status) $(field "$S" fine-none-jemalloc status)" "ok ok"
if grep -q "crash-none-glibc-default-r1: failed:crashed:SIGSEGV.*load phase" "$TMP/single.err"; then
    pass "the crash is reported with its phase"
else
    fail "the crash is reported with its phase" "$(grep crash "$TMP/single.err" | tail -2)"
fi

if command -v parallel >/dev/null; then
    mkdir -p "$TMP/par"
    (cd "$TMP/par" && "$ALLOCSCOPE" bench "$TMP/crash.ini" --list-cells |
        parallel -j2 "$ALLOCSCOPE" bench "$TMP/crash.ini" --quiet --cell '{}' -o 'out/{#}' \
            >/dev/null 2>&1
        "$ALLOCSCOPE" merge out/* -o merged 2>"$TMP/merge.err")
    expect_eq "merge exit status" "$?" 0
    expect_eq "--list-cells: one line per cell" \
        "$("$ALLOCSCOPE" bench "$TMP/crash.ini" --list-cells | wc -l)" 4
    if [ -s "$TMP/par/merged/results.csv" ] &&
        diff <(cut -d, -f1-7 "$S") <(cut -d, -f1-7 "$TMP/par/merged/results.csv") >"$TMP/par.diff"; then
        pass "GNU parallel + merge: same cells and statuses as the single run"
    else
        fail "GNU parallel + merge: same rows" "$(cat "$TMP/par.diff" "$TMP/merge.err" 2>&1 | head -8)"
    fi
    n_dirs=$(find "$TMP/par/merged/cells" -mindepth 1 -maxdepth 1 -type d | wc -l)
    expect_eq "merge copies every cell directory" "$n_dirs" 4
else
    skip "GNU parallel recipe" "parallel is not installed (make deps)"
fi

# Ctrl-C in the middle of the second cell, then --resume.
"$ALLOCSCOPE" bench "$TMP/crash.ini" --repeats 2 -o "$TMP/int" >/dev/null 2>"$TMP/int.err" &
pid=$!
for _ in $(seq 300); do
    [ "$(rows "$TMP/int/results.csv")" -ge 1 ] && break
    sleep 0.1
done
sleep 0.7
kill -INT $pid
wait $pid
expect_eq "SIGINT during a matrix: exit 130" "$?" 130
n_before=$(rows "$TMP/int/results.csv")
if [ "$n_before" -ge 1 ] && [ "$n_before" -lt 8 ] && ! grep -q interrupted "$TMP/int/results.csv"; then
    pass "SIGINT: finished cells kept in results.csv ($n_before of 8), the interrupted one not"
else
    fail "SIGINT: finished cells kept" "$n_before rows: $(cat "$TMP/int/results.csv")"
fi
# The signal is sent before bench exits; a busy machine may take a moment to deliver it.
for _ in $(seq 100); do
    pgrep -f "$SCATTER.*$TMP/int/" >/dev/null || break
    sleep 0.1
done
if pgrep -f "$SCATTER.*$TMP/int/" >/dev/null; then
    fail "SIGINT: the target's process group is stopped" "$(pgrep -af "$SCATTER.*$TMP/int/")"
else
    pass "SIGINT: the target's process group is stopped"
fi
first=$(sed -n 2p "$TMP/int/results.csv" | cut -d, -f1)
sum_before=$(md5sum <"$TMP/int/cells/$first/cell.json")
"$ALLOCSCOPE" bench "$TMP/crash.ini" --repeats 2 -o "$TMP/int" --resume >/dev/null 2>"$TMP/resume.err"
expect_eq "--resume: exit status (crash cells fail)" "$?" 1
expect_eq "--resume: every cell finished" "$(rows "$TMP/int/results.csv")" 8
expect_eq "--resume: finished cells were not run again" \
    "$(md5sum <"$TMP/int/cells/$first/cell.json")" "$sum_before"
if grep -q "$n_before of 8 cells already finished" "$TMP/resume.err"; then
    pass "--resume says what it skips"
else
    fail "--resume says what it skips" "$(head -2 "$TMP/resume.err")"
fi
expect_eq "--resume: statuses" "$(cut -d, -f7 "$TMP/int/results.csv" | tail -n +2 | sort | uniq -c | tr -s ' ' | xargs)" \
    "4 failed:crashed:SIGSEGV 4 ok"
finish
