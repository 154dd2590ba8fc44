/* Leaks known bytes at one site from several threads, some of which are still alive (blocked)
 * when the program exits, so their last changes were never handed on by the threads
 * themselves.
 *
 *   thread_leaker THREADS BLOCKS SIZE
 *
 * Each thread allocates BLOCKS blocks of SIZE bytes in leak_in_worker() and keeps every
 * other one: even threads free the rest themselves, odd threads leave them to the main
 * thread (cross-thread frees). Even threads then exit; odd threads wait forever. Unfreed at
 * exit, at leak_in_worker: THREADS * (BLOCKS / 2) blocks of SIZE bytes. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static long blocks_per_thread;
static size_t block_size;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int threads_done;
static void **handed_over; /* blocks the main thread frees */
static long nhanded;

__attribute__((noinline)) static void *leak_in_worker(size_t size)
{
    void *p = malloc(size);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    void **kept = malloc(sizeof(void *) * (size_t)blocks_per_thread);
    for (long i = 0; i < blocks_per_thread; i++)
        kept[i] = leak_in_worker(block_size);
    pthread_mutex_lock(&lock);
    for (long i = 0; i < blocks_per_thread; i += 2) {
        if (id % 2 == 0)
            free(kept[i]);
        else
            handed_over[nhanded++] = kept[i];
    }
    free(kept); /* the odd-numbered blocks stay allocated, reachable from nowhere */
    threads_done++;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    if (id % 2 == 0)
        return NULL;
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    blocks_per_thread = argc > 2 ? atol(argv[2]) : 1000;
    block_size = argc > 3 ? (size_t)atol(argv[3]) : 100;
    handed_over = malloc(sizeof(void *) * (size_t)(threads * blocks_per_thread));
    for (long t = 0; t < threads; t++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, worker, (void *)t))
            return 1;
        pthread_detach(thread);
    }
    pthread_mutex_lock(&lock);
    while (threads_done < threads)
        pthread_cond_wait(&changed, &lock);
    for (long i = 0; i < nhanded; i++)
        free(handed_over[i]);
    pthread_mutex_unlock(&lock);
    usleep(50000); /* let the even threads finish exiting */
    printf("leaked=%llu blocks=%llu\n",
           (unsigned long long)threads * (unsigned long long)(blocks_per_thread / 2) * block_size,
           (unsigned long long)threads * (unsigned long long)(blocks_per_thread / 2));
    return 0;
}
