/* Reachability of the live blocks, as valgrind's memcheck classifies them at exit:
 *   still reachable  a pointer to its start is found from the roots through such pointers;
 *   possibly lost    only pointers into its middle (or through a possibly lost block);
 *   definitely lost  no pointer from the roots, and none from another lost block;
 *   indirectly lost  no pointer from the roots, but one from a lost block.
 * Roots: the writable segments of every loaded object (data, bss), every thread's stack
 * from its stack pointer and its registers, and the static TLS beside each thread's TCB.
 * Aligned pointer-sized words are read, as memcheck does; a block's words up to its
 * requested size. The other threads are stopped meanwhile (stopworld.c).
 *
 * Nothing here allocates: the working arrays are mapped, and stopped threads may hold the
 * allocator's locks. The loaded objects are listed before any lock is taken
 * (dl_iterate_phdr takes the loader's lock, which a thread may hold while it allocates).
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "common/columns.h"

enum reach { UNREACHED, POSSIBLE, REACHABLE, INDIRECT };
enum { DEFINITELY_LOST, INDIRECTLY_LOST, POSSIBLY_LOST, STILL_REACHABLE, N_CLASSES };
static const char *const class_names[N_CLASSES] = {
    REACHABILITY_DEFINITELY_LOST, REACHABILITY_INDIRECTLY_LOST, REACHABILITY_POSSIBLY_LOST,
    REACHABILITY_STILL_REACHABLE};

struct block {
    uintptr_t start;
    uint64_t size;
    uint32_t site_id;
    uint8_t state;
};

struct range {
    uintptr_t lo, hi;
};

#define MAX_ROOT_RANGES 8192
#define MAX_EXCLUDED 8192
#define STACK_RED_ZONE 128 /* x86-64 leaf functions may keep data just below the sp */
#define TCB_BOUND 4096     /* glibc's thread descriptor (2.3 KiB in 2.36) fits below this */
#define TLS_DEFAULT_BELOW (64 * 1024)

struct scan {
    struct block *blocks;
    size_t n, blocks_cap;
    uintptr_t lowest, highest; /* of all blocks, for a quick miss */
    uint32_t *stack;           /* of block indices still to read */
    size_t depth, stack_cap;
    struct range roots[MAX_ROOT_RANGES];
    size_t n_roots;
    /* Memory that holds no pointer of the program's: the shim's own thread-local block in
     * every thread (its latest allocation, for temporaries) and glibc's main arena (its top
     * and bin pointers point at chunk headers, which sit in the last bytes of the block
     * before them). Left out of the roots. */
    struct range excluded[MAX_EXCLUDED];
    size_t n_excluded;
    uintptr_t shim_tls_offset, shim_tls_size; /* from the thread pointer */
    struct range loader_code;                 /* ld.so's executable segment */
};

static void add_root(struct scan *s, uintptr_t lo, uintptr_t hi)
{
    if (lo < hi && s->n_roots < MAX_ROOT_RANGES)
        s->roots[s->n_roots++] = (struct range){lo, hi};
}

static void exclude(struct scan *s, uintptr_t lo, uintptr_t hi)
{
    if (lo < hi && s->n_excluded < MAX_EXCLUDED)
        s->excluded[s->n_excluded++] = (struct range){lo, hi};
}

/* ---- the loaded objects' writable segments ---- */

/* glibc's main arena, from its bins: an empty bin's two links point at the bin itself,
 * 16 bytes before its first link, and most of the 126 bins are empty. The arena spans a
 * little before the bins (mutex, flags, fast bins, top, last remainder) and after them
 * (bin map, list links, sizes). */
static void exclude_glibc_arena(struct scan *s, uintptr_t lo, uintptr_t hi)
{
    enum { BINS_BYTES = 127 * 16, MARGIN = 256 };
    uintptr_t empty[256];
    size_t n = 0, best = 0, best_count = 0;
    for (uintptr_t a = (lo + 7) & ~(uintptr_t)7; a + 16 <= hi && n < 256; a += 8) {
        const uintptr_t *w = (const uintptr_t *)a;
        if (w[0] == a - 16 && w[1] == a - 16)
            empty[n++] = a;
    }
    for (size_t i = 0, j = 0; i < n; i++) { /* the densest stretch the size of the bins */
        while (j < n && empty[j] < empty[i] + BINS_BYTES)
            j++;
        if (j - i > best_count)
            best_count = j - i, best = i;
    }
    if (best_count >= 32)
        exclude(s, empty[best] - MARGIN, empty[best] + BINS_BYTES + MARGIN);
}

static bool object_is(const struct dl_phdr_info *info, const char *name)
{
    const char *base = strrchr(info->dlpi_name, '/');
    return !strncmp(base ? base + 1 : info->dlpi_name, name, strlen(name));
}

