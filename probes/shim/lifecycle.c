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
    ptrtable_lock_pending();
    site_counts_lock_for_fork();
    sites_lock_for_fork();
    ptrtable_lock_for_fork();
}

static void after_fork_parent(void)
{
    ptrtable_unlock_after_fork();
    sites_unlock_after_fork();
    site_counts_after_fork(false);
    ptrtable_unlock_pending();
    counters_unlock_after_fork();
    sampler_unlock_after_fork(false);
}

/* The child has only the forking thread; the sampler did not come along. */
static void after_fork_child(void)
{
    ptrtable_unlock_after_fork();
    sites_unlock_after_fork();
    site_counts_after_fork(true);
    ptrtable_after_fork_child(); /* the other threads' held frees go back at the next flush */
    ptrtable_unlock_pending();
    counters_unlock_after_fork();
    sampler_unlock_after_fork(true);
    sampler_running = false;
    pthread_mutex_init(&init_lock, NULL);
    if (shim_state == SHIM_RECORDING)
        shim_state = shim_opts.follow_fork ? SHIM_FORKED : SHIM_PASSTHROUGH;
}

/* Plain LD_PRELOAD use (no ALLOCSCOPE_MAIN_PID): this process is the main one. */
static bool should_record_this_process(void)
{
    pid_t pid = getpid();
    return shim_opts.main_pid == 0 || pid == shim_opts.main_pid || shim_opts.follow_exec;
}

static void set_t0_if_unset(void)
{
    if (shim_opts.t0_ns)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    shim_opts.t0_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The part of starting that may run inside the program's first allocation, wherever that
 * is: inside a libc function holding a lock of its own (pthread_getattr_np, setenv, dlopen,
 * fopen) or in another thread's first call. So: environment reads, mmap and file system
 * calls, our own tables; no setenv, dlsym, dladdr, stdio or thread creation (those wait
 * for the constructor, see constructor_init). */
static int first_init(void)
{
    options_load();
    set_t0_if_unset();
    if (!should_record_this_process())
        return -1;
    if (sites_init() || ptrtable_init(shim_opts.mode == MODE_EXACT)) {
        shim_warn("cannot reserve memory for the site tables; the program runs unrecorded");
        return -1;
    }
    alloc_start_tracking();
    return sampler_open_files() ? -1 : 0;
}

/* Runs with shim_busy set (from an entry point or the constructor). The lock is held only
 * over first_init's lock-free work, so a thread waiting here never waits on a libc lock. */
void lifecycle_init(void)
{
    pthread_mutex_lock(&init_lock);
    if (shim_state == SHIM_UNINIT) {
        shim_state = first_init() ? SHIM_PASSTHROUGH : SHIM_RECORDING;
    } else if (shim_state == SHIM_FORKED) {
        /* A forked child has one thread, the one calling: starting the sampler here cannot
         * wait on another thread's lock. */
        shim_state = sampler_open_files() ? SHIM_PASSTHROUGH : SHIM_RECORDING;
        if (shim_state == SHIM_RECORDING && !sampler_running) {
            sampler_running = true;
            sampler_start();
        }
    }
    pthread_mutex_unlock(&init_lock);
}

/* Tells exec'd programs which process is the main one and when the run started. */
static void publish_to_children(void)
{
    char value[32];
    if (!getenv("ALLOCSCOPE_MAIN_PID")) {
        snprintf(value, sizeof(value), "%d", (int)getpid());
        setenv("ALLOCSCOPE_MAIN_PID", value, 1);
    }
    if (!getenv("ALLOCSCOPE_T0_NS")) {
        snprintf(value, sizeof(value), "%llu", (unsigned long long)shim_opts.t0_ns);
        setenv("ALLOCSCOPE_T0_NS", value, 1);
    }
}

/* Registered by the constructor, so it runs after the program's own exit handlers and its
 * static destructors, before the libraries' destructors. */
static void at_exit(void)
{
    shim_busy++;
    if (shim_state == SHIM_RECORDING)
        sampler_reachability_at_exit();
    shim_busy--;
}

/* What starting needs that calls into libc functions with locks of their own: done from
 * our constructor, which the loader runs before main and outside any allocation. */
static void constructor_init(void)
{
    publish_to_children();
    exec_prepare();
    alloc_choose_usable_size();
    sampler_write_allocator_facts();
    if (shim_opts.mode != MODE_COUNT && shim_opts.unwind != UNWIND_FP)
        stacks_prime();
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    atexit(at_exit);
    pthread_mutex_lock(&init_lock);
    bool start = !sampler_running;
    sampler_running = true;
    pthread_mutex_unlock(&init_lock);
    if (start)
        sampler_start();
}

void lifecycle_before_exec(const char *path)
{
    if (shim_state != SHIM_RECORDING)
        return;
    shim_busy++;
    sampler_before_exec(path);
    shim_busy--;
}

void lifecycle_after_failed_exec(int err)
{
    if (shim_state != SHIM_RECORDING)
        return;
    shim_busy++;
    sampler_after_failed_exec(err);
    shim_busy--;
}

__attribute__((constructor)) static void shim_constructor(void)
{
    shim_busy++;
    alloc_resolve_real();
    cxx_resolve_next();
    lifecycle_init();
    if (shim_state == SHIM_RECORDING)
        constructor_init();
    shim_busy--;
}

__attribute__((destructor)) static void shim_destructor(void)
{
    shim_busy++;
    if (shim_state == SHIM_RECORDING)
        sampler_final_snapshot();
    shim_busy--;
}
