/* The CI regression gate: a bench frozen into a baseline (medians and spreads over repeats)
 * and a noise-aware comparison of a current bench against it, per cell and metric.
 * docs/DIAGNOSE.md ("allocscope gate") documents the rule and the file. */
#ifndef ALLOCSCOPE_GATE_H
#define ALLOCSCOPE_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "reports/diagnose.h"
#include "reports/site_diff.h"

struct json_t;

enum gate_metric {
    GATE_AFTER_RSS,
    GATE_PEAK_RSS,
    GATE_THROUGHPUT,
    GATE_P99,
    GATE_LEAK_GROWTH,   /* bytes/s: moves with how fast the machine ran the load */
    GATE_LEAK_PER_CALL, /* bytes per allocation call: does not */
    GATE_NMETRICS
};

struct gate_tolerance {
    double rel; /* share of the baseline median */
    double abs; /* in the metric's unit; the larger of the two applies */
};

struct gate_options {
    struct gate_tolerance tol[GATE_NMETRICS];
    bool tol_set[GATE_NMETRICS]; /* given on the command line: wins over the baseline */
    double noise_k;              /* spread multiples added to the tolerance */
    bool noise_k_set;
    bool check[GATE_NMETRICS]; /* metrics compared */
    bool check_verdict;
    bool metrics_given; /* --metrics: check[] as given, not the defaults */
};

/* Median and spread (1.4826 x median absolute deviation: a standard deviation for normal
 * noise, robust to one outlier) of the measured values of one metric. */
struct gate_stats {
    double median, spread;
    double *values;
    size_t n;
};

struct gate_cell {
    char *key; /* WORKLOAD-VARIANT-ALLOCATOR-CONFIG */
    char *workload, *variant, *allocator, *config;
    size_t repeats, failed;
    size_t crashed; /* failed repeats where the target crashed or exited by itself */
    char *failure;  /* status of the first failed repeat, or NULL */
    struct gate_stats metric[GATE_NMETRICS];
    int verdict;    /* majority verdict over the diagnosed repeats, -1 when none */
    char *verdicts; /* "healthy,healthy,leak" */
    size_t sources; /* benches the cell was found in (baseline of several benches) */
    int last_source;
};

struct gate_bench {
    struct gate_cell *cells;
    size_t ncells;
    char *source;
    /* For writing a baseline: per cell key, its allocation sites (gate_sites_collect), stored
     * with the cell so that a failing gate can say which code grew. Borrowed (the caller
     * frees it); NULL: none. */
    struct json_t *sites;
};

const char *gate_metric_name(enum gate_metric m);
int gate_metric_parse(const char *name); /* -1 when unknown */
bool gate_metric_higher_is_better(enum gate_metric m);
/* "1.2 MiB", "1234 req/s", "12.3 ms", "1.0 MiB/s". */
const char *gate_metric_format(enum gate_metric m, double v, char *buf, size_t len);

/* A measured value of metric M a bench can have: finite and not negative. */
bool gate_metric_value_ok(enum gate_metric m, double v);

void gate_options_default(struct gate_options *o);
/* "after_rss=10%", "after_rss=4M", "p99=50%,5" (rel and abs). 0, or -1 with err; the tolerance
 * must pass gate_tolerance_check. */
int gate_tolerance_parse(struct gate_options *o, const char *spec, char *err, size_t errlen);
/* A tolerance that can still fail something: rel from 0 to 10 (1000%), abs from 0 to the
 * metric's largest (1 TiB, 1 TiB/s, 1e9 req/s, an hour), neither NaN. 0, or -1 with err. The
 * command line's and a baseline file's alike. */
int gate_tolerance_check(enum gate_metric m, const struct gate_tolerance *t, char *err,
                         size_t errlen);
/* The noise multiple K: from 0 to GATE_NOISE_MAX (--noise, a baseline's noise_k). */
#define GATE_NOISE_MAX 100
int gate_noise_check(double k, char *err, size_t errlen);
/* --noise K: 0, or -1 with err. */
int gate_noise_parse(struct gate_options *o, const char *text, char *err, size_t errlen);

void gate_stats_compute(struct gate_stats *s);

/* Reads BENCH_DIR/results.csv and diagnoses every ok cell directory (verdict, leak growth).
 * 0, or -1 with a one-line message in err. */
