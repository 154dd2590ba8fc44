/* Unit tests of the diagnosis rules (reports/diagnose.c) on synthetic measurements, and of
 * diagnose_run on small run directories written here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "reports/diagnose.h"

#define MIB (1024.0 * 1024.0)

/* A run with phases, a cooldown, stacks, a clean exit: idle 1 MiB live / 5 MiB RSS. */
static void base_metrics(struct diagnosis *d)
{
    memset(d, 0, sizeof(*d));
    d->m = (struct diagnosis_metrics){
        .phases_from_file = true,
        .has_cooldown = true,
        .has_live = true,
        .has_stacks = true,
        .exited_cleanly = true,
        .load_start_ms = 1000,
        .load_end_ms = 5000,
        .after_ms = 8000,
        .idle_live = 1 * MIB,
        .peak_live = 12 * MIB,
        .load_end_live = 12 * MIB,
        .after_live = 12 * MIB,
        .exit_live = 0,
        .idle_rss = 5 * MIB,
        .peak_rss = 17 * MIB,
        .after_rss = 17 * MIB,
        .reclaim_before_rss = -1,
        .reclaim_after_rss = -1,
        .live_slope_t = 30,
        .tail_slope_t = 20,
        .tail_growth = 3 * MIB,
    };
}

/* One site growing 10 MiB linearly through the load; KEPT share still live afterwards. */
static void add_growing_site(struct diagnosis *d, double kept)
{
    d->sites = calloc(1, sizeof(*d->sites));
    d->nsites = 1;
    d->sites[0] = (struct diagnosis_site){
        .site_id = 7,
        .start_bytes = 0,
        .peak_bytes = (int64_t)(10 * MIB),
        .load_end_bytes = (int64_t)(10 * MIB),
        .after_bytes = (int64_t)(kept * 10 * MIB),
        .exit_bytes = 0,
        .growth_bytes_per_s = 2.5 * MIB,
        .slope_t = 25,
        .sustained = 0.5,
        .kept = kept,
    };
    snprintf(d->sites[0].function, sizeof(d->sites[0].function), "grow_here");
}

static enum diagnosis_verdict classify(struct diagnosis *d)
{
    struct diagnose_thresholds t;
    diagnose_thresholds_default(&t);
    diagnose_classify(d, &t);
    return d->verdict;
}

static void test_leak_kept_after_cooldown(void **state)
{
    (void)state;
    struct diagnosis d;
    base_metrics(&d);
    add_growing_site(&d, 1.0);
    assert_int_equal(classify(&d), VERDICT_LEAK);
    assert_int_equal(d.confidence, CONFIDENCE_HIGH);
    assert_int_equal(d.nsites, 1);
    assert_true(d.sites[0].leaked);
    assert_non_null(strstr(d.reason, "grow_here"));
    assert_true(diagnosis_leak_growth(&d) > 2 * MIB);
    diagnosis_free(&d);
}

static void test_buffering_released(void **state)
{
    (void)state;
    struct diagnosis d;
    base_metrics(&d);
    d.m.after_live = d.m.idle_live;
    add_growing_site(&d, 0.0);
    assert_int_equal(classify(&d), VERDICT_UNBOUNDED_BUFFERING);
    assert_false(d.sites[0].leaked);
    assert_true(diagnosis_leak_growth(&d) == 0);
    diagnosis_free(&d);
}

/* Growth that is a step at the start of the load, noise, a plateau reached before the end
 * of the load, or too small: none is a growing site. */
static void test_not_growth(void **state)
{
    (void)state;
    struct diagnosis d;
    for (int c = 0; c < 5; c++) {
        base_metrics(&d);
        add_growing_site(&d, 1.0);
        if (c == 0)
            d.sites[0].sustained = 0.05;
        else if (c == 1)
            d.sites[0].slope_t = 1.0;
        else if (c == 2)
            d.m.tail_slope_t = 0.5;
        else if (c == 3)
            d.sites[0].peak_bytes = 512 * 1024;
        else
            d.m.peak_live = 400 * MIB; /* 10 MiB is under 10% of the peak heap */
        assert_int_equal(classify(&d), VERDICT_HEALTHY);
        assert_int_equal(d.nsites, 0);
        diagnosis_free(&d);
    }
}

