/* wl-mux-client: HTTP/2 (h2c, prior knowledge) load for wl-mux-streams. Opens C connections
 * and keeps S streams in flight on each, for a duration and/or a number of streams, keeping
 * the connections open across streams (the field case's long-lived clients). Optionally
 * cancels a share of streams (RST_STREAM CANCEL once the response headers arrive) and holds
 * the connections open, idle, after the last stream. Writes loadgen's JSON report. */
#include "wl_common.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#define GRACE_S 5 /* after the duration, how long in-flight streams may take to finish */

struct options {
    char host[16];
    uint16_t port;
    unsigned connections;
    unsigned streams;
    double duration_s;
    uint64_t max_requests; /* 0: no limit, the duration ends the run */
    double cancel_share;
    double hold_s;
    double rate; /* streams/s over all connections; 0: as fast as the server answers */
    const char *path;
    const char *json;
};

struct request {
    struct request *prev, *next; /* the connection's open requests */
    uint64_t start_ns;
    bool cancel; /* reset this stream right after its request is sent */
    bool ok;     /* :status 200 seen */
    bool reset_by_us;
};

struct client_conn {
    struct bufferevent *bev;
    nghttp2_session *session;
    struct request *requests; /* nghttp2_session_del does not report open streams: free these */
    unsigned inflight;
    bool alive;
};

struct run {
    struct event_base *base;
    struct client_conn *conns;
    unsigned alive;
    struct event *deadline;
    struct event *grace;
    struct event *hold;
    struct event *pace; /* with --rate: tops the connections up every few ms */
    bool stopping;      /* no new streams */
    bool finishing;     /* closing connections */
    uint64_t submitted, completed, cancelled, errors, bytes;
    double cancel_credit;
    uint64_t start_ns, end_ns;
    struct wl_latency latency;
    char authority[32];
};

static struct options opts;
static struct run run;
static nghttp2_session_callbacks *callbacks;

static void conn_close(struct client_conn *c);
static void maybe_finish(void);

/* ---- streams ------------------------------------------------------------------------------ */

static bool can_submit(void)
{
    return !run.stopping && (opts.max_requests == 0 || run.submitted < opts.max_requests);
}

static bool should_cancel(void)
{
    run.cancel_credit += opts.cancel_share;
    if (run.cancel_credit < 1.0)
        return false;
    run.cancel_credit -= 1.0;
    return true;
}

static int submit_stream(struct client_conn *c)
{
    struct request *req = calloc(1, sizeof(*req));
    if (!req)
        return -1;
    req->start_ns = wl_now_ns();
    req->cancel = should_cancel();
    const char *path = opts.path;
    nghttp2_nv headers[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)run.authority, 10, strlen(run.authority),
         NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP2_NV_FLAG_NONE},
    };
    if (nghttp2_submit_request(c->session, NULL, headers, 4, NULL, req) < 0) {
        free(req);
        return -1;
    }
    WL_LIST_PUSH(c->requests, req);
    c->inflight++;
    run.submitted++;
    return 0;
}

/* Open loop at --rate: stream k may start at k / rate seconds after the start. */
static bool rate_allows(void)
{
    if (opts.rate <= 0)
        return true;
    double elapsed_s = (double)(wl_now_ns() - run.start_ns) / 1e9;
    return (double)run.submitted < opts.rate * elapsed_s + 1;
}

static void fill_streams(struct client_conn *c)
{
    while (c->alive && c->inflight < opts.streams && can_submit() && rate_allows())
        if (submit_stream(c) != 0)
            break;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    (void)flags, (void)user;
    struct request *req = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (req && namelen == 7 && memcmp(name, ":status", 7) == 0)
        req->ok = valuelen == 3 && memcmp(value, "200", 3) == 0;
    return 0;
}

