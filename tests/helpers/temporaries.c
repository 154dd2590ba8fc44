/* Temporary allocations as heaptrack defines them (freed before the thread allocates
 * anything else), at known sites:
 *   churn_temporaries  1000 blocks, each freed at once: 1000 temporary
 *   keep_blocks        100 blocks never freed: 0 temporary
 *   interleaved        1000 x (a, b, free a, free b): a is not temporary, b is; their
 *                      sites are interleaved_first (0) and interleaved_second (1000) */
#include <stdlib.h>

void *volatile sink;
void *kept[100];

/* Not tail calls: each function must be the frame that called malloc. */
__attribute__((noinline)) void *interleaved_first(void)
{
    void *p = malloc(48);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}

__attribute__((noinline)) void *interleaved_second(void)
{
    void *p = malloc(80);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}

__attribute__((noinline)) void churn_temporaries(void)
{
    for (int i = 0; i < 1000; i++) {
        void *p = malloc(64);
        sink = p;
        free(p);
    }
}

__attribute__((noinline)) void keep_blocks(void)
{
    for (int i = 0; i < 100; i++)
        kept[i] = malloc(32);
}

__attribute__((noinline)) void interleaved(void)
{
    for (int i = 0; i < 1000; i++) {
        void *a = interleaved_first(), *b = interleaved_second();
        sink = a;
        sink = b;
        free(a);
        free(b);
    }
}

int main(void)
{
    churn_temporaries();
    keep_blocks();
    interleaved();
    return 0;
}
