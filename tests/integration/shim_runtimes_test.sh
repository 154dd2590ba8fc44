#!/bin/bash
# Language runtimes under the shim: every program runs to its end in every mode and under
# each of the four allocators, with its output unchanged, within a generous bound (a
# deadlock at start shows as the bound running out). Rust's runtime and the JVM call
# pthread_getattr_np before their first allocation; locks_at_first_alloc makes each
# thread's first allocation happen inside such libc functions and in signal handlers.
# Then, in exact mode (glibc), each runtime's known leaks are found where it allocated them,
# by readable names and with their exact bytes: every such program prints its table,
# "FUNCTION BYTES BLOCKS", on stderr (tests/helpers/expected_sites.py compares).
. "$(dirname "$0")/../helpers/lib.sh"

SRC=$ROOT/tests/helpers/runtimes
LIMIT=120
MODES="512K all none"

# Each runtime: a name and the command that runs it; missing runtimes are skipped.
declare -A RUNTIME
RUNTIME[c-locks]="$TESTBIN/locks_at_first_alloc --fork"
RUNTIME[cxx]="$TESTBIN/cxx_leaks"

if command -v rustc >/dev/null 2>&1; then
    if rustc -O -g -C force-frame-pointers=yes -o "$TMP/leak-rs" "$SRC/leak.rs" 2>"$TMP/rustc.err"; then
        RUNTIME[rust]="$TMP/leak-rs"
    else
        fail "rustc builds tests/helpers/runtimes/leak.rs" "$(head -3 "$TMP/rustc.err")"
    fi
else
    skip "rust" "rustc is not installed"
fi
if command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
    if javac -d "$TMP" "$SRC/Leak.java" 2>"$TMP/javac.err"; then
        RUNTIME[java]="java -Xshare:auto -cp $TMP Leak"
        RUNTIME[java-version]="java -version"
    else
        fail "javac builds tests/helpers/runtimes/Leak.java" "$(head -3 "$TMP/javac.err")"
    fi
else
    skip "java" "java/javac are not installed"
fi
if [ -x /usr/bin/python3 ]; then
    RUNTIME[python]="/usr/bin/python3 $SRC/leak.py"
else
    skip "python" "/usr/bin/python3 is not installed"
fi
if command -v node >/dev/null 2>&1; then
    RUNTIME[node]="node $SRC/leak.js"
else
    skip "node" "node is not installed"
fi

# The bare output of each program (stdout and stderr apart), to compare with.
for name in "${!RUNTIME[@]}"; do
    # shellcheck disable=SC2086 # the command is a word list
    timeout "$LIMIT" ${RUNTIME[$name]} >"$TMP/$name.out" 2>"$TMP/$name.err" ||
        fail "$name runs bare" "exit $?"
done

# run_one NAME MODE ALLOCATOR: one recorded run; prints a problem or nothing.
run_one() {
    local name=$1 mode=$2 alloc=$3 dir=$TMP/run-$1-$2-$3 rc
    # shellcheck disable=SC2086
    timeout -k 5 "$LIMIT" "$ALLOCSCOPE" run -q --sample "$mode" -a "$alloc" --out "$dir" \
        ${RUNTIME[$name]} >"$dir.out" 2>"$dir.err"
    rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "still running after ${LIMIT}s (deadlock?)"
    elif [ "$rc" -ne 0 ]; then
        echo "exit $rc: $(grep -v '^Picked up' "$dir.err" | head -2 | tr '\n' ' ')"
    elif ! cmp -s "$dir.out" "$TMP/$name.out"; then
        echo "stdout differs from the bare run"
    elif ! grep -q "^allocator=$alloc\$" "$dir/shim.txt" 2>/dev/null; then
        echo "shim.txt does not name allocator $alloc"
    fi
}

# Two runs at a time (the machine's two cores); each run's problem, if any, in DIR.problem.
runs_ok=0 runs_total=0 running=0
NAMES=$(printf '%s\n' "${!RUNTIME[@]}" | sort)
for name in $NAMES; do
    for alloc in $ALLOCATORS; do
        for mode in $MODES; do
            run_one "$name" "$mode" "$alloc" >"$TMP/run-$name-$mode-$alloc.problem" &
            running=$((running + 1))
            if [ "$running" -ge 2 ]; then
                wait -n
                running=$((running - 1))
            fi
        done
    done
done
wait
for name in $NAMES; do
    for alloc in $ALLOCATORS; do
        bad=""
        for mode in $MODES; do
            problem=$(cat "$TMP/run-$name-$mode-$alloc.problem")
            runs_total=$((runs_total + 1))
            if [ -n "$problem" ]; then
                bad="$bad [$mode: $problem]"
            else
                runs_ok=$((runs_ok + 1))
            fi
        done
        if [ -z "$bad" ]; then
            pass "$name under $alloc runs to its end in modes $MODES, output unchanged"
        else
            fail "$name under $alloc" "$bad"
        fi
    done
done
echo "# runtime x mode x allocator runs: $runs_ok ok of $runs_total"

# ---- the known leaks, exact mode ----
# sites_ok NAME DIR TABLE: the leaks of run DIR against the program's table.
sites_ok() {
    local name=$1 dir=$2 table=$3 verdict names
    if ! "$ALLOCSCOPE" leaks --json "$dir" >"$dir.json" 2>"$dir.leaks-err"; then
        fail "$name: allocscope leaks --json" "$(head -2 "$dir.leaks-err")"
        return
    fi
    verdict=$(python3 "$ROOT/tests/helpers/expected_sites.py" "$dir.json" "$table")
    names=$(grep -E ' [0-9]+ [0-9]+$' "$table" | sed -E 's/ [0-9]+ [0-9]+$//' | paste -sd';' -)
    expect_eq "$name: the known leaks by name with their exact bytes ($names)" "$verdict" "ok"
}

for name in rust cxx java node; do
    [ -n "${RUNTIME[$name]:-}" ] && sites_ok "$name" "$TMP/run-$name-all-glibc" "$TMP/$name.err"
done
if [ -n "${RUNTIME[python]:-}" ]; then
    # Every object a malloc block: the leaked bytearrays and strings at the interpreter's
    # functions that allocate them (the exported C API names: python3 has no other symbols).
    dir=$TMP/run-python-malloc
    PYTHONMALLOC=malloc timeout -k 5 "$LIMIT" "$ALLOCSCOPE" run -q --sample all --out "$dir" \
        ${RUNTIME[python]} >/dev/null 2>"$dir.table"
    sites_ok "python with PYTHONMALLOC=malloc" "$dir" "$dir.table"
    # pymalloc, the default: the 50001-byte buffers are passed on to malloc (above 512
    # bytes) and seen, the 149-byte strings live in pymalloc's arenas and are not.
    dir=$TMP/run-python-all-glibc
    "$ALLOCSCOPE" leaks --json "$dir" >"$dir.json"
    verdict=$(python3 - "$dir.json" <<'PY'
import json, sys
sites = json.load(open(sys.argv[1]))["sites"]
def blocks_of(size):
    return sum(s["blocks"] for s in sites if s["bytes"] == s["blocks"] * size)
print("buffers %d, strings %d" % (blocks_of(50001), blocks_of(149)))
PY
)
    expect_eq "python under pymalloc: the large buffers seen, the small strings hidden in its arenas" \
        "$verdict" "buffers 30, strings 0"
fi

finish
