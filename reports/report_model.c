#include "reports/report_model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/columns.h"
#include "common/csv.h"
#include "common/json_file.h"
#include "common/results.h"
#include "common/rundata.h"
#include "common/stats.h"
#include "common/util.h"

/* The results.csv column of each metric. */
static const enum bench_column metric_columns[METRIC_COUNT] = {
    [METRIC_IDLE] = COL_IDLE_RSS,
    [METRIC_PEAK] = COL_PEAK_RSS,
    [METRIC_AFTER_1S] = COL_AFTER_1S_RSS,
    [METRIC_AFTER] = COL_AFTER_RSS,
    [METRIC_RECLAIMABLE] = COL_RECLAIMABLE,
    [METRIC_PEAK_LIVE] = COL_PEAK_LIVE,
    [METRIC_AFTER_LIVE] = COL_AFTER_LIVE,
    [METRIC_THROUGHPUT] = COL_RPS,
    [METRIC_P50] = COL_P50,
    [METRIC_P99] = COL_P99,
    [METRIC_CPU] = COL_CPU,
    [METRIC_DURATION] = COL_DURATION,
};

/* Kernel event columns (per-interval byte counts) that give memory back to the OS. */
static const char *const returned_columns[] = {KERNEL_MUNMAP_BYTES, KERNEL_MADV_DONTNEED_BYTES,
                                               KERNEL_MADV_FREE_BYTES, KERNEL_BRK_SHRINK_BYTES,
                                               KERNEL_MREMAP_SHRINK_BYTES};

const char *report_metric_name(enum report_metric m)
{
    return m < METRIC_COUNT ? bench_column_names[metric_columns[m]] : "?";
}

const char *report_metric_title(enum report_metric m)
{
    static const char *const titles[METRIC_COUNT] = {
        [METRIC_IDLE] = "idle RSS",
        [METRIC_PEAK] = "peak RSS",
        [METRIC_AFTER_1S] = "RSS 1 s after load",
        [METRIC_AFTER] = "after-load RSS",
        [METRIC_RECLAIMABLE] = "reclaimable",
        [METRIC_PEAK_LIVE] = "peak live heap",
        [METRIC_AFTER_LIVE] = "live heap after load",
        [METRIC_THROUGHPUT] = "throughput",
        [METRIC_P50] = "p50 latency",
        [METRIC_P99] = "p99 latency",
        [METRIC_CPU] = "CPU",
        [METRIC_DURATION] = "duration",
    };
    return m < METRIC_COUNT ? titles[m] : "?";
}

static void add_problem(struct report_input *in, bool print, const char *fmt, va_list ap)
{
    char *msg = util_vformat(fmt, ap);
    if (print)
        util_warn("%s", msg);
    in->problems = xreallocarray(in->problems, in->nproblems + 1, sizeof(char *));
    in->problems[in->nproblems++] = msg;
}

void report_problem(struct report_input *in, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_problem(in, true, fmt, ap);
    va_end(ap);
}

/* For the page only: the CSV reader has said it on stderr already. */
static void report_problem_quiet(struct report_input *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void report_problem_quiet(struct report_input *in, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_problem(in, false, fmt, ap);
    va_end(ap);
}

static bool path_exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* A recorder killed mid-write leaves a last line without its newline. */
static bool file_truncated(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char last = '\n';
    off_t size = lseek(fd, 0, SEEK_END);
    if (size > 0 && pread(fd, &last, 1, size - 1) != 1)
        last = '\n';
    close(fd);
    return last != '\n';
}

static int load_csv_noted(struct report_input *in, struct csv *csv, const char *path)
{
    char err[512];
    if (csv_load(csv, path, err, sizeof(err))) {
        report_problem(in, "%s; the report is made without it", err);
        return -1;
    }
    if (file_truncated(path))
        report_problem_quiet(in, "%s is truncated (its last line is incomplete and was ignored)",
                             path);
    return 0;
}

static char *dup_or(const char *s, const char *fallback)
{
    return xstrdup(s && *s ? s : fallback);
}

static void init_cell(struct report_cell *cell, const char *dir, const char *name)
{
    memset(cell, 0, sizeof(*cell));
    cell->dir = xstrdup(dir);
    cell->name = xstrdup(name);
    for (int m = 0; m < METRIC_COUNT; m++)
        cell->m[m] = NAN;
}

static struct report_cell *new_cell(struct report_input *in, const char *dir, const char *name)
{
    in->cells = xreallocarray(in->cells, in->ncells + 1, sizeof(*in->cells));
    struct report_cell *cell = &in->cells[in->ncells++];
    init_cell(cell, dir, name);
    return cell;
}

static double *column_values(const struct csv *csv, const char *name)
{
    int col = csv_column(csv, name);
    if (col < 0)
        return NULL;
    double *v = xcalloc(csv->nrows, sizeof(double));
    for (size_t r = 0; r < csv->nrows; r++) {
        v[r] = csv_number(csv, r, col);
        if (v[r] < 0) /* -1: the allocator does not say */
            v[r] = NAN;
    }
    return v;
}

static double *nan_values(size_t n)
{
    double *v = xcalloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++)
        v[i] = NAN;
    return v;
}

