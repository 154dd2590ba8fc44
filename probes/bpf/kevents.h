/* Shared between kevents.bpf.c and kevents.c: what the kernel side counts for the traced
 * processes. Counters are cumulative; the user side turns them into per-interval deltas. */
#ifndef ALLOCSCOPE_KEVENTS_H
#define ALLOCSCOPE_KEVENTS_H

/* rss_stat members, in the kernel's order (MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS,
 * MM_SHMEMPAGES). */
enum kevents_rss_member {
    KEVENTS_RSS_FILE,
    KEVENTS_RSS_ANON,
    KEVENTS_RSS_SWAP,
    KEVENTS_RSS_SHMEM,
    KEVENTS_RSS_MEMBERS,
};

enum kevents_counter {
    KEVENTS_FAULTS,
    KEVENTS_MMAP_BYTES,
    KEVENTS_MUNMAP_BYTES,
    KEVENTS_MREMAP_GROW_BYTES,
    KEVENTS_MREMAP_SHRINK_BYTES,
    KEVENTS_BRK_GROW_BYTES,
    KEVENTS_BRK_SHRINK_BYTES,
    KEVENTS_MADV_DONTNEED_BYTES,
    KEVENTS_MADV_FREE_BYTES,
    KEVENTS_MADV_OTHER_BYTES,
    KEVENTS_RSS_EVENTS,
    KEVENTS_DROPPED,
    KEVENTS_COUNTERS,
};

/* Latest absolute rss_stat values of one process (bytes), with a bit per member the kernel
 * has reported: members never reported keep the value read from /proc at attach time. */
struct kevents_rss {
    long long bytes[KEVENTS_RSS_MEMBERS];
    unsigned int seen_mask;
};

/* A syscall between its enter and exit tracepoints, keyed by thread id. */
struct kevents_pending {
    unsigned long long len;
    unsigned long long extra; /* mremap: new length; brk: break before the call */
    int kind;                 /* enum kevents_counter of the enter, or advice for madvise */
    int advice;
};

/* Key of a sampled page-fault stack. */
struct kevents_fault_key {
    unsigned int tgid;
    int stack_id;
};

#define KEVENTS_MAX_PROCS 4096
#define KEVENTS_STACK_DEPTH 32

#endif
