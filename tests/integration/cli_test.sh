#!/bin/bash
# Every command takes its options before and after its operands, as users type them
# ("allocscope leaks DIR --json", the form in the README): the same output either way.
# run is the exception by design: what follows its command is the command's own.
. "$(dirname "$0")/../helpers/lib.sh"
use_sanitized # allocscope with ASan/UBSan: any report fails the script

"$ALLOCSCOPE" run -q --sample all --out "$TMP/run" -- "$TESTBIN/leaker" 1000 2>/dev/null
python3 "$ROOT/tests/helpers/gate_fabricate.py" "$TMP/bench" --seed 1 >/dev/null

# same NAME "ARGS BEFORE" "ARGS AFTER": both exit alike with the same stdout.
same() {
    local name=$1 before=$2 after=$3 out1 out2 rc1 rc2
    # shellcheck disable=SC2086 # word lists
    out1=$("$ALLOCSCOPE" $before 2>&1)
    rc1=$?
    # shellcheck disable=SC2086
    out2=$("$ALLOCSCOPE" $after 2>&1)
    rc2=$?
    if [ "$rc1" = "$rc2" ] && [ "$out1" = "$out2" ] && [ "$rc1" -lt 2 ]; then
        pass "$name: options after operands"
    else
        fail "$name: options after operands" "exit $rc1 vs $rc2: $(echo "$out2" | head -2)"
    fi
}

same leaks "leaks --json --top 3 $TMP/run" "leaks $TMP/run --json --top 3"
same diagnose "diagnose --json $TMP/run" "diagnose $TMP/run --json"
same "diagnose (bench)" "diagnose --json $TMP/bench" "diagnose $TMP/bench --json"
same allocators "allocators --json" "allocators --json"
"$ALLOCSCOPE" baseline -o "$TMP/b1.json" "$TMP/bench" >/dev/null 2>&1
rc1=$?
"$ALLOCSCOPE" baseline "$TMP/bench" -o "$TMP/b2.json" >/dev/null 2>&1
rc2=$?
# The baseline says when it was made: compare without that.
same_json() { python3 -c 'import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); [d.pop("created",None) for d in (a,b)]; sys.exit(a!=b)' "$1" "$2"; }
expect_eq "baseline: options after operands" "$rc1 $rc2 $(same_json "$TMP/b1.json" "$TMP/b2.json" && echo same)" "0 0 same"
same gate "gate --baseline $TMP/b1.json --current $TMP/bench --quiet" \
    "gate --current $TMP/bench --baseline $TMP/b1.json --quiet"
"$ALLOCSCOPE" report -o "$TMP/r1" "$TMP/run" >/dev/null 2>&1
rc1=$?
"$ALLOCSCOPE" report "$TMP/run" -o "$TMP/r2" >/dev/null 2>&1
rc2=$?
# The summary says when it was generated: compare without that line.
expect_eq "report: options after operands" \
    "$rc1 $rc2 $(cmp -s <(grep -v generated "$TMP/r1/summary.md") <(grep -v generated "$TMP/r2/summary.md") && echo same)" \
    "0 0 same"
"$ALLOCSCOPE" merge -o "$TMP/m1" "$TMP/bench" >/dev/null 2>&1
rc1=$?
"$ALLOCSCOPE" merge "$TMP/bench" -o "$TMP/m2" >/dev/null 2>&1
rc2=$?
expect_eq "merge: options after operands" "$rc1 $rc2 $(cmp -s "$TMP/m1/results.csv" "$TMP/m2/results.csv" && echo same)" \
    "0 0 same"
printf '[bench]\nallocators = glibc\n[target t]\ncommand = true\n' >"$TMP/b.ini"
same "bench --list-cells" "bench --list-cells --profile quick $TMP/b.ini" \
    "bench $TMP/b.ini --list-cells --profile quick"
"$ALLOCSCOPE" attach 999999999 --duration 1 >/dev/null 2>"$TMP/attach.err"
rc=$?
if [ "$rc" = 2 ]; then
    check_grep "attach PID --duration S: the option is read (the pid is the problem)" \
        "999999999" "$TMP/attach.err"
else
    fail "attach PID --duration S" "exit $rc: $(head -1 "$TMP/attach.err")"
fi

finish