static bool all_nan(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i]))
            return false;
    return true;
}

/* Free memory the allocator holds: its own heap_free, else held minus what the program
 * uses (mimalloc reports no in-use count). */
static double *heap_free_values(const struct csv *csv, const double *live)
{
    double *free_b = column_values(csv, SAMPLES_HEAP_FREE_BYTES);
    double *held = column_values(csv, SAMPLES_HEAP_HELD_BYTES);
    if (!free_b)
        free_b = nan_values(csv->nrows);
    for (size_t r = 0; held && live && r < csv->nrows; r++)
        if (isnan(free_b[r]) && !isnan(held[r]) && !isnan(live[r]))
            free_b[r] = held[r] > live[r] ? held[r] - live[r] : 0;
    free(held);
    return free_b;
}

static double *returned_values(const struct csv *csv, bool *found)
{
    int cols[sizeof(returned_columns) / sizeof(returned_columns[0])];
    *found = false;
    for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++) {
        cols[k] = csv_column(csv, returned_columns[k]);
        *found |= cols[k] >= 0;
    }
    if (!*found)
        return nan_values(csv->nrows);
    double *v = xcalloc(csv->nrows, sizeof(double));
    double total = 0;
    for (size_t r = 0; r < csv->nrows; r++) {
        for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++) {
            double x = cols[k] >= 0 ? csv_number(csv, r, cols[k]) : NAN;
            if (!isnan(x) && x > 0)
                total += x;
        }
        v[r] = total;
    }
    return v;
}

static void load_series(struct report_input *in, struct report_cell *cell)
{
    char path[PATH_MAX];
    struct csv csv;
    snprintf(path, sizeof(path), "%s/samples.csv", cell->dir);
    if (!path_exists(cell->dir, "samples.csv")) {
        report_problem(in, "%s is missing; no time series for %s", path, cell->name);
        return;
    }
    if (load_csv_noted(in, &csv, path))
        return;
    struct report_series *s = &cell->series;
    int c_t = csv_column(&csv, SAMPLES_T_MS);
    if (c_t < 0 || csv.nrows == 0) {
        report_problem(in, "%s has %s; no time series for %s", path,
                       c_t < 0 ? "no " SAMPLES_T_MS " column" : "no rows", cell->name);
        csv_free(&csv);
        return;
    }
    s->n = csv.nrows;
    s->t_s = xcalloc(s->n, sizeof(double));
    for (size_t r = 0; r < s->n; r++)
        s->t_s[r] = csv_number(&csv, r, c_t) / 1000.0;
    s->rss = column_values(&csv, SAMPLES_TREE_RSS_BYTES);
    if (!s->rss || all_nan(s->rss, s->n)) {
        free(s->rss);
        s->rss = column_values(&csv, SAMPLES_RSS_BYTES);
    }
    s->live = column_values(&csv, SAMPLES_LIVE_BYTES);
    s->lazyfree = column_values(&csv, SAMPLES_TREE_LAZYFREE_BYTES);
    if (!s->lazyfree || all_nan(s->lazyfree, s->n)) {
        free(s->lazyfree);
        s->lazyfree = column_values(&csv, SAMPLES_LAZYFREE_BYTES);
    }
    s->heap_free = heap_free_values(&csv, s->live);
    s->returned = returned_values(&csv, &cell->has_kernel);
    if (!s->rss)
        s->rss = nan_values(s->n);
    if (!s->live)
        s->live = nan_values(s->n);
    if (!s->lazyfree)
        s->lazyfree = nan_values(s->n);
    cell->heap_known = !all_nan(s->heap_free, s->n);
    cell->has_series = !all_nan(s->rss, s->n);
    csv_free(&csv);
}

