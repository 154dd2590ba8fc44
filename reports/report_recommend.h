/* The recommendation: among the configurations whose throughput is within a tolerance of
 * the best, the one with the lowest RSS on the chosen metric (after-load RSS by default). */
#ifndef ALLOCSCOPE_REPORT_RECOMMEND_H
#define ALLOCSCOPE_REPORT_RECOMMEND_H

#include <stdbool.h>
#include <stddef.h>

struct rec_candidate {
    const char *label;
    double throughput; /* NAN when not measured */
    double rss;        /* NAN when not measured: never chosen */
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
    double throughput_loss; /* fraction below the best throughput, NAN when unknown */
};

struct rec_result {
    long chosen; /* -1 when no candidate has an RSS */
    bool throughput_known;
    double best_throughput;
    struct rec_rank *ranks; /* every candidate: the choice first, then eligible by RSS,
                               then too slow by RSS, then unmeasured */
    size_t nranks;
};

/* TOLERANCE: fraction (0.05 = within 5% of the best throughput). */
void recommend(const struct rec_candidate *cands, size_t n, double tolerance,
               struct rec_result *out);
void rec_result_free(struct rec_result *r);

#endif
