/* A run directory (docs/FORMAT.md) loaded for analysis: the shim's facts, samples.csv and
 * the per-site series rebuilt from sites.csv and stacks.csv. Readers only: nothing here
 * knows how the files were recorded. */
#ifndef ALLOCSCOPE_RUNDATA_H
#define ALLOCSCOPE_RUNDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/csv.h"

struct site_point {
    uint64_t t_ms;
    int64_t live_bytes;
    int64_t live_blocks;
};

/* memcheck's classes of the blocks unfreed at exit (reachability.csv, exact mode). */
enum reach_class {
    REACH_DEFINITELY_LOST,
    REACH_INDIRECTLY_LOST,
    REACH_POSSIBLY_LOST,
    REACH_STILL_REACHABLE,
    REACH_CLASSES
};
extern const char *const reach_class_names[REACH_CLASSES]; /* "definitely_lost", ... */
struct reach_counts {
    int64_t bytes[REACH_CLASSES], blocks[REACH_CLASSES];
};

struct site_series {
    uint32_t id;
    uint64_t *frames;
    unsigned depth;
    struct site_point *points;
    size_t npoints, cap;
    int64_t end_bytes, end_blocks; /* at the last snapshot */
    int64_t peak_bytes;
    uint64_t alloc_calls, alloc_bytes;
    uint64_t temporary_calls; /* freed before their thread allocated again (sites.csv) */
    double growth_bytes_per_s;
    struct reach_counts reach; /* when the run has reachability */
};

struct run_data {
    char *dir;
    char **fact_keys, **fact_values;
    size_t nfacts;
    struct csv samples;
    bool has_samples;
    struct site_series *sites;
    size_t nsites;
    char *maps_text;
    bool has_reach;            /* reachability.csv was read (with RUNDATA_SITES) */
    struct reach_counts reach; /* its totals */
};

enum { RUNDATA_SAMPLES = 1, RUNDATA_SITES = 2 };

/* Loads what PARTS asks for. A missing shim.txt or samples.csv is an error (err names the
 * file and what to do); missing site files mean a run without stacks (nsites = 0). On an
 * error RUN holds nothing (rundata_free on it is harmless). */
int rundata_load(struct run_data *run, const char *dir, unsigned parts, char *err, size_t errlen);
void rundata_free(struct run_data *run);
const char *rundata_fact(const struct run_data *run, const char *key); /* last value or NULL */
/* True when the program ended through exit (shim.txt "exit=clean"): its live blocks are
 * unfreed at exit. Otherwise (killed, or "exit=exec": it exec'd another program) they are
 * live at the last snapshot. */
bool rundata_exited(const struct run_data *run);

/* The programs a process went through before the one recorded at the top of DIR (an exec
 * keeps the process; each earlier program's recording is in DIR/images/K-NAME/), oldest
 * first. Returns their count and, in *names, a malloc'd array of malloc'd NAMEs. */
size_t rundata_images(const char *dir, char ***names);
void rundata_free_images(char **names, size_t n);

/* Least-squares slope of a site's live bytes from its first point to its peak, bytes/s;
 * 0 when that rise spans fewer than 3 points. */
double site_growth_rate(const struct site_series *site);

#endif
