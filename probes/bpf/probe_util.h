/* Small helpers shared by the user sides of the BPF tools (kevents, allocuprobe). */
#ifndef ALLOCSCOPE_PROBE_UTIL_H
#define ALLOCSCOPE_PROBE_UTIL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit status of a tool that could not load or attach its programs. */
#define PROBE_EXIT_REFUSED 3

/* Set by SIGINT/SIGTERM once probe_catch_signals() ran. */
extern volatile sig_atomic_t probe_stop_requested;
void probe_catch_signals(void);

/* libbpf's own messages only with ALLOCSCOPE_BPF_DEBUG=1: the tools print one line of
 * their own on failure. */
void probe_quiet_libbpf(void);

/* Checks what loading needs before trying (kernel BTF, tracefs for classic tracepoints).
 * On a missing piece prints the one-line error and returns false. */
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

#endif
