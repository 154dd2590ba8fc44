#!/bin/bash
# The sampler's smaps_rollup reads are held to a share of one core (ALLOCSCOPE_SMAPS_CPU_PERCENT,
# default 2): a read walks every page table of the process, and a large service read every
# 100 ms would give the sampler a good part of a core. Rows between reads take rss and anon
# from /proc/self/statm and the last read's pss and lazyfree; the first row, the rows around
# a reclaim and the row at exit always read smaps_rollup. tests/helpers/grower touches ~1 MiB
# every 50 ms for 1.5 s:
#   - percent 0 (reads only where a row must be exact): rss rises row by row, pss stays at
#     the first row's value until the row at exit, which reads it again; shim.txt says 0;
#   - the default: a small process reads it every row (pss changes with rss), shim.txt says 2.
. "$(dirname "$0")/../helpers/lib.sh"

GROWER=$TESTBIN/grower
if [ ! -x "$GROWER" ] || [ ! -f "$SHIM" ]; then
    skip "smaps budget" "the shim or $GROWER is not built (make tests-build)"
    finish
fi

# rows DIR: "RISE_MIB DISTINCT_PSS_BEFORE_EXIT EXIT_PSS_IS_NEW" from samples.csv
rows() {
    python3 - "$1/samples.csv" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if not r["reclaim"]]
body, last = rows[:-1], rows[-1]
rss = [int(r["rss_bytes"]) for r in body]
pss = {r["pss_bytes"] for r in body}
print((max(rss) - rss[0]) >> 20, len(pss), last["pss_bytes"] not in pss)
PY
}

dir=$TMP/budget-0
ALLOCSCOPE_SMAPS_CPU_PERCENT=0 "$ALLOCSCOPE" run -q --out "$dir" -- "$GROWER" 1.5 1048576
read -r rise distinct fresh_exit <<<"$(rows "$dir")"
if [ "${rise:-0}" -ge 16 ] && [ "$distinct" = 1 ] && [ "$fresh_exit" = True ]; then
    pass "percent 0: rss from statm rose ${rise} MiB, pss held until the row at exit"
else
    fail "percent 0: rss rises, pss held, exit row read again" \
        "rise ${rise:-?} MiB, distinct pss ${distinct:-?}, exit read again ${fresh_exit:-?}"
fi
expect_eq "shim.txt names the share" "$(grep '^smaps_cpu_percent=' "$dir/shim.txt")" \
    "smaps_cpu_percent=0"

dir=$TMP/budget-default
"$ALLOCSCOPE" run -q --out "$dir" -- "$GROWER" 1.5 1048576
read -r rise distinct fresh_exit <<<"$(rows "$dir")"
if [ "${rise:-0}" -ge 16 ] && [ "${distinct:-0}" -ge 5 ]; then
    pass "default: a small process reads smaps_rollup every row ($distinct pss values)"
else
    fail "default: smaps_rollup every row" "rise ${rise:-?} MiB, distinct pss ${distinct:-?}"
fi
expect_eq "shim.txt names the default share" \
    "$(grep '^smaps_cpu_percent=' "$dir/shim.txt")" "smaps_cpu_percent=2"
finish
