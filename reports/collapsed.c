/* Collapsed stacks: "main;serve;handle_request;upstream_client_new 4194304". */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "common/util.h"
#include "reports/stack_export.h"

const char *collapsed_frame_name(char *buf, size_t len, const struct frame_info *f)
{
    char raw[1024];
    const char *object = strrchr(f->object, '/') ? strrchr(f->object, '/') + 1 : f->object;
    if (!strcmp(f->function, "??"))
        snprintf(raw, sizeof(raw), "[%s]", object);
    else
        snprintf(raw, sizeof(raw), "%s%s", f->function, f->inlined ? "_[i]" : "");
    size_t used = 0;
    for (const char *p = raw; *p && used + 1 < len;) {
        size_t n = escape_utf8_length(p);
        unsigned char c = (unsigned char)*p;
        if (n == 0 || (n == 1 && (c < 0x20 || c == 0x7f))) {
            buf[used++] = '?'; /* one per byte, as the escapers do */
            p++;
        } else if (used + n < len) {
            memcpy(buf + used, c == ';' ? ":" : p, n);
            used += n;
            p += n;
        } else {
            break; /* never cut a character */
        }
    }
    buf[used] = '\0';
    return buf;
}

struct collapsed_line {
    char *stack;
    double value;
};

static int by_stack(const void *a, const void *b)
{
    return strcmp(((const struct collapsed_line *)a)->stack,
                  ((const struct collapsed_line *)b)->stack);
}

/* The stack outermost first, frames joined by ';'. malloc'd. */
static char *joined_stack(const struct profile_stack *s)
{
    size_t cap = 256, len = 0;
    char *out = xmalloc(cap), name[1024];
    out[0] = '\0';
    for (unsigned i = s->nframes; i-- > 0;) {
        collapsed_frame_name(name, sizeof(name), &s->frames[i]);
        size_t n = strlen(name) + 2;
        if (len + n >= cap) {
            cap = (len + n) * 2;
            out = xrealloc(out, cap);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? ";" : "", name);
    }
    if (!len) { /* a site without frames (its stack was lost) still holds its bytes */
        free(out);
        out = xstrdup("[no stack]");
    }
    return out;
}

size_t collapsed_write(FILE *out, const struct site_profile *p, enum profile_value value)
{
    struct collapsed_line *lines = xcalloc(p->n ? p->n : 1, sizeof(*lines));
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        double v = profile_stack_value(&p->stacks[i], value);
        if (v > 0)
            lines[n++] = (struct collapsed_line){joined_stack(&p->stacks[i]), v};
    }
    util_sort(lines, n, sizeof(*lines), by_stack);
    size_t written = 0;
    for (size_t i = 0; i < n;) {
        double sum = 0;
        size_t j = i;
        for (; j < n && !strcmp(lines[j].stack, lines[i].stack); j++)
            sum += lines[j].value;
        if (llround(sum) > 0) {
            fprintf(out, "%s %lld\n", lines[i].stack, (long long)llround(sum));
            written++;
        }
        i = j;
    }
    for (size_t i = 0; i < n; i++)
        free(lines[i].stack);
    free(lines);
    return written;
}
