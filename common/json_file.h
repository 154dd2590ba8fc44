/* Reading a JSON file allocscope or another tool wrote (run.json, bench.json, baseline.json,
 * cell.json), whole and bounded: jansson's own json_load_file reads without end, so a wrong
 * path (/dev/zero) would grow until the machine runs out of memory. */
#ifndef ALLOCSCOPE_JSON_FILE_H
#define ALLOCSCOPE_JSON_FILE_H

#include <jansson.h>

/* The file at PATH (at most UTIL_INPUT_MAX bytes) parsed as JSON, or NULL with ERR set as
 * json_load_file sets it: line -1 and "unable to open PATH: REASON" when it cannot be read,
 * line -1 and "PATH is larger than 16 MiB ..." when too large, else the parser's place. */
json_t *json_file_load(const char *path, json_error_t *err);

#endif
