#!/bin/bash
# allocscope-kevents: madvise/munmap bytes appear when jemalloc returns memory and not for
# glibc; rss_stat totals agree with /proc; children are followed; errors are one line.
. "$(dirname "$0")/../helpers/lib.sh"
. "$(dirname "$0")/../helpers/bpf_lib.sh"
HEAP=$TESTBIN/bpf_bigheap

# trace_heap NAME ENV...: traces bpf_bigheap (300 MB, keep 1 in 64, idle 2 s) from exec.
trace_heap() {
    local name=$1
    shift
    start_gated "$name" "$@" -- "$HEAP" 300 64 2000
    local pid=$GATED_PID
    "$KEVENTS" --pid "$pid" --out "$TMP/$name.csv" --interval-ms 100 >"$TMP/$name.out" \
        2>"$TMP/$name.err" &
    local kpid=$!
    BPF_CHILDREN+=("$kpid")
    wait_ready "$TMP/$name.out" || { fail "$name: kevents ready" "$(cat "$TMP/$name.err")"; return 1; }
    touch "$TMP/$name.go"
    wait "$pid"
    wait "$kpid"
    local rc=$?
    expect_eq "$name: kevents exits 0 when the target ends" "$rc" 0
}

# returned_bytes FILE: madvise + munmap bytes over the whole run.
returned_bytes() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { s += $c["madv_dontneed_bytes"] + $c["madv_free_bytes"] + $c["munmap_bytes"] }
        END { print s + 0 }' "$1"
}

madvise_bytes() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { s += $c["madv_dontneed_bytes"] + $c["madv_free_bytes"] + $c["madv_other_bytes"] }
        END { print s + 0 }' "$1"
}

# rss_agreement FILE: rows with a live process, the worst relative gap (%) between
# kernel_rss_bytes and the VmRSS read at the same moment, and the rows off by more than 5%
# and by more than the per-CPU counter slack plus what RSS moved in the intervals around the
# row: rss_stat reports the counter's shared count, which lags /proc's sum by up to a batch
# (32 pages) per CPU, and the two are read a little apart, more so on a busy machine, so
# while RSS climbs or falls fast they may differ by what it moved meanwhile.
rss_agreement() {
    local slack=$(($(nproc) * 32 * 4096))
    # Left out: the last row (taken while the process exits, when the kernel tears its
    # address space down between the rss_stat update and the read of /proc) and rows under
    # 4 MiB (around exec, when rss_stat still counts the old image's pages).
    awk -F, -v slack="$slack" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { n++; line[n] = $0; k[n] = $c["kernel_rss_bytes"]; p[n] = $c["kernel_procfs_rss_bytes"] }
        function abs(x) { return x < 0 ? -x : x }
        END {
            for (i = 1; i < n; i++) {
                if (p[i] < 4194304) continue
                moved = i > 1 ? abs(k[i] - k[i - 1]) : 0
                if (abs(k[i + 1] - k[i]) > moved) moved = abs(k[i + 1] - k[i])
                gap = abs(k[i] - p[i])
                if (gap / p[i] > worst) { worst = gap / p[i]; row = line[i] }
                if (gap / p[i] > 0.05 && gap > slack + moved) bad++
                if (p[i] > 10485760 && gap / p[i] > worst_big) worst_big = gap / p[i]
                judged++
            }
            printf "%d %.2f %d %.2f %s\n", judged, worst * 100, bad + 0, worst_big * 100, row
        }' "$1"
}

wl_alive_pid() { kill -0 "$1" 2>/dev/null; }

reason=$(bpf_refusal)
if [ -n "$reason" ]; then
    skip "kernel memory events" "$reason"
    finish
fi

MB=$((1024 * 1024))
trace_heap aggressive LD_PRELOAD=$JEMALLOC \
    MALLOC_CONF=background_thread:true,tcache:false,dirty_decay_ms:0,muzzy_decay_ms:0
trace_heap bgdecay LD_PRELOAD=$JEMALLOC \
    MALLOC_CONF=background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:1000
trace_heap glibc A=1

for name in aggressive bgdecay; do
    bytes=$(returned_bytes "$TMP/$name.csv")
    if [ "$bytes" -gt $((150 * MB)) ]; then
        pass "jemalloc $name: $((bytes / MB)) MB returned by madvise/munmap"
    else
        fail "jemalloc $name: madvise/munmap bytes" "$bytes, want > 150 MB"
    fi
done
expect_eq "glibc default: no madvise bytes" "$(madvise_bytes "$TMP/glibc.csv")" 0
munmap=$(csv_col "$TMP/glibc.csv" munmap_bytes | awk '{s += $1} END {print s + 0}')
if [ "$munmap" -lt "$MB" ]; then
    pass "glibc default: munmap bytes $munmap (loader only)"
else
    fail "glibc default: munmap bytes" "$munmap, want < 1 MB"
fi
brk=$(csv_col "$TMP/glibc.csv" brk_grow_bytes | awk '{s += $1} END {print s + 0}')
if [ "$brk" -gt $((250 * MB)) ]; then pass "glibc default: heap grown by brk"; else
    fail "glibc default: brk_grow_bytes" "$brk, want > 250 MB"; fi

