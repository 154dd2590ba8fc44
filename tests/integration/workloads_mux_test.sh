#!/bin/bash
# mux-streams (field case 4): the HTTP/2 server holding per-connection stream state.
# - bad input (HTTP/1.1 instead of the preface, garbage, garbage frames, oversized header
#   blocks, abrupt resets, a client that never reads, ping and reset floods) never brings the
#   server down: it still answers afterwards;
# - h2load (nghttp2-client) gets every response; wl-mux-client's JSON report is complete;
# - fixed bounds the concurrent incoming streams (SETTINGS_MAX_CONCURRENT_STREAMS 100);
# - growth: while connections stay open, the leaky variant's live heap grows with the
#   streams served, linearly, and drops when the connections close; fixed stays flat.
#   Measured with the shim's samples.csv live_bytes when build/lib/liballocscope.so exists,
#   else VmRSS. Bounds: leaky end > 3x after-warm-up and grew > 40 MB over 20000 streams
#   (4 KiB stream buffers); fixed grew < 2 MB (live heap) or < 8 MB (RSS).
source "$(dirname "$0")/../helpers/lib.sh"
source "$(dirname "$0")/../helpers/workloads_lib.sh"

MB=$((1024 * 1024))
STREAMS=20000

if wl_have_shim; then
    MEASURE=live
    echo "# measuring the live heap (samples.csv live_bytes) under $SHIM"
else
    MEASURE=rss
    echo "# $SHIM not built: measuring VmRSS instead of the live heap"
fi

# ---- helpers ------------------------------------------------------------------------------------

# stats PORT: the server's /stats JSON over h2c (empty when it does not answer).
stats() {
    curl -s --max-time 5 --http2-prior-knowledge "http://127.0.0.1:$1/stats"
}

# stat PORT KEY: one counter of /stats.
stat() { # flat JSON; no python: it is polled
    stats "$1" | grep -o "\"$2\":[0-9]*" | cut -d: -f2
}

# answers NAME PID PORT: the server is alive and answers an HTTP/2 request.
answers() {
    if wl_alive "$2" && [ "$(wl_http_code "$3" /stats --http2-prior-knowledge)" = 200 ]; then
        pass "$1"
    else
        fail "$1" "server $(wl_alive "$2" && echo "alive but not answering" || echo died)"
    fi
}

# measure NAME PID: live heap (a samples.csv row taken after this call) or RSS, in bytes.
measure() {
    if [ "$MEASURE" = live ]; then
        wl_live_bytes_fresh "$TMP/rec-$1"
    else
        echo $(($(wl_rss_kb "$2") * 1024))
    fi
}

# live_below NAME BYTES: the live heap of a fresh samples.csv row is below BYTES.
live_below() {
    local v
    v=$(wl_live_bytes_fresh "$TMP/rec-$1")
    [ -n "$v" ] && [ "$v" -lt "$2" ]
}

# held_at_most PORT N: the server holds at most N stream states (the /stats stream included).
held_at_most() {
    local held
    held=$(stat "$1" streams_held)
    [ -n "$held" ] && [ "$held" -le "$2" ]
}

# start_server NAME VARIANT: under the shim when measuring the live heap.
start_server() {
    local envs=()
    if [ "$MEASURE" = live ]; then
        envs=("LD_PRELOAD=$SHIM" "ALLOCSCOPE_OUT=$TMP/rec-$1" ALLOCSCOPE_SAMPLE=all
            ALLOCSCOPE_SITE_INTERVAL_MS=250)
    fi
    wl_start "$1" env "${envs[@]}" "$WL_BIN/wl-mux-streams" --port 0 --variant "$2" --threads 2
}

# hold_client NAME PORT REQUESTS HOLD_S: a client that serves REQUESTS streams over 4
# connections, then keeps them open HOLD_S seconds; returns once it holds (sets HOLD_PID).
# A busy machine may take long to serve them: the bounds are generous, the counts exact.
hold_client() {
    local name=$1 port=$2 requests=$3 hold=$4 end
    "$WL_BIN/wl-mux-client" --target "127.0.0.1:$port" --connections 4 --streams 10 \
        --requests "$requests" --hold "$hold" --duration 120 --json "$TMP/$name.json" \
        >"$TMP/$name.out" 2>"$TMP/$name.err" &
    HOLD_PID=$!
    WL_PIDS+=("$HOLD_PID")
    end=$(($(date +%s) + 120))
    while [ "$(date +%s)" -lt "$end" ]; do
        grep -q holding "$TMP/$name.err" && return 0
        wl_alive "$HOLD_PID" || break
        sleep 0.05
    done
    return 1
}

