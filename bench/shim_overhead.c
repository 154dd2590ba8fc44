/* shim_overhead: the cost of allocator calls, for comparing the same program run bare,
 * under liballocscope.so in each mode, and under heaptrack (bench/run-shim-overhead does that).
 *
 *   shim_overhead WORKLOAD [--ms MS | --ops N]
 *
 * WORKLOAD:
 *   pair     malloc(64) + free in a tight loop; one op = one pair
 *   mix      one call per op over 1024 slots: malloc of a varied size, realloc growth by half,
 *            or free, chosen by a fixed random sequence; one op = one call
 *   threads  4 threads, each allocating batches of varied sizes and freeing the batches its
 *            neighbour hands it (every free is cross-thread); one op = one malloc+free pair
 *
 * Runs a short warm-up, then ops until MS milliseconds have passed (default 300), or exactly N
 * ops for profilers (threads: rounded up to whole batches per thread). Prints one line:
 *   workload=W threads=T ops=N elapsed_ns=E cpu_ns=C ns_per_op=X.XX cpu_ns_per_op=Y.YY
 * ns_per_op is wall time; cpu_ns_per_op is the CPU time of all the process's threads (the
 * shim's sampler thread and heaptrack's writer thread included) over the same span.
 * The random sequences are seeded with constants, so every run does the same calls in the same
 * order; only how many of them fit in MS differs. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MS 300
#define CHUNK_OPS 4096 /* ops between clock reads */
#define MIX_SLOTS 1024
#define MIX_MAX_SIZE (64 * 1024)
#define THREADS 4
#define THREAD_BATCH 256
#define MAX_IN_FLIGHT 4

/* Keeps gcc from deleting a malloc/free pair whose pointer is never used. */
#define ESCAPE(p) __asm__ volatile("" ::"r"(p) : "memory")

struct budget {
    uint64_t min_ns; /* time-bounded: run until this much has passed */
    uint64_t ops;    /* count-bounded when non-zero */
};

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of every thread of the process: what the calls cost, whoever else shares the
 * cores (wall time on a busy machine counts the other programs too). */