int gate_bench_load(struct gate_bench *b, const char *bench_dir,
                    const struct diagnose_thresholds *t, char *err, size_t errlen);
/* The repeats of several benches of one matrix pooled (a baseline that has seen the drift
 * between runs). -1 with err when their cells differ. */
int gate_bench_load_many(struct gate_bench *b, char *const *dirs, size_t ndirs,
                         const struct diagnose_thresholds *t, char *err, size_t errlen);
void gate_bench_free(struct gate_bench *b);

/* Baseline file (JSON). Writing embeds the tolerances of O; loading fills B and, for
 * the tolerances not set in O, O's from the file. 0, or -1 with err naming the problem. */
int gate_baseline_write(const struct gate_bench *b, const struct gate_options *o, const char *path,
                        char *err, size_t errlen);
int gate_baseline_load(struct gate_bench *b, struct gate_options *o, const char *path, char *err,
                       size_t errlen);

enum gate_result { GATE_PASS, GATE_FAIL, GATE_SKIPPED };

struct gate_row {
    const char *cell;
    char metric[32];
    enum gate_result result;
    double base, cur, change, allowed; /* medians; change = cur - base */
    char base_text[32], cur_text[32];  /* verdict rows */
    char detail[256];
};

/* A cell that failed a memory check (after_rss, peak_rss, leak_growth, verdict), with the
 * allocation sites that grew from the baseline to the current bench. */
struct gate_grown {
    char *cell;
    struct site_set base, cur; /* the diff points into them */
    struct site_diff diff;
    char note[300]; /* why there is no diff, "" when there is one */
};

struct gate_report {
    struct gate_row *rows;
    size_t nrows, failures;
    /* The first cell with successful repeats of which no metric or verdict could be compared
     * (measured in the baseline and the current bench alike): the gate cannot judge it, and
     * says so (exit 2) instead of passing. NULL when every such cell was judged. */
    const char *unjudged;
    struct gate_grown *grown; /* gate_find_grown */
    size_t ngrown, top_sites;
};

/* The comparison rule for one metric: the change of the median counts against the metric
 * (up for a lower-is-better one) and fails when it exceeds max(rel x |base median|, abs) +
 * k x noise, noise = 1.25 x sqrt(spread_base^2 / n_base + spread_cur^2 / n_cur) (the standard
 * error of the difference of two medians). Fills result, change, allowed, detail. */
void gate_compare_metric(enum gate_metric m, const struct gate_stats *base,
                         const struct gate_stats *cur, const struct gate_tolerance *tol,
                         double noise_k, struct gate_row *row);

/* Same matrix check: -1 with err naming the missing or extra cell. */
int gate_check_matrix(const struct gate_bench *base, const struct gate_bench *cur, char *err,
                      size_t errlen);
void gate_compare(const struct gate_bench *base, const struct gate_bench *cur,
                  const struct gate_options *o, struct gate_report *r);
/* Which leak metric a gate checks by default: leak_per_call when the baseline has it (frozen
 * by an allocscope that measures it), else leak_growth as before. Leaves O alone when
 * --metrics chose. */
void gate_choose_leak_metric(const struct gate_bench *base, struct gate_options *o);

/* The allocation sites of every cell of the benches DIRS (the repeats of a cell pooled), as
 * baseline_write stores them: an object of cell key -> sites (site_set_to_json). *WITH_SITES
 * gets how many cells had sites. */
struct json_t *gate_sites_collect(const struct gate_bench *b, char *const *dirs, size_t ndirs,
                                  size_t *with_sites);
/* For each cell that failed a memory check in R: the sites that grew, from those stored in the
 * baseline file BASELINE to those of the cell's repeats in the bench CURRENT; the first TOP
 * are shown (gate_print_table, gate_write_markdown). */
void gate_find_grown(struct gate_report *r, const char *baseline, const char *current, size_t top);
void gate_report_free(struct gate_report *r);

void gate_print_table(const struct gate_report *r, FILE *out);
int gate_write_junit(const struct gate_report *r, const char *path, char *err, size_t errlen);
int gate_write_markdown(const struct gate_report *r, const char *baseline, const char *current,
                        const char *path, char *err, size_t errlen);

#endif
