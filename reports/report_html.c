/* index.html: one self-contained file (inline CSS, inline SVG charts, a few lines of inline
 * script that measure the charts); every text taken from the data is escaped. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/format.h"
#include "reports/report_doc.h"
#include "common/atomic_file.h"
#include "common/escape.h"
#include "common/util.h"

const char *doc_bytes(char *buf, size_t len, double bytes)
{
    if (isnan(bytes))
        snprintf(buf, len, "-");
    else
        format_bytes(buf, len, bytes);
    return buf;
}

static const char *doc_number(char *buf, size_t len, double v, const char *fmt)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, fmt, v);
    return buf;
}

static long baseline_config(const struct report_group *g)
{
    for (size_t k = 0; k < g->nconfigs; k++)
        if (!strcmp(g->configs[k].label, "glibc:default"))
            return (long)k;
    return 0;
}

/* Why a group has no throughput: a cell whose load figures could not be read (its note
 * names load.log), or none of its cells had a load. Empty when neither note is there. */
static void missing_throughput_reason(const struct report_doc *doc, size_t g, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < doc->in->ncells; i++) {
        const struct report_cell *c = &doc->in->cells[i];
        if (c->group == g && c->note && strstr(c->note, "no throughput could be read")) {
            snprintf(out, len, " (%s: %s)", c->name, c->note);
            return;
        }
    }
    const struct report_group *grp = &doc->in->groups[g];
    bool served_none = grp->nconfigs > 0;
    for (size_t i = 0; i < grp->nconfigs; i++)
        served_none = served_none && grp->configs[i].m[METRIC_THROUGHPUT] == 0;
    if (served_none)
        snprintf(out, len,
                 " (the load served no request: 0 req/s in every cell; each cell's load.log "
                 "says why)");
}

/* A batch group: the lowest peak RSS among the configurations within the tolerance of the
 * fastest run (wall time from start to exit). */
static void batch_recommendation_text(const struct report_doc *doc, size_t g, const char *among,
                                      char *out, size_t len)
{
    const struct report_group *grp = &doc->in->groups[g];
    const struct rec_result *r = &doc->recs[g];
    const struct report_config *ch = &grp->configs[r->chosen];
    char b1[32];
    double slower = (ch->m[METRIC_DURATION] * r->best_throughput - 1) * 100;
    snprintf(out, len,
             "%s: peak RSS %s, %s within %.0f%% of the fastest run (%.2f s to its end); its own "
             "time %.2f s (%+.1f%%), CPU %.2f s.",
             ch->label, doc_bytes(b1, sizeof(b1), ch->m[METRIC_PEAK]), among,
             doc->opt->tolerance * 100, 1 / r->best_throughput, ch->m[METRIC_DURATION],
             fabs(slower) < 0.05 ? 0.0 : slower, ch->m[METRIC_CPU]);
}

void doc_recommendation_text(const struct report_doc *doc, size_t g, char *out, size_t len)
{
    const struct report_group *grp = &doc->in->groups[g];
    const struct rec_result *r = &doc->recs[g];
    enum report_metric metric = report_group_metric(grp, doc->opt->rss_metric);
    const char *what = report_metric_title(metric);
    if (r->chosen < 0) {
        snprintf(out, len, "No configuration of %s has a measured %s: nothing to recommend.",
                 grp->label, what);
        return;
    }
    const struct report_config *ch = &grp->configs[r->chosen];
    char b1[32], b2[32], tp[64] = "";
    size_t eligible = 0;
    for (size_t i = 0; i < r->nranks; i++)
        eligible += r->ranks[i].reason == REC_CHOSEN || r->ranks[i].reason == REC_ELIGIBLE;
    int n;
    char among[64];
    if (eligible == 1)
        snprintf(among, sizeof(among), "the only configuration");
    else
        snprintf(among, sizeof(among), "the lowest of the %zu configurations", eligible);
    if (grp->batch && r->throughput_known) {
        batch_recommendation_text(doc, g, among, out, len);
        n = (int)strlen(out);
    } else if (r->throughput_known && r->unresolved) {
        n = snprintf(out, len,
                     "%s: %s %s, %s not shown to be more than %.0f%% below the best throughput; "
                     "its own %.0f req/s against the best %.0f req/s. The throughput "
                     "differences are not resolved with %zu repeat%s (their 95%% intervals "
                     "straddle the %.0f%% tolerance), so these are ranked by memory; about %zu "
                     "repeats would resolve them (bench --repeats %zu).",
                     ch->label, what, doc_bytes(b1, sizeof(b1), ch->m[metric]), among,
                     doc->opt->tolerance * 100, ch->m[METRIC_THROUGHPUT], r->best_throughput,
                     r->repeats, r->repeats == 1 ? "" : "s", doc->opt->tolerance * 100,
                     r->repeats_to_resolve, r->repeats_to_resolve);
    } else if (r->throughput_known) {
        n = snprintf(out, len,
                     "%s: %s %s, %s within %.0f%% of the best throughput (%.0f req/s); its "
                     "own throughput %.0f req/s (%+.1f%%).",
                     ch->label, what, doc_bytes(b1, sizeof(b1), ch->m[metric]), among,
                     doc->opt->tolerance * 100, r->best_throughput, ch->m[METRIC_THROUGHPUT],
                     (ch->m[METRIC_THROUGHPUT] / r->best_throughput - 1) * 100);
    } else {
        char reason[600];
        missing_throughput_reason(doc, g, reason, sizeof(reason));
        n = snprintf(out, len,
                     "%s: %s %s, %s measured; no throughput was measured%s, so it is ranked by "
                     "memory only.",
                     ch->label, what, doc_bytes(b1, sizeof(b1), ch->m[metric]), among, reason);
    }
    long base = baseline_config(grp);
    const struct report_config *bc = &grp->configs[base];
    if (n > 0 && (size_t)n < len && base != r->chosen && !isnan(bc->m[metric]) &&
        bc->m[metric] > 0) {
        if (!grp->batch && r->throughput_known && !isnan(bc->m[METRIC_THROUGHPUT]))
            snprintf(tp, sizeof(tp), ", %.0f req/s", bc->m[METRIC_THROUGHPUT]);
        else if (grp->batch && !isnan(bc->m[METRIC_DURATION]))
            snprintf(tp, sizeof(tp), ", %.2f s", bc->m[METRIC_DURATION]);
        snprintf(out + n, len - (size_t)n, " Compared with %s (%s %s%s): %+.0f%% RSS.", bc->label,
                 what, doc_bytes(b2, sizeof(b2), bc->m[metric]), tp,
                 (ch->m[metric] / bc->m[metric] - 1) * 100);
    }
}