static void load_phases(struct report_input *in, struct report_cell *cell)
{
    char path[PATH_MAX];
    struct csv csv;
    snprintf(path, sizeof(path), "%s/phases.csv", cell->dir);
    if (!path_exists(cell->dir, "phases.csv")) {
        report_problem(in, "%s is missing; phases are not shaded for %s", path, cell->name);
        return;
    }
    if (load_csv_noted(in, &csv, path))
        return;
    int c_p = csv_column(&csv, PHASES_PHASE), c_s = csv_column(&csv, PHASES_START_MS),
        c_e = csv_column(&csv, PHASES_END_MS);
    for (size_t r = 0; r < csv.nrows && cell->nphases < 4; r++) {
        struct report_phase *p = &cell->phases[cell->nphases];
        snprintf(p->name, sizeof(p->name), "%s", csv_cell(&csv, r, c_p));
        p->start_s = csv_number(&csv, r, c_s) / 1000.0;
        p->end_s = csv_number(&csv, r, c_e) / 1000.0;
        if (p->name[0] && !isnan(p->start_s) && !isnan(p->end_s))
            cell->nphases++;
    }
    csv_free(&csv);
}

static char *command_text(json_t *cmd)
{
    size_t len = 0, i;
    json_t *arg;
    json_array_foreach(cmd, i, arg) len += strlen(json_string_value(arg) ?: "") + 1;
    char *out = xcalloc(len + 1, 1);
    json_array_foreach(cmd, i, arg)
    {
        if (i)
            strcat(out, " ");
        strcat(out, json_string_value(arg) ?: "");
    }
    return out;
}

static char *settings_text(json_t *settings)
{
    const char *key;
    json_t *value;
    size_t len = 1;
    json_object_foreach(settings, key, value) len +=
        strlen(key) + strlen(json_string_value(value) ?: "") + 3;
    char *out = xcalloc(len, 1);
    json_object_foreach(settings, key, value)
    {
        if (*out)
            strcat(out, ", ");
        strcat(out, key);
        strcat(out, "=");
        strcat(out, json_string_value(value) ?: "");
    }
    return out;
}

