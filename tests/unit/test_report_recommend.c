/* Unit tests of the report's recommendation rule and of the metrics a report derives from a
 * run's samples and phases when results.csv does not give them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reports/report_model.h"
#include "reports/report_recommend.h"

#define MIB (1024.0 * 1024.0)

static void lowest_rss_among_fast_enough(void **state)
{
    (void)state;
    /* glibc is fastest but keeps its peak; tcache-off jemalloc is leanest but 20% slower. */
    struct rec_candidate c[] = {{"glibc:default", 11000, 449 * MIB, NULL, 0},
                                {"jemalloc:default", 10800, 185 * MIB, NULL, 0},
                                {"jemalloc:bg-decay", 10600, 70 * MIB, NULL, 0},
                                {"jemalloc:aggressive", 8900, 53 * MIB, NULL, 0}};
    struct rec_result r;
    recommend(c, 4, 0.05, &r);
    assert_int_equal(r.chosen, 2);
    assert_true(r.throughput_known);
    assert_float_equal(r.best_throughput, 11000, 1e-9);
    assert_int_equal(r.ranks[0].index, 2);
    assert_int_equal(r.ranks[0].reason, REC_CHOSEN);
    /* Then the other fast-enough ones by RSS, then the slow one. */
    assert_int_equal(r.ranks[1].index, 1);
    assert_int_equal(r.ranks[1].reason, REC_ELIGIBLE);
    assert_int_equal(r.ranks[2].index, 0);
    assert_int_equal(r.ranks[3].index, 3);
    assert_int_equal(r.ranks[3].reason, REC_TOO_SLOW);
    assert_float_equal(r.ranks[3].throughput_loss, 1 - 8900.0 / 11000, 1e-9);
    rec_result_free(&r);
    /* A looser tolerance lets the slow, lean one win. */
    recommend(c, 4, 0.25, &r);
    assert_int_equal(r.chosen, 3);
    rec_result_free(&r);
    /* Zero tolerance: only the fastest qualifies. */
    recommend(c, 4, 0.0, &r);
    assert_int_equal(r.chosen, 0);
    rec_result_free(&r);
}

static void tolerance_boundary_is_inclusive(void **state)
{
    (void)state;
    struct rec_candidate c[] = {
        {"a", 1000, 100, NULL, 0}, {"b", 950, 50, NULL, 0}, {"c", 949, 10, NULL, 0}};
    struct rec_result r;
    recommend(c, 3, 0.05, &r);
    assert_int_equal(r.chosen, 1); /* exactly 5% below counts; 5.1% does not */
    assert_int_equal(r.ranks[2].index, 2);
    assert_int_equal(r.ranks[2].reason, REC_TOO_SLOW);
    rec_result_free(&r);
}

static void memory_alone_without_throughput(void **state)
{
    (void)state;
    struct rec_candidate c[] = {{"glibc", NAN, 30 * MIB, NULL, 0},
                                {"jemalloc", NAN, 20 * MIB, NULL, 0},
                                {"failed", NAN, NAN, NULL, 0}};
    struct rec_result r;
    recommend(c, 3, 0.05, &r);
    assert_false(r.throughput_known);
    assert_int_equal(r.chosen, 1);
    assert_int_equal(r.ranks[2].index, 2);
    assert_int_equal(r.ranks[2].reason, REC_NOT_MEASURED);
    rec_result_free(&r);
}

static void no_request_served_anywhere_ranks_by_memory(void **state)
{
    (void)state;
    /* 0 req/s everywhere (the load tool never got through): nothing to compare but memory;
     * one cell at 0 among served ones stays too slow (next test's rule). */
    struct rec_candidate c[] = {{"glibc", 0, 30 * MIB, NULL, 0},
                                {"jemalloc", 0, 20 * MIB, NULL, 0}};
    struct rec_result r;
    recommend(c, 2, 0.05, &r);
    assert_false(r.throughput_known);
    assert_int_equal(r.chosen, 1);
    rec_result_free(&r);
    struct rec_candidate d[] = {{"glibc", 900, 30 * MIB, NULL, 0},
                                {"jemalloc", 0, 20 * MIB, NULL, 0}};
    recommend(d, 2, 0.05, &r);
    assert_true(r.throughput_known);
    assert_int_equal(r.chosen, 0);
    rec_result_free(&r);
}

static void unmeasured_throughput_is_not_fast_enough(void **state)
{
    (void)state;
    /* A cell whose load failed (no throughput) must not win on memory over measured ones. */
    struct rec_candidate c[] = {{"ok", 500, 80 * MIB, NULL, 0}, {"noload", NAN, 5 * MIB, NULL, 0}};
    struct rec_result r;
    recommend(c, 2, 0.05, &r);
    assert_int_equal(r.chosen, 0);
    assert_int_equal(r.ranks[1].reason, REC_TOO_SLOW);
    assert_true(isnan(r.ranks[1].throughput_loss));
    rec_result_free(&r);
}

