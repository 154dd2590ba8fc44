# Shared helpers for shell tests. Source it, call check/skip, end with finish.
# Each check prints "ok - NAME" or "not ok - NAME: detail"; finish prints the
# "# counts:" line tests/run-tests reads, and exits non-zero on any failure.
ROOT=${ALLOCSCOPE_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${ALLOCSCOPE_BUILD:-$ROOT/build}
ALLOCSCOPE=$BUILD/bin/allocscope
SHIM=$BUILD/lib/liballocscope.so
# allocscope built with ASan/UBSan (make tests-build); a script runs it with use_sanitized.
ALLOCSCOPE_SAN=$BUILD/bin-san/allocscope
# The exit status of a command the sanitizers stopped (LeakSanitizer's own 23 is taken by
# allocscope run --fail-on-leak).
SAN_EXIT=86
SAN_LOGS=
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

# use_sanitized: from here on $ALLOCSCOPE is the ASan/UBSan build (build/bin-san/allocscope,
# beside build/bin: it finds the shim, the registry and the probe tools as the plain one does).
# Any report (a leak at exit, a bad access, undefined behaviour) stops that command with exit
# $SAN_EXIT and is written to $SAN_LOGS, not to stderr: a test that expects a failure or
# throws stderr away cannot take it for its own, and finish fails the script with every report
# in the log. The targets allocscope starts are not sanitized and ignore these options (ASan
# is linked in, not preloaded: their LD_PRELOAD is the shim's alone). The logs are in $TMP: a
# command run as another user (LeakSanitizer works as nobody here) or in a mount namespace
# hiding /tmp cannot write there; on a report it says "Can't open file" on stderr and exits
# $SAN_EXIT, the report itself lost.
use_sanitized() {
    if [ ! -x "$ALLOCSCOPE_SAN" ]; then
        fail "sanitized allocscope" "$ALLOCSCOPE_SAN is not built (make tests-build)"
        finish
    fi
    SAN_LOGS=$TMP/sanitizer
    mkdir -p "$SAN_LOGS"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=$SAN_EXIT:log_path=$SAN_LOGS/report:log_exe_name=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=$SAN_EXIT:log_path=$SAN_LOGS/report:log_exe_name=1"
    ALLOCSCOPE=$ALLOCSCOPE_SAN
}

# san_reports: fails the script once per sanitizer report written so far, the report in the log.
san_reports() {
    local f
    [ -n "$SAN_LOGS" ] || return 0
    for f in "$SAN_LOGS"/report.*; do
        [ -f "$f" ] || continue
        fail "sanitizer report ${f##*/}" "allocscope under ASan/UBSan, exit $SAN_EXIT:"
        sed 's/^/#   /' "$f"
        mv -f "$f" "$SAN_LOGS/seen.${f##*/}"
    done
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
    san_reports
    echo "# counts: $T_PASSED passed, $T_FAILED failed, $T_SKIPPED skipped"
    [ "$T_FAILED" -eq 0 ]
    exit
}