static const char css[] =
    "body{font:15px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1d1d1f;"
    "margin:0;background:#f4f5f7}"
    "main{max-width:1120px;margin:0 auto;padding:8px 28px 40px;background:#fff;"
    "box-shadow:0 0 0 1px #e3e5e8}"
    "header{border-bottom:3px solid #0072B2;padding:18px 0 10px;margin-bottom:8px}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 10px;padding-bottom:4px;"
    "border-bottom:1px solid #e3e5e8}h3{font-size:16px;margin:24px 0 8px}"
    ".sub{color:#5f6368;margin:0;font-size:13px}nav{font-size:13px;margin:6px 0 0}"
    "nav a{margin-right:14px;color:#0063a0;text-decoration:none}"
    ".rec{border:1px solid #b8d4ea;border-left:6px solid #0072B2;background:#f3f8fc;"
    "padding:10px 14px;margin:10px 0;border-radius:3px}"
    ".rec .pick{font-size:18px;font-weight:600}.rec p{margin:4px 0}"
    "table{border-collapse:collapse;font-size:13px;margin:8px 0 14px;width:100%}"
    "th,td{border-bottom:1px solid #e6e8eb;padding:4px 8px;text-align:left;vertical-align:top}"
    "th{background:#f6f7f9;font-weight:600;white-space:nowrap}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums;white-space:nowrap}tr.chosen td{background:#eef6ee;"
    "font-weight:600}.bad{color:#b3261e}.ok{color:#1e7a34}.muted{color:#6b7076}"
    "code{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;background:#f3f4f6;"
    "padding:1px 4px;border-radius:3px;word-break:break-all}"
    "figure.chart{margin:14px 0 22px;border:1px solid #e6e8eb;border-radius:4px;padding:8px}"
    "figure.chart svg{display:block;width:100%;height:auto;max-width:960px;margin:0 auto}"
    "figcaption{font-size:12px;color:#5f6368;margin-top:4px}figcaption a{color:#0063a0}"
    ".scroll{overflow-x:auto}.scroll table{font-size:12px}"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;font-size:14px}"
    "dl.facts dt{color:#5f6368}dl.facts dd{margin:0}"
    ".verdict{font-weight:600}.problems li{color:#8a4b00}details{margin:6px 0}"
    "figure.chart svg.flamegraph{max-width:none}"
    "input.fg-search{font:13px/1.3 inherit;padding:3px 6px;width:320px;max-width:90%;"
    "border:1px solid #c9ccd1;border-radius:3px;margin:4px 0}"
    "footer{margin-top:36px;font-size:12px;color:#6b7076}"
    "@media print{body{background:#fff}main{box-shadow:none}figure.chart{break-inside:avoid}}";

