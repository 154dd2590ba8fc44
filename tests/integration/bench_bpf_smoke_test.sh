#!/bin/bash
# Smoke test of the probes' benchmark: bpf_pairs in both modes, and bench/run-bpf-cost at a
# tiny size (no memleak-bpfcc: compiling it takes longer than the rest) printing a number on
# every line and a CSV row per measure. No timing is asserted here (that is `make bench`
# and docs/BENCH-BPF.md), except that a probe attached shows up as a cost at all.
. "$(dirname "$0")/../helpers/lib.sh"
. "$(dirname "$0")/../helpers/bpf_lib.sh"

PAIRS=$BUILD/bench/bpf_pairs
RUNNER=$ROOT/bench/run-bpf-cost
NUM='[0-9]+(\.[0-9]+)?'

# Both modes print "T_MS CPU_NS WALL_NS" windows; a syscall costs more than a malloc pair.
"$PAIRS" 0.3 100 >"$TMP/pairs.out"
"$PAIRS" 0.3 100 syscall >"$TMP/syscall.out"
for mode in pairs syscall; do
    lines=$(grep -Ec "^[0-9]+ $NUM $NUM$" "$TMP/$mode.out")
    if [ "$lines" -ge 2 ] && [ "$lines" -eq "$(wc -l <"$TMP/$mode.out")" ]; then
        pass "bpf_pairs $mode: well-formed windows"
    else
        fail "bpf_pairs $mode: well-formed windows" "$(head -3 "$TMP/$mode.out")"
    fi
done
pair_ns=$(awk 'END { print $2 }' "$TMP/pairs.out")
syscall_ns=$(awk 'END { print $2 }' "$TMP/syscall.out")
if awk -v p="$pair_ns" -v s="$syscall_ns" 'BEGIN { exit !(s > p) }'; then
    pass "syscall mode makes system calls ($syscall_ns ns > $pair_ns ns per malloc pair)"
else
    fail "syscall mode makes system calls" "$syscall_ns ns per call, $pair_ns per pair"
fi

err=$("$RUNNER" --repeats many 2>&1 >/dev/null)
rc=$?
if [ "$rc" -eq 2 ] && [[ $err == run-bpf-cost:* ]]; then pass "runner rejects --repeats many"; else fail "runner rejects --repeats many" "exit $rc, '$err'"; fi

reason=$(bpf_refusal)
if [ -n "$reason" ]; then
    skip "run-bpf-cost" "$reason"
    finish
fi

"$RUNNER" --repeats 1 --seconds 1 --skip-memleak --csv "$TMP/cost.csv" >"$TMP/cost.out" 2>"$TMP/cost.err"
expect_eq "run-bpf-cost exits 0" "$?" 0
out=$TMP/cost.out
check_grep "uprobes under glibc" "^glibc +attach --uprobes +$NUM ns/pair" "$out"
check_grep "uprobes under jemalloc" "^jemalloc +attach --uprobes +$NUM ns/pair" "$out"
check_grep "syscall tax line" "^getppid\(\) while attached +bare +$NUM ns/call +attached +$NUM ns/call" "$out"
check_grep "server throughput line" "^api server throughput +bare +$NUM req/s +--kernel +$NUM req/s" "$out"
check_grep "probe CPU share line" "^api server: probe CPU +$NUM%" "$out"
if command -v perf >/dev/null; then
    check_grep "direct cost line" "^api server: direct cost +$NUM%" "$out"
else
    skip "direct cost line" "perf is not installed"
fi
check_grep "page-fault heavy line" "^300 MB touched and freed +bare +$NUM ms CPU +--kernel +$NUM ms CPU" "$out"
# uprobes trap into the kernel on every call: an attached probe must show as a cost.
extra=$(awk '/^glibc +attach --uprobes/ { sub(/^\(\+/, "", $6); print $6 + 0 }' "$out")
if [ "${extra:-0}" -gt 100 ]; then pass "uprobes show a cost per pair (+$extra ns)"; else fail "uprobes show a cost per pair" "+${extra:-?} ns"; fi
rows=$(awk -F, 'NR > 1 && NF == 7' "$TMP/cost.csv" | wc -l)
if [ "$rows" -ge 9 ]; then pass "CSV has a row per measure ($rows)"; else fail "CSV has a row per measure" "$rows rows: $(cat "$TMP/cost.csv")"; fi
finish
