#!/bin/bash
# slow-reader (field case 5): the live-stream push server and its stalled viewers.
# - bad input (malformed and oversized requests, wrong methods and paths, garbage after the
#   request, abrupt resets mid-stream, a viewer that never reads) never brings the server
#   down: it still answers /status afterwards;
# - curl --limit-rate 1k as a slow reader: leaky's heap grows, fixed stays bounded;
# - wl-slow-client's JSON report is complete and its frame counts add up;
# - growth with 8 viewers, 4 of them stalled (64 KiB frames at 50 fps): the leaky variant's
#   live heap grows linearly with the frames pushed (end > 3x after warm-up, > 30 MB) and the
#   growth is attributed to conn_queue_frame; fixed stays under 8 x (high-water 512 KiB + one
#   frame) + 2 MB, its idle timeout (3 s) closes the 4 stalled viewers and the fast ones get
#   the frames.
#   The windows are counted in frames pushed (the server's /status), not seconds, so that a
#   busy machine changes how long they take, not what is checked.
#   Measured with the shim's samples.csv live_bytes when build/lib/liballocscope.so exists,
#   else VmRSS (then the fixed bound gets 8 MB more for the allocator's own keeping).
source "$(dirname "$0")/../helpers/lib.sh"
source "$(dirname "$0")/../helpers/workloads_lib.sh"

MB=$((1024 * 1024))
FRAME=65536
HIGH_WATER=$((512 * 1024))
SERVER_OPTS=(--frame-bytes 64K --fps 50 --high-water 512K --idle-timeout 3)

if wl_have_shim; then
    MEASURE=live
    echo "# measuring the live heap (samples.csv live_bytes) under $SHIM"
else
    MEASURE=rss
    echo "# $SHIM not built: measuring VmRSS instead of the live heap"
fi

# ---- helpers ------------------------------------------------------------------------------------

status_of() { # PORT KEY: a counter of /status (flat JSON; no python: it is polled)
    curl -s --max-time 5 "http://127.0.0.1:$1/status" | grep -o "\"$2\":[0-9]*" | cut -d: -f2
}

answers() { # NAME PID PORT
    if wl_alive "$2" && [ "$(wl_http_code "$3" /status)" = 200 ]; then
        pass "$1"
    else
        fail "$1" "server $(wl_alive "$2" && echo "alive but not answering" || echo died)"
    fi
}

measure_now() { # NAME PID: live heap (a samples.csv row taken after this call) or RSS, bytes
    if [ "$MEASURE" = live ]; then
        wl_live_bytes_fresh "$TMP/rec-$1"
    else
        echo $(($(wl_rss_kb "$2") * 1024))
    fi
}

frames_at_least() { # PORT N: the server has pushed at least N frames
    local f
    f=$(status_of "$1" frames)
    [ -n "$f" ] && [ "$f" -ge "$2" ]
}

# after_frames PORT N: waits (generously) until the server has pushed N more frames.
after_frames() {
    local f
    f=$(status_of "$1" frames)
    wl_wait_until 120 frames_at_least "$1" $((${f:-0} + $2))
}

grown_past() { # NAME PID BYTES: the live heap or RSS is above BYTES
    local v
    v=$(measure_now "$1" "$2")
    [ -n "$v" ] && [ "$v" -gt "$3" ]
}

closed_at_least() { # PORT N: the server closed at least N idle viewers
    local c
    c=$(status_of "$1" closed_idle)
    [ -n "$c" ] && [ "$c" -ge "$2" ]
}

# peak_since NAME PID T_MS: the highest live_bytes of samples.csv rows from T_MS on (live),
# else the current RSS.
peak_since() {
    if [ "$MEASURE" = live ]; then
        awk -F, -v t="$3" 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next}
            NF > 5 && $1 >= t && $c["live_bytes"] > p {p = $c["live_bytes"]} END {print p + 0}' \
            "$TMP/rec-$1/samples.csv"
    else
        echo $(($(wl_rss_kb "$2") * 1024))
    fi
}

per_frame() { # BYTES FRAMES: bytes per frame, rounded
    awk -v b="$1" -v f="$2" 'BEGIN {if (f > 0) printf "%.0f", b / f; else print 0}'
}

last_t_ms() { # NAME: t_ms of the last complete samples.csv row (0 without the shim)
    awk -F, 'NR > 1 && NF > 5 {t = $1} END {print t + 0}' "$TMP/rec-$1/samples.csv" 2>/dev/null ||
        echo 0
}

