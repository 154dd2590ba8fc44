/* The allocator registry: its INI files (read by common/ini), merging, resolution, the
 * target's environment and the check that a configuration took effect. */
#include "allocators/registry.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ini.h"
#include "common/util.h"

static const char *const allocator_keys = "library, package, description, kind";
static const char *const config_keys = "env, expect.SETTING, description, main";
static const char *const known_kinds[] = {"glibc", "jemalloc", "mimalloc", "tcmalloc", NULL};

/* ---- small helpers ------------------------------------------------------------------ */

/* Arrays grow one element at a time: the registry has tens of entries. */
static void *grow(void *array, size_t count, size_t size)
{
    return xreallocarray(array, count + 1, size);
}

static void replace(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

static bool valid_env_name(const char *s, size_t len)
{
    if (len == 0 || isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

static bool is_known_kind(const char *kind)
{
    for (size_t i = 0; known_kinds[i]; i++)
        if (!strcmp(kind, known_kinds[i]))
            return true;
    return false;
}

/* ---- pairs -------------------------------------------------------------------------- */

static void pairs_clear(struct setting_list *pairs)
{
    for (size_t i = 0; i < pairs->count; i++)
        free(pairs->items[i]);
    free(pairs->items);
    pairs->items = NULL;
    pairs->count = 0;
}

/* Adds NAME=VALUE; false when NAME is already there. */
static bool pairs_add(struct setting_list *pairs, const char *name, size_t len, const char *value)
{
    if (setting_list_find(pairs, name, len) >= 0)
        return false;
    pairs->items = grow(pairs->items, pairs->count, sizeof(char *));
    pairs->items[pairs->count++] = util_format("%.*s=%s", (int)len, name, value);
    return true;
}

/* ---- registry objects --------------------------------------------------------------- */

struct registry *registry_new(void)
{
    return xcalloc(1, sizeof(struct registry));
}

static void free_allocator(struct allocator_info *a)
{
    free(a->name);
    free(a->kind);
    free(a->library);
    free(a->package);
    free(a->description);
    free(a->version);
    free(a);
}

static void free_config(struct allocator_config *c)
{
    free(c->allocator_name);
    free(c->name);
    free(c->full_name);
    free(c->description);
    pairs_clear(&c->env);
    pairs_clear(&c->expect);
    free(c);
}

void registry_free(struct registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n_allocators; i++)
        free_allocator(reg->allocators[i]);
    for (size_t i = 0; i < reg->n_configs; i++)
        free_config(reg->configs[i]);
    for (size_t i = 0; i < reg->n_files; i++)
        free(reg->files[i]);
    free(reg->allocators);
    free(reg->configs);
    free(reg->files);
    free(reg);
}

struct allocator_info *registry_find_allocator(const struct registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->n_allocators; i++)
        if (!strcmp(reg->allocators[i]->name, name))
            return reg->allocators[i];
    return NULL;
}

static struct allocator_config *find_config(const struct registry *reg, const char *allocator,
                                            const char *name)
{
    for (size_t i = 0; i < reg->n_configs; i++)
        if (!strcmp(reg->configs[i]->allocator_name, allocator) &&
            !strcmp(reg->configs[i]->name, name))
            return reg->configs[i];
    return NULL;
}

static struct allocator_info *add_allocator(struct registry *reg, const char *name)
{
    struct allocator_info *a = xcalloc(1, sizeof(*a));
    a->name = xstrdup(name);
    a->kind = xstrdup(is_known_kind(name) ? name : "");
    a->library = xstrdup("");
    a->package = xstrdup("");
    a->description = xstrdup("");
    reg->allocators = grow(reg->allocators, reg->n_allocators, sizeof(a));
    reg->allocators[reg->n_allocators++] = a;
    return a;
}

static struct allocator_config *add_config(struct registry *reg, const char *allocator,
                                           const char *name, const char *file, int line)
{
    struct allocator_config *c = xcalloc(1, sizeof(*c));
    c->allocator_name = xstrdup(allocator);
    c->name = xstrdup(name);
    c->full_name = util_format("%s:%s", allocator, name);
    c->description = xstrdup("");
    c->file = file;
    c->line = line;
    reg->configs = grow(reg->configs, reg->n_configs, sizeof(c));
    reg->configs[reg->n_configs++] = c;
    return c;
}

/* ---- parsing ------------------------------------------------------------------------ */

struct parse {
    struct registry *reg;
    const char *file; /* owned by reg->files */
    int line;         /* of the item being applied */
    int error_line;   /* first error found by us, 0 if none */
    char error[512];
    /* the section being read */
    char section[256];
    struct allocator_info *allocator;
    struct allocator_config *config;
};

static int parse_error(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int parse_error(struct parse *p, const char *fmt, ...)
{
    if (p->error_line)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof(p->error), fmt, ap);
    va_end(ap);
    p->error_line = p->line;
    return 0;
}

/* Splits "allocator NAME" / "config NAME:CONFIG" and finds or creates the entry. */
static void enter_section(struct parse *p, const char *section)
{
    snprintf(p->section, sizeof(p->section), "%s", section);
    p->allocator = NULL;
    p->config = NULL;
    char kind[32], name[200];
    int end = 0;
    if (sscanf(section, "%31s %199s %n", kind, name, &end) != 2 || section[end]) {
        parse_error(p,
                    "malformed section [%s]; expected [allocator NAME] or "
                    "[config NAME:CONFIG]",
                    section);
        return;
    }
    if (!strcmp(kind, "allocator")) {
        char why[400];
        if (util_check_name("allocator", name, why, sizeof(why))) {
            parse_error(p, "%s", why);
            return;
        }
        p->allocator = registry_find_allocator(p->reg, name);
        if (!p->allocator)
            p->allocator = add_allocator(p->reg, name);
        return;
    }
    if (!strcmp(kind, "config")) {
        char *colon = strchr(name, ':'), why[400];
        if (!colon) {
            parse_error(p, "bad configuration name in [%s]; expected [config ALLOCATOR:NAME]",
                        section);
            return;
        }
        *colon = '\0';
        if (util_check_name("allocator", name, why, sizeof(why)) ||
            util_check_name("configuration", colon + 1, why, sizeof(why))) {
            parse_error(p, "bad configuration name: %s", why);
            return;
        }
        p->config = find_config(p->reg, name, colon + 1);
        if (!p->config)
            p->config = add_config(p->reg, name, colon + 1, p->file, p->line);
        return;
    }
    parse_error(p, "unknown section [%s]; expected [allocator NAME] or [config NAME:CONFIG]",
                section);
}

static bool parse_bool(const char *value, bool *out)
{
    if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1"))
        *out = true;
    else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0"))
        *out = false;
    else
        return false;
    return true;
}

static int allocator_key(struct parse *p, const char *key, const char *value)
{
    struct allocator_info *a = p->allocator;
    if (!strcmp(key, "library")) {
        if (*value && *value != '/')
            return parse_error(p, "library '%s' in [%s] is not an absolute path", value,
                               p->section);
        replace(&a->library, value);
    } else if (!strcmp(key, "package")) {
        replace(&a->package, value);
    } else if (!strcmp(key, "description")) {
        replace(&a->description, value);
    } else if (!strcmp(key, "kind")) {
        if (*value && !is_known_kind(value))
            return parse_error(p,
                               "kind '%s' in [%s] is not one the shim detects; use glibc, "
                               "jemalloc, mimalloc, tcmalloc or leave it empty",
                               value, p->section);
        replace(&a->kind, value);
    } else {
        return parse_error(p, "unknown key '%s' in [%s]; expected %s", key, p->section,
                           allocator_keys);
    }
    return 1;
}

static int config_env(struct parse *p, const char *value)
{
    struct allocator_config *c = p->config;
    const char *eq = strchr(value, '=');
    size_t len = eq ? (size_t)(eq - value) : 0;
    if (!eq || !valid_env_name(value, len))
        return parse_error(p, "env '%s' in [%s] is not NAME=VALUE", value, p->section);
    if (len == strlen("LD_PRELOAD") && !strncmp(value, "LD_PRELOAD", len))
        return parse_error(p,
                           "env in [%s] sets LD_PRELOAD; name the library with library= in "
                           "[allocator %s] instead",
                           p->section, c->allocator_name);
    /* A later file's env lines replace the earlier file's, rather than adding to them. */
    if (c->env_file != p->file)
        pairs_clear(&c->env);
    c->env_file = p->file;
    if (!pairs_add(&c->env, value, len, eq + 1))
        return parse_error(p, "variable %.*s is set twice in [%s]", (int)len, value, p->section);
    return 1;
}

static int config_key(struct parse *p, const char *key, const char *value)
{
    struct allocator_config *c = p->config;
    if (!strcmp(key, "env"))
        return config_env(p, value);
    if (!strncmp(key, "expect.", 7) && key[7]) {
        if (c->expect_file != p->file)
            pairs_clear(&c->expect);
        c->expect_file = p->file;
        if (!pairs_add(&c->expect, key + 7, strlen(key + 7), value))
            return parse_error(p, "%s is given twice in [%s]", key, p->section);
    } else if (!strcmp(key, "description")) {
        replace(&c->description, value);
    } else if (!strcmp(key, "main")) {
        if (!parse_bool(value, &c->main))
            return parse_error(p, "main in [%s] is '%s'; use true or false", p->section, value);
    } else {
        return parse_error(p, "unknown key '%s' in [%s]; expected %s", key, p->section,
                           config_keys);
    }
    return 1;
}

static int handle_key(struct parse *p, const char *key, const char *value)
{
    if (p->allocator)
        return allocator_key(p, key, value);
    if (p->config)
        return config_key(p, key, value);
    if (!p->section[0])
        return parse_error(p,
                           "key '%s' outside any section; put it under [allocator NAME] or "
                           "[config NAME:CONFIG]",
                           key);
    return 0; /* the section itself was reported */
}

static const char *remember_file(struct registry *reg, const char *name)
{
    reg->files = grow(reg->files, reg->n_files, sizeof(char *));
    reg->files[reg->n_files] = xstrdup(name);
    return reg->files[reg->n_files++];
}

/* The file's lines in order: each header enters its section, each key applies to it. A
 * problem of ours on a line before a syntax error is the one reported. */
static int merge_ini(struct registry *reg, const char *name, const char *text, size_t len,
                     char *err, size_t err_size)
{
    struct parse p = {.reg = reg, .file = remember_file(reg, name)};
    struct ini_doc doc;
    int syntax = ini_parse(&doc, name, text, len, err, err_size);
    for (size_t i = 0; i < doc.n && !p.error_line; i++) {
        const struct ini_item *item = &doc.items[i];
        p.line = item->line;
        if (!item->key)
            enter_section(&p, item->section);
        else
            handle_key(&p, item->key, item->value);
    }
    ini_free(&doc);
    if (p.error_line)
        snprintf(err, err_size, "%s:%d: %s", name, p.error_line, p.error);
    return p.error_line || syntax ? -1 : 0;
}

int registry_merge_text(struct registry *reg, const char *name, const char *text, char *err,
                        size_t err_size)
{
    return merge_ini(reg, name, text, strlen(text), err, err_size);
}

int registry_finish(struct registry *reg, char *err, size_t err_size)
{
    for (size_t i = 0; i < reg->n_configs; i++) {
        struct allocator_config *c = reg->configs[i];
        c->allocator = registry_find_allocator(reg, c->allocator_name);
        if (!c->allocator) {
            snprintf(err, err_size,
                     "%s:%d: [config %s] names allocator '%s', which no [allocator %s] section "
                     "defines; add one or fix the name",
                     c->file, c->line, c->full_name, c->allocator_name, c->allocator_name);
            return -1;
        }
    }
    /* Every allocator runs as "NAME" = "NAME:default", even with no settings of its own. */
    for (size_t i = 0; i < reg->n_allocators; i++) {
        struct allocator_info *a = reg->allocators[i];
        if (!find_config(reg, a->name, "default")) {
            struct allocator_config *c = add_config(reg, a->name, "default", "(implicit)", 0);
            c->allocator = a;
            replace(&c->description, "the allocator's own defaults");
        }
    }
    return 0;
}

static int merge_file(struct registry *reg, const char *path, char *err, size_t err_size)
{
    size_t len;
    char *text = util_read_file_bounded(path, UTIL_INPUT_MAX, &len);
    if (!text) {
        snprintf(err, err_size, "cannot read allocators file '%s': %s; check the path", path,
                 strerror(errno));
        return -1;
    }
    int rc = merge_ini(reg, path, text, len, err, err_size);
    free(text);
    return rc;
}

struct registry *registry_load_files(const char *const *files, size_t n_files)
{
    struct registry *reg = registry_new();
    char err[768];
    for (size_t i = 0; i < n_files; i++)
        if (merge_file(reg, files[i], err, sizeof(err))) {
            util_error("%s", err);
            registry_free(reg);
            return NULL;
        }
    if (registry_finish(reg, err, sizeof(err))) {
        util_error("%s", err);
        registry_free(reg);
        return NULL;
    }
    return reg;
}

struct registry *registry_load(const char *user_file)
{
    const char *builtin = util_find_data("registry.ini", "allocators/registry.ini");
    if (!builtin) {
        util_error("cannot find registry.ini (looked in %s/../share/allocscope and the source "
                   "tree); reinstall allocscope",
                   util_self_dir());
        return NULL;
    }
    /* util_find_data returns a static buffer, and "bin/../../" is noise in messages. */
    char *builtin_copy = realpath(builtin, NULL);
    if (!builtin_copy)
        builtin_copy = xstrdup(builtin);
    const char *files[2] = {builtin_copy, user_file};
    struct registry *reg = registry_load_files(files, user_file ? 2 : 1);
    free(builtin_copy);
    return reg;
}

/* ---- resolution --------------------------------------------------------------------- */

static void list_names(char *out, size_t size, const struct registry *reg, const char *allocator)
{
    size_t used = 0;
    out[0] = '\0';
    if (!allocator)
        for (size_t i = 0; i < reg->n_allocators && used < size; i++)
            used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "",
                                     reg->allocators[i]->name);
    for (size_t i = 0; allocator && i < reg->n_configs && used < size; i++)
        if (!strcmp(reg->configs[i]->allocator_name, allocator))
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "",
                                     reg->configs[i]->name);
}

