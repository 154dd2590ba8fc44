/* Exact counters, kept per thread so the hot path does no atomic read-modify-write: each
 * thread is the only writer of its own block (relaxed stores), and the sampler sums the
 * blocks of live threads plus what exited threads left behind. Cross-thread frees make a
 * thread's live count negative; only the sum means anything. */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct thread_counters {
    struct counter_totals counts; /* this thread's share; only this thread writes it */
    /* sampling */
    int64_t bytes_until_sample;
    uint64_t rng;
    /* stack bounds for the frame-pointer walk */
    uintptr_t stack_lo, stack_hi;
    /* registry */
    struct thread_counters *next, *prev;
    int state; /* 0 new, 1 registered, 2 exited */
};

static __thread struct thread_counters self SHIM_TLS;
static struct thread_counters *threads; /* registered, live */
static struct counter_totals exited;    /* what exited threads counted */
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

#define STORE(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)
#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

static void add_into(struct counter_totals *t, struct counter_totals *c)
{
    t->alloc_calls += LOAD(c->alloc_calls);
    t->free_calls += LOAD(c->free_calls);
    t->alloc_bytes += LOAD(c->alloc_bytes);
    t->free_bytes += LOAD(c->free_bytes);
    for (unsigned i = 0; i < HIST_CLASSES; i++)
        t->hist[i] += LOAD(c->hist[i]);
}

static void on_thread_exit(void *arg)
{
    struct thread_counters *c = arg;
    pthread_mutex_lock(&threads_lock);
    add_into(&exited, &c->counts);
    if (c->prev)
        c->prev->next = c->next;
    else
        threads = c->next;
    if (c->next)
        c->next->prev = c->prev;
    memset(&c->counts, 0, sizeof(c->counts));
    c->state = 2;
    pthread_mutex_unlock(&threads_lock);
}

static void make_exit_key(void)
{
    pthread_key_create(&exit_key, on_thread_exit);
}

static void find_stack_bounds(struct thread_counters *c)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            c->stack_lo = (uintptr_t)addr;
            c->stack_hi = (uintptr_t)addr + size;
        }
        pthread_attr_destroy(&attr);
    }
}

static void seed_sampling(struct thread_counters *c)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    c->rng =
        ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)gettid() ^ (uintptr_t)c ^ 0x9e3779b97f4a7c15ull;
    c->bytes_until_sample = 0; /* drawn on first use */
}

/* Slow path, once per thread; runs with shim_busy set, so it may allocate. */
static struct thread_counters *register_thread(void)
{
    struct thread_counters *c = &self;
    if (c->state == 2)
        return c; /* exited: its destructor ran; later calls are folded in directly */
    find_stack_bounds(c);
    seed_sampling(c);
    pthread_once(&exit_key_once, make_exit_key);
    pthread_mutex_lock(&threads_lock);
    c->next = threads;
    c->prev = NULL;
    if (threads)
        threads->prev = c;
    threads = c;
    c->state = 1;
    pthread_mutex_unlock(&threads_lock);
    pthread_setspecific(exit_key, c);
    return c;
}

static inline struct thread_counters *current(void)
{
    struct thread_counters *c = &self;
    if (unlikely(c->state != 1))
        c = register_thread();
    return c;
}

unsigned size_class(size_t size)
{
    if (size <= 16)
        return 0;
    unsigned cls = 64 - (unsigned)__builtin_clzll((unsigned long long)(size - 1)) - 4;
    return cls < HIST_CLASSES ? cls : HIST_CLASSES - 1;
}

/* After a thread's destructor has run, its block is no longer summed: count into the
 * shared totals under the lock (rare: allocations made by later TLS destructors). */
static void count_exited(size_t bytes, bool alloc, size_t requested)
{
    pthread_mutex_lock(&threads_lock);
    if (alloc) {
        exited.alloc_calls++;
        exited.alloc_bytes += bytes;
        exited.hist[size_class(requested)]++;
    } else {
        exited.free_calls++;
        exited.free_bytes += bytes;
    }
    pthread_mutex_unlock(&threads_lock);
}

void counters_on_free(size_t usable)
{
    struct thread_counters *c = current();
    if (unlikely(c->state == 2)) {
        count_exited(usable, false, 0);
        return;
    }
    struct counter_totals *n = &c->counts;
    STORE(n->free_calls, n->free_calls + 1);
    STORE(n->free_bytes, n->free_bytes + usable);
}

void counters_sum(struct counter_totals *out)
{
    pthread_mutex_lock(&threads_lock);
    *out = exited;
    for (struct thread_counters *c = threads; c; c = c->next)
        add_into(out, &c->counts);
    pthread_mutex_unlock(&threads_lock);
}

void counters_thread_bounds(uintptr_t *lo, uintptr_t *hi)
{
    struct thread_counters *c = current();
    *lo = c->stack_lo;
    *hi = c->stack_hi;
}

static uint64_t next_random(struct thread_counters *c)
{
    /* xorshift64* */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 0x2545f4914f6cdd1dull;
}

/* Bytes to the next sample: exponential with mean sample_bytes, so that sampling is a
 * Poisson process over allocated bytes (as in jemalloc and tcmalloc). */
static int64_t draw_interval(struct thread_counters *c)
{
    double u = ((double)(next_random(c) >> 11) + 1.0) / 9007199254740993.0; /* (0,1] */
    double bytes = -log(u) * (double)shim_opts.sample_bytes;
    return bytes < 1.0 ? 1 : (int64_t)bytes;
}

/* Subtracts the block from this thread's bytes-to-next-sample; true when it is sampled.
 * A sample starts the next interval afresh (memoryless), whatever this block's size. */
static bool take_sample(struct thread_counters *c, size_t requested)
{
    if (unlikely(c->bytes_until_sample == 0))
        c->bytes_until_sample = draw_interval(c);
    c->bytes_until_sample -= (int64_t)requested;
    if (likely(c->bytes_until_sample > 0))
        return false;
    c->bytes_until_sample = draw_interval(c);
    return true;
}

bool counters_on_alloc(size_t usable, size_t requested)
{
    struct thread_counters *c = current();
    if (unlikely(c->state == 2)) {
        count_exited(usable, true, requested);
        return shim_opts.mode == MODE_EXACT;
    }
    struct counter_totals *n = &c->counts;
    STORE(n->alloc_calls, n->alloc_calls + 1);
    STORE(n->alloc_bytes, n->alloc_bytes + usable);
    unsigned cls = size_class(requested);
    STORE(n->hist[cls], n->hist[cls] + 1);
    switch (shim_opts.mode) {
    case MODE_COUNT:
        return false;
    case MODE_EXACT:
        return true;
    default:
        return take_sample(c, requested);
    }
}

void counters_lock_for_fork(void)
{
    pthread_mutex_lock(&threads_lock);
}

void counters_unlock_after_fork(void)
{
    pthread_mutex_unlock(&threads_lock);
}
