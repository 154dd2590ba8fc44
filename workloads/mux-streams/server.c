/* wl-mux-streams: an HTTP/2 (h2c, prior knowledge) server holding per-connection stream
 * state, replaying field case 4 (a QUIC reverse proxy whose per-connection stream maps kept
 * every stream that was closed without first cancelling its write side).
 *
 *   --variant leaky  a stream's state leaves the connection's map only on the cancel path
 *                    (the peer reset the stream); a normal close after END_STREAM keeps it
 *                    until the connection closes, so memory grows with streams served.
 *   --variant fixed  cancel the write side, then close: every close frees the state; the
 *                    concurrent incoming streams are bounded by SETTINGS_MAX_CONCURRENT_STREAMS.
 *
 * Worker threads each run their own event_base and accept on the same 127.0.0.1 port
 * (SO_REUSEPORT). GET /stats answers with the server's counters as JSON. */
#include "stream_map.h"
#include "wl_common.h"

#include <getopt.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <nghttp2/nghttp2.h>

#define MAX_THREADS 64
/* Stop pulling frames out of nghttp2 (and stop reading) above this much unsent output. */
#define OUTPUT_HIGH_WATER (256 * 1024)
#define MAX_REQUEST_HEADER_BYTES (16 * 1024)
#define WRITE_TIMEOUT_S 30

enum variant { VARIANT_LEAKY, VARIANT_FIXED };

struct options {
    uint16_t port;
    enum variant variant;
    unsigned threads;
    size_t stream_buffer;
    size_t response_bytes;
    uint32_t max_streams;
};

struct counters {
    atomic_ullong connections_open;
    atomic_ullong streams_served;
    atomic_ullong streams_held; /* stream states currently allocated */
    atomic_ullong bad_connections;
};

struct worker;

struct mux_conn {
    struct worker *worker;
    struct bufferevent *bev;
    nghttp2_session *session;
    struct stream_map streams;
    bool closing;        /* flush what is queued, then free */
    bool protocol_known; /* the first bytes were looked at: HTTP/2 or HTTP/1.x */
    bool http1;          /* an HTTP/1.x request got its one-shot answer */
    bool counted_bad;
    struct mux_conn *prev, *next;
};

struct worker {
    unsigned index;
    pthread_t thread;
    struct event_base *base;
    struct wl_listener listener;
    struct mux_conn *conns;
};

static struct options opts;
static struct counters counters;
static struct worker workers[MAX_THREADS];

/* ---- stream life cycle -------------------------------------------------------------------- */

static struct stream_state *stream_open(struct mux_conn *c, int32_t id)
{
    struct stream_state *st = stream_state_new(id, opts.stream_buffer);
    if (!st)
        return NULL;
    if (stream_map_put(&c->streams, st) != 0) {
        stream_state_free(st);
        return NULL;
    }
    atomic_fetch_add(&counters.streams_held, 1);
    return st;
}

static void stream_cancel_write(struct stream_state *st)
{
    st->write_cancelled = true;
}

/* The field case's close: the state leaves the map only if the write side was cancelled. */
static void stream_close(struct mux_conn *c, struct stream_state *st)
{
    st->closed = true;
    if (!st->write_cancelled)
        return;
    stream_map_remove(&c->streams, st->id);
    stream_state_free(st);
    atomic_fetch_sub(&counters.streams_held, 1);
}

static void conn_mark_bad(struct mux_conn *c)
{
    if (!c->counted_bad)
        atomic_fetch_add(&counters.bad_connections, 1);
    c->counted_bad = true;
}

static void conn_release_streams(struct mux_conn *c)
{
    atomic_fetch_sub(&counters.streams_held, c->streams.count);
    stream_map_clear(&c->streams);
}

/* ---- responses ---------------------------------------------------------------------------- */

