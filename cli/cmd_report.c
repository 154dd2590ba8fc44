/* allocscope report DIR... [-o OUT]: charts, a self-contained HTML page and a Markdown
 * summary with a recommendation, from run directories and bench directories. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "reports/diagnose.h"
#include "reports/report_charts.h"
#include "reports/report_doc.h"
#include "reports/report_flame.h"
#include "reports/report_model.h"
#include "reports/report_recommend.h"
#include "common/atomic_file.h"
#include "common/util.h"

static const char report_usage[] =
    "usage: allocscope report DIR... [-o OUT] [options]\n"
    "  Turns run directories (allocscope run) and bench directories (allocscope bench) into\n"
    "  OUT/index.html (one file, charts inline), OUT/summary.md and OUT/charts/ (PNG, SVG and\n"
    "  the gnuplot scripts that drew them).\n"
    "  -o, --out DIR        where to write (default allocscope-report)\n"
    "  --tolerance PCT      configurations within PCT% of the best throughput compete on\n"
    "                       memory (default 5)\n"
    "  --metric NAME        the RSS to minimise: after (default), after-1s, peak, idle\n"
    "  --top-sites N        growing allocation sites drawn per workload (default 5, 0: none)\n"
    "  --no-png             SVG only\n"
    "  --no-diagnose        skip the per-run diagnosis\n"
    "  --no-flames          no flame graphs (they are in the page and charts/flame-*.svg)\n"
    "  --quiet              print only the report's path\n";

struct report_args {
    const char *out;
    struct report_options opt;
    bool diagnose, quiet, flames;
};

static int parse_metric(const char *name, enum report_metric *out)
{
    static const struct {
        const char *name;
        enum report_metric m;
    } names[] = {{"after", METRIC_AFTER},
                 {"after-1s", METRIC_AFTER_1S},
                 {"peak", METRIC_PEAK},
                 {"idle", METRIC_IDLE}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].m;
            return 0;
        }
    return -1;
}

static int parse_args(int argc, char **argv, struct report_args *a)
{
    static const struct option options[] = {
        {"out", required_argument, NULL, 'o'},    {"tolerance", required_argument, NULL, 't'},
        {"metric", required_argument, NULL, 'm'}, {"top-sites", required_argument, NULL, 's'},
        {"no-png", no_argument, NULL, 'P'},       {"no-diagnose", no_argument, NULL, 'D'},
        {"no-flames", no_argument, NULL, 'F'},    {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    *a = (struct report_args){
        .out = "allocscope-report",
        .opt = {.tolerance = 0.05, .rss_metric = METRIC_AFTER, .top_sites = 5, .png = true},
        .diagnose = true,
        .flames = true};
    int c;
    uint64_t n;
    char *end;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'o':
            a->out = optarg;
            break;
        case 't':
            errno = 0;
            a->opt.tolerance = strtod(optarg, &end) / 100.0;
            if (errno || *end || end == optarg || !(a->opt.tolerance >= 0) ||
                a->opt.tolerance > 1) {
                util_error("--tolerance wants a percentage between 0 and 100, not '%s'", optarg);
                return -1;
            }
            break;
        case 'm':
            if (parse_metric(optarg, &a->opt.rss_metric)) {
                util_error("--metric wants after, after-1s, peak or idle, not '%s'", optarg);
                return -1;
            }
            break;
        case 's':
            if (util_parse_uint(optarg, 0, 20, &n)) {
                util_error("--top-sites wants a number from 0 to 20, not '%s'", optarg);
                return -1;
            }
            a->opt.top_sites = (int)n;
            break;
        case 'P':
            a->opt.png = false;
            break;
        case 'D':
            a->diagnose = false;
            break;
        case 'F':
            a->flames = false;
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'h':
            fputs(report_usage, stdout);
            exit(0);
        default:
            fprintf(stderr, "%s", report_usage);
            return -1;
        }
    }
    if (optind >= argc) {
        util_error("report needs at least one run or bench directory; see 'allocscope report "
                   "--help'");
        return -1;
    }
    return 0;
}

/* A program that ends: its speed is runs per second, 1 / its time. */
static double speed_of(const double *m, bool batch)
{
    return batch ? 1.0 / m[METRIC_DURATION] : m[METRIC_THROUGHPUT];
}

/* The speed of each successful repeat of a configuration, for the recommendation's
 * interval. Returns the count; *out is malloc'd. */
