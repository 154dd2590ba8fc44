#include "reports/diagnose.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/csv.h"
#include "common/format.h"
#include "common/rundata.h"
#include "common/symbolize.h"
#include "common/stats.h"
#include "common/util.h"

/* Messages and paths are cut to their buffers on purpose: a long path only shortens a line. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MIB (1024.0 * 1024.0)

static const char *const verdict_names[] = {"healthy", "leak", "unbounded-buffering",
                                            "allocator-retention", "fragmentation"};
static const char *const confidence_names[] = {"low", "medium", "high"};

const char *diagnosis_verdict_name(enum diagnosis_verdict v)
{
    return (unsigned)v < 5 ? verdict_names[v] : "unknown";
}

const char *diagnosis_confidence_name(enum diagnosis_confidence c)
{
    return (unsigned)c < 3 ? confidence_names[c] : "unknown";
}

int diagnosis_verdict_parse(const char *name)
{
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, verdict_names[i]))
            return i;
    return -1;
}

/* ---- thresholds ---------------------------------------------------------------------- */

void diagnose_thresholds_default(struct diagnose_thresholds *t)
{
    *t = (struct diagnose_thresholds){
        .min_growth_bytes = 1 * MIB,
        .min_growth_share = 0.10,
        .min_slope_t = 4.0,
        .min_site_slope_t = 2.0,
        .sustained_share = 0.25,
        .tail_share = 0.1,
        .leak_kept_share = 0.5,
        .live_return_share = 0.25,
        .min_excess_rss = 8 * MIB,
        .excess_rss_share = 0.4,
        .reclaimable_share = 0.5,
        .activity_share = 0.1,
        .dominance = 4.0,
    };
}

struct threshold_name {
    const char *name;
    size_t offset;
    bool bytes;
};

static const struct threshold_name threshold_names[] = {
    {"min_growth_bytes", offsetof(struct diagnose_thresholds, min_growth_bytes), true},
    {"min_growth_share", offsetof(struct diagnose_thresholds, min_growth_share), false},
    {"min_slope_t", offsetof(struct diagnose_thresholds, min_slope_t), false},
    {"min_site_slope_t", offsetof(struct diagnose_thresholds, min_site_slope_t), false},
    {"sustained_share", offsetof(struct diagnose_thresholds, sustained_share), false},
    {"tail_share", offsetof(struct diagnose_thresholds, tail_share), false},
    {"leak_kept_share", offsetof(struct diagnose_thresholds, leak_kept_share), false},
    {"live_return_share", offsetof(struct diagnose_thresholds, live_return_share), false},
    {"min_excess_rss", offsetof(struct diagnose_thresholds, min_excess_rss), true},
    {"excess_rss_share", offsetof(struct diagnose_thresholds, excess_rss_share), false},
    {"reclaimable_share", offsetof(struct diagnose_thresholds, reclaimable_share), false},
    {"activity_share", offsetof(struct diagnose_thresholds, activity_share), false},
    {"dominance", offsetof(struct diagnose_thresholds, dominance), false},
};

int diagnose_thresholds_set(struct diagnose_thresholds *t, const char *assignment, char *err,
                            size_t errlen)
{
    const char *eq = strchr(assignment, '=');
    size_t n = sizeof(threshold_names) / sizeof(threshold_names[0]);
    for (size_t i = 0; eq && i < n; i++) {
        const struct threshold_name *tn = &threshold_names[i];
        if (strlen(tn->name) != (size_t)(eq - assignment) ||
            strncmp(tn->name, assignment, (size_t)(eq - assignment)))
            continue;
        double value;
        uint64_t bytes;
        char *end;
        if (tn->bytes && !util_parse_bytes(eq + 1, &bytes)) {
            value = (double)bytes;
        } else {
            value = strtod(eq + 1, &end);
            if (end == eq + 1 || *end || !isfinite(value) || value < 0) {
                snprintf(err, errlen, "threshold %s wants a non-negative number, not '%s'",
                         tn->name, eq + 1);
                return -1;
            }
        }
        *(double *)((char *)t + tn->offset) = value;
        return 0;
    }
    snprintf(err, errlen,
             "unknown threshold '%s'; use NAME=VALUE with a name listed in docs/DIAGNOSE.md",
             assignment);
    return -1;
}

/* ---- statistics ---------------------------------------------------------------------- */

double diagnose_slope(const double *t, const double *y, size_t n, double *t_stat)
{
    *t_stat = 0;
    struct stats_line line;
    if (stats_fit_line(t, y, n, &line) || line.n < 3)
        return 0;
    /* Points exactly on a line: the noise floor is one byte per point. */
    double floor_se = 1.0 / sqrt(line.sxx);
    *t_stat = line.slope / (line.slope_se > floor_se ? line.slope_se : floor_se);
    if (fabs(*t_stat) > 1000) /* beyond any doubt; keeps reports readable */
        *t_stat = *t_stat > 0 ? 1000 : -1000;
    return line.slope;
}

/* ---- classification ------------------------------------------------------------------ */

