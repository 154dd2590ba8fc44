#!/bin/bash
# The report's flame graphs: standalone SVG files per run and kind in charts/, inline in
# index.html with a search box; in headless Chromium the page and a standalone file load
# without console errors, every flame graph's script runs, a link zooms and searches (the
# share matched is the searched function's bytes), and every frame's title holds its bytes.
# A sampled run says its widths are estimates; --no-flames leaves them out. About 20 s.
. "$(dirname "$0")/../helpers/lib.sh"

LEAKER=$TESTBIN/leaker GROWER=$TESTBIN/grower
if [ ! -x "$ALLOCSCOPE" ] || [ ! -x "$LEAKER" ] || [ ! -x "$GROWER" ]; then
    fail "build" "allocscope, leaker or grower missing; run make all tests-build"
    finish
fi

"$ALLOCSCOPE" run --quiet --sample all --out "$TMP/leaker" -- "$LEAKER" 100000 >/dev/null 2>&1
"$ALLOCSCOPE" run --quiet --out "$TMP/grower" -- "$GROWER" 3 262144 >/dev/null 2>&1
"$ALLOCSCOPE" report "$TMP/leaker" "$TMP/grower" -o "$TMP/rep" --no-png >"$TMP/rep.out" 2>&1
expect_eq "report exits 0" "$?" 0
HTML=$TMP/rep/index.html

# ---- files --------------------------------------------------------------------------------
for f in flame-peak-1-leaker flame-exit-1-leaker flame-peak-2-grower flame-growth-2-grower; do
    check "charts/$f.svg written, valid XML" xmllint --noout "$TMP/rep/charts/$f.svg"
done
check "no exit graph for a run that freed everything" \
    bash -c "! ls '$TMP/rep/charts/' | grep -q 'flame-exit-2-grower'"
check_grep "a sampled run's graph says its widths are estimates" 'widths are estimates' \
    "$TMP/rep/charts/flame-growth-2-grower.svg"
check "an exact run's graph does not" bash -c "! grep -q 'widths are estimates' '$TMP/rep/charts/flame-exit-1-leaker.svg'"
check_grep "summary.md links the flame graphs" '\(charts/flame-exit-1-leaker\.svg\)' "$TMP/rep/summary.md"

# ---- the page -------------------------------------------------------------------------------
inline=$(grep -c '<svg xmlns="http://www.w3.org/2000/svg" class="flamegraph"' "$HTML")
expect_eq "the page inlines the 4 flame graphs" "$inline" 4
expect_eq "each with a search box" "$(grep -c '<input type="search" class="fg-search"' "$HTML")" 4
expect_eq "the page has one script, its own" "$(grep -o '<script' "$HTML" | wc -l)" 1
check "nothing fetched (no src/href to a URL)" \
    bash -c "! grep -Eiq '(src|href)=\"?(https?:)?//|<link |<img |@import' '$HTML'"

headless() { # CHROMIUM_ARGS... URL
    local profile
    profile=$(mktemp -d "$TMP/chromium.XXXXXX")
    timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-extensions --user-data-dir="$profile" "$@"
}
console_clean() { # NAME LOG
    if grep -Eiq 'Uncaught|CONSOLE\([0-9]+\)].*(error|refused)|Failed to load resource|net::ERR_' "$2"; then
        fail "$1: no console errors" "$(grep -Ei 'Uncaught|CONSOLE|Failed to load|net::ERR' "$2" | head -3)"
    else
        pass "$1: no console errors"
    fi
}
# dom_check DOM SVG_ID: "FRAMES HIDDEN MATCHED BAD": the flame graph's frames (set by its
# script), those hidden by the zoom, the share matched by the search, and the frames whose
# title lacks their bytes (over every flame graph of the DOM).
dom_check() {
    python3 - "$1" "$2" <<'PY'
import re, sys
dom, wanted = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2]
bad = 0
for v, title in re.findall(r'<g class="fg-f[^"]*"[^>]*data-v="(\d+)"[^>]*><title>(.*?)</title>', dom, re.S):
    bad += ("\n%s bytes" % v) not in title
