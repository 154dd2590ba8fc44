/* An allocator configuration as the rest of allocscope uses it: the environment a target
 * runs with, and the check that the configuration took effect. allocators/registry.c
 * builds these from registry.ini and the user's files. */
#include "common/allocator_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

/* ---- setting lists ------------------------------------------------------------------ */

size_t setting_name_length(const char *pair)
{
    const char *eq = strchr(pair, '=');
    return eq ? (size_t)(eq - pair) : strlen(pair);
}

ssize_t setting_list_find(const struct setting_list *pairs, const char *name, size_t len)
{
    for (size_t i = 0; i < pairs->count; i++)
        if (setting_name_length(pairs->items[i]) == len && !strncmp(pairs->items[i], name, len))
            return (ssize_t)i;
    return -1;
}

const char *setting_list_get(const struct setting_list *pairs, const char *name)
{
    ssize_t i = setting_list_find(pairs, name, strlen(name));
    return i < 0 ? NULL : pairs->items[i] + strlen(name) + 1;
}

/* ---- installed? ------------------------------------------------------------------- */

bool allocator_installed(const struct allocator_info *a)
{
    return !a->library[0] || access(a->library, R_OK) == 0;
}

bool allocator_check_installed(const struct allocator_info *a, char *err, size_t err_size)
{
    if (allocator_installed(a))
        return true;
    if (a->package[0])
        snprintf(err, err_size,
                 "allocator '%s' is not installed (missing %s); install package %s or run "
                 "'make deps'",
                 a->name, a->library, a->package);
    else
        snprintf(err, err_size, "allocator '%s' is not installed (missing %s); install it", a->name,
                 a->library);
    return false;
}

/* ---- the target's environment ------------------------------------------------------- */

static bool list_has(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s))
            return true;
    return false;
}

/* "SHIM LIB USER..." with duplicates dropped; NULL when nothing is preloaded. */
static char *compose_preload(const char *shim, const char *library, const char *user)
{
    char *copy = xstrdup(user);
    size_t n = 0, cap = 2;
    char **parts = xcalloc(cap, sizeof(char *));
    if (shim && *shim)
        parts[n++] = (char *)shim;
    if (library && *library && !list_has(parts, n, library))
        parts[n++] = (char *)library;
    char *save = NULL;
    for (char *t = strtok_r(copy, " :", &save); t; t = strtok_r(NULL, " :", &save)) {
        if (list_has(parts, n, t))
            continue;
        if (n == cap)
            parts = xreallocarray(parts, ++cap, sizeof(char *));
        parts[n++] = t;
    }
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(parts[i]) + 1;
    char *out = NULL;
    if (n) {
        out = xcalloc(1, len);
        for (size_t i = 0; i < n; i++) {
            if (i)
                strcat(out, " ");
            strcat(out, parts[i]);
        }
    }
    free(parts);
    free(copy);
    return out;
}

char **allocator_config_env(const struct allocator_config *cfg, const char *shim_path,
                            char *const *base)
{
    size_t n_base = 0;
    while (base && base[n_base])
        n_base++;
    char **env = xcalloc(n_base + cfg->env.count + 2, sizeof(char *));
    size_t n = 0;
    const char *user_preload = "";
    for (size_t i = 0; i < n_base; i++) {
        size_t len = setting_name_length(base[i]);
        if (len == 10 && !strncmp(base[i], "LD_PRELOAD", 10)) {
            user_preload = base[i] + 11;
            continue;
        }
        if (setting_list_find(&cfg->env, base[i], len) < 0)
            env[n++] = xstrdup(base[i]);
    }
    for (size_t i = 0; i < cfg->env.count; i++)
        env[n++] = xstrdup(cfg->env.items[i]);
    const char *library = cfg->allocator ? cfg->allocator->library : "";
    char *preload = compose_preload(shim_path, library, user_preload);
    if (preload) {
        env[n++] = util_format("LD_PRELOAD=%s", preload);
        free(preload);
    }
    env[n] = NULL;
    return env;
}

void allocator_config_free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* ---- checking a run ----------------------------------------------------------------- */

struct problems {
    char *text;
    size_t count;
};

static void add_problem(struct problems *pr, const char *config, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_problem(struct problems *pr, const char *config, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    char *joined =
        util_format("%s%s%s: %s", pr->text ? pr->text : "", pr->text ? "\n" : "", config, line);
    free(pr->text);
    pr->text = joined;
    pr->count++;
}

/* The value of the last "KEY=..." line of shim.txt, copied into out; false if absent. */
static bool shim_value(const char *text, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    bool found = false;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > klen && line[klen] == '=' && !strncmp(line, key, klen)) {
            snprintf(out, size, "%.*s", (int)(len - klen - 1), line + klen + 1);
            found = true;
        }
        line = end ? end + 1 : NULL;
    }
    return found;
}

static void check_setting_errors(struct problems *pr, const char *config, const char *text)
{
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (!strncmp(line, "setting_error=", 14) && len > 14)
            add_problem(pr, config, "%.*s", (int)(len - 14), line + 14);
        line = end ? end + 1 : NULL;
    }
}

int allocator_config_check_shim(const struct allocator_config *cfg, const char *shim_txt,
                                char **message)
{
    struct problems pr = {0};
    char value[512];
    const char *kind = cfg->allocator ? cfg->allocator->kind : "";
    if (!shim_value(shim_txt, "allocator", value, sizeof(value)))
        add_problem(&pr, cfg->full_name,
                    "shim.txt names no allocator: the shim did not start "
                    "in the target");
    else if (*kind && strcmp(value, kind))
        add_problem(&pr, cfg->full_name,
                    "the target ran under allocator '%s', not %s (was the library preloaded? "
                    "does the program link its own allocator?)",
                    value, kind);
    for (size_t i = 0; i < cfg->expect.count; i++) {
        const char *pair = cfg->expect.items[i];
        size_t len = setting_name_length(pair);
        char key[300];
        snprintf(key, sizeof(key), "setting.%.*s", (int)len, pair);
        const char *wanted = pair + len + 1;
        if (!shim_value(shim_txt, key, value, sizeof(value)))
            add_problem(&pr, cfg->full_name, "setting %s was not read back (expected %s)", key + 8,
                        wanted);
        else if (strcmp(value, wanted))
            add_problem(&pr, cfg->full_name,
                        "setting %s is %s, expected %s: the configuration did not take effect",
                        key + 8, value, wanted);
    }
    check_setting_errors(&pr, cfg->full_name, shim_txt);
    *message = pr.text;
    return pr.count ? -1 : 0;
}
