#!/bin/bash
# The dependency rule of the layout (README, "Layout"): cli -> {harness, reports, allocators}
# -> common; harness and reports never include each other; allocators include only common;
# probes/ include nothing from the others but common/columns.h (the column names of the
# files they write), which stays header-only: macros, no code, no include; workloads/ and
# bench/ include nothing from the others. Headers of the core are included with their folder
# ("common/csv.h"), so every include names where it lives.
. "$(dirname "$0")/../helpers/lib.sh"

# allowed FOLDER: the folders FOLDER may include from.
allowed() {
    case $1 in
    cli) echo "cli common harness reports allocators" ;;
    harness) echo "harness common" ;;
    reports) echo "reports common" ;;
    allocators) echo "allocators common" ;;
    common) echo "common" ;;
    *) echo "" ;; # probes, workloads, bench: none of the core's folders
    esac
}
# The one header of the core that probes/ may include.
PROBES_MAY_INCLUDE=common/columns.h
CORE="cli common harness reports allocators"

# violations TREE: one line per include that breaks the rule.
violations() {
    local tree=$1 folder file line target
    for folder in cli common harness reports allocators probes workloads bench; do
        [ -d "$tree/$folder" ] || continue
        while IFS=: read -r file line; do
            target=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/' <<<"$line")
            case $target in
            */*)
                local top=${target%%/*}
                if [ "$folder" = probes ] && [ "$target" = "$PROBES_MAY_INCLUDE" ]; then
                    :
                elif [[ " $CORE " == *" $top "* ]] && [[ " $(allowed "$folder") " != *" $top "* ]]; then
                    echo "${file#"$tree"/}: $folder/ includes $target"
                fi
                ;;
            *)
                if [[ " $CORE " == *" $folder "* ]]; then
                    echo "${file#"$tree"/}: includes \"$target\" without its folder"
                fi
                ;;
            esac
        done < <(grep -rHE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$tree/$folder" \
            --include='*.c' --include='*.h' --include='*.cc' | sed -E 's/^([^:]+):(.*)$/\1:\2/')
    done
}

# not_header_only TREE: lines of common/columns.h other than comments, #ifndef/#define/#endif
# and the continuation lines of a #define (a function, a variable or an #include would make
# the probes depend on more of the core).
not_header_only() {
    local header=$1/$PROBES_MAY_INCLUDE
    [ -f "$header" ] || return 0
    [ -f "${header%.h}.c" ] && echo "$PROBES_MAY_INCLUDE: has a .c file"
    awk -v name="$PROBES_MAY_INCLUDE" '
    {
        line = $0
        while (1) { # comments out, even across lines
            if (in_comment) {
                e = index(line, "*/")
                if (!e) { line = ""; break }
                line = substr(line, e + 2); in_comment = 0
            }
            s = index(line, "/*")
            if (!s) break
            rest = substr(line, s + 2); e = index(rest, "*/")
            if (e) line = substr(line, 1, s - 1) substr(rest, e + 2)
            else { line = substr(line, 1, s - 1); in_comment = 1; break }
        }
        if (!continued && line !~ /^[ \t]*$/ && line !~ /^[ \t]*#[ \t]*(ifndef|define|endif)([ \t]|$)/)
            print name ":" NR ": " $0
        continued = line ~ /\\[ \t]*$/
    }' "$header"
}

found=$(violations "$ROOT")
expect_eq "every include follows the dependency rule" "$found" ""
expect_eq "common/columns.h is macros only" "$(not_header_only "$ROOT")" ""

# The check itself catches a breach: a copy of the tree where reports/ includes harness/,
# and the probes include more of common/ than columns.h, which has grown code.
mkdir -p "$TMP/tree/reports" "$TMP/tree/harness" "$TMP/tree/common" "$TMP/tree/probes/shim"
printf '#include "harness/runner.h"\n' >"$TMP/tree/reports/bad.c"
printf '#include "csv.h"\n' >"$TMP/tree/common/bare.c"
printf '#include "common/csv.h"\n' >"$TMP/tree/harness/good.c"
printf '#include "common/columns.h"\n#include "common/util.h"\n' >"$TMP/tree/probes/shim/w.c"
printf '%s\n' '/* names */' '#ifndef C_H' '#define C_H' '#define A_HEADER \' '    "a," \' \
    '    "b"' '#include "common/util.h"' 'static int n; /* code */' '#endif' \
    >"$TMP/tree/common/columns.h"
planted=$(violations "$TMP/tree" | sort)
expect_eq "a planted breach is found" "$planted" \
    "$(printf '%s\n%s\n%s' 'common/bare.c: includes "csv.h" without its folder' \
        'probes/shim/w.c: probes/ includes common/util.h' \
        'reports/bad.c: reports/ includes harness/runner.h')"
expect_eq "a planted columns.h with an include and code is found" \
    "$(not_header_only "$TMP/tree")" \
    "$(printf '%s\n%s' 'common/columns.h:7: #include "common/util.h"' \
        'common/columns.h:8: static int n; /* code */')"

# The unit tests link the core library instead of naming sources of their own.
if grep -qE '^TEST_SRCS_' "$ROOT"/tests/tests.mk "$ROOT"/*/*.mk "$ROOT"/probes/*/*.mk 2>/dev/null; then
    fail "no per-test source lists" "$(grep -lE '^TEST_SRCS_' "$ROOT"/*/*.mk "$ROOT"/probes/*/*.mk)"
else
    pass "no per-test source lists"
fi

finish
