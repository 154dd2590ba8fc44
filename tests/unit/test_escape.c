/* One escaper per output language (common/escape.h): HTML for index.html, XML for the gate's
 * JUnit, Markdown for summary.md and the gate's comment. A name from the data ("a\x01b", a
 * pipe, a backtick, bytes that are not UTF-8) must come out as text, and as a valid document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/escape.h"
#include "common/util.h"
#include "reports/gate.h"
#include "reports/report_charts.h"

typedef void escaper(FILE *out, const char *text);

static char *escaped(escaper *escape, const char *text)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    escape(f, text);
    fclose(f);
    return buf;
}

static void expect(escaper *escape, const char *text, const char *expected)
{
    char *out = escaped(escape, text);
    if (strcmp(out, expected))
        fail_msg("escaped \"%s\" as \"%s\", expected \"%s\"", text ? text : "(null)", out,
                 expected);
    free(out);
}

#define FFFD "\xef\xbf\xbd"

static void html(void **state)
{
    (void)state;
    expect(escape_html, "<a href=\"x\">Tom & 'Jerry'</a>",
           "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
    expect(escape_html, "line\nnext\ttab", "line\nnext\ttab");
    expect(escape_html,
           "a\x01"
           "b\rc\x7f"
           "d",
           "a&#xfffd;b&#xfffd;c&#xfffd;d");
    expect(escape_html, "c1 \xc2\x85 end", "c1 &#xfffd; end"); /* U+0085, a C1 control */
    expect(escape_html, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
           "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    expect(escape_html, "", "");
    expect(escape_html, NULL, "");
}

static void xml(void **state)
{
    (void)state;
    expect(escape_xml, "<cell a=\"1\" & 'b'>", "&lt;cell a=&quot;1&quot; &amp; 'b'&gt;");
    /* Control characters are not XML characters even as references. */
    expect(escape_xml,
           "a\x01"
           "b",
           "a&#xfffd;b");
    expect(escape_xml, "\x1b[31mred\x1b[0m", "&#xfffd;[31mred&#xfffd;[0m");
    /* Whitespace survives attribute normalization as references. */
    expect(escape_xml, "a\tb\nc\rd", "a&#9;b&#10;c&#13;d");
    expect(escape_xml, "nonchar \xef\xbf\xbe \xef\xbf\xbf", "nonchar &#xfffd; &#xfffd;");
    expect(escape_xml, "\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac");
    expect(escape_xml, "", "");
    expect(escape_xml, NULL, "");
}

static void markdown(void **state)
{
    (void)state;
    expect(escape_markdown, "a|b `c` *d* _e_ [f](g) #h ~i~ \\j",
           "a\\|b \\`c\\` \\*d\\* \\_e\\_ \\[f\\](g) \\#h \\~i\\~ \\\\j");
    expect(escape_markdown, "<img src=x onerror=alert(1)> & co",
           "&lt;img src=x onerror=alert(1)&gt; &amp; co");
    /* A table cell is one line. */
    expect(escape_markdown, "one\ntwo\r\nthree\tfour", "one two  three four");
    expect(escape_markdown,
           "a\x01"
           "b\x7f"
           "c",
           "a" FFFD "b" FFFD "c");
    expect(escape_markdown, "# heading", "\\# heading");
    /* List markers at the start only, and only when they would open a list. */
    expect(escape_markdown, "- item", "\\- item");
    expect(escape_markdown, "+ item", "\\+ item");
    expect(escape_markdown, "12. item", "12\\. item");
    expect(escape_markdown, "3) item", "3\\) item");
    expect(escape_markdown, "-", "-");
    expect(escape_markdown, "-O2 build", "-O2 build");
    expect(escape_markdown, "3.5 MiB", "3.5 MiB");
    expect(escape_markdown, "a - b + c 1. d", "a - b + c 1. d");
    expect(escape_markdown, "glibc:default", "glibc:default");
    expect(escape_markdown, "", "");
    expect(escape_markdown, NULL, "");
}

static void markdown_code_span(void **state)
{
    (void)state;
    expect(escape_markdown_code, "base_line.json", "`base_line.json`");
    expect(escape_markdown_code, "a`b", "``a`b``");
    expect(escape_markdown_code, "``x", "``` ``x ```");
    expect(escape_markdown_code, "x`", "`` x` ``");
    expect(escape_markdown_code, " both ", "`  both  `");
    expect(escape_markdown_code, "two\nlines\x01", "`two lines" FFFD "`");
    expect(escape_markdown_code, "C:\\dir\\*", "`C:\\dir\\*`");
    expect(escape_markdown_code, "", "` `");
    expect(escape_markdown_code, NULL, "` `");
}

