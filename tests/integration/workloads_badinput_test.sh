#!/bin/bash
# Bad input to every workload server: malformed HTTP, oversized headers and request lines,
# abrupt disconnects (mid-request, mid-response, with RST), broken bodies, pipelined floods,
# a client that never reads a large response. After each barrage the server must still answer
# /health, must not have grown without bound, and must exit 0 on SIGTERM.
source "$(dirname "$0")/../helpers/lib.sh"
source "$(dirname "$0")/../helpers/workloads_lib.sh"

cat >"$TMP/bad_client.py" <<'EOF'
# usage: bad_client.py PORT BIG_PATH  -- sends the barrage; prints how many attacks ran.
import os, socket, struct, sys, time

port, big_path = int(sys.argv[1]), sys.argv[2]

def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    return s

def rst_close(s):
    # SO_LINGER 0: close with a reset, the most abrupt disconnect
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()

def send_then_read(data, read=True, rst=False):
    s = conn()
    try:
        s.sendall(data)
        if read:
            s.settimeout(2)
            try:
                while s.recv(65536):
                    pass
            except (socket.timeout, ConnectionError):
                pass
    except (BrokenPipeError, ConnectionError, socket.timeout):
        pass
    if rst:
        rst_close(s)
    else:
        s.close()

attacks = [
    lambda: send_then_read(b"HELLO WORLD\r\n\r\n"),
    lambda: send_then_read(os.urandom(20000)),
    lambda: send_then_read(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n"),
    lambda: send_then_read(b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    lambda: send_then_read(b"GET /health HTTP/1.1\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n"),
    lambda: send_then_read(b"GET /hea", read=False),
    lambda: send_then_read(b"GET /health HTTP/1.1\r\nHost: x\r\n", read=False, rst=True),
    lambda: send_then_read(b"GET /health HTTP/9.9\r\n\r\n"),
    lambda: send_then_read(b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n"),
    lambda: send_then_read(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
    lambda: send_then_read(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nabc", read=False, rst=True),
    lambda: send_then_read(b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n"),
    lambda: send_then_read(b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"),
    lambda: send_then_read(b"\r\n" * 10000),
    lambda: send_then_read(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 500),
    # a request for the big response, then a reset before (or while) it is answered
    lambda: send_then_read(b"GET " + big_path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n", read=False, rst=True),
    lambda: send_then_read(b"GET " + big_path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n", read=False),
]

def half_read_then_rst():
    s = conn()
    s.sendall(b"GET " + big_path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        s.recv(1000)
    except (socket.timeout, ConnectionError):
        pass
    rst_close(s)
attacks.append(half_read_then_rst)

def many_connections():
    socks = []
    for _ in range(200):
        try:
            socks.append(conn())
        except OSError:
            break
    for i, s in enumerate(socks):
        if i % 2:
            s.sendall(b"GET /health HTTP/1.1\r\n")
        rst_close(s) if i % 3 == 0 else s.close()
attacks.append(many_connections)

for a in attacks:
    a()

# Clients that never read a large response (or a flood of pipelined ones), kept open for a
# while, then dropped.
never_readers = []
for _ in range(4):
    s = conn()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET " + big_path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    never_readers.append(s)
flood = conn()
try:
    flood.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 3000)
except (socket.timeout, ConnectionError):
    pass
never_readers.append(flood)
time.sleep(1.5)
print("rss-check", flush=True)
sys.stdin.readline()  # the test measures the server while the readers are stalled
for s in never_readers:
    rst_close(s)
print(len(attacks) + 2)
EOF

# barrage NAME PID PORT BIG_PATH MAX_RSS_MB: run the barrage against one server.
barrage() {
    local name=$1 pid=$2 port=$3 big=$4 max_mb=$5 rss
    coproc BAD { python3 "$TMP/bad_client.py" "$port" "$big" 2>"$TMP/bad-$name.err"; }
    local line=
    read -r -t 60 line <&"${BAD[0]}"
    rss=$(wl_rss_kb "$pid")
    echo "" >&"${BAD[1]}"
    local count=
    read -r -t 30 count <&"${BAD[0]}"
    wait "$BAD_PID" 2>/dev/null
    echo "# $name: $count kinds of bad input sent; RSS with stalled readers $((rss / 1024)) MiB"
    check "$name: barrage ran" test -n "$count"
    expect_eq "$name: never-reading clients were in place" "$line" rss-check
    check "$name: still running after bad input" wl_alive "$pid"
    expect_eq "$name: answers /health after bad input" "$(wl_http_code "$port" /health)" 200
    check "$name: RSS with never-reading clients < $max_mb MiB" test "$rss" -lt $((max_mb * 1024))
}

# finish_server NAME PID: a normal request still works, then SIGTERM gives exit 0.
finish_server() {
    wl_stop "$2"
    expect_eq "$1: exits 0 on SIGTERM after bad input" "$WL_RC" 0
}

wl_start api "$WL_BIN/wl-api-burst" --port 0 --threads 2 --objects 20 || fail "api-burst starts"
API_PID=$WL_PID
barrage api-burst "$WL_PID" "$WL_PORT" /api/items 200
expect_eq "api-burst: answers /api/items after bad input" "$(wl_http_code "$WL_PORT" /api/items)" 200
finish_server api-burst "$API_PID"

wl_start origin "$WL_BIN/wl-stream-origin" --port 0 || fail "stream-origin starts"
ORIGIN_PID=$WL_PID ORIGIN_PORT=$WL_PORT
barrage stream-origin "$ORIGIN_PID" "$ORIGIN_PORT" "/media/x?size=200000000" 64

for variant in fixed leaky; do
    wl_start proxy-$variant "$WL_BIN/wl-stream-proxy" --port 0 --variant "$variant" \
        --origin "127.0.0.1:$ORIGIN_PORT" || fail "stream-proxy $variant starts"
    PROXY_PID=$WL_PID PROXY_PORT=$WL_PORT
    barrage "stream-proxy $variant" "$PROXY_PID" "$PROXY_PORT" "/stream/x?size=200000000" 64
    expect_eq "stream-proxy $variant: streams after bad input" \
        "$(curl -s --max-time 5 "http://127.0.0.1:$PROXY_PORT/stream/y?size=123457" | wc -c)" 123457
    finish_server "stream-proxy $variant" "$PROXY_PID"
done
finish_server stream-origin "$ORIGIN_PID"

wl_start files "$WL_BIN/wl-bulk-server" --port 0 || fail "bulk-server starts"
FILES_PID=$WL_PID FILES_PORT=$WL_PORT
barrage bulk-server "$FILES_PID" "$FILES_PORT" "/files/1?size=16000000" 64
expect_eq "bulk-server: serves a file after bad input" \
    "$(curl -s --max-time 5 "http://127.0.0.1:$FILES_PORT/files/7?size=5000" | wc -c)" 5000

wl_start downloader "$WL_BIN/wl-bulk-download" --port 0 --server "127.0.0.1:$FILES_PORT" \
    --workdir "$TMP" || fail "bulk-download starts"
DL_PID=$WL_PID DL_PORT=$WL_PORT
barrage "bulk-download control" "$DL_PID" "$DL_PORT" /status 64
"$WL_BIN/wl-bulk-download" --control "127.0.0.1:$DL_PORT" --files 50 --json "$TMP/dl.json" \
    >/dev/null
expect_eq "bulk-download: fetches after bad input" "$(wl_json_get "$TMP/dl.json" requests)" 50
"$WL_BIN/wl-bulk-download" --control "127.0.0.1:$DL_PORT" --duration nope 2>"$TMP/dl-bad.err"
expect_eq "bulk-download: a bad option exits 2" "$?" 2
check "bulk-download: a bad option gives one line" test "$(wc -l <"$TMP/dl-bad.err")" -eq 1
finish_server bulk-download "$DL_PID"
finish_server bulk-server "$FILES_PID"

# A file server that goes away mid-batch: the downloader counts errors and carries on.
wl_start files2 "$WL_BIN/wl-bulk-server" --port 0 || fail "bulk-server starts"
FILES2_PID=$WL_PID FILES2_PORT=$WL_PORT
wl_start downloader2 "$WL_BIN/wl-bulk-download" --port 0 --server "127.0.0.1:$FILES2_PORT" \
    --variant leaky --workdir "$TMP" || fail "bulk-download starts"
DL2_PID=$WL_PID DL2_PORT=$WL_PORT
# dl_json_at_least KEY N: the downloader's /status has KEY >= N.
dl_json_at_least() {
    curl -s --max-time 5 "http://127.0.0.1:$DL2_PORT/status" >"$TMP/dl2-status.json"
    python3 -c "import json,sys; exit(not json.load(open(sys.argv[1]))[sys.argv[2]] >= int(sys.argv[3]))" \
        "$TMP/dl2-status.json" "$1" "$2" 2>/dev/null
}
curl -s -X POST --max-time 5 "http://127.0.0.1:$DL2_PORT/start" >/dev/null
# Mid-batch: some files fetched, then the server goes; the failures are waited for.
wl_wait_until 60 dl_json_at_least requests 1
wl_stop "$FILES2_PID"
wl_wait_until 60 dl_json_at_least errors 1
curl -s -X POST --max-time 5 "http://127.0.0.1:$DL2_PORT/stop" >"$TMP/dl2.json"
check "bulk-download: survives its file server going away" wl_alive "$DL2_PID"
check "bulk-download: counts the failed fetches" python3 -c \
    "import json; exit(not json.load(open('$TMP/dl2.json'))['errors'] > 0)"
finish_server "bulk-download (server gone)" "$DL2_PID"

for prog in wl-api-burst wl-stream-origin wl-bulk-server; do
    "$WL_BIN/$prog" --port 99999 2>"$TMP/opt.err"
    expect_eq "$prog: a bad --port exits 2" "$?" 2
    check "$prog: a bad --port gives one line naming the option" grep -q "^$prog: --port" \
        "$TMP/opt.err"
done
"$WL_BIN/wl-stream-proxy" --port 0 2>"$TMP/opt.err"
expect_eq "wl-stream-proxy without --origin exits 2" "$?" 2
finish
