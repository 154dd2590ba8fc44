// SPDX-License-Identifier: GPL-2.0
/* Kernel memory events of the traced processes: rss_stat, user page faults and the
 * address-space syscalls (mmap, munmap, mremap, brk, madvise). Tracepoints only. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "common.bpf.h"
#include "kevents.h"

#define PAGE_BYTES 4096
#define ADVICE_DONTNEED 4
#define ADVICE_FREE 8

const volatile bool follow_children = false;
const volatile unsigned int fault_stack_every = 0; /* 0: no fault stacks */

char LICENSE[] SEC("license") = "GPL";

/* tgid -> 1: the processes traced. The user side seeds it with the target. */
TGID_SET_MAP(traced, KEVENTS_MAX_PROCS);

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, KEVENTS_MAX_PROCS);
    __type(key, u32);
    __type(value, struct kevents_rss);
} rss SEC(".maps");

PERCPU_COUNTERS_MAP(counters, KEVENTS_COUNTERS);

PENDING_CALLS_MAP(pending, struct kevents_pending);

USER_STACKS_MAP(fault_stacks, KEVENTS_STACK_DEPTH);

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, struct kevents_fault_key);
    __type(value, u64);
} fault_stack_counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, u32);
} fault_countdown SEC(".maps");

static __always_inline bool is_traced(u32 tgid)
{
    return bpf_map_lookup_elem(&traced, &tgid) != NULL;
}

