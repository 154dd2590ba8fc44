#include "wl_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/tcp.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

static const char *program_name = "workload";

void wl_set_program_name(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    program_name = slash ? slash + 1 : argv0;
}

const char *wl_program_name(void)
{
    return program_name;
}

static void print_message(const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: %s", program_name, kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void wl_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_message("", fmt, ap);
    va_end(ap);
    exit(2);
}

void wl_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_message("warning: ", fmt, ap);
    va_end(ap);
}

uint64_t wl_opt_uint(const char *option, const char *value, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || end == value || *end || value[0] == '-' || v < min || v > max)
        wl_die("%s: '%s' is not an integer in [%llu, %llu]; give a number in that range", option,
               value, (unsigned long long)min, (unsigned long long)max);
    return v;
}

double wl_opt_double(const char *option, const char *value, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !(v >= min && v <= max))
        wl_die("%s: '%s' is not a number in [%g, %g]; give a number in that range", option, value,
               min, max);
    return v;
}

uint64_t wl_opt_bytes(const char *option, const char *value, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    uint64_t mult = 1;
    if (*end == 'K' || *end == 'k')
        mult = 1024;
    else if (*end == 'M' || *end == 'm')
        mult = 1024 * 1024;
    else if (*end == 'G' || *end == 'g')
        mult = 1024ull * 1024 * 1024;
    if (mult != 1)
        end++;
    if (errno || end == value || *end || value[0] == '-' || v > max / mult || v * mult < min ||
        v * mult > max)
        wl_die("%s: '%s' is not a byte count in [%llu, %llu]; give e.g. 4096, 64K or 2M", option,
               value, (unsigned long long)min, (unsigned long long)max);
    return v * mult;
}

const char *wl_opt_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        wl_die("%s needs a value; see --help", argv[*i]);
    *i += 1;
    return argv[*i];
}

bool wl_opt_leaky(const char *option, const char *value)
{
    if (strcmp(value, "leaky") != 0 && strcmp(value, "fixed") != 0)
        wl_die("%s: '%s' is not leaky or fixed", option, value);
    return strcmp(value, "leaky") == 0;
}

bool wl_opt_scale_large(int argc, char **argv)
{
    bool large = false;
    for (int i = 1; i < argc - 1; i++) {
        if (strcmp(argv[i], "--scale") != 0)
            continue;
        large = strcmp(argv[i + 1], "large") == 0;
        if (!large && strcmp(argv[i + 1], "quick") != 0)
            wl_die("--scale must be quick or large, got '%s'", argv[i + 1]);
    }
    return large;
}

void wl_opt_unknown(void)
{
    wl_die("unknown or incomplete option; see %s --help", program_name);
}

void wl_opt_no_operands(int argc, char **argv, int first)
{
    if (first < argc)
        wl_die("unexpected argument '%s'; see %s --help", argv[first], program_name);
}

struct sockaddr_in wl_sockaddr_ipv4(const char *host, uint16_t port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    return addr;
}

void wl_opt_hostport(const char *option, const char *value, char *host, size_t host_len,
                     uint16_t *port)
{
    const char *colon = strrchr(value, ':');
    const char *port_str = colon ? colon + 1 : value;
    size_t hlen = colon ? (size_t)(colon - value) : 0;
    if (hlen == 0)
        snprintf(host, host_len, "127.0.0.1");
    else if (hlen >= host_len)
        wl_die("%s: host in '%s' is too long; give HOST:PORT", option, value);
    else
        snprintf(host, host_len, "%.*s", (int)hlen, value);
    struct in_addr addr;
    if (inet_pton(AF_INET, host, &addr) != 1)
        wl_die("%s: '%s' is not an IPv4 address; give e.g. 127.0.0.1:8080", option, host);
    *port = (uint16_t)wl_opt_uint(option, port_str, 1, 65535);
}

uint64_t wl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t wl_now_us(void)
{
    return wl_now_ns() / 1000u;
}

