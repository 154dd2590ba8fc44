/* allocscope attach PID: record a running process without restarting it. Kernel memory
 * events (allocscope-kevents) and /proc/PID/smaps_rollup every interval into samples.csv;
 * with --uprobes, allocation sites by uprobes on the allocator that serves malloc
 * (allocscope-allocuprobe). Writes the same run directory format as `allocscope run`. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/columns.h"
#include "cli/commands.h"
#include "harness/kernel_join.h"
#include "harness/probe_helper.h"
#include "harness/procmem.h"
#include "common/atomic_file.h"
#include "common/json_text.h"
#include "common/util.h"

static const char attach_usage[] =
    "usage: allocscope attach PID [OPTIONS]\n"
    "Records a running process without restarting it.\n"
    "  --duration S       stop after S seconds (default: until the process ends or Ctrl-C)\n"
    "  --out DIR          where to write (default allocscope-runs/<time>-attach-PID/)\n"
    "  --interval MS      samples.csv period (default 100)\n"
    "  --uprobes          also track allocation sites by uprobes on the library serving\n"
    "                     malloc (costs microseconds per call: the cost is printed)\n"
    "  --sample BYTES|all mean bytes between sampled allocations (default 512K)\n";

struct attach_options {
    int pid;
    long long duration_s;
    long long interval_ms;
    bool uprobes;
    const char *sample;
    const char *out;
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int parse_attach_options(int argc, char **argv, struct attach_options *o)
{
    static const struct option longopts[] = {
        {"duration", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},
        {"interval", required_argument, NULL, 'i'},
        {"uprobes", no_argument, NULL, 'u'},
        {"sample", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    uint64_t value;
    *o = (struct attach_options){.interval_ms = 100, .sample = "512K"};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (util_parse_uint(optarg, 1, 86400 * 365, &value)) {
                util_error("bad --duration '%s'; give whole seconds", optarg);
                return 2;
            }
            o->duration_s = (long long)value;
            break;
        case 'i':
            if (util_parse_uint(optarg, 10, 3600000, &value)) {
                util_error("bad --interval '%s'; give milliseconds, at least 10", optarg);
                return 2;
            }
            o->interval_ms = (long long)value;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'u':
            o->uprobes = true;
            break;
        case 's':
            if (strcmp(optarg, "all") && util_parse_bytes(optarg, &value)) {
                util_error("bad --sample '%s'; give a byte count (512K) or all", optarg);
                return 2;
            }
            o->sample = optarg;
            break;
        case 'h':
            fputs(attach_usage, stdout);
            return 0;
        default:
            fputs(attach_usage, stderr);
            return 2;
        }
    }
    if (optind != argc - 1 || util_parse_uint(argv[optind], 1, 1u << 30, &value)) {
        util_error("attach wants one process id: allocscope attach PID [OPTIONS]");
        return 2;
    }
    o->pid = (int)value;
    return -1;
}

static bool process_running(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    size_t len;
    char *stat = util_read_file_bounded(path, UTIL_INPUT_MAX, &len);
    if (!stat)
        return false;
    char *close = strrchr(stat, ')');
    bool running = close && close[1] == ' ' && close[2] != 'Z' && close[2] != 'X';
    free(stat);
    return running;
}

static void sleep_until_ns(uint64_t deadline)
{
    while (!stop_requested) {
        uint64_t now = util_monotonic_ns();
        if (now >= deadline)
            return;
        uint64_t step = deadline - now > 50000000ull ? 50000000ull : deadline - now;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step};
        nanosleep(&ts, NULL);
    }
}

/* Samples smaps_rollup until the duration ends, the process ends or a signal. Returns
 * the peak RSS seen. */