/* The cancel goes out right behind the request, so the server sees it while the stream is
 * still open: the reset (cancel) path of the server's stream close. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
    (void)user;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct request *req = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (req && req->cancel && !req->reset_by_us) {
        req->reset_by_us = true;
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_CANCEL);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user)
{
    (void)session, (void)flags, (void)stream_id, (void)data, (void)user;
    run.bytes += len;
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user)
{
    struct client_conn *c = user;
    struct request *req = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!req)
        return 0;
    if (req->reset_by_us) {
        run.cancelled++;
    } else if (error_code == NGHTTP2_NO_ERROR && req->ok) {
        run.completed++;
        wl_latency_add(&run.latency, (wl_now_ns() - req->start_ns) / 1000);
    } else {
        run.errors++;
    }
    WL_LIST_UNLINK(c->requests, req);
    free(req);
    c->inflight--;
    fill_streams(c);
    return 0;
}

/* ---- connections -------------------------------------------------------------------------- */

static int conn_flush(struct client_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        evbuffer_add(out, data, (size_t)n);
    }
}

/* A dead connection's in-flight streams count as errors. */
static void conn_fail(struct client_conn *c)
{
    run.errors += c->inflight;
    c->inflight = 0;
    conn_close(c);
    maybe_finish();
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct client_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len;
    while ((len = evbuffer_get_contiguous_space(in)) > 0) {
        const uint8_t *data = evbuffer_pullup(in, (ssize_t)len);
        ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
        if (n < 0) {
            conn_fail(c);
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    if (conn_flush(c) != 0) {
        conn_fail(c);
        return;
    }
    maybe_finish();
}

static void on_connected(struct client_conn *c)
{
    wl_fd_nodelay(bufferevent_getfd(c->bev));
    if (nghttp2_session_client_new(&c->session, callbacks, c) != 0) {
        conn_fail(c);
        return;
    }
    nghttp2_settings_entry push = {NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, &push, 1);
    fill_streams(c);
    if (conn_flush(c) != 0)
        conn_fail(c);
}

static void on_event(struct bufferevent *bev, short events, void *arg)
{
    (void)bev;
    struct client_conn *c = arg;
    if (events & BEV_EVENT_CONNECTED) {
        on_connected(c);
        return;
    }
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if (!c->session)
            run.errors++; /* the connection never came up */
        conn_fail(c);
    }
}

static void conn_close(struct client_conn *c)
{
    if (!c->alive)
        return;
    c->alive = false;
    run.alive--;
    if (c->session) {
        /* Say goodbye with GOAWAY, best effort, straight to the socket. */
        nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n > 0 && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            (void)!send(bufferevent_getfd(c->bev), data, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        nghttp2_session_del(c->session);
        c->session = NULL;
    }
    while (c->requests) {
        struct request *req = c->requests;
        c->requests = req->next;
        free(req);
    }
    bufferevent_free(c->bev);
    c->bev = NULL;
}

static void conn_start(struct client_conn *c, const struct sockaddr_in *addr)
{
    c->alive = true;
    run.alive++;
    c->bev = bufferevent_socket_new(run.base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        wl_die("cannot create a connection; check memory limits");
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
        run.errors++;
        conn_close(c);
    }
}

/* ---- run control -------------------------------------------------------------------------- */

static void close_all(void)
{
    for (unsigned i = 0; i < opts.connections; i++)
        conn_close(&run.conns[i]);
    event_base_loopbreak(run.base);
}

static void on_hold_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    close_all();
}

static unsigned total_inflight(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < opts.connections; i++)
        n += run.conns[i].alive ? run.conns[i].inflight : 0;
    return n;
}

/* When no stream can start and none is in flight: hold the connections if asked, then close. */
static void maybe_finish(void)
{
    if (run.finishing || (can_submit() && run.alive > 0) || total_inflight() > 0)
        return;
    run.finishing = true;
    run.end_ns = wl_now_ns();
    if (opts.hold_s > 0 && run.alive > 0) {
        fprintf(stderr, "wl-mux-client: holding %u connections for %.1f s\n", run.alive,
                opts.hold_s);
        fflush(stderr);
        struct timeval tv = wl_timeval_from_s(opts.hold_s);
        evtimer_add(run.hold, &tv);
        return;
    }
    close_all();
}

