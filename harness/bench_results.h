/* results.csv and cell.json of a bench directory (docs/FORMAT.md): one row per finished
 * cell, every field kept as text exactly as written. Used by bench (write, --resume) and
 * merge. */
#ifndef ALLOCSCOPE_BENCH_RESULTS_H
#define ALLOCSCOPE_BENCH_RESULTS_H

#include <stddef.h>

enum bench_column {
    COL_CELL,
    COL_WORKLOAD,
    COL_VARIANT,
    COL_ALLOCATOR,
    COL_CONFIG,
    COL_REPEAT,
    COL_STATUS,
    COL_IDLE_RSS,
    COL_PEAK_RSS,
    COL_AFTER_1S_RSS,
    COL_AFTER_RSS,
    COL_RECLAIMABLE,
    COL_PEAK_LIVE,
    COL_AFTER_LIVE,
    COL_RPS,
    COL_P50,
    COL_P99,
    COL_CPU,
    COL_DURATION,
    COL_ERROR,
    COL_KIND,        /* server (idle, load, cooldown) or batch (ran to its end) */
    COL_LOAD_FORMAT, /* the load tool's format its figures were read in */
    COL_NOTE,        /* what a reader should know about an ok cell */
    BENCH_NCOLS
};

extern const char *const bench_column_names[BENCH_NCOLS];

struct bench_row {
    char *fields[BENCH_NCOLS]; /* never NULL once set up; "" = not measured */
};

struct bench_results {
    struct bench_row *rows;
    size_t n;
};

void bench_row_init(struct bench_row *row);
void bench_row_free(struct bench_row *row);
void bench_row_copy(struct bench_row *to, const struct bench_row *from);
/* Sets a field; commas and line breaks become ';' and ' ' (CSV fields are never quoted). */
void bench_row_set(struct bench_row *row, enum bench_column col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Loads PATH; a missing file is an empty result set. Returns 0, or -1 with a message. */
int bench_results_load(struct bench_results *r, const char *path, char *err, size_t errlen);
/* Writes PATH atomically. Returns 0 or -1 with errno. */
int bench_results_write(const struct bench_results *r, const char *path);
struct bench_row *bench_results_find(const struct bench_results *r, const char *cell);
/* Replaces the row of the same cell, or appends a copy. */
void bench_results_put(struct bench_results *r, const struct bench_row *row);
/* Orders rows by their cell's position in ORDER; cells not in it keep their order, last. */
void bench_results_sort(struct bench_results *r, char *const *order, size_t n_order);
void bench_results_free(struct bench_results *r);

/* DIR/cell.json: the row as a JSON object (numbers as numbers, empty as null). */
int bench_cell_json_write(const char *dir, const struct bench_row *row);
int bench_cell_json_read(const char *path, struct bench_row *row, char *err, size_t errlen);

#endif
