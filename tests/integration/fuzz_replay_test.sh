#!/bin/bash
# Every fuzz target's corpus (seeds from real runs, fuzz/corpus/NAME) and every crash found
# so far (fuzz/crashes/NAME) run once through the target built with ASan/UBSan: a reader
# that crashes, leaks or reads out of bounds on any of them fails here. `make fuzz` finds new
# inputs with libFuzzer; see fuzz/fuzz.mk.
. "$(dirname "$0")/../helpers/lib.sh"

for bin in "$BUILD"/fuzz-replay/*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    inputs=("$ROOT/fuzz/corpus/$name")
    [ -d "$ROOT/fuzz/crashes/$name" ] && inputs+=("$ROOT/fuzz/crashes/$name")
    if out=$("$bin" "${inputs[@]}" 2>"$TMP/$name.err"); then
        pass "fuzz $name: $out replayed"
    else
        fail "fuzz $name" "$(grep -m1 -E 'ERROR|runtime error|replay:' "$TMP/$name.err" | tail -1)"
    fi
done
[ -n "$(ls "$BUILD"/fuzz-replay 2>/dev/null)" ] || fail "fuzz replay binaries" "none built in $BUILD/fuzz-replay (make tests-build)"

finish
