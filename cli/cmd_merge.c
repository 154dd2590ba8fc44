/* allocscope merge DIR... -o DIR: joins bench directories written by separate runs of
 * one matrix (bench --cell K on several machines or jobs) into one bench directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/bench_results.h"
#include "cli/commands.h"
#include "common/atomic_file.h"
#include "common/json_file.h"
#include "common/json_text.h"
#include "common/util.h"

static const char merge_usage[] =
    "usage: allocscope merge DIR... -o OUT\n"
    "  Joins bench directories of the same matrix (e.g. one per 'allocscope bench --cell K')\n"
    "  into OUT: every cell directory, one results.csv in matrix order, bench.json.\n"
    "  A cell found in several inputs is taken from the one where it is ok, else the last.\n";

static int copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    struct atomic_file *out = atomic_file_open_mode(to, mode & 0777);
    if (!out) {
        int saved = errno;
        close(in);
        errno = saved;
        return -1;
    }
    char buf[65536];
    ssize_t n;
    errno = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (fwrite(buf, 1, (size_t)n, atomic_file_stream(out)) != (size_t)n)
            break;
    int saved = errno;
    close(in);
    if (n != 0) {
        atomic_file_abort(out);
        errno = saved;
        return -1;
    }
    return atomic_file_commit(out);
}

static int copy_tree(const char *from, const char *to)
{
    DIR *dir = opendir(from);
    if (!dir || util_mkdir_p(to)) {
        if (dir)
            closedir(dir);
        return -1;
    }
    int rc = 0;
    struct dirent *d;
    while (rc == 0 && (d = readdir(dir))) {
        if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
            continue;
        char *src = util_format("%s/%s", from, d->d_name);
        char *dst = util_format("%s/%s", to, d->d_name);
        struct stat st;
        if (lstat(src, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                rc = copy_tree(src, dst);
            else if (S_ISREG(st.st_mode) && !strstr(d->d_name, ".tmp"))
                rc = copy_file(src, dst, st.st_mode);
        }
        free(src);
        free(dst);
    }
    closedir(dir);
    return rc;
}

/* bench.json's "cells": the matrix order. */
static json_t *load_bench_json(const char *dir)
{
    char *path = util_format("%s/bench.json", dir);
    json_t *root = json_file_load(path, NULL);
    free(path);
    return root;
}

/* Rows of one input: results.csv, plus cell.json of cells it lacks. */
static int load_input(const char *dir, struct bench_results *rows)
{
    char err[512], *path = util_format("%s/results.csv", dir);
    bool none_yet = access(path, F_OK) && errno == ENOENT; /* no cell finished */
    int rc = none_yet ? 0 : bench_results_load(rows, path, err, sizeof(err));
    free(path);
    if (rc) {
        util_error("%s", err);
        return -1;
    }
    char *cells = util_format("%s/cells", dir);
    DIR *d = opendir(cells);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || bench_results_find(rows, e->d_name))
            continue;
        char *cell_json = util_format("%s/%s/cell.json", cells, e->d_name);
        struct bench_row row;
        if (access(cell_json, F_OK) == 0 &&
            bench_cell_json_read(cell_json, &row, err, sizeof(err)) == 0) {
            if (strcmp(row.fields[COL_STATUS], "failed:interrupted"))
                bench_results_put(rows, &row);
            bench_row_free(&row);
        }
        free(cell_json);
    }
    if (d)
        closedir(d);
    free(cells);
    return 0;
}

static bool same_matrix(json_t *a, json_t *b)
{
    return json_equal(json_object_get(a, "cells"), json_object_get(b, "cells"));
}

struct merge_state {
    struct bench_results merged;
    char **source; /* input directory of each merged row */
    json_t *bench;
};

static void take_rows(struct merge_state *m, const char *dir, const struct bench_results *rows)
{
    for (size_t i = 0; i < rows->n; i++) {
        const struct bench_row *row = &rows->rows[i];
        struct bench_row *old = bench_results_find(&m->merged, row->fields[COL_CELL]);
        if (old && !strcmp(old->fields[COL_STATUS], "ok") && strcmp(row->fields[COL_STATUS], "ok"))
            continue;
        if (old)
            util_warn("cell %s is in several inputs; taking the one in %s", row->fields[COL_CELL],
                      dir);
        bench_results_put(&m->merged, row);
        size_t at =
            (size_t)(bench_results_find(&m->merged, row->fields[COL_CELL]) - m->merged.rows);
        m->source = xreallocarray(m->source, m->merged.n, sizeof(char *));
        m->source[at] = (char *)dir;
    }
}

/* Returns the exit code: 0, 1 when a file could not be written, 2 when bench.json could not
 * be encoded. */
