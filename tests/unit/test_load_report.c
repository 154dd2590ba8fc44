/* Unit tests of the load tools' reports (harness/load_report.h): real outputs of wrk,
 * h2load, ab and redis-benchmark captured on Debian 12 against nginx and redis-server
 * (the .txt files of tests/fixtures/load/), and memtier_benchmark, k6 and loadgen JSON written from
 * their documented formats (its .json files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "harness/load_report.h"

static char why[512];

static char *fixture(const char *name)
{
    const char *root = getenv("ALLOCSCOPE_SRC");
    char *path = util_format("%s/tests/fixtures/load/%s", root ? root : ".", name);
    char *text = util_read_file(path, NULL);
    if (!text)
        fail_msg("cannot read %s", path);
    free(path);
    return text;
}

/* Reads a text fixture as the load log (and a JSON one as load.json) in FORMAT. */
static int read_fixture(const char *name, enum load_format format, struct load_figures *f)
{
    char *text = fixture(name);
    bool json = strstr(name, ".json") != NULL;
    int rc =
        load_report_read(format, NULL, json ? "" : text, json ? text : NULL, f, why, sizeof(why));
    free(text);
    return rc;
}

#define assert_near(actual, expected) assert_true(fabs((actual) - (expected)) < 1e-6)

static void wrk_with_latency(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("wrk-latency.txt", LOAD_FORMAT_AUTO, &f), 0);
    assert_int_equal(f.format, LOAD_FORMAT_WRK);
    assert_near(f.throughput_rps, 44255.47);
    assert_near(f.p50_ms, 0.271); /* "50%  271.00us" */
    assert_near(f.p99_ms, 3.62);
    assert_true(f.requests > 0);
    assert_true(isnan(f.errors));
}

static void wrk_without_latency_has_no_percentiles(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("wrk-plain.txt", LOAD_FORMAT_WRK, &f), 0);
    assert_true(f.throughput_rps > 0);
    assert_true(isnan(f.p50_ms) && isnan(f.p99_ms));
}

static void wrk_counts_non_2xx_as_errors(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("wrk-404.txt", LOAD_FORMAT_AUTO, &f), 0);
    assert_near(f.errors, 26404);
    assert_near(f.requests, 26404);
    assert_near(f.p99_ms, 9.10);
}

static void wrk_socket_errors_and_the_last_run(void **state)
{
    (void)state;
    const char *log = "Running 1s test @ http://127.0.0.1:1/\n"
                      "Requests/sec:  100.00\n"
                      "Running 2s test @ http://127.0.0.1:1/\n"
                      "  2 threads and 10 connections\n"
                      "  Latency Distribution\n"
                      "     50%    1.50s \n"
                      "     99%    2.00m \n"
                      "  300 requests in 2.00s, 1.00MB read\n"
                      "  Socket errors: connect 1, read 2, write 3, timeout 4\n"
                      "Requests/sec:    150.00\n";
    struct load_figures f;
    assert_int_equal(load_report_read(LOAD_FORMAT_AUTO, NULL, log, NULL, &f, why, sizeof(why)), 0);
    assert_near(f.throughput_rps, 150);
    assert_near(f.p50_ms, 1500);
    assert_near(f.p99_ms, 120000);
    assert_near(f.errors, 10);
    assert_near(f.requests, 300);
}

static void h2load_throughput_and_counts(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("h2load.txt", LOAD_FORMAT_AUTO, &f), 0);
    assert_int_equal(f.format, LOAD_FORMAT_H2LOAD);
    assert_near(f.throughput_rps, 14224.95);
    assert_near(f.requests, 2000);
    assert_near(f.errors, 0);
    assert_true(isnan(f.p50_ms) && isnan(f.p99_ms)); /* h2load prints no percentiles */
}

static void ab_throughput_and_percentiles(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("ab.txt", LOAD_FORMAT_AUTO, &f), 0);
    assert_int_equal(f.format, LOAD_FORMAT_AB);
    assert_near(f.throughput_rps, 20319.83);
    assert_near(f.requests, 2000);
    assert_near(f.errors, 0);
    assert_near(f.p50_ms, 0);
    assert_near(f.p99_ms, 1);
}

/* -q: five tests of 20000 requests each (LPUSH twice: once for LRANGE), their lines after
 * \r progress lines; the throughput is all requests over all their time. */
