#include "reports/site_diff.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/escape.h"
#include "common/format.h"
#include "common/json_text.h"
#include "common/stats.h"
#include "common/util.h"
#include "reports/site_profile.h"

const char *const diff_value_names[DV_COUNT] = {"peak_bytes", "peak_blocks", "exit_bytes",
                                                "exit_blocks", "growth_bytes_per_s"};

/* ---- one recording's sites ------------------------------------------------------------- */

static void copy_frames(struct diff_site *d, const struct profile_stack *st)
{
    d->nframes = st->nframes;
    d->frames = xcalloc(st->nframes ? st->nframes : 1, sizeof(*d->frames));
    for (unsigned i = 0; i < st->nframes; i++) {
        const struct frame_info *f = &st->frames[i];
        d->frames[i] = (struct diff_frame){xstrdup(f->function), xstrdup(f->file),
                                           xstrdup(f->object), f->line, f->inlined};
    }
}

static void frames_free(struct diff_site *d)
{
    for (unsigned i = 0; i < d->nframes; i++) {
        free(d->frames[i].function);
        free(d->frames[i].file);
        free(d->frames[i].object);
    }
    free(d->frames);
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct diff_site *)a)->key, ((const struct diff_site *)b)->key);
}

/* The sites of one profile, stacks with one key summed, sorted by key. */
static size_t sites_of(const struct site_profile *p, struct diff_site **out)
{
    struct diff_site *all = xcalloc(p->n ? p->n : 1, sizeof(*all));
    for (size_t i = 0; i < p->n; i++) {
        const struct profile_stack *st = &p->stacks[i];
        all[i].key = profile_stack_key(st);
        all[i].v[DV_PEAK_BYTES] = (double)st->peak_bytes;
        all[i].v[DV_PEAK_BLOCKS] = (double)st->peak_blocks;
        all[i].v[DV_EXIT_BYTES] = (double)st->exit_bytes;
        all[i].v[DV_EXIT_BLOCKS] = (double)st->exit_blocks;
        all[i].v[DV_GROWTH] = st->growth_bytes_per_s;
        copy_frames(&all[i], st);
    }
    util_sort(all, p->n, sizeof(*all), by_key);
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (n && !strcmp(all[n - 1].key, all[i].key)) {
            for (int k = 0; k < DV_COUNT; k++)
                all[n - 1].v[k] += all[i].v[k];
            free(all[i].key);
            frames_free(&all[i]);
        } else {
            all[n++] = all[i];
        }
    }
    *out = all;
    return n;
}

struct repeat_site {
    struct diff_site *site;
    size_t repeat;
};

static int by_repeat_key(const void *a, const void *b)
{
    const struct repeat_site *x = a, *y = b;
    int c = strcmp(x->site->key, y->site->key);
    return c ? c : (x->repeat > y->repeat) - (x->repeat < y->repeat);
}

/* One site per key over the repeats, each value the median (0 where a repeat lacks it). */
static void pool_repeats(struct site_set *s, struct diff_site **per, const size_t *counts,
                         size_t nrep)
{
    size_t total = 0;
    for (size_t r = 0; r < nrep; r++)
        total += counts[r];
    struct repeat_site *all = xcalloc(total ? total : 1, sizeof(*all));
    size_t k = 0;
    for (size_t r = 0; r < nrep; r++)
        for (size_t i = 0; i < counts[r]; i++)
            all[k++] = (struct repeat_site){&per[r][i], r};
    util_sort(all, total, sizeof(*all), by_repeat_key);
    s->sites = xcalloc(total ? total : 1, sizeof(*s->sites));
    double *values = xcalloc(nrep ? nrep : 1, sizeof(double));
    for (size_t i = 0; i < total;) {
        size_t j = i;
        while (j < total && !strcmp(all[j].site->key, all[i].site->key))
            j++;
        struct diff_site *out = &s->sites[s->n++];
        *out = *all[i].site; /* takes its key and frames */
        all[i].site->key = NULL, all[i].site->frames = NULL, all[i].site->nframes = 0;
        for (int v = 0; v < DV_COUNT; v++) {
            for (size_t r = 0; r < nrep; r++)
                values[r] = 0;
            for (size_t m = i; m < j; m++)
                values[all[m].repeat] = all[m].site->v[v];
            out->v[v] = nrep ? stats_median(values, nrep) : 0;
        }
        i = j;
    }
    free(values);
    free(all);
}

