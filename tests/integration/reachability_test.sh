#!/bin/bash
# Reachability at exit (exact mode): memcheck's four classes, per site and in total, the same
# as valgrind --leak-check=full --show-leak-kinds=all on the same binary, under each of the
# four allocators. tests/helpers/reach_truth.c builds lists, trees, a cycle, interior
# pointers, blocks of every entry point, blocks held in TLS and in a register.
# Both sides leave out glibc's per-thread TLS vectors (_dl_allocate_tls: their size depends
# on how many loaded libraries have TLS, and the shim and the allocators add theirs) and
# blocks allocated outside the program's own code (an allocator's own, glibc's).
. "$(dirname "$0")/../helpers/lib.sh"
use_sanitized # allocscope with ASan/UBSan: any report fails the script

PROGRAM=$TESTBIN/reach_truth
CLASSES="definitely_lost indirectly_lost possibly_lost still_reachable"

# ours DIR: "CLASS BYTES BLOCKS" lines from leaks --json, over the program's own sites.
ours() {
    "$ALLOCSCOPE" leaks --json "$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)
classes = sys.argv[1].split()
tot = {c: [0, 0] for c in classes}
for s in r["sites"]:
    fns = " ".join(f["function"] for f in s["frames"])
    if "allocate_dtv" in fns or "_dl_allocate_tls" in fns:
        continue
    if not any(f["object"].endswith("/reach_truth") for f in s["frames"]):
        continue
    for c in classes:
        tot[c][0] += s[c + "_bytes"]
        tot[c][1] += s[c + "_blocks"]
for c in classes:
    print(c, *tot[c])' "$CLASSES"
}

# theirs XML: the same from valgrind's XML loss records.
theirs() {
    python3 - "$1" "$CLASSES" <<'PY'
import re, sys, xml.etree.ElementTree as ET
kinds = {"Leak_DefinitelyLost": "definitely_lost", "Leak_IndirectlyLost": "indirectly_lost",
         "Leak_PossiblyLost": "possibly_lost", "Leak_StillReachable": "still_reachable"}
classes = sys.argv[2].split()
tot = {c: [0, 0] for c in classes}
for err in ET.parse(sys.argv[1]).getroot().iter("error"):
    kind = kinds.get(err.findtext("kind"))
    if not kind:
        continue
    frames = err.find("stack").findall("frame")
    fns = " ".join(f.findtext("fn") or "" for f in frames)
    if "allocate_dtv" in fns or "_dl_allocate_tls" in fns:
        continue
    if not any((f.findtext("obj") or "").endswith("/reach_truth") for f in frames):
        continue
    # A definitely lost record whose block leads to others says "N (D direct, I indirect)
    # bytes": leakedbytes is N; the class's own bytes are D.
    text = err.find("xwhat").findtext("text")
    m = re.match(r"[\d,]+ \(([\d,]+) direct", text)
    direct = int(m.group(1).replace(",", "")) if m else int(err.find("xwhat").findtext("leakedbytes"))
    tot[kind][0] += direct
    tot[kind][1] += int(err.find("xwhat").findtext("leakedblocks"))
for c in classes:
    print(c, *tot[c])
PY
}

truth=""
if command -v valgrind >/dev/null 2>&1; then
    valgrind --leak-check=full --show-leak-kinds=all --xml=yes --xml-file="$TMP/vg.xml" \
        "$PROGRAM" >/dev/null 2>&1
    truth=$(theirs "$TMP/vg.xml")
    # What the program was written to leave (its header comment): valgrind agrees.
    expect_eq "valgrind's classes are the program's documented truth" "$(echo $truth)" \
        "definitely_lost 1338 11 indirectly_lost 560 12 possibly_lost 356 2 still_reachable 3598 36"
else
    skip "comparison with valgrind" "valgrind is not installed (make deps installs it)"
fi

for alloc in $ALLOCATORS; do
    dir=$TMP/run-$alloc
    if ! "$ALLOCSCOPE" run -q -a "$alloc" --sample all --out "$dir" -- "$PROGRAM" 2>"$dir.err"; then
        fail "reach_truth runs under $alloc" "$(head -2 "$dir.err")"
        continue
    fi
    got=$(ours "$dir")
    if [ -n "$truth" ]; then
        expect_eq "the four classes under $alloc are valgrind's" "$(echo $got)" "$(echo $truth)"
    fi
    # Known single facts, whatever valgrind says: the cycle's leader and members, the
    # register-held block, the TLS blocks.
    facts=$("$ALLOCSCOPE" leaks --json "$dir" | python3 -c '
import json, sys
r = json.load(sys.stdin)
def site(fn):
    return [s for s in r["sites"] if any(f["function"] == fn for f in s["frames"])]
def cls(s):
    return [c for c in ("definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable")
            if s[c + "_blocks"]]
out = []
cycle = site("drop_cycle")
out.append("cycle " + "+".join(sorted(c for s in cycle for c in cls(s))))
out.append("register " + "+".join(c for s in site("hold_in_register") for c in cls(s)))
out.append("thread-tls " + "+".join(c for s in site("tls_thread") for c in cls(s)))
print("; ".join(out))')
    expect_eq "under $alloc: cycle lost (1 definite, 2 indirect), register and TLS blocks reachable" \
        "$facts" "cycle definitely_lost+indirectly_lost+indirectly_lost; register still_reachable; thread-tls still_reachable"
    check_grep "under $alloc: both threads were stopped for the scan" \
        '^reachability_threads_stopped=2$' "$dir/shim.txt"
done

# The text view lists the classes, lost first.
"$ALLOCSCOPE" leaks "$TMP/run-glibc" >"$TMP/leaks.txt"
order=$(grep -oE '^(definitely lost|indirectly lost|possibly lost|still reachable):' "$TMP/leaks.txt" | tr '\n' ' ')
expect_eq "leaks shows the four classes, lost first" "$order" \
    "definitely lost: indirectly lost: possibly lost: still reachable: "

# A real server that keeps its data until exit: Debian's redis-server after a load, shut
# down cleanly. Its data is still reachable; nothing is lost.
if command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$ALLOCSCOPE" run -q --sample all --out "$TMP/redis" -- redis-server --port "$port" \
        --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$TMP/redis.log" 2>&1 &
    runner=$!
    for _ in $(seq 1 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    timeout 60 redis-benchmark -p "$port" -q -n 5000 -P 8 -t set,lpush -d 256 >/dev/null 2>&1
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
    wait "$runner"
    got=$("$ALLOCSCOPE" leaks --json "$TMP/redis" | python3 -c '
import json, sys
r = json.load(sys.stdin)["reachability"] or {}
print(r.get("definitely_lost_bytes"), r.get("indirectly_lost_bytes"),
      "reachable" if r.get("still_reachable_bytes", 0) > 1000000 else "little-reachable")')
    expect_eq "redis-server after a load: nothing lost, its data still reachable" "$got" "0 0 reachable"
else
    skip "redis-server's reachability" "redis-server or redis-benchmark is not installed (make deps)"
fi

# Sampled mode has no reachability (it needs every block); the JSON says null.
"$ALLOCSCOPE" run -q --out "$TMP/sampled" -- "$PROGRAM" 2>/dev/null
expect_eq "sampled mode: reachability is null" \
    "$("$ALLOCSCOPE" leaks --json "$TMP/sampled" | python3 -c 'import json,sys; print(json.load(sys.stdin)["reachability"])')" \
    "None"

finish
