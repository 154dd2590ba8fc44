/* Which code's memory changed between two recordings: per allocation site, bytes and blocks
 * at the peak, at exit, and the growth rate in A and in B, and the change, largest
 * regression first. Sites are matched by their symbolized functions (profile_stack_key), not
 * by addresses, which move from one build to the next; stacks of one run with the same
 * functions (two calls from one function) count as one site. Repeats (bench cells) are
 * pooled per site by the median of each value, a site missing from a repeat counting 0. */
#ifndef ALLOCSCOPE_SITE_DIFF_H
#define ALLOCSCOPE_SITE_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct json_t;

enum diff_value {
    DV_PEAK_BYTES,
    DV_PEAK_BLOCKS,
    DV_EXIT_BYTES,
    DV_EXIT_BLOCKS,
    DV_GROWTH,
    DV_COUNT
};
/* "peak_bytes", "peak_blocks", "exit_bytes", "exit_blocks", "growth_bytes_per_s" */
extern const char *const diff_value_names[DV_COUNT];

struct diff_frame {
    char *function, *file, *object;
    int line;
    bool inlined;
};

struct diff_site {
    char *key;
    struct diff_frame *frames; /* innermost first: those of the first stack seen */
    unsigned nframes;
    double v[DV_COUNT];
};

struct site_set {
    size_t repeats; /* recordings pooled */
    bool sampled;   /* some values are estimates */
    struct diff_site *sites;
    size_t n;
};

/* The sites of the run directories DIRS (one recording, or the repeats of a bench cell).
 * Returns 0, or -1 with a one-line message in err naming the directory. */
int site_set_load(struct site_set *s, char *const *dirs, size_t ndirs, char *err, size_t errlen);
void site_set_free(struct site_set *s);

/* As stored in a baseline: {"repeats", "sampled", "sites": [{"key", "frames": [...], VALUES}]},
 * the MAX sites holding the most (the larger of peak and exit bytes, or 10 s of growth). */
struct json_t *site_set_to_json(const struct site_set *s, size_t max);
/* 0, or -1 with err naming what is missing. */
int site_set_from_json(struct site_set *s, struct json_t *j, char *err, size_t errlen);

struct site_change {
    const struct diff_site *a, *b; /* NULL: not in that recording */
    double a_v[DV_COUNT], b_v[DV_COUNT], change[DV_COUNT];
    double score; /* the larger increase of the peak and exit bytes */
};

struct site_diff {
    struct site_change *rows; /* largest regression first; unchanged sites left out */
    size_t n;
    bool sampled;
};

void site_diff_compute(const struct site_set *a, const struct site_set *b, struct site_diff *d);
void site_diff_free(struct site_diff *d);
/* Rows that got worse: more bytes at the peak or at exit, or faster growth. */
size_t site_diff_regressions(const struct site_diff *d);

/* "fn (file.c:12) <- caller (file.c:40)": at most MAX frames, those inlined from the
 * language's own library left out as format_site_frames does. */
void diff_site_label(const struct diff_site *s, unsigned max, char *out, size_t len);
const struct diff_site *site_change_site(const struct site_change *c); /* b, else a */

/* The first TOP rows, each on four lines (the site, then peak, exit and growth in A and B). */
void site_diff_print(FILE *out, const struct site_diff *d, size_t top, const char *indent);
/* One line per row for the gate: "+64.0 MiB at the peak (0 B -> 64.0 MiB), ...: SITE". */
void site_diff_print_short(FILE *out, const struct site_diff *d, size_t top, const char *indent);
/* A Markdown table of the first TOP regressions (site, at the peak, at exit, growth). */
void site_diff_markdown(FILE *out, const struct site_diff *d, size_t top);
/* [{"key", "frames", "a": {VALUES}, "b": {...}, "change": {...}}], the first TOP (0: all). */
struct json_t *site_diff_json(const struct site_diff *d, size_t top);

/* ---- bench directories ---- */

/* Whether DIR is a bench directory (it has cells/) rather than a run. */
bool bench_dir_is_bench(const char *dir);
/* The cell keys (CELL without its -rREPEAT) of the bench directory DIR, sorted, each once;
 * and for KEY its repeats' directories. Counts returned; arrays and strings malloc'd. */
size_t bench_cell_keys(const char *dir, char ***keys);
size_t bench_cell_repeats(const char *dir, const char *key, char ***dirs);
void bench_strings_free(char **list, size_t n);

#endif
