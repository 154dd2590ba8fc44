#include "harness/bench_progress.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

void progress_format_duration(char *buf, size_t len, double seconds)
{
    long s = seconds < 0 ? 0 : (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, len, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    else if (s >= 60)
        snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, len, "%lds", s);
}

void progress_init(struct bench_progress *p, FILE *out, bool quiet, size_t total, double planned_s)
{
    memset(p, 0, sizeof(*p));
    p->out = out;
    p->tty = isatty(fileno(out));
    p->quiet = quiet;
    p->total = total;
    p->planned_left_s = planned_s;
}

static double since_s(uint64_t ns)
{
    return (double)(util_monotonic_ns() - ns) / 1e9;
}

/* Planned time left, scaled by how long finished cells took against their plan. */
static double eta_s(const struct bench_progress *p)
{
    double scale = p->planned_done_s > 0 ? p->actual_done_s / p->planned_done_s : 1.0;
    double current_left = p->cell_planned_s - since_s(p->cell_start_ns);
    if (current_left < 0)
        current_left = 0;
    return (p->planned_left_s + current_left) * scale;
}

static void clear_line(struct bench_progress *p)
{
    if (p->line_open) {
        fputs("\r\033[K", p->out);
        p->line_open = false;
    }
}

static void draw(struct bench_progress *p)
{
    char phase_t[32], eta[32];
    progress_format_duration(phase_t, sizeof(phase_t), since_s(p->phase_start_ns));
    progress_format_duration(eta, sizeof(eta), eta_s(p));
    fprintf(p->out, "\r\033[Kcell %zu/%zu %s %s %s ETA %s", p->k, p->n, p->label, p->phase, phase_t,
            eta);
    fflush(p->out);
    p->line_open = true;
    p->last_draw_ns = util_monotonic_ns();
}

void progress_cell_start(struct bench_progress *p, size_t k, size_t n, const char *label,
                         double planned_s)
{
    p->k = k;
    p->n = n;
    p->label = label;
    p->cell_planned_s = planned_s;
    p->planned_left_s -= planned_s;
    if (p->planned_left_s < 0)
        p->planned_left_s = 0;
    p->cell_start_ns = p->phase_start_ns = util_monotonic_ns();
    p->phase = "start";
}

void progress_phase(struct bench_progress *p, const char *phase)
{
    p->phase = phase;
    p->phase_start_ns = util_monotonic_ns();
    if (p->quiet)
        return;
    if (p->tty) {
        draw(p);
        return;
    }
    char eta[32];
    progress_format_duration(eta, sizeof(eta), eta_s(p));
    fprintf(p->out, "allocscope: cell %zu/%zu %s: %s (ETA %s)\n", p->k, p->n, p->label, phase, eta);
    fflush(p->out);
}

void progress_tick(struct bench_progress *p)
{
    if (!p->quiet && p->tty && util_monotonic_ns() - p->last_draw_ns > 200000000ull)
        draw(p);
}

void progress_cell_end(struct bench_progress *p, const char *cell, const char *status,
                       const char *error)
{
    double took = since_s(p->cell_start_ns);
    p->done++;
    p->planned_done_s += p->cell_planned_s;
    p->actual_done_s += took;
    if (p->quiet && !strcmp(status, "ok"))
        return;
    clear_line(p);
    fprintf(p->out, "allocscope: cell %zu/%zu %s: %s in %.1fs%s%s\n", p->k, p->n, cell, status,
            took, error && *error ? ": " : "", error ? error : "");
    fflush(p->out);
}

void progress_note(struct bench_progress *p, const char *fmt, ...)
{
    clear_line(p);
    va_list ap;
    va_start(ap, fmt);
    fputs("allocscope: ", p->out);
    vfprintf(p->out, fmt, ap);
    fputc('\n', p->out);
    va_end(ap);
    fflush(p->out);
}

void progress_finish(struct bench_progress *p)
{
    clear_line(p);
}