static uint64_t cpu_ns(void)
{
    return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

struct span {
    uint64_t wall, cpu;
};

static struct span span_start(void)
{
    return (struct span){.wall = now_ns(), .cpu = cpu_ns()};
}

static struct span span_since(struct span start)
{
    return (struct span){.wall = now_ns() - start.wall, .cpu = cpu_ns() - start.cpu};
}

static uint64_t xorshift(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static void die_oom(void)
{
    fprintf(stderr, "shim_overhead: out of memory; run with a smaller --ops\n");
    exit(1);
}

static bool budget_spent(const struct budget *b, uint64_t done, uint64_t start)
{
    return b->ops ? done >= b->ops : now_ns() - start >= b->min_ns;
}

/* ---- pair ---- */

static void pair_ops(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        void *p = malloc(64);
        ESCAPE(p);
        free(p);
    }
}

static uint64_t run_pair(const struct budget *b, struct span *elapsed)
{
    pair_ops(CHUNK_OPS * 8);
    uint64_t done = 0;
    struct span start = span_start();
    /* At least one chunk: descheduled for the whole of a short --ms on a busy machine, the
     * run would otherwise count no op and print inf and nan per op. */
    do {
        uint64_t n = b->ops && b->ops - done < CHUNK_OPS ? b->ops - done : CHUNK_OPS;
        pair_ops(n);
        done += n;
    } while (!budget_spent(b, done, start.wall));
    *elapsed = span_since(start);
    return done;
}

/* ---- mix ---- */

struct mix_state {
    void *ptr[MIX_SLOTS];
    size_t size[MIX_SLOTS];
    uint64_t rng;
};

/* Mostly small blocks, some pages, a few tens of KiB: the shape of a server's heap. */
static size_t mix_size(uint64_t r)
{
    unsigned pick = (unsigned)(r >> 56);
    if (pick < 200)
        return 16 + (r & 255);
    if (pick < 250)
        return 512 + (r & 4095);
    return 8192 + (r & 32767);
}

static void mix_op(struct mix_state *m)
{
    uint64_t r = xorshift(&m->rng);
    unsigned slot = (unsigned)(r % MIX_SLOTS);
    void *p = m->ptr[slot];
    if (!p) {
        size_t size = mix_size(xorshift(&m->rng));
        p = malloc(size);
        if (!p)
            die_oom();
        *(volatile char *)p = 1;
        m->size[slot] = size;
    } else if ((r >> 32) & 1 && m->size[slot] < MIX_MAX_SIZE) {
        size_t size = m->size[slot] + m->size[slot] / 2 + 16;
        p = realloc(p, size);
        if (!p)
            die_oom();
        ((volatile char *)p)[size - 1] = 1;
        m->size[slot] = size;
    } else {
        free(p);
        p = NULL;
    }
    ESCAPE(p);
    m->ptr[slot] = p;
}

static uint64_t run_mix(const struct budget *b, struct span *elapsed)
{
    static struct mix_state m;
    m.rng = 0x2545f4914f6cdd1dull;
    for (unsigned i = 0; i < CHUNK_OPS * 8; i++)
        mix_op(&m);
    uint64_t done = 0;
    struct span start = span_start();
    do { /* at least one chunk, as in run_pair */
        uint64_t n = b->ops && b->ops - done < CHUNK_OPS ? b->ops - done : CHUNK_OPS;
        for (uint64_t i = 0; i < n; i++)
            mix_op(&m);
        done += n;
    } while (!budget_spent(b, done, start.wall));
    *elapsed = span_since(start);
    for (unsigned i = 0; i < MIX_SLOTS; i++)
        free(m.ptr[i]);
    return done;
}

/* ---- threads ---- */

/* Each thread allocates a batch of blocks, hands the batch to its neighbour's inbox, then frees
 * the blocks of whatever batches its own inbox holds. No thread blocks on another: when its
 * neighbour has MAX_IN_FLIGHT batches waiting (it is descheduled: 4 threads share 2 cores
 * here), a thread frees its own inbox or yields the core, so the heap stays bounded and the
 * time measured is the allocator's and the shim's rather than page faults of a growing heap. */
struct batch {
    struct batch *next;
    void *blocks[THREAD_BATCH];
};

struct thread_shared {
    pthread_barrier_t barrier;
    struct batch *_Atomic inbox[THREADS];
    _Atomic unsigned in_flight[THREADS];
    _Atomic bool done[THREADS]; /* left the measured loop: consumes no more until the drain */
    const struct budget *budget;
    struct span start, elapsed;
    _Atomic bool stop;
    _Atomic uint64_t allocs, frees;
};

struct worker {
    struct thread_shared *shared;
    unsigned id;
    uint64_t rng;
    uint64_t freed; /* blocks this thread freed */
};

static void hand_over(struct thread_shared *s, unsigned to, struct batch *b)
{
    struct batch *old = atomic_load_explicit(&s->inbox[to], memory_order_relaxed);
    do
        b->next = old;
    while (!atomic_compare_exchange_weak_explicit(&s->inbox[to], &old, b, memory_order_release,
                                                  memory_order_relaxed));
}

static uint64_t consume(struct thread_shared *s, struct worker *w);

/* One batch of varied sizes, handed on. The batch itself is a block too (one in 257). */
static void produce(struct thread_shared *s, struct worker *w, bool bounded)
{
    struct batch *b = malloc(sizeof(*b));
    if (!b)
        die_oom();
    for (unsigned i = 0; i < THREAD_BATCH; i++) {
        char *p = malloc(16 + (xorshift(&w->rng) & 1023));
        if (!p)
            die_oom();
        *(volatile char *)p = 1;
        b->blocks[i] = p;
    }
    unsigned to = (w->id + 1) % THREADS;
    /* Outside the measured loop, and once the neighbour has left it, the neighbour may be
     * waiting at a barrier: hand over regardless. */
    while (bounded &&
           atomic_load_explicit(&s->in_flight[to], memory_order_relaxed) >= MAX_IN_FLIGHT &&
           !atomic_load_explicit(&s->stop, memory_order_relaxed) &&
           !atomic_load_explicit(&s->done[to], memory_order_relaxed))
        if (consume(s, w) == 0)
            sched_yield();
    atomic_fetch_add_explicit(&s->in_flight[to], 1, memory_order_relaxed);
    hand_over(s, to, b);
}

/* Frees every block handed to this thread so far; returns how many. */
static uint64_t consume(struct thread_shared *s, struct worker *w)
{
    unsigned id = w->id;
    struct batch *b = atomic_exchange_explicit(&s->inbox[id], NULL, memory_order_acquire);
    uint64_t freed = 0;
    unsigned batches = 0;
    while (b) {
        struct batch *next = b->next;
        for (unsigned i = 0; i < THREAD_BATCH; i++)
            free(b->blocks[i]);
        free(b);
        freed += THREAD_BATCH + 1;
        batches++;
        b = next;
    }
    if (batches)
        atomic_fetch_sub_explicit(&s->in_flight[id], batches, memory_order_relaxed);
    w->freed += freed;
    return freed;
}

static void *thread_main(void *arg)
{
    struct worker *w = arg;
    struct thread_shared *s = w->shared;
    for (unsigned i = 0; i < 16; i++) {
        produce(s, w, false);
        consume(s, w);
    }
    /* Start the measured span with empty inboxes, so its frees are of its own mallocs. */
    pthread_barrier_wait(&s->barrier);
    consume(s, w);
    w->freed = 0;
    pthread_barrier_wait(&s->barrier);
    if (w->id == 0)
        s->start = span_start();
    uint64_t quota = s->budget->ops ? (s->budget->ops + THREADS - 1) / THREADS : 0;
    uint64_t allocs = 0;
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        produce(s, w, true);
        allocs += THREAD_BATCH + 1;
        consume(s, w);
        if (quota && allocs >= quota)
            break; /* every thread does its own share */
        if (!quota && w->id == 0 && now_ns() - s->start.wall >= s->budget->min_ns)
            atomic_store(&s->stop, true);
    }
    atomic_store(&s->done[w->id], true);
    /* Every batch is handed over: the drain is part of the span, so each block measured is
     * both allocated and freed in it. */
    pthread_barrier_wait(&s->barrier);
    consume(s, w);
    atomic_fetch_add(&s->allocs, allocs);
    atomic_fetch_add(&s->frees, w->freed);
    pthread_barrier_wait(&s->barrier);
    if (w->id == 0)
        s->elapsed = span_since(s->start);
    return NULL;
}

