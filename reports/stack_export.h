/* A recording's allocation stacks in the formats other tools read: collapsed stacks
 * (flamegraph.pl, inferno, speedscope) and pprof's profile.proto, gzip'd (go tool pprof,
 * speedscope, Grafana Pyroscope). docs/FORMAT.md describes both as allocscope writes them. */
#ifndef ALLOCSCOPE_STACK_EXPORT_H
#define ALLOCSCOPE_STACK_EXPORT_H

#include <stddef.h>
#include <stdio.h>

#include "reports/site_profile.h"

/* One line per distinct stack, outermost frame first, frames joined by ';', then a space and
 * the stack's VALUE (an integer; growth in bytes per second); stacks with nothing to show are
 * left out and identical stacks summed. A frame is its function; "_[i]" marks a frame inlined
 * into the next one (flamegraph.pl's mark), "[OBJECT]" one without a function name. Returns
 * the number of lines. */
size_t collapsed_write(FILE *out, const struct site_profile *p, enum profile_value value);

/* A frame's name as the collapsed format shows it, into BUF: ';' (the separator) becomes ':',
 * control characters and bytes that are not UTF-8 become '?'. Returns BUF. */
const char *collapsed_frame_name(char *buf, size_t len, const struct frame_info *f);

/* PATH gets P as pprof's profile.proto, gzip'd. Sample types (type/unit): alloc_objects/count,
 * alloc_space/bytes (allocated over the whole run), inuse_objects/count, inuse_space/bytes
 * (unfreed at exit: the default), peak_objects/count, peak_space/bytes (live at the peak),
 * growth_space/bytes_per_second, temporary_objects/count (allocations freed before their
 * thread allocated anything else); with reachability also CLASS_space/bytes for memcheck's four
 * classes. Each return address is a location with its inlined functions as lines, in the
 * mapping of maps.txt that holds it. Returns 0, or -1 with a one-line message in err. */
int pprof_write(const struct site_profile *p, const char *path, char *err, size_t errlen);

#endif
