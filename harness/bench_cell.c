#include "harness/bench_cell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/columns.h"
#include "harness/bench_tree.h"
#include "harness/kernel_join.h"
#include "harness/linked_allocator.h"
#include "harness/load_report.h"
#include "harness/probe_helper.h"
#include "harness/procmem.h"
#include "common/allocator_config.h"
#include "common/rundata.h"
#include "harness/runjson.h"
#include "common/atomic_file.h"
#include "common/json_text.h"
#include "common/util.h"

#define TEARDOWN_GRACE_NS 2000000000ull /* SIGTERM, then SIGKILL after 2 s */
#define LOAD_GRACE_NS 1000000000ull     /* a load past load_s gets 1 s to write its report */
/* The shim answers a reclaim request from its sampler thread after the allocator gave memory
 * back (malloc_trim walks every arena): seconds on a large heap when the machine is busy. */
#define RECLAIM_TIMEOUT_NS 10000000000ull

/* The drain: after the load command ended, until the target has worked off what it was
 * still doing (its process tree's CPU time stops advancing beyond its idle rate), so that
 * the cooldown measures a target that has finished the load, however busy the machine. */
#define DRAIN_WINDOW_NS 500000000ull /* quiet over this long ... */
#define DRAIN_QUIET_SHARE 0.05       /* ... = at most 5% of one CPU above the idle rate */
#define DRAIN_MIN_BOUND_S 10.0       /* bound: the larger of this and twice the load */

/* A batch target has one phase, run, from its start to its exit. */
enum phase { PHASE_IDLE, PHASE_LOAD, PHASE_DRAIN, PHASE_COOLDOWN, PHASE_RUN, N_PHASES };
static const char *const phase_names[N_PHASES] = {"idle", "load", "drain", "cooldown", "run"};

struct cell_state {
    const struct bench_cell *cell;
    const struct bench_context *ctx;
    const char *dir;
    uint64_t t0_ns;
    pid_t target, load, server;
    struct probe_helper kevents;
    bool target_exited;
    int target_status;
    uint64_t exit_ns; /* when the target was reaped */
    bool batch;       /* measured from start to exit: batch = true, or it ended by itself */
    bool port_ready;  /* the target was waited for until it listened */
    struct rusage usage;
    const char *exited_in; /* phase name when the target ended on its own */
    const char *phase;
    bool load_exited;
    int load_status;
    struct tree_log tree;
    uint64_t next_sample_ns;
    long long phase_ms[N_PHASES][2]; /* -1: not reached */
    long long reclaim_before, reclaim_after;
    long long idle_cpu_ns[2]; /* the target tree's CPU time at the idle phase's start and end */
    bool drain_settled;
    char status[64];
    char error[512];
    char note[512];
};

double bench_cell_planned_s(const struct bench_cell *cell)
{
    return cell->idle_s + cell->load_s + cell->cooldown_s + 0.8 + DRAIN_WINDOW_NS / 1e9;
}

static uint64_t t_ms(const struct cell_state *s)
{
    return (util_monotonic_ns() - s->t0_ns) / 1000000ull;
}

static void fail(struct cell_state *s, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct cell_state *s, const char *status, const char *fmt, ...)
{
    if (strcmp(s->status, "ok"))
        return; /* the first failure is the one reported */
    snprintf(s->status, sizeof(s->status), "failed:%s", status);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
}

/* A configuration that cannot apply to this program (it links its own allocator): not a
 * failure of the run, so it replaces only an ok status or the config check's failure. */
static void mark_unsupported(struct cell_state *s, const char *reason)
{
    if (strcmp(s->status, "ok") && strcmp(s->status, "failed:config"))
        return;
    snprintf(s->status, sizeof(s->status), "unsupported");
    snprintf(s->error, sizeof(s->error), "%s", reason);
}