static void lack(struct diagnosis *d, const char *what)
{
    if (d->nlacking < sizeof(d->lacking) / sizeof(d->lacking[0]))
        snprintf(d->lacking[d->nlacking++], sizeof(d->lacking[0]), "%s", what);
}

static bool site_is_significant(const struct diagnosis_site *s, const struct diagnosis_metrics *m,
                                const struct diagnose_thresholds *t)
{
    double growth = (double)(s->peak_bytes - s->start_bytes);
    double peak = m->has_live ? m->peak_live : m->peak_rss;
    /* Sites are snapshotted once a second: their own trend is coarse, so the heap's
     * finer series must also still be rising at the end of the load (a buffer that reached
     * its bound, or a cache that filled, is flat there). */
    bool heap_rising =
        m->tail_slope_t >= t->min_slope_t && m->tail_growth >= t->tail_share * growth;
    return growth >= t->min_growth_bytes && growth >= t->min_growth_share * peak &&
           s->slope_t >= t->min_site_slope_t && s->sustained >= t->sustained_share && heap_rising;
}

static bool site_is_leak(const struct diagnosis_site *s, const struct diagnose_thresholds *t)
{
    return s->kept >= t->leak_kept_share;
}

static int by_leak_then_growth(const void *a, const void *b)
{
    const struct diagnosis_site *x = a, *y = b;
    bool xl = x->leaked, yl = y->leaked;
    if (xl != yl)
        return xl ? -1 : 1;
    if (x->growth_bytes_per_s != y->growth_bytes_per_s)
        return x->growth_bytes_per_s > y->growth_bytes_per_s ? -1 : 1;
    return x->site_id < y->site_id ? -1 : 1;
}

static void keep_significant_sites(struct diagnosis *d, const struct diagnose_thresholds *t)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nsites; i++) {
        d->sites[i].significant = site_is_significant(&d->sites[i], &d->m, t);
        d->sites[i].leaked = site_is_leak(&d->sites[i], t);
        if (d->sites[i].significant)
            d->sites[n++] = d->sites[i];
    }
    d->nsites = n;
    if (n > 1)
        qsort(d->sites, n, sizeof(*d->sites), by_leak_then_growth);
}

static void classify_growth(struct diagnosis *d, const struct diagnose_thresholds *t)
{
    size_t leaks = 0;
    for (size_t i = 0; i < d->nsites; i++)
        leaks += site_is_leak(&d->sites[i], t);
    const struct diagnosis_site *top = &d->sites[0];
    char b1[32], b2[32], b3[32];
    if (leaks) {
        d->verdict = VERDICT_LEAK;
        snprintf(d->reason, sizeof(d->reason),
                 "%zu site%s grew through the load and kept the growth: %s grew %s at %s/s "
                 "(t=%.1f) and %.0f%% of it was still live %s",
                 leaks, leaks > 1 ? "s" : "", top->function,
                 format_bytes(b1, sizeof(b1), (double)(top->peak_bytes - top->start_bytes)),
                 format_bytes(b2, sizeof(b2), top->growth_bytes_per_s), top->slope_t,
                 100 * top->kept, d->m.has_cooldown ? "after the cooldown" : "at exit");
    } else {
        d->verdict = VERDICT_UNBOUNDED_BUFFERING;
        snprintf(d->reason, sizeof(d->reason),
                 "%zu site%s grew with the load and gave it back: %s grew %s at %s/s (t=%.1f), "
                 "%s left %s",
                 d->nsites, d->nsites > 1 ? "s" : "", top->function,
                 format_bytes(b1, sizeof(b1), (double)(top->peak_bytes - top->start_bytes)),
                 format_bytes(b2, sizeof(b2), top->growth_bytes_per_s), top->slope_t,
                 format_bytes(b3, sizeof(b3), (double)(top->after_bytes - top->start_bytes)),
                 d->m.has_cooldown ? "after the load" : "at exit");
        snprintf(d->suggestion, sizeof(d->suggestion),
                 "bound the buffers at these sites (high-water mark, backpressure, idle "
                 "timeout): a slower consumer or more load makes them grow further");
    }
    if (!d->m.has_live) {
        size_t used = strlen(d->reason);
        snprintf(d->reason + used, sizeof(d->reason) - used,
                 "; without the live heap this may also be memory the allocator keeps");
    }
    bool released_known = d->m.has_cooldown || d->m.exited_cleanly;
    if (!released_known || !d->m.has_live)
        d->confidence = CONFIDENCE_LOW;
    else if (d->m.has_cooldown && d->m.has_stacks && (top->kept >= 0.8 || top->kept <= 0.2))
        d->confidence = CONFIDENCE_HIGH;
    else
        d->confidence = CONFIDENCE_MEDIUM;
    if (leaks && top->site_id == UINT32_MAX)
        snprintf(d->suggestion, sizeof(d->suggestion),
                 "record with stacks (allocscope run --sample all) to find the growing sites");
    else if (leaks)
        snprintf(d->suggestion, sizeof(d->suggestion),
                 "free what %s allocates when its owner is done (or bound it); "
                 "'allocscope leaks %s' lists every site",
                 top->function, d->run_dir);
}

