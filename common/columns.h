/* The column names of every CSV file docs/FORMAT.md describes, defined once: each writer
 * builds its header line from these and each reader looks its columns up by them, so a
 * renamed column cannot leave a reader looking for the old name.
 *
 * Header-only, macros only, and no #include: the shim (probes/shim) and the eBPF tools
 * (probes/bpf) write some of these files and may include this one header of the core, and
 * nothing else of it (tests/integration/layout_test.sh checks both). FILE_CSV_HEADER is the
 * header line without its "\n", the columns in the order the writer puts them. */
#ifndef ALLOCSCOPE_COLUMNS_H
#define ALLOCSCOPE_COLUMNS_H

/* ---- samples.csv: the shim's, one row per interval ---- */
#define SAMPLES_T_MS "t_ms"
#define SAMPLES_LIVE_BYTES "live_bytes"
#define SAMPLES_LIVE_BLOCKS "live_blocks"
#define SAMPLES_ALLOC_CALLS "alloc_calls"
#define SAMPLES_FREE_CALLS "free_calls"
#define SAMPLES_ALLOC_BYTES "alloc_bytes"
#define SAMPLES_RSS_BYTES "rss_bytes"
#define SAMPLES_PSS_BYTES "pss_bytes"
#define SAMPLES_ANON_BYTES "anon_bytes"
#define SAMPLES_LAZYFREE_BYTES "lazyfree_bytes"
#define SAMPLES_HEAP_IN_USE_BYTES "heap_in_use_bytes"
#define SAMPLES_HEAP_HELD_BYTES "heap_held_bytes"
#define SAMPLES_HEAP_FREE_BYTES "heap_free_bytes"
#define SAMPLES_HEAP_RELEASED_BYTES "heap_released_bytes"
#define SAMPLES_RECLAIM "reclaim"
#define SAMPLES_CSV_HEADER                                                                         \
    SAMPLES_T_MS "," SAMPLES_LIVE_BYTES "," SAMPLES_LIVE_BLOCKS "," SAMPLES_ALLOC_CALLS            \
                 "," SAMPLES_FREE_CALLS "," SAMPLES_ALLOC_BYTES "," SAMPLES_RSS_BYTES              \
                 "," SAMPLES_PSS_BYTES "," SAMPLES_ANON_BYTES "," SAMPLES_LAZYFREE_BYTES           \
                 "," SAMPLES_HEAP_IN_USE_BYTES "," SAMPLES_HEAP_HELD_BYTES                         \
                 "," SAMPLES_HEAP_FREE_BYTES "," SAMPLES_HEAP_RELEASED_BYTES "," SAMPLES_RECLAIM

/* samples.csv of allocscope attach: /proc/PID/smaps_rollup only. */
#define ATTACH_SAMPLES_CSV_HEADER                                                                  \
    SAMPLES_T_MS "," SAMPLES_RSS_BYTES "," SAMPLES_PSS_BYTES "," SAMPLES_ANON_BYTES                \
                 "," SAMPLES_LAZYFREE_BYTES

/* ---- tree.csv: the harness's sampling of the target's process tree ---- */
#define TREE_T_MS "t_ms"
#define TREE_RSS_BYTES "tree_rss_bytes"
#define TREE_PSS_BYTES "tree_pss_bytes"
#define TREE_ANON_BYTES "tree_anon_bytes"
#define TREE_LAZYFREE_BYTES "tree_lazyfree_bytes"
#define TREE_PROCESSES "processes"
#define TREE_CSV_HEADER                                                                            \
    TREE_T_MS "," TREE_RSS_BYTES "," TREE_PSS_BYTES "," TREE_ANON_BYTES "," TREE_LAZYFREE_BYTES    \
              "," TREE_PROCESSES

/* The tree.csv columns as the harness joins them into a cell's samples.csv, after the
 * shim's ("processes" is renamed there: the shim's columns are of one process). */
#define SAMPLES_TREE_RSS_BYTES TREE_RSS_BYTES
#define SAMPLES_TREE_PSS_BYTES TREE_PSS_BYTES
#define SAMPLES_TREE_ANON_BYTES TREE_ANON_BYTES
#define SAMPLES_TREE_LAZYFREE_BYTES TREE_LAZYFREE_BYTES
#define SAMPLES_TREE_PROCESSES "tree_processes"
#define SAMPLES_TREE_COLUMNS                                                                       \
    SAMPLES_TREE_RSS_BYTES "," SAMPLES_TREE_PSS_BYTES "," SAMPLES_TREE_ANON_BYTES                  \
                           "," SAMPLES_TREE_LAZYFREE_BYTES "," SAMPLES_TREE_PROCESSES

