/* A small reader for the project's CSV files (docs/FORMAT.md): one header row, comma
 * separated, no quoting, "\n" or "\r\n" line ends. A truncated last line (a killed
 * recorder) is dropped with a warning; a malformed line elsewhere, or a NUL byte in a
 * complete line, is an error naming file and line. */
#ifndef ALLOCSCOPE_CSV_H
#define ALLOCSCOPE_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct csv {
    char *path;
    char *text;    /* the file, tokenized in place */
    char **header; /* ncols names */
    size_t ncols;
    char **cells; /* nrows * ncols */
    size_t nrows;
    bool truncated; /* its last line was cut short (and left out) */
    size_t *lines;  /* nrows: each row's line in the file, for messages */
};

/* Returns 0, or -1 with a one-line message in err. Warnings (truncated last line) go to
 * stderr. */
int csv_load(struct csv *csv, const char *path, char *err, size_t errlen);
void csv_free(struct csv *csv);
int csv_column(const struct csv *csv, const char *name);          /* -1 if absent */
const char *csv_cell(const struct csv *csv, size_t row, int col); /* "" if col < 0 */
double csv_number(const struct csv *csv, size_t row, int col);    /* NAN if empty/absent */
int64_t csv_int(const struct csv *csv, size_t row, int col, int64_t fallback);

/* The largest count of bytes, calls or milliseconds a recording can hold: 2^53, the
 * largest a double keeps exactly (8 PiB; 285,000 years of milliseconds). A cell beyond
 * it is a damaged file, and refusing it keeps the sums and casts of the readers in range. */
#define CSV_MAX_QUANTITY 9007199254740992.0

#endif
