#include "reports/report_charts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/format.h"
#include "common/rundata.h"
#include "common/symbolize.h"
#include "common/atomic_file.h"
#include "common/escape.h"
#include "common/util.h"

#define MIB (1024.0 * 1024.0)
#define MAX_POINTS 400 /* per series: enough for a 960-pixel chart, small SVGs */
#define STYLES 8       /* line styles in style.gp */

static const char *const kinds[] = {
    [CHART_RSS] = "rss",       [CHART_BREAKDOWN] = "breakdown", [CHART_BARS] = "bars",
    [CHART_PARETO] = "pareto", [CHART_SITES] = "sites",         [CHART_RETURNED] = "returned",
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

#define REPLACEMENT_CHARACTER "\xef\xbf\xbd" /* U+FFFD */

void gnuplot_quote(char *out, size_t len, const char *text)
{
    size_t o = 0;
    for (const char *p = text; *p && o + 3 < len;) {
        size_t n = escape_utf8_length(p);
        /* Not UTF-8: gnuplot would copy the byte into the SVG, an invalid document. */
        const char *piece = n ? p : REPLACEMENT_CHARACTER;
        size_t piece_len = n ? n : 3;
        p += n ? n : 1;
        if ((unsigned char)*piece < 0x20 || *piece == 0x7f)
            continue;
        if (o + piece_len + (*piece == '\'') + 1 > len)
            break;
        if (*piece == '\'')
            out[o++] = '\'';
        memcpy(out + o, piece, piece_len);
        o += piece_len;
    }
    out[o] = '\0';
}

/* A file-name-safe stem. */
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

static char *read_template(const char *name, char *err, size_t errlen)
{
    char rel[64], srcrel[96];
    snprintf(rel, sizeof(rel), "charts/%s", name);
    snprintf(srcrel, sizeof(srcrel), "reports/charts/%s", name);
    const char *path = util_find_data(rel, srcrel);
    char *text = path ? util_read_file_bounded(path, UTIL_INPUT_MAX, NULL) : NULL;
    if (!text)
        snprintf(err, errlen,
                 "chart template %s not found (looked in ../share/allocscope/charts "
                 "and the source tree); reinstall allocscope",
                 name);
    return text;
}

/* TEMPLATE with each @KEY@ replaced by its value. */
static char *fill_template(const char *tmpl, const char *const *keys, const char *const *values,
                           size_t n)
{
    size_t cap = strlen(tmpl) + 1;
    for (size_t k = 0; k < n; k++)
        cap += strlen(values[k]) * 4;
    char *out = xmalloc(cap), *o = out;
    for (const char *p = tmpl; *p;) {
        size_t k = n;
        if (*p == '@')
            for (k = 0; k < n; k++)
                if (!strncmp(p + 1, keys[k], strlen(keys[k])) && p[1 + strlen(keys[k])] == '@')
                    break;
        if (k < n && (size_t)(o - out) + strlen(values[k]) + 1 < cap) {
            o = stpcpy(o, values[k]);
            p += strlen(keys[k]) + 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* A growing text buffer for generated gnuplot commands. */
struct text {
    char *s;
    size_t len, cap;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *piece = util_vformat(fmt, ap);
    va_end(ap);
    size_t n = strlen(piece);
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->s = xrealloc(t->s, t->cap);
    }
    memcpy(t->s + t->len, piece, n + 1);
    t->len += n;
    free(piece);
}

static const char *text_str(struct text *t)
{
    return t->s ? t->s : "";
}

/* A file of the charts directory being written (atomic_file.h); failures are warned about. */
struct chart_file {
    struct atomic_file *file;
    char path[PATH_MAX];
};

static void warn_unwritten(const char *path)
{
    char why[ATOMIC_FILE_ERROR_MAX];
    util_warn("%s", atomic_file_error(why, sizeof(why), path, errno));
}

static FILE *chart_file_open(struct chart_file *cf, const char *dir, const char *name)
{
    cf->file = NULL;
    errno = ENAMETOOLONG;
    if (snprintf(cf->path, sizeof(cf->path), "%s/%s", dir, name) < (int)sizeof(cf->path))
        cf->file = atomic_file_open(cf->path);
    if (!cf->file)
        warn_unwritten(cf->path);
    return cf->file ? atomic_file_stream(cf->file) : NULL;
}

static int chart_file_close(struct chart_file *cf)
{
    int rc = atomic_file_commit(cf->file);
    if (rc)
        warn_unwritten(cf->path);
    cf->file = NULL;
    return rc;
}

static size_t stride_for(size_t n)
{
    return n > MAX_POINTS ? (n + MAX_POINTS - 1) / MAX_POINTS : 1;
}

static void phases_commands(struct text *t, const struct report_cell *cell)
{
    for (size_t i = 0; cell && i < cell->nphases; i++) {
        const struct report_phase *p = &cell->phases[i];
        const char *shade = !strcmp(p->name, "load")   ? "load_shade"
                            : !strcmp(p->name, "idle") ? "idle_shade"
                                                       : "cooldown_shade";
        char name[32];
        gnuplot_quote(name, sizeof(name), p->name);
        text_add(t,
                 "set object %zu rect from %.3f, graph 0 to %.3f, graph 1 behind "
                 "fc rgb %s fs solid 1.0 noborder\n",
                 i + 1, p->start_s, p->end_s, shade);
        text_add(t,
                 "set label %zu '%s' at %.3f, graph 0.97 center font ',10' textcolor rgb "
                 "'#555555'\n",
                 i + 1, name, (p->start_s + p->end_s) / 2);
    }
}

struct chart_ctx {
    const struct report_input *in;
    const struct report_options *opt;
    struct chart_set *set;
    char *templates[NKINDS];
};

static struct chart *add_chart(struct chart_ctx *c, enum chart_kind kind, size_t group, long cell,
                               const char *stem, const char *title)
{
    struct chart_set *set = c->set;
    set->charts = xreallocarray(set->charts, set->n + 1, sizeof(*set->charts));
    struct chart *ch = &set->charts[set->n++];
    char s[80];
    slug(s, sizeof(s), stem);
    ch->kind = kind;
    ch->name = util_format("%s-%zu-%s", kinds[kind], set->n, s);
    ch->title = xstrdup(title);
    ch->group = group;
    ch->cell = cell;
    ch->rendered = false;
    return ch;
}

/* Writes NAME.gp from the kind's template. */
static int write_script(struct chart_ctx *c, const struct chart *ch, const char *data,
                        const char *phases, const char *plot, const char *extra_key,
                        const char *extra_value)
{
    char title[512], file[PATH_MAX];
    gnuplot_quote(title, sizeof(title), ch->title);
    const char *keys[] = {"TITLE", "DATA", "PHASES", "PLOT", extra_key ? extra_key : "-"};
    const char *values[] = {title, data, phases, plot, extra_value ? extra_value : ""};
    char *script = fill_template(c->templates[ch->kind], keys, values, 5);
    snprintf(file, sizeof(file), "%s.gp", ch->name);
    struct chart_file out;
    FILE *f = chart_file_open(&out, c->set->dir, file);
    if (!f) {
        free(script);
        return -1;
    }
    fputs(script, f);
    free(script);
    return chart_file_close(&out);
}

static const struct report_cell *group_phase_cell(const struct report_input *in,
                                                  const struct report_group *g)
{
    for (size_t k = 0; k < g->nconfigs; k++)
        if (g->configs[k].first_ok >= 0 && in->cells[g->configs[k].first_ok].nphases)
            return &in->cells[g->configs[k].first_ok];
    return NULL;
}

/* One line per configuration of a series picked by VALUE (RSS, returned bytes). */
static void chart_lines(struct chart_ctx *c, size_t g, enum chart_kind kind, const char *what,
                        const double *(*value)(const struct report_series *))
{
    const struct report_group *grp = &c->in->groups[g];
    char stem[128], title[256], dat[PATH_MAX];
    snprintf(stem, sizeof(stem), "%s", grp->label);
    snprintf(title, sizeof(title), "%s: %s", grp->label, what);
    struct chart *ch = add_chart(c, kind, g, -1, stem, title);
    snprintf(dat, sizeof(dat), "%s.dat", ch->name);
    struct chart_file out;
    FILE *f = chart_file_open(&out, c->set->dir, dat);
    if (!f)
        return;
    struct text plot = {0}, phases = {0};
    size_t block = 0;
    for (size_t k = 0; k < grp->nconfigs; k++) {
        long ci = grp->configs[k].first_ok;
        if (ci < 0 || (kind == CHART_RETURNED && !c->in->cells[ci].has_kernel))
            continue;
        const struct report_series *s = &c->in->cells[ci].series;
        const double *v = value(s);
        size_t stride = stride_for(s->n), written = 0;
        fprintf(f, "# %s\n", grp->configs[k].label);
        for (size_t i = 0; i < s->n; i += stride)
            if (!isnan(v[i]) && ++written)
                fprintf(f, "%.3f %.4f\n", s->t_s[i], v[i] / MIB);
        fputs("\n\n", f);
        if (!written)
            fputs("0 NaN\n\n\n", f);
        char label[256];
        gnuplot_quote(label, sizeof(label), grp->configs[k].label);
        if (written)
            text_add(&plot,
                     "%s'%s' index %zu using 1:2 with linespoints ls %zu pi %zu title "
                     "'%s'",
                     plot.len ? ", \\\n     " : "plot ", dat, block, k % STYLES + 1,
                     written / 8 + 1, label);
        block++;
    }
    chart_file_close(&out);
    phases_commands(&phases, group_phase_cell(c->in, grp));
    if (!plot.len || write_script(c, ch, dat, text_str(&phases), text_str(&plot), NULL, NULL))
        c->set->n--;
    free(plot.s);
    free(phases.s);
}

static const double *series_rss(const struct report_series *s)
{
    return s->rss;
}

static const double *series_returned(const struct report_series *s)
{
    return s->returned;
}

static double clamp0(double v)
{
    return isnan(v) || v < 0 ? 0 : v;
}

static void chart_breakdown(struct chart_ctx *c, size_t g, size_t k)
{
    const struct report_group *grp = &c->in->groups[g];
    long ci = grp->configs[k].first_ok;
    if (ci < 0)
        return;
    const struct report_cell *cell = &c->in->cells[ci];
    const struct report_series *s = &cell->series;
    char title[384], dat[PATH_MAX];
    snprintf(title, sizeof(title), "Where RSS goes: %s, %s%s", grp->label, grp->configs[k].label,
             cell->heap_known ? "" : " (the allocator reports no free memory)");
    struct chart *ch = add_chart(c, CHART_BREAKDOWN, g, ci, cell->name, title);
    snprintf(dat, sizeof(dat), "%s.dat", ch->name);
    struct chart_file out;
    FILE *f = chart_file_open(&out, c->set->dir, dat);
    if (!f) {
        c->set->n--;
        return;
    }
    fputs("# t_s live_mib allocator_free_mib lazyfree_mib rest_mib rss_mib\n", f);
    size_t stride = stride_for(s->n);
    for (size_t i = 0; i < s->n; i += stride) {
        if (isnan(s->rss[i]))
            continue;
        /* Each layer is capped by what RSS leaves, so the stack never exceeds RSS. */
        double rss = s->rss[i], live = fmin(clamp0(s->live[i]), rss);
        double lazy = fmin(clamp0(s->lazyfree[i]), rss - live);
        double held = fmin(clamp0(s->heap_free[i]), rss - live - lazy);
        double rest = rss - live - lazy - held;
        fprintf(f, "%.3f %.4f %.4f %.4f %.4f %.4f\n", s->t_s[i], live / MIB, held / MIB, lazy / MIB,
                rest / MIB, rss / MIB);
    }
    chart_file_close(&out);
    struct text phases = {0};
    phases_commands(&phases, cell->nphases ? cell : NULL);
    if (write_script(c, ch, dat, text_str(&phases), "", NULL, NULL))
        c->set->n--;
    free(phases.s);
}

static void data_label(char *out, size_t len, const char *label)
{
    /* Inside a "..." data field: no quotes or backslashes. */
    size_t o = 0;
    for (const char *p = label; *p && o + 1 < len; p++)
        out[o++] = (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) ? '_' : *p;
    out[o] = '\0';
}

static void chart_bars(struct chart_ctx *c, size_t g)
{
    static const struct {
        enum report_metric metric;
        const char *style, *title;
    } bars[] = {
        {METRIC_IDLE, "lc rgb '#bbbbbb' fs solid 1.0", "idle"},
        {METRIC_PEAK, "lc rgb '#0072B2' fs solid 0.85", "peak"},
        {METRIC_AFTER, "lc rgb '#D55E00' fs @fill_hatch1", "after load"},
        {METRIC_RECLAIMABLE, "lc rgb '#009E73' fs @fill_hatch2", "reclaimable"},
    };
    const struct report_group *grp = &c->in->groups[g];
    char title[256], dat[PATH_MAX], label[256];
    snprintf(title, sizeof(title), "%s: idle, peak and after-load RSS; reclaimable bytes",
             grp->label);
    struct chart *ch = add_chart(c, CHART_BARS, g, -1, grp->label, title);
    snprintf(dat, sizeof(dat), "%s.dat", ch->name);
    struct chart_file out;
    FILE *f = chart_file_open(&out, c->set->dir, dat);
    if (!f) {
        c->set->n--;
        return;
    }
    fputs("# label idle_mib peak_mib after_mib reclaimable_mib (medians over repeats)\n", f);
    size_t rows = 0;
    bool measured[4] = {false};
    for (size_t k = 0; k < grp->nconfigs; k++) {
        const double *m = grp->configs[k].m;
        if (isnan(m[METRIC_PEAK]) && isnan(m[METRIC_AFTER]))
            continue;
        data_label(label, sizeof(label), grp->configs[k].label);
        fprintf(f, "\"%s\"", label);
        for (size_t b = 0; b < 4; b++) {
            fprintf(f, " %.4f", m[bars[b].metric] / MIB);
            measured[b] |= !isnan(m[bars[b].metric]);
        }
        fputc('\n', f);
        rows++;
    }
    chart_file_close(&out);
    struct text plot = {0};
    for (size_t b = 0; b < 4; b++)
        if (measured[b])
            text_add(&plot, "%s'%s' using %zu%s %s border lc rgb '#333333' title '%s'",
                     plot.len ? ", \\\n     " : "plot ", dat, b + 2, plot.len ? "" : ":xtic(1)",
                     bars[b].style, bars[b].title);
    if (!rows || write_script(c, ch, dat, "", text_str(&plot), NULL, NULL))
        c->set->n--;
    free(plot.s);
}

static int by_rss(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static void chart_pareto(struct chart_ctx *c, size_t g, long chosen)
{
    const struct report_group *grp = &c->in->groups[g];
    enum report_metric metric = c->opt->rss_metric;
    double pts[256][2];
    size_t n = 0;
    for (size_t k = 0; k < grp->nconfigs && n < 256; k++) {
        const double *m = grp->configs[k].m;
        if (!isnan(m[metric]) && !isnan(m[METRIC_THROUGHPUT])) {
            pts[n][0] = m[metric] / MIB;
            pts[n][1] = m[METRIC_THROUGHPUT];
            n++;
        }
    }
    if (n == 0)
        return;
    char title[256], dat[PATH_MAX], front[PATH_MAX], label[256], xlabel[128];
    snprintf(title, sizeof(title), "%s: throughput against %s", grp->label,
             report_metric_title(metric));
    struct chart *ch = add_chart(c, CHART_PARETO, g, -1, grp->label, title);
    snprintf(dat, sizeof(dat), "%s.dat", ch->name);
    snprintf(front, sizeof(front), "%s-frontier.dat", ch->name);
    struct chart_file out, frontier;
    FILE *f = chart_file_open(&out, c->set->dir, dat);
    FILE *fr = chart_file_open(&frontier, c->set->dir, front);
    if (!f || !fr) {
        atomic_file_abort(out.file);
        atomic_file_abort(frontier.file);
        c->set->n--;
        return;
    }
    struct text plot = {0};
    /* The band of throughput the recommendation accepts, shaded. */
    double best_tp = 0;
    for (size_t i = 0; i < n; i++)
        best_tp = fmax(best_tp, pts[i][1]);
    text_add(&plot,
             "set object 1 rect from graph 0, first %.3f to graph 1, first %.3f behind "
             "fc rgb '#e4eef7' fs solid 1.0 noborder\n"
             "set label 1 'within %.0f%% of the best throughput' at graph 0.99, first %.3f "
             "right offset 0,0.6 font ',9' textcolor rgb '#41627e'\n",
             best_tp * (1 - c->opt->tolerance), best_tp, c->opt->tolerance * 100,
             best_tp * (1 - c->opt->tolerance));
    text_add(&plot,
             "plot '%s' using 1:2 with linespoints lc rgb '#555555' lw 1.5 dt 2 pt 0 "
             "title 'Pareto frontier'",
             front);
    size_t block = 0;
    long chosen_block = -1;
    for (size_t k = 0; k < grp->nconfigs; k++) {
        const double *m = grp->configs[k].m;
        if (isnan(m[metric]) || isnan(m[METRIC_THROUGHPUT]))
            continue;
        data_label(label, sizeof(label), grp->configs[k].label);
        fprintf(f, "%.4f %.2f \"%s\"\n\n\n", m[metric] / MIB, m[METRIC_THROUGHPUT], label);
        gnuplot_quote(label, sizeof(label), grp->configs[k].label);
        text_add(&plot, ", \\\n     '%s' index %zu using 1:2 with points ls %zu ps 1.8 title '%s'",
                 dat, block, k % STYLES + 1, label);
        text_add(&plot,
                 ", \\\n     '%s' index %zu using 1:2:3 with labels offset 1.2,0.9 left "
                 "font ',9' notitle",
                 dat, block);
        if ((long)k == chosen)
            chosen_block = (long)block;
        block++;
    }
    if (chosen_block >= 0)
        text_add(&plot,
                 ", \\\n     '%s' index %ld using 1:2 with points pt 6 ps 4 lw 2 "
                 "lc rgb '#000000' title 'recommended'",
                 dat, chosen_block);
    chart_file_close(&out);
    /* Frontier: by RSS ascending, each point with more throughput than all before it. */
    util_sort(pts, n, sizeof(pts[0]), by_rss);
    double best = -1;
    for (size_t i = 0; i < n; i++)
        if (pts[i][1] > best) {
            fprintf(fr, "%.4f %.2f\n", pts[i][0], pts[i][1]);
            best = pts[i][1];
        }
    chart_file_close(&frontier);
    snprintf(xlabel, sizeof(xlabel), "%s (MiB)", report_metric_title(metric));
    if (write_script(c, ch, dat, "", text_str(&plot), "XLABEL", xlabel))
        c->set->n--;
    free(plot.s);
}

/* The cell whose allocation sites stand for the workload: sites count requested bytes, the
 * same under every allocator, so one cell per workload is enough. */
static long sites_cell(const struct report_group *g)
{
    for (size_t k = 0; k < g->nconfigs; k++)
        if (g->configs[k].first_ok >= 0)
            return g->configs[k].first_ok;
    return -1;
}

static const struct run_data *rank_run;

static int by_growth(const void *a, const void *b)
{
    const struct site_series *x = &rank_run->sites[*(const size_t *)a];
    const struct site_series *y = &rank_run->sites[*(const size_t *)b];
    if (x->growth_bytes_per_s != y->growth_bytes_per_s)
        return x->growth_bytes_per_s > y->growth_bytes_per_s ? -1 : 1;
    return x->id < y->id ? -1 : 1;
}

/* The innermost frames of each site, as few as keep the labels distinct (two sites often
 * share their allocating function and differ in its caller). */
static char **site_labels(struct symbolizer *sym, const struct run_data *run, const size_t *order,
                          size_t n)
{
    char **labels = xcalloc(n, sizeof(char *));
    char buf[1024];
    for (unsigned depth = 1; depth <= 3; depth++) {
        for (size_t k = 0; k < n; k++) {
            free(labels[k]);
            /* Same frames up to 2 deep: the innermost one and the site's id tell them apart. */
            format_site_frames(sym, &run->sites[order[k]], depth < 3 ? depth : 1, buf, sizeof(buf));
            if (!*buf || depth == 3)
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%ssite %u", *buf ? " " : "",
                         run->sites[order[k]].id);
            labels[k] = xstrdup(buf);
        }
        bool distinct = true;
        for (size_t a = 0; a < n && distinct; a++)
            for (size_t b = a + 1; b < n && distinct; b++)
                distinct = strcmp(labels[a], labels[b]) != 0;
        if (distinct)
            break;
    }
    return labels;
}

static void chart_sites(struct chart_ctx *c, size_t g)
{
    const struct report_group *grp = &c->in->groups[g];
    struct group_sites *gs = &c->set->sites[g];
    gs->cell = sites_cell(grp);
    if (gs->cell < 0 || c->opt->top_sites <= 0)
        return;
    const struct report_cell *cell = &c->in->cells[gs->cell];
    struct run_data run;
    char err[512], stacks[PATH_MAX];
    snprintf(stacks, sizeof(stacks), "%s/stacks.csv", cell->dir);
    if (access(stacks, R_OK)) { /* recorded without stacks (--sample none, attach) */
        gs->cell = -1;
        return;
    }
    if (rundata_load(&run, cell->dir, RUNDATA_SITES, err, sizeof(err))) {
        util_warn("%s; no allocation-site chart for %s", err, grp->label);
        rundata_free(&run);
        gs->cell = -1;
        return;
    }
    size_t *order = xcalloc(run.nsites, sizeof(size_t)), n = 0;
    double top_peak = 0;
    for (size_t i = 0; i < run.nsites; i++)
        top_peak = fmax(top_peak, (double)run.sites[i].peak_bytes);
    /* Growing, and big enough to matter next to the largest site. */
    for (size_t i = 0; i < run.nsites; i++)
        if (run.sites[i].growth_bytes_per_s > 0 && run.sites[i].npoints >= 3 &&
            (double)run.sites[i].peak_bytes >= fmax(65536.0, top_peak * 0.02))
            order[n++] = i;
    rank_run = &run;
    util_sort(order, n, sizeof(size_t), by_growth);
    if (n > (size_t)c->opt->top_sites)
        n = (size_t)c->opt->top_sites;
    if (n == 0) {
        free(order);
        rundata_free(&run);
        return;
    }
    struct symbolizer *sym = symbolizer_new(run.maps_text);
    char title[256], dat[PATH_MAX], label[1024], quoted[1200];
    snprintf(title, sizeof(title), "%s: live bytes of the fastest growing allocation sites (%s)",
             grp->label, cell->name);
    struct chart *ch = add_chart(c, CHART_SITES, g, gs->cell, grp->label, title);
    snprintf(dat, sizeof(dat), "%s.dat", ch->name);
    struct chart_file out;
    FILE *f = chart_file_open(&out, c->set->dir, dat);
    struct text plot = {0}, phases = {0};
    gs->sites = xcalloc(n, sizeof(*gs->sites));
    char **labels = site_labels(sym, &run, order, n);
    for (size_t k = 0; k < n; k++) {
        const struct site_series *s = &run.sites[order[k]];
        struct report_site *rs = &gs->sites[gs->n++];
        rs->function = labels[k];
        format_site_frames(sym, s, 4, label, sizeof(label));
        rs->frames = xstrdup(label);
        rs->growth_bytes_per_s = s->growth_bytes_per_s;
        rs->end_bytes = (double)s->end_bytes;
        rs->peak_bytes = (double)s->peak_bytes;
        if (!f)
            continue;
        fprintf(f, "# site %u\n", s->id);
        size_t stride = stride_for(s->npoints);
        for (size_t i = 0; i < s->npoints; i += stride)
            fprintf(f, "%.3f %.4f\n", (double)s->points[i].t_ms / 1000.0,
                    (double)s->points[i].live_bytes / MIB);
        fputs("\n\n", f);
        char rate[32];
        format_bytes(rate, sizeof(rate), s->growth_bytes_per_s);
        snprintf(label, sizeof(label), "%s  +%s/s", rs->function, rate);
        gnuplot_quote(quoted, sizeof(quoted), label);
        text_add(&plot, "%s'%s' index %zu using 1:2 with linespoints ls %zu pi %zu title '%s'",
                 plot.len ? ", \\\n     " : "plot ", dat, k, k % STYLES + 1, s->npoints / 8 + 1,
                 quoted);
    }
    if (f && chart_file_close(&out))
        f = NULL;
    phases_commands(&phases, cell->nphases ? cell : NULL);
    if (!f || write_script(c, ch, dat, text_str(&phases), text_str(&plot), NULL, NULL))
        c->set->n--;
    symbolizer_free(sym);
    free(labels);
    free(plot.s);
    free(phases.s);
    free(order);
    rundata_free(&run);
}

static bool group_has_kernel(const struct report_input *in, const struct report_group *g)
{
    for (size_t k = 0; k < g->nconfigs; k++)
        if (g->configs[k].first_ok >= 0 && in->cells[g->configs[k].first_ok].has_kernel)
            return true;
    return false;
}

static int write_style(struct chart_ctx *c, char *err, size_t errlen)
{
    char *style = read_template("style.gp", err, errlen);
    if (!style)
        return -1;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/style.gp", c->set->dir);
    struct atomic_file *out = atomic_file_open(path);
    if (out)
        fputs(style, atomic_file_stream(out));
    int rc = out ? atomic_file_commit(out) : -1;
    if (rc)
        atomic_file_error(err, errlen, path, errno);
    free(style);
    return rc;
}

/* A report written again into the same OUT must not keep the previous one's charts; only
 * files named as this code names them are removed. */
static void remove_old_charts(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    static const char *const exts[] = {".svg", ".png", ".gp", ".dat", ".log"};
    for (struct dirent *e; (e = readdir(d));) {
        bool ours = false;
        for (size_t k = 0; k < NKINDS && !ours; k++)
            ours = !strncmp(e->d_name, kinds[k], strlen(kinds[k])) &&
                   e->d_name[strlen(kinds[k])] == '-';
        ours |= !strncmp(e->d_name, "gnuplot-", 8);
        const char *dot = strrchr(e->d_name, '.');
        bool ext = false;
        for (size_t k = 0; dot && k < sizeof(exts) / sizeof(exts[0]); k++)
            ext |= !strcmp(dot, exts[k]);
        if (ours && ext)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

int charts_write(const struct report_input *in, const struct report_options *opt,
                 const long *chosen, const char *outdir, struct chart_set *set, char *err,
                 size_t errlen)
{
    memset(set, 0, sizeof(*set));
    set->dir = util_format("%s/charts", outdir);
    set->sites = xcalloc(in->ngroups, sizeof(*set->sites));
    set->ngroups = in->ngroups;
    for (size_t g = 0; g < in->ngroups; g++)
        set->sites[g].cell = -1;
    if (util_mkdir_p(set->dir)) {
        snprintf(err, errlen, "cannot create %s: %s", set->dir, strerror(errno));
        return -1;
    }
    remove_old_charts(set->dir);
    struct chart_ctx c = {.in = in, .opt = opt, .set = set};
    int rc = 0;
    for (size_t k = 0; k < NKINDS && !rc; k++) {
        char file[32];
        snprintf(file, sizeof(file), "%s.gp", kinds[k]);
        if (!(c.templates[k] = read_template(file, err, errlen)))
            rc = -1;
    }
    if (!rc && write_style(&c, err, errlen))
        rc = -1;
    for (size_t g = 0; g < in->ngroups && !rc; g++) {
        chart_lines(&c, g, CHART_RSS, "RSS over time", series_rss);
        chart_bars(&c, g);
        chart_pareto(&c, g, chosen ? chosen[g] : -1);
        chart_sites(&c, g);
        if (group_has_kernel(in, &in->groups[g]))
            chart_lines(&c, g, CHART_RETURNED, "bytes returned to the OS", series_returned);
        for (size_t k = 0; k < in->groups[g].nconfigs; k++)
            chart_breakdown(&c, g, k);
    }
    for (size_t k = 0; k < NKINDS; k++)
        free(c.templates[k]);
    return rc;
}

static int write_driver(const struct chart_set *set, const char *name, const char *terminal,
                        const char *ext, const size_t *which, size_t n)
{
    struct chart_file out;
    FILE *f = chart_file_open(&out, set->dir, name);
    if (!f)
        return -1;
    fprintf(f, "# Renders every chart of this directory: gnuplot %s\n", name);
    fprintf(f, "set terminal %s\n", terminal);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "set output '%s.%s'\nload '%s.gp'\nunset output\n", set->charts[which[i]].name,
                ext, set->charts[which[i]].name);
    return chart_file_close(&out);
}

/* gnuplot running one driver in DIR; its log is written like every other file and appears
 * when gnuplot ends. */
struct gnuplot_run {
    pid_t pid;
    struct chart_file log;
};

static void gnuplot_start(struct gnuplot_run *run, const char *dir, const char *script,
                          const char *log)
{
    snprintf(run->log.path, sizeof(run->log.path), "%s/%s", dir, log);
    run->log.file = atomic_file_open_mode(run->log.path, 0644);
    if (!run->log.file)
        warn_unwritten(run->log.path);
    run->pid = fork();
    if (run->pid != 0)
        return;
    if (chdir(dir) == 0) {
        if (run->log.file) {
            dup2(fileno(atomic_file_stream(run->log.file)), 1);
            dup2(fileno(atomic_file_stream(run->log.file)), 2);
        }
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
    }
    _exit(127);
}

/* Waits for gnuplot and puts its log in place; returns its exit status, -1 when it never ran. */
static int gnuplot_wait(struct gnuplot_run *run)
{
    int st = 0;
    bool waited = run->pid > 0 && waitpid(run->pid, &st, 0) == run->pid;
    if (run->log.file)
        chart_file_close(&run->log);
    if (!waited)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int gnuplot_run(const char *dir, const char *script, const char *log)
{
    struct gnuplot_run run;
    gnuplot_start(&run, dir, script, log);
    return gnuplot_wait(&run);
}

static bool output_ok(const struct chart_set *set, const struct chart *ch, const char *ext)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s.%s", set->dir, ch->name, ext);
    return stat(path, &st) == 0 && st.st_size > 200;
}

#define SVG_TERMINAL                                                                               \
    "svg size 960,420 dynamic noenhanced font 'Helvetica,12' background rgb 'white'"
#define PNG_TERMINAL "pngcairo size 960,420 noenhanced font 'Helvetica,10' background rgb 'white'"

/* Runs the PNG drivers, one per CPU (pngcairo takes ~60 ms a chart, SVG ~3 ms): the
 * charts are dealt round-robin to temporary drivers, removed afterwards. Returns the worst
 * exit status. */
static int render_png_parallel(const struct chart_set *set)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t parts = cpus > 1 ? (size_t)cpus : 1;
    if (parts > 8)
        parts = 8;
    if (parts > set->n)
        parts = set->n ? set->n : 1;
    size_t *which = xcalloc(set->n, sizeof(size_t));
    struct gnuplot_run runs[8];
    char names[8][48], log[48];
    for (size_t p = 0; p < parts; p++) {
        size_t n = 0;
        for (size_t i = p; i < set->n; i += parts)
            which[n++] = i;
        snprintf(names[p], sizeof(names[p]), "render-png-part%zu.gp", p + 1);
        write_driver(set, names[p], PNG_TERMINAL, "png", which, n);
        snprintf(log, sizeof(log), "gnuplot-png%zu.log", p + 1);
        gnuplot_start(&runs[p], set->dir, names[p], log);
    }
    int worst = 0;
    for (size_t p = 0; p < parts; p++) {
        int rc = gnuplot_wait(&runs[p]);
        worst = rc > worst || rc < 0 ? rc : worst;
        char *path = util_format("%s/%s", set->dir, names[p]);
        unlink(path);
        free(path);
    }
    free(which);
    return worst;
}

/* SVG and PNG at once; a chart that stops a driver with an error is then retried alone so
 * the others still come out. */
size_t charts_render(struct report_input *in, struct chart_set *set, bool png)
{
    size_t *all = xcalloc(set->n, sizeof(size_t));
    for (size_t i = 0; i < set->n; i++)
        all[i] = i;
    write_driver(set, "render-svg.gp", SVG_TERMINAL, "svg", all, set->n);
    write_driver(set, "render-png.gp", PNG_TERMINAL, "png", all, set->n);
    struct gnuplot_run svg;
    gnuplot_start(&svg, set->dir, "render-svg.gp", "gnuplot-svg.log");
    int png_rc = png ? render_png_parallel(set) : 0;
    int svg_rc = gnuplot_wait(&svg);
    if (svg_rc == 127 || svg_rc < 0)
        report_problem(in, "gnuplot could not be started; install gnuplot-nox "
                           "(tools/install-deps); the report has no charts");
    size_t rendered = 0;
    for (size_t i = 0; i < set->n; i++) {
        struct chart *ch = &set->charts[i];
        if ((svg_rc && svg_rc != 127 && !output_ok(set, ch, "svg")) ||
            (png && png_rc && png_rc != 127 && !output_ok(set, ch, "png"))) {
            char one[PATH_MAX];
            snprintf(one, sizeof(one), "render-%zu.gp", i);
            write_driver(set, one, SVG_TERMINAL, "svg", &i, 1);
            gnuplot_run(set->dir, one, "gnuplot-retry.log");
            if (png) {
                write_driver(set, one, PNG_TERMINAL, "png", &i, 1);
                gnuplot_run(set->dir, one, "gnuplot-retry.log");
            }
            char *path = util_format("%s/%s", set->dir, one);
            unlink(path);
            free(path);
        }
        ch->rendered = output_ok(set, ch, "svg");
        ch->rendered_png = png && output_ok(set, ch, "png");
        if (!ch->rendered && svg_rc != 127)
            report_problem(in, "chart %s/%s.gp did not render (see %s/gnuplot-svg.log)", set->dir,
                           ch->name, set->dir);
        rendered += ch->rendered;
    }
    free(all);
    return rendered;
}

/* Copies TEXT replacing every FROM by TO. */
static char *replace_all(const char *text, const char *from, const char *to)
{
    size_t count = 0, fl = strlen(from), tl = strlen(to);
    for (const char *p = text; (p = strstr(p, from)); p += fl)
        count++;
    char *out = xmalloc(strlen(text) + count * (tl > fl ? tl - fl : 0) + 1), *o = out;
    for (const char *p = text;;) {
        const char *hit = strstr(p, from);
        if (!hit) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, to, tl);
        o += tl;
        p = hit + fl;
    }
    return out;
}

char *chart_svg_inline(const struct chart_set *set, size_t i, const char *prefix)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s.svg", set->dir, set->charts[i].name);
    char *text = util_read_file(path, NULL);
    if (!text)
        return NULL;
    const char *start = strstr(text, "<svg");
    if (!start) {
        free(text);
        return NULL;
    }
    /* Every chart defines the same ids (gpPt0, gpPat1, textbox ...): prefix them so the
     * inlined charts do not share definitions. */
    const char *pairs[][2] = {{"id='", "id='%s"},
                              {"id=\"", "id=\"%s"},
                              {"href='#", "href='#%s"},
                              {"href=\"#", "href=\"#%s"},
                              {"url(#", "url(#%s"}};
    char *cur = xstrdup(start);
    for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
        char *to = util_format(pairs[k][1], prefix);
        char *next = replace_all(cur, pairs[k][0], to);
        free(to);
        free(cur);
        cur = next;
    }
    free(text);
    return cur;
}

void charts_free(struct chart_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->charts[i].name);
        free(set->charts[i].title);
    }
    free(set->charts);
    for (size_t g = 0; set->sites && g < set->ngroups; g++) {
        for (size_t k = 0; k < set->sites[g].n; k++) {
            free(set->sites[g].sites[k].function);
            free(set->sites[g].sites[k].frames);
        }
        free(set->sites[g].sites);
    }
    free(set->sites);
    free(set->dir);
    memset(set, 0, sizeof(*set));
}
