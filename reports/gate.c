#include "reports/gate.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/format.h"
#include "common/results.h"
#include "common/stats.h"
#include "common/util.h"

/* Messages and paths are cut to their buffers on purpose: a long path only shortens a line. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MIB (1024.0 * 1024.0)
#define TIB (MIB * MIB)
#define REL_MAX 10.0 /* 1000% */

struct metric_info {
    const char *name;
    int column; /* enum bench_column of results.csv; -1: from the diagnosis */
    bool higher_is_better;
    struct gate_tolerance tol;
    double abs_max;   /* the largest amount a tolerance may give: past it, nothing would fail */
    const char *unit; /* what a value of its column is, for messages */
};

/* Default tolerances: memory repeats within a few % run to run here; timing drifts 15-30%
 * on a quiet machine and 2-4x with other benches beside it (docs/DIAGNOSE.md). */
static const struct metric_info metrics[GATE_NMETRICS] = {
    [GATE_AFTER_RSS] = {"after_rss", COL_AFTER_RSS, false, {0.08, 2 * MIB}, TIB, "byte count"},
    [GATE_PEAK_RSS] = {"peak_rss", COL_PEAK_RSS, false, {0.10, 4 * MIB}, TIB, "byte count"},
    [GATE_THROUGHPUT] = {"throughput", COL_RPS, true, {0.30, 0}, 1e9, "throughput in req/s"},
    [GATE_P99] = {"p99", COL_P99, false, {1.00, 2}, 3600e3, "latency in ms"},
    [GATE_LEAK_GROWTH] = {"leak_growth", -1, false, {0.50, 256 * 1024}, TIB, "growth in bytes/s"},
    [GATE_LEAK_PER_CALL] =
        {"leak_per_call", -1, false, {0.50, 4}, 1e9, "bytes kept per allocation call"},
};

const char *gate_metric_name(enum gate_metric m)
{
    return (unsigned)m < GATE_NMETRICS ? metrics[m].name : "?";
}

int gate_metric_parse(const char *name)
{
    for (int i = 0; i < GATE_NMETRICS; i++)
        if (!strcmp(name, metrics[i].name))
            return i;
    return -1;
}

bool gate_metric_higher_is_better(enum gate_metric m)
{
    return metrics[m].higher_is_better;
}

const char *gate_metric_format(enum gate_metric m, double v, char *buf, size_t len)
{
    if (isnan(v)) {
        snprintf(buf, len, "-");
        return buf;
    }
    switch (m) {
    case GATE_THROUGHPUT:
        snprintf(buf, len, "%.0f req/s", v);
        break;
    case GATE_P99:
        snprintf(buf, len, "%.1f ms", v);
        break;
    case GATE_LEAK_GROWTH: {
        char b[32];
        snprintf(buf, len, "%s/s", format_bytes(b, sizeof(b), v));
        break;
    }
    case GATE_LEAK_PER_CALL:
        snprintf(buf, len, "%.1f B/call", v);
        break;
    default:
        format_bytes(buf, len, v);
    }
    return buf;
}

bool gate_metric_value_ok(enum gate_metric m, double v)
{
    (void)m; /* every metric counts something: bytes, requests, milliseconds */
    return isfinite(v) && v >= 0;
}

void gate_options_default(struct gate_options *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < GATE_NMETRICS; i++) {
        o->tol[i] = metrics[i].tol;
        o->check[i] = true;
    }
    o->noise_k = 3.0;
    o->check_verdict = true;
}

int gate_noise_check(double k, char *err, size_t errlen)
{
    if (k >= 0 && k <= GATE_NOISE_MAX) /* false for NaN */
        return 0;
    snprintf(err, errlen, "noise_k %g is out of range: want a number of spreads from 0 to %d", k,
             GATE_NOISE_MAX);
    return -1;
}

int gate_noise_parse(struct gate_options *o, const char *text, char *err, size_t errlen)
{
    char *end;
    double k = strtod(text, &end);
    if (end == text || *end || gate_noise_check(k, err, errlen)) {
        snprintf(err, errlen, "--noise wants a number between 0 and %d, not '%s'", GATE_NOISE_MAX,
                 text);
        return -1;
    }
    o->noise_k = k, o->noise_k_set = true;
    return 0;
}

