/* A bench target that waits for its load phase: on SIGUSR1, N threads each allocate BLOCKS
 * blocks of 32-8032 bytes (seeded sizes, every page touched), free 63 of every 64 (the
 * survivors pin memory all over the heap), touch --done FILE, and stay alive idle until
 * killed. With --crash, SIGUSR1 makes it segfault instead.
 *   bench_scatter [--threads N] [--blocks N] [--done FILE] [--crash] */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct worker {
    pthread_t thread;
    unsigned seed;
    size_t blocks;
    char **ptrs;
};

static pthread_barrier_t all_freed;

static void *work(void *arg)
{
    struct worker *w = arg;
    uint32_t x = w->seed;
    w->ptrs = malloc(w->blocks * sizeof(char *));
    for (size_t i = 0; i < w->blocks; i++) {
        x = x * 1664525u + 1013904223u;
        size_t size = 32 + (x >> 8) % 8001;
        w->ptrs[i] = malloc(size);
        memset(w->ptrs[i], (int)(i & 0xff), size);
    }
    for (size_t i = 0; i < w->blocks; i++)
        if (i % 64 != 0) {
            free(w->ptrs[i]);
            w->ptrs[i] = NULL;
        }
    __asm__ volatile("" ::"r"(w->ptrs) : "memory");
    pthread_barrier_wait(&all_freed);
    for (;;) /* live threads keep their arenas/caches, as a server's workers do */
        pause();
    return NULL;
}

static void crash(void)
{
    /* A real invalid access, as a server bug would make (not raise()). */
    volatile uintptr_t address = 8;
    *(volatile int *)address = 1;
}

int main(int argc, char **argv)
{
    size_t threads = 4, blocks = 100000;
    const char *done = NULL;
    int do_crash = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--blocks") && i + 1 < argc)
            blocks = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--done") && i + 1 < argc)
            done = argv[++i];
        else if (!strcmp(argv[i], "--crash"))
            do_crash = 1;
        else {
            fprintf(stderr, "bench_scatter: unknown argument '%s'; see the source's header\n",
                    argv[i]);
            return 2;
        }
    }
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "bench_scatter: --threads wants 1 to 64\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sig;
    while (sigwait(&set, &sig) != 0)
        ;
    if (do_crash)
        crash();
    pthread_barrier_init(&all_freed, NULL, (unsigned)threads + 1);
    struct worker *w = calloc(threads, sizeof(*w));
    for (size_t i = 0; i < threads; i++) {
        w[i].seed = (unsigned)(i + 1) * 7919u;
        w[i].blocks = blocks;
        pthread_create(&w[i].thread, NULL, work, &w[i]);
    }
    pthread_barrier_wait(&all_freed);
    if (done) {
        int fd = open(done, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0)
            close(fd);
    }
    for (;;)
        pause();
}
