#!/bin/bash
# The recording shim and `allocscope run` / `allocscope leaks` on programs with known leaks,
# under each allocator; stress of every entry point; real programs from Debian.
. "$(dirname "$0")/../helpers/lib.sh"

leaks_json() { "$ALLOCSCOPE" leaks --json "$1"; }

# check_exact_leaks ALLOCATOR: every leak of tests/helpers/leaker.cc found with its exact
# bytes and blocks, and no other site in the leaker's own code.
check_exact_leaks() {
    local alloc=$1 lib dir=$TMP/exact-$1
    lib=$(allocator_lib "$alloc")
    LD_PRELOAD=$lib "$ALLOCSCOPE" run -q --sample all --out "$dir" -- "$TESTBIN/leaker" 1000000 \
        2>"$dir.expected" || { fail "exact leaks under $alloc" "run failed: $(cat "$dir.expected")"; return; }
    local got_alloc
    got_alloc=$(sed -n 's/^allocator=//p' "$dir/shim.txt")
    expect_eq "allocator detected under $alloc" "$got_alloc" "$alloc"
    leaks_json "$dir" >"$dir.json" 2>>"$dir.err"
    local verdict
    verdict=$(python3 - "$dir.json" "$dir.expected" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
expected = {}
for line in open(sys.argv[2]):
    name, nbytes, blocks = line.split()
    expected[name] = (int(nbytes), int(blocks))
problems = []
if report["mode"] != "exact":
    problems.append("mode %s" % report["mode"])
ours = [s for s in report["sites"] if any(f["object"].endswith("/leaker") for f in s["frames"])]
found = {}
for s in ours:
    fn = s["frames"][0]["function"]
    if fn in found:
        problems.append("two sites for %s" % fn)
    found[fn] = (s["bytes"], s["blocks"])
for name, want in expected.items():
    if found.get(name) != want:
        problems.append("%s: got %s want %s" % (name, found.get(name), want))
extra = set(found) - set(expected)
if extra:
    problems.append("unexpected sites in the program: %s" % sorted(extra))
print("; ".join(problems) if problems else "ok")
PY
)
    expect_eq "exact leaks under $alloc: sites, bytes, blocks" "$verdict" "ok"
}

for a in $ALLOCATORS; do check_exact_leaks "$a"; done

# Sampled mode (default 512 KiB): every site leaking >= 32 MiB within 20% of its bytes.
check_sampled_leaks() {
    local alloc=$1 dir=$TMP/sampled-$1
    LD_PRELOAD=$(allocator_lib "$alloc") "$ALLOCSCOPE" run -q --out "$dir" -- "$TESTBIN/bigleaker" \
        2>"$dir.err" || { fail "sampled leaks under $alloc" "run failed"; return; }
    leaks_json "$dir" >"$dir.json"
    local verdict
    verdict=$(python3 - "$dir.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
want = {"leak_huge_blocks": 32 << 20, "leak_mid_blocks": 256 << 20, "leak_small_blocks": 256 << 20}
# The function each site's code belongs to (leak_blocks is inlined into the three).
def function_of(site):
    return [f for f in site["frames"] if not f["inlined"]][0]["function"]
got = {}
for s in report["sites"]:
    fn = function_of(s)
    if fn in want:
        got[fn] = got.get(fn, 0) + s["bytes"]
problems = []
if report["mode"] != "sampled":
    problems.append("mode " + report["mode"])
for fn, nbytes in want.items():
    err = abs(got.get(fn, 0) - nbytes) / nbytes
    if err > 0.20:
        problems.append("%s estimated %d for %d (%.0f%% off)" % (fn, got.get(fn, 0), nbytes, err * 100))
others = sum(s["bytes"] for s in report["sites"] if function_of(s) not in want)
if others > (8 << 20):
    problems.append("%d bytes reported at other sites (the churn is all freed)" % others)
print("; ".join(problems) if problems else "ok")
PY
)
    expect_eq "sampled leaks under $alloc within 20%" "$verdict" "ok"
}
for a in $ALLOCATORS; do check_sampled_leaks "$a"; done

