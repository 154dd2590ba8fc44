/* The one reader of a bench directory's results.csv and of a cell's cell.json
 * (docs/FORMAT.md, "results.csv"): one row per finished cell, every field kept as text
 * exactly as written. bench --resume and merge (cli, harness), report, gate and diagnose all
 * read through it; the writers (harness/bench_results.c) use the same columns. */
#ifndef ALLOCSCOPE_RESULTS_H
#define ALLOCSCOPE_RESULTS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/columns.h"

/* The columns of results.csv, in the order they are written; the keys of cell.json. Names
 * and order are common/columns.h's RESULTS_COLUMNS. */
enum bench_column {
#define RESULTS_COLUMN_ID(id, name) id,
    RESULTS_COLUMNS(RESULTS_COLUMN_ID)
#undef RESULTS_COLUMN_ID
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
/* A field as a number: NAN when empty or not a number. */
double bench_row_number(const struct bench_row *row, enum bench_column col);

/* Reads the results.csv at PATH. Returns 0, or -1 with one "PATH[:LINE]: problem; what to
 * do" line in err: a file that cannot be read (a missing one too), a column of the cell's
 * coordinates (cell, workload, variant, allocator, config, status) missing, a malformed line,
 * a row without a cell name or with one that is not one directory name (a '/', '.' or '..':
 * cells/NAME is read and copied), or a cell listed twice: a bench writes each cell once, and a
 * second row read as another repeat would skew every median. A truncated last line (a
 * killed writer) is left out with a warning on stderr, as in every CSV file. */
int bench_results_load(struct bench_results *r, const char *path, char *err, size_t errlen);
struct bench_row *bench_results_find(const struct bench_results *r, const char *cell);
void bench_results_free(struct bench_results *r);

/* Reads a cell's cell.json (the row as a JSON object: numbers as numbers, empty as null).
 * Returns 0, or -1 with a message (no cell or status is one). */
int bench_cell_json_read(const char *path, struct bench_row *row, char *err, size_t errlen);

/* Text columns are written as JSON strings, the others as numbers (or null when empty). */
bool bench_column_is_text(enum bench_column col);

#endif
