#!/bin/bash
# allocscope attach: a running process (started without the shim) is recorded without a
# restart; with --uprobes the leaking site is named under glibc and jemalloc, and a fixed
# program shows no growing site; errors are one line.
. "$(dirname "$0")/../helpers/lib.sh"
. "$(dirname "$0")/../helpers/bpf_lib.sh"
LEAKY=$TESTBIN/bpf_leaky
MB=$((1024 * 1024))

# start_leaky MODE ALLOCATOR: bpf_leaky running for 120 s (it is killed once recorded; a
# busy machine may take a while to load and calibrate the probes); sets LEAKY_PID.
start_leaky() {
    local lib
    lib=$(allocator_lib "$2")
    LD_PRELOAD=$lib "$LEAKY" "$1" 120 >/dev/null &
    LEAKY_PID=$!
    BPF_CHILDREN+=("$LEAKY_PID")
    sleep 0.3
}

# leak_summary DIR: "GROWTH_BYTES_PER_S BYTES FUNCTION" of each site of `leaks --json`, in the
# tool's order; BYTES are those allocated during the recording and still live at its end.
leak_summary() {
    "$ALLOCSCOPE" leaks --json "$1" | python3 -c '
import json, sys
for s in json.load(sys.stdin)["sites"]:
    print(int(s["growth_bytes_per_s"]), s["bytes"], s["frames"][0]["function"] if s["frames"] else "??")'
}

reason=$(bpf_refusal)
if [ -n "$reason" ]; then
    skip "attach" "$reason"
    finish
fi

# Without --uprobes: samples.csv from smaps_rollup joined with the kernel columns.
start_leaky leak glibc
out=$TMP/plain
"$ALLOCSCOPE" attach "$LEAKY_PID" --duration 2 --out "$out" >"$TMP/plain.log" 2>&1
expect_eq "attach: exit status" "$?" 0
rows=$(($(wc -l <"$out/samples.csv") - 1))
# Rows one after the other in time; how many fit in 2 s is the machine's business.
if [ "$rows" -ge 2 ] && csv_col "$out/samples.csv" t_ms | sort -n -c 2>/dev/null; then
    pass "attach: samples.csv has $rows rows in time order"
else
    fail "attach: samples.csv rows" "$rows: $(csv_col "$out/samples.csv" t_ms | head -5 | tr '\n' ' ')"
fi
rss=$(csv_col "$out/samples.csv" rss_bytes | tail -1)
krss=$(csv_col "$out/samples.csv" kernel_rss_bytes | tail -1)
if [ "${rss:-0}" -gt 0 ] && [ "${krss:-0}" -gt 0 ]; then
    pass "attach: rss_bytes $rss and kernel_rss_bytes $krss in the last row"
else
    fail "attach: rss columns" "rss '$rss' kernel '$krss'"
fi
faults=$(csv_col "$out/samples.csv" faults | awk '{s += $1} END {print s + 0}')
if [ "$faults" -gt 0 ]; then pass "attach: $faults page faults counted"; else
    fail "attach: faults" "$faults"; fi
attach_flag=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["attach"], d["pid"])' \
    "$out/run.json" 2>&1)
expect_eq "attach: run.json says attach and pid" "$attach_flag" "True $LEAKY_PID"
kill -0 "$LEAKY_PID" 2>/dev/null
expect_eq "attach: the target keeps running" "$?" 0
kill "$LEAKY_PID"

