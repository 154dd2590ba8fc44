#include "harness/bench_spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ini.h"
#include "common/util.h"

/* ---- placeholder variables ---- */

void bench_vars_set(struct bench_vars *vars, const char *name, const char *value)
{
    for (size_t i = 0; i < vars->count; i++)
        if (!strcmp(vars->names[i], name)) {
            free(vars->values[i]);
            vars->values[i] = xstrdup(value);
            return;
        }
    vars->names = xreallocarray(vars->names, vars->count + 1, sizeof(char *));
    vars->values = xreallocarray(vars->values, vars->count + 1, sizeof(char *));
    vars->names[vars->count] = xstrdup(name);
    vars->values[vars->count] = xstrdup(value);
    vars->count++;
}

const char *bench_vars_get(const struct bench_vars *vars, const char *name)
{
    for (size_t i = 0; i < vars->count; i++)
        if (!strcmp(vars->names[i], name))
            return vars->values[i];
    return NULL;
}

void bench_vars_free(struct bench_vars *vars)
{
    for (size_t i = 0; i < vars->count; i++) {
        free(vars->names[i]);
        free(vars->values[i]);
    }
    free(vars->names);
    free(vars->values);
    memset(vars, 0, sizeof(*vars));
}

static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

char *bench_expand(const char *template_text, const struct bench_vars *vars, char *err,
                   size_t errlen)
{
    size_t len = 0, cap = strlen(template_text) + 64;
    char *out = xmalloc(cap);
    out[0] = '\0';
    for (const char *p = template_text; *p;) {
        const char *open = strchr(p, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        /* Only {identifier} is a placeholder: shell braces such as ${x} or { a; } stay. */
        bool is_name = close && close > open + 1 && (open == template_text || open[-1] != '$');
        for (const char *q = open ? open + 1 : NULL; is_name && q < close; q++)
            if (!isalnum((unsigned char)*q) && *q != '_')
                is_name = false;
        if (!open || !is_name) {
            size_t n = open ? (size_t)(open - p) + 1 : strlen(p);
            append(&out, &len, &cap, p, n);
            p += n;
            continue;
        }
        append(&out, &len, &cap, p, (size_t)(open - p));
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(close - open - 1), open + 1);
        const char *value = bench_vars_get(vars, name);
        if (!value) {
            snprintf(err, errlen, "unknown placeholder {%s} in '%s'", name, template_text);
            free(out);
            return NULL;
        }
        append(&out, &len, &cap, value, strlen(value));
        p = close + 1;
    }
    return out;
}

/* ---- words ---- */

void bench_free_words(char **words)
{
    for (char **w = words; w && *w; w++)
        free(*w);
    free(words);
}

char **bench_split_words(const char *line, char *err, size_t errlen)
{
    char **words = xcalloc(1, sizeof(char *));
    size_t n = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t len = 0, cap = 32;
        char *word = xmalloc(cap);
        char quote = 0;
        for (; *p && (quote || (*p != ' ' && *p != '\t')); p++) {
            char c = *p;
            if (quote && c == quote) {
                quote = 0;
                continue;
            }
            if (!quote && (c == '\'' || c == '"')) {
                quote = c;
                continue;
            }
            if (c == '\\' && quote != '\'' && p[1])
                c = *++p;
            append(&word, &len, &cap, &c, 1);
        }
        if (quote) {
            snprintf(err, errlen, "unbalanced %c quote in '%s'", quote, line);
            free(word);
            bench_free_words(words);
            return NULL;
        }
        if (!len)
            word[0] = '\0';
        words = xreallocarray(words, n + 2, sizeof(char *));
        words[n++] = word;
        words[n] = NULL;
    }
    if (!n) {
        snprintf(err, errlen, "empty command");
        bench_free_words(words);
        return NULL;
    }
    return words;
}

/* ---- spec ---- */

int bench_spec_init(struct bench_spec *spec, const char *profile, char *err, size_t errlen)
{
    memset(spec, 0, sizeof(*spec));
    if (!strcmp(profile, "quick")) {
        *spec = (struct bench_spec){.repeats = 1, .idle_s = 1, .load_s = 4, .cooldown_s = 3};
    } else if (!strcmp(profile, "standard")) {
        *spec = (struct bench_spec){.repeats = 3, .idle_s = 5, .load_s = 30, .cooldown_s = 10};
    } else {
        snprintf(err, errlen, "unknown profile '%s'; use quick or standard", profile);
        return -1;
    }
    spec->profile = xstrdup(profile);
    spec->interval_ms = 100;
    return 0;
}

