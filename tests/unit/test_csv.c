/* The CSV reader and the run-directory loader used by every analysis command. */
#include <math.h>
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

#include "common/csv.h"
#include "common/rundata.h"
#include "common/util.h"

static char dir[] = "/tmp/allocscope-csv-XXXXXX";

static char *write_file(const char *name, const char *text)
{
    char *path = util_format("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_reads_columns(void **state)
{
    (void)state;
    char *path = write_file("a.csv", "t_ms,live_bytes,tag\n0,10,\n100,-5,after\n");
    struct csv csv;
    char err[256];
    assert_int_equal(csv_load(&csv, path, err, sizeof(err)), 0);
    assert_int_equal(csv.ncols, 3);
    assert_int_equal(csv.nrows, 2);
    int live = csv_column(&csv, "live_bytes");
    assert_int_equal(live, 1);
    assert_int_equal(csv_int(&csv, 1, live, 0), -5);
    assert_string_equal(csv_cell(&csv, 1, csv_column(&csv, "tag")), "after");
    assert_true(isnan(csv_number(&csv, 0, csv_column(&csv, "tag"))));
    assert_int_equal(csv_column(&csv, "missing"), -1);
    csv_free(&csv);
    free(path);
}

static void test_truncated_last_line_dropped(void **state)
{
    (void)state;
    char *path = write_file("b.csv", "a,b\n1,2\n3,4\n5");
    struct csv csv;
    char err[256];
    assert_int_equal(csv_load(&csv, path, err, sizeof(err)), 0);
    assert_int_equal(csv.nrows, 2);
    csv_free(&csv);
    free(path);
}

static void test_malformed_line_names_file_and_line(void **state)
{
    (void)state;
    char *path = write_file("c.csv", "a,b\n1,2\n3,4,5\n6,7\n");
    struct csv csv;
    char err[256];
    assert_int_equal(csv_load(&csv, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "c.csv:3"));
    free(path);
}

/* The header's "\r" used to stay on the last column's name: that column was never found. */
static void test_crlf_line_ends(void **state)
{
    (void)state;
    char *path = write_file("e.csv", "t_ms,reclaim\r\n0,\r\n100,after\r\n");
    struct csv csv;
    char err[256];
    assert_int_equal(csv_load(&csv, path, err, sizeof(err)), 0);
    assert_int_equal(csv.nrows, 2);
    assert_string_equal(csv_cell(&csv, 1, csv_column(&csv, "reclaim")), "after");
    assert_int_equal(csv.lines[1], 3);
    csv_free(&csv);
    free(path);
}

/* fputs stops at a NUL: the file is written with fwrite. */
static void test_nul_byte_names_its_line(void **state)
{
    (void)state;
    static const char text[] = "a,b\n1,2\n3,4\0\n5,6\n";
    char *path = util_format("%s/f.csv", dir);
    FILE *f = fopen(path, "wb");
    fwrite(text, 1, sizeof(text) - 1, f);
    fclose(f);
    struct csv csv;
    char err[256];
    assert_int_equal(csv_load(&csv, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "f.csv:3: NUL byte"));
    free(path);
}

static void test_empty_file_is_an_error(void **state)
{
    (void)state;
    char *path = write_file("d.csv", "");
    struct csv csv;
    char err[256];
    assert_int_equal(csv_load(&csv, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "empty"));
    free(path);
}

/* A site growing 1000 B/s for 5 snapshots, then freed: growth measured up to the peak. */
static void test_growth_rate_to_peak(void **state)
{
    (void)state;
    struct site_point pts[] = {{0, 0, 0},       {1000, 1000, 1}, {2000, 2000, 2},
                               {3000, 3000, 3}, {4000, 4000, 4}, {5000, 0, 0}};
    struct site_series s = {.points = pts, .npoints = 6};
    assert_float_equal(site_growth_rate(&s), 1000.0, 1e-6);
    s.npoints = 2;
    assert_float_equal(site_growth_rate(&s), 0.0, 1e-9);
}

static void test_rundata_rebuilds_sites(void **state)
{
    (void)state;
    free(write_file("shim.txt", "pid=1\nmode=exact\nexit=clean\n"));
    free(write_file("stacks.csv", "site_id,frames\n0,\n1,0x10;0x20\n2,0x30\n"));
    free(write_file("sites.csv", "t_ms,site_id,alloc_calls,alloc_bytes,free_calls,free_bytes\n"
                                 "1000,1,10,1000,0,0\n1000,2,1,50,0,0\n"
                                 "2000,1,20,2000,5,500\n2000,2,1,50,1,50\n"));
    struct run_data run;
    char err[256];
    assert_int_equal(rundata_load(&run, dir, RUNDATA_SITES, err, sizeof(err)), 0);
    assert_int_equal(run.nsites, 3);
    assert_string_equal(rundata_fact(&run, "mode"), "exact");
    assert_int_equal(run.sites[1].depth, 2);
    assert_int_equal(run.sites[1].frames[1], 0x20);
    assert_int_equal(run.sites[1].end_bytes, 1500);
    assert_int_equal(run.sites[1].end_blocks, 15);
    assert_int_equal(run.sites[2].end_bytes, 0);
    assert_int_equal(run.sites[2].peak_bytes, 50);
    rundata_free(&run);
}

/* A peak between two snapshots reaches the site only through the peak_bytes column. */
static void test_rundata_peak_between_snapshots(void **state)
{
    (void)state;
    free(write_file("shim.txt", "pid=1\nmode=exact\nexit=clean\n"));
    free(write_file("stacks.csv", "site_id,frames\n0,\n1,0x10\n"));
    free(write_file("sites.csv",
                    "t_ms,site_id,alloc_calls,alloc_bytes,free_calls,free_bytes,peak_bytes\n"
                    "1000,1,10,1000,0,0,1000\n2000,1,30,3000,30,3000,2600\n"));
    struct run_data run;
    char err[256];
    assert_int_equal(rundata_load(&run, dir, RUNDATA_SITES, err, sizeof(err)), 0);
    assert_int_equal(run.sites[1].peak_bytes, 2600);
    assert_int_equal(run.sites[1].end_bytes, 0);
    rundata_free(&run);
}

static void test_rundata_missing_dir(void **state)
{
    (void)state;
    struct run_data run;
    char err[256];
    assert_int_equal(rundata_load(&run, "/nonexistent/run", RUNDATA_SITES, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/run"));
    rundata_free(&run);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_columns),
        cmocka_unit_test(test_truncated_last_line_dropped),
        cmocka_unit_test(test_malformed_line_names_file_and_line),
        cmocka_unit_test(test_crlf_line_ends),
        cmocka_unit_test(test_nul_byte_names_its_line),
        cmocka_unit_test(test_empty_file_is_an_error),
        cmocka_unit_test(test_growth_rate_to_peak),
        cmocka_unit_test(test_rundata_rebuilds_sites),
        cmocka_unit_test(test_rundata_peak_between_snapshots),
        cmocka_unit_test(test_rundata_missing_dir),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char *cmd = util_format("rm -rf %s", dir);
    if (system(cmd) != 0)
        failed++;
    free(cmd);
    return failed;
}
