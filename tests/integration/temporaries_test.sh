#!/bin/bash
# Temporary allocations (heaptrack's definition: freed before the thread allocated anything
# else), counted per site by the shim in sites.csv temporary_calls: exact counts at the
# known sites of tests/helpers/temporaries.c, under each allocator.
. "$(dirname "$0")/../helpers/lib.sh"

PROGRAM=$TESTBIN/temporaries

# counts DIR: "FUNCTION ALLOC_CALLS TEMPORARY_CALLS" for the program's own sites, from the
# last row of each site in sites.csv, its first frame resolved with nm.
counts() {
    python3 - "$1" "$PROGRAM" <<'PY'
import csv, subprocess, sys
run, program = sys.argv[1], sys.argv[2]
syms = []
for line in subprocess.run(["nm", "-n", program], capture_output=True, text=True).stdout.split("\n"):
    parts = line.split()
    if len(parts) == 3 and parts[1] in "tT":
        syms.append((int(parts[0], 16), parts[2]))
base = None
for line in open(run + "/maps.txt"):
    f = line.split()
    if len(f) >= 6 and f[5].endswith("/temporaries") and int(f[2], 16) == 0:
        base = int(f[0].split("-")[0], 16)
        break
frames = {r["site_id"]: r["frames"].split(";") for r in csv.DictReader(open(run + "/stacks.csv"))}
last = {}
for r in csv.DictReader(open(run + "/sites.csv")):
    last[r["site_id"]] = r
for site, r in sorted(last.items(), key=lambda kv: int(kv[0])):
    pc = int(frames[site][0], 16) - base - 1
    name = [n for a, n in syms if a <= pc]
    if not name or name[-1] in ("_start",):
        continue
    print(name[-1], r["alloc_calls"], r["temporary_calls"])
PY
}

for alloc in $ALLOCATORS; do
    dir=$TMP/run-$alloc
    "$ALLOCSCOPE" run -q -a "$alloc" --sample all --out "$dir" -- "$PROGRAM" 2>"$dir.err" ||
        { fail "temporaries runs under $alloc" "$(head -2 "$dir.err")"; continue; }
    got=$(counts "$dir" | grep -E '^(churn_temporaries|keep_blocks|interleaved_first|interleaved_second) ' | sort | tr '\n' ';')
    expect_eq "temporary allocations per site under $alloc" "$got" \
        "churn_temporaries 1000 1000;interleaved_first 1000 0;interleaved_second 1000 1000;keep_blocks 100 0;"
done

finish
