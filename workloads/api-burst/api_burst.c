/* wl-api-burst: a JSON API whose requests allocate many short-lived objects of varied sizes
 * and hold them while "awaiting a database" (a timer), on several worker threads, with
 * bounded longer-lived objects (sessions, a cache) replaced among them. There is no leak:
 * the scenario shows what each allocator keeps after a burst of load. The long-lived objects
 * end up scattered through the heap, which is what keeps glibc from trimming it. */
#include "wl_common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

struct api_options {
    uint16_t port;
    int threads;
    unsigned delay_ms; /* how long a request holds its objects before replying */
    unsigned objects;  /* short-lived objects per request */
    size_t min_object; /* their size range (log-uniform) */
    size_t max_object;
    unsigned large_every;   /* one request in N also holds one large object */
    size_t large_max;       /* the large object's maximum size */
    unsigned sessions;      /* long-lived session slots (whole process) */
    unsigned cache_entries; /* long-lived cache slots (whole process) */
};

/* A request in flight: its objects live until the timer fires and the reply is sent. */
struct api_request {
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event *timer;
    struct api_worker *worker;
    void **objects;
    size_t *sizes;
    unsigned nobjects;
    bool detached; /* the client went away; libevent left the request to us */
    struct api_request *prev, *next;
};

/* Per-worker state: the long-lived tables are per worker so no lock sits on the hot path. */
struct api_worker {
    const struct api_options *opt;
    uint64_t rng;
    struct api_request *pending;
    void **sessions;
    unsigned nsessions;
    void **cache;
    unsigned ncache;
    uint64_t served;
};

static size_t log_uniform_size(uint64_t *rng, size_t lo, size_t hi)
{
    /* Pick a power-of-two band uniformly, then a size inside it: many small objects, some
     * large ones, like the mix of strings, vectors and buffers of a real handler. */
    unsigned lo_bits = 63 - (unsigned)__builtin_clzll(lo | 1);
    unsigned hi_bits = 63 - (unsigned)__builtin_clzll(hi | 1);
    unsigned band = (unsigned)wl_rand_range(rng, lo_bits, hi_bits);
    size_t band_lo = (size_t)1 << band, band_hi = ((size_t)1 << (band + 1)) - 1;
    if (band_lo < lo)
        band_lo = lo;
    if (band_hi > hi)
        band_hi = hi;
    return (size_t)wl_rand_range(rng, band_lo, band_hi);
}

/* Write the first and last bytes so the pages are really touched (RSS follows the heap). */
static void *touched_alloc(size_t size, uint64_t seed)
{
    unsigned char *p = malloc(size);
    if (!p)
        return NULL;
    size_t head = size < 64 ? size : 64;
    memset(p, (int)(seed & 0xff), head);
    p[size - 1] = (unsigned char)seed;
    return p;
}

/* The long-lived objects: replace one session and one cache entry per request. */
static void session_touch(struct api_worker *w)
{
    if (!w->nsessions)
        return;
    unsigned slot = (unsigned)(wl_rand_next(&w->rng) % w->nsessions);
    free(w->sessions[slot]);
    w->sessions[slot] = touched_alloc(wl_rand_range(&w->rng, 200, 1000), slot);
}

static void cache_store(struct api_worker *w)
{
    if (!w->ncache)
        return;
    unsigned slot = (unsigned)(wl_rand_next(&w->rng) % w->ncache);
    free(w->cache[slot]);
    w->cache[slot] = touched_alloc(wl_rand_range(&w->rng, 256, 4096), slot);
}

static void request_objects_alloc(struct api_worker *w, struct api_request *r)
{
    const struct api_options *o = w->opt;
    unsigned n = o->objects + 2; /* + the large object + the request body */
    r->objects = calloc(n, sizeof(*r->objects));
    r->sizes = calloc(n, sizeof(*r->sizes));
    if (!r->objects || !r->sizes)
        return;
    for (unsigned i = 0; i < o->objects; i++) {
        size_t size = log_uniform_size(&w->rng, o->min_object, o->max_object);
        r->objects[r->nobjects] = touched_alloc(size, i);
        r->sizes[r->nobjects] = size;
        if (r->objects[r->nobjects])
            r->nobjects++;
        /* Long-lived objects are created in the middle of the request's allocations. */
        if (i == o->objects / 2) {
            session_touch(w);
            cache_store(w);
        }
    }
    if (o->large_every && wl_rand_next(&w->rng) % o->large_every == 0) {
        size_t size = (size_t)wl_rand_range(&w->rng, 64 * 1024, o->large_max);
        r->objects[r->nobjects] = touched_alloc(size, 7);
        r->sizes[r->nobjects] = size;
        if (r->objects[r->nobjects])
            r->nobjects++;
    }
}