/* Live heap back near idle, RSS still near peak. */
static void retention_metrics(struct diagnosis *d, double reclaim_after)
{
    base_metrics(d);
    d->m.peak_live = 100 * MIB;
    d->m.after_live = 2 * MIB;
    d->m.peak_rss = 200 * MIB;
    d->m.after_rss = 190 * MIB;
    d->m.tail_slope_t = 0;
    d->m.tail_growth = 0;
    if (reclaim_after >= 0) {
        d->m.reclaim_before_rss = 190 * MIB;
        d->m.reclaim_after_rss = reclaim_after;
    }
}

static bool lacks(const struct diagnosis *d, const char *what)
{
    for (size_t i = 0; i < d->nlacking; i++)
        if (strstr(d->lacking[i], what))
            return true;
    return false;
}

static void test_retention_and_fragmentation(void **state)
{
    (void)state;
    struct diagnosis d;
    retention_metrics(&d, 20 * MIB);
    assert_int_equal(classify(&d), VERDICT_ALLOCATOR_RETENTION);
    assert_int_equal(d.confidence, CONFIDENCE_HIGH);
    assert_non_null(strstr(d.suggestion, "jemalloc:bg-decay"));
    diagnosis_free(&d);

    retention_metrics(&d, 185 * MIB);
    assert_int_equal(classify(&d), VERDICT_FRAGMENTATION);
    diagnosis_free(&d);

    retention_metrics(&d, -1);
    assert_int_equal(classify(&d), VERDICT_ALLOCATOR_RETENTION);
    assert_int_equal(d.confidence, CONFIDENCE_LOW);
    assert_true(lacks(&d, "reclaim"));
    diagnosis_free(&d);

    retention_metrics(&d, 20 * MIB);
    d.m.after_rss = 12 * MIB; /* gave it back by itself */
    assert_int_equal(classify(&d), VERDICT_HEALTHY);
    diagnosis_free(&d);
}

/* A small kept growth (a cache filling up) beside a large retained RSS: retention. */
static void test_dominant_retention(void **state)
{
    (void)state;
    struct diagnosis d;
    retention_metrics(&d, 20 * MIB);
    d.m.tail_slope_t = 20, d.m.tail_growth = 3 * MIB;
    d.m.peak_live = 60 * MIB;
    add_growing_site(&d, 1.0);
    d.m.after_live = 12 * MIB;
    assert_int_equal(classify(&d), VERDICT_ALLOCATOR_RETENTION);
    assert_non_null(strstr(d.reason, "kept"));
    diagnosis_free(&d);
}

/* The Rust proxy on a busy machine: its whole live heap lost at exit (reachability), its
 * RSS high after the load. The certain loss decides; the retention is named after it. A
 * loss too small to weigh like a growth is only named beside the trajectory's verdict. */
static void test_significant_loss_outranks_the_trajectory(void **state)
{
    (void)state;
    struct diagnosis d;
    retention_metrics(&d, -1);
    d.m.has_reach = true;
    d.m.lost_bytes = 98 * MIB, d.m.lost_blocks = 500;
    snprintf(d.m.lost_where, sizeof(d.m.lost_where), "upstream_client_new");
    assert_int_equal(classify(&d), VERDICT_LEAK);
    assert_int_equal(d.confidence, CONFIDENCE_HIGH);
    assert_ptr_equal(strstr(d.reason, "98.0 MiB in 500 blocks definitely or indirectly lost"),
                     d.reason);
    assert_non_null(strstr(d.reason, "; besides, after the load RSS is"));
    assert_non_null(strstr(d.suggestion, "allocscope leaks"));
    diagnosis_free(&d);

    retention_metrics(&d, -1);
    d.m.has_reach = true;
    d.m.lost_bytes = 40, d.m.lost_blocks = 1;
    snprintf(d.m.lost_where, sizeof(d.m.lost_where), "main");
    assert_int_equal(classify(&d), VERDICT_ALLOCATOR_RETENTION);
    assert_non_null(strstr(d.reason, "; besides, 40 B in 1 blocks definitely"));
    diagnosis_free(&d);
}

static void test_lacking_data(void **state)
{
    (void)state;
    struct diagnosis d;
    base_metrics(&d);
    d.m.has_cooldown = false;
    d.m.exited_cleanly = false;
    d.m.has_stacks = false;
    d.m.phases_from_file = false;
    add_growing_site(&d, 1.0);
    assert_int_equal(classify(&d), VERDICT_LEAK);
    assert_int_equal(d.confidence, CONFIDENCE_LOW);
    assert_true(lacks(&d, "no stacks"));
    assert_true(lacks(&d, "phases.csv"));
    assert_true(lacks(&d, "after the load"));
    assert_true(lacks(&d, "clean exit"));
    diagnosis_free(&d);
}

