/* wl-slow-client: viewers for wl-slow-reader. N clients open GET /live; a share of them stall
 * (a sleeping browser tab: they read nothing, or at most --read-rate bytes/s, so their TCP
 * window closes) while the others read at full speed, for a bounded duration. Writes
 * loadgen's JSON report plus frame counts and how many viewers the server closed. */
#include "wl_common.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#define MAX_HEAD_BYTES 8192

struct options {
    char host[16];
    uint16_t port;
    unsigned clients;
    double stalled_share;
    uint64_t read_rate; /* bytes/s for stalled viewers; 0 reads nothing at all */
    uint64_t stalled_rcvbuf;
    double duration_s;
    const char *path;
    const char *json;
};

enum viewer_phase { CONNECTING, RESPONSE_HEAD, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, RAW_BODY, ENDED };

struct viewer {
    struct bufferevent *bev;
    bool stalled;
    bool connected;
    enum viewer_phase phase;
    uint64_t chunk_left;
    uint64_t frames;
    uint64_t bytes;
    bool server_closed;
};

struct totals {
    uint64_t connected, errors, bytes, frames_fast, frames_stalled;
    unsigned fast, stalled, server_closed, stalled_server_closed;
};

static struct options opts;
static struct event_base *base;
static struct viewer *viewers;
static struct wl_latency first_frame;
static uint64_t start_ns;
static uint64_t errors;
static struct ev_token_bucket_cfg *stalled_bucket;

static void viewer_end(struct viewer *v, bool failed)
{
    if (v->phase == ENDED)
        return;
    if (failed)
        errors++;
    v->phase = ENDED;
    bufferevent_disable(v->bev, EV_READ | EV_WRITE);
}

static void count_frame(struct viewer *v)
{
    if (v->frames++ == 0)
        wl_latency_add(&first_frame, (wl_now_ns() - start_ns) / 1000);
}

/* "HTTP/1.x 200 ..." then headers; picks chunked or raw body. False on a bad response. */
static bool parse_head(struct viewer *v, struct evbuffer *in)
{
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0)
        return evbuffer_get_length(in) <= MAX_HEAD_BYTES;
    size_t len = (size_t)end.pos + 4;
    char *head = malloc(len + 1);
    if (!head)
        return false;
    evbuffer_remove(in, head, len);
    head[len] = '\0';
    bool ok = strncmp(head, "HTTP/1.", 7) == 0 && strncmp(head + 8, " 200", 4) == 0;
    bool chunked = strcasestr(head, "\r\ntransfer-encoding: chunked\r\n") != NULL;
    free(head);
    v->phase = chunked ? CHUNK_SIZE : RAW_BODY;
    return ok;
}

/* Walks the chunked body, counting each chunk as a frame. False on a malformed body. */
static bool parse_chunks(struct viewer *v, struct evbuffer *in)
{
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (v->phase == CHUNK_SIZE) {
            size_t len;
            char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF_STRICT);
            if (!line)
                return avail < 64;
            char *endp;
            v->chunk_left = strtoull(line, &endp, 16);
            bool bad = endp == line || (*endp && *endp != ';');
            free(line);
            if (bad)
                return false;
            if (v->chunk_left == 0) {
                viewer_end(v, false);
                return true;
            }
            v->phase = CHUNK_DATA;
        } else if (v->phase == CHUNK_DATA) {
            if (avail == 0)
                return true;
            size_t n = avail < v->chunk_left ? avail : (size_t)v->chunk_left;
            evbuffer_drain(in, n);
            v->bytes += n;
            v->chunk_left -= n;
            if (v->chunk_left == 0) {
                count_frame(v);
                v->phase = CHUNK_END;
            }
        } else if (v->phase == CHUNK_END) {
            if (avail < 2)
                return true;
            char crlf[2];
            evbuffer_remove(in, crlf, 2);
            if (crlf[0] != '\r' || crlf[1] != '\n')
                return false;
            v->phase = CHUNK_SIZE;
        } else {
            return true;
        }
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct viewer *v = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    bool ok = true;
    if (v->phase == RESPONSE_HEAD)
        ok = parse_head(v, in);
    if (ok && v->phase == RAW_BODY) {
        size_t n = evbuffer_get_length(in);
        if (n && v->bytes == 0)
            count_frame(v);
        v->bytes += n;
        evbuffer_drain(in, n);
    } else if (ok && v->phase >= CHUNK_SIZE && v->phase <= CHUNK_END) {
        ok = parse_chunks(v, in);
    }
    if (!ok)
        viewer_end(v, true);
}

