#include "site_table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct site_table {
    uint64_t sample_bytes;
    struct site *sites;
    size_t nsites, sites_capacity;
    uint32_t *site_slots; /* open addressing: site index + 1, 0 empty */
    size_t site_slots_capacity;
    struct live_block *blocks; /* open addressing on addr, backward-shift deletion */
    size_t blocks_capacity, nblocks;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static uint64_t site_hash(int stack_id, uint64_t ret_addr)
{
    return mix(ret_addr ^ mix((uint64_t)(uint32_t)stack_id + 1));
}

struct site_table *site_table_new(uint64_t sample_bytes)
{
    struct site_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->sample_bytes = sample_bytes;
    t->site_slots_capacity = 1024;
    t->site_slots = calloc(t->site_slots_capacity, sizeof(*t->site_slots));
    t->blocks_capacity = 4096;
    t->blocks = calloc(t->blocks_capacity, sizeof(*t->blocks));
    if (!t->site_slots || !t->blocks) {
        site_table_free(t);
        return NULL;
    }
    return t;
}

void site_table_free(struct site_table *t)
{
    if (!t)
        return;
    free(t->sites);
    free(t->site_slots);
    free(t->blocks);
    free(t);
}

void site_table_weight(const struct site_table *t, uint64_t size, double *calls, double *bytes)
{
    if (!t->sample_bytes) {
        *calls = 1;
        *bytes = (double)size;
        return;
    }
    double s = size ? (double)size : 1.0;
    double probability = -expm1(-s / (double)t->sample_bytes);
    *calls = 1.0 / probability;
    *bytes = (double)size / probability;
}

static bool grow_site_slots(struct site_table *t)
{
    size_t capacity = t->site_slots_capacity * 2;
    uint32_t *slots = calloc(capacity, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i < t->nsites; i++) {
        size_t slot = site_hash(t->sites[i].stack_id, t->sites[i].ret_addr) & (capacity - 1);
        while (slots[slot])
            slot = (slot + 1) & (capacity - 1);
        slots[slot] = (uint32_t)i + 1;
    }
    free(t->site_slots);
    t->site_slots = slots;
    t->site_slots_capacity = capacity;
    return true;
}

static struct site *find_or_add_site(struct site_table *t, int stack_id, uint64_t ret_addr,
                                     bool *is_new)
{
    *is_new = false;
    size_t mask = t->site_slots_capacity - 1;
    size_t slot = site_hash(stack_id, ret_addr) & mask;
    for (; t->site_slots[slot]; slot = (slot + 1) & mask) {
        struct site *s = &t->sites[t->site_slots[slot] - 1];
        if (s->stack_id == stack_id && s->ret_addr == ret_addr)
            return s;
    }
    if (t->nsites == t->sites_capacity) {
        size_t capacity = t->sites_capacity ? t->sites_capacity * 2 : 256;
        struct site *sites = realloc(t->sites, capacity * sizeof(*sites));
        if (!sites)
            return NULL;
        t->sites = sites;
        t->sites_capacity = capacity;
    }
    struct site *s = &t->sites[t->nsites];
    *s = (struct site){.id = (int)t->nsites + 1, .stack_id = stack_id, .ret_addr = ret_addr};
    t->site_slots[slot] = (uint32_t)++t->nsites;
    *is_new = true;
    if (t->nsites * 2 > t->site_slots_capacity && !grow_site_slots(t))
        return NULL;
    return &t->sites[t->nsites - 1];
}

static bool insert_block(struct live_block *blocks, size_t capacity, const struct live_block *b)
{
    size_t mask = capacity - 1;
    size_t slot = mix(b->addr) & mask;
    while (blocks[slot].addr && blocks[slot].addr != b->addr)
        slot = (slot + 1) & mask;
    bool added = !blocks[slot].addr;
    blocks[slot] = *b;
    return added;
}

static bool grow_blocks(struct site_table *t)
{
    size_t capacity = t->blocks_capacity * 2;
    struct live_block *blocks = calloc(capacity, sizeof(*blocks));
    if (!blocks)
        return false;
    for (size_t i = 0; i < t->blocks_capacity; i++)
        if (t->blocks[i].addr)
            insert_block(blocks, capacity, &t->blocks[i]);
    free(t->blocks);
    t->blocks = blocks;
    t->blocks_capacity = capacity;
    return true;
}

struct site *site_table_alloc(struct site_table *t, int stack_id, uint64_t ret_addr, uint64_t addr,
                              uint64_t size, uint64_t born_ns, bool *is_new)
{
    struct site *s = find_or_add_site(t, stack_id, ret_addr, is_new);
    if (!s)
        return NULL;
    /* A block reported twice without a free in between (a lost free event): the
     * older record is stale and counts as freed. */
    site_table_free_block(t, addr);
    if ((t->nblocks + 1) * 2 > t->blocks_capacity && !grow_blocks(t))
        return NULL;
    struct live_block block = {
        .addr = addr, .site = (uint32_t)(s - t->sites), .size = size, .born_ns = born_ns};
    if (insert_block(t->blocks, t->blocks_capacity, &block))
        t->nblocks++;
    double calls, bytes;
    site_table_weight(t, size, &calls, &bytes);
    s->alloc_calls += calls;
    s->alloc_bytes += bytes;
    s->changed = true;
    return s;
}

bool site_table_free_block(struct site_table *t, uint64_t addr)
{
    size_t mask = t->blocks_capacity - 1;
    size_t slot = mix(addr) & mask;
    while (t->blocks[slot].addr && t->blocks[slot].addr != addr)
        slot = (slot + 1) & mask;
    if (!t->blocks[slot].addr)
        return false;
    struct live_block gone = t->blocks[slot];
    /* Backward-shift deletion keeps every probe chain unbroken. */
    size_t hole = slot;
    for (size_t next = (hole + 1) & mask; t->blocks[next].addr; next = (next + 1) & mask) {
        size_t home = mix(t->blocks[next].addr) & mask;
        bool movable = hole <= next ? (home <= hole || home > next) : (home <= hole && home > next);
        if (movable) {
            t->blocks[hole] = t->blocks[next];
            hole = next;
        }
    }
    t->blocks[hole].addr = 0;
    t->nblocks--;
    struct site *s = &t->sites[gone.site];
    double calls, bytes;
    site_table_weight(t, gone.size, &calls, &bytes);
    s->free_calls += calls;
    s->free_bytes += bytes;
    s->changed = true;
    return true;
}

size_t site_table_count(const struct site_table *t)
{
    return t->nsites;
}

struct site *site_table_site(struct site_table *t, size_t index)
{
    return index < t->nsites ? &t->sites[index] : NULL;
}

void site_table_each_live(const struct site_table *t,
                          void (*fn)(const struct live_block *block, void *arg), void *arg)
{
    for (size_t i = 0; i < t->blocks_capacity; i++)
        if (t->blocks[i].addr)
            fn(&t->blocks[i], arg);
}

size_t site_table_live_count(const struct site_table *t)
{
    return t->nblocks;
}