start_server() { # NAME VARIANT
    local envs=()
    if [ "$MEASURE" = live ]; then
        envs=("LD_PRELOAD=$SHIM" "ALLOCSCOPE_OUT=$TMP/rec-$1" ALLOCSCOPE_SAMPLE=all
            ALLOCSCOPE_SITE_INTERVAL_MS=250)
    fi
    wl_start "$1" env "${envs[@]}" "$WL_BIN/wl-slow-reader" --port 0 --variant "$2" \
        "${SERVER_OPTS[@]}"
}


cat >"$TMP/http_bad.py" <<'EOF'
# usage: http_bad.py PORT -- bad requests, one connection each; prints "name: status".
import os, socket, struct, sys, time

port = int(sys.argv[1])

def status_of(reply):
    line = reply.split(b"\r\n", 1)[0].split(b" ")
    return line[1].decode() if len(line) > 1 and line[0].startswith(b"HTTP/1.") else "none"

def ask(data, read_bytes=4096, read_s=2.0, reset=False, then=b""):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    reply = b""
    try:
        s.sendall(data)
        if then:
            s.sendall(then)
        s.settimeout(0.2)
        deadline = time.time() + read_s
        while len(reply) < read_bytes and time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            reply += chunk
    except (ConnectionError, socket.timeout, BrokenPipeError):
        pass
    if reset:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return status_of(reply)

def never_reads():
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(1.0)
    s.close()
    return "done"

attacks = [
    ("not http", lambda: ask(b"HELLO WORLD\r\n\r\n")),
    ("empty lines", lambda: ask(b"\r\n" * 5000)),
    ("random bytes", lambda: ask(os.urandom(20000))),  # no end of head within 8 KiB
    ("header over 8 KiB", lambda: ask(b"GET /live HTTP/1.1\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n")),
    ("header never ends", lambda: ask(b"GET /live HTTP/1.1\r\nX-Big: " + b"a" * 200000)),
    ("header line without colon", lambda: ask(b"GET /live HTTP/1.1\r\nnonsense\r\n\r\n")),
    ("bad version", lambda: ask(b"GET /live HTTP/9.9\r\n\r\n")),
    ("extra token", lambda: ask(b"GET /live HTTP/1.1 more\r\n\r\n")),
    ("POST", lambda: ask(b"POST /live HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")),
    ("unknown path", lambda: ask(b"GET /nope HTTP/1.1\r\n\r\n")),
    ("half a request, reset", lambda: ask(b"GET /li", read_s=0, reset=True)),
    ("reset mid-stream", lambda: ask(b"GET /live HTTP/1.1\r\n\r\n", read_bytes=200000, reset=True)),
    ("garbage after the request", lambda: ask(b"GET /live HTTP/1.1\r\n\r\n", then=os.urandom(1000000))),
    ("HTTP/1.0 viewer", lambda: ask(b"GET /live HTTP/1.0\r\n\r\n", read_bytes=100000)),
    ("never reads", never_reads),
]
for name, attack in attacks:
    try:
        print("%s: %s" % (name, attack()))
    except Exception as e:
        print("%s: exception %s" % (name, e))
EOF

# ---- bad options --------------------------------------------------------------------------------
"$WL_BIN/wl-slow-reader" --fps 0 >/dev/null 2>"$TMP/opt.err"
rc=$?
if [ "$rc" = 2 ] && [ "$(wc -l <"$TMP/opt.err")" = 1 ] && grep -q '^wl-slow-reader: ' "$TMP/opt.err"; then
    pass "wl-slow-reader rejects a bad option with one line, exit 2"
else
    fail "wl-slow-reader rejects a bad option" "exit $rc: $(cat "$TMP/opt.err")"
fi
"$WL_BIN/wl-slow-client" --clients 4 >/dev/null 2>"$TMP/opt.err"
rc=$?
if [ "$rc" = 2 ] && grep -q '^wl-slow-client: ' "$TMP/opt.err"; then
    pass "wl-slow-client without --target: one line, exit 2"
else
    fail "wl-slow-client without --target" "exit $rc: $(cat "$TMP/opt.err")"
fi

"$WL_BIN/wl-slow-client" --target 127.0.0.1:1 --duration 0.5 --json "$TMP/refused.json" >/dev/null
rc=$?
expect_eq "wl-slow-client against a closed port: exit 1, one error per viewer" \
    "$rc $(wl_json_get "$TMP/refused.json" errors)" "1 8"

