/* allocscope-allocuprobe: allocation sites of a running process, by uprobes on the
 * library that serves its malloc. Writes sites.csv, stacks.csv, maps.txt, shim.txt and
 * outstanding.csv into a run directory (docs/FORMAT.md).
 *
 *   allocscope-allocuprobe --pid PID --out DIR [--sample BYTES|all] [--duration S]
 *                          [--t0-ns NS] [--site-interval-ms MS]
 *
 * Prints "ready" on stdout once the probes are attached. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "allocuprobe.h"
#include "allocuprobe.skel.h"
#include "elf_syms.h"
#include "probe_util.h"
#include "site_table.h"
#include "common/columns.h"

static const char *const prog = "allocscope-allocuprobe";

#define DEFAULT_SAMPLE_BYTES (512 * 1024)
#define MAX_LINKS 128
#define CALIBRATION_PAIRS 20000

struct options {
    int pid;
    const char *out_dir;
    unsigned long long sample_bytes; /* 0: every allocation */
    long long duration_s;
    long long t0_ns;
    long long site_interval_ms;
};

struct tool {
    struct options opt;
    struct allocuprobe_bpf *skel;
    struct ring_buffer *ring;
    struct bpf_link *links[MAX_LINKS];
    int nlinks;
    struct site_table *sites;
    FILE *sites_csv, *stacks_csv;
    char allocator[64];
    char library[PATH_MAX];
    char probed[2048];
    double cost_ns_per_pair;
    bool calibrating;
    bool sites_added;
    int ncpus;
    unsigned long long foreign_events;
};

/* Which program handles each allocator entry point; aliases at one offset are probed once. */
enum handler { H_MALLOC, H_CALLOC, H_REALLOC, H_MEMALIGN, H_POSIX_MEMALIGN, H_FREE };

static const struct entry_point {
    const char *name;
    enum handler handler;
} entry_points[] = {
    {"malloc", H_MALLOC},
    {"calloc", H_CALLOC},
    {"realloc", H_REALLOC},
    {"free", H_FREE},
    {"posix_memalign", H_POSIX_MEMALIGN},
    {"aligned_alloc", H_MEMALIGN},
    {"memalign", H_MEMALIGN},
    {"valloc", H_MALLOC},
    /* C++ operators, where the allocator exports its own (jemalloc, tcmalloc, mimalloc). */
    {"_Znwm", H_MALLOC},
    {"_Znam", H_MALLOC},
    {"_ZnwmRKSt9nothrow_t", H_MALLOC},
    {"_ZnamRKSt9nothrow_t", H_MALLOC},
    {"_ZnwmSt11align_val_t", H_MALLOC},
    {"_ZnamSt11align_val_t", H_MALLOC},
    {"_ZnwmSt11align_val_tRKSt9nothrow_t", H_MALLOC},
    {"_ZnamSt11align_val_tRKSt9nothrow_t", H_MALLOC},
    {"_ZdlPv", H_FREE},
    {"_ZdaPv", H_FREE},
    {"_ZdlPvm", H_FREE},
    {"_ZdaPvm", H_FREE},
    {"_ZdlPvRKSt9nothrow_t", H_FREE},
    {"_ZdaPvRKSt9nothrow_t", H_FREE},
    {"_ZdlPvSt11align_val_t", H_FREE},
    {"_ZdaPvSt11align_val_t", H_FREE},
    {"_ZdlPvmSt11align_val_t", H_FREE},
    {"_ZdaPvmSt11align_val_t", H_FREE},
};
#define NENTRY_POINTS (sizeof(entry_points) / sizeof(entry_points[0]))

static void usage(FILE *to)
{
    fprintf(to,
            "usage: %s --pid PID --out DIR [--sample BYTES|all] [--duration S] [--t0-ns NS]\n"
            "       [--site-interval-ms MS]\n",
            prog);
}

static bool parse_sample(const char *text, unsigned long long *out)
{
    if (!strcmp(text, "all")) {
        *out = 0;
        return true;
    }
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    unsigned long long scale = 1;
    if (*end == 'K' || *end == 'k')
        scale = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        scale = 1024 * 1024, end++;
    if (errno || end == text || *end || !value || value > (1ull << 40) / scale) {
        fprintf(stderr, "%s: bad --sample '%s'; give a byte count (e.g. 512K) or 'all'\n", prog,
                text);
        return false;
    }
    *out = value * scale;
    return true;
}

