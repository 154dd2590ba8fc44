#!/bin/bash
# allocscope diff, and the gate naming the code that grew:
# - a quick bench of the stream-proxy reference workload, leaky and fixed (glibc): diff of the
#   fixed cell against the leaky one names upstream_client_new first;
# - two benches of tests/helpers/diag_retainer under one name, flat and leaking (2 repeats):
#   diff of the benches names diag_leak_block first (it keeps ~8 MiB); a baseline of the flat bench and a gate
#   on the leaking one fail and print, and put in the Markdown comment, diag_leak_block;
# - wrong input: one line, exit 2. About 50 s.
. "$(dirname "$0")/../helpers/lib.sh"
use_sanitized # allocscope with ASan/UBSan: any report fails the script

if [ ! -x "$ALLOCSCOPE" ]; then
    fail "build" "$ALLOCSCOPE missing; run make all tests-build"
    finish
fi
if ! "$ALLOCSCOPE" bench --help >/dev/null 2>&1; then
    skip "diff of bench cells" "allocscope bench is not available"
    finish
fi

# first_site JSON CELL: the functions of the first site of CELL's comparison ("" for two runs).
first_site() {
    python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["comparisons"]:
    if (c["cell"] or "") == sys.argv[2] and c.get("sites"):
        print(" ".join(f["function"] for f in c["sites"][0]["frames"]))
        break
PY
}

# ---- leaky and fixed reference workload ---------------------------------------------------
if [ -x "$BUILD/bin/wl-stream-proxy" ] && [ -f "$ROOT/workloads/stream-proxy/scenario.ini" ]; then
    "$ALLOCSCOPE" bench --quiet --workload stream-proxy -a glibc:default --repeats 1 \
        -o "$TMP/proxy" >"$TMP/proxy.log" 2>&1
    fixed=$TMP/proxy/cells/stream-proxy-fixed-glibc-default-r1
    leaky=$TMP/proxy/cells/stream-proxy-leaky-glibc-default-r1
    if [ -s "$fixed/sites.csv" ] && [ -s "$leaky/sites.csv" ]; then
        "$ALLOCSCOPE" diff "$fixed" "$leaky" --json >"$TMP/proxy.json" 2>"$TMP/proxy.err"
        expect_eq "diff of two bench cells exits 0" "$?" 0
        sites=$(first_site "$TMP/proxy.json" "")
        case " $sites " in
        *" upstream_client_new "*) pass "diff fixed -> leaky: the leaking site first ($sites)" ;;
        *) fail "diff fixed -> leaky: the leaking site first" "first site: $sites" ;;
        esac
        "$ALLOCSCOPE" diff "$fixed" "$leaky" --top 1 >"$TMP/proxy.txt"
        check_grep "diff as text: the leaking site first, with its bytes at exit" \
            '^1\. upstream_client_new ' "$TMP/proxy.txt"
        check_grep "... its bytes at exit in A and B" '^   at exit      0 B in 0 blocks -> [0-9.]+ MiB' "$TMP/proxy.txt"
        echo "# $(sed -n 3,7p "$TMP/proxy.txt" | tr -s ' ' | tr '\n' ' ')"
    else
        fail "bench of stream-proxy leaky and fixed" "$(tail -3 "$TMP/proxy.log")"
    fi
else
    skip "diff of the stream-proxy reference workload" "wl-stream-proxy is not built"
fi

# ---- two benches of one target: flat, then leaking ---------------------------------------------
retainer_bench() { # DIR MODE
    "$ALLOCSCOPE" bench --quiet --repeats 2 --idle 0.5 --load-time 2 --cooldown 1 \
        -a glibc:default --name svc \
        --target "$TESTBIN/diag_retainer --mode $2 --rate-kb 4096 --on-signal --load-ms 1800" \
        --load "sh $ROOT/tests/helpers/usr1_when_ready {pid}; sleep 2" -o "$1" >"$1.log" 2>&1
}
if [ ! -x "$TESTBIN/diag_retainer" ]; then
    skip "benches of diag_retainer" "$TESTBIN/diag_retainer is not built"
    finish
fi
retainer_bench "$TMP/flat" flat
retainer_bench "$TMP/leak" leak
if [ ! -s "$TMP/flat/results.csv" ] || [ ! -s "$TMP/leak/results.csv" ]; then
    fail "benches of diag_retainer" "$(tail -3 "$TMP/leak.log")"
    finish
fi
CELL=svc-none-glibc-default
"$ALLOCSCOPE" diff "$TMP/flat" "$TMP/leak" --json >"$TMP/benches.json"
expect_eq "diff of two benches exits 0" "$?" 0
expect_eq "diff of two benches: the cell compared, 2 repeats each" \
    "$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["comparisons"][0]