static double json_number_or_nan(json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void load_run_json(struct report_input *in, struct report_cell *cell)
{
    char path[PATH_MAX];
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/run.json", cell->dir);
    if (!path_exists(cell->dir, "run.json")) {
        report_problem(in, "%s is missing; command and allocator of %s unknown", path, cell->name);
        return;
    }
    json_t *root = json_file_load(path, &jerr);
    if (!root) {
        report_problem(in, "%s:%d: %s; command and allocator of %s unknown", path, jerr.line,
                       jerr.text, cell->name);
        return;
    }
    json_t *alloc = json_object_get(root, "allocator");
    if (!cell->allocator)
        cell->allocator = dup_or(json_string_value(json_object_get(alloc, "name")), "glibc");
    if (!cell->config)
        cell->config = dup_or(json_string_value(json_object_get(alloc, "config")), "default");
    if (!cell->workload)
        cell->workload = dup_or(json_string_value(json_object_get(root, "name")), cell->name);
    cell->allocator_version = dup_or(json_string_value(json_object_get(alloc, "version")), "");
    cell->settings = settings_text(json_object_get(alloc, "settings"));
    cell->command = command_text(json_object_get(root, "command"));
    cell->started = dup_or(json_string_value(json_object_get(root, "started")), "");
    json_t *host = json_object_get(root, "host");
    double mem = json_number_or_nan(json_object_get(host, "mem_bytes"));
    cell->host = util_format("%s, %s, kernel %s, %d CPUs, %.1f GiB",
                             json_string_value(json_object_get(host, "hostname")) ?: "?",
                             json_string_value(json_object_get(host, "machine")) ?: "?",
                             json_string_value(json_object_get(host, "kernel")) ?: "?",
                             (int)json_integer_value(json_object_get(host, "cpus")),
                             isnan(mem) ? 0 : mem / 1073741824.0);
    json_t *rusage = json_object_get(root, "rusage");
    if (isnan(cell->m[METRIC_CPU]))
        cell->m[METRIC_CPU] = json_number_or_nan(json_object_get(rusage, "user_s")) +
                              json_number_or_nan(json_object_get(rusage, "sys_s"));
    if (isnan(cell->m[METRIC_DURATION]))
        cell->m[METRIC_DURATION] = json_number_or_nan(json_object_get(root, "duration_s"));
    if (!cell->status) {
        json_t *exit = json_object_get(root, "exit");
        json_t *sig = json_object_get(exit, "signal");
        long long status = json_integer_value(json_object_get(exit, "status"));
        cell->status = json_is_integer(sig)
                           ? util_format("crashed:signal %lld", json_integer_value(sig))
                       : status ? util_format("exit:%lld", status)
                                : xstrdup("ok");
    }
    json_decref(root);
}

static void load_reclaim(struct report_cell *cell)
{
    struct run_data run;
    char err[256];
    if (rundata_load(&run, cell->dir, 0, err, sizeof(err)) == 0) {
        const char *before = rundata_fact(&run, "reclaim_before_rss");
        const char *after = rundata_fact(&run, "reclaim_after_rss");
        if (before && after && isnan(cell->m[METRIC_RECLAIMABLE])) {
            double d = strtod(before, NULL) - strtod(after, NULL);
            cell->m[METRIC_RECLAIMABLE] = d > 0 ? d : 0;
        }
        if (!cell->allocator_version || !*cell->allocator_version) {
            free(cell->allocator_version);
            cell->allocator_version = dup_or(rundata_fact(&run, "allocator_version"), "");
        }
    }
    rundata_free(&run);
}

static void load_cell_files(struct report_input *in, struct report_cell *cell, bool bench)
{
    if (!path_exists(cell->dir, ".")) {
        report_problem(in, "%s: no such directory; the cell is listed without its data", cell->dir);
    } else {
        load_run_json(in, cell);
        /* an unsupported cell did not run, or ran under the program's own allocator */
        if (!cell->status || strcmp(cell->status, "unsupported"))
            load_series(in, cell);
        if (bench)
            load_phases(in, cell);
        load_reclaim(cell);
    }
    if (!cell->workload)
        cell->workload = xstrdup(cell->name);
    if (!cell->variant)
        cell->variant = xstrdup("none");
    if (!cell->allocator)
        cell->allocator = xstrdup("unknown");
    if (!cell->config)
        cell->config = xstrdup("default");
    if (!cell->status)
        cell->status = xstrdup(cell->has_series ? "ok" : "failed:no data");
    if (!cell->kind)
        cell->kind = xstrdup("server");
    if (!cell->note)
        cell->note = xstrdup("");
    /* an unsupported cell's samples (if any) are the program's own allocator's */
    if (strcmp(cell->status, "unsupported"))
        report_cell_derive_metrics(cell);
}

/* The sample at or before T (the latest row not after it); -1 when none. */
static long row_at(const struct report_series *s, double t)
{
    long found = -1;
    for (size_t i = 0; i < s->n && s->t_s[i] <= t + 1e-9; i++)
        if (!isnan(s->rss[i]))
            found = (long)i;
    return found;
}

static const struct report_phase *phase_named(const struct report_cell *cell, const char *name)
{
    for (size_t i = 0; i < cell->nphases; i++)
        if (!strcmp(cell->phases[i].name, name))
            return &cell->phases[i];
    return NULL;
}

static void set_if_nan(double *slot, double v)
{
    if (isnan(*slot))
        *slot = v;
}

void report_cell_derive_metrics(struct report_cell *cell)
{
    const struct report_series *s = &cell->series;
    if (!cell->has_series)
        return;
    double peak = NAN, peak_live = NAN;
    for (size_t i = 0; i < s->n; i++) {
        if (!isnan(s->rss[i]) && (isnan(peak) || s->rss[i] > peak))
            peak = s->rss[i];
        if (!isnan(s->live[i]) && (isnan(peak_live) || s->live[i] > peak_live))
            peak_live = s->live[i];
    }
    set_if_nan(&cell->m[METRIC_PEAK], peak);
    set_if_nan(&cell->m[METRIC_PEAK_LIVE], peak_live);
    const struct report_phase *idle = phase_named(cell, "idle");
    const struct report_phase *load = phase_named(cell, "load");
    const struct report_phase *cool = phase_named(cell, "cooldown");
    long r;
    if (idle && (r = row_at(s, idle->end_s)) >= 0)
        set_if_nan(&cell->m[METRIC_IDLE], s->rss[r]);
    if (load && (r = row_at(s, load->end_s + 1.0)) >= 0)
        set_if_nan(&cell->m[METRIC_AFTER_1S], s->rss[r]);
    /* Without phases (a plain run) "after" is the last state recorded: at exit. */
    r = cool ? row_at(s, cool->end_s) : (long)s->n - 1;
    while (r >= 0 && isnan(s->rss[r]))
        r--;
    if (r >= 0) {
        set_if_nan(&cell->m[METRIC_AFTER], s->rss[r]);
        set_if_nan(&cell->m[METRIC_AFTER_LIVE], s->live[r]);
    }
}

/* Coordinates, status and metrics of a results.csv row or a cell.json; what the cell has
 * already keeps its value. */
static void apply_row(struct report_cell *cell, const struct bench_row *row)
{
    static const enum bench_column columns[] = {COL_WORKLOAD, COL_VARIANT, COL_ALLOCATOR,
                                                COL_CONFIG,   COL_STATUS,  COL_ERROR,
                                                COL_KIND,     COL_NOTE};
    char **slots[] = {&cell->workload, &cell->variant, &cell->allocator, &cell->config,
                      &cell->status,   &cell->error,   &cell->kind,      &cell->note};
    for (size_t k = 0; k < sizeof(columns) / sizeof(columns[0]); k++)
        if (!*slots[k] && row->fields[columns[k]][0])
            *slots[k] = xstrdup(row->fields[columns[k]]);
    double repeat = bench_row_number(row, COL_REPEAT);
    if (!isnan(repeat))
        cell->repeat = (int)repeat;
    for (int m = 0; m < METRIC_COUNT; m++)
        if (isnan(cell->m[m]))
            cell->m[m] = bench_row_number(row, metric_columns[m]);
}

/* A cell that results.csv does not list (still running, or results.csv lost): its
 * coordinates come from cell.json. */
static void apply_cell_json(struct report_input *in, struct report_cell *cell)
{
    char path[PATH_MAX], err[768];
    snprintf(path, sizeof(path), "%s/cell.json", cell->dir);
    if (!path_exists(cell->dir, "cell.json"))
        return;
    struct bench_row row;
    if (bench_cell_json_read(path, &row, err, sizeof(err))) {
        report_problem(in, "%s; the cell is shown from its other files", err);
        return;
    }
    apply_row(cell, &row);
    bench_row_free(&row);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool cell_listed(const struct report_input *in, size_t from, const char *name)
{
    for (size_t i = from; i < in->ncells; i++)
        if (!strcmp(in->cells[i].name, name))
            return true;
    return false;
}

static void load_bench_json(struct report_input *in, const char *dir)
{
    char path[PATH_MAX];
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/bench.json", dir);
    if (!path_exists(dir, "bench.json")) {
        report_problem(in, "%s is missing; the matrix is shown from the cells only", path);
        return;
    }
    json_t *root = json_file_load(path, &jerr);
    if (!root) {
        report_problem(in, "%s:%d: %s; the matrix is shown from the cells only", path, jerr.line,
                       jerr.text);
        return;
    }
    free(in->bench_json);
    in->bench_json = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!in->bench_json) /* not memory (xmalloc); said, not taken for a lack of memory */
        report_problem(in,
                       "cannot encode %s as JSON again: the encoder refused it; the page "
                       "goes without it",
                       path);
    const char *profile = json_string_value(json_object_get(root, "profile"));
    if (profile && !in->profile)
        in->profile = xstrdup(profile);
    json_decref(root);
}

static void load_bench(struct report_input *in, const char *dir)
{
    char path[PATH_MAX];
    size_t first = in->ncells;
    in->is_bench = true;
    if (!in->bench_dir)
        in->bench_dir = xstrdup(dir);
    load_bench_json(in, dir);
    snprintf(path, sizeof(path), "%s/results.csv", dir);
    struct bench_results res;
    char err[768];
    if (!path_exists(dir, "results.csv")) {
        report_problem(in, "%s is missing; metrics are computed from each cell's samples", path);
    } else if (bench_results_load(&res, path, err, sizeof(err))) {
        report_problem(in, "%s; the cells are shown from their own files", err);
    } else {
        if (file_truncated(path))
            report_problem_quiet(
                in, "%s is truncated (its last line is incomplete and was ignored)", path);
        for (size_t r = 0; r < res.n; r++) {
            const char *name = res.rows[r].fields[COL_CELL];
            char *cdir = util_format("%s/cells/%s", dir, name);
            struct report_cell *cell = new_cell(in, cdir, name);
            free(cdir);
            cell->repeat = 1;
            apply_row(cell, &res.rows[r]);
        }
        bench_results_free(&res);
    }
    for (size_t i = first; i < in->ncells; i++)
        load_cell_files(in, &in->cells[i], true);
    /* Cells on disk that results.csv does not list. */
    snprintf(path, sizeof(path), "%s/cells", dir);
    DIR *d = opendir(path);
    if (!d)
        return;
    char **names = NULL;
    size_t nnames = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || cell_listed(in, first, e->d_name))
            continue;
        names = xreallocarray(names, nnames + 1, sizeof(char *));
        names[nnames++] = xstrdup(e->d_name);
    }
    closedir(d);
    util_sort(names, nnames, sizeof(char *), compare_names);
    size_t listed = in->ncells;
    for (size_t i = 0; i < nnames; i++) {
        char *cdir = util_format("%s/%s", path, names[i]);
        struct report_cell *cell = new_cell(in, cdir, names[i]);
        cell->repeat = 1;
        apply_cell_json(in, cell);
        load_cell_files(in, cell, true);
        free(cdir);
        free(names[i]);
    }
    free(names);
    if (in->ncells > listed && listed > first)
        report_problem(in,
                       "%s: %zu cell(s) are not in results.csv (unfinished?); shown from "
                       "their own files",
                       dir, in->ncells - listed);
}

