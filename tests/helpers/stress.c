/* Every allocation entry point from several threads, with blocks freed by other threads
 * than the ones that allocated them, then a fork (the child allocates and exits) and an
 * exec of a child program. Exits 0 only if every check on the returned memory held.
 *   stress THREADS ITERATIONS [EXEC_PROGRAM]  */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define QUEUE 1024

/* A ring per thread where its neighbour leaves blocks for it to free. */
struct handoff {
    pthread_mutex_t lock;
    void *slots[QUEUE];
    size_t count;
};

static struct handoff *rings;
static int nthreads;
static long iterations;
static volatile int failures;

static void fail(const char *what)
{
    fprintf(stderr, "stress: %s\n", what);
    __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
}

static void give(int to, void *p)
{
    struct handoff *h = &rings[to];
    pthread_mutex_lock(&h->lock);
    if (h->count < QUEUE) {
        h->slots[h->count++] = p;
        p = NULL;
    }
    pthread_mutex_unlock(&h->lock);
    free(p);
}

static void drain(int me)
{
    struct handoff *h = &rings[me];
    pthread_mutex_lock(&h->lock);
    while (h->count)
        free(h->slots[--h->count]);
    pthread_mutex_unlock(&h->lock);
}

static void *one_allocation(unsigned long i)
{
    size_t size = 1 + (i * 131) % 6000;
    void *p = NULL;
    switch (i % 9) {
    case 0:
        p = malloc(size);
        break;
    case 1:
        p = calloc(1 + i % 7, size / 7 + 1);
        if (p && ((char *)p)[0] != 0)
            fail("calloc memory not zeroed");
        break;
    case 2:
        p = realloc(malloc(size), size * 2);
        break;
    case 3:
        p = reallocarray(NULL, 3, size);
        break;
    case 4:
        if (posix_memalign(&p, 64, size))
            p = NULL;
        if ((uintptr_t)p % 64)
            fail("posix_memalign misaligned");
        break;
    case 5:
        p = aligned_alloc(128, (size + 127) & ~(size_t)127);
        if ((uintptr_t)p % 128)
            fail("aligned_alloc misaligned");
        break;
    case 6:
        p = memalign(256, size);
        if ((uintptr_t)p % 256)
            fail("memalign misaligned");
        break;
    case 7:
        p = valloc(size);
        break;
    default:
        p = pvalloc(size);
        break;
    }
    if (!p) {
        fail("allocation returned NULL");
        return NULL;
    }
    if (malloc_usable_size(p) < 1)
        fail("malloc_usable_size too small");
    memset(p, 0xab, 1);
    return p;
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (long i = 0; i < iterations; i++) {
        void *p = one_allocation((unsigned long)(i * nthreads + me));
        if (!p)
            continue;
        if (i % 2)
            give((me + 1) % nthreads, p); /* freed by another thread */
        else
            free(realloc(p, 10));
        if (i % 64 == 0)
            drain(me);
    }
    drain(me);
    return NULL;
}

static int run_threads(void)
{
    pthread_t t[64];
    rings = calloc((size_t)nthreads, sizeof(*rings));
    for (int i = 0; i < nthreads; i++)
        pthread_mutex_init(&rings[i].lock, NULL);
    for (int i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < nthreads; i++)
        drain(i);
    free(rings);
    return failures;
}

static int fork_child(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 1000; i++)
            free(malloc(100 + (size_t)i));
        char *kept = strdup("allocated in the forked child");
        _exit(kept ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int exec_child(const char *program)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl(program, program, "2", "200", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    nthreads = argc > 1 ? atoi(argv[1]) : 4;
    iterations = argc > 2 ? atol(argv[2]) : 100000;
    if (nthreads < 1 || nthreads > 64)
        nthreads = 4;
    int bad = run_threads();
    bad += fork_child();
    /* Threads again, after the fork: the shim's locks must still work in the parent. */
    bad += run_threads();
    if (argc > 3)
        bad += exec_child(argv[3]);
    if (bad)
        fprintf(stderr, "stress: %d failures\n", bad);
    return bad ? 1 : 0;
}