int gate_tolerance_check(enum gate_metric m, const struct gate_tolerance *t, char *err,
                         size_t errlen)
{
    char max[32];
    if (t->rel >= 0 && t->rel <= REL_MAX && t->abs >= 0 && t->abs <= metrics[m].abs_max)
        return 0; /* false for NaN */
    snprintf(err, errlen,
             "the %s tolerance (%g%%, %g) is out of range: want a share from 0%% to %.0f%% and an "
             "amount from 0 to %s; to stop checking %s, leave it out of --metrics",
             metrics[m].name, 100 * t->rel, t->abs, 100 * REL_MAX,
             gate_metric_format(m, metrics[m].abs_max, max, sizeof(max)), metrics[m].name);
    return -1;
}

/* One part of a tolerance: "10%" (relative) or a number with an optional K/M/G suffix. */
static int tolerance_part(const char *text, struct gate_tolerance *t, bool *rel_seen,
                          bool *abs_seen)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || !isfinite(v) || v < 0)
        return -1;
    if (!strcmp(end, "%")) {
        t->rel = v / 100, *rel_seen = true;
        return 0;
    }
    uint64_t bytes;
    if (*end && util_parse_bytes(text, &bytes))
        return -1;
    t->abs = *end ? (double)bytes : v, *abs_seen = true;
    return 0;
}

int gate_tolerance_parse(struct gate_options *o, const char *spec, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    char name[32];
    if (!eq || (size_t)(eq - spec) >= sizeof(name)) {
        snprintf(err, errlen,
                 "--tolerance wants METRIC=VALUE (for instance after_rss=10%%), "
                 "not '%s'",
                 spec);
        return -1;
    }
    snprintf(name, sizeof(name), "%.*s", (int)(eq - spec), spec);
    int m = gate_metric_parse(name);
    if (m < 0) {
        snprintf(err, errlen,
                 "unknown metric '%s' in --tolerance; metrics: after_rss, "
                 "peak_rss, throughput, p99, leak_growth, leak_per_call",
                 name);
        return -1;
    }
    struct gate_tolerance t = o->tol[m]; /* the part not given keeps its value */
    bool rel_seen = false, abs_seen = false;
    char *copy = xstrdup(eq + 1), *save = NULL;
    int rc = 0;
    for (char *part = strtok_r(copy, ",", &save); part && !rc; part = strtok_r(NULL, ",", &save))
        rc = tolerance_part(part, &t, &rel_seen, &abs_seen);
    free(copy);
    if (rc || (!rel_seen && !abs_seen)) {
        snprintf(err, errlen,
                 "tolerance '%s': want a share (10%%), an amount (4M, 50) or "
                 "both separated by a comma",
                 spec);
        return -1;
    }
    char why[400];
    if (gate_tolerance_check(m, &t, why, sizeof(why))) {
        snprintf(err, errlen, "tolerance '%s': %s", spec, why);
        return -1;
    }
    o->tol[m] = t;
    o->tol_set[m] = true;
    return 0;
}

/* ---- statistics ---------------------------------------------------------------------- */

void gate_stats_compute(struct gate_stats *s)
{
    s->median = stats_median(s->values, s->n);
    s->spread = stats_spread(s->values, s->n);
}

static void stats_add(struct gate_stats *s, double v)
{
    if (isnan(v))
        return;
    s->values = xreallocarray(s->values, s->n + 1, sizeof(double));
    s->values[s->n++] = v;
}

/* ---- reading a bench ----------------------------------------------------------------- */

static struct gate_cell *cell_for(struct gate_bench *b, const char *key)
{
    for (size_t i = 0; i < b->ncells; i++)
        if (!strcmp(b->cells[i].key, key))
            return &b->cells[i];
    b->cells = xreallocarray(b->cells, b->ncells + 1, sizeof(*b->cells));
    struct gate_cell *c = &b->cells[b->ncells++];
    memset(c, 0, sizeof(*c));
    c->key = xstrdup(key);
    c->verdict = -1;
    return c;
}

static void append_verdict(struct gate_cell *c, const char *name)
{
    size_t old = c->verdicts ? strlen(c->verdicts) : 0;
    c->verdicts = xrealloc(c->verdicts, old + strlen(name) + 2);
    snprintf(c->verdicts + old, strlen(name) + 2, "%s%s", old ? "," : "", name);
}

/* The verdict most repeats got (ties: the more severe one, listed later in the enum). */
static void majority_verdict(struct gate_cell *c)
{
    int count[5] = {0};
    char *copy = xstrdup(c->verdicts ? c->verdicts : ""), *save = NULL;
    for (char *v = strtok_r(copy, ",", &save); v; v = strtok_r(NULL, ",", &save))
        if (diagnosis_verdict_parse(v) >= 0)
            count[diagnosis_verdict_parse(v)]++;
    free(copy);
    c->verdict = -1;
    for (int i = 0; i < 5; i++)
        if (count[i] && (c->verdict < 0 || count[i] >= count[c->verdict]))
            c->verdict = i;
}

