/* An allocator configuration: which allocator (glibc, jemalloc, mimalloc, tcmalloc), the
 * environment a target runs with under it, and the settings read back to prove it took
 * effect. What every part of allocscope knows of allocators; the registry that names and
 * loads them (registry.ini, --allocators FILE) is allocators/registry.h.
 */
#ifndef ALLOCSCOPE_ALLOCATOR_CONFIG_H
#define ALLOCSCOPE_ALLOCATOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct allocator_info {
    char *name;    /* "jemalloc" */
    char *kind;    /* what the shim detects: glibc, jemalloc, mimalloc, tcmalloc; "" = any */
    char *library; /* preloaded library; "" for glibc (already in every process) */
    char *package; /* Debian package providing it */
    char *description;
    char *version; /* from dpkg, filled by registry_version(); NULL until asked */
    bool version_known;
};

/* "NAME=VALUE" pairs, names unique within a list. */
struct setting_list {
    char **items;
    size_t count;
};

struct allocator_config {
    struct allocator_info *allocator; /* set by registry_finish */
    char *allocator_name;
    char *name;      /* "bg-decay" */
    char *full_name; /* "jemalloc:bg-decay" */
    char *description;
    struct setting_list env;    /* variables set in the target */
    struct setting_list expect; /* setting name (as in shim.txt after "setting.") = value */
    bool main;                  /* used by the quick comparison (make demo) */
    /* where it was defined, for messages */
    const char *file;
    int line;
    const char *env_file; /* file whose env lines are in use (a later file replaces them) */
    const char *expect_file;
};

/* "NAME=VALUE": the length of NAME; the index of NAME in a list, or -1. */
size_t setting_name_length(const char *pair);
ssize_t setting_list_find(const struct setting_list *list, const char *name, size_t len);

/* True when the allocator can run here (glibc, or its library file exists). */
bool allocator_installed(const struct allocator_info *a);

/* allocator_installed, or false with "allocator 'X' is not installed (missing PATH);
 * install package P or run 'make deps'" in err. */
bool allocator_check_installed(const struct allocator_info *a, char *err, size_t err_size);

/* The value of NAME in a pair list, or NULL. */
const char *setting_list_get(const struct setting_list *pairs, const char *name);

/* The environment for a target run under cfg: a copy of base (NULL-terminated) with
 * LD_PRELOAD = "SHIM ALLOCATOR_LIB USER_PRELOAD..." (shim first; shim_path may be NULL;
 * entries already present are not repeated) and the configuration's variables set,
 * replacing variables of the same name. Returns a malloc'd NULL-terminated array; free it
 * with allocator_config_free_env. */
char **allocator_config_env(const struct allocator_config *cfg, const char *shim_path,
                            char *const *base);

void allocator_config_free_env(char **env);

/* Checks a run's shim.txt text against cfg: the allocator the shim detected, each
 * expect.NAME=VALUE against the "setting.NAME=VALUE" line, and any setting_error line.
 * Returns 0 when all agree; otherwise -1 and a malloc'd message (one line per problem,
 * no trailing newline) in *message. */
int allocator_config_check_shim(const struct allocator_config *cfg, const char *shim_txt,
                                char **message);

#endif
