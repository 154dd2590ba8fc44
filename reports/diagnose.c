#include "reports/diagnose.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/columns.h"
#include "common/csv.h"
#include "common/format.h"
#include "common/json_text.h"
#include "common/rundata.h"
#include "common/symbolize.h"
#include "common/stats.h"
#include "common/util.h"

/* Messages and paths are cut to their buffers on purpose: a long path only shortens a line. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MIB (1024.0 * 1024.0)

static const char *const verdict_names[VERDICT_COUNT] = {
    "healthy",       "leak",         "unbounded-buffering", "allocator-retention",
    "fragmentation", "probable-leak"};
static const char *const confidence_names[] = {"low", "medium", "high"};

const char *diagnosis_verdict_name(enum diagnosis_verdict v)
{
    return (unsigned)v < VERDICT_COUNT ? verdict_names[v] : "unknown";
}

const char *diagnosis_confidence_name(enum diagnosis_confidence c)
{
    return (unsigned)c < 3 ? confidence_names[c] : "unknown";
}

int diagnosis_verdict_parse(const char *name)
{
    for (int i = 0; i < VERDICT_COUNT; i++)
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
        .steady_free_share = 0.2,
        .dominance = 4.0,
        .min_lost_bytes = 1,
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
    {"steady_free_share", offsetof(struct diagnose_thresholds, steady_free_share), false},
    {"dominance", offsetof(struct diagnose_thresholds, dominance), false},
    {"min_lost_bytes", offsetof(struct diagnose_thresholds, min_lost_bytes), true},
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

/* Two-sided 95% critical value of Student's t for a slope fitted to N points (N - 2
 * degrees of freedom): the half-width of the rate's interval is this times its error. */
static double t_critical(size_t n)
{
    static const double table[] = {12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23};
    size_t df = n > 2 ? n - 2 : 1;
    if (df <= 10)
        return table[df - 1];
    return df <= 20 ? 2.09 : df <= 30 ? 2.04 : 1.96;
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
    /* The same against the work done (allocation calls): growth that only looks sustained
     * because a busy machine did the load's work slowly (requests in flight filling up for
     * longer) is not sustained against the work. */
    bool work_sustained = !m->has_work || (s->work_sustained >= t->sustained_share &&
                                           m->work_tail_slope_t >= t->min_slope_t &&
                                           m->work_tail_growth >= t->tail_share * growth);
    return growth >= t->min_growth_bytes && growth >= t->min_growth_share * peak &&
           s->slope_t >= t->min_site_slope_t && s->sustained >= t->sustained_share && heap_rising &&
           work_sustained;
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
        util_sort(d->sites, n, sizeof(*d->sites), by_leak_then_growth);
}

/* "between 0.4 s and 6.1 s of the run": growth times are times of this recording. */
static void growth_span(char *out, size_t len, const struct diagnosis_site *s)
{
    snprintf(out, len, "between %.1f s and %.1f s of the run", s->growth_from_s, s->growth_to_s);
}

/* "serve_request (~3.5 MiB, estimated from ~7 samples, +/-38%)": a sampled site's share of
 * a growth, with the uncertainty of its estimate; exact sites without it. */
static void site_share(char *out, size_t len, const struct diagnosis_site *s)
{
    char b1[32];
    format_bytes(b1, sizeof(b1), (double)(s->peak_bytes - s->start_bytes));
    if (s->samples > 0)
        snprintf(out, len, "%s (~%s, estimated from ~%.0f samples, +/-%.0f%%)", s->function, b1,
                 s->samples, 100.0 / sqrt(s->samples > 1 ? s->samples : 1));
    else
        snprintf(out, len, "%s (%s)", s->function, b1);
}

/* Where a heap growth comes from: the significant sites, else the sites that grew most. */
static void heap_attribution(const struct diagnosis *d, char *out, size_t len)
{
    const struct diagnosis_site *top = d->nsites        ? &d->sites[0]
                                       : d->ncandidates ? &d->candidates[0]
                                                        : NULL;
    if (!top || top->site_id == UINT32_MAX) {
        snprintf(out, len, "no stacks were recorded to say where");
        return;
    }
    char share[700];
    site_share(share, sizeof(share), top);
    snprintf(out, len, "most of it at %s", share);
}

static void growth_confidence(struct diagnosis *d, const struct diagnosis_site *top)
{
    bool released_known = d->m.has_cooldown || d->m.exited_cleanly;
    if (!released_known || !d->m.has_live)
        d->confidence = CONFIDENCE_LOW;
    else if (d->m.has_cooldown && d->m.has_stacks && (top->kept >= 0.8 || top->kept <= 0.2))
        d->confidence = CONFIDENCE_HIGH;
    else
        d->confidence = CONFIDENCE_MEDIUM;
}

/* The whole live heap (exact counters) grew significantly: whether it leaks and how fast
 * rest on it; the sampled sites only say where. */
static void classify_heap_growth(struct diagnosis *d, const struct diagnose_thresholds *t)
{
    const struct diagnosis_site *h = &d->heap;
    char b1[32], b2[32], b3[32], b4[32], span[96], where[900];
    bool leak = site_is_leak(h, t);
    d->heap.significant = true;
    d->heap.leaked = leak;
    growth_span(span, sizeof(span), h);
    heap_attribution(d, where, sizeof(where));
    format_bytes(b1, sizeof(b1), (double)(h->peak_bytes - h->start_bytes));
    format_bytes(b2, sizeof(b2), h->growth_bytes_per_s);
    format_bytes(b3, sizeof(b3), h->rate_low > 0 ? h->rate_low : 0);
    format_bytes(b4, sizeof(b4), h->rate_high);
    d->verdict = leak ? VERDICT_LEAK : VERDICT_UNBOUNDED_BUFFERING;
    snprintf(d->reason, sizeof(d->reason),
             "the live heap grew %s at %s/s (95%% interval %s/s to %s/s) %s and %s %.0f%% of it "
             "%s; %s",
             b1, b2, b3, b4, span, leak ? "kept" : "gave back",
             100 * (leak ? h->kept : 1 - h->kept), d->m.has_cooldown ? "after the load" : "at exit",
             where);
    growth_confidence(d, h);
    if (leak)
        snprintf(d->suggestion, sizeof(d->suggestion),
                 "free what grows when its owner is done (or bound it); 'allocscope leaks %s' "
                 "lists every site%s",
                 d->run_dir,
                 d->heap.samples > 0 || (d->ncandidates && d->candidates[0].samples > 0)
                     ? "; --sample all counts each site exactly"
                     : "");
    else
        snprintf(d->suggestion, sizeof(d->suggestion),
                 "bound what grows with the load (high-water mark, backpressure, idle timeout)");
}