/* ---- sites.csv: per-site cumulative counters over time ---- */
#define SITES_T_MS "t_ms"
#define SITES_SITE_ID "site_id"
#define SITES_ALLOC_CALLS "alloc_calls"
#define SITES_ALLOC_BYTES "alloc_bytes"
#define SITES_FREE_CALLS "free_calls"
#define SITES_FREE_BYTES "free_bytes"
#define SITES_PEAK_BYTES "peak_bytes" /* optional: allocscope-allocuprobe does not write it */
#define SITES_TEMPORARY_CALLS "temporary_calls" /* optional, as peak_bytes */
#define SITES_CSV_HEADER_COUNTS                                                                    \
    SITES_T_MS "," SITES_SITE_ID "," SITES_ALLOC_CALLS "," SITES_ALLOC_BYTES "," SITES_FREE_CALLS  \
               "," SITES_FREE_BYTES
#define SITES_CSV_HEADER SITES_CSV_HEADER_COUNTS "," SITES_PEAK_BYTES "," SITES_TEMPORARY_CALLS

/* ---- stacks.csv: the frames of each site ---- */
#define STACKS_SITE_ID "site_id"
#define STACKS_FRAMES "frames"
#define STACKS_CSV_HEADER STACKS_SITE_ID "," STACKS_FRAMES

/* ---- histogram.csv: allocation calls by size class ---- */
#define HISTOGRAM_SIZE_MIN "size_min"
#define HISTOGRAM_SIZE_MAX "size_max"
#define HISTOGRAM_ALLOC_CALLS "alloc_calls"
#define HISTOGRAM_CSV_HEADER HISTOGRAM_SIZE_MIN "," HISTOGRAM_SIZE_MAX "," HISTOGRAM_ALLOC_CALLS

/* ---- reachability.csv: exact mode, blocks live at exit by memcheck's classes, per site ---- */
/* The classes (also the shim.txt totals' reachability_CLASS_bytes/_blocks keys), in order. */
#define REACHABILITY_DEFINITELY_LOST "definitely_lost"
#define REACHABILITY_INDIRECTLY_LOST "indirectly_lost"
#define REACHABILITY_POSSIBLY_LOST "possibly_lost"
#define REACHABILITY_STILL_REACHABLE "still_reachable"
#define REACHABILITY_SITE_ID "site_id"
#define REACHABILITY_DEFINITELY_LOST_BYTES REACHABILITY_DEFINITELY_LOST "_bytes"
#define REACHABILITY_DEFINITELY_LOST_BLOCKS REACHABILITY_DEFINITELY_LOST "_blocks"
#define REACHABILITY_INDIRECTLY_LOST_BYTES REACHABILITY_INDIRECTLY_LOST "_bytes"
#define REACHABILITY_INDIRECTLY_LOST_BLOCKS REACHABILITY_INDIRECTLY_LOST "_blocks"
#define REACHABILITY_POSSIBLY_LOST_BYTES REACHABILITY_POSSIBLY_LOST "_bytes"
#define REACHABILITY_POSSIBLY_LOST_BLOCKS REACHABILITY_POSSIBLY_LOST "_blocks"
#define REACHABILITY_STILL_REACHABLE_BYTES REACHABILITY_STILL_REACHABLE "_bytes"
#define REACHABILITY_STILL_REACHABLE_BLOCKS REACHABILITY_STILL_REACHABLE "_blocks"
#define REACHABILITY_CSV_HEADER                                                                    \
    REACHABILITY_SITE_ID                                                                           \
    "," REACHABILITY_DEFINITELY_LOST_BYTES "," REACHABILITY_DEFINITELY_LOST_BLOCKS                 \
    "," REACHABILITY_INDIRECTLY_LOST_BYTES "," REACHABILITY_INDIRECTLY_LOST_BLOCKS                 \
    "," REACHABILITY_POSSIBLY_LOST_BYTES "," REACHABILITY_POSSIBLY_LOST_BLOCKS                     \
    "," REACHABILITY_STILL_REACHABLE_BYTES "," REACHABILITY_STILL_REACHABLE_BLOCKS

