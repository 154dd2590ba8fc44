/* The live blocks being tracked (every block in exact mode, the sampled ones otherwise),
 * keyed by address. Each thread inserts into a table of its own (open addressing, linear
 * probing, backward-shift deletion, grown by rehashing into a larger mmap), so the allocating
 * thread's lock and slots stay in its own core's cache. A thread frees its own blocks from its
 * own table at once. A block allocated by another thread is held back instead: its address
 * goes on the freeing thread's list of remote frees, and a full list is handed over in one
 * batch (each owner's lock taken once for a run of its blocks, then the blocks go back to the
 * allocator), so a producer/consumer program does not move a lock and a slot from core to core
 * for every free. A held block is still allocated, so its address cannot be handed out again
 * before its entry is gone; whoever holds the list's lock may flush it (the thread itself, the
 * sampler before a snapshot, a thread's exit).
 * Which table holds a block: its own thread's first, then the table that last inserted into
 * the block's 64 KiB region (a directory of hints, written only when it changes), then all.
 * In sampled mode few blocks are tracked but every free must ask; a counting filter (one
 * 16-bit counter per address hash) answers "certainly not tracked" without a lock.
 * In exact mode the small blocks are kept in the shadow (shadow.c), asked first: these
 * tables then hold the larger blocks only; a thread's free of a small block of its own
 * region is done one free late (defer_own_free). */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define MAX_TABLES 4096                 /* threads with a table at once; more share table 0 */
#define INITIAL_SHIFT (64 - 8)          /* 256 slots */
#define PENDING_MAX 128                 /* remote frees a thread holds before handing them over */
#define PENDING_BYTES_MAX (256u * 1024) /* and at most these usable bytes */
#define PENDING_SIZE_MAX (16u * 1024)   /* a larger block is untracked and freed at once */
#define DIR_BITS 16

/* 16 bytes: the address, the site (24 bits) and the requested size (40 bits, clamped). */
struct entry {
    uintptr_t ptr; /* 0: empty */
    uint64_t meta;
};
#define SITE_BITS 24
#define SIZE_MAX40 ((1ull << 40) - 1)
_Static_assert(MAX_SITES_BITS <= SITE_BITS, "site ids fit in an entry");

struct pending_free {
    uintptr_t ptr;
    uint32_t usable; /* says whether the shadow keeps it (shadow_covers) */
    bool temporary;
    bool hidden; /* its shadow entry, while the live blocks are visited */
};

struct table {
    int held; /* the table's lock (spin_yield_lock): its owner, a flusher, the sampler */
    uint16_t index;
    bool owned;     /* a live thread inserts into it */
    unsigned shift; /* capacity is 1 << (64 - shift) */
    struct entry *entries;
    size_t count;
    /* the owner's remote frees, under their own lock (taken before any table lock) */
    int pending_held;
    unsigned npending;
    size_t pending_bytes;
    struct table *last_owner; /* where the list's latest block was found */
    /* The owner's latest free of a small block of its own region, done one free late (see
     * defer_own_free), under the same lock as the list; 0: none. */
    uintptr_t deferred;
    bool deferred_hidden;     /* its shadow entry, while the live blocks are visited */
    uintptr_t last_own_small; /* the owner's latest free of such a block, deferred or not */
    struct pending_free pending[PENDING_MAX];
} __attribute__((aligned(64)));

static struct table *tables[MAX_TABLES]; /* table 0 is shared: threads without one of their own */
static unsigned ntables;                 /* published with release: tables are never freed */
static int tables_held;                  /* creating or adopting a table */
static __thread struct table *own SHIM_TLS;
static __thread bool own_closed SHIM_TLS; /* the thread's exit ran: no table of its own again */
static uint16_t *dir; /* 64 KiB region -> index of the table that last inserted */
static void (*flushed)(uintptr_t ptr, const struct tracked_block *found, bool temporary);
uint16_t *ptrtable_filter; /* NULL in exact mode */
#define filter ptrtable_filter

static size_t capacity_of(const struct table *t)
{
    return (size_t)1 << (64 - t->shift);
}

