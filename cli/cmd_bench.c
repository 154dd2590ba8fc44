/* allocscope bench [BENCH_FILE] [OPTIONS]: runs a matrix of targets x allocator
 * configurations x repeats, each cell through idle, load and cooldown phases, and writes a
 * bench directory (docs/FORMAT.md, docs/BENCH.md). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "harness/bench_cell.h"
#include "harness/bench_progress.h"
#include "harness/bench_results.h"
#include "harness/bench_spec.h"
#include "cli/commands.h"
#include "common/format.h"
#include "common/json_text.h"
#include "allocators/registry.h"
#include "harness/runjson.h"
#include "common/atomic_file.h"
#include "common/util.h"

static const char bench_usage[] =
    "usage: allocscope bench [BENCH_FILE] [OPTIONS]\n"
    "  Runs targets x allocator configurations x repeats; each cell goes through idle, load\n"
    "  and cooldown phases and a reclaim request. Without a bench file or --target, runs the\n"
    "  reference workloads (workloads/*/scenario.ini). docs/BENCH.md has the details.\n"
    "  --profile quick|standard  phase lengths and repeats (default quick, or the file's)\n"
    "  -a, --allocator NAME[:CONFIG]|main\n"
    "                     a configuration to run (repeat); main: every main configuration\n"
    "                     of the installed allocators (the default)\n"
    "  --allocators FILE  extra allocator configurations (docs/ALLOCATORS.md)\n"
    "  --target CMD       a program of your own (split into words, no shell)\n"
    "  --load CMD         its load, run with /bin/sh -c during the load phase; placeholders\n"
    "                     {pid} {port} {duration} {json} {dir}\n"
    "  --ready SPEC       when the target is ready: delay:MS, port (its {port}), port:N\n"
    "  --name NAME        the target's name in the results (default: the program's)\n"
    "  --load-format NAME how to read the load's throughput and latency: auto (default:\n"
    "                     recognized from its output), wrk, h2load, ab, redis-benchmark,\n"
    "                     memtier, k6, loadgen\n"
    "  --throughput-regex RE, --p50-regex RE, --p99-regex RE\n"
    "                     read them from load.log with a regular expression instead\n"
    "  --batch            the target ends by itself: measured from its start to its exit\n"
    "  --timeout S        a batch target's time limit (default 600)\n"
    "  --workload NAME    run only this reference workload (repeat)\n"
    "  --repeats N  --idle S  --load-time S  --cooldown S  --interval MS\n"
    "                     override the profile (and the file)\n"
    "  --sample BYTES|all|none  the shim's stack sampling (default: the shim's)\n"
    "  --kernel           also record kernel memory events (allocscope-kevents, eBPF; root)\n"
    "                     into each cell's kernel.csv, joined into samples.csv\n"
    "  -o, --out DIR      the bench directory (default allocscope-bench/<time>)\n"
    "  --resume           go on with DIR: cells already finished are kept and skipped\n"
    "  --retry-failed     with --resume, run failed cells again\n"
    "  --list-cells       print the matrix, one cell name a line (line K is cell K)\n"
    "  --cell K|NAME      run only cell K (1-based) or the cell of that name\n"
    "  --quiet            no progress, only failures and the summary\n"
    "Exit status: 0 every cell ok (or unsupported: the program links its own allocator),\n"
    "1 some cell failed, 2 bad usage, 130 interrupted.\n";

#define QUICK_BUDGET_S 285.0 /* 5 minutes, less the bench's own start and end */
#define CELL_OVERHEAD_S 0.8  /* start, reclaim answer, teardown: measured 0.3-0.6 s */

