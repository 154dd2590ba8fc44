/* loadgen: an HTTP/1.1 load generator on libevent. Several threads, one event_base each, raw
 * bufferevent connections, one request at a time per connection (closed loop) or paced to a
 * total request rate; optional stalled readers that read their responses slowly or never.
 * It stops by itself (duration, request count, hard time cap) and reports requests/s,
 * bytes/s, errors and latency percentiles as one JSON object (--json) and one stdout line. */
#include "wl_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/thread.h>

#define MAX_PATHS 32
#define MAX_RESPONSE_HEADER 65536

struct request_spec {
    char method[16];
    char path[1024];
};

struct loadgen_options {
    char host[64];
    uint16_t port;
    unsigned connections;
    unsigned threads;
    double duration_s; /* 0: bounded by --requests only */
    uint64_t requests; /* 0: bounded by --duration only */
    double max_time_s; /* hard cap */
    double rate;       /* total requests/s; 0: closed loop */
    size_t payload_min, payload_max;
    bool keepalive;
    double stalled_share;
    uint64_t stalled_rate; /* bytes/s a stalled reader reads; 0: never reads */
    double timeout_s;      /* per request, for normal readers */
    struct request_spec specs[MAX_PATHS];
    unsigned nspecs;
    const char *scenario;
    const char *json_path;
    bool quiet;
};

enum conn_state {
    CONN_CONNECTING,
    CONN_HEADERS,
    CONN_BODY_LENGTH,
    CONN_CHUNK_SIZE,
    CONN_CHUNK_DATA,
    CONN_CHUNK_CRLF,
    CONN_TRAILERS,
    CONN_BODY_EOF,
    CONN_IDLE
};

struct loadgen_thread;

struct conn {
    struct loadgen_thread *thread;
    struct bufferevent *bev;
    struct event *timer; /* reconnect backoff and rate pacing */
    enum conn_state state;
    bool stalled;
    bool close_after; /* the response said Connection: close */
    bool in_request;
    unsigned spec_index;
    uint64_t remaining; /* body or chunk bytes left */
    size_t unparsed;    /* input bytes already counted but not consumed yet */
    int status;
    uint64_t sent_us;
    uint64_t next_slot_us;
    struct ev_token_bucket_cfg *bucket;
};

struct loadgen_thread {
    const struct loadgen_options *opt;
    struct event_base *base;
    struct event *stop_timer;
    struct conn *conns;
    unsigned nconns;
    unsigned active; /* connections that may still issue requests */
    pthread_t tid;
    uint64_t rng;
    uint64_t requests, errors, bytes;
    uint64_t status_errors; /* of the errors, answers with a 4xx/5xx (or 1xx) status */
    struct wl_latency latency;
    struct event *done_event; /* in the main base: tells main this thread finished */
};

static struct sockaddr_in target_addr;
static char request_heads[MAX_PATHS][2][1400]; /* [spec][keepalive?] head without body */
static size_t request_head_len[MAX_PATHS][2];
static char *payload_bytes;
static atomic_uint_fast64_t tickets_taken;
static atomic_bool stopping;

static void conn_start(struct conn *c);
static void conn_send(struct conn *c);

static bool take_ticket(const struct loadgen_options *o)
{
    if (atomic_load_explicit(&stopping, memory_order_relaxed))
        return false;
    if (!o->requests)
        return true;
    return atomic_fetch_add(&tickets_taken, 1) < o->requests;
}

static void conn_retire(struct conn *c)
{
    struct loadgen_thread *t = c->thread;
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    c->state = CONN_IDLE;
    if (t->active && --t->active == 0)
        event_base_loopbreak(t->base);
}

static void conn_close(struct conn *c)
{
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    c->unparsed = 0;
    c->in_request = false;
}

