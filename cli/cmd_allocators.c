/* allocscope allocators: every allocator and configuration in the registry, whether it
 * is installed here, its version and its settings. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "allocators/registry.h"
#include "common/json_text.h"
#include "common/util.h"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: allocscope allocators [--json] [--allocators FILE]\n"
            "       allocscope allocators --env NAME[:CONFIG] [--no-shim] [--allocators FILE]\n"
            "       allocscope allocators --check NAME[:CONFIG] SHIM_TXT [--allocators FILE]\n"
            "\n"
            "Lists every allocator and configuration allocscope can run a target under\n"
            "(installed here or not), with its version and environment settings.\n"
            "  --json             machine-readable output\n"
            "  --allocators FILE  merge FILE over the built-in registry\n"
            "  --env SPEC         print the variables a run under SPEC sets, one NAME=VALUE\n"
            "                     a line (LD_PRELOAD: the shim, then the allocator, then\n"
            "                     yours), e.g. env $(allocscope allocators --env jemalloc) prog\n"
            "  --no-shim          with --env: preload only the allocator\n"
            "  --check SPEC FILE  check a run's shim.txt against SPEC: the allocator detected,\n"
            "                     each setting it must read back, no setting_error; exit 1\n"
            "                     with one line per problem otherwise\n"
            "Exit status 2 when a registry file cannot be read or has an error.\n");
}

static json_t *pairs_json(const struct setting_list *pairs)
{
    json_t *obj = json_object();
    for (size_t i = 0; i < pairs->count; i++) {
        const char *eq = strchr(pairs->items[i], '=');
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - pairs->items[i]), pairs->items[i]);
        json_text_set(obj, name, json_text(eq + 1));
    }
    return obj;
}

static json_t *config_json(const struct allocator_config *c)
{
    return json_pack("{s:o, s:o, s:o, s:b, s:o, s:o}", "name", json_text(c->full_name), "config",
                     json_text(c->name), "description", json_text(c->description), "main", c->main,
                     "env", pairs_json(&c->env), "expect", pairs_json(&c->expect));
}

static int print_json(struct registry *reg)
{
    json_t *allocators = json_array();
    for (size_t i = 0; i < reg->n_allocators; i++) {
        struct allocator_info *a = reg->allocators[i];
        const char *version = registry_version(a);
        json_t *configs = json_array();
        for (size_t j = 0; j < reg->n_configs; j++)
            if (reg->configs[j]->allocator == a)
                json_array_append_new(configs, config_json(reg->configs[j]));
        json_array_append_new(
            allocators,
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "name", json_text(a->name),
                      "kind", json_text(a->kind), "library", json_text(a->library), "package",
                      json_text(a->package), "description", json_text(a->description), "installed",
                      allocator_installed(a), "version", json_text(version), "configs", configs));
    }
    json_t *files = json_array();
    for (size_t i = 0; i < reg->n_files; i++)
        json_array_append_new(files, json_text(reg->files[i]));
    json_t *root = json_pack("{s:o, s:o}", "registry", files, "allocators", allocators);
    int rc = json_text_print(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER, "the registry");
    json_decref(root);
    return rc ? 2 : 0;
}

static void print_config(const struct allocator_config *c)
{
    printf("  %-30s %s%s\n", c->full_name, c->main ? "[main] " : "", c->description);
    if (!c->env.count)
        printf("      (no settings)\n");
    for (size_t i = 0; i < c->env.count; i++)
        printf("      env %s\n", c->env.items[i]);
    for (size_t i = 0; i < c->expect.count; i++)
        printf("      reads back %s\n", c->expect.items[i]);
}

static int print_text(struct registry *reg)
{
    for (size_t i = 0; i < reg->n_allocators; i++) {
        struct allocator_info *a = reg->allocators[i];
        const char *version = registry_version(a);
        printf("%s%s  %s  version %s  %s\n", i ? "\n" : "", a->name,
               allocator_installed(a) ? "installed" : "NOT INSTALLED",
               version ? version : "unknown", a->library[0] ? a->library : "(built into libc)");
        if (!allocator_installed(a) && a->package[0])
            printf("  install package %s or run 'make deps'\n", a->package);
        else if (!allocator_installed(a))
            printf("  install it: %s is missing\n", a->library);
        if (a->description[0])
            printf("  %s\n", a->description);
        for (size_t j = 0; j < reg->n_configs; j++)
            if (reg->configs[j]->allocator == a)
                print_config(reg->configs[j]);
    }
    return 0;
}

static struct allocator_config *resolve_installed(struct registry *reg, const char *spec)
{
    char err[768];
    struct allocator_config *c = registry_resolve(reg, spec, err, sizeof(err));
    if (!c) {
        util_error("%s", err);
        return NULL;
    }
    if (!allocator_check_installed(c->allocator, err, sizeof(err))) {
        util_error("%s", err);
        return NULL;
    }
    return c;
}

/* The variables the run sets or changes, compared with our own environment. */
static int print_env(struct registry *reg, const char *spec, bool with_shim)
{
    extern char **environ;
    struct allocator_config *c = resolve_installed(reg, spec);
    if (!c)
        return 1;
    const char *shim = NULL;
    if (with_shim && !(shim = util_find_lib("liballocscope.so"))) {
        util_error("cannot find liballocscope.so next to %s; run 'make' (or use --no-shim)",
                   util_self_dir());
        return 1;
    }
    char **env = allocator_config_env(c, shim, environ);
    if (!env)
        return 1;
    for (size_t i = 0; env[i]; i++) {
        size_t len = strcspn(env[i], "=");
        const char *mine = NULL;
        for (char **e = environ; *e && !mine; e++)
            if (!strncmp(*e, env[i], len) && (*e)[len] == '=')
                mine = *e;
        if (!mine || strcmp(mine, env[i]))
            printf("%s\n", env[i]);
    }
    allocator_config_free_env(env);
    return 0;
}

