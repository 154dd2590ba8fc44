#include "probe_util.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t probe_stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    probe_stop_requested = 1;
}

void probe_catch_signals(void)
{
    struct sigaction action = {.sa_handler = on_stop_signal};
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
    static int verbose = -1;
    if (verbose < 0) {
        const char *env = getenv("ALLOCSCOPE_BPF_DEBUG");
        verbose = env && *env && strcmp(env, "0");
    }
    if (!verbose || level == LIBBPF_DEBUG)
        return 0;
    return vfprintf(stderr, fmt, args);
}

static const char *const advice = "run as root or grant CAP_BPF+CAP_PERFMON";

/* Classic tracepoints are looked up in tracefs; mount it when nobody has. */
static bool ensure_tracefs(void)
{
    if (access("/sys/kernel/tracing/events", F_OK) == 0)
        return true;
    /* Mounted but closed to this user: loading will fail and say why. */
    if (errno == EACCES || geteuid() != 0)
        return true;
    if (access("/sys/kernel/debug/tracing/events", F_OK) == 0)
        return true;
    if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
        return true;
    return access("/sys/kernel/tracing/events", F_OK) == 0;
}

bool probe_preflight(const char *prog, bool needs_tracefs)
{
    libbpf_set_print(libbpf_print);
    /* ALLOCSCOPE_VMLINUX_BTF stands in for the kernel's BTF path (tests use it to show
     * the error on a kernel without BTF). */
    const char *btf = getenv("ALLOCSCOPE_VMLINUX_BTF");
    if (!btf || !*btf)
        btf = "/sys/kernel/btf/vmlinux";
    if (access(btf, R_OK) != 0) {
        fprintf(stderr,
                "%s: cannot load BPF programs: kernel BTF %s is missing (%s); "
                "use a kernel built with CONFIG_DEBUG_INFO_BTF=y\n",
                prog, btf, strerror(errno));
        return false;
    }
    if (needs_tracefs && !ensure_tracefs()) {
        fprintf(stderr,
                "%s: cannot load BPF programs: tracefs is not mounted and mounting it failed "
                "(%s); %s, or mount -t tracefs nodev /sys/kernel/tracing\n",
                prog, strerror(errno), advice);
        return false;
    }
    return true;
}

int probe_refused(const char *prog, const char *what, int err)
{
    int code = err < 0 ? -err : err;
    const char *reason = strerror(code);
    if (code == EPERM || code == EACCES)
        reason = geteuid() == 0 ? "operation not permitted (kernel lockdown or seccomp?)"
                                : "operation not permitted (not root)";
    fprintf(stderr, "%s: cannot %s: %s; %s\n", prog, what, reason, advice);
    return PROBE_EXIT_REFUSED;
}

uint64_t probe_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void probe_sleep_until(uint64_t deadline_ns)
{
    /* Short slices so a signal or the end of the run is noticed quickly. */
    while (!probe_stop_requested) {
        uint64_t now = probe_monotonic_ns();
        if (now >= deadline_ns)
            return;
        uint64_t step = deadline_ns - now;
        if (step > 50000000ull)
            step = 50000000ull;
        struct timespec ts = {.tv_sec = step / 1000000000ull, .tv_nsec = step % 1000000000ull};
        nanosleep(&ts, NULL);
    }
}

bool probe_process_alive(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The state follows the last ')' of the command name. */
    char *close = strrchr(buf, ')');
    if (!close || close[1] != ' ')
        return false;
    char state = close[2];
    return state != 'Z' && state != 'X' && state != 'x';
}

bool probe_read_status_rss(int pid, long long bytes[4])
{
    static const char *const keys[4] = {"RssFile:", "RssAnon:", "VmSwap:", "RssShmem:"};
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    for (int i = 0; i < 4; i++)
        bytes[i] = 0;
    while (fgets(line, sizeof(line), f)) {
        for (int i = 0; i < 4; i++) {
            size_t len = strlen(keys[i]);
            if (!strncmp(line, keys[i], len))
                bytes[i] = strtoll(line + len, NULL, 10) * 1024;
        }
    }
    fclose(f);
    return true;
}

int probe_copy_maps(int pid, const char *path)
{
    char source[64], temp[4096];
    snprintf(source, sizeof(source), "/proc/%d/maps", pid);
    snprintf(temp, sizeof(temp), "%s.tmp", path);
    FILE *in = fopen(source, "r");
    if (!in)
        return -1;
    FILE *out = fopen(temp, "w");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    if (fclose(out) != 0)
        return -1;
    return rename(temp, path);
}

bool probe_parse_long(const char *prog, const char *option, const char *text, long long min,
                      long long max, long long *out)
{
    char *end;
    errno = 0;
    long long value = text ? strtoll(text, &end, 10) : 0;
    if (!text || errno || end == text || *end || value < min || value > max) {
        fprintf(stderr, "%s: bad %s '%s'; expected an integer in [%lld, %lld]\n", prog, option,
                text ? text : "", min, max);
        return false;
    }
    *out = value;
    return true;
}

int probe_parse_command_line(const struct probe_command_line *cli, int argc, char **argv, int *pid,
                             const char **out)
{
    long long pid_value = 0;
    *out = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", cli->longopts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'p':
            ok = probe_parse_long(cli->prog, "--pid", optarg, 1, 1 << 30, &pid_value);
            break;
        case 'o':
            *out = optarg;
            break;
        case 'h':
            cli->usage(stdout);
            exit(0);
        case '?':
            cli->usage(stderr);
            return 2;
        default:
            ok = cli->tool_option(c, optarg, cli->tool_options);
            break;
        }
        if (!ok)
            return 2;
    }
    if (optind < argc || !pid_value || !*out) {
        fprintf(stderr, "%s: --pid and --out are required; see --help\n", cli->prog);
        return 2;
    }
    *pid = (int)pid_value;
    return 0;
}

bool probe_check_target(const char *prog, int pid, const char *dir)
{
    if (!probe_process_alive(pid)) {
        fprintf(stderr, "%s: no process %d; give the pid of a running process\n", prog, pid);
        return false;
    }
    if (dir && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prog, dir, strerror(errno));
        return false;
    }
    return true;
}

void probe_sum_percpu_counters(const struct bpf_map *map, int ncpus, int ncounters,
                               unsigned long long *sum)
{
    unsigned long long percpu[ncpus * ncounters];
    unsigned int zero = 0;
    memset(sum, 0, sizeof(unsigned long long) * (size_t)ncounters);
    if (bpf_map__lookup_elem(map, &zero, sizeof(zero), percpu, sizeof(percpu), 0) != 0)
        return;
    for (int cpu = 0; cpu < ncpus; cpu++)
        for (int c = 0; c < ncounters; c++)
            sum[c] += percpu[cpu * ncounters + c];
}

bool probe_next_key(const struct bpf_map *map, void *key, size_t key_size, bool *started)
{
    unsigned char next[64];
    if (key_size > sizeof(next) ||
        bpf_map__get_next_key(map, *started ? key : NULL, next, key_size) != 0)
        return false;
    memcpy(key, next, key_size);
    *started = true;
    return true;
}
