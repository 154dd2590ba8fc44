/* Keeps a known set of blocks live until exit and prints the sum of their usable sizes, so a
 * test can check the shim's live_bytes against the allocator's own malloc_usable_size.
 *
 *   usable_holder N
 *
 * Allocates N rounds of the same mix (small, medium, mmapped-size, and aligned blocks), asks
 * malloc_usable_size of each, never frees them, and prints "usable=SUM blocks=COUNT". With
 * N = 0 it allocates nothing; the difference between two runs' exit live_bytes is the sum.
 *
 *   usable_holder N mmapped
 *
 * also prints "mmapped=K": how many of the blocks glibc served by mmap (the chunk header's
 * IS_MMAPPED bit; glibc only), which a raised dynamic mmap threshold would change. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int glibc_mmapped(const void *p)
{
    const size_t *header = (const size_t *)((uintptr_t)p - sizeof(size_t));
    return (*header & 2) != 0;
}

static const size_t sizes[] = {1, 24, 100, 1000, 5000, 70000, 300000, 2u << 20};

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 1;
    int count_mmapped = argc > 2 && !strcmp(argv[2], "mmapped");
    unsigned long long usable = 0, blocks = 0, mmapped = 0;
    for (long r = 0; r < rounds; r++) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            void *p = malloc(sizes[i]);
            if (!p)
                return 1;
            usable += malloc_usable_size(p);
            blocks++;
            if (count_mmapped)
                mmapped += glibc_mmapped(p);
        }
        void *aligned = NULL;
        if (posix_memalign(&aligned, 4096, 3000 + (size_t)r))
            return 1;
        usable += malloc_usable_size(aligned);
        void *zeroed = calloc(10, 77);
        void *grown = realloc(malloc(10), 700);
        if (!zeroed || !grown)
            return 1;
        usable += malloc_usable_size(zeroed) + malloc_usable_size(grown);
        blocks += 3;
    }
    printf("usable=%llu blocks=%llu", usable, blocks);
    if (count_mmapped)
        printf(" mmapped=%llu", mmapped);
    printf("\n");
    return 0;
}