# ---- bad input ----------------------------------------------------------------------------------
expected="not http: 400
empty lines: 400
random bytes: 431
header over 8 KiB: 431
header never ends: 431
header line without colon: 400
bad version: 400
extra token: 400
POST: 405
unknown path: 404
half a request, reset: none
reset mid-stream: 200
garbage after the request: 200
HTTP/1.0 viewer: 200
never reads: done"
for variant in leaky fixed; do
    wl_start "bad-$variant" "$WL_BIN/wl-slow-reader" --port 0 --variant "$variant" || {
        fail "slow-reader $variant starts"
        continue
    }
    pid=$WL_PID port=$WL_PORT
    got=$(timeout 60 python3 "$TMP/http_bad.py" "$port")
    if [ "$got" = "$expected" ]; then
        pass "slow-reader $variant answers each bad request as expected"
    else
        fail "slow-reader $variant bad requests" "$(diff <(echo "$expected") <(echo "$got") | tr '\n' ' ')"
    fi
    answers "slow-reader $variant still answers after bad input" "$pid" "$port"
    expect_eq "slow-reader $variant counted 10 bad requests" "$(status_of "$port" bad_requests)" 10
    wl_stop "$pid"
    expect_eq "slow-reader $variant exits 0 on SIGTERM after bad input" "$WL_RC" 0
done

# ---- curl --limit-rate 1k as slow readers --------------------------------------------------------
for variant in leaky fixed; do
    name=curl-$variant
    start_server "$name" "$variant" || {
        fail "slow-reader $variant starts"
        continue
    }
    pid=$WL_PID port=$WL_PORT
    base=$(measure_now "$name" "$pid")
    curls=()
    for i in 1 2 3; do
        curl -s -N --limit-rate 1k --max-time 300 -o /dev/null -D "$TMP/$name-$i.head" \
            "http://127.0.0.1:$port/live" >"$TMP/$name-$i.out" 2>&1 &
        curls+=($!)
        WL_PIDS+=($!)
    done
    # 75 frames to settle (1.5 s at 50 fps), then a window of 200 frames (4 s).
    after_frames "$port" 75
    t_warm=$(last_t_ms "$name")
    warm=$(measure_now "$name" "$pid")
    after_frames "$port" 200
    end=$(measure_now "$name" "$pid")
    peak=$(peak_since "$name" "$pid" "$t_warm")
    codes=$(cat "$TMP/$name-"*.head 2>/dev/null | grep -o '^HTTP/1.1 [0-9]*' | sort -u | tr '\n' ' ')
    expect_eq "curl --limit-rate 1k gets the live stream from $variant" "$codes" "HTTP/1.1 200 "
    grown=$((end - warm))
    echo "# slow-reader $variant, 3 curl --limit-rate 1k ($MEASURE): before $((base / 1024)) KiB," \
        "after 75 frames $((warm / 1024)) KiB, 200 frames later $((end / 1024)) KiB" \
        "(peak $((peak / 1024)) KiB)"
    if [ "$variant" = leaky ]; then
        if [ "$grown" -gt $((20 * MB)) ]; then
            pass "slow-reader leaky grows under 3 curl slow readers (+$((grown / MB)) MB in 200 frames)"
        else
            fail "slow-reader leaky grows under curl slow readers" "warm=$warm end=$end"
        fi
    else
        bound=$((3 * (HIGH_WATER + 2 * FRAME) + 2 * MB))
        [ "$MEASURE" = rss ] && bound=$((bound + 8 * MB))
        if [ "$end" -lt $((base + bound)) ] && [ "$warm" -lt $((base + bound)) ] &&
            [ "$peak" -lt $((base + bound)) ]; then
            pass "slow-reader fixed stays bounded under curl slow readers (< $((bound / 1024)) KiB)"
        else
            fail "slow-reader fixed bounded under curl" "base=$base warm=$warm end=$end peak=$peak bound=$bound"
        fi
    fi
    answers "slow-reader $variant answers /status with slow readers attached" "$pid" "$port"
    echo "# slow-reader $variant closed $(status_of "$port" closed_idle) idle viewers"
    kill "${curls[@]}" 2>/dev/null
    wait "${curls[@]}" 2>/dev/null
    wl_stop "$pid"
    expect_eq "slow-reader $variant exits 0 on SIGTERM" "$WL_RC" 0