static void on_pace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (run.finishing) {
        event_del(run.pace);
        return;
    }
    for (unsigned i = 0; i < opts.connections; i++) {
        struct client_conn *c = &run.conns[i];
        if (!c->alive || !c->session)
            continue;
        fill_streams(c);
        if (conn_flush(c) != 0)
            conn_fail(c);
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    run.stopping = true;
    struct timeval grace = {GRACE_S, 0};
    evtimer_add(run.grace, &grace);
    maybe_finish();
}

/* In-flight streams that outlive the grace period are errors. */
static void on_grace_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (run.finishing)
        return;
    for (unsigned i = 0; i < opts.connections; i++)
        if (run.conns[i].alive)
            conn_fail(&run.conns[i]);
    maybe_finish();
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (!run.end_ns)
        run.end_ns = wl_now_ns();
    for (unsigned i = 0; i < opts.connections; i++)
        if (run.conns[i].alive) {
            run.errors += run.conns[i].inflight;
            run.conns[i].inflight = 0;
        }
    close_all();
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wl-mux-client --target HOST:PORT [--connections C] [--streams S]\n"
            "                     [--duration SECONDS] [--requests N] [--path P]\n"
            "                     [--cancel SHARE] [--hold SECONDS] [--rate R] [--json FILE]\n"
            "                     [--scale quick|large]\n"
            "HTTP/2 prior-knowledge load: C connections, S concurrent streams on each.\n"
            "  --connections C   connections kept open for the whole run (quick 4, large 2000)\n"
            "  --streams S       streams in flight per connection (quick 10, large 10)\n"
            "  --duration S      stop starting streams after S seconds (default 5)\n"
            "  --requests N      stop after N streams in total (default: no limit)\n"
            "  --cancel SHARE    share of streams reset (CANCEL) right after their request\n"
            "                    (default 0; nghttp2 servers allow ~1000 resets per connection)\n"
            "  --hold S          keep the connections open, idle, S seconds after the last stream\n"
            "  --rate R          start at most R streams/s over all connections (default: as\n"
            "                    fast as the server answers)\n"
            "  --json FILE       write the report as JSON (temp file + rename)\n");
}

static void apply_scale(bool large)
{
    opts.connections = 4;
    opts.streams = 10;
    if (large) {
        opts.connections = 2000;
        opts.streams = 10;
    }
}

static void parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 'T'},
        {"connections", required_argument, NULL, 'c'},
        {"streams", required_argument, NULL, 'm'},
        {"duration", required_argument, NULL, 'd'},
        {"requests", required_argument, NULL, 'n'},
        {"path", required_argument, NULL, 'P'},
        {"cancel", required_argument, NULL, 'x'},
        {"hold", required_argument, NULL, 'H'},
        {"json", required_argument, NULL, 'j'},
        {"rate", required_argument, NULL, 'R'},
        {"scale", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    apply_scale(wl_opt_scale_large(argc, argv));
    opts.duration_s = 5;
    opts.path = "/";
    bool have_target = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'T':
            wl_opt_hostport("--target", optarg, opts.host, sizeof(opts.host), &opts.port);
            have_target = true;
            break;
        case 'c':
            opts.connections = wl_opt_uint("--connections", optarg, 1, 100000);
            break;
        case 'm':
            opts.streams = wl_opt_uint("--streams", optarg, 1, 100000);
            break;
        case 'd':
            opts.duration_s = wl_opt_double("--duration", optarg, 0.1, 86400);
            break;
        case 'n':
            opts.max_requests = wl_opt_uint("--requests", optarg, 1, UINT64_MAX);
            break;
        case 'P':
            if (optarg[0] != '/' || strlen(optarg) > 1024)
                wl_die("--path must start with '/' and be at most 1024 bytes");
            opts.path = optarg;
            break;
        case 'x':
            opts.cancel_share = wl_opt_double("--cancel", optarg, 0, 1);
            break;
        case 'H':
            opts.hold_s = wl_opt_double("--hold", optarg, 0, 86400);
            break;
        case 'R':
            opts.rate = wl_opt_double("--rate", optarg, 0, 1e9);
            break;
        case 'j':
            opts.json = optarg;
            break;
        case 's':
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            wl_opt_unknown();
        }
    }
    wl_opt_no_operands(argc, argv, optind);
    if (!have_target)
        wl_die("no --target given; pass --target 127.0.0.1:PORT");
}