static void retention_suggestion(struct diagnosis *d)
{
    const char *a = d->m.allocator ? d->m.allocator : "";
    const char *s;
    if (!strcmp(a, "jemalloc"))
        s = "jemalloc:bg-decay (MALLOC_CONF=background_thread:true,dirty_decay_ms:500,"
            "muzzy_decay_ms:1000) returns idle dirty pages within about a second";
    else if (!strcmp(a, "mimalloc"))
        s = "mimalloc:decommit-0 (MIMALLOC_DECOMMIT_DELAY=0) decommits free pages at once";
    else if (!strcmp(a, "tcmalloc"))
        s = "tcmalloc:aggressive-decommit (TCMALLOC_AGGRESSIVE_DECOMMIT=true) returns freed "
            "spans at once";
    else
        s = "jemalloc:bg-decay (background_thread:true,dirty_decay_ms:500) gives it back "
            "within a second; under glibc, glibc:trim (malloc_trim every second)";
    snprintf(d->suggestion, sizeof(d->suggestion), "try %s", s);
}

/* RSS above the live heap, beyond what it was at idle (code, stacks, allocator metadata). */
static double excess_rss(const struct diagnosis_metrics *m)
{
    return (m->after_rss - m->after_live) - (m->idle_rss - m->idle_live);
}

static bool classify_rss(struct diagnosis *d, const struct diagnose_thresholds *t)
{
    const struct diagnosis_metrics *m = &d->m;
    /* Without the live heap, RSS held by the allocator and RSS in use look the same. */
    if (!m->has_live || m->after_rss < 0 || m->idle_rss < 0 || m->peak_rss < 0)
        return false;
    double excess = excess_rss(m);
    double rise = m->peak_rss - m->idle_rss;
    if (excess < t->min_excess_rss || excess < t->excess_rss_share * rise)
        return false;
    bool live_returned =
        m->has_live &&
        m->after_live <= m->idle_live + t->live_return_share * (m->peak_live - m->idle_live);
    char b1[32], b2[32], b3[32], b4[32];
    format_bytes(b1, sizeof(b1), m->after_rss);
    format_bytes(b2, sizeof(b2), m->peak_rss);
    format_bytes(b3, sizeof(b3), m->after_live);
    format_bytes(b4, sizeof(b4), excess);
    if (m->reclaim_before_rss < 0 || m->reclaim_after_rss < 0) {
        d->verdict = VERDICT_ALLOCATOR_RETENTION;
        d->confidence = CONFIDENCE_LOW;
        snprintf(d->reason, sizeof(d->reason),
                 "after the load RSS is %s (peak %s) while the live heap is %s: %s held beyond "
                 "idle; without a reclaim test this may also be fragmentation",
                 b1, b2, b3, b4);
        retention_suggestion(d);
        return true;
    }
    double reclaimed = m->reclaim_before_rss - m->reclaim_after_rss;
    char b5[32];
    format_bytes(b5, sizeof(b5), reclaimed);
    if (reclaimed >= t->reclaimable_share * excess) {
        d->verdict = VERDICT_ALLOCATOR_RETENTION;
        d->confidence = live_returned && m->has_cooldown ? CONFIDENCE_HIGH : CONFIDENCE_MEDIUM;
        snprintf(d->reason, sizeof(d->reason),
                 "after the load RSS stays at %s (peak %s) while the live heap is %s; the "
                 "reclaim test gave back %s of the %s held beyond idle",
                 b1, b2, b3, b5, b4);
        retention_suggestion(d);
    } else {
        d->verdict = VERDICT_FRAGMENTATION;
        d->confidence = m->has_cooldown ? CONFIDENCE_HIGH : CONFIDENCE_MEDIUM;
        snprintf(d->reason, sizeof(d->reason),
                 "RSS %s is %s above the live heap %s beyond idle and the reclaim test gave "
                 "back only %s: free memory is scattered between live blocks",
                 b1, b4, b3, b5);
        snprintf(d->suggestion, sizeof(d->suggestion),
                 "keep long-lived objects apart from short-lived ones (separate arenas or "
                 "pools); compare glibc:arena2, glibc:mmap-low and jemalloc in a bench");
    }
    return true;
}

/* A small kept growth beside a large RSS held by the allocator (a bounded cache still
 * filling up during a short load, or a slow leak): the verdict names what holds the most
 * memory after the load, and the reason keeps the growing sites. */
static void prefer_dominant_rss(struct diagnosis *d, const struct diagnose_thresholds *t)
{
    double kept = 0;
    for (size_t i = 0; i < d->nsites; i++)
        if (d->sites[i].leaked)
            kept += (double)(d->sites[i].after_bytes - d->sites[i].start_bytes);
    struct diagnosis *alt = malloc(sizeof(*alt));
    *alt = *d;
    if (classify_rss(alt, t) && d->m.has_live && excess_rss(&d->m) >= t->dominance * kept) {
        char b1[32];
        d->verdict = alt->verdict;
        d->confidence = CONFIDENCE_MEDIUM;
        snprintf(d->suggestion, sizeof(d->suggestion), "%s", alt->suggestion);
        snprintf(d->reason, sizeof(d->reason),
                 "%s; besides, %zu site%s kept %s (a bounded cache filling up, or a slow leak: "
                 "see the sites)",
                 alt->reason, d->nsites, d->nsites > 1 ? "s" : "",
                 format_bytes(b1, sizeof(b1), kept));
    }
    free(alt);
}

