#include "harness/load_report.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const char *const format_names[LOAD_FORMAT_COUNT] = {
    [LOAD_FORMAT_AUTO] = "auto",       [LOAD_FORMAT_LOADGEN] = "loadgen",
    [LOAD_FORMAT_WRK] = "wrk",         [LOAD_FORMAT_H2LOAD] = "h2load",
    [LOAD_FORMAT_AB] = "ab",           [LOAD_FORMAT_REDIS_BENCHMARK] = "redis-benchmark",
    [LOAD_FORMAT_MEMTIER] = "memtier", [LOAD_FORMAT_K6] = "k6",
    [LOAD_FORMAT_REGEX] = "regex",
};

const char *load_format_name(enum load_format format)
{
    return format < LOAD_FORMAT_COUNT ? format_names[format] : "?";
}

int load_format_parse(const char *name, enum load_format *format)
{
    if (!strcmp(name, "memtier_benchmark")) {
        *format = LOAD_FORMAT_MEMTIER;
        return 0;
    }
    for (int f = 0; f < LOAD_FORMAT_COUNT; f++)
        if (f != LOAD_FORMAT_REGEX && !strcmp(name, format_names[f])) {
            *format = (enum load_format)f;
            return 0;
        }
    return -1;
}

const char *load_format_choices(void)
{
    return "auto|wrk|h2load|ab|redis-benchmark|memtier|k6|loadgen";
}

/* ---- lines ---- */

/* The text cut into lines at every \n and \r: redis-benchmark rewrites its progress line
 * with \r, so the figures it ends with follow a \r, not a \n. */
struct lines {
    char *buf;
    char **v;
    size_t n;
};

static void lines_split(struct lines *l, const char *text)
{
    memset(l, 0, sizeof(*l));
    l->buf = xstrdup(text ? text : "");
    size_t cap = 0;
    for (char *p = l->buf, *end; p; p = end) {
        end = strpbrk(p, "\r\n");
        if (end)
            *end++ = '\0';
        if (l->n == cap) {
            cap = cap ? cap * 2 : 64;
            l->v = xrealloc(l->v, cap * sizeof(char *));
        }
        l->v[l->n++] = p;
    }
}

static void lines_free(struct lines *l)
{
    free(l->buf);
    free(l->v);
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* The number after LABEL at the start of LINE (blanks before either skipped). */
static bool number_after_prefix(const char *line, const char *label, double *out)
{
    line = skip_blanks(line);
    size_t n = strlen(label);
    if (strncmp(line, label, n))
        return false;
    char *end;
    double v = strtod(skip_blanks(line + n), &end);
    if (end == skip_blanks(line + n))
        return false;
    *out = v;
    return true;
}

/* A time as wrk prints it ("696.00us", "4.10ms", "1.02s", "2.00m") in milliseconds. */
static bool parse_duration_ms(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        return false;
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"us", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 6e4}, {"h", 3.6e6}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strncmp(end, units[i].unit, strlen(units[i].unit)) &&
            !isalpha((unsigned char)end[strlen(units[i].unit)])) {
            *out = v * units[i].ms;
            return true;
        }
    return false;
}

/* "NN%  VALUE" (a percentile line of wrk or ab): the percent and what follows it. */
static bool percent_line(const char *line, double *percent, const char **rest)
{
    line = skip_blanks(line);
    char *end;
    double p = strtod(line, &end);
    if (end == line || *end != '%')
        return false;
    *percent = p;
    *rest = skip_blanks(end + 1);
    return true;
}

static void figures_reset(struct load_figures *f, enum load_format format)
{
    *f = (struct load_figures){format, NAN, NAN, NAN, NAN, NAN};
}

static void add_errors(struct load_figures *f, double n)
{
    f->errors = isnan(f->errors) ? n : f->errors + n;
}

/* ---- wrk ---- */

/* wrk: "Requests/sec:", "Latency Distribution" (with --latency) and the error lines. A log
 * holding several runs ("Running 10s test @ ...") gives the last. */
