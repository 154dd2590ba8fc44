/* Internal interfaces of the shim, shared by its files (one concern per file):
 *   options.c   reads the environment once
 *   alloc.c     the interposed entry points and the real allocator's functions
 *   cxx.c       C++ operators new and delete
 *   counters.c  per-thread counters and the size-class histogram
 *   stacks.c    stack capture (frame pointers, libunwind fallback) and sampling decisions
 *   sites.c     the table of allocation sites (one per distinct stack)
 *   sitecounts.c per-site counts kept per thread and folded into the sites in batches
 *   ptrtable.c  the table of tracked live blocks (exact mode: all; sampled: the sampled)
 *   shadow.c    exact mode's small live blocks, by address (ptrtable.c asks it first)
 *   reachability.c memcheck's four classes for the live blocks at exit (exact mode)
 *   stopworld.c the other threads stopped while reachability reads their stacks and registers
 *   output.c    buffered raw file writing without stdio, and reading small files
 *   sampler.c   the sampler thread: samples.csv, snapshots of sites, reclaim, trim
 *   allocator.c which allocator serves malloc: its statistics, settings, release call
 *               (allocator.h: its interface, for sampler.c)
 *   lifecycle.c initialization, fork, exec and exit
 *   exec.c      the exec family: the recording handed over to the new image
 */
#ifndef ALLOCSCOPE_SHIM_INTERNAL_H
#define ALLOCSCOPE_SHIM_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "allocscope.h"

