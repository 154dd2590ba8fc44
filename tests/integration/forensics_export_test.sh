#!/bin/bash
# allocscope leaks --format collapsed|pprof|flamegraph on recordings with known stacks:
# tests/helpers/leaker leaks known bytes at five known functions (its stderr says how many);
# the collapsed lines carry exactly those bytes, go tool pprof reads the same totals as
# leaks, every box of the flame graph holds its bytes; a symbol with ';' and markup in its
# name stays one frame and escaped; damaged recordings get one line, never a crash; the
# temporary allocations of tests/helpers/temporaries are listed at the right sites.
. "$(dirname "$0")/../helpers/lib.sh"

LEAKER=$TESTBIN/leaker
if [ ! -x "$ALLOCSCOPE" ] || [ ! -x "$LEAKER" ]; then
    fail "build" "$ALLOCSCOPE or $LEAKER missing; run make all tests-build"
    finish
fi

# json_get FILE EXPR: a value of a JSON file (python3), EXPR applied to the object j.
json_get() {
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

"$ALLOCSCOPE" run --quiet --sample all --out "$TMP/leaker" -- "$LEAKER" 100000 \
    >/dev/null 2>"$TMP/leaker.truth"
if [ ! -s "$TMP/leaker/sites.csv" ]; then
    fail "record the leaker" "no sites.csv in $TMP/leaker"
    finish
fi
"$ALLOCSCOPE" leaks "$TMP/leaker" --json >"$TMP/leaks.json"
TOTAL=$(json_get "$TMP/leaks.json" 'j["total_bytes"]')
BLOCKS=$(json_get "$TMP/leaks.json" 'j["total_blocks"]')

# ---- collapsed ----------------------------------------------------------------------------
"$ALLOCSCOPE" leaks "$TMP/leaker" --format collapsed >"$TMP/exit.folded" 2>"$TMP/exit.err"
expect_eq "collapsed exits 0" "$?" 0
want=$(awk '/^leak_with_/ {print $1, $2}' "$TMP/leaker.truth" | sort)
got=$(awk '{n = split($1, f, ";"); if (f[n] ~ /^leak_with_/) print f[n], $2}' "$TMP/exit.folded" | sort)
expect_eq "collapsed: each known stack with exactly its bytes" "$got" "$want"
check "collapsed: outermost frame first, the leaking function last, after main" \
    grep -q ';main;leak_with_malloc 100000$' "$TMP/exit.folded"
expect_eq "collapsed: the lines add up to leaks' total" \
    "$(awk '{s += $NF} END {print s}' "$TMP/exit.folded")" "$TOTAL"
expect_eq "collapsed: every line is STACK SPACE NUMBER" \
    "$(grep -cvE '^[^ ].* [0-9]+$' "$TMP/exit.folded")" 0
want=$(awk '/^leak_with_/ {print $1, $3}' "$TMP/leaker.truth" | sort)
got=$("$ALLOCSCOPE" leaks "$TMP/leaker" --format collapsed --value exit-blocks |
    awk '{n = split($1, f, ";"); if (f[n] ~ /^leak_with_/) print f[n], $2}' | sort)
expect_eq "collapsed --value exit-blocks: the known block counts" "$got" "$want"
"$ALLOCSCOPE" leaks "$TMP/leaker" --format collapsed --value definitely-lost -o "$TMP/lost.folded"
expect_eq "collapsed -o FILE, --value definitely-lost: leaks' definitely lost bytes" \
    "$(awk '{s += $NF} END {print s}' "$TMP/lost.folded")" \
    "$(json_get "$TMP/leaks.json" 'j["reachability"]["definitely_lost_bytes"]')"

# ---- pprof -------------------------------------------------------------------------------
"$ALLOCSCOPE" leaks "$TMP/leaker" --format pprof -o "$TMP/leaker.pb.gz"
expect_eq "pprof written, gzip'd" "$(head -c 2 "$TMP/leaker.pb.gz" | od -An -tx1 | tr -d ' ')" 1f8b
if command -v go >/dev/null 2>&1; then
    export HOME=$TMP/home GOCACHE=$TMP/gocache GOPATH=$TMP/gopath GOFLAGS=-mod=mod
    mkdir -p "$HOME"
    pprof_total() { # SAMPLE_INDEX: "N" of pprof's "of N total" line, unit bytes or count
        go tool pprof -top -unit=B -sample_index="$1" "$TMP/leaker.pb.gz" 2>"$TMP/pprof.err" |
            sed -nE 's/.* of ([0-9.]+)B? total.*/\1/p'
    }
    expect_eq "go tool pprof: inuse_space total = leaks' total_bytes" "$(pprof_total inuse_space)" "$TOTAL"
    expect_eq "go tool pprof: inuse_objects total = leaks' total_blocks" \
        "$(pprof_total inuse_objects)" "$BLOCKS"
    echo "# go tool pprof -top: $(go tool pprof -top -unit=B "$TMP/leaker.pb.gz" 2>/dev/null |
        grep -m1 'of .* total'); leaks total_bytes $TOTAL"
    flat=$(go tool pprof -top -unit=B "$TMP/leaker.pb.gz" 2>/dev/null |
        awk '$NF ~ /^leak_with_/ {sub(/B$/, "", $1); print $NF, $1}' | sort)
    expect_eq "go tool pprof: each known function with its bytes" "$flat" \
        "$(awk '/^leak_with_/ {print $1, $2}' "$TMP/leaker.truth" | sort)"
    check "go tool pprof: file:line of the leaking function" \
        bash -c "go tool pprof -traces '$TMP/leaker.pb.gz' 2>/dev/null | grep -q 'leak_with_malloc'"