static bool parse_wrk(const struct lines *l, struct load_figures *f)
{
    figures_reset(f, LOAD_FORMAT_WRK);
    bool in_distribution = false;
    for (size_t i = 0; i < l->n; i++) {
        const char *s = skip_blanks(l->v[i]), *rest;
        double v, pct;
        if (!strncmp(s, "Running ", 8)) {
            figures_reset(f, LOAD_FORMAT_WRK);
        } else if (!strncmp(s, "Latency Distribution", 20)) {
            in_distribution = true;
            continue;
        } else if (in_distribution && percent_line(s, &pct, &rest)) {
            if (pct == 50 && parse_duration_ms(rest, &v))
                f->p50_ms = v;
            else if (pct == 99 && parse_duration_ms(rest, &v))
                f->p99_ms = v;
            continue;
        } else if (number_after_prefix(s, "Requests/sec:", &v)) {
            f->throughput_rps = v;
        } else if (number_after_prefix(s, "Non-2xx or 3xx responses:", &v)) {
            add_errors(f, v);
        } else if (!strncmp(s, "Socket errors:", 14)) {
            double c = 0, r = 0, w = 0, t = 0;
            if (sscanf(s, "Socket errors: connect %lf, read %lf, write %lf, timeout %lf", &c, &r,
                       &w, &t) == 4)
                add_errors(f, c + r + w + t);
        } else if (strstr(s, " requests in ") && isdigit((unsigned char)*s)) {
            f->requests = strtod(s, NULL);
        }
        in_distribution = false;
    }
    return !isnan(f->throughput_rps);
}

/* ---- h2load ---- */

/* "N WORD" pairs of h2load's "requests: 20000 total, 16112 started, ..." line. */
static bool count_before(const char *s, const char *word, double *out)
{
    size_t n = strlen(word);
    for (const char *p = s; (p = strstr(p, word)); p += n) {
        if (p == s || p[-1] != ' ' || (p[n] && p[n] != ',' && p[n] != ' '))
            continue;
        const char *q = p - 1;
        while (q > s && isdigit((unsigned char)q[-1]))
            q--;
        if (q < p - 1) {
            *out = strtod(q, NULL);
            return true;
        }
    }
    return false;
}

/* h2load: "finished in 966.32ms, 16557.75 req/s, 89.42MB/s" and the requests line. It
 * prints no percentiles (only min/max/mean/sd of the request time). */
static bool parse_h2load(const struct lines *l, struct load_figures *f)
{
    figures_reset(f, LOAD_FORMAT_H2LOAD);
    for (size_t i = 0; i < l->n; i++) {
        const char *s = skip_blanks(l->v[i]);
        double v;
        if (!strncmp(s, "finished in ", 12)) {
            const char *comma = strchr(s, ',');
            char *end;
            v = comma ? strtod(comma + 1, &end) : NAN;
            if (comma && !strncmp(skip_blanks(end), "req/s", 5))
                f->throughput_rps = v;
        } else if (!strncmp(s, "requests:", 9)) {
            if (count_before(s, "succeeded", &v))
                f->requests = v;
            if (count_before(s, "failed", &v))
                add_errors(f, v);
        }
    }
    return !isnan(f->throughput_rps);
}

/* ---- ab ---- */

/* ApacheBench: "Requests per second:", its percentile table (whole milliseconds) and the
 * failure counts. */
static bool parse_ab(const struct lines *l, struct load_figures *f)
{
    figures_reset(f, LOAD_FORMAT_AB);
    bool in_table = false;
    for (size_t i = 0; i < l->n; i++) {
        const char *s = skip_blanks(l->v[i]), *rest;
        double v, pct;
        if (!strncmp(s, "Percentage of the requests served", 33)) {
            in_table = true;
        } else if (in_table && percent_line(s, &pct, &rest)) {
            if (pct == 50)
                f->p50_ms = strtod(rest, NULL);
            else if (pct == 99)
                f->p99_ms = strtod(rest, NULL);
        } else if (number_after_prefix(s, "Requests per second:", &v)) {
            f->throughput_rps = v;
        } else if (number_after_prefix(s, "Complete requests:", &v)) {
            f->requests = v;
        } else if (number_after_prefix(s, "Failed requests:", &v) ||
                   number_after_prefix(s, "Non-2xx responses:", &v)) {
            add_errors(f, v);
        }
    }
    return !isnan(f->throughput_rps);
}

