/* The INI reader every configuration file goes through (common/ini): sections, comments,
 * lines of any length, CRLF, errors with file and line, and the bounded file read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ini.h"
#include "common/util.h"

static char err[512];

static int parse_text(struct ini_doc *doc, const char *text, size_t len)
{
    err[0] = '\0';
    return ini_parse(doc, "f.ini", text, len, err, sizeof(err));
}

static void assert_item(const struct ini_item *item, const char *section, const char *key,
                        const char *value, int line)
{
    assert_string_equal(item->section, section);
    if (key) {
        assert_string_equal(item->key, key);
        assert_string_equal(item->value, value);
    } else {
        assert_null(item->key);
        assert_null(item->value);
    }
    assert_int_equal(item->line, line);
}

static void expect_error(const char *text, size_t len, const char *message)
{
    struct ini_doc doc;
    assert_int_equal(parse_text(&doc, text, len), -1);
    if (!strstr(err, message))
        fail_msg("error '%s' does not contain '%s'", err, message);
    ini_free(&doc);
}

static void test_sections_keys_and_comments(void **state)
{
    (void)state;
    const char text[] = "# a comment\n"
                        "top = before any section\n"
                        "  ; an indented comment\n"
                        "\n"
                        "[ first ]   ; why\n"
                        "key=value\n"
                        "  spaced   =   a value with  inner  blanks   \n"
                        "empty =\n"
                        "shell = kill {pid}; sleep 1 ; what follows is a comment\n"
                        "hash = a # b\n"
                        "[config a:b]\n"
                        "env = A=1\n";
    struct ini_doc doc;
    assert_int_equal(parse_text(&doc, text, strlen(text)), 0);
    assert_int_equal(doc.n, 9);
    assert_item(&doc.items[0], "", "top", "before any section", 2);
    assert_item(&doc.items[1], "first", NULL, NULL, 5);
    assert_item(&doc.items[2], "first", "key", "value", 6);
    assert_item(&doc.items[3], "first", "spaced", "a value with  inner  blanks", 7);
    assert_item(&doc.items[4], "first", "empty", "", 8);
    assert_item(&doc.items[5], "first", "shell", "kill {pid}; sleep 1", 9);
    assert_item(&doc.items[6], "first", "hash", "a # b", 10);
    assert_item(&doc.items[7], "config a:b", NULL, NULL, 11);
    assert_item(&doc.items[8], "config a:b", "env", "A=1", 12);
    ini_free(&doc);
}

static void test_repeated_keys_and_sections_kept_in_order(void **state)
{
    (void)state;
    /* What a repeat means is the caller's rule (env adds, most keys replace): all are kept. */
    const char text[] = "[s]\nenv = A=1\nenv = B=2\n[t]\nk = 1\n[s]\nenv = C=3\n";
    struct ini_doc doc;
    assert_int_equal(parse_text(&doc, text, strlen(text)), 0);
    assert_int_equal(doc.n, 7);
    assert_item(&doc.items[1], "s", "env", "A=1", 2);
    assert_item(&doc.items[2], "s", "env", "B=2", 3);
    assert_item(&doc.items[5], "s", NULL, NULL, 6);
    assert_item(&doc.items[6], "s", "env", "C=3", 7);
    ini_free(&doc);
}

/* Debian's inih read at most 198 characters a line; bench commands are longer. */
static void test_long_lines(void **state)
{
    (void)state;
    for (size_t n = 300; n <= 70000; n = n * 16) {
        char *value = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++)
            value[i] = (char)('a' + i % 26);
        value[n] = '\0';
        char *section = util_format("target %.*s", 250, value);
        char *text = util_format("[%s]\ncommand = %s\nnext = 1\n", section, value);
        struct ini_doc doc;
        assert_int_equal(parse_text(&doc, text, strlen(text)), 0);
        assert_int_equal(doc.n, 3);
        assert_item(&doc.items[1], section, "command", value, 2);
        assert_item(&doc.items[2], section, "next", "1", 3);
        ini_free(&doc);
        free(text);
        free(section);
        free(value);
    }
}

static void test_crlf_lines(void **state)
{
    (void)state;
    const char text[] = "\xEF\xBB\xBF[allocator a]\r\nlibrary = /x.so\r\n\r\n; c\r\n"
                        "description = last\r\n";
    struct ini_doc doc;
    assert_int_equal(parse_text(&doc, text, strlen(text)), 0);
    assert_int_equal(doc.n, 3);
    assert_item(&doc.items[0], "allocator a", NULL, NULL, 1);
    assert_item(&doc.items[1], "allocator a", "library", "/x.so", 2);
    assert_item(&doc.items[2], "allocator a", "description", "last", 5);
    ini_free(&doc);
    /* no line end at all after the last line */
    struct ini_doc last;
    assert_int_equal(parse_text(&last, "[s]\r\nk = v", 10), 0);
    assert_item(&last.items[1], "s", "k", "v", 2);
    ini_free(&last);
}

static void test_nul_byte_is_an_error_with_its_line(void **state)
{
    (void)state;
    const char text[] = "[s]\nk = v\nj = w\0x\nl = z\n";
    expect_error(text, sizeof(text) - 1, "f.ini:3: NUL byte");
    const char at_start[] = "\0[s]\n";
    expect_error(at_start, sizeof(at_start) - 1, "f.ini:1: NUL byte");
}

static void test_malformed_lines(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"[s]\nk = v\n[unterminated\n", "f.ini:3: section header without ']'"},
        {"[s] junk\n", "f.ini:1: text after the section header [s]"},
        {"[s]\nno equals sign\n", "f.ini:2: malformed line; expected [SECTION]"},
        {"[s]\n = value\n", "f.ini:2: malformed line"},
        {"[s]\nkey ; comment = x\n", "f.ini:2: malformed line"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_error(bad[i][0], strlen(bad[i][0]), bad[i][1]);
}

/* The lines before the bad one are there, so a caller can report an earlier problem. */
static void test_items_before_an_error_are_kept(void **state)
{
    (void)state;
    struct ini_doc doc;
    const char text[] = "[s]\nk = v\nbad\nlater = x\n";
    assert_int_equal(parse_text(&doc, text, strlen(text)), -1);
    assert_int_equal(doc.n, 2);
    assert_item(&doc.items[1], "s", "k", "v", 2);
    ini_free(&doc);
}

static void test_bounded_read(void **state)
{
    (void)state;
    char path[] = "/tmp/test_ini.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    close(fd);
    size_t len = 0;
    char *text = util_read_file_bounded(path, 10, &len);
    assert_non_null(text);
    assert_int_equal(len, 10);
    assert_string_equal(text, "0123456789");
    free(text);
    errno = 0;
    assert_null(util_read_file_bounded(path, 9, &len));
    assert_int_equal(errno, EFBIG);
    unlink(path);
    /* A device that never ends is refused at the bound, not read until memory runs out. */
    errno = 0;
    assert_null(util_read_file_bounded("/dev/zero", UTIL_INPUT_MAX, &len));
    assert_int_equal(errno, EFBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sections_keys_and_comments),
        cmocka_unit_test(test_repeated_keys_and_sections_kept_in_order),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_crlf_lines),
        cmocka_unit_test(test_nul_byte_is_an_error_with_its_line),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_items_before_an_error_are_kept),
        cmocka_unit_test(test_bounded_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