/* Fibonacci hashing: one multiply, also for every entry a deletion shifts. */
static size_t slot_of(const struct table *t, uintptr_t p)
{
    return (size_t)(((uint64_t)p >> 4) * 0x9e3779b97f4a7c15ull >> t->shift);
}

static unsigned dir_slot(uintptr_t p)
{
    return (unsigned)(((uint64_t)p >> 16) * 0x9e3779b97f4a7c15ull >> (64 - DIR_BITS));
}

static struct table *new_table(void)
{
    unsigned n = __atomic_load_n(&ntables, __ATOMIC_RELAXED);
    if (n == MAX_TABLES)
        return NULL;
    struct table *t = shim_map_zeroed(sizeof(*t));
    if (!t)
        return NULL;
    t->shift = INITIAL_SHIFT;
    t->entries = shim_map_zeroed(capacity_of(t) * sizeof(struct entry));
    if (!t->entries) {
        munmap(t, sizeof(*t));
        return NULL;
    }
    t->index = (uint16_t)n;
    tables[n] = t;
    __atomic_store_n(&ntables, n + 1, __ATOMIC_RELEASE);
    return t;
}

int ptrtable_init(bool exact)
{
    dir = shim_map_zeroed(sizeof(uint16_t) << DIR_BITS);
    if (!dir || (!tables[0] && !new_table()))
        return -1;
    if (exact)
        shadow_init(); /* without it every block goes to the hash tables: slower, as correct */
    if (!exact) {
        filter = shim_map_zeroed(FILTER_SIZE * sizeof(uint16_t));
        if (!filter)
            return -1;
    }
    return 0;
}

void ptrtable_on_flush(void (*fn)(uintptr_t ptr, const struct tracked_block *found, bool temporary))
{
    flushed = fn;
}

/* The calling thread's table: an orphan left by an exited thread, else a new one; table 0
 * when none can be had (the registry is full, no memory, or the thread is exiting). */
static struct table *own_table(void)
{
    if (likely(own != NULL))
        return own;
    if (own_closed)
        return tables[0];
    spin_yield_lock(&tables_held);
    struct table *t = NULL;
    for (unsigned i = 1, n = ntables; i < n && !t; i++)
        if (!tables[i]->owned)
            t = tables[i];
    if (!t)
        t = new_table();
    if (t)
        t->owned = true;
    spin_yield_unlock(&tables_held);
    own = t ? t : tables[0];
    return own;
}

static void place(struct table *t, uintptr_t ptr, uint64_t meta)
{
    size_t mask = capacity_of(t) - 1;
    size_t i = slot_of(t, ptr);
    while (t->entries[i].ptr && t->entries[i].ptr != ptr)
        i = (i + 1) & mask;
    if (!t->entries[i].ptr)
        t->count++;
    t->entries[i] = (struct entry){ptr, meta};
}

static bool grow(struct table *t)
{
    struct entry *old = t->entries;
    size_t old_capacity = capacity_of(t);
    struct entry *bigger = shim_map_zeroed(old_capacity * 2 * sizeof(*bigger));
    if (!bigger)
        return false;
    __atomic_store_n(&t->entries, bigger, __ATOMIC_RELAXED); /* ptrtable_prefetch reads them */
    __atomic_store_n(&t->shift, t->shift - 1, __ATOMIC_RELAXED);
    t->count = 0;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i].ptr)
            place(t, old[i].ptr, old[i].meta);
    munmap(old, old_capacity * sizeof(*old));
    return true;
}

static uint64_t pack(const struct tracked_block *b)
{
    uint64_t size = b->size > SIZE_MAX40 ? SIZE_MAX40 : b->size;
    return size << SITE_BITS | b->site_id;
}

static void unpack(const struct entry *e, struct tracked_block *out)
{
    out->ptr = e->ptr;
    out->site_id = (uint32_t)(e->meta & ((1u << SITE_BITS) - 1));
    out->size = e->meta >> SITE_BITS;
}

/* Where PTR's slot is, read without the table's lock (a growth may move it): for prefetching
 * only. */
