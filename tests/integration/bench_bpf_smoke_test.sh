#!/bin/bash
# Smoke test of the probes' benchmark programs: bpf_pairs in both modes, and bench/run-bpf-cost's
# argument check. The runner's tiny full pass is bench_bpf_cost_test (make test-full: it keeps
# both cores busy for most of a minute by design). No timing is asserted here (that is
# `make bench` and docs/BENCH-BPF.md). What is checked does not depend on speed: syscall mode
# makes system calls.
. "$(dirname "$0")/../helpers/lib.sh"

PAIRS=$BUILD/bench/bpf_pairs
RUNNER=$ROOT/bench/run-bpf-cost
NUM='[0-9]+(\.[0-9]+)?'

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

finish