static ssize_t read_response_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                                  size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                                  void *user_data)
{
    (void)session, (void)stream_id, (void)user_data;
    struct stream_state *st = source->ptr;
    size_t left = st->response_len - st->response_sent;
    size_t n = left < length ? left : length;
    memcpy(buf, st->buf + st->response_sent, n);
    st->response_sent += n;
    if (st->response_sent == st->response_len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static size_t format_stats(char *out, size_t len)
{
    int n = snprintf(out, len,
                     "{\"variant\":\"%s\",\"connections_open\":%llu,\"streams_served\":%llu,"
                     "\"streams_held\":%llu,\"bad_connections\":%llu}\n",
                     opts.variant == VARIANT_LEAKY ? "leaky" : "fixed",
                     (unsigned long long)atomic_load(&counters.connections_open),
                     (unsigned long long)atomic_load(&counters.streams_served),
                     (unsigned long long)atomic_load(&counters.streams_held),
                     (unsigned long long)atomic_load(&counters.bad_connections));
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

static int submit_response(struct mux_conn *c, struct stream_state *st)
{
    const char *type = "application/octet-stream";
    if (strcmp(st->path, "/stats") == 0) {
        st->response_len = format_stats((char *)st->buf, st->buf_len);
        type = "application/json";
    } else {
        st->response_len = opts.response_bytes;
    }
    char length[24];
    snprintf(length, sizeof(length), "%zu", st->response_len);
    nghttp2_nv headers[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)type, 12, strlen(type), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-length", (uint8_t *)length, 14, strlen(length), NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider body = {.source.ptr = st, .read_callback = read_response_body};
    atomic_fetch_add(&counters.streams_served, 1);
    return nghttp2_submit_response(c->session, st->id, headers, 3, &body);
}

/* ---- nghttp2 callbacks -------------------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
    struct mux_conn *c = user;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct stream_state *st = stream_open(c, frame->hd.stream_id);
    if (!st)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets this stream only */
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, st);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    (void)flags, (void)user;
    struct stream_state *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!st)
        return 0;
    st->header_bytes += namelen + valuelen;
    if (st->header_bytes > MAX_REQUEST_HEADER_BYTES)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        size_t n = valuelen < sizeof(st->path) - 1 ? valuelen : sizeof(st->path) - 1;
        memcpy(st->path, value, n);
        st->path[n] = '\0';
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user)
{
    (void)flags, (void)user;
    struct stream_state *st = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!st || st->body_len >= st->buf_len)
        return 0; /* a body larger than the stream buffer is read and discarded */
    size_t room = st->buf_len - st->body_len;
    size_t n = len < room ? len : room;
    memcpy(st->buf + st->body_len, data, n);
    st->body_len += n;
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
    struct mux_conn *c = user;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct stream_state *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!st)
        return 0;
    if (submit_response(c, st) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user)
{
    struct mux_conn *c = user;
    struct stream_state *st = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!st)
        return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    if (error_code != NGHTTP2_NO_ERROR)
        stream_cancel_write(st); /* the stream was reset: the cancel path */
    if (opts.variant == VARIANT_FIXED)
        stream_cancel_write(st);
    stream_close(c, st);
    return 0;
}

/* A GOAWAY with an error code ends a connection that broke the protocol. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
    (void)session;
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR)
        conn_mark_bad(user);
    return 0;
}

static nghttp2_session_callbacks *make_callbacks(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    return cbs;
}

/* ---- connections -------------------------------------------------------------------------- */

static void conn_free(struct mux_conn *c)
{
    struct worker *w = c->worker;
    WL_LIST_UNLINK(w->conns, c);
    /* Delete the session first: it may still report stream closes into the map. */
    nghttp2_session_del(c->session);
    conn_release_streams(c);
    bufferevent_free(c->bev);
    free(c);
    atomic_fetch_sub(&counters.connections_open, 1);
}

/* Moves queued frames into the socket buffer, up to the high-water mark. Returns -1 when the
 * session failed and the connection must go. */