static __always_inline u32 current_tgid(void)
{
    return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline void count(int which, u64 amount)
{
    counter_add(&counters, which, KEVENTS_COUNTERS, amount);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
    if (!follow_children)
        return 0;
    u32 parent_tgid = BPF_CORE_READ(parent, tgid);
    u32 child_tgid = BPF_CORE_READ(child, tgid);
    if (parent_tgid == child_tgid || !is_traced(parent_tgid))
        return 0;
    u8 one = 1;
    if (bpf_map_update_elem(&traced, &child_tgid, &one, BPF_ANY))
        count(KEVENTS_DROPPED, 1);
    return 0;
}

/* The mm's owner names the process even when another task (reclaim, a remote fault)
 * changes its counters. tp_btf arguments are trusted pointers: plain loads, no helper
 * calls, on this path that runs for every page fault of every process. */
static __always_inline u32 mm_tgid(struct mm_struct *mm)
{
    struct task_struct *task = bpf_get_current_task_btf();
    if (task->mm == mm)
        return task->tgid;
    struct task_struct *owner = mm->owner;
    return owner ? owner->tgid : 0;
}

static __always_inline s64 rss_pages(struct mm_struct *mm, int member)
{
    /* Constant indices: the verifier rejects a variable offset into a trusted pointer. */
    switch (member) {
    case KEVENTS_RSS_FILE:
        return mm->rss_stat[KEVENTS_RSS_FILE].count;
    case KEVENTS_RSS_ANON:
        return mm->rss_stat[KEVENTS_RSS_ANON].count;
    case KEVENTS_RSS_SWAP:
        return mm->rss_stat[KEVENTS_RSS_SWAP].count;
    default:
        return mm->rss_stat[KEVENTS_RSS_SHMEM].count;
    }
}

SEC("tp_btf/rss_stat")
int BPF_PROG(on_rss_stat, struct mm_struct *mm, int member)
{
    if (member < 0 || member >= KEVENTS_RSS_MEMBERS)
        return 0;
    u32 tgid = mm_tgid(mm);
    if (!is_traced(tgid))
        return 0;
    s64 pages = rss_pages(mm, member);
    if (pages < 0)
        pages = 0;
    struct kevents_rss *state = bpf_map_lookup_elem(&rss, &tgid);
    if (!state) {
        struct kevents_rss fresh = {};
        bpf_map_update_elem(&rss, &tgid, &fresh, BPF_NOEXIST);
        state = bpf_map_lookup_elem(&rss, &tgid);
        if (!state) {
            count(KEVENTS_DROPPED, 1);
            return 0;
        }
    }
    state->bytes[member & 3] = pages * PAGE_BYTES;
    state->seen_mask |= 1u << member;
    return 0;
}

static __always_inline bool fault_stack_due(void)
{
    u32 zero = 0;
    u32 *left = bpf_map_lookup_elem(&fault_countdown, &zero);
    if (!left)
        return false;
    if (*left > 1) {
        (*left)--;
        return false;
    }
    *left = fault_stack_every;
    return true;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(on_page_fault_user, unsigned long address, struct pt_regs *regs,
             unsigned long error_code)
{
    u32 tgid = current_tgid();
    if (!is_traced(tgid))
        return 0;
    count(KEVENTS_FAULTS, 1);
    if (!fault_stack_every || !fault_stack_due())
        return 0;
    struct kevents_fault_key key = {.tgid = tgid};
    key.stack_id = bpf_get_stackid(ctx, &fault_stacks, BPF_F_USER_STACK);
    if (key.stack_id < 0) {
        count(KEVENTS_DROPPED, 1);
        return 0;
    }
    u64 *hits = bpf_map_lookup_elem(&fault_stack_counts, &key);
    if (hits) {
        __sync_fetch_and_add(hits, 1);
    } else {
        u64 one = 1;
        if (bpf_map_update_elem(&fault_stack_counts, &key, &one, BPF_NOEXIST))
            count(KEVENTS_DROPPED, 1);
    }
    return 0;
}

static __always_inline int remember(int kind, u64 len, u64 extra, int advice)
{
    u64 id = bpf_get_current_pid_tgid();
    if (!is_traced(id >> 32))
        return 0;
    u32 tid = (u32)id;
    struct kevents_pending call = {.len = len, .extra = extra, .kind = kind, .advice = advice};
    if (bpf_map_update_elem(&pending, &tid, &call, BPF_ANY))
        count(KEVENTS_DROPPED, 1);
    return 0;
}

/* Returns the call started on this thread, removed from the table, or false. */
static __always_inline bool take_pending(struct kevents_pending *call)
{
    u64 id = bpf_get_current_pid_tgid();
    if (!is_traced(id >> 32))
        return false;
    u32 tid = (u32)id;
    struct kevents_pending *found = bpf_map_lookup_elem(&pending, &tid);
    if (!found)
        return false;
    *call = *found;
    bpf_map_delete_elem(&pending, &tid);
    return true;
}

static __always_inline bool failed(long ret)
{
    return ret < 0 && ret >= -4095;
}

SEC("tp/syscalls/sys_enter_mmap")
int on_mmap_enter(struct trace_event_raw_sys_enter *ctx)
{
    return remember(KEVENTS_MMAP_BYTES, ctx->args[1], 0, 0);
}

SEC("tp/syscalls/sys_enter_munmap")
int on_munmap_enter(struct trace_event_raw_sys_enter *ctx)
{
    return remember(KEVENTS_MUNMAP_BYTES, ctx->args[1], 0, 0);
}

SEC("tp/syscalls/sys_enter_mremap")
int on_mremap_enter(struct trace_event_raw_sys_enter *ctx)
{
    return remember(KEVENTS_MREMAP_GROW_BYTES, ctx->args[1], ctx->args[2], 0);
}

SEC("tp/syscalls/sys_enter_brk")
int on_brk_enter(struct trace_event_raw_sys_enter *ctx)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
    u64 before = BPF_CORE_READ(task, mm, brk);
    return remember(KEVENTS_BRK_GROW_BYTES, 0, before, 0);
}

SEC("tp/syscalls/sys_enter_madvise")
int on_madvise_enter(struct trace_event_raw_sys_enter *ctx)
{
    return remember(KEVENTS_MADV_OTHER_BYTES, ctx->args[1], 0, (int)ctx->args[2]);
}

static __always_inline u64 page_round(u64 len)
{
    return (len + PAGE_BYTES - 1) & ~(u64)(PAGE_BYTES - 1);
}

static __always_inline int finish_call(long ret)
{
    struct kevents_pending call;
    if (!take_pending(&call))
        return 0;
    switch (call.kind) {
    case KEVENTS_MMAP_BYTES:
    case KEVENTS_MUNMAP_BYTES:
        if (!failed(ret))
            count(call.kind, page_round(call.len));
        break;
    case KEVENTS_MREMAP_GROW_BYTES:
        if (failed(ret))
            break;
        if (call.extra > call.len)
            count(KEVENTS_MREMAP_GROW_BYTES, page_round(call.extra - call.len));
        else
            count(KEVENTS_MREMAP_SHRINK_BYTES, page_round(call.len - call.extra));
        break;
    case KEVENTS_BRK_GROW_BYTES:
        /* brk returns the new break (the old one when it refused). */
        if ((u64)ret > call.extra)
            count(KEVENTS_BRK_GROW_BYTES, (u64)ret - call.extra);
        else
            count(KEVENTS_BRK_SHRINK_BYTES, call.extra - (u64)ret);
        break;
    case KEVENTS_MADV_OTHER_BYTES:
        if (ret != 0)
            break;
        if (call.advice == ADVICE_DONTNEED)
            count(KEVENTS_MADV_DONTNEED_BYTES, page_round(call.len));
        else if (call.advice == ADVICE_FREE)
            count(KEVENTS_MADV_FREE_BYTES, page_round(call.len));
        else
            count(KEVENTS_MADV_OTHER_BYTES, page_round(call.len));
        break;
    }
    return 0;
}

/* The exits only hand the result to finish_call, which knows the call from its entry. */
#define SYSCALL_EXIT(name)                                                                         \
    SEC("tp/syscalls/sys_exit_" #name)                                                             \
    int on_##name##_exit(struct trace_event_raw_sys_exit *ctx)                                     \
    {                                                                                              \
        return finish_call(ctx->ret);                                                              \
    }

SYSCALL_EXIT(mmap)
SYSCALL_EXIT(munmap)
SYSCALL_EXIT(mremap)
SYSCALL_EXIT(brk)
SYSCALL_EXIT(madvise)
