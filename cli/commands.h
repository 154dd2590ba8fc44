/* The allocscope subcommands. Each lives in its own file (cmd_NAME.c) and is listed once
 * in the table in main.c. A command returns the process exit status. */
#ifndef ALLOCSCOPE_COMMANDS_H
#define ALLOCSCOPE_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_leaks(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_allocators(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_diagnose(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_gate(int argc, char **argv);

#endif