static const struct entry *slot_hint(const struct table *t, uintptr_t ptr)
{
    const struct entry *entries = __atomic_load_n(&t->entries, __ATOMIC_RELAXED);
    unsigned shift = __atomic_load_n(&t->shift, __ATOMIC_RELAXED);
    return &entries[((uint64_t)ptr >> 4) * 0x9e3779b97f4a7c15ull >> shift];
}

void ptrtable_prefetch(uintptr_t ptr, size_t usable)
{
    if (likely(own != NULL) && !shadow_covers(ptr, usable))
        __builtin_prefetch(slot_hint(own, ptr), 1);
}

/* The thread that last inserted a block of PTR's 64 KiB region. */
static void note_region(uintptr_t ptr, uint16_t index)
{
    uint16_t *hint = &dir[dir_slot(ptr)];
    if (__atomic_load_n(hint, __ATOMIC_RELAXED) != index) /* written only when it changes */
        __atomic_store_n(hint, index, __ATOMIC_RELAXED);
}

void ptrtable_insert(const struct tracked_block *block, size_t usable)
{
    if (shadow_covers(block->ptr, usable) &&
        shadow_insert(block->ptr, block->site_id, block->size)) {
        note_region(block->ptr, own_table()->index);
        return;
    }
    struct table *t = own_table();
    spin_yield_lock(&t->held);
    /* At most half full: a deletion shifts the rest of its cluster back, and at 70% clusters
     * were long enough to make removal the dearest part of a free (callgrind: 100 -> 40
     * instructions per removal on the threads workload). */
    if ((t->count + 1) * 2 > capacity_of(t) && !grow(t)) {
        spin_yield_unlock(&t->held);
        return; /* out of memory for the table: the block stays untracked */
    }
    place(t, block->ptr, pack(block));
    if (filter)
        __atomic_fetch_add(&filter[ptrtable_filter_slot(block->ptr)], 1, __ATOMIC_RELAXED);
    spin_yield_unlock(&t->held);
    note_region(block->ptr, t->index);
}

/* Backward-shift deletion keeps probe chains intact without tombstones: an entry moves into
 * the hole when the hole lies between its home slot and where it is. */
static void delete_at(struct table *t, size_t hole)
{
    size_t mask = capacity_of(t) - 1;
    for (size_t i = (hole + 1) & mask; t->entries[i].ptr; i = (i + 1) & mask) {
        size_t home = slot_of(t, t->entries[i].ptr);
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            t->entries[hole] = t->entries[i];
            hole = i;
        }
    }
    t->entries[hole].ptr = 0;
    t->count--;
}

/* With T's lock held. */
static bool remove_locked(struct table *t, uintptr_t ptr, struct tracked_block *out)
{
    size_t mask = capacity_of(t) - 1;
    for (size_t i = slot_of(t, ptr); t->entries[i].ptr; i = (i + 1) & mask) {
        if (t->entries[i].ptr == ptr) {
            unpack(&t->entries[i], out);
            delete_at(t, i);
            if (filter)
                __atomic_fetch_sub(&filter[ptrtable_filter_slot(ptr)], 1, __ATOMIC_RELAXED);
            return true;
        }
    }
    return false;
}

static bool remove_from(struct table *t, uintptr_t ptr, struct tracked_block *out)
{
    spin_yield_lock(&t->held);
    bool found = remove_locked(t, ptr, out);
    spin_yield_unlock(&t->held);
    return found;
}

/* Any table but SKIP: the directory's hint first, then every one. */
static bool remove_elsewhere(uintptr_t ptr, struct table *skip, struct tracked_block *out)
{
    unsigned n = __atomic_load_n(&ntables, __ATOMIC_ACQUIRE);
    unsigned hint = __atomic_load_n(&dir[dir_slot(ptr)], __ATOMIC_RELAXED);
    if (hint < n && tables[hint] != skip && remove_from(tables[hint], ptr, out))
        return true;
    for (unsigned i = 0; i < n; i++)
        if (i != hint && tables[i] != skip && remove_from(tables[i], ptr, out))
            return true;
    return false;
}

