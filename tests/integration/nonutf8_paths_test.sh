#!/bin/bash
# Paths and arguments that are not UTF-8 (on Linux they are bytes; jansson refuses such
# strings, and run.json was lost behind a stale errno with exit 0):
#   - run from a cwd whose name holds 0xfe, with a relative --out, writes run.json with
#     U+FFFD in the cwd, and exits 0;
#   - run --out a directory holding 0xff, of a target with an argument 0xff, writes run.json;
#     diagnose --json and leaks --json on it print valid JSON and exit 0;
#   - a target exiting 3 still makes run exit 3;
#   - a run.json that cannot be written makes run exit 2 (the target's own code when that is
#     not 0).
. "$(dirname "$0")/../helpers/lib.sh"
use_sanitized # allocscope with ASan/UBSan: any report fails the script

if [ ! -x "$ALLOCSCOPE" ] || [ ! -f "$SHIM" ]; then
    skip "non-UTF-8 paths" "build/bin/allocscope or the shim is not built"
    finish
fi

# json_check NAME FILE [PYTHON-EXPR]: FILE is valid JSON (and EXPR, on its value d, is true).
json_check() {
    local name=$1 file=$2 expr=${3:-True}
    if python3 -c '
import json, sys
with open(sys.argv[1], "rb") as f:
    d = json.load(f)
sys.exit(0 if eval(sys.argv[2]) else 1)' "$file" "$expr" 2>"$TMP/json.err"; then
        pass "$name"
    else
        fail "$name" "$(head -c 300 "$file"; cat "$TMP/json.err")"
    fi
}

FFFD='"\ufffd"'

# ---- a cwd with 0xfe and a relative --out ----
cwd=$TMP/cwd$'\xfe'
mkdir -p "$cwd"
(cd "$cwd" && exec "$ALLOCSCOPE" run -q --out r -- /bin/true) >"$TMP/cwd.out" 2>&1
expect_eq "run from a cwd holding 0xfe exits 0" "$?" 0
check "run from a cwd holding 0xfe writes run.json" test -s "$cwd/r/run.json"
json_check "its run.json is valid JSON, U+FFFD in its cwd" "$cwd/r/run.json" \
    "$FFFD in d['cwd'] and d['cwd'].startswith('/') and d['state'] == 'ended'"

# ---- --out holding 0xff, an argument 0xff ----
out=$TMP/bad$'\xff'dir
"$ALLOCSCOPE" run -q --out "$out" -- /bin/sh -c 'exit 0' $'\xff' >"$TMP/out.out" 2>&1
expect_eq "run --out a directory holding 0xff exits 0" "$?" 0
json_check "its run.json is valid JSON, the argument 0xff as U+FFFD" "$out/run.json" \
    "d['command'][-1] == $FFFD and d['command'][:3] == ['/bin/sh', '-c', 'exit 0']"

"$ALLOCSCOPE" diagnose --json "$out" >"$TMP/diagnose.json" 2>"$TMP/diagnose.err"
expect_eq "diagnose --json on it exits 0" "$?" 0
json_check "diagnose --json prints valid JSON naming the directory" "$TMP/diagnose.json" \
    "d['dir'].endswith('bad' + $FFFD + 'dir') and 'verdict' in d"

"$ALLOCSCOPE" leaks --json "$out" >"$TMP/leaks.json" 2>"$TMP/leaks.err"
expect_eq "leaks --json on it exits 0" "$?" 0
json_check "leaks --json prints valid JSON" "$TMP/leaks.json" "'sites' in d"

# ---- the target's own exit code ----
"$ALLOCSCOPE" run -q --out "$TMP/three"$'\xff' -- /bin/sh -c 'exit 3' $'\xff' >/dev/null 2>&1
expect_eq "a target exiting 3 still makes run exit 3" "$?" 3
json_check "its run.json says 3" "$TMP/three"$'\xff/run.json' "d['exit']['status'] == 3"

# ---- run.json that cannot be written (the target puts a directory in its place) ----
# The target starts before allocscope writes the first run.json ("running"): it waits for that
# one (at most 5 s), else the write would take the place back.
replace_run_json='
    i=0
    while [ ! -f "$1/run.json" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
    rm -f "$1/run.json" && mkdir "$1/run.json" && exit "$2"'
for code in 0 3; do
    unwritable=$TMP/unwritable-$code
    "$ALLOCSCOPE" run -q --out "$unwritable" -- /bin/sh -c "$replace_run_json" sh "$unwritable" \
        "$code" >"$TMP/unwritable.out" 2>&1
    rc=$?
    if [ "$code" = 0 ]; then
        expect_eq "run exits 2 when run.json cannot be written" "$rc" 2
    else
        expect_eq "run keeps the target's exit code 3 when run.json cannot be written" "$rc" 3
    fi
    check_grep "and says why (exit $code)" 'cannot write .*/run\.json: Is a directory' \
        "$TMP/unwritable.out"
done
finish