int site_set_load(struct site_set *s, char *const *dirs, size_t ndirs, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    struct diff_site **per = xcalloc(ndirs ? ndirs : 1, sizeof(*per));
    size_t *counts = xcalloc(ndirs ? ndirs : 1, sizeof(size_t));
    int rc = 0;
    for (size_t r = 0; r < ndirs && !rc; r++) {
        struct site_profile p;
        if (site_profile_load(&p, dirs[r], err, errlen)) {
            rc = -1;
        } else {
            counts[r] = sites_of(&p, &per[r]);
            s->sampled |= p.sampled;
            s->repeats++;
        }
        site_profile_free(&p);
    }
    if (!rc)
        pool_repeats(s, per, counts, ndirs);
    for (size_t r = 0; r < ndirs; r++) {
        for (size_t i = 0; i < counts[r]; i++) {
            free(per[r][i].key);
            frames_free(&per[r][i]);
        }
        free(per[r]);
    }
    free(per);
    free(counts);
    return rc;
}

void site_set_free(struct site_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->sites[i].key);
        frames_free(&s->sites[i]);
    }
    free(s->sites);
    memset(s, 0, sizeof(*s));
}

/* ---- in a baseline file ------------------------------------------------------------------ */

static double weight(const struct diff_site *d)
{
    return fmax(fmax(d->v[DV_PEAK_BYTES], d->v[DV_EXIT_BYTES]), 10 * d->v[DV_GROWTH]);
}

static int by_weight(const void *a, const void *b)
{
    double x = weight(*(const struct diff_site *const *)a);
    double y = weight(*(const struct diff_site *const *)b);
    return (x < y) - (x > y);
}

#define STORED_FRAMES 24 /* per site in a baseline: enough to show and tell sites apart */

json_t *site_set_to_json(const struct site_set *s, size_t max)
{
    const struct diff_site **order = xcalloc(s->n ? s->n : 1, sizeof(*order));
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (weight(&s->sites[i]) > 0)
            order[n++] = &s->sites[i];
    util_sort(order, n, sizeof(*order), by_weight);
    json_t *sites = json_array();
    for (size_t i = 0; i < n && i < max; i++) {
        const struct diff_site *d = order[i];
        json_t *frames = json_array();
        for (unsigned f = 0; f < d->nframes && f < STORED_FRAMES; f++)
            json_array_append_new(
                frames,
                json_pack("{s:o, s:o, s:i, s:o, s:b}", "function", json_text(d->frames[f].function),
                          "file", json_text(d->frames[f].file), "line", d->frames[f].line, "object",
                          json_text(d->frames[f].object), "inlined", d->frames[f].inlined));
        json_t *site = json_pack("{s:o, s:o}", "key", json_text(d->key), "frames", frames);
        for (int v = 0; v < DV_COUNT; v++)
            json_object_set_new(site, diff_value_names[v], json_real(d->v[v]));
        json_array_append_new(sites, site);
    }
    free(order);
    return json_pack("{s:I, s:b, s:o}", "repeats", (json_int_t)s->repeats, "sampled", s->sampled,
                     "sites", sites);
}

static const char *string_or(json_t *o, const char *key, const char *fallback)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : fallback;
}

static int site_from_json(struct diff_site *d, json_t *j)
{
    const char *key = json_string_value(json_object_get(j, "key"));
    json_t *frames = json_object_get(j, "frames");
    if (!key || !json_is_array(frames))
        return -1;
    d->key = xstrdup(key);
    d->nframes = (unsigned)json_array_size(frames);
    d->frames = xcalloc(d->nframes ? d->nframes : 1, sizeof(*d->frames));
    for (unsigned f = 0; f < d->nframes; f++) {
        json_t *fr = json_array_get(frames, f);
        d->frames[f] = (struct diff_frame){xstrdup(string_or(fr, "function", "??")),
                                           xstrdup(string_or(fr, "file", "??")),
                                           xstrdup(string_or(fr, "object", "??")),
                                           (int)json_integer_value(json_object_get(fr, "line")),
                                           json_is_true(json_object_get(fr, "inlined"))};
    }
    for (int v = 0; v < DV_COUNT; v++) {
        json_t *x = json_object_get(j, diff_value_names[v]);
        if (!json_is_number(x))
            return -1;
        d->v[v] = json_number_value(x);
    }
    return 0;
}

