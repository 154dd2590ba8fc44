#include "reports/site_profile.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/columns.h"
#include "common/csv.h"
#include "common/stats.h"
#include "common/util.h"

static const char *const value_names[PV_COUNT] = {
    [PV_PEAK_BYTES] = "peak",
    [PV_PEAK_BLOCKS] = "peak-blocks",
    [PV_EXIT_BYTES] = "exit",
    [PV_EXIT_BLOCKS] = "exit-blocks",
    [PV_GROWTH] = "growth",
    [PV_ALLOC_BYTES] = "alloc",
    [PV_ALLOC_CALLS] = "alloc-blocks",
    [PV_TEMPORARY] = "temporary",
    [PV_DEFINITELY_LOST] = "definitely-lost",
    [PV_INDIRECTLY_LOST] = "indirectly-lost",
    [PV_POSSIBLY_LOST] = "possibly-lost",
    [PV_STILL_REACHABLE] = "still-reachable",
};

const char *profile_value_name(enum profile_value v)
{
    return v < PV_COUNT ? value_names[v] : "?";
}

int profile_value_parse(const char *name)
{
    for (int v = 0; v < PV_COUNT; v++)
        if (!strcmp(name, value_names[v]))
            return v;
    return -1;
}

double profile_stack_value(const struct profile_stack *s, enum profile_value v)
{
    switch (v) {
    case PV_PEAK_BYTES:
        return (double)s->peak_bytes;
    case PV_PEAK_BLOCKS:
        return (double)s->peak_blocks;
    case PV_EXIT_BYTES:
        return (double)s->exit_bytes;
    case PV_EXIT_BLOCKS:
        return (double)s->exit_blocks;
    case PV_GROWTH:
        return s->growth_bytes_per_s;
    case PV_ALLOC_BYTES:
        return (double)s->alloc_bytes;
    case PV_ALLOC_CALLS:
        return (double)s->alloc_calls;
    case PV_TEMPORARY:
        return (double)s->temporary_calls;
    case PV_DEFINITELY_LOST:
    case PV_INDIRECTLY_LOST:
    case PV_POSSIBLY_LOST:
    case PV_STILL_REACHABLE:
        return (double)s->reach.bytes[REACH_DEFINITELY_LOST + (v - PV_DEFINITELY_LOST)];
    default:
        return 0;
    }
}

double profile_total(const struct site_profile *p, enum profile_value v)
{
    double total = 0;
    for (size_t i = 0; i < p->n; i++) {
        double x = profile_stack_value(&p->stacks[i], v);
        if (v != PV_GROWTH || x > 0)
            total += x;
    }
    return total;
}

char *profile_stack_key(const struct profile_stack *s)
{
    size_t cap = 64, len = 0;
    char *key = xmalloc(cap);
    key[0] = '\0';
    for (unsigned i = 0; i < s->nframes; i++) {
        const struct frame_info *f = &s->frames[i];
        const char *object = strrchr(f->object, '/') ? strrchr(f->object, '/') + 1 : f->object;
        bool unknown = !strcmp(f->function, "??");
        size_t need = strlen(f->function) + (unknown ? strlen(object) + 1 : 0) + 2;
        if (len + need >= cap) {
            cap = (len + need) * 2;
            key = xrealloc(key, cap);
        }
        len += (size_t)snprintf(key + len, cap - len, "%s%s%s%s", i ? ";" : "", f->function,
                                unknown ? "@" : "", unknown ? object : "");
    }
    return key;
}

/* ---- snapshots ---------------------------------------------------------------------- */

static int by_time(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Every snapshot time of the run, sorted, each once. */
static uint64_t *snapshot_times(const struct run_data *run, size_t *n)
{
    size_t total = 0;
    for (size_t i = 0; i < run->nsites; i++)
        total += run->sites[i].npoints;
    uint64_t *t = xcalloc(total ? total : 1, sizeof(uint64_t));
    size_t k = 0;
    for (size_t i = 0; i < run->nsites; i++)
        for (size_t j = 0; j < run->sites[i].npoints; j++)
            t[k++] = run->sites[i].points[j].t_ms;
    util_sort(t, k, sizeof(uint64_t), by_time);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || t[i] != t[u - 1])
            t[u++] = t[i];
    *n = u;
    return t;
}