static void request_free(struct api_request *r)
{
    struct api_worker *w = r->worker;
    if (r->prev)
        r->prev->next = r->next;
    else
        w->pending = r->next;
    if (r->next)
        r->next->prev = r->prev;
    for (unsigned i = 0; i < r->nobjects; i++)
        free(r->objects[i]);
    free(r->objects);
    free(r->sizes);
    if (r->timer)
        event_free(r->timer);
    free(r);
}

static void on_client_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    /* libevent 2.1 detaches a request the user still owns when its client disconnects and
     * leaves freeing it to us. */
    struct api_request *r = arg;
    r->detached = true;
    r->evcon = NULL;
}

static void send_json_reply(struct api_request *r)
{
    uint64_t checksum = 0, bytes = 0;
    for (unsigned i = 0; i < r->nobjects; i++) {
        checksum = checksum * 31 + ((unsigned char *)r->objects[i])[0] + r->sizes[i];
        bytes += r->sizes[i];
    }
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evhttp_send_error(r->req, 500, "out of memory");
        return;
    }
    evbuffer_add_printf(out,
                        "{\"ok\":true,\"objects\":%u,\"bytes\":%llu,\"checksum\":\"%016llx\","
                        "\"served\":%llu}\n",
                        r->nobjects, (unsigned long long)bytes, (unsigned long long)checksum,
                        (unsigned long long)r->worker->served);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type",
                      "application/json");
    evhttp_send_reply(r->req, 200, "OK", out);
    evbuffer_free(out);
}

static void on_request_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct api_request *r = arg;
    r->worker->served++;
    if (r->detached) {
        evhttp_request_free(r->req);
    } else {
        evhttp_connection_set_closecb(r->evcon, NULL, NULL);
        send_json_reply(r);
    }
    request_free(r);
}

static void handle_api(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct wl_worker *ww = wl_current_worker();
    struct api_worker *w = ww->user;
    struct api_request *r = calloc(1, sizeof(*r));
    if (!r) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    r->req = req;
    r->worker = w;
    r->evcon = evhttp_request_get_connection(req);
    r->next = w->pending;
    if (w->pending)
        w->pending->prev = r;
    w->pending = r;
    /* The request body (POST) is read into an object of its own, like a parsed payload. */
    size_t body_len = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    request_objects_alloc(w, r);
    if (body_len && r->objects && r->nobjects < w->opt->objects + 2) {
        void *copy = malloc(body_len);
        if (copy) {
            evbuffer_copyout(evhttp_request_get_input_buffer(req), copy, body_len);
            r->objects[r->nobjects] = copy;
            r->sizes[r->nobjects++] = body_len;
        }
    }
    unsigned delay = (unsigned)wl_query_uint(req, "delay_ms", w->opt->delay_ms, 10000);
    r->timer = evtimer_new(ww->base, on_request_ready, r);
    if (!r->timer) {
        evhttp_send_error(req, 503, "out of memory");
        request_free(r);
        return;
    }
    evhttp_connection_set_closecb(r->evcon, on_client_closed, r);
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    evtimer_add(r->timer, &tv);
}

static void handle_health(struct evhttp_request *req, void *arg)
{
    (void)arg;
    wl_reply_text(req, 200, "OK", "application/json", "{\"ok\":true}\n");
}

static void handle_other(struct evhttp_request *req, void *arg)
{
    (void)arg;
    wl_reply_text(req, 404, "Not Found", "application/json", "{\"error\":\"not found\"}\n");
}

static void worker_init(struct wl_worker *ww, void *arg)
{
    const struct api_options *o = arg;
    int threads = ww->server->config.threads;
    struct api_worker *w = calloc(1, sizeof(*w));
    if (!w)
        wl_die("out of memory at start");
    w->opt = o;
    w->rng = 0x1234567ull + (uint64_t)ww->index * 0x9e3779b97f4a7c15ull;
    w->nsessions = (o->sessions + (unsigned)threads - 1) / (unsigned)threads;
    w->ncache = (o->cache_entries + (unsigned)threads - 1) / (unsigned)threads;
    w->sessions = calloc(w->nsessions + 1, sizeof(*w->sessions));
    w->cache = calloc(w->ncache + 1, sizeof(*w->cache));
    if (!w->sessions || !w->cache)
        wl_die("out of memory at start");
    ww->user = w;
    evhttp_set_cb(ww->http, "/health", handle_health, NULL);
    evhttp_set_cb(ww->http, "/api/items", handle_api, NULL);
    evhttp_set_cb(ww->http, "/api/orders", handle_api, NULL);
    evhttp_set_cb(ww->http, "/api/users", handle_api, NULL);
    evhttp_set_gencb(ww->http, handle_other, NULL);
}

