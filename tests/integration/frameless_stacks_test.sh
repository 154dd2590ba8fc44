#!/bin/bash
# Stacks through code built without frame pointers (tests/helpers/frameless_callers.c): the
# frame-pointer walk breaks at the first frame, and the rest comes from libunwind or from the
# shim's memory of a stack found at the same place before. Two chains reach malloc through
# one frameless function at the same place on the stack; only a return address further up
# tells them apart. In exact mode, every block at its own chain, as libunwind alone says:
#   - caller_a: 10 blocks, 10000 B; caller_b: 20 blocks, 40000 B; no other site;
#   - the same with ALLOCSCOPE_UNWIND=libunwind (no walk, no memory of stacks).
# The first call of caller_a ran with a 0 in rbp (data, not the end of a chain), which once
# ended its stack at the first frame.
. "$(dirname "$0")/../helpers/lib.sh"

PROGRAM=$TESTBIN/frameless_callers
if [ ! -x "$PROGRAM" ] || [ ! -f "$SHIM" ]; then
    skip "frameless stacks" "the shim or $PROGRAM is not built (make tests-build)"
    finish
fi

# by_caller DIR: "caller_a BLOCKS BYTES; caller_b BLOCKS BYTES; other BLOCKS BYTES"
by_caller() {
    "$ALLOCSCOPE" leaks --json "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
totals = {"caller_a": [0, 0], "caller_b": [0, 0], "other": [0, 0]}
for site in d["sites"]:
    names = [f["function"] for f in site["frames"]]
    key = [k for k in ("caller_a", "caller_b") if k in names]
    key = key[0] if len(key) == 1 else "other"
    totals[key][0] += site["blocks"]
    totals[key][1] += site["bytes"]
print("; ".join("%s %d %d" % (k, v[0], v[1]) for k, v in totals.items()))'
}

want="caller_a 10 10000; caller_b 20 40000; other 0 0"
for unwind in auto libunwind; do
    dir=$TMP/$unwind
    ALLOCSCOPE_UNWIND=$unwind "$ALLOCSCOPE" run -q --sample all --out "$dir" -- "$PROGRAM"
    expect_eq "unwind=$unwind: each block at its own chain" "$(by_caller "$dir")" "$want"
done
finish
