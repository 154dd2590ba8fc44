/* Small helpers shared by the user sides of the BPF tools (kevents, allocuprobe). */
#ifndef ALLOCSCOPE_PROBE_UTIL_H
#define ALLOCSCOPE_PROBE_UTIL_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bpf_map;

/* Exit status of a tool that could not load or attach its programs. */
#define PROBE_EXIT_REFUSED 3

/* Set by SIGINT/SIGTERM once probe_catch_signals() ran. */
extern volatile sig_atomic_t probe_stop_requested;
void probe_catch_signals(void);

/* Checks what loading needs before trying (kernel BTF, tracefs for classic tracepoints).
 * On a missing piece prints the one-line error and returns false. Also silences libbpf's
 * own messages unless ALLOCSCOPE_BPF_DEBUG=1: the tools print one line of their own on
 * failure. */
bool probe_preflight(const char *prog, bool needs_tracefs);

/* The one-line error for a load or attach failure (libbpf error code, negative errno);
 * returns PROBE_EXIT_REFUSED. */
int probe_refused(const char *prog, const char *what, int err);

uint64_t probe_monotonic_ns(void);

/* Sleep until the absolute CLOCK_MONOTONIC time (ns), waking early on a stop request. */
void probe_sleep_until(uint64_t deadline_ns);

/* True while PID exists and is not a zombie. */
bool probe_process_alive(int pid);

/* RssFile, RssAnon, VmSwap, RssShmem of /proc/PID/status in bytes, in the kernel's
 * rss_stat member order; false when the process is gone. */
bool probe_read_status_rss(int pid, long long bytes[4]);

/* Copy /proc/PID/maps to PATH (temp file + rename). Returns 0 or -1. */
int probe_copy_maps(int pid, const char *path);

/* Parse a decimal integer argument in [min, max]; prints "PROG: bad OPTION ..." on error. */
bool probe_parse_long(const char *prog, const char *option, const char *text, long long min,
                      long long max, long long *out);

/* The command line every tool shares: --pid PID and --out (both required), --help, and
 * the tool's own options, which LONGOPTS lists along with "pid" ('p'), "out" ('o') and
 * "help" ('h'). */
struct probe_command_line {
    const char *prog;
    const struct option *longopts;
    void (*usage)(FILE *to);
    /* Takes one of the tool's own options; prints the error and returns false on a bad one. */
    bool (*tool_option)(int code, const char *arg, void *tool_options);
    void *tool_options;
};

/* Parses ARGV into *PID, *OUT and the tool's options. --help prints the usage and exits 0.
 * Returns 0, or 2 after printing what was wrong. */
int probe_parse_command_line(const struct probe_command_line *cli, int argc, char **argv, int *pid,
                             const char **out);

/* The target must be running and DIR, when given, must exist or be created now. Prints the
 * error and returns false otherwise. */
bool probe_check_target(const char *prog, int pid, const char *dir);

/* Sums a per-CPU array map of one row of NCOUNTERS u64 counters into SUM (all zero when
 * the lookup fails). */
void probe_sum_percpu_counters(const struct bpf_map *map, int ncpus, int ncounters,
                               unsigned long long *sum);

/* Walks the keys of MAP: steps KEY (KEY_SIZE bytes, at most 64) to the next key, or to the
 * first while *STARTED is false; false at the end. Delete keys only after the walk. */
bool probe_next_key(const struct bpf_map *map, void *key, size_t key_size, bool *started);

#endif