static void conn_error(struct conn *c)
{
    struct loadgen_thread *t = c->thread;
    if (c->in_request || c->state == CONN_CONNECTING)
        t->errors++;
    conn_close(c);
    /* Back off so a refusing target does not turn into a busy loop. */
    struct timeval backoff = {0, 20000};
    c->state = CONN_CONNECTING;
    evtimer_add(c->timer, &backoff);
}

static void response_done(struct conn *c)
{
    struct loadgen_thread *t = c->thread;
    uint64_t now = wl_now_us();
    c->in_request = false;
    if (c->status >= 200 && c->status < 400) {
        t->requests++;
        wl_latency_add(&t->latency, now - c->sent_us);
    } else {
        t->errors++;
        t->status_errors++;
    }
    if (c->close_after || !t->opt->keepalive) {
        conn_close(c);
        conn_start(c);
        return;
    }
    conn_send(c);
}

/* Parse the status line and the headers that decide how the body ends. */
static bool parse_response_head(struct conn *c, const char *head, size_t len)
{
    if (len < 12 || strncmp(head, "HTTP/1.", 7) != 0)
        return false;
    c->status = atoi(head + 9);
    c->close_after = head[7] == '0';
    bool chunked = false, has_length = false;
    uint64_t length = 0;
    const char *end = head + len;
    const char *line = memchr(head, '\n', len);
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t n = eol ? (size_t)(eol - line) : (size_t)(end - line);
        if (n > 15 && !strncasecmp(line, "content-length:", 15)) {
            length = strtoull(line + 15, NULL, 10);
            has_length = true;
        } else if (n > 18 && !strncasecmp(line, "transfer-encoding:", 18)) {
            chunked = memmem(line, n, "chunked", 7) != NULL;
        } else if (n > 11 && !strncasecmp(line, "connection:", 11)) {
            if (memmem(line, n, "close", 5))
                c->close_after = true;
            else if (memmem(line, n, "keep-alive", 10))
                c->close_after = false;
        }
        line = eol;
    }
    const struct request_spec *spec = &c->thread->opt->specs[c->spec_index];
    bool no_body = !strcmp(spec->method, "HEAD") || c->status == 204 || c->status == 304 ||
                   (c->status >= 100 && c->status < 200);
    if (no_body) {
        c->remaining = 0;
        c->state = CONN_BODY_LENGTH;
    } else if (chunked) {
        c->state = CONN_CHUNK_SIZE;
    } else if (has_length) {
        c->remaining = length;
        c->state = CONN_BODY_LENGTH;
    } else {
        c->state = CONN_BODY_EOF;
        c->close_after = true;
    }
    return true;
}

