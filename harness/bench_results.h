/* Writing a bench directory's results.csv and cell.json (docs/FORMAT.md): the rows and
 * their columns, and the reader, are common/results.h. Used by bench (write, --resume) and
 * merge. */
#ifndef ALLOCSCOPE_BENCH_RESULTS_H
#define ALLOCSCOPE_BENCH_RESULTS_H

#include <stddef.h>

#include "common/results.h"

/* Writes PATH atomically. Returns 0 or -1 with errno. */
int bench_results_write(const struct bench_results *r, const char *path);
/* Replaces the row of the same cell, or appends a copy. */
void bench_results_put(struct bench_results *r, const struct bench_row *row);
/* Orders rows by their cell's position in ORDER; cells not in it keep their order, last. */
void bench_results_sort(struct bench_results *r, char *const *order, size_t n_order);

/* DIR/cell.json: the row as a JSON object (numbers as numbers, empty as null). */
int bench_cell_json_write(const char *dir, const struct bench_row *row);

#endif