static long long sample_loop(const struct attach_options *o, FILE *samples, uint64_t t0,
                             bool *target_ended)
{
    uint64_t interval = (uint64_t)o->interval_ms * 1000000ull;
    /* The duration counts from when recording starts, after the probes attached. */
    uint64_t next = util_monotonic_ns();
    uint64_t end = o->duration_s ? next + (uint64_t)o->duration_s * 1000000000ull : 0;
    long long peak = 0;
    *target_ended = false;
    while (!stop_requested) {
        struct procmem s;
        if (procmem_read_rollup(o->pid, &s) <= 0 || s.rss <= 0) {
            *target_ended = !process_running(o->pid);
            break;
        }
        if (s.rss > peak)
            peak = s.rss;
        fprintf(samples, "%llu,%lld,%lld,%lld,%lld\n",
                (unsigned long long)((util_monotonic_ns() - t0) / 1000000), s.rss, s.pss, s.anon,
                s.lazyfree);
        fflush(samples);
        next += interval;
        if (end && next > end)
            break;
        sleep_until_ns(next);
    }
    return peak;
}

static char *default_out_dir(int pid)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    char *dir = util_format("allocscope-runs/%s-attach-%d", stamp, pid);
    for (int n = 2; access(dir, F_OK) == 0; n++) {
        free(dir);
        dir = util_format("allocscope-runs/%s-attach-%d-%d", stamp, pid, n);
    }
    return dir;
}

static json_t *target_command(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    size_t len = 0;
    char *text = util_read_file_bounded(path, UTIL_INPUT_MAX, &len);
    json_t *argv = json_array();
    for (size_t i = 0; text && i < len; i += strlen(text + i) + 1)
        json_array_append_new(argv, json_text(text + i));
    free(text);
    return argv;
}

static json_t *read_link_json(int pid, const char *what)
{
    char path[64], target[4096];
    snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n <= 0)
        return json_null();
    target[n] = '\0';
    return json_text(target);
}

/* allocator=... of shim.txt when the uprobe tool wrote one. */
static json_t *allocator_json(const char *dir)
{
    char *path = util_format("%s/shim.txt", dir);
    size_t len;
    char *text = util_read_file_bounded(path, UTIL_INPUT_MAX, &len);
    free(path);
    json_t *allocator = json_object();
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "allocator=", 10))
            json_object_set_new(allocator, "name", json_text(line + 10));
        else if (!strncmp(line, "allocator_path=", 15))
            json_object_set_new(allocator, "path", json_text(line + 15));
    }
    free(text);
    return allocator;
}

/* Returns 0, 1 when run.json could not be written or 2 when it could not be encoded (said on
 * stderr either way). */
static int write_run_json(const struct attach_options *o, const char *dir, json_t *command,
                          json_t *cwd, const char *started, double duration_s, bool target_ended,
                          long long peak_rss)
{
    struct utsname uts;
    uname(&uts);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long long mem = (long long)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
    const char *argv0 = json_string_value(json_array_get(command, 0));
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    json_t *name = argv0 ? json_text(slash ? slash + 1 : argv0) : json_null();
    json_t *root = json_pack(
        "{s:s, s:s, s:b, s:i, s:o, s:o, s:o, s:s, s:f, s:{s:b, s:o}, s:o, s:{s:o, s:i, s:I}, "
        "s:{s:b}, s:{s:I}}",
        "tool", "allocscope", "version", ALLOCSCOPE_VERSION, "attach", 1, "pid", o->pid, "command",
        command, "cwd", cwd, "name", name, "started", started, "duration_s", duration_s, "probes",
        "uprobes", o->uprobes, "sample", json_text(o->sample), "allocator", allocator_json(dir),
        "host", "kernel", json_text(uts.release), "cpus", (int)cpus, "mem_bytes", (json_int_t)mem,
        "target", "ended", target_ended, "summary", "peak_rss_bytes", (json_int_t)peak_rss);
    char *path = util_format("%s/run.json", dir);
    char *text = json_text_dump(root, JSON_INDENT(2), path);
    json_decref(root);
    if (!text) {
        free(path);
        return 2;
    }
    char why[ATOMIC_FILE_ERROR_MAX];
    int rc = atomic_file_write(path, text, strlen(text)) ? 1 : 0;
    if (rc)
        util_error("%s", atomic_file_error(why, sizeof(why), path, errno));
    free(path);
    free(text);
    return rc;
}

