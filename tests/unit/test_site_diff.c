/* The run-to-run diff (reports/site_diff.h): sites matched by their functions whatever their
 * addresses and lines, the largest regression first, sites of one side only, a baseline's
 * stored sites read back, and a damaged baseline refused with a message. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reports/site_diff.h"

/* A site set from a compact description: "KEY=PEAK,EXIT,GROWTH KEY=..." (blocks = bytes/100). */
static void make_set(struct site_set *s, const char *spec)
{
    json_t *sites = json_array();
    char *copy = strdup(spec), *save = NULL;
    for (char *item = strtok_r(copy, " ", &save); item; item = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(item, '=');
        *eq = '\0';
        double peak, exit, growth;
        assert_int_equal(sscanf(eq + 1, "%lf,%lf,%lf", &peak, &exit, &growth), 3);
        json_t *frames = json_array();
        char *fcopy = strdup(item), *fsave = NULL;
        for (char *fn = strtok_r(fcopy, ";", &fsave); fn; fn = strtok_r(NULL, ";", &fsave))
            json_array_append_new(frames, json_pack("{s:s, s:s, s:i, s:s, s:b}", "function", fn,
                                                    "file", "/src/a.c", "line", 7, "object",
                                                    "/usr/bin/a", "inlined", 0));
        free(fcopy);
        json_array_append_new(sites, json_pack("{s:s, s:o, s:f, s:f, s:f, s:f, s:f}", "key", item,
                                               "frames", frames, "peak_bytes", peak, "peak_blocks",
                                               peak / 100, "exit_bytes", exit, "exit_blocks",
                                               exit / 100, "growth_bytes_per_s", growth));
    }
    free(copy);
    json_t *set = json_pack("{s:i, s:b, s:o}", "repeats", 1, "sampled", 0, "sites", sites);
    char err[256];
    assert_int_equal(site_set_from_json(s, set, err, sizeof(err)), 0);
    json_decref(set);
}

static void leaking_site_first(void **state)
{
    (void)state;
    struct site_set fixed, leaky;
    make_set(&fixed, "pool_get;serve;main=4000,0,0 parse;serve;main=1000,0,0 "
                     "cache_put;main=8000,8000,0");
    make_set(&leaky, "upstream_client_new;serve;main=900000,900000,200000 "
                     "pool_get;serve;main=4100,0,0 parse;serve;main=1000,0,0 "
                     "log_line;main=2000,2000,10");
    struct site_diff d;
    site_diff_compute(&fixed, &leaky, &d);
    assert_int_equal(d.n, 4); /* parse did not change */
    const struct site_change *top = &d.rows[0];
    assert_string_equal(site_change_site(top)->key, "upstream_client_new;serve;main");
    assert_null(top->a);
    assert_true(top->change[DV_EXIT_BYTES] == 900000);
    assert_true(top->change[DV_PEAK_BLOCKS] == 9000);
    assert_true(top->change[DV_GROWTH] == 200000);
    assert_string_equal(site_change_site(&d.rows[1])->key, "log_line;main");
    assert_string_equal(site_change_site(&d.rows[2])->key, "pool_get;serve;main");
    /* The site gone from B (an improvement) comes last. */
    assert_string_equal(site_change_site(&d.rows[3])->key, "cache_put;main");
    assert_null(d.rows[3].b);
    assert_true(d.rows[3].change[DV_EXIT_BYTES] == -8000);
    assert_int_equal(site_diff_regressions(&d), 3);
    char label[256];
    diff_site_label(site_change_site(top), 2, label, sizeof(label));
    assert_string_equal(label, "upstream_client_new (a.c:7) <- serve (a.c:7)");
    /* The outputs hold the site and the numbers. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    site_diff_print(f, &d, 10, "");
    site_diff_print_short(f, &d, 1, "  ");
    site_diff_markdown(f, &d, 5);
    fclose(f);
    assert_non_null(strstr(text, "1. upstream_client_new (a.c:7)"));
    assert_non_null(strstr(text, "0 B in 0 blocks -> 878.9 KiB in 9000 blocks"));
    assert_non_null(strstr(text, "  +878.9 KiB at the peak (0 B -> 878.9 KiB)"));
    assert_non_null(strstr(text, "| upstream\\_client\\_new (a.c:7) &lt;- serve"));
    assert_null(strstr(text, "| cache\\_put")); /* the table lists regressions only */
    free(text);
    json_t *j = site_diff_json(&d, 0);
    assert_int_equal(json_array_size(j), 4);
    assert_false(json_is_true(json_object_get(json_array_get(j, 0), "in_a")));
    json_decref(j);
    site_diff_free(&d);
    site_set_free(&fixed);
    site_set_free(&leaky);
}

static void stored_and_read_back(void **state)
{
    (void)state;
    struct site_set s, back;
    make_set(&s, "a;main=10,0,0 b;main=0,500,0 c;main=0,0,100 zero;main=0,0,0");
    json_t *j = site_set_to_json(&s, 2); /* the two holding most: c (10 s of growth), b */
    char err[256];
    assert_int_equal(site_set_from_json(&back, j, err, sizeof(err)), 0);
    assert_int_equal(back.n, 2);
    assert_string_equal(back.sites[0].key, "b;main");
    assert_string_equal(back.sites[1].key, "c;main");
    assert_int_equal(back.sites[0].nframes, 2);
    assert_string_equal(back.sites[0].frames[0].function, "b");
    json_decref(j);
    site_set_free(&back);
    site_set_free(&s);
}

static void damaged_baseline_sites(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "5",
        "{\"sites\": 3}",
        "{\"sites\": [{\"frames\": []}]}",
        "{\"sites\": [{\"key\": \"a\", \"frames\": [], \"peak_bytes\": \"x\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        struct site_set s;
        char err[256] = "";
        assert_int_equal(site_set_from_json(&s, j, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
        site_set_free(&s);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leaking_site_first),
        cmocka_unit_test(stored_and_read_back),
        cmocka_unit_test(damaged_baseline_sites),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
