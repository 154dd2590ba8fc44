#include "common/format.h"

#include <math.h>
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

void format_site_frames(struct symbolizer *sym, const struct site_series *s, unsigned max,
                        char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < s->depth && i < max && used < len; i++) {
        struct frame_info f;
        symbolizer_lookup(sym, s->frames[i], &f);
        const char *file = strrchr(f.file, '/') ? strrchr(f.file, '/') + 1 : f.file;
        int w;
        if (f.line)
            w = snprintf(out + used, len - used, "%s%s (%s:%d)", i ? " <- " : "", f.function, file,
                         f.line);
        else
            w = snprintf(out + used, len - used, "%s%s (%s)", i ? " <- " : "", f.function,
                         strrchr(f.object, '/') ? strrchr(f.object, '/') + 1 : f.object);
        used += w > 0 ? (size_t)w : 0;
    }
}
