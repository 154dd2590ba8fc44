/* Stack capture. Frame pointers first (~tens of ns), bounded by the thread's stack; where
 * the chain is broken (code built without frame pointers uses rbp for data), libunwind's
 * DWARF unwinder, ten times dearer but right. The first frame, the caller of the
 * interposed function, is always exact: __builtin_return_address(0) of the entry point. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* ---- where a frame-pointer walk may read ----
 * The walk reads two words at each saved frame pointer, and code built without frame
 * pointers keeps anything in rbp. Reads are safe from the walk's first frame up to the end
 * of the mapping that holds it: that is one thread's stack (glibc puts a thread's
 * descriptor at the top of its stack mapping; the main thread's is [stack]). The mapping
 * is looked up in /proc/self/maps with plain system calls, once per stack a thread runs on.
 * pthread_getattr_np would be the obvious call, but it holds the thread's own descriptor
 * lock while it allocates (fopen of /proc/self/maps for the main thread): an allocation
 * made inside it that asked again would wait on itself forever, and Rust's runtime and
 * the JVM call it at start. */
#define KNOWN_STACKS 4
#define MAPS_RETRY_WALKS 1024 /* after a failed lookup (no /proc, no descriptors left) */

struct known_stacks {
    uintptr_t lo[KNOWN_STACKS], hi[KNOWN_STACKS];
    unsigned next;
    unsigned walks_before_retry;
};
static __thread struct known_stacks known_stacks SHIM_TLS;

static uintptr_t parse_hex(const char **p, const char *end)
{
    uintptr_t v = 0;
    for (; *p < end; (*p)++) {
        char c = **p;
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                            : 16;
        if (d == 16)
            break;
        v = v << 4 | d;
    }
    return v;
}

/* "lo-hi perms ...": true when the line is a readable mapping holding ADDR. */
static bool line_holds(const char *line, const char *end, uintptr_t addr, uintptr_t *lo,
                       uintptr_t *hi)
{
    const char *p = line;
    uintptr_t start = parse_hex(&p, end);
    if (p >= end || *p++ != '-')
        return false;
    uintptr_t stop = parse_hex(&p, end);
    if (p + 1 >= end || *p != ' ' || p[1] != 'r' || addr < start || addr >= stop)
        return false;
    *lo = start;
    *hi = stop;
    return true;
}

int find_mapping(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    size_t have = 0;
    bool mid_line = false, found = false;
    while (!found) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        size_t start = 0;
        char *nl;
        while (!found && (nl = memchr(buf + start, '\n', have - start)) != NULL) {
            found = !mid_line && line_holds(buf + start, nl, addr, lo, hi);
            mid_line = false;
            start = (size_t)(nl - buf) + 1;
        }
        if (start == 0 && have == sizeof(buf)) { /* a line longer than the buffer */
            mid_line = true;
            start = have;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
    }
    close(fd);
    return found ? 0 : -1;
}

/* The end of the stack mapping holding ADDR, or 0 when unknown (the walk then stops at the
 * first frame and, in auto mode, libunwind goes on). */
static uintptr_t stack_top_for(uintptr_t addr)
{
    struct known_stacks *k = &known_stacks;
    for (unsigned i = 0; i < KNOWN_STACKS; i++)
        if (addr >= k->lo[i] && addr < k->hi[i])
            return k->hi[i];
    if (k->walks_before_retry) {
        k->walks_before_retry--;
        return 0;
    }
    uintptr_t lo, hi;
    if (find_mapping(addr, &lo, &hi)) {
        k->walks_before_retry = MAPS_RETRY_WALKS;
        return 0;
    }
    unsigned slot = k->next;
    for (unsigned i = 0; i < KNOWN_STACKS; i++)
        if (k->hi[i] == hi) /* the same stack, grown downwards since */
            slot = i;
    if (slot == k->next)
        k->next = (k->next + 1) % KNOWN_STACKS;
    k->lo[slot] = lo;
    k->hi[slot] = hi;
    return hi;
}