static bool tool_option(int code, const char *arg, void *tool_options)
{
    struct options *opt = tool_options;
    switch (code) {
    case 's':
        return parse_sample(arg, &opt->sample_bytes);
    case 'd':
        return probe_parse_long(prog, "--duration", arg, 1, 86400 * 365, &opt->duration_s);
    case 't':
        return probe_parse_long(prog, "--t0-ns", arg, 0, INT64_MAX, &opt->t0_ns);
    case 'i':
        return probe_parse_long(prog, "--site-interval-ms", arg, 10, 3600000,
                                &opt->site_interval_ms);
    }
    return false;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
    static const struct option longopts[] = {
        {"pid", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},
        {"sample", required_argument, NULL, 's'},
        {"duration", required_argument, NULL, 'd'},
        {"t0-ns", required_argument, NULL, 't'},
        {"site-interval-ms", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    *opt = (struct options){
        .sample_bytes = DEFAULT_SAMPLE_BYTES, .t0_ns = -1, .site_interval_ms = 1000};
    const struct probe_command_line cli = {prog, longopts, usage, tool_option, opt};
    return probe_parse_command_line(&cli, argc, argv, &opt->pid, &opt->out_dir);
}

/* ---- which library serves malloc ---- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static const char *allocator_of(const char *path)
{
    const char *base = base_name(path);
    if (strstr(base, "jemalloc"))
        return "jemalloc";
    if (strstr(base, "tcmalloc"))
        return "tcmalloc";
    if (strstr(base, "mimalloc"))
        return "mimalloc";
    if (!strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5))
        return "glibc";
    return NULL;
}

/* The executable first (a statically linked allocator), then a known allocator library,
 * then any other library defining malloc (interposed ahead of libc), then libc. */
static int find_serving_library(struct tool *t)
{
    char maps_path[64], exe_path[64], exe[PATH_MAX], line[PATH_MAX + 128];
    snprintf(exe_path, sizeof(exe_path), "/proc/%d/exe", t->opt.pid);
    ssize_t n = readlink(exe_path, exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(maps_path, sizeof(maps_path), "/proc/%d/maps", t->opt.pid);
    FILE *maps = fopen(maps_path, "r");
    if (!maps)
        return -1;
    char known[PATH_MAX] = "", other[PATH_MAX] = "", libc[PATH_MAX] = "";
    while (fgets(line, sizeof(line), maps)) {
        char *path = strchr(line, '/');
        if (!path || !strstr(line, " r-xp "))
            continue;
        path[strcspn(path, "\n")] = '\0';
        const char *name = allocator_of(path);
        if (!strcmp(path, exe) || strstr(base_name(path), "ld-linux") ||
            strstr(base_name(path), "liballocscope"))
            continue;
        if (!elf_defines_function(path, "malloc"))
            continue;
        if (name && !strcmp(name, "glibc"))
            snprintf(libc, sizeof(libc), "%s", path);
        else if (name)
            snprintf(known, sizeof(known), "%s", path);
        else if (!other[0])
            snprintf(other, sizeof(other), "%s", path);
    }
    fclose(maps);
    const char *choice = NULL;
    if (exe[0] && elf_defines_function(exe, "malloc"))
        choice = exe;
    else if (known[0])
        choice = known;
    else if (other[0])
        choice = other;
    else if (libc[0])
        choice = libc;
    if (!choice)
        return -1;
    snprintf(t->library, sizeof(t->library), "%s", choice);
    const char *name = allocator_of(choice);
    if (name && choice != exe)
        snprintf(t->allocator, sizeof(t->allocator), "%s", name);
    else
        snprintf(t->allocator, sizeof(t->allocator), "unknown:%.55s", base_name(choice));
    return 0;
}

/* ---- attaching ---- */

static struct bpf_program *entry_program(struct allocuprobe_bpf *skel, enum handler h)
{
    switch (h) {
    case H_MALLOC:
        return skel->progs.malloc_entry;
    case H_CALLOC:
        return skel->progs.calloc_entry;
    case H_REALLOC:
        return skel->progs.realloc_entry;
    case H_MEMALIGN:
        return skel->progs.memalign_entry;
    case H_POSIX_MEMALIGN:
        return skel->progs.posix_memalign_entry;
    case H_FREE:
        return skel->progs.free_entry;
    }
    return NULL;
}

static int attach_one(struct tool *t, struct bpf_program *program, bool retprobe, int pid,
                      const char *path, long offset)
{
    if (t->nlinks >= MAX_LINKS)
        return -E2BIG;
    struct bpf_link *link =
        bpf_program__attach_uprobe(program, retprobe, pid, path, (size_t)offset);
    if (!link)
        return -errno;
    t->links[t->nlinks++] = link;
    return 0;
}

static int attach_entry_point(struct tool *t, const struct entry_point *ep, int pid,
                              const char *path, long offset)
{
    int err = attach_one(t, entry_program(t->skel, ep->handler), false, pid, path, offset);
    if (!err && ep->handler != H_FREE)
        err = attach_one(t, t->skel->progs.alloc_return, true, pid, path, offset);
    return err;
}

/* Probes the entry points PATH defines (from FIRST on in the table); returns how many. */
static int attach_entry_points(struct tool *t, const char *path, size_t first)
{
    long attached[NENTRY_POINTS];
    int nattached = 0;
    for (size_t i = first; i < NENTRY_POINTS; i++) {
        long offset = elf_function_offset(path, entry_points[i].name);
        bool alias = false;
        for (int j = 0; j < nattached; j++)
            alias |= attached[j] == offset;
        if (offset < 0 || alias)
            continue;
        int err = attach_entry_point(t, &entry_points[i], t->opt.pid, path, offset);
        if (err)
            return err;
        attached[nattached++] = offset;
        size_t used = strlen(t->probed);
        snprintf(t->probed + used, sizeof(t->probed) - used, "%s%s%s", used ? " " : "",
                 first ? "libstdc++:" : "", entry_points[i].name);
    }
    return nattached;
}

/* With glibc serving malloc, libstdc++'s operator new calls malloc from a frame without a
 * frame pointer, which hides new's caller; probing the operators too (the nested malloc is
 * ignored by the kernel side) names it. */
static const char *mapped_libstdcxx(const struct tool *t, char *path, size_t size)
{
    char maps_path[64], line[PATH_MAX + 128];
    snprintf(maps_path, sizeof(maps_path), "/proc/%d/maps", t->opt.pid);
    FILE *maps = fopen(maps_path, "r");
    if (!maps)
        return NULL;
    const char *found = NULL;
    while (!found && fgets(line, sizeof(line), maps)) {
        char *file = strchr(line, '/');
        if (!file || !strstr(line, " r-xp "))
            continue;
        file[strcspn(file, "\n")] = '\0';
        if (!strncmp(base_name(file), "libstdc++.so", 12)) {
            snprintf(path, size, "%s", file);
            found = path;
        }
    }
    fclose(maps);
    return found;
}

static int attach_library(struct tool *t)
{
    int n = attach_entry_points(t, t->library, 0);
    if (n < 0)
        return n;
    if (n == 0)
        return -ENOENT;
    char cxx[PATH_MAX];
    size_t first_cxx = 0;
    while (first_cxx < NENTRY_POINTS && strncmp(entry_points[first_cxx].name, "_Z", 2))
        first_cxx++;
    if (!strcmp(t->allocator, "glibc") && mapped_libstdcxx(t, cxx, sizeof(cxx))) {
        n = attach_entry_points(t, cxx, first_cxx);
        if (n < 0)
            return n;
    }
    return 0;
}

/* ---- calibration: the same probes on the same allocator, in this process ---- */

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);

__attribute__((noinline)) void *allocuprobe_calibration_alloc(size_t size)
{
    static uintptr_t next = 0x100000;
    next += 16;
    __asm__ volatile("" ::"r"(size) : "memory");
    return (void *)next;
}

__attribute__((noinline)) void allocuprobe_calibration_free(void *block)
{
    __asm__ volatile("" ::"r"(block) : "memory");
}

/* Thread CPU time: the uprobe traps run in this thread's context, and other processes
 * taking the CPU on a busy machine do not count. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double time_pairs(malloc_fn do_malloc, free_fn do_free)
{
    uint64_t start = thread_cpu_ns();
    for (int i = 0; i < CALIBRATION_PAIRS; i++) {
        void *block = do_malloc(64);
        __asm__ volatile("" ::"r"(block) : "memory");
        do_free(block);
    }
    return (double)(thread_cpu_ns() - start) / CALIBRATION_PAIRS;
}

static void drain_ring(struct tool *t)
{
    while (ring_buffer__consume(t->ring) > 0)
        ;
}

/* The target's allocator loaded here (dlopen; libc is already here) so the calibration
 * probes hit the same first instructions as in the target. A statically linked
 * allocator cannot be loaded: a function of this program stands in. */
static void calibration_target(struct tool *t, const char **path, malloc_fn *m, free_fn *f)
{
    *path = "/proc/self/exe";
    *m = allocuprobe_calibration_alloc;
    *f = allocuprobe_calibration_free;
    if (!strncmp(t->allocator, "unknown:", 8))
        return;
    void *handle = dlopen(t->library, RTLD_NOW | RTLD_LOCAL);
    void *found_malloc = handle ? dlsym(handle, "malloc") : NULL;
    void *found_free = handle ? dlsym(handle, "free") : NULL;
    if (!found_malloc || !found_free)
        return;
    *path = t->library;
    memcpy(m, &found_malloc, sizeof(*m));
    memcpy(f, &found_free, sizeof(*f));
}

/* uprobes cost microseconds: measure what one malloc+free pair costs with them here. */
static int calibrate(struct tool *t)
{
    unsigned int self = (unsigned int)getpid();
    unsigned char one = 1;
    const char *path;
    malloc_fn do_malloc;
    free_fn do_free;
    calibration_target(t, &path, &do_malloc, &do_free);
    bool local = !strcmp(path, "/proc/self/exe");
    long alloc_offset =
        elf_function_offset(path, local ? "allocuprobe_calibration_alloc" : "malloc");
    long free_offset = elf_function_offset(path, local ? "allocuprobe_calibration_free" : "free");
    if (alloc_offset < 0 || free_offset < 0)
        return -ENOENT;
    double bare = time_pairs(do_malloc, do_free);
    if (bpf_map__update_elem(t->skel->maps.tgids, &self, sizeof(self), &one, sizeof(one), 0))
        return -errno;
    int first_link = t->nlinks;
    static const struct entry_point calib_alloc = {"malloc", H_MALLOC};
    static const struct entry_point calib_free = {"free", H_FREE};
    t->calibrating = true;
    int err = attach_entry_point(t, &calib_alloc, (int)self, path, alloc_offset);
    if (!err)
        err = attach_entry_point(t, &calib_free, (int)self, path, free_offset);
    if (!err)
        t->cost_ns_per_pair = time_pairs(do_malloc, do_free) - bare;
    while (t->nlinks > first_link)
        bpf_link__destroy(t->links[--t->nlinks]);
    bpf_map__delete_elem(t->skel->maps.tgids, &self, sizeof(self), 0);
    drain_ring(t);
    t->calibrating = false;
    return err;
}

/* ---- events and output ---- */

static long long t_ms_of(const struct tool *t, unsigned long long ns)
{
    return ((long long)ns - t->opt.t0_ns) / 1000000;
}

static void write_stack(struct tool *t, const struct site *s)
{
    unsigned long long frames[ALLOCUPROBE_STACK_DEPTH] = {0};
    fprintf(t->stacks_csv, "%d,0x%llx", s->id, (unsigned long long)s->ret_addr);
    if (s->stack_id >= 0 &&
        bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.stacks), &s->stack_id, frames) == 0) {
        /* frames[0] is the probed function itself. */
        for (int i = 1; i < ALLOCUPROBE_STACK_DEPTH && frames[i]; i++)
            fprintf(t->stacks_csv, ";0x%llx", frames[i]);
    }
    fputc('\n', t->stacks_csv);
}

