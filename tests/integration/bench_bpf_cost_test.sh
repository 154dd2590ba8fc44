#!/bin/bash
# suite: full
# bench/run-bpf-cost at a tiny size (no memleak-bpfcc: compiling it takes longer than the
# rest) printing every line and a CSV row per measure. No timing is asserted here (that is
# `make bench` and docs/BENCH-BPF.md): at this size on a busy machine a measure may come out
# negative (noise larger than the cost) or nan (no window of the program fell in the span),
# and both are well formed. What is checked beside the format does not depend on speed: the
# probes attached by the bench fired in the measured process.
. "$(dirname "$0")/../helpers/lib.sh"
. "$(dirname "$0")/../helpers/bpf_lib.sh"

RUNNER=$ROOT/bench/run-bpf-cost
# A measured value: a difference may be negative, and a window nobody ran in is nan.
VAL='(-?[0-9]+(\.[0-9]+)?|nan)'

reason=$(bpf_refusal)
if [ -n "$reason" ]; then
    skip "run-bpf-cost" "$reason"
    finish
fi

"$RUNNER" --repeats 1 --seconds 1 --skip-memleak --csv "$TMP/cost.csv" >"$TMP/cost.out" 2>"$TMP/cost.err"
expect_eq "run-bpf-cost exits 0" "$?" 0
out=$TMP/cost.out
check_grep "uprobes under glibc" "^glibc +attach --uprobes +$VAL ns/pair" "$out"
check_grep "uprobes under jemalloc" "^jemalloc +attach --uprobes +$VAL ns/pair" "$out"
check_grep "syscall tax line" "^getppid\(\) while attached +bare +$VAL ns/call +attached +$VAL ns/call" "$out"
check_grep "server throughput line" "^api server throughput +bare +$VAL req/s +--kernel +$VAL req/s" "$out"
check_grep "probe CPU share line" "^api server: probe CPU +$VAL%" "$out"
if command -v perf >/dev/null; then
    # perf may be refused the tracepoint; then the bench says so instead.
    check_grep "direct cost line" \
        "^api server: (direct cost +$VAL%|syscalls per request not measured)" "$out"
else
    skip "direct cost line" "perf is not installed"
fi
check_grep "page-fault heavy line" "^300 MB touched and freed +bare +$VAL ms CPU +--kernel +$VAL ms CPU" "$out"
# The probes fired in the process whose cost was measured (allocuprobe's own count).
for allocator in glibc jemalloc; do
    sampled=$(sed -n "s/^$allocator \+attach --uprobes .*; \([0-9]*\) allocations sampled)\$/\1/p" "$out")
    if [ "${sampled:-0}" -gt 0 ]; then
        pass "$allocator: the attached probes sampled $sampled allocations of the measured process"
    else
        fail "$allocator: the attached probes fired" "$(grep "^$allocator +attach" "$out")"
    fi
done
rows=$(awk -F, 'NR > 1 && NF == 7' "$TMP/cost.csv" | wc -l)
if [ "$rows" -ge 9 ]; then pass "CSV has a row per measure ($rows)"; else fail "CSV has a row per measure" "$rows rows: $(cat "$TMP/cost.csv")"; fi
finish
