/* The recommendation: among the configurations whose throughput is within a tolerance of
 * the best, the one with the lowest RSS on the chosen metric (after-load RSS by default).
 * "Within" and "below" are claims about noisy measurements: with the throughput of every
 * repeat, a configuration is too slow only when the 95% interval of its ratio to the best
 * (a bootstrap over the repeats) lies wholly below 1 - tolerance; an interval that straddles
 * it (or a single repeat) leaves the difference unresolved, and such configurations are
 * ranked by memory with the fast enough ones, the result saying so and how many repeats
 * would resolve it. */
#ifndef ALLOCSCOPE_REPORT_RECOMMEND_H
#define ALLOCSCOPE_REPORT_RECOMMEND_H

#include <stdbool.h>
#include <stddef.h>

struct rec_candidate {
    const char *label;
    double throughput;     /* the median over the repeats; NAN when not measured */
    double rss;            /* NAN when not measured: never chosen */
    const double *repeats; /* the throughput of each repeat; none: THROUGHPUT is exact */
    size_t nrepeats;
};

enum rec_reason {
    REC_CHOSEN,
    REC_ELIGIBLE,     /* fast enough, more RSS than the choice */
    REC_TOO_SLOW,     /* throughput below the tolerance */
    REC_NOT_MEASURED, /* no RSS (failed cell) */
};

struct rec_rank {
    size_t index; /* into the candidates */
    enum rec_reason reason;
    double throughput_loss;       /* fraction below the best throughput, NAN when unknown */
    bool resolved;                /* its side of the tolerance is known (an exact figure, or an
                                     interval wholly on one side) */
    double ratio_low, ratio_high; /* 95% interval of its throughput / the best's; NAN when
                                     not estimated */
};

struct rec_result {
    long chosen; /* -1 when no candidate has an RSS */
    bool throughput_known;
    double best_throughput;
    size_t unresolved;         /* eligible candidates whose side of the tolerance is unknown */
    size_t repeats;            /* the fewest repeats of a measured candidate */
    size_t repeats_to_resolve; /* about how many repeats would resolve them (0: none needed) */
    struct rec_rank *ranks;    /* every candidate: the choice first, then eligible by RSS,
                                  then too slow by RSS, then unmeasured */
    size_t nranks;
};

/* TOLERANCE: fraction (0.05 = within 5% of the best throughput). */
void recommend(const struct rec_candidate *cands, size_t n, double tolerance,
               struct rec_result *out);
void rec_result_free(struct rec_result *r);

#endif