done

# ---- loadgen's stalled readers (the HTTP/1.1 load generator of workloads/loadgen) ---------------
if [ -x "$WL_BIN/loadgen" ]; then
    name=loadgen-leaky
    start_server "$name" leaky || fail "slow-reader leaky starts"
    pid=$WL_PID port=$WL_PORT
    base=$(measure_now "$name" "$pid")
    # Bounded in time; stopped as soon as the heap has grown enough.
    "$WL_BIN/loadgen" --target "127.0.0.1:$port" -c 8 --stalled-share 0.5 --stalled-rate 0 \
        -p /live -d 120 -q --json "$TMP/$name.json" &
    lg=$!
    WL_PIDS+=("$lg")
    wl_wait_until 60 grown_past "$name" "$pid" $((base + 15 * MB))
    end=$(measure_now "$name" "$pid")
    kill "$lg" 2>/dev/null
    wait "$lg" 2>/dev/null
    echo "# slow-reader leaky under loadgen, 4 of 8 readers stalled ($MEASURE): before" \
        "$((base / 1024)) KiB, then $((end / 1024)) KiB"
    if [ "$((end - base))" -gt $((15 * MB)) ]; then
        pass "slow-reader leaky grows under loadgen's stalled readers too"
    else
        fail "slow-reader leaky grows under loadgen's stalled readers" "base=$base end=$end"
    fi
    wl_stop "$pid"
else
    skip "slow-reader under loadgen" "build/bin/loadgen not built"
fi

# ---- wl-slow-client's JSON report ---------------------------------------------------------------
wl_start json "$WL_BIN/wl-slow-reader" --port 0 --variant fixed "${SERVER_OPTS[@]}" ||
    fail "slow-reader starts"
pid=$WL_PID port=$WL_PORT
"$WL_BIN/wl-slow-client" --target "127.0.0.1:$port" --clients 4 --stalled 0.5 --duration 2 \
    --json "$TMP/client.json" >"$TMP/client.out" 2>&1
expect_eq "wl-slow-client exits 0" "$?" 0
verdict=$(python3 - "$TMP/client.json" "$port" "$FRAME" <<'EOF'
import json, sys
r, frame = json.load(open(sys.argv[1])), int(sys.argv[3])
want = {"tool": "wl-slow-client", "scenario": "slow-reader", "target": "127.0.0.1:" + sys.argv[2],
        "connections": 4, "requests": 4, "errors": 0, "fast_clients": 2, "stalled_clients": 2,
        "frames_stalled": 0}
bad = ["%s=%r" % (k, r.get(k)) for k, v in want.items() if r.get(k) != v]
if r["frames_fast"] <= 0 or r["frames"] != r["frames_fast"] + r["frames_stalled"]:
    bad.append("frames %r/%r" % (r["frames"], r["frames_fast"]))
# bytes are frame payloads: whole frames plus at most one partial frame per fast viewer
if not (r["frames"] * frame <= r["bytes"] < (r["frames"] + 2) * frame):
    bad.append("bytes %r for %r frames" % (r["bytes"], r["frames"]))
lat = r["latency_ms"]
if not (0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]):
    bad.append("latency %r" % lat)
if not (r["duration_s"] > 1.5 and r["bytes_per_s"] > 0):
    bad.append("duration/rate")
print("ok" if not bad else " ".join(bad))
EOF
)
expect_eq "wl-slow-client JSON has loadgen's fields and consistent frame counts" "$verdict" ok
expect_eq "wl-slow-client JSON written atomically (no temp file left)" \
    "$(compgen -G "$TMP/client.json.tmp*" | wc -l)" 0
wl_stop "$pid"

# ---- growth: 8 viewers, 4 stalled ---------------------------------------------------------------

