/* Symbolization after the run, outside the target: from a saved /proc/PID/maps and the
 * files it names, with elfutils libdwfl (function, source file:line, object). Functions the
 * compiler inlined at an address are frames of their own (from the DWARF inline scopes);
 * C++ and Rust names are demangled with libiberty, Rust's ::h<hash> suffix dropped. */
#ifndef ALLOCSCOPE_SYMBOLIZE_H
#define ALLOCSCOPE_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

struct symbolizer;

/* Room for a whole stack with its inlined frames (64 return addresses at most). */
#define ALLOCSCOPE_MAX_FRAMES 256

struct frame_info {
    const char *function; /* demangled: "srv::Registry::add(int)"; "??" when unknown */
    const char *mangled;  /* as the object file names it ("_ZN3srv8Registry3addEi") */
    const char *file;     /* "??" when unknown */
    int line;             /* 0 when unknown */
    const char *object;   /* the mapped file, "??" when unknown */
    bool inlined;         /* inlined into the next frame (which has the same address) */
    uint64_t address;     /* the return address looked up */
};

/* MAPS_TEXT: the content of maps.txt (may be NULL: every frame is then unknown). */
struct symbolizer *symbolizer_new(const char *maps_text);
/* ADDRESS is a return address; the call instruction before it is what is looked up. The
 * frames there, innermost first: the functions inlined at that instruction (inlined set),
 * then the function the code belongs to. Returns their count (at least 1); the array and
 * its strings stay valid until symbolizer_free. */
unsigned symbolizer_frames(struct symbolizer *s, uint64_t address, const struct frame_info **out);

/* The frames of a stack of return addresses (PCS, innermost first), each address expanded
 * as symbolizer_frames does, into OUT: returns how many (at most MAX). */
unsigned symbolizer_stack(struct symbolizer *s, const uint64_t *pcs, unsigned depth,
                          struct frame_info *out, unsigned max);

/* Returns the demangled form of NAME (C++ Itanium, Rust legacy and v0, without Rust's hash)
 * as a malloc'd string; NAME itself, copied, when it is not mangled. */
char *symbolizer_demangle(const char *name);
void symbolizer_free(struct symbolizer *s);

#endif
