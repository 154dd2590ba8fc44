/* Small helpers shared by the allocscope subcommands. */
#ifndef ALLOCSCOPE_UTIL_H
#define ALLOCSCOPE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALLOCSCOPE_VERSION "0.1"

void util_set_program_name(const char *argv0);

/* One line "allocscope: MESSAGE" on stderr. */
void util_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void util_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Directory holding the allocscope executable (resolved from /proc/self/exe). */
const char *util_self_dir(void);

/* Path of an installed piece: looks in SELF_DIR/../lib/allocscope/NAME, SELF_DIR/../lib/NAME,
 * SELF_DIR/NAME, in that order; returns a static buffer or NULL. */
const char *util_find_lib(const char *name);

/* Path of the shared data (registry.ini ...): SELF_DIR/../share/allocscope/NAME or the
 * source tree's copy for an uninstalled build. */
const char *util_find_data(const char *name, const char *source_relative);

/* rm -rf PATH without following symbolic links (a link is removed, not its target).
 * Returns 0 (also when PATH does not exist) or -1 with errno set. */
int util_remove_tree(const char *path);

/* mkdir -p; returns 0 or -1 with errno set. PATH, and every parent it had to create, must end
 * up a real directory: a symbolic link there fails with ELOOP (existing parents may be links,
 * such as a system's /var/run). Files are written with common/atomic_file.h. */
int util_mkdir_p(const char *path);

/* Size bounds for reading a file whole. A file a person writes or a tool's small answer
 * (registry, bench and scenario files, shim.txt, cell.json, /proc files) stays far below
 * UTIL_INPUT_MAX; recordings (samples.csv, sites.csv ...) can be large, but not without end.
 * The bound turns a wrong path (/dev/zero, a disk image) into one error line instead of
 * memory growing until the machine runs out. */
#define UTIL_INPUT_MAX ((size_t)16 << 20)
#define UTIL_RECORDING_MAX ((size_t)4 << 30)

/* Read a whole file of at most MAX bytes into a NUL-terminated malloc'd buffer (LEN gets its
 * length: the text may hold NUL bytes). NULL with errno on failure; EFBIG: more than MAX. */
char *util_read_file_bounded(const char *path, size_t max, size_t *len);
/* util_read_file_bounded(path, UTIL_RECORDING_MAX, len): files allocscope wrote itself. */
char *util_read_file(const char *path, size_t *len);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t util_monotonic_ns(void);

/* Parse a byte count with optional K/M/G suffix (powers of 1024). Returns 0 or -1. */
int util_parse_bytes(const char *s, uint64_t *out);

/* Parse a non-negative integer in [min, max]. Returns 0 or -1. */
int util_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Names that become path components: targets, reference workloads, variants, allocators and
 * their configurations make a bench's cell directory WORKLOAD-VARIANT-ALLOCATOR-CONFIG-rN.
 * A valid one is 1 to UTIL_NAME_MAX ASCII letters, digits and . _ + -, not starting with . or -
 * (never "..", a slash, a control character or an option). */
#define UTIL_NAME_MAX 48
#define UTIL_NAME_RULE "use 1 to 48 letters, digits and . _ + -, not starting with . or -"
bool util_valid_name(const char *name);
/* 0 when NAME is valid; otherwise -1 with "WHAT 'NAME' is not a valid name (...); use ..." in
 * err, NAME shown as util_printable shows it. */
int util_check_name(const char *what, const char *name, char *err, size_t errlen);

/* TEXT from a file or the command line, for a one-line message: its control and non-ASCII
 * bytes as '?', cut with "..." to fit BUF (at most 80 characters). Returns BUF. */
const char *util_printable(char *buf, size_t len, const char *text);

/* Out of memory, everywhere in allocscope: one line "allocscope: out of memory" and exit
 * status 70 (EX_SOFTWARE). Nothing allocscope does can go on sensibly without the memory,
 * and a result written from half the data would be wrong, so these never return NULL.
 * A raw malloc, calloc, realloc, strdup, asprintf ... in cli/ common/ harness/ reports/
 * allocators/ (outside util.c) is allowed only on a line whose comment begins "raw alloc:"
 * and says why the failure is handled there (tests/integration/layout_test.sh checks).
 * Other allocating calls (json_dumps, realpath(NULL), open_memstream ...) call
 * util_out_of_memory() when they fail for want of memory. */
#define UTIL_EXIT_OUT_OF_MEMORY 70
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t size);
/* Grows an array to hold COUNT elements of SIZE (overflow checked). */
void *xreallocarray(void *p, size_t count, size_t size);
char *xstrdup(const char *s); /* NULL gives "" */
char *xstrndup(const char *s, size_t n);
__attribute__((noreturn)) void util_out_of_memory(void);

/* snprintf into a malloc'd string (never NULL: out of memory exits, as above). */
char *util_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *util_vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* qsort that takes an empty array as it is: qsort's array must not be NULL even for zero
 * elements (UBSan reports it), and an empty list is often a NULL one here. */
void util_sort(void *base, size_t n, size_t size, int (*compare)(const void *, const void *));

#endif
