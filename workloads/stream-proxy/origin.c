/* wl-stream-origin: the media origin of the stream-proxy scenario. GET /media/ID streams
 * ?size= bytes (default --media-size) as chunked transfer in ?chunk= byte pieces (default
 * --chunk-size), one piece after the previous one has left the socket buffer, so a slow
 * client slows the origin instead of growing its memory. It is not the process under test. */
#include "wl_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#define MAX_CHUNK (1u << 20)

struct origin_options {
    uint64_t media_size;
    uint64_t chunk_size;
    unsigned interval_ms; /* pause between pieces (0: as fast as the client reads) */
};

struct media_stream {
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event *pace_timer;
    uint64_t remaining;
    uint64_t chunk;
    struct origin_worker *worker;
    struct media_stream *prev, *next;
};

struct origin_worker {
    const struct origin_options *opt;
    struct media_stream *streams;
};

static char media_pattern[MAX_CHUNK];

static void stream_free(struct media_stream *s)
{
    struct origin_worker *w = s->worker;
    WL_LIST_UNLINK(w->streams, s);
    if (s->pace_timer)
        event_free(s->pace_timer);
    free(s);
}

static void on_client_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct media_stream *s = arg;
    /* The request was detached from the dead connection: it is ours to free. */
    evhttp_request_free(s->req);
    stream_free(s);
}

static void send_next_piece(struct media_stream *s);

static void on_piece_sent(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct media_stream *s = arg;
    unsigned interval = s->worker->opt->interval_ms;
    if (interval && s->remaining) {
        struct timeval tv = {interval / 1000, (interval % 1000) * 1000};
        evtimer_add(s->pace_timer, &tv);
        return;
    }
    send_next_piece(s);
}

static void on_pace_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    send_next_piece(arg);
}

static void send_next_piece(struct media_stream *s)
{
    if (s->remaining == 0) {
        evhttp_connection_set_closecb(s->evcon, NULL, NULL);
        evhttp_send_reply_end(s->req);
        stream_free(s);
        return;
    }
    uint64_t n = s->remaining < s->chunk ? s->remaining : s->chunk;
    struct evbuffer *piece = evbuffer_new();
    if (!piece) {
        s->remaining = 0;
        send_next_piece(s);
        return;
    }
    /* The pattern is static: reference it instead of copying it. */
    evbuffer_add_reference(piece, media_pattern, (size_t)n, NULL, NULL);
    s->remaining -= n;
    evhttp_send_reply_chunk_with_cb(s->req, piece, on_piece_sent, s);
    evbuffer_free(piece);
}

static void handle_media(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct wl_worker *ww = wl_current_worker();
    struct origin_worker *w = ww->user;
    if (!wl_require_get(req))
        return;
    struct media_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    s->req = req;
    s->evcon = evhttp_request_get_connection(req);
    wl_connection_nodelay(s->evcon);
    s->worker = w;
    s->remaining = wl_query_uint(req, "size", w->opt->media_size, 1ull << 40);
    s->chunk = wl_query_uint(req, "chunk", w->opt->chunk_size, MAX_CHUNK);
    if (s->chunk == 0)
        s->chunk = w->opt->chunk_size;
    s->pace_timer = evtimer_new(ww->base, on_pace_timer, s);
    WL_LIST_PUSH(w->streams, s);
    if (!s->pace_timer) {
        evhttp_send_error(req, 503, "out of memory");
        stream_free(s);
        return;
    }
    evhttp_connection_set_closecb(s->evcon, on_client_closed, s);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "video/mp2t");
    evhttp_send_reply_start(req, 200, "OK");
    send_next_piece(s);
}

static void handle_other(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const char *uri = evhttp_request_get_uri(req);
    if (!strncmp(uri, "/media/", 7)) {
        handle_media(req, arg);
        return;
    }
    wl_reply_text(req, 404, "Not Found", "text/plain", "not found\n");
}

static void worker_init(struct wl_worker *ww, void *arg)
{
    struct origin_worker *w = calloc(1, sizeof(*w));
    if (!w)
        wl_die("out of memory at start");
    w->opt = arg;
    ww->user = w;
    evhttp_set_cb(ww->http, "/health", wl_handle_health, NULL);
    evhttp_set_gencb(ww->http, handle_other, NULL);
}

static void worker_fini(struct wl_worker *ww, void *arg)
{
    (void)arg;
    struct origin_worker *w = ww->user;
    /* The requests themselves go with their connections in evhttp_free. */
    while (w->streams) {
        evhttp_connection_set_closecb(w->streams->evcon, NULL, NULL);
        stream_free(w->streams);
    }
    free(w);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wl-stream-origin [--port P] [--threads N] [--media-size BYTES]\n"
            "                        [--chunk-size BYTES] [--interval-ms MS] [--timeout S]\n"
            "Streams GET /media/ID?size=BYTES&chunk=BYTES as chunked transfer from 127.0.0.1.\n"
            "Defaults: --port 8090 --threads 1 --media-size 256K --chunk-size 16K\n"
            "--interval-ms 0 --timeout 5 (idle keep-alive and stalled-write limit).\n");
}

int main(int argc, char **argv)
{
    wl_set_program_name(argv[0]);
    struct origin_options opt = {.media_size = 256 * 1024, .chunk_size = 16 * 1024};
    struct wl_server_config config = {
        .port = 8090,
        .threads = 1,
        .timeout_s = 5,
        .max_header_bytes = 8192,
        .max_body_bytes = 64 * 1024,
        .worker_init = worker_init,
        .worker_fini = worker_fini,
        .arg = &opt,
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (wl_server_option(argc, argv, &i, &config, usage))
            continue;
        if (!strcmp(a, "--media-size")) {
            opt.media_size = wl_opt_bytes(a, wl_opt_value(argc, argv, &i), 0, 1ull << 40);
        } else if (!strcmp(a, "--chunk-size")) {
            opt.chunk_size = wl_opt_bytes(a, wl_opt_value(argc, argv, &i), 1, MAX_CHUNK);
        } else if (!strcmp(a, "--interval-ms")) {
            opt.interval_ms = (unsigned)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 0, 60000);
        } else if (!strcmp(a, "--timeout")) {
            config.timeout_s = (int)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 1, 3600);
        } else {
            wl_die("unknown option '%s'; see --help", a);
        }
    }
    for (size_t i = 0; i < sizeof(media_pattern); i++)
        media_pattern[i] = (char)('a' + i % 26);
    return wl_server_run(&config);
}