for variant in leaky fixed; do
    name=grow-$variant
    start_server "$name" "$variant" || {
        fail "slow-reader $variant starts under measurement"
        continue
    }
    pid=$WL_PID port=$WL_PORT
    base=$(measure_now "$name" "$pid")
    f_start=$(status_of "$port" frames)
    # Stopped (SIGTERM: it reports) once the windows below are through.
    "$WL_BIN/wl-slow-client" --target "127.0.0.1:$port" --clients 8 --stalled 0.5 \
        --stalled-rcvbuf 4K --duration 300 --json "$TMP/$name.json" >"$TMP/$name.out" 2>&1 &
    client=$!
    WL_PIDS+=("$client")
    # Warm-up 50 frames (1 s at 50 fps), then two windows of 150 frames; each point's frame
    # count is the middle of the counts read around its measure.
    after_frames "$port" 50
    t_warm=$(last_t_ms "$name")
    f0=$(status_of "$port" frames) warm=$(measure_now "$name" "$pid") f1=$(status_of "$port" frames)
    x_warm=$(((f0 + f1) / 2))
    after_frames "$port" 150
    f0=$(status_of "$port" frames) mid=$(measure_now "$name" "$pid") f1=$(status_of "$port" frames)
    x_mid=$(((f0 + f1) / 2))
    after_frames "$port" 150
    f0=$(status_of "$port" frames) end=$(measure_now "$name" "$pid") f1=$(status_of "$port" frames)
    x_end=$(((f0 + f1) / 2))
    # fixed: its idle timeout (3 s) closes the stalled viewers; wait for it, generously.
    [ "$variant" = fixed ] && wl_wait_until 60 closed_at_least "$port" 4
    peak=$(peak_since "$name" "$pid" "$t_warm")
    [ "$end" -gt "$peak" ] && peak=$end
    kill -TERM "$client"
    wait "$client"
    f_stop=$(status_of "$port" frames)
    expect_eq "slow-reader $variant: client saw no errors" "$(wl_json_get "$TMP/$name.json" errors)" 0
    grown=$((end - warm))
    first=$(per_frame $((mid - warm)) $((x_mid - x_warm)))
    second=$(per_frame $((end - mid)) $((x_end - x_mid)))
    echo "# slow-reader $variant, 4 of 8 viewers stalled ($MEASURE): before $((base / 1024)) KiB," \
        "after warm-up $((warm / 1024)) KiB, peak $((peak / 1024)) KiB, end $((end / 1024)) KiB" \
        "over $((x_end - x_warm)) frames: $first then $second bytes per frame" \
        "($(per_frame "$first" 4) per stalled viewer); $(tail -1 "$TMP/$name.out")"
    closed=$(wl_json_get "$TMP/$name.json" stalled_server_closed)
    if [ "$variant" = leaky ]; then
        if [ "$end" -gt $((3 * warm)) ] && [ "$grown" -gt $((30 * MB)) ]; then
            pass "slow-reader leaky grows with the frames pushed while viewers stall"
        else
            fail "slow-reader leaky grows while viewers stall" "warm=$warm end=$end"
        fi
        if [ "$second" -gt $((first * 6 / 10)) ] && [ "$second" -lt $((first * 14 / 10)) ]; then
            pass "slow-reader leaky growth is linear in frames (second half within 40% of the first)"
        else
            fail "slow-reader leaky growth is linear in frames" "first $first, second $second bytes per frame"
        fi
        expect_eq "slow-reader leaky never closes stalled viewers" "$closed" 0
    else
        bound=$((8 * (HIGH_WATER + 2 * FRAME) + 2 * MB))
        [ "$MEASURE" = rss ] && bound=$((bound + 8 * MB))
        if [ "$((peak - base))" -lt "$bound" ]; then
            pass "slow-reader fixed stays bounded (peak +$(((peak - base) / 1024)) KiB < $((bound / 1024)) KiB)"
        else
            fail "slow-reader fixed stays bounded" "base=$base peak=$peak bound=$bound"
        fi
        expect_eq "slow-reader fixed closes the 4 stalled viewers after the idle timeout" "$closed" 4
        # The 4 fast viewers get most of what was pushed while they watched, stalled
        # neighbours or not (counts, not a rate: a busy machine pushes fewer frames).
        fast=$(wl_json_get "$TMP/$name.json" frames_fast)
        pushed=$((f_stop - f_start))
        if [ "${fast:-0}" -gt 0 ] && [ "$((fast * 2))" -ge $((4 * pushed)) ]; then
            pass "slow-reader fixed keeps feeding the fast viewers ($fast frames of 4 x $pushed pushed)"
        else
            fail "slow-reader fixed keeps feeding the fast viewers" "$fast frames of 4 x $pushed pushed"
        fi
    fi
    wl_stop "$pid"
    expect_eq "slow-reader $variant exits 0 on SIGTERM" "$WL_RC" 0
    [ "$variant" = leaky ] && wl_attribution slow-reader "$TMP/rec-$name" leaky conn_queue_frame
    wl_kill_all
done
finish
