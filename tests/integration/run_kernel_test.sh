#!/bin/bash
# allocscope run --kernel: kernel memory events joined into samples.csv, by allocator.
. "$(dirname "$0")/../helpers/lib.sh"
. "$(dirname "$0")/../helpers/bpf_lib.sh"

reason=$(bpf_refusal)
if [ -n "$reason" ]; then
    skip "run --kernel under jemalloc aggressive and glibc default" "$reason"
    # Without BPF the run must refuse with one line instead of running unprobed.
    out=$("$ALLOCSCOPE" run --kernel --out "$TMP/nobpf" -- true 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && [[ $out == *"--kernel"* ]]; then pass "run --kernel refuses clearly without BPF"; else fail "run --kernel refuses clearly without BPF" "$out"; fi
    finish
fi

# returned_bytes DIR COLUMN...: the sum of those per-interval columns over the run.
returned_bytes() {
    local dir=$1
    shift
    python3 - "$dir/samples.csv" "$@" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(sum(int(r.get(c) or 0) for r in rows for c in sys.argv[2:]))
PY
}

# 200 MB of small blocks, 63 of 64 freed, then 1.5 s idle.
for cfg in jemalloc:aggressive jemalloc:bg-decay glibc:default; do
    dir=$TMP/kernel-${cfg/:/-}
    if ! "$ALLOCSCOPE" run -q --kernel -a "$cfg" --out "$dir" -- "$TESTBIN/bpf_bigheap" 200 64 1500 \
        >/dev/null 2>"$dir.err"; then
        fail "run --kernel -a $cfg" "$(tail -2 "$dir.err")"
        continue
    fi
    check "kernel columns joined into samples.csv under $cfg" grep -q madv_dontneed_bytes "$dir/samples.csv"
    madvised=$(returned_bytes "$dir" madv_dontneed_bytes madv_free_bytes)
    case $cfg in
    glibc:*) expect_eq "no madvise bytes under $cfg" "$madvised" "0" ;;
    *) if [ "$madvised" -gt $((100 << 20)) ]; then pass "madvise returns the freed heap under $cfg ($madvised bytes)"; else fail "madvise returns the freed heap under $cfg" "$madvised bytes"; fi ;;
    esac
done

# Without privilege: one line naming what is missing, and nothing run.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null &&
    public_copy; then
    # nobody runs a world-readable copy of allocscope and the shim beside it: the checkout
    # may sit under a 0700 directory.
    out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
        "$PUBLIC/bin/allocscope" run --kernel --out "$PUBLIC/out/nopriv" -- true 2>&1)
    rc=$?
    if [ $rc -eq 2 ] && [[ $out == *"--kernel"* ]] && [ ! -e "$PUBLIC/out/nopriv/run.json" ]; then
        pass "run --kernel without privilege refuses with the reason"
    else
        fail "run --kernel without privilege refuses with the reason" "exit $rc: $out"
    fi
else
    skip "run --kernel without privilege" "needs root, a 'nobody' user and setpriv"
fi
finish