static int on_event(void *ctx, void *data, size_t size)
{
    struct tool *t = ctx;
    const struct allocuprobe_event *e = data;
    if (size < sizeof(*e) || t->calibrating || e->tgid != (unsigned int)t->opt.pid) {
        t->foreign_events++;
        return 0;
    }
    if (e->kind == ALLOCUPROBE_FREE) {
        site_table_free_block(t->sites, e->addr);
        return 0;
    }
    bool is_new = false;
    struct site *s =
        site_table_alloc(t->sites, e->stack_id, e->ret_addr, e->addr, e->size, e->ts_ns, &is_new);
    if (!s) {
        fprintf(stderr, "%s: out of memory tracking sites\n", prog);
        return -ENOMEM;
    }
    if (is_new) {
        write_stack(t, s);
        t->sites_added = true;
    }
    return 0;
}

static void snapshot_sites(struct tool *t)
{
    long long now = t_ms_of(t, probe_monotonic_ns());
    fflush(t->stacks_csv);
    for (size_t i = 0; i < site_table_count(t->sites); i++) {
        struct site *s = site_table_site(t->sites, i);
        if (!s->changed)
            continue;
        fprintf(t->sites_csv, "%lld,%d,%.0f,%.0f,%.0f,%.0f\n", now, s->id, s->alloc_calls,
                s->alloc_bytes, s->free_calls, s->free_bytes);
        s->changed = false;
    }
    fflush(t->sites_csv);
    if (t->sites_added) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/maps.txt", t->opt.out_dir);
        probe_copy_maps(t->opt.pid, path);
        t->sites_added = false;
    }
}

