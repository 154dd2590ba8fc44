/* allocscope diagnose DIR [--json] [--threshold NAME=VALUE]...: the verdict on a run, or on
 * every cell of a bench, with its evidence (docs/DIAGNOSE.md). */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "common/json_text.h"
#include "common/results.h"
#include "reports/diagnose.h"
#include "common/util.h"

/* Messages and paths are cut to their buffers on purpose: a long path only shortens a line. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static const char diagnose_usage[] =
    "usage: allocscope diagnose DIR [--json] [--threshold NAME=VALUE]...\n"
    "  Classifies a recording (allocscope run/attach directory) or every cell of a bench\n"
    "  directory as leak, unbounded-buffering, allocator-retention, fragmentation or healthy,\n"
    "  with the evidence, a confidence and what the data lacked.\n"
    "  --json                  machine-readable output (docs/DIAGNOSE.md)\n"
    "  --threshold NAME=VALUE  change a threshold of the rules (names in docs/DIAGNOSE.md)\n"
    "Exit status: 0 when diagnosed (whatever the verdict), 2 on a usage or input error.\n";

struct bench_cell {
    char *name, *workload, *variant, *allocator, *config, *status;
    bool diagnosed;
    struct diagnosis d;
    char error[512];
};

struct bench {
    struct bench_cell *cells;
    size_t ncells;
};

static bool path_exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static int bench_list_cells(struct bench *b, const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct bench_results res;
    snprintf(path, sizeof(path), "%s/results.csv", dir);
    if (bench_results_load(&res, path, err, errlen))
        return -1;
    b->cells = xcalloc(res.n + 1, sizeof(*b->cells));
    for (size_t r = 0; r < res.n; r++) {
        char *const *f = res.rows[r].fields;
        struct bench_cell *cell = &b->cells[b->ncells++];
        cell->name = xstrdup(f[COL_CELL]);
        cell->workload = xstrdup(f[COL_WORKLOAD]);
        cell->variant = xstrdup(f[COL_VARIANT]);
        cell->allocator = xstrdup(f[COL_ALLOCATOR]);
        cell->config = xstrdup(f[COL_CONFIG]);
        cell->status = xstrdup(f[COL_STATUS]);
    }
    bench_results_free(&res);
    return 0;
}

static void bench_free(struct bench *b)
{
    for (size_t i = 0; i < b->ncells; i++) {
        struct bench_cell *c = &b->cells[i];
        free(c->name), free(c->workload), free(c->variant);
        free(c->allocator), free(c->config), free(c->status);
        diagnosis_free(&c->d);
    }
    free(b->cells);
}

/* A retaining cell: name the cells of the same workload and variant that did not retain. */
static void name_cells_without_retention(struct bench *b, struct bench_cell *cell)
{
    char others[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < b->ncells; i++) {
        const struct bench_cell *o = &b->cells[i];
        if (!o->diagnosed || o->d.verdict != VERDICT_HEALTHY ||
            strcmp(o->workload, cell->workload) || strcmp(o->variant, cell->variant))
            continue;
        char name[128];
        snprintf(name, sizeof(name), "%s:%s", o->allocator, o->config);
        if (strstr(others, name))
            continue;
        int w = snprintf(others + used, sizeof(others) - used, "%s%s", used ? ", " : "", name);
        if (w < 0 || (size_t)w >= sizeof(others) - used)
            break;
        used += (size_t)w;
    }
    if (used)
        snprintf(cell->d.suggestion, sizeof(cell->d.suggestion),
                 "in this bench %s did not retain: run under %s", others, others);
}

static void bench_diagnose(struct bench *b, const char *dir, const struct diagnose_thresholds *t)
{
    for (size_t i = 0; i < b->ncells; i++) {
        struct bench_cell *c = &b->cells[i];
        char cell_dir[PATH_MAX];
        snprintf(cell_dir, sizeof(cell_dir), "%s/cells/%s", dir, c->name);
        if (strcmp(c->status, "ok")) {
            snprintf(c->error, sizeof(c->error), "cell status %s", c->status);
            continue;
        }
        c->diagnosed = diagnose_run(cell_dir, t, &c->d, c->error, sizeof(c->error)) == 0;
    }
    for (size_t i = 0; i < b->ncells; i++)
        if (b->cells[i].diagnosed && b->cells[i].d.verdict == VERDICT_ALLOCATOR_RETENTION)
            name_cells_without_retention(b, &b->cells[i]);
}

