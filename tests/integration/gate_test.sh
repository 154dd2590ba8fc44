#!/bin/bash
# allocscope baseline / gate: passes on reruns of an unchanged bench, fails when a workload
# retains 15% more memory after the load (or starts leaking), exit 2 on a malformed or
# mismatched baseline, on garbage metrics (NaN, negative, not numbers), on a baseline whose
# numbers are out of range, or when it has nothing to compare; the JUnit and Markdown outputs,
# which stay well formed whatever the names hold.
#
# Fabricated benches (tests/helpers/gate_fabricate.py: 3 cells x 3 repeats, 1% noise per repeat):
# 10 reruns with other seeds must all pass. A real bench (allocscope bench, when it exists):
# tests/helpers/diag_retainer keeping 40 MiB after the load, 3 repeats, glibc:default; an
# unchanged rerun passes, a rerun keeping 15% more of the measured after-load RSS fails.
# About 40 s.
source "$(dirname "$0")/../helpers/lib.sh"
use_sanitized # allocscope with ASan/UBSan: any report fails the script

FAB=$ROOT/tests/helpers/gate_fabricate.py

fabricate() { # DIR ARGS...
    local dir=$1
    shift
    rm -rf "$dir"
    python3 "$FAB" "$dir" "$@"
}

# gate_rc ARGS...: runs allocscope gate, output in $TMP/gate.out; prints the exit status.
gate_rc() {
    "$ALLOCSCOPE" gate "$@" >"$TMP/gate.out" 2>&1
    echo $?
}

# expect_input_error NAME WORD ARGS...: gate exits 2 with a line "allocscope: ...WORD...".
expect_input_error() {
    local name=$1 word=$2 rc
    shift 2
    rc=$(gate_rc "$@")
    # One line, or a reader's warning before it (a truncated last line).
    if [ "$rc" = 2 ] && [ "$(wc -l <"$TMP/gate.out")" -le 2 ] &&
        tail -1 "$TMP/gate.out" | grep -q -- "^allocscope: .*$word"; then
        pass "$name: exit 2 naming $word"
    else
        fail "$name" "exit $rc: $(head -c 400 "$TMP/gate.out")"
    fi
}

# ---- fabricated benches ---------------------------------------------------------------------

