/* summary.md: the recommendation, the matrix and the per-configuration numbers, short
 * enough for a ticket or a pull-request comment; the charts as links to the PNGs. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reports/report_doc.h"
#include "common/atomic_file.h"
#include "common/escape.h"
#include "common/util.h"

static void md_group_table(FILE *f, const struct report_doc *doc, size_t g)
{
    const struct report_group *grp = &doc->in->groups[g];
    const struct rec_result *r = &doc->recs[g];
    char b[6][48];
    fprintf(f,
            "| configuration | idle RSS | peak RSS | %s | reclaimable | %s | p99 | |\n"
            "|---|---:|---:|---:|---:|---:|---:|---|\n",
            grp->batch ? "RSS before exit" : "after-load RSS",
            grp->batch ? "time to its end" : "throughput");
    for (size_t i = 0; i < r->nranks; i++) {
        const struct report_config *c = &grp->configs[r->ranks[i].index];
        fputs("| ", f);
        escape_markdown(f, c->label);
        if (isnan(c->m[METRIC_THROUGHPUT]))
            snprintf(b[4], 48, "-");
        else
            snprintf(b[4], 48, "%.0f req/s", c->m[METRIC_THROUGHPUT]);
        if (isnan(c->m[METRIC_P99]))
            snprintf(b[5], 48, "-");
        else
            snprintf(b[5], 48, "%.1f ms", c->m[METRIC_P99]);
        if (grp->batch) /* a program that ends: its time to its end, not a throughput */
            snprintf(b[4], 48, isnan(c->m[METRIC_DURATION]) ? "-" : "%.2f s",
                     c->m[METRIC_DURATION]);
        const char *unsupported = doc_unsupported_reason(doc, c);
        const char *mark = r->ranks[i].reason == REC_CHOSEN         ? "**recommended**"
                           : r->ranks[i].reason == REC_TOO_SLOW     ? "too slow"
                           : unsupported                            ? "unsupported"
                           : r->ranks[i].reason == REC_NOT_MEASURED ? "not measured"
                           : !r->ranks[i].resolved                  ? "not resolved"
                                                                    : "";
        fprintf(f, " | %s | %s | %s | %s | %s | %s | %s |\n",
                doc_bytes(b[0], 48, c->m[METRIC_IDLE]), doc_bytes(b[1], 48, c->m[METRIC_PEAK]),
                doc_bytes(b[2], 48, c->m[METRIC_AFTER]),
                doc_bytes(b[3], 48, c->m[METRIC_RECLAIMABLE]), b[4], b[5], mark);
    }
    fputs("\n", f);
}

/* Links to the flame graphs of the runs the page draws (each configuration's first
 * successful repeat). */
static void md_flames(FILE *f, const struct report_doc *doc)
{
    const struct report_input *in = doc->in;
    bool heading = false;
    for (size_t g = 0; doc->flames && g < in->ngroups; g++) {
        for (size_t k = 0; k < in->groups[g].nconfigs; k++) {
            long ci = in->groups[g].configs[k].first_ok;
            const struct cell_flames *cf = ci >= 0 ? &doc->flames->cells[ci] : NULL;
            if (!cf || !cf->has_stacks)
                continue;
            if (!heading)
                fputs("## Flame graphs\n\nWhich code holds the memory (SVG, open in a browser: "
                      "hover, click to zoom, search).\n\n",
                      f);
            heading = true;
            fputs("- ", f);
            escape_markdown(f, in->cells[ci].name);
            fputs(cf->sampled ? " (sampled: widths are estimates):" : ":", f);
            for (int kind = 0; kind < FLAME_KINDS; kind++)
                if (cf->file[kind])
                    fprintf(f, " [%s](charts/%s.svg)", flame_kind_title(kind, cf->exited),
                            cf->file[kind]);
            if (cf->ntemps) {
                fprintf(f, "; temporary allocations %llu of %llu (%.1f%%), most at ",
                        (unsigned long long)cf->temporary, (unsigned long long)cf->calls,
                        100.0 * (double)cf->temporary / (double)(cf->calls ? cf->calls : 1));
                escape_markdown(f, cf->temps[0].site);
                fprintf(f, " (%llu)", (unsigned long long)cf->temps[0].temporary);
            }
            fputs("\n", f);
        }
    }
    if (heading)
        fputs("\n", f);
}

