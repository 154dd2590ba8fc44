/* A run directory with one file replaced by the input (FUZZ_FILE: samples.csv, sites.csv,
 * stacks.csv, phases.csv, shim.txt, reachability.csv, maps.txt or run.json), the others
 * those of a real run (fuzz/template-run): everything that reads a run directory reads it
 * (rundata, leaks' ranking, diagnose, the report's loader). */
#include <stdlib.h>

#include "common/rundata.h"
#include "common/symbolize.h"
#include "fuzz/fuzz.h"
#include "reports/diagnose.h"
#include "reports/leaks.h"

#ifndef FUZZ_FILE
#error "FUZZ_FILE names the run directory's file the input replaces"
#endif

static char run_dir[4096];

static void read_run(void)
{
    struct run_data run;
    char err[512];
    if (rundata_load(&run, run_dir, RUNDATA_SAMPLES | RUNDATA_SITES, err, sizeof(err)) == 0) {
        size_t *order;
        size_t n = leaks_rank(&run, &order);
        struct symbolizer *sym = symbolizer_new(run.maps_text);
        for (size_t i = 0; i < n && i < 8; i++) {
            struct frame_info frames[ALLOCSCOPE_MAX_FRAMES];
            const struct site_series *s = &run.sites[order[i]];
            symbolizer_stack(sym, s->frames, s->depth, frames, ALLOCSCOPE_MAX_FRAMES);
        }
        symbolizer_free(sym);
        free(order);
    }
    rundata_free(&run);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!run_dir[0]) {
        snprintf(run_dir, sizeof(run_dir), "%s/run", fuzz_dir());
        fuzz_copy_dir(FUZZ_TEMPLATE, run_dir);
    }
    fuzz_write(run_dir, FUZZ_FILE, data, size);
    read_run();
    struct diagnose_thresholds t;
    struct diagnosis d;
    char err[512];
    diagnose_thresholds_default(&t);
    if (diagnose_run(run_dir, &t, &d, err, sizeof(err)) == 0)
        diagnosis_free(&d);
    fuzz_report_load(run_dir);
    return 0;
}