struct allocator_config *registry_resolve(const struct registry *reg, const char *spec, char *err,
                                          size_t err_size)
{
    char name[256], known[512];
    snprintf(name, sizeof(name), "%s", spec);
    char *colon = strchr(name, ':');
    const char *config = "default";
    if (colon) {
        *colon = '\0';
        config = colon + 1;
    }
    if (!registry_find_allocator(reg, name)) {
        list_names(known, sizeof(known), reg, NULL);
        snprintf(err, err_size, "unknown allocator '%s'; known: %s (see 'allocscope allocators')",
                 name, known);
        return NULL;
    }
    struct allocator_config *c = find_config(reg, name, config);
    if (!c) {
        list_names(known, sizeof(known), reg, name);
        snprintf(err, err_size,
                 "allocator '%s' has no configuration '%s'; known: %s (see 'allocscope "
                 "allocators')",
                 name, config, known);
    }
    return c;
}

static bool valid_package(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && !strchr(".+-:", *s))
            return false;
    return true;
}

const char *registry_version(struct allocator_info *a)
{
    if (a->version_known)
        return a->version;
    a->version_known = true;
    if (!valid_package(a->package))
        return NULL;
    char *cmd = util_format("dpkg-query -W -f='${Version}\\n' %s 2>/dev/null", a->package);
    FILE *f = cmd ? popen(cmd, "r") : NULL;
    free(cmd);
    if (!f)
        return NULL;
    char line[128] = "";
    /* One line per installed architecture; the first is the one we run. */
    bool got = fgets(line, sizeof(line), f) != NULL;
    int status = pclose(f);
    line[strcspn(line, "\n")] = '\0';
    if (got && status == 0 && line[0])
        a->version = xstrdup(line);
    return a->version;
}