struct timeval wl_timeval_from_s(double seconds)
{
    time_t whole = (time_t)seconds;
    return (struct timeval){whole, (suseconds_t)((seconds - (double)whole) * 1e6)};
}

void wl_raise_nofile(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

double wl_now_s(void)
{
    return (double)wl_now_us() / 1e6;
}

uint64_t wl_rand_next(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint64_t wl_rand_range(uint64_t *state, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + wl_rand_next(state) % (hi - lo + 1);
}

/* ---- server ------------------------------------------------------------------------------ */

static __thread struct wl_worker *current_worker;

struct wl_worker *wl_current_worker(void)
{
    return current_worker;
}

int wl_listen_loopback(uint16_t port, int backlog, uint16_t *bound_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        wl_die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        wl_die("cannot bind 127.0.0.1:%u: %s; choose another --port", port, strerror(errno));
    if (listen(fd, backlog) < 0)
        wl_die("listen: %s", strerror(errno));
    socklen_t len = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    *bound_port = ntohs(addr.sin_port);
    return fd;
}

bool wl_server_option(int argc, char **argv, int *i, struct wl_server_config *config,
                      void (*usage)(FILE *out))
{
    const char *a = argv[*i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
        usage(stdout);
        exit(0);
    } else if (!strcmp(a, "--port")) {
        config->port = (uint16_t)wl_opt_uint(a, wl_opt_value(argc, argv, i), 0, 65535);
    } else if (!strcmp(a, "--threads")) {
        config->threads = (int)wl_opt_uint(a, wl_opt_value(argc, argv, i), 1, 256);
    } else {
        return false;
    }
    return true;
}

static void *worker_main(void *arg)
{
    struct wl_worker *w = arg;
    current_worker = w;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    current_worker = NULL;
    return NULL;
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct wl_server *server = arg;
    fprintf(stderr, "%s: signal %d, stopping\n", program_name, (int)sig);
    for (int i = 0; i < server->config.threads; i++)
        event_base_loopbreak(server->workers[i].base);
    event_base_loopbreak(server->main_base);
}

struct event_base *wl_server_main_base(struct wl_server *server)
{
    return server->main_base;
}

static void worker_setup(struct wl_server *server, struct wl_worker *w, int index)
{
    const struct wl_server_config *c = &server->config;
    w->index = index;
    w->server = server;
    w->base = event_base_new();
    w->http = w->base ? evhttp_new(w->base) : NULL;
    if (!w->http)
        wl_die("cannot create the event loop of worker %d", index);
    evhttp_set_timeout(w->http, c->timeout_s);
    evhttp_set_max_headers_size(w->http, c->max_header_bytes);
    evhttp_set_max_body_size(w->http, c->max_body_bytes);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    /* Each worker accepts on its own dup of the listening socket: the kernel hands each new
     * connection to one of the waiting loops, and each evhttp closes only its own fd. */
    int fd = dup(server->listen_fd);
    if (fd < 0 || !evhttp_accept_socket_with_handle(w->http, fd))
        wl_die("cannot accept on the listening socket in worker %d", index);
    if (c->worker_init)
        c->worker_init(w, c->arg);
}

int wl_server_run(const struct wl_server_config *config)
{
    struct wl_server server = {.config = *config};
    if (server.config.threads < 1)
        server.config.threads = 1;
    if (server.config.timeout_s <= 0)
        server.config.timeout_s = 30;
    if (!server.config.max_header_bytes)
        server.config.max_header_bytes = 16 * 1024;
    if (!server.config.max_body_bytes)
        server.config.max_body_bytes = 16 * 1024 * 1024;
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    server.listen_fd = wl_listen_loopback(config->port, 4096, &server.port);
    server.main_base = event_base_new();
    int nthreads = server.config.threads;
    server.workers = calloc((size_t)nthreads, sizeof(*server.workers));
    if (!server.main_base || !server.workers)
        wl_die("out of memory at start");
    for (int i = 0; i < nthreads; i++)
        worker_setup(&server, &server.workers[i], i);
    struct wl_stop_signals signals;
    wl_stop_signals_add(&signals, server.main_base, on_stop_signal, &server);

    pthread_t *threads = calloc((size_t)nthreads, sizeof(*threads));
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&threads[i], NULL, worker_main, &server.workers[i]) != 0)
            wl_die("cannot start worker thread %d", i);
    printf("%s: listening on 127.0.0.1:%u\n", program_name, server.port);
    fflush(stdout);
    event_base_loop(server.main_base, EVLOOP_NO_EXIT_ON_EMPTY);

    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < nthreads; i++) {
        struct wl_worker *w = &server.workers[i];
        current_worker = w;
        if (config->worker_fini)
            config->worker_fini(w, config->arg);
        evhttp_free(w->http);
        event_base_free(w->base);
        current_worker = NULL;
    }
    wl_stop_signals_free(&signals);
    event_base_free(server.main_base);
    close(server.listen_fd);
    free(threads);
    free(server.workers);
    libevent_global_shutdown();
    return 0;
}

