/* allocscope run [OPTIONS] -- CMD [ARGS...]: runs CMD under the recording shim, writes a
 * run directory, prints a short summary and exits with CMD's status. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/columns.h"
#include "cli/commands.h"
#include "common/format.h"
#include "harness/kernel_join.h"
#include "reports/leaks.h"
#include "harness/probe_helper.h"
#include "allocators/registry.h"
#include "common/rundata.h"
#include "harness/runjson.h"
#include "harness/outside.h"
#include "harness/runner.h"
#include "harness/target_elf.h"
#include "common/symbolize.h"
#include "common/atomic_file.h"
#include "common/util.h"

static const char run_usage[] =
    "usage: allocscope run [OPTIONS] -- CMD [ARGS...]\n"
    "  Runs CMD under the recording shim and writes a run directory (docs/FORMAT.md).\n"
    "  --out DIR          where to write (default allocscope-runs/<time>-<name>/)\n"
    "  --sample BYTES|all|none\n"
    "                     mean bytes between sampled stacks (default 512K), all: every\n"
    "                     allocation (exact), none: counters only\n"
    "  --interval MS      samples.csv period (default 100)\n"
    "  --depth N          frames per stack (default 32, at most 64)\n"
    "  --unwind fp|libunwind|auto\n"
    "                     stack walking (default auto: frame pointers, libunwind where broken)\n"
    "  -a, --allocator NAME[:CONFIG]\n"
    "                     run under this allocator configuration (see 'allocscope allocators');\n"
    "                     the settings read back from the allocator must match, else exit 3\n"
    "  --allocators FILE  extra allocator configurations (docs/ALLOCATORS.md)\n"
    "  --reclaim SECONDS  that long after the start, ask the allocator to return free memory\n"
    "                     to the OS and record RSS before and after (shim.txt reclaim_*)\n"
    "  --kernel           also record kernel memory events (eBPF: rss_stat, faults, mmap,\n"
    "                     munmap, brk, madvise) into samples.csv; needs root or CAP_BPF\n"
    "  --follow-fork      forked children record into DIR/children/PID/\n"
    "  --no-follow-exec   exec'd children are not recorded\n"
    "  --fail-on-leak[=N] exit N (default 23, as LeakSanitizer) when blocks are definitely\n"
    "                     lost at exit (the exit scan; implies --sample all)\n"
    "  --force            --out names an earlier recording: replace it whole\n"
    "  --quiet            no summary\n"
    "Exits with CMD's exit status (128+signal when CMD was killed).\n";

struct run_options {
    const char *out;
    struct shim_settings shim;
    bool quiet;
    const char *allocator;
    const char *allocators_file;
    double reclaim_after_s; /* 0: no reclaim request */
    bool kernel;
    int fail_on_leak; /* exit status when blocks are definitely lost at exit; 0: off */
    bool force;       /* --out names an earlier recording: replace it whole */
};

