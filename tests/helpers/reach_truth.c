/* Blocks with known reachability at exit, for comparing allocscope's scan with valgrind's
 * memcheck (--leak-check=full --show-leak-kinds=all):
 *   still reachable: a global list (10 x 48), a global tree (15 x 40), one block of every
 *     allocation entry point, a block in a live thread's TLS, one in the main thread's TLS,
 *     a block whose only pointer sits in a register of a blocked thread;
 *   definitely + indirectly lost: a dropped list (1 + 4 x 48), a dropped tree (1 + 6 x 40),
 *     a cycle of three (1 + 2 x 64), one lost block of every entry point;
 *   possibly lost: a block known only by a pointer into its middle (300, at offset 100),
 *     and a block only that block points to (56).
 * Prints nothing (stdio would allocate buffers of its own) and never frees. Every block is
 * zeroed before use: an allocator leaves its free-list pointers in memory it hands out
 * (mimalloc does), which would make blocks reachable through garbage that valgrind's
 * own allocator does not leave.
 * Globals have external linkage: gcc -O2 drops stores to static variables never read. */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct node {
    struct node *left, *right;
    char pad[24];
};

struct list {
    struct list *next;
    char pad[40];
};

struct list *kept_list;
struct node *kept_tree;
void *kept_entry_points[8];
char *interior_pointer;
volatile int register_thread_ready, tls_thread_ready;
__thread void *main_tls_block;
__thread void *thread_tls_block;

static void *zeroed(void *p, size_t size)
{
    return p ? memset(p, 0, size) : p;
}

static struct list *make_list(int n)
{
    struct list *head = NULL;
    for (int i = 0; i < n; i++) {
        struct list *l = zeroed(malloc(sizeof(*l)), sizeof(*l));
        l->next = head;
        head = l;
    }
    return head;
}

static struct node *make_tree(int depth)
{
    if (depth == 0)
        return NULL;
    struct node *n = zeroed(malloc(sizeof(*n)), sizeof(*n));
    n->left = make_tree(depth - 1);
    n->right = make_tree(depth - 1);
    return n;
}

/* One block from each entry point; KEEP: store it in the global array, else drop it. */
static void every_entry_point(int keep)
{
    void *p[8];
    p[0] = zeroed(malloc(100), 100);
    p[1] = calloc(10, 11);
    p[2] = zeroed(realloc(zeroed(malloc(20), 20), 120), 120);
    p[3] = zeroed(reallocarray(NULL, 13, 10), 130);
    if (posix_memalign(&p[4], 64, 140))
        p[4] = NULL;
    zeroed(p[4], 140);
    p[5] = zeroed(aligned_alloc(128, 256), 256);
    p[6] = zeroed(memalign(32, 160), 160);
    p[7] = zeroed(valloc(170), 170); /* (not pvalloc: valgrind 3.19 aborts the program on it) */
    if (keep)
        memcpy(kept_entry_points, p, sizeof(p));
    __asm__ volatile("" ::"r"(p) : "memory");
    memset(p, 0, sizeof(p));
    __asm__ volatile("" ::"r"(p) : "memory");
}

/* Overwrites the stack below the caller, so that no copy of a dropped pointer lingers
 * where a scan (valgrind's or ours) would read it. */
__attribute__((noinline)) void scrub_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 0, sizeof(junk));
}

/* The only pointer to a 333-byte block lives in r12 while the thread waits in pause(). */
void hold_in_register(void);
__asm__(".text\n"
        ".globl hold_in_register\n"
        "hold_in_register:\n"
        "    push %rbp\n"
        "    mov %rsp, %rbp\n"
        "    push %r12\n"
        "    sub $8, %rsp\n"
        "    mov $333, %edi\n"
        "    call malloc\n"
        "    mov %rax, %r12\n"
        "    xor %eax, %eax\n"
        "    call scrub_stack\n"
        "    movl $1, register_thread_ready(%rip)\n"
        "1:  mov $34, %eax\n" /* SYS_pause */
        "    syscall\n"
        "    jmp 1b\n");

static void *register_thread(void *arg)
{
    (void)arg;
    hold_in_register();
    return NULL;
}

static void *tls_thread(void *arg)
{
    (void)arg;
    thread_tls_block = zeroed(malloc(444), 444);
    scrub_stack();
    tls_thread_ready = 1;
    for (;;)
        pause();
    return NULL;
}

/* Each dropped pointer lives only in the frame of the function that drops it, and build
 * scrubs the stack below itself afterwards: no stale copy is left for a scan to find. */
__attribute__((noinline)) void drop_list(void)
{
    struct list *dropped = make_list(5);
    __asm__ volatile("" ::"r"(dropped) : "memory");
}

__attribute__((noinline)) void drop_tree(void)
{
    struct node *dropped = make_tree(3);
    __asm__ volatile("" ::"r"(dropped) : "memory");
}

__attribute__((noinline)) void drop_cycle(void)
{
    struct list *a = zeroed(malloc(64), 64), *b = zeroed(malloc(64), 64),
                *c = zeroed(malloc(64), 64);
    a->next = b, b->next = c, c->next = a;
    __asm__ volatile("" ::"r"(a) : "memory");
}

__attribute__((noinline)) void keep_interior_pointer(void)
{
    char *middle = zeroed(malloc(300), 300);
    void **behind = (void **)(middle + 200);
    *behind = zeroed(malloc(56), 56);
    interior_pointer = middle + 100;
}

__attribute__((noinline)) static void build(void)
{
    kept_list = make_list(10);
    kept_tree = make_tree(4);
    drop_list();
    drop_tree();
    drop_cycle();
    keep_interior_pointer();
    every_entry_point(1);
    every_entry_point(0);
    main_tls_block = zeroed(malloc(555), 555);
    scrub_stack();
}

int main(void)
{
    build();
    pthread_t t1, t2;
    pthread_create(&t1, NULL, register_thread, NULL);
    pthread_create(&t2, NULL, tls_thread, NULL);
    while (!register_thread_ready || !tls_thread_ready)
        syscall(SYS_sched_yield);
    scrub_stack();
    return 0;
}
