/* Leaks large known amounts at three sites, in blocks of very different sizes, for the
 * accuracy of sampled mode (the estimate's relative error shrinks as 1/sqrt(samples)):
 *   leak_huge_blocks  32 MiB in 8 MiB blocks
 *   leak_mid_blocks  256 MiB in 256 KiB blocks
 *   leak_small_blocks 256 MiB in 4 KiB blocks
 * The blocks are never written, so the pages are not touched. Also churns 1 GiB of
 * allocations that are freed, which must not show up. */
#include <stdlib.h>

static void *volatile sink;

static inline __attribute__((always_inline)) void leak_blocks(long total, long block)
{
    for (long done = 0; done < total; done += block)
        sink = malloc((size_t)block);
}

__attribute__((noinline)) static void leak_huge_blocks(void)
{
    leak_blocks(32L << 20, 8L << 20);
}
__attribute__((noinline)) static void leak_mid_blocks(void)
{
    leak_blocks(256L << 20, 256L << 10);
}
__attribute__((noinline)) static void leak_small_blocks(void)
{
    leak_blocks(256L << 20, 4096);
}

__attribute__((noinline)) static void churn(void)
{
    for (long done = 0; done < (1L << 30); done += 8192) {
        void *p = malloc(8192);
        sink = p;
        free(p);
    }
}

int main(void)
{
    churn();
    leak_huge_blocks();
    leak_mid_blocks();
    leak_small_blocks();
    churn();
    return 0;
}
