#include "harness/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/util.h"

static void set_env_uint(const char *name, uint64_t value)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)value);
    setenv(name, buf, 1);
}

/* LD_PRELOAD: the shim first (it must see every call), then the allocator, then whatever
 * the user had preloaded already. */
static void set_preload(const struct target_spec *spec)
{
    const char *user = getenv("LD_PRELOAD");
    char *value = util_format("%s%s%s%s%s", spec->shim_path, spec->preload_after ? " " : "",
                              spec->preload_after ? spec->preload_after : "",
                              user && *user ? " " : "", user && *user ? user : "");
    setenv("LD_PRELOAD", value, 1);
    free(value);
}

/* Runs in the child between fork and exec. */
static void prepare_child_env(const struct target_spec *spec)
{
    set_preload(spec);
    setenv("ALLOCSCOPE_OUT", spec->out_dir, 1);
    set_env_uint("ALLOCSCOPE_MAIN_PID", (uint64_t)getpid());
    set_env_uint("ALLOCSCOPE_T0_NS", spec->t0_ns);
    if (spec->shim.sample)
        setenv("ALLOCSCOPE_SAMPLE", spec->shim.sample, 1);
    if (spec->shim.interval_ms)
        set_env_uint("ALLOCSCOPE_INTERVAL_MS", spec->shim.interval_ms);
    if (spec->shim.depth)
        set_env_uint("ALLOCSCOPE_DEPTH", spec->shim.depth);
    if (spec->shim.unwind)
        setenv("ALLOCSCOPE_UNWIND", spec->shim.unwind, 1);
    setenv("ALLOCSCOPE_FOLLOW_FORK", spec->shim.follow_fork ? "1" : "0", 1);
    setenv("ALLOCSCOPE_FOLLOW_EXEC", spec->shim.no_follow_exec ? "0" : "1", 1);
    if (spec->control_path)
        setenv("ALLOCSCOPE_CONTROL", spec->control_path, 1);
    for (char **e = spec->extra_env; e && *e; e++)
        putenv(*e);
}

/* Children held before exec wait on this pipe; exec failures come back on report_fd. */
struct pending_child {
    pid_t pid;
    int release_fd;
    int report_fd;
    const char *cmd;
};
static struct pending_child pending[8];

static struct pending_child *pending_slot(pid_t pid)
{
    for (size_t i = 0; i < sizeof(pending) / sizeof(pending[0]); i++)
        if (pending[i].pid == pid)
            return &pending[i];
    return NULL;
}

static pid_t harness_pid; /* the process that started the target */

static void exec_child(const struct target_spec *spec, int report_fd, int hold_fd)
{
    if (spec->own_process_group)
        setpgid(0, 0);
    /* The target ends with the harness: a killed allocscope leaves no server running. The
     * signal survives exec; the check after it covers a harness already gone. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != harness_pid)
        _exit(126);
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    prepare_child_env(spec);
    if (spec->output_path) {
        int fd = append_file_open(spec->output_path);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
    }
    if (hold_fd >= 0) {
        char go;
        ssize_t n;
        while ((n = read(hold_fd, &go, 1)) < 0 && errno == EINTR)
            ;
        if (n != 1)
            _exit(126); /* the harness gave up on this target */
        close(hold_fd);
    }
    execvp(spec->argv[0], spec->argv);
    int e = errno;
    (void)!write(report_fd, &e, sizeof(e));
    _exit(127);
}

/* Reads the exec report: EOF means exec succeeded (the pipe is close-on-exec). */
static int await_exec(pid_t pid, int report_fd, const char *cmd, char *err, size_t errlen)
{
    int child_errno = 0;
    ssize_t n;
    while ((n = read(report_fd, &child_errno, sizeof(child_errno))) < 0 && errno == EINTR)
        ;
    close(report_fd);
    if (n == (ssize_t)sizeof(child_errno)) {
        waitpid(pid, NULL, 0);
        snprintf(err, errlen, "cannot run '%s': %s; check the command name and PATH", cmd,
                 strerror(child_errno));
        errno = child_errno;
        return -1;
    }
    return 0;
}

pid_t target_start(const struct target_spec *spec, char *err, size_t errlen)
{
    int report[2], hold[2] = {-1, -1};
    struct pending_child *slot = spec->hold ? pending_slot(0) : NULL;
    if (pipe2(report, O_CLOEXEC) || (spec->hold && (!slot || pipe2(hold, O_CLOEXEC)))) {
        snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    harness_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork: %s", strerror(errno));
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (pid == 0) {
        close(report[0]);
        if (hold[1] >= 0)
            close(hold[1]);
        exec_child(spec, report[1], hold[0]);
    }
    close(report[1]);
    if (spec->hold) {
        close(hold[0]);
        *slot = (struct pending_child){pid, hold[1], report[0], spec->argv[0]};
        return pid;
    }
    return await_exec(pid, report[0], spec->argv[0], err, errlen) ? -1 : pid;
}

int target_release(pid_t pid, char *err, size_t errlen)
{
    struct pending_child *slot = pending_slot(pid);
    if (!slot) {
        snprintf(err, errlen, "internal error: pid %d is not held", (int)pid);
        return -1;
    }
    struct pending_child child = *slot;
    memset(slot, 0, sizeof(*slot));
    (void)!write(child.release_fd, "g", 1);
    close(child.release_fd);
    return await_exec(pid, child.report_fd, child.cmd, err, errlen);
}

void target_cancel(pid_t pid)
{
    struct pending_child *slot = pending_slot(pid);
    if (slot) {
        close(slot->release_fd); /* the child reads EOF and exits 126 */
        close(slot->report_fd);
        memset(slot, 0, sizeof(*slot));
    }
    waitpid(pid, NULL, 0);
}

int target_wait(pid_t pid, const struct target_spec *spec, struct target_result *result)
{
    memset(result, 0, sizeof(*result));
    pid_t got;
    while ((got = wait4(pid, &result->status, 0, &result->usage)) < 0 && errno == EINTR)
        ;
    result->duration_s = (double)(util_monotonic_ns() - spec->t0_ns) / 1e9;
    return got == pid ? 0 : -1;
}

int target_exit_code(const struct target_result *result)
{
    if (result->exec_failed)
        return 127;
    if (WIFEXITED(result->status))
        return WEXITSTATUS(result->status);
    if (WIFSIGNALED(result->status))
        return 128 + WTERMSIG(result->status);
    return 1;
}