/* ---- choosing configurations -------------------------------------------------------- */

static void add_unique(const struct allocator_config ***configs, size_t *n,
                       const struct allocator_config *cfg)
{
    for (size_t i = 0; i < *n; i++)
        if ((*configs)[i] == cfg)
            return;
    *configs = xreallocarray(*configs, *n + 1, sizeof(**configs));
    (*configs)[(*n)++] = cfg;
}

int registry_select(const struct registry *reg, char *const *names, size_t n_names,
                    const struct allocator_config ***configs, size_t *n, char *err, size_t errlen)
{
    const char *main_only[] = {"main"};
    if (!n_names) {
        names = (char *const *)main_only;
        n_names = 1;
    }
    *configs = NULL;
    *n = 0;
    for (size_t i = 0; i < n_names; i++) {
        if (!strcmp(names[i], "main")) {
            for (size_t c = 0; c < reg->n_configs; c++)
                if (reg->configs[c]->main && allocator_installed(reg->configs[c]->allocator))
                    add_unique(configs, n, reg->configs[c]);
            continue;
        }
        struct allocator_config *cfg = registry_resolve(reg, names[i], err, errlen);
        if (!cfg || !allocator_check_installed(cfg->allocator, err, errlen))
            goto fail;
        add_unique(configs, n, cfg);
    }
    if (*n)
        return 0;
    snprintf(err, errlen, "no allocator configuration to run; name some with -a NAME[:CONFIG]");
fail:
    free(*configs);
    *configs = NULL;
    *n = 0;
    return -1;
}
