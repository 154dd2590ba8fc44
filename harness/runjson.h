/* run.json: what was run and how it ended (docs/FORMAT.md). */
#ifndef ALLOCSCOPE_RUNJSON_H
#define ALLOCSCOPE_RUNJSON_H

#include <jansson.h>

#include "common/rundata.h"
#include "harness/runner.h"

struct run_summary {
    long long peak_rss_bytes;  /* -1 unknown */
    long long peak_live_bytes; /* -1 unknown */
    long long exit_live_bytes;
    long long exit_live_blocks;
};

/* Builds the run.json object; ALLOCATOR may be NULL (filled from shim.txt when present). */
json_t *runjson_build(const struct target_spec *spec, const struct target_result *result,
                      const char *started_iso, const struct run_summary *summary,
                      json_t *allocator);

/* run.json's "allocator" object from the shim's facts (name, path, version, every
 * setting.* read back) and the CONFIG name. FALLBACK_NAME stands in when the shim named no
 * allocator; with FALLBACK_NAME NULL that case returns NULL. */
json_t *runjson_allocator(const struct run_data *run, const char *fallback_name,
                          const char *config);

/* Writes DIR/run.json atomically. Returns 0 or -1 (message printed). */
int runjson_write(const char *dir, json_t *root);

/* Current UTC time as 2026-11-22T01:45:33Z. */
void runjson_now_iso(char *buf, size_t len);

#endif