static int check_run(struct registry *reg, const char *spec, const char *shim_txt)
{
    char err[768];
    struct allocator_config *c = registry_resolve(reg, spec, err, sizeof(err));
    if (!c) {
        util_error("%s", err);
        return 2;
    }
    char *text = util_read_file_bounded(shim_txt, UTIL_INPUT_MAX, NULL);
    if (!text) {
        util_error("cannot read '%s': %s; give the shim.txt of a run", shim_txt, strerror(errno));
        return 2;
    }
    char *message = NULL;
    int rc = allocator_config_check_shim(c, text, &message);
    free(text);
    if (rc == 0) {
        printf("%s: every expected setting read back, no setting errors\n", c->full_name);
        return 0;
    }
    for (char *line = strtok(message, "\n"); line; line = strtok(NULL, "\n"))
        util_error("%s", line);
    free(message);
    return 1;
}

int cmd_allocators(int argc, char **argv)
{
    bool json = false, with_shim = true;
    const char *user_file = NULL, *env_spec = NULL, *check_spec = NULL, *check_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--env") && i + 1 < argc) {
            env_spec = argv[++i];
        } else if (!strcmp(argv[i], "--no-shim")) {
            with_shim = false;
        } else if (!strcmp(argv[i], "--check") && i + 2 < argc) {
            check_spec = argv[++i];
            check_file = argv[++i];
        } else if (!strcmp(argv[i], "--allocators") && i + 1 < argc) {
            user_file = argv[++i];
        } else if (!strncmp(argv[i], "--allocators=", 13)) {
            user_file = argv[i] + 13;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            util_error("allocators: unexpected argument '%s'; run 'allocscope allocators --help'",
                       argv[i]);
            return 2;
        }
    }
    struct registry *reg = registry_load(user_file);
    if (!reg)
        return 2; /* bad input, as for run and bench */
    int rc;
    if (env_spec)
        rc = print_env(reg, env_spec, with_shim);
    else if (check_spec)
        rc = check_run(reg, check_spec, check_file);
    else
        rc = json ? print_json(reg) : print_text(reg);
    registry_free(reg);
    return rc;
}
