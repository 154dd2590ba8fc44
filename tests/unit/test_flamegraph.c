/* Flame graphs (reports/flamegraph.h): boxes as wide as their stacks' bytes, callers below,
 * one tower per memcheck class, tiny frames merged so the SVG stays bounded, and every
 * name from the data escaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reports/flamegraph.h"
#include "tests/unit/fake_profile.h"

static const struct flame_node *child(const struct flame_node *n, const char *name)
{
    for (size_t i = 0; i < n->nchildren; i++)
        if (!strcmp(n->children[i].name, name))
            return &n->children[i];
    fail_msg("no child %s under %s", name, n->name);
    return NULL;
}

/* A parent holds at least what its children hold (the rest is its own). */
static void check_sums(const struct flame_node *n)
{
    double sum = 0;
    for (size_t i = 0; i < n->nchildren; i++) {
        sum += n->children[i].value;
        check_sums(&n->children[i]);
    }
    assert_true(sum <= n->value + 1e-6);
}

static void tree_of_known_stacks(void **state)
{
    (void)state;
    struct site_profile p;
    fake_profile_init(&p);
    fake_stack(&p, "leak_a|handler|main")->exit_bytes = 1000;
    fake_stack(&p, "leak_b|handler|main")->exit_bytes = 3000;
    fake_stack(&p, "cache_put+|cache_fill|main")->exit_bytes = 500;
    fake_stack(&p, "freed|main")->exit_bytes = 0; /* nothing to draw */
    p.stacks[0].exit_blocks = 1, p.stacks[1].exit_blocks = 3, p.stacks[2].exit_blocks = 5;
    struct flame_tree t;
    flame_tree_build(&t, &p, FLAME_EXIT);
    assert_true(t.root.value == 4500);
    assert_true(t.root.blocks == 9);
    const struct flame_node *main_box = child(&t.root, "main");
    assert_int_equal(t.root.nchildren, 1);
    assert_true(main_box->value == 4500);
    const struct flame_node *handler = child(main_box, "handler");
    assert_true(handler->value == 4000);
    /* Largest first. */
    assert_string_equal(handler->children[0].name, "leak_b");
    assert_true(handler->children[0].value == 3000);
    const struct flame_node *put = child(child(main_box, "cache_fill"), "cache_put");
    assert_true(put->inlined);
    assert_int_equal(t.depth, 3);
    check_sums(&t.root);
    flame_tree_free(&t);
    /* Growth counts only the sites that grew. */
    p.stacks[0].growth_bytes_per_s = 250, p.stacks[1].growth_bytes_per_s = -100;
    flame_tree_build(&t, &p, FLAME_GROWTH);
    assert_true(t.root.value == 250);
    assert_true(t.root.blocks < 0);
    flame_tree_free(&t);
    fake_profile_free(&p);
}

static void one_tower_per_class(void **state)
{
    (void)state;
    struct site_profile p;
    fake_profile_init(&p);
    p.has_reach = true;
    struct profile_stack *s = fake_stack(&p, "leaky|main");
    s->exit_bytes = 700;
    s->reach.bytes[REACH_DEFINITELY_LOST] = 600, s->reach.blocks[REACH_DEFINITELY_LOST] = 6;
    s->reach.bytes[REACH_STILL_REACHABLE] = 100, s->reach.blocks[REACH_STILL_REACHABLE] = 1;
    struct flame_tree t;
    flame_tree_build(&t, &p, FLAME_EXIT);
    assert_true(t.root.value == 700);
    const struct flame_node *lost = child(&t.root, "definitely lost");
    assert_int_equal(lost->reach_class, REACH_DEFINITELY_LOST);
    assert_true(lost->value == 600 && lost->blocks == 6);
    assert_true(child(child(lost, "main"), "leaky")->value == 600);
    assert_true(child(&t.root, "still reachable")->value == 100);
    flame_tree_free(&t);
    fake_profile_free(&p);
}