/* Walks saved frame pointers from FRAME (a frame of the shim's entry point). Returns the
 * number of frames stored; *broken tells whether the walk stopped at an implausible frame
 * pointer rather than at the end of the chain (0) or at max_depth. */
static unsigned walk_frame_pointers(uintptr_t *pcs, unsigned max_depth, uintptr_t *frame,
                                    bool *broken, uintptr_t **last_frame)
{
    uintptr_t hi = stack_top_for((uintptr_t)frame);
    unsigned n = 0;
    *broken = false;
    while (n < max_depth) {
        uintptr_t ret = frame[1];
        if (ret < 4096)
            break;
        pcs[n++] = ret;
        uintptr_t next = frame[0];
        /* 0 ends a real chain (_start and thread starts clear rbp), but code built without
         * frame pointers may as well have held a 0 in rbp: let libunwind say which. */
        if (next == 0) {
            *broken = true;
            *last_frame = frame;
            break;
        }
        /* Written so that nothing can wrap around: rbp may hold any value. Without a known
         * stack top nothing past our own frame is safe to read. */
        bool plausible = hi != 0 && next > (uintptr_t)frame && (next & 7) == 0 &&
                         next < hi - 2 * sizeof(uintptr_t);
        if (!plausible) {
            *broken = true;
            *last_frame = frame;
            break;
        }
        frame = (uintptr_t *)next;
    }
    return n;
}

static unsigned unwind_with_libunwind(uintptr_t *pcs, unsigned max_depth, uintptr_t first)
{
    void *raw[ALLOCSCOPE_MAX_DEPTH + 8];
    int got = unw_backtrace(raw, (int)(max_depth + 8));
    int start = 0;
    /* Skip the shim's own frames: everything up to the caller's return address. */
    while (start < got && (uintptr_t)raw[start] != first)
        start++;
    if (start == got)
        start = got > 2 ? 2 : 0;
    unsigned n = 0;
    for (int i = start; i < got && n < max_depth; i++)
        pcs[n++] = (uintptr_t)raw[i];
    return n;
}

/* Where a walk breaks, the frames beyond are what libunwind adds. While the frame it broke
 * at is the same activation (same address, return address and saved rbp), those outer
 * frames cannot have changed: the main thread breaks at main's caller in libc (Debian's libc
 * has no frame pointers) on every allocation, and this cache spares libunwind there. */
struct outer_frames {
    uintptr_t frame, ret, saved;
    unsigned n;
    uintptr_t pcs[ALLOCSCOPE_MAX_DEPTH];
};
static __thread struct outer_frames outer_cache SHIM_TLS;

static unsigned append_outer(uintptr_t *pcs, unsigned n, unsigned max_depth,
                             const struct outer_frames *outer)
{
    for (unsigned i = 0; i < outer->n && n < max_depth; i++)
        pcs[n++] = outer->pcs[i];
    return n;
}

/* libunwind's answer joined to the frames the walk found (the outer frames cached as above). */
static unsigned join_libunwind(uintptr_t *pcs, unsigned n, unsigned max_depth, uintptr_t first,
                               uintptr_t *last_frame)
{
    struct outer_frames *cache = &outer_cache;
    uintptr_t full[ALLOCSCOPE_MAX_DEPTH];
    unsigned m = unwind_with_libunwind(full, max_depth, first);
    unsigned join = 0;
    while (join < m && full[join] != pcs[n - 1])
        join++;
    if (join == m) { /* libunwind saw another stack: trust it whole, cache nothing */
        for (unsigned i = 0; i < m; i++)
            pcs[i] = full[i];
        return m > n ? m : n;
    }
    cache->frame = (uintptr_t)last_frame;
    cache->ret = last_frame[1];
    cache->saved = last_frame[0];
    cache->n = m - join - 1;
    for (unsigned i = 0; i < cache->n; i++)
        cache->pcs[i] = full[join + 1 + i];
    return append_outer(pcs, n, max_depth, cache);
}