struct bench_options {
    const char *file;
    const char *profile;
    const char *registry_file;
    const char *target, *load, *ready, *name;
    /* the target's run keys (bench_target_set_run_key): load_format, ..., timeout_s */
    const char *run_keys[6];
    char **workloads;
    size_t n_workloads;
    char **allocators;
    size_t n_allocators;
    const char *repeats, *idle, *load_time, *cooldown, *interval;
    const char *sample;
    const char *out;
    const char *cell;
    bool resume, retry_failed, list_cells, quiet, kernel;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void push(char ***list, size_t *n, const char *value)
{
    *list = xreallocarray(*list, *n + 1, sizeof(char *));
    (*list)[(*n)++] = (char *)value;
}

static int parse_options(int argc, char **argv, struct bench_options *o)
{
    enum {
        O_PROFILE = 256,
        O_ALLOCATORS,
        O_TARGET,
        O_LOAD,
        O_READY,
        O_NAME,
        O_WORKLOAD,
        O_REPEATS,
        O_IDLE,
        O_LOAD_TIME,
        O_COOLDOWN,
        O_INTERVAL,
        O_SAMPLE,
        O_RESUME,
        O_RETRY,
        O_LIST,
        O_CELL,
        O_QUIET,
        O_KERNEL,
        O_LOAD_FORMAT, /* the run keys, in the order of run_key_names */
        O_THROUGHPUT_REGEX,
        O_P50_REGEX,
        O_P99_REGEX,
        O_BATCH,
        O_TIMEOUT
    };
    static const struct option options[] = {
        {"profile", required_argument, NULL, O_PROFILE},
        {"allocator", required_argument, NULL, 'a'},
        {"allocators", required_argument, NULL, O_ALLOCATORS},
        {"target", required_argument, NULL, O_TARGET},
        {"load", required_argument, NULL, O_LOAD},
        {"ready", required_argument, NULL, O_READY},
        {"name", required_argument, NULL, O_NAME},
        {"workload", required_argument, NULL, O_WORKLOAD},
        {"repeats", required_argument, NULL, O_REPEATS},
        {"idle", required_argument, NULL, O_IDLE},
        {"load-time", required_argument, NULL, O_LOAD_TIME},
        {"cooldown", required_argument, NULL, O_COOLDOWN},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"sample", required_argument, NULL, O_SAMPLE},
        {"out", required_argument, NULL, 'o'},
        {"resume", no_argument, NULL, O_RESUME},
        {"retry-failed", no_argument, NULL, O_RETRY},
        {"list-cells", no_argument, NULL, O_LIST},
        {"cell", required_argument, NULL, O_CELL},
        {"quiet", no_argument, NULL, O_QUIET},
        {"kernel", no_argument, NULL, O_KERNEL},
        {"load-format", required_argument, NULL, O_LOAD_FORMAT},
        {"throughput-regex", required_argument, NULL, O_THROUGHPUT_REGEX},
        {"p50-regex", required_argument, NULL, O_P50_REGEX},
        {"p99-regex", required_argument, NULL, O_P99_REGEX},
        {"batch", no_argument, NULL, O_BATCH},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "a:o:h", options, NULL)) != -1) {
        switch (c) {
        case O_PROFILE:
            o->profile = optarg;
            break;
        case 'a':
            push(&o->allocators, &o->n_allocators, optarg);
            break;
        case O_ALLOCATORS:
            o->registry_file = optarg;
            break;
        case O_TARGET:
            o->target = optarg;
            break;
        case O_LOAD:
            o->load = optarg;
            break;
        case O_READY:
            o->ready = optarg;
            break;
        case O_NAME:
            o->name = optarg;
            break;
        case O_WORKLOAD:
            push(&o->workloads, &o->n_workloads, optarg);
            break;
        case O_REPEATS:
            o->repeats = optarg;
            break;
        case O_IDLE:
            o->idle = optarg;
            break;
        case O_LOAD_TIME:
            o->load_time = optarg;
            break;
        case O_COOLDOWN:
            o->cooldown = optarg;
            break;
        case O_INTERVAL:
            o->interval = optarg;
            break;
        case O_SAMPLE:
            o->sample = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case O_RESUME:
            o->resume = true;
            break;
        case O_RETRY:
            o->retry_failed = true;
            break;
        case O_LIST:
            o->list_cells = true;
            break;
        case O_CELL:
            o->cell = optarg;
            break;
        case O_QUIET:
            o->quiet = true;
            break;
        case O_KERNEL:
            o->kernel = true;
            break;
        case O_LOAD_FORMAT:
        case O_THROUGHPUT_REGEX:
        case O_P50_REGEX:
        case O_P99_REGEX:
        case O_BATCH:
        case O_TIMEOUT:
            o->run_keys[c - O_LOAD_FORMAT] = optarg ? optarg : "true";
            break;
        case 'h':
            fputs(bench_usage, stdout);
            return 0;
        default:
            util_error("unknown option or missing value '%s'; see 'allocscope bench --help'",
                       argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc)
        o->file = argv[optind++];
    if (optind < argc) {
        util_error("unexpected argument '%s'; bench takes one bench file at most", argv[optind]);
        return 2;
    }
    bool run_keys = false;
    for (size_t i = 0; i < sizeof(o->run_keys) / sizeof(o->run_keys[0]); i++)
        run_keys |= o->run_keys[i] != NULL;
    if ((o->load || o->ready || o->name || run_keys) && !o->target) {
        util_error("--load, --ready, --name, --load-format, --throughput-regex, --p50-regex, "
                   "--p99-regex, --batch and --timeout describe a --target CMD; add one");
        return 2;
    }
    if (o->retry_failed && !o->resume) {
        util_error("--retry-failed goes with --resume");
        return 2;
    }
    return -1;
}

static int parse_seconds_option(const char *name, const char *value, double *out)
{
    char *end;
    double v = strtod(value, &end);
    if (*end || end == value || !(v >= 0) || v > 86400) {
        util_error("%s wants seconds (e.g. 2.5), not '%s'", name, value);
        return -1;
    }
    *out = v;
    return 0;
}

static int apply_overrides(struct bench_spec *spec, const struct bench_options *o)
{
    uint64_t v;
    if (o->repeats) {
        if (util_parse_uint(o->repeats, 1, 1000, &v)) {
            util_error("--repeats wants a count from 1 to 1000, not '%s'", o->repeats);
            return -1;
        }
        spec->repeats = (unsigned)v;
    }
    if (o->interval) {
        if (util_parse_uint(o->interval, 10, 60000, &v)) {
            util_error("--interval wants milliseconds from 10 to 60000, not '%s'", o->interval);
            return -1;
        }
        spec->interval_ms = (unsigned)v;
    }
    if (o->idle && parse_seconds_option("--idle", o->idle, &spec->idle_s))
        return -1;
    if (o->load_time && parse_seconds_option("--load-time", o->load_time, &spec->load_s))
        return -1;
    if (o->cooldown && parse_seconds_option("--cooldown", o->cooldown, &spec->cooldown_s))
        return -1;
    spec->load_s_set |= o->load_time != NULL;
    spec->cooldown_s_set |= o->cooldown != NULL;
    return 0;
}

static bool wanted_workload(const struct bench_options *o, const char *name)
{
    if (!o->n_workloads)
        return true;
    for (size_t i = 0; i < o->n_workloads; i++)
        if (!strcmp(o->workloads[i], name))
            return true;
    return false;
}

/* Every workloads/NAME/scenario.ini, in name order. */
static int add_reference_workloads(struct bench_spec *spec, const struct bench_options *o)
{
    const char *dir = util_find_data("workloads", "workloads");
    struct dirent **names = NULL;
    int n = dir ? scandir(dir, &names, NULL, alphasort) : -1;
    if (n < 0 && dir && errno == ENOMEM)
        util_out_of_memory();
    char err[512];
    size_t added = 0;
    for (int i = 0; i < n; i++) {
        char *path = util_format("%s/%s/scenario.ini", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && access(path, R_OK) == 0 &&
            wanted_workload(o, names[i]->d_name)) {
            if (bench_spec_add_scenario(spec, path, err, sizeof(err)))
                util_warn("skipping a reference workload: %s", err);
            else
                added++;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    if (!added) {
        util_error("no reference workload found%s%s (under %s); give a bench file or --target "
                   "CMD",
                   o->n_workloads ? " named " : "", o->n_workloads ? o->workloads[0] : "",
                   dir ? dir : "workloads/");
        return -1;
    }
    return 0;
}

/* --load-format, ..., --timeout: the same keys as a bench file's [target]. */
static int set_run_keys(struct bench_target *t, const struct bench_options *o)
{
    static const char *const keys[] = {"load_format", "throughput_regex", "p50_regex", "p99_regex",
                                       "batch",       "timeout_s"};
    static const char *const options[] = {"--load-format", "--throughput-regex",
                                          "--p50-regex",   "--p99-regex",
                                          "--batch",       "--timeout"};
    char err[512];
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (o->run_keys[i] &&
            bench_target_set_run_key(t, keys[i], o->run_keys[i], err, sizeof(err)) < 0) {
            util_error("%s: %s", options[i], err);
            return -1;
        }
    return 0;
}

static int build_spec(struct bench_spec *spec, const struct bench_options *o)
{
    char err[1024];
    if (bench_spec_init(spec, o->profile ? o->profile : "quick", err, sizeof(err))) {
        util_error("%s", err);
        return -1;
    }
    spec->profile_forced = o->profile != NULL;
    spec->allocators_forced = o->n_allocators > 0;
    for (size_t i = 0; i < o->n_allocators; i++)
        bench_spec_add_allocators(spec, o->allocators[i]);
    if (o->file && bench_spec_load(spec, o->file, util_find_data("workloads", "workloads"), err,
                                   sizeof(err))) {
        util_error("%s", err);
        return -1;
    }
    if (o->target &&
        bench_spec_add_command(spec, o->name, o->target, o->load, o->ready, err, sizeof(err))) {
        util_error("--target: %s", err);
        return -1;
    }
    if (o->target && set_run_keys(&spec->targets[spec->n_targets - 1], o))
        return -1;
    if (!o->file && !o->target && add_reference_workloads(spec, o))
        return -1;
    return apply_overrides(spec, o);
}

static json_t *target_json(const struct bench_target *t)
{
    json_t *variants = json_array();
    for (size_t i = 0; i < t->n_variants; i++)
        json_array_append_new(variants, json_text(t->variants[i]));
    json_t *obj = json_pack("{s:o, s:o, s:o}", "name", json_text(t->name), "command",
                            json_text(t->command), "variants", variants);
    json_object_set_new(obj, "load", json_text(t->load));
    json_object_set_new(obj, "ready", json_text(t->ready));
    json_object_set_new(obj, "server", json_text(t->server));
    json_object_set_new(obj, "defined_at", json_text(t->origin));
    return obj;
}

static int write_bench_json(const char *dir, const struct bench_spec *spec,
                            const struct bench_cell *cells, size_t n)
{
    char started[32];
    runjson_now_iso(started, sizeof(started));
    struct utsname u;
    uname(&u);
    json_t *targets = json_array(), *configs = json_array(), *names = json_array();
    for (size_t i = 0; i < spec->n_targets; i++)
        json_array_append_new(targets, target_json(&spec->targets[i]));
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(names, json_text(cells[i].name));
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= cells[j].config == cells[i].config;
        if (!seen)
            json_array_append_new(configs, json_text(cells[i].config->full_name));
    }
    json_t *root = json_pack(
        "{s:s, s:s, s:s, s:o, s:i, s:i, s:{s:f, s:f, s:f}, s:o, s:o, s:o, s:{s:o, s:I, s:I}}",
        "tool", "allocscope", "version", ALLOCSCOPE_VERSION, "started", started, "profile",
        json_text(spec->profile), "repeats", (int)spec->repeats, "interval_ms",
        (int)spec->interval_ms, "phases", "idle_s", spec->idle_s, "load_s", spec->load_s,
        "cooldown_s", spec->cooldown_s, "targets", targets, "configs", configs, "cells", names,
        "host", "kernel", json_text(u.release), "cpus", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN),
        "mem_bytes", (json_int_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE));
    char *path = util_format("%s/bench.json", dir);
    char *text = json_text_dump(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER, path);
    json_decref(root);
    if (!text) {
        free(path);
        return -1;
    }
    char why[ATOMIC_FILE_ERROR_MAX];
    int rc = atomic_file_write(path, text, strlen(text));
    if (rc)
        util_error("%s; choose another directory with -o",
                   atomic_file_error(why, sizeof(why), path, errno));
    free(path);
    free(text);
    return rc;
}

static char *default_out_dir(void)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    char *dir = util_format("allocscope-bench/%s", stamp);
    for (int n = 2; access(dir, F_OK) == 0; n++) {
        free(dir);
        dir = util_format("allocscope-bench/%s-%d", stamp, n);
    }
    return dir;
}