/* Consume what the input holds; returns false on a protocol error. */
static bool consume_input(struct conn *c, struct evbuffer *in)
{
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        switch (c->state) {
        case CONN_HEADERS: {
            struct evbuffer_ptr p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
            if (p.pos < 0)
                return avail <= MAX_RESPONSE_HEADER;
            size_t head_len = (size_t)p.pos + 4;
            const char *head = (const char *)evbuffer_pullup(in, (ssize_t)head_len);
            if (!head || !parse_response_head(c, head, head_len))
                return false;
            evbuffer_drain(in, head_len);
            break;
        }
        case CONN_BODY_LENGTH: {
            size_t n = avail < c->remaining ? avail : (size_t)c->remaining;
            evbuffer_drain(in, n);
            c->remaining -= n;
            if (c->remaining)
                return true;
            response_done(c);
            return true;
        }
        case CONN_BODY_EOF:
            evbuffer_drain(in, avail);
            return true;
        case CONN_CHUNK_SIZE:
        case CONN_TRAILERS: {
            size_t line_len;
            char *line = evbuffer_readln(in, &line_len, EVBUFFER_EOL_CRLF);
            if (!line)
                return avail <= 4096;
            if (c->state == CONN_TRAILERS) {
                free(line);
                if (line_len == 0) {
                    response_done(c);
                    return true;
                }
                break;
            }
            char *end;
            c->remaining = strtoull(line, &end, 16);
            bool valid = end != line;
            free(line);
            if (!valid)
                return false;
            c->state = c->remaining ? CONN_CHUNK_DATA : CONN_TRAILERS;
            break;
        }
        case CONN_CHUNK_DATA: {
            size_t n = avail < c->remaining ? avail : (size_t)c->remaining;
            evbuffer_drain(in, n);
            c->remaining -= n;
            if (c->remaining)
                return true;
            c->state = CONN_CHUNK_CRLF;
            c->remaining = 2;
            break;
        }
        case CONN_CHUNK_CRLF: {
            size_t n = avail < c->remaining ? avail : (size_t)c->remaining;
            evbuffer_drain(in, n);
            c->remaining -= n;
            if (c->remaining)
                return true;
            c->state = CONN_CHUNK_SIZE;
            break;
        }
        default:
            /* Bytes nobody asked for: drop them. */
            evbuffer_drain(in, avail);
            return true;
        }
        if (!c->in_request)
            return true;
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    c->thread->bytes += len - c->unparsed;
    if (!consume_input(c, in)) {
        conn_error(c);
        return;
    }
    c->unparsed = c->bev ? evbuffer_get_length(bufferevent_get_input(c->bev)) : 0;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        wl_fd_nodelay(bufferevent_getfd(c->bev));
        conn_send(c);
        return;
    }
    if ((what & BEV_EVENT_EOF) && c->state == CONN_BODY_EOF && c->in_request) {
        c->close_after = true;
        response_done(c);
        return;
    }
    if ((what & BEV_EVENT_EOF) && !c->in_request) {
        /* The server closed an idle keep-alive connection: reconnect without an error. */
        conn_close(c);
        conn_start(c);
        return;
    }
    conn_error(c);
}

static void write_request(struct conn *c)
{
    const struct loadgen_options *o = c->thread->opt;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int ka = o->keepalive ? 1 : 0;
    const struct request_spec *spec = &o->specs[c->spec_index];
    bool with_body =
        o->payload_max > 0 && (!strcmp(spec->method, "POST") || !strcmp(spec->method, "PUT"));
    evbuffer_add(out, request_heads[c->spec_index][ka], request_head_len[c->spec_index][ka]);
    if (with_body) {
        size_t len = (size_t)wl_rand_range(&c->thread->rng, o->payload_min, o->payload_max);
        evbuffer_add_printf(out,
                            "Content-Type: application/octet-stream\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            len);
        evbuffer_add_reference(out, payload_bytes, len, NULL, NULL);
    } else {
        evbuffer_add(out, "\r\n", 2);
    }
}

static void conn_send_now(struct conn *c)
{
    const struct loadgen_options *o = c->thread->opt;
    if (!take_ticket(o)) {
        conn_retire(c);
        return;
    }
    c->state = CONN_HEADERS;
    c->in_request = true;
    c->sent_us = wl_now_us();
    write_request(c);
    if (c->stalled && o->stalled_rate == 0)
        bufferevent_disable(c->bev, EV_READ);
}

static void conn_send(struct conn *c)
{
    const struct loadgen_options *o = c->thread->opt;
    if (c->in_request)
        return;
    if (o->nspecs > 1)
        c->spec_index = (c->spec_index + 1) % o->nspecs;
    if (o->rate > 0) {
        uint64_t now = wl_now_us();
        if (c->next_slot_us > now) {
            uint64_t wait = c->next_slot_us - now;
            struct timeval tv = {(time_t)(wait / 1000000), (suseconds_t)(wait % 1000000)};
            c->state = CONN_IDLE;
            evtimer_add(c->timer, &tv);
            return;
        }
        double interval_us = (double)o->connections * 1e6 / o->rate;
        uint64_t base = c->next_slot_us ? c->next_slot_us : now;
        c->next_slot_us = base + (uint64_t)interval_us;
        if (c->next_slot_us < now)
            c->next_slot_us = now; /* behind schedule: do not burst to catch up */
    }
    conn_send_now(c);
}

static void conn_start(struct conn *c)
{
    struct loadgen_thread *t = c->thread;
    const struct loadgen_options *o = t->opt;
    if (atomic_load_explicit(&stopping, memory_order_relaxed)) {
        conn_retire(c);
        return;
    }
    c->bev = bufferevent_socket_new(t->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        conn_error(c);
        return;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    if (c->stalled) {
        bufferevent_setwatermark(c->bev, EV_READ, 0, 16384);
        if (o->stalled_rate > 0 && c->bucket)
            bufferevent_set_rate_limit(c->bev, c->bucket);
    } else if (o->timeout_s > 0) {
        struct timeval tv = wl_timeval_from_s(o->timeout_s);
        bufferevent_set_timeouts(c->bev, &tv, &tv);
    }
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->state = CONN_CONNECTING;
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&target_addr, sizeof(target_addr)) <
        0)
        conn_error(c);
}