/* ---- stacks remembered where they were found ----
 * Code without frame pointers (redis, most distributions' libraries) breaks the walk at its
 * first frame, and libunwind then costs more than the rest of the recording: in redis-server
 * about a sixth of the process's time, mostly misses in its 256 KiB per-thread frame cache.
 * But a server allocates from the same few call paths at the same depths, over and over. So a
 * stack libunwind found is kept with where each return address sat on the stack (found by
 * scanning up from the entry point's frame), keyed by the entry point's frame and its caller.
 * The next allocation there takes it if every one of those stack words still holds the same
 * return address: a call site at the same place on the stack is the same call chain, as far
 * as the frames' sizes are fixed (a frame sized by alloca could pass with a caller's slot
 * left unchecked; the outer-frame cache above makes the same bet). */
#define STACK_MEMO_SETS 8
/* Stacks kept per key: a program that allocates through one wrapper (redis's zmalloc)
 * reaches it from many chains at the same depth. */
#define STACK_MEMO_WAYS 4
#define STACK_MEMO_SCAN_WORDS 8192 /* 64 KiB of stack at most between the first and last */

struct stack_memo {
    uintptr_t first, frame;
    unsigned n;       /* 0: empty (also while it is being written: a signal handler may allocate) */
    uint32_t site_id; /* the stack's site once interned (0: not yet) */
    uint32_t slot[ALLOCSCOPE_MAX_DEPTH]; /* words above the entry's frame */
    uintptr_t pcs[ALLOCSCOPE_MAX_DEPTH];
};
static __thread struct stack_memo stack_memos[STACK_MEMO_SETS][STACK_MEMO_WAYS] SHIM_TLS;
static __thread uint8_t stack_memo_next_way[STACK_MEMO_SETS] SHIM_TLS; /* round robin */
/* The memo this thread's last capture took or wrote without a site yet, for the site that
 * capture's stack is then given (stack_capture_note_site). */
static __thread struct stack_memo *memo_awaiting_site SHIM_TLS;

static unsigned stack_memo_set(uintptr_t first, uintptr_t frame)
{
    uint64_t h = (first ^ (frame * 0x9e3779b97f4a7c15ull)) * 0x9e3779b97f4a7c15ull;
    return (unsigned)(h >> 61);
}
_Static_assert(STACK_MEMO_SETS == 8, "stack_memo_set yields 3 bits");

static bool stack_memo_holds(const struct stack_memo *memo, unsigned max_depth, uintptr_t first,
                             const uintptr_t *frame)
{
    unsigned n = memo->n;
    if (n == 0 || n > max_depth || memo->first != first || memo->frame != (uintptr_t)frame)
        return false;
    for (unsigned i = 1; i < n; i++)
        if (frame[memo->slot[i]] != memo->pcs[i])
            return false;
    return true;
}

static unsigned stack_memo_take(uintptr_t *pcs, unsigned max_depth, uintptr_t first,
                                uintptr_t *frame, uint32_t *site_id)
{
    struct stack_memo *set = stack_memos[stack_memo_set(first, (uintptr_t)frame)], *memo = NULL;
    for (unsigned way = 0; way < STACK_MEMO_WAYS && !memo; way++)
        if (stack_memo_holds(&set[way], max_depth, first, frame))
            memo = &set[way];
    if (!memo)
        return 0;
    unsigned n = memo->n;
    for (unsigned i = 0; i < n; i++)
        pcs[i] = memo->pcs[i];
    *site_id = memo->site_id;
    if (!memo->site_id)
        memo_awaiting_site = memo;
    return n;
}

