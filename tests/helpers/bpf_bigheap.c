/* Test helper for the kernel-event probes: allocates a large heap of small blocks, frees
 * most of it, then idles so an allocator's decay can return pages.
 *   bpf_bigheap MEGABYTES KEEP_ONE_IN IDLE_MS
 * Prints "allocated", "freed" and "done" lines on stdout as it goes, then "cpu_ms N" (user +
 * system CPU time of the process). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bpf_bigheap MEGABYTES KEEP_ONE_IN IDLE_MS\n");
        return 2;
    }
    long megabytes = atol(argv[1]), keep_one_in = atol(argv[2]), idle_ms = atol(argv[3]);
    size_t target = (size_t)megabytes << 20, total = 0, count = 0, capacity = 1 << 16;
    char **blocks = malloc(capacity * sizeof(*blocks));
    unsigned seed = 12345;
    while (blocks && total < target) {
        if (count == capacity) {
            capacity *= 2;
            char **grown = realloc(blocks, capacity * sizeof(*blocks));
            if (!grown)
                return 1;
            blocks = grown;
        }
        seed = seed * 1103515245u + 12345u;
        size_t size = 32 + (seed >> 8) % 8000;
        blocks[count] = malloc(size);
        if (!blocks[count])
            return 1;
        memset(blocks[count], 1, size);
        total += size;
        count++;
    }
    printf("allocated %zu blocks %zu bytes\n", count, total);
    fflush(stdout);
    sleep_ms(300);
    for (size_t i = 0; i < count; i++)
        if (keep_one_in <= 0 || i % (size_t)keep_one_in != 0)
            free(blocks[i]);
    printf("freed\n");
    fflush(stdout);
    sleep_ms(idle_ms);
    printf("done\n");
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("cpu_ms %.1f\n", (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e3 +
                                (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3);
    return 0;
}
