#include "reports/report_recommend.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/stats.h"
#include "common/util.h"

#define BOOTSTRAP_ROUNDS 2000
/* Run-to-run spread of throughput on a shared machine when one repeat cannot show it
 * (field notes: timings vary 15-30% from run to run). */
#define DEFAULT_SPREAD 0.2
#define MAX_REPEATS_TO_SUGGEST 50

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

/* A fixed sequence: the same data give the same report. */
static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static double resampled_median(const double *values, size_t n, double *scratch, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        scratch[i] = values[next_random(rng) % n];
    return stats_median(scratch, n);
}

/* The 95% interval of median(A) / median(B) over bootstrap resamples of the repeats. */
static void ratio_interval(const struct rec_candidate *a, const struct rec_candidate *b,
                           double *low, double *high)
{
    double *ratios = xcalloc(BOOTSTRAP_ROUNDS, sizeof(double));
    double *scratch = xcalloc(a->nrepeats + b->nrepeats, sizeof(double));
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    size_t n = 0;
    for (size_t k = 0; k < BOOTSTRAP_ROUNDS; k++) {
        double ma = resampled_median(a->repeats, a->nrepeats, scratch, &rng);
        double mb = resampled_median(b->repeats, b->nrepeats, scratch, &rng);
        if (mb > 0 && isfinite(ma))
            ratios[n++] = ma / mb;
    }
    double *sorted = ratios;
    for (size_t i = 1; i < n; i++) /* insertion sort: 2000 values, once per candidate */
        for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    *low = n ? sorted[(size_t)(0.025 * (double)n)] : NAN;
    *high = n ? sorted[(size_t)(0.975 * (double)(n - 1))] : NAN;
    free(ratios);
    free(scratch);
}

/* The relative spread of a candidate's repeats (of their logs), DEFAULT_SPREAD with fewer
 * than 3. */
static double relative_spread(const struct rec_candidate *c)
{
    if (c->nrepeats < 3)
        return DEFAULT_SPREAD;
    double *logs = xcalloc(c->nrepeats, sizeof(double));
    for (size_t i = 0; i < c->nrepeats; i++)
        logs[i] = c->repeats[i] > 0 ? log(c->repeats[i]) : NAN;
    double s = stats_spread(logs, c->nrepeats);
    free(logs);
    return isfinite(s) && s > 0.01 ? s : 0.01;
}

/* Repeats each side would need for the ratio's interval to clear the tolerance: the standard
 * error of a log ratio of medians is about 1.25 x spread x sqrt(2/n). */
static size_t repeats_needed(double ratio, double tolerance, double spread)
{
    double distance = fabs(log(ratio) - log(1 - tolerance));
    if (!(distance > 0))
        return MAX_REPEATS_TO_SUGGEST;
    double z = 1.96 * 1.25 * spread / distance;
    double n = ceil(2 * z * z);
    return n < 2 ? 2 : n > MAX_REPEATS_TO_SUGGEST ? MAX_REPEATS_TO_SUGGEST : (size_t)n;
}

/* Which side of the tolerance candidate I is on, against the best (index BEST). */
static void judge_speed(const struct rec_candidate *cands, size_t i, size_t best, double tolerance,
                        struct rec_rank *r, struct rec_result *out)
{
    const struct rec_candidate *c = &cands[i], *b = &cands[best];
    r->ratio_low = r->ratio_high = NAN;
    if (i == best || (c->nrepeats == 0 && b->nrepeats == 0)) { /* exact figures */
        r->resolved = true;
        r->reason = r->throughput_loss > tolerance + 1e-12 ? REC_TOO_SLOW : REC_ELIGIBLE;
        return;
    }
    if (c->nrepeats >= 2 && b->nrepeats >= 2)
        ratio_interval(c, b, &r->ratio_low, &r->ratio_high);
    double threshold = 1 - tolerance - 1e-12;
    if (r->ratio_high < threshold) {
        r->resolved = true;
        r->reason = REC_TOO_SLOW;
    } else if (r->ratio_low >= threshold) {
        r->resolved = true;
        r->reason = REC_ELIGIBLE;
    } else { /* unknown side: ranked by memory with the fast enough ones */
        r->resolved = false;
        r->reason = REC_ELIGIBLE;
        out->unresolved++;
        double spread = fmax(relative_spread(c), relative_spread(b));
        size_t need = repeats_needed(c->throughput / b->throughput, tolerance, spread);
        if (need > out->repeats_to_resolve)
            out->repeats_to_resolve = need;
    }
}

void recommend(const struct rec_candidate *cands, size_t n, double tolerance,
               struct rec_result *out)
{
    out->chosen = -1;
    out->best_throughput = NAN;
    out->throughput_known = false;
    out->unresolved = out->repeats = out->repeats_to_resolve = 0;
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(cands[i].rss) || isnan(cands[i].throughput))
            continue;
        if (isnan(out->best_throughput) || cands[i].throughput > out->best_throughput)
            out->best_throughput = cands[i].throughput, best = i;
        if (!out->throughput_known || cands[i].nrepeats < out->repeats)
            out->repeats = cands[i].nrepeats;
        out->throughput_known = true;
    }
    /* A load that served no request anywhere (a load tool that could not connect on a busy
     * machine) measured nothing to compare: memory alone ranks, as with no throughput. */
    if (out->throughput_known && !(out->best_throughput > 0)) {
        out->throughput_known = false;
        out->best_throughput = NAN;
        out->repeats = 0;
    }
    out->ranks = xcalloc(n ? n : 1, sizeof(*out->ranks));
    out->nranks = n;
    for (size_t i = 0; i < n; i++) {
        struct rec_rank *r = &out->ranks[i];
        r->index = i;
        r->throughput_loss = NAN;
        r->ratio_low = r->ratio_high = NAN;
        r->resolved = true;
        if (out->throughput_known && !isnan(cands[i].throughput) && out->best_throughput > 0)
            r->throughput_loss = 1.0 - cands[i].throughput / out->best_throughput;
        if (isnan(cands[i].rss))
            r->reason = REC_NOT_MEASURED;
        else if (out->throughput_known && isnan(r->throughput_loss))
            r->reason = REC_TOO_SLOW;
        else if (out->throughput_known)
            judge_speed(cands, i, best, tolerance, r, out);
        else
            r->reason = REC_ELIGIBLE;
    }
    sort_cands = cands;
    util_sort(out->ranks, n, sizeof(*out->ranks), compare_ranks);
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
