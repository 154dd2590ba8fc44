/* C++ operators new and delete, all variants (plain, array, nothrow, sized, aligned).
 * jemalloc, mimalloc and tcmalloc export their own; defining them here, first in symbol
 * order, makes C++ allocations visible whichever allocator serves them. They go through
 * the same recorded paths as malloc/free; only a failed plain new calls the next library's
 * operator new, which runs the new-handler and throws std::bad_alloc. */
#include <dlfcn.h>
#include <stdlib.h>

#include "internal.h"

#define EXPORT __attribute__((visibility("default")))

static void *new_failed(const char *symbol, size_t size, size_t align)
{
    void *(*next_new)(size_t, ...) = (void *(*)(size_t, ...))dlsym(RTLD_NEXT, symbol);
    if (!next_new)
        abort(); /* no C++ runtime to throw with: nothing sensible is left */
    return align ? next_new(size, align) : next_new(size);
}

static void *new_plain(size_t size, const char *symbol, void *frame, void *ret)
{
    void *p = alloc_malloc_at(size ? size : 1, frame, ret);
    return p || !symbol ? p : new_failed(symbol, size, 0);
}

static void *new_aligned(size_t size, size_t align, const char *symbol, void *frame, void *ret)
{
    void *p = NULL;
    if (alloc_aligned_at(&p, align, size ? size : 1, frame, ret))
        p = NULL;
    return p || !symbol ? p : new_failed(symbol, size, align);
}

#define FRAME __builtin_frame_address(0), __builtin_return_address(0)

EXPORT void *_Znwm(size_t n)
{
    return new_plain(n, "_Znwm", FRAME);
}
EXPORT void *_Znam(size_t n)
{
    return new_plain(n, "_Znam", FRAME);
}
EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const void *t)
{
    (void)t;
    return new_plain(n, NULL, FRAME);
}
EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const void *t)
{
    (void)t;
    return new_plain(n, NULL, FRAME);
}
EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t a)
{
    return new_aligned(n, a, "_ZnwmSt11align_val_t", FRAME);
}
EXPORT void *_ZnamSt11align_val_t(size_t n, size_t a)
{
    return new_aligned(n, a, "_ZnamSt11align_val_t", FRAME);
}
EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t)
{
    (void)t;
    return new_aligned(n, a, NULL, FRAME);
}
EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t)
{
    (void)t;
    return new_aligned(n, a, NULL, FRAME);
}

EXPORT void _ZdlPv(void *p)
{
    free(p);
}
EXPORT void _ZdaPv(void *p)
{
    free(p);
}
EXPORT void _ZdlPvm(void *p, size_t n)
{
    (void)n;
    free(p);
}
EXPORT void _ZdaPvm(void *p, size_t n)
{
    (void)n;
    free(p);
}
EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *t)
{
    (void)t;
    free(p);
}
EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *t)
{
    (void)t;
    free(p);
}
EXPORT void _ZdlPvSt11align_val_t(void *p, size_t a)
{
    (void)a;
    free(p);
}
EXPORT void _ZdaPvSt11align_val_t(void *p, size_t a)
{
    (void)a;
    free(p);
}
EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a)
{
    (void)n, (void)a;
    free(p);
}
EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a)
{
    (void)n, (void)a;
    free(p);
}
EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t)
{
    (void)a, (void)t;
    free(p);
}
EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t)
{
    (void)a, (void)t;
    free(p);
}