static void target_free(struct bench_target *t)
{
    free(t->name);
    free(t->command);
    free(t->load);
    free(t->ready);
    free(t->server);
    free(t->server_ready);
    for (size_t i = 0; i < t->n_variants; i++)
        free(t->variants[i]);
    free(t->variants);
    bench_vars_free(&t->params);
    free(t->origin);
    free(t->throughput_regex);
    free(t->p50_regex);
    free(t->p99_regex);
}

void bench_spec_free(struct bench_spec *spec)
{
    free(spec->profile);
    for (size_t i = 0; i < spec->n_allocators; i++)
        free(spec->allocators[i]);
    free(spec->allocators);
    for (size_t i = 0; i < spec->n_targets; i++)
        target_free(&spec->targets[i]);
    free(spec->targets);
    memset(spec, 0, sizeof(*spec));
}

void bench_spec_add_allocators(struct bench_spec *spec, const char *list)
{
    char *copy = xstrdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        spec->allocators = xreallocarray(spec->allocators, spec->n_allocators + 1, sizeof(char *));
        spec->allocators[spec->n_allocators++] = xstrdup(tok);
    }
    free(copy);
}

/* A variant names the cell's directory with the target's: one that is not a valid name
 * (util_valid_name) is refused, with err saying which. Returns 0 or -1. */
static int set_variants(struct bench_target *t, const char *list, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->n_variants; i++)
        free(t->variants[i]);
    t->n_variants = 0;
    char *copy = xstrdup(list), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ", \t", &save); tok && !rc;
         tok = strtok_r(NULL, ", \t", &save)) {
        rc = util_check_name("variant", tok, err, errlen);
        t->variants = xreallocarray(t->variants, t->n_variants + 1, sizeof(char *));
        t->variants[t->n_variants++] = xstrdup(tok);
    }
    free(copy);
    if (!t->n_variants) {
        t->variants = xreallocarray(t->variants, 1, sizeof(char *));
        t->variants[t->n_variants++] = xstrdup("none");
    }
    return rc;
}

static struct bench_target *new_target(struct bench_spec *spec, const char *name,
                                       const char *origin)
{
    spec->targets = xreallocarray(spec->targets, spec->n_targets + 1, sizeof(*spec->targets));
    struct bench_target *t = &spec->targets[spec->n_targets++];
    memset(t, 0, sizeof(*t));
    t->name = xstrdup(name);
    t->origin = xstrdup(origin);
    t->load_s = t->cooldown_s = -1;
    t->ready_timeout_s = 15;
    t->timeout_s = 600;
    set_variants(t, "none", NULL, 0);
    return t;
}

static void replace(char **field, const char *value)
{
    free(*field);
    *field = value && *value ? xstrdup(value) : NULL;
}

int bench_parse_ready(const char *ready, bool *is_port, unsigned *value)
{
    uint64_t v = 0;
    if (!strcmp(ready, "port")) {
        *is_port = true;
        *value = 0;
        return 0;
    }
    if (!strncmp(ready, "port:", 5) && !util_parse_uint(ready + 5, 1, 65535, &v)) {
        *is_port = true;
        *value = (unsigned)v;
        return 0;
    }
    if (!strncmp(ready, "delay:", 6) && !util_parse_uint(ready + 6, 0, 600000, &v)) {
        *is_port = false;
        *value = (unsigned)v;
        return 0;
    }
    return -1;
}

/* ---- INI items ---- */

/* A key = value line of SECTION (header lines have no key). */
static bool is_key_of(const struct ini_item *item, const char *section)
{
    return item->key && !strcmp(item->section, section);
}

/* Reads PATH whole, bounded: what a person writes never comes near UTIL_INPUT_MAX. */
static char *read_input(const char *path, size_t *len)
{
    return util_read_file_bounded(path, UTIL_INPUT_MAX, len);
}

static const char *profile_section(const char *profile)
{
    return !strcmp(profile, "standard") ? "large" : "quick";
}

