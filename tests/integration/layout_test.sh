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

# One policy for out of memory (common/util.h): the core allocates through xmalloc, xcalloc,
# xrealloc, xreallocarray, xstrdup, xstrndup and util_format, which exit with "allocscope: out
# of memory". A raw call is allowed in common/util.c, which implements them, and on a line that
# says why it handles the failure itself: /* raw alloc: REASON */ (or // raw alloc: REASON).
# Comments and string and character literals do not count (a message may name malloc()).
# probes/ (the shim must never exit) and workloads/ are not the core.
RAW_ALLOC='(^|[^A-Za-z0-9_])(malloc|calloc|realloc|reallocarray|strdup|strndup|v?asprintf|aligned_alloc|posix_memalign|memalign|valloc|pvalloc)[[:space:]]*[(]'
# raw_allocations TREE: FILE:LINE: TEXT of each raw allocation call outside the policy.
raw_allocations() {
    local tree=$1 folder
    for folder in $CORE; do
        [ -d "$tree/$folder" ] || continue
        find "$tree/$folder" -type f \( -name '*.c' -o -name '*.h' \) ! -path "$tree/common/util.c" \
            -print0 | sort -z | xargs -0 -r awk -v tree="$tree/" -v re="$RAW_ALLOC" '
            FNR == 1 { in_comment = 0 }
            {
                line = $0
                code = ""
                while (line != "") { # code only: comments and literals out, even across lines
                    if (in_comment) {
                        e = index(line, "*/")
                        if (!e) { line = ""; break }
                        line = substr(line, e + 2); in_comment = 0; continue
                    }
                    if (match(line, /\/\*|\/\/|"|\047/)) {
                        code = code substr(line, 1, RSTART - 1)
                        tok = substr(line, RSTART, RLENGTH)
                        line = substr(line, RSTART + RLENGTH)
                        if (tok == "//") { line = ""; break }
                        if (tok == "/*") { in_comment = 1; continue }
                        # a literal: skip to its unescaped closing quote
                        while (line != "" && substr(line, 1, 1) != tok)
                            line = substr(line, substr(line, 1, 1) == "\\" ? 3 : 2)
                        line = substr(line, 2)
                        code = code " "
                        continue
                    }
                    code = code line; line = ""
                }
                if (code ~ re && $0 !~ /\/[*\/][ \t]*raw alloc:[ \t]*[^ \t*]/)
                    print substr(FILENAME, length(tree) + 1) ":" FNR ": " $0
            }'
    done
}
expect_eq "no raw allocation call outside common/util.c and /* raw alloc: REASON */ lines" \
    "$(raw_allocations "$ROOT")" ""

# The check itself catches a raw call: planted ones are found; x-calls, comments, strings,
# common/util.c, a marked line and probes/ are not.
mkdir -p "$TMP/alloc/reports" "$TMP/alloc/cli" "$TMP/alloc/common" "$TMP/alloc/harness" \
    "$TMP/alloc/allocators" "$TMP/alloc/probes/shim"
printf '%s\n' 'char *a = xstrdup(s), *b = strdup(s);' >"$TMP/alloc/reports/bad.c"
printf '%s\n' 'p = realloc (p, n);' >"$TMP/alloc/cli/bad.c"
printf '%s\n' 'static inline char *d(const char *s) { return strndup(s, 4); }' \
    >"$TMP/alloc/allocators/bad.h"
printf '%s\n' '    if (vasprintf(&s, fmt, ap) < 0)' >"$TMP/alloc/common/bad.c"
printf '%s\n' 'p = malloc(n); /* raw alloc: */' >"$TMP/alloc/harness/empty_reason.c"
printf '%s\n' 'p = xmalloc(n); q = xcalloc(1, n); r = xreallocarray(r, n, 8); json_malloc_t f;' \
    '/* strdup() would do,' '   malloc( too */ s = xstrdup(t); // calloc(' \
    'util_error("malloc(%zu) failed", n); c = '"'\\''"'; d = "\"calloc("; e = util_format("%s", s);' \
    'p = malloc(n); /* raw alloc: a size read from the file, said with its name */' \
    'q = strdup(s); // raw alloc: a test of the other comment form' \
    >"$TMP/alloc/harness/good.c"
printf '%s\n' 'void *xmalloc(size_t n) { void *p = malloc(n); }' >"$TMP/alloc/common/util.c"
printf '%s\n' 'void *p = malloc(n);' >"$TMP/alloc/probes/shim/hook.c"
expect_eq "planted raw allocation calls are found" "$(raw_allocations "$TMP/alloc" | sort)" \
    "$(printf '%s\n' 'allocators/bad.h:1: static inline char *d(const char *s) { return strndup(s, 4); }' \
        'cli/bad.c:1: p = realloc (p, n);' 'common/bad.c:1:     if (vasprintf(&s, fmt, ap) < 0)' \
        'harness/empty_reason.c:1: p = malloc(n); /* raw alloc: */' \
        'reports/bad.c:1: char *a = xstrdup(s), *b = strdup(s);')"

# The unit tests link the core library instead of naming sources of their own.
if grep -qE '^TEST_SRCS_' "$ROOT"/tests/tests.mk "$ROOT"/*/*.mk "$ROOT"/probes/*/*.mk 2>/dev/null; then
    fail "no per-test source lists" "$(grep -lE '^TEST_SRCS_' "$ROOT"/*/*.mk "$ROOT"/probes/*/*.mk)"
else
    pass "no per-test source lists"
fi

finish
