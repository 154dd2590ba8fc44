/* Shared pieces of the reference workloads: option parsing, a multi-threaded evhttp server
 * (one event_base per worker thread, all accepting on one 127.0.0.1 listening socket),
 * clean shutdown on SIGTERM/SIGINT, latency statistics and the loadgen JSON report. */
#ifndef WL_COMMON_H
#define WL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <netinet/in.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

/* ---- diagnostics and options ---------------------------------------------------------- */

void wl_set_program_name(const char *argv0);
const char *wl_program_name(void);

/* "<prog>: MESSAGE" on stderr, then exit(2). */
void wl_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void wl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse "OPTION VALUE" numbers, dying with a clear line on bad input. */
uint64_t wl_opt_uint(const char *option, const char *value, uint64_t min, uint64_t max);
double wl_opt_double(const char *option, const char *value, double min, double max);
/* A byte count with optional K/M/G suffix (powers of 1024). */
uint64_t wl_opt_bytes(const char *option, const char *value, uint64_t min, uint64_t max);

/* The value following argv[*i]; dies when it is missing. */
const char *wl_opt_value(int argc, char **argv, int *i);

/* "HOST:PORT" or "PORT" (host 127.0.0.1); dies on anything else. */
void wl_opt_hostport(const char *option, const char *value, char *host, size_t host_len,
                     uint16_t *port);

/* "leaky" or "fixed" (a scenario's --variant): true for leaky; dies on anything else. */
bool wl_opt_leaky(const char *option, const char *value);
/* Whether the last "--scale" in argv says large. The scale sets the defaults the other options
 * override, so it is read before them; dies when a --scale value is not quick or large. */
bool wl_opt_scale_large(int argc, char **argv);

/* getopt_long's '?' (unknown option or missing value): dies "see <prog> --help". */
void wl_opt_unknown(void) __attribute__((noreturn));
/* Dies when argv[first..] holds anything: the programs take options only. */
void wl_opt_no_operands(int argc, char **argv, int first);

/* The socket address of a host wl_opt_hostport accepted (numeric IPv4) and a port. */
struct sockaddr_in wl_sockaddr_ipv4(const char *host, uint16_t port);

double wl_now_s(void);
uint64_t wl_now_us(void);
uint64_t wl_now_ns(void);
/* A duration in seconds as a timeval for libevent timers. */
struct timeval wl_timeval_from_s(double seconds);

/* Raise the open-file limit to its hard maximum (thousands of connections need it). */
void wl_raise_nofile(void);

/* xorshift64*: cheap per-thread pseudo random numbers. */
uint64_t wl_rand_next(uint64_t *state);
/* Uniform in [lo, hi]. */
uint64_t wl_rand_range(uint64_t *state, uint64_t lo, uint64_t hi);

/* Intrusive doubly linked lists: NODE has prev and next members, HEAD points at the first
 * node. PUSH expects a node whose prev is NULL (a calloc'd one). */
#define WL_LIST_PUSH(head, node)                                                                   \
    do {                                                                                           \
        (node)->next = (head);                                                                     \
        if (head)                                                                                  \
            (head)->prev = (node);                                                                 \
        (head) = (node);                                                                           \
    } while (0)

#define WL_LIST_UNLINK(head, node)                                                                 \
    do {                                                                                           \
        if ((node)->prev)                                                                          \
            (node)->prev->next = (node)->next;                                                     \
        else                                                                                       \
            (head) = (node)->next;                                                                 \
        if ((node)->next)                                                                          \
            (node)->next->prev = (node)->prev;                                                     \
    } while (0)

/* ---- the multi-threaded evhttp server -------------------------------------------------- */

struct wl_worker {
    int index;
    struct event_base *base;
    struct evhttp *http;
    void *user; /* the scenario's per-worker state */
    struct wl_server *server;
};

struct wl_server_config {
    uint16_t port; /* 0: any free port */
    int threads;
    int timeout_s;           /* idle/read/write timeout of server connections */
    size_t max_header_bytes; /* larger headers get 400 and the connection closed */
    size_t max_body_bytes;
    /* Called in the main thread before the workers start: register callbacks on w->http,
     * set w->user. */
    void (*worker_init)(struct wl_worker *w, void *arg);
    /* Called in the main thread after every worker loop has stopped, before the worker's
     * evhttp and event_base are freed (free w->user here). */
    void (*worker_fini)(struct wl_worker *w, void *arg);
    void *arg;
};

struct wl_server {
    struct wl_server_config config;
    int listen_fd;
    uint16_t port;
    struct wl_worker *workers;
    struct event_base *main_base;
};

/* Bind 127.0.0.1:PORT and listen; dies on failure. Returns the fd, sets *bound_port. */
int wl_listen_loopback(uint16_t port, int backlog, uint16_t *bound_port);

/* The options every evhttp server takes, at argv[*i]: --help or -h prints usage on stdout and
 * exits 0; --port P and --threads N set config. False when argv[*i] is none of them. */
bool wl_server_option(int argc, char **argv, int *i, struct wl_server_config *config,
                      void (*usage)(FILE *out));

/* Start the workers, print "<prog>: listening on 127.0.0.1:PORT" on stdout, run until
 * SIGTERM/SIGINT, then stop and free everything. Returns the process exit status. */
