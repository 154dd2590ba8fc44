/* When the shim starts recording, what a forked or exec'd child does, and the exit
 * snapshot. Initialization is lazy (the first allocation may come from another library's
 * constructor, before ours), the sampler thread starts from our constructor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

volatile int shim_state = SHIM_UNINIT;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static bool constructor_ran;
static bool sampler_running;

uint64_t now_ms_since_t0(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return now > shim_opts.t0_ns ? (now - shim_opts.t0_ns) / 1000000ull : 0;
}

static void before_fork(void)
{
    sampler_lock_for_fork();
    counters_lock_for_fork();
    site_counts_lock_for_fork();
    sites_lock_for_fork();
    ptrtable_lock_for_fork();
}

static void after_fork_parent(void)
{
    ptrtable_unlock_after_fork();
    sites_unlock_after_fork();
    site_counts_after_fork(false);
    counters_unlock_after_fork();
    sampler_unlock_after_fork(false);
}

/* The child has only the forking thread; the sampler did not come along. */
static void after_fork_child(void)
{
    ptrtable_unlock_after_fork();
    sites_unlock_after_fork();
    site_counts_after_fork(true);
    counters_unlock_after_fork();
    sampler_unlock_after_fork(true);
    sampler_running = false;
    pthread_mutex_init(&init_lock, NULL);
    if (shim_state == SHIM_RECORDING)
        shim_state = shim_opts.follow_fork ? SHIM_FORKED : SHIM_PASSTHROUGH;
}

static bool should_record_this_process(void)
{
    pid_t pid = getpid();
    if (shim_opts.main_pid == 0) {
        /* Plain LD_PRELOAD use: this process is the main one; tell exec'd children. */
        char value[16];
        snprintf(value, sizeof(value), "%d", (int)pid);
        setenv("ALLOCSCOPE_MAIN_PID", value, 1);
        if (!getenv("ALLOCSCOPE_T0_NS")) {
            char t0[32];
            snprintf(t0, sizeof(t0), "%llu", (unsigned long long)shim_opts.t0_ns);
            setenv("ALLOCSCOPE_T0_NS", t0, 1);
        }
        return true;
    }
    return pid == shim_opts.main_pid || shim_opts.follow_exec;
}

static void set_t0_if_unset(void)
{
    if (shim_opts.t0_ns)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    shim_opts.t0_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int first_init(void)
{
    options_load();
    set_t0_if_unset();
    if (!should_record_this_process())
        return -1;
    alloc_choose_usable_size();
    if (sites_init() || ptrtable_init(shim_opts.mode == MODE_EXACT)) {
        shim_warn("cannot reserve memory for the site tables; the program runs unrecorded");
        return -1;
    }
    if (shim_opts.mode != MODE_COUNT && shim_opts.unwind != UNWIND_FP)
        stacks_prime();
    if (sampler_open_files())
        return -1;
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    return 0;
}

static void start_sampler_once(void)
{
    if (!sampler_running && shim_state == SHIM_RECORDING) {
        sampler_running = true;
        sampler_start();
    }
}

/* Runs with shim_busy set (from an entry point or the constructor). */
void lifecycle_init(void)
{
    pthread_mutex_lock(&init_lock);
    if (shim_state == SHIM_UNINIT) {
        shim_state = first_init() ? SHIM_PASSTHROUGH : SHIM_RECORDING;
    } else if (shim_state == SHIM_FORKED) {
        shim_state = sampler_open_files() ? SHIM_PASSTHROUGH : SHIM_RECORDING;
        start_sampler_once();
    }
    if (constructor_ran)
        start_sampler_once();
    pthread_mutex_unlock(&init_lock);
}

__attribute__((constructor)) static void shim_constructor(void)
{
    shim_busy++;
    alloc_resolve_real();
    constructor_ran = true;
    lifecycle_init();
    shim_busy--;
}

__attribute__((destructor)) static void shim_destructor(void)
{
    shim_busy++;
    if (shim_state == SHIM_RECORDING)
        sampler_final_snapshot();
    shim_busy--;
}
