/* Human formatting shared by the text outputs. */
#ifndef ALLOCSCOPE_FORMAT_H
#define ALLOCSCOPE_FORMAT_H

#include <stddef.h>

struct symbolizer;
struct site_series;

/* "1.5 MiB", "312 B"; negative values keep their sign. Returns buf. */
const char *format_bytes(char *buf, size_t len, double bytes);

/* "fn (file.c:12) <- caller (file.c:40)", at most MAX frames; functions inlined from the
 * language's own library (C++ headers, Rust's std) are left out, others marked [inlined]. */
void format_site_frames(struct symbolizer *sym, const struct site_series *s, unsigned max,
                        char *out, size_t len);

#endif
