/* wl-slow-reader: a live stream pushed over chunked HTTP/1.1 to every connected viewer,
 * replaying field case 5 (a Mongoose video push server whose per-connection send buffer grew
 * without bound once a sleeping browser tab stopped reading).
 *
 *   --variant leaky  every frame is appended to every viewer's send buffer, read or not.
 *   --variant fixed  a viewer whose unsent output is above the high-water mark skips frames
 *                    (backpressure), and a viewer that drains nothing for --idle-timeout
 *                    seconds while output is pending is closed.
 *
 * GET /live streams; GET /status answers with the server's counters as JSON. Single event
 * loop, like Mongoose. */
#include "wl_common.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define MAX_REQUEST_BYTES 8192
#define REQUEST_TIMEOUT_S 10 /* a client must send its request head within this */
#define CHUNK_HEAD_MAX 20    /* "%zx\r\n" of a frame size */

enum variant { VARIANT_LEAKY, VARIANT_FIXED };

struct options {
    uint16_t port;
    enum variant variant;
    size_t frame_bytes;
    unsigned fps;
    size_t high_water;
    unsigned idle_timeout_s;
};

enum viewer_state { READING_REQUEST, STREAMING, CLOSING };

struct viewer {
    struct bufferevent *bev;
    enum viewer_state state;
    bool chunked; /* HTTP/1.1: chunked frames; HTTP/1.0: close-delimited */
    struct evbuffer_cb_entry *progress_cb;
    uint64_t last_progress_ns; /* last time the socket took bytes, or output became pending */
    struct viewer *prev, *next;
};

struct stream_server {
    struct event_base *base;
    struct wl_listener listener;
    struct event *frame_timer;
    unsigned char *frame;
    uint64_t frame_seq;
    struct viewer *viewers;
    uint64_t viewers_open;
    uint64_t frames_dropped;
    uint64_t closed_idle;
    uint64_t bad_requests;
    uint64_t queued_bytes; /* frame bytes currently held in send buffers */
};

static struct options opts;
static struct stream_server srv;

/* ---- viewers ------------------------------------------------------------------------------ */

static void viewer_free(struct viewer *v)
{
    WL_LIST_UNLINK(srv.viewers, v);
    evbuffer_remove_cb_entry(bufferevent_get_output(v->bev), v->progress_cb);
    bufferevent_free(v->bev); /* releases the queued frame copies */
    free(v);
    srv.viewers_open--;
}

/* Sends what is queued, then closes. */
static void viewer_finish(struct viewer *v)
{
    v->state = CLOSING;
    bufferevent_disable(v->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(v->bev)) == 0)
        viewer_free(v);
}

/* A dead reader is reset, not closed: a FIN would queue behind data it will never read, and
 * the kernel would keep the socket and its send buffer. */
static void viewer_abort(struct viewer *v)
{
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    setsockopt(bufferevent_getfd(v->bev), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    viewer_free(v);
}

static void release_frame_copy(const void *data, size_t len, void *arg)
{
    (void)arg;
    srv.queued_bytes -= len;
    free((void *)data);
}

/* The allocation the leaky variant accumulates: each viewer gets its own copy of every frame,
 * framed as one HTTP chunk, appended to its send buffer. */
__attribute__((noinline)) static int conn_queue_frame(struct viewer *v, const unsigned char *frame,
                                                      size_t len)
{
    unsigned char *copy = malloc(len + CHUNK_HEAD_MAX + 2);
    if (!copy)
        return -1;
    size_t head = 0;
    if (v->chunked)
        head = (size_t)snprintf((char *)copy, CHUNK_HEAD_MAX, "%zx\r\n", len);
    memcpy(copy + head, frame, len);
    size_t total = head + len;
    if (v->chunked) {
        memcpy(copy + total, "\r\n", 2);
        total += 2;
    }
    struct evbuffer *out = bufferevent_get_output(v->bev);
    if (evbuffer_add_reference(out, copy, total, release_frame_copy, NULL) != 0) {
        free(copy);
        return -1;
    }
    srv.queued_bytes += total;
    return 0;
}

static bool viewer_over_high_water(const struct viewer *v)
{
    return evbuffer_get_length(bufferevent_get_output(v->bev)) > opts.high_water;
}

static bool viewer_idle_too_long(const struct viewer *v, uint64_t now)
{
    return evbuffer_get_length(bufferevent_get_output(v->bev)) > 0 &&
           now - v->last_progress_ns > (uint64_t)opts.idle_timeout_s * 1000000000ull;
}

/* Returns false when V was closed. */
static bool viewer_push_frame(struct viewer *v, uint64_t now)
{
    if (opts.variant == VARIANT_FIXED) {
        if (viewer_idle_too_long(v, now)) {
            srv.closed_idle++;
            viewer_abort(v);
            return false;
        }
        if (viewer_over_high_water(v)) {
            srv.frames_dropped++;
            return true;
        }
    }
    if (conn_queue_frame(v, srv.frame, opts.frame_bytes) != 0)
        srv.frames_dropped++;
    return true;
}

/* The generator: a new frame every 1/fps seconds, pushed to every viewer. */
static void on_frame_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    srv.frame_seq++;
    int n = snprintf((char *)srv.frame, opts.frame_bytes, "FRAME %llu\n",
                     (unsigned long long)srv.frame_seq);
    memset(srv.frame + n, (int)('A' + srv.frame_seq % 26), opts.frame_bytes - (size_t)n);
    uint64_t now = wl_now_ns();
    struct viewer *v = srv.viewers;
    while (v) {
        struct viewer *next = v->next;
        if (v->state == STREAMING)
            viewer_push_frame(v, now);
        v = next;
    }
}

