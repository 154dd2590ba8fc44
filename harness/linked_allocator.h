/* Programs that bring their own allocator. Debian's redis-server needs libjemalloc.so.2
 * (DT_NEEDED); other programs carry a copy of jemalloc, tcmalloc or mimalloc linked in.
 * Such a program decides which allocator configurations a bench can run on it: its own
 * allocator's configurations (their environment variables reach its copy), allocators
 * preloaded over a shared library it needs (the preload comes first in symbol lookup), but
 * not glibc's malloc, and nothing over a copy linked into the executable (the executable
 * comes before any preload). The rest are `unsupported`, with the reason. */
#ifndef ALLOCSCOPE_LINKED_ALLOCATOR_H
#define ALLOCSCOPE_LINKED_ALLOCATOR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/allocator_config.h"

struct linked_allocator {
    char kind[16];      /* jemalloc, tcmalloc, mimalloc; "" when the program links none */
    bool in_executable; /* a copy linked into the program, not a shared library it needs */
    char evidence[256]; /* "needs libjemalloc.so.2" or "defines mallctl" */
    char program[PATH_MAX];
};

/* The file COMMAND (a command's first word) runs: itself when it has a slash, else the
 * first executable of that name in PATH. Returns 0, or -1 when there is none. */
int linked_allocator_resolve(const char *command, char *path, size_t len);

/* Reads the ELF file PROGRAM: its shared libraries (DT_NEEDED, and theirs, found through
 * its RUNPATH/RPATH and the system's library directories) and the symbols it defines.
 * Returns 1 with OUT filled when it links an allocator, 0 when it links none or is not
 * an ELF file it can read (a script: what it execs is judged by the run itself). */
int linked_allocator_detect(const char *program, struct linked_allocator *out);

/* Whether CFG can run on a program that links LINKED: false with the reason (one line,
 * naming the program, the allocator and how it is linked) when it cannot. */
bool linked_allocator_allows(const struct linked_allocator *linked,
                             const struct allocator_config *cfg, char *reason, size_t len);

/* Whether CFG's library is to be preloaded: not when the program brings that allocator
 * itself (its own copy gets the configuration's environment). */
bool linked_allocator_preload(const struct linked_allocator *linked,
                              const struct allocator_config *cfg);

/* After a run: the allocator the shim found serving malloc (shim.txt "allocator" and
 * "allocator_path") when it is not CFG's and not glibc, that is, one the program brought
 * (through an exec, a dlopen, a wrapper script) rather than a failed preload. Returns true
 * with the reason then. */
bool linked_allocator_took_over(const struct allocator_config *cfg, const char *shim_txt,
                                char *reason, size_t len);

#endif