/* ---- redis-benchmark ---- */

struct redis_test {
    double rps, requests, p50, p99;
};

struct redis_tests {
    struct redis_test v[64];
    size_t n;
};

static struct redis_test *redis_new_test(struct redis_tests *t)
{
    if (t->n == sizeof(t->v) / sizeof(t->v[0]))
        return &t->v[t->n - 1]; /* more tests than that: the last slot is reused */
    t->v[t->n] = (struct redis_test){NAN, NAN, NAN, NAN};
    return &t->v[t->n++];
}

/* One CSV field of a redis-benchmark --csv line: "text" or a bare value. */
static const char *csv_field(const char *s, int index, char *out, size_t len)
{
    for (int i = 0;; i++) {
        bool quoted = *s == '"';
        const char *start = quoted ? s + 1 : s;
        const char *end = quoted ? strchr(start, '"') : strchr(start, ',');
        if (!end)
            end = start + strlen(start);
        if (i == index) {
            snprintf(out, len, "%.*s", (int)(end - start), start);
            return out;
        }
        const char *next = strchr(end, ',');
        if (!next)
            return NULL;
        s = next + 1;
    }
}

/* --csv: a header line ("test","rps","avg_latency_ms",...,"p50_latency_ms",...), then one
 * line per test; redis 6 printed "TEST","RPS" lines without a header. */
static bool redis_csv(const struct lines *l, struct redis_tests *t)
{
    int c_rps = 1, c_p50 = -1, c_p99 = -1;
    bool any = false;
    for (size_t i = 0; i < l->n; i++) {
        const char *s = l->v[i];
        char cell[64];
        if (*s != '"')
            continue;
        if (!strncmp(s, "\"test\",", 7)) {
            for (int c = 1; csv_field(s, c, cell, sizeof(cell)); c++) {
                c_rps = !strcmp(cell, "rps") ? c : c_rps;
                c_p50 = !strcmp(cell, "p50_latency_ms") ? c : c_p50;
                c_p99 = !strcmp(cell, "p99_latency_ms") ? c : c_p99;
            }
            continue;
        }
        char *end;
        if (!csv_field(s, c_rps, cell, sizeof(cell)))
            continue;
        double rps = strtod(cell, &end);
        if (end == cell)
            continue;
        struct redis_test *test = redis_new_test(t);
        test->rps = rps;
        if (c_p50 > 0 && csv_field(s, c_p50, cell, sizeof(cell)))
            test->p50 = strtod(cell, NULL);
        if (c_p99 > 0 && csv_field(s, c_p99, cell, sizeof(cell)))
            test->p99 = strtod(cell, NULL);
        any = true;
    }
    return any;
}

/* The values line under "latency summary (msec):": columns named by the line before it. */
static void redis_latency_summary(const struct lines *l, size_t header, struct redis_test *test)
{
    if (header + 1 >= l->n)
        return;
    char *names = xstrdup(l->v[header]), *values = xstrdup(l->v[header + 1]);
    char *sn = NULL, *sv = NULL;
    for (char *n = strtok_r(names, " \t", &sn), *v = strtok_r(values, " \t", &sv); n && v;
         n = strtok_r(NULL, " \t", &sn), v = strtok_r(NULL, " \t", &sv)) {
        if (!strcmp(n, "p50"))
            test->p50 = strtod(v, NULL);
        else if (!strcmp(n, "p99"))
            test->p99 = strtod(v, NULL);
    }
    free(names);
    free(values);
}

/* "SET: 662251.69 requests per second, p50=0.607 msec" (-q), "  throughput summary: X
 * requests per second" (plain, after "====== SET ======") or "X requests per second"
 * alone (redis 6's plain report). */