int site_set_from_json(struct site_set *s, json_t *j, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    json_t *sites = json_object_get(j, "sites");
    if (!json_is_object(j) || !json_is_array(sites)) {
        snprintf(err, errlen, "its sites are not a list");
        return -1;
    }
    s->repeats = (size_t)json_integer_value(json_object_get(j, "repeats"));
    s->sampled = json_is_true(json_object_get(j, "sampled"));
    s->sites = xcalloc(json_array_size(sites) + 1, sizeof(*s->sites));
    for (size_t i = 0; i < json_array_size(sites); i++) {
        struct diff_site *d = &s->sites[s->n++];
        if (site_from_json(d, json_array_get(sites, i))) {
            snprintf(err, errlen, "site %zu lacks its key, frames or a value", i + 1);
            return -1;
        }
    }
    util_sort(s->sites, s->n, sizeof(*s->sites), by_key);
    return 0;
}

/* ---- the diff ---------------------------------------------------------------------------- */

static double change_score(const struct site_change *c)
{
    return fmax(c->change[DV_PEAK_BYTES], c->change[DV_EXIT_BYTES]);
}

static int by_regression(const void *a, const void *b)
{
    const struct site_change *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->change[DV_GROWTH] != y->change[DV_GROWTH])
        return x->change[DV_GROWTH] > y->change[DV_GROWTH] ? -1 : 1;
    return strcmp(site_change_site(x)->key, site_change_site(y)->key);
}

static void add_change(struct site_diff *d, const struct diff_site *a, const struct diff_site *b)
{
    struct site_change c = {.a = a, .b = b};
    bool changed = false;
    for (int v = 0; v < DV_COUNT; v++) {
        c.a_v[v] = a ? a->v[v] : 0;
        c.b_v[v] = b ? b->v[v] : 0;
        c.change[v] = c.b_v[v] - c.a_v[v];
        changed |= fabs(c.change[v]) >= 0.5;
    }
    if (!changed)
        return;
    c.score = change_score(&c);
    d->rows[d->n++] = c;
}

/* Both sets are sorted by key: one merge pass. */
void site_diff_compute(const struct site_set *a, const struct site_set *b, struct site_diff *d)
{
    memset(d, 0, sizeof(*d));
    d->sampled = a->sampled || b->sampled;
    d->rows = xcalloc(a->n + b->n + 1, sizeof(*d->rows));
    size_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->sites[i].key, b->sites[j].key);
        if (c < 0)
            add_change(d, &a->sites[i++], NULL);
        else if (c > 0)
            add_change(d, NULL, &b->sites[j++]);
        else
            add_change(d, &a->sites[i++], &b->sites[j++]);
    }
    util_sort(d->rows, d->n, sizeof(*d->rows), by_regression);
}

void site_diff_free(struct site_diff *d)
{
    free(d->rows);
    memset(d, 0, sizeof(*d));
}

static bool is_regression(const struct site_change *c)
{
    return c->score >= 0.5 || c->change[DV_GROWTH] >= 0.5;
}

size_t site_diff_regressions(const struct site_diff *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        n += is_regression(&d->rows[i]);
    return n;
}

const struct diff_site *site_change_site(const struct site_change *c)
{
    return c->b ? c->b : c->a;
}

/* ---- showing it ------------------------------------------------------------------------------ */

static bool library_plumbing(const struct diff_frame *f)
{
    return f->inlined && (!strncmp(f->file, "/usr/include/", 13) || strstr(f->file, "/rustc/"));
}

void diff_site_label(const struct diff_site *s, unsigned max, char *out, size_t len)
{
    size_t used = 0;
    unsigned shown = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < s->nframes && shown < max && used < len; i++) {
        const struct diff_frame *f = &s->frames[i];
        if (library_plumbing(f) && i + 1 < s->nframes)
            continue;
        const char *file = strrchr(f->file, '/') ? strrchr(f->file, '/') + 1 : f->file;
        const char *object = strrchr(f->object, '/') ? strrchr(f->object, '/') + 1 : f->object;
        int w = f->line ? snprintf(out + used, len - used, "%s%s (%s:%d)%s", shown ? " <- " : "",
                                   f->function, file, f->line, f->inlined ? " [inlined]" : "")
                        : snprintf(out + used, len - used, "%s%s (%s)%s", shown ? " <- " : "",
                                   f->function, object, f->inlined ? " [inlined]" : "");
        used += w > 0 ? (size_t)w : 0;
        shown++;
    }
    if (!shown)
        snprintf(out, len, "(no stack)");
}

