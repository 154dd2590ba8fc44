#include "harness/kernel_join.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic_file.h"
#include "common/columns.h"
#include "common/util.h"

#define MAX_KERNEL_COLUMNS 64

struct kernel_table {
    int ncols; /* without t_ms */
    char *names[MAX_KERNEL_COLUMNS];
    bool level[MAX_KERNEL_COLUMNS];
    long long (*rows)[MAX_KERNEL_COLUMNS + 1]; /* [0] = t_ms */
    size_t nrows;
};

/* Complete lines only: a line without its '\n' was cut short by a killed writer. */
static char *next_line(char **cursor)
{
    char *line = *cursor, *end = line ? strchr(line, '\n') : NULL;
    if (!end)
        return NULL;
    *end = '\0';
    *cursor = end + 1;
    return line;
}

static int parse_kernel_header(struct kernel_table *k, char *header)
{
    char *save = NULL;
    char *field = strtok_r(header, ",", &save);
    if (!field || strcmp(field, KERNEL_T_MS))
        return -1;
    while ((field = strtok_r(NULL, ",", &save)) && k->ncols < MAX_KERNEL_COLUMNS) {
        k->names[k->ncols] = field;
        k->level[k->ncols] = !strncmp(field, KERNEL_LEVEL_PREFIX, strlen(KERNEL_LEVEL_PREFIX));
        k->ncols++;
    }
    return 0;
}

static int load_kernel(struct kernel_table *k, char *text, const char *path)
{
    char *cursor = text, *line = next_line(&cursor);
    if (!line || parse_kernel_header(k, line)) {
        util_error("%s: line 1: not a kernel.csv header; expected " KERNEL_T_MS " first", path);
        return -1;
    }
    size_t capacity = 0, lineno = 1;
    while ((line = next_line(&cursor))) {
        lineno++;
        if (k->nrows == capacity) {
            capacity = capacity ? capacity * 2 : 256;
            k->rows = xreallocarray(k->rows, capacity, sizeof(*k->rows));
        }
        long long *row = k->rows[k->nrows];
        char *p = line, *end;
        int col;
        for (col = 0; col <= k->ncols; col++) {
            row[col] = strtoll(p, &end, 10);
            if (end == p || (*end != ',' && *end != '\0'))
                break;
            p = *end ? end + 1 : end;
        }
        if (col <= k->ncols) {
            util_warn("%s: line %zu: malformed row skipped", path, lineno);
            continue;
        }
        k->nrows++;
    }
    if (*cursor)
        util_warn("%s: truncated last line ignored", path);
    return 0;
}

static int column_index(const char *header, const char *name)
{
    int index = 0;
    size_t len = strlen(name);
    for (const char *p = header;; index++) {
        if (!strncmp(p, name, len) && (p[len] == ',' || p[len] == '\0'))
            return index;
        p = strchr(p, ',');
        if (!p)
            return -1;
        p++;
    }
}

static bool field_value(const char *line, int index, long long *out)
{
    for (int i = 0; i < index && line; i++) {
        line = strchr(line, ',');
        if (line)
            line++;
    }
    if (!line)
        return false;
    char *end;
    *out = strtoll(line, &end, 10);
    return end != line;
}

static void emit_joined(FILE *out, const struct kernel_table *k, size_t *next_row, long long t_ms,
                        long long *levels, bool *have_levels)
{
    long long sums[MAX_KERNEL_COLUMNS] = {0};
    for (; *next_row < k->nrows && k->rows[*next_row][0] <= t_ms; (*next_row)++) {
        for (int c = 0; c < k->ncols; c++) {
            if (k->level[c])
                levels[c] = k->rows[*next_row][c + 1];
            else
                sums[c] += k->rows[*next_row][c + 1];
        }
        *have_levels = true;
    }
    for (int c = 0; c < k->ncols; c++) {
        if (k->level[c] && !*have_levels)
            fputc(',', out);
        else
            fprintf(out, ",%lld", k->level[c] ? levels[c] : sums[c]);
    }
}

static int join(FILE *out, char *samples, const struct kernel_table *k, const char *path)
{
    char *cursor = samples, *header = next_line(&cursor);
    int t_col = header ? column_index(header, SAMPLES_T_MS) : -1;
    if (t_col < 0) {
        util_error("%s: line 1: no " SAMPLES_T_MS " column", path);
        return -1;
    }
    fputs(header, out);
    for (int c = 0; c < k->ncols; c++)
        fprintf(out, ",%s", k->names[c]);
    fputc('\n', out);
    long long levels[MAX_KERNEL_COLUMNS] = {0};
    bool have_levels = false;
    size_t next_row = 0, lineno = 1;
    char *line;
    while ((line = next_line(&cursor))) {
        long long t_ms;
        lineno++;
        if (!field_value(line, t_col, &t_ms)) {
            util_warn("%s: line %zu: no t_ms; row kept without kernel columns", path, lineno);
            fprintf(out, "%s\n", line);
            continue;
        }
        fputs(line, out);
        emit_joined(out, k, &next_row, t_ms, levels, &have_levels);
        fputc('\n', out);
    }
    return 0;
}

int kernel_join_samples(const char *samples_path, const char *kernel_path)
{
    size_t samples_len, kernel_len, joined_len = 0;
    char *samples = util_read_file(samples_path, &samples_len);
    char *kernel = util_read_file(kernel_path, &kernel_len);
    char *joined = NULL;
    struct kernel_table k = {0};
    int rc = -1;
    if (!samples || !kernel) {
        util_error("cannot read %s: %s", samples ? kernel_path : samples_path, strerror(errno));
        goto out;
    }
    if (load_kernel(&k, kernel, kernel_path))
        goto out;
    FILE *out = open_memstream(&joined, &joined_len);
    if (!out)
        util_out_of_memory();
    rc = join(out, samples, &k, samples_path);
    if (fclose(out)) /* a memory stream fails only for want of memory */
        util_out_of_memory();
    if (rc == 0 && atomic_file_write(samples_path, joined, joined_len)) {
        char why[ATOMIC_FILE_ERROR_MAX];
        util_error("%s", atomic_file_error(why, sizeof(why), samples_path, errno));
        rc = -1;
    }
out:
    free(samples);
    free(kernel);
    free(joined);
    free(k.rows);
    return rc;
}
