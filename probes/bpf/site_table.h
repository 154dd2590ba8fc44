/* User-space bookkeeping of allocuprobe: allocation sites (stack + caller) with estimated
 * cumulative counters, and the sampled blocks still live with their site and birth time. */
#ifndef ALLOCSCOPE_SITE_TABLE_H
#define ALLOCSCOPE_SITE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct site {
    int id;
    int stack_id;
    uint64_t ret_addr;
    double alloc_calls, alloc_bytes, free_calls, free_bytes;
    bool changed;
};

struct live_block {
    uint64_t addr; /* 0: empty slot */
    uint32_t site;
    uint64_t size;
    uint64_t born_ns;
};

struct site_table;

/* sample_bytes: mean sampling interval; 0 when every allocation is recorded. */
struct site_table *site_table_new(uint64_t sample_bytes);
void site_table_free(struct site_table *table);

/* The estimate one sampled block of SIZE bytes stands for (exactly 1 and SIZE in exact
 * mode): size / (1 - exp(-size / M)) bytes. */
void site_table_weight(const struct site_table *table, uint64_t size, double *calls, double *bytes);

/* Records a sampled allocation; *is_new tells whether its site was first seen. Returns the
 * site, or NULL when out of memory. */
struct site *site_table_alloc(struct site_table *table, int stack_id, uint64_t ret_addr,
                              uint64_t addr, uint64_t size, uint64_t born_ns, bool *is_new);

/* Records the free of a sampled block; false when the block is unknown. */
bool site_table_free_block(struct site_table *table, uint64_t addr);

size_t site_table_count(const struct site_table *table);
struct site *site_table_site(struct site_table *table, size_t index);

/* Calls FN for every live sampled block. */
void site_table_each_live(const struct site_table *table,
                          void (*fn)(const struct live_block *block, void *arg), void *arg);
size_t site_table_live_count(const struct site_table *table);

#endif