/* "+1.5 MiB", "-312 B", with the sign always. */
static const char *signed_bytes(char *buf, size_t len, double v, const char *unit)
{
    char b[32];
    format_bytes(b, sizeof(b), fabs(v));
    snprintf(buf, len, "%s%s%s", v < 0 ? "-" : "+", b, unit);
    return buf;
}

/* "at exit      0 B in 0 blocks -> 2.0 MiB in 132 blocks  (+2.0 MiB, +132 blocks)" */
static void print_moment(FILE *out, const char *indent, const char *moment,
                         const struct site_change *c, enum diff_value bytes, enum diff_value blocks)
{
    char b[3][40];
    fprintf(out, "%s   %s  %s in %.0f block%s -> %s in %.0f block%s  (%s, %+.0f block%s)\n", indent,
            moment, format_bytes(b[0], 40, c->a_v[bytes]), c->a_v[blocks],
            c->a_v[blocks] == 1 ? "" : "s", format_bytes(b[1], 40, c->b_v[bytes]), c->b_v[blocks],
            c->b_v[blocks] == 1 ? "" : "s", signed_bytes(b[2], 40, c->change[bytes], ""),
            c->change[blocks], fabs(c->change[blocks]) == 1 ? "" : "s");
}

void site_diff_print(FILE *out, const struct site_diff *d, size_t top, const char *indent)
{
    char label[1024], b[4][40];
    for (size_t i = 0; i < d->n && i < top; i++) {
        const struct site_change *c = &d->rows[i];
        diff_site_label(site_change_site(c), 4, label, sizeof(label));
        fprintf(out, "%s%zu. %s%s\n", indent, i + 1, label,
                !c->a   ? " (only in B)"
                : !c->b ? " (only in A)"
                        : "");
        print_moment(out, indent, "at the peak", c, DV_PEAK_BYTES, DV_PEAK_BLOCKS);
        print_moment(out, indent, "at exit    ", c, DV_EXIT_BYTES, DV_EXIT_BLOCKS);
        fprintf(out, "%s   growth       %s/s -> %s/s  (%s)\n", indent,
                format_bytes(b[0], 40, c->a_v[DV_GROWTH]),
                format_bytes(b[1], 40, c->b_v[DV_GROWTH]),
                signed_bytes(b[2], 40, c->change[DV_GROWTH], "/s"));
    }
    if (d->n > top)
        fprintf(out, "%s(%zu more sites changed; --top N shows more)\n", indent, d->n - top);
}

void site_diff_print_short(FILE *out, const struct site_diff *d, size_t top, const char *indent)
{
    char label[1024], b[5][40];
    size_t shown = 0;
    for (size_t i = 0; i < d->n && shown < top; i++) {
        const struct site_change *c = &d->rows[i];
        if (!is_regression(c))
            continue;
        diff_site_label(site_change_site(c), 3, label, sizeof(label));
        fprintf(out, "%s%s at the peak (%s -> %s), %s at exit, %s growth: %s\n", indent,
                signed_bytes(b[0], 40, c->change[DV_PEAK_BYTES], ""),
                format_bytes(b[1], 40, c->a_v[DV_PEAK_BYTES]),
                format_bytes(b[2], 40, c->b_v[DV_PEAK_BYTES]),
                signed_bytes(b[3], 40, c->change[DV_EXIT_BYTES], ""),
                signed_bytes(b[4], 40, c->change[DV_GROWTH], "/s"), label);
        shown++;
    }
}

/* "0 B -> 64.0 MiB (+64.0 MiB)" */
static void md_change(FILE *out, double a, double b, double change, const char *unit)
{
    char x[40], y[40], z[40];
    fprintf(out, " %s%s &rarr; %s%s (%s) |", format_bytes(x, sizeof(x), a), unit,
            format_bytes(y, sizeof(y), b), unit, signed_bytes(z, sizeof(z), change, unit));
}

