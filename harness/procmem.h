/* Memory of a process, or of a process tree, as /proc/PID/smaps_rollup reports it. Used by
 * `allocscope attach` (one process) and the bench tree sampler (the target and its
 * descendants). */
#ifndef ALLOCSCOPE_PROCMEM_H
#define ALLOCSCOPE_PROCMEM_H

#include <sys/types.h>

struct procmem {
    long long rss, pss, anon, lazyfree; /* bytes: Rss, Pss, Anonymous, LazyFree */
};

/* Reads the rollup of PID into *mem (zeroed first). Returns how many of the four fields it
 * found (0 for a zombie's empty rollup), or -1 when the file cannot be read. */
int procmem_read_rollup(pid_t pid, struct procmem *mem);

/* Sums the rollups of ROOT and every descendant into *total. Processes that vanish while
 * being read are skipped. Returns how many were summed (0 when ROOT is gone). */
int procmem_sum_tree(pid_t root, struct procmem *total);

/* CPU time (user + system, all threads, from /proc/PID/stat) of ROOT and every descendant,
 * in nanoseconds (clock-tick resolution); -1 when ROOT is gone. */
long long procmem_tree_cpu_ns(pid_t root);

#endif