else
    skip "go tool pprof reads the profile" "go is not installed (tools/install-deps installs golang-go)"
fi
"$ALLOCSCOPE" leaks "$TMP/leaker" --format pprof >"$TMP/out" 2>&1
expect_eq "pprof without -o: exit 2, one line" "$? $(wc -l <"$TMP/out")" "2 1"

# ---- flame graph file -----------------------------------------------------------------------
# titles_hold_bytes SVG: every box's <title> names its data-v bytes; prints the box count.
titles_hold_bytes() {
    python3 - "$1" <<'PY'
import re, sys
svg = open(sys.argv[1], encoding="utf-8").read()
boxes = re.findall(r'<g class="fg-f"[^>]*data-v="(\d+)"[^>]*><title>(.*?)</title>', svg, re.S)
bad = [v for v, t in boxes if "\n%s bytes" % v not in t]
print(len(boxes) if boxes and not bad else "bad: %d boxes, %s" % (len(boxes), bad[:3]))
PY
}
"$ALLOCSCOPE" leaks "$TMP/leaker" --format flamegraph -o "$TMP/exit.svg"
check "flamegraph: valid SVG" xmllint --noout "$TMP/exit.svg"
n=$(titles_hold_bytes "$TMP/exit.svg")
if [[ $n =~ ^[0-9]+$ ]]; then pass "flamegraph: every one of $n boxes has its bytes in its title"; else fail "flamegraph titles" "$n"; fi
check "flamegraph: the whole is leaks' total" grep -q "data-v=\"$TOTAL\" data-n=\"all\"" "$TMP/exit.svg"
check "flamegraph: memcheck's classes as towers" grep -q 'data-n="definitely lost"' "$TMP/exit.svg"
"$ALLOCSCOPE" leaks "$TMP/leaker" --format flamegraph --value alloc >"$TMP/out" 2>&1
expect_eq "flamegraph of an unknown view: exit 2" "$?" 2

# ---- a symbol with ';', markup and quotes in its name ----------------------------------------
EVIL='leak;with<b>"evil"'
objcopy --redefine-sym "leak_with_calloc=$EVIL" "$LEAKER" "$TMP/evil-leaker"
"$ALLOCSCOPE" run --quiet --sample all --out "$TMP/evil" -- "$TMP/evil-leaker" 1000 >/dev/null 2>&1
check "collapsed: the ';' in a name does not split the frame" \
    grep -qF ';main;leak:with<b>"evil" 100000' <("$ALLOCSCOPE" leaks "$TMP/evil" --format collapsed)
