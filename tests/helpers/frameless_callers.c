/* Two call chains that reach malloc through the same frameless function at the same place
 * on the stack: leaf() is called by caller_a() and caller_b(), alike in shape and frame size,
 * all built without frame pointers (tests.mk), so the shim's frame-pointer walk breaks at the
 * first frame and the rest of each stack comes from libunwind or the shim's memory of it.
 * The two chains share the entry point's frame and its caller's return address; only the
 * stack word holding the return address into caller_a or caller_b tells them apart.
 *
 *   frameless_callers    leaks 10 x 1000 B through caller_a and 20 x 2000 B through caller_b,
 *                        interleaved (a, b, b, a, b, b, ...), and exits */
#include <stdlib.h>
#include <string.h>

void *kept[64];
int nkept;

__attribute__((noinline)) void *leaf(size_t size)
{
    char *p = malloc(size);
    memset(p, 1, size);
    return p;
}

__attribute__((noinline)) void caller_a(int i)
{
    volatile char pad[48];
    pad[i % 48] = (char)i;
    kept[nkept++] = leaf(1000);
    pad[0] = pad[i % 48];
}

__attribute__((noinline)) void caller_b(int i)
{
    volatile char pad[48];
    pad[i % 48] = (char)i;
    kept[nkept++] = leaf(2000);
    pad[0] = pad[i % 48];
}

int main(void)
{
    for (int i = 0; i < 30; i++) {
        if (i % 3 == 0)
            caller_a(i);
        else
            caller_b(i);
    }
    return 0;
}
