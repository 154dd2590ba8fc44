/* Per-connection stream state of the mux-streams server, kept in a per-connection map keyed
 * by HTTP/2 stream id, the way the field case's QUIC proxy kept its streams. */
#ifndef MUX_STREAM_MAP_H
#define MUX_STREAM_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stream_state {
    struct stream_state *next_in_bucket;
    int32_t id;
    bool write_cancelled; /* the write side was reset before close: the only path that frees
                             the state in the leaky variant */
    bool closed;          /* closed by HTTP/2 but still held in the map */
    size_t header_bytes;  /* request header bytes seen so far, for the size limit */
    size_t body_len;      /* request body bytes stored at the start of buf */
    size_t response_len;
    size_t response_sent;
    char path[128];
    size_t buf_len;
    unsigned char buf[]; /* the stream's buffer: request body in, response body out */
};

struct stream_map {
    struct stream_state **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first insert */
    size_t count;
};

/* The allocation the leaky variant accumulates: one per stream, BUF_LEN bytes of buffer. */
struct stream_state *stream_state_new(int32_t id, size_t buf_len);
void stream_state_free(struct stream_state *st);

/* Returns 0, or -1 when memory runs out (the state is then not in the map). */
int stream_map_put(struct stream_map *map, struct stream_state *st);
/* Unlinks and returns the state, NULL when absent. */
struct stream_state *stream_map_remove(struct stream_map *map, int32_t id);
/* Frees every state and the buckets; the map is empty and reusable afterwards. */
void stream_map_clear(struct stream_map *map);

#endif
