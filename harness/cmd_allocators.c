/* allocscope allocators: every allocator and configuration in the registry, whether it
 * is installed here, its version and its settings. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "registry.h"
#include "util.h"

static void usage(FILE *to)
{
    fprintf(to, "usage: allocscope allocators [--json] [--allocators FILE]\n"
                "\n"
                "Lists every allocator and configuration allocscope can run a target under\n"
                "(installed here or not), with its version and environment settings.\n"
                "  --json             machine-readable output\n"
                "  --allocators FILE  merge FILE over the built-in registry\n");
}

static json_t *pairs_json(const struct registry_pairs *pairs)
{
    json_t *obj = json_object();
    for (size_t i = 0; i < pairs->count; i++) {
        const char *eq = strchr(pairs->items[i], '=');
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - pairs->items[i]), pairs->items[i]);
        json_object_set_new(obj, name, json_string(eq + 1));
    }
    return obj;
}

static json_t *config_json(const struct registry_config *c)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:o, s:o}", "name", c->full_name, "config", c->name,
                     "description", c->description, "main", c->main, "env",
                     pairs_json(&c->env), "expect", pairs_json(&c->expect));
}

static int print_json(struct registry *reg)
{
    json_t *allocators = json_array();
    for (size_t i = 0; i < reg->n_allocators; i++) {
        struct registry_allocator *a = reg->allocators[i];
        const char *version = registry_version(a);
        json_t *configs = json_array();
        for (size_t j = 0; j < reg->n_configs; j++)
            if (reg->configs[j]->allocator == a)
                json_array_append_new(configs, config_json(reg->configs[j]));
        json_array_append_new(
            allocators,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o}", "name", a->name, "kind",
                      a->kind, "library", a->library, "package", a->package, "description",
                      a->description, "installed", registry_installed(a), "version",
                      version ? json_string(version) : json_null(), "configs", configs));
    }
    json_t *files = json_array();
    for (size_t i = 0; i < reg->n_files; i++)
        json_array_append_new(files, json_string(reg->files[i]));
    json_t *root = json_pack("{s:o, s:o}", "registry", files, "allocators", allocators);
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    putchar('\n');
    return rc ? 1 : 0;
}

static void print_config(const struct registry_config *c)
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
        struct registry_allocator *a = reg->allocators[i];
        const char *version = registry_version(a);
        printf("%s%s  %s  version %s  %s\n", i ? "\n" : "", a->name,
               registry_installed(a) ? "installed" : "NOT INSTALLED",
               version ? version : "unknown", a->library[0] ? a->library : "(built into libc)");
        if (!registry_installed(a))
            printf("  install package %s or run 'make deps'\n",
                   a->package[0] ? a->package : "(unknown)");
        printf("  %s\n", a->description);
        for (size_t j = 0; j < reg->n_configs; j++)
            if (reg->configs[j]->allocator == a)
                print_config(reg->configs[j]);
    }
    return 0;
}

int cmd_allocators(int argc, char **argv)
{
    bool json = false;
    const char *user_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
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
        return 1;
    int rc = json ? print_json(reg) : print_text(reg);
    registry_free(reg);
    return rc;
}
