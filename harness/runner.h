/* Starting a target under the shim and waiting for it: shared by `run` and `bench`. */
#ifndef ALLOCSCOPE_RUNNER_H
#define ALLOCSCOPE_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct shim_settings {
    const char *sample;   /* ALLOCSCOPE_SAMPLE value, NULL: default */
    unsigned interval_ms; /* 0: default */
    unsigned depth;       /* 0: default */
    const char *unwind;   /* NULL: default */
    bool follow_fork;
    bool no_follow_exec;
};

struct target_spec {
    char **argv;
    const char *out_dir;
    const char *shim_path;
    const char *preload_after; /* allocator library preloaded after the shim, or NULL */
    char **extra_env;          /* NAME=VALUE entries, NULL-terminated, may be NULL */
    const char *control_path;  /* ALLOCSCOPE_CONTROL, or NULL */
    struct shim_settings shim;
    uint64_t t0_ns;
    bool own_process_group;  /* bench: the target's tree can be stopped as a group */
    bool hold;               /* the child waits before exec until target_release(): lets a
                                probe attach to its pid first (run --kernel) */
    const char *output_path; /* stdout and stderr of the target appended there; NULL: ours */
};

struct target_result {
    int status;       /* raw wait status */
    bool exec_failed; /* the command could not be started */
    int exec_errno;
    struct rusage usage;
    double duration_s;
};

/* Forks and execs the target with the shim's environment. Returns the pid, or -1 with a
 * message in err (exec failures are reported here, synchronously). */
pid_t target_start(const struct target_spec *spec, char *err, size_t errlen);

/* Lets a held child (spec->hold) go on to exec. Returns 0, or -1 with a message in err
 * (the exec failed). */
int target_release(pid_t pid, char *err, size_t errlen);

/* Kills a held child that will not be released. */
void target_cancel(pid_t pid);

/* Waits for the target (retrying on EINTR), filling *result. */
int target_wait(pid_t pid, const struct target_spec *spec, struct target_result *result);

/* The exit code allocscope passes on: the target's status, 128+signal when killed. */
int target_exit_code(const struct target_result *result);

#endif