static void note_lacking(struct diagnosis *d)
{
    const struct diagnosis_metrics *m = &d->m;
    if (!m->has_live)
        lack(d, "no live heap (a kernel-only recording): growth judged on RSS alone");
    else if (!m->has_stacks)
        lack(d, "no stacks (recorded without sites): growth not attributed to sites");
    if (!m->phases_from_file)
        lack(d, "no phases.csv: the load was taken as the time of high allocation rate");
    if (!m->has_cooldown)
        lack(d, "no idle time recorded after the load: release after load not observed");
    if (!m->exited_cleanly)
        lack(d, "no clean exit: bytes unfreed at exit not known");
    if (m->reclaim_before_rss < 0)
        lack(d, "no reclaim test (allocscope run --reclaim S, or a bench cell)");
}

void diagnose_classify(struct diagnosis *d, const struct diagnose_thresholds *t)
{
    d->verdict = VERDICT_HEALTHY;
    d->confidence = CONFIDENCE_MEDIUM;
    d->reason[0] = d->suggestion[0] = '\0';
    d->nlacking = 0;
    keep_significant_sites(d, t);
    note_lacking(d);
    if (d->nsites) {
        classify_growth(d, t);
        if (d->verdict == VERDICT_LEAK)
            prefer_dominant_rss(d, t);
        return;
    }
    if (classify_rss(d, t))
        return;
    char b1[32], b2[32], b3[32];
    snprintf(d->reason, sizeof(d->reason),
             "no site grew significantly through the load; after the load the live heap is %s "
             "(idle %s) and RSS %s above it beyond idle",
             format_bytes(b1, sizeof(b1), d->m.after_live),
             format_bytes(b2, sizeof(b2), d->m.idle_live),
             format_bytes(b3, sizeof(b3),
                          d->m.has_live ? excess_rss(&d->m) : d->m.after_rss - d->m.idle_rss));
    if (d->m.has_cooldown && d->m.has_live && d->m.has_stacks)
        d->confidence = CONFIDENCE_HIGH;
    else if (!d->m.has_live)
        d->confidence = CONFIDENCE_LOW;
}

/* ---- measurement --------------------------------------------------------------------- */

/* The rows of samples.csv that describe the program while it ran: without the exit row
 * and without the rows from the reclaim request on. */
struct series {
    size_t n;
    double *t_ms, *live, *rss, *alloc_calls;
    bool has_live;
    double exit_live; /* -1 without an exit row */
};

static void series_free(struct series *s)
{
    free(s->t_ms);
    free(s->live);
    free(s->rss);
    free(s->alloc_calls);
}

static double cell_or(const struct csv *c, size_t row, int col, double fallback)
{
    double v = csv_number(c, row, col);
    return isnan(v) || v < 0 ? fallback : v;
}

static int series_load(struct series *s, const struct csv *c, bool exited, char *err, size_t errlen)
{
    int c_t = csv_column(c, "t_ms"), c_live = csv_column(c, "live_bytes");
    int c_rss = csv_column(c, "rss_bytes"), c_lazy = csv_column(c, "lazyfree_bytes");
    int c_calls = csv_column(c, "alloc_calls"), c_reclaim = csv_column(c, "reclaim");
    memset(s, 0, sizeof(*s));
    s->exit_live = -1;
    if (c_t < 0 || c_rss < 0) {
        snprintf(err, errlen, "%s: missing column t_ms or rss_bytes", c->path);
        return -1;
    }
    s->has_live = c_live >= 0;
    size_t rows = c->nrows;
    if (exited && rows > 1 && s->has_live) {
        rows--; /* the exit row: after the program's destructors */
        s->exit_live = cell_or(c, rows, c_live, 0);
    }
    s->t_ms = calloc(rows + 1, sizeof(double));
    s->live = calloc(rows + 1, sizeof(double));
    s->rss = calloc(rows + 1, sizeof(double));
    s->alloc_calls = calloc(rows + 1, sizeof(double));
    for (size_t r = 0; r < rows; r++) {
        if (*csv_cell(c, r, c_reclaim))
            break;
        /* MADV_FREE'd pages count in Rss until the kernel takes them, but they are given back. */
        s->t_ms[s->n] = cell_or(c, r, c_t, 0);
        s->rss[s->n] = cell_or(c, r, c_rss, 0) - cell_or(c, r, c_lazy, 0);
        s->live[s->n] = cell_or(c, r, c_live, 0);
        s->alloc_calls[s->n] = cell_or(c, r, c_calls, 0);
        s->n++;
    }
    if (s->n < 3) {
        snprintf(err, errlen,
                 "%s: only %zu samples before exit; a diagnosis needs a longer "
                 "recording",
                 c->path, s->n);
        return -1;
    }
    return 0;
}

