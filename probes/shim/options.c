/* Every option the shim has is read here, once, from the environment. Parsing must not
 * allocate: it runs on the first allocation of the process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct shim_options shim_opts;

static uint64_t env_u64(const char *name, uint64_t fallback, uint64_t min, uint64_t max)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return fallback;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t scale = 1;
    if (*end == 'k' || *end == 'K')
        scale = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        scale = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G')
        scale = 1024 * 1024 * 1024, end++;
    if (*end || end == s) {
        shim_warn("ignoring %s=%s: not a number", name, s);
        return fallback;
    }
    v *= scale;
    if (v < min)
        v = min;
    if (v > max)
        v = max;
    return v;
}

static bool env_flag(const char *name, bool fallback)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return fallback;
    return !(s[0] == '0' || s[0] == 'n' || s[0] == 'N' || s[0] == 'f' || s[0] == 'F');
}

static void load_sampling(void)
{
    const char *s = getenv("ALLOCSCOPE_SAMPLE");
    shim_opts.mode = MODE_SAMPLED;
    shim_opts.sample_bytes = ALLOCSCOPE_DEFAULT_SAMPLE_BYTES;
    if (!s || !*s)
        return;
    if (!strcmp(s, "all") || !strcmp(s, "0")) {
        shim_opts.mode = MODE_EXACT;
        shim_opts.sample_bytes = 0;
    } else if (!strcmp(s, "none") || !strcmp(s, "count")) {
        shim_opts.mode = MODE_COUNT;
        shim_opts.sample_bytes = 0;
    } else {
        shim_opts.sample_bytes =
            env_u64("ALLOCSCOPE_SAMPLE", ALLOCSCOPE_DEFAULT_SAMPLE_BYTES, 1, UINT64_C(1) << 40);
    }
}

static void load_unwind(void)
{
    const char *s = getenv("ALLOCSCOPE_UNWIND");
    shim_opts.unwind = UNWIND_AUTO;
    if (s && !strcmp(s, "fp"))
        shim_opts.unwind = UNWIND_FP;
    else if (s && !strcmp(s, "libunwind"))
        shim_opts.unwind = UNWIND_LIBUNWIND;
}

static void copy_env_path(char *dst, size_t size, const char *name)
{
    const char *s = getenv(name);
    dst[0] = '\0';
    if (s && strlen(s) < size)
        strcpy(dst, s);
}

void options_load(void)
{
    copy_env_path(shim_opts.out_dir, sizeof(shim_opts.out_dir), "ALLOCSCOPE_OUT");
    if (!shim_opts.out_dir[0])
        snprintf(shim_opts.out_dir, sizeof(shim_opts.out_dir), "allocscope-shim-%d", (int)getpid());
    load_sampling();
    load_unwind();
    shim_opts.depth =
        (unsigned)env_u64("ALLOCSCOPE_DEPTH", ALLOCSCOPE_DEFAULT_DEPTH, 1, ALLOCSCOPE_MAX_DEPTH);
    shim_opts.interval_ms =
        (unsigned)env_u64("ALLOCSCOPE_INTERVAL_MS", ALLOCSCOPE_DEFAULT_INTERVAL_MS, 1, 3600000);
    shim_opts.site_interval_ms = (unsigned)env_u64("ALLOCSCOPE_SITE_INTERVAL_MS",
                                                   ALLOCSCOPE_DEFAULT_SITE_INTERVAL_MS, 1, 3600000);
    shim_opts.smaps_cpu_percent = (unsigned)env_u64("ALLOCSCOPE_SMAPS_CPU_PERCENT",
                                                    ALLOCSCOPE_DEFAULT_SMAPS_CPU_PERCENT, 0, 100);
    shim_opts.follow_fork = env_flag("ALLOCSCOPE_FOLLOW_FORK", false);
    shim_opts.follow_exec = env_flag("ALLOCSCOPE_FOLLOW_EXEC", true);
    shim_opts.main_pid = (pid_t)env_u64("ALLOCSCOPE_MAIN_PID", 0, 0, INT32_MAX);
    shim_opts.t0_ns = env_u64("ALLOCSCOPE_T0_NS", 0, 0, UINT64_MAX);
    shim_opts.trim_ms = (unsigned)env_u64("ALLOCSCOPE_TRIM_MS", 0, 0, 3600000);
    copy_env_path(shim_opts.control_path, sizeof(shim_opts.control_path), "ALLOCSCOPE_CONTROL");
    shim_opts.reachability = env_flag("ALLOCSCOPE_REACHABILITY", true);
}

const char *mode_name(enum shim_mode mode)
{
    switch (mode) {
    case MODE_COUNT:
        return "count";
    case MODE_EXACT:
        return "exact";
    default:
        return "sampled";
    }
}

const char *unwind_name(enum shim_unwind unwind)
{
    switch (unwind) {
    case UNWIND_FP:
        return "fp";
    case UNWIND_LIBUNWIND:
        return "libunwind";
    default:
        return "auto";
    }
}