static void redis_text(const struct lines *l, struct redis_tests *t)
{
    struct redis_test *current = NULL;
    for (size_t i = 0; i < l->n; i++) {
        const char *s = skip_blanks(l->v[i]);
        const char *rps_at = strstr(s, " requests per second");
        double v;
        if (!strncmp(s, "====== ", 7)) {
            current = redis_new_test(t);
        } else if (current && strstr(s, " requests completed in ")) {
            current->requests = strtod(s, NULL);
        } else if (current && number_after_prefix(s, "throughput summary:", &v)) {
            current->rps = v;
        } else if (current && !strncmp(s, "latency summary", 15)) {
            redis_latency_summary(l, i + 1, current);
        } else if (rps_at) {
            const char *colon = NULL;
            for (const char *p = s; p < rps_at; p++)
                if (p[0] == ':' && p[1] == ' ')
                    colon = p;
            const char *num = colon ? colon + 2 : s;
            char *end;
            v = strtod(num, &end);
            if (end == num || skip_blanks(end) != rps_at + 1)
                continue;
            if (colon || !current || !isnan(current->rps))
                current = redis_new_test(t);
            current->rps = v;
            const char *p50 = strstr(rps_at, "p50=");
            if (p50)
                current->p50 = strtod(p50 + 4, NULL);
            if (colon)
                current = NULL;
        }
    }
}

/* Several tests (-t set,get,...) make one figure: all their requests over all their time
 * (each test's requests / its rate; equal counts assumed where a test did not say), and
 * the highest p50 and p99 among them (the slowest test's). */
static bool redis_combine(const struct redis_tests *t, struct load_figures *f)
{
    double requests = 0, seconds = 0;
    bool counts_known = true;
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        counts_known &= isnan(t->v[i].rps) || !isnan(t->v[i].requests);
    for (size_t i = 0; i < t->n; i++) {
        const struct redis_test *x = &t->v[i];
        if (isnan(x->rps) || x->rps <= 0)
            continue;
        double req = counts_known ? x->requests : 1;
        requests += req;
        seconds += req / x->rps;
        n++;
        if (!isnan(x->p50) && (isnan(f->p50_ms) || x->p50 > f->p50_ms))
            f->p50_ms = x->p50;
        if (!isnan(x->p99) && (isnan(f->p99_ms) || x->p99 > f->p99_ms))
            f->p99_ms = x->p99;
    }
    if (!n || seconds <= 0)
        return false;
    f->throughput_rps = requests / seconds;
    if (counts_known)
        f->requests = requests;
    return true;
}

static bool parse_redis(const struct lines *l, struct load_figures *f)
{
    figures_reset(f, LOAD_FORMAT_REDIS_BENCHMARK);
    struct redis_tests *t = xcalloc(1, sizeof(*t));
    if (!redis_csv(l, t))
        redis_text(l, t);
    bool ok = redis_combine(t, f);
    free(t);
    return ok;
}

/* ---- JSON reports ---- */

static double json_num(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* loadgen (and the other workload clients): {"rps":..,"latency_ms":{"p50":..,"p99":..}}. */
static bool parse_loadgen(const json_t *root, struct load_figures *f)
{
    figures_reset(f, LOAD_FORMAT_LOADGEN);
    f->throughput_rps = json_num(root, "rps");
    const json_t *lat = json_object_get(root, "latency_ms");
    f->p50_ms = json_num(lat, "p50");
    f->p99_ms = json_num(lat, "p99");
    f->requests = json_num(root, "requests");
    f->errors = json_num(root, "errors");
    return !isnan(f->throughput_rps);
}

/* The percentile NN of memtier's "Percentile Latencies" ("p50.00", "p99.00"; the keys
 * follow --print-percentiles). */
static double memtier_percentile(const json_t *block, double wanted)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)block, key, v)
    {
        char *end;
        if (key[0] == 'p' && json_is_number(v) && strtod(key + 1, &end) == wanted && !*end)
            return json_number_value(v);
    }
    return NAN;
}