static size_t repeat_speeds(const struct report_input *in, const struct report_config *cfg,
                            bool batch, double **out)
{
    size_t n = 0;
    *out = xcalloc(cfg->ncells ? cfg->ncells : 1, sizeof(double));
    for (size_t i = 0; i < cfg->ncells; i++) {
        const struct report_cell *c = &in->cells[cfg->cells[i]];
        double v = speed_of(c->m, batch);
        if (!strcmp(c->status, "ok") && isfinite(v))
            (*out)[n++] = v;
    }
    return n;
}

static void recommend_groups(const struct report_input *in, const struct report_options *opt,
                             struct rec_result *recs, long *chosen)
{
    for (size_t g = 0; g < in->ngroups; g++) {
        const struct report_group *grp = &in->groups[g];
        struct rec_candidate *cands = xcalloc(grp->nconfigs ? grp->nconfigs : 1, sizeof(*cands));
        double **speeds = xcalloc(grp->nconfigs ? grp->nconfigs : 1, sizeof(double *));
        enum report_metric metric = report_group_metric(grp, opt->rss_metric);
        for (size_t k = 0; k < grp->nconfigs; k++) {
            const double *m = grp->configs[k].m;
            size_t n = repeat_speeds(in, &grp->configs[k], grp->batch, &speeds[k]);
            cands[k] = (struct rec_candidate){grp->configs[k].label, speed_of(m, grp->batch),
                                              m[metric], speeds[k], n};
        }
        recommend(cands, grp->nconfigs, opt->tolerance, &recs[g]);
        chosen[g] = recs[g].chosen;
        for (size_t k = 0; k < grp->nconfigs; k++)
            free(speeds[k]);
        free(speeds);
        free(cands);
    }
}

static size_t overall_ranking(const struct report_input *in, const struct report_options *opt,
                              const struct rec_result *recs, struct overall_rank **out,
                              long *choice)
{
    size_t n = 0;
    *out = NULL;
    *choice = -1;
    for (size_t g = 0; g < in->ngroups; g++) {
        const struct report_group *grp = &in->groups[g];
        enum report_metric metric = report_group_metric(grp, opt->rss_metric);
        double lowest = NAN;
        for (size_t k = 0; k < grp->nconfigs; k++)
            if (!isnan(grp->configs[k].m[metric]) &&
                (isnan(lowest) || grp->configs[k].m[metric] < lowest))
                lowest = grp->configs[k].m[metric];
        for (size_t i = 0; i < recs[g].nranks; i++) {
            const struct rec_rank *rk = &recs[g].ranks[i];
            const struct report_config *cfg = &grp->configs[rk->index];
            if (rk->reason == REC_NOT_MEASURED || !(lowest > 0))
                continue;
            size_t j = 0;
            while (j < n && strcmp((*out)[j].label, cfg->label))
                j++;
            if (j == n) {
                *out = xreallocarray(*out, n + 1, sizeof(**out));
                (*out)[n++] = (struct overall_rank){cfg->label, 0, 0, 0};
            }
            (*out)[j].groups++;
            (*out)[j].fast_enough += rk->reason != REC_TOO_SLOW;
            (*out)[j].rss_ratio += log(cfg->m[metric] / lowest);
        }
    }
    for (size_t j = 0; j < n; j++) {
        struct overall_rank *o = &(*out)[j];
        o->rss_ratio = exp(o->rss_ratio / (double)o->groups);
        /* Only a configuration measured and fast enough everywhere can be the overall pick. */
        if (o->groups == in->ngroups && o->fast_enough == in->ngroups &&
            (*choice < 0 || o->rss_ratio < (*out)[*choice].rss_ratio))
            *choice = (long)j;
    }
    return n;
}

static void diagnose_cells(const struct report_input *in, struct cell_diagnosis *diag)
{
    struct diagnose_thresholds th;
    diagnose_thresholds_default(&th);
    for (size_t g = 0; g < in->ngroups; g++) {
        for (size_t k = 0; k < in->groups[g].nconfigs; k++) {
            long ci = in->groups[g].configs[k].first_ok;
            if (ci < 0)
                continue;
            struct cell_diagnosis *d = &diag[ci];
            struct diagnosis dg;
            memset(&dg, 0, sizeof(dg));
            if (diagnose_run(in->cells[ci].dir, &th, &dg, d->error, sizeof(d->error)) == 0) {
                d->done = true;
                snprintf(d->verdict, sizeof(d->verdict), "%s", diagnosis_verdict_name(dg.verdict));
                snprintf(d->confidence, sizeof(d->confidence), "%s",
                         diagnosis_confidence_name(dg.confidence));
                snprintf(d->reason, sizeof(d->reason), "%s", dg.reason);
                snprintf(d->suggestion, sizeof(d->suggestion), "%s", dg.suggestion);
            }
            diagnosis_free(&dg);
        }
    }
}

