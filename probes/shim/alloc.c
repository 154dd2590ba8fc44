/* The interposed C allocation functions. Each forwards to the allocator loaded after the
 * shim (RTLD_NEXT) and records the call; nested calls (shim_busy set) and calls before the
 * real functions are known are served without recording, the very first ones from a static
 * bootstrap buffer because dlsym itself allocates. */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define EXPORT __attribute__((visibility("default")))

struct real_allocator real;
__thread int shim_busy SHIM_TLS;

/* ---- bootstrap: a bump allocator for dlsym's own calls during resolution ---- */

#define BOOTSTRAP_SIZE (256 * 1024)
static _Alignas(64) char bootstrap_buf[BOOTSTRAP_SIZE];
static size_t bootstrap_used; /* bumped atomically: any thread may be served while resolving */

static bool is_bootstrap(const void *p)
{
    return (const char *)p >= bootstrap_buf && (const char *)p < bootstrap_buf + BOOTSTRAP_SIZE;
}

/* Each block is preceded by its size, so realloc and malloc_usable_size work on it. */
static void *bootstrap_alloc(size_t size, size_t align)
{
    if (align < 16)
        align = 16;
    size_t used = __atomic_load_n(&bootstrap_used, __ATOMIC_RELAXED), start;
    do {
        start = (used + sizeof(size_t) + align - 1) & ~(align - 1);
        if (size > BOOTSTRAP_SIZE || start + size > BOOTSTRAP_SIZE)
            return NULL;
    } while (!__atomic_compare_exchange_n(&bootstrap_used, &used, start + size, true,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    memcpy(bootstrap_buf + start - sizeof(size_t), &size, sizeof(size));
    return bootstrap_buf + start;
}

static size_t bootstrap_size(const void *p)
{
    size_t size;
    memcpy(&size, (const char *)p - sizeof(size_t), sizeof(size));
    return size;
}

/* ---- resolving the real functions ---- */

/* 0 not started, 1 in progress, 2 done. While one thread resolves, every other call is
 * served from the bootstrap buffer: a thread that waited could be holding the loader's
 * lock (an allocation inside dlopen) that the resolving thread's dlsym needs. */
static volatile int resolve_state;

static void *next_symbol(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

void alloc_resolve_real(void)
{
    if (__atomic_load_n(&resolve_state, __ATOMIC_ACQUIRE) == 2)
        return;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&resolve_state, &expected, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return; /* another thread resolves: callers check resolve_state again */
    shim_busy++;
    real.malloc = next_symbol("malloc");
    real.free = next_symbol("free");
    real.calloc = next_symbol("calloc");
    real.realloc = next_symbol("realloc");
    real.posix_memalign = next_symbol("posix_memalign");
    real.malloc_usable_size = next_symbol("malloc_usable_size");
    shim_busy--;
    if (!real.malloc || !real.free || !real.calloc || !real.realloc || !real.posix_memalign ||
        !real.malloc_usable_size) {
        static const char msg[] = "allocscope shim: cannot find the real allocator's "
                                  "functions with dlsym(RTLD_NEXT); aborting\n";
        (void)!write(2, msg, sizeof(msg) - 1);
        _exit(127);
    }
    __atomic_store_n(&resolve_state, 2, __ATOMIC_RELEASE);
}

/* ---- usable sizes ---- */

/* glibc keeps a block's size in the word before it, so its usable size is one load away;
 * calling malloc_usable_size on every malloc and free is a fifth of the shim's cost on a
 * small pair. Used only when the real allocator is glibc's own and the header agrees with
 * malloc_usable_size on a set of probe blocks (small, mmapped, aligned). */
static bool usable_from_glibc_header; /* set once, by the constructor */

static size_t glibc_header_usable(const void *p)
{
    size_t head = ((const size_t *)p)[-1];
    size_t chunk = head & ~(size_t)7;
    return chunk - (head & 2 ? 2 : 1) * sizeof(size_t); /* bit 2: mmapped, two header words */
}

static inline size_t block_usable_size(void *p)
{
    return likely(__atomic_load_n(&usable_from_glibc_header, __ATOMIC_RELAXED))
               ? glibc_header_usable(p)
               : real.malloc_usable_size(p);
}

static bool real_allocator_is_glibc(void)
{
    Dl_info info;
    if (!dladdr((void *)real.malloc, &info) || !info.dli_fname)
        return false;
    const char *base = strrchr(info.dli_fname, '/');
    return !strcmp(base ? base + 1 : info.dli_fname, "libc.so.6");
}

static bool header_agrees(void *p)
{
    bool same = p && glibc_header_usable(p) == real.malloc_usable_size(p);
    real.free(p);
    return same;
}

/* From the constructor (dladdr takes the loader's lock). Until then the usable size comes
 * from malloc_usable_size, which the header agrees with: blocks recorded either way match. */
void alloc_choose_usable_size(void)
{
    if (!real_allocator_is_glibc())
        return;
    /* Freeing an mmapped block of up to 32 MiB would raise glibc's dynamic mmap threshold
     * and change how the program's own large blocks are served; 64 MiB is past that limit
     * (and only its first page is touched). */
    static const size_t sizes[] = {1, 24, 100, 1000, 5000, (size_t)64 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (!header_agrees(real.malloc(sizes[i])))
            return;
    void *aligned = NULL, *aligned_mmapped = NULL;
    if (real.posix_memalign(&aligned, 4096, 1000) || !header_agrees(aligned) ||
        real.posix_memalign(&aligned_mmapped, 4096, (size_t)64 << 20) ||
        !header_agrees(aligned_mmapped))
        return;
    __atomic_store_n(&usable_from_glibc_header, true, __ATOMIC_RELAXED);
}

const char *alloc_usable_size_source(void)
{
    return usable_from_glibc_header ? "glibc-header" : "malloc_usable_size";
}

/* ---- recording ---- */

__attribute__((noinline)) static bool recording_after_init(void)
{
    if (shim_state == SHIM_UNINIT || shim_state == SHIM_FORKED)
        lifecycle_init();
    return shim_state == SHIM_RECORDING;
}

static inline bool recording(void)
{
    return likely(shim_state == SHIM_RECORDING) || recording_after_init();
}

/* What a tracked block counts for at its site: itself in exact mode, the blocks and bytes it
 * stands for when sampled (a function of its size alone). */
static void block_weight(uint64_t size, uint64_t *bytes, uint32_t *blocks)
{
    if (shim_opts.mode == MODE_EXACT) {
        *bytes = size;
        *blocks = 1;
        return;
    }
    uint64_t n;
    sample_weight(size, bytes, &n);
    *blocks = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* The stack and the table entry of an allocation chosen for recording: kept out of line so
 * the entry points' common path (count only) stays short. FIRST_RETURN NULL: the return
 * address saved in FRAME (read here, so the hot path need not keep it). */
__attribute__((noinline)) static void record_site(void *ptr, size_t requested, size_t usable,
                                                  void *frame, void *first_return)
{
    ptrtable_prefetch((uintptr_t)ptr, usable);
    if (!first_return)
        first_return = ((void **)frame)[1];
    uintptr_t pcs[ALLOCSCOPE_MAX_DEPTH];
    uint32_t site_id;
    unsigned depth = stack_capture(pcs, shim_opts.depth, frame, first_return, &site_id);
    if (!site_id) {
        site_id = sites_intern(pcs, depth);
        stack_capture_note_site(frame, first_return, site_id);
    }
    struct tracked_block block = {.ptr = (uintptr_t)ptr, .site_id = site_id, .size = requested};
    uint64_t bytes;
    uint32_t blocks;
    block_weight(requested, &bytes, &blocks);
    site_count_alloc(block.site_id, bytes, blocks);
    ptrtable_insert(&block, usable);
}

static inline __attribute__((always_inline)) void record_alloc(void *ptr, size_t requested,
                                                               void *frame, void *first_return)
{
    counters_self.last_alloc = (uintptr_t)ptr;
    size_t usable = block_usable_size(ptr);
    if (unlikely(counters_on_alloc(usable, requested)))
        record_site(ptr, requested, usable, frame, first_return);
}

static void count_untracked(const struct tracked_block *block, bool temporary)
{
    uint64_t bytes;
    uint32_t blocks;
    block_weight(block->size, &bytes, &blocks);
    site_count_free(block->site_id, bytes, blocks, temporary);
}

/* A block another thread allocated, held back by the thread that freed it, now out of the
 * tables (ptrtable.c): counted, and given back to the allocator. */
static void release_held(uintptr_t ptr, const struct tracked_block *found, bool temporary)
{
    if (found)
        count_untracked(found, temporary);
    real.free((void *)ptr);
}

/* True when the block is held back for a batch of remote frees: the caller must not free it. */
__attribute__((noinline)) static bool untrack_block(void *ptr, size_t usable, bool temporary)
{
    struct tracked_block block;
    enum ptrtable_free_result r = ptrtable_free((uintptr_t)ptr, usable, temporary, &block);
    if (r == PTRTABLE_FOUND)
        count_untracked(&block, temporary);
    return r == PTRTABLE_HELD;
}

/* Must run before the block goes back to the allocator: once freed, another thread may
 * receive the same address and track it. A block freed before its thread allocated again
 * is a temporary allocation (heaptrack's definition). True when the block is held back. */
static inline __attribute__((always_inline)) bool record_free(void *ptr)
{
    /* The block's shadow entry is often a cold line (a block made long ago, or by another
     * thread): fetched while its size is read. */
    shadow_prefetch((uintptr_t)ptr);
    size_t usable = block_usable_size(ptr);
    counters_on_free(usable);
    bool temporary = (uintptr_t)ptr == counters_self.last_alloc;
    if (temporary)
        counters_self.last_alloc = 0;
    return shim_opts.mode != MODE_COUNT && ptrtable_may_track((uintptr_t)ptr) &&
           untrack_block(ptr, usable, temporary);
}

void alloc_start_tracking(void)
{
    ptrtable_on_flush(release_held);
}

/* ---- the entry points ---- */

/* Resolves the real functions unless that is done; false while another call (this
 * thread's dlsym, or another thread) is resolving them: serve from the bootstrap buffer. */
static bool real_ready(void)
{
    if (likely(resolve_state == 2))
        return true;
    alloc_resolve_real();
    return resolve_state == 2;
}

static void *untracked_malloc(size_t size)
{
    return real_ready() ? real.malloc(size) : bootstrap_alloc(size, 16);
}

/* Inlined into each entry point, so that the common path is one function with one frame;
 * FRAME and FIRST_RETURN are only read when the stack is wanted. */
static inline __attribute__((always_inline)) void *malloc_recorded(size_t size, void *frame,
                                                                   void *first_return)
{
    if (unlikely(shim_busy || resolve_state != 2))
        return untracked_malloc(size);
    shim_busy = 1;
    void *p = real.malloc(size);
    if (likely(p != NULL) && recording())
        record_alloc(p, size, frame, first_return);
    shim_busy = 0;
    return p;
}

void *alloc_malloc_at(size_t size, void *frame, void *first_return)
{
    return malloc_recorded(size, frame, first_return);
}

EXPORT void *malloc(size_t size)
{
    return malloc_recorded(size, __builtin_frame_address(0), NULL);
}

__attribute__((noinline)) static void free_before_resolved(void *ptr)
{
    if (!real_ready())
        return; /* only bootstrap blocks exist before the real functions are known */
    if (shim_busy) {
        real.free(ptr);
        return;
    }
    shim_busy = 1;
    bool held = recording() && record_free(ptr);
    shim_busy = 0;
    if (!held)
        real.free(ptr);
}

/* The guard is dropped before the block goes back: the real free never calls back into the
 * shim, and if it did, that call would be recorded like any other. */
EXPORT void free(void *ptr)
{
    if (!ptr || unlikely(is_bootstrap(ptr)))
        return;
    if (unlikely(shim_busy || resolve_state != 2)) {
        free_before_resolved(ptr);
        return;
    }
    shim_busy = 1;
    bool held = recording() && record_free(ptr);
    shim_busy = 0;
    if (!held)
        real.free(ptr);
}

EXPORT void *calloc(size_t count, size_t size)
{
    if (unlikely(shim_busy || resolve_state != 2)) {
        if (!real_ready()) {
            size_t total;
            if (__builtin_mul_overflow(count, size, &total))
                return NULL;
            return bootstrap_alloc(total, 16); /* static storage, never reused: zero */
        }
        return real.calloc(count, size);
    }
    shim_busy = 1;
    void *p = real.calloc(count, size);
    if (p && recording())
        record_alloc(p, count * size, __builtin_frame_address(0), __builtin_return_address(0));
    shim_busy = 0;
    return p;
}

static void *realloc_from_bootstrap(void *ptr, size_t size)
{
    void *p = malloc(size);
    if (p) {
        size_t old = bootstrap_size(ptr);
        memcpy(p, ptr, old < size ? old : size);
    }
    return p;
}

static void *realloc_recorded(void *ptr, size_t size, void *frame, void *first_return)
{
    shim_busy = 1;
    bool on = recording();
    size_t old_usable = block_usable_size(ptr);
    struct tracked_block old_block;
    /* The filter first, as on free: in sampled mode a block not in the caller's table would
     * otherwise be looked for in every thread's. */
    bool was_tracked = on && shim_opts.mode != MODE_COUNT && ptrtable_may_track((uintptr_t)ptr) &&
                       ptrtable_remove((uintptr_t)ptr, old_usable, &old_block);
    void *p = real.realloc(ptr, size);
    if (!p && size != 0) { /* failed: the old block is still there */
        if (was_tracked)
            ptrtable_insert(&old_block, old_usable);
        shim_busy = 0;
        return NULL;
    }
    if (on) {
        counters_on_free(old_usable);
        if (was_tracked)
            count_untracked(&old_block, false);
        if (p)
            record_alloc(p, size, frame, first_return);
    }
    shim_busy = 0;
    return p;
}

EXPORT void *realloc(void *ptr, size_t size)
{
    if (unlikely(ptr && is_bootstrap(ptr)))
        return realloc_from_bootstrap(ptr, size);
    if (unlikely(shim_busy || resolve_state != 2)) {
        if (!ptr)
            return untracked_malloc(size);
        return real_ready() ? real.realloc(ptr, size) : NULL;
    }
    if (!ptr)
        return malloc(size);
    return realloc_recorded(ptr, size, __builtin_frame_address(0), __builtin_return_address(0));
}

EXPORT void *reallocarray(void *ptr, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (unlikely(ptr && is_bootstrap(ptr)))
        return realloc_from_bootstrap(ptr, total);
    if (unlikely(shim_busy || resolve_state != 2))
        return realloc(ptr, total);
    if (!ptr) {
        shim_busy = 1;
        void *p = real.malloc(total);
        if (p && recording())
            record_alloc(p, total, __builtin_frame_address(0), __builtin_return_address(0));
        shim_busy = 0;
        return p;
    }
    return realloc_recorded(ptr, total, __builtin_frame_address(0), __builtin_return_address(0));
}

/* Every aligned entry point goes through the real posix_memalign, so an allocator that
 * lacks memalign or pvalloc never has its blocks mixed with another allocator's. */
int alloc_aligned_at(void **out, size_t align, size_t size, void *frame, void *ret)
{
    if (align < sizeof(void *))
        align = sizeof(void *);
    if (unlikely(shim_busy || resolve_state != 2)) {
        if (!real_ready()) {
            *out = bootstrap_alloc(size, align);
            return *out ? 0 : ENOMEM;
        }
        return real.posix_memalign(out, align, size);
    }
    shim_busy = 1;
    int rc = real.posix_memalign(out, align, size);
    if (rc == 0 && recording())
        record_alloc(*out, size, frame, ret);
    shim_busy = 0;
    return rc;
}

static bool power_of_two(size_t x)
{
    return x && !(x & (x - 1));
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (!power_of_two(align) || align % sizeof(void *))
        return EINVAL;
    return alloc_aligned_at(out, align, size, __builtin_frame_address(0),
                            __builtin_return_address(0));
}

static void *aligned_or_errno(size_t align, size_t size, void *frame, void *ret)
{
    void *p = NULL;
    int rc = alloc_aligned_at(&p, align, size, frame, ret);
    if (rc) {
        errno = rc;
        return NULL;
    }
    return p;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (!power_of_two(align)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned_or_errno(align, size, __builtin_frame_address(0), __builtin_return_address(0));
}

EXPORT void *memalign(size_t align, size_t size)
{
    if (!power_of_two(align)) { /* glibc rounds up to the next power of two */
        size_t p2 = 1;
        while (p2 < align)
            p2 <<= 1;
        align = p2;
    }
    return aligned_or_errno(align, size, __builtin_frame_address(0), __builtin_return_address(0));
}

EXPORT void *valloc(size_t size)
{
    return aligned_or_errno((size_t)getpagesize(), size, __builtin_frame_address(0),
                            __builtin_return_address(0));
}

EXPORT void *pvalloc(size_t size)
{
    size_t page = (size_t)getpagesize();
    size_t rounded = (size + page - 1) & ~(page - 1);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned_or_errno(page, rounded ? rounded : page, __builtin_frame_address(0),
                            __builtin_return_address(0));
}

EXPORT size_t malloc_usable_size(void *ptr)
{
    if (!ptr)
        return 0;
    if (is_bootstrap(ptr))
        return bootstrap_size(ptr);
    return real_ready() ? real.malloc_usable_size(ptr) : 0;
}
