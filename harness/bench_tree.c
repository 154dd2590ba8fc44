#include "bench_tree.h"

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct pid_list {
    pid_t *pids;
    size_t n, cap;
};

static void pid_list_add(struct pid_list *l, pid_t pid)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->pids[i] == pid)
            return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->pids = realloc(l->pids, l->cap * sizeof(pid_t));
    }
    l->pids[l->n++] = pid;
}

/* Children are listed per thread (/proc/PID/task/TID/children). */
static void add_children(struct pid_list *l, pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return;
    struct dirent *d;
    while ((d = readdir(dir))) {
        if (d->d_name[0] == '.')
            continue;
        char file[320];
        snprintf(file, sizeof(file), "/proc/%d/task/%s/children", (int)pid, d->d_name);
        FILE *f = fopen(file, "re");
        if (!f)
            continue;
        int child;
        while (fscanf(f, "%d", &child) == 1)
            pid_list_add(l, child);
        fclose(f);
    }
    closedir(dir);
}

static int add_rollup(pid_t pid, struct tree_row *row)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    static const struct {
        const char *key;
        size_t offset;
    } fields[] = {{"Rss:", offsetof(struct tree_row, rss)},
                  {"Pss:", offsetof(struct tree_row, pss)},
                  {"Anonymous:", offsetof(struct tree_row, anon)},
                  {"LazyFree:", offsetof(struct tree_row, lazyfree)}};
    bool any = false;
    while (fgets(line, sizeof(line), f))
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            size_t n = strlen(fields[i].key);
            if (strncmp(line, fields[i].key, n))
                continue;
            *(long long *)((char *)row + fields[i].offset) += strtoll(line + n, NULL, 10) * 1024;
            any = true;
        }
    fclose(f);
    return any ? 0 : -1; /* a zombie has an empty rollup */
}

int tree_sample(pid_t root, struct tree_row *row)
{
    struct pid_list l = {0};
    row->rss = row->pss = row->anon = row->lazyfree = 0;
    row->processes = 0;
    pid_list_add(&l, root);
    for (size_t i = 0; i < l.n; i++)
        add_children(&l, l.pids[i]);
    for (size_t i = 0; i < l.n; i++)
        if (add_rollup(l.pids[i], row) == 0)
            row->processes++;
    free(l.pids);
    return row->processes;
}

void tree_log_add(struct tree_log *log, const struct tree_row *row)
{
    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 256;
        log->rows = realloc(log->rows, log->cap * sizeof(*row));
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

static const char tree_header[] =
    "t_ms,tree_rss_bytes,tree_pss_bytes,tree_anon_bytes,tree_lazyfree_bytes,processes\n";

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
    char *text = malloc(cap);
    len += (size_t)snprintf(text, cap, "%s", tree_header);
    for (size_t i = 0; i < log->n; i++) {
        char line[160];
        format_row(line, sizeof(line), &log->rows[i], true);
        len += (size_t)snprintf(text + len, cap - len, "%s\n", line);
    }
    int rc = util_write_file_atomic(path, text, len);
    free(text);
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
        t->buf = realloc(t->buf, t->cap);
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
            snprintf(err, errlen, "cannot write %s: %s", samples_path, strerror(errno));
        return rc;
    }
    struct text out = {0};
    bool header = true;
    for (char *line = samples, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        text_add(&out, line, (size_t)(nl - line));
        if (header) {
            if (strstr(line, "tree_rss_bytes") && strstr(line, "tree_rss_bytes") < nl) {
                free(out.buf);
                free(samples);
                return 0; /* joined already */
            }
            const char *cols = ",tree_rss_bytes,tree_pss_bytes,tree_anon_bytes,"
                               "tree_lazyfree_bytes,tree_processes\n";
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
    int rc = util_write_file_atomic(samples_path, out.buf ? out.buf : "", out.len);
    if (rc)
        snprintf(err, errlen, "cannot write %s: %s", samples_path, strerror(errno));
    free(out.buf);
    free(samples);
    return rc;
}