static void diagnose_repeat(struct gate_cell *c, const char *bench_dir, const char *cell_name,
                            const struct diagnose_thresholds *t)
{
    char dir[PATH_MAX], err[512];
    struct diagnosis d;
    snprintf(dir, sizeof(dir), "%s/cells/%s", bench_dir, cell_name);
    if (diagnose_run(dir, t, &d, err, sizeof(err))) {
        util_warn("%s; no verdict for this repeat", err);
        diagnosis_free(&d);
        return;
    }
    append_verdict(c, diagnosis_verdict_name(d.verdict));
    stats_add(&c->metric[GATE_LEAK_GROWTH], diagnosis_leak_growth(&d));
    stats_add(&c->metric[GATE_LEAK_PER_CALL], diagnosis_leak_per_call(&d));
    diagnosis_free(&d);
}

/* A metric of an ok repeat: empty is "not measured" (NAN: a skip, throughput without a load
 * tool); anything else must be a number the metric can have. 0, or -1 with err naming the
 * file, the cell and the column. */
static int row_metric(const struct bench_row *row, enum gate_metric m, const char *path,
                      double *out, char *err, size_t errlen)
{
    enum bench_column col = (enum bench_column)metrics[m].column;
    const char *text = row->fields[col];
    *out = bench_row_number(row, col);
    if (!*text || gate_metric_value_ok(m, *out))
        return 0;
    char cell[96], value[96];
    snprintf(err, errlen,
             "%s: cell %s: %s '%s' is not a %s (a finite number, not negative); an empty field "
             "means not measured: fix the row or rerun the bench",
             path, util_printable(cell, sizeof(cell), row->fields[COL_CELL]),
             bench_column_names[col], util_printable(value, sizeof(value), text), metrics[m].unit);
    return -1;
}

static int load_row(struct gate_bench *b, const struct bench_row *row, const char *bench_dir,
                    const char *path, const struct diagnose_thresholds *t, int source, char *err,
                    size_t errlen)
{
    double values[GATE_NMETRICS];
    for (int m = 0; m < GATE_NMETRICS; m++)
        if (metrics[m].column >= 0 && !strcmp(row->fields[COL_STATUS], "ok") &&
            row_metric(row, m, path, &values[m], err, errlen))
            return -1;
    char key[512];
    char *const *f = row->fields;
    snprintf(key, sizeof(key), "%s-%s-%s-%s", f[COL_WORKLOAD], f[COL_VARIANT], f[COL_ALLOCATOR],
             f[COL_CONFIG]);
    struct gate_cell *cell = cell_for(b, key);
    if (!cell->workload) {
        cell->workload = xstrdup(f[COL_WORKLOAD]), cell->variant = xstrdup(f[COL_VARIANT]);
        cell->allocator = xstrdup(f[COL_ALLOCATOR]), cell->config = xstrdup(f[COL_CONFIG]);
    }
    if (cell->last_source != source + 1)
        cell->sources++, cell->last_source = source + 1;
    const char *status = f[COL_STATUS];
    if (!strcmp(status, "unsupported"))
        return 0; /* the program links its own allocator: nothing measured, nothing failed */
    cell->repeats++;
    if (strcmp(status, "ok")) {
        cell->failed++;
        if (!strncmp(status, "failed:crashed", 14) || !strncmp(status, "failed:exit", 11))
            cell->crashed++;
        if (!cell->failure)
            cell->failure = xstrdup(status);
        return 0;
    }
    for (int m = 0; m < GATE_NMETRICS; m++)
        if (metrics[m].column >= 0)
            stats_add(&cell->metric[m], values[m]);
    if (t)
        diagnose_repeat(cell, bench_dir, f[COL_CELL], t);
    return 0;
}

/* Row R repeats an earlier row's cell coordinates and repeat number (under another cell name:
 * the reader refuses the same name twice): -1 with err. */