/* The site's latest point at or before T, NULL before its first. */
static const struct site_point *point_at(const struct site_series *s, uint64_t t)
{
    size_t lo = 0, hi = s->npoints;
    while (lo < hi) { /* first point after t */
        size_t mid = (lo + hi) / 2;
        if (s->points[mid].t_ms <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? &s->points[lo - 1] : NULL;
}

static int64_t bytes_at(const struct site_series *s, uint64_t t)
{
    const struct site_point *p = point_at(s, t);
    return p ? p->live_bytes : 0;
}

/* The snapshot time at which the sites' live bytes summed highest (the first such). */
static uint64_t peak_time(const struct run_data *run, const uint64_t *times, size_t ntimes)
{
    uint64_t best_t = ntimes ? times[0] : 0;
    double best = -INFINITY;
    size_t *next = xcalloc(run->nsites ? run->nsites : 1, sizeof(size_t));
    int64_t *current = xcalloc(run->nsites ? run->nsites : 1, sizeof(int64_t));
    double total = 0;
    for (size_t k = 0; k < ntimes; k++) {
        for (size_t i = 0; i < run->nsites; i++) { /* each site's points are in time order */
            const struct site_series *s = &run->sites[i];
            while (next[i] < s->npoints && s->points[next[i]].t_ms <= times[k]) {
                total += (double)(s->points[next[i]].live_bytes - current[i]);
                current[i] = s->points[next[i]].live_bytes;
                next[i]++;
            }
        }
        if (total > best) {
            best = total;
            best_t = times[k];
        }
    }
    free(next);
    free(current);
    return best_t;
}

/* ---- growth over the load ------------------------------------------------------------- */

/* phases.csv's load phase; false without one. */
static bool load_phase(const char *dir, uint64_t *start, uint64_t *end)
{
    char path[PATH_MAX], err[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/phases.csv", dir);
    if (stat(path, &st))
        return false;
    struct csv c;
    if (csv_load(&c, path, err, sizeof(err))) {
        util_warn("%s; growth is measured over the whole recording", err);
        return false;
    }
    int c_phase = csv_column(&c, PHASES_PHASE), c_start = csv_column(&c, PHASES_START_MS),
        c_end = csv_column(&c, PHASES_END_MS);
    bool found = false;
    for (size_t r = 0; r < c.nrows && !found; r++) {
        if (strcmp(csv_cell(&c, r, c_phase), "load"))
            continue;
        int64_t s = csv_int(&c, r, c_start, -1), e = csv_int(&c, r, c_end, -1);
        if (s >= 0 && e > s) {
            *start = (uint64_t)s, *end = (uint64_t)e;
            found = true;
        }
    }
    csv_free(&c);
    return found;
}

/* Least-squares slope of the site's live bytes, read at every snapshot time of the run from
 * START to END (and at START itself), bytes/s; 0 with fewer than 3 readings. */
static double growth_between(const struct site_series *s, const uint64_t *times, size_t ntimes,
                             uint64_t start, uint64_t end)
{
    double *x = xcalloc(ntimes + 1, 2 * sizeof(double)), *y = x + ntimes + 1;
    size_t n = 0;
    x[n] = (double)start / 1000.0, y[n++] = (double)bytes_at(s, start);
    for (size_t k = 0; k < ntimes; k++)
        if (times[k] > start && times[k] <= end)
            x[n] = (double)times[k] / 1000.0, y[n++] = (double)bytes_at(s, times[k]);
    struct stats_line line;
    double rate = n >= 3 && !stats_fit_line(x, y, n, &line) ? line.slope : 0.0;
    free(x);
    return rate;
}

/* ---- loading ------------------------------------------------------------------------ */

static void symbolize_stack(struct site_profile *p, struct profile_stack *st)
{
    struct frame_info frames[ALLOCSCOPE_MAX_FRAMES];
    unsigned n = symbolizer_stack(p->sym, st->pcs, st->depth, frames, ALLOCSCOPE_MAX_FRAMES);
    st->frames = xcalloc(n ? n : 1, sizeof(*frames));
    memcpy(st->frames, frames, n * sizeof(*frames));
    st->nframes = n;
}

static void fill_stack(struct site_profile *p, const struct site_series *s,
                       struct profile_stack *st)
{
    const struct site_point *at_peak = point_at(s, p->peak_t_ms);
    st->site_id = s->id;
    st->pcs = s->frames;
    st->depth = s->depth;
    st->peak_bytes = at_peak ? at_peak->live_bytes : 0;
    st->peak_blocks = at_peak ? at_peak->live_blocks : 0;
    st->exit_bytes = s->end_bytes;
    st->exit_blocks = s->end_blocks;
    st->growth_bytes_per_s = s->growth_bytes_per_s;
    st->alloc_calls = s->alloc_calls;
    st->alloc_bytes = s->alloc_bytes;
    st->temporary_calls = s->temporary_calls;
    st->reach = s->reach;
    symbolize_stack(p, st);
}

int site_profile_load(struct site_profile *p, const char *dir, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    if (rundata_load(&p->run, dir, RUNDATA_SITES, err, errlen))
        return -1;
    const struct run_data *run = &p->run;
    const char *mode = rundata_fact(run, "mode"), *sample = rundata_fact(run, "sample_bytes");
    p->sampled = mode && !strcmp(mode, "sampled");
    p->sample_bytes = sample ? strtoull(sample, NULL, 10) : 0;
    p->exited = rundata_exited(run);
    p->has_reach = run->has_reach;
    p->sym = symbolizer_new(run->maps_text);
    size_t ntimes;
    uint64_t *times = snapshot_times(run, &ntimes);
    p->peak_t_ms = peak_time(run, times, ntimes);
    p->duration_s = ntimes > 1 ? (double)(times[ntimes - 1] - times[0]) / 1000.0 : 0.0;
    uint64_t load_start, load_end;
    p->growth_over_load = load_phase(dir, &load_start, &load_end);
    p->stacks = xcalloc(run->nsites ? run->nsites : 1, sizeof(*p->stacks));
    for (size_t i = 0; i < run->nsites; i++) {
        struct profile_stack *st = &p->stacks[p->n++];
        fill_stack(p, &run->sites[i], st);
        if (p->growth_over_load)
            st->growth_bytes_per_s =
                growth_between(&run->sites[i], times, ntimes, load_start, load_end);
    }
    free(times);
    return 0;
}

void site_profile_free(struct site_profile *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->stacks[i].frames);
    free(p->stacks);
    symbolizer_free(p->sym);
    rundata_free(&p->run);
    memset(p, 0, sizeof(*p));
}