static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->bev)
        conn_send(c);
    else
        conn_start(c);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loadgen_thread *t = arg;
    atomic_store(&stopping, true);
    event_base_loopbreak(t->base);
}

static void *thread_main(void *arg)
{
    struct loadgen_thread *t = arg;
    const struct loadgen_options *o = t->opt;
    double limit = o->duration_s > 0 ? o->duration_s : o->max_time_s;
    if (limit > o->max_time_s)
        limit = o->max_time_s;
    struct timeval tv = wl_timeval_from_s(limit);
    evtimer_add(t->stop_timer, &tv);
    for (unsigned i = 0; i < t->nconns; i++)
        conn_start(&t->conns[i]);
    if (t->active)
        event_base_loop(t->base, EVLOOP_NO_EXIT_ON_EMPTY);
    event_active(t->done_event, EV_READ, 0);
    return NULL;
}

static void thread_setup(struct loadgen_thread *t, const struct loadgen_options *o, unsigned index,
                         unsigned first_conn, unsigned nconns, struct event_base *main_base,
                         event_callback_fn on_done, void *done_arg)
{
    t->opt = o;
    t->base = event_base_new();
    t->conns = calloc(nconns ? nconns : 1, sizeof(*t->conns));
    if (!t->base || !t->conns)
        wl_die("out of memory at start");
    t->nconns = nconns;
    t->active = nconns;
    t->rng = 0xabcdef12345ull * (index + 1);
    t->stop_timer = evtimer_new(t->base, on_stop, t);
    t->done_event = event_new(main_base, -1, 0, on_done, done_arg);
    wl_latency_init(&t->latency, 1u << 20);
    for (unsigned i = 0; i < nconns; i++) {
        struct conn *c = &t->conns[i];
        c->thread = t;
        c->timer = evtimer_new(t->base, on_conn_timer, c);
        /* Spread the stalled readers evenly over the connections (and so the threads). */
        unsigned k = first_conn + i;
        c->stalled = (unsigned)(o->stalled_share * (k + 1)) > (unsigned)(o->stalled_share * k);
        c->spec_index = (first_conn + i) % o->nspecs;
        if (c->stalled && o->stalled_rate > 0) {
            size_t r = o->stalled_rate;
            c->bucket = ev_token_bucket_cfg_new(r, r, EV_RATE_LIMIT_MAX, EV_RATE_LIMIT_MAX, NULL);
        }
    }
}

static void thread_teardown(struct loadgen_thread *t)
{
    for (unsigned i = 0; i < t->nconns; i++) {
        struct conn *c = &t->conns[i];
        if (c->bev)
            bufferevent_free(c->bev);
        event_free(c->timer);
        if (c->bucket)
            ev_token_bucket_cfg_free(c->bucket);
    }
    free(t->conns);
    event_free(t->stop_timer);
    event_free(t->done_event);
    event_base_free(t->base);
    wl_latency_free(&t->latency);
}

