/* wl-bulk-server: the file server of the bulk-download scenario (not under test).
 * GET /files/N returns a body whose size is fixed by N (between --min-size and --max-size;
 * ?size= overrides), with a Content-Length, from one static pattern (no copy per request). */
#include "wl_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

struct file_server_options {
    uint64_t min_size, max_size;
};

static const struct file_server_options *options;
static char *pattern;
static size_t pattern_size;

/* The size of file N: a hash of N spread over [min, max], the same on every run. */
static uint64_t file_size(uint64_t n)
{
    uint64_t h = n * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    uint64_t span = options->max_size - options->min_size + 1;
    return options->min_size + h % span;
}

static void handle_file(struct evhttp_request *req, const char *name)
{
    char *end;
    unsigned long long n = strtoull(name, &end, 10);
    if (end == name || *end || name[0] == '-') {
        wl_reply_text(req, 404, "Not Found", "text/plain", "GET /files/NUMBER\n");
        return;
    }
    uint64_t size = wl_query_uint(req, "size", file_size(n), pattern_size);
    struct evbuffer *body = evbuffer_new();
    if (!body) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    evbuffer_add_reference(body, pattern, (size_t)size, NULL, NULL);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/octet-stream");
    wl_request_nodelay(req);
    evhttp_send_reply(req, 200, "OK", body);
    evbuffer_free(body);
}

static void handle_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path) {
        wl_reply_text(req, 400, "Bad Request", "text/plain", "bad uri\n");
    } else if (!strcmp(path, "/health")) {
        wl_handle_health(req, NULL);
    } else if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
               evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        wl_reply_text(req, 405, "Method Not Allowed", "text/plain", "GET only\n");
    } else if (!strncmp(path, "/files/", 7)) {
        handle_file(req, path + 7);
    } else {
        wl_reply_text(req, 404, "Not Found", "text/plain", "GET /files/NUMBER\n");
    }
}

static void worker_init(struct wl_worker *ww, void *arg)
{
    (void)arg;
    evhttp_set_gencb(ww->http, handle_request, NULL);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: wl-bulk-server [--port P] [--threads N] [--min-size BYTES]\n"
                 "                      [--max-size BYTES] [--timeout S]\n"
                 "Serves GET /files/N (size fixed by N in [min, max]; ?size= overrides) from\n"
                 "127.0.0.1. Defaults: --port 8092 --threads 1 --min-size 8K --max-size 64K\n"
                 "--timeout 5 (idle keep-alive limit).\n");
}

int main(int argc, char **argv)
{
    wl_set_program_name(argv[0]);
    struct file_server_options opt = {.min_size = 8 * 1024, .max_size = 64 * 1024};
    struct wl_server_config config = {
        .port = 8092,
        .threads = 1,
        .timeout_s = 5,
        .max_header_bytes = 8192,
        .max_body_bytes = 64 * 1024,
        .worker_init = worker_init,
        .arg = &opt,
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (wl_server_option(argc, argv, &i, &config, usage))
            continue;
        if (!strcmp(a, "--min-size")) {
            opt.min_size = wl_opt_bytes(a, wl_opt_value(argc, argv, &i), 0, 1ull << 30);
        } else if (!strcmp(a, "--max-size")) {
            opt.max_size = wl_opt_bytes(a, wl_opt_value(argc, argv, &i), 0, 1ull << 30);
        } else if (!strcmp(a, "--timeout")) {
            config.timeout_s = (int)wl_opt_uint(a, wl_opt_value(argc, argv, &i), 1, 3600);
        } else {
            wl_die("unknown option '%s'; see --help", a);
        }
    }
    if (opt.min_size > opt.max_size)
        wl_die("--min-size is larger than --max-size; give min <= max");
    options = &opt;
    /* ?size= may ask for more than --max-size, up to 16 MiB or max-size if larger. */
    pattern_size = opt.max_size > (16u << 20) ? opt.max_size : (16u << 20);
    pattern = malloc(pattern_size + 1);
    if (!pattern)
        wl_die("cannot allocate a %zu byte pattern; lower --max-size", pattern_size);
    for (size_t i = 0; i < pattern_size; i++)
        pattern[i] = (char)('0' + i % 10);
    int status = wl_server_run(&config);
    free(pattern);
    return status;
}