static int parse_run_options(int argc, char **argv, struct run_options *o)
{
    static const struct option options[] = {{"out", required_argument, NULL, 'o'},
                                            {"sample", required_argument, NULL, 's'},
                                            {"interval", required_argument, NULL, 'i'},
                                            {"depth", required_argument, NULL, 'd'},
                                            {"unwind", required_argument, NULL, 'u'},
                                            {"follow-fork", no_argument, NULL, 'F'},
                                            {"no-follow-exec", no_argument, NULL, 'E'},
                                            {"quiet", no_argument, NULL, 'q'},
                                            {"allocator", required_argument, NULL, 'a'},
                                            {"allocators", required_argument, NULL, 'A'},
                                            {"reclaim", required_argument, NULL, 'r'},
                                            {"kernel", no_argument, NULL, 'K'},
                                            {"fail-on-leak", optional_argument, NULL, 'L'},
                                            {"force", no_argument, NULL, 'f'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    uint64_t v;
    int c;
    memset(o, 0, sizeof(*o));
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+o:s:i:d:u:FEqa:A:r:Kh", options, NULL)) != -1) {
        switch (c) {
        case 'o':
            o->out = optarg;
            break;
        case 's':
            if (strcmp(optarg, "all") && strcmp(optarg, "none") &&
                (util_parse_bytes(optarg, &v) || v == 0)) {
                util_error("--sample wants a byte count (e.g. 512K), 'all' or 'none', not '%s'",
                           optarg);
                return 2;
            }
            o->shim.sample = optarg;
            break;
        case 'i':
            if (util_parse_uint(optarg, 1, 3600000, &v)) {
                util_error("--interval wants milliseconds from 1 to 3600000, not '%s'", optarg);
                return 2;
            }
            o->shim.interval_ms = (unsigned)v;
            break;
        case 'd':
            if (util_parse_uint(optarg, 1, 64, &v)) {
                util_error("--depth wants a frame count from 1 to 64, not '%s'", optarg);
                return 2;
            }
            o->shim.depth = (unsigned)v;
            break;
        case 'u':
            if (strcmp(optarg, "fp") && strcmp(optarg, "libunwind") && strcmp(optarg, "auto")) {
                util_error("--unwind wants fp, libunwind or auto, not '%s'", optarg);
                return 2;
            }
            o->shim.unwind = optarg;
            break;
        case 'F':
            o->shim.follow_fork = true;
            break;
        case 'E':
            o->shim.no_follow_exec = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'a':
            o->allocator = optarg;
            break;
        case 'K':
            o->kernel = true;
            break;
        case 'f':
            o->force = true;
            break;
        case 'L':
            if (optarg && util_parse_uint(optarg, 1, 255, &v)) {
                util_error("--fail-on-leak wants an exit status from 1 to 255, not '%s'", optarg);
                return 2;
            }
            o->fail_on_leak = optarg ? (int)v : 23; /* LeakSanitizer's */
            break;
        case 'A':
            o->allocators_file = optarg;
            break;
        case 'r': {
            char *end;
            o->reclaim_after_s = strtod(optarg, &end);
            if (*end || !(o->reclaim_after_s > 0) || o->reclaim_after_s > 1e6) {
                util_error("--reclaim wants seconds after the start (e.g. 2.5), not '%s'", optarg);
                return 2;
            }
            break;
        }
        case 'h':
            fputs(run_usage, stdout);
            return 0;
        default:
            util_error("unknown option '%s'; see 'allocscope run --help'", argv[optind - 1]);
            return 2;
        }
    }
    if (optind >= argc) {
        util_error("run wants a command after its options: allocscope run [OPTIONS] -- CMD");
        return 2;
    }
    if (o->fail_on_leak && o->shim.sample && strcmp(o->shim.sample, "all")) {
        util_error("--fail-on-leak needs exact mode: the exit scan reads every block; drop "
                   "--sample %s (--fail-on-leak records with --sample all)",
                   o->shim.sample);
        return 2;
    }
    if (o->fail_on_leak)
        o->shim.sample = "all";
    return -1; /* go on */
}

/* allocscope-runs/20261122-014533-NAME, made unique with -2, -3 ... */
static char *default_out_dir(const char *cmd)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    const char *slash = strrchr(cmd, '/');
    const char *name = slash ? slash + 1 : cmd;
    char *dir = util_format("allocscope-runs/%s-%s", stamp, name);
    for (int n = 2; access(dir, F_OK) == 0; n++) {
        free(dir);
        dir = util_format("allocscope-runs/%s-%s-%d", stamp, name, n);
    }
    return dir;
}

static bool dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    bool empty = true;
    for (struct dirent *e; d && empty && (e = readdir(d));)
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return empty;
}

static bool is_recording(const char *dir)
{
    static const char *const marks[] = {"run.json", "shim.txt", "samples.csv"};
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
        char *path = util_format("%s/%s", dir, marks[i]);
        bool there = access(path, F_OK) == 0;
        free(path);
        if (there)
            return true;
    }
    return false;
}

/* A run never mixes with what a directory held: an earlier recording is replaced whole
 * with --force, anything else is left alone. */
static int prepare_out_dir(const char *dir, bool force)
{
    struct stat st;
    if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && !dir_is_empty(dir)) {
        if (!force || !is_recording(dir)) {
            util_error("%s is not empty%s; choose another --out%s", dir,
                       is_recording(dir) ? " (an earlier recording)" : "",
                       is_recording(dir) ? ", or --force to replace it" : "");
            return -1;
        }
        if (util_remove_tree(dir)) {
            util_error("cannot remove the earlier recording %s: %s", dir, strerror(errno));
            return -1;
        }
    }
    if (util_mkdir_p(dir) || access(dir, W_OK)) {
        util_error("cannot write to output directory %s: %s; choose another with --out", dir,
                   strerror(errno));
        return -1;
    }
    return 0;
}