void wl_fd_nodelay(evutil_socket_t fd)
{
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void wl_connection_nodelay(struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    wl_fd_nodelay(bev ? bufferevent_getfd(bev) : -1);
}

void wl_request_nodelay(struct evhttp_request *req)
{
    wl_connection_nodelay(evhttp_request_get_connection(req));
}

void wl_reply_text(struct evhttp_request *req, int code, const char *reason,
                   const char *content_type, const char *body)
{
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add(out, body, strlen(body));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    evhttp_send_reply(req, code, reason, out);
    evbuffer_free(out);
}

bool wl_require_get(struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET)
        return true;
    wl_reply_text(req, 405, "Method Not Allowed", "text/plain", "GET only\n");
    return false;
}

void wl_handle_health(struct evhttp_request *req, void *arg)
{
    (void)arg;
    wl_reply_text(req, 200, "OK", "application/json", "{\"ok\":true}\n");
}

bool wl_query_param(struct evhttp_request *req, const char *name, char *out, size_t out_len)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!query)
        return false;
    struct evkeyvalq params;
    params.tqh_first = NULL;
    params.tqh_last = &params.tqh_first;
    bool found = false;
    if (evhttp_parse_query_str(query, &params) == 0) {
        const char *v = evhttp_find_header(&params, name);
        if (v) {
            snprintf(out, out_len, "%s", v);
            found = true;
        }
    }
    evhttp_clear_headers(&params);
    return found;
}

uint64_t wl_query_uint(struct evhttp_request *req, const char *name, uint64_t dflt, uint64_t max)
{
    char buf[32];
    if (!wl_query_param(req, name, buf, sizeof(buf)))
        return dflt;
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end == buf || *end || buf[0] == '-')
        return dflt;
    return v > max ? max : v;
}

/* ---- event loops of the bufferevent servers and the clients ------------------------------- */

void wl_stop_signals_add(struct wl_stop_signals *signals, struct event_base *base,
                         event_callback_fn on_stop, void *arg)
{
    signals->term = evsignal_new(base, SIGTERM, on_stop, arg);
    signals->intr = evsignal_new(base, SIGINT, on_stop, arg);
    if (!signals->term || !signals->intr || event_add(signals->term, NULL) != 0 ||
        event_add(signals->intr, NULL) != 0)
        wl_die("cannot set up signal handling; check memory limits");
}

void wl_stop_signals_free(struct wl_stop_signals *signals)
{
    event_free(signals->term);
    event_free(signals->intr);
    signals->term = signals->intr = NULL;
}

static void on_listener_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                               int socklen, void *arg)
{
    struct wl_listener *l = arg;
    l->on_accept(evl, fd, sa, socklen, l->arg);
}

