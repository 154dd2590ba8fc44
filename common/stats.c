#include "common/stats.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/util.h"

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The values that are not NaN, in a malloc'd copy (at least one slot). */
static double *present_values(const double *values, size_t n, size_t *kept)
{
    double *copy = xcalloc(n, sizeof(double));
    *kept = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(values[i]))
            copy[(*kept)++] = values[i];
    return copy;
}

/* The median of V[0..n), sorting V. */
static double median_sorting(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    util_sort(v, n, sizeof(double), by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double stats_median(const double *values, size_t n)
{
    size_t kept;
    double *v = present_values(values, n, &kept);
    double median = median_sorting(v, kept);
    free(v);
    return median;
}

double stats_spread(const double *values, size_t n)
{
    size_t kept;
    double *v = present_values(values, n, &kept);
    if (kept == 0) {
        free(v);
        return NAN;
    }
    double spread = 0;
    if (kept > 1) {
        double median = median_sorting(v, kept);
        for (size_t i = 0; i < kept; i++)
            v[i] = fabs(v[i] - median);
        spread = 1.4826 * median_sorting(v, kept);
    }
    free(v);
    return spread;
}

static bool usable(const double *x, const double *y, size_t i)
{
    return !isnan(x[i]) && !isnan(y[i]);
}

int stats_fit_line(const double *x, const double *y, size_t n, struct stats_line *line)
{
    *line = (struct stats_line){.slope = 0, .intercept = NAN, .slope_se = NAN, .sxx = 0};
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++)
        if (usable(x, y, i))
            mx += x[i], my += y[i], line->n++;
    if (line->n == 0)
        return -1;
    mx /= (double)line->n, my /= (double)line->n;
    double sxy = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        if (!usable(x, y, i))
            continue;
        line->sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (line->n < 2 || line->sxx <= 0)
        return -1;
    line->slope = sxy / line->sxx;
    line->intercept = my - line->slope * mx;
    if (line->n >= 3) {
        /* Rounding can leave a perfect line a tiny negative residual. */
        double residual = fmax(syy - line->slope * sxy, 0);
        line->slope_se = sqrt(residual / (double)(line->n - 2) / line->sxx);
    }
    return 0;
}