static int add_object_segments(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct scan *s = arg;
    uintptr_t own = (uintptr_t)&add_object_segments;
    bool is_shim = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && own >= lo && own < lo + ph->p_memsz)
            is_shim = true; /* our own tables hold no program pointers */
    }
    for (int i = 0; i < info->dlpi_phnum && is_shim; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_TLS && info->dlpi_tls_data) {
            s->shim_tls_offset = (uintptr_t)info->dlpi_tls_data - (uintptr_t)pthread_self();
            s->shim_tls_size = ph->p_memsz;
        }
    }
    for (int i = 0; i < info->dlpi_phnum && object_is(info, "ld-linux"); i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X))
            s->loader_code = (struct range){info->dlpi_addr + ph->p_vaddr,
                                            info->dlpi_addr + ph->p_vaddr + ph->p_memsz};
    }
    for (int i = 0; i < info->dlpi_phnum && object_is(info, "libc.so"); i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W))
            exclude_glibc_arena(s, info->dlpi_addr + ph->p_vaddr,
                                info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
    }
    for (int i = 0; i < info->dlpi_phnum && !is_shim; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            add_root(s, lo, lo + ph->p_memsz);
        }
    }
    return 0;
}

/* ---- the blocks ---- */

static void collect_block(const struct tracked_block *b, void *arg)
{
    struct scan *s = arg;
    if (s->n < s->blocks_cap) /* a thread the stop could not reach may still allocate */
        s->blocks[s->n++] = (struct block){.start = b->ptr, .size = b->size, .site_id = b->site_id};
}

/* Heapsort by start address: no recursion, no allocation (qsort may allocate). */
static void sift_down(struct block *a, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && a[child + 1].start > a[child].start)
            child++;
        if (a[root].start >= a[child].start)
            return;
        struct block t = a[root];
        a[root] = a[child];
        a[child] = t;
    }
}

static void sort_blocks(struct block *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t end = n; end-- > 1;) {
        struct block t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

/* The block holding address P (its start, or inside its requested bytes), or -1. */
static long block_at(const struct scan *s, uintptr_t p)
{
    if (p < s->lowest || p >= s->highest)
        return -1;
    size_t lo = 0, hi = s->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->blocks[mid].start <= p)
            lo = mid;
        else
            hi = mid;
    }
    const struct block *b = &s->blocks[lo];
    return p == b->start || (p > b->start && p - b->start < b->size) ? (long)lo : -1;
}

/* ---- marking from the roots ---- */

static void push(struct scan *s, size_t i)
{
    if (s->depth < s->stack_cap)
        s->stack[s->depth++] = (uint32_t)i;
}

/* memcheck's rule: a start pointer from a definite place makes a block reachable; any other
 * pointer makes an unreached block possible. A block whose state rises is read (again). */
static void reach_from(struct scan *s, uintptr_t p, bool definite)
{
    long i = block_at(s, p);
    if (i < 0)
        return;
    struct block *b = &s->blocks[i];
    if (b->state == REACHABLE)
        return;
    if (p == b->start && definite) {
        b->state = REACHABLE;
        push(s, (size_t)i);
    } else if (b->state == UNREACHED) {
        b->state = POSSIBLE;
        push(s, (size_t)i);
    }
}

static void read_words(struct scan *s, uintptr_t lo, uintptr_t hi, bool definite)
{
    for (uintptr_t a = (lo + 7) & ~(uintptr_t)7; a + sizeof(uintptr_t) <= hi;
         a += sizeof(uintptr_t))
        reach_from(s, *(const uintptr_t *)a, definite);
}

/* Reads a root range but its excluded parts. */
static void read_root(struct scan *s, uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < s->n_excluded && lo < hi; i++) {
        const struct range *x = &s->excluded[i];
        if (x->hi <= lo || x->lo >= hi)
            continue;
        if (x->lo > lo)
            read_root(s, lo, x->lo); /* the part before, against the remaining exclusions */
        lo = x->hi;
    }
    if (lo < hi)
        read_words(s, lo, hi, true);
}

/* What the loader allocates is glibc's own bookkeeping: a joined thread's TLS vector, for
 * one, stays with its stack in glibc's stack cache, which no root names (valgrind frees it
 * with __libc_freeres before its scan). Reachable, whatever points to it. */
static void keep_loader_blocks(struct scan *s)
{
    for (size_t i = 0; i < s->n && s->loader_code.hi; i++) {
        struct block *b = &s->blocks[i];
        const struct site *site = sites_get(b->site_id);
        uintptr_t caller = site->depth && b->site_id < sites_count() ? sites_stack(site)[0] : 0;
        if (b->state != REACHABLE && caller >= s->loader_code.lo && caller < s->loader_code.hi) {
            b->state = REACHABLE;
            push(s, i);
        }
    }
}