/* ---- requests ----------------------------------------------------------------------------- */

static void reply_and_close(struct viewer *v, const char *status, const char *type,
                            const char *body)
{
    wl_http1_reply_close(bufferevent_get_output(v->bev), status, type, body);
    viewer_finish(v);
}

static void reply_error(struct viewer *v, const char *status)
{
    srv.bad_requests++;
    char body[64];
    snprintf(body, sizeof(body), "%s\n", status);
    reply_and_close(v, status, "text/plain", body);
}

static void reply_status(struct viewer *v)
{
    char body[320];
    snprintf(body, sizeof(body),
             "{\"variant\":\"%s\",\"viewers\":%llu,\"frames\":%llu,\"frames_dropped\":%llu,"
             "\"closed_idle\":%llu,\"bad_requests\":%llu,\"queued_bytes\":%llu}\n",
             opts.variant == VARIANT_LEAKY ? "leaky" : "fixed",
             (unsigned long long)srv.viewers_open, (unsigned long long)srv.frame_seq,
             (unsigned long long)srv.frames_dropped, (unsigned long long)srv.closed_idle,
             (unsigned long long)srv.bad_requests, (unsigned long long)srv.queued_bytes);
    reply_and_close(v, "200 OK", "application/json", body);
}

static void start_streaming(struct viewer *v)
{
    struct evbuffer *out = bufferevent_get_output(v->bev);
    evbuffer_add_printf(out,
                        "HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\n"
                        "Cache-Control: no-store\r\n%s\r\n",
                        v->chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n");
    v->state = STREAMING;
    v->last_progress_ns = wl_now_ns();
    bufferevent_set_timeouts(v->bev, NULL, NULL); /* viewers send nothing more */
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < 'A' || *s > 'Z')
            return false;
    return true;
}

/* Reads the header lines after the request line; false when one is not "Name: value". */
static bool skip_header_lines(struct evbuffer *in)
{
    for (;;) {
        size_t len;
        char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
        if (!line)
            return false;
        bool end = len == 0;
        bool ok = end || (strchr(line, ':') && line[0] != ':' && line[0] != ' ');
        free(line);
        if (end || !ok)
            return ok;
    }
}

static void handle_request(struct viewer *v, struct evbuffer *in)
{
    size_t len;
    char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
    char method[16], target[256], version[16], extra;
    int fields = line ? sscanf(line, "%15s %255s %15s %c", method, target, version, &extra) : 0;
    free(line);
    if (fields != 3 || !is_token(method) || target[0] != '/' ||
        (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0) ||
        !skip_header_lines(in)) {
        reply_error(v, "400 Bad Request");
        return;
    }
    if (strcmp(method, "GET") != 0) {
        reply_error(v, "405 Method Not Allowed");
        return;
    }
    v->chunked = strcmp(version, "HTTP/1.1") == 0;
    if (strcmp(target, "/live") == 0)
        start_streaming(v);
    else if (strcmp(target, "/status") == 0)
        reply_status(v);
    else
        reply_error(v, "404 Not Found");
}

static void on_viewer_read(struct bufferevent *bev, void *arg)
{
    struct viewer *v = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (v->state != READING_REQUEST) {
        evbuffer_drain(in, evbuffer_get_length(in)); /* nothing more is expected */
        return;
    }
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0) {
        if (evbuffer_get_length(in) > MAX_REQUEST_BYTES)
            reply_error(v, "431 Request Header Fields Too Large");
        return;
    }
    if ((size_t)end.pos + 4 > MAX_REQUEST_BYTES) {
        reply_error(v, "431 Request Header Fields Too Large");
        return;
    }
    handle_request(v, in);
}

static void on_viewer_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct viewer *v = arg;
    if (v->state == CLOSING)
        viewer_free(v);
}

static void on_viewer_event(struct bufferevent *bev, short events, void *arg)
{
    (void)bev;
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        viewer_free(arg);
}

/* Progress is the socket taking bytes, or output becoming pending after being empty: the
 * idle clock measures how long pending output has waited. */
