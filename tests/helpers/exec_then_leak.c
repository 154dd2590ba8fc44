/* Tries to exec a program that does not exist (the exec fails and the process goes on),
 * then leaks 5000 bytes in 5 blocks at leak_after_failed_exec and exits.
 *   exec_then_leak [PROGRAM ARGS...]   with arguments: exec them after the leak instead */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void *volatile sink;

__attribute__((noinline)) void leak_after_failed_exec(void)
{
    for (int i = 0; i < 5; i++)
        sink = malloc(1000);
}

int main(int argc, char **argv)
{
    char *missing[] = {"/nonexistent/allocscope-test", NULL};
    if (execv(missing[0], missing) == 0)
        return 2;
    leak_after_failed_exec();
    if (argc > 1) {
        execvp(argv[1], argv + 1);
        perror("execvp");
        return 127;
    }
    return 0;
}
