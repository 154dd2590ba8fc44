/* The statistics every report and gate uses: medians and spreads over repeats, least-squares
 * slopes of growth.
 *
 * NaN policy: a NaN is a missing measurement and is left out (a point whose x or y is NaN, for
 * a line). With nothing left, a median or spread is NaN and a line cannot be fitted. */
#ifndef ALLOCSCOPE_STATS_H
#define ALLOCSCOPE_STATS_H

#include <stddef.h>

/* The middle value; the mean of the two middle ones for an even count. VALUES is not changed
 * (sorted in a copy; NaN when that copy cannot be allocated). */
double stats_median(const double *values, size_t n);

/* The spread of repeats: 1.4826 x the median absolute deviation from the median, which
 * estimates the standard deviation for normal noise and ignores a single outlier. 0 for one
 * value. */
double stats_spread(const double *values, size_t n);

/* A least-squares line y = slope * x + intercept. */
struct stats_line {
    double slope, intercept;
    double slope_se; /* standard error of the slope; NaN with fewer than 3 points */
    double sxx;      /* sum of (x - mean x)^2: how far the points spread along x */
    size_t n;        /* points used */
};

/* Fits LINE to the points (X[i], Y[i]). Returns 0, or -1 when fewer than 2 points or all at
 * the same x (LINE then has slope 0, the other fields as far as they are defined). */
int stats_fit_line(const double *x, const double *y, size_t n, struct stats_line *line);

#endif