struct run_state {
    struct event_base *main_base;
    unsigned threads_left;
};

static void on_thread_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct run_state *rs = arg;
    if (--rs->threads_left == 0)
        event_base_loopbreak(rs->main_base);
}

static struct loadgen_thread *signal_threads;
static unsigned signal_nthreads;

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    atomic_store(&stopping, true);
    for (unsigned i = 0; i < signal_nthreads; i++)
        event_base_loopbreak(signal_threads[i].base);
}

static void build_requests(const struct loadgen_options *o)
{
    for (unsigned i = 0; i < o->nspecs; i++)
        for (int ka = 0; ka < 2; ka++) {
            int n = snprintf(request_heads[i][ka], sizeof(request_heads[i][ka]),
                             "%s %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: loadgen\r\n%s",
                             o->specs[i].method, o->specs[i].path, o->host, o->port,
                             ka ? "" : "Connection: close\r\n");
            request_head_len[i][ka] = (size_t)n;
        }
    payload_bytes = malloc(o->payload_max + 1);
    if (!payload_bytes)
        wl_die("out of memory for a %zu byte payload", o->payload_max);
    memset(payload_bytes, 'x', o->payload_max + 1);
}

static void run(const struct loadgen_options *o)
{
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);
    build_requests(o);
    struct run_state rs = {.main_base = event_base_new(), .threads_left = o->threads};
    struct loadgen_thread *threads = calloc(o->threads, sizeof(*threads));
    if (!rs.main_base || !threads)
        wl_die("out of memory at start");
    unsigned first = 0;
    for (unsigned i = 0; i < o->threads; i++) {
        unsigned n = o->connections / o->threads + (i < o->connections % o->threads ? 1 : 0);
        thread_setup(&threads[i], o, i, first, n, rs.main_base, on_thread_done, &rs);
        first += n;
    }
    signal_threads = threads;
    signal_nthreads = o->threads;
    struct wl_stop_signals signals;
    wl_stop_signals_add(&signals, rs.main_base, on_signal, NULL);

    uint64_t start = wl_now_us();
    for (unsigned i = 0; i < o->threads; i++)
        if (pthread_create(&threads[i].tid, NULL, thread_main, &threads[i]) != 0)
            wl_die("cannot start thread %u", i);
    event_base_loop(rs.main_base, EVLOOP_NO_EXIT_ON_EMPTY);
    for (unsigned i = 0; i < o->threads; i++)
        pthread_join(threads[i].tid, NULL);
    double elapsed = (double)(wl_now_us() - start) / 1e6;

    struct wl_latency all;
    wl_latency_init(&all, 1u << 22);
    struct wl_report report = {.tool = "loadgen",
                               .scenario = o->scenario,
                               .connections = o->connections,
                               .duration_s = elapsed,
                               .latency = &all};
    snprintf(report.target, sizeof(report.target), "%s:%u", o->host, o->port);
    uint64_t status_errors = 0;
    for (unsigned i = 0; i < o->threads; i++) {
        status_errors += threads[i].status_errors;
        report.requests += threads[i].requests;
        report.errors += threads[i].errors;
        report.bytes += threads[i].bytes;
        wl_latency_merge(&all, &threads[i].latency);
        thread_teardown(&threads[i]);
    }
    int status = 0;
    if (o->json_path && wl_report_write_json(&report, o->json_path) != 0) {
        wl_warn("cannot write %s; check the directory exists and is writable", o->json_path);
        status = 2;
    }
    if (!o->quiet)
        wl_report_print_summary(&report);
    if (report.requests == 0 && report.errors > 0) {
        if (status_errors == report.errors)
            fprintf(stderr,
                    "loadgen: no request succeeded (%llu error statuses); check the "
                    "paths and methods\n",
                    (unsigned long long)report.errors);
        else
            fprintf(stderr,
                    "loadgen: no request succeeded (%llu errors); is the target up at "
                    "%s?\n",
                    (unsigned long long)report.errors, report.target);
        status = status ? status : 1;
    }
    wl_latency_free(&all);
    wl_stop_signals_free(&signals);
    event_base_free(rs.main_base);
    free(threads);
    free(payload_bytes);
    libevent_global_shutdown();
    exit(status);
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: loadgen --target HOST:PORT [options]\n"
        "  -c, --connections N   concurrent connections (default 64)\n"
        "  -t, --threads N       threads, one event loop each (default 2)\n"
        "  -d, --duration S      run for S seconds (default 5 unless --requests is given)\n"
        "  -n, --requests N      stop after N requests (whichever bound comes first)\n"
        "      --max-time S      hard cap on the run time (default duration + 10, or 60)\n"
        "  -r, --rate R          total requests/s, paced per connection (default: closed loop)\n"
        "  -p, --path [METHOD ]PATH  request path, repeatable (rotated); default 'GET /';\n"
        "                        METHOD:PATH also works (e.g. POST:/api/orders)\n"
        "  -m, --method M        method for paths given without one (default GET)\n"
        "      --payload B[-B2]  request body size (or a uniform range) for POST/PUT\n"
        "      --no-keepalive    one request per connection (Connection: close)\n"
        "      --stalled-share F share of connections that are stalled readers (0..1)\n"
        "      --stalled-rate B  bytes/s a stalled reader reads (0: never reads; default 0)\n"
        "      --timeout S       per-request timeout of normal readers (default 10)\n"
        "      --scenario NAME   scenario name in the report (default custom)\n"
        "      --json FILE       write the report as one JSON object (temp + rename)\n"
        "  -q, --quiet           no summary line on stdout\n");
}