static int check_repeat(const struct bench_results *res, size_t r, const char *path, char *err,
                        size_t errlen)
{
    static const enum bench_column same[] = {COL_WORKLOAD, COL_VARIANT, COL_ALLOCATOR, COL_CONFIG,
                                             COL_REPEAT};
    char *const *f = res->rows[r].fields;
    if (!*f[COL_REPEAT])
        return 0;
    for (size_t e = 0; e < r; e++) {
        bool equal = true;
        for (size_t i = 0; i < sizeof(same) / sizeof(same[0]) && equal; i++)
            equal = !strcmp(res->rows[e].fields[same[i]], f[same[i]]);
        if (!equal)
            continue;
        char key[512], shown[96], first[96], again[96], repeat[32];
        snprintf(key, sizeof(key), "%s-%s-%s-%s", f[COL_WORKLOAD], f[COL_VARIANT], f[COL_ALLOCATOR],
                 f[COL_CONFIG]);
        snprintf(err, errlen,
                 "%s: repeat %s of %s is listed twice (cells %s and %s); a bench runs each "
                 "repeat once, so the file was joined or edited: keep one row per repeat",
                 path, util_printable(repeat, sizeof(repeat), f[COL_REPEAT]),
                 util_printable(shown, sizeof(shown), key),
                 util_printable(first, sizeof(first), res->rows[e].fields[COL_CELL]),
                 util_printable(again, sizeof(again), f[COL_CELL]));
        return -1;
    }
    return 0;
}

/* Every row is one repeat of its cell: the reader refuses a cell listed twice, which would
 * count as two. */
static int add_bench(struct gate_bench *b, const char *bench_dir, int index,
                     const struct diagnose_thresholds *t, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct bench_results res;
    snprintf(path, sizeof(path), "%s/results.csv", bench_dir);
    if (bench_results_load(&res, path, err, errlen))
        return -1;
    size_t before = b->ncells, rows = res.n;
    int rc = 0;
    for (size_t r = 0; r < rows && !rc; r++)
        rc = check_repeat(&res, r, path, err, errlen) ||
             load_row(b, &res.rows[r], bench_dir, path, t, index, err, errlen);
    bench_results_free(&res);
    if (rc)
        return -1;
    if (!rows) {
        snprintf(err, errlen, "%s has no cells; run the bench to the end first", path);
        return -1;
    }
    if (index > 0 && b->ncells != before) {
        snprintf(err, errlen, "%s has a cell %s that %s lacks: pool only benches of one matrix",
                 bench_dir, b->cells[b->ncells - 1].key, b->source);
        return -1;
    }
    return 0;
}

static int pool_benches(struct gate_bench *b, char *const *dirs, size_t ndirs,
                        const struct diagnose_thresholds *t, char *err, size_t errlen)
{
    for (size_t i = 0; i < ndirs; i++)
        if (add_bench(b, dirs[i], (int)i, t, err, errlen))
            return -1;
    for (size_t i = 0; i < b->ncells; i++) {
        if (b->cells[i].sources != ndirs) {
            snprintf(err, errlen,
                     "cell %s is missing from %zu of the benches: pool only "
                     "benches of one matrix",
                     b->cells[i].key, ndirs - b->cells[i].sources);
            return -1;
        }
        for (int m = 0; m < GATE_NMETRICS; m++)
            gate_stats_compute(&b->cells[i].metric[m]);
        majority_verdict(&b->cells[i]);
    }
    return 0;
}

int gate_bench_load_many(struct gate_bench *b, char *const *dirs, size_t ndirs,
                         const struct diagnose_thresholds *t, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    b->source = xstrdup(dirs[0]);
    if (pool_benches(b, dirs, ndirs, t, err, errlen) == 0)
        return 0;
    gate_bench_free(b); /* a bench that failed to load holds nothing */
    return -1;
}

int gate_bench_load(struct gate_bench *b, const char *bench_dir,
                    const struct diagnose_thresholds *t, char *err, size_t errlen)
{
    char *dirs[] = {(char *)bench_dir};
    return gate_bench_load_many(b, dirs, 1, t, err, errlen);
}

static void cell_free(struct gate_cell *c)
{
    free(c->key), free(c->workload), free(c->variant), free(c->allocator), free(c->config);
    free(c->failure), free(c->verdicts);
    for (int m = 0; m < GATE_NMETRICS; m++)
        free(c->metric[m].values);
}

void gate_bench_free(struct gate_bench *b)
{
    for (size_t i = 0; i < b->ncells; i++)
        cell_free(&b->cells[i]);
    free(b->cells);
    free(b->source);
    memset(b, 0, sizeof(*b));
}

void gate_choose_leak_metric(const struct gate_bench *base, struct gate_options *o)
{
    if (o->metrics_given)
        return;
    bool per_call = false;
    for (size_t i = 0; i < base->ncells; i++)
        per_call = per_call || base->cells[i].metric[GATE_LEAK_PER_CALL].n > 0;
    o->check[GATE_LEAK_GROWTH] = !per_call;
    o->check[GATE_LEAK_PER_CALL] = per_call;
}
