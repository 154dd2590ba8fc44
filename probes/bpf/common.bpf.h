/* Map shapes and helpers both BPF programs (kevents, allocuprobe) use. Include after
 * vmlinux.h and the libbpf headers. */
#ifndef ALLOCSCOPE_COMMON_BPF_H
#define ALLOCSCOPE_COMMON_BPF_H

/* tgid -> 1: the processes whose events count. */
#define TGID_SET_MAP(name, entries)                                                                \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_HASH);                                                           \
        __uint(max_entries, entries);                                                              \
        __type(key, u32);                                                                          \
        __type(value, u8);                                                                         \
    } name SEC(".maps")

/* tid -> what the entry of a call saw, until its return (or exit) takes it. */
#define PENDING_CALLS_MAP(name, value_type)                                                        \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_HASH);                                                           \
        __uint(max_entries, 16384);                                                                \
        __type(key, u32);                                                                          \
        __type(value, value_type);                                                                 \
    } name SEC(".maps")

/* User stacks by id, DEPTH frames each. */
#define USER_STACKS_MAP(name, depth)                                                               \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_STACK_TRACE);                                                    \
        __uint(max_entries, 16384);                                                                \
        __uint(key_size, sizeof(u32));                                                             \
        __uint(value_size, (depth) * sizeof(u64));                                                 \
    } name SEC(".maps")

/* One row of NCOUNTERS u64 counters per CPU: the hot paths add without atomics and the
 * user side sums the CPUs. */
#define PERCPU_COUNTERS_MAP(name, ncounters)                                                       \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                                   \
        __uint(max_entries, 1);                                                                    \
        __type(key, u32);                                                                          \
        __type(value, u64[ncounters]);                                                             \
    } name SEC(".maps")

/* Adds AMOUNT to counter WHICH of a PERCPU_COUNTERS_MAP; out-of-range indices are ignored
 * (the check also satisfies the verifier). */
static __always_inline void counter_add(void *counters, int which, int ncounters, u64 amount)
{
    u32 zero = 0;
    u64 *values = bpf_map_lookup_elem(counters, &zero);
    if (values && which >= 0 && which < ncounters)
        values[which] += amount;
}

#endif