static void summarize_samples(const struct run_data *run, struct run_summary *s)
{
    int c_rss = csv_column(&run->samples, SAMPLES_RSS_BYTES);
    int c_live = csv_column(&run->samples, SAMPLES_LIVE_BYTES);
    int c_blocks = csv_column(&run->samples, SAMPLES_LIVE_BLOCKS);
    s->peak_rss_bytes = s->peak_live_bytes = s->exit_live_bytes = s->exit_live_blocks = -1;
    for (size_t r = 0; r < run->samples.nrows; r++) {
        long long rss = csv_int(&run->samples, r, c_rss, -1);
        long long live = csv_int(&run->samples, r, c_live, -1);
        if (rss > s->peak_rss_bytes)
            s->peak_rss_bytes = rss;
        if (live > s->peak_live_bytes)
            s->peak_live_bytes = live;
        s->exit_live_bytes = live;
        s->exit_live_blocks = csv_int(&run->samples, r, c_blocks, -1);
    }
}

static unsigned count_children(const char *dir)
{
    char *path = util_format("%s/children", dir);
    DIR *d = opendir(path);
    unsigned n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    free(path);
    return n;
}

static void print_summary(const char *dir, const struct run_data *run, const struct run_summary *s,
                          const struct target_result *r)
{
    char a[32], b[32], c[32], where[512];
    fprintf(stderr, "allocscope: %s\n", dir);
    fprintf(stderr, "  peak RSS %s, peak live heap %s, %s %s in %lld blocks\n",
            format_bytes(a, sizeof(a), (double)s->peak_rss_bytes),
            format_bytes(b, sizeof(b), (double)s->peak_live_bytes),
            rundata_exited(run) ? "unfreed at exit" : "live at the last sample",
            format_bytes(c, sizeof(c), (double)s->exit_live_bytes), s->exit_live_blocks);
    long top = leaks_top_growing(run);
    if (top >= 0) {
        struct symbolizer *sym = symbolizer_new(run->maps_text);
        format_site_frames(sym, &run->sites[top], 3, where, sizeof(where));
        fprintf(stderr, "  top growing site: %s/s at %s\n",
                format_bytes(a, sizeof(a), run->sites[top].growth_bytes_per_s), where);
        symbolizer_free(sym);
    }
    if (WIFSIGNALED(r->status))
        fprintf(stderr, "  the command was killed by signal %d (%s)\n", WTERMSIG(r->status),
                strsignal(WTERMSIG(r->status)));
    char **images;
    size_t n_images = rundata_images(dir, &images);
    if (n_images) {
        const char *exe = rundata_fact(run, "exe") ? rundata_fact(run, "exe") : "";
        fprintf(stderr, "  the process exec'd: ");
        for (size_t i = 0; i < n_images; i++)
            fprintf(stderr, "%s -> ", images[i]);
        fprintf(stderr, "%s (recorded here; the earlier programs in %s/images/)\n",
                strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe, dir);
    }
    rundata_free_images(images, n_images);
    unsigned children = count_children(dir);
    if (children)
        fprintf(stderr, "  %u child process%s recorded in %s/children/\n", children,
                children == 1 ? "" : "es", dir);
    fprintf(stderr, "  details: allocscope leaks %s\n", dir);
}

/* A configuration that did not take effect makes the measurement meaningless: say so. */
static int check_config(const struct allocator_config *cfg, const char *dir)
{
    char *path = util_format("%s/shim.txt", dir), *message = NULL;
    char *text = util_read_file_bounded(path, UTIL_INPUT_MAX, NULL);
    int rc = 0;
    char **images;
    size_t n_images = rundata_images(dir, &images);
    rundata_free_images(images, n_images);
    if (!text && n_images) {
        util_error("configuration %s could not be checked: the last program the process "
                   "exec'd did not load the shim (a static or setuid program?); the programs "
                   "before it are recorded in %s/images/",
                   cfg->full_name, dir);
        rc = -1;
    } else if (!text) {
        util_error("configuration %s could not be checked: %s is missing", cfg->full_name, path);
        rc = -1;
    } else if (allocator_config_check_shim(cfg, text, &message)) {
        for (char *line = strtok(message, "\n"); line; line = strtok(NULL, "\n"))
            util_error("configuration %s did not take effect: %s", cfg->full_name, line);
        rc = -1;
    }
    free(message);
    free(text);
    free(path);
    return rc;
}

