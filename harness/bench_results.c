#include "harness/bench_results.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/json_text.h"
#include "common/util.h"

int bench_results_write(const struct bench_results *r, const char *path)
{
    size_t len = 0, cap = 4096;
    char *text = xmalloc(cap);
    text[0] = '\0';
    for (size_t row = 0; row <= r->n; row++)
        for (int i = 0; i < BENCH_NCOLS; i++) {
            const char *v = row == 0 ? bench_column_names[i] : r->rows[row - 1].fields[i];
            size_t need = strlen(v) + 2;
            if (len + need + 1 > cap) {
                cap = (len + need + 1) * 2;
                text = xrealloc(text, cap);
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

void bench_results_put(struct bench_results *r, const struct bench_row *row)
{
    struct bench_row *old = bench_results_find(r, row->fields[COL_CELL]);
    if (old) {
        bench_row_free(old);
        bench_row_copy(old, row);
        return;
    }
    r->rows = xreallocarray(r->rows, r->n + 1, sizeof(*r->rows));
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

static json_t *field_json(int col, const char *v)
{
    if (bench_column_is_text((enum bench_column)col))
        return json_text(v);
    if (!*v)
        return json_null();
    char *end;
    long long i = strtoll(v, &end, 10);
    if (!*end)
        return json_integer(i);
    double d = strtod(v, &end);
    return *end || !isfinite(d) ? json_text(v) : json_real(d);
}

int bench_cell_json_write(const char *dir, const struct bench_row *row)
{
    json_t *obj = json_object();
    for (int i = 0; i < BENCH_NCOLS; i++)
        json_object_set_new(obj, bench_column_names[i], field_json(i, row->fields[i]));
    char *path = util_format("%s/cell.json", dir);
    char *text = json_text_dump(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER, path);
    json_decref(obj);
    if (!text) {
        free(path);
        return -1;
    }
    size_t len = strlen(text);
    text = xrealloc(text, len + 2);
    text[len++] = '\n';
    char why[ATOMIC_FILE_ERROR_MAX];
    int rc = atomic_file_write(path, text, len);
    if (rc)
        util_warn("%s", atomic_file_error(why, sizeof(why), path, errno));
    free(path);
    free(text);
    return rc;
}
