/* The exec family. An exec keeps the process: wrappers (#!/bin/sh + exec, env, pyenv and
 * virtualenv launchers, npm) hand their pid to the program that does the work. Before the
 * old image goes, its recording is finished and moved aside (lifecycle_before_exec), so the
 * new image records at the same place as the same process; the environment the new image
 * gets keeps the shim and its settings even where the caller built a fresh one (env -i).
 *
 * An exec may run in the child of vfork, which shares the parent's memory until it execs:
 * the environment is built on the stack (no allocator, no mapping left in the parent), and
 * the recording is handed over only by the process that owns it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define EXPORT __attribute__((visibility("default")))

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
static execve_fn next_execve, next_execvpe;
static fexecve_fn next_fexecve;

/* The variables the new image needs to record: LD_PRELOAD as the run started and every
 * ALLOCSCOPE_ variable, copied when the shim started (the program may change its own). */
#define CARRIED_MAX 32
static char carried_text[8192];
static const char *carried[CARRIED_MAX];
static unsigned n_carried;
static const char *carried_preload; /* the LD_PRELOAD= entry among them, or NULL */

static void carry(const char *entry)
{
    static size_t used;
    size_t len = strlen(entry) + 1;
    if (n_carried == CARRIED_MAX || used + len > sizeof(carried_text))
        return;
    char *copy = memcpy(carried_text + used, entry, len);
    used += len;
    if (!strncmp(copy, "LD_PRELOAD=", 11))
        carried_preload = copy;
    else
        carried[n_carried++] = copy;
}

/* From the constructor, after ALLOCSCOPE_MAIN_PID and _T0_NS are set. */
void exec_prepare(void)
{
    static bool prepared;
    if (prepared)
        return;
    prepared = true;
    next_execve = (execve_fn)dlsym(RTLD_NEXT, "execve");
    next_execvpe = (execve_fn)dlsym(RTLD_NEXT, "execvpe");
    next_fexecve = (fexecve_fn)dlsym(RTLD_NEXT, "fexecve");
    extern char **environ;
    for (char **e = environ; e && *e; e++)
        if (!strncmp(*e, "LD_PRELOAD=", 11) || !strncmp(*e, "ALLOCSCOPE_", 11))
            carry(*e);
}

static bool has_var(char *const envp[], const char *entry)
{
    size_t len = (size_t)(strchr(entry, '=') - entry) + 1;
    for (size_t i = 0; envp && envp[i]; i++)
        if (!strncmp(envp[i], entry, len))
            return true;
    return false;
}

static const char *preload_of(char *const envp[])
{
    for (size_t i = 0; envp && envp[i]; i++)
        if (!strncmp(envp[i], "LD_PRELOAD=", 11))
            return envp[i];
    return NULL;
}

/* True when THEIRS (an LD_PRELOAD= entry or NULL) still names every library of the run's. */
static bool preload_kept(const char *theirs)
{
    for (const char *p = carried_preload + 11; *p;) {
        size_t n = strcspn(p, " :");
        bool found = false;
        for (const char *q = theirs ? theirs + 11 : ""; n && *q && !found;) {
            size_t m = strcspn(q, " :");
            found = m == n && !memcmp(p, q, n);
            q += m + (q[m] != '\0');
        }
        if (n && !found)
            return false;
        p += n + (p[n] != '\0');
    }
    return true;
}

enum exec_kind { EXEC_PATH, EXEC_SEARCH, EXEC_FD };

static int call_next(enum exec_kind kind, const char *path, int fd, char *const argv[],
                     char *const envp[])
{
    if (!next_execve)
        exec_prepare();
    switch (kind) {
    case EXEC_PATH:
        return next_execve(path, argv, envp);
    case EXEC_SEARCH:
        return next_execvpe(path, argv, envp);
    default:
        return next_fexecve(fd, argv, envp);
    }
}

#define ENV_MAX 8192
#define PRELOAD_MAX 16384

/* ENVP with the carried variables added where missing, and the run's LD_PRELOAD first where
 * ENVP's no longer names its libraries. Beyond ENV_MAX variables or PRELOAD_MAX bytes of
 * preload list, ENVP is passed as it is. */
static int exec_handing_over(enum exec_kind kind, const char *path, int fd, char *const argv[],
                             char *const envp[])
{
    size_t n = 0;
    while (envp && envp[n])
        n++;
    const char *theirs = preload_of(envp);
    size_t preload_len =
        (carried_preload ? strlen(carried_preload) : 0) + (theirs ? strlen(theirs) : 0) + 2;
    bool rebuild = (n_carried || carried_preload) && n < ENV_MAX && preload_len < PRELOAD_MAX;
    char *env[rebuild ? n + n_carried + 2 : 1];
    char preload[rebuild ? preload_len : 1];
    char *const *use = envp;
    if (rebuild) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (envp[i] != theirs)
                env[k++] = envp[i];
        for (unsigned i = 0; i < n_carried; i++)
            if (!has_var(envp, carried[i]))
                env[k++] = (char *)carried[i];
        if (carried_preload && !preload_kept(theirs)) {
            strcpy(preload, carried_preload);
            if (theirs && theirs[11])
                strcat(strcat(preload, " "), theirs + 11);
            env[k++] = preload;
        } else if (theirs) {
            env[k++] = (char *)theirs;
        }
        env[k] = NULL;
        use = env;
    }
    lifecycle_before_exec(kind == EXEC_FD ? "(fexecve)" : path);
    int rc = call_next(kind, path, fd, argv, use);
    int err = errno;
    lifecycle_after_failed_exec(err);
    errno = err;
    return rc;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return exec_handing_over(EXEC_PATH, path, -1, argv, envp);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return exec_handing_over(EXEC_SEARCH, file, -1, argv, envp);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    return exec_handing_over(EXEC_FD, NULL, fd, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
    extern char **environ;
    return execve(path, argv, environ);
}

EXPORT int execvp(const char *file, char *const argv[])
{
    extern char **environ;
    return execvpe(file, argv, environ);
}

/* The list forms: ARG0, ... up to NULL (then, for execle, the environment) into an array on
 * the stack, as glibc does, handed to EXEC (execve or execvpe). */
static int exec_list(int (*exec)(const char *, char *const[], char *const[]), const char *path,
                     const char *arg0, va_list ap, bool env_follows)
{
    va_list count;
    va_copy(count, ap);
    size_t n = arg0 ? 1 : 0;
    while (arg0 && va_arg(count, const char *))
        n++;
    va_end(count);
    char *argv[n + 1];
    argv[0] = (char *)arg0;
    for (size_t i = 1; i < n; i++)
        argv[i] = va_arg(ap, char *);
    argv[n] = NULL;
    if (arg0)
        (void)va_arg(ap, char *); /* the NULL that ended the list */
    extern char **environ;
    char *const *envp = env_follows ? va_arg(ap, char *const *) : environ;
    return exec(path, argv, envp);
}

EXPORT int execl(const char *path, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    int rc = exec_list(execve, path, arg0, ap, false);
    va_end(ap);
    return rc;
}

EXPORT int execlp(const char *file, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    int rc = exec_list(execvpe, file, arg0, ap, false);
    va_end(ap);
    return rc;
}

EXPORT int execle(const char *path, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    int rc = exec_list(execve, path, arg0, ap, true);
    va_end(ap);
    return rc;
}