static int conn_flush(struct mux_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    while (evbuffer_get_length(out) < OUTPUT_HIGH_WATER) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (evbuffer_add(out, data, (size_t)n) != 0)
            return -1;
    }
    return 0;
}

/* After any progress: send what can be sent, apply backpressure, and close when the session
 * is over and everything queued has been written. Returns false when C was freed. */
static bool conn_update(struct mux_conn *c)
{
    if (c->http1) {
        bufferevent_disable(c->bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
            conn_free(c);
            return false;
        }
        return true;
    }
    if (conn_flush(c) != 0) {
        conn_free(c);
        return false;
    }
    size_t pending = evbuffer_get_length(bufferevent_get_output(c->bev));
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
        c->closing = true;
    if (c->closing) {
        bufferevent_disable(c->bev, EV_READ);
        if (pending == 0) {
            conn_free(c);
            return false;
        }
        return true;
    }
    if (pending >= OUTPUT_HIGH_WATER)
        bufferevent_disable(c->bev, EV_READ);
    else
        bufferevent_enable(c->bev, EV_READ);
    return true;
}

static void reply_http1(struct mux_conn *c, const char *status, const char *type, const char *body)
{
    wl_http1_reply_close(bufferevent_get_output(c->bev), status, type, body);
    c->http1 = true;
}

/* HTTP/1.x on this port gets a one-shot answer, so plain health checks work: GET /health and
 * GET /stats answer the counters, anything else 505. */
static void answer_http1(struct mux_conn *c, struct evbuffer *in)
{
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0) {
        if (evbuffer_get_length(in) > MAX_REQUEST_HEADER_BYTES) {
            conn_mark_bad(c);
            reply_http1(c, "431 Request Header Fields Too Large", "text/plain",
                        "request head too large\n");
        }
        return;
    }
    char *line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF);
    char method[16], path[128], stats[256];
    bool health = line && sscanf(line, "%15s %127s", method, path) == 2 &&
                  strcmp(method, "GET") == 0 &&
                  (strcmp(path, "/health") == 0 || strcmp(path, "/stats") == 0);
    free(line);
    if (health) {
        format_stats(stats, sizeof(stats));
        reply_http1(c, "200 OK", "application/json", stats);
    } else {
        conn_mark_bad(c);
        reply_http1(c, "505 HTTP Version Not Supported", "text/plain",
                    "this server speaks HTTP/2 only (h2c with prior knowledge)\n");
    }
}

enum first_bytes { FIRST_BYTES_UNDECIDED, FIRST_BYTES_HTTP2, FIRST_BYTES_HTTP1 };

/* HTTP/2 when the bytes so far could be the client preface (nghttp2 judges the rest);
 * HTTP/1.x when they are an upper-case method and a space. */
static enum first_bytes classify_first_bytes(struct evbuffer *in)
{
    static const char preface[] = "PRI * HTTP/2.0";
    char head[8];
    size_t n = (size_t)evbuffer_copyout(in, head, sizeof(head));
    if (memcmp(head, preface, n) != 0) {
        for (size_t i = 0; i < n; i++) {
            if (head[i] == ' ')
                return i >= 3 ? FIRST_BYTES_HTTP1 : FIRST_BYTES_HTTP2;
            if (head[i] < 'A' || head[i] > 'Z')
                return FIRST_BYTES_HTTP2;
        }
    }
    return n < sizeof(head) ? FIRST_BYTES_UNDECIDED : FIRST_BYTES_HTTP2;
}