static char *prepare_out_dir(const struct bench_options *o)
{
    char *dir = o->out ? xstrdup(o->out) : default_out_dir();
    char *bench_json = util_format("%s/bench.json", dir);
    bool exists = access(bench_json, F_OK) == 0;
    free(bench_json);
    if (exists && !o->resume) {
        util_error("%s already holds a bench; add --resume to go on with it, or choose another "
                   "directory with -o",
                   dir);
        free(dir);
        return NULL;
    }
    if (!exists && o->resume) {
        util_error("--resume: %s holds no bench (no bench.json); run without --resume first", dir);
        free(dir);
        return NULL;
    }
    char *cells = util_format("%s/cells", dir);
    int rc = util_mkdir_p(cells);
    free(cells);
    if (rc || access(dir, W_OK)) {
        util_error("cannot write to %s: %s; choose another directory with -o", dir,
                   strerror(errno));
        free(dir);
        return NULL;
    }
    char *real = realpath(dir, NULL);
    if (!real) {
        if (errno == ENOMEM)
            util_out_of_memory();
        util_error("cannot resolve %s: %s", dir, strerror(errno));
    }
    free(dir);
    return real;
}

/* Finished cells of an earlier run: results.csv, and cell.json of cells it lacks. */
static int load_finished(const char *dir, const struct bench_cell *cells, size_t n,
                         struct bench_results *done)
{
    char err[512];
    char *path = util_format("%s/results.csv", dir);
    bool none_yet = access(path, F_OK) && errno == ENOENT; /* no cell finished */
    int rc = none_yet ? 0 : bench_results_load(done, path, err, sizeof(err));
    free(path);
    if (rc) {
        util_error("%s; move the file away to rebuild it from the cells' cell.json", err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (bench_results_find(done, cells[i].name))
            continue;
        char *cell_json = util_format("%s/cells/%s/cell.json", dir, cells[i].name);
        struct bench_row row;
        if (access(cell_json, F_OK) == 0 &&
            bench_cell_json_read(cell_json, &row, err, sizeof(err)) == 0) {
            bench_results_put(done, &row);
            bench_row_free(&row);
        }
        free(cell_json);
    }
    return 0;
}

static bool is_finished(const struct bench_row *row, bool retry_failed)
{
    const char *status = row->fields[COL_STATUS];
    if (!strcmp(status, "ok") || !strcmp(status, "unsupported"))
        return true;
    return strcmp(status, "failed:interrupted") && !retry_failed;
}

static void path_with_self(void)
{
    const char *path = getenv("PATH");
    char *value = util_format("%s:%s/../lib/allocscope%s%s", util_self_dir(), util_self_dir(),
                              path && *path ? ":" : "", path ? path : "");
    setenv("PATH", value, 1);
    free(value);
}

static void write_results(const char *dir, struct bench_results *results,
                          const struct bench_cell *cells, size_t n)
{
    char **order = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        order[i] = (char *)cells[i].name;
    /* Interrupted cells are not finished: they stay out of results.csv. */
    struct bench_results finished = {0};
    for (size_t i = 0; i < results->n; i++)
        if (strcmp(results->rows[i].fields[COL_STATUS], "failed:interrupted"))
            bench_results_put(&finished, &results->rows[i]);
    bench_results_sort(&finished, order, n);
    char *path = util_format("%s/results.csv", dir);
    char why[ATOMIC_FILE_ERROR_MAX];
    if (bench_results_write(&finished, path))
        util_error("%s", atomic_file_error(why, sizeof(why), path, errno));
    free(path);
    free(order);
    bench_results_free(&finished);
}

/* A cell that did what it could: ok, or unsupported (the program links its own allocator,
 * which is a property of the program, not a failure of the run). */
static bool cell_succeeded(const char *status)
{
    return !strcmp(status, "ok") || !strcmp(status, "unsupported");
}

static void print_summary(const struct bench_results *results, const char *dir)
{
    size_t ok = 0, unsupported = 0;
    printf("%-44s %-22s %10s %10s %10s %10s %10s\n", "cell", "status", "idle", "peak", "after",
           "reclaim", "req/s");
    for (size_t i = 0; i < results->n; i++) {
        char **f = results->rows[i].fields;
        char b[4][32], rps[32] = "-";
        int cols[] = {COL_IDLE_RSS, COL_PEAK_RSS, COL_AFTER_RSS, COL_RECLAIMABLE};
        for (int c = 0; c < 4; c++) {
            if (*f[cols[c]])
                format_bytes(b[c], sizeof(b[c]), atof(f[cols[c]]));
            else
                snprintf(b[c], sizeof(b[c]), "-");
        }
        if (*f[COL_RPS])
            snprintf(rps, sizeof(rps), "%.0f", atof(f[COL_RPS]));
        printf("%-44s %-22s %10s %10s %10s %10s %10s\n", f[COL_CELL], f[COL_STATUS], b[0], b[1],
               b[2], b[3], rps);
        ok += !strcmp(f[COL_STATUS], "ok");
        unsupported += !strcmp(f[COL_STATUS], "unsupported");
    }
    fprintf(stderr,
            "allocscope: %zu cells ok, %zu unsupported, %zu failed; results in "
            "%s/results.csv\n",
            ok, unsupported, results->n - ok - unsupported, dir);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

struct bench_run {
    const struct bench_options *o;
    const struct bench_spec *spec;
    const struct bench_cell *cells;
    size_t n_cells;
    const char *dir;
    struct bench_results results;
};

static int run_matrix(struct bench_run *run, const struct bench_cell *only)
{
    const struct bench_options *o = run->o;
    const char *shim = util_find_lib("liballocscope.so");
    if (!shim) {
        util_error("cannot find liballocscope.so next to %s; run 'make' or reinstall",
                   util_self_dir());
        return 2;
    }
    size_t todo = 0;
    double planned = 0;
    bool *skip = xcalloc(run->n_cells, sizeof(bool));
    for (size_t i = 0; i < run->n_cells; i++) {
        const struct bench_row *row = bench_results_find(&run->results, run->cells[i].name);
        skip[i] = (only && only != &run->cells[i]) || (row && is_finished(row, o->retry_failed));
        if (!skip[i]) {
            todo++;
            planned += bench_cell_planned_s(&run->cells[i]);
        }
    }
    struct bench_progress progress;
    progress_init(&progress, stderr, o->quiet, todo, planned);
    if (todo < run->n_cells && !only)
        progress_note(&progress, "%zu of %zu cells already finished in %s; running %zu",
                      run->n_cells - todo, run->n_cells, run->dir, todo);
    struct bench_context ctx = {.shim_path = shim,
                                .interval_ms = run->spec->interval_ms,
                                .profile = run->spec->profile,
                                .stop = &stop_requested,
                                .progress = &progress};
    ctx.shim.sample = o->sample;
    ctx.kernel = o->kernel;
    install_signals();
    bool interrupted = false;
    size_t k = 0;
    for (size_t i = 0; i < run->n_cells && !interrupted; i++) {
        if (stop_requested) {
            interrupted = true;
            break;
        }
        if (skip[i])
            continue;
        const struct bench_cell *cell = &run->cells[i];
        char label[300];
        snprintf(label, sizeof(label), "%s/%s %s r%u", cell->target->name, cell->variant,
                 cell->config->full_name, cell->repeat);
        progress_cell_start(&progress, ++k, todo, label, bench_cell_planned_s(cell));
        char *dir = util_format("%s/cells/%s", run->dir, cell->name);
        struct bench_row row;
        interrupted = bench_cell_run(cell, &ctx, dir, &row) != 0 || stop_requested;
        bench_cell_json_write(dir, &row);
        bench_results_put(&run->results, &row);
        write_results(run->dir, &run->results, run->cells, run->n_cells);
        progress_cell_end(&progress, cell->name, row.fields[COL_STATUS], row.fields[COL_ERROR]);
        bench_row_free(&row);
        free(dir);
    }
    progress_finish(&progress);
    free(skip);
    if (interrupted) {
        util_error("interrupted; finished cells are kept in %s: go on with 'allocscope bench "
                   "... -o %s --resume'",
                   run->dir, run->dir);
        return 130;
    }
    return -1;
}

static int finish(struct bench_run *run)
{
    char **order = xcalloc(run->n_cells + 1, sizeof(char *));
    for (size_t i = 0; i < run->n_cells; i++)
        order[i] = (char *)run->cells[i].name;
    bench_results_sort(&run->results, order, run->n_cells);
    free(order);
    struct bench_results shown = {0};
    for (size_t i = 0; i < run->results.n; i++)
        if (strcmp(run->results.rows[i].fields[COL_STATUS], "failed:interrupted"))
            bench_results_put(&shown, &run->results.rows[i]);
    if (!run->o->quiet || shown.n)
        print_summary(&shown, run->dir);
    bool all_ok = true;
    for (size_t i = 0; i < shown.n; i++)
        all_ok &= cell_succeeded(shown.rows[i].fields[COL_STATUS]);
    bench_results_free(&shown);
    return all_ok ? 0 : 1;
}

int cmd_bench(int argc, char **argv)
{
    struct bench_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct bench_spec spec;
    struct registry *reg = NULL;
    struct bench_cell *cells = NULL;
    const struct allocator_config **configs = NULL;
    size_t n_cells = 0, n_configs = 0;
    char err[1024];
    rc = 2;
    if (build_spec(&spec, &o) == 0 && (reg = registry_load(o.registry_file)) &&
        registry_select(reg, spec.allocators, spec.n_allocators, &configs, &n_configs, err,
                        sizeof(err)) == 0 &&
        bench_matrix_build(&spec, configs, n_configs, &cells, &n_cells, err, sizeof(err)) == 0)
        rc = -1;
    else if (reg)
        util_error("%s", err);
    /* quick: the whole matrix in 5 minutes, unless phase lengths were chosen */
    if (rc < 0 && !strcmp(spec.profile, "quick") && !o.idle && !o.load_time && !o.cooldown &&
        !spec.load_s_set && !spec.cooldown_s_set)
        bench_matrix_fit(cells, n_cells, QUICK_BUDGET_S, CELL_OVERHEAD_S);
    const struct bench_cell *only = NULL;
    if (rc < 0 && o.cell && !(only = bench_matrix_find(cells, n_cells, o.cell))) {
        util_error("--cell %s: no such cell; the matrix has cells 1 to %zu ('--list-cells' "
                   "names them)",
                   o.cell, n_cells);
        rc = 2;
    }
    if (rc < 0 && o.list_cells) {
        for (size_t i = 0; i < n_cells; i++)
            printf("%s\n", cells[i].name);
        rc = 0;
    }
    struct bench_run run = {.o = &o, .spec = &spec, .cells = cells, .n_cells = n_cells};
    char *dir = rc < 0 ? prepare_out_dir(&o) : NULL;
    if (rc < 0 && !dir)
        rc = 2;
    run.dir = dir;
    if (rc < 0 && (o.resume ? load_finished(dir, cells, n_cells, &run.results) : 0))
        rc = 2;
    if (rc < 0 && write_bench_json(dir, &spec, cells, n_cells))
        rc = 2;
    if (rc < 0) {
        path_with_self();
        rc = run_matrix(&run, only);
    }
    if (rc < 0)
        rc = finish(&run);
    bench_results_free(&run.results);
    free(dir);
    free(cells);
    free(configs);
    registry_free(reg);
    bench_spec_free(&spec);
    free(o.allocators);
    free(o.workloads);
    return rc;
}
