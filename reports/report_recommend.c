#include "reports/report_recommend.h"

#include <math.h>
#include <stdlib.h>

static int reason_order(enum rec_reason r)
{
    return (int)r;
}

static const struct rec_candidate *sort_cands;

static int compare_ranks(const void *a, const void *b)
{
    const struct rec_rank *x = a, *y = b;
    if (reason_order(x->reason) != reason_order(y->reason))
        return reason_order(x->reason) - reason_order(y->reason);
    double rx = sort_cands[x->index].rss, ry = sort_cands[y->index].rss;
    if (rx != ry && !isnan(rx) && !isnan(ry))
        return rx < ry ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

void recommend(const struct rec_candidate *cands, size_t n, double tolerance,
               struct rec_result *out)
{
    out->chosen = -1;
    out->best_throughput = NAN;
    out->throughput_known = false;
    for (size_t i = 0; i < n; i++) {
        if (isnan(cands[i].rss) || isnan(cands[i].throughput))
            continue;
        if (isnan(out->best_throughput) || cands[i].throughput > out->best_throughput)
            out->best_throughput = cands[i].throughput;
        out->throughput_known = true;
    }
    out->ranks = calloc(n ? n : 1, sizeof(*out->ranks));
    out->nranks = n;
    for (size_t i = 0; i < n; i++) {
        struct rec_rank *r = &out->ranks[i];
        r->index = i;
        r->throughput_loss = NAN;
        if (out->throughput_known && !isnan(cands[i].throughput) && out->best_throughput > 0)
            r->throughput_loss = 1.0 - cands[i].throughput / out->best_throughput;
        if (isnan(cands[i].rss))
            r->reason = REC_NOT_MEASURED;
        else if (out->throughput_known &&
                 (isnan(r->throughput_loss) || r->throughput_loss > tolerance + 1e-12))
            r->reason = REC_TOO_SLOW;
        else
            r->reason = REC_ELIGIBLE;
    }
    sort_cands = cands;
    qsort(out->ranks, n, sizeof(*out->ranks), compare_ranks);
    if (n > 0 && out->ranks[0].reason == REC_ELIGIBLE) {
        out->ranks[0].reason = REC_CHOSEN;
        out->chosen = (long)out->ranks[0].index;
    }
}

void rec_result_free(struct rec_result *r)
{
    free(r->ranks);
    r->ranks = NULL;
    r->nranks = 0;
}