for allocator in glibc jemalloc; do
    start_leaky leak "$allocator"
    out=$TMP/leak-$allocator
    "$ALLOCSCOPE" attach "$LEAKY_PID" --uprobes --sample 64K --duration 4 --out "$out" \
        >"$TMP/leak-$allocator.log" 2>&1
    expect_eq "$allocator leak: exit status" "$?" 0
    if grep -q "uprobes cost about .* us per malloc+free pair" "$TMP/leak-$allocator.log"; then
        pass "$allocator leak: warns with the measured cost ($(grep -o 'about [0-9.]* us' "$TMP/leak-$allocator.log"))"
    else
        fail "$allocator leak: cost warning" "$(cat "$TMP/leak-$allocator.log")"
    fi
    expect_eq "$allocator leak: shim.txt allocator" \
        "$(grep '^allocator=' "$out/shim.txt")" "allocator=$allocator"
    for key in dropped_events full_maps; do
        if grep -q "^$key=[0-9]" "$out/shim.txt"; then pass "$allocator leak: $key reported"; else
            fail "$allocator leak: $key in shim.txt"; fi
    done
    # The fixed program holds at most 16 sessions (64 KB): 4 times that held is the leak,
    # whatever the number of requests a busy machine let it make. The top site is the
    # tool's ranking (most held at the end, then fastest growing).
    read -r growth held function <<<"$(leak_summary "$out" | head -1)"
    if [ "$function" = remember_session ] && [ "${held:-0}" -gt $((MB / 4)) ]; then
        pass "$allocator leak: top site remember_session, $((held / 1024)) KiB held ($((growth / 1024)) KiB/s)"
    else
        fail "$allocator leak: top site" "$(leak_summary "$out" | head -3 | tr '\n' ' ')"
    fi
    kill "$LEAKY_PID"

    start_leaky fixed "$allocator"
    out=$TMP/fixed-$allocator
    "$ALLOCSCOPE" attach "$LEAKY_PID" --uprobes --sample 64K --duration 4 --out "$out" \
        >"$TMP/fixed-$allocator.log" 2>&1
    expect_eq "$allocator fixed: exit status" "$?" 0
    holding=$(leak_summary "$out" | awk -v mb="$MB" '$2 > mb' | wc -l)
    sampled=$(grep '^sampled_allocations=' "$out/shim.txt" | cut -d= -f2)
    if [ "$holding" -eq 0 ] && [ "${sampled:-0}" -gt 100 ]; then
        pass "$allocator fixed: no site holds 1 MB at the end ($sampled samples)"
    else
        fail "$allocator fixed: growing sites" "$(leak_summary "$out" | head -3 | tr '\n' ' ') samples $sampled"
    fi
    kill "$LEAKY_PID"
done

# C++: operator new is probed in jemalloc (it exports it) and in libstdc++ over glibc (its
# nested malloc is ignored), so the function calling new is named in both.
for allocator in glibc jemalloc; do
    LD_PRELOAD=$(allocator_lib "$allocator") "$TESTBIN/bpf_leaky_cxx" leak 120 >/dev/null &
    LEAKY_PID=$!
    BPF_CHILDREN+=("$LEAKY_PID")
    sleep 0.3
    out=$TMP/cxx-$allocator
    "$ALLOCSCOPE" attach "$LEAKY_PID" --uprobes --sample 64K --duration 4 --out "$out" \
        >"$TMP/cxx-$allocator.log" 2>&1
    expect_eq "$allocator C++ leak: exit status" "$?" 0
    read -r growth held function <<<"$(leak_summary "$out" | head -1)"
    if [[ $function == *remember_session* ]] && [ "${held:-0}" -gt $((MB / 4)) ]; then
        pass "$allocator C++ leak: top site $function (operator new's caller)"
    else
        fail "$allocator C++ leak: top site" "$(leak_summary "$out" | head -3 | tr '\n' ' ')"
    fi
    kill "$LEAKY_PID"
done

if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 && public_copy; then
    sleep 120 &
    sleeper=$!
    BPF_CHILDREN+=("$sleeper")
    # nobody runs a world-readable copy: the checkout may sit under a 0700 directory.
    err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$PUBLIC/bin/allocscope" attach \
        "$sleeper" --uprobes --out "$PUBLIC/out/attach" 2>&1)
    rc=$?
    expect_eq "unprivileged attach: exit 3" "$rc" 3
    if [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ $err == *"cannot load BPF programs"* ]]; then
        pass "unprivileged attach: one line"
    else
        fail "unprivileged attach: message" "$err"
    fi
    kill "$sleeper"
else
    skip "unprivileged attach" "needs root to switch to nobody"
fi
"$ALLOCSCOPE" attach 999999999 >/dev/null 2>"$TMP/nopid.err"
if [ $? -ne 0 ] && [ "$(wc -l <"$TMP/nopid.err")" -eq 1 ]; then pass "attach to no process: one line"; else
    fail "attach to no process" "$(cat "$TMP/nopid.err")"; fi
"$ALLOCSCOPE" attach 1 --sample nonsense >/dev/null 2>"$TMP/badsample.err"
expect_eq "attach --sample nonsense: exit 2" "$?" 2
finish
