/* Symbolization after the run, outside the target: from a saved /proc/PID/maps and the
 * files it names, with elfutils libdwfl (function, source file:line, object). */
#ifndef ALLOCSCOPE_SYMBOLIZE_H
#define ALLOCSCOPE_SYMBOLIZE_H

#include <stdint.h>

struct symbolizer;

struct frame_info {
    const char *function; /* "??" when unknown */
    const char *file;     /* "??" when unknown */
    int line;             /* 0 when unknown */
    const char *object;   /* the mapped file, "??" when unknown */
};

/* MAPS_TEXT: the content of maps.txt (may be NULL: every frame is then unknown). */
struct symbolizer *symbolizer_new(const char *maps_text);
/* ADDRESS is a return address; the call instruction before it is what is looked up.
 * Strings stay valid until symbolizer_free. */
void symbolizer_lookup(struct symbolizer *s, uint64_t address, struct frame_info *out);
void symbolizer_free(struct symbolizer *s);

#endif
