/* Progress of a bench: on a terminal one line rewritten in place ("cell 3/24 api-burst/none
 * glibc:default load 12s ETA 3m10s"), otherwise one plain log line per phase. */
#ifndef ALLOCSCOPE_BENCH_PROGRESS_H
#define ALLOCSCOPE_BENCH_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bench_progress {
    FILE *out;
    bool tty;
    bool quiet;
    size_t total;          /* cells to run in this invocation */
    size_t done;           /* cells run so far */
    double planned_left_s; /* planned seconds of the cells not started yet */
    double planned_done_s; /* planned seconds of the cells finished */
    double actual_done_s;  /* their wall time */
    bool line_open;        /* a \r line is on the terminal */
    /* the current cell */
    size_t k, n;
    const char *label;
    double cell_planned_s;
    uint64_t cell_start_ns, phase_start_ns, last_draw_ns;
    const char *phase;
};

void progress_init(struct bench_progress *p, FILE *out, bool quiet, size_t total, double planned_s);
void progress_cell_start(struct bench_progress *p, size_t k, size_t n, const char *label,
                         double planned_s);
void progress_phase(struct bench_progress *p, const char *phase);
/* Redraws the terminal line at most every 200 ms; no output otherwise. */
void progress_tick(struct bench_progress *p);
void progress_cell_end(struct bench_progress *p, const char *cell, const char *status,
                       const char *error);
/* A message that must not be mixed into the progress line. */
void progress_note(struct bench_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void progress_finish(struct bench_progress *p);

/* "3m10s", "12s", "1h05m" */
void progress_format_duration(char *buf, size_t len, double seconds);

#endif