print(c["cell"], c["a_repeats"], c["b_repeats"])' "$TMP/benches.json")" "$CELL 2 2"
sites=$(first_site "$TMP/benches.json" "$CELL")
expect_eq "diff of two benches: the leaking site first" "${sites%% *}" diag_leak_block

"$ALLOCSCOPE" baseline "$TMP/flat" -o "$TMP/flat.json" >"$TMP/baseline.out" 2>&1
check_grep "baseline keeps the cells' allocation sites" 'allocation sites of 1\)' "$TMP/baseline.out"
"$ALLOCSCOPE" gate --baseline "$TMP/flat.json" --current "$TMP/leak" --markdown "$TMP/gate.md" \
    >"$TMP/gate.out" 2>&1
expect_eq "gate fails on the leaking bench" "$?" 1
grep -A1 "^which code grew in $CELL" "$TMP/gate.out" >"$TMP/grew.txt"
check_grep "gate names the code that grew" '^  \+[0-9.]+ [KM]iB at the peak .*: diag_leak_block \(diag_retainer.c:[0-9]+\)' \
    "$TMP/grew.txt"
echo "# $(tr -s ' ' <"$TMP/grew.txt" | tr '\n' ' ')"
check "... before its last line" bash -c "tail -1 '$TMP/gate.out' | grep -q '^gate: FAIL'"
check_grep "gate --markdown: a section for the cell" "^#### Which code grew in \`$CELL\`" "$TMP/gate.md"
check_grep "gate --markdown: the site in its table" '^\| diag\\_leak\\_block \(diag\\_retainer.c:[0-9]+\)' \
    "$TMP/gate.md"
"$ALLOCSCOPE" gate --baseline "$TMP/flat.json" --current "$TMP/leak" --top-sites 0 >"$TMP/gate0.out" 2>&1
check "--top-sites 0: no sites" bash -c "! grep -q 'which code grew' '$TMP/gate0.out'"
"$ALLOCSCOPE" gate --baseline "$TMP/flat.json" --current "$TMP/flat" >"$TMP/same.out" 2>&1
expect_eq "gate of the baseline's own bench passes, names nothing" \
    "$? $(grep -c 'which code grew' "$TMP/same.out")" "0 0"

# A baseline without sites (--no-sites, or an older allocscope), or with damaged ones.
"$ALLOCSCOPE" baseline "$TMP/flat" --no-sites -o "$TMP/nosites.json" >/dev/null 2>&1
"$ALLOCSCOPE" gate --baseline "$TMP/nosites.json" --current "$TMP/leak" >"$TMP/gate.out" 2>&1
check "a baseline without sites: the gate says so" \
    bash -c "grep -A1 'which code grew' '$TMP/gate.out' | grep -q 'no allocation sites for this cell'"
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); b["cells"][0]["sites"]={"sites": "x"}
json.dump(b, open(sys.argv[2], "w"))' "$TMP/flat.json" "$TMP/badsites.json"
"$ALLOCSCOPE" gate --baseline "$TMP/badsites.json" --current "$TMP/leak" >"$TMP/gate.out" 2>&1
expect_eq "damaged sites in the baseline: the gate still judges (exit 1) and says why" \
    "$? $(grep -c 'sites for this cell are unreadable' "$TMP/gate.out")" "1 1"

# ---- wrong input ---------------------------------------------------------------------------
one_line_exit2() { # NAME ARGS...
    local name=$1
    shift
    "$ALLOCSCOPE" diff "$@" >"$TMP/out" 2>&1
    local rc=$?
    if [ "$rc" = 2 ] && [ "$(wc -l <"$TMP/out")" = 1 ] && grep -q '^allocscope: ' "$TMP/out"; then
        pass "$name: one line, exit 2"
    else
        fail "$name" "exit $rc: $(head -c 300 "$TMP/out")"
    fi
}
one_line_exit2 "a run against a bench" "$TMP/flat/cells/$CELL-r1" "$TMP/leak"
one_line_exit2 "one recording" "$TMP/flat"
one_line_exit2 "a directory that is not a run" "$TMP" "$TMP/flat/cells/$CELL-r1"
mkdir -p "$TMP/cutrun" && cp -r "$TMP/flat/cells/$CELL-r1/." "$TMP/cutrun/"
printf 't_ms,site_id\n' >"$TMP/cutrun/sites.csv"
one_line_exit2 "a run whose sites.csv lacks columns" "$TMP/cutrun" "$TMP/leak/cells/$CELL-r1"
"$ALLOCSCOPE" diff "$TMP/flat/cells/$CELL-r1" "$TMP/leak/cells/$CELL-r1" --top 1 >/dev/null
expect_eq "options after the operands (--top 1)" "$?" 0

finish