/* ---- kernel.csv: allocscope-kevents, one row per interval ---- */
/* Columns named KERNEL_LEVEL_PREFIX... are levels (the latest value); the others are
 * per-interval counts (summed when joined into samples.csv). */
#define KERNEL_LEVEL_PREFIX "kernel_"
#define KERNEL_T_MS "t_ms"
#define KERNEL_RSS_ANON_BYTES "kernel_rss_anon_bytes"
#define KERNEL_RSS_FILE_BYTES "kernel_rss_file_bytes"
#define KERNEL_RSS_SHMEM_BYTES "kernel_rss_shmem_bytes"
#define KERNEL_RSS_SWAP_BYTES "kernel_rss_swap_bytes"
#define KERNEL_RSS_BYTES "kernel_rss_bytes"
#define KERNEL_FAULTS "faults"
#define KERNEL_MMAP_BYTES "mmap_bytes"
#define KERNEL_MUNMAP_BYTES "munmap_bytes"
#define KERNEL_MREMAP_GROW_BYTES "mremap_grow_bytes"
#define KERNEL_MREMAP_SHRINK_BYTES "mremap_shrink_bytes"
#define KERNEL_BRK_GROW_BYTES "brk_grow_bytes"
#define KERNEL_BRK_SHRINK_BYTES "brk_shrink_bytes"
#define KERNEL_MADV_DONTNEED_BYTES "madv_dontneed_bytes"
#define KERNEL_MADV_FREE_BYTES "madv_free_bytes"
#define KERNEL_MADV_OTHER_BYTES "madv_other_bytes"
#define KERNEL_PROCS "kernel_procs"
#define KERNEL_DROPPED "kernel_dropped"
#define KERNEL_PROCFS_RSS_BYTES "kernel_procfs_rss_bytes"
#define KERNEL_CSV_HEADER                                                                          \
    KERNEL_T_MS                                                                                    \
    "," KERNEL_RSS_ANON_BYTES "," KERNEL_RSS_FILE_BYTES "," KERNEL_RSS_SHMEM_BYTES                 \
    "," KERNEL_RSS_SWAP_BYTES "," KERNEL_RSS_BYTES "," KERNEL_FAULTS "," KERNEL_MMAP_BYTES         \
    "," KERNEL_MUNMAP_BYTES "," KERNEL_MREMAP_GROW_BYTES "," KERNEL_MREMAP_SHRINK_BYTES            \
    "," KERNEL_BRK_GROW_BYTES "," KERNEL_BRK_SHRINK_BYTES "," KERNEL_MADV_DONTNEED_BYTES           \
    "," KERNEL_MADV_FREE_BYTES "," KERNEL_MADV_OTHER_BYTES "," KERNEL_PROCS "," KERNEL_DROPPED     \
    "," KERNEL_PROCFS_RSS_BYTES

/* ---- fault_stacks.csv: allocscope-kevents --fault-stacks ---- */
#define FAULT_STACKS_PID "pid"
#define FAULT_STACKS_SAMPLED_FAULTS "sampled_faults"
#define FAULT_STACKS_ESTIMATED_FAULTS "estimated_faults"
#define FAULT_STACKS_FRAMES "frames"
#define FAULT_STACKS_CSV_HEADER                                                                    \
    FAULT_STACKS_PID "," FAULT_STACKS_SAMPLED_FAULTS "," FAULT_STACKS_ESTIMATED_FAULTS             \
                     "," FAULT_STACKS_FRAMES

/* ---- outstanding.csv: allocscope-allocuprobe, sampled blocks live at the end ---- */
#define OUTSTANDING_SITE_ID "site_id"
#define OUTSTANDING_LIVE_BLOCKS "live_blocks"
#define OUTSTANDING_LIVE_BYTES "live_bytes"
#define OUTSTANDING_SAMPLED_BLOCKS "sampled_blocks"
#define OUTSTANDING_MEAN_AGE_MS "mean_age_ms"
#define OUTSTANDING_OLDEST_AGE_MS "oldest_age_ms"
#define OUTSTANDING_CSV_HEADER                                                                     \
    OUTSTANDING_SITE_ID "," OUTSTANDING_LIVE_BLOCKS "," OUTSTANDING_LIVE_BYTES                     \
                        "," OUTSTANDING_SAMPLED_BLOCKS "," OUTSTANDING_MEAN_AGE_MS                 \
                        "," OUTSTANDING_OLDEST_AGE_MS