static void on_output_change(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct viewer *v = arg;
    if (info->n_deleted > 0 || (info->n_added > 0 && info->orig_size == 0))
        v->last_progress_ns = wl_now_ns();
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    (void)listener, (void)sa, (void)socklen, (void)arg;
    struct viewer *v = calloc(1, sizeof(*v));
    if (v)
        v->bev = bufferevent_socket_new(srv.base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!v || !v->bev) {
        free(v);
        evutil_closesocket(fd);
        return;
    }
    WL_LIST_PUSH(srv.viewers, v);
    srv.viewers_open++;
    struct timeval request_timeout = {REQUEST_TIMEOUT_S, 0};
    bufferevent_set_timeouts(v->bev, &request_timeout, NULL);
    v->progress_cb = evbuffer_add_cb(bufferevent_get_output(v->bev), on_output_change, v);
    bufferevent_setcb(v->bev, on_viewer_read, on_viewer_write, on_viewer_event, v);
    bufferevent_enable(v->bev, EV_READ | EV_WRITE);
}

/* ---- main --------------------------------------------------------------------------------- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what, (void)arg;
    event_base_loopbreak(srv.base);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wl-slow-reader [--port N] [--variant leaky|fixed] [--scale quick|large]\n"
            "                      [--frame-bytes BYTES] [--fps N] [--high-water BYTES]\n"
            "                      [--idle-timeout SECONDS]\n"
            "Pushes a live chunked HTTP/1.1 stream (GET /live) to every viewer on 127.0.0.1.\n"
            "  --port N            0 picks a free port (printed on stdout); default 0\n"
            "  --variant V         leaky: send buffers grow without bound for viewers that do\n"
            "                      not read; fixed: high-water mark and idle timeout\n"
            "  --scale S           quick (default) or large: sets the defaults below\n"
            "  --frame-bytes B     frame size (quick and large 32K)\n"
            "  --fps N             frames per second (quick and large 30)\n"
            "  --high-water B      fixed: skip frames for a viewer above this much unsent\n"
            "                      output (quick 512K, large 1M)\n"
            "  --idle-timeout S    fixed: close a viewer that takes no bytes for S seconds\n"
            "                      while output is pending (quick 5, large 10)\n");
}

static void apply_scale(bool large)
{
    opts.frame_bytes = 32 * 1024;
    opts.fps = 30;
    opts.high_water = 512 * 1024;
    opts.idle_timeout_s = 5;
    if (large) {
        opts.frame_bytes = 32 * 1024;
        opts.fps = 30;
        opts.high_water = 1024 * 1024;
        opts.idle_timeout_s = 10;
    }
}

static void parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"variant", required_argument, NULL, 'v'},
        {"scale", required_argument, NULL, 's'},
        {"frame-bytes", required_argument, NULL, 'f'},
        {"fps", required_argument, NULL, 'r'},
        {"high-water", required_argument, NULL, 'w'},
        {"idle-timeout", required_argument, NULL, 'i'},
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
        case 'f':
            opts.frame_bytes = wl_opt_bytes("--frame-bytes", optarg, 64, 16 << 20);
            break;
        case 'r':
            opts.fps = wl_opt_uint("--fps", optarg, 1, 1000);
            break;
        case 'w':
            opts.high_water = wl_opt_bytes("--high-water", optarg, 0, 1ull << 40);
            break;
        case 'i':
            opts.idle_timeout_s = wl_opt_uint("--idle-timeout", optarg, 1, 86400);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            wl_opt_unknown();
        }
    }
    wl_opt_no_operands(argc, argv, optind);
}

static void server_free(void)
{
    while (srv.viewers)
        viewer_free(srv.viewers);
    wl_listener_close(&srv.listener);
    event_free(srv.frame_timer);
    event_base_free(srv.base);
    free(srv.frame);
    libevent_global_shutdown();
}

int main(int argc, char **argv)
{
    wl_set_program_name(argv[0]);
    parse_options(argc, argv);
    wl_raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    srv.base = event_base_new();
    srv.frame = malloc(opts.frame_bytes);
    if (!srv.base || !srv.frame)
        wl_die("cannot set up the event loop; check memory limits");
    wl_listener_open(&srv.listener, srv.base, &opts.port, false, on_accept, NULL);
    srv.frame_timer = event_new(srv.base, -1, EV_PERSIST, on_frame_tick, NULL);
    if (!srv.frame_timer)
        wl_die("cannot set up the event loop; check memory limits");
    struct timeval period = {0, (suseconds_t)(1000000 / opts.fps)};
    if (opts.fps == 1)
        period = (struct timeval){1, 0};
    event_add(srv.frame_timer, &period);
    struct wl_stop_signals signals;
    wl_stop_signals_add(&signals, srv.base, on_signal, NULL);
    printf("wl-slow-reader: listening on 127.0.0.1:%u (variant %s, %zu-byte frames at %u fps)\n",
           opts.port, opts.variant == VARIANT_LEAKY ? "leaky" : "fixed", opts.frame_bytes,
           opts.fps);
    fflush(stdout);

    event_base_dispatch(srv.base);
    printf("wl-slow-reader: pushed %llu frames, dropped %llu, closed %llu idle viewers; exiting\n",
           (unsigned long long)srv.frame_seq, (unsigned long long)srv.frames_dropped,
           (unsigned long long)srv.closed_idle);
    wl_stop_signals_free(&signals);
    server_free();
    return 0;
}
