#include "common/format.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/rundata.h"
#include "common/symbolize.h"

const char *format_bytes(char *buf, size_t len, double bytes)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = fabs(bytes);
    unsigned u = 0;
    while (v >= 1024 && u < 4)
        v /= 1024, u++;
    if (u == 0)
        snprintf(buf, len, "%s%.0f B", bytes < 0 ? "-" : "", v);
    else
        snprintf(buf, len, "%s%.1f %s", bytes < 0 ? "-" : "", v, units[u]);
    return buf;
}

/* Inlined frames of a language's own library (C++ headers under /usr/include, Rust's
 * std under /rustc/): the allocation's plumbing, left out of one-line summaries so that
 * the function that asked for the memory shows (the JSON keeps every frame). */
static bool library_plumbing(const struct frame_info *f)
{
    return f->inlined && (!strncmp(f->file, "/usr/include/", 13) || strstr(f->file, "/rustc/"));
}

void format_site_frames(struct symbolizer *sym, const struct site_series *s, unsigned max,
                        char *out, size_t len)
{
    struct frame_info frames[ALLOCSCOPE_MAX_FRAMES];
    unsigned n = symbolizer_stack(sym, s->frames, s->depth, frames, ALLOCSCOPE_MAX_FRAMES);
    size_t used = 0;
    unsigned shown = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < n && shown < max && used < len; i++) {
        const struct frame_info *f = &frames[i];
        if (library_plumbing(f) && i + 1 < n)
            continue;
        const char *file = strrchr(f->file, '/') ? strrchr(f->file, '/') + 1 : f->file;
        const char *object = strrchr(f->object, '/') ? strrchr(f->object, '/') + 1 : f->object;
        int w;
        if (f->line)
            w = snprintf(out + used, len - used, "%s%s (%s:%d)%s", shown ? " <- " : "", f->function,
                         file, f->line, f->inlined ? " [inlined]" : "");
        else
            w = snprintf(out + used, len - used, "%s%s (%s)%s", shown ? " <- " : "", f->function,
                         object, f->inlined ? " [inlined]" : "");
        used += w > 0 ? (size_t)w : 0;
        shown++;
    }
}
