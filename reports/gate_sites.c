/* Which code grew: the allocation sites a baseline stores per cell, and their diff with the
 * current bench's for the cells that failed a memory check. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_file.h"
#include "common/util.h"
#include "reports/gate.h"

/* Notes are cut to their buffer on purpose: a long message only shortens a line. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define STORED_SITES 200 /* per cell: the rest are too small to lead a diff */

/* The directories of KEY's repeats in every bench of DIRS. */
static size_t repeats_of(const char *key, char *const *dirs, size_t ndirs, char ***out)
{
    size_t n = 0;
    *out = NULL;
    for (size_t i = 0; i < ndirs; i++) {
        char **found;
        size_t k = bench_cell_repeats(dirs[i], key, &found);
        *out = xreallocarray(*out, n + k + 1, sizeof(char *));
        if (k) /* found is NULL when this bench has no repeat of KEY */
            memcpy(*out + n, found, k * sizeof(char *));
        n += k;
        free(found);
    }
    return n;
}

json_t *gate_sites_collect(const struct gate_bench *b, char *const *dirs, size_t ndirs,
                           size_t *with_sites)
{
    json_t *all = json_object();
    *with_sites = 0;
    for (size_t i = 0; i < b->ncells; i++) {
        char **repeats, err[512];
        size_t n = repeats_of(b->cells[i].key, dirs, ndirs, &repeats);
        struct site_set set = {0}; /* freed whether or not it was loaded */
        /* A cell recorded without stacks, or not readable, goes without: the gate then says
         * it has none. */
        if (n && !site_set_load(&set, repeats, n, err, sizeof(err)) && set.n) {
            json_object_set_new(all, b->cells[i].key, site_set_to_json(&set, STORED_SITES));
            (*with_sites)++;
        }
        site_set_free(&set);
        bench_strings_free(repeats, n);
    }
    return all;
}

static bool memory_check(const char *metric)
{
    return !strcmp(metric, "after_rss") || !strcmp(metric, "peak_rss") ||
           !strcmp(metric, "leak_growth") || !strcmp(metric, "leak_per_call") ||
           !strcmp(metric, "verdict");
}

/* The sites the baseline stored for CELL; -1 with NOTE saying why there are none. */
static int baseline_sites(json_t *root, const char *cell, struct site_set *set, char *note,
                          size_t len)
{
    json_t *cells = json_object_get(root, "cells"), *c;
    size_t i;
    json_array_foreach(cells, i, c)
    {
        const char *key = json_string_value(json_object_get(c, "key"));
        if (!key || strcmp(key, cell))
            continue;
        json_t *sites = json_object_get(c, "sites");
        char err[256];
        if (!sites) {
            snprintf(note, len,
                     "the baseline has no allocation sites for this cell (recorded without "
                     "stacks, or frozen by an allocscope before 0.2): refreeze it to see which "
                     "code grew");
            return -1;
        }
        if (site_set_from_json(set, sites, err, sizeof(err))) {
            snprintf(note, len, "the baseline's allocation sites for this cell are unreadable: %s",
                     err);
            return -1;
        }
        return 0;
    }
    snprintf(note, len, "the baseline has no such cell");
    return -1;
}

static void find_one(struct gate_grown *g, json_t *root, const char *current)
{
    char **repeats, err[512];
    size_t n = bench_cell_repeats(current, g->cell, &repeats);
    if (baseline_sites(root, g->cell, &g->base, g->note, sizeof(g->note)) == 0) {
        if (!n)
            snprintf(g->note, sizeof(g->note), "no repeat of it in %s/cells", current);
        else if (site_set_load(&g->cur, repeats, n, err, sizeof(err)))
            snprintf(g->note, sizeof(g->note), "its sites could not be read: %s", err);
        else if (!g->cur.n)
            snprintf(g->note, sizeof(g->note), "recorded without allocation stacks");
        else
            site_diff_compute(&g->base, &g->cur, &g->diff);
    }
    bench_strings_free(repeats, n);
}

void gate_find_grown(struct gate_report *r, const char *baseline, const char *current, size_t top)
{
    r->top_sites = top;
    if (!top)
        return;
    json_t *root = NULL;
    for (size_t i = 0; i < r->nrows; i++) {
        const struct gate_row *row = &r->rows[i];
        if (row->result != GATE_FAIL || !memory_check(row->metric))
            continue;
        bool seen = false;
        for (size_t k = 0; k < r->ngrown && !seen; k++)
            seen = !strcmp(r->grown[k].cell, row->cell);
        if (seen)
            continue;
        if (!root && !(root = json_file_load(baseline, NULL)))
            return; /* it was read a moment ago; nothing to add if it is gone */
        r->grown = xreallocarray(r->grown, r->ngrown + 1, sizeof(*r->grown));
        struct gate_grown *g = &r->grown[r->ngrown++];
        memset(g, 0, sizeof(*g));
        g->cell = xstrdup(row->cell);
        find_one(g, root, current);
    }
    json_decref(root);
}