/* memtier_benchmark --json-out-file: "ALL STATS" (one run; "AGGREGATED AVERAGE RESULTS"
 * with --run-count) > "Totals" > "Ops/sec", "Percentile Latencies", "Count". */
static bool parse_memtier(const json_t *root, struct load_figures *f)
{
    figures_reset(f, LOAD_FORMAT_MEMTIER);
    const json_t *stats = json_object_get(root, "ALL STATS");
    if (!stats)
        stats = json_object_get(root, "AGGREGATED AVERAGE RESULTS");
    const json_t *totals = json_object_get(stats, "Totals");
    f->throughput_rps = json_num(totals, "Ops/sec");
    const json_t *pct = json_object_get(totals, "Percentile Latencies");
    f->p50_ms = memtier_percentile(pct, 50);
    f->p99_ms = memtier_percentile(pct, 99);
    f->requests = json_num(totals, "Count");
    f->errors = json_num(totals, "Connection Errors");
    return !isnan(f->throughput_rps);
}

/* A k6 metric's statistic: flat in --summary-export's file, under "values" in
 * handleSummary's data. */
static double k6_stat(const json_t *metrics, const char *metric, const char *stat)
{
    const json_t *m = json_object_get(metrics, metric);
    double v = json_num(m, stat);
    return isnan(v) ? json_num(json_object_get(m, "values"), stat) : v;
}

/* k6 --summary-export: metrics.http_reqs.rate (iterations.rate for tests without HTTP),
 * http_req_duration's med / p(50) and p(99) (in the file only when --summary-trend-stats
 * asks for it), http_req_failed's passes (the failed requests). */
static bool parse_k6(const json_t *root, struct load_figures *f)
{
    figures_reset(f, LOAD_FORMAT_K6);
    const json_t *metrics = json_object_get(root, "metrics");
    bool http = json_object_get(metrics, "http_reqs") != NULL;
    const char *count = http ? "http_reqs" : "iterations";
    const char *duration = http ? "http_req_duration" : "iteration_duration";
    f->throughput_rps = k6_stat(metrics, count, "rate");
    f->requests = k6_stat(metrics, count, "count");
    f->p50_ms = k6_stat(metrics, duration, "med");
    if (isnan(f->p50_ms))
        f->p50_ms = k6_stat(metrics, duration, "p(50)");
    f->p99_ms = k6_stat(metrics, duration, "p(99)");
    if (http)
        f->errors = k6_stat(metrics, "http_req_failed", "passes");
    return !isnan(f->throughput_rps);
}

/* ---- regular expressions ---- */

int load_patterns_check(const struct load_patterns *patterns, char *err, size_t errlen)
{
    const char *names[] = {"throughput_regex", "p50_regex", "p99_regex"};
    const char *values[] = {patterns->throughput, patterns->p50, patterns->p99};
    for (size_t i = 0; i < 3; i++) {
        regex_t re;
        int rc = values[i] ? regcomp(&re, values[i], REG_EXTENDED | REG_NEWLINE) : 0;
        if (rc) {
            char why[256];
            regerror(rc, &re, why, sizeof(why));
            snprintf(err, errlen, "%s '%s': %s", names[i], values[i], why);
            return -1;
        }
        if (values[i])
            regfree(&re);
    }
    return 0;
}

/* The value PATTERN captures at its last match in TEXT; NAN when it never matches. */
static double regex_value(const char *pattern, const char *text)
{
    regex_t re;
    if (!pattern || !text || regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE))
        return NAN;
    double value = NAN;
    regmatch_t m[2];
    for (const char *p = text; *p && !regexec(&re, p, 2, m, p == text ? 0 : REG_NOTBOL);) {
        regmatch_t *g = m[1].rm_so >= 0 ? &m[1] : &m[0];
        char num[64];
        snprintf(num, sizeof(num), "%.*s", (int)(g->rm_eo - g->rm_so), p + g->rm_so);
        char *end;
        double v = strtod(num, &end);
        if (end != num)
            value = v;
        p += m[0].rm_eo > 0 ? m[0].rm_eo : 1;
    }
    regfree(&re);
    return value;
}

