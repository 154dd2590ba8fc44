/* A target that cannot load the shim (a static program, such as most Go programs) is
 * measured from outside: `allocscope run` reads /proc/PID/smaps_rollup of the process every
 * interval and writes the rows as samples.csv in the columns `attach` writes (t_ms,
 * rss_bytes, pss_bytes, anon_bytes, lazyfree_bytes; docs/FORMAT.md), so diagnose, report
 * and the kernel-event join read it as they read an attach. */
#ifndef ALLOCSCOPE_OUTSIDE_H
#define ALLOCSCOPE_OUTSIDE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct outside_row {
    uint64_t t_ms;
    long long rss, pss, anon, lazyfree; /* bytes */
};

struct outside_log {
    struct outside_row *rows;
    size_t n, cap;
    uint64_t next_ns; /* when the next row is due */
};

/* Adds a row for PID when one is due (every INTERVAL_MS from T0_NS on). Returns 1 when a
 * row was added, 0 when none was due or the process had no memory to read (gone, or a
 * zombie). */
int outside_sample(struct outside_log *log, pid_t pid, uint64_t t0_ns, unsigned interval_ms);

/* Writes the rows as PATH (temp + rename). Returns 0 or -1 with errno. */
int outside_write_samples(const struct outside_log *log, const char *path);

/* The highest rss of the rows, -1 when there is none. */
long long outside_peak_rss(const struct outside_log *log);

void outside_free(struct outside_log *log);

#endif
