/* The outside view of a bench cell: the target's whole process tree sampled from /proc
 * (smaps_rollup of the target and every descendant), written as tree.csv and joined into
 * the shim's samples.csv (docs/FORMAT.md, "A bench directory"). */
#ifndef ALLOCSCOPE_BENCH_TREE_H
#define ALLOCSCOPE_BENCH_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tree_row {
    uint64_t t_ms;
    long long rss, pss, anon, lazyfree; /* bytes, summed over the tree */
    int processes;
};

struct tree_log {
    struct tree_row *rows;
    size_t n, cap;
};

/* Sums smaps_rollup over ROOT and its descendants into *row (t_ms left to the caller).
 * Processes that vanish while being read are skipped. Returns the process count (0 when
 * ROOT is gone). */
int tree_sample(pid_t root, struct tree_row *row);

void tree_log_add(struct tree_log *log, const struct tree_row *row);
void tree_log_free(struct tree_log *log);

/* The latest row at or before T_MS, or NULL. */
const struct tree_row *tree_log_at(const struct tree_log *log, uint64_t t_ms);

/* Writes PATH (temp + rename). Returns 0 or -1 with errno. */
int tree_log_write(const struct tree_log *log, const char *path);

/* Appends the tree columns to every row of SAMPLES_PATH (the latest tree row at or before
 * the row's t_ms; empty before the first), rewriting it atomically. When the file does not
 * exist (the shim recorded nothing), writes one from the tree rows alone. Returns 0, or -1
 * with a message in err. */
int tree_join_samples(const struct tree_log *log, const char *samples_path, char *err,
                      size_t errlen);

#endif
