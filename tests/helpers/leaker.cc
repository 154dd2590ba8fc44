// Leaks known bytes at known sites, after churning many allocations that are all freed.
// The tests compare allocscope's report with the table printed at the end, on stderr
// (unbuffered: stdout's buffer would be one more block unfreed at exit).
//   leaker [CHURN_PAIRS]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

static void *volatile sink;

#define NOINLINE __attribute__((noinline))

extern "C" NOINLINE void leak_with_malloc(int count, size_t size)
{
    for (int i = 0; i < count; i++)
        sink = malloc(size);
}

extern "C" NOINLINE void leak_with_calloc(int count, size_t n, size_t size)
{
    for (int i = 0; i < count; i++)
        sink = calloc(n, size);
}

// Only the last realloc of each chain is live at exit: its site is the one reported.
extern "C" NOINLINE void leak_with_realloc_chain(int count)
{
    for (int i = 0; i < count; i++) {
        void *p = malloc(10);
        p = realloc(p, 100);
        p = realloc(p, 5000);
        sink = p;
    }
}

extern "C" NOINLINE void leak_with_posix_memalign(int count, size_t size)
{
    for (int i = 0; i < count; i++) {
        void *p;
        if (posix_memalign(&p, 64, size) == 0)
            sink = p;
    }
}

struct Node {
    char payload[700];
};

extern "C" NOINLINE void leak_with_new(int count)
{
    for (int i = 0; i < count; i++)
        sink = new Node;
}

extern "C" NOINLINE void churn(long pairs)
{
    std::vector<void *> window(64);
    for (long i = 0; i < pairs; i++) {
        size_t slot = (size_t)i & 63;
        free(window[slot]);
        window[slot] = malloc(16 + (size_t)(i * 37 % 4000));
        if (i % 1000 == 0) {
            int *arr = new int[(i % 50) + 1];
            sink = arr;
            delete[] arr;
        }
    }
    for (void *p : window)
        free(p);
}

int main(int argc, char **argv)
{
    long pairs = argc > 1 ? atol(argv[1]) : 1000000;
    churn(pairs);
    leak_with_malloc(100, 1000);
    leak_with_calloc(50, 10, 200);
    leak_with_realloc_chain(20);
    leak_with_posix_memalign(30, 3000);
    leak_with_new(40);
    churn(pairs / 10);
    fprintf(stderr, "leak_with_malloc 100000 100\n");
    fprintf(stderr, "leak_with_calloc 100000 50\n");
    fprintf(stderr, "leak_with_realloc_chain 100000 20\n");
    fprintf(stderr, "leak_with_posix_memalign 90000 30\n");
    fprintf(stderr, "leak_with_new 28000 40\n");
    return 0;
}
