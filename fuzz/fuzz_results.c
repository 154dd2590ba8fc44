/* A bench directory's results.csv (FUZZ_FILE unset) or a cell's cell.json: the input replaces
 * that file in a bench of two cells whose directories are copies of fuzz/template-run, and
 * every reader of a bench reads it (the results reader, the gate's loader, the report's). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/results.h"
#include "fuzz/fuzz.h"
#include "reports/diagnose.h"
#include "reports/gate.h"

static const char *const cell_names[] = {"web-none-glibc-default-r1",
                                         "web-none-jemalloc-default-r1"};
static char bench_dir[4096];

static void make_bench(void)
{
    char cells[4200];
    snprintf(bench_dir, sizeof(bench_dir), "%s/bench", fuzz_dir());
    snprintf(cells, sizeof(cells), "%s/cells", bench_dir);
    mkdir(bench_dir, 0755);
    mkdir(cells, 0755);
    for (size_t i = 0; i < sizeof(cell_names) / sizeof(cell_names[0]); i++) {
        char cell[4200];
        snprintf(cell, sizeof(cell), "%s/cells/%s", bench_dir, cell_names[i]);
        fuzz_copy_dir(FUZZ_TEMPLATE, cell);
    }
#ifdef FUZZ_CELL_JSON
    /* The cell.json under test belongs to a bench whose results.csv is sound. */
    static const char results[] =
        "cell,workload,variant,allocator,config,repeat,status,idle_rss_bytes,peak_rss_bytes,"
        "after_1s_rss_bytes,after_rss_bytes,reclaimable_bytes,peak_live_bytes,after_live_bytes,"
        "throughput_rps,p50_ms,p99_ms,cpu_s,duration_s,error,kind,load_format,note\n"
        "web-none-glibc-default-r1,web,none,glibc,default,1,ok,3000000,20000000,9000000,9000000,"
        "0,1000000,1000000,8916.2,5,40.4,1.0,9,,reference,,\n"
        "web-none-jemalloc-default-r1,web,none,jemalloc,default,1,ok,3000000,21000000,8000000,"
        "8000000,0,1000000,1000000,9016.2,5,41.4,1.0,9,,reference,,\n";
    fuzz_write(bench_dir, "results.csv", (const uint8_t *)results, sizeof(results) - 1);
#endif
}

static void read_bench(void)
{
    char err[512];
    struct gate_bench g;
    struct diagnose_thresholds t;
    diagnose_thresholds_default(&t);
    memset(&g, 0, sizeof(g));
    if (gate_bench_load(&g, bench_dir, &t, err, sizeof(err)) == 0)
        gate_bench_free(&g);
    fuzz_report_load(bench_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!bench_dir[0])
        make_bench();
    char dir[4200], err[512];
#ifdef FUZZ_CELL_JSON
    snprintf(dir, sizeof(dir), "%s/cells/%s", bench_dir, cell_names[0]);
    const char *path = fuzz_write(dir, "cell.json", data, size);
    struct bench_row row;
    if (bench_cell_json_read(path, &row, err, sizeof(err)) == 0)
        bench_row_free(&row);
#else
    snprintf(dir, sizeof(dir), "%s", bench_dir);
    const char *path = fuzz_write(dir, "results.csv", data, size);
    struct bench_results r;
    if (bench_results_load(&r, path, err, sizeof(err)) == 0)
        bench_results_free(&r);
#endif
    read_bench();
    return 0;
}
