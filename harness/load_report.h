/* What a bench cell's load command achieved: throughput and latency read from the load
 * tool's own output (the cell's load.log) or the report file it wrote (load.json, the
 * {json} placeholder). The tools people use print these in formats of their own: wrk
 * (--latency), h2load, ab, redis-benchmark (plain, -q and --csv), memtier_benchmark
 * (--json-out-file), k6 (--summary-export, or handleSummary's JSON) and our loadgen's
 * JSON; anything else is read with regular expressions (docs/BENCH.md, "Load figures").
 * Parsing only: nothing here reads a file or starts a process. */
#ifndef ALLOCSCOPE_LOAD_REPORT_H
#define ALLOCSCOPE_LOAD_REPORT_H

#include <stddef.h>

enum load_format {
    LOAD_FORMAT_AUTO, /* recognized from the output */
    LOAD_FORMAT_LOADGEN,
    LOAD_FORMAT_WRK,
    LOAD_FORMAT_H2LOAD,
    LOAD_FORMAT_AB,
    LOAD_FORMAT_REDIS_BENCHMARK,
    LOAD_FORMAT_MEMTIER,
    LOAD_FORMAT_K6,
    LOAD_FORMAT_REGEX, /* throughput_regex (and p50_regex, p99_regex) */
    LOAD_FORMAT_COUNT
};

/* The figures of one load phase; NAN where the tool did not report one. */
struct load_figures {
    enum load_format format; /* the format they were read in */
    double throughput_rps;   /* requests (operations) per second */
    double p50_ms, p99_ms;
    double requests; /* completed requests */
    double errors;   /* failed requests, non-2xx/3xx responses, socket errors */
};

/* Regular expressions (POSIX extended) for a load tool without a format of its own: the
 * first parenthesized group of the last match in load.log is the value (the whole match
 * when there is no group); throughput in requests per second, latencies in milliseconds.
 * NULL: not read. */
struct load_patterns {
    const char *throughput, *p50, *p99;
};

/* "wrk", "redis-benchmark", ...; "auto" for LOAD_FORMAT_AUTO. */
const char *load_format_name(enum load_format format);
/* The format of NAME (as load_format_name gives it, "memtier_benchmark" too). Returns 0,
 * or -1 for a name it does not know. */
int load_format_parse(const char *name, enum load_format *format);
/* The names a user may give, "wrk|h2load|...", for messages and --help. */
const char *load_format_choices(void);

/* Checks that each pattern compiles. Returns 0, or -1 with "throughput_regex '...': why"
 * in err. */
int load_patterns_check(const struct load_patterns *patterns, char *err, size_t errlen);

/* Reads the figures from LOG (the load command's output, may be NULL) and REPORT (the file
 * it wrote as {json}, may be NULL) in FORMAT, or in the first format that recognizes them
 * (LOAD_FORMAT_AUTO). PATTERNS (may be NULL or empty) take precedence for what they name.
 * Returns 0 when a throughput was read; -1 otherwise, with what was looked for in why. */
int load_report_read(enum load_format format, const struct load_patterns *patterns, const char *log,
                     const char *report, struct load_figures *out, char *why, size_t whylen);

#endif