static void setup_callbacks(void)
{
    if (nghttp2_session_callbacks_new(&callbacks) != 0)
        wl_die("cannot initialise nghttp2; check memory limits");
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
}

static int write_report(void)
{
    char extra[160];
    snprintf(extra, sizeof(extra),
             ",\"streams_per_connection\":%u,\"streams_cancelled\":%llu,\"streams_started\":%llu",
             opts.streams, (unsigned long long)run.cancelled, (unsigned long long)run.submitted);
    struct wl_report report = {
        .tool = "wl-mux-client",
        .scenario = "mux-streams",
        .connections = opts.connections,
        .duration_s = (double)(run.end_ns - run.start_ns) / 1e9,
        .requests = run.completed + run.cancelled,
        .errors = run.errors,
        .bytes = run.bytes,
        .latency = &run.latency,
    };
    snprintf(report.target, sizeof(report.target), "%s:%u", opts.host, opts.port);
    return wl_report_finish(&report, extra, opts.json);
}

int main(int argc, char **argv)
{
    wl_set_program_name(argv[0]);
    parse_options(argc, argv);
    wl_raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    setup_callbacks();
    wl_latency_init(&run.latency, WL_LATENCY_KEEP_ALL);
    snprintf(run.authority, sizeof(run.authority), "%s:%u", opts.host, opts.port);
    struct sockaddr_in addr = wl_sockaddr_ipv4(opts.host, opts.port);

    run.base = event_base_new();
    run.conns = calloc(opts.connections, sizeof(*run.conns));
    run.deadline = evtimer_new(run.base, on_deadline, NULL);
    run.grace = evtimer_new(run.base, on_grace_over, NULL);
    run.hold = evtimer_new(run.base, on_hold_over, NULL);
    run.pace = event_new(run.base, -1, EV_PERSIST, on_pace, NULL);
    if (!run.base || !run.conns || !run.deadline || !run.grace || !run.hold || !run.pace)
        wl_die("cannot set up the event loop; check memory limits");
    struct wl_stop_signals signals;
    wl_stop_signals_add(&signals, run.base, on_signal, NULL);
    struct timeval duration = wl_timeval_from_s(opts.duration_s);
    evtimer_add(run.deadline, &duration);
    struct timeval pace_period = {0, 5000};
    if (opts.rate > 0)
        event_add(run.pace, &pace_period);

    run.start_ns = wl_now_ns();
    for (unsigned i = 0; i < opts.connections; i++)
        conn_start(&run.conns[i], &addr);
    maybe_finish();
    if (!run.finishing || run.alive > 0)
        event_base_dispatch(run.base);
    if (!run.end_ns)
        run.end_ns = wl_now_ns();

    int status = write_report();
    free(run.conns);
    event_free(run.deadline);
    event_free(run.grace);
    event_free(run.hold);
    event_free(run.pace);
    wl_stop_signals_free(&signals);
    event_base_free(run.base);
    nghttp2_session_callbacks_del(callbacks);
    wl_latency_free(&run.latency);
    return status;
}
