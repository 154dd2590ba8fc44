/* wl-bulk-download: the batch downloader of the bulk-download scenario; the process under
 * test is this client. It fetches /files/0, /files/1, ... from wl-bulk-server with
 * --concurrency transfers in flight.
 *   --variant leaky: every body is accumulated in memory (body_buffer_append) and kept, and
 *                    every file gets a new connection that is added to a pool nobody prunes
 *                    (pool_connection_new): memory grows with every file.
 *   --variant fixed: every body is streamed to a file in a private temp directory, which is
 *                    deleted once complete; a bounded keep-alive pool with timeouts.
 * Three ways to run it:
 *   control server (the scenario's target):  --port P --server HOST:PORT
 *       POST /start[?files=N&rate=R] starts fetching (until N files, or until /stop), POST /stop
 *       stops issuing, GET /status reports (loadgen JSON fields plus running, in_flight,
 *       kept_bodies, kept_bytes, pool_connections).
 *   load command (tells a control server):    --control HOST:PORT --duration S [--json F]
 *   standalone batch:                          --server HOST:PORT --files N [--json F] */
#include "wl_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

enum dl_variant { VARIANT_LEAKY, VARIANT_FIXED };

struct dl_options {
    char server_host[64];
    uint16_t server_port;
    bool have_server;
    enum dl_variant variant;
    unsigned concurrency;
    uint64_t files;
    uint16_t port;
    bool control_server;
    char control_host[64];
    uint16_t control_port;
    bool control_client;
    double duration_s;
    double max_time_s;
    double rate; /* files/s, 0: as fast as the concurrency allows */
    const char *workdir;
    const char *json_path;
    int timeout_s;
};

/* A body held in memory, grown as pieces arrive (like collecting a response's bytes()). */
struct kept_body {
    char *data;
    size_t len, cap;
};

struct fetch {
    struct downloader *dl;
    uint64_t index;
    uint64_t start_us;
    uint64_t received;
    int fd;
    int slot;
    char path[PATH_MAX + 32];
    struct kept_body *body;
    struct fetch *prev, *next;
};

struct downloader {
    const struct dl_options *opt;
    struct event_base *base;
    bool running;
    uint64_t target_files; /* 0: until stopped */
    double rate;           /* files/s since start; 0: unpaced */
    struct event *pace_timer;
    uint64_t issued;
    uint64_t next_index;
    unsigned in_flight;
    struct fetch *fetches;
    /* statistics since the last start */
    uint64_t files, bytes, errors;
    uint64_t start_us, stop_us;
    struct wl_latency latency;
    /* fixed: a bounded pool and a scratch buffer for the copy to disk */
    struct evhttp_connection **pool;
    bool *pool_busy;
    char *scratch;
    char tmpdir[PATH_MAX];
    /* leaky: every connection ever made, and every body */
    struct evhttp_connection **churned;
    size_t nchurned, churned_cap;
    struct kept_body **kept;
    size_t nkept, kept_cap;
    uint64_t kept_bytes;
    void (*on_idle)(struct downloader *dl);
};

#define SCRATCH_SIZE (64 * 1024)

static void downloader_pump(struct downloader *dl);

/* ---- the leaky variant's growth sites ------------------------------------------------------ */

__attribute__((noinline)) static bool body_buffer_append(struct kept_body *b, struct evbuffer *in)
{
    size_t n = evbuffer_get_length(in);
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return false;
        b->data = grown;
        b->cap = cap;
    }
    evbuffer_remove(in, b->data + b->len, n);
    b->len += n;
    return true;
}

__attribute__((noinline)) static bool kept_bodies_push(struct downloader *dl, struct kept_body *b)
{
    if (dl->nkept == dl->kept_cap) {
        size_t cap = dl->kept_cap ? dl->kept_cap * 2 : 256;
        struct kept_body **grown = realloc(dl->kept, cap * sizeof(*grown));
        if (!grown)
            return false;
        dl->kept = grown;
        dl->kept_cap = cap;
    }
    dl->kept[dl->nkept++] = b;
    dl->kept_bytes += b->len;
    return true;
}

