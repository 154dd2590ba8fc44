/* Which allocator serves malloc in this process, what it says about its memory, which
 * settings it runs with, and how to ask it to give memory back. Everything is looked up
 * at run time with dlsym(RTLD_DEFAULT, ...): the shim links none of the allocators.
 *
 * Called only from the shim's sampler thread (never from the allocation hot path), with
 * the shim's reentrancy guard set, so these functions may allocate.
 */
#ifndef ALLOCSCOPE_ALLOCATOR_H
#define ALLOCSCOPE_ALLOCATOR_H

#include <stddef.h>
#include <stdint.h>

enum allocator_kind {
    ALLOCATOR_UNKNOWN = 0,
    ALLOCATOR_GLIBC,
    ALLOCATOR_JEMALLOC,
    ALLOCATOR_MIMALLOC,
    ALLOCATOR_TCMALLOC,
};

/* The allocator's own view, in bytes; -1 where it does not say. See docs/FORMAT.md
 * (samples.csv, heap_* columns) for what each field means per allocator. */
struct allocator_stats {
    int64_t in_use_bytes;
    int64_t held_bytes;
    int64_t free_bytes;
    int64_t released_bytes;
};

/* Detect the allocator from the address of the malloc the shim forwards to. */
void allocator_detect(void *real_malloc);
enum allocator_kind allocator_kind(void);
const char *allocator_name(void);    /* "glibc", "jemalloc", ... or "unknown" */
const char *allocator_path(void);    /* the library file that defines malloc */
const char *allocator_version(void); /* "" when unknown */

/* Fill *out; returns 0, or -1 when nothing could be read (fields then -1). */
int allocator_read_stats(struct allocator_stats *out);

/* Append the settings read back from the allocator to fd as "setting.NAME=VALUE\n" lines,
 * and a "setting_error=..." line for each setting from the environment that the allocator
 * ignored or rejected (misspelled MALLOC_CONF key, unknown MIMALLOC_ or TCMALLOC_ variable,
 * malformed GLIBC_TUNABLES). Returns the number of setting errors. */
int allocator_write_settings(int fd);

/* Ask the allocator to release free memory to the OS (glibc malloc_trim(0), jemalloc
 * arena.<all>.purge, tcmalloc ReleaseFreeMemory, mimalloc mi_collect(true)).
 * Returns 0 when the allocator has such a call. */
int allocator_release_free_memory(void);

#endif