/* Adds a sentence to the cell's note ("; " between them). */
static void add_note(struct cell_state *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_note(struct cell_state *s, const char *fmt, ...)
{
    size_t used = strlen(s->note);
    if (used && used + 2 < sizeof(s->note))
        used += (size_t)snprintf(s->note + used, sizeof(s->note) - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    if (used < sizeof(s->note))
        vsnprintf(s->note + used, sizeof(s->note) - used, fmt, ap);
    va_end(ap);
}

/* ---- files ---- */

/* ---- processes ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int port = -1;
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&addr, sizeof(addr)) &&
        !getsockname(fd, (struct sockaddr *)&addr, &len))
        port = ntohs(addr.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool port_open(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A shell command in its own process group, output to LOG, no stdin. */
static pid_t spawn_shell(const char *command, const char *log)
{
    pid_t pid = fork();
    if (pid != 0) {
        if (pid > 0)
            setpgid(pid, pid);
        return pid;
    }
    setpgid(0, 0);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    int in = open("/dev/null", O_RDONLY);
    int out = append_file_open(log);
    if (in >= 0)
        dup2(in, STDIN_FILENO);
    if (out >= 0) {
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
    }
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    _exit(127);
}

static void sample_now(struct cell_state *s)
{
    if (s->target_exited)
        return;
    struct tree_row row;
    if (tree_sample(s->target, &row) > 0) {
        row.t_ms = t_ms(s);
        tree_log_add(&s->tree, &row);
    }
}

static void reap(struct cell_state *s)
{
    int status;
    if (!s->target_exited && wait4(s->target, &status, WNOHANG, &s->usage) == s->target) {
        s->target_exited = true;
        s->target_status = status;
        s->exited_in = s->phase;
        s->exit_ns = util_monotonic_ns();
    }
    if (s->load > 0 && !s->load_exited && waitpid(s->load, &status, WNOHANG) == s->load) {
        s->load_exited = true;
        s->load_status = status;
    }
    if (s->server > 0)
        waitpid(s->server, NULL, WNOHANG);
}

static void tick(struct cell_state *s)
{
    uint64_t now = util_monotonic_ns(), interval = s->ctx->interval_ms * 1000000ull;
    reap(s);
    if (now >= s->next_sample_ns) {
        sample_now(s);
        s->next_sample_ns += interval;
        if (s->next_sample_ns <= now)
            s->next_sample_ns = now + interval;
    }
    progress_tick(s->ctx->progress);
}

enum wait_end { END_TIME, END_TARGET, END_STOP, END_LOAD, END_READY };

/* Runs the tick loop until DEADLINE or an event: the target ending, a stop request, the
 * load ending (WATCH_LOAD), or PORT accepting connections (non-zero). */
static enum wait_end wait_until(struct cell_state *s, uint64_t deadline_ns, bool watch_load,
                                unsigned port)
{
    for (;;) {
        tick(s);
        if (*s->ctx->stop)
            return END_STOP;
        if (s->target_exited)
            return END_TARGET;
        if (watch_load && s->load_exited)
            return END_LOAD;
        if (port && port_open(port))
            return END_READY;
        uint64_t now = util_monotonic_ns();
        if (now >= deadline_ns)
            return END_TIME;
        uint64_t nap = deadline_ns - now;
        if (s->next_sample_ns > now && s->next_sample_ns - now < nap)
            nap = s->next_sample_ns - now;
        if (nap > 10000000ull)
            nap = 10000000ull;
        struct timespec ts = {0, (long)nap};
        nanosleep(&ts, NULL);
    }
}

static uint64_t after_s(double seconds)
{
    return util_monotonic_ns() + (uint64_t)(seconds * 1e9);
}

/* SIGTERM to the group, SIGKILL to what is left after the grace time. */
static void stop_group(pid_t pgid, struct cell_state *s, bool is_target)
{
    if (pgid <= 0)
        return;
    kill(-pgid, SIGTERM);
    uint64_t deadline = util_monotonic_ns() + TEARDOWN_GRACE_NS;
    while (util_monotonic_ns() < deadline) {
        reap(s);
        bool done = is_target ? s->target_exited : s->load_exited;
        if (done && kill(-pgid, 0) != 0)
            return;
        usleep(10000);
    }
    kill(-pgid, SIGKILL);
}

static void end_target(struct cell_state *s)
{
    if (!s->target_exited) {
        stop_group(s->target, s, true);
        int status;
        if (!s->target_exited && wait4(s->target, &status, 0, &s->usage) == s->target) {
            s->target_exited = true;
            s->target_status = status;
            s->exit_ns = util_monotonic_ns();
        }
    }
    kill(-s->target, SIGKILL); /* descendants that outlived the target */
}

static void end_load(struct cell_state *s)
{
    if (s->load <= 0)
        return;
    if (!s->load_exited)
        stop_group(s->load, s, false);
    kill(-s->load, SIGKILL);
    if (!s->load_exited)
        waitpid(s->load, NULL, 0);
    s->load_exited = true;
}

static void end_server(struct cell_state *s)
{
    if (s->server <= 0)
        return;
    kill(-s->server, SIGTERM);
    for (int i = 0; i < 100 && waitpid(s->server, NULL, WNOHANG) == 0; i++)
        usleep(20000);
    kill(-s->server, SIGKILL);
    waitpid(s->server, NULL, WNOHANG);
}

/* A target without a load that was not waited for on a port, ending with status 0 before
 * the teardown, is a program that ends by itself (a batch job, a test binary, a compiler
 * run): it is measured to its end, as with batch = true. */
static void judge_early_end(struct cell_state *s)
{
    const struct bench_target *t = s->cell->target;
    int st = s->target_status;
    if (s->batch || t->load || s->port_ready || !WIFEXITED(st) || WEXITSTATUS(st))
        return;
    s->batch = true;
    add_note(s,
             "ended by itself (status 0) during the %s phase: measured to its end as a batch "
             "target (batch = true)",
             s->exited_in ? s->exited_in : "start");
}

/* The target's own end outranks what it caused (a load that lost its server). */
static void note_target_end(struct cell_state *s)
{
    int st = s->target_status;
    const char *phase = s->exited_in ? s->exited_in : "start";
    judge_early_end(s);
    if (s->batch && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return; /* what a batch target is for */
    if (WIFSIGNALED(st)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(st));
        char name[32];
        snprintf(name, sizeof(name), "SIG%s", abbrev ? abbrev : "UNKNOWN");
        snprintf(s->status, sizeof(s->status), "failed:crashed:%s", name);
        snprintf(s->error, sizeof(s->error), "the target was killed by %s during the %s phase",
                 name, phase);
    } else {
        int code = WEXITSTATUS(st);
        snprintf(s->status, sizeof(s->status), "failed:exit:%d", code);
        if (s->batch)
            snprintf(s->error, sizeof(s->error),
                     "the target ran to its end with exit status %d (see target.log)", code);
        else
            snprintf(s->error, sizeof(s->error),
                     "the target exited with status %d during the %s phase (see target.log)", code,
                     phase);
    }
}

/* ---- kernel events (--kernel) ---- */

/* Starts allocscope-kevents on the target's tree. A probe that cannot run (privileges, no
 * BTF) leaves the cell without kernel.csv, said on stderr. */
static void start_kevents(struct cell_state *s)
{
    char *out = util_format("%s/kernel.csv", s->dir), *log = util_format("%s/kevents.log", s->dir);
    if (kevents_start(&s->kevents, s->target, s->ctx->interval_ms, s->t0_ns, out, 0, log))
        progress_note(s->ctx->progress, "%s: kernel events not recorded: see %s", s->cell->name,
                      log);
    free(out);
    free(log);
}

/* ---- phases ---- */

static void phase_begin(struct cell_state *s, enum phase p)
{
    s->phase = phase_names[p];
    sample_now(s);
    s->phase_ms[p][0] = (long long)t_ms(s);
    progress_phase(s->ctx->progress, phase_names[p]);
}

static void phase_end(struct cell_state *s, enum phase p)
{
    sample_now(s);
    s->phase_ms[p][1] = s->target_exited && s->exit_ns
                            ? (long long)((s->exit_ns - s->t0_ns) / 1000000ull)
                            : (long long)t_ms(s);
}

/* Waits for a ready condition: "port[:N]" (N, else PORT) or "delay:MS". */
static enum wait_end wait_ready(struct cell_state *s, const char *ready, unsigned port,
                                double timeout_s)
{
    bool is_port = false;
    unsigned value = 0;
    if (!ready || bench_parse_ready(ready, &is_port, &value))
        return END_TIME;
    if (!is_port)
        return wait_until(s, after_s(value / 1000.0), false, 0);
    return wait_until(s, after_s(timeout_s), false, value ? value : port);
}

/* The load phase: the load command runs until it exits or load_s (+ grace) passes. */
static enum wait_end run_load(struct cell_state *s, const char *load_cmd)
{
    const struct bench_cell *c = s->cell;
    if (!load_cmd)
        return wait_until(s, after_s(c->load_s), false, 0);
    char *log = util_format("%s/load.log", s->dir);
    s->load = spawn_shell(load_cmd, log);
    free(log);
    if (s->load < 0) {
        fail(s, "load", "cannot start the load command: %s", strerror(errno));
        return wait_until(s, after_s(c->load_s), false, 0);
    }
    enum wait_end end = wait_until(s, after_s(c->load_s) + LOAD_GRACE_NS, true, 0);
    if (end == END_TIME)
        add_note(s,
                 "the load command was still running after the load phase (%gs) and was "
                 "stopped: its figures cover what it had finished",
                 c->load_s);
    if (end == END_LOAD) {
        int st = s->load_status;
        if (WIFEXITED(st) && WEXITSTATUS(st))
            fail(s, "load", "the load command exited with status %d (see load.log)",
                 WEXITSTATUS(st));
        else if (WIFSIGNALED(st))
            fail(s, "load", "the load command was killed by signal %d (see load.log)",
                 WTERMSIG(st));
        end = END_TIME;
    }
    if (end != END_STOP)
        end_load(s);
    return end;
}

static const char *fact_after(const char *text, const char *after, const char *key)
{
    const char *p = after;
    size_t n = strlen(key);
    while ((p = strstr(p, key))) {
        if ((p == text || p[-1] == '\n') && p[n] == '=')
            return p + n + 1;
        p += n;
    }
    return NULL;
}

/* Asks the shim to release free memory and waits for its answer in shim.txt. */
static void reclaim(struct cell_state *s)
{
    char *control = util_format("%s/.control", s->dir);
    char *shim_txt = util_format("%s/shim.txt", s->dir);
    char id[64];
    snprintf(id, sizeof(id), "cell%zu-%llu", s->cell->index,
             (unsigned long long)util_monotonic_ns());
    char *request = util_format("reclaim %s\n", id);
    char *marker = util_format("reclaim_id=%s\n", id);
    char why[ATOMIC_FILE_ERROR_MAX];
    if (atomic_file_write(control, request, strlen(request)))
        util_warn("%s (the reclaim request)", atomic_file_error(why, sizeof(why), control, errno));
    s->phase = "reclaim";
    progress_phase(s->ctx->progress, "reclaim");
    uint64_t deadline = util_monotonic_ns() + RECLAIM_TIMEOUT_NS;
    while (util_monotonic_ns() < deadline && !*s->ctx->stop && !s->target_exited) {
        wait_until(s, util_monotonic_ns() + 50000000ull, false, 0);
        char *text = util_read_file_bounded(shim_txt, UTIL_INPUT_MAX, NULL);
        const char *at = text ? strstr(text, marker) : NULL;
        const char *before = at ? fact_after(text, at, "reclaim_before_rss") : NULL;
        const char *after_v = at ? fact_after(text, at, "reclaim_after_rss") : NULL;
        if (before && after_v && strchr(after_v, '\n')) {
            s->reclaim_before = atoll(before);
            s->reclaim_after = atoll(after_v);
            free(text);
            break;
        }
        free(text);
    }
    free(control);
    free(shim_txt);
    free(request);
    free(marker);
}

/* ---- results ---- */

static long long rss_at(const struct cell_state *s, long long ms)
{
    const struct tree_row *r = ms >= 0 ? tree_log_at(&s->tree, (uint64_t)ms) : NULL;
    return r ? r->rss : -1;
}

static void set_bytes(struct bench_row *row, enum bench_column col, long long v)
{
    if (v >= 0)
        bench_row_set(row, col, "%lld", v);
}

static void tree_metrics(const struct cell_state *s, struct bench_row *row)
{
    long long peak = -1;
    for (size_t i = 0; i < s->tree.n; i++)
        if (s->tree.rows[i].rss > peak)
            peak = s->tree.rows[i].rss;
    set_bytes(row, COL_PEAK_RSS, peak);
    set_bytes(row, COL_IDLE_RSS, rss_at(s, s->phase_ms[PHASE_IDLE][1]));
    /* the load ended for the target when it had drained (the load command's end without) */
    long long load_end =
        s->phase_ms[PHASE_DRAIN][1] >= 0 ? s->phase_ms[PHASE_DRAIN][1] : s->phase_ms[PHASE_LOAD][1];
    long long cool_end = s->phase_ms[PHASE_COOLDOWN][1];
    if (load_end >= 0 && cool_end >= load_end + 1000)
        set_bytes(row, COL_AFTER_1S_RSS, rss_at(s, load_end + 1000));
    set_bytes(row, COL_AFTER_RSS, rss_at(s, cool_end));
    if (s->reclaim_before >= 0 && s->reclaim_after >= 0) {
        long long freed = s->reclaim_before - s->reclaim_after;
        set_bytes(row, COL_RECLAIMABLE, freed > 0 ? freed : 0);
    }
}

static void live_metrics(const struct cell_state *s, const struct csv *samples,
                         struct bench_row *row)
{
    int c_t = csv_column(samples, SAMPLES_T_MS), c_live = csv_column(samples, SAMPLES_LIVE_BYTES);
    int c_reclaim = csv_column(samples, SAMPLES_RECLAIM);
    if (c_live < 0)
        return;
    /* after: at the end of the cooldown; a batch target's at its exit (what it left) */
    long long peak = -1, after = -1,
              cool_end = s->batch ? LLONG_MAX : s->phase_ms[PHASE_COOLDOWN][1];
    for (size_t r = 0; r < samples->nrows; r++) {
        long long live = csv_int(samples, r, c_live, -1);
        if (live > peak)
            peak = live;
        if (cool_end >= 0 && csv_int(samples, r, c_t, -1) <= cool_end &&
            !*csv_cell(samples, r, c_reclaim))
            after = live;
    }
    set_bytes(row, COL_PEAK_LIVE, peak);
    set_bytes(row, COL_AFTER_LIVE, after);
}

/* A batch target: the highest RSS its tree reached (the kernel's count for the target and
 * the children it waited for, or our samples, whichever is higher) and its RSS before it
 * exited (the shim's exit snapshot of the main process when it is the later sample). */
static void batch_metrics(const struct cell_state *s, const struct csv *samples,
                          struct bench_row *row)
{
    long long peak = (long long)s->usage.ru_maxrss * 1024, last = -1;
    uint64_t last_ms = 0;
    for (size_t i = 0; i < s->tree.n; i++) {
        if (s->tree.rows[i].rss > peak)
            peak = s->tree.rows[i].rss;
        last = s->tree.rows[i].rss;
        last_ms = s->tree.rows[i].t_ms;
    }
    int c_t = samples ? csv_column(samples, SAMPLES_T_MS) : -1;
    int c_rss = samples ? csv_column(samples, SAMPLES_RSS_BYTES) : -1;
    if (c_t >= 0 && c_rss >= 0 && samples->nrows) {
        size_t r = samples->nrows - 1;
        long long shim_rss = csv_int(samples, r, c_rss, -1);
        if (shim_rss > 0 && csv_int(samples, r, c_t, -1) > (long long)last_ms)
            last = shim_rss;
        if (shim_rss > peak)
            peak = shim_rss;
    }
    set_bytes(row, COL_PEAK_RSS, peak > 0 ? peak : -1);
    set_bytes(row, COL_AFTER_RSS, last);
}

/* Throughput and latency from the load tool's report (harness/load_report.h). A load
 * command whose figures cannot be read leaves them empty and says so in the note. */
static void load_metrics(struct cell_state *s, struct bench_row *row)
{
    const struct bench_target *t = s->cell->target;
    char *json_path = util_format("%s/load.json", s->dir);
    char *log_path = util_format("%s/load.log", s->dir);
    char *report = util_read_file(json_path, NULL), *log = util_read_file(log_path, NULL);
    struct load_patterns patterns = {t->throughput_regex, t->p50_regex, t->p99_regex};
    struct load_figures f;
    char why[512];
    if ((t->load || report) &&
        load_report_read(t->load_format, &patterns, log, report, &f, why, sizeof(why)) == 0) {
        bench_row_set(row, COL_RPS, "%.1f", f.throughput_rps);
        if (!isnan(f.p50_ms))
            bench_row_set(row, COL_P50, "%.3f", f.p50_ms);
        if (!isnan(f.p99_ms))
            bench_row_set(row, COL_P99, "%.3f", f.p99_ms);
        bench_row_set(row, COL_LOAD_FORMAT, "%s", load_format_name(f.format));
        if (!isnan(f.errors) && f.errors > 0)
            add_note(s, "the load tool counted %.0f failed requests (see load.log)", f.errors);
    } else if (t->load) {
        add_note(s, "no throughput could be read from load.log%s: %s",
                 report ? " or load.json" : "", why);
    }
    free(json_path);
    free(log_path);
    free(report);
    free(log);
}

static void write_phases(const struct cell_state *s)
{
    char text[512];
    size_t len = (size_t)snprintf(text, sizeof(text), PHASES_CSV_HEADER "\n");
    for (int p = 0; p < N_PHASES; p++)
        if (s->phase_ms[p][0] >= 0)
            len += (size_t)snprintf(text + len, sizeof(text) - len, "%s,%lld,%lld,%s\n",
                                    phase_names[p], s->phase_ms[p][0],
                                    s->phase_ms[p][1] >= 0 ? s->phase_ms[p][1] : s->phase_ms[p][0],
                                    p != PHASE_DRAIN   ? ""
                                    : s->drain_settled ? "yes"
                                                       : "no");
    char *path = util_format("%s/phases.csv", s->dir);
    char why[ATOMIC_FILE_ERROR_MAX];
    if (atomic_file_write(path, text, len))
        util_warn("%s", atomic_file_error(why, sizeof(why), path, errno));
    free(path);
}

/* The configuration must be proven by its read-back, or the cell measures something else. */
static bool check_config(struct cell_state *s, bool have_shim)
{
    const struct allocator_config *cfg = s->cell->config;
    char *path = util_format("%s/shim.txt", s->dir);
    char *text = util_read_file_bounded(path, UTIL_INPUT_MAX, NULL), *message = NULL, reason[512];
    bool ok = false;
    if (!have_shim || !text)
        fail(s, "config",
             "%s cannot be checked: the shim wrote no shim.txt (a static program, "
             "or one that ended at once?)",
             cfg->full_name);
    else if (allocator_config_check_shim(cfg, text, &message) == 0)
        ok = true;
    else if (linked_allocator_took_over(cfg, text, reason, sizeof(reason)))
        mark_unsupported(s, reason);
    else
        fail(s, "config", "the configuration did not take effect: %s", message);
    free(message);
    free(text);
    free(path);
    return ok;
}

static void write_run_json(struct cell_state *s, struct target_spec *spec, const char *started,
                           const struct run_data *run, bool loaded, bool config_ok)
{
    struct target_result result = {.status = s->target_status, .usage = s->usage};
    result.duration_s = (double)(util_monotonic_ns() - s->t0_ns) / 1e9;
    struct run_summary summary = {-1, -1, -1, -1};
    if (loaded) {
        int c_rss = csv_column(&run->samples, SAMPLES_RSS_BYTES);
        int c_live = csv_column(&run->samples, SAMPLES_LIVE_BYTES);
        int c_blocks = csv_column(&run->samples, SAMPLES_LIVE_BLOCKS);
        for (size_t r = 0; r < run->samples.nrows; r++) {
            long long rss = csv_int(&run->samples, r, c_rss, -1);
            long long live = csv_int(&run->samples, r, c_live, -1);
            if (rss > summary.peak_rss_bytes)
                summary.peak_rss_bytes = rss;
            if (live > summary.peak_live_bytes)
                summary.peak_live_bytes = live;
            summary.exit_live_bytes = live;
            summary.exit_live_blocks = csv_int(&run->samples, r, c_blocks, -1);
        }
    }
    json_t *alloc =
        loaded ? runjson_allocator(run, s->cell->config->allocator_name, s->cell->config->name)
               : NULL;
    json_t *root = runjson_build(spec, &result, started, &summary, alloc);
    json_object_set_new(root, "config_ok", json_boolean(config_ok));
    json_object_set_new(root, "cell", json_text(s->cell->name));
    /* The numbers stand without it; its absence is said on stderr and in the row. */
    if (runjson_write(s->dir, root))
        add_note(s, "run.json could not be written");
    json_decref(root);
}

static void finish_cell(struct cell_state *s, struct target_spec *spec, const char *started,
                        struct bench_row *row)
{
    char err[512], *tree_path = util_format("%s/tree.csv", s->dir);
    char why[ATOMIC_FILE_ERROR_MAX];
    if (tree_log_write(&s->tree, tree_path))
        util_warn("%s", atomic_file_error(why, sizeof(why), tree_path, errno));
    free(tree_path);
    write_phases(s);
    struct run_data run;
    bool loaded = rundata_load(&run, s->dir, RUNDATA_SAMPLES, err, sizeof(err)) == 0;
    bool config_ok = s->target > 0 && check_config(s, loaded);
    write_run_json(s, spec, started, &run, loaded, config_ok);
    if (loaded)
        rundata_free(&run);
    char *samples_path = util_format("%s/samples.csv", s->dir);
    if (tree_join_samples(&s->tree, samples_path, err, sizeof(err)))
        util_warn("%s", err);
    char *kernel_csv = util_format("%s/kernel.csv", s->dir);
    if (s->ctx->kernel && access(kernel_csv, F_OK) == 0)
        kernel_join_samples(samples_path, kernel_csv);
    free(kernel_csv);
    struct csv samples;
    bool have_samples = csv_load(&samples, samples_path, err, sizeof(err)) == 0;
    free(samples_path);
    /* An unsupported configuration ran (if at all) under the program's own allocator:
     * its numbers are not this configuration's. */
    if (strcmp(s->status, "unsupported")) {
        if (have_samples)
            live_metrics(s, &samples, row);
        if (s->batch)
            batch_metrics(s, have_samples ? &samples : NULL, row);
        else
            tree_metrics(s, row);
        load_metrics(s, row);
    }
    if (have_samples)
        csv_free(&samples);
    double cpu = (double)(s->usage.ru_utime.tv_sec + s->usage.ru_stime.tv_sec) +
                 (double)(s->usage.ru_utime.tv_usec + s->usage.ru_stime.tv_usec) / 1e6;
    if (s->target > 0)
        bench_row_set(row, COL_CPU, "%.3f", cpu);
    uint64_t end_ns = s->batch && s->exit_ns ? s->exit_ns : util_monotonic_ns();
    bench_row_set(row, COL_DURATION, "%.3f", (double)(end_ns - s->t0_ns) / 1e9);
    bench_row_set(row, COL_STATUS, "%s", s->status);
    bench_row_set(row, COL_ERROR, "%s", s->error);
    bench_row_set(row, COL_KIND, "%s", s->batch ? "batch" : "server");
    bench_row_set(row, COL_NOTE, "%s", s->note);
}

/* ---- the cell ---- */

static void set_coordinates(const struct bench_cell *c, struct bench_row *row)
{
    bench_row_set(row, COL_CELL, "%s", c->name);
    bench_row_set(row, COL_WORKLOAD, "%s", c->target->name);
    bench_row_set(row, COL_VARIANT, "%s", c->variant);
    bench_row_set(row, COL_ALLOCATOR, "%s", c->config->allocator_name);
    bench_row_set(row, COL_CONFIG, "%s", c->config->name);
    bench_row_set(row, COL_REPEAT, "%u", c->repeat);
}

static void fill_vars(struct bench_vars *vars, const struct cell_state *s, int port,
                      int server_port, const char *workdir)
{
    const struct bench_cell *c = s->cell;
    char buf[64];
    for (size_t i = 0; i < c->target->params.count; i++)
        bench_vars_set(vars, c->target->params.names[i], c->target->params.values[i]);
    snprintf(buf, sizeof(buf), "%d", port);
    bench_vars_set(vars, "port", buf);
    snprintf(buf, sizeof(buf), "%d", server_port);
    bench_vars_set(vars, "server_port", buf);
    snprintf(buf, sizeof(buf), "%g", c->load_s);
    bench_vars_set(vars, "duration", buf);
    snprintf(buf, sizeof(buf), "%g", c->cooldown_s);
    bench_vars_set(vars, "idle", buf);
    bench_vars_set(vars, "variant", c->variant);
    bench_vars_set(vars, "workdir", workdir);
    bench_vars_set(vars, "dir", s->dir);
    char *json = util_format("%s/load.json", s->dir);
    bench_vars_set(vars, "json", json);
    free(json);
}

/* Expands the target's templates; the load waits for {pid}. */
static int expand_all(struct cell_state *s, struct bench_vars *vars, char **command, char **server)
{
    char err[512];
    const struct bench_target *t = s->cell->target;
    *command = bench_expand(t->command, vars, err, sizeof(err));
    *server = t->server && *command ? bench_expand(t->server, vars, err, sizeof(err)) : NULL;
    if (!*command || (t->server && !*server)) {
        fail(s, "config", "%s (target defined at %s)", err, t->origin);
        return -1;
    }
    return 0;
}

static enum wait_end start_server(struct cell_state *s, const char *server, int server_port)
{
    char *log = util_format("%s/server.log", s->dir);
    char *cmd = util_format("exec %s", server);
    s->server = spawn_shell(cmd, log);
    free(cmd);
    free(log);
    bool is_port = false;
    unsigned v = 0;
    const char *ready = s->cell->target->server_ready;
    if (!ready || bench_parse_ready(ready, &is_port, &v))
        return END_TIME;
    uint64_t deadline = after_s(is_port ? s->cell->target->ready_timeout_s : v / 1000.0);
    unsigned port = is_port ? (v ? v : (unsigned)server_port) : 0;
    while (util_monotonic_ns() < deadline) {
        if (*s->ctx->stop)
            return END_STOP;
        if (port && port_open(port))
            return END_READY;
        if (waitpid(s->server, NULL, WNOHANG) == s->server) {
            fail(s, "exit:1", "the helper server '%s' ended at start (see server.log)", server);
            s->server = -1;
            return END_TARGET;
        }
        usleep(20000);
    }
    if (port) {
        fail(s, "timeout", "the helper server did not listen on port %u within %gs", port,
             s->cell->target->ready_timeout_s);
        return END_TARGET;
    }
    return END_TIME;
}

/* A batch target: one phase from its start to its exit, bounded by timeout_s. */
static enum wait_end run_to_end(struct cell_state *s)
{
    double limit = s->cell->target->timeout_s;
    phase_begin(s, PHASE_RUN);
    enum wait_end end = wait_until(s, after_s(limit), false, 0);
    phase_end(s, PHASE_RUN);
    if (end == END_TIME) {
        fail(s, "timeout", "the batch target did not end within %gs (timeout_s)", limit);
        return END_TARGET;
    }
    return end;
}

/* The drain phase: from the load command's end until the target tree's CPU time has grown
 * by at most its idle rate + DRAIN_QUIET_SHARE of one CPU over the last DRAIN_WINDOW_NS, so
 * that a target still working off queued requests on a busy machine is not measured as "after
 * the load". Bounded by the larger of DRAIN_MIN_BOUND_S and twice the load; a drain that hit
 * the bound is recorded (phases.csv settled=no, a note) and the cooldown starts anyway. */
static enum wait_end run_drain(struct cell_state *s)
{
    const struct bench_cell *c = s->cell;
    double bound_s = c->load_s * 2 > DRAIN_MIN_BOUND_S ? c->load_s * 2 : DRAIN_MIN_BOUND_S;
    double idle_rate = 0; /* CPU ns per ns at idle */
    long long idle_ms = s->phase_ms[PHASE_IDLE][1] - s->phase_ms[PHASE_IDLE][0];
    if (s->idle_cpu_ns[0] >= 0 && s->idle_cpu_ns[1] >= s->idle_cpu_ns[0] && idle_ms > 0)
        idle_rate = (double)(s->idle_cpu_ns[1] - s->idle_cpu_ns[0]) / ((double)idle_ms * 1e6);
    double allowed = ((double)DRAIN_WINDOW_NS * (idle_rate + DRAIN_QUIET_SHARE));
    enum { RING = 64 };
    uint64_t at[RING];
    long long cpu[RING];
    size_t n = 0;
    phase_begin(s, PHASE_DRAIN);
    uint64_t start = util_monotonic_ns(), deadline = after_s(bound_s);
    enum wait_end end = END_TIME;
    s->drain_settled = false;
    for (;;) {
        uint64_t now = util_monotonic_ns();
        long long c_now = procmem_tree_cpu_ns(s->target);
        if (c_now < 0)
            break; /* gone: the target's end is seen by the next wait */
        at[n % RING] = now, cpu[n % RING] = c_now, n++;
        /* the newest sample at least a window old (within the drain) */
        for (size_t k = 1; k < n && k < RING; k++) {
            size_t i = (n - 1 - k) % RING;
            if (now - at[i] >= DRAIN_WINDOW_NS) {
                if ((double)(c_now - cpu[i]) <= allowed)
                    s->drain_settled = true;
                break;
            }
        }
        if (s->drain_settled || now >= deadline || now - start >= (uint64_t)(bound_s * 1e9))
            break;
        end = wait_until(s, now + 100000000ull, false, 0);
        if (end != END_TIME)
            break;
    }
    phase_end(s, PHASE_DRAIN);
    if (end == END_TIME && !s->drain_settled && !s->target_exited)
        add_note(s,
                 "the target was still busy %gs after the load command ended (its CPU time kept "
                 "growing): the cooldown started anyway, so its after-load figures may include "
                 "work on the load",
                 bound_s);
    return end;
}

static enum wait_end run_phases(struct cell_state *s, struct bench_vars *vars, unsigned port)
{
    const struct bench_cell *c = s->cell;
    char err[512], buf[32];
    if (s->batch)
        return run_to_end(s);
    s->port_ready = c->target->ready && !strncmp(c->target->ready, "port", 4);
    s->phase = "start";
    enum wait_end end = wait_ready(s, c->target->ready, port, c->target->ready_timeout_s);
    if (end == END_STOP || end == END_TARGET)
        return end;
    if (end == END_TIME && c->target->ready && !strncmp(c->target->ready, "port", 4)) {
        fail(s, "timeout", "the target did not listen on its port within %gs",
             c->target->ready_timeout_s);
        return END_TARGET;
    }
    phase_begin(s, PHASE_IDLE);
    s->idle_cpu_ns[0] = procmem_tree_cpu_ns(s->target);
    end = wait_until(s, after_s(c->idle_s), false, 0);
    s->idle_cpu_ns[1] = procmem_tree_cpu_ns(s->target);
    phase_end(s, PHASE_IDLE);
    if (end != END_TIME)
        return end;
    snprintf(buf, sizeof(buf), "%d", (int)s->target);
    bench_vars_set(vars, "pid", buf);
    char *load = c->target->load ? bench_expand(c->target->load, vars, err, sizeof(err)) : NULL;
    if (c->target->load && !load) {
        fail(s, "load", "%s", err);
        return END_TARGET;
    }
    phase_begin(s, PHASE_LOAD);
    end = run_load(s, load);
    free(load);
    phase_end(s, PHASE_LOAD);
    if (end != END_TIME)
        return end;
    end = run_drain(s);
    if (end != END_TIME)
        return end;
    phase_begin(s, PHASE_COOLDOWN);
    end = wait_until(s, after_s(c->cooldown_s), false, 0);
    phase_end(s, PHASE_COOLDOWN);
    if (end != END_TIME)
        return end;
    reclaim(s);
    return *s->ctx->stop ? END_STOP : s->target_exited ? END_TARGET : END_TIME;
}

/* Whether the cell's configuration can apply to the program COMMAND runs (it may link an
 * allocator of its own): otherwise the cell is unsupported, with the reason, and not run. */
static bool config_applies(struct cell_state *s, const char *command,
                           struct linked_allocator *linked)
{
    char path[PATH_MAX], reason[512];
    memset(linked, 0, sizeof(*linked));
    if (linked_allocator_resolve(command, path, sizeof(path)) ||
        linked_allocator_detect(path, linked) <= 0)
        return true;
    if (!linked_allocator_allows(linked, s->cell->config, reason, sizeof(reason))) {
        mark_unsupported(s, reason);
        return false;
    }
    if (!linked_allocator_preload(linked, s->cell->config))
        add_note(s,
                 "%s links %s itself (it %s): its own copy ran with this configuration's "
                 "environment",
                 command, linked->kind, linked->evidence);
    return true;
}

static char **config_env(const struct allocator_config *cfg)
{
    char **env = xcalloc(cfg->env.count + 1, sizeof(char *));
    for (size_t i = 0; i < cfg->env.count; i++)
        env[i] = xstrdup(cfg->env.items[i]);
    return env;
}

static void init_state(struct cell_state *s, const struct bench_cell *cell,
                       const struct bench_context *ctx, const char *dir)
{
    memset(s, 0, sizeof(*s));
    s->cell = cell;
    s->ctx = ctx;
    s->dir = dir;
    s->load = s->server = -1;
    s->reclaim_before = s->reclaim_after = -1;
    s->idle_cpu_ns[0] = s->idle_cpu_ns[1] = -1;
    for (int p = 0; p < N_PHASES; p++)
        s->phase_ms[p][0] = s->phase_ms[p][1] = -1;
    snprintf(s->status, sizeof(s->status), "ok");
    s->batch = cell->target->batch;
}

int bench_cell_run(const struct bench_cell *cell, const struct bench_context *ctx, const char *dir,
                   struct bench_row *row)
{
    struct cell_state s;
    init_state(&s, cell, ctx, dir);
    bench_row_init(row);
    set_coordinates(cell, row);
    util_remove_tree(dir);
    if (util_mkdir_p(dir)) {
        fail(&s, "config", "cannot create %s: %s", dir, strerror(errno));
        bench_row_set(row, COL_STATUS, "%s", s.status);
        bench_row_set(row, COL_ERROR, "%s", s.error);
        return 0;
    }
    /* The target's scratch directory ({workdir}), removed after the cell: only ever one
     * that mkdtemp made here. */
    const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *workdir = util_format("%s/allocscope-bench-XXXXXX", tmp);
    bool have_workdir = mkdtemp(workdir) != NULL;
    if (!have_workdir)
        fail(&s, "config",
             "cannot create a work directory in %s: %s; free space or inodes there "
             "(or point TMPDIR elsewhere)",
             tmp, strerror(errno));
    int port = free_port(), server_port = free_port();
    struct bench_vars vars = {0};
    fill_vars(&vars, &s, port, server_port, workdir);
    char *command = NULL, *server = NULL, **argv = NULL, err[512], started[32];
    char **env = config_env(cell->config);
    char *log = util_format("%s/target.log", dir), *control = util_format("%s/.control", dir);
    struct target_spec spec = {.out_dir = dir,
                               .shim_path = ctx->shim_path,
                               .shim = ctx->shim,
                               .preload_after = cell->config->allocator->library[0]
                                                    ? cell->config->allocator->library
                                                    : NULL,
                               .extra_env = env,
                               .control_path = control,
                               .own_process_group = true,
                               .output_path = log};
    spec.shim.interval_ms = ctx->interval_ms;
    runjson_now_iso(started, sizeof(started));
    s.t0_ns = spec.t0_ns = util_monotonic_ns();
    s.next_sample_ns = s.t0_ns;
    progress_phase(ctx->progress, "start");
    enum wait_end end = END_TARGET;
    if (have_workdir && expand_all(&s, &vars, &command, &server) == 0) {
        argv = bench_split_words(command, err, sizeof(err));
        if (!argv)
            fail(&s, "config", "%s", err);
    }
    struct linked_allocator linked;
    if (argv && config_applies(&s, argv[0], &linked) &&
        !linked_allocator_preload(&linked, cell->config))
        spec.preload_after = NULL; /* the program brings this allocator: its copy is used */
    if (argv && server && !strcmp(s.status, "ok"))
        end = start_server(&s, server, server_port);
    if (argv && end != END_STOP && !strcmp(s.status, "ok")) {
        spec.argv = argv;
        s.target = target_start(&spec, err, sizeof(err));
        if (s.target < 0) {
            fail(&s, "exit:127", "%s", err);
        } else {
            if (ctx->kernel)
                start_kevents(&s);
            end = run_phases(&s, &vars, (unsigned)port);
        }
    }
    char *unexpanded[] = {cell->target->command, NULL};
    if (!spec.argv) /* never started: run.json still says what was to be run */
        spec.argv = argv ? argv : unexpanded;
    if (s.target > 0 && s.target_exited && end != END_STOP && s.exited_in)
        note_target_end(&s);
    end_load(&s);
    if (s.target > 0)
        end_target(&s);
    probe_helper_stop(&s.kevents);
    end_server(&s);
    bool interrupted = end == END_STOP || *ctx->stop;
    if (interrupted) {
        snprintf(s.status, sizeof(s.status), "failed:interrupted");
        snprintf(s.error, sizeof(s.error), "stopped by a signal to allocscope");
    }
    finish_cell(&s, &spec, started, row);
    if (have_workdir)
        util_remove_tree(workdir);
    free(workdir);
    tree_log_free(&s.tree);
    bench_vars_free(&vars);
    bench_free_words(argv);
    allocator_config_free_env(env);
    free(command);
    free(server);
    free(log);
    free(control);
    return interrupted ? 1 : 0;
}
