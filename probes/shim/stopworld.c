/* Stopping the program's other threads while the reachability scan reads their stacks and
 * registers. Each thread gets a real-time signal; its handler records the stack pointer,
 * the general registers and the thread pointer, then waits on a futex until the scan is
 * over. The caller holds every shim lock first (as fork does), so no stopped thread is
 * inside one of our critical sections; nothing here allocates (a stopped thread may hold
 * the allocator's own locks). A thread that blocks the signal is not stopped: its stack
 * pointer comes from /proc/self/task/TID/syscall where the kernel gives it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"

#define STOP_SIGNAL (SIGRTMAX - 3)
#define STOP_WAIT_MS 2000 /* for the last thread to answer, in total */

static struct stopped_thread threads[STOPWORLD_MAX_THREADS];
static unsigned n_threads;
static int world_stopped; /* the futex the stopped threads wait on */
/* The program's own action for the signal, which the handler passes other signals on to.
 * Ours stays installed after a scan: a thread that blocked the signal takes it later, and
 * the default action of a real-time signal would end the program. */
static struct sigaction previous_action;

static long futex(int *word, int op, int value)
{
    return syscall(SYS_futex, word, op, value, NULL, NULL, 0);
}

static struct stopped_thread *slot_of(pid_t tid)
{
    for (unsigned i = 0; i < n_threads; i++)
        if (threads[i].tid == tid)
            return &threads[i];
    return NULL;
}

static void on_stop_signal(int sig, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    struct stopped_thread *t = __atomic_load_n(&world_stopped, __ATOMIC_ACQUIRE) &&
                                       info->si_code == SI_TKILL && info->si_pid == getpid()
                                   ? slot_of((pid_t)syscall(SYS_gettid))
                                   : NULL;
    if (!t) { /* not ours (the program's own use of the signal), or too late */
        if (previous_action.sa_flags & SA_SIGINFO && previous_action.sa_sigaction)
            previous_action.sa_sigaction(sig, info, context);
        else if (previous_action.sa_handler != SIG_IGN && previous_action.sa_handler != SIG_DFL)
            previous_action.sa_handler(sig);
        errno = saved_errno;
        return;
    }
    const ucontext_t *uc = context;
    t->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    for (unsigned i = 0; i < STOPWORLD_REGISTERS; i++)
        t->registers[i] = (uintptr_t)uc->uc_mcontext.gregs[i];
    t->thread_pointer = (uintptr_t)pthread_self();
    __atomic_store_n(&t->state, STOPPED_BY_SIGNAL, __ATOMIC_RELEASE);
    while (__atomic_load_n(&world_stopped, __ATOMIC_ACQUIRE))
        futex(&world_stopped, FUTEX_WAIT_PRIVATE, 1);
    errno = saved_errno;
}

/* The stack pointer of a thread blocked in a system call: the next to last field of
 * /proc/self/task/TID/syscall ("nr args... sp pc"); 0 when the kernel does not say. */
static uintptr_t sp_from_proc(pid_t tid)
{
    char path[64], text[256];
    snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
    if (read_small_file(path, text, sizeof(text)) <= 0)
        return 0;
    char *fields[10];
    unsigned k = 0;
    for (char *save, *f = strtok_r(text, " \n", &save); f && k < 10;
         f = strtok_r(NULL, " \n", &save))
        fields[k++] = f;
    return k == 9 ? (uintptr_t)strtoull(fields[7], NULL, 16) : 0;
}

/* The threads of this process but the caller and SKIP, from /proc/self/task, without
 * allocating (getdents64 into a buffer on the stack). */
static void list_threads(pid_t self, pid_t skip)
{
    n_threads = 0;
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            pid_t tid = (pid_t)atoi(d->d_name);
            if (tid > 0 && tid != self && tid != skip && n_threads < STOPWORLD_MAX_THREADS)
                threads[n_threads++] = (struct stopped_thread){.tid = tid};
            off += d->d_reclen;
        }
    }
    close(fd);
}

static void sleep_1ms(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

unsigned stopworld_stop(pid_t skip, struct stopped_thread **out)
{
    pid_t self = (pid_t)syscall(SYS_gettid), pid = getpid();
    list_threads(self, skip);
    struct sigaction action = {.sa_sigaction = on_stop_signal, .sa_flags = SA_SIGINFO | SA_RESTART},
                     current;
    sigfillset(&action.sa_mask);
    if (sigaction(STOP_SIGNAL, NULL, &current) == 0 && current.sa_sigaction != on_stop_signal)
        previous_action = current;
    sigaction(STOP_SIGNAL, &action, NULL);
    __atomic_store_n(&world_stopped, 1, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < n_threads; i++)
        if (syscall(SYS_tgkill, pid, threads[i].tid, STOP_SIGNAL))
            threads[i].state = STOPPED_GONE; /* it exited meanwhile */
    for (unsigned waited = 0; waited < STOP_WAIT_MS; waited++) {
        unsigned pending = 0;
        for (unsigned i = 0; i < n_threads; i++)
            pending += __atomic_load_n(&threads[i].state, __ATOMIC_ACQUIRE) == STOPPED_NOT_YET;
        if (!pending)
            break;
        sleep_1ms();
    }
    for (unsigned i = 0; i < n_threads; i++) {
        struct stopped_thread *t = &threads[i];
        if (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != STOPPED_NOT_YET)
            continue;
        /* It blocks the signal (or cannot run): scan from where the kernel says it is. */
        t->sp = sp_from_proc(t->tid);
        __atomic_store_n(&t->state, t->sp ? STOPPED_UNANSWERED : STOPPED_GONE, __ATOMIC_RELEASE);
    }
    *out = threads;
    return n_threads;
}

void stopworld_resume(void)
{
    __atomic_store_n(&world_stopped, 0, __ATOMIC_RELEASE);
    futex(&world_stopped, FUTEX_WAKE_PRIVATE, INT32_MAX);
}