int wl_server_run(const struct wl_server_config *config);

/* Hook for scenarios that need the main loop (e.g. timers in the main thread). */
struct event_base *wl_server_main_base(struct wl_server *server);

/* The worker whose thread is calling (NULL outside worker threads). */
struct wl_worker *wl_current_worker(void);

/* Disable Nagle on the request's connection: streamed pieces and chunk trailers are small
 * writes that would otherwise wait for delayed ACKs (40 ms each on loopback). */
void wl_fd_nodelay(evutil_socket_t fd);
void wl_request_nodelay(struct evhttp_request *req);
void wl_connection_nodelay(struct evhttp_connection *evcon);

/* Send a small reply with a body from a C string. */
void wl_reply_text(struct evhttp_request *req, int code, const char *reason,
                   const char *content_type, const char *body);

/* False, after a 405 "GET only" answer, when the request is not a GET. */
bool wl_require_get(struct evhttp_request *req);

/* GET /health of every evhttp server: 200 {"ok":true}. An evhttp callback (arg unused). */
void wl_handle_health(struct evhttp_request *req, void *arg);

/* Value of a query parameter of the request URI, copied to out; false when absent. */
bool wl_query_param(struct evhttp_request *req, const char *name, char *out, size_t out_len);
uint64_t wl_query_uint(struct evhttp_request *req, const char *name, uint64_t dflt, uint64_t max);

/* ---- event loops of the bufferevent servers and the clients -------------------------------- */

/* SIGTERM and SIGINT delivered as events of one loop. */
struct wl_stop_signals {
    struct event *term, *intr;
};

/* Calls on_stop(signal, EV_SIGNAL, arg) in base's loop on SIGTERM or SIGINT; dies when it
 * cannot be set up. */
void wl_stop_signals_add(struct wl_stop_signals *signals, struct event_base *base,
                         event_callback_fn on_stop, void *arg);
void wl_stop_signals_free(struct wl_stop_signals *signals);

/* A listening socket on 127.0.0.1 handing connections to on_accept; when accept fails (out of
 * descriptors) it warns and pauses accepting for 100 ms rather than spin on the backlog. */
struct wl_listener {
    struct evconnlistener *evl;
    struct event *accept_retry;
    evconnlistener_cb on_accept;
    void *arg;
};

/* Listen on 127.0.0.1:*port (0: a free port, written back to *port); reuse_port lets the
 * loops of several threads listen on the same port. Dies with a clear line on failure. */
void wl_listener_open(struct wl_listener *l, struct event_base *base, uint16_t *port,
                      bool reuse_port, evconnlistener_cb on_accept, void *arg);
void wl_listener_close(struct wl_listener *l);

/* Queue a complete HTTP/1.1 response with BODY and "Connection: close" on out. */
void wl_http1_reply_close(struct evbuffer *out, const char *status, const char *content_type,
                          const char *body);

/* ---- statistics and the loadgen JSON report -------------------------------------------- */

/* Latency samples in microseconds. Keeps every sample up to a cap, then a uniform reservoir
 * sample, so percentiles stay unbiased with bounded memory. */
struct wl_latency {
    uint32_t *us;
    size_t count, cap, seen;
    uint64_t max_us;
    uint64_t rng;
};

/* A cap that keeps every sample: exact percentiles, memory grows with the run. */
#define WL_LATENCY_KEEP_ALL SIZE_MAX

void wl_latency_init(struct wl_latency *lat, size_t cap);
void wl_latency_add(struct wl_latency *lat, uint64_t us);
/* Merge src into dst (reservoir stays uniform only approximately; fine for reporting). */
void wl_latency_merge(struct wl_latency *dst, const struct wl_latency *src);
void wl_latency_free(struct wl_latency *lat);
/* Percentile p in [0,100] in milliseconds; sorts the samples. */
double wl_latency_percentile_ms(struct wl_latency *lat, double p);

struct wl_report {
    const char *tool; /* "loadgen" */
    const char *scenario;
    char target[96];
    uint64_t connections;
    double duration_s;
    uint64_t requests, errors, bytes;
    struct wl_latency *latency;
};

/* The one-object loadgen JSON as a malloc'd string ending in "}\n"; NULL when out of memory.
 * extra_fields, when not NULL, is inserted before the closing brace (e.g. ",\"x\":1"). */
char *wl_report_json(const struct wl_report *report, const char *extra_fields);

/* Write the one-object loadgen JSON to PATH atomically (PATH.tmp + rename). Returns 0 or -1. */
int wl_report_write_json(const struct wl_report *report, const char *path);
/* Write TEXT to PATH atomically (PATH.tmp + rename). Returns 0 or -1. */
int wl_write_file_atomic(const char *path, const char *text);

/* One human line on stdout. */
void wl_report_print_summary(const struct wl_report *report);
/* One human line on stdout with the totals (the HTTP/2 and push clients' format). */
void wl_report_print_totals(const struct wl_report *report);

/* How the event-loop clients end: the totals line, then the report as JSON to json_path when
 * not NULL ("<prog>: cannot write ..." on stderr and status 1 when that fails). Otherwise the
 * status is 1 when nothing succeeded and something failed (as loadgen), else 0. */
int wl_report_finish(const struct wl_report *report, const char *extra_fields,
                     const char *json_path);

#endif