static void send_request(struct viewer *v)
{
    evbuffer_add_printf(bufferevent_get_output(v->bev),
                        "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: wl-slow-client\r\n\r\n",
                        opts.path, opts.host, opts.port);
    v->phase = RESPONSE_HEAD;
    if (!v->stalled)
        return;
    if (opts.read_rate == 0)
        bufferevent_disable(v->bev, EV_READ); /* the tab is asleep: never read */
    else
        bufferevent_set_rate_limit(v->bev, stalled_bucket);
}

static void on_event(struct bufferevent *bev, short events, void *arg)
{
    (void)bev;
    struct viewer *v = arg;
    if (events & BEV_EVENT_CONNECTED) {
        v->connected = true;
        send_request(v);
        return;
    }
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (v->connected)
            v->server_closed = true;
        viewer_end(v, !v->connected);
    }
}

static int stalled_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && opts.stalled_rcvbuf > 0) {
        int size = (int)opts.stalled_rcvbuf;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    return fd;
}

static void viewer_start(struct viewer *v, const struct sockaddr_in *addr)
{
    int fd = v->stalled ? stalled_socket() : -1;
    v->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!v->bev)
        wl_die("cannot create a connection; check memory limits");
    v->phase = CONNECTING;
    bufferevent_setcb(v->bev, on_read, NULL, on_event, v);
    bufferevent_enable(v->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(v->bev, (const struct sockaddr *)addr, sizeof(*addr)) != 0)
        viewer_end(v, true);
}

/* A viewer that never reads does not see the server's reset through libevent: ask TCP. */
static bool socket_was_closed(const struct viewer *v)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);
    int fd = bufferevent_getfd(v->bev);
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
        return false;
    return info.tcpi_state != TCP_ESTABLISHED;
}

static struct totals collect_totals(void)
{
    struct totals t = {0};
    for (unsigned i = 0; i < opts.clients; i++) {
        struct viewer *v = &viewers[i];
        bool closed = v->server_closed || (v->connected && socket_was_closed(v));
        t.connected += v->connected;
        t.bytes += v->bytes;
        if (v->stalled) {
            t.stalled++;
            t.frames_stalled += v->frames;
            t.stalled_server_closed += closed;
        } else {
            t.fast++;
            t.frames_fast += v->frames;
        }
        t.server_closed += closed;
    }
    t.errors = errors;
    return t;
}

static int write_report(double duration_s)
{
    struct totals t = collect_totals();
    char extra[400];
    snprintf(extra, sizeof(extra),
             ",\"frames\":%llu,\"frames_fast\":%llu,\"frames_stalled\":%llu,\"fast_clients\":%u,"
             "\"stalled_clients\":%u,\"read_rate\":%llu,\"server_closed\":%u,"
             "\"stalled_server_closed\":%u",
             (unsigned long long)(t.frames_fast + t.frames_stalled),
             (unsigned long long)t.frames_fast, (unsigned long long)t.frames_stalled, t.fast,
             t.stalled, (unsigned long long)opts.read_rate, t.server_closed,
             t.stalled_server_closed);
    struct wl_report report = {
        .tool = "wl-slow-client",
        .scenario = "slow-reader",
        .connections = opts.clients,
        .duration_s = duration_s,
        .requests = t.connected,
        .errors = t.errors,
        .bytes = t.bytes,
        .latency = &first_frame,
    };
    snprintf(report.target, sizeof(report.target), "%s:%u", opts.host, opts.port);
    int status = wl_report_finish(&report, extra, opts.json);
    printf("wl-slow-client: %u fast viewers got %llu frames, %u stalled got %llu; server closed "
           "%u (%u stalled)\n",
           t.fast, (unsigned long long)t.frames_fast, t.stalled,
           (unsigned long long)t.frames_stalled, t.server_closed, t.stalled_server_closed);
    return status;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    event_base_loopbreak(base);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wl-slow-client --target HOST:PORT [--clients N] [--stalled SHARE]\n"
            "                      [--read-rate BYTES] [--stalled-rcvbuf BYTES]\n"
            "                      [--duration SECONDS] [--path P] [--json FILE]\n"
            "                      [--scale quick|large]\n"
            "Viewers of a live chunked stream; a share of them stall.\n"
            "  --clients N         viewers (quick 8, large 1000)\n"
            "  --stalled SHARE     share of viewers that stall (default 0.25)\n"
            "  --read-rate B       stalled viewers read at most B bytes/s (default 0: nothing)\n"
            "  --stalled-rcvbuf B  SO_RCVBUF of stalled viewers (default: the kernel's)\n"
            "  --duration S        run time in seconds (default 10)\n"
            "  --path P            request path (default /live)\n"
            "  --json FILE         write the report as JSON (temp file + rename)\n");
}

