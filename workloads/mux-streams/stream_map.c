#include "stream_map.h"

#include <stdlib.h>
#include <string.h>

/* noinline keeps each allocation site its own frame, so a profiler attributes the growth to
 * these names rather than to whatever they would be inlined into. */
__attribute__((noinline)) struct stream_state *stream_state_new(int32_t id, size_t buf_len)
{
    struct stream_state *st = malloc(sizeof(*st) + buf_len);
    if (!st)
        return NULL;
    memset(st, 0, sizeof(*st));
    st->id = id;
    st->buf_len = buf_len;
    /* Touch the whole buffer, as a real receive buffer would be, so it is resident. */
    for (size_t i = 0; i < buf_len; i++)
        st->buf[i] = (unsigned char)('a' + (i + (size_t)id) % 26);
    return st;
}

void stream_state_free(struct stream_state *st)
{
    free(st);
}

static size_t bucket_of(int32_t id, size_t nbuckets)
{
    /* Client stream ids are odd and consecutive: dropping the low bit spreads them evenly. */
    return ((uint32_t)id >> 1) & (nbuckets - 1);
}

__attribute__((noinline)) static int stream_map_grow(struct stream_map *map)
{
    size_t nbuckets = map->nbuckets ? map->nbuckets * 2 : 16;
    struct stream_state **buckets = calloc(nbuckets, sizeof(*buckets));
    if (!buckets)
        return -1;
    for (size_t b = 0; b < map->nbuckets; b++) {
        struct stream_state *st = map->buckets[b];
        while (st) {
            struct stream_state *next = st->next_in_bucket;
            size_t nb = bucket_of(st->id, nbuckets);
            st->next_in_bucket = buckets[nb];
            buckets[nb] = st;
            st = next;
        }
    }
    free(map->buckets);
    map->buckets = buckets;
    map->nbuckets = nbuckets;
    return 0;
}

int stream_map_put(struct stream_map *map, struct stream_state *st)
{
    if (map->count >= map->nbuckets && stream_map_grow(map) != 0)
        return -1;
    size_t b = bucket_of(st->id, map->nbuckets);
    st->next_in_bucket = map->buckets[b];
    map->buckets[b] = st;
    map->count++;
    return 0;
}

struct stream_state *stream_map_remove(struct stream_map *map, int32_t id)
{
    if (!map->nbuckets)
        return NULL;
    struct stream_state **link = &map->buckets[bucket_of(id, map->nbuckets)];
    for (; *link; link = &(*link)->next_in_bucket) {
        struct stream_state *st = *link;
        if (st->id == id) {
            *link = st->next_in_bucket;
            map->count--;
            return st;
        }
    }
    return NULL;
}

void stream_map_clear(struct stream_map *map)
{
    for (size_t b = 0; b < map->nbuckets; b++) {
        struct stream_state *st = map->buckets[b];
        while (st) {
            struct stream_state *next = st->next_in_bucket;
            stream_state_free(st);
            st = next;
        }
    }
    free(map->buckets);
    map->buckets = NULL;
    map->nbuckets = 0;
    map->count = 0;
}