struct age_totals {
    const struct site_table *sites;
    uint64_t now_ns;
    size_t nsites;
    double *bytes, *blocks, *age_sum;
    uint64_t *sampled, *oldest_ns;
};

static void add_age(const struct live_block *block, void *arg)
{
    struct age_totals *a = arg;
    if (block->site >= a->nsites)
        return;
    double calls, bytes;
    site_table_weight(a->sites, block->size, &calls, &bytes);
    uint64_t age = a->now_ns > block->born_ns ? a->now_ns - block->born_ns : 0;
    a->bytes[block->site] += bytes;
    a->blocks[block->site] += calls;
    a->age_sum[block->site] += (double)age * calls;
    a->sampled[block->site]++;
    if (age > a->oldest_ns[block->site])
        a->oldest_ns[block->site] = age;
}

/* Outstanding sampled blocks by site with their ages: what the cumulative counters do not
 * show (old blocks that never go away versus young ones still in flight). */
static int write_outstanding(struct tool *t)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/outstanding.csv", t->opt.out_dir);
    FILE *out = fopen(path, "w");
    if (!out)
        return -1;
    size_t n = site_table_count(t->sites);
    struct age_totals a = {.sites = t->sites, .now_ns = probe_monotonic_ns(), .nsites = n};
    a.bytes = calloc(n + 1, sizeof(double));
    a.blocks = calloc(n + 1, sizeof(double));
    a.age_sum = calloc(n + 1, sizeof(double));
    a.sampled = calloc(n + 1, sizeof(uint64_t));
    a.oldest_ns = calloc(n + 1, sizeof(uint64_t));
    fputs(OUTSTANDING_CSV_HEADER "\n", out);
    if (a.bytes && a.blocks && a.age_sum && a.sampled && a.oldest_ns) {
        site_table_each_live(t->sites, add_age, &a);
        for (size_t i = 0; i < n; i++) {
            if (!a.sampled[i])
                continue;
            fprintf(out, "%d,%.0f,%.0f,%llu,%.0f,%llu\n", site_table_site(t->sites, i)->id,
                    a.blocks[i], a.bytes[i], (unsigned long long)a.sampled[i],
                    a.age_sum[i] / a.blocks[i] / 1e6,
                    (unsigned long long)(a.oldest_ns[i] / 1000000));
        }
    }
    free(a.bytes);
    free(a.blocks);
    free(a.age_sum);
    free(a.sampled);
    free(a.oldest_ns);
    return fclose(out);
}