static void parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 'T'},
        {"clients", required_argument, NULL, 'c'},
        {"stalled", required_argument, NULL, 'S'},
        {"read-rate", required_argument, NULL, 'r'},
        {"stalled-rcvbuf", required_argument, NULL, 'b'},
        {"duration", required_argument, NULL, 'd'},
        {"path", required_argument, NULL, 'P'},
        {"json", required_argument, NULL, 'j'},
        {"scale", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    opts.clients = wl_opt_scale_large(argc, argv) ? 1000 : 8;
    opts.stalled_share = 0.25;
    opts.duration_s = 10;
    opts.path = "/live";
    bool have_target = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'T':
            wl_opt_hostport("--target", optarg, opts.host, sizeof(opts.host), &opts.port);
            have_target = true;
            break;
        case 'c':
            opts.clients = wl_opt_uint("--clients", optarg, 1, 100000);
            break;
        case 'S':
            opts.stalled_share = wl_opt_double("--stalled", optarg, 0, 1);
            break;
        case 'r':
            opts.read_rate = wl_opt_bytes("--read-rate", optarg, 0, 1ull << 32);
            break;
        case 'b':
            opts.stalled_rcvbuf = wl_opt_bytes("--stalled-rcvbuf", optarg, 0, 64 << 20);
            break;
        case 'd':
            opts.duration_s = wl_opt_double("--duration", optarg, 0.1, 86400);
            break;
        case 'P':
            if (optarg[0] != '/' || strlen(optarg) > 1024 || strpbrk(optarg, " \r\n"))
                wl_die("--path must start with '/', hold no spaces and be at most 1024 bytes");
            opts.path = optarg;
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

/* Stalled viewers with a read rate refill a token bucket ten times a second. */
static void make_stalled_bucket(void)
{
    if (opts.read_rate == 0)
        return;
    struct timeval tick = {0, 100 * 1000};
    size_t per_tick = opts.read_rate / 10 ? opts.read_rate / 10 : 1;
    stalled_bucket =
        ev_token_bucket_cfg_new(per_tick, per_tick, EV_RATE_LIMIT_MAX, EV_RATE_LIMIT_MAX, &tick);
    if (!stalled_bucket)
        wl_die("cannot set up rate limiting; check memory limits");
}

int main(int argc, char **argv)
{
    wl_set_program_name(argv[0]);
    parse_options(argc, argv);
    wl_raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    viewers = calloc(opts.clients, sizeof(*viewers));
    struct event *stop = evtimer_new(base, on_stop, NULL);
    if (!base || !viewers || !stop)
        wl_die("cannot set up the event loop; check memory limits");
    make_stalled_bucket();
    wl_latency_init(&first_frame, WL_LATENCY_KEEP_ALL);
    struct sockaddr_in addr = wl_sockaddr_ipv4(opts.host, opts.port);
    unsigned stalled = (unsigned)(opts.stalled_share * opts.clients + 0.5);

    start_ns = wl_now_ns();
    for (unsigned i = 0; i < opts.clients; i++) {
        viewers[i].stalled = i < stalled;
        viewer_start(&viewers[i], &addr);
    }
    struct timeval duration = wl_timeval_from_s(opts.duration_s);
    evtimer_add(stop, &duration);
    struct wl_stop_signals signals;
    wl_stop_signals_add(&signals, base, on_stop, NULL);
    event_base_dispatch(base);
    double elapsed = (double)(wl_now_ns() - start_ns) / 1e9;

    int status = write_report(elapsed);
    for (unsigned i = 0; i < opts.clients; i++)
        bufferevent_free(viewers[i].bev);
    free(viewers);
    if (stalled_bucket)
        ev_token_bucket_cfg_free(stalled_bucket);
    event_free(stop);
    wl_stop_signals_free(&signals);
    event_base_free(base);
    wl_latency_free(&first_frame);
    return status;
}
