/* Shared between allocuprobe.bpf.c and allocuprobe.c: allocation tracking by uprobes on
 * the allocator that serves malloc in a running process. The kernel side samples
 * allocations by bytes, remembers the sampled blocks and sends their allocation and free
 * to user space; user space keeps sites, estimates and ages. */
#ifndef ALLOCSCOPE_ALLOCUPROBE_H
#define ALLOCSCOPE_ALLOCUPROBE_H

enum allocuprobe_kind {
    ALLOCUPROBE_ALLOC,
    ALLOCUPROBE_FREE,
};

struct allocuprobe_event {
    unsigned long long addr;
    unsigned long long size;
    unsigned long long ts_ns;    /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
    unsigned long long ret_addr; /* caller of the allocation function (read at entry) */
    int stack_id;                /* user stack at entry, or negative on failure */
    unsigned int tgid;
    unsigned int kind;
    unsigned int pad;
};

/* An allocation call between its entry and its return, keyed by thread id. The stack
 * pointer at entry tells a nested call (libstdc++'s operator new calling malloc: deeper,
 * ignored) from a stale record (a return never seen: not deeper, replaced), and the
 * return probe of the call itself (sp = entry sp + 8) from that of a nested one. */
struct allocuprobe_pending {
    unsigned long long size;
    unsigned long long old_ptr; /* realloc: the block being resized */
    unsigned long long memptr;  /* posix_memalign: where the result is stored */
    unsigned long long ret_addr;
    unsigned long long entry_sp;
    int stack_id;
    unsigned int sampled;
};

enum allocuprobe_counter {
    ALLOCUPROBE_ALLOC_CALLS,
    ALLOCUPROBE_FREE_CALLS,
    ALLOCUPROBE_SAMPLED,
    ALLOCUPROBE_DROPPED_EVENTS, /* ring buffer full: an event was lost */
    ALLOCUPROBE_FULL_MAPS,      /* a table was full: a sampled block could not be tracked */
    ALLOCUPROBE_STACK_ERRORS,   /* bpf_get_stackid failed (table full or collision) */
    ALLOCUPROBE_COUNTERS,
};

/* Exponential sampling intervals drawn by user space (mean = sample bytes). */
#define ALLOCUPROBE_INTERVALS 4096
#define ALLOCUPROBE_STACK_DEPTH 32

#endif