static int scenario_from_text(struct bench_spec *spec, const char *path, const char *text,
                              size_t len, struct bench_target **out, char *err, size_t errlen)
{
    struct ini_doc doc;
    if (ini_parse(&doc, path, text, len, err, errlen)) {
        ini_free(&doc);
        return -1;
    }
    const char *name = NULL, *command = NULL;
    for (size_t i = 0; i < doc.n; i++) {
        if (is_key_of(&doc.items[i], "scenario") && !strcmp(doc.items[i].key, "name"))
            name = doc.items[i].value;
        if (is_key_of(&doc.items[i], "scenario") && !strcmp(doc.items[i].key, "target"))
            command = doc.items[i].value;
    }
    char why[400];
    if (!name || !command) {
        snprintf(err, errlen,
                 "%s: [scenario] needs name = NAME and target = COMMAND; see docs/WORKLOADS.md",
                 path);
        ini_free(&doc);
        return -1;
    }
    if (util_check_name("scenario", name, why, sizeof(why))) {
        snprintf(err, errlen, "%s: [scenario] %s", path, why);
        ini_free(&doc);
        return -1;
    }
    char origin[512];
    snprintf(origin, sizeof(origin), "%s", path);
    struct bench_target *t = new_target(spec, name, origin);
    const char *section = profile_section(spec->profile);
    for (size_t i = 0; i < doc.n; i++) {
        const struct ini_item *e = &doc.items[i];
        if (!e->key)
            continue;
        if (!strcmp(e->section, section)) {
            bench_vars_set(&t->params, e->key, e->value);
            continue;
        }
        if (strcmp(e->section, "scenario"))
            continue;
        if (!strcmp(e->key, "target"))
            replace(&t->command, e->value);
        else if (!strcmp(e->key, "load"))
            replace(&t->load, e->value);
        else if (!strcmp(e->key, "ready"))
            replace(&t->ready, e->value);
        else if (!strcmp(e->key, "server"))
            replace(&t->server, e->value);
        else if (!strcmp(e->key, "server_ready"))
            replace(&t->server_ready, e->value);
        else if (!strcmp(e->key, "variants") && set_variants(t, e->value, why, sizeof(why))) {
            snprintf(err, errlen, "%s:%d: %s", path, e->line, why);
            ini_free(&doc);
            return -1;
        }
    }
    /* The scenario's own phase lengths, unless the bench sets them. */
    const char *duration = bench_vars_get(&t->params, "duration");
    const char *idle = bench_vars_get(&t->params, "idle");
    if (duration)
        t->load_s = atof(duration);
    if (idle)
        t->cooldown_s = atof(idle);
    ini_free(&doc);
    *out = t;
    return 0;
}

int bench_spec_add_scenario(struct bench_spec *spec, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = read_input(path, &len);
    if (!text) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    struct bench_target *t;
    int rc = scenario_from_text(spec, path, text, len, &t, err, errlen);
    free(text);
    return rc;
}

int bench_spec_add_command(struct bench_spec *spec, const char *name, const char *command,
                           const char *load, const char *ready, char *err, size_t errlen)
{
    bool is_port;
    unsigned v;
    if (ready && bench_parse_ready(ready, &is_port, &v)) {
        snprintf(err, errlen, "--ready wants delay:MS, port or port:N, not '%s'", ready);
        return -1;
    }
    char **words = bench_split_words(command, err, errlen);
    if (!words)
        return -1;
    char base[UTIL_NAME_MAX + 1];
    if (!name) { /* the program's base name, made a valid name: ".x-y" is "_x_y" */
        const char *slash = strrchr(words[0], '/');
        snprintf(base, sizeof(base), "%s", slash ? slash + 1 : words[0]);
        for (char *p = base; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '_' && (*p != '.' || p == base))
                *p = '_';
        name = base;
    }
    bench_free_words(words);
    if (util_check_name("target", name, err, errlen))
        return -1;
    struct bench_target *t = new_target(spec, name, "--target");
    t->command = xstrdup(command);
    t->load = load ? xstrdup(load) : NULL;
    t->ready = ready ? xstrdup(ready) : NULL;
    return 0;
}

/* ---- bench file ---- */

static int parse_seconds(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= 0) || d > 86400)
        return -1;
    *out = d;
    return 0;
}

