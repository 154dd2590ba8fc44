/* common/stats.h: medians and spreads over repeats (gate, report), least-squares slopes
 * (diagnosis, site growth), and its NaN policy: a NaN is a missing value, left out. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/stats.h"
#include "reports/report_model.h"

static void median_small_counts(void **state)
{
    (void)state;
    double one[] = {5}, two[] = {1, 4}, four[] = {4, 1, 3, 2}, odd[] = {9, -1, 3};
    assert_float_equal(stats_median(one, 1), 5, 0);
    assert_float_equal(stats_median(two, 2), 2.5, 0);
    assert_float_equal(stats_median(four, 4), 2.5, 0);
    assert_float_equal(stats_median(odd, 3), 3, 0);
    /* The caller's order is kept. */
    assert_float_equal(four[0], 4, 0);
    assert_float_equal(four[3], 2, 0);
    assert_true(isnan(stats_median(NULL, 0)));
}

/* Counts past 64: one copy of the median used to stop at 64 values. */
static void median_large_counts(void **state)
{
    (void)state;
    double v65[65], v1000[1000];
    for (size_t i = 0; i < 65; i++)
        v65[i] = (double)i; /* the first 64 alone would give 31.5 */
    assert_float_equal(stats_median(v65, 65), 32, 0);
    for (size_t i = 0; i < 1000; i++)
        v1000[i] = (double)(999 - i);
    assert_float_equal(stats_median(v1000, 1000), 499.5, 0);
    assert_float_equal(stats_median(v1000, 999), 500, 0); /* 999 .. 1 */
}

static void nan_is_a_missing_value(void **state)
{
    (void)state;
    double some[] = {NAN, 1, NAN, 3}, none[] = {NAN, NAN};
    assert_float_equal(stats_median(some, 4), 2, 0);
    assert_true(isnan(stats_median(none, 2)));
    assert_float_equal(stats_spread(some, 4), 1.4826, 1e-12);
    assert_true(isnan(stats_spread(none, 2)));
    double x[] = {0, 1, NAN, 3, 4}, y[] = {0, 2, 5, 6, NAN};
    struct stats_line line;
    assert_int_equal(stats_fit_line(x, y, 5, &line), 0);
    assert_int_equal(line.n, 3); /* (0,0) (1,2) (3,6) */
    assert_float_equal(line.slope, 2, 1e-12);
}

static void spread_is_scaled_mad(void **state)
{
    (void)state;
    double one[] = {7}, outlier[] = {1, 2, 3, 4, 100}, same[] = {2, 2, 2};
    assert_float_equal(stats_spread(one, 1), 0, 0);
    /* |v - 3| = 2 1 0 1 97: median 1; the outlier does not count. */
    assert_float_equal(stats_spread(outlier, 5), 1.4826, 1e-12);
    assert_float_equal(stats_spread(same, 3), 0, 0);
    assert_true(isnan(stats_spread(NULL, 0)));
}

static void slope_of_known_lines(void **state)
{
    (void)state;
    double x[10], y[10];
    for (size_t i = 0; i < 10; i++)
        x[i] = (double)i, y[i] = 3 * (double)i + 2;
    struct stats_line line;
    assert_int_equal(stats_fit_line(x, y, 10, &line), 0);
    assert_float_equal(line.slope, 3, 1e-12);
    assert_float_equal(line.intercept, 2, 1e-12);
    assert_float_equal(line.slope_se, 0, 1e-9);
    assert_float_equal(line.sxx, 82.5, 1e-12);
    assert_int_equal(line.n, 10);

    /* Noisy: slope 0.8, residual 1.8 over 2 degrees of freedom, sxx 5. */
    double nx[] = {0, 1, 2, 3}, ny[] = {1, 3, 2, 4};
    assert_int_equal(stats_fit_line(nx, ny, 4, &line), 0);
    assert_float_equal(line.slope, 0.8, 1e-12);
    assert_float_equal(line.intercept, 1.3, 1e-12);
    assert_float_equal(line.slope_se, sqrt(0.18), 1e-12);

    double fall[] = {10, 8, 6};
    assert_int_equal(stats_fit_line(nx, fall, 3, &line), 0);
    assert_float_equal(line.slope, -2, 1e-12);

    /* Two points make a line but no standard error. */
    assert_int_equal(stats_fit_line(nx, ny, 2, &line), 0);
    assert_float_equal(line.slope, 2, 1e-12);
    assert_true(isnan(line.slope_se));
}

static void no_line_without_two_distinct_x(void **state)
{
    (void)state;
    double x[] = {1, 1, 1}, y[] = {1, 2, 3};
    struct stats_line line;
    assert_int_equal(stats_fit_line(x, y, 3, &line), -1);
    assert_float_equal(line.slope, 0, 0);
    assert_int_equal(stats_fit_line(x, y, 1, &line), -1);
    assert_int_equal(stats_fit_line(x, y, 0, &line), -1);
    assert_int_equal(line.n, 0);
}

/* The report's per-configuration medians over more than 64 repeats (the old copy stopped
 * there), skipping repeats that failed. */
static void report_medians_use_every_repeat(void **state)
{
    (void)state;
    struct report_input in;
    memset(&in, 0, sizeof(in));
    in.ncells = 66;
    in.cells = calloc(in.ncells, sizeof(*in.cells));
    for (size_t i = 0; i < in.ncells; i++) {
        struct report_cell *c = &in.cells[i];
        for (int m = 0; m < METRIC_COUNT; m++)
            c->m[m] = NAN;
        c->m[METRIC_PEAK] = (double)i;
        c->m[METRIC_AFTER] = i % 2 ? (double)i : NAN;
        c->workload = strdup("web");
        c->variant = strdup("none");
        c->allocator = strdup("glibc");
        c->config = strdup("default");
        c->status = strdup(i == 65 ? "failed:crashed:SIGSEGV" : "ok");
    }
    report_group_cells(&in);
    assert_int_equal(in.ngroups, 1);
    assert_int_equal(in.groups[0].nconfigs, 1);
    const struct report_config *cfg = &in.groups[0].configs[0];
    assert_int_equal(cfg->ncells, 66);
    assert_float_equal(cfg->m[METRIC_PEAK], 32, 0);  /* 0..64; 65 failed */
    assert_float_equal(cfg->m[METRIC_AFTER], 32, 0); /* the odd ones of 1..63 */
    assert_true(isnan(cfg->m[METRIC_P99]));
    report_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(median_small_counts),
        cmocka_unit_test(median_large_counts),
        cmocka_unit_test(nan_is_a_missing_value),
        cmocka_unit_test(spread_is_scaled_mad),
        cmocka_unit_test(slope_of_known_lines),
        cmocka_unit_test(no_line_without_two_distinct_x),
        cmocka_unit_test(report_medians_use_every_repeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