static void nothing_measured(void **state)
{
    (void)state;
    struct rec_candidate c[] = {{"x", 100, NAN, NULL, 0}};
    struct rec_result r;
    recommend(c, 1, 0.05, &r);
    assert_int_equal(r.chosen, -1);
    assert_int_equal(r.ranks[0].reason, REC_NOT_MEASURED);
    rec_result_free(&r);
    recommend(c, 0, 0.05, &r);
    assert_int_equal(r.chosen, -1);
    rec_result_free(&r);
}

/* A cell with RSS rising during the load and falling in the cooldown. */
static void fill_cell(struct report_cell *cell, bool phases)
{
    static double t[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    static double rss[] = {10, 10, 10, 50, 90, 100, 60, 40, 40, 35};
    static double live[] = {5, 5, 5, 40, 80, 85, 20, 10, 10, 8};
    memset(cell, 0, sizeof(*cell));
    for (int m = 0; m < METRIC_COUNT; m++)
        cell->m[m] = NAN;
    cell->series.n = 10;
    cell->series.t_s = t;
    cell->series.rss = rss;
    cell->series.live = live;
    cell->has_series = true;
    if (phases) {
        cell->phases[0] = (struct report_phase){"idle", 0, 2.5};
        cell->phases[1] = (struct report_phase){"load", 2.5, 5.5};
        cell->phases[2] = (struct report_phase){"cooldown", 5.5, 8.5};
        cell->nphases = 3;
    }
}

static void derives_metrics_from_phases(void **state)
{
    (void)state;
    struct report_cell cell;
    fill_cell(&cell, true);
    cell.m[METRIC_PEAK] = 123; /* given by results.csv: kept */
    report_cell_derive_metrics(&cell);
    assert_float_equal(cell.m[METRIC_PEAK], 123, 0);
    assert_float_equal(cell.m[METRIC_IDLE], 10, 0);     /* last row at or before 2.5 s */
    assert_float_equal(cell.m[METRIC_AFTER_1S], 60, 0); /* at 6.5 s: the 6 s row */
    assert_float_equal(cell.m[METRIC_AFTER], 40, 0);    /* end of cooldown 8.5 s: 8 s row */
    assert_float_equal(cell.m[METRIC_AFTER_LIVE], 10, 0);
    assert_float_equal(cell.m[METRIC_PEAK_LIVE], 85, 0);
}

static void plain_run_after_is_at_exit(void **state)
{
    (void)state;
    struct report_cell cell;
    fill_cell(&cell, false);
    report_cell_derive_metrics(&cell);
    assert_float_equal(cell.m[METRIC_PEAK], 100, 0);
    assert_float_equal(cell.m[METRIC_AFTER], 35, 0);
    assert_true(isnan(cell.m[METRIC_IDLE]));
    assert_true(isnan(cell.m[METRIC_AFTER_1S]));
}

static void groups_and_medians_over_repeats(void **state)
{
    (void)state;
    /* Two workloads; on the first, glibc ran three times (one failed) and jemalloc once. */
    struct {
        const char *workload, *allocator, *status;
        double after, rps;
    } rows[] = {{"api", "glibc", "ok", 300, 1000},        {"api", "glibc", "ok", 100, 1200},
                {"api", "glibc", "failed:load", 1, 5000}, {"api", "glibc", "ok", 200, 900},
                {"api", "jemalloc", "ok", 50, 1100},      {"dl", "glibc", "ok", 10, NAN}};
    size_t n = sizeof(rows) / sizeof(rows[0]);
    struct report_input in;
    memset(&in, 0, sizeof(in));
    in.cells = calloc(n, sizeof(*in.cells));
    in.ncells = n;
    for (size_t i = 0; i < n; i++) {
        struct report_cell *c = &in.cells[i];
        for (int m = 0; m < METRIC_COUNT; m++)
            c->m[m] = NAN;
        c->name = strdup(rows[i].workload);
        c->workload = strdup(rows[i].workload);
        c->variant = strdup("none");
        c->allocator = strdup(rows[i].allocator);
        c->config = strdup("default");
        c->status = strdup(rows[i].status);
        c->m[METRIC_AFTER] = rows[i].after;
        c->m[METRIC_THROUGHPUT] = rows[i].rps;
        c->has_series = true;
        c->repeat = (int)i + 1;
    }
    report_group_cells(&in);
    assert_int_equal(in.ngroups, 2);
    assert_string_equal(in.groups[0].label, "api");
    assert_int_equal(in.groups[0].nconfigs, 2);
    const struct report_config *glibc = &in.groups[0].configs[0];
    assert_string_equal(glibc->label, "glibc:default");
    assert_int_equal(glibc->ncells, 4);
    /* The failed repeat is left out: medians of 300, 100, 200 and 1000, 1200, 900. */
    assert_float_equal(glibc->m[METRIC_AFTER], 200, 0);
    assert_float_equal(glibc->m[METRIC_THROUGHPUT], 1000, 0);
    assert_int_equal(glibc->first_ok, 0);
    assert_int_equal(in.groups[1].nconfigs, 1);
    assert_true(isnan(in.groups[1].configs[0].m[METRIC_THROUGHPUT]));
    report_free(&in);
}

/* The quick demo's case: one 2-second repeat each, mimalloc far faster than glibc. One
 * repeat shows no noise: nothing is resolved, the configurations are ranked by memory, and
 * the result says how many repeats would tell. */
static void one_repeat_is_not_resolved(void **state)
{
    (void)state;
    const double glibc[] = {6162}, mimalloc[] = {10789};
    struct rec_candidate c[] = {{"glibc:default", 6162, 19 * MIB, glibc, 1},
                                {"mimalloc:default", 10789, 60 * MIB, mimalloc, 1}};
    struct rec_result r;
    recommend(c, 2, 0.05, &r);
    assert_int_equal(r.chosen, 0); /* by memory */
    assert_int_equal(r.unresolved, 1);
    assert_int_equal(r.repeats, 1);
    assert_true(r.repeats_to_resolve >= 2 && r.repeats_to_resolve <= 50);
    assert_false(r.ranks[0].resolved);
    rec_result_free(&r);
}

/* Five repeats, 1% noise: 20% slower is resolved too slow; 1% slower is resolved within. */
static void repeats_resolve_the_difference(void **state)
{
    (void)state;
    const double fast[] = {10000, 10100, 9900, 10050, 9950};
    const double slow[] = {8000, 8080, 7920, 8040, 7960};
    const double close[] = {9900, 10000, 9800, 9950, 9850};
    struct rec_candidate c[] = {{"fast", 10000, 300 * MIB, fast, 5},
                                {"slow-lean", 8000, 50 * MIB, slow, 5},
                                {"close-mid", 9900, 100 * MIB, close, 5}};
    struct rec_result r;
    recommend(c, 3, 0.05, &r);
    assert_int_equal(r.unresolved, 0);
    assert_int_equal(r.chosen, 2);
    for (size_t i = 0; i < r.nranks; i++) {
        assert_true(r.ranks[i].resolved);
        if (r.ranks[i].index == 1) {
            assert_int_equal(r.ranks[i].reason, REC_TOO_SLOW);
            assert_true(r.ranks[i].ratio_high < 0.95);
        }
        if (r.ranks[i].index == 2)
            assert_true(r.ranks[i].ratio_low >= 0.95 - 1e-9);
    }
    rec_result_free(&r);
}

/* Noisy repeats whose ratio straddles the tolerance: unresolved, more repeats suggested. */
static void straddling_interval_is_unresolved(void **state)
{
    (void)state;
    const double a[] = {10000, 12500, 7800}, b[] = {9300, 11000, 7600};
    struct rec_candidate c[] = {{"a", 10000, 200 * MIB, a, 3}, {"b", 9300, 20 * MIB, b, 3}};
    struct rec_result r;
    recommend(c, 2, 0.05, &r);
    assert_int_equal(r.unresolved, 1);
    assert_int_equal(r.chosen, 1);
    assert_true(r.ranks[0].ratio_low < 0.95 && r.ranks[0].ratio_high > 0.95);
    assert_true(r.repeats_to_resolve > 3);
    rec_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lowest_rss_among_fast_enough),
        cmocka_unit_test(tolerance_boundary_is_inclusive),
        cmocka_unit_test(memory_alone_without_throughput),
        cmocka_unit_test(no_request_served_anywhere_ranks_by_memory),
        cmocka_unit_test(unmeasured_throughput_is_not_fast_enough),
        cmocka_unit_test(nothing_measured),
        cmocka_unit_test(derives_metrics_from_phases),
        cmocka_unit_test(plain_run_after_is_at_exit),
        cmocka_unit_test(groups_and_medians_over_repeats),
        cmocka_unit_test(one_repeat_is_not_resolved),
        cmocka_unit_test(repeats_resolve_the_difference),
        cmocka_unit_test(straddling_interval_is_unresolved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
