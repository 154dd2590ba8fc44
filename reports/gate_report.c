/* The comparison of a current bench with its baseline and the three ways to show it: a text
 * table, JUnit XML for CI systems, Markdown for a pull-request comment. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reports/gate.h"
#include "common/atomic_file.h"
#include "common/escape.h"
#include "common/util.h"

/* Messages and paths are cut to their buffers on purpose: a long path only shortens a line. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

void gate_compare_metric(enum gate_metric m, const struct gate_stats *base,
                         const struct gate_stats *cur, const struct gate_tolerance *tol,
                         double noise_k, struct gate_row *row)
{
    row->base = base->median, row->cur = cur->median;
    row->change = cur->median - base->median;
    if (!base->n || !cur->n) {
        row->result = GATE_SKIPPED;
        row->allowed = NAN;
        snprintf(row->detail, sizeof(row->detail), "not measured in the %s",
                 base->n ? "current bench" : "baseline");
        return;
    }
    /* The standard error of each median (1.25 sigma / sqrt(n) for normal noise), combined. */
    double noise = 1.25 * sqrt(base->spread * base->spread / (double)base->n +
                               cur->spread * cur->spread / (double)cur->n);
    double rel = tol->rel * fabs(base->median);
    row->allowed = (rel > tol->abs ? rel : tol->abs) + noise_k * noise;
    double worse = gate_metric_higher_is_better(m) ? -row->change : row->change;
    row->result = worse > row->allowed ? GATE_FAIL : GATE_PASS;
    char b1[32], b2[32], b3[32], b4[32];
    snprintf(row->detail, sizeof(row->detail),
             "%s %s; allowed %s (%.0f%% or %s, + %.1f x noise %s)",
             worse > 0 ? "worse by" : "better by",
             gate_metric_format(m, fabs(row->change), b1, sizeof(b1)),
             gate_metric_format(m, row->allowed, b2, sizeof(b2)), 100 * tol->rel,
             gate_metric_format(m, tol->abs, b3, sizeof(b3)), noise_k,
             gate_metric_format(m, noise, b4, sizeof(b4)));
}

static const struct gate_cell *find_cell(const struct gate_bench *b, const char *key)
{
    for (size_t i = 0; i < b->ncells; i++)
        if (!strcmp(b->cells[i].key, key))
            return &b->cells[i];
    return NULL;
}

int gate_check_matrix(const struct gate_bench *base, const struct gate_bench *cur, char *err,
                      size_t errlen)
{
    for (size_t i = 0; i < base->ncells; i++) {
        if (!find_cell(cur, base->cells[i].key)) {
            snprintf(err, errlen,
                     "the current bench %s has no cell %s that the baseline has "
                     "(a different matrix, or missing cells); run the same matrix or refreeze "
                     "the baseline",
                     cur->source, base->cells[i].key);
            return -1;
        }
    }
    for (size_t i = 0; i < cur->ncells; i++) {
        if (!find_cell(base, cur->cells[i].key)) {
            snprintf(err, errlen,
                     "the current bench %s has a cell %s that the baseline %s "
                     "lacks (a different matrix); run the same matrix or refreeze the baseline",
                     cur->source, cur->cells[i].key, base->source);
            return -1;
        }
    }
    return 0;
}

static struct gate_row *add_row(struct gate_report *r, const char *cell, const char *metric)
{
    r->rows = xreallocarray(r->rows, r->nrows + 1, sizeof(*r->rows));
    struct gate_row *row = &r->rows[r->nrows++];
    memset(row, 0, sizeof(*row));
    row->cell = cell;
    snprintf(row->metric, sizeof(row->metric), "%s", metric);
    row->base = row->cur = row->change = row->allowed = NAN;
    return row;
}

/* healthy < retention, fragmentation < unbounded-buffering < leak */
static int severity(int verdict)
{
    static const int rank[] = {0, 3, 2, 1, 1};
    return verdict >= 0 && verdict < 5 ? rank[verdict] : -1;
}

static void compare_verdict(const struct gate_cell *b, const struct gate_cell *c,
                            struct gate_report *r)
{
    struct gate_row *row = add_row(r, b->key, "verdict");
    if (b->verdict < 0 || c->verdict < 0) {
        row->result = GATE_SKIPPED;
        snprintf(row->detail, sizeof(row->detail), "no verdict in the %s",
                 b->verdict < 0 ? "baseline" : "current bench");
        return;
    }
    const char *was = diagnosis_verdict_name(b->verdict), *now = diagnosis_verdict_name(c->verdict);
    snprintf(row->base_text, sizeof(row->base_text), "%s", was);
    snprintf(row->cur_text, sizeof(row->cur_text), "%s", now);
    row->result = severity(c->verdict) > severity(b->verdict) ? GATE_FAIL : GATE_PASS;
    if (b->verdict == c->verdict)
        snprintf(row->detail, sizeof(row->detail), "%s (repeats: %s)", now, c->verdicts);
    else
        snprintf(row->detail, sizeof(row->detail), "%s -> %s (repeats: %s)", was, now, c->verdicts);
}

