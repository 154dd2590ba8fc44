#!/bin/bash
# loadgen: its JSON report, its bounds (request count, duration, hard cap with stalled
# readers), its request forms (POST payloads, no keep-alive, chunked responses), bad options
# and an unreachable target; and a cross-check of api-burst with wrk.
source "$(dirname "$0")/../helpers/lib.sh"
source "$(dirname "$0")/../helpers/workloads_lib.sh"

LOADGEN=$WL_BIN/loadgen

# check_report FILE REQUESTS: the JSON has every field with the right type and sane values;
# REQUESTS (optional) is the exact request count expected.
check_report() {
    python3 - "$@" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
want = sys.argv[2] if len(sys.argv) > 2 else ""
keys = {"tool": str, "scenario": str, "target": str, "connections": int, "duration_s": float,
        "requests": int, "errors": int, "bytes": int, "rps": float, "bytes_per_s": float,
        "latency_ms": dict}
problems = [k for k, t in keys.items() if not isinstance(r.get(k), t) and
            not (t is float and isinstance(r.get(k), int))]
lat = r.get("latency_ms", {})
problems += [k for k in ("p50", "p90", "p99", "max") if not isinstance(lat.get(k), (int, float))]
if not problems:
    if r["tool"] != "loadgen": problems.append("tool")
    if not (0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]): problems.append("order")
    if r["requests"] <= 0 or r["bytes"] <= 0 or r["rps"] <= 0: problems.append("counts")
    if abs(r["rps"] - r["requests"] / r["duration_s"]) > 0.01 * r["rps"] + 1: problems.append("rps")
    if want and r["requests"] + r["errors"] != int(want): problems.append("requests")
print(" ".join(problems) if problems else "ok")
EOF
}

wl_start api "$WL_BIN/wl-api-burst" --port 0 --threads 2 --objects 50 --delay-ms 1 ||
    fail "api-burst starts"
API_PORT=$WL_PORT API_PID=$WL_PID

# The report of a request-bounded run.
"$LOADGEN" --target "127.0.0.1:$API_PORT" -c 16 -n 2000 -p /api/items --scenario api-burst \
    --json "$TMP/n.json" >"$TMP/n.out"
expect_eq "loadgen -n 2000 exits 0" "$?" 0
expect_eq "loadgen JSON is complete and consistent" "$(check_report "$TMP/n.json" 2000)" ok
expect_eq "loadgen JSON counts 2000 requests" "$(wl_json_get "$TMP/n.json" requests)" 2000
expect_eq "loadgen JSON names the scenario" "$(wl_json_get "$TMP/n.json" scenario)" api-burst
expect_eq "loadgen JSON names the target" "$(wl_json_get "$TMP/n.json" target)" \
    "127.0.0.1:$API_PORT"
expect_eq "loadgen JSON counts connections" "$(wl_json_get "$TMP/n.json" connections)" 16
check "loadgen prints one summary line" test "$(wc -l <"$TMP/n.out")" -eq 1
check "loadgen leaves no temp file" test ! -e "$TMP/n.json.tmp"

# A duration-bounded run stops by itself after the duration (the timeout is only the
# generous bound of "by itself"; a busy machine makes the run longer, never shorter).
timeout 20 "$LOADGEN" --target "127.0.0.1:$API_PORT" -c 8 -d 1 -p /api/users -q \
    --json "$TMP/d.json"
expect_eq "loadgen -d 1 stops by itself" "$?" 0
check "loadgen -d 1 ran for >= 1 s" python3 -c \
    "import json; d=json.load(open('$TMP/d.json'))['duration_s']; exit(not 0.95 <= d)"

# POST with payloads of varied sizes, several paths, a rate.
"$LOADGEN" --target "127.0.0.1:$API_PORT" -c 4 -n 300 -p POST:/api/orders -p "GET /api/items" \
    --payload 100-20000 -q --json "$TMP/post.json"
expect_eq "loadgen POST payloads: no errors" "$(wl_json_get "$TMP/post.json" errors)" 0
expect_eq "loadgen POST payloads: all answered" "$(wl_json_get "$TMP/post.json" requests)" 300
"$LOADGEN" --target "127.0.0.1:$API_PORT" -c 4 -n 200 -p /health --no-keepalive -q \
    --json "$TMP/close.json"
expect_eq "loadgen --no-keepalive: all answered" "$(wl_json_get "$TMP/close.json" requests)" 200
"$LOADGEN" --target "127.0.0.1:$API_PORT" -c 4 -n 100 -p /nope -q --json "$TMP/404.json"
expect_eq "loadgen counts 404 answers as errors" "$(wl_json_get "$TMP/404.json" errors)" 100