static int bench_key(struct bench_spec *spec, const struct ini_item *e, const char *file, char *err,
                     size_t errlen)
{
    uint64_t v;
    const char *k = e->key;
    if (!strcmp(k, "profile"))
        return 0; /* applied first, by the caller */
    if (!strcmp(k, "repeats") && !util_parse_uint(e->value, 1, 1000, &v)) {
        spec->repeats = (unsigned)v;
        return 0;
    }
    if (!strcmp(k, "interval_ms") && !util_parse_uint(e->value, 10, 60000, &v)) {
        spec->interval_ms = (unsigned)v;
        return 0;
    }
    if (!strcmp(k, "idle_s") && !parse_seconds(e->value, &spec->idle_s))
        return 0;
    if (!strcmp(k, "load_s") && !parse_seconds(e->value, &spec->load_s)) {
        spec->load_s_set = true;
        return 0;
    }
    if (!strcmp(k, "cooldown_s") && !parse_seconds(e->value, &spec->cooldown_s)) {
        spec->cooldown_s_set = true;
        return 0;
    }
    if (!strcmp(k, "allocators")) {
        if (!spec->allocators_forced)
            bench_spec_add_allocators(spec, e->value);
        return 0;
    }
    static const char *known[] = {"profile", "repeats", "interval_ms",
                                  "idle_s",  "load_s",  "cooldown_s"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(k, known[i])) {
            snprintf(err, errlen, "%s:%d: bad value '%s' for %s; %s", file, e->line, e->value, k,
                     !strcmp(k, "repeats")       ? "use a count from 1 to 1000"
                     : !strcmp(k, "interval_ms") ? "use milliseconds from 10 to 60000"
                                                 : "use seconds, e.g. 2.5");
            return -1;
        }
    snprintf(err, errlen,
             "%s:%d: unknown key '%s' in [bench]; expected profile, repeats, interval_ms, "
             "idle_s, load_s, cooldown_s, allocators",
             file, e->line, k);
    return -1;
}

static int target_key(struct bench_target *t, const struct ini_item *e, const char *file, char *err,
                      size_t errlen)
{
    const char *k = e->key;
    bool is_port;
    unsigned port;
    char why[512];
    int run_key = bench_target_set_run_key(t, k, e->value, why, sizeof(why));
    if (run_key <= 0) {
        if (run_key < 0)
            snprintf(err, errlen, "%s:%d: %s", file, e->line, why);
        return run_key;
    }
    if (!strcmp(k, "command")) {
        char **words = bench_split_words(e->value, err, errlen);
        if (!words) {
            char why[256];
            snprintf(why, sizeof(why), "%s", err);
            snprintf(err, errlen, "%s:%d: %s", file, e->line, why);
            return -1;
        }
        bench_free_words(words);
        replace(&t->command, e->value);
    } else if (!strcmp(k, "load")) {
        replace(&t->load, e->value);
    } else if (!strcmp(k, "server")) {
        replace(&t->server, e->value);
    } else if (!strcmp(k, "ready") || !strcmp(k, "server_ready")) {
        if (bench_parse_ready(e->value, &is_port, &port)) {
            snprintf(err, errlen, "%s:%d: %s wants delay:MS, port or port:N, not '%s'", file,
                     e->line, k, e->value);
            return -1;
        }
        replace(!strcmp(k, "ready") ? &t->ready : &t->server_ready, e->value);
    } else if (!strcmp(k, "variants")) {
        if (set_variants(t, e->value, why, sizeof(why))) {
            snprintf(err, errlen, "%s:%d: %s", file, e->line, why);
            return -1;
        }
    } else if (!strcmp(k, "load_s") || !strcmp(k, "cooldown_s") || !strcmp(k, "ready_timeout_s")) {
        double *field = !strcmp(k, "load_s")       ? &t->load_s
                        : !strcmp(k, "cooldown_s") ? &t->cooldown_s
                                                   : &t->ready_timeout_s;
        if (parse_seconds(e->value, field)) {
            snprintf(err, errlen, "%s:%d: bad value '%s' for %s; use seconds, e.g. 2.5", file,
                     e->line, e->value, k);
            return -1;
        }
    } else if (!strncmp(k, "var.", 4) && k[4]) {
        bench_vars_set(&t->params, k + 4, e->value);
    } else {
        snprintf(err, errlen,
                 "%s:%d: unknown key '%s' in [target %s]; expected command, load, ready, "
                 "server, server_ready, variants, workload, load_s, cooldown_s, "
                 "ready_timeout_s, load_format, throughput_regex, p50_regex, p99_regex, batch, "
                 "timeout_s, var.NAME",
                 file, e->line, k, t->name);
        return -1;
    }
    return 0;
}