static void add_spec(struct loadgen_options *o, const char *value, const char *method)
{
    if (o->nspecs == MAX_PATHS)
        wl_die("--path: at most %d paths", MAX_PATHS);
    struct request_spec *s = &o->specs[o->nspecs];
    /* "METHOD /path" or "METHOD:/path" (the second form needs no quoting in a command). */
    const char *space = strchr(value, ' ');
    const char *colon = strstr(value, ":/");
    if (!space && colon && colon < strchr(value, '/'))
        space = colon;
    const char *path = space ? space + 1 : value;
    if (space)
        snprintf(s->method, sizeof(s->method), "%.*s", (int)(space - value), value);
    else
        snprintf(s->method, sizeof(s->method), "%s", method);
    if (path[0] != '/' || strlen(path) >= sizeof(s->path) || strpbrk(path, " \r\n"))
        wl_die("--path: '%s' is not an absolute path; give e.g. '/api/items' or 'POST /api'",
               value);
    for (const char *m = s->method; *m; m++)
        if (*m < 'A' || *m > 'Z')
            wl_die("--path: '%s' is not an HTTP method; give e.g. GET or POST", s->method);
    snprintf(s->path, sizeof(s->path), "%s", path);
    o->nspecs++;
}

static void parse_payload(struct loadgen_options *o, const char *value)
{
    char lo[32], hi[32];
    const char *dash = strchr(value, '-');
    if (dash && (size_t)(dash - value) < sizeof(lo)) {
        snprintf(lo, sizeof(lo), "%.*s", (int)(dash - value), value);
        snprintf(hi, sizeof(hi), "%s", dash + 1);
    } else {
        snprintf(lo, sizeof(lo), "%s", value);
        snprintf(hi, sizeof(hi), "%s", value);
    }
    o->payload_min = wl_opt_bytes("--payload", lo, 0, 64 << 20);
    o->payload_max = wl_opt_bytes("--payload", hi, 0, 64 << 20);
    if (o->payload_min > o->payload_max)
        wl_die("--payload: '%s' has min > max; give MIN-MAX", value);
}

