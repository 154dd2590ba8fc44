#!/bin/bash
# Language runtimes under the shim: every program runs to its end in every mode and under
# each of the four allocators, with its output unchanged, within a generous bound (a
# deadlock at start shows as the bound running out). Rust's runtime and the JVM call
# pthread_getattr_np before their first allocation; locks_at_first_alloc makes each
# thread's first allocation happen inside such libc functions and in signal handlers.
. "$(dirname "$0")/../helpers/lib.sh"

SRC=$ROOT/tests/helpers/runtimes
LIMIT=120
MODES="512K all none"

# Each runtime: a name and the command that runs it; missing runtimes are skipped.
declare -A RUNTIME
RUNTIME[c-locks]="$TESTBIN/locks_at_first_alloc --fork"
RUNTIME[cxx]="$TESTBIN/leaker 100000"

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

for name in $(printf '%s\n' "${!RUNTIME[@]}" | sort); do
    for alloc in $ALLOCATORS; do
        bad=""
        for mode in $MODES; do
            problem=$(run_one "$name" "$mode" "$alloc")
            [ -n "$problem" ] && bad="$bad [$mode: $problem]"
        done
        if [ -z "$bad" ]; then
            pass "$name under $alloc runs to its end in modes $MODES, output unchanged"
        else
            fail "$name under $alloc" "$bad"
        fi
    done
done

finish
