/* wl-stream-proxy: the process under test of the stream-proxy scenario. GET /stream/ID fetches
 * /media/ID from the origin and streams it to the client piece by piece.
 *   --variant leaky: a new upstream client (its connection pool, read buffer, header buffer)
 *                    is built for every request and never torn down, like an HTTP client
 *                    constructed inside the request handler.
 *   --variant fixed: each worker owns one client with a bounded keep-alive pool and timeouts.
 * The allocations of a client are made in upstream_client_new, so a leak report names it. */
#include "wl_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

enum proxy_variant { VARIANT_LEAKY, VARIANT_FIXED };

/* Bytes queued toward one client above which the proxy stops reading from the origin. */
#define CLIENT_HIGH_WATER (512 * 1024)

struct proxy_options {
    char origin_host[64];
    uint16_t origin_port;
    enum proxy_variant variant;
    unsigned pool_size;     /* fixed: keep-alive connections per worker */
    int upstream_timeout_s; /* fixed: connect/read/write timeout upstream */
    size_t buffer_size;     /* each client's read buffer */
};

/* An HTTP client: a pool of connections to the origin and the buffers it reads through. */
struct upstream_client {
    struct evhttp_connection **pool;
    unsigned pool_capacity;
    unsigned pool_used;
    unsigned next;
    char *read_buffer;
    size_t read_buffer_size;
    char *header_buffer; /* where a client keeps the request head it builds */
    size_t header_buffer_size;
};

struct proxy_stream {
    struct evhttp_request *down; /* NULL once the client went away */
    struct evhttp_connection *down_conn;
    struct evhttp_connection *up_conn;
    struct upstream_client *client;
    struct proxy_worker *worker;
    bool started;
    bool paused; /* upstream reading stopped until the client drains what it was sent */
    struct proxy_stream *prev, *next;
};

struct proxy_worker {
    const struct proxy_options *opt;
    struct event_base *base;
    struct upstream_client *shared; /* fixed variant */
    struct evbuffer *forward;       /* reused to hand pieces to evhttp */
    struct proxy_stream *streams;
    uint64_t clients_built;
};

/* Build a client. In the leaky variant this runs once per request and nothing frees it. */
__attribute__((noinline)) static struct upstream_client *
upstream_client_new(const struct proxy_options *o, unsigned pool_capacity)
{
    struct upstream_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->pool = calloc(pool_capacity, sizeof(*c->pool));
    c->read_buffer = malloc(o->buffer_size);
    c->header_buffer = malloc(8192);
    if (!c->pool || !c->read_buffer || !c->header_buffer) {
        free(c->pool);
        free(c->read_buffer);
        free(c->header_buffer);
        free(c);
        return NULL;
    }
    /* Touch the buffers like a client that has read through them. */
    memset(c->read_buffer, 0, o->buffer_size);
    memset(c->header_buffer, 0, 8192);
    c->pool_capacity = pool_capacity;
    c->read_buffer_size = o->buffer_size;
    c->header_buffer_size = 8192;
    return c;
}

static void upstream_client_free(struct upstream_client *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->pool_used; i++)
        evhttp_connection_free(c->pool[i]);
    free(c->pool);
    free(c->read_buffer);
    free(c->header_buffer);
    free(c);
}

/* A connection from the pool: a new one while the pool has room, then round robin (evhttp
 * queues requests on a busy connection, so the pool bounds the connections). */
static struct evhttp_connection *upstream_client_pick(struct upstream_client *c,
                                                      struct proxy_worker *w)
{
    const struct proxy_options *o = w->opt;
    if (c->pool_used < c->pool_capacity) {
        struct evhttp_connection *conn =
            evhttp_connection_base_new(w->base, NULL, o->origin_host, o->origin_port);
        if (!conn)
            return NULL;
        if (o->variant == VARIANT_FIXED) {
            evhttp_connection_set_timeout(conn, o->upstream_timeout_s);
            evhttp_connection_set_retries(conn, 1);
        }
        c->pool[c->pool_used++] = conn;
        return conn;
    }
    struct evhttp_connection *conn = c->pool[c->next];
    c->next = (c->next + 1) % c->pool_used;
    return conn;
}

static void stream_free(struct proxy_stream *s)
{
    struct proxy_worker *w = s->worker;
    WL_LIST_UNLINK(w->streams, s);
    free(s);
}

static void upstream_resume(struct proxy_stream *s)
{
    if (!s->paused)
        return;
    s->paused = false;
    bufferevent_enable(evhttp_connection_get_bufferevent(s->up_conn), EV_READ);
}

