/* The one reader of results.csv and cell.json (common/results): well-formed files, a
 * truncated last line, a cell listed twice, CRLF, a NUL byte, a missing column; and the gate
 * refusing a bench whose results.csv lists a cell twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/results.h"
#include "common/util.h"
#include "reports/gate.h"

static char dir[] = "/tmp/test_results.XXXXXX";
static char err[1024];

#define HEADER                                                                                     \
    "cell,workload,variant,allocator,config,repeat,status,idle_rss_bytes,peak_rss_bytes,"          \
    "after_1s_rss_bytes,after_rss_bytes,reclaimable_bytes,peak_live_bytes,after_live_bytes,"       \
    "throughput_rps,p50_ms,p99_ms,cpu_s,duration_s,error"
#define ROW_OK "w-none-glibc-default-r1,w,none,glibc,default,1,ok,1,2,3,4,5,6,7,8.5,9,10,11,12,"
#define ROW_FAILED                                                                                 \
    "w-none-glibc-default-r2,w,none,glibc,default,2,failed:crashed:SIGSEGV,,,,,,,,,,,,,killed"

/* DIR/NAME holding LEN bytes of TEXT; returns its path (malloc'd). */
static char *write_file(const char *name, const char *text, size_t len)
{
    char *path = util_format("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

static int load_text(struct bench_results *r, const char *text, size_t len)
{
    char *path = write_file("results.csv", text, len);
    err[0] = '\0';
    int rc = bench_results_load(r, path, err, sizeof(err));
    free(path);
    return rc;
}

static void expect_refused(const char *text, size_t len, const char *message)
{
    struct bench_results r;
    assert_int_equal(load_text(&r, text, len), -1);
    assert_int_equal(r.n, 0);
    if (!strstr(err, message))
        fail_msg("error '%s' does not contain '%s'", err, message);
}

static void test_well_formed(void **state)
{
    (void)state;
    /* Columns in another order and one the reader does not know are fine. */
    static const char text[] = "extra,status,cell,workload,variant,allocator,config,error,"
                               "after_rss_bytes\n"
                               "x,ok,a-none-glibc-default-r1,a,none,glibc,default,,1048576\n"
                               "y,failed:load,a-none-glibc-default-r2,a,none,glibc,default,"
                               "load exited 1,\n";
    struct bench_results r;
    assert_int_equal(load_text(&r, text, strlen(text)), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.rows[0].fields[COL_CELL], "a-none-glibc-default-r1");
    assert_true(bench_row_number(&r.rows[0], COL_AFTER_RSS) == 1048576);
    assert_true(isnan(bench_row_number(&r.rows[0], COL_PEAK_RSS))); /* absent: empty */
    assert_true(isnan(bench_row_number(&r.rows[1], COL_AFTER_RSS)));
    assert_string_equal(r.rows[1].fields[COL_ERROR], "load exited 1");
    assert_ptr_equal(bench_results_find(&r, "a-none-glibc-default-r2"), &r.rows[1]);
    assert_null(bench_results_find(&r, "a-none-glibc-default-r3"));
    bench_results_free(&r);
}

static void test_truncated_last_line_left_out(void **state)
{
    (void)state;
    static const char text[] = HEADER "\n" ROW_OK "\nw-none-glibc-default-r2,w,no";
    struct bench_results r;
    assert_int_equal(load_text(&r, text, strlen(text)), 0);
    assert_int_equal(r.n, 1);
    bench_results_free(&r);
}

/* A second row of one cell would be read as one more repeat. */
static void test_cell_listed_twice_refused(void **state)
{
    (void)state;
    static const char text[] = HEADER "\n" ROW_OK "\n" ROW_FAILED "\n" ROW_OK "\n";
    expect_refused(text, strlen(text),
                   "results.csv:4: cell w-none-glibc-default-r1 is listed again (first on line 2)");
}

/* A cell name is a directory under cells/ (merge copies it, report and gate read it): one
 * that is not one directory name would reach outside the bench. */
static void test_cell_name_not_a_path(void **state)
{
    (void)state;
    static const char up[] =
        HEADER "\n" ROW_OK "\n../../x,w,none,glibc,default,2,ok,,,,,,,,,,,,,\n";
    expect_refused(up, strlen(up), "results.csv:3: cell name '../../x' is not one directory name");
    static const char dot[] = HEADER "\n..,w,none,glibc,default,2,ok,,,,,,,,,,,,,\n";
    expect_refused(dot, strlen(dot), "results.csv:2: cell name '..'");
}

/* The last column's name used to keep the "\r": every error field was lost. */
static void test_crlf(void **state)
{
    (void)state;
    static const char text[] = HEADER "\r\n" ROW_OK "\r\n" ROW_FAILED "\r\n";
    struct bench_results r;
    assert_int_equal(load_text(&r, text, strlen(text)), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.rows[1].fields[COL_ERROR], "killed");
    assert_string_equal(r.rows[1].fields[COL_STATUS], "failed:crashed:SIGSEGV");
    bench_results_free(&r);
}

/* A NUL byte inside a complete line used to cut the field silently ("kil"). */
static void test_nul_byte_refused(void **state)
{
    (void)state;
    static const char text[] =
        HEADER "\n" ROW_OK "\n"
               "w-none-glibc-default-r2,w,none,glibc,default,2,failed:exit:1,"
               ",,,,,,,,,,,,kil\0led\n";
    expect_refused(text, sizeof(text) - 1, "results.csv:3: NUL byte in the line");
    /* NUL bytes after the last line end (a crash that left the file zero-filled) are a
     * truncated last line: left out, not fatal. */
    static const char zeros[] = HEADER "\n" ROW_OK "\n\0\0\0\0";
    struct bench_results r;
    assert_int_equal(load_text(&r, zeros, sizeof(zeros) - 1), 0);
    assert_int_equal(r.n, 1);
    bench_results_free(&r);
}

static void test_missing_column_or_cell_refused(void **state)
{
    (void)state;
    static const char no_config[] = "cell,workload,variant,allocator,status\n"
                                    "a-none-glibc-default-r1,a,none,glibc,ok\n";
    expect_refused(no_config, strlen(no_config),
                   "results.csv: no column 'config'; is this a bench's results.csv");
    static const char no_cell[] = HEADER "\n" ROW_OK "\n,w,none,glibc,default,3,ok,,,,,,,,,,,,,\n";
    expect_refused(no_cell, strlen(no_cell), "results.csv:3: a row without a cell name");
    struct bench_results r;
    char *missing = util_format("%s/none/results.csv", dir);
    assert_int_equal(bench_results_load(&r, missing, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot read"));
    free(missing);
}

static void test_cell_json(void **state)
{
    (void)state;
    static const char json[] = "{\"cell\": \"w-none-glibc-default-r1\", \"repeat\": 1, "
                               "\"status\": \"ok\", \"after_rss_bytes\": 1048576, "
                               "\"cpu_s\": 1.25, \"error\": null, \"unknown\": true}\r\n";
    char *path = write_file("cell.json", json, strlen(json));
    struct bench_row row;
    assert_int_equal(bench_cell_json_read(path, &row, err, sizeof(err)), 0);
    assert_string_equal(row.fields[COL_CELL], "w-none-glibc-default-r1");
    assert_string_equal(row.fields[COL_AFTER_RSS], "1048576");
    assert_true(bench_row_number(&row, COL_CPU) == 1.25);
    assert_string_equal(row.fields[COL_ERROR], "");
    bench_row_free(&row);
    free(path);
    path = write_file("cell.json", "{\"cell\": \"x\"}", 13);
    assert_int_equal(bench_cell_json_read(path, &row, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no cell or status"));
    free(path);
    assert_int_equal(bench_cell_json_read("/dev/zero", &row, err, sizeof(err)), -1);
    assert_string_equal(err, "cannot read /dev/zero: File too large");
}

/* The gate counts each row as a repeat: a duplicated row must stop it, with the reason. */
static void test_gate_refuses_duplicated_cell(void **state)
{
    (void)state;
    static const char text[] = HEADER "\n" ROW_OK "\n" ROW_FAILED "\n" ROW_OK "\n";
    char *path = write_file("results.csv", text, strlen(text));
    struct gate_bench b;
    assert_int_equal(gate_bench_load(&b, dir, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cell w-none-glibc-default-r1 is listed again"));
    gate_bench_free(&b);
    free(path);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = util_format("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_formed),
        cmocka_unit_test(test_truncated_last_line_left_out),
        cmocka_unit_test(test_cell_listed_twice_refused),
        cmocka_unit_test(test_cell_name_not_a_path),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_nul_byte_refused),
        cmocka_unit_test(test_missing_column_or_cell_refused),
        cmocka_unit_test(test_cell_json),
        cmocka_unit_test(test_gate_refuses_duplicated_cell),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
