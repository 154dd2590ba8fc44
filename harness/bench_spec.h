/* allocscope bench: what to run. A bench file (INI), a reference workload's scenario.ini,
 * or command-line options become a bench_spec; the spec and the allocator registry become
 * the matrix of cells (docs/BENCH.md). Parsing only: nothing here starts a process. */
#ifndef ALLOCSCOPE_BENCH_SPEC_H
#define ALLOCSCOPE_BENCH_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "common/allocator_config.h"
#include "harness/load_report.h"

/* Placeholder values for a command template: NAME -> VALUE. */
struct bench_vars {
    char **names, **values;
    size_t count;
};

struct bench_target {
    char *name;         /* the workload column: [target NAME] or the scenario's name */
    char *command;      /* template of the program under test (split into words, no shell) */
    char *load;         /* template run with /bin/sh -c during the load phase; NULL: none */
    char *ready;        /* "port", "port:N", "delay:MS"; NULL: ready at once */
    char *server;       /* template of a helper started first, not measured; NULL: none */
    char *server_ready; /* as ready, for the helper */
    char **variants;    /* at least one; "none" when the target has no variants */
    size_t n_variants;
    struct bench_vars params; /* the scenario's [quick]/[large] keys, or the target's own */
    double load_s;            /* < 0: the bench's */
    double cooldown_s;        /* < 0: the bench's */
    double ready_timeout_s;
    char *origin; /* FILE:LINE where the target was defined, for messages */
    /* How the load's throughput and latency are read (docs/BENCH.md, "Load figures"):
     * load_format = NAME, throughput_regex / p50_regex / p99_regex = ERE (NULL: none). */
    enum load_format load_format;
    char *throughput_regex, *p50_regex, *p99_regex;
    /* batch = true: a program that ends by itself, measured from its start to its exit
     * (no idle, load or cooldown), failed:timeout after timeout_s. */
    bool batch;
    double timeout_s;
};

struct bench_spec {
    char *profile; /* quick, standard */
    unsigned repeats;
    unsigned interval_ms;
    double idle_s, load_s, cooldown_s;
    bool load_s_set, cooldown_s_set; /* set explicitly: they override the scenarios' */
    bool profile_forced;             /* --profile given: a file's profile= is ignored */
    bool allocators_forced;          /* -a given: a file's allocators= is ignored */
    char **allocators;               /* NAME, NAME:CONFIG or "main"; none: "main" */
    size_t n_allocators;
    struct bench_target *targets;
    size_t n_targets;
};

struct bench_cell {
    size_t index; /* 1-based position in the matrix */
    const struct bench_target *target;
    const char *variant;
    const struct allocator_config *config;
    unsigned repeat; /* 1-based */
    double idle_s, load_s, cooldown_s;
    char name[256]; /* WORKLOAD-VARIANT-ALLOCATOR-CONFIG-rREPEAT */
};

/* Fills spec with the profile's defaults ("quick" or "standard"). Returns 0, or -1 with a
 * message in err for an unknown profile. */
int bench_spec_init(struct bench_spec *spec, const char *profile, char *err, size_t errlen);
void bench_spec_free(struct bench_spec *spec);

/* Parses a bench file's text (FILE names it in messages) into spec. Keys of [bench] that
 * the file sets replace the defaults. Reference workloads named with workload= are read
 * from SCENARIO_DIR/NAME/scenario.ini. Returns 0, or -1 with "FILE:LINE: problem; what
 * to do" in err. */
int bench_spec_parse(struct bench_spec *spec, const char *file, const char *text,
                     const char *scenario_dir, char *err, size_t errlen);
/* Reads the bench file PATH (bounded: UTIL_INPUT_MAX) and parses it as above; a file it
 * cannot read is "cannot read bench file PATH: REASON" in err. */
int bench_spec_load(struct bench_spec *spec, const char *path, const char *scenario_dir, char *err,
                    size_t errlen);

/* Adds a target described by a scenario.ini file (PATH) under the spec's profile (its
 * [quick] section for quick, [large] for standard). Returns 0 or -1 with a message. */
int bench_spec_add_scenario(struct bench_spec *spec, const char *path, char *err, size_t errlen);

/* Adds a user command target (allocscope bench --target CMD --load CMD). */
int bench_spec_add_command(struct bench_spec *spec, const char *name, const char *command,
                           const char *load, const char *ready, char *err, size_t errlen);

/* Sets a target's key about its load figures or its end: load_format, throughput_regex,
 * p50_regex, p99_regex, batch, timeout_s (the --load-format ... options name the same).
 * Returns 0; 1 when KEY is none of these; -1 with "bad value ...; what to give" in err. */
int bench_target_set_run_key(struct bench_target *t, const char *key, const char *value, char *err,
                             size_t errlen);

/* Adds "NAME[:CONFIG]" or "main" to the allocator list; a comma or space separated list
 * adds each. */
void bench_spec_add_allocators(struct bench_spec *spec, const char *list);

/* Parses "delay:MS", "port" or "port:N". Returns 0 or -1. */
int bench_parse_ready(const char *ready, bool *is_port, unsigned *value);

/* Builds the matrix: targets x variants x the allocator configurations (resolved from the
 * spec's names by registry_select) x repeats, in that nesting order. Returns 0 with a
 * malloc'd array, or -1 with a message in err. */
int bench_matrix_build(const struct bench_spec *spec, const struct allocator_config *const *configs,
                       size_t n_configs, struct bench_cell **cells, size_t *n_cells, char *err,
                       size_t errlen);

/* Shrinks the cells' phases by one factor (not below idle 0.5 s, load 2 s, cooldown 1.5 s)
 * when the matrix would take longer than BUDGET_S, counting OVERHEAD_S per cell for start,
 * reclaim and teardown. The quick profile's "the whole matrix in 5 minutes". */
void bench_matrix_fit(struct bench_cell *cells, size_t n, double budget_s, double overhead_s);

/* Finds a cell by "K" (1-based) or by its name. Returns NULL when there is none. */
const struct bench_cell *bench_matrix_find(const struct bench_cell *cells, size_t n,
                                           const char *which);

void bench_vars_set(struct bench_vars *vars, const char *name, const char *value);
const char *bench_vars_get(const struct bench_vars *vars, const char *name);
void bench_vars_free(struct bench_vars *vars);

/* Replaces every {NAME} in TEMPLATE by its value. Returns a malloc'd string, or NULL with
 * "unknown placeholder {NAME}" in err. */
char *bench_expand(const char *template_text, const struct bench_vars *vars, char *err,
                   size_t errlen);

/* Splits a command line into words: blanks separate, single and double quotes group,
 * backslash escapes the next character. Returns a NULL-terminated malloc'd array (free
 * with bench_free_words), or NULL with a message in err (unbalanced quote, empty). */
char **bench_split_words(const char *line, char *err, size_t errlen);
void bench_free_words(char **words);

#endif