static const char *base_name(const char *dir)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    const char *p = dir + len;
    while (p > dir && p[-1] != '/')
        p--;
    return p;
}

static void load_plain_run(struct report_input *in, const char *dir)
{
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(base_name(dir), "/"), base_name(dir));
    struct report_cell *cell = new_cell(in, dir, name);
    cell->repeat = 1;
    load_cell_files(in, cell, false);
}

int report_load(struct report_input *in, char **dirs, size_t ndirs, char *err, size_t errlen)
{
    memset(in, 0, sizeof(*in));
    for (size_t i = 0; i < ndirs; i++) {
        struct stat st;
        if (stat(dirs[i], &st) || !S_ISDIR(st.st_mode))
            report_problem(in, "%s: not a directory (%s)", dirs[i],
                           errno ? strerror(errno) : "not a directory");
        else if (path_exists(dirs[i], "bench.json") || path_exists(dirs[i], "cells"))
            load_bench(in, dirs[i]);
        else if (path_exists(dirs[i], "samples.csv") || path_exists(dirs[i], "run.json") ||
                 path_exists(dirs[i], "shim.txt"))
            load_plain_run(in, dirs[i]);
        else
            report_problem(in,
                           "%s is neither a run directory (no run.json, samples.csv) nor a "
                           "bench directory (no bench.json, cells/)",
                           dirs[i]);
    }
    if (in->ncells == 0) {
        snprintf(err, errlen,
                 "nothing to report: no run or bench cell found in the %zu "
                 "director%s given; pass allocscope run or bench output",
                 ndirs, ndirs == 1 ? "y" : "ies");
        return -1;
    }
    report_group_cells(in);
    return 0;
}