static void compare_cell(const struct gate_cell *b, const struct gate_cell *c,
                         const struct gate_options *o, struct gate_report *r)
{
    if (c->failed) {
        /* A crash fails the cell; a minority of repeats the harness could not run (a setting
         * it could not check, a load that failed) is reported and the others compared. */
        struct gate_row *row = add_row(r, b->key, "status");
        row->result = c->crashed || 2 * c->failed > c->repeats ? GATE_FAIL : GATE_PASS;
        snprintf(row->detail, sizeof(row->detail), "%zu of %zu repeats failed (%s%s)%s", c->failed,
                 c->repeats, c->failure, c->crashed ? ", a crash" : "",
                 row->result == GATE_PASS ? "; compared the others" : "");
        if (c->failed == c->repeats)
            return;
    }
    for (int m = 0; m < GATE_NMETRICS; m++) {
        if (!o->check[m])
            continue;
        struct gate_row *row = add_row(r, b->key, gate_metric_name(m));
        gate_compare_metric(m, &b->metric[m], &c->metric[m], &o->tol[m], o->noise_k, row);
    }
    if (o->check_verdict)
        compare_verdict(b, c, r);
}

void gate_compare(const struct gate_bench *base, const struct gate_bench *cur,
                  const struct gate_options *o, struct gate_report *r)
{
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < base->ncells; i++) {
        const struct gate_cell *c = find_cell(cur, base->cells[i].key);
        if (!c)
            continue;
        size_t first = r->nrows, judged = 0;
        compare_cell(&base->cells[i], c, o, r);
        for (size_t k = first; k < r->nrows; k++)
            judged += r->rows[k].result != GATE_SKIPPED && strcmp(r->rows[k].metric, "status");
        if (c->repeats > c->failed && !judged && !r->unjudged)
            r->unjudged = base->cells[i].key;
    }
    for (size_t i = 0; i < r->nrows; i++)
        r->failures += r->rows[i].result == GATE_FAIL;
}

void gate_report_free(struct gate_report *r)
{
    for (size_t i = 0; i < r->ngrown; i++) {
        free(r->grown[i].cell);
        site_diff_free(&r->grown[i].diff);
        site_set_free(&r->grown[i].base);
        site_set_free(&r->grown[i].cur);
    }
    free(r->grown);
    free(r->rows);
    memset(r, 0, sizeof(*r));
}

/* ---- output -------------------------------------------------------------------------- */

static const char *result_name(enum gate_result res)
{
    return res == GATE_FAIL ? "FAIL" : res == GATE_PASS ? "pass" : "skip";
}

static void row_values(const struct gate_row *row, char *base, char *cur, size_t len)
{
    int m = gate_metric_parse(row->metric);
    if (m < 0) {
        snprintf(base, len, "%s", row->base_text[0] ? row->base_text : "-");
        snprintf(cur, len, "%s", row->cur_text[0] ? row->cur_text : "-");
        return;
    }
    gate_metric_format(m, row->base, base, len);
    gate_metric_format(m, row->cur, cur, len);
}

/* Which code grew in each cell that failed a memory check. */
static void print_grown(const struct gate_report *r, FILE *out)
{
    for (size_t i = 0; i < r->ngrown; i++) {
        const struct gate_grown *g = &r->grown[i];
        fprintf(out, "which code grew in %s (baseline -> current, median over repeats%s):\n",
                g->cell, g->diff.sampled ? ", sampled estimates" : "");
        if (g->note[0])
            fprintf(out, "  %s\n", g->note);
        else if (!site_diff_regressions(&g->diff))
            fprintf(out, "  no allocation site holds more than in the baseline (the growth is "
                         "outside the heap the sites count: the allocator, or other memory)\n");
        else
            site_diff_print_short(out, &g->diff, r->top_sites, "  ");
    }
}

void gate_print_table(const struct gate_report *r, FILE *out)
{
    char base[40], cur[40];
    fprintf(out, "%-40s %-12s %14s %14s %-6s %s\n", "CELL", "METRIC", "BASELINE", "CURRENT",
            "RESULT", "DETAIL");
    for (size_t i = 0; i < r->nrows; i++) {
        const struct gate_row *row = &r->rows[i];
        row_values(row, base, cur, sizeof(base));
        fprintf(out, "%-40s %-12s %14s %14s %-6s %s\n", row->cell, row->metric, base, cur,
                result_name(row->result), row->detail);
    }
    print_grown(r, out);
    fprintf(out, "gate: %s: %zu regression%s in %zu checks\n", r->failures ? "FAIL" : "pass",
            r->failures, r->failures == 1 ? "" : "s", r->nrows);
}