static void drain(struct scan *s)
{
    while (s->depth) {
        const struct block *b = &s->blocks[s->stack[--s->depth]];
        read_words(s, b->start, b->start + b->size, b->state == REACHABLE);
    }
}

/* ---- the lost blocks: cliques ---- */

/* In address order, each block still unreached leads a clique: every unreached block it
 * leads to is indirectly lost (an earlier leader too); the leader stays definitely lost. */
static void find_cliques(struct scan *s)
{
    for (size_t leader = 0; leader < s->n; leader++) {
        if (s->blocks[leader].state != UNREACHED)
            continue;
        push(s, leader);
        while (s->depth) {
            const struct block *b = &s->blocks[s->stack[--s->depth]];
            for (uintptr_t a = (b->start + 7) & ~(uintptr_t)7; a + 8 <= b->start + b->size;
                 a += 8) {
                long i = block_at(s, *(const uintptr_t *)a);
                if (i >= 0 && (size_t)i != leader && s->blocks[i].state == UNREACHED) {
                    s->blocks[i].state = INDIRECT;
                    push(s, (size_t)i);
                }
            }
        }
    }
}

/* ---- stacks, registers, TLS ---- */

/* The static TLS block ends at the thread pointer (x86-64: TLS below the TCB); its size
 * is glibc's, from _dl_get_tls_static_info (what the sanitizers use), where it answers. */