static void redis_benchmark_quiet(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("redis-benchmark-q.txt", LOAD_FORMAT_AUTO, &f), 0);
    assert_int_equal(f.format, LOAD_FORMAT_REDIS_BENCHMARK);
    double rps[] = {144927.55, 188679.25, 89686.09, 83333.34, 6218.91}, seconds = 0;
    for (size_t i = 0; i < 5; i++)
        seconds += 1 / rps[i];
    assert_true(fabs(f.throughput_rps - 5 / seconds) < 0.01);
    assert_near(f.p50_ms, 20.399); /* the slowest test's */
    assert_true(isnan(f.p99_ms));  /* -q prints p50 only */
}

static void redis_benchmark_csv(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("redis-benchmark-csv.txt", LOAD_FORMAT_REDIS_BENCHMARK, &f), 0);
    double rps[] = {273972.59, 285714.28, 101522.84, 5911.91}, seconds = 0;
    for (size_t i = 0; i < 4; i++)
        seconds += 1 / rps[i];
    assert_true(fabs(f.throughput_rps - 4 / seconds) < 0.01);
    assert_near(f.p50_ms, 25.183);
    assert_near(f.p99_ms, 377.087);
}

static void redis_benchmark_plain_weights_by_requests(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("redis-benchmark-plain.txt", LOAD_FORMAT_AUTO, &f), 0);
    assert_int_equal(f.format, LOAD_FORMAT_REDIS_BENCHMARK);
    double seconds = 5000 / 34013.61 + 5000 / 32679.74;
    assert_true(fabs(f.throughput_rps - 10000 / seconds) < 0.01);
    assert_near(f.requests, 10000);
    assert_near(f.p50_ms, 0.823);
    assert_near(f.p99_ms, 4.031);
}

/* redis 6 printed "TEST","RPS" lines without a header in --csv. */
static void redis_benchmark_csv_without_header(void **state)
{
    (void)state;
    const char *log = "\"PING_INLINE\",\"100000.00\"\n\"SET\",\"50000.00\"\n";
    struct load_figures f;
    assert_int_equal(load_report_read(LOAD_FORMAT_AUTO, NULL, log, NULL, &f, why, sizeof(why)), 0);
    assert_near(f.throughput_rps, 2 / (1 / 100000.0 + 1 / 50000.0));
}

static void memtier_json(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("memtier.json", LOAD_FORMAT_AUTO, &f), 0);
    assert_int_equal(f.format, LOAD_FORMAT_MEMTIER);
    assert_near(f.throughput_rps, 40959.98);
    assert_near(f.p50_ms, 4.607);
    assert_near(f.p99_ms, 11.071);
    assert_near(f.requests, 163922);
    assert_near(f.errors, 0);
}

static void k6_summary_export(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("k6-summary-export.json", LOAD_FORMAT_AUTO, &f), 0);
    assert_int_equal(f.format, LOAD_FORMAT_K6);
    assert_near(f.throughput_rps, 2200.1);
    assert_near(f.p50_ms, 3.118);
    assert_near(f.p99_ms, 31.552);
    assert_near(f.errors, 4); /* http_req_failed's passes are the failed requests */
}

static void k6_handle_summary_without_p99(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("k6-handle-summary.json", LOAD_FORMAT_K6, &f), 0);
    assert_near(f.throughput_rps, 2995.68);
    assert_near(f.p50_ms, 2.75);
    assert_true(isnan(f.p99_ms)); /* k6 exports p(99) only when asked for it */
}

static void loadgen_json(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("loadgen.json", LOAD_FORMAT_AUTO, &f), 0);
    assert_int_equal(f.format, LOAD_FORMAT_LOADGEN);
    assert_near(f.throughput_rps, 7128);
    assert_near(f.p50_ms, 31.73);
    assert_near(f.p99_ms, 96.844);
}

/* A JSON report printed on stdout (k6 --summary-export=/dev/stdout) is found in the log. */
static void json_report_in_the_log(void **state)
{
    (void)state;
    char *text = fixture("k6-summary-export.json");
    struct load_figures f;
    assert_int_equal(load_report_read(LOAD_FORMAT_K6, NULL, text, NULL, &f, why, sizeof(why)), 0);
    assert_near(f.throughput_rps, 2200.1);
    free(text);
}

static void named_format_that_does_not_match(void **state)
{
    (void)state;
    struct load_figures f;
    assert_int_equal(read_fixture("ab.txt", LOAD_FORMAT_WRK, &f), -1);
    assert_non_null(strstr(why, "no wrk report"));
    assert_true(isnan(f.throughput_rps));
}

