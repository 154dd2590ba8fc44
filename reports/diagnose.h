/* Diagnosis of a recording: leak, unbounded buffering, allocator retention, fragmentation or
 * healthy, with the evidence, a confidence and what the data lacked. docs/DIAGNOSE.md
 * documents the tests and thresholds. The measurement (diagnose_measure) is separate from
 * the classification (diagnose_classify) so that the rules can be tested on synthetic input. */
#ifndef ALLOCSCOPE_DIAGNOSE_H
#define ALLOCSCOPE_DIAGNOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_t;

enum diagnosis_verdict {
    VERDICT_HEALTHY,
    VERDICT_LEAK,
    VERDICT_UNBOUNDED_BUFFERING,
    VERDICT_ALLOCATOR_RETENTION,
    VERDICT_FRAGMENTATION,
    VERDICT_PROBABLE_LEAK, /* bytes unfreed at exit that reachability could not judge */
    VERDICT_COUNT
};

enum diagnosis_confidence { CONFIDENCE_LOW, CONFIDENCE_MEDIUM, CONFIDENCE_HIGH };

/* Every threshold of the rules; diagnose_thresholds_default() fills the documented values
 * and diagnose_thresholds_set() changes one by name ("min_growth_bytes=2M"). */
struct diagnose_thresholds {
    double min_growth_bytes;  /* a site must grow at least this much during load */
    double min_growth_share;  /* ... and by this share of the peak live heap */
    double min_slope_t;       /* slope / standard error: the heap in the load's last third */
    double min_site_slope_t;  /* ... and of the site over the load (1 s snapshots) */
    double sustained_share;   /* share of a site's growth made in the load's second half */
    double tail_share;        /* heap growth in the last third / the site's growth */
    double leak_kept_share;   /* growth still live after the cooldown: >= leak, else buffering */
    double live_return_share; /* after-load live <= idle + this share of the rise */
    double min_excess_rss;    /* RSS above live heap (vs idle) that counts, bytes */
    double excess_rss_share;  /* ... and as a share of the RSS rise over idle */
    double reclaimable_share; /* reclaim gave back this share of the excess: retention */
    double activity_share;    /* plain runs: the load is where alloc rate > this x max */
    double steady_free_share; /* a load whose free calls were below this share of its
                                 allocation calls never reached a steady state */
    double dominance;         /* RSS held by the allocator this many times the kept growth
                                 makes the verdict retention/fragmentation, not leak */
    double min_lost_bytes;    /* definitely + indirectly lost at exit that make a leak */
};

struct diagnosis_site {
    uint32_t site_id;
    char where[512];        /* symbolized innermost frames, "fn (file:line) <- ..." */
    char function[128];     /* first frame with a known function outside the allocator */
    int64_t start_bytes;    /* live at the start of the load */
    int64_t peak_bytes;     /* highest live */
    int64_t load_end_bytes; /* live at the end of the load */
    int64_t after_bytes;    /* live at the end of the cooldown (or the recording) */
    int64_t exit_bytes;     /* unfreed at exit, -1 without a clean exit */
    double growth_bytes_per_s;
    double slope_t;
    double sustained; /* share of the growth made in the load's second half */
    double kept;      /* share of the growth still live after the cooldown */
    bool significant;
    bool leaked;          /* kept >= leak_kept_share */
    double growth_from_s; /* when the rise started and ended, seconds of this run */
    double growth_to_s;
    double rate_low; /* 95% interval of growth_bytes_per_s (the slope's) */
    double rate_high;
    double samples; /* sampled mode: about how many samples the site's estimate rests
                       on (0 in exact mode: exact) */
    /* The same growth against the work the program did (its cumulative allocation calls)
     * instead of time: the same on a busy machine, where the load is done more slowly. */
    double work_sustained;          /* share of the growth made in the load's second half
                                       of allocation calls */
    double growth_bytes_per_call;   /* least-squares slope of bytes over allocation calls */
};

/* What the classification needs, measured from a run (or written by a unit test). Bytes;
 * -1 when not measured. */
