/* The live small blocks of exact mode, found by address: a 4-byte entry for every 16 bytes of
 * the address range the heap uses, in leaves of 64 MiB of address each, mapped when a block
 * first lands in their range. A block's entry sits beside its neighbours', so a program that
 * allocates and frees within a few slabs touches a few cache lines of the shadow; a hash
 * table takes a random line, a cache miss in a large heap, for every insert and every removal
 * (perf, redis-server under redis-benchmark -r 100000 in exact mode: 19% of the server's
 * samples on the table's first load).
 * Memory: a 4 KiB page of shadow for every 16 KiB of heap where a shadowed block starts, at
 * most a quarter of the heap (the hash tables' 32-64 bytes per block are more than the block
 * for blocks of 16-32 bytes). Only 16-aligned blocks of up to SHADOW_MAX_USABLE usable bytes
 * come here (their starts are then at least 16 bytes apart: one block per entry); larger ones
 * stay in ptrtable.c's hash tables, a few per cent of a block that large. With 1 KiB as the
 * limit the 4-thread cross-thread benchmark (blocks of 16-1039 bytes) puts nearly all its
 * blocks here; with 256 three quarters of its frees still took the hash tables' locks.
 * No locks: while a block is allocated only its owner writes its entry (the allocating
 * thread, then the freeing one, which got the pointer through the program's own
 * synchronization), and the entry is cleared before the block goes back to the allocator,
 * which orders it before the address's next owner writes it again. */
#include <sys/mman.h>

#include "internal.h"

#define LEAF_SHIFT 26 /* 64 MiB of address per leaf */
#define SLOT_SHIFT 4  /* one entry per 16 bytes */
#define LEAF_SLOTS ((size_t)1 << (LEAF_SHIFT - SLOT_SHIFT))
#define PAGE_SLOTS (4096 / sizeof(uint32_t)) /* the entries on one page of the shadow */
#define LEAF_PAGES (LEAF_SLOTS / PAGE_SLOTS)
#define DIRECTORY_SIZE ((size_t)1 << (SHADOW_ADDRESS_BITS - LEAF_SHIFT))

/* An entry: present (bit 31), the site (bits 11-30) and the requested size (bits 0-10). */
#define PRESENT (1u << 31)
#define SITE_SHIFT 11
#define SITE_MASK ((1u << 20) - 1)
#define SIZE_LIMIT ((1u << SITE_SHIFT) - 1)
_Static_assert(MAX_SITES_BITS <= 20, "site ids fit in a shadow entry");
_Static_assert(SHADOW_MAX_USABLE <= SIZE_LIMIT, "a shadowed block's size fits its entry");

struct leaf {
    uint32_t slots[LEAF_SLOTS];
    uint64_t touched[LEAF_PAGES / 64]; /* shadow pages written: the only ones a visit reads */
    uintptr_t base;
    struct leaf *next; /* every leaf, newest first */
};

static struct leaf **directory; /* address >> LEAF_SHIFT -> its leaf, or NULL */
static struct leaf *leaves;

bool shadow_on;

int shadow_init(void)
{
    directory = shim_map_zeroed(DIRECTORY_SIZE * sizeof(*directory));
    if (!directory)
        return -1;
    shadow_on = true;
    return 0;
}

static struct leaf *leaf_of(uintptr_t ptr)
{
    return __atomic_load_n(&directory[ptr >> LEAF_SHIFT], __ATOMIC_ACQUIRE);
}