int report_write_markdown(const struct report_doc *doc, const char *path)
{
    const struct report_input *in = doc->in;
    char text[2048];
    struct atomic_file *out = atomic_file_open(path);
    if (!out)
        return -1;
    FILE *f = atomic_file_stream(out);
    fprintf(f,
            "# allocscope report\n\n%s of %zu cell%s, %zu workload%s, generated %s by "
            "allocscope %s.\n\n",
            in->is_bench ? "Bench" : "Recording", in->ncells, in->ncells == 1 ? "" : "s",
            in->ngroups, in->ngroups == 1 ? "" : "s", doc->generated, ALLOCSCOPE_VERSION);
    fprintf(f,
            "## Recommendation\n\nRule: lowest %s among the configurations within %.0f%% of "
            "the best throughput (medians over repeats).\n\n",
            report_metric_title(doc->opt->rss_metric), doc->opt->tolerance * 100);
    if (doc_has_batch(in))
        fprintf(f,
                "Programs that end by themselves (batch targets): the lowest peak RSS among the "
                "configurations within %.0f%% of the fastest run.\n\n",
                doc->opt->tolerance * 100);
    if (in->ngroups > 1 && doc->overall_choice >= 0) {
        const struct overall_rank *o = &doc->overall[doc->overall_choice];
        fputs("- **Across all workloads: ", f);
        escape_markdown(f, o->label);
        fprintf(f,
                "** (within the tolerance on %zu of %zu workloads; RSS %.2fx the lowest, "
                "geometric mean)\n",
                o->fast_enough, o->groups, o->rss_ratio);
    }
    for (size_t g = 0; g < in->ngroups; g++) {
        fputs("- **", f);
        escape_markdown(f, in->groups[g].label);
        fputs("**: ", f);
        doc_recommendation_text(doc, g, text, sizeof(text));
        escape_markdown(f, text);
        fputs("\n", f);
    }
    fputs("\n## What was run\n\n", f);
    fputs("- Machine: ", f);
    escape_markdown(f, in->cells[0].host ? in->cells[0].host : "-");
    fputs("\n", f);
    if (in->is_bench) {
        fputs("- Bench: ", f);
        escape_markdown(f, in->bench_dir);
        fputs(in->profile ? ", profile " : "", f);
        escape_markdown(f, in->profile ? in->profile : "");
        fputs("\n", f);
    }
    struct doc_matrix m;
    doc_matrix(in, &m);
    const char *names[] = {"Workloads", "Configurations", "Allocator versions", "Phases"};
    const char *values[] = {m.workloads, m.configs, m.versions, m.phases};
    for (size_t k = 0; k < 4; k++) {
        if (!values[k][0])
            continue;
        fprintf(f, "- %s: ", names[k]);
        escape_markdown(f, values[k]);
        fputs("\n", f);
    }
    fprintf(f, "- Repeats: %zu\n", m.repeats);
    /* One command per workload: the configurations run the same one. */
    for (size_t g = 0; g < in->ngroups; g++) {
        long ci = in->groups[g].nconfigs ? (long)in->groups[g].configs[0].cells[0] : -1;
        if (ci < 0 || !in->cells[ci].command)
            continue;
        fputs("- Command (", f);
        escape_markdown(f, in->groups[g].label);
        fputs("): ", f);
        escape_markdown(f, in->cells[ci].command);
        fputs("\n", f);
    }
    fputs("\n## Results\n\n", f);
    for (size_t g = 0; g < in->ngroups; g++) {
        fputs("### ", f);
        escape_markdown(f, in->groups[g].label);
        fputs("\n\n", f);
        md_group_table(f, doc, g);
        for (size_t i = 0; i < doc->charts->n; i++) {
            const struct chart *ch = &doc->charts->charts[i];
            if (ch->group != g || !ch->rendered_png || ch->kind == CHART_BREAKDOWN)
                continue;
            fputs("![", f);
            escape_markdown(f, ch->title);
            fprintf(f, "](charts/%s.png)\n", ch->name);
        }
        fputs("\n", f);
    }
    md_flames(f, doc);
    if (doc->diagnose_available) {
        fputs("## Diagnosis\n\n", f);
        for (size_t i = 0; i < in->ncells; i++) {
            const struct cell_diagnosis *d = &doc->diag[i];
            if (!d->done)
                continue;
            fputs("- ", f);
            escape_markdown(f, in->cells[i].name);
            fputs(": **", f);
            escape_markdown(f, d->verdict);
            fputs("** (", f);
            escape_markdown(f, d->confidence);
            fputs(") ", f);
            escape_markdown(f, d->reason);
            fputs("\n", f);
        }
        fputs("\n", f);
    }
    if (in->nproblems) {
        fputs("## Problems with the input\n\n", f);
        for (size_t i = 0; i < in->nproblems; i++) {
            fputs("- ", f);
            escape_markdown(f, in->problems[i]);
            fputs("\n", f);
        }
        fputs("\n", f);
    }
    fputs("Full report with every chart: index.html beside this file.\n", f);
    return atomic_file_commit(out);
}