# Chunked (streamed) responses are read to their end.
wl_start origin "$WL_BIN/wl-stream-origin" --port 0 || fail "origin starts"
ORIGIN_PORT=$WL_PORT
"$LOADGEN" --target "127.0.0.1:$ORIGIN_PORT" -c 4 -n 200 -p "/media/a?size=100000&chunk=7000" \
    -q --json "$TMP/chunked.json"
expect_eq "loadgen reads chunked responses" "$(wl_json_get "$TMP/chunked.json" requests)" 200
check "loadgen counts the streamed bytes" python3 -c \
    "import json; exit(json.load(open('$TMP/chunked.json'))['bytes'] < 200 * 100000)"

# Stalled readers on an endless stream: the duration and the hard cap still end the run.
timeout 30 "$LOADGEN" --target "127.0.0.1:$ORIGIN_PORT" -c 4 -d 1 --stalled-share 1 \
    -p "/media/a?size=10000000000" -q --json "$TMP/stalled.json"
expect_eq "loadgen with stalled readers stops after --duration" "$?" 0
timeout 30 "$LOADGEN" --target "127.0.0.1:$ORIGIN_PORT" -c 4 -n 100 --max-time 1 \
    --stalled-share 0.5 --stalled-rate 10K -p "/media/a?size=10000000000" -q \
    --json "$TMP/cap.json"
expect_eq "loadgen --max-time caps a run that cannot reach -n" "$?" 0
# The stalled half never completes a request: only the cap can have ended the run, and not
# before its second.
check "loadgen hard cap: ended by --max-time, not by -n" python3 -c \
    "import json; r=json.load(open('$TMP/cap.json')); exit(not (r['requests'] + r['errors'] < 100 and r['duration_s'] >= 0.95))"

# Bad options and an unreachable target: one clear line, non-zero exit.
"$LOADGEN" --target "127.0.0.1:$API_PORT" -c many 2>"$TMP/bad1.err"
expect_eq "loadgen rejects -c many" "$?" 2
check "loadgen bad option: one line naming the option" grep -q '^loadgen: -c: ' "$TMP/bad1.err"
"$LOADGEN" -c 4 2>"$TMP/bad2.err"
expect_eq "loadgen without --target exits 2" "$?" 2
"$LOADGEN" --target 127.0.0.1:1 -p nopath 2>"$TMP/bad3.err"
expect_eq "loadgen rejects a relative path" "$?" 2
"$LOADGEN" --target 127.0.0.1:1 -c 2 -d 0.3 -q --json "$TMP/down.json" 2>"$TMP/down.err"
expect_eq "loadgen against a closed port exits 1" "$?" 1
check "loadgen against a closed port counts errors" python3 -c \
    "import json; r=json.load(open('$TMP/down.json')); exit(not (r['errors'] > 0 and r['requests'] == 0))"
check "loadgen against a closed port says so" grep -q '^loadgen: no request succeeded' "$TMP/down.err"

# Cross-check with a real client: wrk against api-burst.
if command -v wrk >/dev/null; then
    wrk -t2 -c32 -d2s "http://127.0.0.1:$API_PORT/api/items" >"$TMP/wrk.out" 2>&1
    WRK_RPS=$(awk '/^Requests\/sec:/ {print int($2)}' "$TMP/wrk.out")
    echo "# wrk: ${WRK_RPS:-?} req/s on api-burst (c32)"
    check "wrk gets answers from api-burst" test "${WRK_RPS:-0}" -gt 0
    check "wrk sees no errors or non-2xx" bash -c "! grep -qE 'Non-2xx|Socket errors' '$TMP/wrk.out'"
    "$LOADGEN" --target "127.0.0.1:$API_PORT" -c 32 -d 2 -p /api/items -q --json "$TMP/lg.json"
    echo "# loadgen: $(wl_json_get "$TMP/lg.json" rps) req/s on api-burst (c32)"
    expect_eq "loadgen at wrk's settings: no errors" "$(wl_json_get "$TMP/lg.json" errors)" 0
    # The comparison bench at a tiny size: well-formed rounds and ratios (no ratio asserted).
    "$ROOT/bench/loadgen-vs-wrk" --connections 16 --duration 1 --rounds 2 >"$TMP/lvw.out" 2>&1
    rc=$?
    check_grep "loadgen-vs-wrk ends with PASS or FAIL (exit $rc)" '^(PASS|FAIL): loadgen reaches [0-9.]+ ' "$TMP/lvw.out"
    rounds=$(grep -Ec 'round [12]: wrk +[1-9][0-9]* req/s +[0-9.]+ us CPU/req +loadgen +[1-9][0-9]* req/s +[0-9.]+ us CPU/req' "$TMP/lvw.out")
    expect_eq "loadgen-vs-wrk: both rounds measured both clients" "$rounds" 2
else
    skip "wrk cross-check" "wrk is not installed (apt-get install wrk)"
fi

wl_stop "$API_PID"
expect_eq "api-burst exits cleanly after the runs" "$WL_RC" 0
finish
