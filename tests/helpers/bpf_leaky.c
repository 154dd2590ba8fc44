/* Test helper for attach --uprobes: a request loop that churns short-lived buffers and,
 * in "leak" mode, keeps one session record per request in remember_session() forever.
 *   bpf_leaky leak|fixed SECONDS
 * Prints "running" once started; exits after SECONDS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct session {
    struct session *next;
    char payload[4000];
};

static struct session *sessions;

__attribute__((noinline)) static void remember_session(int request)
{
    struct session *s = malloc(sizeof(*s));
    if (!s)
        return;
    memset(s->payload, request & 0xff, sizeof(s->payload));
    s->next = sessions;
    sessions = s;
}

__attribute__((noinline)) static void forget_sessions(void)
{
    while (sessions) {
        struct session *next = sessions->next;
        free(sessions);
        sessions = next;
    }
}

__attribute__((noinline)) static void handle_request(int request, int leak)
{
    char *buffers[8];
    for (int i = 0; i < 8; i++) {
        buffers[i] = malloc(100 + (size_t)((request * 7 + i * 131) % 2000));
        __asm__ volatile("" ::"r"(buffers[i]) : "memory");
    }
    remember_session(request);
    if (!leak && request % 16 == 15)
        forget_sessions();
    for (int i = 0; i < 8; i++)
        free(buffers[i]);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "leak") && strcmp(argv[1], "fixed"))) {
        fprintf(stderr, "usage: bpf_leaky leak|fixed SECONDS\n");
        return 2;
    }
    int leak = !strcmp(argv[1], "leak");
    double seconds = atof(argv[2]);
    struct timespec start, now, pause = {.tv_nsec = 1000000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    printf("running\n");
    fflush(stdout);
    for (int request = 0;; request++) {
        handle_request(request, leak);
        if (request % 4 == 3)
            nanosleep(&pause, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 > seconds)
            break;
    }
    forget_sessions();
    return 0;
}