/* Two threads may map one at once: the loser unmaps its own and takes the winner's. */
static struct leaf *new_leaf(uintptr_t ptr)
{
    struct leaf *leaf = shim_map_zeroed(sizeof(*leaf));
    if (!leaf)
        return NULL;
    madvise(leaf, sizeof(*leaf), MADV_NOHUGEPAGE); /* a huge page would make a sparse leaf dense */
    leaf->base = ptr & ~(((uintptr_t)1 << LEAF_SHIFT) - 1);
    struct leaf *expected = NULL;
    if (!__atomic_compare_exchange_n(&directory[ptr >> LEAF_SHIFT], &expected, leaf, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        munmap(leaf, sizeof(*leaf));
        return expected;
    }
    struct leaf *head = __atomic_load_n(&leaves, __ATOMIC_RELAXED);
    do
        leaf->next = head;
    while (!__atomic_compare_exchange_n(&leaves, &head, leaf, true, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED));
    return leaf;
}

static size_t slot_in_leaf(uintptr_t ptr)
{
    return (ptr & (((uintptr_t)1 << LEAF_SHIFT) - 1)) >> SLOT_SHIFT;
}

static void mark_touched(struct leaf *leaf, size_t slot)
{
    size_t page = slot / PAGE_SLOTS;
    uint64_t *word = &leaf->touched[page / 64], bit = (uint64_t)1 << (page % 64);
    if (!(__atomic_load_n(word, __ATOMIC_RELAXED) & bit)) /* written once per page */
        __atomic_fetch_or(word, bit, __ATOMIC_RELAXED);
}

bool shadow_insert(uintptr_t ptr, uint32_t site_id, uint64_t size)
{
    if (size > SIZE_LIMIT || site_id > SITE_MASK)
        return false;
    struct leaf *leaf = leaf_of(ptr);
    if (unlikely(!leaf) && !(leaf = new_leaf(ptr)))
        return false; /* no memory for a leaf: the hash tables take it */
    size_t slot = slot_in_leaf(ptr);
    mark_touched(leaf, slot);
    __atomic_store_n(&leaf->slots[slot], PRESENT | site_id << SITE_SHIFT | (uint32_t)size,
                     __ATOMIC_RELAXED);
    return true;
}

static void unpack(uintptr_t ptr, uint32_t entry, struct tracked_block *out)
{
    out->ptr = ptr;
    out->site_id = entry >> SITE_SHIFT & SITE_MASK;
    out->size = entry & SIZE_LIMIT;
}

bool shadow_remove(uintptr_t ptr, struct tracked_block *out)
{
    struct leaf *leaf = leaf_of(ptr);
    if (!leaf)
        return false;
    uint32_t *slot = &leaf->slots[slot_in_leaf(ptr)];
    uint32_t entry = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (!entry)
        return false;
    __atomic_store_n(slot, 0, __ATOMIC_RELAXED);
    unpack(ptr, entry, out);
    return true;
}

/* A held block's entry (a remote free not yet handed over) is kept without its PRESENT bit
 * while the live blocks are visited, the other threads stopped: true when it was there. */
bool shadow_hide(uintptr_t ptr)
{
    struct leaf *leaf = leaf_of(ptr);
    if (!leaf)
        return false;
    uint32_t *slot = &leaf->slots[slot_in_leaf(ptr)];
    if (!(*slot & PRESENT))
        return false;
    *slot &= ~PRESENT;
    return true;
}

void shadow_unhide(uintptr_t ptr)
{
    leaf_of(ptr)->slots[slot_in_leaf(ptr)] |= PRESENT;
}

void shadow_prefetch_entry(uintptr_t ptr)
{
    if (!shadow_on || ptr >> SHADOW_ADDRESS_BITS)
        return;
    struct leaf *leaf = leaf_of(ptr);
    if (leaf)
        __builtin_prefetch(&leaf->slots[slot_in_leaf(ptr)], 1);
}

/* Every entry of every written page, with the other threads stopped or locked out. */
static size_t each_entry(void (*visit)(const struct tracked_block *block, void *arg), void *arg)
{
    size_t n = 0;
    for (const struct leaf *leaf = __atomic_load_n(&leaves, __ATOMIC_ACQUIRE); leaf;
         leaf = leaf->next) {
        for (size_t page = 0; page < LEAF_PAGES; page++) {
            if (!(__atomic_load_n(&leaf->touched[page / 64], __ATOMIC_RELAXED) >> (page % 64) & 1))
                continue;
            for (size_t slot = page * PAGE_SLOTS; slot < (page + 1) * PAGE_SLOTS; slot++) {
                uint32_t entry = __atomic_load_n(&leaf->slots[slot], __ATOMIC_RELAXED);
                if (!(entry & PRESENT))
                    continue;
                n++;
                if (visit) {
                    struct tracked_block block;
                    unpack(leaf->base + (slot << SLOT_SHIFT), entry, &block);
                    visit(&block, arg);
                }
            }
        }
    }
    return n;
}

void shadow_visit(void (*visit)(const struct tracked_block *block, void *arg), void *arg)
{
    each_entry(visit, arg);
}

size_t shadow_count(void)
{
    return each_entry(NULL, NULL);
}
