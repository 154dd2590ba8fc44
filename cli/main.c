/* allocscope: dispatch to a subcommand. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/util.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "run a command under the recording shim"},
    {"leaks", cmd_leaks, "list allocation sites unfreed at exit or growing; export stacks"},
    {"diff", cmd_diff, "which allocation sites hold more memory in one recording than another"},
    {"allocators", cmd_allocators, "list allocators and their configurations"},
    {"attach", cmd_attach, "record a running process (kernel events; --uprobes: sites)"},
    {"report", cmd_report, "charts, HTML page and Markdown summary from runs or a bench"},
    {"bench", cmd_bench, "run targets x allocator configurations through load phases"},
    {"merge", cmd_merge, "join bench directories of one matrix (bench --cell K runs)"},
    {"diagnose", cmd_diagnose, "verdict on a run or bench: leak, buffering, retention, ..."},
    {"baseline", cmd_baseline, "freeze a bench's results for the CI gate"},
    {"gate", cmd_gate, "compare a bench with a baseline: exit 1 on a regression"},
};

static void usage(FILE *to)
{
    fprintf(to, "usage: allocscope COMMAND [OPTIONS] ...\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(to, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(to, "\n'allocscope COMMAND --help' describes one command.\n");
}

int main(int argc, char **argv)
{
    util_set_program_name(argv[0]);
    /* jansson allocates through the same policy: a json_object() or json_pack() that returns
     * NULL then means bad input (text not in UTF-8), never a lack of memory. */
    json_set_alloc_funcs(xmalloc, free);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("allocscope %s\n", ALLOCSCOPE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "allocscope: unknown command '%s'; run 'allocscope --help' for the list\n",
            argv[1]);
    return 2;
}