/* run.json from the start, so that a run whose harness was killed is still a readable run:
 * "state": "running", no exit yet. The end rewrites it whole. */
static void write_started_run_json(const struct target_spec *spec, const char *started, pid_t pid)
{
    struct target_result none;
    struct run_summary summary = {-1, -1, -1, -1};
    memset(&none, 0, sizeof(none));
    json_t *root = runjson_build(spec, &none, started, &summary, NULL);
    json_object_set_new(root, "state", json_string("running"));
    json_object_set_new(root, "pid", json_integer(pid));
    json_object_set_new(root, "exit", json_null());
    json_object_set_new(root, "duration_s", json_null());
    runjson_write(spec->out_dir, root);
    json_decref(root);
}

/* --fail-on-leak: blocks definitely lost at exit, said in one line. */
static bool leaked_at_exit(const struct run_data *run, const char *dir)
{
    if (!run->has_reach) {
        util_warn("--fail-on-leak: no reachability scan at exit (the program did not exit "
                  "through exit(), or ALLOCSCOPE_REACHABILITY=0): nothing to judge");
        return false;
    }
    if (run->reach.blocks[REACH_DEFINITELY_LOST] == 0)
        return false;
    char b[32];
    util_error("%s in %lld blocks definitely lost at exit (--fail-on-leak); "
               "'allocscope leaks %s' lists them",
               format_bytes(b, sizeof(b), (double)run->reach.bytes[REACH_DEFINITELY_LOST]),
               (long long)run->reach.blocks[REACH_DEFINITELY_LOST], dir);
    return true;
}

/* A program that did not load the shim, measured from outside: its summary. */
static void print_outside_summary(const char *dir, const struct outside_log *outside,
                                  const struct target_result *r)
{
    char a[32];
    fprintf(stderr, "allocscope: %s\n", dir);
    fprintf(stderr, "  peak RSS %s (%zu samples from outside; no heap recorded)\n",
            format_bytes(a, sizeof(a), (double)outside_peak_rss(outside)), outside->n);
    if (WIFSIGNALED(r->status))
        fprintf(stderr, "  the command was killed by signal %d (%s)\n", WTERMSIG(r->status),
                strsignal(WTERMSIG(r->status)));
    fprintf(stderr, "  details: allocscope diagnose %s\n", dir);
}

static int finish_run(const struct target_spec *spec, const struct target_result *result,
                      const char *started, const struct run_options *o,
                      const struct allocator_config *cfg, const struct outside_log *outside)
{
    struct run_data run;
    struct run_summary summary = {-1, -1, -1, -1};
    char err[512];
    bool loaded =
        rundata_load(&run, spec->out_dir, RUNDATA_SAMPLES | RUNDATA_SITES, err, sizeof(err)) == 0;
    if (loaded)
        summarize_samples(&run, &summary);
    else if (outside)
        summary.peak_rss_bytes = outside_peak_rss(outside);
    else
        util_warn("the recording is incomplete: %s", err);
    json_t *alloc = loaded ? runjson_allocator(&run, NULL, cfg ? cfg->name : "default") : NULL;
    bool config_failed = cfg && check_config(cfg, spec->out_dir);
    json_t *root = runjson_build(spec, result, started, &summary, alloc);
    json_object_set_new(root, "state", json_string("ended"));
    json_object_set_new(root, "config_ok", json_boolean(!config_failed));
    bool unwritten = runjson_write(spec->out_dir, root) != 0; /* said on stderr */
    json_decref(root);
    if (loaded && !o->quiet)
        print_summary(spec->out_dir, &run, &summary, result);
    else if (!loaded && outside && !o->quiet)
        print_outside_summary(spec->out_dir, outside, result);
    int rc = config_failed ? 3 : target_exit_code(result);
    if (o->fail_on_leak && loaded && leaked_at_exit(&run, spec->out_dir))
        rc = o->fail_on_leak;
    /* A run without its run.json is not a run to read: say so by the exit code, unless the
     * program's own (or another failure's) is already there. */
    if (unwritten && rc == 0)
        rc = 2;
    rundata_free(&run);
    return rc;
}