struct diagnosis_metrics {
    bool phases_from_file; /* phases.csv; else inferred from the allocation rate */
    bool has_cooldown;     /* some time after the load was recorded */
    bool has_live;         /* the shim's live heap (not a kernel-only attach) */
    bool has_stacks;       /* sites.csv with stacks */
    bool exited_cleanly;
    uint64_t load_start_ms, load_end_ms, after_ms;
    uint64_t steady_end_ms; /* the load's last sample before its final one, which may already
                               see connections close or buffers go */
    double idle_live, peak_live, load_end_live, after_live, exit_live;
    double idle_rss, peak_rss, after_rss;
    double reclaim_before_rss, reclaim_after_rss; /* -1 without a reclaim test */
    double live_slope_t;                          /* total live heap over the load */
    double tail_slope_t;   /* total live heap (RSS without it) over the load's last third */
    double tail_growth;    /* its growth over that third, bytes */
    /* The work axis (samples.csv alloc_calls: exact in every mode): has_work when the load
     * made enough allocation calls to judge growth against them. Growth is significant only
     * when it is sustained against the work as well as against time: a bounded set of
     * requests in flight filled slowly on a busy machine rises through the load's time, but
     * not through its work. */
    bool has_work;
    double work_tail_slope_t; /* live heap over the load's last third of allocation calls */
    double work_tail_growth;  /* its growth there, bytes */
    uint64_t work_mid_ms;     /* when the load had made half of its allocation calls */
    double load_free_share;   /* free calls / allocation calls over the load; -1 unknown */
    /* The drain (phases.csv "drain" row, allocscope bench): the target worked off the load
     * until drain_end_ms; drain_settled false when the bench's bound ended it first. */
    bool has_drain, drain_settled;
    uint64_t drain_end_ms;
    const char *allocator; /* "glibc", ... or NULL */
    const char *mode;      /* shim mode */
    bool short_run;        /* too few samples for a trend: judged on the exit state */
    /* Reachability at exit (exact mode, reachability.csv); -1 without it. */
    bool has_reach;
    double lost_bytes, lost_blocks; /* definitely + indirectly lost */
    double possibly_lost_bytes, still_reachable_bytes;
    char lost_where[512]; /* the site with the most lost bytes */
    double lost_where_bytes;
    /* The largest site unfreed at exit (its estimate in sampled mode), for short runs. */
    char exit_where[512];
    double exit_where_bytes;
};

struct diagnosis {
    enum diagnosis_verdict verdict;
    enum diagnosis_confidence confidence;
    char reason[512];     /* one sentence with the deciding numbers */
    char suggestion[512]; /* what to try, or "" */
    char lacking[6][160]; /* what the data did not have */
    size_t nlacking;
    struct diagnosis_metrics m;
    struct diagnosis_site *sites; /* significant growing sites, fastest first */
    size_t nsites;
    /* The whole live heap (exact counters, even in sampled mode) as one series: whether
     * the heap grew and kept it, and how fast, rest on it; the sites say where. */
    struct diagnosis_site heap;
    bool has_heap;
    struct diagnosis_site *candidates; /* sampled mode: the sites that grew most, for */
    size_t ncandidates;                /* naming where a heap growth comes from */
    char run_dir[4096];
};

void diagnose_thresholds_default(struct diagnose_thresholds *t);
/* "NAME=VALUE" (VALUE may carry K/M/G for byte thresholds). 0, or -1 with err set. */
int diagnose_thresholds_set(struct diagnose_thresholds *t, const char *assignment, char *err,
                            size_t errlen);

/* Loads RUN_DIR (a run directory or a bench cell), measures and classifies. 0, or -1 with a
 * one-line message in err. Free with diagnosis_free. */
int diagnose_run(const char *run_dir, const struct diagnose_thresholds *t, struct diagnosis *out,
                 char *err, size_t errlen);

/* The rules alone: D->m and D->sites (with their growth statistics) are filled in by the
 * caller; sets verdict, confidence, reason, suggestion, lacking and keeps only the
 * significant sites. */
void diagnose_classify(struct diagnosis *d, const struct diagnose_thresholds *t);

/* Least-squares slope of Y over T (seconds) and its t statistic (slope / standard error;
 * a large finite value when the points are exactly on a line). Returns the slope. */
double diagnose_slope(const double *t, const double *y, size_t n, double *t_stat);

void diagnosis_free(struct diagnosis *d);
const char *diagnosis_verdict_name(enum diagnosis_verdict v);
const char *diagnosis_confidence_name(enum diagnosis_confidence c);
/* Parses a verdict name; -1 when unknown. */
int diagnosis_verdict_parse(const char *name);

/* Human text (several lines, starting with "verdict: NAME") and JSON (docs/DIAGNOSE.md). */
void diagnosis_print_text(const struct diagnosis *d, FILE *out);
struct json_t *diagnosis_to_json(const struct diagnosis *d);

/* Sum of the growth rates of the leaking sites (0 unless the verdict is leak), bytes/s. */
double diagnosis_leak_growth(const struct diagnosis *d);
/* The same per allocation call (bytes the leak kept per call the program made during the
 * load: how fast the machine ran does not move it); 0 unless the verdict is leak, NAN when
 * the recording has no allocation counts. */
double diagnosis_leak_per_call(const struct diagnosis *d);

#endif
