/* Small kit shared by the mux-streams and slow-reader programs: option parsing that dies with one
 * clear line, timing, latency percentiles, and the load report in loadgen's JSON format (written
 * atomically). Kept apart from workloads/common so these programs build on their own. */
#ifndef WL_WLKIT_H
#define WL_WLKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void wk_set_program(const char *argv0);
const char *wk_program(void);

/* "<prog>: MESSAGE" on stderr, exit status 2. */
void wk_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* "<prog>: warning: MESSAGE" on stderr. */
void wk_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

uint64_t wk_opt_uint(const char *option, const char *value, uint64_t min, uint64_t max);
double wk_opt_double(const char *option, const char *value, double min, double max);
/* Byte count with an optional K/M/G suffix (powers of 1024). */
uint64_t wk_opt_bytes(const char *option, const char *value, uint64_t min, uint64_t max);
/* "HOST:PORT" or "PORT"; HOST must be a numeric IPv4 address (default 127.0.0.1). */
void wk_opt_target(const char *value, char host[static 16], uint16_t *port);

/* Raise the open-file limit to its hard maximum (thousands of connections need it). */
void wk_raise_nofile(void);

uint64_t wk_now_ns(void);

/* Latencies kept as microseconds; percentiles sort a copy once at the end. */
struct latency_log {
    uint32_t *us;
    size_t len;
    size_t cap;
};

void latency_log_add(struct latency_log *log, uint64_t ns);
void latency_log_free(struct latency_log *log);

struct load_report {
    const char *tool;
    const char *scenario;
    const char *target; /* "HOST:PORT" */
    unsigned connections;
    double duration_s;
    uint64_t requests;
    uint64_t errors;
    uint64_t bytes;
    struct latency_log *latency;
    /* Extra members appended to the object, already formatted: "\"frames\":12" or NULL. */
    const char *extra_json;
};

/* Writes the report to PATH (temp file + rename); returns 0 or -1 with errno set. */
int load_report_write(struct load_report *report, const char *path);
/* One human-readable line on stdout. */
void load_report_print(const struct load_report *report);

#endif
