/* The allocator registry: which allocators allocscope can run a target under, and named
 * configurations of each (environment settings plus the read-backs proving they took).
 * Built-in entries come from allocators/registry.ini; a user file (--allocators FILE)
 * is merged over them. docs/ALLOCATORS.md describes the format.
 */
#ifndef ALLOCSCOPE_REGISTRY_H
#define ALLOCSCOPE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/allocator_config.h"

struct registry {
    struct allocator_info **allocators;
    size_t n_allocators;
    struct allocator_config **configs; /* in definition order */
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

struct allocator_info *registry_find_allocator(const struct registry *reg, const char *name);

/* Resolves "NAME" (its "default" configuration) or "NAME:CONFIG". Returns NULL with a
 * message in err naming the known choices. */
struct allocator_config *registry_resolve(const struct registry *reg, const char *spec, char *err,
                                          size_t err_size);

/* The configurations NAMES ask for, each once, in order: "NAME", "NAME:CONFIG", or "main"
 * (every main configuration whose allocator is installed); no names means "main". A named
 * configuration whose allocator is not installed is an error. Returns 0 with a malloc'd
 * array, or -1 with a message in err. */
int registry_select(const struct registry *reg, char *const *names, size_t n_names,
                    const struct allocator_config ***configs, size_t *n, char *err, size_t errlen);

/* The Debian package version (dpkg-query), cached; NULL when unknown. */
const char *registry_version(struct allocator_info *a);

#endif
