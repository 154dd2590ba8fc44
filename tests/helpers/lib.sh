# Shared helpers for shell tests. Source it, call check/skip, end with finish.
# Each check prints "ok - NAME" or "not ok - NAME: detail"; finish prints the
# "# counts:" line tests/run-tests reads, and exits non-zero on any failure.
ROOT=${ALLOCSCOPE_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${ALLOCSCOPE_BUILD:-$ROOT/build}
ALLOCSCOPE=$BUILD/bin/allocscope
SHIM=$BUILD/lib/liballocscope.so
TESTBIN=$BUILD/tests
T_PASSED=0 T_FAILED=0 T_SKIPPED=0
TMP=$(mktemp -d /tmp/allocscope-test.XXXXXX)
PUBLIC=
trap 'rm -rf "$TMP" ${PUBLIC:+"$PUBLIC"}' EXIT

pass() { echo "ok - $1"; T_PASSED=$((T_PASSED + 1)); }
fail() { echo "not ok - $1${2:+: $2}"; T_FAILED=$((T_FAILED + 1)); }
skip() { echo "SKIP - $1: $2"; T_SKIPPED=$((T_SKIPPED + 1)); }

# check NAME CMD...: passes when CMD exits 0.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

# check_grep NAME ERE FILE: passes when a line of FILE matches.
check_grep() {
    if grep -Eq "$2" "$3"; then pass "$1"; else fail "$1" "no line matching '$2' in $3"; fi
}

# expect_eq NAME ACTUAL EXPECTED
expect_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi
}

# public_copy: a fresh 0755 directory holding copies of allocscope, its probe tools (bin/) and
# the shim (lib/), laid out as the build is, for commands run as another user: the checkout may
# sit under a 0700 directory (/root, mktemp -d) that user cannot enter. Sets PUBLIC; its out/
# is writable by anyone. Whoever sets the EXIT trap removes "$PUBLIC" with "$TMP".
public_copy() {
    local f
    PUBLIC=$(mktemp -d /tmp/allocscope-public.XXXXXX) || return 1
    chmod 755 "$PUBLIC"
    mkdir -p "$PUBLIC/bin" "$PUBLIC/lib" "$PUBLIC/out"
    chmod 755 "$PUBLIC/bin" "$PUBLIC/lib"
    chmod 1777 "$PUBLIC/out"
    for f in allocscope allocscope-kevents allocscope-allocuprobe; do
        [ -e "$BUILD/bin/$f" ] && install -m 755 "$BUILD/bin/$f" "$PUBLIC/bin/"
    done
    [ -e "$SHIM" ] && install -m 755 "$SHIM" "$PUBLIC/lib/"
    return 0
}

# allocator_lib NAME: path of the allocator's library, empty for glibc.
allocator_lib() {
    case $1 in
    glibc) echo "" ;;
    jemalloc) echo /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ;;
    mimalloc) echo /usr/lib/x86_64-linux-gnu/libmimalloc.so.2 ;;
    tcmalloc) echo /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ;;
    esac
}
ALLOCATORS="glibc jemalloc mimalloc tcmalloc"

finish() {
    echo "# counts: $T_PASSED passed, $T_FAILED failed, $T_SKIPPED skipped"
    [ "$T_FAILED" -eq 0 ]
    exit
}