static void on_listener_error(struct evconnlistener *evl, void *arg)
{
    struct wl_listener *l = arg;
    struct timeval pause = {0, 100 * 1000};
    wl_warn("accept failed (%s); pausing accepts for 100 ms", strerror(errno));
    evconnlistener_disable(evl);
    event_add(l->accept_retry, &pause);
}

static void on_listener_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct wl_listener *l = arg;
    evconnlistener_enable(l->evl);
}

void wl_listener_open(struct wl_listener *l, struct event_base *base, uint16_t *port,
                      bool reuse_port, evconnlistener_cb on_accept, void *arg)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(*port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
    if (reuse_port)
        flags |= LEV_OPT_REUSEABLE_PORT;
    l->on_accept = on_accept;
    l->arg = arg;
    l->evl = evconnlistener_new_bind(base, on_listener_accept, l, flags, 1024,
                                     (struct sockaddr *)&addr, sizeof(addr));
    if (!l->evl)
        wl_die("cannot listen on 127.0.0.1:%u (%s); choose a free --port", *port, strerror(errno));
    l->accept_retry = evtimer_new(base, on_listener_retry, l);
    if (!l->accept_retry)
        wl_die("cannot set up the event loop; check memory limits");
    evconnlistener_set_error_cb(l->evl, on_listener_error);
    socklen_t len = sizeof(addr);
    if (*port == 0 &&
        getsockname(evconnlistener_get_fd(l->evl), (struct sockaddr *)&addr, &len) == 0)
        *port = ntohs(addr.sin_port);
}

void wl_listener_close(struct wl_listener *l)
{
    evconnlistener_free(l->evl);
    event_free(l->accept_retry);
    l->evl = NULL;
    l->accept_retry = NULL;
}

void wl_http1_reply_close(struct evbuffer *out, const char *status, const char *content_type,
                          const char *body)
{
    evbuffer_add_printf(out,
                        "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n%s",
                        status, content_type, strlen(body), body);
}

/* ---- statistics ---------------------------------------------------------------------------- */

void wl_latency_init(struct wl_latency *lat, size_t cap)
{
    memset(lat, 0, sizeof(*lat));
    lat->cap = cap ? cap : 1;
    lat->rng = 0x853c49e6748fea9bull ^ (uint64_t)(uintptr_t)lat;
}

void wl_latency_add(struct wl_latency *lat, uint64_t us)
{
    uint32_t v = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    if (us > lat->max_us)
        lat->max_us = us;
    lat->seen++;
    if (lat->count < lat->cap) {
        if (lat->count % 4096 == 0) {
            size_t want = lat->count + 4096 < lat->cap ? lat->count + 4096 : lat->cap;
            uint32_t *grown = realloc(lat->us, want * sizeof(*grown));
            if (!grown)
                return;
            lat->us = grown;
        }
        lat->us[lat->count++] = v;
        return;
    }
    uint64_t slot = wl_rand_next(&lat->rng) % lat->seen;
    if (slot < lat->cap)
        lat->us[slot] = v;
}

void wl_latency_merge(struct wl_latency *dst, const struct wl_latency *src)
{
    for (size_t i = 0; i < src->count; i++)
        wl_latency_add(dst, src->us[i]);
    /* Samples beyond the source's cap were represented by its reservoir. */
    dst->seen += src->seen - src->count;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
}

void wl_latency_free(struct wl_latency *lat)
{
    free(lat->us);
    memset(lat, 0, sizeof(*lat));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

double wl_latency_percentile_ms(struct wl_latency *lat, double p)
{
    if (lat->count == 0)
        return 0.0;
    qsort(lat->us, lat->count, sizeof(*lat->us), cmp_u32);
    if (p >= 100.0)
        return (double)lat->max_us / 1000.0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)lat->count);
    if (rank == 0)
        rank = 1;
    return (double)lat->us[rank - 1] / 1000.0;
}