bool ptrtable_remove(uintptr_t ptr, size_t usable, struct tracked_block *out)
{
    if (shadow_covers(ptr, usable) && shadow_remove(ptr, out))
        return true;
    struct table *t = own_closed ? NULL : own;
    return (t && remove_from(t, ptr, out)) || remove_elsewhere(ptr, t, out);
}

/* ---- remote frees ---- */

/* The table a remote free most likely belongs to: the one that held the list's previous
 * block (a consumer frees what one producer made, batch after batch), else the directory's. */
static struct table *likely_owner(const struct table *t, uintptr_t ptr, unsigned ntab)
{
    if (t->last_owner)
        return t->last_owner;
    unsigned hint = __atomic_load_n(&dir[dir_slot(ptr)], __ATOMIC_RELAXED);
    return hint < ntab ? tables[hint] : tables[0];
}

/* The slots of a batch's blocks in the table that most likely holds them: each is a line the
 * owner last wrote on another core, and asked for together their transfers overlap instead
 * of coming one after the other. Read without the lock: a hint only. */
static void prefetch_slots(const struct table *t, const struct pending_free *p, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (shadow_covers(p[i].ptr, p[i].usable))
            shadow_prefetch(p[i].ptr);
        else
            __builtin_prefetch(slot_hint(t, p[i].ptr), 1);
    }
}

/* A chunk of T's list (its pending lock held): entries removed with each owner's lock taken
 * once for a run of blocks it holds, then every block reported (and freed) through FLUSHED,
 * outside any table lock. Chunks keep the frame small: free() may run on a signal handler's
 * alternate stack. */
#define FLUSH_CHUNK 32u
static void flush_chunk(struct table *t, const struct pending_free *p, unsigned n)
{
    struct tracked_block found[FLUSH_CHUNK];
    bool was_found[FLUSH_CHUNK];
    unsigned ntab = __atomic_load_n(&ntables, __ATOMIC_ACQUIRE);
    prefetch_slots(likely_owner(t, p[0].ptr, ntab), p, n);
    struct table *locked = NULL;
    for (unsigned i = 0; i < n; i++) {
        if (shadow_covers(p[i].ptr, p[i].usable) && shadow_remove(p[i].ptr, &found[i])) {
            was_found[i] = true;
            continue;
        }
        struct table *h = likely_owner(t, p[i].ptr, ntab);
        if (h != locked) {
            if (locked)
                spin_yield_unlock(&locked->held);
            spin_yield_lock(&h->held);
            locked = h;
        }
        was_found[i] = remove_locked(h, p[i].ptr, &found[i]);
        t->last_owner = was_found[i] ? h : NULL;
    }
    if (locked)
        spin_yield_unlock(&locked->held);
    for (unsigned i = 0; i < n; i++) {
        if (!was_found[i]) /* the guess was wrong: the directory's hint, then every table */
            was_found[i] = remove_elsewhere(p[i].ptr, NULL, &found[i]);
        flushed(p[i].ptr, was_found[i] ? &found[i] : NULL, p[i].temporary);
    }
}

/* A block the shadow covers, removed at once: from the shadow, or the tables when the shadow
 * had no room for it (T: the caller's own table, asked first). */
static bool remove_small(struct table *t, uintptr_t ptr, struct tracked_block *out)
{
    return shadow_remove(ptr, out) || remove_from(t, ptr, out) || remove_elsewhere(ptr, t, out);
}

/* T's deferred free replaced by NEXT (0: none), the one it held handed over: its entry
 * removed and the block reported (and freed) through FLUSHED. T's pending lock held. */
static void replace_deferred_locked(struct table *t, uintptr_t next)
{
    uintptr_t ptr = t->deferred;
    t->deferred = next;
    if (!ptr)
        return;
    struct tracked_block block;
    bool found = remove_small(t, ptr, &block);
    flushed(ptr, found ? &block : NULL, false); /* a temporary block is never deferred */
}