/* Every escaper: bytes that are not UTF-8 become U+FFFD, one per byte, and what follows is
 * read correctly. */
static void invalid_utf8(void **state)
{
    (void)state;
    const char *bad[] = {
        "x\xff"
        "y", /* never valid */
        "x\x80"
        "y", /* a continuation byte alone */
        "x\xc3"
        "y", /* a truncated sequence */
        "x\xed\xa0\x80"
        "y", /* a surrogate, U+D800 */
        "x\xc0\xaf"
        "y", /* an overlong '/' */
        "x\xf4\x90\x80\x80"
        "y", /* beyond U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i]) - 2;
        char html_expected[64] = "x", md_expected[64] = "x";
        for (size_t k = 0; k < n; k++) {
            strcat(html_expected, "&#xfffd;");
            strcat(md_expected, FFFD);
        }
        strcat(html_expected, "y");
        strcat(md_expected, "y");
        expect(escape_html, bad[i], html_expected);
        expect(escape_xml, bad[i], html_expected);
        expect(escape_markdown, bad[i], md_expected);
    }
    assert_int_equal(escape_utf8_length("a"), 1);
    assert_int_equal(escape_utf8_length("\xc3\xa9"), 2);
    assert_int_equal(escape_utf8_length("\xe2\x82\xac"), 3);
    assert_int_equal(escape_utf8_length("\xf0\x9f\x98\x80"), 4);
    assert_int_equal(escape_utf8_length("\xe2\x82"), 0);
    assert_int_equal(escape_utf8_length(""), 0);
}

static void gnuplot_strings(void **state)
{
    (void)state;
    char out[64];
    gnuplot_quote(out, sizeof(out),
                  "it's a\x01"
                  "b \xff \xc3\xa9");
    assert_string_equal(out, "it''s ab " FFFD " \xc3\xa9");
    /* Cut before a character that does not fit, never inside it. */
    gnuplot_quote(out, 7, "ab\xe2\x82\xac\xe2\x82\xac");
    assert_string_equal(out, "ab\xe2\x82\xac");
}

/* The gate's two documents for a bench whose variant is "a\x01b" and whose failure message
 * holds markup, a pipe and a newline. */
static void gate_documents(void **state)
{
    (void)state;
    char dir[] = "/tmp/allocscope-escape-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct gate_row rows[2] = {{.cell = "web-a\x01"
                                        "b-glibc-default",
                                .result = GATE_FAIL},
                               {.cell = "web-none-glibc-default", .result = GATE_SKIPPED}};
    snprintf(rows[0].metric, sizeof(rows[0].metric), "status");
    snprintf(rows[0].detail, sizeof(rows[0].detail), "1 of 1 repeats failed (<x> | y\nz \xff)");
    snprintf(rows[1].metric, sizeof(rows[1].metric), "verdict");
    snprintf(rows[1].detail, sizeof(rows[1].detail), "no verdict in the baseline");
    struct gate_report report = {.rows = rows, .nrows = 2, .failures = 1};
    char err[256], *junit = util_format("%s/gate.xml", dir), *md = util_format("%s/gate.md", dir);
    assert_int_equal(gate_write_junit(&report, junit, err, sizeof(err)), 0);
    assert_int_equal(gate_write_markdown(&report, "base`line.json", "cur", md, err, sizeof(err)),
                     0);
    char *xml_text = util_read_file(junit, NULL), *md_text = util_read_file(md, NULL);
    for (const unsigned char *p = (const unsigned char *)xml_text; *p; p++)
        assert_true(*p >= 0x20 || *p == '\n');
    assert_non_null(strstr(xml_text, "classname=\"web-a&#xfffd;b-glibc-default\" name=\"status\""));
    assert_non_null(
        strstr(xml_text, "message=\"1 of 1 repeats failed (&lt;x&gt; | y&#10;z &#xfffd;)\""));
    assert_non_null(strstr(md_text, "baseline ``base`line.json``, current `cur`."));
    assert_non_null(strstr(md_text, "| web-a" FFFD "b-glibc-default | status | - | - | **FAIL** | "
                                    "1 of 1 repeats failed (&lt;x&gt; \\| y z " FFFD ") |\n"));
    assert_non_null(strstr(md_text, "| web-none-glibc-default | verdict | - | - | skip | "));
    free(xml_text), free(md_text);
    unlink(junit), unlink(md), rmdir(dir);
    free(junit), free(md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(html),           cmocka_unit_test(xml),
        cmocka_unit_test(markdown),       cmocka_unit_test(markdown_code_span),
        cmocka_unit_test(invalid_utf8),   cmocka_unit_test(gnuplot_strings),
        cmocka_unit_test(gate_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