/* Commits OUT (NULL: it could not be opened), or says in ERR why PATH was not written. */
static int finish(struct atomic_file *out, const char *path, char *err, size_t errlen)
{
    int rc = out ? atomic_file_commit(out) : -1;
    if (rc)
        atomic_file_error(err, errlen, path, errno);
    return rc;
}

int gate_write_junit(const struct gate_report *r, const char *path, char *err, size_t errlen)
{
    struct atomic_file *out = atomic_file_open(path);
    if (!out)
        return finish(out, path, err, errlen);
    FILE *f = atomic_file_stream(out);
    size_t skipped = 0;
    for (size_t i = 0; i < r->nrows; i++)
        skipped += r->rows[i].result == GATE_SKIPPED;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"allocscope gate\" tests=\"%zu\" failures=\"%zu\">\n", r->nrows,
            r->failures);
    fprintf(f,
            "  <testsuite name=\"allocscope gate\" tests=\"%zu\" failures=\"%zu\" "
            "skipped=\"%zu\" errors=\"0\">\n",
            r->nrows, r->failures, skipped);
    for (size_t i = 0; i < r->nrows; i++) {
        const struct gate_row *row = &r->rows[i];
        fprintf(f, "    <testcase classname=\"");
        escape_xml(f, row->cell);
        fprintf(f, "\" name=\"");
        escape_xml(f, row->metric);
        fputc('"', f);
        if (row->result == GATE_PASS) {
            fprintf(f, "/>\n");
            continue;
        }
        fprintf(f, ">\n      <%s message=\"", row->result == GATE_FAIL ? "failure" : "skipped");
        escape_xml(f, row->detail);
        fprintf(f, "\"/>\n    </testcase>\n");
    }
    fprintf(f, "  </testsuite>\n</testsuites>\n");
    return finish(out, path, err, errlen);
}

/* Per failing cell, the sites that grew: what the pull-request comment points the author to. */
static void markdown_grown(FILE *f, const struct gate_report *r)
{
    for (size_t i = 0; i < r->ngrown; i++) {
        const struct gate_grown *g = &r->grown[i];
        fputs("\n#### Which code grew in ", f);
        escape_markdown_code(f, g->cell);
        fprintf(f, "\n\nBaseline &rarr; current, medians over the repeats%s.\n\n",
                g->diff.sampled ? "; sampled recordings: estimates" : "");
        if (g->note[0]) {
            escape_markdown(f, g->note);
            fputs("\n", f);
        } else if (!site_diff_regressions(&g->diff)) {
            fputs("No allocation site holds more than in the baseline: the growth is outside "
                  "the heap the sites count (the allocator, or other memory).\n",
                  f);
        } else {
            site_diff_markdown(f, &g->diff, r->top_sites);
        }
    }
}

int gate_write_markdown(const struct gate_report *r, const char *baseline, const char *current,
                        const char *path, char *err, size_t errlen)
{
    struct atomic_file *out = atomic_file_open(path);
    if (!out)
        return finish(out, path, err, errlen);
    FILE *f = atomic_file_stream(out);
    char base[40], cur[40];
    fprintf(f, "### allocscope gate: %s\n\n", r->failures ? "**FAIL**" : "pass");
    fprintf(f, "%zu regression%s in %zu checks; baseline ", r->failures,
            r->failures == 1 ? "" : "s", r->nrows);
    escape_markdown_code(f, baseline);
    fputs(", current ", f);
    escape_markdown_code(f, current);
    fputs(".\n\n", f);
    fprintf(f, "| cell | metric | baseline | current | result | detail |\n");
    fprintf(f, "|---|---|---:|---:|---|---|\n");
    /* Failures first: a reviewer reads the top of the comment. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < r->nrows; i++) {
            const struct gate_row *row = &r->rows[i];
            if ((row->result == GATE_FAIL) != (pass == 0))
                continue;
            row_values(row, base, cur, sizeof(base));
            /* The metric, values and result are allocscope's own words; the cell and the
             * detail carry names and messages from the bench. */
            fputs("| ", f);
            escape_markdown(f, row->cell);
            fprintf(f, " | %s | %s | %s | %s | ", row->metric, base, cur,
                    row->result == GATE_FAIL ? "**FAIL**" : result_name(row->result));
            escape_markdown(f, row->detail);
            fputs(" |\n", f);
        }
    }
    markdown_grown(f, r);
    return finish(out, path, err, errlen);
}