static void request_reclaim(const char *control_path)
{
    char *text = util_format("reclaim run-%llu\n", (unsigned long long)util_monotonic_ns());
    char why[ATOMIC_FILE_ERROR_MAX];
    if (atomic_file_write(control_path, text, strlen(text)))
        util_warn("%s (the reclaim request)",
                  atomic_file_error(why, sizeof(why), control_path, errno));
    free(text);
}

/* Waits for the target, sending the reclaim request when its time comes and sampling its
 * memory from outside when OUTSIDE is given; without either, simply waits. */
static void wait_target(pid_t pid, const struct target_spec *spec, double reclaim_s,
                        struct outside_log *outside, struct target_result *result)
{
    if (reclaim_s <= 0 && !outside) {
        target_wait(pid, spec, result);
        return;
    }
    memset(result, 0, sizeof(*result));
    bool sent = reclaim_s <= 0;
    for (;;) {
        pid_t got = wait4(pid, &result->status, WNOHANG, &result->usage);
        if (got == pid || (got < 0 && errno != EINTR))
            break;
        double elapsed = (double)(util_monotonic_ns() - spec->t0_ns) / 1e9;
        if (!sent && elapsed >= reclaim_s) {
            request_reclaim(spec->control_path);
            sent = true;
        }
        if (outside)
            outside_sample(outside, pid, spec->t0_ns, spec->shim.interval_ms);
        usleep(10000);
    }
    result->duration_s = (double)(util_monotonic_ns() - spec->t0_ns) / 1e9;
}

/* What the program's file says about the recording: a Go program's heap is the Go
 * runtime's own (mmap'd, no malloc); a static program cannot load the shim at all. One
 * line, and whether to sample the memory from outside. */
static bool describe_target(const char *cmd)
{
    struct target_elf elf;
    if (target_elf_inspect(cmd, &elf))
        return false;
    const char *slash = strrchr(elf.path, '/');
    const char *name = slash ? slash + 1 : elf.path;
    if (elf.go && elf.is_static)
        fprintf(stderr,
                "allocscope: %s is a Go program: the Go runtime maps its heap itself, not with "
                "malloc (only cgo code calls malloc), and it is static, so the shim does not "
                "load: RSS is sampled from outside\n",
                name);
    else if (elf.go)
        fprintf(stderr,
                "allocscope: %s is a Go program: the Go runtime maps its heap itself, not with "
                "malloc: only its cgo code's allocations are recorded, with RSS\n",
                name);
    else if (elf.is_static)
        fprintf(stderr,
                "allocscope: %s is statically linked, so the shim does not load: no heap "
                "recording, RSS is sampled from outside\n",
                name);
    return elf.is_static;
}

/* A program that left no recording at the top of DIR (the shim did not load): the rows
 * sampled from outside become samples.csv. Returns whether they did. */
static bool write_outside_samples(const struct outside_log *outside, const char *dir)
{
    char *shim_txt = util_format("%s/shim.txt", dir), *samples = util_format("%s/samples.csv", dir);
    bool wrote = false;
    if (access(shim_txt, F_OK) != 0 && access(samples, F_OK) != 0) {
        char why[ATOMIC_FILE_ERROR_MAX];
        if (outside_write_samples(outside, samples))
            util_warn("%s", atomic_file_error(why, sizeof(why), samples, errno));
        else
            wrote = true;
    }
    free(shim_txt);
    free(samples);
    return wrote;
}

/* The target is held before exec while the probes attach to its pid, so no event is lost. */
static int start_kernel_events(struct probe_helper *kevents, pid_t pid,
                               const struct target_spec *spec)
{
    char *csv = util_format("%s/kernel.csv", spec->out_dir);
    int rc = kevents_start(kevents, pid, spec->shim.interval_ms ? spec->shim.interval_ms : 100,
                           spec->t0_ns, csv, 0, NULL);
    free(csv);
    if (rc)
        util_error("--kernel: the kernel probes could not start (the reason is above); run "
                   "without --kernel, or as root");
    return rc;
}