/* ---- a target's load figures and end ---- */

static int set_pattern(char **field, const char *key, const char *value, char *err, size_t errlen)
{
    struct load_patterns check = {.throughput = value};
    char why[400];
    if (load_patterns_check(&check, why, sizeof(why))) {
        snprintf(err, errlen, "bad %s: %s; give a POSIX extended regular expression", key,
                 why + strlen("throughput_regex "));
        return -1;
    }
    replace(field, value);
    return 0;
}

int bench_target_set_run_key(struct bench_target *t, const char *key, const char *value, char *err,
                             size_t errlen)
{
    if (!strcmp(key, "load_format")) {
        if (load_format_parse(value, &t->load_format) == 0)
            return 0;
        snprintf(err, errlen, "unknown load_format '%s'; use %s, or throughput_regex", value,
                 load_format_choices());
        return -1;
    }
    if (!strcmp(key, "throughput_regex"))
        return set_pattern(&t->throughput_regex, key, value, err, errlen);
    if (!strcmp(key, "p50_regex"))
        return set_pattern(&t->p50_regex, key, value, err, errlen);
    if (!strcmp(key, "p99_regex"))
        return set_pattern(&t->p99_regex, key, value, err, errlen);
    if (!strcmp(key, "batch")) {
        bool yes = !strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1");
        if (!yes && strcmp(value, "false") && strcmp(value, "no") && strcmp(value, "0")) {
            snprintf(err, errlen, "batch wants true or false, not '%s'", value);
            return -1;
        }
        t->batch = yes;
        return 0;
    }
    if (!strcmp(key, "timeout_s")) {
        if (parse_seconds(value, &t->timeout_s) == 0 && t->timeout_s > 0)
            return 0;
        snprintf(err, errlen, "bad value '%s' for timeout_s; use seconds, e.g. 120", value);
        return -1;
    }
    return 1;
}

static const char *section_target_name(const char *section)
{
    if (strncmp(section, "target ", 7))
        return NULL;
    section += 7;
    while (*section == ' ')
        section++;
    return section;
}

static int check_sections(const struct ini_doc *doc, const char *file, char *err, size_t errlen)
{
    char why[400];
    for (size_t i = 0; i < doc->n; i++) {
        const char *s = doc->items[i].section;
        const char *name = section_target_name(s);
        if (doc->items[i].key || !strcmp(s, "bench"))
            continue;
        if (name && util_check_name("target", name, why, sizeof(why))) {
            snprintf(err, errlen, "%s:%d: %s", file, doc->items[i].line, why);
            return -1;
        }
        if (name)
            continue;
        snprintf(err, errlen, "%s:%d: unknown section [%s]; expected [bench] or [target NAME]",
                 file, doc->items[i].line, s);
        return -1;
    }
    return 0;
}

/* {file_dir}: the bench file's own directory, so that a bench file can name the files
 * beside it (examples/) from wherever allocscope runs. */
static void set_file_dir(struct bench_target *t, const char *file)
{
    char *real = realpath(file, NULL);
    char *dir = xstrdup(real ? real : file);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    bench_vars_set(&t->params, "file_dir", slash ? (*dir ? dir : "/") : ".");
    free(dir);
    free(real);
}