static size_t static_tls_size(void)
{
    static size_t size;
    if (!size) {
        void (*info)(size_t *, size_t *) =
            (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
        size_t align = 0;
        if (info)
            info(&size, &align);
        if (!size)
            size = TLS_DEFAULT_BELOW;
    }
    return size;
}

static uintptr_t clip(uintptr_t v, uintptr_t lo, uintptr_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A thread's stack from its stack pointer to its TCB (glibc puts the TCB and the static
 * TLS at the top of a thread's stack mapping); where the TCB is elsewhere (the main
 * thread), the stack to the end of its mapping and the TLS block beside the TCB. */
static void add_stack(struct scan *s, uintptr_t sp, uintptr_t thread_pointer)
{
    uintptr_t lo, hi;
    if (thread_pointer && s->shim_tls_size)
        exclude(s, thread_pointer + s->shim_tls_offset,
                thread_pointer + s->shim_tls_offset + s->shim_tls_size);
    if (sp && find_mapping(sp, &lo, &hi) == 0) {
        uintptr_t from = sp - STACK_RED_ZONE >= lo ? sp - STACK_RED_ZONE : lo;
        if (thread_pointer >= from && thread_pointer < hi) {
            add_root(s, from, clip(thread_pointer + TCB_BOUND, from, hi));
            return;
        }
        add_root(s, from, hi);
    }
    if (thread_pointer && find_mapping(thread_pointer, &lo, &hi) == 0)
        add_root(s, clip(thread_pointer - static_tls_size(), lo, hi),
                 clip(thread_pointer + TCB_BOUND, lo, hi));
}

/* ---- results ---- */

static int class_of(const struct block *b)
{
    switch (b->state) {
    case REACHABLE:
        return STILL_REACHABLE;
    case POSSIBLE:
        return POSSIBLY_LOST;
    case INDIRECT:
        return INDIRECTLY_LOST;
    default:
        return DEFINITELY_LOST;
    }
}

static void write_results(const struct scan *s, const char *dir, struct out_file *facts,
                          unsigned stopped, unsigned unanswered)
{
    uint32_t nsites = sites_count();
    uint64_t(*per_site)[N_CLASSES][2] = shim_map_zeroed((size_t)nsites * sizeof(*per_site));
    uint64_t totals[N_CLASSES][2] = {{0}};
    for (size_t i = 0; i < s->n; i++) {
        const struct block *b = &s->blocks[i];
        int c = class_of(b);
        totals[c][0] += b->size;
        totals[c][1]++;
        if (per_site && b->site_id < nsites) {
            per_site[b->site_id][c][0] += b->size;
            per_site[b->site_id][c][1]++;
        }
    }
    static struct replacement r;
    struct out_file *f = &r.file;
    if (per_site && out_open_replacement(&r, dir, "reachability.csv") == 0) {
        out_printf(f, REACHABILITY_CSV_HEADER "\n");
        for (uint32_t id = 0; id < nsites; id++) {
            uint64_t any = 0;
            for (int c = 0; c < N_CLASSES; c++)
                any |= per_site[id][c][1];
            if (!any)
                continue;
            out_printf(f, "%u", id);
            for (int c = 0; c < N_CLASSES; c++)
                out_printf(f, ",%llu,%llu", (unsigned long long)per_site[id][c][0],
                           (unsigned long long)per_site[id][c][1]);
            out_printf(f, "\n");
        }
        out_commit_replacement(&r);
    }
    if (per_site)
        munmap(per_site, (size_t)nsites * sizeof(*per_site));
    out_printf(facts,
               "reachability_t_ms=%llu\nreachability_threads_stopped=%u\n"
               "reachability_threads_unanswered=%u\n",
               (unsigned long long)now_ms_since_t0(), stopped, unanswered);
    for (int c = 0; c < N_CLASSES; c++)
        out_printf(facts, "reachability_%s_bytes=%llu\nreachability_%s_blocks=%llu\n",
                   class_names[c], (unsigned long long)totals[c][0], class_names[c],
                   (unsigned long long)totals[c][1]);
    out_flush(facts);
}

/* ---- the scan ---- */

static void lock_everything(void)
{
    counters_lock_for_fork();
    ptrtable_lock_pending();
    site_counts_lock_for_fork();
    sites_lock_for_fork();
    ptrtable_lock_for_fork();
}

static void unlock_everything(void)
{
    ptrtable_unlock_after_fork();
    sites_unlock_after_fork();
    site_counts_after_fork(false);
    ptrtable_unlock_pending();
    counters_unlock_after_fork();
}

/* The roots of the threads: the caller's stack from here up (the scan's own frames are
 * below), every stopped thread's stack and registers. */
static unsigned add_thread_roots(struct scan *s, struct stopped_thread *threads, unsigned n,
                                 uintptr_t caller_sp, bool caller_is_program, unsigned *unanswered)
{
    unsigned stopped = 0;
    *unanswered = 0;
    if (caller_is_program)
        add_stack(s, caller_sp, (uintptr_t)pthread_self());
    for (unsigned i = 0; i < n; i++) {
        if (threads[i].state == STOPPED_GONE)
            continue;
        stopped += threads[i].state == STOPPED_BY_SIGNAL;
        *unanswered += threads[i].state == STOPPED_UNANSWERED;
        add_stack(s, threads[i].sp, threads[i].thread_pointer);
    }
    return stopped;
}

static void mark_from_threads(struct scan *s, struct stopped_thread *threads, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (threads[i].state == STOPPED_BY_SIGNAL)
            for (unsigned r = 0; r < STOPWORLD_REGISTERS; r++)
                reach_from(s, threads[i].registers[r], true);
}

__attribute__((noinline)) void reachability_scan(const char *dir, struct out_file *facts,
                                                 pid_t skip_thread)
{
    uintptr_t caller_sp = (uintptr_t)__builtin_frame_address(0) + 2 * sizeof(uintptr_t);
    bool caller_is_program = (pid_t)syscall(SYS_gettid) != skip_thread;
    static struct scan s; /* large: the root list */
    memset(&s, 0, offsetof(struct scan, roots));
    s.n_roots = s.n_excluded = 0;
    s.shim_tls_offset = s.shim_tls_size = 0;
    s.loader_code = (struct range){0, 0};
    static_tls_size(); /* dlsym takes the loader's lock: before ours */
    dl_iterate_phdr(add_object_segments, &s);
    lock_everything();
    /* Counted once the others stand still: the shadow's blocks are added without a lock. */
    struct stopped_thread *threads;
    unsigned nthreads = stopworld_stop(skip_thread, &threads), unanswered;
    size_t tracked = ptrtable_size();
    s.blocks = shim_map_zeroed(tracked * sizeof(struct block));
    s.stack_cap = 2 * tracked + 1;
    s.stack = shim_map_zeroed(s.stack_cap * sizeof(uint32_t));
    if (!s.blocks || !s.stack) {
        if (s.blocks)
            munmap(s.blocks, tracked * sizeof(struct block));
        if (s.stack)
            munmap(s.stack, s.stack_cap * sizeof(uint32_t));
        stopworld_resume();
        unlock_everything();
        shim_warn("cannot map memory for the reachability scan; it is skipped");
        return;
    }
    s.blocks_cap = tracked;
    ptrtable_visit(collect_block, &s);
    sort_blocks(s.blocks, s.n);
    if (s.n) {
        s.lowest = s.blocks[0].start;
        s.highest = s.blocks[s.n - 1].start + (s.blocks[s.n - 1].size ? s.blocks[s.n - 1].size : 1);
    }
    unsigned stopped =
        add_thread_roots(&s, threads, nthreads, caller_sp, caller_is_program, &unanswered);
    for (size_t i = 0; i < s.n_roots; i++)
        read_root(&s, s.roots[i].lo, s.roots[i].hi);
    mark_from_threads(&s, threads, nthreads);
    keep_loader_blocks(&s);
    drain(&s);
    find_cliques(&s);
    stopworld_resume();
    unlock_everything();
    write_results(&s, dir, facts, stopped, unanswered);
    munmap(s.blocks, tracked * sizeof(struct block));
    munmap(s.stack, s.stack_cap * sizeof(uint32_t));
}