static void stack_memo_keep(const uintptr_t *pcs, unsigned n, uintptr_t *frame)
{
    uintptr_t top = stack_top_for((uintptr_t)frame);
    if (n == 0 || pcs[0] != frame[1] || top == 0)
        return;
    uint32_t slot[ALLOCSCOPE_MAX_DEPTH];
    uintptr_t limit = (top - (uintptr_t)frame) / sizeof(uintptr_t);
    if (limit > STACK_MEMO_SCAN_WORDS)
        limit = STACK_MEMO_SCAN_WORDS;
    uintptr_t at = 2;
    slot[0] = 1;
    for (unsigned i = 1; i < n; i++, at++) {
        while (at < limit && frame[at] != pcs[i])
            at++;
        if (at >= limit)
            return; /* not found where a return address would be: keep nothing */
        slot[i] = (uint32_t)at;
    }
    unsigned set = stack_memo_set(pcs[0], (uintptr_t)frame);
    unsigned way = stack_memo_next_way[set]++ % STACK_MEMO_WAYS;
    struct stack_memo *memo = &stack_memos[set][way];
    memo->n = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    memo->first = pcs[0];
    memo->frame = (uintptr_t)frame;
    memo->site_id = 0;
    for (unsigned i = 0; i < n; i++)
        memo->slot[i] = slot[i], memo->pcs[i] = pcs[i];
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    memo->n = n;
    memo_awaiting_site = memo;
}

/* The site the last capture's stack was interned as, kept with its memo: the next allocation
 * there skips hashing and comparing the stack too. Only for the memo that very capture took
 * or wrote, and only while it still holds that capture's key (a signal handler's allocation
 * in between may have reused the slot). */
void stack_capture_note_site(const void *frame, const void *first_return, uint32_t site_id)
{
    struct stack_memo *memo = memo_awaiting_site;
    memo_awaiting_site = NULL;
    if (memo && site_id && memo->n && memo->frame == (uintptr_t)frame &&
        memo->first == (uintptr_t)first_return)
        memo->site_id = site_id;
}

static unsigned complete_with_libunwind(uintptr_t *pcs, unsigned n, unsigned max_depth,
                                        uintptr_t first, uintptr_t *frame, uintptr_t *last_frame,
                                        uint32_t *site_id)
{
    const struct outer_frames *cache = &outer_cache;
    if (cache->frame == (uintptr_t)last_frame && cache->ret == last_frame[1] &&
        cache->saved == last_frame[0])
        return append_outer(pcs, n, max_depth, cache);
    unsigned remembered = stack_memo_take(pcs, max_depth, first, frame, site_id);
    if (remembered)
        return remembered;
    n = join_libunwind(pcs, n, max_depth, first, last_frame);
    stack_memo_keep(pcs, n, frame);
    return n;
}

unsigned stack_capture(uintptr_t *pcs, unsigned max_depth, void *frame, void *first_return,
                       uint32_t *site_id)
{
    uintptr_t first = (uintptr_t)first_return;
    *site_id = 0;
    memo_awaiting_site = NULL;
    if (shim_opts.unwind == UNWIND_LIBUNWIND)
        return unwind_with_libunwind(pcs, max_depth, first);
    bool broken;
    uintptr_t *last_frame = NULL;
    unsigned n = walk_frame_pointers(pcs, max_depth, frame, &broken, &last_frame);
    if (n == 0 || pcs[0] != first) { /* the entry point's own frame is not where we think */
        pcs[0] = first;
        return shim_opts.unwind == UNWIND_AUTO ? unwind_with_libunwind(pcs, max_depth, first) : 1;
    }
    if (broken && n < max_depth && shim_opts.unwind == UNWIND_AUTO)
        n = complete_with_libunwind(pcs, n, max_depth, first, (uintptr_t *)frame, last_frame,
                                    site_id);
    return n;
}

/* libunwind reads /proc and allocates on its first use; do that once at init, under the
 * guard, rather than inside some later allocation. */
void stacks_prime(void)
{
    /* A per-thread cache: libunwind's global one is a mutex held while it searches the
     * loaded objects (dl_iterate_phdr, which holds the loader's lock around callbacks that
     * may allocate), and two threads taking those two locks in opposite orders would
     * deadlock. */
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    void *raw[4];
    unw_backtrace(raw, 4);
}

void sample_weight(size_t size, uint64_t *bytes, uint64_t *blocks)
{
    double s = size ? (double)size : 1.0;
    double p = -expm1(-s / (double)shim_opts.sample_bytes); /* 1 - exp(-s/M), exact for small s */
    *bytes = (uint64_t)llround((double)size / p);
    *blocks = (uint64_t)llround(1.0 / p);
    if (*blocks == 0)
        *blocks = 1;
}