static void tiny_frames_merged(void **state)
{
    (void)state;
    struct site_profile p;
    fake_profile_init(&p);
    fake_stack(&p, "big|main")->peak_bytes = 1000000;
    char name[64];
    for (int i = 0; i < 5000; i++) { /* 5000 sites of 10 bytes, each under 0.2% */
        snprintf(name, sizeof(name), "tiny_%d|caller_%d|main", i, i);
        fake_stack(&p, name)->peak_bytes = 10;
    }
    struct flame_tree t;
    flame_tree_build(&t, &p, FLAME_PEAK);
    assert_true(t.nodes > 10000);
    flame_tree_prune(&t, 0.002);
    assert_true(t.root.value == 1050000);
    const struct flame_node *main_box = child(&t.root, "main");
    assert_int_equal(main_box->nchildren, 2); /* big, and one box for the 5000 others */
    const struct flame_node *merged = &main_box->children[1];
    assert_true(merged->merged);
    assert_true(merged->value == 50000);
    assert_int_equal(merged->nchildren, 0);
    assert_string_equal(merged->name, "5000 smaller frames");
    assert_true(t.nodes <= 5);
    check_sums(&t.root);
    flame_tree_free(&t);
    /* Drawn: bounded, and the total kept. */
    char *svg = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&svg, &len);
    struct flame_svg_options o = {.id = "fg", .title = "many", .standalone = true};
    size_t boxes = flame_write_svg(f, &p, FLAME_PEAK, &o);
    fclose(f);
    assert_true(boxes <= 5);
    assert_true(len < 20000);
    assert_non_null(strstr(svg, "data-v=\"1050000\""));
    free(svg);
    fake_profile_free(&p);
}

/* Every box's title holds its exact bytes (what a hover shows). */
static void titles_hold_bytes(const char *svg)
{
    size_t boxes = 0;
    for (const char *g = strstr(svg, "<g class=\"fg-f\""); g;
         g = strstr(g + 1, "<g class=\"fg-f\"")) {
        const char *v = strstr(g, "data-v=\"");
        assert_non_null(v);
        long long value = strtoll(v + 8, NULL, 10);
        const char *title = strstr(g, "<title>"), *end = strstr(g, "</title>");
        assert_true(title && end && title < end);
        char want[64];
        snprintf(want, sizeof(want), "\n%lld bytes", value);
        char *text = strndup(title, (size_t)(end - title));
        if (!strstr(text, want))
            fail_msg("title %s lacks %s", text, want + 1);
        free(text);
        boxes++;
    }
    assert_true(boxes > 0);
}

static void svg_escapes_names(void **state)
{
    (void)state;
    struct site_profile p;
    fake_profile_init(&p);
    p.sampled = true;
    p.sample_bytes = 524288;
    fake_stack(&p, "<script>alert(1)</script>|a&b \"q\"|bad\xff"
                   "byte|main")
        ->exit_bytes = 4096;
    fake_stack(&p, "other|main")->exit_bytes = 1024;
    char *svg = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&svg, &len);
    struct flame_svg_options o = {.id = "fg-1-exit", .title = "t<i>tle", .standalone = false};
    flame_write_svg(f, &p, FLAME_EXIT, &o);
    fclose(f);
    assert_null(strstr(svg, "<script>alert"));
    assert_null(strstr(svg, "<script")); /* inline: the page carries the script */
    assert_null(strstr(svg, "<?xml"));
    assert_non_null(strstr(svg, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(svg, "a&amp;b &quot;q&quot;"));
    assert_non_null(strstr(svg, "bad&#xfffd;byte"));
    assert_null(strstr(svg, "\xff"));
    assert_non_null(strstr(svg, "t&lt;i&gt;tle"));
    assert_non_null(strstr(svg, "widths are estimates"));
    assert_non_null(strstr(svg, "id=\"fg-1-exit\""));
    titles_hold_bytes(svg);
    free(svg);
    /* A file of its own: the XML prolog and the script, in CDATA. */
    f = open_memstream(&svg, &len);
    o.standalone = true;
    flame_write_svg(f, &p, FLAME_EXIT, &o);
    fclose(f);
    assert_memory_equal(svg, "<?xml", 5);
    assert_non_null(strstr(svg, "<script type=\"text/ecmascript\"><![CDATA["));
    assert_null(strstr(flame_script, "]]>"));
    assert_null(strstr(flame_script, "</script"));
    free(svg);
    fake_profile_free(&p);
}

static void nothing_to_draw(void **state)
{
    (void)state;
    struct site_profile p;
    fake_profile_init(&p);
    fake_stack(&p, "freed|main");
    assert_false(flame_has_data(&p, FLAME_EXIT));
    assert_false(flame_has_data(&p, FLAME_GROWTH));
    char *svg = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&svg, &len);
    struct flame_svg_options o = {.id = "fg", .title = "empty", .standalone = true};
    assert_int_equal(flame_write_svg(f, &p, FLAME_EXIT, &o), 0);
    fclose(f);
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);
    fake_profile_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tree_of_known_stacks), cmocka_unit_test(one_tower_per_class),
        cmocka_unit_test(tiny_frames_merged),   cmocka_unit_test(svg_escapes_names),
        cmocka_unit_test(nothing_to_draw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
