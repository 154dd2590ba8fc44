/* Exact mode's live-block tables: the shadow of small blocks (shadow.c) with the hash tables
 * behind it (ptrtable.c), exercised directly under ASan/UBSan. The addresses are made up: the
 * tables only keep numbers. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probes/shim/internal.h"

static int setup_exact(void **state)
{
    (void)state;
    static bool ready;
    if (!ready) {
        assert_int_equal(ptrtable_init(true), 0);
        ready = true;
    }
    return 0;
}

static struct tracked_block block_at(uintptr_t ptr, uint32_t site_id, uint64_t size)
{
    return (struct tracked_block){.ptr = ptr, .site_id = site_id, .size = size};
}

static void assert_removed(uintptr_t ptr, size_t usable, uint32_t site_id, uint64_t size)
{
    struct tracked_block out;
    assert_true(ptrtable_remove(ptr, usable, &out));
    assert_int_equal(out.ptr, ptr);
    assert_int_equal(out.site_id, site_id);
    assert_int_equal(out.size, size);
}

/* Which blocks the shadow keeps: small, 16-aligned, low addresses; the rest are still kept,
 * by the hash tables, and every one comes back with its site and size. */
static void test_shadow_keeps_only_small_aligned_blocks(void **state)
{
    (void)state;
    struct {
        uintptr_t ptr;
        size_t usable;
        uint64_t size;
        bool in_shadow;
    } cases[] = {
        {0x20000010, 16, 13, true},          {0x20003000, 1024, 1024, true},
        {0x20000408, 24, 20, false},         /* 8-aligned */
        {0x20001000, 1040, 1030, false},     /* large */
        {0x20002000, 64, 0, true},           /* malloc(0) is a block too */
        {(uintptr_t)1 << 47, 32, 32, false}, /* above the shadowed range */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t before = shadow_count();
        struct tracked_block b = block_at(cases[i].ptr, (uint32_t)i + 1, cases[i].size);
        ptrtable_insert(&b, cases[i].usable);
        assert_int_equal(shadow_count() - before, cases[i].in_shadow);
        assert_int_equal(shadow_covers(cases[i].ptr, cases[i].usable), cases[i].in_shadow);
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_removed(cases[i].ptr, cases[i].usable, (uint32_t)i + 1, cases[i].size);
    struct tracked_block out;
    assert_false(ptrtable_remove(0x20000010, 16, &out)); /* gone once removed */
    assert_false(ptrtable_remove(0x30000000, 48, &out)); /* never there, no leaf */
}

/* Random inserts and removes of blocks of mixed sizes and alignments, in two leaves,
 * against a plain array model; then a visit sees exactly the live ones. */
enum { MODEL_SLOTS = 30000 };
static bool live[MODEL_SLOTS];
static bool visited[MODEL_SLOTS];

static uintptr_t model_ptr(int k)
{
    uintptr_t region = k % 2 ? 0x40000000 : 0x44000000; /* 64 MiB apart: two leaves */
    return region + (uintptr_t)k * 48 + (k % 5 == 0 ? 8 : 0);
}

static size_t model_usable(int k)
{
    return k % 7 == 0 ? 4000 : 48;
}

static void mark_visited(const struct tracked_block *b, void *arg)
{
    (void)arg;
    uintptr_t region = b->ptr >= 0x44000000 ? 0x44000000 : 0x40000000;
    int k = (int)((b->ptr - region) / 48);
    if (k >= MODEL_SLOTS || model_ptr(k) != b->ptr)
        fail_msg("visited a block never inserted: %#lx", (unsigned long)b->ptr);
    assert_true(live[k]);
    assert_false(visited[k]);
    assert_int_equal(b->site_id, (uint32_t)k);
    visited[k] = true;
}

static void test_exact_tables_match_model(void **state)
{
    (void)state;
    srand(11);
    for (int op = 0; op < 400000; op++) {
        int k = rand() % MODEL_SLOTS;
        if (!live[k]) {
            struct tracked_block b = block_at(model_ptr(k), (uint32_t)k, (uint64_t)k % 40);
            ptrtable_insert(&b, model_usable(k));
        } else {
            assert_removed(model_ptr(k), model_usable(k), (uint32_t)k, (uint64_t)k % 40);
        }
        live[k] = !live[k];
    }
    size_t nlive = 0;
    for (int k = 0; k < MODEL_SLOTS; k++)
        nlive += live[k];
    assert_int_equal(ptrtable_size(), nlive);
    ptrtable_visit(mark_visited, NULL);
    assert_memory_equal(visited, live, sizeof(live));
    for (int k = 0; k < MODEL_SLOTS; k++) {
        struct tracked_block out;
        assert_int_equal(ptrtable_remove(model_ptr(k), model_usable(k), &out), live[k]);
    }
    assert_int_equal(ptrtable_size(), 0);
}

/* Blocks made by one thread and freed by another, four pairs at once, all starting in one
 * leaf nobody has mapped yet: every block is found once by the thread that frees it. */
enum { PAIRS = 4, PER_PAIR = 20000 };
struct pair {
    uintptr_t base;
    uintptr_t handed[PER_PAIR]; /* written by the maker, read by the freer */
    unsigned made;              /* published with release */
    unsigned found;
};

static void *make_blocks(void *arg)
{
    struct pair *p = arg;
    for (unsigned i = 0; i < PER_PAIR; i++) {
        uintptr_t ptr = p->base + (uintptr_t)i * 32;
        struct tracked_block b = block_at(ptr, i % 1000 + 1, 32);
        ptrtable_insert(&b, 32);
        p->handed[i] = ptr;
        __atomic_store_n(&p->made, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *free_blocks(void *arg)
{
    struct pair *p = arg;
    for (unsigned i = 0; i < PER_PAIR; i++) {
        while (__atomic_load_n(&p->made, __ATOMIC_ACQUIRE) <= i)
            sched_yield();
        struct tracked_block out;
        if (ptrtable_remove(p->handed[i], 32, &out) && out.site_id == i % 1000 + 1)
            p->found++;
    }
    return NULL;
}

static void test_blocks_freed_by_another_thread(void **state)
{
    (void)state;
    static struct pair pairs[PAIRS];
    pthread_t makers[PAIRS], freers[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        pairs[i].base = 0x7f0000000000 + (uintptr_t)i * PER_PAIR * 32;
        pthread_create(&makers[i], NULL, make_blocks, &pairs[i]);
        pthread_create(&freers[i], NULL, free_blocks, &pairs[i]);
    }
    for (int i = 0; i < PAIRS; i++) {
        pthread_join(makers[i], NULL);
        pthread_join(freers[i], NULL);
        assert_int_equal(pairs[i].found, PER_PAIR);
    }
    assert_int_equal(shadow_count(), 0);
}

/* A block freed by a thread other than the one that filled its region is held back (the
 * program's free returns, the allocator does not get it yet): left out of a visit, then
 * handed over with its site and size when the list is flushed. */
enum { REMOTE = 40 };
static uintptr_t remote_base = 0x50000000;
static unsigned flushed_found, flushed_unknown;

static void count_flushed(uintptr_t ptr, const struct tracked_block *found, bool temporary)
{
    (void)temporary;
    if (found && found->ptr == ptr && found->site_id == 77 && found->size == 24)
        flushed_found++;
    else
        flushed_unknown++;
}

static void *insert_remote_blocks(void *arg)
{
    (void)arg;
    for (uintptr_t i = 0; i < REMOTE; i++) {
        struct tracked_block b = block_at(remote_base + i * 32, 77, 24);
        ptrtable_insert(&b, 32);
    }
    return NULL;
}

static void count_visible(const struct tracked_block *b, void *arg)
{
    if (b->ptr >= remote_base && b->ptr < remote_base + REMOTE * 32)
        (*(unsigned *)arg)++;
}

static void test_remote_frees_held_then_handed_over(void **state)
{
    (void)state;
    ptrtable_on_flush(count_flushed);
    pthread_t maker;
    pthread_create(&maker, NULL, insert_remote_blocks, NULL);
    pthread_join(maker, NULL);
    struct tracked_block first = block_at(0x60000000, 5, 8); /* this thread gets a table */
    ptrtable_insert(&first, 16);
    unsigned held = 0;
    for (uintptr_t i = 0; i < REMOTE / 2; i++) {
        struct tracked_block out;
        held += ptrtable_free(remote_base + i * 32, 32, false, &out) == PTRTABLE_HELD;
    }
    assert_int_equal(held, REMOTE / 2);
    unsigned visible = 0;
    ptrtable_visit(count_visible, &visible);
    assert_int_equal(visible, REMOTE / 2); /* the held half is freed as far as the program knows */
    assert_int_equal(flushed_found + flushed_unknown, 0);
    ptrtable_flush_all();
    assert_int_equal(flushed_found, REMOTE / 2);
    assert_int_equal(flushed_unknown, 0);
    visible = 0;
    ptrtable_visit(count_visible, &visible); /* the rest, still live */
    assert_int_equal(visible, REMOTE / 2);
    for (uintptr_t i = REMOTE / 2; i < REMOTE; i++)
        assert_removed(remote_base + i * 32, 32, 77, 24);
    assert_removed(0x60000000, 16, 5, 8);
}

/* A thread's free of a small block of its own region is done one free late: the block is
 * held (left out of a visit) until the thread's next such free hands it over with its site
 * and size; a flush hands over the last one; a block freed twice in a row goes to the
 * allocator at once the second time (after the deferred one); a temporary block (the thread's
 * latest allocation) is removed at once. */
enum { OWN = 4 };
static const uintptr_t own_base = 0x61000000;
static struct {
    uintptr_t ptr;
    uint32_t site_id;
    uint64_t size;
} handed[8];
static unsigned nhanded;

static void record_handed(uintptr_t ptr, const struct tracked_block *found, bool temporary)
{
    assert_non_null(found);
    assert_false(temporary);
    assert_true(nhanded < 8);
    handed[nhanded].ptr = ptr;
    handed[nhanded].site_id = found->site_id;
    handed[nhanded++].size = found->size;
}

static void count_own_visible(const struct tracked_block *b, void *arg)
{
    if (b->ptr >= own_base && b->ptr < own_base + OWN * 64)
        (*(unsigned *)arg)++;
}

static unsigned own_visible(void)
{
    unsigned visible = 0;
    ptrtable_visit(count_own_visible, &visible);
    return visible;
}

static void assert_handed(unsigned i, unsigned block)
{
    assert_int_equal(handed[i].ptr, own_base + block * 64);
    assert_int_equal(handed[i].site_id, 90 + block);
    assert_int_equal(handed[i].size, 40);
}

static void test_own_frees_done_one_late(void **state)
{
    (void)state;
    ptrtable_on_flush(record_handed);
    ptrtable_flush_all();
    nhanded = 0;
    size_t before = shadow_count();
    for (uintptr_t i = 0; i < OWN; i++) {
        struct tracked_block b = block_at(own_base + i * 64, 90 + (uint32_t)i, 40);
        ptrtable_insert(&b, 48);
    }
    struct tracked_block out;
    assert_int_equal(ptrtable_free(own_base, 48, true, &out), PTRTABLE_FOUND); /* temporary */
    assert_int_equal(out.site_id, 90);
    /* freed again at once: not deferred, so the allocator sees the double free in this call */
    assert_int_equal(ptrtable_free(own_base, 48, false, &out), PTRTABLE_UNTRACKED);

    assert_int_equal(ptrtable_free(own_base + 64, 48, false, &out), PTRTABLE_HELD);
    assert_int_equal(nhanded, 0);
    assert_int_equal(own_visible(), OWN - 2); /* freed as far as the program knows */

    assert_int_equal(ptrtable_free(own_base + 128, 48, false, &out), PTRTABLE_HELD);
    assert_int_equal(nhanded, 1);
    assert_handed(0, 1);

    assert_int_equal(ptrtable_free(own_base + 128, 48, false, &out), PTRTABLE_UNTRACKED);
    assert_int_equal(nhanded, 2); /* the first free of the two, handed over at once */
    assert_handed(1, 2);

    assert_int_equal(ptrtable_free(own_base + 192, 48, false, &out), PTRTABLE_HELD);
    assert_int_equal(own_visible(), 0);
    ptrtable_flush_all();
    assert_int_equal(nhanded, 3);
    assert_handed(2, 3);
    assert_int_equal(shadow_count(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_shadow_keeps_only_small_aligned_blocks, setup_exact),
        cmocka_unit_test_setup(test_exact_tables_match_model, setup_exact),
        cmocka_unit_test_setup(test_blocks_freed_by_another_thread, setup_exact),
        cmocka_unit_test_setup(test_remote_frees_held_then_handed_over, setup_exact),
        cmocka_unit_test_setup(test_own_frees_done_one_late, setup_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