m = re.search(r'<svg[^>]*id="%s"[^>]*>' % re.escape(wanted), dom)
tag = m.group(0) if m else ""
frames = re.search(r'data-frames="(\d+)"', tag)
matched = re.search(r'data-matched="([0-9.]*)"', tag)
end = dom.find("</svg>", m.end()) if m else -1
hidden = len(re.findall(r'class="fg-f fg-hidden"', dom[m.end():end])) if m else 0
print(frames.group(1) if frames else "none", hidden, matched.group(1) if matched else "none", bad)
PY
}
if command -v chromium >/dev/null 2>&1; then
    # Zoom into the leaker's exit graph at its 'main' box and search one leaking function.
    zoom=$(grep -o 'data-n="[^"]*"' "$TMP/rep/charts/flame-exit-1-leaker.svg" | grep -n '"main"' | head -1 | cut -d: -f1)
    zoom=$((zoom - 1))
    headless --enable-logging=stderr --v=0 --virtual-time-budget=3000 --dump-dom \
        "file://$HTML#fg-0-exit.zoom=$zoom&fg-0-exit.search=leak_with_malloc" >"$TMP/page.dom" 2>"$TMP/page.log"
    console_clean "page" "$TMP/page.log"
    figures=$(grep -c '<figure class="chart"' "$HTML")
    ok=$(grep -o 'data-charts-ok="[0-9]*"' "$TMP/page.dom" | grep -o '[0-9]*')
    expect_eq "page: every figure (charts and flame graphs) laid out with a size" "${ok:-none}" "$figures"
    expect_eq "page: every flame graph's script ran" "$(grep -o 'data-frames="[0-9]*"' "$TMP/page.dom" | wc -l)" 4
    read -r frames hidden matched bad <<<"$(dom_check "$TMP/page.dom" fg-0-exit)"
    expect_eq "page: every frame's title holds its bytes" "$bad" 0
    total=$(grep -o 'data-v="[0-9]*" data-n="all"' "$TMP/rep/charts/flame-exit-1-leaker.svg" | grep -o '[0-9]*')
    want=$(python3 -c "print('%.1f' % (100.0 * 100000 / $total))")
    expect_eq "page: the search matches leak_with_malloc's share of the bytes" "$matched" "$want"
    if [ "$hidden" -gt 0 ] && [ "$hidden" -lt "$frames" ]; then
        pass "page: the zoom hides the frames outside main ($hidden of $frames)"
    else
        fail "page: the zoom" "$hidden of $frames frames hidden"
    fi
    # A standalone file, with its own script.
    headless --enable-logging=stderr --v=0 --virtual-time-budget=3000 --dump-dom \
        "file://$TMP/rep/charts/flame-peak-2-grower.svg#fg.search=grow_buffer" >"$TMP/svg.dom" 2>"$TMP/svg.log"
    console_clean "standalone SVG" "$TMP/svg.log"
    read -r frames hidden matched bad <<<"$(dom_check "$TMP/svg.dom" fg)"
    expect_eq "standalone SVG: its script ran, no frame lacks its bytes, the search matched all" \
        "$([ "$frames" != none ] && echo ran) $bad $matched" "ran 0 100.0"
else
    skip "headless Chromium checks" "chromium is not installed (tools/install-deps installs it)"
fi

# ---- --no-flames ----------------------------------------------------------------------------
"$ALLOCSCOPE" report "$TMP/leaker" -o "$TMP/rep" --no-png --no-flames >/dev/null 2>&1
expect_eq "--no-flames: no flame graph files left (the old ones removed)" \
    "$(find "$TMP/rep/charts" -name 'flame-*' | wc -l)" 0
check_grep "--no-flames: the page says they were left out" 'made with <code>--no-flames</code>' \
    "$TMP/rep/index.html"

finish
