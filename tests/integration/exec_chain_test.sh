#!/bin/bash
# Exec chains: a wrapper (#!/bin/sh + exec, /usr/bin/env, env -i) hands its pid to the
# program that does the work. The recording continues into the new image at the top of the
# run directory, the configuration is proven on it, leaks finds its sites; the wrappers'
# recordings are kept in images/K-NAME/. A failed exec leaves the recording where it was.
. "$(dirname "$0")/../helpers/lib.sh"

WRAPPER=$TMP/wrapper.sh
printf '#!/bin/sh\nexec "$@"\n' >"$WRAPPER"
chmod +x "$WRAPPER"

# leaker_sites DIR EXPECTED: "ok" when leaks --json has every site of the leaker's table
# (its stderr) with exactly those bytes and blocks.
leaker_sites() {
    "$ALLOCSCOPE" leaks --json "$1" | python3 -c '
import json, sys
report = json.load(sys.stdin)
want = {}
for line in open(sys.argv[1]):
    name, nbytes, blocks = line.split()
    want[name] = (int(nbytes), int(blocks))
got = {}
for s in report["sites"]:
    if any(f["object"].endswith("/leaker") for f in s["frames"]):
        got[s["frames"][0]["function"]] = (s["bytes"], s["blocks"])
bad = ["%s: got %s want %s" % (k, got.get(k), v) for k, v in want.items() if got.get(k) != v]
print("; ".join(bad) if bad else "ok")' "$2"
}

# twenty ALLOCATOR CMD...: runs CMD 20 times under allocscope run; prints how many ran with
# exit 0 and leaks finding the leaker's sites, then the first problem seen.
twenty() {
    local alloc=$1 ok=0 first="" i dir verdict
    shift
    for i in $(seq 1 20); do
        dir=$TMP/twenty-$alloc-$i
        if ! "$ALLOCSCOPE" run -q -a "$alloc" --sample all --out "$dir" -- "$@" \
            2>"$dir.expected" >/dev/null; then
            first=${first:-"run $i: $(grep '^allocscope' "$dir.expected" | head -1)"}
            continue
        fi
        verdict=$(leaker_sites "$dir" "$dir.expected")
        if [ "$verdict" = ok ]; then ok=$((ok + 1)); else first=${first:-"run $i: $verdict"}; fi
    done
    echo "$ok ${first:-}"
}

result=$(twenty jemalloc "$WRAPPER" "$TESTBIN/leaker" 20000)
expect_eq "20 of 20 runs through a #!/bin/sh exec wrapper under jemalloc find the leaker's sites" \
    "$result" "20 "
result=$(twenty glibc /usr/bin/env "$TESTBIN/leaker" 20000)
expect_eq "20 of 20 runs through /usr/bin/env under glibc find the leaker's sites" "$result" "20 "

# The wrappers' own recordings, named in order, and the top is the leaker's.
dir=$TMP/twenty-jemalloc-1
expect_eq "the wrapper's recording is kept in images/1-dash" \
    "$(ls "$dir/images")" "1-dash"
check_grep "the wrapper's recording ends with the exec" '^exec_path=.*/leaker$' \
    "$dir/images/1-dash/shim.txt"
check_grep "the top of the run directory is the leaker's" '^exe=.*/leaker$' "$dir/shim.txt"
"$ALLOCSCOPE" leaks "$dir" >"$TMP/leaks.txt"
check_grep "leaks names the program and the wrapper that exec'd it" \
    "^program .*/leaker, exec'd by dash " "$TMP/leaks.txt"

# env -i: the new image gets no LD_PRELOAD from its caller; the shim carries its own.
dir=$TMP/env-i
if "$ALLOCSCOPE" run -q -a mimalloc --sample all --out "$dir" -- /usr/bin/env -i \
    "$TESTBIN/leaker" 20000 2>"$dir.expected" >/dev/null; then
    expect_eq "env -i: the program is still recorded, under mimalloc, with its sites" \
        "$(grep '^allocator=' "$dir/shim.txt") $(leaker_sites "$dir" "$dir.expected")" \
        "allocator=mimalloc ok"
else
    fail "env -i: the program is still recorded" "$(head -2 "$dir.expected")"
fi

# A failed exec: the process goes on, recorded where it was; its later leak is found.
dir=$TMP/failed-exec
"$ALLOCSCOPE" run -q --sample all --out "$dir" -- "$TESTBIN/exec_then_leak" 2>"$TMP/fe.err"
expect_eq "a failed exec leaves no image behind and the run goes on" \
    "$(ls "$dir/images" 2>/dev/null | wc -l) $(sed -n 's/^exit=//p' "$dir/shim.txt" | tail -1)" \
    "0 clean"
check_grep "shim.txt says the exec failed" '^exec_failed=No such file' "$dir/shim.txt"
got=$("$ALLOCSCOPE" leaks --json "$dir" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print([(s["bytes"], s["blocks"]) for s in r["sites"]
       if s["frames"][0]["function"] == "leak_after_failed_exec"])')
expect_eq "the leak after the failed exec is found with its bytes" "$got" "[(5000, 5)]"

# The last program does not load the shim (static): the check says so, naming images/.
dir=$TMP/static-last
"$ALLOCSCOPE" run -q -a glibc --out "$dir" -- "$WRAPPER" /sbin/ldconfig -p \
    >/dev/null 2>"$TMP/static.err"
rc=$?
expect_eq "a static program exec'd last: exit 3" "$rc" "3"
check_grep "the message says the last program did not load the shim" \
    "did not load the shim .*images/" "$TMP/static.err"

finish