/* Hands over T's list and its deferred free, its pending lock held. */
static void flush_locked(struct table *t)
{
    for (unsigned i = 0; i < t->npending; i += FLUSH_CHUNK) {
        unsigned left = t->npending - i;
        flush_chunk(t, &t->pending[i], left < FLUSH_CHUNK ? left : FLUSH_CHUNK);
    }
    t->npending = 0;
    t->pending_bytes = 0;
    replace_deferred_locked(t, 0);
}

/* A small block of the thread's own region is freed one free late: its shadow entry, often a
 * cold line (a block made long ago), was fetched when the program freed it and is read when
 * the program frees the next one, so the program's own work between two frees hides the
 * miss (perf, redis-server in exact mode: the entry's load was a third of the shim's
 * samples). The block goes back to the allocator then, after its entry is gone, as every
 * held block does. */
static void defer_own_free(struct table *t, uintptr_t ptr)
{
    spin_yield_lock(&t->pending_held);
    replace_deferred_locked(t, ptr);
    spin_yield_unlock(&t->pending_held);
}

static void release_own_deferred(struct table *t)
{
    /* Only the owner makes it non-zero: zero here is zero (a tight malloc+free loop frees the
     * same address every time, and takes no lock). */
    if (__atomic_load_n(&t->deferred, __ATOMIC_RELAXED))
        defer_own_free(t, 0);
}

/* Whether a free of a small block of the thread's own region is deferred. Not a temporary
 * block (the thread's latest allocation): its entry was just written, and a tight malloc+free
 * loop would pay the lock for nothing. Not the block the thread freed just before either: a
 * double free goes to the allocator at once, with the deferred block before it, so the
 * allocator stops the program in the very call, as it does without the shim. */
static bool own_free_deferred(struct table *t, uintptr_t ptr, bool temporary)
{
    bool again = ptr == t->last_own_small;
    t->last_own_small = ptr;
    if (again)
        release_own_deferred(t);
    return !temporary && !again;
}

enum ptrtable_free_result ptrtable_free(uintptr_t ptr, size_t usable, bool temporary,
                                        struct tracked_block *out)
{
    if (unlikely(own_closed || !flushed))
        return ptrtable_remove(ptr, usable, out) ? PTRTABLE_FOUND : PTRTABLE_UNTRACKED;
    struct table *t = own_table();
    if (shadow_covers(ptr, usable)) {
        /* Held too when another thread filled its region last: a consumer then hands a
         * producer's blocks back to the allocator in batches, not one by one as they come. */
        unsigned filler = __atomic_load_n(&dir[dir_slot(ptr)], __ATOMIC_RELAXED);
        bool own_region = filler == t->index && t != tables[0];
        if (own_region && own_free_deferred(t, ptr, temporary)) {
            defer_own_free(t, ptr);
            return PTRTABLE_HELD;
        }
        if (t == tables[0] || own_region) /* shadow_covers asked once, here */
            return remove_small(t, ptr, out) ? PTRTABLE_FOUND : PTRTABLE_UNTRACKED;
    } else if (remove_from(t, ptr, out)) {
        return PTRTABLE_FOUND;
    } else if (t == tables[0] || usable > PENDING_SIZE_MAX) { /* no list, or a large block */
        return remove_elsewhere(ptr, t, out) ? PTRTABLE_FOUND : PTRTABLE_UNTRACKED;
    }
    spin_yield_lock(&t->pending_held);
    t->pending[t->npending++] = (struct pending_free){ptr, (uint32_t)usable, temporary, false};
    t->pending_bytes += usable;
    if (t->npending == PENDING_MAX || t->pending_bytes > PENDING_BYTES_MAX)
        flush_locked(t);
    spin_yield_unlock(&t->pending_held);
    return PTRTABLE_HELD;
}

void ptrtable_flush_all(void)
{
    for (unsigned i = 0, n = __atomic_load_n(&ntables, __ATOMIC_ACQUIRE); i < n; i++) {
        if (!__atomic_load_n(&tables[i]->npending, __ATOMIC_RELAXED) &&
            !__atomic_load_n(&tables[i]->deferred, __ATOMIC_RELAXED))
            continue;
        spin_yield_lock(&tables[i]->pending_held);
        flush_locked(tables[i]);
        spin_yield_unlock(&tables[i]->pending_held);
    }
}

