#include "reports/leaks.h"

#include <stdlib.h>

#include "common/util.h"

static const struct run_data *ranking_run;

static int64_t lost_bytes(const struct site_series *s)
{
    return s->reach.bytes[REACH_DEFINITELY_LOST] + s->reach.bytes[REACH_INDIRECTLY_LOST];
}

/* With reachability: definitely and indirectly lost bytes first, then possibly lost. */
static int by_class(const struct site_series *x, const struct site_series *y)
{
    if (lost_bytes(x) != lost_bytes(y))
        return lost_bytes(x) > lost_bytes(y) ? -1 : 1;
    int64_t px = x->reach.bytes[REACH_POSSIBLY_LOST], py = y->reach.bytes[REACH_POSSIBLY_LOST];
    return px == py ? 0 : px > py ? -1 : 1;
}

static int by_bytes_then_growth(const void *a, const void *b)
{
    const struct site_series *x = &ranking_run->sites[*(const size_t *)a];
    const struct site_series *y = &ranking_run->sites[*(const size_t *)b];
    int by_reach = ranking_run->has_reach ? by_class(x, y) : 0;
    if (by_reach)
        return by_reach;
    bool xl = x->end_bytes > 0, yl = y->end_bytes > 0;
    if (xl != yl)
        return xl ? -1 : 1;
    if (xl && x->end_bytes != y->end_bytes)
        return x->end_bytes > y->end_bytes ? -1 : 1;
    if (x->growth_bytes_per_s != y->growth_bytes_per_s)
        return x->growth_bytes_per_s > y->growth_bytes_per_s ? -1 : 1;
    return x->id < y->id ? -1 : 1;
}

size_t leaks_rank(const struct run_data *run, size_t **order)
{
    size_t n = 0;
    *order = xcalloc(run->nsites ? run->nsites : 1, sizeof(size_t));
    for (size_t i = 0; i < run->nsites; i++) {
        const struct site_series *s = &run->sites[i];
        if (s->end_bytes > 0 || s->growth_bytes_per_s > 0)
            (*order)[n++] = i;
    }
    ranking_run = run;
    util_sort(*order, n, sizeof(size_t), by_bytes_then_growth);
    return n;
}

long leaks_top_growing(const struct run_data *run)
{
    long best = -1;
    for (size_t i = 0; i < run->nsites; i++)
        if (run->sites[i].growth_bytes_per_s > 0 &&
            (best < 0 || run->sites[i].growth_bytes_per_s > run->sites[best].growth_bytes_per_s))
            best = (long)i;
    return best;
}