/* Over every repeat that succeeded (a configuration may have any number of them). */
static double median_metric(const struct report_input *in, const struct report_config *cfg, int m)
{
    double *v = xcalloc(cfg->ncells, sizeof(double));
    size_t n = 0;
    for (size_t i = 0; i < cfg->ncells; i++) {
        const struct report_cell *c = &in->cells[cfg->cells[i]];
        if (!strcmp(c->status, "ok"))
            v[n++] = c->m[m];
    }
    double median = stats_median(v, n);
    free(v);
    return median;
}

static size_t find_group(struct report_input *in, const struct report_cell *c)
{
    for (size_t g = 0; g < in->ngroups; g++)
        if (!strcmp(in->groups[g].workload, c->workload) &&
            !strcmp(in->groups[g].variant, c->variant))
            return g;
    in->groups = xreallocarray(in->groups, in->ngroups + 1, sizeof(*in->groups));
    struct report_group *grp = &in->groups[in->ngroups];
    memset(grp, 0, sizeof(*grp));
    grp->workload = xstrdup(c->workload);
    grp->variant = xstrdup(c->variant);
    grp->label = strcmp(c->variant, "none") ? util_format("%s (%s)", c->workload, c->variant)
                                            : xstrdup(c->workload);
    return in->ngroups++;
}

