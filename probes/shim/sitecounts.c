/* Per-site counters without a shared write per allocation. Every thread keeps the changes it
 * made to recently used sites in a small direct-mapped table of its own (plain stores, no
 * locked instruction, no cache line shared with other threads) and folds an entry into the
 * site's shared counters when the entry is wanted for another site or has taken
 * SITE_DELTA_OPS changes. The sampler reads shared counters plus every thread's pending
 * changes, with each thread's fold lock held, so no change is counted twice or missed.
 * Locked instructions were most of exact mode's cost, and the shared site lines bounced
 * between cores whenever threads allocate at the same site. */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define SITE_DELTA_SLOTS 256u /* per thread, direct-mapped by site id: 14 KiB */
#define SITE_DELTA_OPS 256u   /* changes an entry takes before it is folded */

struct site_delta {
    uint32_t site_id; /* SITE_NONE: empty */
    uint32_t ops;
    uint64_t alloc_calls, alloc_bytes, free_calls, free_bytes; /* wrap like the shared ones */
    uint64_t temporary_calls;
    /* The entry's highest alloc_bytes - free_bytes since it was last folded: the site's peak
     * is its shared live bytes then plus this, worked out when the entry is folded or read,
     * not on every allocation (which read three shared counters of the site). */
    int64_t high;
};
#define SITE_NONE UINT32_MAX

#define STORE(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)
#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* The thread's first use maps its table; kept out of line so the lookup on every allocation
 * and free is a load and a test (it was a call: 26 instructions per pair). */
__attribute__((noinline)) static struct site_delta *map_deltas(struct thread_counters *c)
{
    if (c->site_deltas_failed)
        return NULL;
    void *p = mmap(NULL, SITE_DELTA_SLOTS * sizeof(struct site_delta), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        c->site_deltas_failed = true; /* this thread updates the shared counters directly */
        return NULL;
    }
    struct site_delta *d = p;
    for (unsigned i = 0; i < SITE_DELTA_SLOTS; i++)
        d[i].site_id = SITE_NONE;
    __atomic_store_n(&c->site_deltas, d, __ATOMIC_RELEASE);
    return d;
}

static inline struct site_delta *deltas_of(struct thread_counters *c)
{
    return likely(c->site_deltas != NULL) ? c->site_deltas : map_deltas(c);
}

static void add_shared(uint32_t site_id, uint64_t alloc_calls, uint64_t alloc_bytes,
                       uint64_t free_calls, uint64_t free_bytes, uint64_t temporary_calls)
{
    struct site *site = sites_get(site_id);
    if (temporary_calls)
        __atomic_fetch_add(&site->temporary_calls, temporary_calls, __ATOMIC_RELAXED);
    if (alloc_calls | alloc_bytes) {
        __atomic_fetch_add(&site->alloc_calls, alloc_calls, __ATOMIC_RELAXED);
        __atomic_fetch_add(&site->alloc_bytes, alloc_bytes, __ATOMIC_RELAXED);
    }
    if (free_calls | free_bytes) {
        __atomic_fetch_add(&site->free_calls, free_calls, __ATOMIC_RELAXED);
        __atomic_fetch_add(&site->free_bytes, free_bytes, __ATOMIC_RELAXED);
    }
}

static void note_peak(struct site *site, const struct site_delta *e);

/* Caller holds the entry's thread's fold lock (or the thread is gone). */
static void fold_entry(struct site_delta *e)
{
    if (e->site_id != SITE_NONE) {
        note_peak(sites_get(e->site_id), e);
        add_shared(e->site_id, e->alloc_calls, e->alloc_bytes, e->free_calls, e->free_bytes,
                   e->temporary_calls);
    }
    STORE(e->high, 0);
    STORE(e->alloc_calls, 0);
    STORE(e->temporary_calls, 0);
    STORE(e->alloc_bytes, 0);
    STORE(e->free_calls, 0);
    STORE(e->free_bytes, 0);
    e->ops = 0;
}

