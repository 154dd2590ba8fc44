/* Unit tests of the gate's noise-aware comparison, tolerances, matrix check and baseline
 * file (reports/gate*.c) on synthetic benches. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "reports/gate.h"

#define MIB (1024.0 * 1024.0)

static struct gate_stats stats_of(const double *v, size_t n)
{
    struct gate_stats s = {.n = n, .values = malloc((n ? n : 1) * sizeof(double))};
    memcpy(s.values, v, n * sizeof(double));
    gate_stats_compute(&s);
    return s;
}

static void test_stats(void **state)
{
    (void)state;
    double v[] = {4, 1, 100, 3, 2};
    struct gate_stats s = stats_of(v, 5);
    assert_true(s.median == 3);
    assert_true(fabs(s.spread - 1.4826) < 1e-9); /* one outlier does not move it */
    free(s.values);
    double one[] = {7};
    s = stats_of(one, 1);
    assert_true(s.median == 7 && s.spread == 0);
    free(s.values);
}

static enum gate_result compare(enum gate_metric m, const double *base, const double *cur, size_t n,
                                struct gate_row *row)
{
    struct gate_options o;
    gate_options_default(&o);
    struct gate_stats b = stats_of(base, n), c = stats_of(cur, n);
    memset(row, 0, sizeof(*row));
    gate_compare_metric(m, &b, &c, &o.tol[m], o.noise_k, row);
    free(b.values);
    free(c.values);
    return row->result;
}

/* after_rss: quiet repeats; +15% fails, +5% passes, -30% (better) passes. */
static void test_after_rss_rule(void **state)
{
    (void)state;
    struct gate_row row;
    double base[] = {100 * MIB, 101 * MIB, 99 * MIB};
    double more15[] = {115 * MIB, 116 * MIB, 114 * MIB};
    double more5[] = {105 * MIB, 106 * MIB, 104 * MIB};
    double less[] = {70 * MIB, 71 * MIB, 69 * MIB};
    assert_int_equal(compare(GATE_AFTER_RSS, base, more15, 3, &row), GATE_FAIL);
    assert_non_null(strstr(row.detail, "worse"));
    assert_int_equal(compare(GATE_AFTER_RSS, base, more5, 3, &row), GATE_PASS);
    assert_int_equal(compare(GATE_AFTER_RSS, base, less, 3, &row), GATE_PASS);
    assert_non_null(strstr(row.detail, "better"));
}

/* The same +15% with noisy repeats (spread ~10%) needs a larger change to fail. */
static void test_noise_widens(void **state)
{
    (void)state;
    struct gate_row quiet, noisy;
    double base[] = {100 * MIB, 101 * MIB, 99 * MIB};
    double more15[] = {115 * MIB, 116 * MIB, 114 * MIB};
    double noisy_base[] = {100 * MIB, 112 * MIB, 88 * MIB};
    double noisy_more15[] = {115 * MIB, 127 * MIB, 103 * MIB};
    compare(GATE_AFTER_RSS, base, more15, 3, &quiet);
    assert_int_equal(compare(GATE_AFTER_RSS, noisy_base, noisy_more15, 3, &noisy), GATE_PASS);
    assert_true(noisy.allowed > quiet.allowed + 10 * MIB);
    double noisy_more80[] = {180 * MIB, 192 * MIB, 168 * MIB};
    assert_int_equal(compare(GATE_AFTER_RSS, noisy_base, noisy_more80, 3, &noisy), GATE_FAIL);
}

/* Throughput is better higher: a 40% drop fails, a rise passes. The absolute floor keeps
 * tiny memory changes from failing. */
static void test_direction_and_floor(void **state)
{
    (void)state;
    struct gate_row row;
    double base[] = {1000, 1010, 990}, drop[] = {600, 610, 590}, rise[] = {2000, 2000, 2000};
    assert_int_equal(compare(GATE_THROUGHPUT, base, drop, 3, &row), GATE_FAIL);
    assert_int_equal(compare(GATE_THROUGHPUT, base, rise, 3, &row), GATE_PASS);
    double small[] = {4 * MIB}, small_more[] = {5.5 * MIB}; /* +37% but under 2 MiB */
    assert_int_equal(compare(GATE_AFTER_RSS, small, small_more, 1, &row), GATE_PASS);
    struct gate_options o;
    gate_options_default(&o);
    struct gate_stats b = stats_of(base, 3), none = {.median = NAN};
    gate_compare_metric(GATE_P99, &b, &none, &o.tol[GATE_P99], 2, &row);
    assert_int_equal(row.result, GATE_SKIPPED);
    free(b.values);
}

