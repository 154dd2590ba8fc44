/* The BPF tools (allocscope-kevents, allocscope-allocuprobe) run as separate programs beside
 * the harness: they need privileges the harness itself does not, and a probe that fails must
 * never take the recording down with it. This starts one, waits for its "ready" line, and
 * stops it. */
#ifndef ALLOCSCOPE_PROBE_HELPER_H
#define ALLOCSCOPE_PROBE_HELPER_H

#include <stdint.h>
#include <sys/types.h>

struct probe_helper {
    pid_t pid; /* 0 when not running */
};

/* The tool NAME next to the allocscope executable, or in the installed library directory. */
const char *probe_helper_path(const char *name);

/* Starts ARGV (ARGV[0] is the tool's path). Its stderr goes to LOG_PATH when not NULL (else
 * to ours, where its one-line reasons reach the user). Waits up to TIMEOUT_MS for "ready".
 * Returns 0 when ready; otherwise the tool's exit status (it said why), or 1. */
int probe_helper_start(struct probe_helper *h, char *const argv[], const char *log_path,
                       int timeout_ms);

/* SIGTERM, up to 30 s for the tool to write its last rows, then SIGKILL. Returns its exit
 * status (0 when it was not running). */
int probe_helper_stop(struct probe_helper *h);

/* allocscope-kevents on PID and its children into OUT_CSV (docs/FORMAT.md, kernel.csv);
 * DURATION_S 0: until stopped. */
int kevents_start(struct probe_helper *h, pid_t pid, unsigned interval_ms, uint64_t t0_ns,
                  const char *out_csv, long long duration_s, const char *log_path);

#endif
