/* Bench target for the probes' cost: malloc(SIZE)+free pairs in a loop, printing the cost
 * of one pair over each window so a probe attached from outside shows up as a step.
 *   bpf_pairs SECONDS [WINDOW_MS] [SIZE]
 *   bpf_pairs SECONDS [WINDOW_MS] syscall
 * With "syscall" one op is a getppid() system call instead: enabling any syscall tracepoint
 * sends every system call of every process through the kernel's slow path, a cost that the
 * kernel's accounting of the probes' run time (bpf_stats) does not include.
 * Output lines: "T_MS CPU_NS_PER_OP WALL_NS_PER_OP" (T_MS: CLOCK_MONOTONIC at the
 * window's end, in ms). The CPU time of the thread includes the uprobe traps (they run in
 * its context) but not the time other processes take the CPU: on a busy machine it is the
 * steadier measure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bpf_pairs SECONDS [WINDOW_MS] [SIZE|syscall]\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    double window_ns = (argc > 2 ? atof(argv[2]) : 250) * 1e6;
    int syscalls = argc > 3 && strcmp(argv[3], "syscall") == 0;
    size_t size = argc > 3 && !syscalls ? (size_t)atol(argv[3]) : 64;
    double start = now_ns(), window_start = start;
    double cpu_start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    long pairs = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        for (int i = 0; i < 256; i++) {
            if (syscalls) {
                syscall(SYS_getppid); /* raw, so no libc wrapper can cache it */
                continue;
            }
            void *block = malloc(size);
            __asm__ volatile("" ::"r"(block) : "memory");
            free(block);
        }
        pairs += 256;
        double now = now_ns();
        if (now - window_start >= window_ns) {
            double cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
            printf("%.0f %.1f %.1f\n", now / 1e6, (cpu - cpu_start) / (double)pairs,
                   (now - window_start) / (double)pairs);
            window_start = now;
            cpu_start = cpu;
            pairs = 0;
            if (now - start >= seconds * 1e9)
                break;
        }
    }
    return 0;
}