static void bench_print_text(const struct bench *b)
{
    printf("%-44s %-20s %-7s %s\n", "CELL", "VERDICT", "CONF", "TOP SITE");
    for (size_t i = 0; i < b->ncells; i++) {
        const struct bench_cell *c = &b->cells[i];
        if (!c->diagnosed) {
            printf("%-44s %-20s %-7s %s\n", c->name, "-", "-", c->error);
            continue;
        }
        printf("%-44s %-20s %-7s %s\n", c->name, diagnosis_verdict_name(c->d.verdict),
               diagnosis_confidence_name(c->d.confidence),
               c->d.nsites ? c->d.sites[0].function : "");
    }
    for (size_t i = 0; i < b->ncells; i++) {
        if (!b->cells[i].diagnosed)
            continue;
        printf("\n%s: ", b->cells[i].name);
        diagnosis_print_text(&b->cells[i].d, stdout);
    }
}

static int bench_print_json(const struct bench *b, const char *dir)
{
    json_t *cells = json_array();
    for (size_t i = 0; i < b->ncells; i++) {
        const struct bench_cell *c = &b->cells[i];
        json_t *o = c->diagnosed ? diagnosis_to_json(&c->d) : json_object();
        json_object_set_new(o, "cell", json_text(c->name));
        json_object_set_new(o, "workload", json_text(c->workload));
        json_object_set_new(o, "variant", json_text(c->variant));
        json_object_set_new(o, "allocator", json_text(c->allocator));
        json_object_set_new(o, "config", json_text(c->config));
        if (!c->diagnosed)
            json_object_set_new(o, "error", json_text(c->error));
        json_array_append_new(cells, o);
    }
    json_t *root = json_pack("{s:o, s:o}", "bench", json_text(dir), "cells", cells);
    int rc = json_text_print(root, JSON_INDENT(2), "the diagnoses");
    json_decref(root);
    return rc;
}

static int diagnose_bench(const char *dir, const struct diagnose_thresholds *t, bool json)
{
    struct bench b = {0};
    char err[512];
    if (bench_list_cells(&b, dir, err, sizeof(err))) {
        util_error("%s", err);
        bench_free(&b);
        return 2;
    }
    bench_diagnose(&b, dir, t);
    int rc = 0;
    if (json)
        rc = bench_print_json(&b, dir) ? 2 : 0;
    else
        bench_print_text(&b);
    bench_free(&b);
    return rc;
}

static int diagnose_one(const char *dir, const struct diagnose_thresholds *t, bool json)
{
    struct diagnosis d;
    char err[512];
    if (diagnose_run(dir, t, &d, err, sizeof(err))) {
        util_error("%s", err);
        diagnosis_free(&d);
        return 2;
    }
    int rc = 0;
    if (json) {
        json_t *root = diagnosis_to_json(&d);
        rc = json_text_print(root, JSON_INDENT(2), "the diagnosis") ? 2 : 0;
        json_decref(root);
    } else {
        printf("%s: ", dir);
        diagnosis_print_text(&d, stdout);
    }
    diagnosis_free(&d);
    return rc;
}

int cmd_diagnose(int argc, char **argv)
{
    static const struct option options[] = {{"json", no_argument, NULL, 'j'},
                                            {"threshold", required_argument, NULL, 't'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    struct diagnose_thresholds t;
    diagnose_thresholds_default(&t);
    bool json = false;
    char err[512];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jt:h", options, NULL)) != -1) {
        if (c == 'j') {
            json = true;
        } else if (c == 't') {
            if (diagnose_thresholds_set(&t, optarg, err, sizeof(err))) {
                util_error("%s", err);
                return 2;
            }
        } else if (c == 'h') {
            fputs(diagnose_usage, stdout);
            return 0;
        } else {
            fputs(diagnose_usage, stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        util_error("diagnose wants one run or bench directory; see 'allocscope diagnose --help'");
        return 2;
    }
    const char *dir = argv[optind];
    if (path_exists(dir, "results.csv") || path_exists(dir, "cells"))
        return diagnose_bench(dir, &t, json);
    return diagnose_one(dir, &t, json);
}
