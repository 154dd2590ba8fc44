/* allocscope-kevents: kernel memory events of a process tree, one CSV row per interval.
 *
 *   allocscope-kevents --pid PID [--follow-children] [--interval-ms 100] [--t0-ns NS]
 *                      --out FILE.csv [--fault-stacks DIR] [--fault-stack-every N]
 *                      [--duration S]
 *
 * Prints "ready" on stdout once the probes are attached. The columns are documented in
 * docs/FORMAT.md (kernel.csv). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kevents.h"
#include "kevents.skel.h"
#include "probe_util.h"
#include "common/columns.h"

static const char *const prog = "allocscope-kevents";

struct options {
    int pid;
    bool follow_children;
    long long interval_ms;
    long long t0_ns;
    long long duration_s;
    long long fault_stack_every;
    const char *out_path;
    const char *fault_dir;
    bool stats;
};

/* What the user side knows about one traced process. */
struct proc_entry {
    int tgid;
    bool seeded;
    long long seed[KEVENTS_RSS_MEMBERS];
};

struct state {
    struct kevents_bpf *skel;
    struct options opt;
    FILE *out;
    struct proc_entry procs[KEVENTS_MAX_PROCS];
    int nprocs;
    unsigned long long previous[KEVENTS_COUNTERS];
    int ncpus;
    unsigned int fault_stacks_seen;
};

/* The counters written as kernel.csv columns: KEVENTS_FAULTS to KEVENTS_MADV_OTHER_BYTES, in
 * the enum's order, which is KERNEL_CSV_HEADER's (common/columns.h). */
#define CSV_COUNTERS (KEVENTS_MADV_OTHER_BYTES + 1)

static void usage(FILE *to)
{
    fprintf(to,
            "usage: %s --pid PID [--follow-children] [--interval-ms MS] [--t0-ns NS]\n"
            "       --out FILE.csv [--fault-stacks DIR] [--fault-stack-every N] "
            "[--duration S] [--stats]\n"
            "--stats: print the CPU time the kernel spent in the probes at the end\n",
            prog);
}