static struct report_config *find_config(struct report_group *grp, const char *label)
{
    for (size_t i = 0; i < grp->nconfigs; i++)
        if (!strcmp(grp->configs[i].label, label))
            return &grp->configs[i];
    grp->configs = xreallocarray(grp->configs, grp->nconfigs + 1, sizeof(*grp->configs));
    struct report_config *cfg = &grp->configs[grp->nconfigs++];
    memset(cfg, 0, sizeof(*cfg));
    cfg->label = xstrdup(label);
    cfg->first_ok = -1;
    return cfg;
}

/* A group whose measured cells all ran to their end (kind batch). */
static void mark_batch_groups(struct report_input *in)
{
    for (size_t g = 0; g < in->ngroups; g++) {
        size_t batch = 0, server = 0;
        for (size_t i = 0; i < in->ncells; i++) {
            const struct report_cell *c = &in->cells[i];
            if (c->group != g || !strcmp(c->status, "unsupported"))
                continue;
            bool is_batch = c->kind && !strcmp(c->kind, "batch");
            batch += is_batch;
            server += !is_batch;
        }
        in->groups[g].batch = batch > 0 && server == 0;
    }
}

void report_group_cells(struct report_input *in)
{
    for (size_t i = 0; i < in->ncells; i++) {
        struct report_cell *c = &in->cells[i];
        c->group = find_group(in, c);
        char *label = util_format("%s:%s", c->allocator, c->config);
        struct report_config *cfg = find_config(&in->groups[c->group], label);
        free(label);
        cfg->cells = xreallocarray(cfg->cells, cfg->ncells + 1, sizeof(size_t));
        cfg->cells[cfg->ncells++] = i;
        if (cfg->first_ok < 0 && !strcmp(c->status, "ok") && c->has_series)
            cfg->first_ok = (long)i;
    }
    for (size_t g = 0; g < in->ngroups; g++)
        for (size_t k = 0; k < in->groups[g].nconfigs; k++)
            for (int m = 0; m < METRIC_COUNT; m++)
                in->groups[g].configs[k].m[m] = median_metric(in, &in->groups[g].configs[k], m);
    mark_batch_groups(in);
}

enum report_metric report_group_metric(const struct report_group *grp, enum report_metric chosen)
{
    return grp->batch ? METRIC_PEAK : chosen;
}

static void free_cell(struct report_cell *c)
{
    char *strings[] = {c->dir,      c->name,   c->workload, c->variant, c->allocator,
                       c->config,   c->status, c->error,    c->command, c->allocator_version,
                       c->settings, c->host,   c->started,  c->kind,    c->note};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        free(strings[i]);
    free(c->series.t_s);
    free(c->series.rss);
    free(c->series.live);
    free(c->series.heap_free);
    free(c->series.lazyfree);
    free(c->series.returned);
}

void report_free(struct report_input *in)
{
    for (size_t i = 0; i < in->ncells; i++)
        free_cell(&in->cells[i]);
    free(in->cells);
    for (size_t g = 0; g < in->ngroups; g++) {
        for (size_t k = 0; k < in->groups[g].nconfigs; k++) {
            free(in->groups[g].configs[k].label);
            free(in->groups[g].configs[k].cells);
        }
        free(in->groups[g].configs);
        free(in->groups[g].workload);
        free(in->groups[g].variant);
        free(in->groups[g].label);
    }
    free(in->groups);
    for (size_t i = 0; i < in->nproblems; i++)
        free(in->problems[i]);
    free(in->problems);
    free(in->bench_dir);
    free(in->bench_json);
    free(in->profile);
    memset(in, 0, sizeof(*in));
}