for name in aggressive bgdecay glibc; do
    read -r rows worst bad worst_big worst_row <<<"$(rss_agreement "$TMP/$name.csv")"
    peak=$(csv_col "$TMP/$name.csv" kernel_rss_bytes | sort -n | tail -1)
    if [ "$rows" -ge 10 ] && [ "$bad" -eq 0 ] && [ "$peak" -gt $((250 * MB)) ]; then
        pass "$name: rss_stat within 5% (or the per-CPU slack) of /proc at all $rows samples (worst $worst%; above 10 MB $worst_big%)"
    else
        fail "$name: rss_stat vs /proc" "rows $rows, worst $worst% at row $worst_row, peak $peak"
    fi
done

# Children: sh forks bpf_bigheap (the trailing 'true' keeps sh from exec'ing it).
start_gated children -- sh -c "$HEAP 100 64 300 >/dev/null; true"
pid=$GATED_PID
"$KEVENTS" --pid "$pid" --follow-children --out "$TMP/children.csv" >"$TMP/children.out" &
kpid=$!
BPF_CHILDREN+=("$kpid")
if wait_ready "$TMP/children.out"; then
    touch "$TMP/children.go"
    wait "$pid"
    wait "$kpid"
    procs=$(csv_col "$TMP/children.csv" kernel_procs | sort -n | tail -1)
    peak=$(csv_col "$TMP/children.csv" kernel_rss_bytes | sort -n | tail -1)
    if [ "$procs" -ge 2 ] && [ "$peak" -gt $((90 * MB)) ]; then
        pass "follows a forked child ($procs processes, peak $((peak / MB)) MB)"
    else
        fail "follows a forked child" "procs $procs, peak $peak"
    fi
else
    fail "children: kevents ready"
fi

# Sampled fault stacks: the estimates add up to the fault count, the maps are copied.
start_gated faults -- "$HEAP" 100 64 100
pid=$GATED_PID
"$KEVENTS" --pid "$pid" --out "$TMP/faults.csv" --fault-stacks "$TMP/faults" >"$TMP/faults.out" &
kpid=$!
BPF_CHILDREN+=("$kpid")
if wait_ready "$TMP/faults.out"; then
    touch "$TMP/faults.go"
    wait "$pid"
    wait "$kpid"
    faults=$(csv_col "$TMP/faults.csv" faults | awk '{s += $1} END {print s + 0}')
    estimated=$(csv_col "$TMP/faults/fault_stacks.csv" estimated_faults | awk '{s += $1} END {print s + 0}')
    if [ "$faults" -gt 20000 ] && [ "$estimated" -gt $((faults * 8 / 10)) ] &&
        [ "$estimated" -lt $((faults * 12 / 10)) ]; then
        pass "fault stacks: $estimated estimated of $faults faults"
    else
        fail "fault stacks" "estimated $estimated, faults $faults"
    fi
    if grep -q bpf_bigheap "$TMP/faults/maps-$pid.txt" 2>/dev/null; then
        pass "fault stacks: maps of the exec'd program copied"
    else
        fail "fault stacks: maps-$pid.txt" "$(ls "$TMP/faults")"
    fi
else
    fail "fault stacks: kevents ready"
fi

# Duration ends the recording of a process that keeps running.
sleep 300 &
sleeper=$!
BPF_CHILDREN+=("$sleeper")
"$KEVENTS" --pid "$sleeper" --out "$TMP/duration.csv" --duration 1 >/dev/null
expect_eq "--duration ends it: exit status" "$?" 0
rows=$(($(wc -l <"$TMP/duration.csv") - 1))
# The sleeper outlives the recording by far: only --duration can have ended it.
if [ "$rows" -ge 1 ] && wl_alive_pid "$sleeper"; then
    pass "--duration 1 wrote $rows rows and stopped while the process ran on"
else
    fail "--duration 1" "$rows rows; the process $(wl_alive_pid "$sleeper" && echo ran on || echo had ended)"
fi
kill "$sleeper"

# Errors: one line, exit status 3 when BPF cannot be loaded.
err=$(ALLOCSCOPE_VMLINUX_BTF=/nonexistent/vmlinux "$KEVENTS" --pid $$ --out "$TMP/x.csv" 2>&1)
rc=$?
expect_eq "without BTF: exit 3" "$rc" 3
if [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ $err == *"BTF /nonexistent/vmlinux is missing"* ]]; then
    pass "without BTF: one line naming the missing BTF"
else
    fail "without BTF: message" "$err"
fi
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 && public_copy; then
    # nobody runs a world-readable copy: the checkout may sit under a 0700 directory.
    err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$PUBLIC/bin/allocscope-kevents" --pid $$ --out "$PUBLIC/out/nobody.csv" 2>&1)
    rc=$?
    expect_eq "unprivileged: exit 3" "$rc" 3
    if [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
        [[ $err == "allocscope-kevents: cannot load BPF programs: "*"CAP_BPF+CAP_PERFMON" ]]; then
        pass "unprivileged: one line naming the privilege"
    else
        fail "unprivileged: message" "$err"
    fi
else
    skip "unprivileged error" "needs root to switch to nobody"
fi
err=$("$KEVENTS" --pid 0 --out "$TMP/x.csv" 2>&1)
expect_eq "bad --pid: exit 2" "$?" 2
err=$("$KEVENTS" --pid 999999999 --out "$TMP/x.csv" 2>&1)
if [ $? -eq 1 ] && [[ $err == *"no process"* ]]; then pass "missing process: clear error"; else
    fail "missing process" "$err"; fi
finish