static void worker_fini(struct wl_worker *ww, void *arg)
{
    (void)arg;
    struct api_worker *w = ww->user;
    while (w->pending) {
        struct api_request *r = w->pending;
        /* Attached requests are freed with their connection by evhttp_free; detached ones
         * are ours. */
        if (r->detached)
            evhttp_request_free(r->req);
        else
            evhttp_connection_set_closecb(r->evcon, NULL, NULL);
        request_free(r);
    }
    for (unsigned i = 0; i < w->nsessions; i++)
        free(w->sessions[i]);
    for (unsigned i = 0; i < w->ncache; i++)
        free(w->cache[i]);
    free(w->sessions);
    free(w->cache);
    free(w);
    ww->user = NULL;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: wl-api-burst [--port P] [--threads N] [--delay-ms MS] [--objects N]\n"
                 "                    [--min-object BYTES] [--max-object BYTES] [--large-every N]\n"
                 "                    [--large-max BYTES] [--sessions N] [--cache-entries N]\n"
                 "A JSON API (GET|POST /api/items, /api/orders, /api/users; GET /health) whose\n"
                 "requests hold --objects short-lived objects of --min-object..--max-object bytes\n"
                 "for --delay-ms (query ?delay_ms= overrides), on --threads workers, with bounded\n"
                 "long-lived sessions and cache entries replaced among them. Binds 127.0.0.1.\n"
                 "Defaults: --port 8080 --threads 2 --delay-ms 10 --objects 400 --min-object 32\n"
                 "--max-object 8K --large-every 4 --large-max 256K --sessions 8192\n"
                 "--cache-entries 8192. SIGTERM/SIGINT stop it cleanly.\n");
}

static void parse_options(int argc, char **argv, struct api_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--port")) {
            o->port = (uint16_t)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 0, 65535);
        } else if (!strcmp(a, "--threads")) {
            o->threads = (int)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 1, 256);
        } else if (!strcmp(a, "--delay-ms")) {
            o->delay_ms = (unsigned)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 0, 60000);
        } else if (!strcmp(a, "--objects")) {
            o->objects = (unsigned)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 0, 100000);
        } else if (!strcmp(a, "--min-object")) {
            o->min_object = wl_opt_bytes(a, wl_opt_value(argc, argv, &i), 1, 1 << 20);
        } else if (!strcmp(a, "--max-object")) {
            o->max_object = wl_opt_bytes(a, wl_opt_value(argc, argv, &i), 1, 64 << 20);
        } else if (!strcmp(a, "--large-every")) {
            o->large_every = (unsigned)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 0, 1000000);
        } else if (!strcmp(a, "--large-max")) {
            o->large_max = wl_opt_bytes(a, wl_opt_value(argc, argv, &i), 64 << 10, 256 << 20);
        } else if (!strcmp(a, "--sessions")) {
            o->sessions = (unsigned)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 0, 100000000);
        } else if (!strcmp(a, "--cache-entries")) {
            o->cache_entries = (unsigned)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 0, 100000000);
        } else {
            wl_die("unknown option '%s'; see --help", a);
        }
    }
    if (o->min_object > o->max_object)
        wl_die("--min-object is larger than --max-object; give min <= max");
}

int main(int argc, char **argv)
{
    wl_set_program_name(argv[0]);
    struct api_options opt = {
        .port = 8080,
        .threads = 2,
        .delay_ms = 10,
        .objects = 400,
        .min_object = 32,
        .max_object = 8192,
        .large_every = 4,
        .large_max = 256 * 1024,
        .sessions = 8192,
        .cache_entries = 8192,
    };
    parse_options(argc, argv, &opt);
    struct wl_server_config config = {
        .port = opt.port,
        .threads = opt.threads,
        .timeout_s = 30,
        .max_header_bytes = 8192,
        .max_body_bytes = 4 << 20,
        .worker_init = worker_init,
        .worker_fini = worker_fini,
        .arg = &opt,
    };
    return wl_server_run(&config);
}