static bool tool_option(int code, const char *arg, void *tool_options)
{
    struct options *opt = tool_options;
    switch (code) {
    case 'f':
        opt->follow_children = true;
        return true;
    case 'i':
        return probe_parse_long(prog, "--interval-ms", arg, 1, 3600000, &opt->interval_ms);
    case 't':
        return probe_parse_long(prog, "--t0-ns", arg, 0, INT64_MAX, &opt->t0_ns);
    case 's':
        opt->fault_dir = arg;
        return true;
    case 'e':
        return probe_parse_long(prog, "--fault-stack-every", arg, 1, 1 << 20,
                                &opt->fault_stack_every);
    case 'd':
        return probe_parse_long(prog, "--duration", arg, 1, 86400 * 365, &opt->duration_s);
    case 'S':
        opt->stats = true;
        return true;
    }
    return false;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
    static const struct option longopts[] = {
        {"pid", required_argument, NULL, 'p'},
        {"follow-children", no_argument, NULL, 'f'},
        {"interval-ms", required_argument, NULL, 'i'},
        {"t0-ns", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},
        {"fault-stacks", required_argument, NULL, 's'},
        {"fault-stack-every", required_argument, NULL, 'e'},
        {"duration", required_argument, NULL, 'd'},
        {"stats", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    *opt = (struct options){.interval_ms = 100, .t0_ns = -1, .fault_stack_every = 16};
    const struct probe_command_line cli = {prog, longopts, usage, tool_option, opt};
    return probe_parse_command_line(&cli, argc, argv, &opt->pid, &opt->out_path);
}

static struct proc_entry *find_proc(struct state *st, int tgid)
{
    for (int i = 0; i < st->nprocs; i++)
        if (st->procs[i].tgid == tgid)
            return &st->procs[i];
    return NULL;
}

static struct proc_entry *add_proc(struct state *st, int tgid)
{
    if (st->nprocs >= KEVENTS_MAX_PROCS)
        return NULL;
    struct proc_entry *p = &st->procs[st->nprocs++];
    *p = (struct proc_entry){.tgid = tgid};
    p->seeded = probe_read_status_rss(tgid, p->seed);
    return p;
}

static void forget_proc(struct state *st, int tgid)
{
    unsigned int key = (unsigned int)tgid;
    bpf_map__delete_elem(st->skel->maps.traced, &key, sizeof(key), 0);
    bpf_map__delete_elem(st->skel->maps.rss, &key, sizeof(key), 0);
    struct proc_entry *p = find_proc(st, tgid);
    if (p)
        *p = st->procs[--st->nprocs];
}

/* Picks up children the kernel side added, drops processes that ended. Returns how
 * many traced processes are alive. */
static int refresh_procs(struct state *st)
{
    unsigned int key, dead[256];
    int ndead = 0;
    bool started = false;
    while (probe_next_key(st->skel->maps.traced, &key, sizeof(key), &started)) {
        if (!probe_process_alive((int)key)) {
            if (ndead < 256)
                dead[ndead++] = key;
        } else if (!find_proc(st, (int)key)) {
            add_proc(st, (int)key);
        }
    }
    for (int i = 0; i < ndead; i++)
        forget_proc(st, (int)dead[i]);
    return st->nprocs;
}

static void sum_rss(struct state *st, long long total[KEVENTS_RSS_MEMBERS])
{
    memset(total, 0, sizeof(long long) * KEVENTS_RSS_MEMBERS);
    for (int i = 0; i < st->nprocs; i++) {
        struct proc_entry *p = &st->procs[i];
        unsigned int key = (unsigned int)p->tgid;
        struct kevents_rss kernel = {0};
        if (bpf_map__lookup_elem(st->skel->maps.rss, &key, sizeof(key), &kernel, sizeof(kernel),
                                 0) != 0)
            kernel.seen_mask = 0;
        for (int m = 0; m < KEVENTS_RSS_MEMBERS; m++) {
            if (kernel.seen_mask & (1u << m))
                total[m] += kernel.bytes[m];
            else if (p->seeded)
                total[m] += p->seed[m];
        }
    }
}

/* VmRSS of the same processes read at the same moment: a check of the kernel columns. */
static long long procfs_rss(struct state *st)
{
    long long total = 0, bytes[KEVENTS_RSS_MEMBERS];
    for (int i = 0; i < st->nprocs; i++)
        if (probe_read_status_rss(st->procs[i].tgid, bytes))
            total += bytes[KEVENTS_RSS_ANON] + bytes[KEVENTS_RSS_FILE] + bytes[KEVENTS_RSS_SHMEM];
    return total;
}

static void write_header(FILE *out)
{
    fputs(KERNEL_CSV_HEADER "\n", out);
    fflush(out);
}

static void write_row(struct state *st)
{
    long long rss_bytes[KEVENTS_RSS_MEMBERS];
    unsigned long long now_counts[KEVENTS_COUNTERS];
    sum_rss(st, rss_bytes);
    probe_sum_percpu_counters(st->skel->maps.counters, st->ncpus, KEVENTS_COUNTERS, now_counts);
    long long t_ns = (long long)probe_monotonic_ns() - st->opt.t0_ns;
    long long resident =
        rss_bytes[KEVENTS_RSS_ANON] + rss_bytes[KEVENTS_RSS_FILE] + rss_bytes[KEVENTS_RSS_SHMEM];
    fprintf(st->out, "%lld,%lld,%lld,%lld,%lld,%lld", t_ns / 1000000, rss_bytes[KEVENTS_RSS_ANON],
            rss_bytes[KEVENTS_RSS_FILE], rss_bytes[KEVENTS_RSS_SHMEM], rss_bytes[KEVENTS_RSS_SWAP],
            resident);
    for (int c = 0; c < CSV_COUNTERS; c++)
        fprintf(st->out, ",%llu", now_counts[c] - st->previous[c]);
    fprintf(st->out, ",%d,%llu,%lld\n", st->nprocs, now_counts[KEVENTS_DROPPED], procfs_rss(st));
    fflush(st->out);
    memcpy(st->previous, now_counts, sizeof(now_counts));
}

static void copy_maps_of_procs(struct state *st)
{
    char path[4096];
    for (int i = 0; i < st->nprocs; i++) {
        snprintf(path, sizeof(path), "%s/maps-%d.txt", st->opt.fault_dir, st->procs[i].tgid);
        probe_copy_maps(st->procs[i].tgid, path);
    }
}

/* Frames of the sampled fault stacks need the maps of the moment (a process may exec):
 * copy them at each interval in which new stacks appeared. */
static void maybe_copy_maps(struct state *st)
{
    if (!st->opt.fault_dir)
        return;
    unsigned int count = 0;
    struct kevents_fault_key key;
    bool started = false;
    while (probe_next_key(st->skel->maps.fault_stack_counts, &key, sizeof(key), &started))
        count++;
    if (count != st->fault_stacks_seen) {
        copy_maps_of_procs(st);
        st->fault_stacks_seen = count;
    }
}

static int write_fault_stacks(struct state *st)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/fault_stacks.csv", st->opt.fault_dir);
    FILE *out = fopen(path, "w");
    if (!out) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    fputs(FAULT_STACKS_CSV_HEADER "\n", out);
    struct kevents_fault_key key;
    bool started = false;
    while (probe_next_key(st->skel->maps.fault_stack_counts, &key, sizeof(key), &started)) {
        unsigned long long hits = 0, frames[KEVENTS_STACK_DEPTH] = {0};
        if (bpf_map__lookup_elem(st->skel->maps.fault_stack_counts, &key, sizeof(key), &hits,
                                 sizeof(hits), 0) != 0)
            continue;
        if (bpf_map_lookup_elem(bpf_map__fd(st->skel->maps.fault_stacks), &key.stack_id, frames) !=
            0)
            continue;
        fprintf(out, "%u,%llu,%llu,", key.tgid, hits,
                hits * (unsigned long long)st->opt.fault_stack_every);
        for (int i = 0; i < KEVENTS_STACK_DEPTH && frames[i]; i++)
            fprintf(out, "%s0x%llx", i ? ";" : "", frames[i]);
        fputc('\n', out);
    }
    return fclose(out);
}

/* With --stats: the kernel's own accounting of the programs' runs (bpf_stats), so the
 * cost of the probes can be told apart from a noisy machine. */
static void print_program_stats(struct state *st)
{
    unsigned long long runs = 0, run_ns = 0, misses = 0;
    struct bpf_program *program;
    bpf_object__for_each_program(program, st->skel->obj)
    {
        struct bpf_prog_info info = {0};
        unsigned int len = sizeof(info);
        if (bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &len) != 0)
            continue;
        runs += info.run_cnt;
        run_ns += info.run_time_ns;
        misses += info.recursion_misses;
    }
    fprintf(stderr, "%s: stats run_cnt=%llu run_time_ns=%llu recursion_misses=%llu\n", prog, runs,
            run_ns, misses);
}

