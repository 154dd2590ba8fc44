/* Outside text into JSON (common/json_text.h): jansson refuses strings that are not UTF-8, so
 * a path or an argument holding such bytes must come out as text with U+FFFD in their place,
 * one per byte, as the escapers of common/escape.h write them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json_text.h"

#define FFFD "\xef\xbf\xbd"

static void expect(const char *text, const char *expected)
{
    json_t *s = json_text(text);
    if (!s)
        fail_msg("json_text(\"%s\") gave NULL", text);
    if (!json_is_string(s) || strcmp(json_string_value(s), expected))
        fail_msg("json_text(\"%s\") gave \"%s\", expected \"%s\"", text,
                 json_is_string(s) ? json_string_value(s) : "(not a string)", expected);
    /* The value can be written and read back. */
    char *dumped = json_dumps(s, JSON_ENCODE_ANY);
    assert_non_null(dumped);
    json_t *back = json_loads(dumped, JSON_DECODE_ANY, NULL);
    assert_non_null(back);
    assert_string_equal(json_string_value(back), expected);
    json_decref(back);
    free(dumped);
    json_decref(s);
}

static void valid_text_unchanged(void **state)
{
    (void)state;
    expect("", "");
    expect("/tmp/run dir/r", "/tmp/run dir/r");
    expect("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
           "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    expect("tab\tnewline\n\x01", "tab\tnewline\n\x01"); /* JSON escapes controls itself */
}

static void null_is_null(void **state)
{
    (void)state;
    json_t *v = json_text(NULL);
    assert_true(json_is_null(v));
    json_decref(v);
}

static void stray_bytes(void **state)
{
    (void)state;
    expect("/tmp/cwd\xfe", "/tmp/cwd" FFFD);
    expect("/tmp/bad\xff"
           "dir",
           "/tmp/bad" FFFD "dir");
    expect("a\x80"
           "b",
           "a" FFFD "b"); /* a continuation byte with no lead */
    expect("\x80\xbf", FFFD FFFD);
    expect("\xc3\xa9\xff\xc3\xa9", "\xc3\xa9" FFFD "\xc3\xa9");
}

static void truncated_sequences(void **state)
{
    (void)state;
    /* Each byte of a cut sequence is one U+FFFD, and what follows is read afresh. */
    expect("\xe2\x82x", FFFD FFFD "x");
    expect("\xf0\x9f\x98 ok", FFFD FFFD FFFD " ok");
    expect("\xc3\xe2\x82\xac", FFFD "\xe2\x82\xac");
}

static void overlong_and_out_of_range(void **state)
{
    (void)state;
    expect("\xc0\xaf", FFFD FFFD);                   /* "/" in two bytes */
    expect("\xe0\x80\xaf", FFFD FFFD FFFD);          /* "/" in three */
    expect("\xed\xa0\x80", FFFD FFFD FFFD);          /* a surrogate, U+D800 */
    expect("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* beyond U+10FFFF */
}

static void cut_by_the_terminator(void **state)
{
    (void)state;
    /* A lead byte right before the NUL: the NUL is not taken as its continuation. */
    expect("abc\xc3", "abc" FFFD);
    expect("abc\xe2\x82", "abc" FFFD FFFD);
    expect("\xf0", FFFD);
}

static void keys_from_outside(void **state)
{
    (void)state;
    json_t *o = json_object();
    assert_int_equal(json_text_set(o, "K\xff", json_text("v\xfe")), 0);
    assert_string_equal(json_string_value(json_object_get(o, "K" FFFD)), "v" FFFD);
    json_decref(o);
}

static void dump_refuses_loudly(void **state)
{
    (void)state;
    assert_null(json_text_dump(NULL, 0, "the test document"));
    assert_int_equal(json_text_print(NULL, 0, "the test document"), -1);
    json_t *o = json_pack("{s:o}", "cwd", json_text("/tmp/cwd\xfe"));
    assert_non_null(o);
    char *text = json_text_dump(o, JSON_COMPACT, "the test document");
    assert_string_equal(text, "{\"cwd\":\"/tmp/cwd" FFFD "\"}");
    free(text);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_text_unchanged),
        cmocka_unit_test(null_is_null),
        cmocka_unit_test(stray_bytes),
        cmocka_unit_test(truncated_sequences),
        cmocka_unit_test(overlong_and_out_of_range),
        cmocka_unit_test(cut_by_the_terminator),
        cmocka_unit_test(keys_from_outside),
        cmocka_unit_test(dump_refuses_loudly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
