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

struct metric_info {
    const char *name;
    int column; /* enum bench_column of results.csv; -1: from the diagnosis */
    bool higher_is_better;
    struct gate_tolerance tol;
};

/* Default tolerances: memory repeats within a few % run to run here; timing drifts 15-30%
 * on a quiet machine and 2-4x with other benches beside it (docs/DIAGNOSE.md). */
static const struct metric_info metrics[GATE_NMETRICS] = {
    [GATE_AFTER_RSS] = {"after_rss", COL_AFTER_RSS, false, {0.08, 2 * MIB}},
    [GATE_PEAK_RSS] = {"peak_rss", COL_PEAK_RSS, false, {0.10, 4 * MIB}},
    [GATE_THROUGHPUT] = {"throughput", COL_RPS, true, {0.30, 0}},
    [GATE_P99] = {"p99", COL_P99, false, {1.00, 2}},
    [GATE_LEAK_GROWTH] = {"leak_growth", -1, false, {0.50, 256 * 1024}},
    [GATE_LEAK_PER_CALL] = {"leak_per_call", -1, false, {0.50, 4}},
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
    char *copy = strdup(eq + 1), *save = NULL;
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
    s->values = realloc(s->values, (s->n + 1) * sizeof(double));
    s->values[s->n++] = v;
}

/* ---- reading a bench ----------------------------------------------------------------- */

static struct gate_cell *cell_for(struct gate_bench *b, const char *key)
{
    for (size_t i = 0; i < b->ncells; i++)
        if (!strcmp(b->cells[i].key, key))
            return &b->cells[i];
    b->cells = realloc(b->cells, (b->ncells + 1) * sizeof(*b->cells));
    struct gate_cell *c = &b->cells[b->ncells++];
    memset(c, 0, sizeof(*c));
    c->key = strdup(key);
    c->verdict = -1;
    return c;
}

static void append_verdict(struct gate_cell *c, const char *name)
{
    size_t old = c->verdicts ? strlen(c->verdicts) : 0;
    c->verdicts = realloc(c->verdicts, old + strlen(name) + 2);
    snprintf(c->verdicts + old, strlen(name) + 2, "%s%s", old ? "," : "", name);
}

/* The verdict most repeats got (ties: the more severe one, listed later in the enum). */
static void majority_verdict(struct gate_cell *c)
{
    int count[5] = {0};
    char *copy = strdup(c->verdicts ? c->verdicts : ""), *save = NULL;
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

static void load_row(struct gate_bench *b, const struct bench_row *row, const char *bench_dir,
                     const struct diagnose_thresholds *t, int source)
{
    char key[512];
    char *const *f = row->fields;
    snprintf(key, sizeof(key), "%s-%s-%s-%s", f[COL_WORKLOAD], f[COL_VARIANT], f[COL_ALLOCATOR],
             f[COL_CONFIG]);
    struct gate_cell *cell = cell_for(b, key);
    if (!cell->workload) {
        cell->workload = strdup(f[COL_WORKLOAD]), cell->variant = strdup(f[COL_VARIANT]);
        cell->allocator = strdup(f[COL_ALLOCATOR]), cell->config = strdup(f[COL_CONFIG]);
    }
    if (cell->last_source != source + 1)
        cell->sources++, cell->last_source = source + 1;
    const char *status = f[COL_STATUS];
    if (!strcmp(status, "unsupported"))
        return; /* the program links its own allocator: nothing measured, nothing failed */
    cell->repeats++;
    if (strcmp(status, "ok")) {
        cell->failed++;
        if (!strncmp(status, "failed:crashed", 14) || !strncmp(status, "failed:exit", 11))
            cell->crashed++;
        if (!cell->failure)
            cell->failure = strdup(status);
        return;
    }
    for (int m = 0; m < GATE_NMETRICS; m++)
        if (metrics[m].column >= 0)
            stats_add(&cell->metric[m],
                      bench_row_number(row, (enum bench_column)metrics[m].column));
    if (t)
        diagnose_repeat(cell, bench_dir, f[COL_CELL], t);
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
    for (size_t r = 0; r < rows; r++)
        load_row(b, &res.rows[r], bench_dir, t, index);
    bench_results_free(&res);
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

int gate_bench_load_many(struct gate_bench *b, char *const *dirs, size_t ndirs,
                         const struct diagnose_thresholds *t, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    b->source = strdup(dirs[0]);
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
