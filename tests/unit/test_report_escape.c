/* Unit tests of the report's escaping: every text taken from the data (commands, symbols,
 * paths, allocator settings, error messages) must reach index.html and summary.md as text,
 * never as markup, and reach gnuplot scripts as one quoted string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/escape.h"
#include "reports/report_doc.h"
#include "common/util.h"

#define EVIL "<script>alert(1)</script>"

static char *escaped_html(const char *text)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    escape_html(f, text);
    fclose(f);
    return buf;
}

static void html_escapes_markup(void **state)
{
    (void)state;
    char *out = escaped_html(EVIL " & \"q\" 'a'");
    assert_string_equal(out,
                        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &#39;a&#39;");
    free(out);
    out = escaped_html("bell\x07 ok");
    assert_string_equal(out, "bell&#xfffd; ok");
    free(out);
    out = escaped_html(NULL);
    assert_string_equal(out, "");
    free(out);
}

static void markdown_escapes_tables_and_markup(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    escape_markdown(f, "a|b `c` *d* " EVIL "\nnext");
    fclose(f);
    assert_string_equal(buf, "a\\|b \\`c\\` \\*d\\* &lt;script&gt;alert(1)&lt;/script&gt; next");
    free(buf);
}

static void gnuplot_strings_stay_quoted(void **state)
{
    (void)state;
    char out[128];
    gnuplot_quote(out, sizeof(out), "it's '; system('rm -rf /')\n");
    /* Every quote doubled: gnuplot reads one string, runs nothing. */
    assert_string_equal(out, "it''s ''; system(''rm -rf /'')");
    gnuplot_quote(out, 8, "abcdefghijkl");
    assert_true(strlen(out) < 8);
}

/* A whole document whose every data-derived text is hostile. */
static void document_has_no_raw_markup_from_data(void **state)
{
    (void)state;
    char dir[] = "/tmp/report-escape-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct report_cell cell;
    memset(&cell, 0, sizeof(cell));
    for (int m = 0; m < METRIC_COUNT; m++)
        cell.m[m] = NAN;
    cell.m[METRIC_AFTER] = 1 << 20;
    cell.m[METRIC_PEAK] = 2 << 20;
    cell.dir = dir;
    cell.name = EVIL;
    cell.workload = EVIL;
    cell.variant = "none";
    cell.allocator = EVIL;
    cell.config = "default";
    cell.status = EVIL;
    cell.error = EVIL;
    cell.command = "prog " EVIL;
    cell.settings = "opt=" EVIL;
    cell.host = EVIL;
    cell.started = EVIL;
    cell.allocator_version = EVIL;
    size_t cells[] = {0};
    struct report_config cfg = {
        .label = EVIL ":default", .cells = cells, .ncells = 1, .first_ok = -1};
    memcpy(cfg.m, cell.m, sizeof(cfg.m));
    struct report_group grp = {
        .workload = EVIL, .variant = "none", .label = EVIL, .configs = &cfg, .nconfigs = 1};
    char *problems[] = {EVIL " is truncated"};
    struct report_input in = {.is_bench = true,
                              .bench_dir = EVIL,
                              .bench_json = "{\"x\":\"" EVIL "\"}",
                              .profile = EVIL,
                              .cells = &cell,
                              .ncells = 1,
                              .groups = &grp,
                              .ngroups = 1,
                              .problems = problems,
                              .nproblems = 1};
    struct report_site site = {.function = EVIL,
                               .frames = EVIL " (a.c:1)",
                               .growth_bytes_per_s = 1000,
                               .end_bytes = 1,
                               .peak_bytes = 2};
    struct group_sites gs = {.cell = 0, .sites = &site, .n = 1};
    struct chart_set charts = {.dir = dir, .sites = &gs, .ngroups = 1};
    struct report_options opt = {.tolerance = 0.05, .rss_metric = METRIC_AFTER, .top_sites = 5};
    struct rec_candidate cand = {cfg.label, NAN, cfg.m[METRIC_AFTER], NULL, 0};
    struct rec_result rec;
    recommend(&cand, 1, 0.05, &rec);
    struct cell_diagnosis diag = {.done = true};
    snprintf(diag.verdict, sizeof(diag.verdict), "%s", EVIL);
    snprintf(diag.reason, sizeof(diag.reason), "%s", EVIL);
    struct report_doc doc = {.in = &in,
                             .opt = &opt,
                             .charts = &charts,
                             .recs = &rec,
                             .overall_choice = -1,
                             .diag = &diag,
                             .diagnose_available = true,
                             .generated = "now",
                             .command_line = "allocscope report " EVIL};
    char *html = util_format("%s/index.html", dir), *md = util_format("%s/summary.md", dir);
    assert_int_equal(report_write_html(&doc, html), 0);
    assert_int_equal(report_write_markdown(&doc, md), 0);
    const char *files[] = {html, md};
    for (size_t i = 0; i < 2; i++) {
        char *text = util_read_file(files[i], NULL);
        assert_non_null(text);
        assert_null(strstr(text, "<script>alert"));
        assert_null(strstr(text, "</script>alert"));
        assert_non_null(strstr(text, "&lt;script&gt;alert(1)&lt;/script&gt;"));
        free(text);
        unlink(files[i]);
    }
    rec_result_free(&rec);
    free(html);
    free(md);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(html_escapes_markup),
        cmocka_unit_test(markdown_escapes_tables_and_markup),
        cmocka_unit_test(gnuplot_strings_stay_quoted),
        cmocka_unit_test(document_has_no_raw_markup_from_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