static double per_second(uint64_t n, double seconds)
{
    return seconds > 0 ? (double)n / seconds : 0.0;
}

char *wl_report_json(const struct wl_report *r, const char *extra_fields)
{
    char *json = NULL;
    int n =
        asprintf(&json,
                 "{\"tool\":\"%s\",\"scenario\":\"%s\",\"target\":\"%s\",\"connections\":%llu,"
                 "\"duration_s\":%.3f,\"requests\":%llu,\"errors\":%llu,\"bytes\":%llu,"
                 "\"rps\":%.1f,\"bytes_per_s\":%.1f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,"
                 "\"p99\":%.3f,\"max\":%.3f}%s}\n",
                 r->tool, r->scenario, r->target, (unsigned long long)r->connections, r->duration_s,
                 (unsigned long long)r->requests, (unsigned long long)r->errors,
                 (unsigned long long)r->bytes, per_second(r->requests, r->duration_s),
                 per_second(r->bytes, r->duration_s), wl_latency_percentile_ms(r->latency, 50),
                 wl_latency_percentile_ms(r->latency, 90), wl_latency_percentile_ms(r->latency, 99),
                 wl_latency_percentile_ms(r->latency, 100), extra_fields ? extra_fields : "");
    return n < 0 ? NULL : json;
}

int wl_write_file_atomic(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fputs(text, f);
    bool written = fflush(f) == 0 && !ferror(f);
    int saved_errno = errno;
    if (fclose(f) != 0 && written) {
        written = false;
        saved_errno = errno;
    }
    if (written && rename(tmp, path) == 0)
        return 0;
    if (written)
        saved_errno = errno;
    unlink(tmp);
    errno = saved_errno; /* the caller names the cause */
    return -1;
}

int wl_report_write_json(const struct wl_report *r, const char *path)
{
    char *json = wl_report_json(r, NULL);
    if (!json)
        return -1;
    int rc = wl_write_file_atomic(path, json);
    free(json);
    return rc;
}

void wl_report_print_summary(const struct wl_report *r)
{
    printf("%s %s %s: %llu requests in %.2fs (%.0f req/s), %.1f MB/s, %llu errors, "
           "latency p50 %.2f p90 %.2f p99 %.2f max %.2f ms\n",
           r->tool, r->scenario, r->target, (unsigned long long)r->requests, r->duration_s,
           per_second(r->requests, r->duration_s),
           per_second(r->bytes, r->duration_s) / (1024.0 * 1024.0), (unsigned long long)r->errors,
           wl_latency_percentile_ms(r->latency, 50), wl_latency_percentile_ms(r->latency, 90),
           wl_latency_percentile_ms(r->latency, 99), wl_latency_percentile_ms(r->latency, 100));
    fflush(stdout);
}

void wl_report_print_totals(const struct wl_report *r)
{
    double d = r->duration_s > 0 ? r->duration_s : 1e-9;
    printf("%s: %s %llu connections %.2f s: %llu requests, %llu errors, %llu bytes (%.0f req/s, "
           "%.2f MB/s)\n",
           r->tool, r->target, (unsigned long long)r->connections, r->duration_s,
           (unsigned long long)r->requests, (unsigned long long)r->errors,
           (unsigned long long)r->bytes, (double)r->requests / d, (double)r->bytes / d / 1e6);
    fflush(stdout);
}

int wl_report_finish(const struct wl_report *r, const char *extra_fields, const char *json_path)
{
    wl_report_print_totals(r);
    if (json_path) {
        char *json = wl_report_json(r, extra_fields);
        if (!json || wl_write_file_atomic(json_path, json) != 0) {
            fprintf(stderr, "%s: cannot write %s (%s); check the directory\n", program_name,
                    json_path, strerror(errno));
            free(json);
            return 1;
        }
        free(json);
    }
    return r->requests == 0 && r->errors > 0;
}
