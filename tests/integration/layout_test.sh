#!/bin/bash
# The dependency rule of the layout (README, "Layout"): cli -> {harness, reports, allocators}
# -> common; harness and reports never include each other; allocators include only common;
# probes/, workloads/ and bench/ include nothing from the others. Headers of the core are
# included with their folder ("common/csv.h"), so every include names where it lives.
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
                if [[ " $CORE " == *" $top "* ]] && [[ " $(allowed "$folder") " != *" $top "* ]]; then
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

found=$(violations "$ROOT")
expect_eq "every include follows the dependency rule" "$found" ""

# The check itself catches a breach: a copy of the tree where reports/ includes harness/.
mkdir -p "$TMP/tree/reports" "$TMP/tree/harness" "$TMP/tree/common"
printf '#include "harness/runner.h"\n' >"$TMP/tree/reports/bad.c"
printf '#include "csv.h"\n' >"$TMP/tree/common/bare.c"
printf '#include "common/csv.h"\n' >"$TMP/tree/harness/good.c"
planted=$(violations "$TMP/tree" | sort)
expect_eq "a planted breach is found" "$planted" \
    "$(printf '%s\n%s' 'common/bare.c: includes "csv.h" without its folder' \
        'reports/bad.c: reports/ includes harness/runner.h')"

# The unit tests link the core library instead of naming sources of their own.
if grep -qE '^TEST_SRCS_' "$ROOT"/tests/tests.mk "$ROOT"/*/*.mk "$ROOT"/probes/*/*.mk 2>/dev/null; then
    fail "no per-test source lists" "$(grep -lE '^TEST_SRCS_' "$ROOT"/*/*.mk "$ROOT"/probes/*/*.mk)"
else
    pass "no per-test source lists"
fi

finish