void site_diff_markdown(FILE *out, const struct site_diff *d, size_t top)
{
    char label[1024];
    size_t shown = 0;
    fputs("| site (innermost frame first) | at the peak | at exit | growth |\n"
          "|---|---:|---:|---:|\n",
          out);
    for (size_t i = 0; i < d->n && shown < top; i++) {
        const struct site_change *c = &d->rows[i];
        if (!is_regression(c))
            continue;
        diff_site_label(site_change_site(c), 3, label, sizeof(label));
        fputs("| ", out);
        escape_markdown(out, label);
        fputs(" |", out);
        md_change(out, c->a_v[DV_PEAK_BYTES], c->b_v[DV_PEAK_BYTES], c->change[DV_PEAK_BYTES], "");
        md_change(out, c->a_v[DV_EXIT_BYTES], c->b_v[DV_EXIT_BYTES], c->change[DV_EXIT_BYTES], "");
        md_change(out, c->a_v[DV_GROWTH], c->b_v[DV_GROWTH], c->change[DV_GROWTH], "/s");
        fputs("\n", out);
        shown++;
    }
}

json_t *site_diff_json(const struct site_diff *d, size_t top)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < d->n && (!top || i < top); i++) {
        const struct site_change *c = &d->rows[i];
        const struct diff_site *s = site_change_site(c);
        json_t *frames = json_array(), *a = json_object(), *b = json_object(),
               *change = json_object();
        for (unsigned f = 0; f < s->nframes; f++)
            json_array_append_new(
                frames,
                json_pack("{s:o, s:o, s:i, s:o, s:b}", "function", json_text(s->frames[f].function),
                          "file", json_text(s->frames[f].file), "line", s->frames[f].line, "object",
                          json_text(s->frames[f].object), "inlined", s->frames[f].inlined));
        for (int v = 0; v < DV_COUNT; v++) {
            json_object_set_new(a, diff_value_names[v], json_real(c->a_v[v]));
            json_object_set_new(b, diff_value_names[v], json_real(c->b_v[v]));
            json_object_set_new(change, diff_value_names[v], json_real(c->change[v]));
        }
        json_array_append_new(rows, json_pack("{s:o, s:b, s:b, s:o, s:o, s:o, s:o}", "key",
                                              json_text(s->key), "in_a", c->a != NULL, "in_b",
                                              c->b != NULL, "frames", frames, "a", a, "b", b,
                                              "change", change));
    }
    return rows;
}

/* ---- bench directories ---------------------------------------------------------------- */

bool bench_dir_is_bench(const char *dir)
{
    char *path = util_format("%s/cells", dir);
    struct stat st;
    bool is = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    free(path);
    return is;
}

/* The key of a cell directory name: NAME without "-rREPEAT"; NULL when it has none. */
static char *cell_key(const char *name)
{
    const char *dash = strrchr(name, '-');
    if (!dash || dash == name || dash[1] != 'r' || !dash[2])
        return NULL;
    for (const char *p = dash + 2; *p; p++)
        if (*p < '0' || *p > '9')
            return NULL;
    return xstrndup(name, (size_t)(dash - name));
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of DIR/cells/ entries; each name with its key when KEY is NULL, else only those of
 * KEY, as full paths. */
static size_t list_cells(const char *dir, const char *key, char ***out)
{
    char *cells = util_format("%s/cells", dir);
    DIR *d = opendir(cells);
    size_t n = 0;
    *out = NULL;
    for (struct dirent *e; d && (e = readdir(d));) {
        char *k = cell_key(e->d_name);
        if (k && (!key || !strcmp(k, key))) {
            *out = xreallocarray(*out, n + 1, sizeof(char *));
            (*out)[n++] = key ? util_format("%s/%s", cells, e->d_name) : k;
            if (!key)
                k = NULL;
        }
        free(k);
    }
    if (d)
        closedir(d);
    free(cells);
    if (n)
        util_sort(*out, n, sizeof(char *), by_string);
    return n;
}

size_t bench_cell_keys(const char *dir, char ***keys)
{
    size_t n = list_cells(dir, NULL, keys), u = 0;
    for (size_t i = 0; i < n; i++) {
        if (u && !strcmp((*keys)[u - 1], (*keys)[i]))
            free((*keys)[i]);
        else
            (*keys)[u++] = (*keys)[i];
    }
    return u;
}

size_t bench_cell_repeats(const char *dir, const char *key, char ***dirs)
{
    return list_cells(dir, key, dirs);
}

void bench_strings_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}
