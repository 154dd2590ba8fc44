/* The baseline file: a bench's per-cell medians, spreads and values, its verdicts, and the
 * tolerances to judge a later bench by. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reports/gate.h"
#include "common/atomic_file.h"
#include "common/json_file.h"
#include "common/json_text.h"
#include "common/util.h"

/* Messages and paths are cut to their buffers on purpose: a long path only shortens a line. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define BASELINE_FORMAT "allocscope-baseline"
#define BASELINE_VERSION 1

static json_t *stats_json(const struct gate_stats *s)
{
    json_t *values = json_array();
    for (size_t i = 0; i < s->n; i++)
        json_array_append_new(values, json_real(s->values[i]));
    return json_pack("{s:f, s:f, s:o}", "median", s->median, "spread", s->spread, "values", values);
}

static json_t *cell_json(const struct gate_bench *b, const struct gate_cell *c)
{
    json_t *m = json_object();
    for (int i = 0; i < GATE_NMETRICS; i++)
        if (c->metric[i].n)
            json_object_set_new(m, gate_metric_name(i), stats_json(&c->metric[i]));
    json_t *cell =
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:s?, s:s?, s:o}", "key", json_text(c->key),
                  "workload", json_text(c->workload), "variant", json_text(c->variant), "allocator",
                  json_text(c->allocator), "config", json_text(c->config), "repeats",
                  (json_int_t)c->repeats, "failed", (json_int_t)c->failed, "verdict",
                  c->verdict >= 0 ? diagnosis_verdict_name(c->verdict) : NULL, "verdicts",
                  c->verdicts, "metrics", m);
    json_t *sites = b->sites ? json_object_get(b->sites, c->key) : NULL;
    if (cell && sites)
        json_object_set(cell, "sites", sites);
    return cell;
}

static json_t *tolerances_json(const struct gate_options *o)
{
    json_t *t = json_object();
    for (int i = 0; i < GATE_NMETRICS; i++)
        json_object_set_new(t, gate_metric_name(i),
                            json_pack("{s:f, s:f}", "rel", o->tol[i].rel, "abs", o->tol[i].abs));
    return t;
}

int gate_baseline_write(const struct gate_bench *b, const struct gate_options *o, const char *path,
                        char *err, size_t errlen)
{
    for (size_t i = 0; i < b->ncells; i++) {
        if (b->cells[i].failed == b->cells[i].repeats) {
            snprintf(err, errlen,
                     "cell %s has no successful repeat (%s); a baseline needs "
                     "every cell to have run: fix or rerun the bench",
                     b->cells[i].key, b->cells[i].failure);
            return -1;
        }
    }
    char created[32];
    time_t now = time(NULL);
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_t *cells = json_array();
    for (size_t i = 0; i < b->ncells; i++) {
        json_t *cell = cell_json(b, &b->cells[i]);
        if (!cell) { /* a value refused (a number that is not finite): not a baseline to keep */
            snprintf(err, errlen, "cannot encode %s as JSON: cell %s could not be built", path,
                     b->cells[i].key);
            json_decref(cells);
            return -1;
        }
        json_array_append_new(cells, cell);
    }
    json_error_t jerr;
    json_t *root =
        json_pack_ex(&jerr, 0, "{s:s, s:i, s:s, s:o, s:f, s:o, s:o}", "format", BASELINE_FORMAT,
                     "version", BASELINE_VERSION, "created", created, "bench", json_text(b->source),
                     "noise_k", o->noise_k, "tolerances", tolerances_json(o), "cells", cells);
    if (!root) { /* not memory (xmalloc): a value refused, such as a noise_k that is not finite */
        snprintf(err, errlen, "cannot encode %s as JSON: %s", path, jerr.text);
        return -1;
    }
    char *text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!text) {
        snprintf(err, errlen, "cannot encode %s as JSON: the encoder refused it", path);
        return -1;
    }
    size_t len = strlen(text);
    text = xrealloc(text, len + 2);
    text[len++] = '\n';
    int rc = atomic_file_write(path, text, len);
    if (rc)
        atomic_file_error(err, errlen, path, errno);
    free(text);
    if (rc) {
        return -1;
    }
    return 0;
}

/* ---- loading ------------------------------------------------------------------------- */

static int bad(char *err, size_t errlen, const char *path, const char *what)
{
    snprintf(err, errlen,
             "%s is not a valid baseline: %s; refreeze it with 'allocscope "
             "baseline BENCH_DIR -o %s'",
             path, what, path);
    return -1;
}

/* The values of metric M: numbers it can have (gate_metric_value_ok), at least one. */
static int load_stats(struct gate_stats *s, enum gate_metric m, json_t *o)
{
    json_t *values = json_object_get(o, "values");
    if (!json_is_array(values) || !json_array_size(values))
        return -1;
    s->n = json_array_size(values);
    s->values = xcalloc(s->n, sizeof(double));
    for (size_t i = 0; i < s->n; i++) {
        json_t *v = json_array_get(values, i);
        if (!json_is_number(v) || !gate_metric_value_ok(m, json_number_value(v)))
            return -1;
        s->values[i] = json_number_value(v);
    }
    gate_stats_compute(s);
    return 0;
}

/* An optional count: absent is 0; present, a whole number from 0 on. */
static int load_count(json_t *o, const char *key, size_t *out)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (size_t)json_integer_value(v);
    return 0;
}

static char *string_member(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? xstrdup(s) : NULL;
}