static int write_output(struct merge_state *m, const char *out, char **inputs, int n_inputs)
{
    for (size_t i = 0; i < m->merged.n; i++) {
        const char *cell = m->merged.rows[i].fields[COL_CELL];
        char *from = util_format("%s/cells/%s", m->source[i], cell);
        char *to = util_format("%s/cells/%s", out, cell);
        if (access(from, F_OK) == 0 && copy_tree(from, to)) {
            util_error("cannot copy %s to %s: %s", from, to, strerror(errno));
            free(from);
            free(to);
            return 1;
        }
        free(from);
        free(to);
    }
    /* Rows follow the matrix; bench.json says where they came from. */
    json_t *cells = json_object_get(m->bench, "cells");
    size_t n_order = json_array_size(cells);
    char **order = xcalloc(n_order + 1, sizeof(char *));
    for (size_t i = 0; i < n_order; i++)
        order[i] = (char *)json_string_value(json_array_get(cells, i));
    bench_results_sort(&m->merged, order, n_order);
    free(order);
    char *results = util_format("%s/results.csv", out);
    char why[ATOMIC_FILE_ERROR_MAX];
    int rc = bench_results_write(&m->merged, results) ? 1 : 0;
    if (rc)
        util_error("%s", atomic_file_error(why, sizeof(why), results, errno));
    free(results);
    json_t *from = json_array();
    for (int i = 0; i < n_inputs; i++)
        json_array_append_new(from, json_text(inputs[i]));
    json_object_set_new(m->bench, "merged_from", from);
    char *path = util_format("%s/bench.json", out);
    char *text = json_text_dump(m->bench, JSON_INDENT(2) | JSON_PRESERVE_ORDER, path);
    if (!text) {
        rc = 2;
    } else if (!rc && atomic_file_write(path, text, strlen(text))) {
        util_error("%s", atomic_file_error(why, sizeof(why), path, errno));
        rc = 1;
    }
    free(path);
    free(text);
    return rc;
}

static int check_output(const char *out, char **inputs, int n_inputs)
{
    char *bench_json = util_format("%s/bench.json", out);
    bool exists = access(bench_json, F_OK) == 0;
    free(bench_json);
    if (exists) {
        util_error("%s already holds a bench; merge into a new directory", out);
        return -1;
    }
    char *cells = util_format("%s/cells", out);
    int rc = util_mkdir_p(cells);
    free(cells);
    if (rc) {
        util_error("cannot create %s: %s", out, strerror(errno));
        return -1;
    }
    char *real_out = realpath(out, NULL);
    if (!real_out && errno == ENOMEM)
        util_out_of_memory();
    for (int i = 0; i < n_inputs; i++) {
        char *real_in = realpath(inputs[i], NULL);
        if (!real_in && errno == ENOMEM)
            util_out_of_memory();
        bool same = real_in && real_out && !strcmp(real_in, real_out);
        free(real_in);
        if (same) {
            util_error("the output %s is also an input; merge into a new directory", out);
            free(real_out);
            return -1;
        }
    }
    free(real_out);
    return 0;
}

static int parse_merge_options(int argc, char **argv, const char **out)
{
    static const struct option options[] = {{"out", required_argument, NULL, 'o'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int c;
    *out = NULL;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        if (c == 'o') {
            *out = optarg;
        } else if (c == 'h') {
            fputs(merge_usage, stdout);
            return 0;
        } else {
            util_error("unknown option '%s'; see 'allocscope merge --help'", argv[optind - 1]);
            return 2;
        }
    }
    if (!*out || optind >= argc) {
        util_error("merge wants input directories and -o OUT: allocscope merge DIR... -o OUT");
        return 2;
    }
    return -1;
}

int cmd_merge(int argc, char **argv)
{
    const char *out;
    int rc = parse_merge_options(argc, argv, &out);
    if (rc >= 0)
        return rc;
    char **inputs = argv + optind;
    int n_inputs = argc - optind;
    struct merge_state m = {0};
    struct bench_results *rows = xcalloc((size_t)n_inputs, sizeof(*rows));
    rc = 0;
    for (int i = 0; i < n_inputs && !rc; i++) {
        json_t *bench = load_bench_json(inputs[i]);
        if (!bench) {
            util_error("%s is not a bench directory (no readable bench.json); give the "
                       "directories 'allocscope bench -o' wrote",
                       inputs[i]);
            rc = 2;
        } else if (!m.bench) {
            m.bench = bench;
        } else {
            if (!same_matrix(m.bench, bench))
                util_warn("%s ran another matrix than %s; merging its cells anyway", inputs[i],
                          inputs[0]);
            json_decref(bench);
        }
        if (!rc && load_input(inputs[i], &rows[i]))
            rc = 2;
    }
    if (!rc && check_output(out, inputs, n_inputs))
        rc = 2;
    for (int i = 0; i < n_inputs && !rc; i++)
        take_rows(&m, inputs[i], &rows[i]);
    if (!rc)
        rc = write_output(&m, out, inputs, n_inputs);
    if (!rc)
        fprintf(stderr, "allocscope: merged %zu cells from %d directories into %s\n", m.merged.n,
                n_inputs, out);
    for (int i = 0; i < n_inputs; i++)
        bench_results_free(&rows[i]);
    free(rows);
    bench_results_free(&m.merged);
    free(m.source);
    json_decref(m.bench);
    return rc;
}
