/* The report's charts: for each chart a gnuplot script (from the templates in
 * reports/charts/) and the .dat files it plots, written to OUT/charts/, then rendered to SVG
 * (inlined in index.html) and PNG by two gnuplot processes. The scripts stay beside the
 * charts so a user can restyle and re-render them. */
#ifndef ALLOCSCOPE_REPORT_CHARTS_H
#define ALLOCSCOPE_REPORT_CHARTS_H

#include <stdbool.h>
#include <stddef.h>

#include "reports/report_model.h"

enum chart_kind {
    CHART_RSS,
    CHART_BREAKDOWN,
    CHART_BARS,
    CHART_PARETO,
    CHART_SITES,
    CHART_RETURNED
};

struct chart {
    enum chart_kind kind;
    char *name;  /* file stem in OUT/charts */
    char *title; /* plain text */
    size_t group;
    long cell;         /* breakdown charts: the cell drawn; -1 otherwise */
    bool rendered;     /* the SVG came out */
    bool rendered_png; /* and the PNG */
};

struct report_site {
    char *function; /* innermost frame: "fn (file.c:12)" */
    char *frames;   /* a few frames, innermost first */
    double growth_bytes_per_s, end_bytes, peak_bytes;
};

struct group_sites {
    long cell; /* the cell whose sites were read, -1 when none */
    struct report_site *sites;
    size_t n;
};

struct chart_set {
    char *dir;
    struct chart *charts;
    size_t n;
    struct group_sites *sites; /* one per group */
    size_t ngroups;
};

/* Writes scripts and data for IN into OUTDIR/charts; CHOSEN[g] is the recommended
 * configuration of group g (-1: none). Returns 0, or -1 with a message in err. */
int charts_write(const struct report_input *in, const struct report_options *opt,
                 const long *chosen, const char *outdir, struct chart_set *set, char *err,
                 size_t errlen);

/* Runs gnuplot; marks the charts that came out. Returns the number rendered. */
size_t charts_render(struct report_input *in, struct chart_set *set, bool png);

/* The chart's SVG ready to inline in HTML: no XML prolog, ids made unique by PREFIX.
 * malloc'd, NULL when the chart is missing. */
char *chart_svg_inline(const struct chart_set *set, size_t i, const char *prefix);

void charts_free(struct chart_set *set);

/* Text that gnuplot reads inside '...': quotes doubled, control characters dropped, bytes that
 * are not UTF-8 replaced by U+FFFD; never cut inside a character. */
void gnuplot_quote(char *out, size_t len, const char *text);

#endif