# A site that grows for 3 s (60 ticks of 64 blocks of 4096 B) and is freed before exit. Its
# growth rate must agree with the slope of the whole live heap (samples.csv) taken at the
# site's own snapshot times up to its peak: the same points in time, so that however the
# machine's load spaces the ticks, the two describe the same rise.
dir=$TMP/grow
"$ALLOCSCOPE" run -q --sample all --out "$dir" -- "$TESTBIN/grower" 3 262144 2>/dev/null
verdict=$(leaks_json "$dir" | python3 -c '
import csv, json, sys
r = json.load(sys.stdin)
rows = [x for x in csv.DictReader(open(sys.argv[1])) if x["live_bytes"]]
sites = list(csv.DictReader(open(sys.argv[2])))
def live_at(t):
    v = 0
    for x in rows:
        if int(x["t_ms"]) <= t:
            v = int(x["live_bytes"])
    return v
g = [s for s in r["sites"] if s["frames"][0]["function"] == "grow_buffer_list"]
snaps = sorted({int(x["t_ms"]) for x in sites})
points = [(t / 1000, live_at(t)) for t in snaps]
peak = max(range(len(points)), key=lambda i: points[i][1]) if points else 0
pts = points[:peak + 1]
heap_slope = 0.0
if len(pts) >= 2:
    n = len(pts)
    mt, ml = sum(p[0] for p in pts) / n, sum(p[1] for p in pts) / n
    den = sum((p[0] - mt) ** 2 for p in pts)
    heap_slope = sum((p[0] - mt) * (p[1] - ml) for p in pts) / den if den else 0.0
if r["total_bytes"] != 0: print("unfreed at exit: %d" % r["total_bytes"])
elif not g: print("growing site not reported")
elif g[0]["peak_bytes"] != 60 * 64 * 4096: print("peak %d, expected %d" % (g[0]["peak_bytes"], 60 * 64 * 4096))
elif not (0.75 * heap_slope < g[0]["growth_bytes_per_s"] < 1.25 * heap_slope):
    print("site growth %.0f B/s, live heap slope %.0f B/s at %s" % (g[0]["growth_bytes_per_s"], heap_slope, snaps))
else: print("ok")' "$dir/samples.csv" "$dir/sites.csv")
expect_eq "growing site found with its rate though freed before exit" "$verdict" "ok"

# Live bytes are usable sizes as the allocator itself reports them, whichever way the shim
# reads them (glibc: from the chunk header after a start-up check; others: the call). The
# difference between 40 rounds and none of held blocks must be exactly their sum.
check_usable_sizes() {
    local alloc=$1 want=$2 out1 base held
    LD_PRELOAD=$(allocator_lib "$alloc") "$ALLOCSCOPE" run -q --out "$TMP/usable0-$alloc" -- \
        "$TESTBIN/usable_holder" 0 >/dev/null
    out1=$(LD_PRELOAD=$(allocator_lib "$alloc") "$ALLOCSCOPE" run -q --out "$TMP/usable1-$alloc" -- \
        "$TESTBIN/usable_holder" 40 $3 | tee "$TMP/usable1-$alloc.out")
    base=$(tail -1 "$TMP/usable0-$alloc/samples.csv" | cut -d, -f2)
    held=$(tail -1 "$TMP/usable1-$alloc/samples.csv" | cut -d, -f2)
    expect_eq "live bytes are the allocator's usable sizes under $alloc" \
        "usable=$((held - base))" "${out1%% *}"
    expect_eq "usable sizes read by $want under $alloc" \
        "$(grep '^usable_size=' "$TMP/usable1-$alloc/shim.txt")" "usable_size=$want"
}
check_usable_sizes glibc glibc-header mmapped
# The start-up check must not change how glibc serves the program's blocks (freeing a probe
# block under 32 MiB from mmap would raise its dynamic mmap threshold): the same blocks are
# mmapped with and without the shim (their usable sizes are not compared: where a small
# block lands, and so its padding, varies from run to run even without the shim).
expect_eq "the shim leaves glibc's mmap threshold alone" \
    "$(grep -o 'mmapped=[0-9]*' "$TMP/usable1-glibc.out")" \
    "$("$TESTBIN/usable_holder" 40 mmapped | grep -o 'mmapped=[0-9]*')"
for a in jemalloc mimalloc tcmalloc; do check_usable_sizes "$a" malloc_usable_size; done

# Sites count per thread and hand their counts on in batches: a leak made by threads that
# exited, by threads still blocked at exit, and with frees made by another thread, is exact.
for a in $ALLOCATORS; do
    dir=$TMP/thread-leaks-$a
    want=$(LD_PRELOAD=$(allocator_lib "$a") "$ALLOCSCOPE" run -q --sample all --out "$dir" -- \
        "$TESTBIN/thread_leaker" 6 1001 100)
    got=$(leaks_json "$dir" | python3 -c '
import json, sys
r = json.load(sys.stdin)
s = [s for s in r["sites"] if s["frames"][0]["function"] == "leak_in_worker"]
print("leaked=%d blocks=%d" % (s[0]["bytes"], s[0]["blocks"]) if len(s) == 1 else "sites: %d" % len(s))')
    expect_eq "leaks of 6 threads (3 alive at exit, cross-thread frees) exact under $a" "$got" "$want"
done

# Stress every entry point across threads, fork and exec, under each allocator.
for a in $ALLOCATORS; do
    dir=$TMP/stress-$a
    if LD_PRELOAD=$(allocator_lib "$a") "$ALLOCSCOPE" run -q --sample all --follow-fork --out "$dir" -- \
        "$TESTBIN/stress" 4 40000 "$TESTBIN/grower" 2>"$dir.err"; then
        pass "stress under $a"
    else
        fail "stress under $a" "$(tail -3 "$dir.err")"
    fi
    children=$(ls "$dir/children" 2>/dev/null | wc -l)
    if [ "$children" -ge 2 ] && [ -s "$dir/samples.csv" ]; then
        pass "forked and exec'd children recorded under $a"
    else
        fail "forked and exec'd children recorded under $a" "children dirs: $children"
    fi
done
# The live-heap counter returns to its start after balanced work (exact counts).
live_end=$(tail -1 "$TMP/stress-glibc/samples.csv" | cut -d, -f2)
if [ -n "$live_end" ] && [ "$live_end" -lt 1000000 ]; then pass "live bytes balanced after stress"; else fail "live bytes balanced after stress" "live_bytes at exit: $live_end"; fi

# Real programs from Debian run unchanged under the shim with each allocator.
mkdir -p "$TMP/prog" && cd "$TMP/prog" || exit 1
printf 'int square(int x) { return x * x; }\n' >sq.c
cat >script.py <<'PY'
import json
d = {str(i): list(range(i % 50)) for i in range(20000)}
print(len(json.dumps(d)))
PY
for a in $ALLOCATORS; do
    pre=$(allocator_lib "$a")
    run_real() { LD_PRELOAD=$pre "$ALLOCSCOPE" run -q --out "$TMP/real-$a-$1" -- "${@:2}"; }
    out=$(run_real python /usr/bin/python3 script.py 2>&1)
    expect_eq "python3 under the shim with $a" "$out" "$(/usr/bin/python3 script.py)"
    rm -rf repo && git init -q repo && echo hi >repo/f &&
        check "git under the shim with $a" run_real git git -C repo -c user.name=t -c user.email=t@t add f
    rm -f sq.o && run_real gcc gcc -O2 -c sq.c -o sq.o 2>/dev/null
    check "gcc under the shim with $a" test -s sq.o
    out=$(run_real sqlite sqlite3 :memory: "create table t(x); insert into t values (1),(2),(3); select sum(x) from t;" 2>&1)
    expect_eq "sqlite3 under the shim with $a" "$out" "6"
    calls=$(tail -1 "$TMP/real-$a-python/samples.csv" | cut -d, -f4)
    if [ "${calls:-0}" -gt 1000 ]; then pass "python3 allocations counted with $a"; else fail "python3 allocations counted with $a" "alloc_calls=$calls"; fi
done
cd "$ROOT" || exit 1

# Exit status and signals pass through; run.json records them.
"$ALLOCSCOPE" run -q --out "$TMP/st3" -- sh -c 'exit 3'
expect_eq "exit status passed through" "$?" "3"
"$ALLOCSCOPE" run -q --out "$TMP/sig" -- sh -c 'kill -SEGV $$' 2>/dev/null
expect_eq "killed target gives 128+signal" "$?" "139"
expect_eq "run.json records the signal" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["exit"]["signal"])' "$TMP/sig/run.json")" "11"

# Bad input: one line naming the problem, non-zero exit.
one_line_error() { # NAME EXPECTED_WORD CMD...
    local name=$1 word=$2 out rc
    shift 2
    out=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && [[ $out == *"$word"* ]]; then
        pass "$name"
    else
        fail "$name" "exit $rc, stderr: $out"
    fi
}
one_line_error "unknown option" "unknown option" "$ALLOCSCOPE" run --bogus -- true
one_line_error "missing command" "wants a command" "$ALLOCSCOPE" run --out "$TMP/x"
one_line_error "unwritable output dir" "cannot write" "$ALLOCSCOPE" run --out /proc/nope -- true
one_line_error "command that does not exist" "cannot run" "$ALLOCSCOPE" run --out "$TMP/nx" -- /no/such/program
one_line_error "bad --sample" "--sample" "$ALLOCSCOPE" run --sample lots -- true
one_line_error "leaks on a missing dir" "no such run directory" "$ALLOCSCOPE" leaks "$TMP/none"

# The shim itself cannot write: the program still runs, with one warning.
out=$(LD_PRELOAD=$SHIM ALLOCSCOPE_OUT=/proc/cannot sh -c 'echo fine' 2>"$TMP/warn")
expect_eq "program runs when the shim cannot write" "$out" "fine"
check "one warning when the shim cannot write" test "$(grep -c 'cannot write' "$TMP/warn")" -eq 1

# A truncated recording (killed writer) still reads, with a warning.
cp -r "$TMP/exact-glibc" "$TMP/trunc"
head -c -7 "$TMP/exact-glibc/sites.csv" >"$TMP/trunc/sites.csv"
if "$ALLOCSCOPE" leaks --json "$TMP/trunc" >"$TMP/trunc.json" 2>"$TMP/trunc.err" &&
    grep -q truncated "$TMP/trunc.err"; then
    pass "truncated sites.csv read with a warning"
else
    fail "truncated sites.csv read with a warning" "$(cat "$TMP/trunc.err")"
fi

finish
