/* Programs written independently of the reference workloads, with a known truth, for the
 * verdicts (issue: trajectories, slow leaks, short programs):
 *
 *   diag_field slowleak SECONDS   ~2000 requests/s: each churns a few buffers (freed) and
 *                                 leaks one 512-byte object (serve_request_leaky): ~1 MB/s
 *   diag_field clean SECONDS      the same requests and allocation rate; the 512-byte object
 *                                 goes into a ring of 64 and the one it replaces is freed
 *   diag_field slowfree MB SECONDS  4 threads allocate MB MiB in blocks of 32-8032 B, then
 *                                 free all but 1/64 of them slowly over SECONDS, idle 1 s
 *   diag_field short              leaks at four sites (malloc 10 x 1000, calloc 20 x 100,
 *                                 realloc 5 x 3000, posix_memalign 4 x 4096) and exits at once
 *
 * slowleak prints "leaked BYTES in SECONDS" on stderr (its own truth, measured as it ran);
 * otherwise nothing. Globals have external linkage (gcc -O2 drops stores to static ones). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *volatile sink;
void *ring[64];

static void sleep_ns(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A request's transient work: a few buffers of assorted sizes, all freed. */
__attribute__((noinline)) void parse_request(unsigned seed)
{
    void *tmp[6];
    for (int i = 0; i < 6; i++) {
        tmp[i] = malloc(64 + (seed * 37 + (unsigned)i * 211) % 2000);
        memset(tmp[i], 1, 64);
    }
    for (int i = 0; i < 6; i++)
        free(tmp[i]);
}

__attribute__((noinline)) void *make_session(void)
{
    void *s = malloc(512);
    memset(s, 0, 512);
    return s;
}

__attribute__((noinline)) void serve_request_leaky(unsigned i)
{
    parse_request(i);
    sink = make_session(); /* never freed */
}

__attribute__((noinline)) void serve_request_clean(unsigned i)
{
    parse_request(i);
    free(ring[i % 64]);
    ring[i % 64] = make_session();
}

/* Paced at 2000 requests per second (20 per 10 ms tick). */
static void serve(double seconds, int leaky)
{
    /* Requests are due by the clock (2000/s), not by the sleeps: a busy machine oversleeps,
     * and a count that followed the sleeps leaked half as much there (half the samples). */
    double start = now_s(), end = start + seconds;
    unsigned i = 0;
    for (double now = start; now < end; now = now_s()) {
        unsigned due = (unsigned)((now - start) * 2000.0) + 20;
        for (; i < due; i++) {
            if (leaky)
                serve_request_leaky(i);
            else
                serve_request_clean(i);
        }
        sleep_ns(10 * 1000000L);
    }
    if (leaky)
        fprintf(stderr, "leaked %u in %.3f\n", i * 512, now_s() - start);
}

struct worker {
    size_t bytes;
    void **blocks;
    size_t n;
};

__attribute__((noinline)) void *fill_worker(void *arg)
{
    struct worker *w = arg;
    size_t cap = w->bytes / 1000 + 1, done = 0; /* blocks average 4 KiB */
    w->blocks = malloc(cap * sizeof(void *));
    for (w->n = 0; done < w->bytes && w->n < cap; w->n++) {
        size_t size = 32 + (w->n * 7919) % 8000;
        w->blocks[w->n] = malloc(size);
        memset(w->blocks[w->n], 2, size < 256 ? size : 256);
        done += size;
    }
    return NULL;
}

/* Frees all but every 64th block, in 20 steps spread over SECONDS. */
static void free_slowly(struct worker *w, int nworkers, double seconds)
{
    for (int step = 0; step < 20; step++) {
        for (int t = 0; t < nworkers; t++)
            for (size_t i = step; i < w[t].n; i += 20)
                if (i % 64) {
                    free(w[t].blocks[i]);
                    w[t].blocks[i] = NULL;
                }
        sleep_ns((long)(seconds / 20 * 1e9));
    }
}

static void slowfree(size_t mb, double seconds)
{
    struct worker w[4];
    pthread_t threads[4];
    for (int t = 0; t < 4; t++) {
        w[t] = (struct worker){.bytes = (mb << 20) / 4};
        pthread_create(&threads[t], NULL, fill_worker, &w[t]);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(threads[t], NULL);
    free_slowly(w, 4, seconds);
    sleep_ns(1000000000L);
}

__attribute__((noinline)) void short_leak_malloc(void)
{
    for (int i = 0; i < 10; i++)
        sink = memset(malloc(1000), 0, 1000);
}

__attribute__((noinline)) void short_leak_calloc(void)
{
    for (int i = 0; i < 20; i++)
        sink = calloc(1, 100);
}

__attribute__((noinline)) void short_leak_realloc(void)
{
    for (int i = 0; i < 5; i++)
        sink = memset(realloc(malloc(10), 3000), 0, 3000);
}

__attribute__((noinline)) void short_leak_memalign(void)
{
    for (int i = 0; i < 4; i++) {
        void *p;
        if (posix_memalign(&p, 64, 4096) == 0)
            sink = memset(p, 0, 4096);
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "slowleak") || !strcmp(mode, "clean")) {
        serve(argc > 2 ? atof(argv[2]) : 6, !strcmp(mode, "slowleak"));
    } else if (!strcmp(mode, "slowfree")) {
        slowfree(argc > 2 ? (size_t)atol(argv[2]) : 300, argc > 3 ? atof(argv[3]) : 4);
    } else if (!strcmp(mode, "short")) {
        short_leak_malloc();
        short_leak_calloc();
        short_leak_realloc();
        short_leak_memalign();
        sink = NULL;
    } else {
        return 2;
    }
    return 0;
}