static void join_kernel_events(struct probe_helper *kevents, const char *dir)
{
    probe_helper_stop(kevents);
    char *samples = util_format("%s/samples.csv", dir), *kernel = util_format("%s/kernel.csv", dir);
    if (access(kernel, F_OK) == 0 && access(samples, F_OK) == 0)
        kernel_join_samples(samples, kernel);
    free(samples);
    free(kernel);
}

static struct allocator_config *resolve_allocator(const struct run_options *o,
                                                  struct registry **reg)
{
    char err[512];
    *reg = NULL;
    if (!o->allocator && !o->allocators_file)
        return NULL;
    *reg = registry_load(o->allocators_file);
    if (!*reg)
        return (struct allocator_config *)-1;
    if (!o->allocator)
        return NULL;
    struct allocator_config *cfg = registry_resolve(*reg, o->allocator, err, sizeof(err));
    if (!cfg || !allocator_check_installed(cfg->allocator, err, sizeof(err))) {
        util_error("%s", err);
        registry_free(*reg);
        *reg = NULL;
        return (struct allocator_config *)-1;
    }
    return cfg;
}

/* The config's variables as a NULL-terminated list for the child's environment. */
static char **config_env(const struct allocator_config *cfg)
{
    size_t n = cfg ? cfg->env.count : 0;
    char **env = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        env[i] = xstrdup(cfg->env.items[i]);
    return env;
}

int cmd_run(int argc, char **argv)
{
    struct run_options o;
    int rc = parse_run_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct registry *reg;
    struct allocator_config *cfg = resolve_allocator(&o, &reg);
    if (cfg == (struct allocator_config *)-1)
        return 2;
    char *out = NULL, *control = NULL;
    char **env = NULL;
    rc = 2;
    const char *shim = util_find_lib("liballocscope.so");
    if (!shim) {
        util_error("cannot find liballocscope.so next to %s; run 'make' or reinstall",
                   util_self_dir());
        goto done;
    }
    out = o.out ? xstrdup(o.out) : default_out_dir(argv[optind]);
    if (prepare_out_dir(out, o.force))
        goto done;
    control = util_format("%s/.control", out);
    env = config_env(cfg);
    struct target_spec spec = {
        .argv = argv + optind,
        .out_dir = out,
        .shim_path = shim,
        .shim = o.shim,
        .preload_after = cfg && cfg->allocator->library[0] ? cfg->allocator->library : NULL,
        .extra_env = env,
        .control_path = o.reclaim_after_s > 0 ? control : NULL,
        .t0_ns = util_monotonic_ns()};
    char started[32], err[512];
    runjson_now_iso(started, sizeof(started));
    bool sample_outside = describe_target(argv[optind]);
    /* Ctrl-C reaches the target (same process group); we stay to write what it recorded. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    spec.hold = o.kernel;
    pid_t pid = target_start(&spec, err, sizeof(err));
    if (pid < 0) {
        util_error("%s", err);
        rc = 127;
        goto done;
    }
    struct probe_helper kevents = {0};
    if (o.kernel && start_kernel_events(&kevents, pid, &spec)) {
        target_cancel(pid);
        goto done;
    }
    if (o.kernel && target_release(pid, err, sizeof(err))) {
        probe_helper_stop(&kevents);
        util_error("%s", err);
        rc = 127;
        goto done;
    }
    write_started_run_json(&spec, started, pid); /* the target runs from here */
    struct target_result result;
    struct outside_log outside = {0};
    wait_target(pid, &spec, o.reclaim_after_s, sample_outside ? &outside : NULL, &result);
    bool from_outside = sample_outside && write_outside_samples(&outside, out);
    if (o.kernel)
        join_kernel_events(&kevents, out);
    rc = finish_run(&spec, &result, started, &o, cfg, from_outside ? &outside : NULL);
    outside_free(&outside);
done:
    allocator_config_free_env(env);
    registry_free(reg);
    free(control);
    free(out);
    return rc;
}