fabricated() {
    fabricate "$TMP/f0" --seed 0
    check "baseline of a fabricated bench" "$ALLOCSCOPE" baseline "$TMP/f0" -o "$TMP/f0.json"
    local seed passes=0 rc
    for seed in 1 2 3 4 5 6 7 8 9 10; do
        fabricate "$TMP/fr" --seed "$seed"
        rc=$(gate_rc --baseline "$TMP/f0.json" --current "$TMP/fr")
        [ "$rc" = 0 ] && passes=$((passes + 1))
        [ "$rc" = 0 ] || echo "# rerun seed $seed: exit $rc: $(grep -E 'FAIL' "$TMP/gate.out" | head -3)"
    done
    expect_eq "gate passes 10 of 10 reruns of an unchanged fabricated bench" "$passes" 10

    fabricate "$TMP/more" --seed 11 --retain-more web=0.15
    rc=$(gate_rc --baseline "$TMP/f0.json" --current "$TMP/more" --junit "$TMP/more.xml" \
        --markdown "$TMP/more.md")
    expect_eq "gate fails when web retains 15% more after load" "$rc" 1
    expect_eq "... on after_rss of the two web cells only" \
        "$(grep ' FAIL ' "$TMP/gate.out" | awk '{print $1 "/" $2}' | sort | tr '\n' ' ')" \
        "web-none-glibc-default/after_rss web-none-jemalloc-bg-decay/after_rss "
    local junit
    junit=$(python3 -c 'import sys, xml.etree.ElementTree as E
s = E.parse(sys.argv[1]).getroot().find("testsuite")
cases = s.findall("testcase")
failed = [c.get("classname") + "/" + c.get("name") for c in cases if c.find("failure") is not None]
print(len(cases), s.get("failures"), " ".join(sorted(failed)))' "$TMP/more.xml" 2>&1)
    expect_eq "JUnit: a test case per cell and metric, the failures marked" "$junit" \
        "18 2 web-none-glibc-default/after_rss web-none-jemalloc-bg-decay/after_rss"
    if grep -q '^### allocscope gate: \*\*FAIL\*\*' "$TMP/more.md" &&
        grep -q '| web-none-glibc-default | after_rss |.*\*\*FAIL\*\*' "$TMP/more.md"; then
        pass "Markdown: headline and the failing row"
    else
        fail "Markdown summary" "$(head -c 400 "$TMP/more.md")"
    fi
    expect_eq "a wider tolerance lets the 15% through" \
        "$(gate_rc --baseline "$TMP/f0.json" --current "$TMP/more" --tolerance after_rss=25%)" 0
    expect_eq "--metrics without after_rss passes" \
        "$(gate_rc --baseline "$TMP/f0.json" --current "$TMP/more" --metrics peak_rss,verdict)" 0

    fabricate "$TMP/leak" --seed 12 --leak worker
    rc=$(gate_rc --baseline "$TMP/f0.json" --current "$TMP/leak")
    expect_eq "gate fails when a workload starts leaking" "$rc" 1
    expect_eq "... on its leak per allocation call and verdict" \
        "$(grep ' FAIL ' "$TMP/gate.out" | awk '{print $1 "/" $2}' | sort | tr '\n' ' ')" \
        "worker-none-glibc-default/leak_per_call worker-none-glibc-default/verdict "
    # A baseline frozen before leak_per_call (bytes/s only) is still read and judged on it.
    python3 -c 'import json, sys
b = json.load(open(sys.argv[1]))
for c in b["cells"]:
    c["metrics"].pop("leak_per_call", None)
b["tolerances"].pop("leak_per_call", None)
json.dump(b, open(sys.argv[2], "w"))' "$TMP/f0.json" "$TMP/f0-old.json"
    expect_eq "an older baseline (no leak_per_call) gates the leak on leak_growth" \
        "$(gate_rc --baseline "$TMP/f0-old.json" --current "$TMP/leak") $(grep ' FAIL ' \
            "$TMP/gate.out" | awk '{print $1 "/" $2}' | sort | tr '\n' ' ')" \
        "1 worker-none-glibc-default/leak_growth worker-none-glibc-default/verdict "
}

input_errors() {
    head -c 700 "$TMP/f0.json" >"$TMP/cut.json"
    expect_input_error "truncated baseline" "line" --baseline "$TMP/cut.json" --current "$TMP/f0"
    echo '{"format": "other", "version": 1, "cells": []}' >"$TMP/other.json"
    expect_input_error "baseline of another format" "format" --baseline "$TMP/other.json" \
        --current "$TMP/f0"
    echo '[1, 2]' >"$TMP/array.json"
    expect_input_error "baseline that is not an object" "not a valid baseline" \
        --baseline "$TMP/array.json" --current "$TMP/f0"
    expect_input_error "missing baseline file" "cannot read" --baseline "$TMP/none.json" \
        --current "$TMP/f0"
    fabricate "$TMP/drop" --seed 3 --drop-cell worker-none-glibc-default
    expect_input_error "current bench missing a cell" "worker-none-glibc-default" \
        --baseline "$TMP/f0.json" --current "$TMP/drop"
    fabricate "$TMP/extra" --seed 4 --extra-cell
    expect_input_error "different matrix (an extra cell)" "worker-none-jemalloc-bg-decay" \
        --baseline "$TMP/f0.json" --current "$TMP/extra"
    expect_input_error "current that is not a bench" "results.csv" --baseline "$TMP/f0.json" \
        --current "$TMP"
    head -c 300 "$TMP/f0/results.csv" >"$TMP/badres.csv"
    mkdir -p "$TMP/badbench" && mv "$TMP/badres.csv" "$TMP/badbench/results.csv"
    expect_input_error "results.csv cut inside its first row" "badbench" \
        --baseline "$TMP/f0.json" --current "$TMP/badbench"
    # A cell listed twice would count as one more repeat of it: refused, with the reason.
    fabricate "$TMP/dup" --seed 7
    tail -1 "$TMP/dup/results.csv" >>"$TMP/dup/results.csv"
    expect_input_error "results.csv listing a cell twice" "is listed again" \
        --baseline "$TMP/f0.json" --current "$TMP/dup"
    "$ALLOCSCOPE" baseline "$TMP/dup" -o "$TMP/dup.json" >"$TMP/gate.out" 2>&1
    expect_eq "baseline refuses a results.csv listing a cell twice (exit 2)" \
        "$? $(grep -c 'is listed again' "$TMP/gate.out")" "2 1"
    # Cells listed but their directories gone: no verdicts, no sites, and no crash.
    fabricate "$TMP/nocells" --seed 2
    rm -rf "$TMP/nocells/cells"
    "$ALLOCSCOPE" baseline "$TMP/nocells" -o "$TMP/nocells.json" >"$TMP/gate.out" 2>&1
    expect_eq "baseline of a bench whose cell directories are gone (exit 0, warnings)" \
        "$? $(grep -c 'no such run directory' "$TMP/gate.out")" "0 9"
    expect_input_error "no --current" "--current" --baseline "$TMP/f0.json"
    expect_input_error "bad tolerance" "tolerance" --baseline "$TMP/f0.json" --current "$TMP/f0" \
        --tolerance after_rss=much
    expect_input_error "unknown metric" "latency" --baseline "$TMP/f0.json" --current "$TMP/f0" \
        --metrics latency
    "$ALLOCSCOPE" baseline "$TMP/f0" "$TMP/drop" -o "$TMP/pool.json" >"$TMP/gate.out" 2>&1
    expect_eq "baseline refuses to pool benches of different matrices (exit 2)" \
        "$? $(grep -c 'worker-none-glibc-default' "$TMP/gate.out")" "2 1"
    fabricate "$TMP/f1" --seed 21
    "$ALLOCSCOPE" baseline "$TMP/f0" "$TMP/f1" -o "$TMP/pool.json" >/dev/null 2>&1
    expect_eq "a baseline pooled from two benches has 6 repeats per cell" "$(python3 -c \
        'import json,sys; print(json.load(open(sys.argv[1]))["cells"][0]["repeats"])' \
        "$TMP/pool.json" 2>&1)" 6
    fabricate "$TMP/failed" --seed 5
    sed -i 's/,ok,/,failed:crashed:SIGSEGV,/' "$TMP/failed/results.csv"
    "$ALLOCSCOPE" baseline "$TMP/failed" -o "$TMP/failed.json" >"$TMP/gate.out" 2>&1
    expect_eq "baseline refuses a bench whose cells all failed (exit 2)" \
        "$? $(grep -c 'no successful repeat' "$TMP/gate.out")" "2 1"
    expect_eq "a current bench whose cells crashed fails the gate" \
        "$(gate_rc --baseline "$TMP/f0.json" --current "$TMP/failed")" 1
    fabricate "$TMP/onecfg" --seed 6
    sed -i '0,/,ok,/s//,failed:config,/' "$TMP/onecfg/results.csv"
    expect_eq "one repeat the harness could not run (failed:config): the others compared" \
        "$(gate_rc --baseline "$TMP/f0.json" --current "$TMP/onecfg")" 0
    sed -i 's/,failed:config,/,failed:crashed:SIGSEGV,/' "$TMP/onecfg/results.csv"
    expect_eq "one repeat that crashed fails the gate" \
        "$(gate_rc --baseline "$TMP/f0.json" --current "$TMP/onecfg")" 1
}

# ---- data the gate cannot judge by: exit 2 with the reason, never a pass ----------------------

# set_field BENCH ROW COLUMN VALUE: sets COLUMN of data row ROW (1 = the first) of
# BENCH/results.csv.
set_field() {
    python3 - "$@" <<'PY'
import sys
path, row, col, value = sys.argv[1] + "/results.csv", int(sys.argv[2]), sys.argv[3], sys.argv[4]
lines = open(path).read().split("\n")
i = lines[0].split(",").index(col)
fields = lines[row].split(",")
fields[i] = value
lines[row] = ",".join(fields)
open(path, "w").write("\n".join(lines))
PY
}

# edit_baseline OUT PYTHON: a copy of f0.json as OUT, changed by PYTHON (b is the document).
edit_baseline() {
    python3 -c 'import json, sys
b = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(b, open(sys.argv[2], "w"))' "$TMP/f0.json" "$1" "$2"
}

bad_data() {
    local v col
    # Garbage in the current bench's metrics: named by file, cell and column.
    for v in nan abc -99999999999 inf 1e999; do
        for col in peak_rss_bytes after_rss_bytes throughput_rps p99_ms; do
            fabricate "$TMP/garbage" --seed 8
            set_field "$TMP/garbage" 2 "$col" "$v"
            expect_input_error "$col '$v' in results.csv" \
                "garbage/results.csv.*web-none-glibc-default-r2.*$col" \
                --baseline "$TMP/f0.json" --current "$TMP/garbage"
        done
    done
    "$ALLOCSCOPE" baseline "$TMP/garbage" -o "$TMP/garbage.json" >"$TMP/gate.out" 2>&1
    expect_eq "baseline refuses garbage metrics too (exit 2)" \
        "$? $(grep -c 'p99_ms' "$TMP/gate.out")" "2 1"
    # Empty is "not measured": throughput and latency without a load tool stay a skip.
    fabricate "$TMP/noload" --seed 9
    for v in 1 2 3 4 5 6 7 8 9; do
        set_field "$TMP/noload" "$v" throughput_rps ""
        set_field "$TMP/noload" "$v" p99_ms ""
    done
    expect_eq "empty throughput and p99 (no load tool): skipped, the gate passes" \
        "$(gate_rc --baseline "$TMP/f0.json" --current "$TMP/noload") $(grep -c ' skip .*not measured in the current bench' "$TMP/gate.out")" \
        "0 6"
    expect_input_error "a cell with nothing to compare (--metrics throughput, none measured)" \
        "cannot judge" --baseline "$TMP/f0.json" --current "$TMP/noload" --metrics throughput
    # The same repeat of a cell twice, under another cell name: not one more repeat.
    fabricate "$TMP/dup2" --seed 10
    tail -1 "$TMP/dup2/results.csv" | sed 's/-r3,/-r3b,/' >>"$TMP/dup2/results.csv"
    expect_input_error "results.csv listing one repeat twice under two cell names" \
        "repeat 3 of worker-none-glibc-default" --baseline "$TMP/f0.json" --current "$TMP/dup2"

    # A baseline's numbers are checked as the command line's are.
    edit_baseline "$TMP/b.json" 'b["noise_k"] = 1e300'
    expect_input_error "baseline noise_k 1e300" "noise_k" --baseline "$TMP/b.json" \
        --current "$TMP/more"
    edit_baseline "$TMP/b.json" 'b["noise_k"] = -1e300'
    expect_input_error "baseline noise_k -1e300" "noise_k" --baseline "$TMP/b.json" \
        --current "$TMP/f0"
    edit_baseline "$TMP/b.json" 'b["noise_k"] = "3"'
    expect_input_error "baseline noise_k that is not a number" "noise_k" \
        --baseline "$TMP/b.json" --current "$TMP/f0"
    edit_baseline "$TMP/b.json" 'b["tolerances"]["after_rss"]["rel"] = 1e300'
    expect_input_error "baseline tolerance rel 1e300" "after_rss" --baseline "$TMP/b.json" \
        --current "$TMP/more"
    edit_baseline "$TMP/b.json" 'b["tolerances"]["peak_rss"]["abs"] = 1e300'
    expect_input_error "baseline tolerance abs 1e300" "peak_rss" --baseline "$TMP/b.json" \
        --current "$TMP/more"
    edit_baseline "$TMP/b.json" 'b["tolerances"]["p99"]["abs"] = -5'
    expect_input_error "baseline tolerance abs -5" "p99" --baseline "$TMP/b.json" \
        --current "$TMP/f0"
    expect_input_error "--noise nan" "--noise" --baseline "$TMP/f0.json" --current "$TMP/more" \
        --noise nan
    "$ALLOCSCOPE" baseline "$TMP/f0" -o "$TMP/nan.json" --noise nan >"$TMP/gate.out" 2>&1
    expect_eq "baseline --noise nan: exit 2, nothing written" \
        "$? $(grep -c -- '--noise' "$TMP/gate.out") $([ -e "$TMP/nan.json" ] && echo written)" "2 1 "
    expect_input_error "--tolerance of 1e300%" "tolerance" --baseline "$TMP/f0.json" \
        --current "$TMP/more" --tolerance after_rss=1e300%
    expect_input_error "--tolerance of 1e300 bytes" "tolerance" --baseline "$TMP/f0.json" \
        --current "$TMP/more" --tolerance after_rss=1e300
    edit_baseline "$TMP/b.json" 'b["cells"][0]["metrics"] = {}'
    expect_input_error "baseline cell with \"metrics\": {}" "web-none-glibc-default" \
        --baseline "$TMP/b.json" --current "$TMP/more"
    edit_baseline "$TMP/b.json" 'b["cells"][1]["metrics"]["after_rss"]["values"][0] = -1e11'
    expect_input_error "baseline with a negative RSS" "after_rss" --baseline "$TMP/b.json" \
        --current "$TMP/f0"
    edit_baseline "$TMP/b.json" 'b["cells"][1]["repeats"] = -3'
    expect_input_error "baseline with a negative repeat count" "repeats" \
        --baseline "$TMP/b.json" --current "$TMP/f0"
    expect_eq "the unchanged baseline still passes" \
        "$(gate_rc --baseline "$TMP/f0.json" --current "$TMP/f0")" 0
}

# ---- names with control characters: JUnit stays XML, Markdown escaped ------------------------

control_names() {
    local bad cell
    bad=$(printf 'we\001b\033[31m|x')
    fabricate "$TMP/cc0" --seed 0
    fabricate "$TMP/cc1" --seed 11 --retain-more web=0.15
    sed -i -s "s/,web,none,/,$bad,none,/; 0,/,ok,/s//,$(printf 'failed:config\002'),/" \
        "$TMP/cc0/results.csv" "$TMP/cc1/results.csv"
    "$ALLOCSCOPE" baseline "$TMP/cc0" -o "$TMP/cc.json" >/dev/null 2>&1
    gate_rc --baseline "$TMP/cc.json" --current "$TMP/cc1" --junit "$TMP/cc.xml" \
        --markdown "$TMP/cc.md" >/dev/null
    expect_eq "control characters in names: the gate still judges (a regression, exit 1)" \
        "$(gate_rc --baseline "$TMP/cc.json" --current "$TMP/cc1")" 1
    check "... JUnit XML parses" python3 -c \
        'import xml.dom.minidom, sys; xml.dom.minidom.parse(sys.argv[1])' "$TMP/cc.xml"
    expect_eq "... Markdown holds no control character" \
        "$(LC_ALL=C grep -c '[[:cntrl:]]' <(tr -d '\n' <"$TMP/cc.md"))" 0
    cell=$(grep -c '^| we.*b.*\\|x-none-.*\*\*FAIL\*\*' "$TMP/cc.md")
    expect_eq "... and its failing rows name the cells, the | escaped" "$cell" 2
}

# ---- a real bench -----------------------------------------------------------------------------

# The phases leave the retainer time to have its megabytes resident before the after-load
# measure even on a busy machine (beside one at load average 20, 1.5 s of load and 1 s of
# cooldown measured 36 MiB after the load of a retainer keeping 40 and 46 MiB alike).
real_bench() { # DIR KEEP_MB
    "$ALLOCSCOPE" bench --quiet --repeats 3 --idle 0.5 --load-time 3 --cooldown 2 \
        -a glibc:default --name retainer \
        --target "$TESTBIN/diag_retainer --mode retain --keep-mb $2 --on-signal --load-ms 800" \
        --load "sh $ROOT/tests/helpers/usr1_when_ready {pid}; sleep 2" -o "$1" >"$1.log" 2>&1
}

real() {
    if ! "$ALLOCSCOPE" bench --help >/dev/null 2>&1; then
        skip "real bench" "allocscope bench is not available"
        return
    fi
    if [ ! -x "$TESTBIN/diag_retainer" ]; then
        skip "real bench" "$TESTBIN/diag_retainer is not built (make tests-build)"
        return
    fi
    # The baseline bench and its unchanged rerun are independent: side by side.
    real_bench "$TMP/r1" 40 &
    local rerun=$! rc after extra
    real_bench "$TMP/r0" 40
    rc=$?
    wait "$rerun"
    if [ "$rc" != 0 ]; then
        fail "real bench runs" "$(tail -3 "$TMP/r0.log")"
        return
    fi
    check "baseline of a real bench" "$ALLOCSCOPE" baseline "$TMP/r0" -o "$TMP/r0.json"
    rc=$(gate_rc --baseline "$TMP/r0.json" --current "$TMP/r1")
    expect_eq "gate passes an unchanged rerun of a real bench" "$rc" 0
    [ "$rc" = 0 ] || cat "$TMP/gate.out"
    # Keep 15% of the baseline's after-load RSS more.
    after=$(python3 -c 'import json,sys
print(json.load(open(sys.argv[1]))["cells"][0]["metrics"]["after_rss"]["median"])' "$TMP/r0.json")
    extra=$(python3 -c "import math; print(math.ceil(0.15 * $after / 2**20))")
    real_bench "$TMP/r2" $((40 + extra))
    rc=$(gate_rc --baseline "$TMP/r0.json" --current "$TMP/r2")
    echo "# real bench: after-load RSS median $((${after%.*} / 1048576)) MiB; changed run keeps" \
        "$extra MiB more: $(grep after_rss "$TMP/gate.out" | sed 's/  */ /g')"
    expect_eq "gate fails a real bench retaining 15% more after load" "$rc" 1
    # The peak grows by the same bytes: it may fail too, nothing else may.
    expect_eq "... on after_rss (and peak_rss at most)" \
        "$(grep ' FAIL ' "$TMP/gate.out" | awk '{print $2}' | grep -v peak_rss | tr '\n' ' ')" \
        "after_rss "
}

if [ ! -x "$ALLOCSCOPE" ]; then
    skip "gate" "build/bin/allocscope is not built"
    finish
fi
fabricated
input_errors
bad_data
control_names
real
finish