/* Sites grew significantly while the heap as a whole did not say so (other sites shrank,
 * or no live heap): the sites' own series decide. */
static void classify_growth(struct diagnosis *d, const struct diagnose_thresholds *t)
{
    size_t leaks = 0;
    for (size_t i = 0; i < d->nsites; i++)
        leaks += site_is_leak(&d->sites[i], t);
    const struct diagnosis_site *top = &d->sites[0];
    char b1[32], b2[32], b3[32], span[96];
    growth_span(span, sizeof(span), top);
    if (leaks) {
        d->verdict = VERDICT_LEAK;
        snprintf(d->reason, sizeof(d->reason),
                 "%zu site%s grew through the load and kept the growth: %s grew %s at %s/s "
                 "%s (trend t statistic %.1f) and %.0f%% of it was still live %s",
                 leaks, leaks > 1 ? "s" : "", top->function,
                 format_bytes(b1, sizeof(b1), (double)(top->peak_bytes - top->start_bytes)),
                 format_bytes(b2, sizeof(b2), top->growth_bytes_per_s), span, top->slope_t,
                 100 * top->kept, d->m.has_cooldown ? "after the load" : "at exit");
    } else {
        d->verdict = VERDICT_UNBOUNDED_BUFFERING;
        snprintf(d->reason, sizeof(d->reason),
                 "%zu site%s grew with the load and gave it back: %s grew %s at %s/s %s "
                 "(trend t statistic %.1f), %s left %s",
                 d->nsites, d->nsites > 1 ? "s" : "", top->function,
                 format_bytes(b1, sizeof(b1), (double)(top->peak_bytes - top->start_bytes)),
                 format_bytes(b2, sizeof(b2), top->growth_bytes_per_s), span, top->slope_t,
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
    growth_confidence(d, top);
    if (leaks && top->site_id == UINT32_MAX)
        snprintf(d->suggestion, sizeof(d->suggestion),
                 "record with stacks (allocscope run --sample all) to find the growing sites");
    else if (leaks)
        snprintf(d->suggestion, sizeof(d->suggestion),
                 "free what %s allocates when its owner is done (or bound it); "
                 "'allocscope leaks %s' lists every site",
                 top->function, d->run_dir);
}

/* The heap passes the same tests as a site, on its 100 ms samples. */
static bool heap_is_significant(const struct diagnosis *d, const struct diagnose_thresholds *t)
{
    if (!d->has_heap || !d->m.has_live)
        return false;
    struct diagnose_thresholds heap_t = *t;
    heap_t.min_site_slope_t = t->min_slope_t;
    return site_is_significant(&d->heap, &d->m, &heap_t);
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
    if (heap_is_significant(d, t))
        kept = d->heap.kept * (double)(d->heap.peak_bytes - d->heap.start_bytes);
    else
        for (size_t i = 0; i < d->nsites; i++)
            if (d->sites[i].leaked)
                kept +=
                    d->sites[i].kept * (double)(d->sites[i].peak_bytes - d->sites[i].start_bytes);
    struct diagnosis *alt = xmalloc(sizeof(*alt));
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
    else if (m->has_drain && !m->drain_settled)
        lack(d, "the target was still busy when the cooldown began (the bench's drain bound): "
                "after-load figures may include work on the load");
    if (!m->exited_cleanly)
        lack(d, "no clean exit: bytes unfreed at exit not known");
    if (m->reclaim_before_rss < 0)
        lack(d, "no reclaim test (allocscope run --reclaim S, or a bench cell)");
}

static void suggest_leaks_command(struct diagnosis *d)
{
    snprintf(d->suggestion, sizeof(d->suggestion),
             "'allocscope leaks %s' lists the lost blocks by site", d->run_dir);
}

/* "1.3 KiB in 11 blocks definitely or indirectly lost at exit, most at f (file:12) (1 KiB)" */
static void lost_sentence(char *out, size_t len, const struct diagnosis_metrics *m)
{
    char b1[32], b2[32];
    snprintf(out, len, "%s in %.0f blocks definitely or indirectly lost at exit, most at %s (%s)",
             format_bytes(b1, sizeof(b1), m->lost_bytes), m->lost_blocks, m->lost_where,
             format_bytes(b2, sizeof(b2), m->lost_where_bytes));
}

/* A run too short for a trend (a test binary, a CLI tool): the verdict comes from what was
 * left at exit. Exact mode knows which blocks were lost (reachability); sampled mode knows
 * the exact total unfreed and estimates where. */
static void classify_exit_state(struct diagnosis *d, const struct diagnose_thresholds *t)
{
    const struct diagnosis_metrics *m = &d->m;
    char b1[32], b2[32], lost[900];
    lack(d, "too short for a trend (fewer than 3 samples): judged on the state at exit");
    d->confidence = CONFIDENCE_HIGH;
    if (!m->exited_cleanly) {
        d->confidence = CONFIDENCE_LOW;
        snprintf(d->reason, sizeof(d->reason),
                 "the program ran too briefly for a trend and did not exit cleanly: nothing "
                 "to judge");
        return;
    }
    if (m->has_reach) {
        if (m->lost_bytes >= t->min_lost_bytes) {
            d->verdict = VERDICT_LEAK;
            lost_sentence(lost, sizeof(lost), m);
            snprintf(d->reason, sizeof(d->reason), "%s", lost);
            suggest_leaks_command(d);
        } else {
            snprintf(d->reason, sizeof(d->reason),
                     "nothing was lost at exit; %s was still reachable (held by the program's "
                     "data when it ended)",
                     format_bytes(b1, sizeof(b1),
                                  m->still_reachable_bytes > 0 ? m->still_reachable_bytes : 0));
        }
        return;
    }
    if (m->exit_live <= 0) {
        snprintf(d->reason, sizeof(d->reason), "nothing was left unfreed at exit");
        return;
    }
    bool exact = m->mode && !strcmp(m->mode, "exact");
    d->verdict = exact ? VERDICT_LEAK : VERDICT_PROBABLE_LEAK;
    d->confidence = exact ? CONFIDENCE_MEDIUM : CONFIDENCE_LOW;
    format_bytes(b1, sizeof(b1), m->exit_live);
    format_bytes(b2, sizeof(b2), m->exit_where_bytes);
    if (m->exit_where[0])
        snprintf(d->reason, sizeof(d->reason), "%s was left unfreed at exit, most at %s (%s%s)", b1,
                 m->exit_where, exact ? "" : "~", b2);
    else
        snprintf(d->reason, sizeof(d->reason), "%s was left unfreed at exit", b1);
    snprintf(d->suggestion, sizeof(d->suggestion),
             "record with --sample all: the exit scan tells lost blocks from ones still "
             "reachable, with exact bytes per site");
}

/* Lost blocks at exit that weigh like a significant growth (min_growth_bytes and
 * min_growth_share of the live peak): certain, where a trajectory verdict beside them is an
 * inference from RSS and timing. */
static bool lost_is_significant(const struct diagnosis_metrics *m,
                                const struct diagnose_thresholds *t)
{
    return m->lost_bytes >= t->min_growth_bytes &&
           m->lost_bytes >= t->min_growth_share * (m->has_live ? m->peak_live : m->peak_rss);
}

/* After a trajectory verdict: blocks lost at exit (reachability) make a healthy run a leak,
 * and a run whose lost blocks are significant a leak whatever its trajectory said (named
 * after them); small losses are named beside any other verdict. */
static void add_exit_state(struct diagnosis *d, const struct diagnose_thresholds *t)
{
    const struct diagnosis_metrics *m = &d->m;
    if (!m->has_reach || !m->exited_cleanly)
        return;
    char lost[900];
    lost_sentence(lost, sizeof(lost), m);
    if (m->lost_bytes >= t->min_lost_bytes && d->verdict == VERDICT_HEALTHY) {
        d->verdict = VERDICT_LEAK;
        d->confidence = CONFIDENCE_HIGH;
        snprintf(d->reason, sizeof(d->reason), "nothing grew through the run, but %s", lost);
        suggest_leaks_command(d);
    } else if (d->verdict != VERDICT_LEAK && lost_is_significant(m, t)) {
        char trajectory[sizeof(d->reason)];
        snprintf(trajectory, sizeof(trajectory), "%s", d->reason);
        d->verdict = VERDICT_LEAK;
        d->confidence = CONFIDENCE_HIGH;
        snprintf(d->reason, sizeof(d->reason), "%s; besides, %s", lost, trajectory);
        suggest_leaks_command(d);
    } else if (m->lost_bytes >= t->min_lost_bytes) {
        size_t used = strlen(d->reason);
        snprintf(d->reason + used, sizeof(d->reason) - used, "; besides, %s", lost);
    } else if (d->verdict == VERDICT_LEAK) {
        size_t used = strlen(d->reason);
        snprintf(d->reason + used, sizeof(d->reason) - used,
                 "; at exit it was all still reachable (held by the program's data: a cache or "
                 "a collection that keeps what it is given), not lost");
        if (d->confidence == CONFIDENCE_HIGH)
            d->confidence = CONFIDENCE_MEDIUM;
    }
}

/* Whether the load reached a steady state: a target that freed less than steady_free_share
 * of what it allocated during the load (in calls) had not worked through its first requests
 * yet (a machine too busy for the load, or a load too short for the machine): what it holds
 * then is its work in flight, whatever its trend. */
static bool load_was_steady(const struct diagnosis *d, const struct diagnose_thresholds *t)
{
    return !d->m.has_work || d->m.load_free_share < 0 ||
           d->m.load_free_share >= t->steady_free_share;
}

/* Growth given back after the load, during a load that never reached a steady state: not
 * buffering that more load would make worse, as far as this run can tell. */
static void classify_unsteady_load(struct diagnosis *d)
{
    char b1[32], b2[32];
    const struct diagnosis_site *top = d->nsites ? &d->sites[0] : &d->heap;
    d->verdict = VERDICT_HEALTHY;
    d->confidence = CONFIDENCE_LOW;
    snprintf(d->reason, sizeof(d->reason),
             "the live heap rose by %s through the load and came back to %s after it, but the "
             "target freed only %.0f%% of the blocks it allocated during the load: it had not "
             "worked through its first requests, so that memory was its work in flight, not "
             "buffering (judge on a longer load, or a machine less busy)",
             format_bytes(b1, sizeof(b1), (double)(top->peak_bytes - top->start_bytes)),
             format_bytes(b2, sizeof(b2), d->m.after_live), 100 * d->m.load_free_share);
    snprintf(d->suggestion, sizeof(d->suggestion),
             "rerun with a longer load (allocscope bench --load-time) so that the target reaches "
             "a steady state");
    lack(d, "no steady state during the load (the target freed little of what it allocated): "
            "growth not judged");
    d->nsites = 0;
}

void diagnose_classify(struct diagnosis *d, const struct diagnose_thresholds *t)
{
    d->verdict = VERDICT_HEALTHY;
    d->confidence = CONFIDENCE_MEDIUM;
    d->reason[0] = d->suggestion[0] = '\0';
    d->nlacking = 0;
    if (d->m.short_run) {
        classify_exit_state(d, t);
        return;
    }
    keep_significant_sites(d, t);
    note_lacking(d);
    bool heap_grew = heap_is_significant(d, t);
    if (heap_grew || d->nsites) {
        if (heap_grew)
            classify_heap_growth(d, t);
        else
            classify_growth(d, t);
        if (d->verdict == VERDICT_LEAK)
            prefer_dominant_rss(d, t);
        else if (!load_was_steady(d, t))
            classify_unsteady_load(d);
    } else if (!classify_rss(d, t)) {
        char b1[32], b2[32], b3[32];
        snprintf(d->reason, sizeof(d->reason),
                 "no site grew significantly through the load; after the load the live heap is "
                 "%s (idle %s) and RSS %s above it beyond idle",
                 format_bytes(b1, sizeof(b1), d->m.after_live),
                 format_bytes(b2, sizeof(b2), d->m.idle_live),
                 format_bytes(b3, sizeof(b3),
                              d->m.has_live ? excess_rss(&d->m) : d->m.after_rss - d->m.idle_rss));
        if (d->m.has_cooldown && d->m.has_live && d->m.has_stacks)
            d->confidence = CONFIDENCE_HIGH;
        else if (!d->m.has_live)
            d->confidence = CONFIDENCE_LOW;
    }
    add_exit_state(d, t);
}

/* ---- measurement --------------------------------------------------------------------- */

/* The rows of samples.csv that describe the program while it ran, without the exit row.
 * The live heap is judged on all of them: a reclaim request changes RSS, not the live heap,
 * and a program may still be freeing (or leaking) after it. RSS is judged on the rows
 * before the reclaim request (n_rss). */
struct series {
    size_t n, n_rss;
    double *t_ms, *live, *rss, *alloc_calls, *free_calls;
    bool has_live;
    double exit_live; /* -1 without an exit row */
};

static void series_free(struct series *s)
{
    free(s->t_ms);
    free(s->live);
    free(s->rss);
    free(s->alloc_calls);
    free(s->free_calls);
}

static double cell_or(const struct csv *c, size_t row, int col, double fallback)
{
    double v = csv_number(c, row, col);
    return isnan(v) || v < 0 ? fallback : v;
}

/* A quantity beyond CSV_MAX_QUANTITY is no real measurement; it is refused rather than
 * carried into sums and integer casts. */
static bool row_in_range(const struct csv *c, size_t r, const int *cols, int ncols, char *err,
                         size_t errlen)
{
    for (int i = 0; i < ncols; i++) {
        double v = csv_number(c, r, cols[i]);
        if (cols[i] >= 0 && !isnan(v) && !(fabs(v) <= CSV_MAX_QUANTITY)) {
            snprintf(err, errlen,
                     "%s:%zu: %s '%s' is beyond any real measurement; the file is "
                     "damaged",
                     c->path, r + 2, c->header[cols[i]], csv_cell(c, r, cols[i]));
            return false;
        }
    }
    return true;
}

static int series_load(struct series *s, const struct csv *c, bool exited, char *err, size_t errlen)
{
    int c_t = csv_column(c, SAMPLES_T_MS), c_live = csv_column(c, SAMPLES_LIVE_BYTES);
    int c_rss = csv_column(c, SAMPLES_RSS_BYTES), c_lazy = csv_column(c, SAMPLES_LAZYFREE_BYTES);
    int c_calls = csv_column(c, SAMPLES_ALLOC_CALLS), c_reclaim = csv_column(c, SAMPLES_RECLAIM);
    int c_frees = csv_column(c, SAMPLES_FREE_CALLS);
    memset(s, 0, sizeof(*s));
    s->exit_live = -1;
    if (c_t < 0 || c_rss < 0) {
        snprintf(err, errlen, "%s: missing column " SAMPLES_T_MS " or " SAMPLES_RSS_BYTES, c->path);
        return -1;
    }
    s->has_live = c_live >= 0;
    size_t rows = c->nrows;
    if (exited && rows > 1 && s->has_live) {
        rows--; /* the exit row: after the program's destructors */
        s->exit_live = cell_or(c, rows, c_live, 0);
    } else if (exited && rows == 1 && s->has_live) {
        s->exit_live = cell_or(c, 0, c_live, 0); /* a program that ended at once */
    }
    s->t_ms = xcalloc(rows + 1, sizeof(double));
    s->live = xcalloc(rows + 1, sizeof(double));
    s->rss = xcalloc(rows + 1, sizeof(double));
    s->alloc_calls = xcalloc(rows + 1, sizeof(double));
    s->free_calls = xcalloc(rows + 1, sizeof(double));
    s->n_rss = rows;
    for (size_t r = 0; r < rows; r++) {
        double t = csv_number(c, r, c_t);
        if (!isfinite(t) || t < 0 || (s->n && t < s->t_ms[s->n - 1])) {
            snprintf(err, errlen,
                     "%s:%zu: t_ms '%s' is not a time after the row above; the file is damaged",
                     c->path, r + 2, csv_cell(c, r, c_t));
            return -1;
        }
        if (!row_in_range(c, r, (int[]){c_t, c_live, c_rss, c_lazy, c_calls}, 5, err, errlen))
            return -1;
        if (*csv_cell(c, r, c_reclaim) && s->n_rss == rows)
            s->n_rss = s->n;
        /* MADV_FREE'd pages count in Rss until the kernel takes them, but they are given back. */
        s->t_ms[s->n] = cell_or(c, r, c_t, 0);
        s->rss[s->n] = cell_or(c, r, c_rss, 0) - cell_or(c, r, c_lazy, 0);
        s->live[s->n] = cell_or(c, r, c_live, 0);
        s->alloc_calls[s->n] = cell_or(c, r, c_calls, 0);
        s->free_calls[s->n] = c_frees >= 0 ? cell_or(c, r, c_frees, 0) : NAN;
        s->n++;
    }
    if (s->n_rss > s->n)
        s->n_rss = s->n;
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

/* 0 with the phases set, -1 without a usable phases.csv (the phases are then inferred), -2
 * when it contradicts itself (ERR says where). */
static int load_phases_file(struct diagnosis_metrics *m, const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct csv c;
    struct stat st;
    snprintf(path, sizeof(path), "%s/phases.csv", dir);
    if (stat(path, &st))
        return -1;
    if (csv_load(&c, path, err, errlen)) {
        util_warn("%s; inferring the phases from the allocation rate", err);
        return -1;
    }
    int c_phase = csv_column(&c, PHASES_PHASE), c_start = csv_column(&c, PHASES_START_MS);
    int c_end = csv_column(&c, PHASES_END_MS), c_settled = csv_column(&c, PHASES_SETTLED);
    bool load = false, cooldown = false;
    for (size_t r = 0; r < c.nrows; r++) {
        const char *phase = csv_cell(&c, r, c_phase);
        double start = csv_number(&c, r, c_start), end = csv_number(&c, r, c_end);
        if (isnan(start) || isnan(end))
            continue;
        if (!isfinite(start) || !isfinite(end) || start < 0 || end < start ||
            end > CSV_MAX_QUANTITY) {
            snprintf(err, errlen,
                     "%s:%zu: phase '%s' from %s to %s ms is not a span of time; the "
                     "file is damaged",
                     path, r + 2, phase, csv_cell(&c, r, c_start), csv_cell(&c, r, c_end));
            csv_free(&c);
            return -2;
        }
        if (!strcmp(phase, "load")) {
            m->load_start_ms = (uint64_t)start, m->load_end_ms = (uint64_t)end, load = true;
        } else if (!strcmp(phase, "cooldown")) {
            m->after_ms = (uint64_t)end, cooldown = end > start;
        } else if (!strcmp(phase, "drain")) {
            /* written by allocscope bench since the drain phase; older cells have none */
            m->has_drain = true, m->drain_end_ms = (uint64_t)end;
            m->drain_settled = strcmp(csv_cell(&c, r, c_settled), "no") != 0;
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

/* Longest teardown taken for one: a program freeing for longer is still working off its
 * load, and the end of the recording is its after-load state. */
#define TEARDOWN_MS 1000.0

/* The last row after the load's LAST where the program was quiet. A program that frees its
 * state before it exits (at a rate of the load's own) can be caught mid-way by the last
 * rows: its live heap is falling there while the allocator has not returned anything yet,
 * which is no after-load state. Without a quiet row just before such a teardown, the
 * end. */
static size_t quiet_before_teardown(const struct series *s, size_t last, double max_rate,
                                    const struct diagnose_thresholds *t)
{
    size_t end = s->n - 1;
    for (size_t i = end; i > last + 1 && s->t_ms[end] - s->t_ms[i - 1] <= TEARDOWN_MS; i--) {
        double dt = s->t_ms[i] - s->t_ms[i - 1];
        double frees = dt > 0 ? (s->free_calls[i] - s->free_calls[i - 1]) / dt : 0;
        if (frees <= t->activity_share * max_rate)
            return i; /* the interval up to row I was quiet */
    }
    return end;
}

/* Without phases.csv the load is where the allocation rate is high: from the first to the
 * last interval whose rate exceeds activity_share of the highest. */
static void infer_phases(struct diagnosis_metrics *m, const struct series *s,
                         const struct diagnose_thresholds *t)
{
    bool by_rss = s->alloc_calls[s->n - 1] <= 0;
    size_t n = by_rss ? s->n_rss : s->n; /* RSS moves on its own after a reclaim request */
    double max_rate = 0;
    for (size_t i = 1; i < n; i++)
        if (activity(s, i, by_rss) > max_rate)
            max_rate = activity(s, i, by_rss);
    size_t first = 0, last = n - 1;
    bool found = false;
    for (size_t i = 1; i < n && max_rate > 0; i++) {
        if (activity(s, i, by_rss) > t->activity_share * max_rate) {
            if (!found)
                first = i - 1;
            last = i, found = true;
        }
    }
    if (!found)
        first = 0, last = n - 1;
    m->load_start_ms = (uint64_t)s->t_ms[first];
    m->load_end_ms = (uint64_t)s->t_ms[last];
    /* After the load is where the program is quiet: the end of the recording, or just
     * before the teardown a program may do on its way out. */
    size_t quiet = by_rss ? s->n - 1 : quiet_before_teardown(s, last, max_rate, t);
    m->after_ms = (uint64_t)s->t_ms[quiet];
    /* At least a second (or five samples) of quiet after the load counts as a cooldown. */
    m->has_cooldown = quiet - last >= 5 && s->t_ms[quiet] - s->t_ms[last] >= 1000;
}

/* The RSS row for time T: RSS after the reclaim request is the reclaim test's, not the
 * program's own. */
static size_t rss_row_at(const struct series *s, double t)
{
    size_t i = row_at(s, t);
    return s->n_rss && i >= s->n_rss ? s->n_rss - 1 : i;
}

/* Fewer allocation calls than this over the load: too little work to judge growth by. */
#define MIN_WORK_CALLS 100

/* The work axis: the live heap against the allocation calls over the load's rows I0..END
 * (END: its last steady row). The tail is the last third of those calls; the midpoint is
 * when half of them had been made. */
static void measure_work(struct diagnosis_metrics *m, const struct series *s, size_t i0, size_t end)
{
    double c0 = s->alloc_calls[i0], c1 = s->alloc_calls[end];
    m->has_work = s->has_live && c1 - c0 >= MIN_WORK_CALLS;
    m->work_mid_ms = m->steady_end_ms;
    if (!m->has_work)
        return;
    size_t tail = i0, mid = i0;
    while (tail < end && s->alloc_calls[tail] < c1 - (c1 - c0) / 3)
        tail++;
    while (mid < end && s->alloc_calls[mid] < c0 + (c1 - c0) / 2)
        mid++;
    m->work_mid_ms = (uint64_t)s->t_ms[mid];
    double frees = s->free_calls[end] - s->free_calls[i0];
    m->load_free_share = isnan(frees) ? -1 : frees / (c1 - c0);
    double slope = diagnose_slope(s->alloc_calls + tail, s->live + tail, end - tail + 1,
                                  &m->work_tail_slope_t);
    m->work_tail_growth = slope * (s->alloc_calls[end] - s->alloc_calls[tail]);
}

/* Allocation calls made by time T (the row at or before it). */
static double calls_at(const struct series *s, double t)
{
    return s->alloc_calls[row_at(s, t)];
}

static void measure_totals(struct diagnosis_metrics *m, const struct series *s)
{
    size_t i0 = row_at(s, (double)m->load_start_ms), i1 = row_at(s, (double)m->load_end_ms);
    size_t i2 = m->has_cooldown ? row_at(s, (double)m->after_ms) : i1;
    if (m->after_ms < m->load_end_ms || !m->has_cooldown)
        m->after_ms = m->load_end_ms;
    size_t r0 = rss_row_at(s, (double)m->load_start_ms), r2 = rss_row_at(s, s->t_ms[i2]);
    m->idle_live = s->live[i0], m->idle_rss = s->rss[r0];
    m->load_end_live = s->live[i1];
    m->after_live = s->live[i2], m->after_rss = s->rss[r2];
    m->peak_live = m->peak_rss = 0;
    for (size_t i = 0; i <= i2; i++)
        if (s->live[i] > m->peak_live)
            m->peak_live = s->live[i];
    for (size_t i = 0; i <= r2; i++)
        if (s->rss[i] > m->peak_rss)
            m->peak_rss = s->rss[i];
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
    measure_work(m, s, i0, tail_end);
}

/* A site's live bytes (or blocks) as of its last snapshot at or before T. */
static double site_at(const struct site_series *s, double t, bool blocks)
{
    double v = 0;
    for (size_t i = 0; i < s->npoints && (double)s->points[i].t_ms <= t; i++)
        v = (double)(blocks ? s->points[i].live_blocks : s->points[i].live_bytes);
    return v;
}

static double value_at(const struct site_series *s, double t)
{
    return site_at(s, t, false);
}

/* Growth statistics of one series of (t_ms, bytes) points over the load and after it. */
struct growth_input {
    const double *t_ms, *bytes;
    size_t n;
    double start, load_end, mid, after, exit_bytes;
    double exit_ms;            /* when exit_bytes was read; > 0 when it is part of the trajectory */
    double work_mid;           /* bytes when half of the load's allocation calls were made */
    const struct series *work; /* the samples, for the calls made by each time */
};

static void growth_stats(struct diagnosis_site *out, const struct growth_input *g,
                         const struct diagnosis_metrics *m)
{
    double *t = xcalloc(g->n + 1, sizeof(double)), *y = xcalloc(g->n + 1, sizeof(double));
    double *w = xcalloc(g->n + 1, sizeof(double));
    size_t k = 0;
    double peak = g->start, peak_ms = (double)m->load_start_ms;
    w[k] = m->has_work ? calls_at(g->work, (double)m->load_start_ms) : 0;
    t[k] = (double)m->load_start_ms / 1000.0, y[k++] = g->start;
    for (size_t i = 0; i < g->n; i++) {
        if (g->t_ms[i] <= (double)m->load_start_ms || g->t_ms[i] > (double)m->after_ms)
            continue;
        if (g->bytes[i] > peak)
            peak = g->bytes[i], peak_ms = g->t_ms[i];
        if (g->t_ms[i] <= (double)m->steady_end_ms) {
            w[k] = m->has_work ? calls_at(g->work, g->t_ms[i]) : 0;
            t[k] = g->t_ms[i] / 1000.0, y[k++] = g->bytes[i];
        }
    }
    if (g->exit_ms > 0 && g->exit_bytes > peak)
        peak = g->exit_bytes, peak_ms = g->exit_ms;
    out->start_bytes = (int64_t)g->start;
    out->peak_bytes = (int64_t)peak;
    out->load_end_bytes = (int64_t)g->load_end;
    out->after_bytes = (int64_t)g->after;
    out->exit_bytes = (int64_t)g->exit_bytes;
    out->growth_bytes_per_s = diagnose_slope(t, y, k, &out->slope_t);
    double half_width =
        out->slope_t != 0 ? t_critical(k) * fabs(out->growth_bytes_per_s / out->slope_t) : 0;
    out->rate_low = out->growth_bytes_per_s - half_width;
    out->rate_high = out->growth_bytes_per_s + half_width;
    out->growth_from_s = (double)m->load_start_ms / 1000.0;
    out->growth_to_s = peak_ms / 1000.0;
    double rise = peak - g->start;
    double load_rise = g->load_end - g->start;
    out->sustained = load_rise > 0 ? (g->load_end - g->mid) / load_rise : 0;
    out->work_sustained = load_rise > 0 ? (g->load_end - g->work_mid) / load_rise : 0;
    double work_t;
    out->growth_bytes_per_call = m->has_work ? diagnose_slope(w, y, k, &work_t) : 0;
    double kept_at = m->has_cooldown || g->exit_bytes < 0 ? g->after : g->exit_bytes;
    out->kept = rise > 0 ? (kept_at - g->start) / rise : 0;
    free(t);
    free(y);
    free(w);
}

/* A site is seen only at its snapshots, a second apart, and the last one is taken at exit.
 * When the program exited cleanly with no cooldown before, that snapshot ends the trajectory:
 * a site that grew only in the last second before the after-load point has no row before it,
 * and without this a short run's leak would go unnamed. Returns the snapshot's time, or 0. */
static double exit_in_trajectory(const struct site_series *s, const struct diagnosis_metrics *m)
{
    if (m->has_cooldown || !m->exited_cleanly || s->npoints == 0)
        return 0;
    double last = (double)s->points[s->npoints - 1].t_ms;
    return last > (double)m->after_ms ? last : 0;
}

static void site_growth(struct diagnosis_site *out, const struct site_series *s,
                        const struct diagnosis_metrics *m, const struct series *work)
{
    double *t = xcalloc(s->npoints + 1, sizeof(double));
    double *y = xcalloc(s->npoints + 1, sizeof(double));
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
        .exit_ms = exit_in_trajectory(s, m),
        .work_mid = value_at(s, (double)m->work_mid_ms),
        .work = work,
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

/* About how many samples a sampled site's growth of BYTES in BLOCKS rests on: each block
 * of s bytes was sampled with probability 1 - exp(-s/MEAN). */
static double sample_count(double bytes, double blocks, double mean)
{
    if (mean <= 0 || blocks <= 0 || bytes <= 0)
        return 0;
    return blocks * -expm1(-(bytes / blocks) / mean);
}

static double blocks_at(const struct site_series *s, double t)
{
    return site_at(s, t, true);
}

/* The CANDIDATES sites that grew most (for naming where a heap growth comes from), kept in
 * order of growth. */
#define CANDIDATES 3

static void keep_candidate(struct diagnosis *d, const struct diagnosis_site *site)
{
    int64_t growth = site->peak_bytes - site->start_bytes;
    if (growth <= 0)
        return;
    size_t at = d->ncandidates;
    while (at > 0 && d->candidates[at - 1].peak_bytes - d->candidates[at - 1].start_bytes < growth)
        at--;
    if (at >= CANDIDATES)
        return;
    size_t n = d->ncandidates < CANDIDATES ? d->ncandidates + 1 : CANDIDATES;
    memmove(&d->candidates[at + 1], &d->candidates[at], (n - 1 - at) * sizeof(*site));
    d->candidates[at] = *site;
    d->ncandidates = n;
}

static void measure_sites(struct diagnosis *d, const struct run_data *run,
                          const struct diagnose_thresholds *t, double sample_mean,
                          const struct series *work)
{
    struct symbolizer *sym = symbolizer_new(run->maps_text);
    d->sites = xcalloc(run->nsites + 1, sizeof(*d->sites));
    d->candidates = xcalloc(CANDIDATES, sizeof(*d->candidates));
    for (size_t i = 0; i < run->nsites; i++) {
        const struct site_series *series = &run->sites[i];
        struct diagnosis_site site;
        memset(&site, 0, sizeof(site));
        site_growth(&site, series, &d->m, work);
        /* the blocks behind the growth: those live where the site peaked */
        double blocks = blocks_at(series, site.growth_to_s * 1000.0) -
                        blocks_at(series, (double)d->m.load_start_ms);
        site.samples =
            sample_count((double)(site.peak_bytes - site.start_bytes), blocks, sample_mean);
        bool significant = site_is_significant(&site, &d->m, t);
        bool candidate =
            d->ncandidates < CANDIDATES ||
            site.peak_bytes - site.start_bytes > d->candidates[CANDIDATES - 1].peak_bytes -
                                                     d->candidates[CANDIDATES - 1].start_bytes;
        if (!significant && !candidate)
            continue;
        site_names(&site, series, sym);
        if (significant)
            d->sites[d->nsites++] = site;
        keep_candidate(d, &site);
    }
    symbolizer_free(sym);
}

/* The whole live heap (or RSS, without a live heap) as one series. */
static void measure_heap(struct diagnosis *d, const struct series *s)
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
        .work_mid = bytes[row_at(s, (double)m->work_mid_ms)],
        .work = s,
    };
    growth_stats(&d->heap, &g, m);
    d->heap.site_id = UINT32_MAX;
    snprintf(d->heap.function, sizeof(d->heap.function), "%s",
             s->has_live ? "(whole live heap)" : "(whole RSS)");
    snprintf(d->heap.where, sizeof(d->heap.where), "%s", d->heap.function);
    d->has_heap = true;
}

/* Without stacks, the heap stands as the one site. */
static void heap_as_only_site(struct diagnosis *d)
{
    d->sites = xcalloc(1, sizeof(*d->sites));
    d->sites[0] = d->heap;
    snprintf(d->sites[0].where, sizeof(d->sites[0].where), "%s; no stacks were recorded",
             d->heap.function);
    d->nsites = 1;
}

/* What was left at exit: the reachability classes (exact mode) and the largest sites lost
 * and unfreed. */
static void measure_exit_state(struct diagnosis_metrics *m, const struct run_data *run)
{
    m->lost_bytes = m->lost_blocks = m->possibly_lost_bytes = m->still_reachable_bytes = -1;
    const struct site_series *lost = NULL, *unfreed = NULL;
    for (size_t i = 0; i < run->nsites; i++) {
        const struct site_series *s = &run->sites[i];
        int64_t l = s->reach.bytes[REACH_DEFINITELY_LOST] + s->reach.bytes[REACH_INDIRECTLY_LOST];
        if (run->has_reach && l > 0 &&
            (!lost || l > lost->reach.bytes[REACH_DEFINITELY_LOST] +
                              lost->reach.bytes[REACH_INDIRECTLY_LOST]))
            lost = s;
        if (s->end_bytes > 0 && (!unfreed || s->end_bytes > unfreed->end_bytes))
            unfreed = s;
    }
    m->has_reach = run->has_reach;
    if (run->has_reach) {
        m->lost_bytes = (double)(run->reach.bytes[REACH_DEFINITELY_LOST] +
                                 run->reach.bytes[REACH_INDIRECTLY_LOST]);
        m->lost_blocks = (double)(run->reach.blocks[REACH_DEFINITELY_LOST] +
                                  run->reach.blocks[REACH_INDIRECTLY_LOST]);
        m->possibly_lost_bytes = (double)run->reach.bytes[REACH_POSSIBLY_LOST];
        m->still_reachable_bytes = (double)run->reach.bytes[REACH_STILL_REACHABLE];
    }
    if (!lost && !unfreed)
        return;
    struct symbolizer *sym = symbolizer_new(run->maps_text);
    if (lost) {
        format_site_frames(sym, lost, 3, m->lost_where, sizeof(m->lost_where));
        m->lost_where_bytes = (double)(lost->reach.bytes[REACH_DEFINITELY_LOST] +
                                       lost->reach.bytes[REACH_INDIRECTLY_LOST]);
    }
    if (unfreed) {
        format_site_frames(sym, unfreed, 3, m->exit_where, sizeof(m->exit_where));
        m->exit_where_bytes = (double)unfreed->end_bytes;
    }
    symbolizer_free(sym);
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
    run->dir = xstrdup(dir);
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
    m->exit_live = s.exit_live;
    measure_exit_state(m, &run);
    m->short_run = s.n < 3;
    if (m->short_run && run.samples.truncated) {
        snprintf(err, errlen,
                 "%s/samples.csv is cut short (its last line is incomplete) and holds fewer than "
                 "3 samples: the recording is damaged, nothing to diagnose",
                 run_dir);
        series_free(&s);
        rundata_free(&run);
        return -1;
    }
    if (!m->short_run) {
        int phases = load_phases_file(m, run_dir, err, errlen);
        if (phases == -2) {
            series_free(&s);
            rundata_free(&run);
            return -1;
        }
        if (phases)
            infer_phases(m, &s, t);
        measure_totals(m, &s);
        measure_heap(d, &s);
        if (m->has_stacks)
            measure_sites(d, &run, t,
                          strcmp(m->mode, "sampled") ? 0 : fact_number(&run, "sample_bytes"), &s);
        else
            heap_as_only_site(d);
        if (strcmp(m->mode, "sampled") == 0)
            d->heap.samples = 0; /* the heap's counters are exact in every mode */
    }
    series_free(&s);
    rundata_free(&run);
    diagnose_classify(d, t);
    return 0;
}

void diagnosis_free(struct diagnosis *d)
{
    free(d->sites);
    free(d->candidates);
    d->sites = d->candidates = NULL;
    d->nsites = d->ncandidates = 0;
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
    if (!m->short_run && m->has_drain)
        fprintf(out, "  load %.1f-%.1f s (%s), drained at %.1f s%s, after-load state at %.1f s\n",
                (double)m->load_start_ms / 1000, (double)m->load_end_ms / 1000,
                m->phases_from_file ? "phases.csv" : "inferred", (double)m->drain_end_ms / 1000,
                m->drain_settled ? "" : " (still busy)", (double)m->after_ms / 1000);
    else if (!m->short_run)
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
    if (m->has_reach)
        fprintf(out, "  at exit    lost %s, possibly lost %s, still reachable %s\n",
                format_bytes(b1, sizeof(b1), m->lost_bytes),
                format_bytes(b2, sizeof(b2), m->possibly_lost_bytes),
                format_bytes(b3, sizeof(b3), m->still_reachable_bytes));
    for (size_t i = 0; i < d->nsites && i < 8; i++) {
        const struct diagnosis_site *s = &d->sites[i];
        fprintf(out, "  site %s: grew %s at %s/s (trend t statistic %.1f), %.0f%% kept: %s\n",
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
    json_object_set_new(o, "has_work", json_boolean(m->has_work));
    json_object_set_new(o, "work_tail_slope_t",
                        m->has_work ? json_real(m->work_tail_slope_t) : json_null());
    json_object_set_new(o, "work_tail_growth_bytes",
                        m->has_work ? json_real(m->work_tail_growth) : json_null());
    json_object_set_new(o, "load_free_share",
                        m->has_work && m->load_free_share >= 0 ? json_real(m->load_free_share)
                                                               : json_null());
    json_object_set_new(o, "drain_end_ms",
                        m->has_drain ? json_integer((json_int_t)m->drain_end_ms) : json_null());
    json_object_set_new(o, "drain_settled",
                        m->has_drain ? json_boolean(m->drain_settled) : json_null());
    json_object_set_new(o, "short_run", json_boolean(m->short_run));
    json_object_set_new(o, "lost_bytes", number_or_null(m->lost_bytes));
    json_object_set_new(o, "lost_blocks", number_or_null(m->lost_blocks));
    json_object_set_new(o, "possibly_lost_bytes", number_or_null(m->possibly_lost_bytes));
    json_object_set_new(o, "still_reachable_bytes", number_or_null(m->still_reachable_bytes));
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
    json_t *o =
        json_pack("{s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f}", "kind",
                  s->leaked ? "kept" : "released", "function", json_text(s->function), "where",
                  json_text(s->where), "start_bytes", (json_int_t)s->start_bytes, "peak_bytes",
                  (json_int_t)s->peak_bytes, "load_end_bytes", (json_int_t)s->load_end_bytes,
                  "after_bytes", (json_int_t)s->after_bytes, "exit_bytes",
                  (json_int_t)s->exit_bytes, "growth_bytes_per_s", s->growth_bytes_per_s, "slope_t",
                  s->slope_t, "sustained_share", s->sustained, "kept_share", s->kept);
    json_object_set_new(o, "growth_from_s", json_real(s->growth_from_s));
    json_object_set_new(o, "growth_to_s", json_real(s->growth_to_s));
    json_object_set_new(o, "growth_bytes_per_s_low", json_real(s->rate_low));
    json_object_set_new(o, "growth_bytes_per_s_high", json_real(s->rate_high));
    json_object_set_new(o, "samples", s->samples > 0 ? json_real(s->samples) : json_null());
    json_object_set_new(o, "work_sustained_share", json_real(s->work_sustained));
    json_object_set_new(o, "growth_bytes_per_call", json_real(s->growth_bytes_per_call));
    return o;
}

struct json_t *diagnosis_to_json(const struct diagnosis *d)
{
    json_t *sites = json_array(), *lacking = json_array();
    for (size_t i = 0; i < d->nsites; i++)
        json_array_append_new(sites, site_json(&d->sites[i]));
    for (size_t i = 0; i < d->nlacking; i++)
        json_array_append_new(lacking, json_text(d->lacking[i]));
    json_t *o = json_pack("{s:o, s:s, s:s, s:o, s:o, s:f, s:o, s:o, s:o}", "dir",
                          json_text(d->run_dir), "verdict", diagnosis_verdict_name(d->verdict),
                          "confidence", diagnosis_confidence_name(d->confidence), "reason",
                          json_text(d->reason), "suggestion", json_text(d->suggestion),
                          "leak_growth_bytes_per_s", diagnosis_leak_growth(d), "metrics",
                          metrics_json(&d->m), "sites", sites, "lacking", lacking);
    json_t *candidates = json_array();
    for (size_t i = 0; i < d->ncandidates; i++)
        json_array_append_new(candidates, site_json(&d->candidates[i]));
    json_object_set_new(o, "heap", d->has_heap ? site_json(&d->heap) : json_null());
    double per_call = diagnosis_leak_per_call(d);
    json_object_set_new(o, "leak_bytes_per_call",
                        isnan(per_call) ? json_null() : json_real(per_call));
    json_object_set_new(o, "top_growing_sites", candidates);
    return o;
}

double diagnosis_leak_growth(const struct diagnosis *d)
{
    if (d->verdict == VERDICT_LEAK && d->has_heap && d->heap.leaked)
        return d->heap.growth_bytes_per_s; /* exact, where the sites are estimates */
    double rate = 0;
    for (size_t i = 0; i < d->nsites && d->verdict == VERDICT_LEAK; i++)
        if (d->sites[i].leaked)
            rate += d->sites[i].growth_bytes_per_s;
    return rate;
}

double diagnosis_leak_per_call(const struct diagnosis *d)
{
    if (d->verdict != VERDICT_LEAK)
        return 0;
    if (!d->m.has_work)
        return NAN;
    if (d->has_heap && d->heap.leaked)
        return d->heap.growth_bytes_per_call;
    double rate = 0;
    for (size_t i = 0; i < d->nsites; i++)
        if (d->sites[i].leaked)
            rate += d->sites[i].growth_bytes_per_call;
    return rate;
}
