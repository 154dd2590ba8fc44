#include "harness/procmem.h"

#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

int procmem_read_rollup(pid_t pid, struct procmem *mem)
{
    static const struct {
        const char *key;
        size_t offset;
    } fields[] = {{"Rss:", offsetof(struct procmem, rss)},
                  {"Pss:", offsetof(struct procmem, pss)},
                  {"Anonymous:", offsetof(struct procmem, anon)},
                  {"LazyFree:", offsetof(struct procmem, lazyfree)}};
    char path[64], line[256];
    *mem = (struct procmem){0};
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int found = 0;
    while (fgets(line, sizeof(line), f))
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            size_t n = strlen(fields[i].key);
            if (strncmp(line, fields[i].key, n))
                continue;
            *(long long *)((char *)mem + fields[i].offset) = strtoll(line + n, NULL, 10) * 1024;
            found++;
        }
    fclose(f);
    return found;
}

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
        l->pids = xreallocarray(l->pids, l->cap, sizeof(pid_t));
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

static void tree_pids(struct pid_list *l, pid_t root)
{
    pid_list_add(l, root);
    for (size_t i = 0; i < l->n; i++)
        add_children(l, l->pids[i]);
}

int procmem_sum_tree(pid_t root, struct procmem *total)
{
    struct pid_list l = {0};
    int processes = 0;
    *total = (struct procmem){0};
    tree_pids(&l, root);
    for (size_t i = 0; i < l.n; i++) {
        struct procmem one;
        if (procmem_read_rollup(l.pids[i], &one) <= 0)
            continue; /* gone, or a zombie's empty rollup */
        total->rss += one.rss;
        total->pss += one.pss;
        total->anon += one.anon;
        total->lazyfree += one.lazyfree;
        processes++;
    }
    free(l.pids);
    return processes;
}

/* utime + stime of one process in clock ticks (fields 14 and 15 of /proc/PID/stat, after the
 * command name, which may hold spaces and parentheses: read from the last ')'). -1 when gone. */
static long long process_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long utime, stime;
    /* after ") ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
     * utime stime */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return -1;
    return (long long)(utime + stime);
}

long long procmem_tree_cpu_ns(pid_t root)
{
    struct pid_list l = {0};
    tree_pids(&l, root);
    long long ticks = -1;
    for (size_t i = 0; i < l.n; i++) {
        long long t = process_cpu_ticks(l.pids[i]);
        if (t >= 0)
            ticks = (ticks < 0 ? 0 : ticks) + t;
        else if (i == 0)
            break; /* the root is gone */
    }
    free(l.pids);
    long hz = sysconf(_SC_CLK_TCK);
    return ticks < 0 ? -1 : ticks * (1000000000LL / (hz > 0 ? hz : 100));
}