/* Index of the last row at or before T (0 when none). */
static size_t row_at(const struct series *s, double t)
{
    size_t i = 0;
    while (i + 1 < s->n && s->t_ms[i + 1] <= t)
        i++;
    return i;
}

static int load_phases_file(struct diagnosis_metrics *m, const char *dir)
{
    char path[PATH_MAX], err[256];
    struct csv c;
    struct stat st;
    snprintf(path, sizeof(path), "%s/phases.csv", dir);
    if (stat(path, &st))
        return -1;
    if (csv_load(&c, path, err, sizeof(err))) {
        util_warn("%s; inferring the phases from the allocation rate", err);
        return -1;
    }
    int c_phase = csv_column(&c, "phase"), c_start = csv_column(&c, "start_ms");
    int c_end = csv_column(&c, "end_ms");
    bool load = false, cooldown = false;
    for (size_t r = 0; r < c.nrows; r++) {
        const char *phase = csv_cell(&c, r, c_phase);
        double start = csv_number(&c, r, c_start), end = csv_number(&c, r, c_end);
        if (isnan(start) || isnan(end))
            continue;
        if (!strcmp(phase, "load")) {
            m->load_start_ms = (uint64_t)start, m->load_end_ms = (uint64_t)end, load = true;
        } else if (!strcmp(phase, "cooldown")) {
            m->after_ms = (uint64_t)end, cooldown = end > start;
        }
    }
    csv_free(&c);
    if (!load)
        return -1;
    m->has_cooldown = cooldown;
    m->phases_from_file = true;
    return 0;
}

/* Activity in the interval before row I: allocation calls per ms, or without them (a
 * kernel-only recording) how fast RSS moved. */
static double activity(const struct series *s, size_t i, bool by_rss)
{
    double dt = s->t_ms[i] - s->t_ms[i - 1];
    double delta =
        by_rss ? fabs(s->rss[i] - s->rss[i - 1]) : s->alloc_calls[i] - s->alloc_calls[i - 1];
    return dt > 0 ? delta / dt : 0;
}

/* Without phases.csv the load is where the allocation rate is high: from the first to the
 * last interval whose rate exceeds activity_share of the highest. */
static void infer_phases(struct diagnosis_metrics *m, const struct series *s,
                         const struct diagnose_thresholds *t)
{
    bool by_rss = s->alloc_calls[s->n - 1] <= 0;
    double max_rate = 0;
    for (size_t i = 1; i < s->n; i++)
        if (activity(s, i, by_rss) > max_rate)
            max_rate = activity(s, i, by_rss);
    size_t first = 0, last = s->n - 1;
    bool found = false;
    for (size_t i = 1; i < s->n && max_rate > 0; i++) {
        if (activity(s, i, by_rss) > t->activity_share * max_rate) {
            if (!found)
                first = i - 1;
            last = i, found = true;
        }
    }
    if (!found)
        first = 0, last = s->n - 1;
    m->load_start_ms = (uint64_t)s->t_ms[first];
    m->load_end_ms = (uint64_t)s->t_ms[last];
    m->after_ms = (uint64_t)s->t_ms[s->n - 1];
    /* At least a second (or five samples) of quiet after the load counts as a cooldown. */
    m->has_cooldown = s->n - 1 - last >= 5 && s->t_ms[s->n - 1] - s->t_ms[last] >= 1000;
}

static void measure_totals(struct diagnosis_metrics *m, const struct series *s)
{
    size_t i0 = row_at(s, (double)m->load_start_ms), i1 = row_at(s, (double)m->load_end_ms);
    size_t i2 = m->has_cooldown ? row_at(s, (double)m->after_ms) : i1;
    if (m->after_ms < m->load_end_ms || !m->has_cooldown)
        m->after_ms = m->load_end_ms;
    m->idle_live = s->live[i0], m->idle_rss = s->rss[i0];
    m->load_end_live = s->live[i1];
    m->after_live = s->live[i2], m->after_rss = s->rss[i2];
    m->peak_live = m->peak_rss = 0;
    for (size_t i = 0; i <= i2; i++) {
        if (s->live[i] > m->peak_live)
            m->peak_live = s->live[i];
        if (s->rss[i] > m->peak_rss)
            m->peak_rss = s->rss[i];
    }
    m->exit_live = s->exit_live;
    diagnose_slope(s->t_ms + i0, s->live + i0, i1 - i0 + 1, &m->live_slope_t);
    const double *heap = s->has_live ? s->live : s->rss;
    size_t tail =
        row_at(s, (double)m->load_end_ms - (double)(m->load_end_ms - m->load_start_ms) / 3);
    /* The load's last row may already see its connections close: leave it out. */
    size_t tail_end = i1 > tail + 3 ? i1 - 1 : i1;
    double slope =
        diagnose_slope(s->t_ms + tail, heap + tail, tail_end - tail + 1, &m->tail_slope_t);
    m->tail_growth = slope * (s->t_ms[tail_end] - s->t_ms[tail]);
    m->steady_end_ms = (uint64_t)s->t_ms[tail_end];
}

static double value_at(const struct site_series *s, double t)
{
    double v = 0;
    for (size_t i = 0; i < s->npoints && (double)s->points[i].t_ms <= t; i++)
        v = (double)s->points[i].live_bytes;
    return v;
}

