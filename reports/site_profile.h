/* The allocation sites of one recording as stacks of symbolized frames with what each held
 * at three moments: live at the peak, unfreed at exit, and how fast it grew. One model for
 * every view of "which code holds the memory": the flame graphs, the collapsed-stack and
 * pprof exports, and the run-to-run diff.
 *
 * The peak is the site snapshot (sites.csv, once a second and at exit) at which the sites'
 * live bytes summed highest: the stacks' peak values add up to that total, so a flame graph
 * of them is the heap at its fullest. Exit is the last snapshot (unfreed at exit after a clean
 * exit, else live at the end). Growth is bytes per second: over the load phase where the run
 * has phases.csv (a bench cell), else the rate `allocscope leaks` shows (the least-squares
 * slope from the site's first snapshot to its peak). */
#ifndef ALLOCSCOPE_SITE_PROFILE_H
#define ALLOCSCOPE_SITE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rundata.h"
#include "common/symbolize.h"

struct profile_stack {
    uint32_t site_id;
    const uint64_t *pcs; /* return addresses, innermost first (the run's) */
    unsigned depth;
    struct frame_info *frames; /* symbolized, inlined frames included, innermost first */
    unsigned nframes;
    int64_t peak_bytes, peak_blocks; /* live at the profile's peak */
    int64_t exit_bytes, exit_blocks; /* live at the last snapshot */
    double growth_bytes_per_s;
    uint64_t alloc_calls, alloc_bytes; /* cumulative, at the last snapshot */
    uint64_t temporary_calls;          /* of those, freed before their thread allocated again */
    struct reach_counts reach;         /* when the profile has_reach */
};

struct site_profile {
    struct run_data run;
    struct symbolizer *sym; /* owns the frames' strings */
    bool sampled;           /* values are estimates (shim mode "sampled") */
    uint64_t sample_bytes;  /* mean sampling interval; 0 in exact mode */
    bool exited;            /* exit values are unfreed at a clean exit */
    bool has_reach;         /* reachability.csv: exit bytes by memcheck class */
    bool growth_over_load;  /* growth measured over phases.csv's load */
    uint64_t peak_t_ms;     /* time of the peak snapshot */
    double duration_s;      /* first to last snapshot */
    struct profile_stack *stacks;
    size_t n;
};

/* Loads the run directory DIR and symbolizes its sites. A run recorded without stacks has
 * no stacks (n = 0) and is not an error. Returns 0, or -1 with a one-line message in err. */
int site_profile_load(struct site_profile *p, const char *dir, char *err, size_t errlen);
void site_profile_free(struct site_profile *p);

/* What a stack holds, by name: the values a view can show. */
enum profile_value {
    PV_PEAK_BYTES,
    PV_PEAK_BLOCKS,
    PV_EXIT_BYTES,
    PV_EXIT_BLOCKS,
    PV_GROWTH, /* bytes per second */
    PV_ALLOC_BYTES,
    PV_ALLOC_CALLS,
    PV_TEMPORARY,       /* allocations freed before their thread allocated anything else */
    PV_DEFINITELY_LOST, /* exit bytes of each memcheck class (has_reach) */
    PV_INDIRECTLY_LOST,
    PV_POSSIBLY_LOST,
    PV_STILL_REACHABLE,
    PV_COUNT
};
/* "peak", "peak-blocks", "exit", "exit-blocks", "growth", "alloc", "alloc-blocks",
 * "temporary", "definitely-lost", "indirectly-lost", "possibly-lost", "still-reachable". */
const char *profile_value_name(enum profile_value v);
int profile_value_parse(const char *name); /* -1 when unknown */
double profile_stack_value(const struct profile_stack *s, enum profile_value v);
/* The sum over the stacks (growth: of the positive rates only). */
double profile_total(const struct site_profile *p, enum profile_value v);

/* The matching key of a stack: its functions (inlined ones included), innermost first,
 * joined by ';'; a frame without a function name is "??@OBJECT" (the file name of its
 * object). Addresses and line numbers move between builds; function names stay. malloc'd. */
char *profile_stack_key(const struct profile_stack *s);

#endif