__attribute__((noinline)) static void claim_entry(struct thread_counters *c, struct site_delta *e,
                                                  uint32_t site_id)
{
    spin_yield_lock(&c->site_fold_held);
    fold_entry(e);
    STORE(e->site_id, site_id);
    spin_yield_unlock(&c->site_fold_held);
}

static inline __attribute__((always_inline)) struct site_delta *entry_for(struct thread_counters *c,
                                                                          uint32_t site_id)
{
    if (unlikely(c->state != COUNTERS_REGISTERED))
        return NULL;
    struct site_delta *d = deltas_of(c);
    if (unlikely(d == NULL))
        return NULL;
    struct site_delta *e = &d[site_id & (SITE_DELTA_SLOTS - 1)];
    if (unlikely(e->site_id != site_id || e->ops >= SITE_DELTA_OPS))
        claim_entry(c, e, site_id);
    e->ops++;
    return e;
}

/* The site's highest live bytes, from one thread's view: the shared counters plus the highest
 * point its pending changes E reached. That view is exact for a site one thread allocates and
 * frees (nobody else changes the shared counters in between); with several, the others'
 * pending changes (at most SITE_DELTA_OPS each) are not in it. */
static void note_peak(struct site *site, const struct site_delta *e)
{
    uint64_t allocated = LOAD(site->alloc_bytes), freed = LOAD(site->free_bytes);
    int64_t high = LOAD(e->high);
    if (high > 0)
        allocated += (uint64_t)high;
    uint64_t live = allocated > freed ? allocated - freed : 0;
    uint64_t peak = LOAD(site->peak_bytes);
    while (live > peak && !__atomic_compare_exchange_n(&site->peak_bytes, &peak, live, true,
                                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

void site_count_alloc(uint32_t site_id, uint64_t bytes, uint32_t blocks)
{
    struct site_delta *e = entry_for(&counters_self, site_id);
    if (unlikely(e == NULL)) {
        add_shared(site_id, blocks, bytes, 0, 0, 0);
        struct site_delta none = {.site_id = site_id};
        note_peak(sites_get(site_id), &none);
        return;
    }
    STORE(e->alloc_calls, e->alloc_calls + blocks);
    STORE(e->alloc_bytes, e->alloc_bytes + bytes);
    int64_t rise = (int64_t)(e->alloc_bytes - e->free_bytes);
    if (rise > e->high)
        STORE(e->high, rise);
}

/* One entry lookup for the free and, when it was one, the temporary allocation: a
 * malloc+free pair that is a temporary is the common case of a tight loop. */
void site_count_free(uint32_t site_id, uint64_t bytes, uint32_t blocks, bool temporary)
{
    struct site_delta *e = entry_for(&counters_self, site_id);
    if (unlikely(e == NULL)) {
        add_shared(site_id, 0, 0, blocks, bytes, temporary ? blocks : 0);
        return;
    }
    STORE(e->free_calls, e->free_calls + blocks);
    STORE(e->free_bytes, e->free_bytes + bytes);
    if (temporary)
        STORE(e->temporary_calls, e->temporary_calls + blocks);
}

/* ---- the threads' side: exit and fork ---- */

static void fold_thread(struct thread_counters *c)
{
    struct site_delta *d = c->site_deltas;
    if (!d)
        return;
    spin_yield_lock(&c->site_fold_held);
    for (unsigned i = 0; i < SITE_DELTA_SLOTS; i++) {
        fold_entry(&d[i]);
        d[i].site_id = SITE_NONE;
    }
    spin_yield_unlock(&c->site_fold_held);
}

/* Called with the registry locked, once the thread is out of it: nobody else reads its
 * table any more. Later calls of the thread (TLS destructors) update the shared counters. */
void site_counts_thread_exit(struct thread_counters *c)
{
    fold_thread(c);
    if (c->site_deltas)
        munmap(c->site_deltas, SITE_DELTA_SLOTS * sizeof(struct site_delta));
    c->site_deltas = NULL;
    c->site_deltas_failed = true;
}

void site_counts_lock_for_fork(void)
{
    for (struct thread_counters *c = counters_threads(); c; c = c->next)
        spin_yield_lock(&c->site_fold_held);
}

/* In the child the other threads are gone: their pending changes become shared ones. */
void site_counts_after_fork(bool in_child)
{
    for (struct thread_counters *c = counters_threads(); c; c = c->next) {
        spin_yield_unlock(&c->site_fold_held);
        if (in_child && c != &counters_self)
            fold_thread(c);
    }
}

/* ---- the sampler's side ---- */

/* Pending changes of all threads, by site id, while a snapshot reads them. */
static struct {
    uint64_t (*sums)[5];
    uint32_t capacity;
    uint32_t *touched;
    uint32_t ntouched, touched_capacity;
} pending;

static void *map_reserve(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void add_pending(const struct site_delta *e)
{
    uint32_t id = LOAD(e->site_id);
    if (id == SITE_NONE || id >= pending.capacity || pending.ntouched == pending.touched_capacity)
        return;
    note_peak(sites_get(id), e);
    uint64_t *sum = pending.sums[id];
    if (!(sum[0] | sum[1] | sum[2] | sum[3] | sum[4]))
        pending.touched[pending.ntouched++] = id;
    sum[0] += LOAD(e->alloc_calls);
    sum[1] += LOAD(e->alloc_bytes);
    sum[2] += LOAD(e->free_calls);
    sum[3] += LOAD(e->free_bytes);
    sum[4] += LOAD(e->temporary_calls);
}

/* Holds the thread registry and every thread's fold lock until site_counts_read_end: no
 * change moves from a thread's table to the shared counters while the snapshot reads both. */
void site_counts_read_begin(uint32_t nsites)
{
    if (!pending.sums) {
        pending.capacity = sites_capacity();
        pending.sums = map_reserve((size_t)pending.capacity * sizeof(*pending.sums));
        pending.touched_capacity = 1u << 20;
        pending.touched = map_reserve(pending.touched_capacity * sizeof(uint32_t));
        if (!pending.sums || !pending.touched)
            pending.capacity = 0;
    }
    (void)nsites;
    counters_threads_lock();
    for (struct thread_counters *c = counters_threads(); c; c = c->next) {
        spin_yield_lock(&c->site_fold_held);
        struct site_delta *d = __atomic_load_n(&c->site_deltas, __ATOMIC_ACQUIRE);
        for (unsigned i = 0; d && i < SITE_DELTA_SLOTS; i++)
            add_pending(&d[i]);
    }
}

void site_counts_read(uint32_t site_id, uint64_t out[SITE_COUNTS])
{
    struct site *site = sites_get(site_id);
    out[0] = LOAD(site->alloc_calls);
    out[1] = LOAD(site->alloc_bytes);
    out[2] = LOAD(site->free_calls);
    out[3] = LOAD(site->free_bytes);
    out[5] = LOAD(site->temporary_calls);
    if (site_id < pending.capacity) {
        for (unsigned i = 0; i < 4; i++)
            out[i] += pending.sums[site_id][i];
        out[5] += pending.sums[site_id][4];
    }
    /* The peak is checked against a thread's own view; never report it under live bytes. */
    uint64_t live = out[1] > out[3] ? out[1] - out[3] : 0;
    uint64_t peak = LOAD(site->peak_bytes);
    out[4] = peak > live ? peak : live;
}

void site_counts_read_end(void)
{
    for (uint32_t i = 0; i < pending.ntouched; i++)
        memset(pending.sums[pending.touched[i]], 0, sizeof(pending.sums[0]));
    pending.ntouched = 0;
    for (struct thread_counters *c = counters_threads(); c; c = c->next)
        spin_yield_unlock(&c->site_fold_held);
    counters_threads_unlock();
}