/* Growth statistics of one series of (t_ms, bytes) points over the load and after it. */
struct growth_input {
    const double *t_ms, *bytes;
    size_t n;
    double start, load_end, mid, after, exit_bytes;
};

static void growth_stats(struct diagnosis_site *out, const struct growth_input *g,
                         const struct diagnosis_metrics *m)
{
    double *t = calloc(g->n + 1, sizeof(double)), *y = calloc(g->n + 1, sizeof(double));
    size_t k = 0;
    double peak = g->start;
    t[k] = (double)m->load_start_ms / 1000.0, y[k++] = g->start;
    for (size_t i = 0; i < g->n; i++) {
        if (g->t_ms[i] <= (double)m->load_start_ms || g->t_ms[i] > (double)m->after_ms)
            continue;
        if (g->bytes[i] > peak)
            peak = g->bytes[i];
        if (g->t_ms[i] <= (double)m->steady_end_ms)
            t[k] = g->t_ms[i] / 1000.0, y[k++] = g->bytes[i];
    }
    out->start_bytes = (int64_t)g->start;
    out->peak_bytes = (int64_t)peak;
    out->load_end_bytes = (int64_t)g->load_end;
    out->after_bytes = (int64_t)g->after;
    out->exit_bytes = (int64_t)g->exit_bytes;
    out->growth_bytes_per_s = diagnose_slope(t, y, k, &out->slope_t);
    double rise = peak - g->start;
    double load_rise = g->load_end - g->start;
    out->sustained = load_rise > 0 ? (g->load_end - g->mid) / load_rise : 0;
    double kept_at = m->has_cooldown || g->exit_bytes < 0 ? g->after : g->exit_bytes;
    out->kept = rise > 0 ? (kept_at - g->start) / rise : 0;
    free(t);
    free(y);
}

static void site_growth(struct diagnosis_site *out, const struct site_series *s,
                        const struct diagnosis_metrics *m)
{
    double *t = calloc(s->npoints + 1, sizeof(double));
    double *y = calloc(s->npoints + 1, sizeof(double));
    for (size_t i = 0; i < s->npoints; i++)
        t[i] = (double)s->points[i].t_ms, y[i] = (double)s->points[i].live_bytes;
    double mid = ((double)m->load_start_ms + (double)m->steady_end_ms) / 2;
    struct growth_input g = {
        .t_ms = t,
        .bytes = y,
        .n = s->npoints,
        .start = value_at(s, (double)m->load_start_ms),
        .load_end = value_at(s, (double)m->steady_end_ms),
        .mid = value_at(s, mid),
        .after = value_at(s, (double)m->after_ms),
        .exit_bytes = m->exited_cleanly ? (double)s->end_bytes : -1,
    };
    growth_stats(out, &g, m);
    out->site_id = s->id;
    free(t);
    free(y);
}

/* The first frame naming a function: the allocating function, for matching and reports. */
static void site_names(struct diagnosis_site *out, const struct site_series *s,
                       struct symbolizer *sym)
{
    format_site_frames(sym, s, 4, out->where, sizeof(out->where));
    snprintf(out->function, sizeof(out->function), "??");
    struct frame_info f[ALLOCSCOPE_MAX_FRAMES];
    unsigned n = symbolizer_stack(sym, s->frames, s->depth, f, ALLOCSCOPE_MAX_FRAMES);
    for (unsigned i = 0; i < n; i++) {
        if (strcmp(f[i].function, "??")) {
            snprintf(out->function, sizeof(out->function), "%s", f[i].function);
            break;
        }
    }
}

static void measure_sites(struct diagnosis *d, const struct run_data *run,
                          const struct diagnose_thresholds *t)
{
    struct symbolizer *sym = NULL;
    d->sites = calloc(run->nsites + 1, sizeof(*d->sites));
    for (size_t i = 0; i < run->nsites; i++) {
        struct diagnosis_site *out = &d->sites[d->nsites];
        site_growth(out, &run->sites[i], &d->m);
        if (!site_is_significant(out, &d->m, t))
            continue;
        if (!sym)
            sym = symbolizer_new(run->maps_text);
        site_names(out, &run->sites[i], sym);
        d->nsites++;
    }
    symbolizer_free(sym);
}

/* Without stacks, the whole live heap (or RSS, without a live heap) stands as one site. */
static void measure_whole(struct diagnosis *d, const struct series *s)
{
    const struct diagnosis_metrics *m = &d->m;
    const double *bytes = s->has_live ? s->live : s->rss;
    double mid = ((double)m->load_start_ms + (double)m->steady_end_ms) / 2;
    struct growth_input g = {
        .t_ms = s->t_ms,
        .bytes = bytes,
        .n = s->n,
        .start = bytes[row_at(s, (double)m->load_start_ms)],
        .load_end = bytes[row_at(s, (double)m->steady_end_ms)],
        .mid = bytes[row_at(s, mid)],
        .after = bytes[row_at(s, (double)m->after_ms)],
        .exit_bytes = s->has_live ? s->exit_live : -1,
    };
    d->sites = calloc(1, sizeof(*d->sites));
    growth_stats(&d->sites[0], &g, m);
    d->sites[0].site_id = UINT32_MAX;
    snprintf(d->sites[0].function, sizeof(d->sites[0].function), "%s",
             s->has_live ? "(whole live heap)" : "(whole RSS)");
    snprintf(d->sites[0].where, sizeof(d->sites[0].where), "%s; no stacks were recorded",
             d->sites[0].function);
    d->nsites = 1;
}