static void parse_options(int argc, char **argv, struct loadgen_options *o)
{
    const char *method = "GET";
    const char *paths[MAX_PATHS];
    unsigned npaths = 0;
    bool have_target = false, have_duration = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define IS(long_, short_) (!strcmp(a, long_) || (short_[0] && !strcmp(a, short_)))
        if (IS("--help", "-h")) {
            usage(stdout);
            exit(0);
        } else if (IS("--target", "")) {
            wl_opt_hostport(a, wl_opt_value(argc, argv, &i), o->host, sizeof(o->host), &o->port);
            have_target = true;
        } else if (IS("--connections", "-c")) {
            o->connections = (unsigned)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 1, 100000);
        } else if (IS("--threads", "-t")) {
            o->threads = (unsigned)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 1, 256);
        } else if (IS("--duration", "-d")) {
            o->duration_s = wl_opt_double(a, wl_opt_value(argc, argv, &i), 0.01, 86400);
            have_duration = true;
        } else if (IS("--requests", "-n")) {
            o->requests = wl_opt_uint(a, wl_opt_value(argc, argv, &i), 1, UINT64_MAX / 2);
        } else if (IS("--max-time", "")) {
            o->max_time_s = wl_opt_double(a, wl_opt_value(argc, argv, &i), 0.01, 86400);
        } else if (IS("--rate", "-r")) {
            o->rate = wl_opt_double(a, wl_opt_value(argc, argv, &i), 0, 1e9);
        } else if (IS("--path", "-p")) {
            if (npaths == MAX_PATHS)
                wl_die("--path: at most %d paths", MAX_PATHS);
            paths[npaths++] = wl_opt_value(argc, argv, &i);
        } else if (IS("--method", "-m")) {
            method = wl_opt_value(argc, argv, &i);
        } else if (IS("--payload", "")) {
            parse_payload(o, wl_opt_value(argc, argv, &i));
        } else if (IS("--no-keepalive", "")) {
            o->keepalive = false;
        } else if (IS("--stalled-share", "")) {
            o->stalled_share = wl_opt_double(a, wl_opt_value(argc, argv, &i), 0, 1);
        } else if (IS("--stalled-rate", "")) {
            o->stalled_rate = wl_opt_bytes(a, wl_opt_value(argc, argv, &i), 0, 1ull << 40);
        } else if (IS("--timeout", "")) {
            o->timeout_s = wl_opt_double(a, wl_opt_value(argc, argv, &i), 0, 86400);
        } else if (IS("--scenario", "")) {
            o->scenario = wl_opt_value(argc, argv, &i);
            if (strpbrk(o->scenario, "\"\\") || strlen(o->scenario) > 64)
                wl_die("--scenario: give a plain name (no quotes or backslashes, <= 64 chars)");
        } else if (IS("--json", "")) {
            o->json_path = wl_opt_value(argc, argv, &i);
        } else if (IS("--quiet", "-q")) {
            o->quiet = true;
        } else {
            wl_die("unknown option '%s'; see --help", a);
        }
#undef IS
    }
    if (!have_target)
        wl_die("no --target; give e.g. --target 127.0.0.1:8080");
    for (unsigned i = 0; i < npaths; i++)
        add_spec(o, paths[i], method);
    if (o->nspecs == 0)
        add_spec(o, "/", method);
    if (!have_duration && !o->requests)
        o->duration_s = 5;
    if (o->max_time_s == 0)
        o->max_time_s = o->duration_s > 0 ? o->duration_s + 10 : 60;
    if (o->threads > o->connections)
        o->threads = o->connections;
}

int main(int argc, char **argv)
{
    wl_set_program_name(argv[0]);
    struct loadgen_options opt = {
        .connections = 64,
        .threads = 2,
        .keepalive = true,
        .timeout_s = 10,
        .scenario = "custom",
    };
    parse_options(argc, argv, &opt);
    target_addr = wl_sockaddr_ipv4(opt.host, opt.port);
    run(&opt);
    return 0;
}
