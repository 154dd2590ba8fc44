/* Exact counters, kept per thread so the hot path does no atomic read-modify-write. The hot
 * path itself is inline in internal.h; here are the thread registry, the slow paths and the
 * sums the sampler reads. */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

__thread struct thread_counters counters_self SHIM_TLS;
static struct thread_counters *threads; /* registered, live */
static struct counter_totals exited;    /* what exited threads counted */
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

static void add_into(struct counter_totals *t, struct counter_totals *c)
{
    t->free_calls += LOAD(c->free_calls);
    t->alloc_bytes += LOAD(c->alloc_bytes);
    t->free_bytes += LOAD(c->free_bytes);
    for (unsigned i = 0; i < HIST_CLASSES; i++)
        t->hist[i] += LOAD(c->hist[i]);
}

static void on_thread_exit(void *arg)
{
    struct thread_counters *c = arg;
    if (shim_opts.mode != MODE_COUNT)
        ptrtable_thread_exit(); /* hands over its remote frees: before any lock */
    pthread_mutex_lock(&threads_lock);
    add_into(&exited, &c->counts);
    if (c->prev)
        c->prev->next = c->next;
    else
        threads = c->next;
    if (c->next)
        c->next->prev = c->prev;
    memset(&c->counts, 0, sizeof(c->counts));
    c->state = COUNTERS_EXITED;
    site_counts_thread_exit(c);
    pthread_mutex_unlock(&threads_lock);
}

static void make_exit_key(void)
{
    pthread_key_create(&exit_key, on_thread_exit);
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

/* The interval ran out at this block: it is sampled, and the next interval starts afresh
 * (memoryless), whatever this block's size. */
bool counters_sample_drawn(struct thread_counters *c, size_t requested)
{
    (void)requested;
    c->bytes_until_sample = draw_interval(c);
    return true;
}

static void seed_sampling(struct thread_counters *c)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    c->rng =
        ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)gettid() ^ (uintptr_t)c ^ 0x9e3779b97f4a7c15ull;
    c->bytes_until_sample = draw_interval(c);
}

/* Once per thread, on its first call: this may be inside any libc function that holds a lock
 * of its own and allocates (pthread_getattr_np holds the thread's descriptor lock around
 * fopen), so nothing here calls back into such a function: only our own lock, the
 * lock-free pthread key calls and the clock. An exited thread (its destructor ran) stays
 * exited: its later calls are folded into the shared totals. */
static struct thread_counters *register_thread(void)
{
    struct thread_counters *c = &counters_self;
    if (c->state == COUNTERS_EXITED)
        return c;
    seed_sampling(c);
    pthread_once(&exit_key_once, make_exit_key);
    pthread_mutex_lock(&threads_lock);
    c->next = threads;
    c->prev = NULL;
    if (threads)
        threads->prev = c;
    threads = c;
    c->state = COUNTERS_REGISTERED;
    pthread_mutex_unlock(&threads_lock);
    pthread_setspecific(exit_key, c);
    return c;
}

/* After a thread's destructor has run, its block is no longer summed: count into the
 * shared totals under the lock (rare: allocations made by later TLS destructors). */
static void count_exited(size_t bytes, bool alloc, size_t requested)
{
    pthread_mutex_lock(&threads_lock);
    if (alloc) {
        exited.alloc_bytes += bytes;
        exited.hist[size_class(requested)]++;
    } else {
        exited.free_calls++;
        exited.free_bytes += bytes;
    }
    pthread_mutex_unlock(&threads_lock);
}

bool counters_on_alloc_slow(size_t usable, size_t requested)
{
    if (register_thread()->state == COUNTERS_EXITED) {
        count_exited(usable, true, requested);
        return shim_opts.mode == MODE_EXACT;
    }
    return counters_on_alloc(usable, requested);
}

void counters_on_free_slow(size_t usable)
{
    if (register_thread()->state == COUNTERS_EXITED)
        count_exited(usable, false, 0);
    else
        counters_on_free(usable);
}

void counters_sum(struct counter_totals *out)
{
    pthread_mutex_lock(&threads_lock);
    *out = exited;
    for (struct thread_counters *c = threads; c; c = c->next)
        add_into(out, &c->counts);
    pthread_mutex_unlock(&threads_lock);
    out->alloc_calls = 0;
    for (unsigned i = 0; i < HIST_CLASSES; i++)
        out->alloc_calls += out->hist[i];
}

void counters_threads_lock(void)
{
    pthread_mutex_lock(&threads_lock);
}

void counters_threads_unlock(void)
{
    pthread_mutex_unlock(&threads_lock);
}

struct thread_counters *counters_threads(void)
{
    return threads;
}

void counters_lock_for_fork(void)
{
    pthread_mutex_lock(&threads_lock);
}

void counters_unlock_after_fork(void)
{
    pthread_mutex_unlock(&threads_lock);
}
