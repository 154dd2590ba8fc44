#include "wlkit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *program = "wl-client";

void wk_set_program(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    program = slash ? slash + 1 : argv0;
}

const char *wk_program(void)
{
    return program;
}

void wk_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

void wk_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: warning: ", program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

uint64_t wk_opt_uint(const char *option, const char *value, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || end == value || *end || value[0] == '-' || v < min || v > max)
        wk_die("%s needs an integer in [%llu, %llu], got '%s'; fix the option", option,
               (unsigned long long)min, (unsigned long long)max, value);
    return v;
}

double wk_opt_double(const char *option, const char *value, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !isfinite(v) || v < min || v > max)
        wk_die("%s needs a number in [%g, %g], got '%s'; fix the option", option, min, max, value);
    return v;
}

uint64_t wk_opt_bytes(const char *option, const char *value, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    uint64_t scale = 1;
    if (*end == 'K' || *end == 'k')
        scale = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        scale = 1024 * 1024, end++;
    else if (*end == 'G' || *end == 'g')
        scale = 1024ull * 1024 * 1024, end++;
    if (errno || end == value || *end || value[0] == '-' || v > max / scale || v * scale < min ||
        v * scale > max)
        wk_die("%s needs a byte count in [%llu, %llu] (K/M/G suffixes allowed), got '%s'; "
               "fix the option",
               option, (unsigned long long)min, (unsigned long long)max, value);
    return v * scale;
}

void wk_opt_target(const char *value, char host[static 16], uint16_t *port)
{
    const char *colon = strrchr(value, ':');
    const char *port_text = colon ? colon + 1 : value;
    size_t host_len = colon ? (size_t)(colon - value) : 0;
    struct in_addr addr;
    char buf[16] = "127.0.0.1";
    if (host_len >= sizeof(buf))
        wk_die("--target '%s' is not HOST:PORT with a numeric IPv4 host; use 127.0.0.1:PORT",
               value);
    if (colon) {
        memcpy(buf, value, host_len);
        buf[host_len] = '\0';
    }
    if (inet_pton(AF_INET, buf, &addr) != 1)
        wk_die("--target '%s' is not HOST:PORT with a numeric IPv4 host; use 127.0.0.1:PORT",
               value);
    *port = (uint16_t)wk_opt_uint("--target port", port_text, 1, 65535);
    memcpy(host, buf, sizeof(buf));
}

void wk_raise_nofile(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

uint64_t wk_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void latency_log_add(struct latency_log *log, uint64_t ns)
{
    if (log->len == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 4096;
        uint32_t *grown = realloc(log->us, cap * sizeof(*grown));
        if (!grown)
            return; /* a lost sample only narrows the percentiles */
        log->us = grown;
        log->cap = cap;
    }
    uint64_t us = ns / 1000;
    log->us[log->len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

void latency_log_free(struct latency_log *log)
{
    free(log->us);
    log->us = NULL;
    log->len = log->cap = 0;
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples, in milliseconds. */
static double percentile_ms(const uint32_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1] / 1000.0;
}

static void write_report(FILE *f, const struct load_report *r, const uint32_t *sorted, size_t n)
{
    double d = r->duration_s > 0 ? r->duration_s : 1e-9;
    fprintf(f,
            "{\"tool\":\"%s\",\"scenario\":\"%s\",\"target\":\"%s\",\"connections\":%u,"
            "\"duration_s\":%.3f,\"requests\":%llu,\"errors\":%llu,\"bytes\":%llu,"
            "\"rps\":%.1f,\"bytes_per_s\":%.1f,"
            "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
            r->tool, r->scenario, r->target, r->connections, r->duration_s,
            (unsigned long long)r->requests, (unsigned long long)r->errors,
            (unsigned long long)r->bytes, (double)r->requests / d, (double)r->bytes / d,
            percentile_ms(sorted, n, 50), percentile_ms(sorted, n, 90),
            percentile_ms(sorted, n, 99), percentile_ms(sorted, n, 100));
    if (r->extra_json && r->extra_json[0])
        fprintf(f, ",%s", r->extra_json);
    fputs("}\n", f);
}

int load_report_write(struct load_report *r, const char *path)
{
    struct latency_log *log = r->latency;
    size_t n = log ? log->len : 0;
    if (n)
        qsort(log->us, n, sizeof(log->us[0]), compare_u32);
    const uint32_t *sorted = n ? log->us : NULL;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    write_report(f, r, sorted, n);
    if (fflush(f) != 0 || ferror(f)) {
        int saved = errno;
        fclose(f);
        unlink(tmp);
        errno = saved;
        return -1;
    }
    fclose(f);
    if (rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

void load_report_print(const struct load_report *r)
{
    double d = r->duration_s > 0 ? r->duration_s : 1e-9;
    printf("%s: %s %u connections %.2f s: %llu requests, %llu errors, %llu bytes (%.0f req/s, "
           "%.2f MB/s)\n",
           r->tool, r->target, r->connections, r->duration_s, (unsigned long long)r->requests,
           (unsigned long long)r->errors, (unsigned long long)r->bytes, (double)r->requests / d,
           (double)r->bytes / d / 1e6);
    fflush(stdout);
}
