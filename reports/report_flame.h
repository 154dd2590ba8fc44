/* The report's flame graphs: for every run of the report (each bench cell), its flame graphs
 * of live bytes at the peak, bytes unfreed at exit and growth as standalone SVG files in
 * OUT/charts/ (flame-KIND-N-CELL.svg), and for the run drawn per configuration (its first
 * successful repeat, as the other charts) the same graphs ready to inline in index.html,
 * with the sites of most temporary allocations (read from the same stacks). */
#ifndef ALLOCSCOPE_REPORT_FLAME_H
#define ALLOCSCOPE_REPORT_FLAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reports/flamegraph.h"
#include "reports/report_model.h"

/* A site whose allocations are freed before their thread allocates anything else. */
struct report_temporary {
    char *site; /* "fn (file.c:12) <- caller (file.c:40)" */
    uint64_t temporary, calls;
};

#define REPORT_TEMPORARY_SITES 5

struct cell_flames {
    bool has_stacks;               /* the run was recorded with stacks */
    bool sampled;                  /* its values are estimates */
    bool exited;                   /* exit graph: unfreed at exit */
    char *file[FLAME_KINDS];       /* stem of OUT/charts/STEM.svg; NULL: nothing to draw */
    char *inline_svg[FLAME_KINDS]; /* drawn cells only: the <svg> to inline; else NULL */
    size_t boxes[FLAME_KINDS];     /* boxes drawn */
    uint64_t temporary, calls;     /* allocations over the run, and temporary ones */
    struct report_temporary temps[REPORT_TEMPORARY_SITES]; /* most temporary first */
    size_t ntemps;
};

struct flame_set {
    struct cell_flames *cells; /* one per report cell */
    size_t ncells;
};

/* Writes the flame graphs of every cell of IN into OUTDIR/charts (created by the charts) and
 * keeps the inline SVG of the drawn ones. Old flame-*.svg files there are removed first. A run
 * that cannot be read is a problem of the report (report_problem), not a failure. */
void flames_write(struct report_input *in, const char *outdir, struct flame_set *set);
void flames_free(struct flame_set *set);
/* Removes OUTDIR/charts/flame-*.svg (a report made again without flame graphs). */
void flames_remove_old(const char *outdir);

#endif