static FILE *open_output(struct tool *t, const char *name, const char *header)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", t->opt.out_dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s; choose a writable --out\n", prog, path,
                strerror(errno));
        return NULL;
    }
    fputs(header, f);
    return f;
}

static int write_shim_txt(struct tool *t, bool final)
{
    char path[PATH_MAX], exe_link[64], exe[PATH_MAX];
    snprintf(path, sizeof(path), "%s/shim.txt", t->opt.out_dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    snprintf(exe_link, sizeof(exe_link), "/proc/%d/exe", t->opt.pid);
    ssize_t n = readlink(exe_link, exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    fprintf(f, "pid=%d\nexe=%s\nsource=uprobes\n", t->opt.pid, exe);
    fprintf(f, "mode=%s\nsample_bytes=%llu\ndepth=%d\nunwind=fp\nsite_interval_ms=%lld\n",
            t->opt.sample_bytes ? "sampled" : "exact", t->opt.sample_bytes, ALLOCUPROBE_STACK_DEPTH,
            t->opt.site_interval_ms);
    fprintf(f, "allocator=%s\nallocator_path=%s\nprobed_functions=%s\n", t->allocator, t->library,
            t->probed);
    fprintf(f, "uprobe_cost_ns_per_pair=%.0f\n", t->cost_ns_per_pair);
    if (final) {
        unsigned long long c[ALLOCUPROBE_COUNTERS];
        probe_sum_percpu_counters(t->skel->maps.counters, t->ncpus, ALLOCUPROBE_COUNTERS, c);
        fprintf(f, "alloc_calls_seen=%llu\nfree_calls_seen=%llu\nsampled_allocations=%llu\n",
                c[ALLOCUPROBE_ALLOC_CALLS], c[ALLOCUPROBE_FREE_CALLS], c[ALLOCUPROBE_SAMPLED]);
        fprintf(f, "dropped_events=%llu\nfull_maps=%llu\nstack_errors=%llu\n",
                c[ALLOCUPROBE_DROPPED_EVENTS], c[ALLOCUPROBE_FULL_MAPS],
                c[ALLOCUPROBE_STACK_ERRORS]);
        fprintf(f, "live_sampled_blocks=%zu\nend=detached\n", site_table_live_count(t->sites));
        if (c[ALLOCUPROBE_DROPPED_EVENTS] || c[ALLOCUPROBE_FULL_MAPS])
            fprintf(f, "warning=events were lost (dropped_events, full_maps): estimates are "
                       "low\n");
    }
    return fclose(f);
}

/* Exponential intervals with mean sample_bytes, for the kernel's byte countdown. */
static int fill_intervals(struct tool *t)
{
    unsigned int seed = (unsigned int)probe_monotonic_ns();
    for (unsigned int i = 0; i < ALLOCUPROBE_INTERVALS; i++) {
        double u = (rand_r(&seed) + 1.0) / ((double)RAND_MAX + 2.0);
        unsigned long long interval = (unsigned long long)(-log(u) * (double)t->opt.sample_bytes);
        if (!interval)
            interval = 1;
        if (bpf_map__update_elem(t->skel->maps.intervals, &i, sizeof(i), &interval,
                                 sizeof(interval), 0))
            return -errno;
    }
    /* Each CPU starts a drawn interval away from its first sample, not at zero. */
    long long start[t->ncpus];
    for (int cpu = 0; cpu < t->ncpus; cpu++) {
        double u = (rand_r(&seed) + 1.0) / ((double)RAND_MAX + 2.0);
        start[cpu] = (long long)(-log(u) * (double)t->opt.sample_bytes) + 1;
    }
    unsigned int zero = 0;
    if (bpf_map__update_elem(t->skel->maps.countdown, &zero, sizeof(zero), start, sizeof(start), 0))
        return -errno;
    return 0;
}

static int open_probes(struct tool *t)
{
    if (!probe_preflight(prog, false))
        return PROBE_EXIT_REFUSED;
    t->skel = allocuprobe_bpf__open();
    if (!t->skel)
        return probe_refused(prog, "load BPF programs", -errno);
    t->skel->rodata->sample_all = t->opt.sample_bytes == 0;
    int err = allocuprobe_bpf__load(t->skel);
    if (err)
        return probe_refused(prog, "load BPF programs", err);
    if (t->opt.sample_bytes && (err = fill_intervals(t)))
        return probe_refused(prog, "fill the sampling table", err);
    t->ring = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_event, t, NULL);
    if (!t->ring)
        return probe_refused(prog, "open the ring buffer", -errno);
    return 0;
}

static int attach_probes(struct tool *t)
{
    int err = calibrate(t);
    if (err)
        return probe_refused(prog, "attach uprobes (CAP_SYS_ADMIN needed)", err);
    unsigned int target = (unsigned int)t->opt.pid;
    unsigned char one = 1;
    bpf_map__update_elem(t->skel->maps.tgids, &target, sizeof(target), &one, sizeof(one), 0);
    err = attach_library(t);
    if (err == -ENOENT) {
        fprintf(stderr, "%s: %s defines none of the allocation functions; nothing to probe\n", prog,
                t->library);
        return 1;
    }
    if (err)
        return probe_refused(prog, "attach uprobes (CAP_SYS_ADMIN needed)", err);
    return 0;
}

static int record(struct tool *t)
{
    uint64_t start = probe_monotonic_ns();
    uint64_t end = t->opt.duration_s ? start + (uint64_t)t->opt.duration_s * 1000000000ull : 0;
    uint64_t snapshot_ns = (uint64_t)t->opt.site_interval_ms * 1000000ull;
    uint64_t next_snapshot = start + snapshot_ns;
    printf("ready\n");
    fflush(stdout);
    fprintf(stderr,
            "%s: warning: uprobes cost about %.1f us per malloc+free pair on this machine "
            "(measured just now); the target's allocation calls slow down by that much\n",
            prog, t->cost_ns_per_pair / 1000.0);
    int rc = 0;
    while (!probe_stop_requested) {
        int err = ring_buffer__poll(t->ring, 50);
        if (err < 0 && err != -EINTR) {
            rc = 1;
            break;
        }
        uint64_t now = probe_monotonic_ns();
        if (now >= next_snapshot) {
            snapshot_sites(t);
            next_snapshot += snapshot_ns;
            if (!probe_process_alive(t->opt.pid))
                break;
        }
        if (end && now >= end)
            break;
    }
    drain_ring(t);
    snapshot_sites(t);
    return rc;
}

int main(int argc, char **argv)
{
    static struct tool t;
    int rc = parse_options(argc, argv, &t.opt);
    if (rc)
        return rc;
    if (!probe_check_target(prog, t.opt.pid, t.opt.out_dir))
        return 1;
    t.ncpus = libbpf_num_possible_cpus();
    t.sites = site_table_new(t.opt.sample_bytes);
    if (t.ncpus <= 0 || !t.sites) {
        fprintf(stderr, "%s: cannot set up (cpus %d, memory)\n", prog, t.ncpus);
        return 1;
    }
    if (t.opt.t0_ns < 0)
        t.opt.t0_ns = (long long)probe_monotonic_ns();
    probe_catch_signals();
    t.sites_csv = open_output(&t, "sites.csv", SITES_CSV_HEADER_COUNTS "\n");
    t.stacks_csv = open_output(&t, "stacks.csv", STACKS_CSV_HEADER "\n");
    rc = t.sites_csv && t.stacks_csv ? open_probes(&t) : 1;
    if (rc == 0 && find_serving_library(&t) != 0) {
        fprintf(stderr, "%s: cannot find the library serving malloc in process %d (%s)\n", prog,
                t.opt.pid, strerror(errno));
        rc = 1;
    }
    if (rc == 0)
        rc = attach_probes(&t);
    if (rc == 0) {
        write_shim_txt(&t, false);
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/maps.txt", t.opt.out_dir);
        probe_copy_maps(t.opt.pid, path);
        rc = record(&t);
        if (write_outstanding(&t) != 0 || write_shim_txt(&t, true) != 0)
            rc = 1;
    }
    while (t.nlinks > 0)
        bpf_link__destroy(t.links[--t.nlinks]);
    ring_buffer__free(t.ring);
    allocuprobe_bpf__destroy(t.skel);
    if (t.sites_csv)
        fclose(t.sites_csv);
    if (t.stacks_csv)
        fclose(t.stacks_csv);
    site_table_free(t.sites);
    return rc;
}
