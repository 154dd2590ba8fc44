/* The allocator registry: which allocators allocscope can run a target under, and named
 * configurations of each (environment settings plus the read-backs proving they took).
 * Built-in entries come from allocators/registry.ini; a user file (--allocators FILE)
 * is merged over them. docs/ALLOCATORS.md describes the format.
 */
#ifndef ALLOCSCOPE_REGISTRY_H
#define ALLOCSCOPE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

struct registry_allocator {
    char *name;    /* "jemalloc" */
    char *kind;    /* what the shim detects: glibc, jemalloc, mimalloc, tcmalloc; "" = any */
    char *library; /* preloaded library; "" for glibc (already in every process) */
    char *package; /* Debian package providing it */
    char *description;
    char *version; /* from dpkg, filled by registry_version(); NULL until asked */
    bool version_known;
};

/* "NAME=VALUE" pairs, names unique within a list. */
struct registry_pairs {
    char **items;
    size_t count;
};

struct registry_config {
    struct registry_allocator *allocator; /* set by registry_finish */
    char *allocator_name;
    char *name;      /* "bg-decay" */
    char *full_name; /* "jemalloc:bg-decay" */
    char *description;
    struct registry_pairs env;    /* variables set in the target */
    struct registry_pairs expect; /* setting name (as in shim.txt after "setting.") = value */
    bool main;                    /* used by the quick comparison (make demo) */
    /* where it was defined, for messages */
    const char *file;
    int line;
    const char *env_file; /* file whose env lines are in use (a later file replaces them) */
    const char *expect_file;
};

struct registry {
    struct registry_allocator **allocators;
    size_t n_allocators;
    struct registry_config **configs; /* in definition order */
    size_t n_configs;
    char **files; /* files loaded, in order */
    size_t n_files;
};

/* Loads the built-in registry (registry.ini found with util_find_data) and, when
 * user_file is not NULL, merges it over. Returns NULL after printing one
 * "allocscope: FILE:LINE: problem; what to do" line. */
struct registry *registry_load(const char *user_file);

/* Loads exactly the given files, in order (tests; builtin may be a fixture). */
struct registry *registry_load_files(const char *const *files, size_t n_files);

/* Parses INI text as if it were file `name` and merges it into reg. Returns 0, or -1
 * with a message in err ("NAME:LINE: problem"). */
int registry_merge_text(struct registry *reg, const char *name, const char *text, char *err,
                        size_t err_size);

/* Final checks after merging (every config names a known allocator, every allocator has
 * a default configuration). Returns 0 or -1 with a message in err. */
int registry_finish(struct registry *reg, char *err, size_t err_size);

struct registry *registry_new(void);
void registry_free(struct registry *reg);

struct registry_allocator *registry_find_allocator(const struct registry *reg, const char *name);

/* Resolves "NAME" (its "default" configuration) or "NAME:CONFIG". Returns NULL with a
 * message in err naming the known choices. */
struct registry_config *registry_resolve(const struct registry *reg, const char *spec, char *err,
                                         size_t err_size);

/* True when the allocator can run here (glibc, or its library file exists). */
bool registry_installed(const struct registry_allocator *a);

/* registry_installed, or false with "allocator 'X' is not installed (missing PATH);
 * install package P or run 'make deps'" in err. */
bool registry_check_installed(const struct registry_allocator *a, char *err, size_t err_size);

/* The Debian package version (dpkg-query), cached; NULL when unknown. */
const char *registry_version(struct registry_allocator *a);

/* The value of NAME in a pair list, or NULL. */
const char *registry_pairs_get(const struct registry_pairs *pairs, const char *name);

/* The environment for a target run under cfg: a copy of base (NULL-terminated) with
 * LD_PRELOAD = "SHIM ALLOCATOR_LIB USER_PRELOAD..." (shim first; shim_path may be NULL;
 * entries already present are not repeated) and the configuration's variables set,
 * replacing variables of the same name. Returns a malloc'd NULL-terminated array, or
 * NULL on allocation failure; free it with registry_free_env. */
char **registry_build_env(const struct registry_config *cfg, const char *shim_path,
                          char *const *base);
void registry_free_env(char **env);

/* Checks a run's shim.txt text against cfg: the allocator the shim detected, each
 * expect.NAME=VALUE against the "setting.NAME=VALUE" line, and any setting_error line.
 * Returns 0 when all agree; otherwise -1 and a malloc'd message (one line per problem,
 * no trailing newline) in *message. */
int registry_check_shim(const struct registry_config *cfg, const char *shim_txt, char **message);

#endif
