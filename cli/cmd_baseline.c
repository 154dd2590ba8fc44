/* allocscope baseline BENCH_DIR -o FILE: freeze a bench's results (medians and spreads over
 * repeats, verdicts, tolerances) for `allocscope gate`. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "reports/gate.h"
#include "common/util.h"

static const char baseline_usage[] =
    "usage: allocscope baseline BENCH_DIR... -o FILE [--tolerance METRIC=VALUE]... [--noise K]\n"
    "  Freezes a bench directory's results into a baseline for 'allocscope gate': per cell\n"
    "  the median and spread over repeats of after_rss, peak_rss, throughput, p99,\n"
    "  leak_growth and leak_per_call, and the diagnosis verdict. Several benches of one matrix are pooled:\n"
    "  their spread then includes the drift between runs.\n"
    "  -o, --output FILE         the baseline to write (JSON)\n"
    "  --tolerance METRIC=VALUE  store a tolerance: 10% (of the median), 4M or 50 (in the\n"
    "                            metric's unit), or both: 10%,4M (docs/DIAGNOSE.md)\n"
    "  --noise K                 spread multiples allowed on top of the tolerance (default 3)\n"
    "  --threshold NAME=VALUE    a diagnosis threshold (see 'allocscope diagnose --help')\n"
    "  --no-sites                leave out the cells' allocation sites (kept by default, so\n"
    "                            that 'gate' can name the code that grew)\n"
    "Exit status: 0 written, 2 on a usage or input error.\n";

int cmd_baseline(int argc, char **argv)
{
    static const struct option options[] = {{"output", required_argument, NULL, 'o'},
                                            {"tolerance", required_argument, NULL, 'T'},
                                            {"noise", required_argument, NULL, 'k'},
                                            {"threshold", required_argument, NULL, 't'},
                                            {"no-sites", no_argument, NULL, 'S'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    struct gate_options o;
    struct diagnose_thresholds t;
    gate_options_default(&o);
    diagnose_thresholds_default(&t);
    const char *output = NULL;
    bool sites = true;
    char err[1024];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        if (c == 'o') {
            output = optarg;
        } else if ((c == 'T' && gate_tolerance_parse(&o, optarg, err, sizeof(err))) ||
                   (c == 'k' && gate_noise_parse(&o, optarg, err, sizeof(err)))) {
            util_error("%s", err);
            return 2;
        } else if (c == 't' && diagnose_thresholds_set(&t, optarg, err, sizeof(err))) {
            util_error("%s", err);
            return 2;
        } else if (c == 'S') {
            sites = false;
        } else if (c == 'h') {
            fputs(baseline_usage, stdout);
            return 0;
        } else if (c == '?') {
            fputs(baseline_usage, stderr);
            return 2;
        }
    }
    if (optind >= argc || !output) {
        util_error("baseline wants a bench directory and -o FILE; see 'allocscope baseline "
                   "--help'");
        return 2;
    }
    struct gate_bench b;
    char *const *dirs = argv + optind;
    size_t ndirs = (size_t)(argc - optind), with_sites = 0;
    json_t *site_sets = NULL;
    int rc = 0;
    if (gate_bench_load_many(&b, dirs, ndirs, &t, err, sizeof(err))) {
        util_error("%s", err);
        rc = 2;
    } else {
        if (sites)
            b.sites = site_sets = gate_sites_collect(&b, dirs, ndirs, &with_sites);
        if (gate_baseline_write(&b, &o, output, err, sizeof(err))) {
            util_error("%s", err);
            rc = 2;
        } else {
            printf("allocscope: froze %zu cells of %s%s into %s (allocation sites of %zu)\n",
                   b.ncells, argv[optind], ndirs > 1 ? " and the other benches" : "", output,
                   with_sites);
        }
    }
    json_decref(site_sets);
    gate_bench_free(&b);
    return rc;
}
