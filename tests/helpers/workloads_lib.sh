# shellcheck shell=bash disable=SC2034
# Helpers for the workloads_*_test.sh scripts (sourced after tests/helpers/lib.sh): start servers
# on free ports, wait for them, query them, and kill everything started on exit.
WL_BIN=$BUILD/bin
WL_PIDS=()
trap 'wl_kill_all; rm -rf "$TMP"' EXIT

wl_kill_all() {
    local pid
    for pid in "${WL_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${WL_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    WL_PIDS=()
}

# wl_start NAME CMD...: start CMD in the background (stdout/stderr to $TMP/NAME.out/.err),
# wait until it prints "listening on 127.0.0.1:PORT", and set WL_PID and WL_PORT.
# Pass --port 0 in CMD so the kernel picks a free port.
wl_start() {
    local name=$1 i line
    shift
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    WL_PID=$!
    WL_PIDS+=("$WL_PID")
    WL_PORT=
    for i in $(seq 1 100); do
        line=$(grep -m1 -o 'listening on 127.0.0.1:[0-9]*' "$TMP/$name.out" 2>/dev/null)
        if [ -n "$line" ]; then
            WL_PORT=${line##*:}
            return 0
        fi
        wl_alive "$WL_PID" || break
        sleep 0.05
    done
    echo "# $name did not start: $(head -c 300 "$TMP/$name.err")"
    return 1
}

# wl_alive PID: the process exists and is not a zombie.
wl_alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}

# wl_stop PID: SIGTERM and wait (not in a subshell: only the parent can wait); sets WL_RC
# to the exit status, 124 when the process did not end within 10 s (then SIGKILL).
wl_stop() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 200); do
        wl_alive "$pid" || break
        sleep 0.05
    done
    if wl_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        WL_RC=124
        return
    fi
    wait "$pid" 2>/dev/null
    WL_RC=$?
}

# wl_http_code PORT PATH [curl args...]: the status code of one request ("000" when none).
wl_http_code() {
    local port=$1 path=$2
    shift 2
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "http://127.0.0.1:$port$path"
}

# wl_rss_kb PID: VmRSS in kB (0 when the process is gone).
wl_rss_kb() {
    awk '/^VmRSS:/ {print $2; found=1} END {if (!found) print 0}' "/proc/$1/status" 2>/dev/null ||
        echo 0
}

# wl_live_bytes DIR: live_bytes of the last complete row of the shim's samples.csv.
wl_live_bytes() {
    awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "live_bytes") c = i; next}
             NF > 5 && c {v = $c} END {print v + 0}' "$1/samples.csv" 2>/dev/null
}

# wl_live_bytes_fresh DIR: live_bytes of a samples.csv row taken after this call began: waits
# (up to 60 s, on a busy machine the shim's writer may be late) for two more complete rows,
# the second of which was sampled after the first was written. Empty when none came.
wl_live_bytes_fresh() {
    local rows want i
    rows=$(awk -F, 'NR > 1 && NF > 5' "$1/samples.csv" 2>/dev/null | wc -l)
    want=$((rows + 2))
    for i in $(seq 1 1200); do
        rows=$(awk -F, 'NR > 1 && NF > 5' "$1/samples.csv" 2>/dev/null | wc -l)
        if [ "$rows" -ge "$want" ]; then
            wl_live_bytes "$1"
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# wl_wait_until SECONDS CMD...: runs CMD every 0.1 s until it succeeds or SECONDS have
# passed; for behaviour that takes time (memory given back, streams released), bounded
# generously so that a busy machine is not a failure. Returns CMD's last status.
wl_wait_until() {
    local limit=$1 end
    shift
    end=$(($(date +%s) + limit))
    while :; do
        "$@" && return 0
        [ "$(date +%s)" -ge "$end" ] && break
        sleep 0.1
    done
    "$@"
}

# wl_json_get FILE KEY: a top-level number or string of a JSON object (python3).
wl_json_get() {
    python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); k=sys.argv[2].split(".")
for p in k: v=v[p]
print(v)' "$1" "$2" 2>/dev/null
}

# wl_have_shim: the recording shim is built.
wl_have_shim() {
    [ -f "$SHIM" ]
}

# wl_attribution LABEL DIR VARIANT FUNCTION: with allocscope and a live-heap recording in
# DIR, a leaky variant's fastest growing site names FUNCTION, and a fixed variant leaves
# under 1 MB unfreed at exit. Skips when MEASURE is not "live" or allocscope is not built.
wl_attribution() {
    local label=$1 dir=$2 variant=$3 func=$4
    if [ "$MEASURE" != live ] || [ ! -x "$ALLOCSCOPE" ]; then
        skip "$label $variant attribution" "needs the shim and build/bin/allocscope"
        return
    fi
    if ! "$ALLOCSCOPE" leaks --json "$dir" >"$dir.leaks.json" 2>"$dir.leaks.err"; then
        fail "$label $variant attribution" "allocscope leaks failed: $(head -c 200 "$dir.leaks.err")"
        return
    fi
    local verdict
    verdict=$(python3 - "$dir.leaks.json" "$variant" "$func" <<'PY'
import json, sys
report, variant, func = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
if variant == "fixed":
    total = report["total_bytes"]
    print("ok" if total < 1 << 20 else "unfreed at exit: %d bytes" % total)
    sys.exit()
fastest = max(report["sites"], key=lambda s: s["growth_bytes_per_s"], default=None)
names = [f["function"] for f in fastest["frames"]] if fastest else []
print("ok" if func in names else "fastest growing site is %s" % names[:4])
PY
)
    if [ "$verdict" = ok ]; then
        pass "$label $variant attribution${func:+ ($func)}"
    else
        fail "$label $variant attribution" "$verdict"
    fi
}
