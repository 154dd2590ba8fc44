/* Test helper: drives probes/shim/allocator.c directly, the way the shim's sampler thread
 * does (from a second thread), under whatever allocator LD_PRELOAD put in front.
 *
 *   alloc_probe settings        print allocator, version, stats and the settings read back
 *                               (shim.txt lines); exit status 3 when a setting_error was found
 *   alloc_probe reclaim MB [same-thread|none|other-thread] [IDLE_MS]
 *                               build a ~MB heap of 32-8032 byte blocks, free 63 of 64, then
 *                               ask the allocator to release free memory (from a second
 *                               thread, the caller's thread, or not at all), stay idle IDLE_MS
 *                               (default 200); prints rss_before/rss_after (bytes, from
 *                               /proc/self/smaps_rollup)
 */
#include "allocator.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long long smaps_field(const char *field)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f)
        return -1;
    char line[256];
    long long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, field, n) && line[n] == ':')
            kb = atoll(line + n + 1);
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static void print_stats(const char *when)
{
    struct allocator_stats st;
    allocator_read_stats(&st);
    printf("%s_rss=%lld\n%s_lazyfree=%lld\n", when, smaps_field("Rss"), when,
           smaps_field("LazyFree"));
    printf("%s_heap_in_use=%lld\n%s_heap_held=%lld\n%s_heap_free=%lld\n%s_heap_released=%lld\n",
           when, (long long)st.in_use_bytes, when, (long long)st.held_bytes, when,
           (long long)st.free_bytes, when, (long long)st.released_bytes);
}

static void *settings_thread(void *arg)
{
    int *errors = arg;
    allocator_detect(dlsym(RTLD_DEFAULT, "malloc"));
    printf("allocator=%s\nallocator_path=%s\nallocator_version=%s\n", allocator_name(),
           allocator_path(), allocator_version());
    print_stats("now");
    fflush(stdout);
    *errors = allocator_write_settings(STDOUT_FILENO);
    printf("setting_errors=%d\n", *errors);
    return NULL;
}

static void *release_thread(void *arg)
{
    int *rc = arg;
    *rc = allocator_release_free_memory();
    return NULL;
}

static int run_settings(void)
{
    int errors = 0;
    pthread_t t;
    pthread_create(&t, NULL, settings_thread, &errors);
    pthread_join(t, NULL);
    return errors ? 3 : 0;
}

enum release_from { FROM_OTHER_THREAD, FROM_SAME_THREAD, NO_RELEASE };

static int run_reclaim(long mb, enum release_from from, long idle_ms)
{
    allocator_detect(dlsym(RTLD_DEFAULT, "malloc"));
    printf("allocator=%s\n", allocator_name());
    size_t target = (size_t)mb << 20, total = 0, count = 0, cap = 1024;
    char **blocks = malloc(cap * sizeof(*blocks));
    uint32_t seed = 12345;
    while (total < target) {
        if (count == cap) {
            cap *= 2;
            blocks = realloc(blocks, cap * sizeof(*blocks));
        }
        seed = seed * 1103515245u + 12345u;
        size_t size = 32 + (seed >> 8) % 8001;
        blocks[count] = malloc(size);
        memset(blocks[count], 0x5a, size);
        total += size;
        count++;
    }
    for (size_t i = 0; i < count; i++)
        if (i % 64 != 0) {
            free(blocks[i]);
            blocks[i] = NULL;
        }
    print_stats("before");
    int rc = -1;
    if (from == FROM_SAME_THREAD) {
        rc = allocator_release_free_memory();
    } else if (from == FROM_OTHER_THREAD) {
        pthread_t t;
        pthread_create(&t, NULL, release_thread, &rc);
        pthread_join(t, NULL);
    }
    usleep((useconds_t)idle_ms * 1000);
    printf("release_rc=%d\n", rc);
    print_stats("after");
    for (size_t i = 0; i < count; i += 64)
        free(blocks[i]);
    free(blocks);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && !strcmp(argv[1], "settings"))
        return run_settings();
    if (argc >= 3 && !strcmp(argv[1], "reclaim")) {
        const char *how = argc >= 4 ? argv[3] : "";
        enum release_from from = !strcmp(how, "same-thread") ? FROM_SAME_THREAD
                                 : !strcmp(how, "none")      ? NO_RELEASE
                                                             : FROM_OTHER_THREAD;
        return run_reclaim(atol(argv[2]), from, argc >= 5 ? atol(argv[4]) : 200);
    }
    fprintf(stderr, "usage: alloc_probe settings | reclaim MB [same-thread|none]\n");
    return 2;
}
