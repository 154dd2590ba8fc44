/* What `allocscope report` shows, loaded from run directories and bench directories
 * (docs/FORMAT.md): one report_cell per run, grouped by workload and variant, with the
 * metrics of results.csv (or computed from samples.csv and phases.csv when it is absent). */
#ifndef ALLOCSCOPE_REPORT_MODEL_H
#define ALLOCSCOPE_REPORT_MODEL_H

#include <stdbool.h>
#include <stddef.h>

/* One time series per run, in seconds and bytes; NAN where a column is absent. */
struct report_series {
    size_t n;
    double *t_s;
    double *rss;       /* tree RSS when the harness sampled it, else the process's */
    double *live;      /* shim live_bytes */
    double *heap_free; /* allocator-held free memory (allocator's own stats) */
    double *lazyfree;
    double *returned; /* cumulative bytes given back to the OS (kernel events) */
};

struct report_phase {
    char name[16];
    double start_s, end_s;
};

enum report_metric {
    METRIC_IDLE,
    METRIC_PEAK,
    METRIC_AFTER_1S,
    METRIC_AFTER,
    METRIC_RECLAIMABLE,
    METRIC_PEAK_LIVE,
    METRIC_AFTER_LIVE,
    METRIC_THROUGHPUT,
    METRIC_P50,
    METRIC_P99,
    METRIC_CPU,
    METRIC_DURATION,
    METRIC_COUNT
};

struct report_cell {
    char *dir, *name;
    char *workload, *variant, *allocator, *config;
    int repeat;
    char *status, *error;
    char *kind;             /* "batch": ran to its end (results.csv kind); else a server's phases */
    char *note;             /* results.csv note: what to know about an ok cell, "" for none */
    double m[METRIC_COUNT]; /* NAN: not measured */
    struct report_phase phases[4];
    size_t nphases;
    struct report_series series;
    bool has_series, has_kernel, heap_known;
    char *command, *allocator_version, *settings, *host, *started;
    size_t group;
};

/* A workload/variant: the configurations run on it, each aggregated over its repeats. */
struct report_config {
    char *label; /* allocator:config */
    size_t *cells, ncells;
    long first_ok;          /* the cell drawn in time-series charts, -1 when none succeeded */
    double m[METRIC_COUNT]; /* median over the repeats that succeeded */
};

struct report_group {
    char *workload, *variant, *label;
    bool batch; /* its cells ran to their end: compared by peak RSS and time */
    struct report_config *configs;
    size_t nconfigs;
};

struct report_input {
    bool is_bench;
    char *bench_dir;
    char *bench_json; /* compact text of bench.json, NULL without one */
    char *profile;
    struct report_cell *cells;
    size_t ncells;
    struct report_group *groups;
    size_t ngroups;
    char **problems; /* files missing or malformed: the report says so and goes on */
    size_t nproblems;
};

/* What the user chose on the command line. */
struct report_options {
    double tolerance;              /* throughput within this fraction of the best counts */
    enum report_metric rss_metric; /* the RSS the recommendation minimises */
    int top_sites;                 /* sites drawn per workload */
    bool png;                      /* PNG copies of the charts */
};

const char *report_metric_name(enum report_metric m);
/* "after-load RSS" and the like, for text. */
const char *report_metric_title(enum report_metric m);

/* Loads each DIR (a run directory or a bench directory). Returns 0, or -1 with a message
 * in err when no DIR gave anything to report. */
int report_load(struct report_input *in, char **dirs, size_t ndirs, char *err, size_t errlen);
void report_free(struct report_input *in);
void report_problem(struct report_input *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fills NAN metrics of CELL from its series and phases (plain runs, missing results.csv). */
void report_cell_derive_metrics(struct report_cell *cell);

/* The RSS metric a group's recommendation minimises: CHOSEN, or the peak for a batch
 * group (a program that ends has no after-load RSS). */
enum report_metric report_group_metric(const struct report_group *grp, enum report_metric chosen);

/* Groups cells by workload/variant and configurations, medians over repeats. */
void report_group_cells(struct report_input *in);

#endif