static void unknown_output(void **state)
{
    (void)state;
    struct load_figures f;
    const char *log = "Time to set 16000 keys by 8 threads: 0.456 seconds.\n";
    assert_int_equal(load_report_read(LOAD_FORMAT_AUTO, NULL, log, "", &f, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "load_format"));
    assert_non_null(strstr(why, "throughput_regex"));
    assert_int_equal(load_report_read(LOAD_FORMAT_AUTO, NULL, NULL, NULL, &f, why, sizeof(why)),
                     -1);
}

/* memcaslap's last line, read with patterns: the group is the value, the last match wins. */
static void regex_patterns(void **state)
{
    (void)state;
    const char *log = "Run time: 1.0s Ops: 100 TPS: 100 Net_rate: 1.0M/s\n"
                      "Run time: 2.0s Ops: 121845 TPS: 60878 Net_rate: 38.3M/s\n"
                      "p99 latency 12.5 ms\n";
    struct load_patterns re = {.throughput = "TPS: ([0-9.]+)", .p99 = "p99 latency ([0-9.]+)"};
    struct load_figures f;
    assert_int_equal(load_report_read(LOAD_FORMAT_AUTO, &re, log, NULL, &f, why, sizeof(why)), 0);
    assert_int_equal(f.format, LOAD_FORMAT_REGEX);
    assert_near(f.throughput_rps, 60878);
    assert_near(f.p99_ms, 12.5);
    assert_true(isnan(f.p50_ms));
    struct load_patterns miss = {.throughput = "QPS=([0-9]+)"};
    assert_int_equal(load_report_read(LOAD_FORMAT_AUTO, &miss, log, NULL, &f, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "matched no number"));
}

/* A pattern beside a format replaces the figure it names (here h2load's longest request
 * time, the mechanism only: h2load prints no percentile); the rest come from the format. */
static void pattern_completes_a_format(void **state)
{
    (void)state;
    char *text = fixture("h2load.txt");
    struct load_patterns re = {.p99 = "time for request: +[0-9.]+us +([0-9.]+)ms"};
    struct load_figures f;
    assert_int_equal(load_report_read(LOAD_FORMAT_AUTO, &re, text, NULL, &f, why, sizeof(why)), 0);
    assert_int_equal(f.format, LOAD_FORMAT_H2LOAD);
    assert_near(f.p99_ms, 5.58);
    free(text);
}

static void bad_pattern_is_refused(void **state)
{
    (void)state;
    struct load_patterns re = {.throughput = "TPS: ([0-9.]+"};
    assert_int_equal(load_patterns_check(&re, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "throughput_regex"));
    struct load_patterns good = {.throughput = "TPS: ([0-9.]+)"};
    assert_int_equal(load_patterns_check(&good, why, sizeof(why)), 0);
}

static void format_names(void **state)
{
    (void)state;
    enum load_format f;
    const char *names[] = {"wrk",     "h2load", "ab",      "redis-benchmark",
                           "memtier", "k6",     "loadgen", "auto"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(load_format_parse(names[i], &f), 0);
        assert_string_equal(load_format_name(f), names[i]);
    }
    assert_int_equal(load_format_parse("memtier_benchmark", &f), 0);
    assert_int_equal(f, LOAD_FORMAT_MEMTIER);
    assert_int_equal(load_format_parse("jmeter", &f), -1);
    assert_int_equal(load_format_parse("regex", &f), -1); /* given by throughput_regex */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wrk_with_latency),
        cmocka_unit_test(wrk_without_latency_has_no_percentiles),
        cmocka_unit_test(wrk_counts_non_2xx_as_errors),
        cmocka_unit_test(wrk_socket_errors_and_the_last_run),
        cmocka_unit_test(h2load_throughput_and_counts),
        cmocka_unit_test(ab_throughput_and_percentiles),
        cmocka_unit_test(redis_benchmark_quiet),
        cmocka_unit_test(redis_benchmark_csv),
        cmocka_unit_test(redis_benchmark_plain_weights_by_requests),
        cmocka_unit_test(redis_benchmark_csv_without_header),
        cmocka_unit_test(memtier_json),
        cmocka_unit_test(k6_summary_export),
        cmocka_unit_test(k6_handle_summary_without_p99),
        cmocka_unit_test(loadgen_json),
        cmocka_unit_test(json_report_in_the_log),
        cmocka_unit_test(named_format_that_does_not_match),
        cmocka_unit_test(unknown_output),
        cmocka_unit_test(regex_patterns),
        cmocka_unit_test(pattern_completes_a_format),
        cmocka_unit_test(bad_pattern_is_refused),
        cmocka_unit_test(format_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
