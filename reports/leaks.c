#include "reports/leaks.h"

#include <stdlib.h>

static const struct run_data *ranking_run;

static int by_bytes_then_growth(const void *a, const void *b)
{
    const struct site_series *x = &ranking_run->sites[*(const size_t *)a];
    const struct site_series *y = &ranking_run->sites[*(const size_t *)b];
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
    *order = malloc((run->nsites ? run->nsites : 1) * sizeof(size_t));
    for (size_t i = 0; i < run->nsites; i++) {
        const struct site_series *s = &run->sites[i];
        if (s->end_bytes > 0 || s->growth_bytes_per_s > 0)
            (*order)[n++] = i;
    }
    ranking_run = run;
    qsort(*order, n, sizeof(size_t), by_bytes_then_growth);
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