static void on_conn_read(struct bufferevent *bev, void *arg)
{
    struct mux_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len;
    if (!c->protocol_known) {
        enum first_bytes kind = classify_first_bytes(in);
        if (kind == FIRST_BYTES_UNDECIDED)
            return;
        if (kind == FIRST_BYTES_HTTP1) {
            answer_http1(c, in);
            if (c->http1) {
                evbuffer_drain(in, evbuffer_get_length(in));
                conn_update(c);
            }
            return;
        }
        c->protocol_known = true;
    }
    while (!c->closing && (len = evbuffer_get_contiguous_space(in)) > 0) {
        const uint8_t *data = evbuffer_pullup(in, (ssize_t)len);
        ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
        if (n < 0) {
            /* Bad preface or a fatal protocol error: say GOAWAY if possible, then go. */
            conn_mark_bad(c);
            nghttp2_session_terminate_session(c->session, NGHTTP2_PROTOCOL_ERROR);
            c->closing = true;
            evbuffer_drain(in, len);
            break;
        }
        evbuffer_drain(in, (size_t)n);
    }
    if (c->closing)
        evbuffer_drain(in, evbuffer_get_length(in));
    conn_update(c);
}

static void on_conn_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct mux_conn *c = arg;
    if (c->protocol_known || c->http1) /* nothing is sent before the client's first bytes */
        conn_update(c);
}

static void on_conn_event(struct bufferevent *bev, short events, void *arg)
{
    (void)bev;
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_free(arg);
}

static nghttp2_session_callbacks *shared_callbacks;
static nghttp2_option *shared_option;

static int conn_new_session(struct mux_conn *c)
{
    if (nghttp2_session_server_new2(&c->session, shared_callbacks, c, shared_option) != 0)
        return -1;
    nghttp2_settings_entry settings[1];
    size_t nsettings = 0;
    if (opts.variant == VARIANT_FIXED)
        settings[nsettings++] =
            (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opts.max_streams};
    return nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, nsettings);
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    (void)listener, (void)sa, (void)socklen;
    struct worker *w = arg;
    struct mux_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->worker = w;
    c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev || conn_new_session(c) != 0) {
        if (c->session)
            nghttp2_session_del(c->session);
        if (c->bev)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        free(c);
        return;
    }
    wl_fd_nodelay(fd);
    WL_LIST_PUSH(w->conns, c);
    atomic_fetch_add(&counters.connections_open, 1);
    struct timeval write_timeout = {WRITE_TIMEOUT_S, 0};
    bufferevent_set_timeouts(c->bev, NULL, &write_timeout);
    bufferevent_setwatermark(c->bev, EV_WRITE, OUTPUT_HIGH_WATER / 2, 0);
    bufferevent_setcb(c->bev, on_conn_read, on_conn_write, on_conn_event, c);
    /* The server's SETTINGS go out with the first answer, once the client has shown it
     * speaks HTTP/2. */
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---- workers and main --------------------------------------------------------------------- */

static void worker_init(struct worker *w, unsigned index, uint16_t *port)
{
    w->index = index;
    w->base = event_base_new();
    if (!w->base)
        wl_die("cannot create an event loop; check memory limits");
    wl_listener_open(&w->listener, w->base, port, true, on_accept, w);
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    event_base_dispatch(w->base);
    while (w->conns)
        conn_free(w->conns);
    wl_listener_close(&w->listener);
    event_base_free(w->base);
    return NULL;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    for (unsigned i = 0; i < opts.threads; i++)
        event_base_loopexit(workers[i].base, NULL);
    event_base_loopbreak(arg);
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: wl-mux-streams [--port N] [--variant leaky|fixed] [--scale quick|large]\n"
        "                      [--threads N] [--stream-buffer BYTES] [--response-bytes BYTES]\n"
        "                      [--max-streams N]\n"
        "HTTP/2 cleartext (prior knowledge) server on 127.0.0.1 holding per-stream state.\n"
        "  --port N            0 picks a free port (printed on stdout); default 0\n"
        "  --variant V         leaky: normal stream closes keep their state until the\n"
        "                      connection closes; fixed: cancel then close, bounded streams\n"
        "  --scale S           quick (default) or large: sets the defaults below\n"
        "  --threads N         worker threads, each with its own event loop (quick 2)\n"
        "  --stream-buffer B   per-stream buffer (quick 4K, large 8K)\n"
        "  --response-bytes B  response body size, at most the stream buffer (quick 1K)\n"
        "  --max-streams N     fixed: SETTINGS_MAX_CONCURRENT_STREAMS (quick 100, large 256)\n");
}