static char *joined_command(int argc, char **argv)
{
    size_t len = 16;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *out = xcalloc(len, 1);
    strcpy(out, "allocscope");
    for (int i = 0; i < argc; i++) {
        strcat(out, " ");
        strcat(out, argv[i]);
    }
    return out;
}

static void now_iso(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cmd_report(int argc, char **argv)
{
    struct report_args a;
    if (parse_args(argc, argv, &a))
        return 2;
    struct report_input in;
    char err[1024], generated[32];
    uint64_t t0 = util_monotonic_ns();
    if (report_load(&in, argv + optind, (size_t)(argc - optind), err, sizeof(err))) {
        util_error("%s", err);
        report_free(&in);
        return 1;
    }
    if (util_mkdir_p(a.out)) {
        util_error("cannot create %s: %s; pass a writable -o DIR", a.out, strerror(errno));
        report_free(&in);
        return 1;
    }
    struct rec_result *recs = xcalloc(in.ngroups, sizeof(*recs));
    long *chosen = xcalloc(in.ngroups, sizeof(long));
    recommend_groups(&in, &a.opt, recs, chosen);
    struct overall_rank *overall;
    long overall_choice;
    size_t noverall = overall_ranking(&in, &a.opt, recs, &overall, &overall_choice);
    struct cell_diagnosis *diag = xcalloc(in.ncells, sizeof(*diag));
    if (a.diagnose)
        diagnose_cells(&in, diag);
    struct chart_set charts;
    int rc = 0;
    if (charts_write(&in, &a.opt, chosen, a.out, &charts, err, sizeof(err))) {
        util_error("%s", err);
        rc = 1;
    } else {
        size_t drawn = charts_render(&in, &charts, a.opt.png);
        struct flame_set flames = {0};
        if (a.flames)
            flames_write(&in, a.out, &flames);
        else
            flames_remove_old(a.out);
        now_iso(generated, sizeof(generated));
        char *cmdline = joined_command(argc, argv);
        struct report_doc doc = {.in = &in,
                                 .opt = &a.opt,
                                 .charts = &charts,
                                 .flames = a.flames ? &flames : NULL,
                                 .recs = recs,
                                 .overall = overall,
                                 .noverall = noverall,
                                 .overall_choice = overall_choice,
                                 .diag = diag,
                                 .diagnose_available = a.diagnose,
                                 .generated = generated,
                                 .command_line = cmdline};
        char *html = util_format("%s/index.html", a.out), *md = util_format("%s/summary.md", a.out);
        const char *failed = report_write_html(&doc, html)     ? html
                             : report_write_markdown(&doc, md) ? md
                                                               : NULL;
        if (failed) {
            char why[ATOMIC_FILE_ERROR_MAX];
            util_error("%s", atomic_file_error(why, sizeof(why), failed, errno));
            rc = 1;
        } else if (a.quiet) {
            printf("%s\n", html);
        } else {
            printf("allocscope: report of %zu run%s (%zu workload%s, %zu chart%s) in %.1f s\n",
                   in.ncells, in.ncells == 1 ? "" : "s", in.ngroups, in.ngroups == 1 ? "" : "s",
                   drawn, drawn == 1 ? "" : "s", (double)(util_monotonic_ns() - t0) / 1e9);
            for (size_t g = 0; g < in.ngroups; g++) {
                doc_recommendation_text(&doc, g, err, sizeof(err));
                printf("  %s: %s\n", in.groups[g].label, err);
            }
            if (in.nproblems)
                printf("  %zu problem%s with the input (listed in the report)\n", in.nproblems,
                       in.nproblems == 1 ? "" : "s");
            printf("  %s\n  %s\n", html, md);
        }
        free(html);
        free(md);
        free(cmdline);
        flames_free(&flames);
    }
    charts_free(&charts);
    for (size_t g = 0; g < in.ngroups; g++)
        rec_result_free(&recs[g]);
    free(recs);
    free(chosen);
    free(overall);
    free(diag);
    report_free(&in);
    return rc;
}
