/* Bench target for the uprobe cost: malloc(SIZE)+free pairs in a loop, printing the cost
 * of one pair over each window so a probe attached from outside shows up as a step.
 *   bpf_pairs SECONDS [WINDOW_MS] [SIZE]
 * Output lines: "T_MS NS_PER_PAIR" (T_MS: CLOCK_MONOTONIC at the window's end, in ms). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bpf_pairs SECONDS [WINDOW_MS] [SIZE]\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    double window_ns = (argc > 2 ? atof(argv[2]) : 250) * 1e6;
    size_t size = argc > 3 ? (size_t)atol(argv[3]) : 64;
    double start = now_ns(), window_start = start;
    long pairs = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        for (int i = 0; i < 256; i++) {
            void *block = malloc(size);
            __asm__ volatile("" ::"r"(block) : "memory");
            free(block);
        }
        pairs += 256;
        double now = now_ns();
        if (now - window_start >= window_ns) {
            printf("%.0f %.1f\n", now / 1e6, (now - window_start) / (double)pairs);
            window_start = now;
            pairs = 0;
            if (now - start >= seconds * 1e9)
                break;
        }
    }
    return 0;
}