static void apply_patterns(const struct load_patterns *patterns, const char *text,
                           struct load_figures *f)
{
    if (patterns->throughput) {
        f->format = LOAD_FORMAT_REGEX;
        f->throughput_rps = regex_value(patterns->throughput, text);
    }
    if (patterns->p50)
        f->p50_ms = regex_value(patterns->p50, text);
    if (patterns->p99)
        f->p99_ms = regex_value(patterns->p99, text);
}

/* ---- dispatch ---- */

static bool text_nonempty(const char *text)
{
    return text && *text;
}

static bool is_json_format(enum load_format f)
{
    return f == LOAD_FORMAT_LOADGEN || f == LOAD_FORMAT_MEMTIER || f == LOAD_FORMAT_K6;
}

static bool parse_json_as(enum load_format format, const char *text, struct load_figures *f)
{
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        return false;
    }
    bool ok = format == LOAD_FORMAT_LOADGEN   ? parse_loadgen(root, f)
              : format == LOAD_FORMAT_MEMTIER ? parse_memtier(root, f)
                                              : parse_k6(root, f);
    json_decref(root);
    return ok;
}

static bool parse_text_as(enum load_format format, const char *text, struct load_figures *f)
{
    struct lines l;
    lines_split(&l, text);
    bool ok = format == LOAD_FORMAT_WRK      ? parse_wrk(&l, f)
              : format == LOAD_FORMAT_H2LOAD ? parse_h2load(&l, f)
              : format == LOAD_FORMAT_AB     ? parse_ab(&l, f)
                                             : parse_redis(&l, f);
    lines_free(&l);
    return ok;
}

/* FORMAT's figures from the report file, or from the log (a JSON report may have been
 * written to stdout). */
static bool parse_as(enum load_format format, const char *log, const char *report,
                     struct load_figures *f)
{
    if (is_json_format(format))
        return parse_json_as(format, report, f) || parse_json_as(format, log, f);
    return text_nonempty(log) && parse_text_as(format, log, f);
}

/* What each format is recognized by, in the order tried: the JSON reports by their keys,
 * then the text formats, each by lines no other tool prints. */
static const enum load_format recognition_order[] = {LOAD_FORMAT_LOADGEN,
                                                     LOAD_FORMAT_MEMTIER,
                                                     LOAD_FORMAT_K6,
                                                     LOAD_FORMAT_AB,
                                                     LOAD_FORMAT_WRK,
                                                     LOAD_FORMAT_H2LOAD,
                                                     LOAD_FORMAT_REDIS_BENCHMARK};

int load_report_read(enum load_format format, const struct load_patterns *patterns, const char *log,
                     const char *report, struct load_figures *out, char *why, size_t whylen)
{
    static const struct load_patterns none = {0};
    if (!patterns)
        patterns = &none;
    figures_reset(out, format);
    bool found = false;
    if (format == LOAD_FORMAT_AUTO) {
        for (size_t i = 0; !found && !patterns->throughput &&
                           i < sizeof(recognition_order) / sizeof(recognition_order[0]);
             i++)
            found = parse_as(recognition_order[i], log, report, out);
        if (!found)
            figures_reset(out, LOAD_FORMAT_AUTO);
    } else if (format != LOAD_FORMAT_REGEX && !patterns->throughput) {
        found = parse_as(format, log, report, out);
    }
    apply_patterns(patterns, log ? log : report, out);
    if (!isnan(out->throughput_rps))
        return 0;
    if (patterns->throughput)
        snprintf(why, whylen, "throughput_regex '%s' matched no number", patterns->throughput);
    else if (format == LOAD_FORMAT_AUTO)
        snprintf(why, whylen,
                 "the output is none of %s (name the format with load_format, or give "
                 "throughput_regex)",
                 load_format_choices() + 5);
    else
        snprintf(why, whylen, "no %s report with a throughput was found", format_names[format]);
    return -1;
}
