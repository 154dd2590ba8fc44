/* Makes each thread's first allocation happen inside a libc function that holds a lock of
 * its own while it allocates, the way language runtimes start (Rust and the JVM call
 * pthread_getattr_np first), and calls the same functions from signal handlers running on
 * threads that never allocated before. A shim that calls any of them again from its
 * first-allocation path waits on itself; this program then never prints "ok".
 *
 * Usage: locks_at_first_alloc [--fork]   (--fork: a child repeats the main thread's start) */
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void getattr_self(void)
{
    pthread_attr_t attr;
    size_t size = 0;
    void *addr = NULL;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &addr, &size);
        pthread_attr_destroy(&attr);
    }
    if (size == 0)
        _exit(3);
}

static void open_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[256];
    if (!f || !fgets(line, sizeof(line), f))
        _exit(4);
    fclose(f);
}

static void open_library(void)
{
    void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        _exit(5);
}

static void take_backtrace(void)
{
    void *frames[16];
    if (backtrace(frames, 16) <= 0)
        _exit(6);
}

static void set_environment(void)
{
    char value[32];
    snprintf(value, sizeof(value), "%ld", (long)pthread_self() & 0xffff);
    setenv("LOCKS_AT_FIRST_ALLOC", value, 1);
}

static void (*const firsts[])(void) = {getattr_self, open_maps, open_library, take_backtrace,
                                       set_environment};
#define NFIRSTS (sizeof(firsts) / sizeof(firsts[0]))

static void *thread_first(void *arg)
{
    firsts[(size_t)arg]();
    for (size_t i = 0; i < NFIRSTS; i++)
        firsts[i]();
    free(malloc(100));
    return NULL;
}

/* ---- signal handlers on threads that never allocated ---- */

static volatile sig_atomic_t handled;

static void on_signal(int sig)
{
    (void)sig;
    getattr_self();
    open_maps();
    take_backtrace();
    open_library();
    handled++;
}

static void *thread_waiting(void *arg)
{
    (void)arg;
    struct timespec nap = {0, 1000000};
    while (!handled)
        nanosleep(&nap, NULL); /* allocates nothing until the handler runs */
    return NULL;
}

static void start(void)
{
    getattr_self(); /* the main thread's first allocation, as in Rust's runtime start */
    pthread_t threads[NFIRSTS];
    for (size_t i = 0; i < NFIRSTS; i++)
        if (pthread_create(&threads[i], NULL, thread_first, (void *)i))
            _exit(7);
    for (size_t i = 0; i < NFIRSTS; i++)
        pthread_join(threads[i], NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t waiter;
    if (pthread_create(&waiter, NULL, thread_waiting, NULL))
        _exit(7);
    pthread_kill(waiter, SIGUSR1);
    pthread_join(waiter, NULL);
    raise(SIGUSR1); /* and once on the main thread, between allocations */
}

int main(int argc, char **argv)
{
    start();
    if (argc > 1 && !strcmp(argv[1], "--fork")) {
        pid_t child = fork();
        if (child == 0) {
            handled = 0;
            getattr_self(); /* the child's first recorded call, with --follow-fork */
            open_maps();
            take_backtrace();
            _exit(0);
        }
        int status;
        if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            return 8;
    }
    puts("ok");
    return 0;
}
