#include "harness/probe_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/util.h"

const char *probe_helper_path(const char *name)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", util_self_dir(), name);
    if (access(path, X_OK) == 0)
        return path;
    const char *installed = util_find_lib(name);
    return installed ? installed : path;
}

static void exec_tool(char *const argv[], int ready_fd, const char *log_path)
{
    dup2(ready_fd, STDOUT_FILENO);
    if (log_path) {
        int log = append_file_open(log_path);
        if (log >= 0)
            dup2(log, STDERR_FILENO);
    }
    signal(SIGINT, SIG_IGN); /* the harness stops it, after the target */
    execv(argv[0], argv);
    fprintf(stderr, "allocscope: cannot run %s: %s; build it with make\n", argv[0],
            strerror(errno));
    _exit(127);
}

int probe_helper_start(struct probe_helper *h, char *const argv[], const char *log_path,
                       int timeout_ms)
{
    int fds[2];
    h->pid = 0;
    if (pipe2(fds, O_CLOEXEC))
        return 1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return 1;
    }
    if (pid == 0)
        exec_tool(argv, fds[1], log_path);
    close(fds[1]);
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    char line[16] = "";
    ssize_t n = poll(&p, 1, timeout_ms) == 1 ? read(fds[0], line, sizeof(line) - 1) : -1;
    close(fds[0]);
    if (n >= 6 && !strncmp(line, "ready\n", 6)) {
        h->pid = pid;
        return 0;
    }
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) && WEXITSTATUS(status) ? WEXITSTATUS(status) : 1;
}

int probe_helper_stop(struct probe_helper *h)
{
    if (h->pid <= 0)
        return 0;
    int status = 0;
    kill(h->pid, SIGTERM);
    for (int i = 0; i < 1500; i++) {
        pid_t got = waitpid(h->pid, &status, WNOHANG);
        if (got == h->pid || (got < 0 && errno != EINTR)) {
            h->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        }
        usleep(20000);
    }
    kill(h->pid, SIGKILL);
    waitpid(h->pid, &status, 0);
    h->pid = 0;
    return 1;
}

int kevents_start(struct probe_helper *h, pid_t pid, unsigned interval_ms, uint64_t t0_ns,
                  const char *out_csv, long long duration_s, const char *log_path)
{
    char pid_s[16], t0[32], interval[16], duration[32];
    snprintf(pid_s, sizeof(pid_s), "%d", (int)pid);
    snprintf(t0, sizeof(t0), "%llu", (unsigned long long)t0_ns);
    snprintf(interval, sizeof(interval), "%u", interval_ms);
    snprintf(duration, sizeof(duration), "%lld", duration_s);
    char *argv[] = {(char *)probe_helper_path("allocscope-kevents"),
                    "--pid",
                    pid_s,
                    "--follow-children",
                    "--interval-ms",
                    interval,
                    "--t0-ns",
                    t0,
                    "--out",
                    (char *)out_csv,
                    duration_s ? "--duration" : NULL,
                    duration,
                    NULL};
    return probe_helper_start(h, argv, log_path, 10000);
}
