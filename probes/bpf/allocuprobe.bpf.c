// SPDX-License-Identifier: GPL-2.0
/* uprobes on the allocation functions of one library in the traced processes.
 * Entry probes take the size and, for sampled calls, the user stack; the return probe
 * learns the address. Only sampled blocks are remembered, so a free costs one lookup. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "allocuprobe.h"
#include "common.bpf.h"

const volatile bool sample_all = false;

char LICENSE[] SEC("license") = "GPL";

/* tgid -> 1: the processes whose calls count (uprobes are attached per process; this
 * keeps the calibration probes on the tool itself apart). */
TGID_SET_MAP(tgids, 64);

PENDING_CALLS_MAP(pending, struct allocuprobe_pending);

/* Sampled live blocks: address -> requested size. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 262144);
    __type(key, u64);
    __type(value, u64);
} sampled_blocks SEC(".maps");

USER_STACKS_MAP(stacks, ALLOCUPROBE_STACK_DEPTH);

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, ALLOCUPROBE_INTERVALS);
    __type(key, u32);
    __type(value, u64);
} intervals SEC(".maps");

/* Bytes left before the next sample, per CPU. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, s64);
} countdown SEC(".maps");

PERCPU_COUNTERS_MAP(counters, ALLOCUPROBE_COUNTERS);

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4 << 20);
} events SEC(".maps");

static __always_inline void count(int which)
{
    counter_add(&counters, which, ALLOCUPROBE_COUNTERS, 1);
}

static __always_inline bool traced(u64 pid_tgid)
{
    u32 tgid = pid_tgid >> 32;
    return bpf_map_lookup_elem(&tgids, &tgid) != NULL;
}

/* A Poisson process over allocated bytes: each byte is a sample point with probability
 * 1/M, so a block of s bytes is sampled with probability 1 - exp(-s/M). */
static __always_inline bool sample_now(u64 size)
{
    if (sample_all)
        return true;
    u32 zero = 0;
    s64 *left = bpf_map_lookup_elem(&countdown, &zero);
    if (!left)
        return false;
    *left -= (s64)(size ? size : 1);
    if (*left > 0)
        return false;
    u32 slot = bpf_get_prandom_u32() % ALLOCUPROBE_INTERVALS;
    u64 *next = bpf_map_lookup_elem(&intervals, &slot);
    *left = next ? (s64)*next : 1;
    return true;
}

static __always_inline int on_entry(struct pt_regs *ctx, u64 size, u64 old_ptr, u64 memptr)
{
    u64 id = bpf_get_current_pid_tgid();
    if (!traced(id))
        return 0;
    u32 tid = (u32)id;
    u64 sp = PT_REGS_SP(ctx);
    struct allocuprobe_pending *outer = bpf_map_lookup_elem(&pending, &tid);
    if (outer && outer->entry_sp > sp)
        return 0; /* inside another allocation function: the outer call counts */
    count(ALLOCUPROBE_ALLOC_CALLS);
    struct allocuprobe_pending call = {
        .size = size, .old_ptr = old_ptr, .memptr = memptr, .entry_sp = sp};
    call.sampled = sample_now(size);
    if (call.sampled) {
        /* At entry the return address is on top of the stack; the frame-pointer walk
         * starts one frame further up, at the caller's caller. */
        bpf_probe_read_user(&call.ret_addr, sizeof(call.ret_addr), (void *)sp);
        call.stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
        if (call.stack_id < 0)
            count(ALLOCUPROBE_STACK_ERRORS);
    }
    if (bpf_map_update_elem(&pending, &tid, &call, BPF_ANY))
        count(ALLOCUPROBE_FULL_MAPS);
    return 0;
}

static __always_inline void send(u32 kind, u64 addr, u64 size, struct allocuprobe_pending *call)
{
    struct allocuprobe_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(ALLOCUPROBE_DROPPED_EVENTS);
        return;
    }
    event->addr = addr;
    event->size = size;
    event->ts_ns = bpf_ktime_get_ns();
    event->ret_addr = call ? call->ret_addr : 0;
    event->stack_id = call ? call->stack_id : -1;
    event->tgid = bpf_get_current_pid_tgid() >> 32;
    event->kind = kind;
    event->pad = 0;
    bpf_ringbuf_submit(event, 0);
}

static __always_inline void forget_block(u64 addr)
{
    if (!addr)
        return;
    u64 *size = bpf_map_lookup_elem(&sampled_blocks, &addr);
    if (!size)
        return;
    u64 freed = *size;
    bpf_map_delete_elem(&sampled_blocks, &addr);
    send(ALLOCUPROBE_FREE, addr, freed, NULL);
}

SEC("uprobe")
int BPF_KPROBE(malloc_entry, u64 size)
{
    return on_entry(ctx, size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(calloc_entry, u64 count, u64 size)
{
    return on_entry(ctx, count * size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(realloc_entry, u64 ptr, u64 size)
{
    return on_entry(ctx, size, ptr, 0);
}

SEC("uprobe")
int BPF_KPROBE(memalign_entry, u64 alignment, u64 size)
{
    return on_entry(ctx, size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(posix_memalign_entry, u64 memptr, u64 alignment, u64 size)
{
    return on_entry(ctx, size, 0, memptr);
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_return, u64 ret)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    struct allocuprobe_pending *found = bpf_map_lookup_elem(&pending, &tid);
    if (!found || PT_REGS_SP(ctx) != found->entry_sp + 8)
        return 0; /* a nested call returning, not the one recorded */
    struct allocuprobe_pending call = *found;
    bpf_map_delete_elem(&pending, &tid);
    u64 addr = ret;
    if (call.memptr) {
        addr = 0;
        if (ret == 0)
            bpf_probe_read_user(&addr, sizeof(addr), (void *)call.memptr);
    }
    /* realloc moved the block, or freed it (size 0): the old block is gone. */
    if (call.old_ptr && (addr || call.size == 0))
        forget_block(call.old_ptr);
    if (!call.sampled || !addr)
        return 0;
    count(ALLOCUPROBE_SAMPLED);
    if (bpf_map_update_elem(&sampled_blocks, &addr, &call.size, BPF_ANY)) {
        count(ALLOCUPROBE_FULL_MAPS);
        return 0;
    }
    send(ALLOCUPROBE_ALLOC, addr, call.size, &call);
    return 0;
}

SEC("uprobe")
int BPF_KPROBE(free_entry, u64 ptr)
{
    u64 id = bpf_get_current_pid_tgid();
    if (!ptr || !traced(id))
        return 0;
    u32 tid = (u32)id;
    struct allocuprobe_pending *outer = bpf_map_lookup_elem(&pending, &tid);
    if (outer && outer->entry_sp > PT_REGS_SP(ctx))
        return 0; /* realloc freeing inside: its return handles the old block */
    count(ALLOCUPROBE_FREE_CALLS);
    forget_block(ptr);
    return 0;
}
