#!/bin/bash
# Names as their authors wrote them: C++ and Rust frames demangled (Rust's hash dropped, the
# mangled name kept in the JSON), and functions the compiler inlined shown as frames of their
# own, so the function that asked for the memory is named even when its allocation was
# inlined from the standard library.
. "$(dirname "$0")/../helpers/lib.sh"

line_of() { grep -n "$1" "$2" | head -1 | cut -d: -f1; }

# ---- C++ ----
CXX_SRC=$ROOT/tests/helpers/cxx_registry.cc
dir=$TMP/cxx
"$ALLOCSCOPE" run -q --sample all --out "$dir" -- "$TESTBIN/cxx_registry" >/dev/null 2>&1
"$ALLOCSCOPE" leaks --json "$dir" >"$dir.json"
verdict=$(python3 - "$dir.json" "$(line_of LINE_NEW_ENTRY "$CXX_SRC")" \
    "$(line_of LINE_RESERVE "$CXX_SRC")" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
line_new, line_reserve = int(sys.argv[2]), int(sys.argv[3])
problems = []
sites = {(s["bytes"], s["blocks"]): s["frames"] for s in report["sites"]}
entry = sites.get((7000, 10))
if not entry:
    problems.append("no site with the 10 entries (7000 bytes)")
else:
    f = entry[0]
    want = ("srv::Registry::add(int)", "_ZN3srv8Registry3addEi", line_new, False)
    got = (f["function"], f["mangled"], f["line"], f["inlined"])
    if got != want:
        problems.append("entries: first frame %s, want %s" % (got, want))
ids = sites.get((4000, 1))
if not ids:
    problems.append("no site with the reserved vector (4000 bytes)")
else:
    first = ids[0]
    if not (first["inlined"] and first["function"].startswith("std::__new_allocator<int>::allocate")):
        problems.append("reserve: first frame %s inlined=%s" % (first["function"], first["inlined"]))
    outer = [f for f in ids if not f["inlined"]][0]
    if (outer["function"], outer["line"]) != ("srv::Registry::add(int)", line_reserve):
        problems.append("reserve: enclosing frame %s:%s, want srv::Registry::add(int):%d"
                        % (outer["function"], outer["line"], line_reserve))
    if first["address"] != outer["address"]:
        problems.append("inlined and enclosing frames have different addresses")
print("; ".join(problems) if problems else "ok")
PY
)
expect_eq "C++: demangled names, mangled kept, inlined frames of their own" "$verdict" "ok"
"$ALLOCSCOPE" leaks "$dir" >"$dir.txt"
check_grep "C++: leaks names the function that reserved, not the allocator's header" \
    "^ +4000 +1 .* srv::Registry::add\(int\) \(cxx_registry.cc:$(line_of LINE_RESERVE "$CXX_SRC")\)" \
    "$dir.txt"

# ---- Rust ----
# check_rust NAME RUSTC_FLAGS...: builds leak.rs, runs it exactly, checks the known sites.
check_rust() {
    local name=$1 bin=$TMP/leak-$1
    shift
    if ! rustc -O -g -C force-frame-pointers=yes "$@" -o "$bin" "$ROOT/tests/helpers/runtimes/leak.rs" \
        2>"$bin.err"; then
        if [ $# -gt 0 ]; then
            skip "Rust $name names" "this rustc does not take $* ($(head -1 "$bin.err"))"
        else
            fail "Rust $name: rustc builds leak.rs" "$(head -2 "$bin.err")"
        fi
        return
    fi
    "$ALLOCSCOPE" run -q --sample all --out "$TMP/run-$name" -- "$bin" >/dev/null 2>"$bin.expected"
    "$ALLOCSCOPE" leaks --json "$TMP/run-$name" >"$bin.json"
    verdict=$(python3 - "$bin.json" "$bin.expected" <<'PY'
import json, re, sys
report = json.load(open(sys.argv[1]))
problems = []
for line in open(sys.argv[2]):
    fn, nbytes, blocks = line.split()
    want, each = fn, int(nbytes) // int(blocks)
    # The sites at the function whose blocks have the table's size (grow_registry's map
    # also leaves its last table there).
    found = [s for s in report["sites"] if any(f["function"] == want for f in s["frames"])
             and s["bytes"] == s["blocks"] * each]
    got = [(s["bytes"], s["blocks"]) for s in found]
    if got != [(int(nbytes), int(blocks))]:
        problems.append("%s: %s, want [(%s, %s)]" % (want, got, nbytes, blocks))
hashed = [f["function"] for s in report["sites"] for f in s["frames"]
          if re.search(r"::h[0-9a-f]{16}$", f["function"]) or f["function"].startswith(("_ZN", "_R"))]
if hashed:
    problems.append("names left mangled or hashed: %s" % hashed[:3])
print("; ".join(problems) if problems else "ok")
PY
)
    expect_eq "Rust $name: leak::leak_boxes, leak::forget_vectors and leak::grow_registry with their exact bytes" \
        "$verdict" "ok"
}

if command -v rustc >/dev/null 2>&1; then
    check_rust default
    check_rust v0 -C symbol-mangling-version=v0
else
    skip "Rust names" "rustc is not installed"
fi

finish
