/* The live blocks being tracked (every block in exact mode, the sampled ones otherwise),
 * keyed by address: shards of open-addressing tables with linear probing and backward-shift
 * deletion, each behind its own lock, grown by rehashing into a larger mmap.
 * In sampled mode few blocks are tracked but every free must ask; a counting filter (one
 * 16-bit counter per address hash) answers "certainly not tracked" without a lock. */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define SHARDS 64
#define INITIAL_CAPACITY 64

struct shard {
    int held;                      /* the shard's lock (spin_yield_lock) */
    struct tracked_block *entries; /* ptr == 0: empty */
    size_t capacity;
    size_t count;
} __attribute__((aligned(64)));

static struct shard shards[SHARDS];
uint16_t *ptrtable_filter; /* NULL in exact mode */
#define filter ptrtable_filter
#define mix ptrtable_hash

static void *map_zeroed(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int ptrtable_init(bool exact)
{
    for (unsigned i = 0; i < SHARDS; i++) {
        shards[i].held = 0;
        shards[i].capacity = INITIAL_CAPACITY;
        shards[i].entries = map_zeroed(INITIAL_CAPACITY * sizeof(struct tracked_block));
        if (!shards[i].entries)
            return -1;
    }
    if (!exact) {
        filter = map_zeroed(FILTER_SIZE * sizeof(uint16_t));
        if (!filter)
            return -1;
    }
    return 0;
}

static void place(struct shard *s, const struct tracked_block *block, uint64_t h)
{
    size_t mask = s->capacity - 1;
    size_t i = (size_t)(h >> 6) & mask;
    while (s->entries[i].ptr && s->entries[i].ptr != block->ptr)
        i = (i + 1) & mask;
    if (!s->entries[i].ptr)
        s->count++;
    s->entries[i] = *block;
}

static bool grow(struct shard *s)
{
    size_t capacity = s->capacity * 2;
    struct tracked_block *old = s->entries, *bigger;
    bigger = map_zeroed(capacity * sizeof(*bigger));
    if (!bigger)
        return false;
    size_t old_capacity = s->capacity;
    s->entries = bigger;
    s->capacity = capacity;
    s->count = 0;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i].ptr)
            place(s, &old[i], mix(old[i].ptr));
    munmap(old, old_capacity * sizeof(*old));
    return true;
}

void ptrtable_insert(const struct tracked_block *block)
{
    uint64_t h = mix(block->ptr);
    struct shard *s = &shards[h & (SHARDS - 1)];
    spin_yield_lock(&s->held);
    if ((s->count + 1) * 10 > s->capacity * 7 && !grow(s)) {
        spin_yield_unlock(&s->held);
        return; /* out of memory for the table: the block stays untracked */
    }
    place(s, block, h);
    if (filter)
        __atomic_fetch_add(&filter[ptrtable_filter_slot(block->ptr)], 1, __ATOMIC_RELAXED);
    spin_yield_unlock(&s->held);
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void delete_at(struct shard *s, size_t hole)
{
    size_t mask = s->capacity - 1;
    for (size_t i = (hole + 1) & mask; s->entries[i].ptr; i = (i + 1) & mask) {
        size_t home = (size_t)(mix(s->entries[i].ptr) >> 6) & mask;
        /* Move entry i into the hole if its home is not in (hole, i]. */
        bool between = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!between) {
            s->entries[hole] = s->entries[i];
            hole = i;
        }
    }
    s->entries[hole].ptr = 0;
    s->count--;
}

bool ptrtable_remove(uintptr_t ptr, struct tracked_block *out)
{
    uint64_t h = mix(ptr);
    uint16_t *counter = filter ? &filter[ptrtable_filter_slot(ptr)] : NULL;
    struct shard *s = &shards[h & (SHARDS - 1)];
    bool found = false;
    spin_yield_lock(&s->held);
    size_t mask = s->capacity - 1;
    for (size_t i = (size_t)(h >> 6) & mask; s->entries[i].ptr; i = (i + 1) & mask) {
        if (s->entries[i].ptr == ptr) {
            *out = s->entries[i];
            delete_at(s, i);
            found = true;
            if (counter)
                __atomic_fetch_sub(counter, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    spin_yield_unlock(&s->held);
    return found;
}

void ptrtable_lock_for_fork(void)
{
    for (unsigned i = 0; i < SHARDS; i++)
        spin_yield_lock(&shards[i].held);
}

void ptrtable_unlock_after_fork(void)
{
    for (unsigned i = 0; i < SHARDS; i++)
        spin_yield_unlock(&shards[i].held);
}

void ptrtable_visit(void (*visit)(const struct tracked_block *block, void *arg), void *arg)
{
    for (unsigned i = 0; i < SHARDS; i++)
        for (size_t j = 0; j < shards[i].capacity; j++)
            if (shards[i].entries[j].ptr)
                visit(&shards[i].entries[j], arg);
}

size_t ptrtable_size(void)
{
    size_t n = 0;
    for (unsigned i = 0; i < SHARDS; i++)
        n += shards[i].count;
    return n;
}
