#!/bin/bash
# Programs the shim cannot see into. A Go program's heap is the Go runtime's own (it maps
# memory itself, no malloc) and a pure Go program is static, so LD_PRELOAD never applies:
# `allocscope run` says so in one line, and still records the process's RSS from outside
# (/proc/PID/smaps_rollup every interval, as samples.csv) and, with --kernel, its kernel
# memory events. With cgo, the C code's mallocs are recorded as in any program. A static C
# program is measured from outside the same way.
. "$(dirname "$0")/../helpers/lib.sh"
. "$(dirname "$0")/../helpers/bpf_lib.sh"

SRC=$ROOT/tests/helpers/runtimes
GO_NOTE='is a Go program: the Go runtime maps its heap itself, not with malloc'

# rows_of DIR: "ROWS PEAK_RSS" of DIR/samples.csv.
rows_of() {
    python3 - "$1/samples.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(len(rows), max([int(r["rss_bytes"]) for r in rows] or [0]))
PY
}

# outside_ok NAME DIR MIN_ROWS MIN_PEAK: a run measured from outside.
outside_ok() {
    local name=$1 dir=$2 rows peak
    read -r rows peak <<<"$(rows_of "$dir")"
    if [ ! -e "$dir/shim.txt" ] && [ "$rows" -ge "$3" ] && [ "$peak" -ge "$4" ]; then
        pass "$name: samples.csv from outside ($rows rows, peak RSS at least $(($4 >> 20)) MiB)"
    else
        fail "$name: samples.csv from outside" "$rows rows, peak RSS $peak, shim.txt $(
            [ -e "$dir/shim.txt" ] && echo present || echo absent)"
    fi
}

# ---- a static C program ----
if cc -static -O2 -o "$TMP/grower-static" "$ROOT/tests/helpers/grower.c" 2>"$TMP/cc.err"; then
    dir=$TMP/static-c
    "$ALLOCSCOPE" run --out "$dir" -- "$TMP/grower-static" 1 400000 >/dev/null 2>"$dir.err"
    expect_eq "static C: exit 0, one line saying the shim does not load" \
        "$?:$(grep -c 'is statically linked, so the shim does not load' "$dir.err")" "0:1"
    outside_ok "static C" "$dir" 5 $((4 << 20))
else
    skip "static C program" "cc -static failed: $(head -1 "$TMP/cc.err")"
fi

if ! command -v go >/dev/null 2>&1; then
    skip "Go programs" "go is not installed (Debian: golang-go)"
    finish
fi
# The build cache is kept in build/ between runs (make clean removes it).
export GOCACHE=$BUILD/go-cache GOPATH=$TMP/go-path GO111MODULE=off GOFLAGS=

# ---- a pure Go program: static, its heap mapped by the Go runtime ----
if CGO_ENABLED=0 go build -o "$TMP/grow" "$SRC/grow.go" 2>"$TMP/go.err"; then
    "$TMP/grow" >"$TMP/grow.out"
    dir=$TMP/go-grow
    "$ALLOCSCOPE" run --out "$dir" -- "$TMP/grow" >"$dir.out" 2>"$dir.err"
    rc=$?
    expect_eq "Go: exit 0, output unchanged, one line saying its heap is not malloc" \
        "$rc:$(cmp -s "$dir.out" "$TMP/grow.out" && echo same):$(grep -c "$GO_NOTE" "$dir.err")" \
        "0:same:1"
    check_grep "Go: the line says the shim does not load and RSS is sampled from outside" \
        "grow $GO_NOTE .*static, so the shim does not load: RSS is sampled from outside" "$dir.err"
    outside_ok "Go" "$dir" 5 $((40 << 20))
    check_grep "Go: the summary gives the peak RSS sampled from outside" \
        "peak RSS .* samples from outside; no heap recorded" "$dir.err"
    "$ALLOCSCOPE" leaks "$dir" >/dev/null 2>"$dir.leaks"
    check_grep "Go: leaks says there is no heap recording and names diagnose" \
        "has no heap recording .*allocscope diagnose" "$dir.leaks"
    if "$ALLOCSCOPE" diagnose "$dir" >"$dir.diag" 2>&1; then
        check_grep "Go: diagnose judges the RSS" "RSS +idle" "$dir.diag"
    else
        fail "Go: diagnose reads the run" "$(head -2 "$dir.diag")"
    fi

    reason=$(bpf_refusal)
    if [ -n "$reason" ]; then
        skip "Go with --kernel" "$reason"
    else
        dir=$TMP/go-kernel
        "$ALLOCSCOPE" run -q --kernel --out "$dir" -- "$TMP/grow" >/dev/null 2>"$dir.err"
        expect_eq "Go --kernel: exit 0" "$?" "0"
        verdict=$(python3 - "$dir/samples.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
total = lambda c: sum(int(r.get(c) or 0) for r in rows)
print("rss %s, mmap %s, faults %s" % (
    "yes" if any(int(r["rss_bytes"]) > 0 for r in rows) else "no",
    "yes" if total("mmap_bytes") >= 40 << 20 else "no (%d)" % total("mmap_bytes"),
    "yes" if total("faults") >= 1000 else "no (%d)" % total("faults")))
PY
)
        expect_eq "Go --kernel: RSS from outside, the heap's mmaps and page faults from the kernel" \
            "$verdict" "rss yes, mmap yes, faults yes"
    fi
else
    fail "go builds grow.go" "$(head -3 "$TMP/go.err")"
fi

# ---- cgo: the C code's mallocs are recorded ----
if CGO_ENABLED=1 go build -o "$TMP/cgo_keep" "$SRC/cgo_keep.go" 2>"$TMP/cgo.err"; then
    dir=$TMP/go-cgo
    "$ALLOCSCOPE" run -q --sample all --out "$dir" -- "$TMP/cgo_keep" >/dev/null 2>"$dir.err"
    expect_eq "cgo: exit 0, one line saying only cgo code's allocations are recorded" \
        "$?:$(grep -c "$GO_NOTE: only its cgo code's allocations are recorded" "$dir.err")" "0:1"
    "$ALLOCSCOPE" leaks --json "$dir" >"$dir.json"
    echo "cgo_keep_block 40960 10" >"$dir.table"
    expect_eq "cgo: the C function's 10 blocks of 4096 bytes, by name" \
        "$(python3 "$ROOT/tests/helpers/expected_sites.py" "$dir.json" "$dir.table")" "ok"
else
    skip "cgo" "go build with cgo failed: $(head -1 "$TMP/cgo.err")"
fi

finish
