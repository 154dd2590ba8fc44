/* One cell of a bench: the target started under the shim with an allocator configuration,
 * taken through the idle, load and cooldown phases while its process tree is sampled from
 * outside, then a reclaim request, teardown and the cell's files (docs/FORMAT.md). */
#ifndef ALLOCSCOPE_BENCH_CELL_H
#define ALLOCSCOPE_BENCH_CELL_H

#include <signal.h>

#include "harness/bench_progress.h"
#include "harness/bench_results.h"
#include "harness/bench_spec.h"
#include "harness/runner.h"

struct bench_context {
    const char *shim_path;
    struct shim_settings shim;
    unsigned interval_ms;
    const char *profile;
    bool kernel;                 /* record kernel.csv with allocscope-kevents, joined in */
    volatile sig_atomic_t *stop; /* set asynchronously (SIGINT, SIGTERM): end the cell now */
    struct bench_progress *progress;
};

/* Runs CELL into DIR (emptied first) and fills ROW (initialized here). Returns 0 when the
 * cell ran to its end (ok or failed), 1 when it was interrupted (*ctx->stop). */
int bench_cell_run(const struct bench_cell *cell, const struct bench_context *ctx, const char *dir,
                   struct bench_row *row);

/* Planned wall time of a cell, for the ETA. */
double bench_cell_planned_s(const struct bench_cell *cell);

#endif
