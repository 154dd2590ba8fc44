#include "harness/bench_results.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "common/csv.h"
#include "common/atomic_file.h"
#include "common/util.h"

const char *const bench_column_names[BENCH_NCOLS] = {"cell",
                                                     "workload",
                                                     "variant",
                                                     "allocator",
                                                     "config",
                                                     "repeat",
                                                     "status",
                                                     "idle_rss_bytes",
                                                     "peak_rss_bytes",
                                                     "after_1s_rss_bytes",
                                                     "after_rss_bytes",
                                                     "reclaimable_bytes",
                                                     "peak_live_bytes",
                                                     "after_live_bytes",
                                                     "throughput_rps",
                                                     "p50_ms",
                                                     "p99_ms",
                                                     "cpu_s",
                                                     "duration_s",
                                                     "error",
                                                     "kind",
                                                     "load_format",
                                                     "note"};

void bench_row_init(struct bench_row *row)
{
    for (int i = 0; i < BENCH_NCOLS; i++)
        row->fields[i] = strdup("");
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
        to->fields[i] = strdup(from->fields[i] ? from->fields[i] : "");
}

static void set_text(struct bench_row *row, enum bench_column col, const char *text)
{
    free(row->fields[col]);
    char *v = strdup(text);
    for (char *p = v; *p; p++)
        if (*p == ',')
            *p = ';';
        else if (*p == '\n' || *p == '\r')
            *p = ' ';
    row->fields[col] = v;
}

void bench_row_set(struct bench_row *row, enum bench_column col, const char *fmt, ...)
{
    char *text;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    set_text(row, col, text ? text : "");
    free(text);
}

int bench_results_load(struct bench_results *r, const char *path, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    struct csv csv;
    if (access(path, F_OK) && errno == ENOENT)
        return 0;
    if (csv_load(&csv, path, err, errlen))
        return -1;
    int cols[BENCH_NCOLS];
    for (int i = 0; i < BENCH_NCOLS; i++)
        cols[i] = csv_column(&csv, bench_column_names[i]);
    if (cols[COL_CELL] < 0 || cols[COL_STATUS] < 0) {
        snprintf(err, errlen, "%s: not a results.csv (no cell and status columns)", path);
        csv_free(&csv);
        return -1;
    }
    for (size_t row = 0; row < csv.nrows; row++) {
        struct bench_row br;
        bench_row_init(&br);
        for (int i = 0; i < BENCH_NCOLS; i++)
            set_text(&br, (enum bench_column)i, csv_cell(&csv, row, cols[i]));
        bench_results_put(r, &br);
        bench_row_free(&br);
    }
    csv_free(&csv);
    return 0;
}

int bench_results_write(const struct bench_results *r, const char *path)
{
    size_t len = 0, cap = 4096;
    char *text = malloc(cap);
    text[0] = '\0';
    for (size_t row = 0; row <= r->n; row++)
        for (int i = 0; i < BENCH_NCOLS; i++) {
            const char *v = row == 0 ? bench_column_names[i] : r->rows[row - 1].fields[i];
            size_t need = strlen(v) + 2;
            if (len + need + 1 > cap) {
                cap = (len + need + 1) * 2;
                text = realloc(text, cap);
            }
            len += (size_t)snprintf(text + len, cap - len, "%s%c", v,
                                    i == BENCH_NCOLS - 1 ? '\n' : ',');
        }
    int rc = atomic_file_write(path, text, len);
    int saved = errno;
    free(text);
    errno = saved;
    return rc;
}

struct bench_row *bench_results_find(const struct bench_results *r, const char *cell)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->rows[i].fields[COL_CELL], cell))
            return &r->rows[i];
    return NULL;
}

void bench_results_put(struct bench_results *r, const struct bench_row *row)
{
    struct bench_row *old = bench_results_find(r, row->fields[COL_CELL]);
    if (old) {
        bench_row_free(old);
        bench_row_copy(old, row);
        return;
    }
    r->rows = realloc(r->rows, (r->n + 1) * sizeof(*r->rows));
    bench_row_copy(&r->rows[r->n++], row);
}

static size_t position(const char *cell, char *const *order, size_t n_order)
{
    for (size_t i = 0; i < n_order; i++)
        if (!strcmp(order[i], cell))
            return i;
    return n_order;
}

void bench_results_sort(struct bench_results *r, char *const *order, size_t n_order)
{
    /* Insertion sort: stable, and the sets are small. */
    for (size_t i = 1; i < r->n; i++) {
        struct bench_row row = r->rows[i];
        size_t key = position(row.fields[COL_CELL], order, n_order), j = i;
        while (j > 0 && position(r->rows[j - 1].fields[COL_CELL], order, n_order) > key) {
            r->rows[j] = r->rows[j - 1];
            j--;
        }
        r->rows[j] = row;
    }
}

void bench_results_free(struct bench_results *r)
{
    for (size_t i = 0; i < r->n; i++)
        bench_row_free(&r->rows[i]);
    free(r->rows);
    memset(r, 0, sizeof(*r));
}

static bool is_text_column(int col)
{
    return col <= COL_CONFIG || col == COL_STATUS || col >= COL_ERROR;
}

static json_t *field_json(int col, const char *v)
{
    if (is_text_column(col))
        return json_string(v);
    if (!*v)
        return json_null();
    char *end;
    long long i = strtoll(v, &end, 10);
    if (!*end)
        return json_integer(i);
    double d = strtod(v, &end);
    return *end ? json_string(v) : json_real(d);
}

int bench_cell_json_write(const char *dir, const struct bench_row *row)
{
    json_t *obj = json_object();
    for (int i = 0; i < BENCH_NCOLS; i++)
        json_object_set_new(obj, bench_column_names[i], field_json(i, row->fields[i]));
    char *text = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(obj);
    char *path = util_format("%s/cell.json", dir);
    size_t len = strlen(text);
    text = realloc(text, len + 2);
    text[len++] = '\n';
    char why[ATOMIC_FILE_ERROR_MAX];
    int rc = atomic_file_write(path, text, len);
    if (rc)
        util_warn("%s", atomic_file_error(why, sizeof(why), path, errno));
    free(path);
    free(text);
    return rc;
}

int bench_cell_json_read(const char *path, struct bench_row *row, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *obj = json_load_file(path, 0, &jerr);
    if (!obj || !json_is_object(obj)) {
        snprintf(err, errlen, "%s:%d: %s", path, jerr.line, obj ? "not an object" : jerr.text);
        json_decref(obj);
        return -1;
    }
    bench_row_init(row);
    for (int i = 0; i < BENCH_NCOLS; i++) {
        json_t *v = json_object_get(obj, bench_column_names[i]);
        if (json_is_string(v))
            set_text(row, (enum bench_column)i, json_string_value(v));
        else if (json_is_integer(v))
            bench_row_set(row, (enum bench_column)i, "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v))
            bench_row_set(row, (enum bench_column)i, "%.15g", json_real_value(v));
    }
    json_decref(obj);
    if (!row->fields[COL_CELL][0] || !row->fields[COL_STATUS][0]) {
        snprintf(err, errlen, "%s: no cell or status", path);
        bench_row_free(row);
        return -1;
    }
    return 0;
}
