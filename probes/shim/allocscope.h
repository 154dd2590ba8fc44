/* allocscope shim: the public interface.
 *
 * liballocscope.so is loaded with LD_PRELOAD in front of whatever allocator the program
 * uses. It reads its options from the environment once, at its first call (options.c),
 * and writes the files described in docs/FORMAT.md into ALLOCSCOPE_OUT.
 *
 * Environment (all optional):
 *   ALLOCSCOPE_OUT              output directory (default: allocscope-shim-PID in cwd)
 *   ALLOCSCOPE_SAMPLE           mean bytes between stack samples (default 524288),
 *                               "all" (or 0) for exact mode, "none" for counters only
 *   ALLOCSCOPE_DEPTH            frames per stack (default 32, max 64)
 *   ALLOCSCOPE_INTERVAL_MS      samples.csv period (default 100)
 *   ALLOCSCOPE_SITE_INTERVAL_MS sites.csv snapshot period (default 1000)
 *   ALLOCSCOPE_SMAPS_CPU_PERCENT share of one core the smaps_rollup reads may take (default
 *                               2; 0: only the first row, around a reclaim and at exit);
 *                               rows between reads take rss and anon from /proc/self/statm
 *   ALLOCSCOPE_UNWIND           fp | libunwind | auto (default auto: frame pointers, and
 *                               libunwind where the chain is broken)
 *   ALLOCSCOPE_FOLLOW_FORK      1: forked children record into children/PID/ (default 0:
 *                               they keep running, unrecorded)
 *   ALLOCSCOPE_FOLLOW_EXEC      1 (default): exec'd children record into children/PID/;
 *                               0: they run unrecorded
 *   ALLOCSCOPE_MAIN_PID         pid whose files go to the top of ALLOCSCOPE_OUT
 *   ALLOCSCOPE_T0_NS            CLOCK_MONOTONIC ns of the run's start (t_ms = 0)
 *   ALLOCSCOPE_TRIM_MS          call malloc_trim(0) every N ms (glibc "trim" configuration)
 *   ALLOCSCOPE_CONTROL          path of a control file: writing "reclaim\n" into it (then
 *                               touching it) asks the shim to release free memory to the OS
 *                               and record RSS before and after (shim.txt, samples.csv);
 *                               "reachability\n" classifies the live blocks now (exact mode)
 *   ALLOCSCOPE_REACHABILITY     0: no reachability scan at exit (default 1, exact mode only:
 *                               reachability.csv, memcheck's four classes per site)
 */
#ifndef ALLOCSCOPE_H
#define ALLOCSCOPE_H

#define ALLOCSCOPE_DEFAULT_SAMPLE_BYTES (512 * 1024)
#define ALLOCSCOPE_DEFAULT_DEPTH 32
#define ALLOCSCOPE_MAX_DEPTH 64
#define ALLOCSCOPE_DEFAULT_INTERVAL_MS 100
#define ALLOCSCOPE_DEFAULT_SITE_INTERVAL_MS 1000
/* smaps_rollup reads may take this share (percent) of one core; see sampler.c */
#define ALLOCSCOPE_DEFAULT_SMAPS_CPU_PERCENT 2

#endif
