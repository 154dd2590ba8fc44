/* The table of allocation sites: one entry per distinct stack. Lookups of known sites are
 * lock-free (open addressing over published slots); inserting a new site takes a mutex.
 * Memory comes from mmap (never from malloc) and is reserved up front, touched as used.
 * Site 0 is the overflow site that takes everything once the table is full. */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define MAX_SITES (1u << MAX_SITES_BITS)
#define SLOTS (MAX_SITES * 2)
#define STACK_WORDS (MAX_SITES * 24u) /* average depth budget; full table warns */

struct slot {
    uint64_t hash;
    uint32_t site_id; /* 0: empty */
};

static struct slot *slots;
static struct site *site_array;
static uintptr_t *stack_arena;
static uint32_t stack_used;
static uint32_t nsites = 1; /* 0 is the overflow site */
static pthread_mutex_t insert_lock = PTHREAD_MUTEX_INITIALIZER;

static void *reserve(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int sites_init(void)
{
    slots = reserve(sizeof(struct slot) * SLOTS);
    site_array = reserve(sizeof(struct site) * MAX_SITES);
    stack_arena = reserve(sizeof(uintptr_t) * STACK_WORDS);
    return slots && site_array && stack_arena ? 0 : -1;
}

static uint64_t hash_stack(const uintptr_t *pcs, unsigned depth)
{
    uint64_t h = 0xcbf29ce484222325ull ^ depth;
    for (unsigned i = 0; i < depth; i++) {
        h ^= pcs[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h ? h : 1;
}

static bool same_stack(const struct site *site, const uintptr_t *pcs, unsigned depth)
{
    return site->depth == depth &&
           !memcmp(stack_arena + site->stack_offset, pcs, depth * sizeof(uintptr_t));
}

/* Returns the site id, or 0 after probing up to the first empty slot (*empty set). */
static uint32_t probe(uint64_t h, const uintptr_t *pcs, unsigned depth, uint32_t *empty)
{
    for (uint32_t i = (uint32_t)h & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1)) {
        uint32_t id = __atomic_load_n(&slots[i].site_id, __ATOMIC_ACQUIRE);
        if (id == 0) {
            *empty = i;
            return 0;
        }
        if (slots[i].hash == h && same_stack(&site_array[id], pcs, depth))
            return id;
    }
}

static uint32_t insert(uint64_t h, const uintptr_t *pcs, unsigned depth)
{
    uint32_t empty, id;
    pthread_mutex_lock(&insert_lock);
    id = probe(h, pcs, depth, &empty);
    if (id == 0 && nsites < MAX_SITES && stack_used + depth <= STACK_WORDS) {
        id = nsites;
        struct site *site = &site_array[id];
        site->stack_offset = stack_used;
        site->depth = (uint16_t)depth;
        memcpy(stack_arena + stack_used, pcs, depth * sizeof(uintptr_t));
        stack_used += depth;
        slots[empty].hash = h;
        __atomic_store_n(&slots[empty].site_id, id, __ATOMIC_RELEASE);
        __atomic_store_n(&nsites, id + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&insert_lock);
    return id;
}

/* Each thread's recently seen stacks, direct-mapped by hash: a hit spares the probe of the
 * shared slot table (8 MiB, a cache miss per allocation in a program with many sites) and the
 * site's own line. The stack is still compared, against the site's copy in the arena, which
 * is written once and only read after. */
#define CACHE_SLOTS 256u
struct cached_site {
    uint64_t hash;
    uint32_t site_id; /* 0: empty */
    uint32_t stack_offset;
    uint32_t depth;
};
static __thread struct cached_site site_cache[CACHE_SLOTS] SHIM_TLS;

static bool cached_stack_is(const struct cached_site *c, const uintptr_t *pcs, unsigned depth)
{
    if (c->depth != depth)
        return false;
    const uintptr_t *stored = stack_arena + c->stack_offset;
    for (unsigned i = 0; i < depth; i++)
        if (stored[i] != pcs[i])
            return false;
    return true;
}

uint32_t sites_intern(const uintptr_t *pcs, unsigned depth)
{
    uint64_t h = hash_stack(pcs, depth);
    struct cached_site *c = &site_cache[h & (CACHE_SLOTS - 1)];
    if (likely(c->hash == h && c->site_id != 0 && cached_stack_is(c, pcs, depth)))
        return c->site_id;
    uint32_t empty;
    uint32_t id = probe(h, pcs, depth, &empty);
    if (!id)
        id = insert(h, pcs, depth);
    if (id) /* the overflow site (0) is not cached: its stack is not the caller's */
        *c = (struct cached_site){h, id, site_array[id].stack_offset, depth};
    return id;
}

uint32_t sites_count(void)
{
    return __atomic_load_n(&nsites, __ATOMIC_ACQUIRE);
}

uint32_t sites_capacity(void)
{
    return MAX_SITES;
}

struct site *sites_get(uint32_t id)
{
    return &site_array[id];
}

const uintptr_t *sites_stack(const struct site *site)
{
    return stack_arena + site->stack_offset;
}

void sites_lock_for_fork(void)
{
    pthread_mutex_lock(&insert_lock);
}

void sites_unlock_after_fork(void)
{
    pthread_mutex_unlock(&insert_lock);
}
