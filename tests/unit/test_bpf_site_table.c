/* Unit tests of allocuprobe's user-side tables (sites, live sampled blocks, estimates) and
 * of the kernel.csv join. */
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

#include "harness/kernel_join.h"
#include "probes/bpf/site_table.h"
#include "common/util.h"

static void exact_mode_counts_requested_bytes(void **state)
{
    (void)state;
    struct site_table *t = site_table_new(0);
    bool is_new = false;
    struct site *s = site_table_alloc(t, 7, 0x1000, 0xa0, 100, 5, &is_new);
    assert_non_null(s);
    assert_true(is_new);
    assert_ptr_equal(site_table_alloc(t, 7, 0x1000, 0xb0, 50, 6, &is_new), s);
    assert_false(is_new);
    assert_true(site_table_free_block(t, 0xa0));
    assert_false(site_table_free_block(t, 0xa0)); /* already gone */
    assert_false(site_table_free_block(t, 0xc0)); /* never sampled */
    assert_int_equal((int)s->alloc_calls, 2);
    assert_int_equal((int)s->alloc_bytes, 150);
    assert_int_equal((int)s->free_calls, 1);
    assert_int_equal((int)s->free_bytes, 100);
    assert_int_equal(site_table_live_count(t), 1);
    site_table_free(t);
}

static void same_stack_other_caller_is_another_site(void **state)
{
    (void)state;
    struct site_table *t = site_table_new(0);
    bool is_new;
    struct site *a = site_table_alloc(t, 3, 0x1000, 0x10, 8, 0, &is_new);
    struct site *b = site_table_alloc(t, 3, 0x2000, 0x20, 8, 0, &is_new);
    assert_true(is_new);
    assert_int_not_equal(a->id, b->id);
    assert_int_equal(site_table_count(t), 2);
    site_table_free(t);
}

static void sampled_weights_are_unbiased(void **state)
{
    (void)state;
    struct site_table *t = site_table_new(1000);
    double calls, bytes;
    site_table_weight(t, 1000, &calls, &bytes);
    assert_true(fabs(bytes - 1000.0 / (1.0 - exp(-1.0))) < 1e-6);
    assert_true(fabs(calls * 1000.0 - bytes) < 1e-6);
    site_table_weight(t, 1000000, &calls, &bytes); /* huge blocks are always sampled */
    assert_true(fabs(calls - 1.0) < 1e-9);
    site_table_free(t);
}

/* Many blocks with colliding probe chains: every one is found and freed exactly once. */
static void live_table_survives_growth_and_deletion(void **state)
{
    (void)state;
    struct site_table *t = site_table_new(0);
    bool is_new;
    const int n = 50000;
    for (int i = 1; i <= n; i++)
        assert_non_null(site_table_alloc(t, i % 17, 0x400000, (uint64_t)i * 16, 16, 0, &is_new));
    assert_int_equal(site_table_live_count(t), n);
    for (int i = 1; i <= n; i += 2)
        assert_true(site_table_free_block(t, (uint64_t)i * 16));
    for (int i = 2; i <= n; i += 2)
        assert_true(site_table_free_block(t, (uint64_t)i * 16));
    assert_int_equal(site_table_live_count(t), 0);
    assert_int_equal(site_table_count(t), 17);
    site_table_free(t);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void join_sums_counts_and_keeps_levels(void **state)
{
    (void)state;
    char dir[] = "/tmp/allocscope-kjoin.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *samples = util_format("%s/samples.csv", dir), *kernel = util_format("%s/kernel.csv", dir);
    write_text(samples, "t_ms,rss_bytes\n100,1\n200,2\n300,3\n");
    write_text(kernel, "t_ms,kernel_rss_bytes,faults\n50,10,1\n150,20,2\n180,30,4\n350,40,8\n"
                       "360,4"); /* truncated last line */
    assert_int_equal(kernel_join_samples(samples, kernel), 0);
    size_t len;
    char *joined = util_read_file(samples, &len);
    assert_string_equal(joined, "t_ms,rss_bytes,kernel_rss_bytes,faults\n"
                                "100,1,10,1\n"
                                "200,2,30,6\n"
                                "300,3,30,0\n");
    free(joined);
    unlink(samples);
    unlink(kernel);
    rmdir(dir);
    free(samples);
    free(kernel);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_mode_counts_requested_bytes),
        cmocka_unit_test(same_stack_other_caller_is_another_site),
        cmocka_unit_test(sampled_weights_are_unbiased),
        cmocka_unit_test(live_table_survives_growth_and_deletion),
        cmocka_unit_test(join_sums_counts_and_keeps_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
