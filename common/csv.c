#include "common/csv.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static size_t split_fields(char *line, char **out, size_t max)
{
    size_t n = 0;
    for (char *p = line;;) {
        char *comma = strchr(p, ',');
        if (n < max)
            out[n] = p;
        n++;
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    return n;
}

static void grow_cells(struct csv *csv, size_t *cap)
{
    if ((csv->nrows + 1) * csv->ncols <= *cap)
        return;
    size_t bigger = *cap ? *cap * 2 : csv->ncols * 1024;
    csv->cells = xreallocarray(csv->cells, bigger, sizeof(char *));
    csv->lines = xreallocarray(csv->lines, bigger / csv->ncols, sizeof(size_t));
    *cap = bigger;
}

/* A NUL byte inside a complete line: the file is damaged, not merely cut short. */
static int check_no_nul(const struct csv *csv, const char *line, const char *nl, size_t lineno,
                        char *err, size_t errlen)
{
    if (!memchr(line, '\0', (size_t)(nl - line)))
        return 0;
    snprintf(err, errlen,
             "%s:%zu: NUL byte in the line; the file is damaged (written over, or a crash "
             "while it was written): record it again",
             csv->path, lineno);
    return -1;
}

static int parse_rows(struct csv *csv, char *p, size_t len, char *err, size_t errlen)
{
    size_t cap = 0, lineno = 1;
    char *end = csv->text + len;
    while (p < end) {
        lineno++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            util_warn("%s:%zu: truncated last line ignored", csv->path, lineno);
            csv->truncated = true;
            break;
        }
        if (check_no_nul(csv, p, nl, lineno, err, errlen))
            return -1;
        *nl = '\0';
        if (nl > p && nl[-1] == '\r')
            nl[-1] = '\0';
        if (*p) {
            grow_cells(csv, &cap);
            char **row = csv->cells + csv->nrows * csv->ncols;
            size_t n = split_fields(p, row, csv->ncols);
            if (n != csv->ncols) {
                bool last = nl + 1 >= end;
                if (last && n < csv->ncols) {
                    util_warn("%s:%zu: truncated last line ignored", csv->path, lineno);
                    csv->truncated = true;
                    break;
                }
                snprintf(err, errlen, "%s:%zu: %zu fields, the header has %zu", csv->path, lineno,
                         n, csv->ncols);
                return -1;
            }
            csv->lines[csv->nrows++] = lineno;
        }
        p = nl + 1;
    }
    return 0;
}

int csv_load(struct csv *csv, const char *path, char *err, size_t errlen)
{
    memset(csv, 0, sizeof(*csv));
    size_t len;
    csv->path = xstrdup(path);
    csv->text = util_read_file(path, &len);
    if (!csv->text) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        csv_free(csv);
        return -1;
    }
    char *nl = memchr(csv->text, '\n', len);
    if (!nl || nl == csv->text) {
        snprintf(err, errlen, "%s: %s", path, len ? "no header line" : "empty file");
        csv_free(csv);
        return -1;
    }
    if (check_no_nul(csv, csv->text, nl, 1, err, errlen)) {
        csv_free(csv);
        return -1;
    }
    *nl = '\0';
    if (nl > csv->text && nl[-1] == '\r') /* else the last column's name ends in "\r" */
        nl[-1] = '\0';
    size_t ncols = 1;
    for (const char *p = csv->text; *p; p++)
        ncols += *p == ',';
    csv->header = xcalloc(ncols, sizeof(char *));
    csv->ncols = split_fields(csv->text, csv->header, ncols);
    if (parse_rows(csv, nl + 1, len, err, errlen)) {
        csv_free(csv);
        return -1;
    }
    return 0;
}

void csv_free(struct csv *csv)
{
    free(csv->path);
    free(csv->text);
    free(csv->header);
    free(csv->cells);
    free(csv->lines);
    memset(csv, 0, sizeof(*csv));
}

int csv_column(const struct csv *csv, const char *name)
{
    for (size_t i = 0; i < csv->ncols; i++)
        if (!strcmp(csv->header[i], name))
            return (int)i;
    return -1;
}

const char *csv_cell(const struct csv *csv, size_t row, int col)
{
    if (col < 0 || row >= csv->nrows)
        return "";
    return csv->cells[row * csv->ncols + (size_t)col];
}

double csv_number(const struct csv *csv, size_t row, int col)
{
    const char *s = csv_cell(csv, row, col);
    if (!*s)
        return NAN;
    char *end;
    double v = strtod(s, &end);
    return *end ? NAN : v;
}

int64_t csv_int(const struct csv *csv, size_t row, int col, int64_t fallback)
{
    const char *s = csv_cell(csv, row, col);
    if (!*s)
        return fallback;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end ? fallback : (int64_t)v;
}