#define SHIM_TLS __attribute__((tls_model("initial-exec")))
#define SHIM_HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* The shim's own memory comes from mmap, never from the allocator it records. */
static inline void *shim_map_zeroed(size_t bytes)
{
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* A test-and-set lock released by a plain store: one locked instruction per critical section
 * where a mutex takes two, and locked instructions are most of exact mode's cost. A waiter
 * spins briefly, then yields its core: with more threads than cores the holder may have been
 * preempted, and pure spinning then burns whole time slices (measured: exact mode 10x slower
 * on 4 threads over 2 cores). For short sections that never block. */
__attribute__((noinline)) static void spin_yield_wait(int *held)
{
    for (unsigned spins = 0;; spins++) {
        if (!__atomic_load_n(held, __ATOMIC_RELAXED) &&
            !__atomic_exchange_n(held, 1, __ATOMIC_ACQUIRE))
            return;
        if (spins < 64)
            __builtin_ia32_pause();
        else
            sched_yield();
    }
}

static inline void spin_yield_lock(int *held)
{
    if (unlikely(__atomic_exchange_n(held, 1, __ATOMIC_ACQUIRE)))
        spin_yield_wait(held);
}

static inline void spin_yield_unlock(int *held)
{
    __atomic_store_n(held, 0, __ATOMIC_RELEASE);
}

/* ---- options.c ---- */
enum shim_mode { MODE_COUNT, MODE_SAMPLED, MODE_EXACT };
enum shim_unwind { UNWIND_AUTO, UNWIND_FP, UNWIND_LIBUNWIND };

struct shim_options {
    char out_dir[PATH_MAX - 64]; /* room for children/PID-N/FILE below it */
    enum shim_mode mode;
    uint64_t sample_bytes; /* mean interval; 0 in exact and count modes */
    unsigned depth;
    unsigned interval_ms;
    unsigned site_interval_ms;
    unsigned smaps_cpu_percent; /* 0: smaps_rollup only where a row must be exact */
    enum shim_unwind unwind;
    bool follow_fork;
    bool follow_exec;
    pid_t main_pid; /* 0: this process is the main one */
    uint64_t t0_ns;
    unsigned trim_ms;
    char control_path[PATH_MAX];
    bool reachability; /* exact mode: classify the unfreed blocks at exit */
};
extern struct shim_options shim_opts;
void options_load(void);
const char *mode_name(enum shim_mode mode);
const char *unwind_name(enum shim_unwind unwind);

/* ---- alloc.c ---- */
struct real_allocator {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    size_t (*malloc_usable_size)(void *);
};
extern struct real_allocator real;
/* Set while the current thread is inside the shim: nested calls go straight to the real
 * allocator unrecorded (dlsym, libunwind, pthread and the sampler's own allocations). */
extern __thread int shim_busy SHIM_TLS;
void alloc_resolve_real(void);
/* Picks how the hot path learns a block's usable size (runs once, under the guard). */
void alloc_choose_usable_size(void);
const char *alloc_usable_size_source(void); /* "glibc-header" or "malloc_usable_size" */
/* malloc and posix_memalign recording FRAME/FIRST_RETURN as the caller: for wrappers
 * (operator new) whose own caller is the interesting frame. */
void *alloc_malloc_at(size_t size, void *frame, void *first_return);
/* From initialization, once the tables exist: frees of other threads' blocks may be held. */
void alloc_start_tracking(void);
/* ---- exec.c ---- */
void exec_prepare(void); /* the next library's exec functions, the variables to carry */
/* ---- cxx.c ---- */
void cxx_resolve_next(void); /* the next library's operators new, for failures */
int alloc_aligned_at(void **out, size_t align, size_t size, void *frame, void *first_return);

/* ---- lifecycle.c ---- */
/* SHIM_FORKED: a child of fork() that follows forks; its files are opened and its sampler
 * started on its first recorded call (not in the atfork handler, where little is safe). */
enum shim_state { SHIM_UNINIT, SHIM_RECORDING, SHIM_PASSTHROUGH, SHIM_FORKED };
extern volatile int shim_state;
void lifecycle_init(void); /* idempotent; called on the first call that would record */
/* Around an exec (exec.c): this image's recording is finished and moved to images/; if the
 * exec fails, it goes on where it was. */
void lifecycle_before_exec(const char *path);
void lifecycle_after_failed_exec(int err);
uint64_t now_ms_since_t0(void);

/* ---- counters.c ---- */
#define HIST_CLASSES 40
/* Cumulative counts; live bytes and blocks are the differences, so the hot path stores
 * as little as possible (allocation calls are the histogram's sum, not stored apart). */
struct counter_totals {
    uint64_t alloc_calls; /* filled in by counters_sum */
    uint64_t free_calls;
    uint64_t alloc_bytes;
    uint64_t free_bytes;
    uint64_t hist[HIST_CLASSES];
};

/* Each thread is the only writer of its own block (relaxed stores, no read-modify-write);
 * the sampler sums the blocks of live threads plus what exited threads left behind. */
struct thread_counters {
    struct counter_totals counts;
    int64_t bytes_until_sample; /* sampled mode: bytes to the next sampled allocation */
    uint64_t rng;
    struct thread_counters *next, *prev;
    int state; /* COUNTERS_NEW, _REGISTERED, _EXITED */
    /* sitecounts.c: this thread's pending per-site changes, and the lock under which they
     * move to the shared counters */
    struct site_delta *site_deltas;
    bool site_deltas_failed;
    int site_fold_held;
    uintptr_t last_alloc; /* this thread's latest allocation, for temporary allocations */
};
enum { COUNTERS_NEW, COUNTERS_REGISTERED, COUNTERS_EXITED };
extern __thread struct thread_counters counters_self SHIM_TLS;

/* The slow paths: a thread's first call, calls after its destructor ran, a new sample. */
bool counters_on_alloc_slow(size_t usable, size_t requested);
void counters_on_free_slow(size_t usable);
bool counters_sample_drawn(struct thread_counters *c, size_t requested);

static inline unsigned size_class(size_t size)
{
    if (size <= 16)
        return 0;
    unsigned cls = 64 - (unsigned)__builtin_clzll((unsigned long long)(size - 1)) - 4;
    return cls < HIST_CLASSES ? cls : HIST_CLASSES - 1;
}

#define COUNTER_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)

/* Counts an allocation; true when its stack is to be recorded (every one in exact mode,
 * the sampled ones in sampled mode, none in count mode). */
static inline bool counters_on_alloc(size_t usable, size_t requested)
{
    struct thread_counters *c = &counters_self;
    if (unlikely(c->state != COUNTERS_REGISTERED))
        return counters_on_alloc_slow(usable, requested);
    COUNTER_ADD(c->counts.alloc_bytes, usable);
    COUNTER_ADD(c->counts.hist[size_class(requested)], 1);
    if (likely(shim_opts.mode == MODE_SAMPLED)) {
        c->bytes_until_sample -= (int64_t)requested;
        return unlikely(c->bytes_until_sample <= 0) && counters_sample_drawn(c, requested);
    }
    return shim_opts.mode == MODE_EXACT;
}

/* Cross-thread frees make a thread's live count negative; only the sum means anything. */
static inline void counters_on_free(size_t usable)
{
    struct thread_counters *c = &counters_self;
    if (unlikely(c->state != COUNTERS_REGISTERED)) {
        counters_on_free_slow(usable);
        return;
    }
    COUNTER_ADD(c->counts.free_calls, 1);
    COUNTER_ADD(c->counts.free_bytes, usable);
}

void counters_sum(struct counter_totals *out);
/* The registered threads, a list valid while counters_threads_lock is held. */
void counters_threads_lock(void);
void counters_threads_unlock(void);
struct thread_counters *counters_threads(void);
void counters_lock_for_fork(void);
void counters_unlock_after_fork(void);

/* ---- stacks.c ---- */
/* The readable mapping holding ADDR, from /proc/self/maps (system calls only). */
int find_mapping(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);
/* *SITE_ID: the stack's site when a remembered stack already knows it, else 0; then the
 * caller interns the stack and hands the site to stack_capture_note_site. */
unsigned stack_capture(uintptr_t *pcs, unsigned max_depth, void *frame, void *first_return,
                       uint32_t *site_id);
void stack_capture_note_site(const void *frame, const void *first_return, uint32_t site_id);
void stacks_prime(void);
/* Weight of one sampled allocation of SIZE bytes: bytes and blocks it stands for. */
void sample_weight(size_t size, uint64_t *bytes, uint64_t *blocks);

/* ---- sites.c ---- */
#define MAX_SITES_BITS 18
/* What a snapshot reads of a site: alloc calls, alloc bytes, frees, freed bytes, peak
 * bytes, temporary allocations. */
enum { SITE_COUNTS = 6 };
struct site {
    /* shared counters: atomically updated, behind the threads' pending changes */
    uint64_t alloc_calls, alloc_bytes, free_calls, free_bytes;
    uint64_t peak_bytes;      /* highest live bytes seen right after an allocation */
    uint64_t temporary_calls; /* allocations freed before the thread allocated again */
    uint64_t last_written[SITE_COUNTS];
    uint32_t stack_offset;
    uint16_t depth;
    uint8_t stack_written;
};
int sites_init(void);
uint32_t sites_intern(const uintptr_t *pcs, unsigned depth); /* 0 when the table is full */
uint32_t sites_count(void);
uint32_t sites_capacity(void);
struct site *sites_get(uint32_t id);
const uintptr_t *sites_stack(const struct site *site);
void sites_lock_for_fork(void);
void sites_unlock_after_fork(void);

/* ---- sitecounts.c ---- */
/* A site's allocations and frees, kept per thread and folded into struct site in batches;
 * readers go through site_counts_read between _read_begin and _read_end. */
void site_count_alloc(uint32_t site_id, uint64_t bytes, uint32_t blocks);
/* TEMPORARY: the block was freed with no other allocation in its thread since it was made
 * (heaptrack's temporary allocation). */
void site_count_free(uint32_t site_id, uint64_t bytes, uint32_t blocks, bool temporary);
void site_counts_thread_exit(struct thread_counters *c);
void site_counts_lock_for_fork(void);       /* registry locked by the caller */
void site_counts_after_fork(bool in_child); /* before the registry is unlocked */
void site_counts_read_begin(uint32_t nsites);
void site_counts_read(uint32_t site_id, uint64_t out[SITE_COUNTS]);
void site_counts_read_end(void);

/* ---- ptrtable.c ---- */
/* A tracked block: its site and requested size (a sampled block's weight follows from it). */
struct tracked_block {
    uintptr_t ptr;
    uint32_t site_id;
    uint64_t size;
};
int ptrtable_init(bool exact);

/* A counting filter over the tracked addresses, small enough to stay in cache: a free asks
 * it on every call and only takes a lock when the address may be tracked. NULL in exact
 * mode, where every block is. */
#define FILTER_SIZE (1u << 14)
extern uint16_t *ptrtable_filter;

/* Fibonacci hashing: one multiply, asked on every free. */
static inline unsigned ptrtable_filter_slot(uintptr_t p)
{
    return (unsigned)(((uint64_t)p >> 4) * 0x9e3779b97f4a7c15ull >> (64 - 14));
}
_Static_assert(FILTER_SIZE == 1u << 14, "ptrtable_filter_slot yields 14 bits");

static inline bool ptrtable_may_track(uintptr_t ptr)
{
    return !ptrtable_filter ||
           __atomic_load_n(&ptrtable_filter[ptrtable_filter_slot(ptr)], __ATOMIC_RELAXED) != 0;
}

/* Into the shadow when it covers the block (by its usable size), else the calling thread's
 * own table. */
void ptrtable_insert(const struct tracked_block *block, size_t usable);
/* Starts loading the slot where the calling thread will insert PTR: in a large table that
 * slot is a cache miss, which the stack capture before the insert then hides. */
void ptrtable_prefetch(uintptr_t ptr, size_t usable);
/* Removes at once, from the shadow or whichever table holds it (realloc, exited threads). */
bool ptrtable_remove(uintptr_t ptr, size_t usable, struct tracked_block *out);
/* For free(): a block of the calling thread's own table is removed (FOUND, *out filled);
 * another thread's is held on the caller's list of remote frees (HELD: the caller must not
 * free it; it is reported through the ptrtable_on_flush function, which frees it). */
enum ptrtable_free_result { PTRTABLE_UNTRACKED, PTRTABLE_FOUND, PTRTABLE_HELD };
enum ptrtable_free_result ptrtable_free(uintptr_t ptr, size_t usable, bool temporary,
                                        struct tracked_block *out);
/* FOUND is NULL for a held block no table knew; the function frees PTR. Until it is set,
 * nothing is held. */
void ptrtable_on_flush(void (*fn)(uintptr_t ptr, const struct tracked_block *found,
                                  bool temporary));
void ptrtable_flush_all(void); /* every thread's remote frees (before a snapshot) */
void ptrtable_thread_exit(void);
/* Lock order: thread registry, remote-free lists (lock_pending), site fold locks, site table,
 * live-block tables (lock_for_fork). */
void ptrtable_lock_pending(void);
void ptrtable_unlock_pending(void);
void ptrtable_lock_for_fork(void);
void ptrtable_unlock_after_fork(void);
void ptrtable_after_fork_child(void);

/* Every live block (held remote frees left out), with every lock above held; the size is at
 * least the number visited. */
void ptrtable_visit(void (*visit)(const struct tracked_block *block, void *arg), void *arg);
size_t ptrtable_size(void);

/* ---- shadow.c ---- */
#define SHADOW_ADDRESS_BITS 47 /* user addresses above are left to the hash tables */
#define SHADOW_MAX_USABLE 1024
extern bool shadow_on; /* exact mode, once its directory is mapped */
int shadow_init(void);

/* Whether PTR's entry would be in the shadow: a block's usable size decides, the same on
 * insert and on free. */
static inline bool shadow_covers(uintptr_t ptr, size_t usable)
{
    return shadow_on && !(ptr & 15) && usable <= SHADOW_MAX_USABLE && !(ptr >> SHADOW_ADDRESS_BITS);
}
/* For a block shadow_covers: false when the shadow cannot keep it after all (no memory for a
 * leaf), and the hash tables keep it. */
bool shadow_insert(uintptr_t ptr, uint32_t site_id, uint64_t size);
bool shadow_remove(uintptr_t ptr, struct tracked_block *out);
void shadow_prefetch_entry(uintptr_t ptr);
/* PTR's entry, if its leaf exists. Asked of the filter's pointer, which exact mode alone
 * lacks and every free in the other modes loads anyway: sampled mode pays a test, not a load
 * and a call. */
static inline void shadow_prefetch(uintptr_t ptr)
{
    if (!ptrtable_filter)
        shadow_prefetch_entry(ptr);
}
/* Left out of visits while hidden (the world stopped): a freed block still held back. */
bool shadow_hide(uintptr_t ptr);
void shadow_unhide(uintptr_t ptr);
void shadow_visit(void (*visit)(const struct tracked_block *block, void *arg), void *arg);
size_t shadow_count(void);

/* ---- stopworld.c ---- */
#define STOPWORLD_MAX_THREADS 4096
#define STOPWORLD_REGISTERS 23 /* the general registers of x86-64's ucontext */
enum { STOPPED_NOT_YET, STOPPED_BY_SIGNAL, STOPPED_UNANSWERED, STOPPED_GONE };
struct stopped_thread {
    pid_t tid;
    int state;
    uintptr_t sp;             /* where its stack was when it stopped */
    uintptr_t thread_pointer; /* its TCB, with the static TLS beside it */
    uintptr_t registers[STOPWORLD_REGISTERS];
};
/* Stops every thread but the caller and SKIP; the caller holds every shim lock. */
unsigned stopworld_stop(pid_t skip, struct stopped_thread **threads);
void stopworld_resume(void);

/* ---- reachability.c ---- */
/* Classifies every live block as memcheck does (definitely, indirectly, possibly lost, still
 * reachable) and writes reachability.csv into DIR and the totals through FACTS. Exact mode
 * only; the caller holds no shim lock. */
struct out_file;
void reachability_scan(const char *dir, struct out_file *facts, pid_t skip_thread);

/* ---- output.c ---- */
struct out_file {
    int fd;
    size_t len;
    char buf[1 << 16];
};
int out_open(struct out_file *f, const char *dir, const char *name);
struct replacement {
    struct out_file file;
    char temp_path[PATH_MAX + 32], final_path[PATH_MAX + 32];
};
int out_open_replacement(struct replacement *r, const char *dir, const char *name);
int out_commit_replacement(struct replacement *r); /* close, rename; 0 or -1 */
void out_write(struct out_file *f, const char *data, size_t len);
void out_printf(struct out_file *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void out_flush(struct out_file *f);
void out_close(struct out_file *f);
int copy_file_atomic(const char *src, const char *dir, const char *name);
/* The start of a small file (one read, at most SIZE - 1 bytes) as a string in TEXT ("" when
 * it could not be read); the bytes read, or -1 when it could not be opened. */
ssize_t read_small_file(const char *path, char *text, size_t size);
void shim_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *error_text(int err); /* strerror without locale or allocation */

/* ---- sampler.c ---- */
int sampler_open_files(void);
int sampler_start(void);
void sampler_final_snapshot(void);
void sampler_reachability_at_exit(void);
void sampler_write_allocator_facts(void);
void sampler_before_exec(const char *path);
void sampler_after_failed_exec(int err);
void sampler_lock_for_fork(void);
void sampler_unlock_after_fork(bool in_child);

#endif
