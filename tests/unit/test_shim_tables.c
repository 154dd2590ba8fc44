/* The shim's site table and live-block table, exercised directly under ASan/UBSan. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probes/shim/internal.h"

static int setup_tables(void **state)
{
    (void)state;
    static bool ready;
    if (!ready) {
        assert_int_equal(sites_init(), 0);
        assert_int_equal(ptrtable_init(false), 0);
        ready = true;
    }
    return 0;
}

static void test_same_stack_same_site(void **state)
{
    (void)state;
    uintptr_t a[] = {0x1000, 0x2000, 0x3000};
    uintptr_t b[] = {0x1000, 0x2000, 0x3001};
    uint32_t ida = sites_intern(a, 3);
    assert_true(ida > 0);
    assert_int_equal(sites_intern(a, 3), ida);
    assert_int_not_equal(sites_intern(b, 3), ida);
    assert_int_not_equal(sites_intern(a, 2), ida); /* a prefix is another site */
    const struct site *site = sites_get(ida);
    assert_int_equal(site->depth, 3);
    assert_memory_equal(sites_stack(site), a, sizeof(a));
}

static void test_many_sites_keep_their_ids(void **state)
{
    (void)state;
    enum { N = 50000 };
    static uint32_t ids[N];
    for (uintptr_t i = 0; i < N; i++) {
        uintptr_t pcs[2] = {0x400000 + i * 16, 0x7000};
        ids[i] = sites_intern(pcs, 2);
        assert_true(ids[i] > 0);
    }
    for (uintptr_t i = 0; i < N; i++) {
        uintptr_t pcs[2] = {0x400000 + i * 16, 0x7000};
        assert_int_equal(sites_intern(pcs, 2), ids[i]);
    }
}

struct intern_job {
    uint32_t ids[2000];
};

static void *intern_concurrently(void *arg)
{
    struct intern_job *job = arg;
    for (uintptr_t i = 0; i < 2000; i++) {
        uintptr_t pcs[3] = {0x900000 + i, 0x1, 0x2};
        job->ids[i] = sites_intern(pcs, 3);
    }
    return NULL;
}

static void test_concurrent_interning_agrees(void **state)
{
    (void)state;
    pthread_t t[4];
    static struct intern_job jobs[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, intern_concurrently, &jobs[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 1; i < 4; i++)
        assert_memory_equal(jobs[i].ids, jobs[0].ids, sizeof(jobs[0].ids));
}

/* Random inserts and removes against a plain array model. */
static void test_ptrtable_matches_model(void **state)
{
    (void)state;
    enum { SLOTS = 20000, OPS = 300000 };
    static bool live[SLOTS];
    srand(7);
    for (int op = 0; op < OPS; op++) {
        int k = rand() % SLOTS;
        uintptr_t ptr = 0x10000000 + (uintptr_t)k * 48;
        if (!live[k]) {
            struct tracked_block b = {.ptr = ptr, .site_id = (uint32_t)k, .size = (uint64_t)k * 3};
            ptrtable_insert(&b, 48);
            live[k] = true;
        } else {
            struct tracked_block out;
            assert_true(ptrtable_remove(ptr, 48, &out));
            assert_int_equal(out.site_id, (uint32_t)k);
            assert_int_equal(out.size, (uint64_t)k * 3);
            live[k] = false;
        }
    }
    for (int k = 0; k < SLOTS; k++) {
        struct tracked_block out;
        assert_int_equal(ptrtable_remove(0x10000000 + (uintptr_t)k * 48, 48, &out), live[k]);
    }
}

static void test_ptrtable_unknown_pointer(void **state)
{
    (void)state;
    struct tracked_block out;
    assert_false(ptrtable_remove(0xdeadbee0, 48, &out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_same_stack_same_site, setup_tables),
        cmocka_unit_test_setup(test_many_sites_keep_their_ids, setup_tables),
        cmocka_unit_test_setup(test_concurrent_interning_agrees, setup_tables),
        cmocka_unit_test_setup(test_ptrtable_matches_model, setup_tables),
        cmocka_unit_test_setup(test_ptrtable_unknown_pointer, setup_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