/* One [target NAME] section: workload= first (it supplies the defaults), then the rest. */
static int build_target(struct bench_spec *spec, const struct ini_doc *doc, const char *section,
                        int line, const char *file, const char *scenario_dir, char *err,
                        size_t errlen)
{
    const char *name = section_target_name(section);
    char origin[512];
    snprintf(origin, sizeof(origin), "%s:%d", file, line);
    struct bench_target *t = NULL;
    for (size_t i = 0; i < doc->n; i++) {
        const struct ini_item *e = &doc->items[i];
        if (!is_key_of(e, section) || strcmp(e->key, "workload"))
            continue;
        char why[400];
        if (util_check_name("workload", e->value, why, sizeof(why))) {
            snprintf(err, errlen, "%s:%d: %s", file, e->line, why);
            return -1;
        }
        char *path = util_format("%s/%s/scenario.ini", scenario_dir ? scenario_dir : ".", e->value);
        size_t len;
        char *text = read_input(path, &len);
        if (!text) {
            snprintf(err, errlen,
                     "%s:%d: no reference workload '%s' (%s: %s); name a directory of "
                     "workloads/ that has a scenario.ini",
                     file, e->line, e->value, path, strerror(errno));
            free(path);
            return -1;
        }
        int rc = scenario_from_text(spec, path, text, len, &t, err, errlen);
        free(text);
        free(path);
        if (rc)
            return -1;
        free(t->name);
        t->name = xstrdup(name);
        free(t->origin);
        t->origin = xstrdup(origin);
    }
    if (!t)
        t = new_target(spec, name, origin);
    set_file_dir(t, file);
    for (size_t i = 0; i < doc->n; i++) {
        const struct ini_item *e = &doc->items[i];
        if (is_key_of(e, section) && strcmp(e->key, "workload") &&
            target_key(t, e, file, err, errlen))
            return -1;
    }
    if (!t->command) {
        snprintf(err, errlen,
                 "%s:%d: [target %s] has no command; add command = PROGRAM ARGS... or "
                 "workload = NAME",
                 file, line, name);
        return -1;
    }
    return 0;
}

/* [bench]'s profile= first: it sets the defaults the file's other keys then change. */
static int apply_profile(struct bench_spec *spec, const struct ini_doc *doc, const char *file,
                         char *err, size_t errlen)
{
    for (size_t i = 0; i < doc->n && !spec->profile_forced; i++) {
        const struct ini_item *e = &doc->items[i];
        if (!is_key_of(e, "bench") || strcmp(e->key, "profile"))
            continue;
        struct bench_spec fresh;
        char why[256];
        if (bench_spec_init(&fresh, e->value, why, sizeof(why))) {
            snprintf(err, errlen, "%s:%d: %s", file, e->line, why);
            return -1;
        }
        free(spec->profile);
        spec->profile = fresh.profile;
        spec->repeats = fresh.repeats;
        spec->idle_s = fresh.idle_s;
        spec->load_s = fresh.load_s;
        spec->cooldown_s = fresh.cooldown_s;
    }
    return 0;
}

static int parse_bench_text(struct bench_spec *spec, const char *file, const char *text, size_t len,
                            const char *scenario_dir, char *err, size_t errlen)
{
    struct ini_doc doc;
    int rc = ini_parse(&doc, file, text, len, err, errlen);
    if (!rc)
        rc = check_sections(&doc, file, err, errlen);
    if (!rc)
        rc = apply_profile(spec, &doc, file, err, errlen);
    for (size_t i = 0; !rc && i < doc.n; i++)
        if (is_key_of(&doc.items[i], "bench"))
            rc = bench_key(spec, &doc.items[i], file, err, errlen);
    for (size_t i = 0; !rc && i < doc.n; i++) {
        const struct ini_item *header = &doc.items[i];
        if (header->key || strncmp(header->section, "target ", 7))
            continue;
        bool seen = false; /* a section given twice is one target */
        for (size_t j = 0; j < i; j++)
            seen |= !doc.items[j].key && !strcmp(doc.items[j].section, header->section);
        if (!seen)
            rc = build_target(spec, &doc, header->section, header->line, file, scenario_dir, err,
                              errlen);
    }
    ini_free(&doc);
    return rc;
}

int bench_spec_parse(struct bench_spec *spec, const char *file, const char *text,
                     const char *scenario_dir, char *err, size_t errlen)
{
    return parse_bench_text(spec, file, text, strlen(text), scenario_dir, err, errlen);
}