/* The exiting thread's remote frees are handed over and its table, with the blocks still
 * live in it, waits for another thread to adopt it. Its later calls use table 0. */
void ptrtable_thread_exit(void)
{
    struct table *t = own;
    own_closed = true;
    own = NULL;
    if (!t || t == tables[0])
        return;
    spin_yield_lock(&t->pending_held);
    flush_locked(t);
    spin_yield_unlock(&t->pending_held);
    spin_yield_lock(&tables_held);
    t->owned = false;
    spin_yield_unlock(&tables_held);
}

/* ---- fork and the reachability scan: everything stands still ---- */

/* Before any fold lock (a flush counts its blocks into the flushing thread's site counts). */
void ptrtable_lock_pending(void)
{
    spin_yield_lock(&tables_held);
    for (unsigned i = 0; i < ntables; i++)
        spin_yield_lock(&tables[i]->pending_held);
}

void ptrtable_unlock_pending(void)
{
    for (unsigned i = 0; i < ntables; i++)
        spin_yield_unlock(&tables[i]->pending_held);
    spin_yield_unlock(&tables_held);
}

/* In a forked child only the forking thread is left: the others' tables may be adopted. */
void ptrtable_after_fork_child(void)
{
    for (unsigned i = 1; i < ntables; i++)
        if (tables[i] != own)
            tables[i]->owned = false;
}

void ptrtable_lock_for_fork(void)
{
    for (unsigned i = 0; i < ntables; i++)
        spin_yield_lock(&tables[i]->held);
}

void ptrtable_unlock_after_fork(void)
{
    for (unsigned i = 0; i < ntables; i++)
        spin_yield_unlock(&tables[i]->held);
}

/* A block waiting on a remote-free list, or deferred, was freed by the program: it is marked
 * (bit 0 of its address, which allocators keep clear; its shadow entry hidden) while the live
 * blocks are visited. */
static void mark_held(uintptr_t ptr, bool in_shadow, bool *hidden, bool on)
{
    if (in_shadow) {
        if (on)
            *hidden = shadow_hide(ptr);
        else if (*hidden)
            shadow_unhide(ptr);
        if (*hidden)
            return; /* else it may be in a hash table */
    }
    uintptr_t want = on ? ptr : ptr | 1;
    for (unsigned j = 0; j < ntables; j++) {
        struct table *t = tables[j];
        size_t mask = capacity_of(t) - 1;
        for (size_t s = slot_of(t, ptr); t->entries[s].ptr; s = (s + 1) & mask)
            if (t->entries[s].ptr == want)
                t->entries[s].ptr ^= 1;
    }
}

static void mark_pending(bool on)
{
    for (unsigned i = 0; i < ntables; i++) {
        struct table *p = tables[i];
        for (unsigned k = 0; k < p->npending; k++) {
            struct pending_free *held = &p->pending[k];
            mark_held(held->ptr, shadow_covers(held->ptr, held->usable), &held->hidden, on);
        }
        if (p->deferred) /* deferred frees are all of shadowed blocks */
            mark_held(p->deferred, true, &p->deferred_hidden, on);
    }
}

void ptrtable_visit(void (*visit)(const struct tracked_block *block, void *arg), void *arg)
{
    mark_pending(true);
    if (shadow_on)
        shadow_visit(visit, arg);
    for (unsigned i = 0; i < ntables; i++) {
        const struct table *t = tables[i];
        for (size_t j = 0, cap = capacity_of(t); j < cap; j++) {
            if (t->entries[j].ptr && !(t->entries[j].ptr & 1)) {
                struct tracked_block b;
                unpack(&t->entries[j], &b);
                visit(&b, arg);
            }
        }
    }
    mark_pending(false);
}

size_t ptrtable_size(void)
{
    size_t n = shadow_on ? shadow_count() : 0;
    for (unsigned i = 0; i < ntables; i++)
        n += tables[i]->count;
    return n;
}