static void on_client_drained(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    upstream_resume(arg);
}

static void on_client_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct proxy_stream *s = arg;
    upstream_resume(s);
    /* libevent detached the request from the dead connection; the upstream transfer runs
     * to its end (bounded by the media size and the timeouts) and is discarded. */
    evhttp_request_free(s->down);
    s->down = NULL;
}

static int on_upstream_headers(struct evhttp_request *up, void *arg)
{
    struct proxy_stream *s = arg;
    wl_connection_nodelay(evhttp_request_get_connection(up));
    if (!s->down || evhttp_request_get_response_code(up) != 200)
        return 0;
    const char *type = evhttp_find_header(evhttp_request_get_input_headers(up), "Content-Type");
    evhttp_add_header(evhttp_request_get_output_headers(s->down), "Content-Type",
                      type ? type : "application/octet-stream");
    evhttp_send_reply_start(s->down, 200, "OK");
    s->started = true;
    return 0;
}

static void on_upstream_piece(struct evhttp_request *up, void *arg)
{
    struct proxy_stream *s = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(up);
    if (!s->down || !s->started) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    /* Pass the piece through the client's read buffer, as a client library would. */
    struct upstream_client *c = s->client;
    struct evbuffer *out = s->worker->forward;
    int n;
    while ((n = evbuffer_remove(in, c->read_buffer, c->read_buffer_size)) > 0)
        evbuffer_add(out, c->read_buffer, (size_t)n);
    /* Backpressure: a client that reads slowly (or not at all) pauses the origin instead of
     * piling the media up in memory; the write-done callback resumes it. */
    evhttp_send_reply_chunk_with_cb(s->down, out, on_client_drained, s);
    evbuffer_drain(out, evbuffer_get_length(out));
    struct bufferevent *down_bev = evhttp_connection_get_bufferevent(s->down_conn);
    if (evbuffer_get_length(bufferevent_get_output(down_bev)) > CLIENT_HIGH_WATER) {
        s->paused = true;
        bufferevent_disable(evhttp_connection_get_bufferevent(s->up_conn), EV_READ);
    }
}

static void on_upstream_done(struct evhttp_request *up, void *arg)
{
    (void)up; /* NULL when the upstream request failed */
    struct proxy_stream *s = arg;
    if (s->down) {
        evhttp_connection_set_closecb(s->down_conn, NULL, NULL);
        upstream_resume(s); /* the connection may carry the next request */
        if (s->started)
            evhttp_send_reply_end(s->down);
        else
            evhttp_send_error(s->down, 502, "origin failed");
    }
    stream_free(s);
}

static struct upstream_client *client_for_request(struct proxy_worker *w)
{
    if (w->opt->variant == VARIANT_FIXED)
        return w->shared;
    /* The bug being replayed: a fresh client per request, never torn down. */
    w->clients_built++;
    return upstream_client_new(w->opt, 4);
}

static bool start_upstream(struct proxy_stream *s, const char *id, const char *query)
{
    struct proxy_worker *w = s->worker;
    struct upstream_client *c = s->client;
    struct evhttp_connection *conn = upstream_client_pick(c, w);
    struct evhttp_request *up = conn ? evhttp_request_new(on_upstream_done, s) : NULL;
    s->up_conn = conn;
    if (!conn || !up) {
        if (up)
            evhttp_request_free(up);
        return false;
    }
    evhttp_request_set_header_cb(up, on_upstream_headers);
    evhttp_request_set_chunked_cb(up, on_upstream_piece);
    snprintf(c->header_buffer, c->header_buffer_size, "%s:%u", w->opt->origin_host,
             w->opt->origin_port);
    evhttp_add_header(evhttp_request_get_output_headers(up), "Host", c->header_buffer);
    snprintf(c->header_buffer, c->header_buffer_size, "/media/%s%s%s", id, query ? "?" : "",
             query ? query : "");
    /* On failure evhttp_make_request has already called on_upstream_done. */
    evhttp_make_request(conn, up, EVHTTP_REQ_GET, c->header_buffer);
    return true;
}

