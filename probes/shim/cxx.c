/* C++ operators new and delete, all variants (plain, array, nothrow, sized, aligned).
 * jemalloc, mimalloc and tcmalloc export their own; defining them here, first in symbol
 * order, makes C++ allocations visible whichever allocator serves them. They go through
 * the same recorded paths as malloc/free; only a failed plain new calls the next library's
 * operator new, which runs the new-handler and throws std::bad_alloc. */
#include <dlfcn.h>
#include <stdlib.h>

#include "internal.h"

#define EXPORT __attribute__((visibility("default")))

/* The next library's operator new, which runs the new-handler and throws std::bad_alloc:
 * looked up by the constructor (dlsym takes the loader's lock, not to be taken on an
 * allocation path), or on the first failure in a process whose C++ runtime was loaded
 * after the constructor ran. */
enum { NEW_PLAIN, NEW_ARRAY, NEW_ALIGNED, NEW_ARRAY_ALIGNED, NEW_KINDS };
static const char *const next_new_names[NEW_KINDS] = {"_Znwm", "_Znam", "_ZnwmSt11align_val_t",
                                                      "_ZnamSt11align_val_t"};
static void *next_new[NEW_KINDS];

void cxx_resolve_next(void)
{
    for (unsigned i = 0; i < NEW_KINDS; i++)
        if (!next_new[i])
            next_new[i] = dlsym(RTLD_NEXT, next_new_names[i]);
}

static void *new_failed(int kind, size_t size, size_t align)
{
    if (!next_new[kind])
        cxx_resolve_next();
    void *(*next)(size_t, ...) = (void *(*)(size_t, ...))next_new[kind];
    if (!next)
        abort(); /* no C++ runtime to throw with: nothing sensible is left */
    return align ? next(size, align) : next(size);
}

/* KIND < 0: the nothrow variants, which return NULL on failure. */
static void *new_plain(size_t size, int kind, void *frame, void *ret)
{
    void *p = alloc_malloc_at(size ? size : 1, frame, ret);
    return p || kind < 0 ? p : new_failed(kind, size, 0);
}

static void *new_aligned(size_t size, size_t align, int kind, void *frame, void *ret)
{
    void *p = NULL;
    if (alloc_aligned_at(&p, align, size ? size : 1, frame, ret))
        p = NULL;
    return p || kind < 0 ? p : new_failed(kind, size, align);
}

#define FRAME __builtin_frame_address(0), __builtin_return_address(0)

EXPORT void *_Znwm(size_t n)
{
    return new_plain(n, NEW_PLAIN, FRAME);
}
EXPORT void *_Znam(size_t n)
{
    return new_plain(n, NEW_ARRAY, FRAME);
}
EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const void *t)
{
    (void)t;
    return new_plain(n, -1, FRAME);
}
EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const void *t)
{
    (void)t;
    return new_plain(n, -1, FRAME);
}
EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t a)
{
    return new_aligned(n, a, NEW_ALIGNED, FRAME);
}
EXPORT void *_ZnamSt11align_val_t(size_t n, size_t a)
{
    return new_aligned(n, a, NEW_ARRAY_ALIGNED, FRAME);
}
EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t)
{
    (void)t;
    return new_aligned(n, a, -1, FRAME);
}
EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t)
{
    (void)t;
    return new_aligned(n, a, -1, FRAME);
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
