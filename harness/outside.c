#include "harness/outside.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic_file.h"
#include "common/util.h"
#include "harness/procmem.h"

int outside_sample(struct outside_log *log, pid_t pid, uint64_t t0_ns, unsigned interval_ms)
{
    uint64_t now = util_monotonic_ns();
    if (now < log->next_ns)
        return 0;
    uint64_t interval = (uint64_t)(interval_ms ? interval_ms : 100) * 1000000ull;
    log->next_ns = (log->next_ns ? log->next_ns : now) + interval;
    if (log->next_ns < now)
        log->next_ns = now + interval; /* a late wake-up: no burst of rows to catch up */
    struct procmem m;
    if (procmem_read_rollup(pid, &m) <= 0 || m.rss <= 0)
        return 0;
    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 256;
        log->rows = xreallocarray(log->rows, log->cap, sizeof(*log->rows));
    }
    log->rows[log->n++] =
        (struct outside_row){(now - t0_ns) / 1000000ull, m.rss, m.pss, m.anon, m.lazyfree};
    return 1;
}

int outside_write_samples(const struct outside_log *log, const char *path)
{
    static const char header[] = "t_ms,rss_bytes,pss_bytes,anon_bytes,lazyfree_bytes\n";
    size_t cap = sizeof(header) + log->n * 112, len = 0;
    char *text = xmalloc(cap);
    len += (size_t)snprintf(text, cap, "%s", header);
    for (size_t i = 0; i < log->n; i++) {
        const struct outside_row *r = &log->rows[i];
        len += (size_t)snprintf(text + len, cap - len, "%llu,%lld,%lld,%lld,%lld\n",
                                (unsigned long long)r->t_ms, r->rss, r->pss, r->anon, r->lazyfree);
    }
    int rc = atomic_file_write(path, text, len);
    int saved = errno;
    free(text);
    errno = saved;
    return rc;
}

long long outside_peak_rss(const struct outside_log *log)
{
    long long peak = -1;
    for (size_t i = 0; i < log->n; i++)
        if (log->rows[i].rss > peak)
            peak = log->rows[i].rss;
    return peak;
}

void outside_free(struct outside_log *log)
{
    free(log->rows);
    memset(log, 0, sizeof(*log));
}