static void handle_stream(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct wl_worker *ww = wl_current_worker();
    struct proxy_worker *w = ww->user;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || strncmp(path, "/stream/", 8) != 0 || !path[8] || strlen(path) > 200) {
        wl_reply_text(req, 404, "Not Found", "text/plain", "GET /stream/ID\n");
        return;
    }
    if (!wl_require_get(req))
        return;
    const char *query = evhttp_uri_get_query(uri);
    if (query && strlen(query) > 200) {
        wl_reply_text(req, 414, "URI Too Long", "text/plain", "query too long\n");
        return;
    }
    struct proxy_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    s->down = req;
    s->down_conn = evhttp_request_get_connection(req);
    wl_connection_nodelay(s->down_conn);
    s->worker = w;
    WL_LIST_PUSH(w->streams, s);
    s->client = client_for_request(w);
    evhttp_connection_set_closecb(s->down_conn, on_client_closed, s);
    if (!s->client || !start_upstream(s, path + 8, query)) {
        evhttp_connection_set_closecb(s->down_conn, NULL, NULL);
        evhttp_send_error(req, 503, "no upstream client");
        stream_free(s);
    }
}

static void worker_init(struct wl_worker *ww, void *arg)
{
    const struct proxy_options *o = arg;
    struct proxy_worker *w = calloc(1, sizeof(*w));
    if (!w)
        wl_die("out of memory at start");
    w->opt = o;
    w->base = ww->base;
    w->forward = evbuffer_new();
    if (o->variant == VARIANT_FIXED)
        w->shared = upstream_client_new(o, o->pool_size);
    if (!w->forward || (o->variant == VARIANT_FIXED && !w->shared))
        wl_die("out of memory at start");
    ww->user = w;
    evhttp_set_cb(ww->http, "/health", wl_handle_health, NULL);
    evhttp_set_gencb(ww->http, handle_stream, NULL);
}

static void worker_fini(struct wl_worker *ww, void *arg)
{
    (void)arg;
    struct proxy_worker *w = ww->user;
    /* Client requests still attached go with their connections in evhttp_free. */
    for (struct proxy_stream *s = w->streams; s; s = s->next)
        if (s->down)
            evhttp_connection_set_closecb(s->down_conn, NULL, NULL);
    upstream_client_free(w->shared); /* frees pending upstream requests, no callbacks */
    while (w->streams)
        stream_free(w->streams);
    evbuffer_free(w->forward);
    free(w);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: wl-stream-proxy --origin HOST:PORT [--port P] [--variant leaky|fixed]\n"
                 "                       [--threads N] [--pool N] [--upstream-timeout S]\n"
                 "                       [--buffer BYTES]\n"
                 "GET /stream/ID[?size=&chunk=] streams the origin's /media/ID to the client.\n"
                 "leaky: a new upstream client per request, never freed; fixed: one client per\n"
                 "worker with a bounded keep-alive pool (--pool, default 8) and timeouts\n"
                 "(--upstream-timeout, default 10). --buffer: a client's read buffer (32K).\n"
                 "Defaults: --port 8091 --threads 2 --variant fixed. Binds 127.0.0.1.\n");
}

int main(int argc, char **argv)
{
    wl_set_program_name(argv[0]);
    struct proxy_options opt = {.variant = VARIANT_FIXED,
                                .pool_size = 8,
                                .upstream_timeout_s = 10,
                                .buffer_size = 32 * 1024};
    struct wl_server_config config = {
        .port = 8091,
        .threads = 2,
        .timeout_s = 30,
        .max_header_bytes = 8192,
        .max_body_bytes = 64 * 1024,
        .worker_init = worker_init,
        .worker_fini = worker_fini,
        .arg = &opt,
    };
    bool have_origin = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (wl_server_option(argc, argv, &i, &config, usage))
            continue;
        if (!strcmp(a, "--origin")) {
            wl_opt_hostport(a, wl_opt_value(argc, argv, &i), opt.origin_host,
                            sizeof(opt.origin_host), &opt.origin_port);
            have_origin = true;
        } else if (!strcmp(a, "--variant")) {
            opt.variant =
                wl_opt_leaky(a, wl_opt_value(argc, argv, &i)) ? VARIANT_LEAKY : VARIANT_FIXED;
        } else if (!strcmp(a, "--pool")) {
            opt.pool_size = (unsigned)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 1, 4096);
        } else if (!strcmp(a, "--upstream-timeout")) {
            opt.upstream_timeout_s = (int)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 1, 3600);
        } else if (!strcmp(a, "--buffer")) {
            opt.buffer_size = wl_opt_bytes(a, wl_opt_value(argc, argv, &i), 1024, 64 << 20);
        } else {
            wl_die("unknown option '%s'; see --help", a);
        }
    }
    if (!have_origin)
        wl_die("no --origin; give the origin's address, e.g. --origin 127.0.0.1:8090");
    return wl_server_run(&config);
}