static void test_slope(void **state)
{
    (void)state;
    double t[] = {0, 1, 2, 3, 4, 5}, line[] = {0, 1000, 2000, 3000, 4000, 5000};
    double flat[] = {10, 12, 9, 11, 10, 12}, tstat;
    assert_true(diagnose_slope(t, line, 6, &tstat) > 999.9);
    assert_true(tstat >= 1000);
    diagnose_slope(t, flat, 6, &tstat);
    assert_true(tstat < 2 && tstat > -2);
    assert_true(diagnose_slope(t, line, 2, &tstat) == 0 && tstat == 0);
}

static void test_thresholds(void **state)
{
    (void)state;
    struct diagnose_thresholds t;
    char err[256];
    diagnose_thresholds_default(&t);
    assert_int_equal(diagnose_thresholds_set(&t, "min_growth_bytes=2M", err, sizeof(err)), 0);
    assert_true(t.min_growth_bytes == 2 * MIB);
    assert_int_equal(diagnose_thresholds_set(&t, "min_slope_t=6.5", err, sizeof(err)), 0);
    assert_true(t.min_slope_t == 6.5);
    assert_int_equal(diagnose_thresholds_set(&t, "nonsense=1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "nonsense"));
    assert_int_equal(diagnose_thresholds_set(&t, "min_slope_t=abc", err, sizeof(err)), -1);
    assert_int_equal(diagnose_thresholds_set(&t, "min_slope_t", err, sizeof(err)), -1);
    for (int v = VERDICT_HEALTHY; v <= VERDICT_FRAGMENTATION; v++)
        assert_int_equal(diagnosis_verdict_parse(diagnosis_verdict_name(v)), v);
    assert_int_equal(diagnosis_verdict_parse("bogus"), -1);
}

static FILE *create_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    return f;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    FILE *f = create_file(dir, name);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A counters-only recording whose live heap grows 1 MiB per 100 ms through the load and
 * stays: a leak, without sites. */
static void write_run(const char *dir, bool leak)
{
    write_file(dir, "shim.txt", "pid=1\nmode=count\nallocator=glibc\nexit=clean\n");
    write_file(dir, "phases.csv",
               "phase,start_ms,end_ms\nidle,0,1000\nload,1000,5000\n"
               "cooldown,5000,8000\n");
    FILE *f = create_file(dir, "samples.csv");
    fprintf(f, "t_ms,live_bytes,alloc_calls,rss_bytes,lazyfree_bytes,reclaim\n");
    long long live = 1 << 20;
    for (int i = 0; i <= 80; i++) {
        if (leak && i > 10 && i <= 50)
            live += 1 << 20;
        fprintf(f, "%d,%lld,%d,%lld,0,\n", i * 100, live, i * 100, live + (4 << 20));
    }
    fprintf(f, "8050,%lld,8000,%lld,0,\n", live, live + (4 << 20));
    fclose(f);
}

static void test_diagnose_run(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_diagnose.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct diagnose_thresholds t;
    struct diagnosis d;
    char err[512];
    diagnose_thresholds_default(&t);
    write_run(dir, true);
    assert_int_equal(diagnose_run(dir, &t, &d, err, sizeof(err)), 0);
    assert_int_equal(d.verdict, VERDICT_LEAK);
    assert_true(d.m.phases_from_file);
    assert_false(d.m.has_stacks);
    assert_string_equal(d.sites[0].function, "(whole live heap)");
    assert_true(d.sites[0].growth_bytes_per_s > 9 * MIB &&
                d.sites[0].growth_bytes_per_s < 11 * MIB);
    diagnosis_free(&d);
    write_run(dir, false);
    assert_int_equal(diagnose_run(dir, &t, &d, err, sizeof(err)), 0);
    assert_int_equal(d.verdict, VERDICT_HEALTHY);
    diagnosis_free(&d);
    assert_int_equal(diagnose_run("/nonexistent/run", &t, &d, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/run"));
    diagnosis_free(&d);
    remove_dir(dir);
}

/* A plain run (no phases.csv) that keeps 32 MiB from its load to its exit and frees them
 * on its way out, the last periodic row caught mid-way through that teardown: the after-load
 * state is the quiet row before it, a bounded step (healthy), not a live heap of 7 MiB under
 * an RSS of 37 MiB (allocator-retention). */
static void test_teardown_is_not_after_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_diagnose.XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "shim.txt", "pid=1\nmode=count\nallocator=glibc\nexit=clean\n");
    FILE *f = create_file(dir, "samples.csv");
    fprintf(f, "t_ms,live_bytes,alloc_calls,free_calls,rss_bytes,lazyfree_bytes,reclaim\n");
    long long live = 1 << 20, calls = 100, frees = 100;
    /* idle to 1 s; the load keeps 32 MiB at its first tick, then churns to 2 s; quiet to 5 s */
    for (int i = 0; i <= 50; i++) {
        if (i == 11)
            live += 32LL << 20, calls += 8192;
        else if (i > 11 && i <= 20)
            calls += 1000, frees += 1000;
        fprintf(f, "%d,%lld,%lld,%lld,%lld,0,\n", i * 100, live, calls, frees, live + (4 << 20));
    }
    fprintf(f, "5100,%lld,%lld,%lld,%lld,0,\n", 7LL << 20, calls, frees + 6500, live + (4 << 20));
    fprintf(f, "5150,%lld,%lld,%lld,%lld,0,\n", 1LL << 20, calls, frees + 8192, live + (4 << 20));
    fclose(f);
    struct diagnose_thresholds t;
    struct diagnosis d;
    char err[512];
    diagnose_thresholds_default(&t);
    assert_int_equal(diagnose_run(dir, &t, &d, err, sizeof(err)), 0);
    assert_false(d.m.phases_from_file);
    assert_int_equal(d.m.after_ms, 5000);
    assert_int_equal(d.verdict, VERDICT_HEALTHY);
    diagnosis_free(&d);
    remove_dir(dir);
}

/* A sampled run of 3 s leaking 1 MiB/s, site snapshots a second apart: the leaking site's
 * two samples came after the snapshot at 2 s, so its only row is the one at exit (3.05 s),
 * after the after-load point. Read between the snapshots it grew, and it names the leak; read
 * as a step it had not grown at all and the leak had no site. */
static void test_site_seen_only_at_exit_names_the_leak(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_diagnose.XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "shim.txt",
               "pid=1\nmode=sampled\nsample_bytes=524288\nallocator=glibc\nexit=clean\n");
    FILE *f = create_file(dir, "samples.csv");
    fprintf(f, "t_ms,live_bytes,alloc_calls,free_calls,rss_bytes,lazyfree_bytes,reclaim\n");
    for (int i = 0; i <= 30; i++)
        fprintf(f, "%d,%lld,%d,%d,%lld,0,\n", i * 100, 10000 + i * 104857LL, i * 1400, i * 1200,
                (4LL << 20) + i * 104857LL);
    fclose(f);
    write_file(dir, "sites.csv",
               "t_ms,site_id,alloc_calls,alloc_bytes,free_calls,free_bytes,peak_bytes,"
               "temporary_calls\n"
               "1000,1,12000,14000000,12000,14000000,525000,1300\n"
               "2000,1,23000,28000000,23000,28000000,525000,2600\n"
               "3050,1,32000,40000000,32000,40000000,525000,3300\n"
               "3050,2,2050,1049088,0,0,1049088,0\n");
    write_file(dir, "stacks.csv", "site_id,frames\n1,0x1000;0x2000\n2,0x3000;0x2000\n");
    struct diagnose_thresholds t;
    struct diagnosis d;
    char err[512];
    diagnose_thresholds_default(&t);
    assert_int_equal(diagnose_run(dir, &t, &d, err, sizeof(err)), 0);
    assert_int_equal(d.verdict, VERDICT_LEAK);
    assert_true(d.m.after_ms < 3050);
    assert_true(d.ncandidates >= 1);
    assert_int_equal(d.candidates[0].site_id, 2);
    assert_true(d.candidates[0].peak_bytes - d.candidates[0].start_bytes > 512 * 1024);
    diagnosis_free(&d);
    remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leak_kept_after_cooldown),
        cmocka_unit_test(test_buffering_released),
        cmocka_unit_test(test_not_growth),
        cmocka_unit_test(test_retention_and_fragmentation),
        cmocka_unit_test(test_dominant_retention),
        cmocka_unit_test(test_significant_loss_outranks_the_trajectory),
        cmocka_unit_test(test_lacking_data),
        cmocka_unit_test(test_slope),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_diagnose_run),
        cmocka_unit_test(test_teardown_is_not_after_load),
        cmocka_unit_test(test_site_seen_only_at_exit_names_the_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
