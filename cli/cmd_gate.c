/* allocscope gate --baseline FILE --current BENCH_DIR: per cell and metric, did the current
 * bench regress against the baseline, beyond tolerance and noise? Exit 0 pass, 1 regression,
 * 2 usage or input error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "reports/gate.h"
#include "common/util.h"

static const char gate_usage[] =
    "usage: allocscope gate --baseline FILE --current BENCH_DIR [OPTIONS]\n"
    "  Compares a bench with a baseline ('allocscope baseline') per cell: after_rss, peak_rss,\n"
    "  throughput, p99, leak_per_call (bytes a leak keeps per allocation call; leak_growth in\n"
    "  bytes/s instead with a baseline from before it) and the diagnosis verdict. A metric\n"
    "  fails when its median moved the wrong way by more than its tolerance plus K times\n"
    "  the repeats' spread.\n"
    "  --tolerance METRIC=VALUE  10% (of the median), 4M or 50 (in the metric's unit), or\n"
    "                            both: 10%,4M; overrides the baseline's (docs/DIAGNOSE.md)\n"
    "  --noise K                 spread multiples allowed (default: the baseline's, 3)\n"
    "  --metrics LIST            compare only these (comma-separated; 'verdict' included)\n"
    "  --junit FILE              JUnit XML, one test case per cell and metric\n"
    "  --markdown FILE           a Markdown summary for a pull-request comment\n"
    "  --top-sites N             for a cell failing a memory check, the N allocation sites\n"
    "                            that grew most since the baseline (default 5, 0: none);\n"
    "                            needs a baseline frozen with its sites\n"
    "  --threshold NAME=VALUE    a diagnosis threshold (see 'allocscope diagnose --help')\n"
    "  --quiet                   no table, only the last line\n"
    "Exit status: 0 all pass, 1 a regression, 2 a usage or input error.\n";

struct gate_args {
    const char *baseline, *current, *junit, *markdown;
    bool quiet;
    uint64_t top_sites;
    struct gate_options o;
    struct diagnose_thresholds t;
};

static int select_metrics(struct gate_options *o, const char *list)
{
    char *copy = xstrdup(list), *save = NULL;
    memset(o->check, 0, sizeof(o->check));
    o->check_verdict = false;
    o->metrics_given = true;
    int rc = 0;
    for (char *name = strtok_r(copy, ",", &save); name && !rc; name = strtok_r(NULL, ",", &save)) {
        int m = gate_metric_parse(name);
        if (m >= 0) {
            o->check[m] = true;
        } else if (!strcmp(name, "verdict")) {
            o->check_verdict = true;
        } else {
            util_error("unknown metric '%s' in --metrics; metrics: after_rss, peak_rss, "
                       "throughput, p99, leak_growth, leak_per_call, verdict",
                       name);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

static int parse_option(int c, struct gate_args *a)
{
    char err[512];
    switch (c) {
    case 'b':
        a->baseline = optarg;
        return 0;
    case 'c':
        a->current = optarg;
        return 0;
    case 'j':
        a->junit = optarg;
        return 0;
    case 'm':
        a->markdown = optarg;
        return 0;
    case 'q':
        a->quiet = true;
        return 0;
    case 'S':
        if (!util_parse_uint(optarg, 0, 100, &a->top_sites))
            return 0;
        util_error("--top-sites wants a number from 0 to 100, not '%s'", optarg);
        return -1;
    case 'M':
        return select_metrics(&a->o, optarg);
    case 'k':
        if (!gate_noise_parse(&a->o, optarg, err, sizeof(err)))
            return 0;
        util_error("%s", err);
        return -1;
    case 'T':
        if (!gate_tolerance_parse(&a->o, optarg, err, sizeof(err)))
            return 0;
        util_error("%s", err);
        return -1;
    case 't':
        if (!diagnose_thresholds_set(&a->t, optarg, err, sizeof(err)))
            return 0;
        util_error("%s", err);
        return -1;
    default:
        fputs(gate_usage, stderr);
        return -1;
    }
}

static int parse_args(int argc, char **argv, struct gate_args *a)
{
    static const struct option options[] = {{"baseline", required_argument, NULL, 'b'},
                                            {"current", required_argument, NULL, 'c'},
                                            {"junit", required_argument, NULL, 'j'},
                                            {"markdown", required_argument, NULL, 'm'},
                                            {"metrics", required_argument, NULL, 'M'},
                                            {"noise", required_argument, NULL, 'k'},
                                            {"tolerance", required_argument, NULL, 'T'},
                                            {"threshold", required_argument, NULL, 't'},
                                            {"quiet", no_argument, NULL, 'q'},
                                            {"top-sites", required_argument, NULL, 'S'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", options, NULL)) != -1) {
        if (c == 'h') {
            fputs(gate_usage, stdout);
            return 1;
        }
        if (parse_option(c, a))
            return -1;
    }
    if (optind != argc || !a->baseline || !a->current) {
        util_error("gate wants --baseline FILE and --current BENCH_DIR; see 'allocscope gate "
                   "--help'");
        return -1;
    }
    return 0;
}

static int write_outputs(const struct gate_args *a, const struct gate_report *r)
{
    char err[512];
    if (!a->quiet)
        gate_print_table(r, stdout);
    else
        printf("gate: %s: %zu regression%s in %zu checks\n", r->failures ? "FAIL" : "pass",
               r->failures, r->failures == 1 ? "" : "s", r->nrows);
    if ((a->junit && gate_write_junit(r, a->junit, err, sizeof(err))) ||
        (a->markdown &&
         gate_write_markdown(r, a->baseline, a->current, a->markdown, err, sizeof(err)))) {
        util_error("%s", err);
        return -1;
    }
    return 0;
}

int cmd_gate(int argc, char **argv)
{
    struct gate_args a = {.top_sites = 5};
    gate_options_default(&a.o);
    diagnose_thresholds_default(&a.t);
    int parsed = parse_args(argc, argv, &a);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    struct gate_bench base = {0}, cur = {0};
    struct gate_report r = {0};
    char err[1024];
    int rc = 2;
    if (gate_baseline_load(&base, &a.o, a.baseline, err, sizeof(err)) ||
        gate_bench_load(&cur, a.current, &a.t, err, sizeof(err)) ||
        gate_check_matrix(&base, &cur, err, sizeof(err))) {
        util_error("%s", err);
    } else {
        gate_choose_leak_metric(&base, &a.o);
        gate_compare(&base, &cur, &a.o, &r);
        if (r.unjudged) {
            char cell[96];
            util_error("cannot judge cell %s: none of the metrics compared was measured in both "
                       "the baseline and %s; compare measured ones with --metrics, or refreeze "
                       "the baseline from a bench that measured them",
                       util_printable(cell, sizeof(cell), r.unjudged), a.current);
        } else {
            gate_find_grown(&r, a.baseline, a.current, a.top_sites);
            rc = write_outputs(&a, &r) ? 2 : r.failures ? 1 : 0;
        }
    }
    gate_report_free(&r);
    gate_bench_free(&base);
    gate_bench_free(&cur);
    return rc;
}