int bench_spec_load(struct bench_spec *spec, const char *path, const char *scenario_dir, char *err,
                    size_t errlen)
{
    size_t len;
    char *text = read_input(path, &len);
    if (!text) {
        snprintf(err, errlen, "cannot read bench file %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = parse_bench_text(spec, path, text, len, scenario_dir, err, errlen);
    free(text);
    return rc;
}

/* ---- matrix ---- */

static double pick(bool forced, double bench, double target, bool quick)
{
    if (forced || target < 0)
        return bench;
    return quick && target > bench ? bench : target;
}

int bench_matrix_build(const struct bench_spec *spec, const struct allocator_config *const *configs,
                       size_t n_configs, struct bench_cell **cells, size_t *n_cells, char *err,
                       size_t errlen)
{
    *cells = NULL;
    *n_cells = 0;
    if (!spec->n_targets) {
        snprintf(err, errlen,
                 "nothing to run: no target; give a bench file, --target CMD, "
                 "or build the reference workloads");
        return -1;
    }
    if (!n_configs) {
        snprintf(err, errlen, "no allocator configuration to run; name some with -a NAME[:CONFIG]");
        return -1;
    }
    bool quick = !strcmp(spec->profile, "quick");
    for (size_t t = 0; t < spec->n_targets; t++) {
        const struct bench_target *target = &spec->targets[t];
        for (size_t v = 0; v < target->n_variants; v++)
            for (size_t c = 0; c < n_configs; c++)
                for (unsigned r = 1; r <= spec->repeats; r++) {
                    *cells = xreallocarray(*cells, *n_cells + 1, sizeof(**cells));
                    struct bench_cell *cell = &(*cells)[(*n_cells)++];
                    memset(cell, 0, sizeof(*cell));
                    cell->index = *n_cells;
                    cell->target = target;
                    cell->variant = target->variants[v];
                    cell->config = configs[c];
                    cell->repeat = r;
                    cell->idle_s = spec->idle_s;
                    cell->load_s = pick(spec->load_s_set, spec->load_s, target->load_s, quick);
                    cell->cooldown_s =
                        pick(spec->cooldown_s_set, spec->cooldown_s, target->cooldown_s, quick);
                    snprintf(cell->name, sizeof(cell->name), "%s-%s-%s-%s-r%u", target->name,
                             cell->variant, configs[c]->allocator_name, configs[c]->name, r);
                }
    }
    /* Two targets of one name would share cell directories. */
    for (size_t i = 0; i < *n_cells; i++)
        for (size_t j = i + 1; j < *n_cells; j++)
            if (!strcmp((*cells)[i].name, (*cells)[j].name)) {
                snprintf(err, errlen, "two cells are named %s; give each target its own name",
                         (*cells)[i].name);
                free(*cells);
                *cells = NULL;
                return -1;
            }
    return 0;
}

void bench_matrix_fit(struct bench_cell *cells, size_t n, double budget_s, double overhead_s)
{
    static const double floor_idle = 0.5, floor_load = 2, floor_cooldown = 1.5;
    double phases = 0, floors = 0;
    for (size_t i = 0; i < n; i++) {
        phases += cells[i].idle_s + cells[i].load_s + cells[i].cooldown_s;
        floors += floor_idle + floor_load + floor_cooldown;
    }
    double room = budget_s - overhead_s * (double)n;
    if (phases <= room)
        return;
    /* Shrink every phase by one factor, down to the floors (after_1s needs 1.5 s). */
    double factor = room > floors ? room / phases : floors / phases;
    for (size_t i = 0; i < n; i++) {
        struct bench_cell *c = &cells[i];
        c->idle_s =
            c->idle_s * factor < floor_idle ? fmin(c->idle_s, floor_idle) : c->idle_s * factor;
        c->load_s =
            c->load_s * factor < floor_load ? fmin(c->load_s, floor_load) : c->load_s * factor;
        c->cooldown_s = c->cooldown_s * factor < floor_cooldown
                            ? fmin(c->cooldown_s, floor_cooldown)
                            : c->cooldown_s * factor;
        c->load_s = floor(c->load_s + 0.5); /* load commands take whole seconds */
    }
}

const struct bench_cell *bench_matrix_find(const struct bench_cell *cells, size_t n,
                                           const char *which)
{
    uint64_t k;
    if (!util_parse_uint(which, 1, n, &k))
        return &cells[k - 1];
    for (size_t i = 0; i < n; i++)
        if (!strcmp(cells[i].name, which))
            return &cells[i];
    return NULL;
}