static int start_probes(const struct attach_options *o, const char *dir, uint64_t t0,
                        struct probe_helper *kevents, struct probe_helper *uprobes)
{
    char pid[16], t0_ns[32], interval[16], duration[32];
    snprintf(pid, sizeof(pid), "%d", o->pid);
    snprintf(t0_ns, sizeof(t0_ns), "%llu", (unsigned long long)t0);
    snprintf(interval, sizeof(interval), "%lld", o->interval_ms);
    snprintf(duration, sizeof(duration), "%lld", o->duration_s + 5);
    char *kernel_csv = util_format("%s/kernel.csv", dir);
    int rc = kevents_start(kevents, o->pid, (unsigned)o->interval_ms, t0, kernel_csv,
                           o->duration_s ? o->duration_s + 5 : 0, NULL);
    free(kernel_csv);
    if (rc || !o->uprobes)
        return rc;
    char *uprobe_argv[] = {(char *)probe_helper_path("allocscope-allocuprobe"),
                           "--pid",
                           pid,
                           "--out",
                           (char *)dir,
                           "--sample",
                           (char *)o->sample,
                           "--t0-ns",
                           t0_ns,
                           o->duration_s ? "--duration" : NULL,
                           duration,
                           NULL};
    return probe_helper_start(uprobes, uprobe_argv, NULL, 120000);
}

int cmd_attach(int argc, char **argv)
{
    struct attach_options o;
    int rc = parse_attach_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (!process_running(o.pid)) {
        util_error("no running process %d; give the pid of a running process", o.pid);
        return 2;
    }
    char *dir = o.out ? xstrdup(o.out) : default_out_dir(o.pid);
    if (util_mkdir_p(dir) || access(dir, W_OK)) {
        util_error("cannot write to output directory %s: %s; choose another with --out", dir,
                   strerror(errno));
        free(dir);
        return 1;
    }
    struct sigaction action = {.sa_handler = on_stop};
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    json_t *command = target_command(o.pid), *cwd = read_link_json(o.pid, "cwd");
    char started[32];
    time_t wall = time(NULL);
    strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", gmtime(&wall));
    uint64_t t0 = util_monotonic_ns();
    struct probe_helper kevents = {0}, uprobes = {0};
    rc = start_probes(&o, dir, t0, &kevents, &uprobes);
    if (rc) {
        probe_helper_stop(&kevents);
        json_decref(command);
        json_decref(cwd);
        free(dir);
        return rc; /* the helper printed its one-line reason */
    }
    char *samples_path = util_format("%s/samples.csv", dir);
    struct atomic_file *samples = atomic_file_open(samples_path);
    bool target_ended = false;
    long long peak = 0;
    if (samples) {
        fputs(ATTACH_SAMPLES_CSV_HEADER "\n", atomic_file_stream(samples));
        peak = sample_loop(&o, atomic_file_stream(samples), t0, &target_ended);
    }
    if (!samples || atomic_file_commit(samples)) {
        char why[ATOMIC_FILE_ERROR_MAX];
        util_error("%s", atomic_file_error(why, sizeof(why), samples_path, errno));
        rc = 1;
    }
    double duration_s = (double)(util_monotonic_ns() - t0) / 1e9;
    int uprobe_rc = probe_helper_stop(&uprobes);
    int kevents_rc = probe_helper_stop(&kevents);
    char *kernel_csv = util_format("%s/kernel.csv", dir);
    if (!rc && (uprobe_rc || kevents_rc)) {
        util_error("a probe helper failed (kevents %d, uprobes %d); see the lines above",
                   kevents_rc, uprobe_rc);
        rc = 1;
    }
    if (!rc && kernel_join_samples(samples_path, kernel_csv))
        rc = 1;
    int unwritten = write_run_json(&o, dir, command, cwd, started, duration_s, target_ended, peak);
    if (unwritten > rc)
        rc = unwritten;
    if (!rc)
        printf("allocscope: attached to %d for %.1f s; wrote %s\n", o.pid, duration_s, dir);
    free(kernel_csv);
    free(samples_path);
    free(dir);
    return rc;
}