/* A new connection per file, remembered in a pool that only grows. */
__attribute__((noinline)) static struct evhttp_connection *
pool_connection_new(struct downloader *dl)
{
    if (dl->nchurned == dl->churned_cap) {
        size_t cap = dl->churned_cap ? dl->churned_cap * 2 : 256;
        struct evhttp_connection **grown = realloc(dl->churned, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        dl->churned = grown;
        dl->churned_cap = cap;
    }
    struct evhttp_connection *conn =
        evhttp_connection_base_new(dl->base, NULL, dl->opt->server_host, dl->opt->server_port);
    if (conn)
        dl->churned[dl->nchurned++] = conn;
    return conn;
}

static void kept_body_free(struct kept_body *b)
{
    if (b) {
        free(b->data);
        free(b);
    }
}

/* ---- the fixed variant's bounded pool -------------------------------------------------------- */

static int pool_acquire(struct downloader *dl)
{
    for (unsigned i = 0; i < dl->opt->concurrency; i++) {
        if (dl->pool_busy[i])
            continue;
        if (!dl->pool[i]) {
            dl->pool[i] = evhttp_connection_base_new(dl->base, NULL, dl->opt->server_host,
                                                     dl->opt->server_port);
            if (!dl->pool[i])
                return -1;
            evhttp_connection_set_timeout(dl->pool[i], dl->opt->timeout_s);
            evhttp_connection_set_retries(dl->pool[i], 1);
        }
        dl->pool_busy[i] = true;
        return (int)i;
    }
    return -1;
}

/* ---- fetching ----------------------------------------------------------------------------------
 */

static void fetch_release(struct downloader *dl, struct fetch *f)
{
    WL_LIST_UNLINK(dl->fetches, f);
    if (f->fd >= 0) {
        close(f->fd);
        unlink(f->path);
    }
    if (f->slot >= 0)
        dl->pool_busy[f->slot] = false;
    kept_body_free(f->body);
    free(f);
}

static void on_fetch_data(struct evhttp_request *req, void *arg)
{
    struct fetch *f = arg;
    struct downloader *dl = f->dl;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    f->received += evbuffer_get_length(in);
    if (f->body) {
        if (!body_buffer_append(f->body, in))
            evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    int n;
    while ((n = evbuffer_remove(in, dl->scratch, SCRATCH_SIZE)) > 0) {
        if (f->fd >= 0 && write(f->fd, dl->scratch, (size_t)n) != n) {
            close(f->fd);
            unlink(f->path);
            f->fd = -1;
        }
    }
}

static void on_fetch_done(struct evhttp_request *req, void *arg)
{
    struct fetch *f = arg;
    struct downloader *dl = f->dl;
    bool ok = req && evhttp_request_get_response_code(req) == 200;
    if (ok) {
        const char *len =
            evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Length");
        if (len && strtoull(len, NULL, 10) != f->received)
            ok = false;
    }
    if (ok && dl->opt->variant == VARIANT_FIXED && f->fd < 0)
        ok = false; /* the copy to disk failed */
    if (ok) {
        dl->files++;
        dl->bytes += f->received;
        wl_latency_add(&dl->latency, wl_now_us() - f->start_us);
        if (f->body && kept_bodies_push(dl, f->body))
            f->body = NULL;
    } else {
        dl->errors++;
    }
    dl->in_flight--;
    fetch_release(dl, f); /* fixed: the complete file is handed on (deleted) here */
    downloader_pump(dl);
}

static bool fetch_start(struct downloader *dl, uint64_t index)
{
    const struct dl_options *o = dl->opt;
    struct fetch *f = calloc(1, sizeof(*f));
    if (!f)
        return false;
    f->dl = dl;
    f->index = index;
    f->fd = -1;
    f->slot = -1;
    f->start_us = wl_now_us();
    struct evhttp_connection *conn;
    if (o->variant == VARIANT_LEAKY) {
        f->body = calloc(1, sizeof(*f->body));
        conn = pool_connection_new(dl);
    } else {
        f->slot = pool_acquire(dl);
        conn = f->slot >= 0 ? dl->pool[f->slot] : NULL;
        snprintf(f->path, sizeof(f->path), "%s/file-%llu", dl->tmpdir, (unsigned long long)index);
        f->fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    }
    WL_LIST_PUSH(dl->fetches, f);
    struct evhttp_request *req = conn ? evhttp_request_new(on_fetch_done, f) : NULL;
    if (!req || (o->variant == VARIANT_LEAKY && !f->body) ||
        (o->variant == VARIANT_FIXED && f->fd < 0)) {
        if (req)
            evhttp_request_free(req);
        fetch_release(dl, f);
        return false;
    }
    evhttp_request_set_chunked_cb(req, on_fetch_data);
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    char host[96], path[64];
    snprintf(host, sizeof(host), "%s:%u", o->server_host, o->server_port);
    evhttp_add_header(headers, "Host", host);
    if (o->variant == VARIANT_LEAKY)
        evhttp_add_header(headers, "Connection", "close");
    snprintf(path, sizeof(path), "/files/%llu", (unsigned long long)index);
    dl->in_flight++;
    evhttp_make_request(conn, req, EVHTTP_REQ_GET, path);
    return true;
}

/* Whether the pace allows another file now; if not, the pump runs again shortly. */
static bool pace_allows(struct downloader *dl)
{
    if (dl->rate <= 0)
        return true;
    double elapsed = (double)(wl_now_us() - dl->start_us) / 1e6;
    if ((double)dl->issued < dl->rate * elapsed + 1)
        return true;
    if (!evtimer_pending(dl->pace_timer, NULL)) {
        struct timeval tv = {0, 5000};
        evtimer_add(dl->pace_timer, &tv);
    }
    return false;
}

static void downloader_pump(struct downloader *dl)
{
    while (dl->running && dl->in_flight < dl->opt->concurrency &&
           (!dl->target_files || dl->issued < dl->target_files) && pace_allows(dl)) {
        dl->issued++;
        if (!fetch_start(dl, dl->next_index++))
            dl->errors++;
    }
    if (dl->running && dl->target_files && dl->issued >= dl->target_files && !dl->in_flight) {
        dl->running = false;
        dl->stop_us = wl_now_us();
    }
    if (!dl->running && !dl->in_flight && dl->on_idle)
        dl->on_idle(dl);
}

static void on_pace_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    downloader_pump(arg);
}

static void downloader_start(struct downloader *dl, uint64_t files, double rate)
{
    dl->rate = rate;
    dl->files = dl->bytes = dl->errors = 0;
    dl->issued = 0;
    wl_latency_free(&dl->latency);
    wl_latency_init(&dl->latency, 1u << 20);
    dl->target_files = files;
    dl->start_us = wl_now_us();
    dl->stop_us = 0;
    dl->running = true;
    downloader_pump(dl);
}

static void downloader_stop(struct downloader *dl)
{
    if (dl->running) {
        dl->running = false;
        dl->stop_us = wl_now_us();
    }
}

static struct downloader *downloader_new(const struct dl_options *o, struct event_base *base)
{
    struct downloader *dl = calloc(1, sizeof(*dl));
    if (!dl)
        wl_die("out of memory at start");
    dl->opt = o;
    dl->base = base;
    wl_latency_init(&dl->latency, 1u << 20);
    dl->pace_timer = evtimer_new(base, on_pace_timer, dl);
    if (!dl->pace_timer)
        wl_die("out of memory at start");
    if (o->variant == VARIANT_FIXED) {
        dl->pool = calloc(o->concurrency, sizeof(*dl->pool));
        dl->pool_busy = calloc(o->concurrency, sizeof(*dl->pool_busy));
        dl->scratch = malloc(SCRATCH_SIZE);
        if (!dl->pool || !dl->pool_busy || !dl->scratch)
            wl_die("out of memory at start");
        if (strlen(o->workdir) > PATH_MAX - 64)
            wl_die("--workdir: path too long; give a shorter directory");
        snprintf(dl->tmpdir, sizeof(dl->tmpdir), "%s/wl-bulk-download.XXXXXX", o->workdir);
        if (!mkdtemp(dl->tmpdir))
            wl_die("cannot create a temp directory in %s: %s; give a writable --workdir",
                   o->workdir, strerror(errno));
    }
    return dl;
}

static void downloader_free(struct downloader *dl)
{
    /* Connections first: freeing them frees their pending requests without callbacks. */
    if (dl->pool)
        for (unsigned i = 0; i < dl->opt->concurrency; i++)
            if (dl->pool[i])
                evhttp_connection_free(dl->pool[i]);
    for (size_t i = 0; i < dl->nchurned; i++)
        evhttp_connection_free(dl->churned[i]);
    while (dl->fetches)
        fetch_release(dl, dl->fetches);
    for (size_t i = 0; i < dl->nkept; i++)
        kept_body_free(dl->kept[i]);
    if (dl->tmpdir[0] && rmdir(dl->tmpdir) != 0)
        wl_warn("cannot remove %s: %s", dl->tmpdir, strerror(errno));
    free(dl->kept);
    free(dl->churned);
    free(dl->pool);
    free(dl->pool_busy);
    free(dl->scratch);
    event_free(dl->pace_timer);
    wl_latency_free(&dl->latency);
    free(dl);
}

static char *downloader_status_json(struct downloader *dl)
{
    const struct dl_options *o = dl->opt;
    uint64_t end = dl->stop_us ? dl->stop_us : wl_now_us();
    struct wl_report r = {.tool = "wl-bulk-download",
                          .scenario = "bulk-download",
                          .connections = o->concurrency,
                          .requests = dl->files,
                          .errors = dl->errors,
                          .bytes = dl->bytes,
                          .latency = &dl->latency};
    r.duration_s = dl->start_us ? (double)(end - dl->start_us) / 1e6 : 0.0;
    snprintf(r.target, sizeof(r.target), "%s:%u", o->server_host, o->server_port);
    char extra[256];
    snprintf(extra, sizeof(extra),
             ",\"variant\":\"%s\",\"running\":%s,\"in_flight\":%u,\"kept_bodies\":%zu,"
             "\"kept_bytes\":%llu,\"pool_connections\":%zu",
             o->variant == VARIANT_LEAKY ? "leaky" : "fixed", dl->running ? "true" : "false",
             dl->in_flight, dl->nkept, (unsigned long long)dl->kept_bytes,
             o->variant == VARIANT_LEAKY ? dl->nchurned : (size_t)o->concurrency);
    return wl_report_json(&r, extra);
}

/* ---- control server mode ------------------------------------------------------------------- */

static void reply_status(struct evhttp_request *req, struct downloader *dl, int code,
                         const char *reason)
{
    char *json = downloader_status_json(dl);
    if (!json) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    wl_reply_text(req, code, reason, "application/json", json);
    free(json);
}

static void handle_control(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct downloader *dl = wl_current_worker()->user;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (!path) {
        wl_reply_text(req, 400, "Bad Request", "text/plain", "bad uri\n");
    } else if (!strcmp(path, "/health")) {
        wl_handle_health(req, NULL);
    } else if (!strcmp(path, "/status")) {
        reply_status(req, dl, 200, "OK");
    } else if (!strcmp(path, "/start") && cmd == EVHTTP_REQ_POST) {
        if (dl->running || dl->in_flight) {
            reply_status(req, dl, 409, "Conflict");
            return;
        }
        char rate[32];
        double files_per_s = wl_query_param(req, "rate", rate, sizeof(rate)) ? atof(rate) : 0;
        downloader_start(dl, wl_query_uint(req, "files", 0, UINT64_MAX / 2),
                         files_per_s > 0 ? files_per_s : dl->opt->rate);
        reply_status(req, dl, 200, "OK");
    } else if (!strcmp(path, "/stop") && cmd == EVHTTP_REQ_POST) {
        downloader_stop(dl);
        reply_status(req, dl, 200, "OK");
    } else {
        wl_reply_text(req, 404, "Not Found", "text/plain",
                      "POST /start[?files=N], POST /stop, GET /status, GET /health\n");
    }
}

static void control_worker_init(struct wl_worker *ww, void *arg)
{
    ww->user = downloader_new(arg, ww->base);
    evhttp_set_gencb(ww->http, handle_control, NULL);
}

static void control_worker_fini(struct wl_worker *ww, void *arg)
{
    (void)arg;
    downloader_free(ww->user);
}

static int run_control_server(const struct dl_options *o)
{
    struct wl_server_config config = {
        .port = o->port,
        .threads = 1, /* the downloader and its control share one event loop */
        .timeout_s = 30,
        .max_header_bytes = 8192,
        .max_body_bytes = 64 * 1024,
        .worker_init = control_worker_init,
        .worker_fini = control_worker_fini,
        .arg = (void *)o,
    };
    return wl_server_run(&config);
}

/* ---- standalone batch mode ------------------------------------------------------------------- */

static void stop_loop(struct downloader *dl)
{
    event_base_loopbreak(dl->base);
}

static void on_batch_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static int run_batch(const struct dl_options *o)
{
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    if (!base)
        wl_die("cannot create the event loop");
    struct downloader *dl = downloader_new(o, base);
    dl->on_idle = stop_loop;
    struct event *cap = evtimer_new(base, on_batch_signal, base);
    struct timeval tv = {(time_t)o->max_time_s, 0};
    evtimer_add(cap, &tv);
    struct wl_stop_signals signals;
    wl_stop_signals_add(&signals, base, on_batch_signal, base);
    downloader_start(dl, o->files, o->rate);
    if (dl->running || dl->in_flight)
        event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    downloader_stop(dl);
    char *json = downloader_status_json(dl);
    int status = dl->files ? 0 : 1;
    if (json && o->json_path && wl_write_file_atomic(o->json_path, json) != 0) {
        wl_warn("cannot write %s; check the directory exists and is writable", o->json_path);
        status = 2;
    }
    struct wl_report r = {.tool = "wl-bulk-download",
                          .scenario = "bulk-download",
                          .connections = o->concurrency,
                          .requests = dl->files,
                          .errors = dl->errors,
                          .bytes = dl->bytes,
                          .latency = &dl->latency,
                          .duration_s = (double)(dl->stop_us - dl->start_us) / 1e6};
    snprintf(r.target, sizeof(r.target), "%s:%u", o->server_host, o->server_port);
    wl_report_print_summary(&r);
    free(json);
    event_free(cap);
    wl_stop_signals_free(&signals);
    downloader_free(dl);
    event_base_free(base);
    libevent_global_shutdown();
    return status;
}

/* ---- load command mode: drive a control server ------------------------------------------------
 */

/* One blocking HTTP/1.1 request with Connection: close; the body goes to out. Returns the
 * status code, or -1 when the server cannot be reached or answers garbage. */
static int control_call(const struct dl_options *o, const char *method, const char *path, char *out,
                        size_t out_len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in addr = wl_sockaddr_ipv4(o->control_host, o->control_port);
    char request[512];
    int n = snprintf(request, sizeof(request),
                     "%s %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n",
                     method, path, o->control_host, o->control_port);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        write(fd, request, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    char response[16384];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(response) - 1 &&
           (r = read(fd, response + got, sizeof(response) - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    response[got] = '\0';
    int code;
    if (sscanf(response, "HTTP/1.%*d %d", &code) != 1)
        return -1;
    const char *body = strstr(response, "\r\n\r\n");
    snprintf(out, out_len, "%s", body ? body + 4 : "");
    return code;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int run_control_client(const struct dl_options *o)
{
    char body[16384], path[64];
    snprintf(path, sizeof(path), "/start?files=%llu&rate=%.3f", (unsigned long long)o->files,
             o->rate);
    int code = control_call(o, "POST", path, body, sizeof(body));
    if (code != 200)
        wl_die("cannot start the downloader at %s:%u (%s); is wl-bulk-download --port running "
               "and idle?",
               o->control_host, o->control_port, code < 0 ? "no answer" : "refused");
    double until = wl_now_s() + (o->files ? o->max_time_s : o->duration_s);
    /* With --files, wait for the batch to end; otherwise run --duration then stop. */
    while (wl_now_s() < until) {
        sleep_s(0.1);
        if (o->files && control_call(o, "GET", "/status", body, sizeof(body)) == 200 &&
            strstr(body, "\"running\":false"))
            break;
    }
    control_call(o, "POST", "/stop", body, sizeof(body));
    for (int i = 0; i < 100; i++) {
        if (control_call(o, "GET", "/status", body, sizeof(body)) == 200 &&
            strstr(body, "\"in_flight\":0,"))
            break;
        sleep_s(0.1);
    }
    if (control_call(o, "GET", "/status", body, sizeof(body)) != 200)
        wl_die("the downloader at %s:%u stopped answering", o->control_host, o->control_port);
    if (o->json_path && wl_write_file_atomic(o->json_path, body) != 0)
        wl_die("cannot write %s; check the directory exists and is writable", o->json_path);
    fputs(body, stdout);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: wl-bulk-download --port P --server HOST:PORT [options]   control server\n"
                 "       wl-bulk-download --server HOST:PORT --files N [options]  one batch\n"
                 "       wl-bulk-download --control HOST:PORT (--duration S | --files N)\n"
                 "                        [--json FILE]                           drive a server\n"
                 "options: --variant leaky|fixed (default fixed), --concurrency N (default 8),\n"
                 "         --workdir DIR (fixed: temp files, default $TMPDIR or /tmp),\n"
                 "         --timeout S (fixed: per connection, default 10), --max-time S (600),\n"
                 "         --rate R (files/s; default: as fast as --concurrency allows),\n"
                 "         --json FILE (loadgen-format report of the batch / load phase).\n"
                 "Control endpoints: POST /start[?files=N&rate=R], POST /stop, GET /status,\n"
                 "GET /health.\n");
}

static void parse_options(int argc, char **argv, struct dl_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--port")) {
            o->port = (uint16_t)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 0, 65535);
            o->control_server = true;
        } else if (!strcmp(a, "--server")) {
            wl_opt_hostport(a, wl_opt_value(argc, argv, &i), o->server_host, sizeof(o->server_host),
                            &o->server_port);
            o->have_server = true;
        } else if (!strcmp(a, "--control")) {
            wl_opt_hostport(a, wl_opt_value(argc, argv, &i), o->control_host,
                            sizeof(o->control_host), &o->control_port);
            o->control_client = true;
        } else if (!strcmp(a, "--variant")) {
            o->variant =
                wl_opt_leaky(a, wl_opt_value(argc, argv, &i)) ? VARIANT_LEAKY : VARIANT_FIXED;
        } else if (!strcmp(a, "--concurrency")) {
            o->concurrency = (unsigned)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 1, 10000);
        } else if (!strcmp(a, "--files")) {
            o->files = wl_opt_uint(a, wl_opt_value(argc, argv, &i), 1, UINT64_MAX / 2);
        } else if (!strcmp(a, "--duration")) {
            o->duration_s = wl_opt_double(a, wl_opt_value(argc, argv, &i), 0.01, 86400);
        } else if (!strcmp(a, "--rate")) {
            o->rate = wl_opt_double(a, wl_opt_value(argc, argv, &i), 0, 1e9);
        } else if (!strcmp(a, "--max-time")) {
            o->max_time_s = wl_opt_double(a, wl_opt_value(argc, argv, &i), 1, 86400);
        } else if (!strcmp(a, "--workdir")) {
            o->workdir = wl_opt_value(argc, argv, &i);
        } else if (!strcmp(a, "--json")) {
            o->json_path = wl_opt_value(argc, argv, &i);
        } else if (!strcmp(a, "--timeout")) {
            o->timeout_s = (int)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 1, 3600);
        } else {
            wl_die("unknown option '%s'; see --help", a);
        }
    }
    if (o->control_client) {
        if (!o->duration_s && !o->files)
            wl_die("--control needs --duration S or --files N");
        return;
    }
    if (!o->have_server)
        wl_die("no --server; give the file server's address, e.g. --server 127.0.0.1:8092");
    if (!o->control_server && !o->files)
        wl_die("give --port P (control server) or --files N (one batch)");
}

int main(int argc, char **argv)
{
    wl_set_program_name(argv[0]);
    const char *tmp = getenv("TMPDIR");
    struct dl_options opt = {.variant = VARIANT_FIXED,
                             .concurrency = 8,
                             .timeout_s = 10,
                             .max_time_s = 600,
                             .workdir = tmp && *tmp ? tmp : "/tmp"};
    parse_options(argc, argv, &opt);
    if (opt.control_client)
        return run_control_client(&opt);
    if (opt.control_server)
        return run_control_server(&opt);
    return run_batch(&opt);
}
