#include "harness/bench_tree.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/columns.h"
#include "harness/procmem.h"
#include "common/atomic_file.h"
#include "common/util.h"

int tree_sample(pid_t root, struct tree_row *row)
{
    struct procmem total;
    row->processes = procmem_sum_tree(root, &total);
    row->rss = total.rss;
    row->pss = total.pss;
    row->anon = total.anon;
    row->lazyfree = total.lazyfree;
    return row->processes;
}

void tree_log_add(struct tree_log *log, const struct tree_row *row)
{
    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 256;
        log->rows = xreallocarray(log->rows, log->cap, sizeof(*row));
    }
    log->rows[log->n++] = *row;
}

void tree_log_free(struct tree_log *log)
{
    free(log->rows);
    memset(log, 0, sizeof(*log));
}

const struct tree_row *tree_log_at(const struct tree_log *log, uint64_t t_ms)
{
    const struct tree_row *found = NULL;
    for (size_t i = 0; i < log->n && log->rows[i].t_ms <= t_ms; i++)
        found = &log->rows[i];
    return found;
}

static const char tree_header[] = TREE_CSV_HEADER "\n";

static void format_row(char *buf, size_t len, const struct tree_row *r, bool with_time)
{
    char t[32] = "";
    if (with_time)
        snprintf(t, sizeof(t), "%llu,", (unsigned long long)r->t_ms);
    snprintf(buf, len, "%s%lld,%lld,%lld,%lld,%d", t, r->rss, r->pss, r->anon, r->lazyfree,
             r->processes);
}

int tree_log_write(const struct tree_log *log, const char *path)
{
    size_t cap = sizeof(tree_header) + log->n * 128, len = 0;
    char *text = xmalloc(cap);
    len += (size_t)snprintf(text, cap, "%s", tree_header);
    for (size_t i = 0; i < log->n; i++) {
        char line[160];
        format_row(line, sizeof(line), &log->rows[i], true);
        len += (size_t)snprintf(text + len, cap - len, "%s\n", line);
    }
    int rc = atomic_file_write(path, text, len);
    int saved = errno;
    free(text);
    errno = saved;
    return rc;
}

struct text {
    char *buf;
    size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->buf = xrealloc(t->buf, t->cap);
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

int tree_join_samples(const struct tree_log *log, const char *samples_path, char *err,
                      size_t errlen)
{
    char *samples = util_read_file(samples_path, NULL);
    if (!samples && errno != ENOENT) {
        snprintf(err, errlen, "cannot read %s: %s", samples_path, strerror(errno));
        return -1;
    }
    if (!samples) {
        int rc = tree_log_write(log, samples_path);
        if (rc)
            atomic_file_error(err, errlen, samples_path, errno);
        return rc;
    }
    struct text out = {0};
    bool header = true;
    for (char *line = samples, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        text_add(&out, line, (size_t)(nl - line));
        if (header) {
            const char *joined = strstr(line, SAMPLES_TREE_RSS_BYTES);
            if (joined && joined < nl) {
                free(out.buf);
                free(samples);
                return 0; /* joined already */
            }
            const char *cols = "," SAMPLES_TREE_COLUMNS "\n";
            text_add(&out, cols, strlen(cols));
            header = false;
            continue;
        }
        const struct tree_row *r = tree_log_at(log, strtoull(line, NULL, 10));
        char cols[160] = ",,,,";
        if (r)
            format_row(cols, sizeof(cols), r, false);
        text_add(&out, ",", 1);
        text_add(&out, cols, strlen(cols));
        text_add(&out, "\n", 1);
    }
    /* A truncated last line (a killed target) is left out. */
    int rc = atomic_file_write(samples_path, out.buf ? out.buf : "", out.len);
    if (rc)
        atomic_file_error(err, errlen, samples_path, errno);
    free(out.buf);
    free(samples);
    return rc;
}