static void esc_row(FILE *f, const char *cls, const char *text)
{
    fprintf(f, "<td%s%s%s>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
    escape_html(f, text);
    fputs("</td>", f);
}

static void write_header(FILE *f, const struct report_doc *doc)
{
    const struct report_input *in = doc->in;
    fputs("<header><h1>Memory report: ", f);
    for (size_t g = 0; g < in->ngroups && g < 6; g++) {
        escape_html(f, in->groups[g].label);
        fputs(g + 1 < in->ngroups && g < 5 ? ", " : (in->ngroups > 6 ? ", ..." : ""), f);
    }
    fputs("</h1><p class=\"sub\">", f);
    fprintf(f, "%s of %zu cell%s, generated %s by allocscope %s: <code>",
            in->is_bench ? "Bench" : "Recording", in->ncells, in->ncells == 1 ? "" : "s",
            doc->generated, ALLOCSCOPE_VERSION);
    escape_html(f, doc->command_line);
    fputs("</code></p><nav><a href=\"#recommendation\">Recommendation</a><a href=\"#run\">What "
          "was run</a><a href=\"#results\">Results</a><a href=\"#charts\">Charts</a><a "
          "href=\"#breakdown\">Where RSS goes</a><a href=\"#flames\">Flame graphs</a><a "
          "href=\"#diagnosis\">Diagnosis</a>",
          f);
    if (in->nproblems)
        fputs("<a href=\"#problems\">Problems</a>", f);
    fputs("</nav></header>\n", f);
}

static const char *reason_text(char *buf, size_t len, const struct rec_rank *rk, double tol)
{
    switch (rk->reason) {
    case REC_CHOSEN:
        return rk->resolved ? "recommended" : "recommended (throughput difference not resolved)";
    case REC_ELIGIBLE:
        return rk->resolved ? "fast enough, more memory"
                            : "more memory; throughput difference not resolved";
    case REC_TOO_SLOW:
        if (isnan(rk->throughput_loss))
            return "no throughput measured";
        snprintf(buf, len, "%.1f%% below the best throughput (tolerance %.0f%%)",
                 rk->throughput_loss * 100, tol * 100);
        return buf;
    default:
        return "not measured";
    }
}

bool doc_has_batch(const struct report_input *in)
{
    for (size_t g = 0; g < in->ngroups; g++)
        if (in->groups[g].batch)
            return true;
    return false;
}

const char *doc_unsupported_reason(const struct report_doc *doc, const struct report_config *c)
{
    for (size_t i = 0; i < c->ncells; i++) {
        const struct report_cell *cell = &doc->in->cells[c->cells[i]];
        if (!strcmp(cell->status, "unsupported"))
            return cell->error && *cell->error ? cell->error : "unsupported";
    }
    return NULL;
}

static void write_rank_table(FILE *f, const struct report_doc *doc, size_t g)
{
    const struct report_group *grp = &doc->in->groups[g];
    const struct rec_result *r = &doc->recs[g];
    enum report_metric metric = report_group_metric(grp, doc->opt->rss_metric);
    char b[6][64];
    fprintf(f,
            "<table><thead><tr><th>#</th><th>configuration</th><th>%s</th><th>vs "
            "choice</th><th>peak RSS</th><th>%s</th><th>vs best</th><th>p99</th>"
            "<th>standing</th></tr></thead><tbody>\n",
            report_metric_title(metric), grp->batch ? "time to its end" : "throughput");
    double chosen_rss = r->chosen >= 0 ? grp->configs[r->chosen].m[metric] : NAN;
    for (size_t i = 0; i < r->nranks; i++) {
        const struct rec_rank *rk = &r->ranks[i];
        const struct report_config *c = &grp->configs[rk->index];
        fprintf(f, "<tr%s><td class=\"n\">%zu</td>",
                rk->reason == REC_CHOSEN ? " class=\"chosen\"" : "", i + 1);
        esc_row(f, NULL, c->label);
        esc_row(f, "n", doc_bytes(b[0], 64, c->m[metric]));
        if (!isnan(chosen_rss) && chosen_rss > 0 && !isnan(c->m[metric]))
            snprintf(b[1], 64, "%+.0f%%", (c->m[metric] / chosen_rss - 1) * 100);
        else
            snprintf(b[1], 64, "-");
        esc_row(f, "n", b[1]);
        esc_row(f, "n", doc_bytes(b[2], 64, c->m[METRIC_PEAK]));
        if (grp->batch)
            esc_row(f, "n", doc_number(b[3], 64, c->m[METRIC_DURATION], "%.2f s"));
        else
            esc_row(f, "n", doc_number(b[3], 64, c->m[METRIC_THROUGHPUT], "%.0f req/s"));
        /* +0.0 rather than -0.0 for the best itself. */
        double gain = isnan(rk->throughput_loss) ? NAN : -rk->throughput_loss * 100;
        if (fabs(gain) < 0.05)
            gain = 0.0;
        doc_number(b[4], 64, gain, "%+.1f%%");
        esc_row(f, "n", b[4]);
        esc_row(f, "n", doc_number(b[5], 64, c->m[METRIC_P99], "%.1f ms"));
        char why[600];
        const char *unsupported = doc_unsupported_reason(doc, c);
        if (rk->reason == REC_NOT_MEASURED && unsupported)
            snprintf(why, sizeof(why), "unsupported: %s", unsupported);
        else
            reason_text(why, sizeof(why), rk, doc->opt->tolerance);
        esc_row(f, rk->reason == REC_TOO_SLOW ? "bad" : unsupported ? "muted" : NULL, why);
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
}

static int by_ratio(const void *a, const void *b)
{
    const struct overall_rank *x = *(const struct overall_rank *const *)a;
    const struct overall_rank *y = *(const struct overall_rank *const *)b;
    if (x->fast_enough != y->fast_enough)
        return x->fast_enough > y->fast_enough ? -1 : 1;
    return (x->rss_ratio > y->rss_ratio) - (x->rss_ratio < y->rss_ratio);
}

/* Every configuration over all workloads: fast enough on most first, then leanest. */
static void write_overall_table(FILE *f, const struct report_doc *doc)
{
    const struct overall_rank **sorted = xcalloc(doc->noverall, sizeof(*sorted));
    const struct overall_rank *choice =
        doc->overall_choice >= 0 ? &doc->overall[doc->overall_choice] : NULL;
    for (size_t i = 0; i < doc->noverall; i++)
        sorted[i] = &doc->overall[i];
    util_sort(sorted, doc->noverall, sizeof(*sorted), by_ratio);
    fprintf(f,
            "<details><summary>Every configuration over all workloads</summary><table><thead>"
            "<tr><th>configuration</th><th>within the throughput tolerance</th><th>%s / the "
            "workload's lowest (geometric mean)</th></tr></thead><tbody>\n",
            report_metric_title(doc->opt->rss_metric));
    for (size_t i = 0; i < doc->noverall; i++) {
        char b1[48], b2[32];
        snprintf(b1, sizeof(b1), "%zu of %zu workloads", sorted[i]->fast_enough, sorted[i]->groups);
        snprintf(b2, sizeof(b2), "%.2fx", sorted[i]->rss_ratio);
        fputs(sorted[i] == choice ? "<tr class=\"chosen\">" : "<tr>", f);
        esc_row(f, NULL, sorted[i]->label);
        esc_row(f, "n", b1);
        esc_row(f, "n", b2);
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table></details>\n", f);
    free(sorted);
}

static void write_recommendation(FILE *f, const struct report_doc *doc)
{
    const struct report_input *in = doc->in;
    char text[2048];
    fprintf(f,
            "<section id=\"recommendation\"><h2>Recommendation</h2>\n<p class=\"muted\">Rule: "
            "the configuration with the lowest %s among those within %.0f%% of the best "
            "throughput (medians over repeats; <code>--metric</code> and "
            "<code>--tolerance</code> change it).</p>\n",
            report_metric_title(doc->opt->rss_metric), doc->opt->tolerance * 100);
    if (doc_has_batch(in))
        fprintf(f,
                "<p class=\"muted\">Programs that end by themselves (batch targets): the lowest "
                "peak RSS among the configurations within %.0f%% of the fastest run.</p>\n",
                doc->opt->tolerance * 100);
    if (doc->noverall > 1 && in->ngroups > 1 && doc->overall_choice >= 0) {
        const struct overall_rank *o = &doc->overall[doc->overall_choice];
        fputs("<div class=\"rec\"><p class=\"pick\">Across all workloads: ", f);
        escape_html(f, o->label);
        fprintf(f,
                "</p><p>Within the throughput tolerance on %zu of %zu workloads; its %s is "
                "%.2fx the lowest of each workload (geometric mean).</p></div>\n",
                o->fast_enough, o->groups, report_metric_title(doc->opt->rss_metric), o->rss_ratio);
    }
    if (doc->noverall > 1 && in->ngroups > 1)
        write_overall_table(f, doc);
    for (size_t g = 0; g < in->ngroups; g++) {
        const struct rec_result *r = &doc->recs[g];
        fputs("<div class=\"rec\"><p class=\"pick\">", f);
        escape_html(f, in->groups[g].label);
        fputs(": ", f);
        escape_html(f, r->chosen >= 0 ? in->groups[g].configs[r->chosen].label : "none");
        fputs("</p><p>", f);
        doc_recommendation_text(doc, g, text, sizeof(text));
        escape_html(f, text);
        fputs("</p></div>\n", f);
        write_rank_table(f, doc, g);
    }
    fputs("</section>\n", f);
}

static void fact(FILE *f, const char *name, const char *value)
{
    fprintf(f, "<dt>%s</dt><dd>", name);
    escape_html(f, value && *value ? value : "-");
    fputs("</dd>", f);
}

/* Appends ITEM to the ", "-separated LIST unless it is there already or does not fit. */
static void list_add(char *list, size_t len, const char *item)
{
    size_t used = strlen(list), n = strlen(item);
    for (const char *p = list; *p;) {
        const char *end = strstr(p, ", ");
        size_t plen = end ? (size_t)(end - p) : strlen(p);
        if (plen == n && !strncmp(p, item, n))
            return;
        p = end ? end + 2 : p + plen;
    }
    if (used + n + 3 <= len)
        snprintf(list + used, len - used, "%s%s", used ? ", " : "", item);
}

void doc_matrix(const struct report_input *in, struct doc_matrix *m)
{
    memset(m, 0, sizeof(*m));
    for (size_t g = 0; g < in->ngroups; g++)
        list_add(m->workloads, sizeof(m->workloads), in->groups[g].label);
    for (size_t i = 0; i < in->ncells; i++) {
        const struct report_cell *c = &in->cells[i];
        char item[256];
        m->repeats = (size_t)c->repeat > m->repeats ? (size_t)c->repeat : m->repeats;
        snprintf(item, sizeof(item), "%s:%s", c->allocator, c->config);
        list_add(m->configs, sizeof(m->configs), item);
        if (c->allocator_version && *c->allocator_version) {
            snprintf(item, sizeof(item), "%s %s", c->allocator, c->allocator_version);
            list_add(m->versions, sizeof(m->versions), item);
        }
        for (size_t p = 0; !m->phases[0] && p < c->nphases; p++) {
            snprintf(item, sizeof(item), "%s %.1f s", c->phases[p].name,
                     c->phases[p].end_s - c->phases[p].start_s);
            list_add(m->phases_tmp, sizeof(m->phases_tmp), item);
        }
        if (!m->phases[0] && m->phases_tmp[0])
            snprintf(m->phases, sizeof(m->phases), "%s", m->phases_tmp);
    }
}

static void write_run_facts(FILE *f, const struct report_doc *doc)
{
    const struct report_input *in = doc->in;
    const struct report_cell *first = &in->cells[0];
    char buf[1024];
    fputs("<section id=\"run\"><h2>What was run</h2><dl class=\"facts\">", f);
    fact(f, "machine", first->host);
    fact(f, "allocscope", ALLOCSCOPE_VERSION);
    if (in->is_bench) {
        fact(f, "bench", in->bench_dir);
        fact(f, "profile", in->profile);
    }
    struct doc_matrix m;
    doc_matrix(in, &m);
    fact(f, "workloads", m.workloads);
    fact(f, "configurations", m.configs);
    snprintf(buf, sizeof(buf), "%zu", m.repeats);
    fact(f, "repeats", buf);
    fact(f, "allocator versions", m.versions);
    if (m.phases[0])
        fact(f, "phases", m.phases);
    fact(f, "started", first->started);
    fputs("</dl>\n", f);
    if (in->bench_json) {
        fputs("<details><summary>bench.json</summary><pre><code>", f);
        escape_html(f, in->bench_json);
        fputs("</code></pre></details>\n", f);
    }
    fputs("<details><summary>Commands and allocator settings of each run</summary><table><thead>"
          "<tr><th>run</th><th>command</th><th>settings read back</th></tr></thead><tbody>\n",
          f);
    for (size_t i = 0; i < in->ncells; i++) {
        const struct report_cell *c = &in->cells[i];
        fputs("<tr>", f);
        esc_row(f, NULL, c->name);
        fputs("<td><code>", f);
        escape_html(f, c->command ? c->command : "-");
        fputs("</code></td>", f);
        esc_row(f, "muted", c->settings ? c->settings : "-");
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table></details></section>\n", f);
}

static void write_results(FILE *f, const struct report_doc *doc)
{
    const struct report_input *in = doc->in;
    static const enum report_metric cols[] = {
        METRIC_IDLE,      METRIC_PEAK,       METRIC_AFTER_1S,   METRIC_AFTER, METRIC_RECLAIMABLE,
        METRIC_PEAK_LIVE, METRIC_AFTER_LIVE, METRIC_THROUGHPUT, METRIC_P99,   METRIC_CPU};
    fputs("<section id=\"results\"><h2>Results</h2><div "
          "class=\"scroll\"><table><thead><tr><th>workload</th>"
          "<th>configuration</th><th>rep</th><th>status</th>",
          f);
    for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
        fprintf(f, "<th>%s</th>", report_metric_title(cols[k]));
    fputs("</tr></thead><tbody>\n", f);
    for (size_t i = 0; i < in->ncells; i++) {
        const struct report_cell *c = &in->cells[i];
        char label[256], b[64];
        fputs("<tr>", f);
        esc_row(f, NULL, in->groups[c->group].label);
        snprintf(label, sizeof(label), "%s:%s", c->allocator, c->config);
        esc_row(f, NULL, label);
        snprintf(b, sizeof(b), "%d", c->repeat);
        esc_row(f, "n", b);
        fprintf(f, "<td class=\"%s\" title=\"",
                !strcmp(c->status, "ok")            ? "ok"
                : !strcmp(c->status, "unsupported") ? "muted"
                                                    : "bad");
        escape_html(f, c->error ? c->error : "");
        fputs("\">", f);
        escape_html(f, c->status);
        const char *more[] = {c->error, c->note};
        for (size_t k = 0; k < 2; k++)
            if (more[k] && *more[k]) {
                fputs("<br><span class=\"muted\">", f);
                escape_html(f, more[k]);
                fputs("</span>", f);
            }
        fputs("</td>", f);
        for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++) {
            enum report_metric m = cols[k];
            if (m == METRIC_THROUGHPUT)
                doc_number(b, sizeof(b), c->m[m], "%.0f/s");
            else if (m == METRIC_P99)
                doc_number(b, sizeof(b), c->m[m], "%.1f ms");
            else if (m == METRIC_CPU)
                doc_number(b, sizeof(b), c->m[m], "%.2f s");
            else
                doc_bytes(b, sizeof(b), c->m[m]);
            esc_row(f, "n", b);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table></div><p class=\"muted\">RSS columns are the whole process tree's where "
          "the bench sampled it, else the process's; \"after-load\" is at the end of the "
          "cooldown (plain runs: at exit), before any reclaim request.</p></section>\n",
          f);
}

static void write_figure(FILE *f, const struct report_doc *doc, size_t i)
{
    const struct chart *ch = &doc->charts->charts[i];
    if (!ch->rendered)
        return;
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "c%zu-", i);
    char *svg = chart_svg_inline(doc->charts, i, prefix);
    if (!svg)
        return;
    fprintf(f, "<figure class=\"chart\" id=\"chart-%s\">\n", ch->name);
    fputs(svg, f);
    free(svg);
    fputs("<figcaption>", f);
    escape_html(f, ch->title);
    if (ch->rendered_png)
        fprintf(f, " &middot; <a href=\"charts/%s.png\">PNG</a>", ch->name);
    fprintf(f, " &middot; <a href=\"charts/%s.gp\">gnuplot script</a></figcaption></figure>\n",
            ch->name);
}

static void write_sites_table(FILE *f, const struct report_doc *doc, size_t g)
{
    const struct group_sites *gs = &doc->charts->sites[g];
    if (!gs->n)
        return;
    char b1[48], b2[32], b3[32];
    fputs("<table><thead><tr><th>growth</th><th>live at end</th><th>peak</th><th>site "
          "(innermost frame first)</th></tr></thead><tbody>\n",
          f);
    for (size_t k = 0; k < gs->n; k++) {
        const struct report_site *s = &gs->sites[k];
        fputs("<tr>", f);
        snprintf(b1, sizeof(b1), "%s/s", doc_bytes(b3, sizeof(b3), s->growth_bytes_per_s));
        esc_row(f, "n", b1);
        esc_row(f, "n", doc_bytes(b2, sizeof(b2), s->end_bytes));
        esc_row(f, "n", doc_bytes(b3, sizeof(b3), s->peak_bytes));
        fputs("<td><code>", f);
        escape_html(f, s->frames);
        fputs("</code></td></tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
}

static void write_charts(FILE *f, const struct report_doc *doc)
{
    const struct chart_set *cs = doc->charts;
    fputs("<section id=\"charts\"><h2>Charts</h2>\n", f);
    for (size_t g = 0; g < doc->in->ngroups; g++) {
        fputs("<h3>", f);
        escape_html(f, doc->in->groups[g].label);
        fputs("</h3>\n", f);
        static const enum chart_kind order[] = {CHART_RSS, CHART_BARS, CHART_PARETO, CHART_SITES,
                                                CHART_RETURNED};
        for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
            for (size_t i = 0; i < cs->n; i++)
                if (cs->charts[i].group == g && cs->charts[i].kind == order[o]) {
                    write_figure(f, doc, i);
                    if (order[o] == CHART_SITES)
                        write_sites_table(f, doc, g);
                }
    }
    fputs("</section>\n<section id=\"breakdown\"><h2>Where RSS goes</h2><p class=\"muted\">Per "
          "run, stacked: the program's live heap (shim), free memory the allocator holds (its "
          "own statistics), LazyFree pages (MADV_FREE, still counted in RSS until the kernel "
          "takes them) and the rest of the process.</p>\n",
          f);
    for (size_t i = 0; i < cs->n; i++)
        if (cs->charts[i].kind == CHART_BREAKDOWN)
            write_figure(f, doc, i);
    fputs("</section>\n", f);
}

/* heaptrack's temporary allocations: the churn a local variable or a reused buffer removes. */
static void write_temporaries(FILE *f, const struct cell_flames *cf)
{
    if (!cf->temporary)
        return;
    fprintf(f,
            "<p><b>Temporary allocations</b>: %llu of %llu allocations (%.1f%%) were freed "
            "before their thread allocated anything else%s, the churn a local variable or a "
            "reused buffer would remove.</p>\n<table><thead><tr><th>temporary</th><th>of the "
            "site's allocations</th><th>site (innermost frame first)</th></tr></thead><tbody>\n",
            (unsigned long long)cf->temporary, (unsigned long long)cf->calls,
            100.0 * (double)cf->temporary / (double)(cf->calls ? cf->calls : 1),
            cf->sampled ? " (sampled: estimates)" : "");
    for (size_t t = 0; t < cf->ntemps; t++) {
        const struct report_temporary *rt = &cf->temps[t];
        char b1[32], b2[48];
        snprintf(b1, sizeof(b1), "%llu", (unsigned long long)rt->temporary);
        snprintf(b2, sizeof(b2), "%.1f%% of %llu",
                 100.0 * (double)rt->temporary / (double)(rt->calls ? rt->calls : 1),
                 (unsigned long long)rt->calls);
        fputs("<tr>", f);
        esc_row(f, "n", b1);
        esc_row(f, "n", b2);
        fputs("<td><code>", f);
        escape_html(f, rt->site);
        fputs("</code></td></tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
}

/* One cell's flame graphs, inline, each with its search box. */
static void write_cell_flames(FILE *f, const struct report_doc *doc, size_t i)
{
    const struct cell_flames *cf = &doc->flames->cells[i];
    fputs("<h4>", f);
    escape_html(f, doc->in->cells[i].name);
    fputs(cf->sampled ? " <span class=\"muted\">(sampled recording: the widths are "
                        "estimates)</span>"
                      : "",
          f);
    fputs("</h4>\n", f);
    bool any = false;
    for (int k = 0; k < FLAME_KINDS; k++) {
        if (!cf->inline_svg[k])
            continue;
        any = true;
        fprintf(f, "<figure class=\"chart\" id=\"flame-%zu-%s\">\n", i, flame_kind_name(k));
        fprintf(f,
                "<input type=\"search\" class=\"fg-search\" data-for=\"fg-%zu-%s\" "
                "placeholder=\"Search functions (regular expression)\" aria-label=\"Search "
                "functions\">\n",
                i, flame_kind_name(k));
        fputs(cf->inline_svg[k], f);
        fputs("<figcaption>", f);
        escape_html(f, flame_kind_title(k, cf->exited));
        if (cf->file[k])
            fprintf(f, " &middot; <a href=\"charts/%s.svg\">SVG file</a>", cf->file[k]);
        fputs("</figcaption></figure>\n", f);
    }
    if (!any)
        fputs("<p class=\"muted\">No site held bytes at the peak, at exit or grew.</p>\n", f);
    write_temporaries(f, cf);
}

/* Every run's standalone flame graph files, drawn or not (the other repeats). */
static void write_flame_files(FILE *f, const struct report_doc *doc)
{
    fputs("<details><summary>Flame graph files of every run</summary><table><thead><tr><th>"
          "run</th><th>files (charts/)</th></tr></thead><tbody>\n",
          f);
    for (size_t i = 0; i < doc->flames->ncells; i++) {
        const struct cell_flames *cf = &doc->flames->cells[i];
        if (!cf->has_stacks)
            continue;
        fputs("<tr>", f);
        esc_row(f, NULL, doc->in->cells[i].name);
        fputs("<td>", f);
        for (int k = 0; k < FLAME_KINDS; k++)
            if (cf->file[k])
                fprintf(f, "<a href=\"charts/%s.svg\">%s</a> ", cf->file[k], flame_kind_name(k));
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table></details>\n", f);
}

static void write_flames(FILE *f, const struct report_doc *doc)
{
    fputs("<section id=\"flames\"><h2>Flame graphs</h2>\n", f);
    if (!doc->flames) {
        fputs("<p class=\"muted\">Left out: this report was made with "
              "<code>--no-flames</code>.</p></section>\n",
              f);
        return;
    }
    bool any = false;
    for (size_t i = 0; i < doc->flames->ncells; i++)
        any |= doc->flames->cells[i].has_stacks;
    if (!any) {
        fputs("<p class=\"muted\">No run of this report was recorded with allocation stacks "
              "(<code>--sample none</code>, or a kernel-only attach).</p></section>\n",
              f);
        return;
    }
    fputs("<p class=\"muted\">Which code holds the memory, per run (each configuration's first "
          "successful repeat): a box per function, as wide as the bytes its call stacks hold, "
          "callers below the functions they call; live bytes at the peak (the site snapshot "
          "with the most live bytes), bytes unfreed at exit (by memcheck class when the run "
          "has reachability) and growth in bytes per second. Hover a box for its exact bytes, "
          "click to zoom (Reset zoom goes back), search highlights functions. Frames "
          "narrower than 0.2% are merged.</p>\n",
          f);
    for (size_t g = 0; g < doc->in->ngroups; g++) {
        const struct report_group *grp = &doc->in->groups[g];
        fputs("<h3>", f);
        escape_html(f, grp->label);
        fputs("</h3>\n", f);
        for (size_t k = 0; k < grp->nconfigs; k++) {
            long ci = grp->configs[k].first_ok;
            if (ci >= 0 && doc->flames->cells[ci].has_stacks)
                write_cell_flames(f, doc, (size_t)ci);
        }
    }
    write_flame_files(f, doc);
    fputs("</section>\n", f);
}

static void write_diagnosis(FILE *f, const struct report_doc *doc)
{
    fputs("<section id=\"diagnosis\"><h2>Diagnosis</h2>\n", f);
    if (!doc->diagnose_available) {
        fputs("<p class=\"muted\">diagnosis not available: this report was made with "
              "<code>--no-diagnose</code>.</p></section>\n",
              f);
        return;
    }
    fputs("<table><thead><tr><th>run</th><th>verdict</th><th>confidence</th><th>why</th>"
          "<th>what to try</th></tr></thead><tbody>\n",
          f);
    for (size_t i = 0; i < doc->in->ncells; i++) {
        const struct cell_diagnosis *d = &doc->diag[i];
        if (!d->done && !d->error[0])
            continue;
        fputs("<tr>", f);
        esc_row(f, NULL, doc->in->cells[i].name);
        if (d->done) {
            esc_row(f, "verdict", d->verdict);
            esc_row(f, NULL, d->confidence);
            esc_row(f, NULL, d->reason);
            esc_row(f, NULL, d->suggestion);
        } else {
            esc_row(f, "muted", "diagnosis not available");
            esc_row(f, NULL, "-");
            esc_row(f, "muted", d->error);
            esc_row(f, NULL, "");
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table><p class=\"muted\">One run per configuration (its first successful "
          "repeat); <code>allocscope diagnose DIR</code> gives the evidence.</p></section>\n",
          f);
}

static void write_problems(FILE *f, const struct report_doc *doc)
{
    if (!doc->in->nproblems)
        return;
    fputs("<section id=\"problems\"><h2>Problems with the input</h2><ul class=\"problems\">\n", f);
    for (size_t i = 0; i < doc->in->nproblems; i++) {
        fputs("<li>", f);
        escape_html(f, doc->in->problems[i]);
        fputs("</li>\n", f);
    }
    fputs("</ul></section>\n", f);
}

/* Measures every chart once laid out, for automated checks (tests/report_test.sh reads
 * data-rendered with a headless browser's --dump-dom). */
static const char measure_script[] =
    "(function(){var n=0;document.querySelectorAll('figure.chart').forEach("
    "function(f){var s=f.querySelector('svg');var r=s?s.getBoundingClientRect():{width:0,"
    "height:0};f.setAttribute('data-rendered',Math.round(r.width)+'x'+Math.round(r.height));"
    "if(r.width>0&&r.height>0)n++;});document.body.setAttribute('data-charts-ok',String(n));"
    "})();\n";

/* The flame graphs' interaction (reports/flamegraph.h), once for the page, and their
 * search boxes. */
static const char flames_wiring[] =
    "document.querySelectorAll('svg.flamegraph').forEach(function(s){allocscopeFlame(s);});\n"
    "document.querySelectorAll('input.fg-search').forEach(function(i){"
    "i.addEventListener('input',function(){var s=document.getElementById("
    "i.getAttribute('data-for'));if(s&&s.allocscopeFlame)s.allocscopeFlame.search(i.value);"
    "});});\n";

/* The page's one script: what it draws is its own, never data. */
static void write_script(FILE *f, const struct report_doc *doc)
{
    fputs("<script>\n", f);
    if (doc->flames) {
        fputs(flame_script, f);
        fputs(flames_wiring, f);
    }
    fputs(measure_script, f);
    fputs("</script>\n", f);
}

int report_write_html(const struct report_doc *doc, const char *path)
{
    struct atomic_file *out = atomic_file_open(path);
    if (!out)
        return -1;
    FILE *f = atomic_file_stream(out);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
          "<title>allocscope report: ",
          f);
    escape_html(f, doc->in->groups[0].label);
    fprintf(f, "</title><style>%s</style></head>\n<body><main>\n", css);
    write_header(f, doc);
    write_recommendation(f, doc);
    write_run_facts(f, doc);
    write_results(f, doc);
    write_charts(f, doc);
    write_flames(f, doc);
    write_diagnosis(f, doc);
    write_problems(f, doc);
    fputs("<footer>Charts: the gnuplot scripts and data are in <code>charts/</code>; edit "
          "<code>charts/style.gp</code> or a chart's script and run <code>gnuplot "
          "render-svg.gp render-png.gp</code> there. The Markdown summary is "
          "<code>summary.md</code>.</footer>\n</main>\n",
          f);
    write_script(f, doc);
    fputs("</body></html>\n", f);
    return atomic_file_commit(out);
}