/* ---- phases.csv: a bench cell's phase boundaries ---- */
#define PHASES_PHASE "phase"
#define PHASES_START_MS "start_ms"
#define PHASES_END_MS "end_ms"
/* drain row only: "yes" when the target went quiet, "no" when the bound ended the drain */
#define PHASES_SETTLED "settled"
#define PHASES_CSV_HEADER PHASES_PHASE "," PHASES_START_MS "," PHASES_END_MS "," PHASES_SETTLED

/* ---- results.csv (and cell.json's keys): one row per finished bench cell ---- */
#define RESULTS_CELL "cell"
#define RESULTS_WORKLOAD "workload"
#define RESULTS_VARIANT "variant"
#define RESULTS_ALLOCATOR "allocator"
#define RESULTS_CONFIG "config"
#define RESULTS_REPEAT "repeat"
#define RESULTS_STATUS "status"
#define RESULTS_IDLE_RSS_BYTES "idle_rss_bytes"
#define RESULTS_PEAK_RSS_BYTES "peak_rss_bytes"
#define RESULTS_AFTER_1S_RSS_BYTES "after_1s_rss_bytes"
#define RESULTS_AFTER_RSS_BYTES "after_rss_bytes"
#define RESULTS_RECLAIMABLE_BYTES "reclaimable_bytes"
#define RESULTS_PEAK_LIVE_BYTES "peak_live_bytes"
#define RESULTS_AFTER_LIVE_BYTES "after_live_bytes"
#define RESULTS_THROUGHPUT_RPS "throughput_rps"
#define RESULTS_P50_MS "p50_ms"
#define RESULTS_P99_MS "p99_ms"
#define RESULTS_CPU_S "cpu_s"
#define RESULTS_DURATION_S "duration_s"
#define RESULTS_ERROR "error"
#define RESULTS_KIND "kind"               /* server (idle, load, cooldown) or batch */
#define RESULTS_LOAD_FORMAT "load_format" /* the format the load's figures were read in */
#define RESULTS_NOTE "note"               /* what a reader should know about an ok cell */
/* X(ID, NAME) for each column in file order: common/results.h makes its enum from it and
 * common/results.c its list of names, so the two cannot disagree. */
#define RESULTS_COLUMNS(X)                                                                         \
    X(COL_CELL, RESULTS_CELL)                                                                      \
    X(COL_WORKLOAD, RESULTS_WORKLOAD)                                                              \
    X(COL_VARIANT, RESULTS_VARIANT)                                                                \
    X(COL_ALLOCATOR, RESULTS_ALLOCATOR)                                                            \
    X(COL_CONFIG, RESULTS_CONFIG)                                                                  \
    X(COL_REPEAT, RESULTS_REPEAT)                                                                  \
    X(COL_STATUS, RESULTS_STATUS)                                                                  \
    X(COL_IDLE_RSS, RESULTS_IDLE_RSS_BYTES)                                                        \
    X(COL_PEAK_RSS, RESULTS_PEAK_RSS_BYTES)                                                        \
    X(COL_AFTER_1S_RSS, RESULTS_AFTER_1S_RSS_BYTES)                                                \
    X(COL_AFTER_RSS, RESULTS_AFTER_RSS_BYTES)                                                      \
    X(COL_RECLAIMABLE, RESULTS_RECLAIMABLE_BYTES)                                                  \
    X(COL_PEAK_LIVE, RESULTS_PEAK_LIVE_BYTES)                                                      \
    X(COL_AFTER_LIVE, RESULTS_AFTER_LIVE_BYTES)                                                    \
    X(COL_RPS, RESULTS_THROUGHPUT_RPS)                                                             \
    X(COL_P50, RESULTS_P50_MS)                                                                     \
    X(COL_P99, RESULTS_P99_MS)                                                                     \
    X(COL_CPU, RESULTS_CPU_S)                                                                      \
    X(COL_DURATION, RESULTS_DURATION_S)                                                            \
    X(COL_ERROR, RESULTS_ERROR)                                                                    \
    X(COL_KIND, RESULTS_KIND)                                                                      \
    X(COL_LOAD_FORMAT, RESULTS_LOAD_FORMAT)                                                        \
    X(COL_NOTE, RESULTS_NOTE)

#endif
