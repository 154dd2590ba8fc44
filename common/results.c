#include "common/results.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/csv.h"
#include "common/util.h"

const char *const bench_column_names[BENCH_NCOLS] = {
#define RESULTS_COLUMN_NAME(id, name) [id] = name,
    RESULTS_COLUMNS(RESULTS_COLUMN_NAME)
#undef RESULTS_COLUMN_NAME
};

/* Every reader needs a row's coordinates; a file without them is not a results.csv. */
static const enum bench_column required_columns[] = {COL_CELL,      COL_WORKLOAD, COL_VARIANT,
                                                     COL_ALLOCATOR, COL_CONFIG,   COL_STATUS};

void bench_row_init(struct bench_row *row)
{
    for (int i = 0; i < BENCH_NCOLS; i++)
        row->fields[i] = xstrdup("");
}

void bench_row_free(struct bench_row *row)
{
    for (int i = 0; i < BENCH_NCOLS; i++) {
        free(row->fields[i]);
        row->fields[i] = NULL;
    }
}

void bench_row_copy(struct bench_row *to, const struct bench_row *from)
{
    for (int i = 0; i < BENCH_NCOLS; i++)
        to->fields[i] = xstrdup(from->fields[i]);
}

static void set_text(struct bench_row *row, enum bench_column col, const char *text)
{
    free(row->fields[col]);
    char *v = xstrdup(text);
    for (char *p = v; *p; p++)
        if (*p == ',')
            *p = ';';
        else if (*p == '\n' || *p == '\r')
            *p = ' ';
    row->fields[col] = v;
}

void bench_row_set(struct bench_row *row, enum bench_column col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = util_vformat(fmt, ap);
    va_end(ap);
    set_text(row, col, text);
    free(text);
}

double bench_row_number(const struct bench_row *row, enum bench_column col)
{
    const char *s = row->fields[col];
    char *end;
    double v = strtod(s, &end);
    return *s && !*end ? v : NAN;
}

bool bench_column_is_text(enum bench_column col)
{
    return col <= COL_CONFIG || col == COL_STATUS || col >= COL_ERROR;
}

/* ---- results.csv -------------------------------------------------------------------- */

static int find_columns(const struct csv *csv, int cols[BENCH_NCOLS], char *err, size_t errlen)
{
    for (int i = 0; i < BENCH_NCOLS; i++)
        cols[i] = csv_column(csv, bench_column_names[i]);
    for (size_t i = 0; i < sizeof(required_columns) / sizeof(required_columns[0]); i++)
        if (cols[required_columns[i]] < 0) {
            snprintf(err, errlen,
                     "%s: no column '%s'; is this a bench's results.csv (docs/FORMAT.md)?",
                     csv->path, bench_column_names[required_columns[i]]);
            return -1;
        }
    return 0;
}

/* The row of CSV line ROW, unless its cell is missing, is not one directory name or came
 * earlier. */
static int check_row(const struct bench_results *r, const struct csv *csv, size_t row,
                     const char *cell, char *err, size_t errlen)
{
    if (!*cell) {
        snprintf(err, errlen, "%s:%zu: a row without a cell name; every row names its cell",
                 csv->path, csv->lines[row]);
        return -1;
    }
    if (strchr(cell, '/') || !strcmp(cell, ".") || !strcmp(cell, "..")) {
        char shown[96];
        snprintf(err, errlen,
                 "%s:%zu: cell name '%s' is not one directory name (cells/NAME holds the "
                 "cell's files); a bench names cells WORKLOAD-VARIANT-ALLOCATOR-CONFIG-rN: fix "
                 "the row",
                 csv->path, csv->lines[row], util_printable(shown, sizeof(shown), cell));
        return -1;
    }
    const struct bench_row *first = bench_results_find(r, cell);
    if (first) {
        snprintf(err, errlen,
                 "%s:%zu: cell %s is listed again (first on line %zu); a bench lists each cell "
                 "once, so the file was joined or edited: keep one row per cell",
                 csv->path, csv->lines[row], cell, csv->lines[first - r->rows]);
        return -1;
    }
    return 0;
}

int bench_results_load(struct bench_results *r, const char *path, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    struct csv csv;
    int cols[BENCH_NCOLS];
    if (csv_load(&csv, path, err, errlen))
        return -1;
    int rc = find_columns(&csv, cols, err, errlen);
    for (size_t row = 0; !rc && row < csv.nrows; row++) {
        rc = check_row(r, &csv, row, csv_cell(&csv, row, cols[COL_CELL]), err, errlen);
        if (rc)
            break;
        r->rows = xreallocarray(r->rows, r->n + 1, sizeof(*r->rows));
        struct bench_row *br = &r->rows[r->n++];
        bench_row_init(br);
        for (int i = 0; i < BENCH_NCOLS; i++)
            set_text(br, (enum bench_column)i, csv_cell(&csv, row, cols[i]));
    }
    csv_free(&csv);
    if (rc)
        bench_results_free(r);
    return rc;
}

struct bench_row *bench_results_find(const struct bench_results *r, const char *cell)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->rows[i].fields[COL_CELL], cell))
            return &r->rows[i];
    return NULL;
}

void bench_results_free(struct bench_results *r)
{
    for (size_t i = 0; i < r->n; i++)
        bench_row_free(&r->rows[i]);
    free(r->rows);
    memset(r, 0, sizeof(*r));
}

/* ---- cell.json ---------------------------------------------------------------------- */

static void field_from_json(struct bench_row *row, enum bench_column col, const json_t *v)
{
    if (json_is_string(v))
        set_text(row, col, json_string_value(v));
    else if (json_is_integer(v))
        bench_row_set(row, col, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        bench_row_set(row, col, "%.15g", json_real_value(v));
}

int bench_cell_json_read(const char *path, struct bench_row *row, char *err, size_t errlen)
{
    size_t len;
    char *text = util_read_file_bounded(path, UTIL_INPUT_MAX, &len);
    if (!text) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!obj || !json_is_object(obj)) {
        snprintf(err, errlen, "%s:%d: %s", path, jerr.line, obj ? "not an object" : jerr.text);
        json_decref(obj);
        return -1;
    }
    bench_row_init(row);
    for (int i = 0; i < BENCH_NCOLS; i++)
        field_from_json(row, (enum bench_column)i, json_object_get(obj, bench_column_names[i]));
    json_decref(obj);
    if (!row->fields[COL_CELL][0] || !row->fields[COL_STATUS][0]) {
        snprintf(err, errlen, "%s: no cell or status; is it a bench cell's cell.json?", path);
        bench_row_free(row);
        return -1;
    }
    return 0;
}