static void test_tolerance_parse(void **state)
{
    (void)state;
    struct gate_options o;
    char err[256];
    gate_options_default(&o);
    assert_int_equal(gate_tolerance_parse(&o, "after_rss=10%", err, sizeof(err)), 0);
    assert_true(fabs(o.tol[GATE_AFTER_RSS].rel - 0.10) < 1e-12);
    assert_true(o.tol[GATE_AFTER_RSS].abs == 2 * MIB && o.tol_set[GATE_AFTER_RSS]);
    assert_int_equal(gate_tolerance_parse(&o, "peak_rss=6M", err, sizeof(err)), 0);
    assert_true(o.tol[GATE_PEAK_RSS].abs == 6 * MIB && o.tol[GATE_PEAK_RSS].rel == 0.10);
    assert_int_equal(gate_tolerance_parse(&o, "p99=50%,5", err, sizeof(err)), 0);
    assert_true(o.tol[GATE_P99].rel == 0.5 && o.tol[GATE_P99].abs == 5);
    assert_int_equal(gate_tolerance_parse(&o, "latency=5%", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "latency"));
    assert_int_equal(gate_tolerance_parse(&o, "after_rss", err, sizeof(err)), -1);
    assert_int_equal(gate_tolerance_parse(&o, "after_rss=lots", err, sizeof(err)), -1);
    assert_int_equal(gate_tolerance_parse(&o, "after_rss=-3%", err, sizeof(err)), -1);
    /* A tolerance so wide that nothing could fail is refused, as in a baseline file. */
    assert_int_equal(gate_tolerance_parse(&o, "after_rss=1e300%", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(gate_tolerance_parse(&o, "peak_rss=1025G", err, sizeof(err)), -1);
    assert_int_equal(gate_tolerance_parse(&o, "p99=nan", err, sizeof(err)), -1);
    assert_int_equal(gate_tolerance_parse(&o, "after_rss=1000%,1024G", err, sizeof(err)), 0);
    struct gate_tolerance t = {NAN, 0};
    assert_int_equal(gate_tolerance_check(GATE_P99, &t, err, sizeof(err)), -1);
    assert_int_equal(gate_noise_parse(&o, "nan", err, sizeof(err)), -1);
    assert_int_equal(gate_noise_parse(&o, "-1", err, sizeof(err)), -1);
    assert_int_equal(gate_noise_parse(&o, "1e300", err, sizeof(err)), -1);
    assert_int_equal(gate_noise_parse(&o, "2.5", err, sizeof(err)), 0);
    assert_true(o.noise_k == 2.5 && o.noise_k_set);
    assert_false(gate_metric_value_ok(GATE_AFTER_RSS, -1));
    assert_false(gate_metric_value_ok(GATE_THROUGHPUT, INFINITY));
    assert_false(gate_metric_value_ok(GATE_P99, NAN));
    assert_true(gate_metric_value_ok(GATE_THROUGHPUT, 0));
}

/* A bench of KEYS, each with three repeats of after_rss around VALUE. */
static void make_bench(struct gate_bench *b, const char *const *keys, size_t n, double value)
{
    memset(b, 0, sizeof(*b));
    b->source = strdup("synthetic");
    b->cells = calloc(n, sizeof(*b->cells));
    b->ncells = n;
    for (size_t i = 0; i < n; i++) {
        struct gate_cell *c = &b->cells[i];
        c->key = strdup(keys[i]);
        c->workload = strdup("w"), c->variant = strdup("none");
        c->allocator = strdup("glibc"), c->config = strdup("default");
        c->repeats = 3;
        c->verdict = VERDICT_HEALTHY;
        c->verdicts = strdup("healthy,healthy,healthy");
        double v[] = {value, value * 1.01, value * 0.99};
        c->metric[GATE_AFTER_RSS] = stats_of(v, 3);
    }
}

static void test_matrix(void **state)
{
    (void)state;
    const char *const two[] = {"a-none-glibc-default", "b-none-glibc-default"};
    const char *const other[] = {"a-none-glibc-default", "c-none-glibc-default"};
    struct gate_bench base, cur;
    char err[512];
    make_bench(&base, two, 2, 100 * MIB);
    make_bench(&cur, two, 1, 100 * MIB);
    assert_int_equal(gate_check_matrix(&base, &cur, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "b-none-glibc-default"));
    gate_bench_free(&cur);
    make_bench(&cur, other, 2, 100 * MIB);
    assert_int_equal(gate_check_matrix(&base, &cur, err, sizeof(err)), -1);
    gate_bench_free(&cur);
    make_bench(&cur, two, 2, 120 * MIB);
    assert_int_equal(gate_check_matrix(&base, &cur, err, sizeof(err)), 0);
    struct gate_options o;
    struct gate_report r;
    gate_options_default(&o);
    cur.cells[1].verdict = VERDICT_LEAK;
    gate_compare(&base, &cur, &o, &r);
    size_t after_fail = 0, verdict_fail = 0;
    for (size_t i = 0; i < r.nrows; i++) {
        after_fail += !strcmp(r.rows[i].metric, "after_rss") && r.rows[i].result == GATE_FAIL;
        verdict_fail += !strcmp(r.rows[i].metric, "verdict") && r.rows[i].result == GATE_FAIL;
    }
    assert_int_equal(after_fail, 2);
    assert_int_equal(verdict_fail, 1);
    assert_int_equal(r.failures, 3);
    gate_report_free(&r);
    gate_bench_free(&cur);
    gate_bench_free(&base);
}

static void test_baseline_file(void **state)
{
    (void)state;
    const char *const keys[] = {"a-none-glibc-default"};
    char path[] = "/tmp/test_gate.XXXXXX", err[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct gate_bench b, loaded;
    struct gate_options o, lo;
    make_bench(&b, keys, 1, 50 * MIB);
    gate_options_default(&o);
    assert_int_equal(gate_tolerance_parse(&o, "after_rss=12%", err, sizeof(err)), 0);
    assert_int_equal(gate_baseline_write(&b, &o, path, err, sizeof(err)), 0);
    gate_options_default(&lo);
    assert_int_equal(gate_baseline_load(&loaded, &lo, path, err, sizeof(err)), 0);
    assert_int_equal(loaded.ncells, 1);
    assert_string_equal(loaded.cells[0].key, keys[0]);
    assert_true(loaded.cells[0].metric[GATE_AFTER_RSS].median == 50 * MIB);
    assert_int_equal(loaded.cells[0].verdict, VERDICT_HEALTHY);
    assert_true(fabs(lo.tol[GATE_AFTER_RSS].rel - 0.12) < 1e-9);
    gate_bench_free(&loaded);
    /* Cut in the middle: a clear message with the line, not a crash. */
    assert_int_equal(truncate(path, 300), 0);
    assert_int_equal(gate_baseline_load(&loaded, &lo, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line"));
    gate_bench_free(&loaded);
    FILE *f = fopen(path, "w");
    fputs("{\"format\": \"something-else\", \"version\": 1, \"cells\": []}\n", f);
    fclose(f);
    assert_int_equal(gate_baseline_load(&loaded, &lo, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "format"));
    gate_bench_free(&loaded);
    unlink(path);
    /* A cell without one successful repeat cannot be frozen. */
    b.cells[0].failed = b.cells[0].repeats;
    b.cells[0].failure = strdup("crashed:SIGSEGV");
    assert_int_equal(gate_baseline_write(&b, &o, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "a-none-glibc-default"));
    gate_bench_free(&b);
}

/* Writes TEXT to a temporary file and loads it as a baseline: the exit code, ERR filled. */
static int load_text(const char *text, char *err, size_t errlen)
{
    char path[] = "/tmp/test_gate.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct gate_bench b;
    struct gate_options o;
    gate_options_default(&o);
    int rc = gate_baseline_load(&b, &o, path, err, errlen);
    gate_bench_free(&b);
    unlink(path);
    return rc;
}

#define CELL_OK                                                                                    \
    "{\"key\": \"a\", \"workload\": \"a\", \"variant\": \"none\", \"allocator\": \"glibc\", "      \
    "\"config\": \"default\", \"repeats\": 3, \"failed\": 0, "                                     \
    "\"metrics\": {\"after_rss\": {\"values\": [1, 2, 3]}}}"

static void expect_bad_baseline(const char *head, const char *cell, const char *fragment)
{
    char text[2048], err[1024];
    snprintf(text, sizeof(text),
             "{\"format\": \"allocscope-baseline\", \"version\": 1, %s \"cells\": [%s]}", head,
             cell);
    assert_int_equal(load_text(text, err, sizeof(err)), -1);
    if (!strstr(err, fragment))
        fail_msg("message '%s' lacks '%s'", err, fragment);
}

/* A baseline's numbers are checked as the command line's are: out of range, the file was not
 * written by allocscope, and the gate would pass or fail everything. */
static void test_baseline_numbers(void **state)
{
    (void)state;
    char text[2048], err[1024];
    snprintf(text, sizeof(text),
             "{\"format\": \"allocscope-baseline\", \"version\": 1, \"noise_k\": 3, "
             "\"tolerances\": {\"p99\": {\"rel\": 1, \"abs\": 2}}, \"cells\": [%s]}",
             CELL_OK);
    assert_int_equal(load_text(text, err, sizeof(err)), 0);
    expect_bad_baseline("\"noise_k\": 1e300,", CELL_OK, "noise_k");
    expect_bad_baseline("\"noise_k\": -1e300,", CELL_OK, "noise_k");
    expect_bad_baseline("\"noise_k\": \"3\",", CELL_OK, "noise_k is not a number");
    expect_bad_baseline("\"tolerances\": {\"p99\": {\"rel\": 1e300, \"abs\": 2}},", CELL_OK,
                        "p99 tolerance");
    expect_bad_baseline("\"tolerances\": {\"after_rss\": {\"rel\": 0.1, \"abs\": -1}},", CELL_OK,
                        "after_rss tolerance");
    expect_bad_baseline("\"tolerances\": [],", CELL_OK, "tolerances");
    expect_bad_baseline("",
                        "{\"key\": \"a\", \"workload\": \"a\", \"variant\": \"none\", "
                        "\"allocator\": \"glibc\", \"config\": \"default\", \"repeats\": 3, "
                        "\"failed\": 0, \"metrics\": {}}",
                        "cell a has no metrics");
    expect_bad_baseline("",
                        "{\"key\": \"a\", \"workload\": \"a\", \"variant\": \"none\", "
                        "\"allocator\": \"glibc\", \"config\": \"default\", \"repeats\": 3, "
                        "\"metrics\": {\"peak_rss\": {\"values\": [1, -99999999999, 3]}}}",
                        "metric 'peak_rss'");
    expect_bad_baseline("",
                        "{\"key\": \"a\", \"workload\": \"a\", \"variant\": \"none\", "
                        "\"allocator\": \"glibc\", \"config\": \"default\", \"repeats\": -3, "
                        "\"metrics\": {\"peak_rss\": {\"values\": [1]}}}",
                        "repeats");
}

/* A cell that ran but of which nothing could be compared is named, not passed. */
static void test_unjudged(void **state)
{
    (void)state;
    const char *const keys[] = {"a-none-glibc-default"};
    struct gate_bench base, cur;
    struct gate_options o;
    struct gate_report r;
    make_bench(&base, keys, 1, 100 * MIB);
    make_bench(&cur, keys, 1, 100 * MIB);
    gate_options_default(&o);
    gate_compare(&base, &cur, &o, &r);
    assert_null(r.unjudged);
    gate_report_free(&r);
    memset(o.check, 0, sizeof(o.check));
    o.check_verdict = false;
    o.check[GATE_THROUGHPUT] = true; /* measured in neither */
    gate_compare(&base, &cur, &o, &r);
    assert_string_equal(r.unjudged, "a-none-glibc-default");
    assert_int_equal(r.failures, 0);
    gate_report_free(&r);
    cur.cells[0].failed = cur.cells[0].repeats; /* every repeat failed: a failure, judged */
    cur.cells[0].failure = strdup("failed:crashed:SIGSEGV");
    cur.cells[0].crashed = 1;
    gate_compare(&base, &cur, &o, &r);
    assert_null(r.unjudged);
    assert_int_equal(r.failures, 1);
    gate_report_free(&r);
    gate_bench_free(&cur);
    gate_bench_free(&base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats),           cmocka_unit_test(test_after_rss_rule),
        cmocka_unit_test(test_noise_widens),    cmocka_unit_test(test_direction_and_floor),
        cmocka_unit_test(test_tolerance_parse), cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_baseline_file),   cmocka_unit_test(test_baseline_numbers),
        cmocka_unit_test(test_unjudged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