static double fact_number(const struct run_data *run, const char *key)
{
    const char *v = rundata_fact(run, key);
    char *end;
    double x = v ? strtod(v, &end) : -1;
    return v && end != v ? x : -1;
}

static const char *static_allocator(const char *name)
{
    static const char *const known[] = {"glibc", "jemalloc", "mimalloc", "tcmalloc"};
    for (size_t i = 0; name && i < 4; i++)
        if (!strcmp(name, known[i]))
            return known[i];
    return NULL;
}

/* A kernel-only attach has samples.csv but no shim.txt. */
static int load_run(struct run_data *run, const char *dir, bool *kernel_only, char *err,
                    size_t errlen)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/shim.txt", dir);
    *kernel_only = stat(dir, &st) == 0 && stat(path, &st) != 0;
    if (!*kernel_only)
        return rundata_load(run, dir, RUNDATA_SAMPLES | RUNDATA_SITES, err, errlen);
    memset(run, 0, sizeof(*run));
    run->dir = strdup(dir);
    snprintf(path, sizeof(path), "%s/samples.csv", dir);
    if (csv_load(&run->samples, path, err, errlen)) {
        snprintf(err, errlen,
                 "%s is not a run directory: no shim.txt and no readable "
                 "samples.csv; pass a directory written by allocscope run, attach or bench",
                 dir);
        return -1;
    }
    run->has_samples = true;
    return 0;
}

int diagnose_run(const char *run_dir, const struct diagnose_thresholds *t, struct diagnosis *d,
                 char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->run_dir, sizeof(d->run_dir), "%s", run_dir);
    struct run_data run;
    bool kernel_only;
    if (load_run(&run, run_dir, &kernel_only, err, errlen)) {
        rundata_free(&run);
        return -1;
    }
    struct diagnosis_metrics *m = &d->m;
    m->exited_cleanly = rundata_exited(&run);
    struct series s;
    if (series_load(&s, &run.samples, m->exited_cleanly, err, errlen)) {
        series_free(&s);
        rundata_free(&run);
        return -1;
    }
    m->has_live = s.has_live && !kernel_only;
    m->has_stacks = run.nsites > 0;
    m->allocator = static_allocator(rundata_fact(&run, "allocator"));
    m->mode = rundata_fact(&run, "mode") && !strcmp(rundata_fact(&run, "mode"), "exact") ? "exact"
              : m->has_stacks                                                            ? "sampled"
                                                                                         : "count";
    m->reclaim_before_rss = fact_number(&run, "reclaim_before_rss");
    m->reclaim_after_rss = fact_number(&run, "reclaim_after_rss");
    if (m->reclaim_before_rss < 0 || m->reclaim_after_rss < 0)
        m->reclaim_before_rss = m->reclaim_after_rss = -1;
    if (load_phases_file(m, run_dir))
        infer_phases(m, &s, t);
    measure_totals(m, &s);
    if (m->has_stacks)
        measure_sites(d, &run, t);
    else
        measure_whole(d, &s);
    series_free(&s);
    rundata_free(&run);
    diagnose_classify(d, t);
    return 0;
}

void diagnosis_free(struct diagnosis *d)
{
    free(d->sites);
    d->sites = NULL;
    d->nsites = 0;
}

/* ---- output -------------------------------------------------------------------------- */

static void print_bytes_line(FILE *out, const char *label, double idle, double peak, double after)
{
    char b1[32], b2[32], b3[32];
    if (idle < 0 && peak < 0)
        return;
    fprintf(out, "  %-10s idle %-11s peak %-11s after load %s\n", label,
            format_bytes(b1, sizeof(b1), idle), format_bytes(b2, sizeof(b2), peak),
            format_bytes(b3, sizeof(b3), after));
}