cat >"$TMP/h2_bad.py" <<'EOF'
# usage: h2_bad.py PORT -- sends bad HTTP/2 input, one connection per attack.
import os, socket, struct, sys, time

port = int(sys.argv[1])
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload

SETTINGS = frame(4, 0, 0, b"")
SETTINGS_ACK = frame(4, 1, 0, b"")
# :method GET, :scheme http, :path /, :authority x (HPACK static table)
REQUEST = b"\x82\x86\x84\x01\x01x"

def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)

def literal(name, value):
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value

def headers(stream, block, end_stream=True, end_headers=True):
    return frame(1, (1 if end_stream else 0) | (4 if end_headers else 0), stream, block)

def run(data, read_s=1.0, reset=False, chunks=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        for piece in (chunks or [data]):
            s.sendall(piece)
        deadline = time.time() + read_s
        s.settimeout(0.2)
        while read_s > 0 and time.time() < deadline:
            try:
                if not s.recv(65536):
                    break
            except socket.timeout:
                continue
    except (ConnectionError, socket.timeout, BrokenPipeError):
        pass
    if reset:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()

def never_reads():
    # 3000 requests, then sit there without reading: the server must apply backpressure
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        s.sendall(PREFACE + SETTINGS + SETTINGS_ACK)
        for i in range(3000):
            s.sendall(headers(1 + 2 * i, REQUEST))
    except (ConnectionError, socket.timeout):
        pass
    time.sleep(1.0)
    s.close()

big = literal(b"x-big", b"a" * 20000)
attacks = [
    ("HTTP/1.1 instead of the preface", lambda: run(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
    ("random bytes", lambda: run(os.urandom(50000))),
    ("preface then random bytes", lambda: run(PREFACE + SETTINGS + os.urandom(50000))),
    ("truncated preface, reset", lambda: run(PREFACE[:10], read_s=0, reset=True)),
    ("frame claiming 16 MB", lambda: run(PREFACE + SETTINGS + b"\xff\xff\xff\x01\x04\x00\x00\x00\x01abc", read_s=0.5)),
    ("even stream id", lambda: run(PREFACE + SETTINGS + headers(2, REQUEST))),
    ("header list over 16 KiB", lambda: run(PREFACE + SETTINGS + headers(1, REQUEST + big))),
    ("header field over 64 KiB", lambda: run(PREFACE + SETTINGS + headers(1, REQUEST + literal(b"x-huge", b"b" * 100000)))),
    ("endless CONTINUATION", lambda: run(PREFACE + SETTINGS, chunks=[PREFACE + SETTINGS + headers(1, REQUEST, end_headers=False)] + [frame(9, 0, 1, big[:16000])] * 300)),
    ("request then reset", lambda: run(PREFACE + SETTINGS + b"".join(headers(1 + 2 * i, REQUEST) for i in range(500)), read_s=0, reset=True)),
    ("ping flood, never read", lambda: run(PREFACE + SETTINGS + frame(6, 0, 0, b"12345678") * 100000, read_s=0.5)),
    ("rapid reset", lambda: run(PREFACE + SETTINGS + b"".join(headers(1 + 2 * i, REQUEST) + frame(3, 0, 1 + 2 * i, struct.pack(">I", 8)) for i in range(3000)))),
    ("never reads", never_reads),
]
for name, attack in attacks:
    try:
        attack()
    except Exception as e:  # the server may close on us at any point: that is fine
        print("# %s: %s" % (name, e))
print("attacks: %d" % len(attacks))
EOF

cat >"$TMP/h2_open.py" <<'EOF'
# usage: h2_open.py PORT N SECONDS -- opens N streams without ending them, holds SECONDS.
# Prints "open" once the server has read them all: a PING sent after the streams is answered
# only once the frames before it were processed.
import socket, struct, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def frame(t, f, s, p):
    return struct.pack(">I", len(p))[1:] + bytes([t, f]) + struct.pack(">I", s) + p
s = socket.create_connection(("127.0.0.1", port), timeout=3)
# No SETTINGS ACK: streams above the server's announced limit are refused one by one
# (REFUSED_STREAM); after an ACK they would be a connection error.
data = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"")
data += b"".join(frame(1, 4, 1 + 2 * i, b"\x83\x86\x84\x01\x01x") for i in range(n))  # POST, open
data += frame(6, 0, 0, b"openned!")
s.sendall(data)
end = time.time() + hold
s.settimeout(0.2)
buf, acked = b"", False
while time.time() < end:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    if not chunk:
        break
    buf += chunk
    while not acked and len(buf) >= 9:
        length = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + length:
            break
        if buf[3] == 6 and buf[4] & 1 and buf[9:9 + length] == b"openned!":
            acked = True
            print("open", flush=True)
        buf = buf[9 + length:]
s.close()
EOF

# ---- bad options --------------------------------------------------------------------------------
"$WL_BIN/wl-mux-streams" --variant sideways >/dev/null 2>"$TMP/opt.err"
rc=$?
if [ "$rc" = 2 ] && [ "$(wc -l <"$TMP/opt.err")" = 1 ] && grep -q '^wl-mux-streams: ' "$TMP/opt.err"; then
    pass "wl-mux-streams rejects a bad option with one line, exit 2"
else
    fail "wl-mux-streams rejects a bad option" "exit $rc: $(cat "$TMP/opt.err")"
fi
"$WL_BIN/wl-mux-client" --target 127.0.0.1:notaport >/dev/null 2>"$TMP/opt.err"
rc=$?
if [ "$rc" = 2 ] && grep -q '^wl-mux-client: ' "$TMP/opt.err"; then
    pass "wl-mux-client rejects a bad target with one line, exit 2"
else
    fail "wl-mux-client rejects a bad target" "exit $rc: $(cat "$TMP/opt.err")"
fi

"$WL_BIN/wl-mux-client" --target 127.0.0.1:1 --duration 1 --json "$TMP/refused.json" >/dev/null
rc=$?
expect_eq "wl-mux-client against a closed port: exit 1, one error per connection" \
    "$rc $(wl_json_get "$TMP/refused.json" errors)" "1 4"

# ---- bad input, h2load, client JSON, stream bound ------------------------------------------------
for variant in leaky fixed; do
    wl_start "bad-$variant" "$WL_BIN/wl-mux-streams" --port 0 --variant "$variant" || {
        fail "mux-streams $variant starts"
        continue
    }
    pid=$WL_PID port=$WL_PORT
    out=$(timeout 60 python3 "$TMP/h2_bad.py" "$port")
    echo "$out" | grep '^#'
    expect_eq "mux-streams $variant: bad-input barrage ran" "$(echo "$out" | tail -1)" "attacks: 13"
    answers "mux-streams $variant still answers after bad input" "$pid" "$port"
    bad=$(stat "$port" bad_connections)
    if [ "${bad:-0}" -ge 3 ]; then
        pass "mux-streams $variant counted $bad connections with fatal protocol errors"
    else
        fail "mux-streams $variant counts bad connections" "bad_connections=$bad"
    fi

    expect_eq "mux-streams $variant answers HTTP/1.1 GET /health (health checks)" \
        "$(wl_http_code "$port" /health)" 200
    expect_eq "mux-streams $variant answers other HTTP/1.1 requests with 505" \
        "$(wl_http_code "$port" /)" 505

    h2load -n 20000 -c 4 -m 10 "http://127.0.0.1:$port/" >"$TMP/h2load-$variant.out" 2>&1
    if grep -q '^requests: 20000 total, 20000 started, 20000 done, 20000 succeeded, 0 failed' \
        "$TMP/h2load-$variant.out"; then
        pass "h2load: 20000 streams over 4 connections all succeed ($variant)"
    else
        fail "h2load against mux-streams $variant" "$(grep -E '^(requests|status)' "$TMP/h2load-$variant.out")"
    fi
    # more concurrent streams than fixed allows: h2load honours the server's limit
    h2load -n 3000 -c 2 -m 300 "http://127.0.0.1:$port/" >"$TMP/h2load-m-$variant.out" 2>&1
    check "h2load with 300 concurrent streams per connection succeeds ($variant)" \
        grep -q '3000 succeeded, 0 failed' "$TMP/h2load-m-$variant.out"

    # 150 streams left open on one connection: fixed refuses those above 100
    python3 "$TMP/h2_open.py" "$port" 150 120 >"$TMP/open-$variant.out" &
    opener=$!
    WL_PIDS+=("$opener")
    wl_wait_until 60 grep -q open "$TMP/open-$variant.out" ||
        fail "$variant: the server answers a PING after 150 open streams"
    held=$(stat "$port" streams_held) # includes the /stats stream itself
    if [ "$variant" = fixed ]; then
        expect_eq "fixed bounds concurrent incoming streams at 100 (+1 /stats)" "$held" 101
    else
        expect_eq "leaky accepts all 150 open streams (+1 /stats)" "$held" 151
    fi
    kill "$opener" 2>/dev/null
    wait "$opener" 2>/dev/null

    wl_stop "$pid"
    expect_eq "mux-streams $variant exits 0 on SIGTERM after bad input" "$WL_RC" 0
done

# wl-mux-client's JSON report
wl_start json "$WL_BIN/wl-mux-streams" --port 0 --variant fixed || fail "mux-streams starts"
pid=$WL_PID port=$WL_PORT
"$WL_BIN/wl-mux-client" --target "127.0.0.1:$port" --connections 3 --streams 8 --requests 3000 \
    --duration 120 --json "$TMP/client.json" >"$TMP/client.out" 2>&1
expect_eq "wl-mux-client exits 0" "$?" 0
verdict=$(python3 - "$TMP/client.json" "$port" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
want = {"tool": "wl-mux-client", "scenario": "mux-streams", "target": "127.0.0.1:" + sys.argv[2],
        "connections": 3, "requests": 3000, "errors": 0, "bytes": 3000 * 1024}
bad = ["%s=%r" % (k, r.get(k)) for k, v in want.items() if r.get(k) != v]
lat = r["latency_ms"]
if not (0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]):
    bad.append("latency %r" % lat)
if not (r["duration_s"] > 0 and r["rps"] > 0 and r["bytes_per_s"] > 0):
    bad.append("rates")
print("ok" if not bad else " ".join(bad))
EOF
)
expect_eq "wl-mux-client JSON has loadgen's fields with the right counts" "$verdict" ok
expect_eq "wl-mux-client JSON written atomically (no temp file left)" \
    "$(compgen -G "$TMP/client.json.tmp*" | wc -l)" 0
# cancelled streams take the server's reset path: leaky frees them too
hold_client cancel "$port" 2000 0.5 >/dev/null
wait "$HOLD_PID"
expect_eq "wl-mux-client --cancel: no errors" "$(wl_json_get "$TMP/cancel.json" errors)" 0
wl_stop "$pid"

wl_start cancel-leaky "$WL_BIN/wl-mux-streams" --port 0 --variant leaky || fail "starts"
pid=$WL_PID port=$WL_PORT
# The client holds its connections open far longer than the wait below: the streams must be
# freed by the reset path, not by the connections closing.
"$WL_BIN/wl-mux-client" --target "127.0.0.1:$port" --connections 4 --requests 2000 --cancel 1 \
    --hold 300 --duration 120 --json "$TMP/cancelled.json" >/dev/null 2>"$TMP/cancelled.err" &
cpid=$!
WL_PIDS+=("$cpid")
wl_wait_until 120 grep -q holding "$TMP/cancelled.err"
wl_wait_until 30 held_at_most "$port" 10
held=$(stat "$port" streams_held)
if [ -n "$held" ] && [ "$held" -le 10 ] && wl_alive "$cpid"; then
    pass "leaky frees streams reset by the client (cancel path): $held held"
else
    fail "leaky frees streams reset by the client" "held=$held; client $(wl_alive "$cpid" && echo holding || echo gone)"
fi
kill -TERM "$cpid" # ends its hold: it closes its connections and reports
wait "$cpid"
expect_eq "2000 cancelled streams reported" "$(wl_json_get "$TMP/cancelled.json" streams_cancelled)" 2000
wl_stop "$pid"

# ---- growth: leaky vs fixed -------------------------------------------------------------------

for variant in leaky fixed; do
    name=grow-$variant
    start_server "$name" "$variant" || {
        fail "mux-streams $variant starts under measurement"
        continue
    }
    pid=$WL_PID port=$WL_PORT
    # warm-up: the connections close at the end, so leaky's held state goes with them
    "$WL_BIN/wl-mux-client" --target "127.0.0.1:$port" --requests 2000 --duration 120 \
        >/dev/null 2>&1
    warm=$(measure "$name" "$pid")
    hold_client "$name-a" "$port" $((STREAMS / 2)) 300 || fail "$name first client holds"
    holder_a=$HOLD_PID
    mid=$(measure "$name" "$pid")
    hold_client "$name-b" "$port" $((STREAMS / 2)) 300 || fail "$name second client holds"
    holder_b=$HOLD_PID
    end=$(measure "$name" "$pid")
    kill -TERM "$holder_a" "$holder_b" # ends their hold: they close their connections and report
    wait "$holder_a" "$holder_b"
    # The server frees a connection's streams when it sees the close: wait for that.
    [ "$MEASURE" = live ] && [ "$variant" = leaky ] && wl_wait_until 60 live_below "$name" $((warm + 4 * MB))
    after=$(measure "$name" "$pid")
    errors=$(($(wl_json_get "$TMP/$name-a.json" errors) + $(wl_json_get "$TMP/$name-b.json" errors)))
    expect_eq "mux-streams $variant: $STREAMS streams without errors" "$errors" 0
    grown=$((end - warm))
    echo "# mux-streams $variant ($MEASURE): after warm-up $((warm / 1024)) KiB, after" \
        "$((STREAMS / 2)) streams $((mid / 1024)) KiB, after $STREAMS $((end / 1024)) KiB," \
        "connections closed $((after / 1024)) KiB:" \
        "$(awk -v g="$grown" -v n="$STREAMS" 'BEGIN {printf "%.2f", g / 1048576 / n * 1000}')" \
        "MB per 1000 streams"
    if [ "$variant" = leaky ]; then
        if [ "$end" -gt $((3 * warm)) ] && [ "$grown" -gt $((40 * MB)) ]; then
            pass "mux-streams leaky grows with streams served on open connections"
        else
            fail "mux-streams leaky grows with streams" "warm=$warm end=$end"
        fi
        first=$((mid - warm)) second=$((end - mid))
        if [ "$second" -gt $((first * 7 / 10)) ] && [ "$second" -lt $((first * 13 / 10)) ]; then
            pass "mux-streams leaky growth is linear (second half within 30% of the first)"
        else
            fail "mux-streams leaky growth is linear" "first $first, second $second bytes"
        fi
        if [ "$MEASURE" = rss ]; then
            skip "mux-streams leaky releases held streams on close" "RSS does not shrink under glibc"
        elif [ "$after" -lt $((warm + 4 * MB)) ]; then
            pass "mux-streams leaky releases the held streams when the connections close"
        else
            fail "mux-streams leaky releases held streams on close" "warm=$warm after=$after"
        fi
    else
        bound=$((2 * MB))
        [ "$MEASURE" = rss ] && bound=$((8 * MB))
        if [ "$grown" -lt "$bound" ]; then
            pass "mux-streams fixed stays flat (grew $((grown / 1024)) KiB < $((bound / MB)) MB)"
        else
            fail "mux-streams fixed stays flat" "grew $grown bytes (bound $bound)"
        fi
    fi
    wl_stop "$pid"
    expect_eq "mux-streams $variant exits 0 on SIGTERM" "$WL_RC" 0
    [ "$variant" = leaky ] && wl_attribution mux-streams "$TMP/rec-$name" leaky stream_state_new
    wl_kill_all
done
finish
