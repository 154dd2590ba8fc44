/* Ranking of allocation sites for `allocscope leaks` and the run summary. */
#ifndef ALLOCSCOPE_LEAKS_H
#define ALLOCSCOPE_LEAKS_H

#include <stddef.h>

#include "common/rundata.h"

/* Indexes into run->sites of the sites unfreed at the end (largest first; with
 * reachability, definitely and indirectly lost bytes first, then possibly lost), then of
 * those with no bytes left but a positive growth rate (fastest first). Returns the count;
 * *order is malloc'd. */
size_t leaks_rank(const struct run_data *run, size_t **order);

/* Index of the fastest growing site, or -1 when none grows. */
long leaks_top_growing(const struct run_data *run);

#endif
