#include "reports/report_flame.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/format.h"
#include "common/util.h"

/* A file-name-safe stem of TEXT. */
static void slug(char *out, size_t len, const char *text)
{
    size_t o = 0;
    for (const char *p = text; *p && o + 1 < len && o < 60; p++)
        out[o++] = (strchr("._-", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= 'A' && *p <= 'Z'))
                       ? *p
                       : '_';
    out[o] = '\0';
}

/* A report written again into the same OUT must not keep the previous one's flame graphs. */
static void remove_old_flames(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (!strncmp(e->d_name, "flame-", 6) && len > 4 && !strcmp(e->d_name + len - 4, ".svg"))
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* The runs whose flame graphs the page shows: each configuration's first successful repeat. */
static bool *drawn_cells(const struct report_input *in)
{
    bool *drawn = xcalloc(in->ncells ? in->ncells : 1, sizeof(bool));
    for (size_t g = 0; g < in->ngroups; g++)
        for (size_t k = 0; k < in->groups[g].nconfigs; k++)
            if (in->groups[g].configs[k].first_ok >= 0)
                drawn[in->groups[g].configs[k].first_ok] = true;
    return drawn;
}

static char *graph_title(const struct report_cell *cell, enum flame_kind k, bool exited)
{
    return util_format("%s: %s", cell->name, flame_kind_title(k, exited));
}

static int write_file(struct report_input *in, const char *path, const struct site_profile *p,
                      enum flame_kind k, const char *title, size_t *boxes)
{
    struct atomic_file *file = atomic_file_open(path);
    if (file) {
        struct flame_svg_options o = {.id = "fg", .title = title, .standalone = true};
        *boxes = flame_write_svg(atomic_file_stream(file), p, k, &o);
    }
    if (!file || atomic_file_commit(file)) {
        char why[ATOMIC_FILE_ERROR_MAX];
        report_problem(in, "%s", atomic_file_error(why, sizeof(why), path, errno));
        return -1;
    }
    return 0;
}

static char *inline_svg(const struct site_profile *p, enum flame_kind k, size_t cell,
                        const char *title)
{
    char *text = NULL, id[48];
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        util_out_of_memory();
    snprintf(id, sizeof(id), "fg-%zu-%s", cell, flame_kind_name(k));
    struct flame_svg_options o = {.id = id, .title = title, .standalone = false};
    flame_write_svg(mem, p, k, &o);
    if (fclose(mem))
        util_out_of_memory();
    return text;
}

static const struct site_profile *sorting_profile;

static int by_temporaries(const void *a, const void *b)
{
    uint64_t x = sorting_profile->stacks[*(const size_t *)a].temporary_calls;
    uint64_t y = sorting_profile->stacks[*(const size_t *)b].temporary_calls;
    return (x < y) - (x > y);
}

/* The run's temporary allocations and the sites with the most. */
static void find_temporaries(const struct site_profile *p, struct cell_flames *cf)
{
    size_t *idx = xcalloc(p->n ? p->n : 1, sizeof(size_t)), n = 0;
    for (size_t i = 0; i < p->n; i++) {
        cf->temporary += p->stacks[i].temporary_calls;
        cf->calls += p->stacks[i].alloc_calls;
        if (p->stacks[i].temporary_calls)
            idx[n++] = i;
    }
    sorting_profile = p;
    util_sort(idx, n, sizeof(size_t), by_temporaries);
    char where[1024];
    for (size_t k = 0; k < n && k < REPORT_TEMPORARY_SITES; k++) {
        const struct profile_stack *st = &p->stacks[idx[k]];
        format_site_frames(p->sym, &p->run.sites[idx[k]], 4, where, sizeof(where));
        cf->temps[cf->ntemps++] =
            (struct report_temporary){xstrdup(where), st->temporary_calls, st->alloc_calls};
    }
    free(idx);
}

static void cell_graphs(struct report_input *in, const char *dir, size_t i, bool drawn,
                        struct cell_flames *cf)
{
    const struct report_cell *cell = &in->cells[i];
    char stacks[PATH_MAX], err[512], name[64];
    snprintf(stacks, sizeof(stacks), "%s/stacks.csv", cell->dir);
    if (access(stacks, R_OK)) /* recorded without stacks (--sample none, a kernel-only attach) */
        return;
    struct site_profile p;
    if (site_profile_load(&p, cell->dir, err, sizeof(err))) {
        report_problem(in, "%s; no flame graphs for %s", err, cell->name);
        site_profile_free(&p);
        return;
    }
    cf->has_stacks = true;
    cf->sampled = p.sampled;
    cf->exited = p.exited;
    find_temporaries(&p, cf);
    slug(name, sizeof(name), cell->name);
    for (int k = 0; k < FLAME_KINDS; k++) {
        if (!flame_has_data(&p, k))
            continue;
        char *title = graph_title(cell, k, p.exited);
        char *stem = util_format("flame-%s-%zu-%s", flame_kind_name(k), i + 1, name);
        char *path = util_format("%s/%s.svg", dir, stem);
        if (write_file(in, path, &p, k, title, &cf->boxes[k]) == 0)
            cf->file[k] = stem;
        else
            free(stem);
        if (drawn)
            cf->inline_svg[k] = inline_svg(&p, k, i, title);
        free(path);
        free(title);
    }
    site_profile_free(&p);
}

void flames_write(struct report_input *in, const char *outdir, struct flame_set *set)
{
    memset(set, 0, sizeof(*set));
    char *dir = util_format("%s/charts", outdir);
    if (util_mkdir_p(dir)) {
        report_problem(in, "cannot create %s: %s; no flame graphs", dir, strerror(errno));
        free(dir);
        return;
    }
    remove_old_flames(dir);
    bool *drawn = drawn_cells(in);
    set->ncells = in->ncells;
    set->cells = xcalloc(in->ncells ? in->ncells : 1, sizeof(*set->cells));
    for (size_t i = 0; i < in->ncells; i++)
        cell_graphs(in, dir, i, drawn[i], &set->cells[i]);
    free(drawn);
    free(dir);
}

void flames_remove_old(const char *outdir)
{
    char *dir = util_format("%s/charts", outdir);
    remove_old_flames(dir);
    free(dir);
}

void flames_free(struct flame_set *set)
{
    for (size_t i = 0; i < set->ncells; i++) {
        for (int k = 0; k < FLAME_KINDS; k++) {
            free(set->cells[i].file[k]);
            free(set->cells[i].inline_svg[k]);
        }
        for (size_t t = 0; t < set->cells[i].ntemps; t++)
            free(set->cells[i].temps[t].site);
    }
    free(set->cells);
    memset(set, 0, sizeof(*set));
}