static void apply_scale(bool large)
{
    opts.threads = 2;
    opts.stream_buffer = 4096;
    opts.response_bytes = 1024;
    opts.max_streams = 100;
    if (large) {
        opts.stream_buffer = 8192;
        opts.response_bytes = 4096;
        opts.max_streams = 256;
    }
}

static void parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"variant", required_argument, NULL, 'v'},
        {"scale", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'},
        {"stream-buffer", required_argument, NULL, 'b'},
        {"response-bytes", required_argument, NULL, 'r'},
        {"max-streams", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    apply_scale(wl_opt_scale_large(argc, argv));
    opts.variant = VARIANT_LEAKY;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            opts.port = (uint16_t)wl_opt_uint("--port", optarg, 0, 65535);
            break;
        case 'v':
            opts.variant = wl_opt_leaky("--variant", optarg) ? VARIANT_LEAKY : VARIANT_FIXED;
            break;
        case 's':
            break;
        case 't':
            opts.threads = wl_opt_uint("--threads", optarg, 1, MAX_THREADS);
            break;
        case 'b':
            opts.stream_buffer = wl_opt_bytes("--stream-buffer", optarg, 256, 64 << 20);
            break;
        case 'r':
            opts.response_bytes = wl_opt_bytes("--response-bytes", optarg, 0, 64 << 20);
            break;
        case 'm':
            opts.max_streams = (uint32_t)wl_opt_uint("--max-streams", optarg, 1, 1u << 30);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            wl_opt_unknown();
        }
    }
    wl_opt_no_operands(argc, argv, optind);
    if (opts.response_bytes > opts.stream_buffer)
        wl_die("--response-bytes (%zu) exceeds --stream-buffer (%zu); raise the buffer",
               opts.response_bytes, opts.stream_buffer);
}

int main(int argc, char **argv)
{
    wl_set_program_name(argv[0]);
    parse_options(argc, argv);
    wl_raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() != 0)
        wl_die("libevent has no pthread support; install libevent-pthreads");
    shared_callbacks = make_callbacks();
    if (!shared_callbacks || nghttp2_option_new(&shared_option) != 0)
        wl_die("cannot initialise nghttp2; check memory limits");
    /* nghttp2 would otherwise keep closed streams for priority bookkeeping: that memory is
     * not the state this scenario is about. */
    nghttp2_option_set_no_closed_streams(shared_option, 1);

    uint16_t port = opts.port;
    for (unsigned i = 0; i < opts.threads; i++)
        worker_init(&workers[i], i, &port);
    struct event_base *main_base = event_base_new();
    if (!main_base)
        wl_die("cannot create an event loop; check memory limits");
    struct wl_stop_signals signals;
    wl_stop_signals_add(&signals, main_base, on_signal, main_base);
    for (unsigned i = 0; i < opts.threads; i++)
        if (pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]) != 0)
            wl_die("cannot start worker thread %u; lower --threads", i);
    printf("wl-mux-streams: listening on 127.0.0.1:%u (variant %s, %u threads)\n", port,
           opts.variant == VARIANT_LEAKY ? "leaky" : "fixed", opts.threads);
    fflush(stdout);

    event_base_dispatch(main_base);
    for (unsigned i = 0; i < opts.threads; i++)
        pthread_join(workers[i].thread, NULL);
    printf("wl-mux-streams: served %llu streams; exiting\n",
           (unsigned long long)atomic_load(&counters.streams_served));
    wl_stop_signals_free(&signals);
    event_base_free(main_base);
    nghttp2_session_callbacks_del(shared_callbacks);
    nghttp2_option_del(shared_option);
    libevent_global_shutdown();
    return 0;
}