static int open_probes(struct state *st)
{
    if (!probe_preflight(prog, true))
        return PROBE_EXIT_REFUSED;
    st->skel = kevents_bpf__open();
    if (!st->skel)
        return probe_refused(prog, "load BPF programs", -errno);
    st->skel->rodata->follow_children = st->opt.follow_children;
    st->skel->rodata->fault_stack_every =
        st->opt.fault_dir ? (unsigned int)st->opt.fault_stack_every : 0;
    if (!st->opt.fault_dir) {
        /* Keep the stack map tiny when nobody asked for stacks. */
        bpf_map__set_max_entries(st->skel->maps.fault_stacks, 1);
        bpf_map__set_max_entries(st->skel->maps.fault_stack_counts, 1);
    }
    int err = kevents_bpf__load(st->skel);
    if (err)
        return probe_refused(prog, "load BPF programs", err);
    unsigned int key = (unsigned int)st->opt.pid;
    unsigned char one = 1;
    bpf_map__update_elem(st->skel->maps.traced, &key, sizeof(key), &one, sizeof(one), BPF_ANY);
    add_proc(st, st->opt.pid);
    err = kevents_bpf__attach(st->skel);
    if (err)
        return probe_refused(prog, "attach BPF programs", err);
    return 0;
}

static int run(struct state *st)
{
    st->out = fopen(st->opt.out_path, "w");
    if (!st->out) {
        fprintf(stderr, "%s: cannot write %s: %s; choose a writable --out\n", prog,
                st->opt.out_path, strerror(errno));
        return 1;
    }
    write_header(st->out);
    uint64_t interval_ns = (uint64_t)st->opt.interval_ms * 1000000ull;
    uint64_t start = probe_monotonic_ns();
    uint64_t end = st->opt.duration_s ? start + (uint64_t)st->opt.duration_s * 1000000000ull : 0;
    if (st->opt.t0_ns < 0)
        st->opt.t0_ns = (long long)start;
    printf("ready\n");
    fflush(stdout);
    uint64_t next = start + interval_ns;
    while (!probe_stop_requested) {
        probe_sleep_until(end && end < next ? end : next);
        if (probe_stop_requested)
            break;
        next += interval_ns;
        int alive = refresh_procs(st);
        maybe_copy_maps(st);
        write_row(st);
        if (!alive || (end && probe_monotonic_ns() >= end))
            break;
    }
    refresh_procs(st);
    write_row(st);
    int rc = fclose(st->out) == 0 ? 0 : 1;
    if (st->opt.fault_dir && write_fault_stacks(st) != 0)
        rc = 1;
    return rc;
}

int main(int argc, char **argv)
{
    static struct state st;
    int rc = parse_options(argc, argv, &st.opt);
    if (rc)
        return rc;
    if (!probe_check_target(prog, st.opt.pid, st.opt.fault_dir))
        return 1;
    st.ncpus = libbpf_num_possible_cpus();
    if (st.ncpus <= 0 || st.ncpus > 4096) {
        fprintf(stderr, "%s: cannot count the possible CPUs\n", prog);
        return 1;
    }
    probe_catch_signals();
    rc = open_probes(&st);
    int stats_fd = -1;
    if (rc == 0 && st.opt.stats && (stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME)) < 0)
        fprintf(stderr, "%s: warning: cannot enable BPF run-time statistics: %s\n", prog,
                strerror(errno));
    if (rc == 0) {
        if (st.opt.fault_dir)
            copy_maps_of_procs(&st);
        rc = run(&st);
        if (st.opt.stats)
            print_program_stats(&st);
    }
    if (stats_fd >= 0)
        close(stats_fd);
    kevents_bpf__destroy(st.skel);
    return rc;
}
