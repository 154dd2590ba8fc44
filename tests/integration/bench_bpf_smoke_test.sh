#!/bin/bash
# Smoke test of the probes' benchmark: bpf_pairs in both modes, and bench/run-bpf-cost at a
# tiny size (no memleak-bpfcc: compiling it takes longer than the rest) printing every line
# and a CSV row per measure. No timing is asserted here (that is `make bench` and
# docs/BENCH-BPF.md): at this size on a busy machine a measure may come out negative (noise
# larger than the cost) or nan (no window of the program fell in the span), and both are
# well formed. What is checked beside the format does not depend on speed: syscall mode
# makes system calls, and the probes attached by the bench fired in the measured process.
. "$(dirname "$0")/../helpers/lib.sh"
. "$(dirname "$0")/../helpers/bpf_lib.sh"

PAIRS=$BUILD/bench/bpf_pairs
RUNNER=$ROOT/bench/run-bpf-cost
NUM='[0-9]+(\.[0-9]+)?'
# A measured value: a difference may be negative, and a window nobody ran in is nan.
VAL='(-?[0-9]+(\.[0-9]+)?|nan)'

# Both modes print "T_MS CPU_NS WALL_NS" windows.
"$PAIRS" 0.3 100 >"$TMP/pairs.out"
"$PAIRS" 0.3 100 syscall >"$TMP/syscall.out"
for mode in pairs syscall; do
    lines=$(grep -Ec "^[0-9]+ $NUM $NUM$" "$TMP/$mode.out")
    # How many windows fit in 0.3 s is the machine's business; at least one, all well formed.
    if [ "$lines" -ge 1 ] && [ "$lines" -eq "$(wc -l <"$TMP/$mode.out")" ]; then
        pass "bpf_pairs $mode: well-formed windows"
    else
        fail "bpf_pairs $mode: well-formed windows" "$(head -3 "$TMP/$mode.out")"
    fi
done
# Syscall mode's op is a getppid() system call and pairs mode makes none: counted by strace.
if command -v strace >/dev/null; then
    count_getppid() {
        strace -f -qq -c -e trace=getppid -o "$TMP/strace-$1.txt" "$PAIRS" 0.2 100 "${@:2}" \
            >/dev/null 2>&1
        awk '$NF == "getppid" { print $4 }' "$TMP/strace-$1.txt" | head -1
    }
    in_syscall=$(count_getppid syscall syscall)
    in_pairs=$(count_getppid pairs)
    if [ "${in_syscall:-0}" -gt 0 ] && [ "${in_pairs:-0}" -eq 0 ]; then
        pass "syscall mode makes system calls ($in_syscall getppid calls; pairs mode ${in_pairs:-0})"
    else
        fail "syscall mode makes system calls" "getppid calls: syscall mode '${in_syscall}', pairs mode '${in_pairs}'"
    fi
else
    skip "syscall mode makes system calls" "strace is not installed"
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
