/* A target with a known memory behaviour, for diagnose_test.sh and gate_test.sh.
 *
 * diag_retainer --mode leak|buffer|flat|retain [--idle-ms N] [--load-ms N] [--cooldown-ms N]
 *               [--rate-kb N] [--keep-mb N] [--on-signal]
 *
 * idle, then a load phase of 20 ms ticks (each allocates and frees a burst of 1-16 KiB blocks),
 * then a cooldown, then exit. Per tick, mode leak keeps --rate-kb KiB from diag_leak_block
 * (never freed), buffer keeps them from diag_buffer_block and frees them all when the load
 * ends; retain keeps --keep-mb MiB (touched) from the load's start until exit; flat only
 * churns. --on-signal: the load starts on SIGUSR1 and the program waits for SIGTERM after
 * it (for allocscope bench: --load 'kill -USR1 {pid}'). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_LEAK, MODE_BUFFER, MODE_FLAT, MODE_RETAIN };

struct options {
    enum mode mode;
    long idle_ms, load_ms, cooldown_ms, rate_kb, keep_mb;
    int on_signal;
};

struct block_list {
    void **blocks;
    size_t n, cap;
};

static volatile sig_atomic_t load_requested, stop_requested;

static void on_usr1(int sig)
{
    (void)sig;
    load_requested = 1;
}

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void keep(struct block_list *l, void *p)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->blocks = realloc(l->blocks, l->cap * sizeof(void *));
    }
    l->blocks[l->n++] = p;
}

static void free_all(struct block_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->blocks[i]);
    free(l->blocks);
    memset(l, 0, sizeof(*l));
}

/* noinline: each is its own allocation site for the diagnosis to name. */
__attribute__((noinline)) void *diag_leak_block(size_t size)
{
    void *p = malloc(size);
    memset(p, 1, size);
    return p;
}

__attribute__((noinline)) void *diag_buffer_block(size_t size)
{
    void *p = malloc(size);
    memset(p, 2, size);
    return p;
}

__attribute__((noinline)) void *diag_retained_block(size_t size)
{
    void *p = malloc(size);
    memset(p, 3, size);
    return p;
}

static void churn(unsigned *seed)
{
    void *burst[64];
    for (int i = 0; i < 64; i++) {
        size_t size = 1024 + (size_t)(rand_r(seed) % (15 * 1024));
        burst[i] = malloc(size);
        memset(burst[i], 4, size);
    }
    for (int i = 0; i < 64; i++)
        free(burst[i]);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (!stop_requested && nanosleep(&ts, &ts))
        ;
}

static void run_load(const struct options *o, struct block_list *kept)
{
    unsigned seed = 42;
    size_t per_tick = (size_t)o->rate_kb * 1024 / 50;
    if (o->mode == MODE_RETAIN)
        for (long i = 0; i < o->keep_mb * 256; i++)
            keep(kept, diag_retained_block(4096));
    for (long t = 0; t < o->load_ms && !stop_requested; t += 20) {
        churn(&seed);
        for (size_t done = 0; done < per_tick; done += 16384) {
            if (o->mode == MODE_LEAK)
                keep(kept, diag_leak_block(16384));
            else if (o->mode == MODE_BUFFER)
                keep(kept, diag_buffer_block(16384));
        }
        sleep_ms(20);
    }
    if (o->mode == MODE_BUFFER)
        free_all(kept);
}

static int parse(int argc, char **argv, struct options *o)
{
    *o = (struct options){MODE_FLAT, 500, 3000, 1500, 5120, 32, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--on-signal")) {
            o->on_signal = 1;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (!strcmp(a, "--mode"))
            o->mode = !strcmp(v, "leak")     ? MODE_LEAK
                      : !strcmp(v, "buffer") ? MODE_BUFFER
                      : !strcmp(v, "retain") ? MODE_RETAIN
                      : !strcmp(v, "flat")   ? MODE_FLAT
                                             : (enum mode) - 1;
        else if (!strcmp(a, "--idle-ms"))
            o->idle_ms = atol(v);
        else if (!strcmp(a, "--load-ms"))
            o->load_ms = atol(v);
        else if (!strcmp(a, "--cooldown-ms"))
            o->cooldown_ms = atol(v);
        else if (!strcmp(a, "--rate-kb"))
            o->rate_kb = atol(v);
        else if (!strcmp(a, "--keep-mb"))
            o->keep_mb = atol(v);
        else
            return -1;
    }
    return (int)o->mode < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse(argc, argv, &o)) {
        fprintf(stderr, "diag_retainer: bad arguments; see the comment at the top of "
                        "tests/helpers/diag_retainer.c\n");
        return 2;
    }
    signal(SIGUSR1, on_usr1);
    signal(SIGTERM, on_term);
    struct block_list kept = {0};
    if (o.on_signal) {
        while (!load_requested && !stop_requested)
            sleep_ms(10);
    } else {
        sleep_ms(o.idle_ms);
    }
    if (!stop_requested)
        run_load(&o, &kept);
    if (o.on_signal) {
        while (!stop_requested)
            sleep_ms(50);
    } else {
        sleep_ms(o.cooldown_ms);
    }
    if (o.mode != MODE_LEAK)
        free_all(&kept); /* a leak stays unfreed at exit */
    return 0;
}