void diagnosis_print_text(const struct diagnosis *d, FILE *out)
{
    const struct diagnosis_metrics *m = &d->m;
    char b1[32], b2[32], b3[32];
    fprintf(out, "verdict: %s (confidence %s)\n", diagnosis_verdict_name(d->verdict),
            diagnosis_confidence_name(d->confidence));
    fprintf(out, "  %s\n", d->reason);
    fprintf(out, "  load %.1f-%.1f s (%s), after-load state at %.1f s\n",
            (double)m->load_start_ms / 1000, (double)m->load_end_ms / 1000,
            m->phases_from_file ? "phases.csv" : "inferred", (double)m->after_ms / 1000);
    if (m->has_live)
        print_bytes_line(out, "live heap", m->idle_live, m->peak_live, m->after_live);
    print_bytes_line(out, "RSS", m->idle_rss, m->peak_rss, m->after_rss);
    if (m->reclaim_before_rss >= 0)
        fprintf(out, "  reclaim    RSS %s -> %s (gave back %s)\n",
                format_bytes(b1, sizeof(b1), m->reclaim_before_rss),
                format_bytes(b2, sizeof(b2), m->reclaim_after_rss),
                format_bytes(b3, sizeof(b3), m->reclaim_before_rss - m->reclaim_after_rss));
    if (m->exit_live >= 0)
        fprintf(out, "  unfreed at exit %s\n", format_bytes(b1, sizeof(b1), m->exit_live));
    for (size_t i = 0; i < d->nsites && i < 8; i++) {
        const struct diagnosis_site *s = &d->sites[i];
        fprintf(out, "  site %s: grew %s at %s/s (t=%.1f), %.0f%% kept: %s\n",
                s->leaked ? "kept" : "released",
                format_bytes(b1, sizeof(b1), (double)(s->peak_bytes - s->start_bytes)),
                format_bytes(b2, sizeof(b2), s->growth_bytes_per_s), s->slope_t, 100 * s->kept,
                s->where);
    }
    if (d->nsites > 8)
        fprintf(out, "  (%zu more growing sites in --json)\n", d->nsites - 8);
    if (d->suggestion[0])
        fprintf(out, "  suggestion: %s\n", d->suggestion);
    for (size_t i = 0; i < d->nlacking; i++)
        fprintf(out, "  lacking: %s\n", d->lacking[i]);
}

static json_t *metrics_json_bytes(const struct diagnosis_metrics *m);

static json_t *number_or_null(double v)
{
    return v < 0 ? json_null() : json_integer((json_int_t)v);
}

static json_t *metrics_json(const struct diagnosis_metrics *m)
{
    json_t *o = metrics_json_bytes(m);
    json_object_set_new(o, "live_slope_t", json_real(m->live_slope_t));
    json_object_set_new(o, "tail_slope_t", json_real(m->tail_slope_t));
    json_object_set_new(o, "tail_growth_bytes", json_real(m->tail_growth));
    return o;
}

static json_t *metrics_json_bytes(const struct diagnosis_metrics *m)
{
    return json_pack(
        "{s:s, s:I, s:I, s:I, s:b, s:b, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
        "phases", m->phases_from_file ? "phases.csv" : "inferred", "load_start_ms",
        (json_int_t)m->load_start_ms, "load_end_ms", (json_int_t)m->load_end_ms, "after_ms",
        (json_int_t)m->after_ms, "has_cooldown", m->has_cooldown, "has_live", m->has_live,
        "has_stacks", m->has_stacks, "exited_cleanly", m->exited_cleanly, "idle_live_bytes",
        number_or_null(m->has_live ? m->idle_live : -1), "peak_live_bytes",
        number_or_null(m->has_live ? m->peak_live : -1), "after_live_bytes",
        number_or_null(m->has_live ? m->after_live : -1), "exit_live_bytes",
        number_or_null(m->exit_live), "idle_rss_bytes", number_or_null(m->idle_rss),
        "peak_rss_bytes", number_or_null(m->peak_rss), "after_rss_bytes",
        number_or_null(m->after_rss), "reclaim_before_rss_bytes",
        number_or_null(m->reclaim_before_rss), "reclaim_after_rss_bytes",
        number_or_null(m->reclaim_after_rss));
}

static json_t *site_json(const struct diagnosis_site *s)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f}", "kind",
                     s->leaked ? "kept" : "released", "function", s->function, "where", s->where,
                     "start_bytes", (json_int_t)s->start_bytes, "peak_bytes",
                     (json_int_t)s->peak_bytes, "load_end_bytes", (json_int_t)s->load_end_bytes,
                     "after_bytes", (json_int_t)s->after_bytes, "exit_bytes",
                     (json_int_t)s->exit_bytes, "growth_bytes_per_s", s->growth_bytes_per_s,
                     "slope_t", s->slope_t, "sustained_share", s->sustained, "kept_share", s->kept);
}

struct json_t *diagnosis_to_json(const struct diagnosis *d)
{
    json_t *sites = json_array(), *lacking = json_array();
    for (size_t i = 0; i < d->nsites; i++)
        json_array_append_new(sites, site_json(&d->sites[i]));
    for (size_t i = 0; i < d->nlacking; i++)
        json_array_append_new(lacking, json_string(d->lacking[i]));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:o, s:o, s:o}", "dir", d->run_dir, "verdict",
                     diagnosis_verdict_name(d->verdict), "confidence",
                     diagnosis_confidence_name(d->confidence), "reason", d->reason, "suggestion",
                     d->suggestion, "leak_growth_bytes_per_s", diagnosis_leak_growth(d), "metrics",
                     metrics_json(&d->m), "sites", sites, "lacking", lacking);
}

double diagnosis_leak_growth(const struct diagnosis *d)
{
    double rate = 0;
    for (size_t i = 0; i < d->nsites && d->verdict == VERDICT_LEAK; i++)
        if (d->sites[i].leaked)
            rate += d->sites[i].growth_bytes_per_s;
    return rate;
}