static int load_cell(struct gate_cell *c, json_t *o, char *what, size_t whatlen)
{
    memset(c, 0, sizeof(*c));
    c->verdict = -1;
    c->key = string_member(o, "key");
    c->workload = string_member(o, "workload");
    c->variant = string_member(o, "variant");
    c->allocator = string_member(o, "allocator");
    c->config = string_member(o, "config");
    c->verdicts = string_member(o, "verdicts");
    json_t *metrics = json_object_get(o, "metrics");
    if (!c->key || !c->workload || !c->variant || !c->allocator || !c->config ||
        !json_is_object(metrics)) {
        snprintf(what, whatlen,
                 "a cell lacks key, workload, variant, allocator, config or "
                 "metrics");
        return -1;
    }
    char key[96], shown[96];
    util_printable(key, sizeof(key), c->key);
    if (load_count(o, "repeats", &c->repeats) || load_count(o, "failed", &c->failed) ||
        c->failed > c->repeats) {
        snprintf(what, whatlen,
                 "cell %s: repeats and failed must be whole numbers, failed at most repeats", key);
        return -1;
    }
    const char *verdict = json_string_value(json_object_get(o, "verdict"));
    c->verdict = verdict ? diagnosis_verdict_parse(verdict) : -1;
    const char *name;
    json_t *value;
    json_object_foreach(metrics, name, value)
    {
        int m = gate_metric_parse(name);
        if (m < 0 || load_stats(&c->metric[m], m, value)) {
            snprintf(what, whatlen,
                     "cell %s: metric '%s' is unknown, has no values or a value no bench "
                     "measures (not a finite number, or negative)",
                     key, util_printable(shown, sizeof(shown), name));
            return -1;
        }
    }
    /* A cell whose repeats ran was measured: with no metric at all, nothing could be judged. */
    if (c->repeats > c->failed && !json_object_size(metrics)) {
        snprintf(what, whatlen, "cell %s has no metrics though %zu of its repeats succeeded", key,
                 c->repeats - c->failed);
        return -1;
    }
    return 0;
}

/* Checked as the command line's --tolerance (gate_tolerance_check), also those it overrides:
 * a file with a tolerance out of range is not one allocscope wrote. */
static int load_tolerances(struct gate_options *o, json_t *t, char *what, size_t whatlen)
{
    if (!t)
        return 0;
    if (!json_is_object(t)) {
        snprintf(what, whatlen, "\"tolerances\" is not an object");
        return -1;
    }
    const char *name;
    json_t *value;
    char shown[96];
    json_object_foreach(t, name, value)
    {
        int m = gate_metric_parse(name);
        json_t *rel = json_object_get(value, "rel"), *abs = json_object_get(value, "abs");
        if (m < 0 || !json_is_number(rel) || !json_is_number(abs)) {
            snprintf(what, whatlen, "tolerance '%s' is unknown or lacks rel and abs",
                     util_printable(shown, sizeof(shown), name));
            return -1;
        }
        struct gate_tolerance tol = {json_number_value(rel), json_number_value(abs)};
        if (gate_tolerance_check(m, &tol, what, whatlen))
            return -1;
        if (!o->tol_set[m])
            o->tol[m] = tol;
    }
    return 0;
}

static int load_root(struct gate_bench *b, struct gate_options *o, json_t *root, char *what,
                     size_t whatlen)
{
    const char *format = json_string_value(json_object_get(root, "format"));
    json_t *cells = json_object_get(root, "cells");
    if (!format || strcmp(format, BASELINE_FORMAT)) {
        snprintf(what, whatlen, "no \"format\": \"%s\"", BASELINE_FORMAT);
        return -1;
    }
    if (json_integer_value(json_object_get(root, "version")) != BASELINE_VERSION) {
        snprintf(what, whatlen, "version is not %d", BASELINE_VERSION);
        return -1;
    }
    if (!json_is_array(cells) || !json_array_size(cells)) {
        snprintf(what, whatlen, "no cells");
        return -1;
    }
    json_t *k = json_object_get(root, "noise_k");
    if (k && !json_is_number(k)) {
        snprintf(what, whatlen, "noise_k is not a number");
        return -1;
    }
    if (k && gate_noise_check(json_number_value(k), what, whatlen))
        return -1;
    if (k && !o->noise_k_set)
        o->noise_k = json_number_value(k);
    if (load_tolerances(o, json_object_get(root, "tolerances"), what, whatlen))
        return -1;
    b->cells = xcalloc(json_array_size(cells), sizeof(*b->cells));
    for (size_t i = 0; i < json_array_size(cells); i++) {
        int rc = load_cell(&b->cells[b->ncells], json_array_get(cells, i), what, whatlen);
        b->ncells++;
        if (rc)
            return -1;
    }
    return 0;
}

int gate_baseline_load(struct gate_bench *b, struct gate_options *o, const char *path, char *err,
                       size_t errlen)
{
    memset(b, 0, sizeof(*b));
    b->source = xstrdup(path);
    json_error_t jerr;
    json_t *root = json_file_load(path, &jerr);
    if (!root) {
        if (jerr.line < 0 || !strncmp(jerr.text, "unable to open", 14))
            snprintf(err, errlen, "cannot read baseline %s: %s", path, jerr.text);
        else
            snprintf(err, errlen,
                     "%s: line %d: %s (a truncated or edited baseline?); "
                     "refreeze it with 'allocscope baseline'",
                     path, jerr.line, jerr.text);
        gate_bench_free(b);
        return -1;
    }
    char what[300];
    int rc = json_is_object(root) ? load_root(b, o, root, what, sizeof(what)) : -1;
    if (!json_is_object(root))
        snprintf(what, sizeof(what), "not a JSON object");
    json_decref(root);
    if (!rc)
        return 0;
    /* What was read before the problem goes: the caller frees only a loaded baseline. */
    gate_bench_free(b);
    return bad(err, errlen, path, what);
}