static uint64_t run_threads(const struct budget *b, struct span *elapsed)
{
    static struct thread_shared s;
    s.budget = b;
    if (pthread_barrier_init(&s.barrier, NULL, THREADS) != 0) {
        fprintf(stderr, "shim_overhead: cannot create a barrier\n");
        exit(1);
    }
    pthread_t tids[THREADS];
    struct worker workers[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.shared = &s, .id = i, .rng = 0x9e3779b97f4a7c15ull * (i + 1)};
        int rc = pthread_create(&tids[i], NULL, thread_main, &workers[i]);
        if (rc != 0) {
            fprintf(stderr, "shim_overhead: cannot start a thread: %s\n", strerror(rc));
            exit(1);
        }
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(tids[i], NULL);
    *elapsed = s.elapsed;
    pthread_barrier_destroy(&s.barrier);
    if (s.allocs != s.frees) {
        fprintf(stderr, "shim_overhead: %llu blocks allocated but %llu freed; a bug in the bench\n",
                (unsigned long long)s.allocs, (unsigned long long)s.frees);
        exit(1);
    }
    return s.allocs;
}

/* ---- command line ---- */

static void usage(void)
{
    fprintf(stderr, "usage: shim_overhead pair|mix|threads [--ms MS | --ops N]\n");
}

static bool parse_count(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || v == 0 || text[0] == '-')
        return false;
    *out = v;
    return true;
}

static bool parse_args(int argc, char **argv, struct budget *b)
{
    b->min_ns = DEFAULT_MS * 1000000ull;
    b->ops = 0;
    for (int i = 2; i < argc; i += 2) {
        uint64_t v;
        if (i + 1 >= argc || !parse_count(argv[i + 1], &v)) {
            fprintf(stderr, "shim_overhead: %s needs a positive whole number\n", argv[i]);
            return false;
        }
        if (!strcmp(argv[i], "--ms")) {
            b->min_ns = v * 1000000ull;
        } else if (!strcmp(argv[i], "--ops")) {
            b->ops = v;
        } else {
            fprintf(stderr, "shim_overhead: unknown option %s; use --ms or --ops\n", argv[i]);
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    struct budget b;
    if (argc < 2) {
        usage();
        return 2;
    }
    if (!parse_args(argc, argv, &b))
        return 2;
    uint64_t ops;
    struct span elapsed;
    unsigned threads = 1;
    if (!strcmp(argv[1], "pair")) {
        ops = run_pair(&b, &elapsed);
    } else if (!strcmp(argv[1], "mix")) {
        ops = run_mix(&b, &elapsed);
    } else if (!strcmp(argv[1], "threads")) {
        ops = run_threads(&b, &elapsed);
        threads = THREADS;
    } else {
        fprintf(stderr, "shim_overhead: unknown workload '%s'; use pair, mix or threads\n",
                argv[1]);
        return 2;
    }
    printf("workload=%s threads=%u ops=%llu elapsed_ns=%llu cpu_ns=%llu ns_per_op=%.2f "
           "cpu_ns_per_op=%.2f\n",
           argv[1], threads, (unsigned long long)ops, (unsigned long long)elapsed.wall,
           (unsigned long long)elapsed.cpu, (double)elapsed.wall / (double)ops,
           (double)elapsed.cpu / (double)ops);
    return 0;
}