"$ALLOCSCOPE" leaks "$TMP/evil" --format flamegraph -o "$TMP/evil.svg"
check "flamegraph: the name escaped, the SVG valid" \
    bash -c "xmllint --noout '$TMP/evil.svg' && grep -qF 'leak;with&lt;b&gt;&quot;evil&quot;' '$TMP/evil.svg'"

# ---- damaged recordings: one line, never a crash ---------------------------------------------
damaged() { # NAME DIR: leaks --format collapsed and pprof end with 0 or 2 and at most 2 lines
    local name=$1 dir=$2 rc fmt
    for fmt in collapsed pprof flamegraph; do
        "$ALLOCSCOPE" leaks "$dir" --format "$fmt" -o "$TMP/damaged.out" >"$TMP/out" 2>&1
        rc=$?
        if { [ "$rc" = 0 ] || [ "$rc" = 2 ]; } && [ "$(wc -l <"$TMP/out")" -le 2 ]; then
            pass "$name ($fmt): exit $rc, $(wc -l <"$TMP/out") line(s)"
        else
            fail "$name ($fmt)" "exit $rc: $(head -c 300 "$TMP/out")"
        fi
    done
}
cp -r "$TMP/leaker" "$TMP/cut"
head -c $(($(stat -c %s "$TMP/leaker/sites.csv") / 2)) "$TMP/leaker/sites.csv" >"$TMP/cut/sites.csv"
damaged "sites.csv cut in the middle" "$TMP/cut"
cp -r "$TMP/leaker" "$TMP/garbage"
printf 't_ms,site_id\n\x01\xff,,,;;;\n' >"$TMP/garbage/sites.csv"
damaged "sites.csv of garbage" "$TMP/garbage"
cp -r "$TMP/leaker" "$TMP/frames"
printf 'site_id,frames\n0,0xzz;;;0x\n1,%s\n' "$(head -c 3000 /dev/zero | tr '\0' ';')" >"$TMP/frames/stacks.csv"
damaged "stacks.csv with broken frames" "$TMP/frames"
cp -r "$TMP/leaker" "$TMP/nomaps" && rm "$TMP/nomaps/maps.txt"
damaged "no maps.txt" "$TMP/nomaps"
damaged "not a run directory" "$TMP/nothing-here"

# ---- temporary allocations -------------------------------------------------------------------
if [ -x "$TESTBIN/temporaries" ]; then
    "$ALLOCSCOPE" run --quiet --sample all --out "$TMP/temps" -- "$TESTBIN/temporaries" >/dev/null 2>&1
    "$ALLOCSCOPE" leaks "$TMP/temps" >"$TMP/temps.txt"
    check_grep "leaks: the share of temporary allocations" \
        '^temporary allocations .*: 2000 of 3100 allocations \(64.5%\)' "$TMP/temps.txt"
    got=$(sed -n '/^temporary allocations/,$p' "$TMP/temps.txt" |
        awk '$4 ~ /^[a-z_]+$/ && $1 ~ /^[0-9]+$/ {print $4, $1, $2}' | sort | tr '\n' ';')
    expect_eq "leaks: the churning sites with their counts, the kept blocks' site not among them" \
        "$got" "churn_temporaries 1000 1000;interleaved_second 1000 1000;"
    got=$("$ALLOCSCOPE" leaks "$TMP/temps" --format collapsed --value temporary |
        awk '{n = split($1, f, ";"); print f[n], $2}' | sort | tr '\n' ';')
    expect_eq "collapsed --value temporary" "$got" "churn_temporaries 1000;interleaved_second 1000;"
else
    skip "temporary allocations" "$TESTBIN/temporaries is not built"
fi

finish
