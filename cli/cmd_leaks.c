/* allocscope leaks DIR [--json] [--top N] [--format collapsed|pprof]: the sites unfreed at
 * the end of a recording and the sites that grew, largest first, symbolized; or every stack in
 * a format flame-graph tools and pprof read. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/atomic_file.h"
#include "common/format.h"
#include "common/json_text.h"
#include "common/rundata.h"
#include "common/symbolize.h"
#include "common/util.h"
#include "reports/flamegraph.h"
#include "reports/leaks.h"
#include "reports/site_profile.h"
#include "reports/stack_export.h"

static const char leaks_usage[] =
    "usage: allocscope leaks DIR [--json] [--top N] [--format FORMAT [--value NAME] [-o FILE]]\n"
    "  Lists the allocation sites of a recording (allocscope run/attach output) with bytes\n"
    "  unfreed at the end, and the sites whose live bytes grew, largest first.\n"
    "  --json          machine-readable output (schema in docs/FORMAT.md)\n"
    "  --top N         at most N sites (default 10 as text, all as JSON)\n"
    "  --format F      text (default), json, or every stack for other tools:\n"
    "                  collapsed  one line per stack, frames joined by ';', then the value\n"
    "                             (flamegraph.pl, inferno, speedscope)\n"
    "                  pprof      pprof's profile.proto, gzip'd, to -o FILE (go tool pprof,\n"
    "                             speedscope, Pyroscope); every value below is a sample type\n"
    "                  flamegraph an interactive flame graph (SVG, opens in a browser) of\n"
    "                             --value exit, peak or growth\n"
    "  --value NAME    what collapsed lines count: exit (default: bytes unfreed at exit, as\n"
    "                  listed here), exit-blocks, peak, peak-blocks (live at the peak),\n"
    "                  growth (bytes/s), alloc, alloc-blocks (allocated over the run),\n"
    "                  temporary (allocations freed before their thread allocated again), and "
    "with\n"
    "                  reachability definitely-lost, indirectly-lost, possibly-lost,\n"
    "                  still-reachable\n"
    "  -o, --output F  write to F instead of stdout (required for pprof)\n";

enum leaks_format { FORMAT_TEXT, FORMAT_JSON, FORMAT_COLLAPSED, FORMAT_PPROF, FORMAT_FLAMEGRAPH };

struct leaks_args {
    enum leaks_format format;
    uint64_t top;
    int value; /* enum profile_value */
    const char *output;
    const char *dir;
};

static json_t *frames_json(struct symbolizer *sym, const struct site_series *s)
{
    json_t *frames = json_array();
    struct frame_info f[ALLOCSCOPE_MAX_FRAMES];
    unsigned n = symbolizer_stack(sym, s->frames, s->depth, f, ALLOCSCOPE_MAX_FRAMES);
    for (unsigned i = 0; i < n; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)f[i].address);
        json_array_append_new(
            frames, json_pack("{s:o, s:o, s:o, s:i, s:o, s:s, s:b}", "function",
                              json_text(f[i].function), "mangled", json_text(f[i].mangled), "file",
                              json_text(f[i].file), "line", f[i].line, "object",
                              json_text(f[i].object), "address", addr, "inlined", f[i].inlined));
    }
    return frames;
}

static void totals(const struct run_data *run, int64_t *bytes, int64_t *blocks)
{
    *bytes = *blocks = 0;
    for (size_t i = 0; i < run->nsites; i++) {
        if (run->sites[i].end_bytes > 0) {
            *bytes += run->sites[i].end_bytes;
            *blocks += run->sites[i].end_blocks;
        }
    }
}

/* {"definitely_lost_bytes": N, "definitely_lost_blocks": N, ...} */
static json_t *reach_json(const struct reach_counts *r)
{
    json_t *obj = json_object();
    for (int k = 0; k < REACH_CLASSES; k++) {
        char key[64];
        snprintf(key, sizeof(key), "%s_bytes", reach_class_names[k]);
        json_object_set_new(obj, key, json_integer(r->bytes[k]));
        snprintf(key, sizeof(key), "%s_blocks", reach_class_names[k]);
        json_object_set_new(obj, key, json_integer(r->blocks[k]));
    }
    return obj;
}

static int print_json(const struct run_data *run, struct symbolizer *sym, size_t *order, size_t n)
{
    int64_t bytes, blocks;
    totals(run, &bytes, &blocks);
    const char *mode = rundata_fact(run, "mode");
    json_t *sites = json_array();
    for (size_t k = 0; k < n; k++) {
        const struct site_series *s = &run->sites[order[k]];
        json_t *site = json_pack(
            "{s:I, s:I, s:f, s:I, s:I, s:I, s:o}", "bytes", (json_int_t)s->end_bytes, "blocks",
            (json_int_t)s->end_blocks, "growth_bytes_per_s", s->growth_bytes_per_s, "peak_bytes",
            (json_int_t)s->peak_bytes, "alloc_calls", (json_int_t)s->alloc_calls,
            "temporary_allocations", (json_int_t)s->temporary_calls, "frames", frames_json(sym, s));
        if (run->has_reach) { /* the same keys per site */
            json_t *reach = reach_json(&s->reach);
            json_object_update(site, reach);
            json_decref(reach);
        }
        json_array_append_new(sites, site);
    }
    json_t *root = json_pack(
        "{s:s, s:b, s:I, s:I, s:o, s:o}", "mode",
        mode && !strcmp(mode, "exact") ? "exact" : "sampled", "exited", rundata_exited(run),
        "total_bytes", (json_int_t)bytes, "total_blocks", (json_int_t)blocks, "reachability",
        run->has_reach ? reach_json(&run->reach) : json_null(), "sites", sites);
    int rc = json_text_print(root, JSON_INDENT(2), "the leaks") ? 2 : 0;
    json_decref(root);
    return rc;
}

/* Wrappers exec the program that does the work: say which program this recording is of. */
static void print_exec_chain(const struct run_data *run)
{
    char **images;
    size_t n = rundata_images(run->dir, &images);
    if (n) {
        const char *exe = rundata_fact(run, "exe") ? rundata_fact(run, "exe") : "?";
        printf("program %s, exec'd by ", exe);
        for (size_t i = n; i-- > 0;)
            printf("%s%s", images[i], i ? " <- " : "");
        printf(" (their recordings: %s/images/)\n", run->dir);
    }
    rundata_free_images(images, n);
}

static const struct run_data *sorting_run;
static int sorting_class;

static int by_class_bytes(const void *a, const void *b)
{
    int64_t x = sorting_run->sites[*(const size_t *)a].reach.bytes[sorting_class];
    int64_t y = sorting_run->sites[*(const size_t *)b].reach.bytes[sorting_class];
    return x == y ? 0 : x > y ? -1 : 1;
}

/* memcheck's view: the sites of each class, lost first, largest first. */
static void print_classes(const struct run_data *run, struct symbolizer *sym, size_t shown)
{
    static const char *const titles[REACH_CLASSES] = {"definitely lost", "indirectly lost",
                                                      "possibly lost", "still reachable"};
    char b1[32], where[1024];
    size_t *idx = xcalloc(run->nsites ? run->nsites : 1, sizeof(size_t));
    for (int k = 0; k < REACH_CLASSES; k++) {
        printf("\n%s: %s in %lld blocks\n", titles[k],
               format_bytes(b1, sizeof(b1), (double)run->reach.bytes[k]),
               (long long)run->reach.blocks[k]);
        size_t n = 0;
        for (size_t i = 0; i < run->nsites; i++)
            if (run->sites[i].reach.blocks[k] > 0)
                idx[n++] = i;
        sorting_run = run;
        sorting_class = k;
        util_sort(idx, n, sizeof(size_t), by_class_bytes);
        for (size_t j = 0; j < n && j < shown; j++) {
            const struct site_series *s = &run->sites[idx[j]];
            format_site_frames(sym, s, 4, where, sizeof(where));
            printf("%12lld %10lld  %s\n", (long long)s->reach.bytes[k],
                   (long long)s->reach.blocks[k], where);
        }
        if (n > shown)
            printf("(%zu more sites; --top N shows more)\n", n - shown);
    }
    free(idx);
}

static void print_sites(const struct run_data *run, struct symbolizer *sym, size_t *order, size_t n,
                        size_t shown)
{
    char b2[32], where[1024];
    printf("%12s %10s %12s  %s\n", "BYTES", "BLOCKS", "GROWTH/s", "SITE (innermost first)");
    for (size_t k = 0; k < n && k < shown; k++) {
        const struct site_series *s = &run->sites[order[k]];
        format_site_frames(sym, s, 4, where, sizeof(where));
        printf("%12lld %10lld %12s  %s\n", (long long)s->end_bytes, (long long)s->end_blocks,
               format_bytes(b2, sizeof(b2), s->growth_bytes_per_s), where);
    }
    if (n > shown)
        printf("(%zu more sites; --top N shows more)\n", n - shown);
}

static int by_temporaries(const void *a, const void *b)
{
    uint64_t x = sorting_run->sites[*(const size_t *)a].temporary_calls;
    uint64_t y = sorting_run->sites[*(const size_t *)b].temporary_calls;
    return (x < y) - (x > y);
}

/* heaptrack's temporary allocations: blocks freed before their thread allocated anything
 * else, the churn a local variable or a reused buffer removes. Nothing when none (or a
 * recording from before sites.csv counted them). */
static void print_temporaries(const struct run_data *run, struct symbolizer *sym, size_t shown)
{
    uint64_t temporary = 0, calls = 0;
    size_t *idx = xcalloc(run->nsites ? run->nsites : 1, sizeof(size_t)), n = 0;
    for (size_t i = 0; i < run->nsites; i++) {
        temporary += run->sites[i].temporary_calls;
        calls += run->sites[i].alloc_calls;
        if (run->sites[i].temporary_calls)
            idx[n++] = i;
    }
    if (temporary) {
        char where[1024];
        const char *mode = rundata_fact(run, "mode");
        printf("\ntemporary allocations (freed before their thread allocated anything else): "
               "%llu of %llu allocations (%.1f%%)%s\n",
               (unsigned long long)temporary, (unsigned long long)calls,
               100.0 * (double)temporary / (double)(calls ? calls : 1),
               mode && !strcmp(mode, "sampled") ? " (estimated from samples)" : "");
        sorting_run = run;
        util_sort(idx, n, sizeof(size_t), by_temporaries);
        printf("%12s %12s %7s  %s\n", "TEMPORARY", "ALLOCATIONS", "SHARE",
               "SITE (innermost first)");
        for (size_t k = 0; k < n && k < shown; k++) {
            const struct site_series *s = &run->sites[idx[k]];
            format_site_frames(sym, s, 4, where, sizeof(where));
            printf("%12llu %12llu %6.1f%%  %s\n", (unsigned long long)s->temporary_calls,
                   (unsigned long long)s->alloc_calls,
                   100.0 * (double)s->temporary_calls /
                       (double)(s->alloc_calls ? s->alloc_calls : 1),
                   where);
        }
        if (n > shown)
            printf("(%zu more sites; --top N shows more)\n", n - shown);
    }
    free(idx);
}

static int print_text(const struct run_data *run, struct symbolizer *sym, size_t *order, size_t n,
                      size_t shown)
{
    int64_t bytes, blocks;
    char b1[32];
    totals(run, &bytes, &blocks);
    const char *mode = rundata_fact(run, "mode");
    bool exited = rundata_exited(run);
    printf("%s (%s mode)\n", run->dir, mode ? mode : "unknown");
    print_exec_chain(run);
    printf("%s: %s in %lld blocks at %zu sites%s\n",
           exited ? "unfreed at exit" : "live at the end of the recording (no clean exit)",
           format_bytes(b1, sizeof(b1), (double)bytes), (long long)blocks, n,
           mode && strcmp(mode, "exact") ? " (estimated from samples)" : "");
    if (run->has_reach)
        print_classes(run, sym, shown);
    else if (n)
        print_sites(run, sym, order, n, shown);
    print_temporaries(run, sym, shown);
    return 0;
}

static int parse_format(const char *name, enum leaks_format *out)
{
    static const char *const names[] = {"text", "json", "collapsed", "pprof", "flamegraph"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(name, names[i])) {
            *out = (enum leaks_format)i;
            return 0;
        }
    return -1;
}

/* 0 parsed, 1 --help printed, -1 a usage error (reported). */
static int parse_args(int argc, char **argv, struct leaks_args *a)
{
    static const struct option options[] = {{"json", no_argument, NULL, 'j'},
                                            {"top", required_argument, NULL, 't'},
                                            {"format", required_argument, NULL, 'f'},
                                            {"value", required_argument, NULL, 'v'},
                                            {"output", required_argument, NULL, 'o'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    *a = (struct leaks_args){.format = FORMAT_TEXT, .value = PV_EXIT_BYTES};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jt:o:h", options, NULL)) != -1) {
        if (c == 'j') {
            a->format = FORMAT_JSON;
        } else if (c == 't' && util_parse_uint(optarg, 1, 1000000, &a->top)) {
            util_error("--top wants a positive number, not '%s'", optarg);
            return -1;
        } else if (c == 'f' && parse_format(optarg, &a->format)) {
            util_error("--format wants text, json, collapsed, pprof or flamegraph, not '%s'",
                       optarg);
            return -1;
        } else if (c == 'v' && (a->value = profile_value_parse(optarg)) < 0) {
            util_error("--value wants exit, exit-blocks, peak, peak-blocks, growth, alloc, "
                       "alloc-blocks, temporary or a reachability class, not '%s'",
                       optarg);
            return -1;
        } else if (c == 'o') {
            a->output = optarg;
        } else if (c == 'h') {
            fputs(leaks_usage, stdout);
            return 1;
        } else if (c == '?') {
            fputs(leaks_usage, stderr);
            return -1;
        }
    }
    if (optind != argc - 1) {
        util_error("leaks wants one run directory; see 'allocscope leaks --help'");
        return -1;
    }
    a->dir = argv[optind];
    if (a->format == FORMAT_PPROF && (!a->output || !strcmp(a->output, "-"))) {
        util_error("--format pprof writes a binary file: name it with -o FILE.pb.gz");
        return -1;
    }
    if (a->format == FORMAT_FLAMEGRAPH && a->value != PV_EXIT_BYTES && a->value != PV_PEAK_BYTES &&
        a->value != PV_GROWTH) {
        util_error("--format flamegraph draws --value exit, peak or growth");
        return -1;
    }
    return 0;
}

static int list_sites(const struct leaks_args *a)
{
    struct run_data run;
    char err[512];
    if (rundata_load(&run, a->dir, RUNDATA_SITES, err, sizeof(err))) {
        util_error("%s", err);
        rundata_free(&run);
        return 2;
    }
    const char *mode = rundata_fact(&run, "mode");
    if (run.nsites == 0 && mode && !strcmp(mode, "count"))
        util_warn("%s was recorded without stacks (--sample none): no sites to list", run.dir);
    else if (run.nsites == 0)
        util_warn("%s has no allocation sites (no stacks.csv, or an empty one)", run.dir);
    size_t *order;
    size_t n = leaks_rank(&run, &order);
    struct symbolizer *sym = symbolizer_new(run.maps_text);
    int rc = a->format == FORMAT_JSON
                 ? print_json(&run, sym, order, a->top ? (n < a->top ? n : a->top) : n)
                 : print_text(&run, sym, order, n, a->top ? a->top : 10);
    symbolizer_free(sym);
    free(order);
    rundata_free(&run);
    return rc;
}

static void write_flamegraph(FILE *out, const struct leaks_args *a, const struct site_profile *p)
{
    enum flame_kind kind = a->value == PV_PEAK_BYTES ? FLAME_PEAK
                           : a->value == PV_GROWTH   ? FLAME_GROWTH
                                                     : FLAME_EXIT;
    const char *name =
        strrchr(a->dir, '/') && strrchr(a->dir, '/')[1] ? strrchr(a->dir, '/') + 1 : a->dir;
    char *title = util_format("%s: %s", name, flame_kind_title(kind, p->exited));
    struct flame_svg_options o = {.id = "fg", .title = title, .standalone = true};
    flame_write_svg(out, p, kind, &o);
    free(title);
}

/* Collapsed stacks or a flame graph to stdout or -o FILE (written whole or not at all). */
static int write_text_export(const struct leaks_args *a, const struct site_profile *p)
{
    bool to_stdout = !a->output || !strcmp(a->output, "-");
    struct atomic_file *file = to_stdout ? NULL : atomic_file_open(a->output);
    char why[ATOMIC_FILE_ERROR_MAX];
    if (!to_stdout && !file) {
        util_error("%s", atomic_file_error(why, sizeof(why), a->output, errno));
        return 2;
    }
    FILE *out = to_stdout ? stdout : atomic_file_stream(file);
    if (a->format == FORMAT_FLAMEGRAPH)
        write_flamegraph(out, a, p);
    else
        collapsed_write(out, p, (enum profile_value)a->value);
    if (file && atomic_file_commit(file)) {
        util_error("%s", atomic_file_error(why, sizeof(why), a->output, errno));
        return 2;
    }
    return 0;
}

static int export_stacks(const struct leaks_args *a)
{
    struct site_profile p;
    char err[512];
    int rc = 0;
    if (site_profile_load(&p, a->dir, err, sizeof(err))) {
        util_error("%s", err);
        rc = 2;
    } else if (a->value >= PV_DEFINITELY_LOST && !p.has_reach) {
        util_error("%s has no reachability.csv (recorded with --sample all, ending in exit); "
                   "--value %s needs it",
                   a->dir, profile_value_name((enum profile_value)a->value));
        rc = 2;
    } else {
        if (!p.n)
            util_warn("%s has no allocation stacks (recorded with --sample none?): nothing to "
                      "export",
                      a->dir);
        if (a->format != FORMAT_PPROF) {
            rc = write_text_export(a, &p);
        } else if (pprof_write(&p, a->output, err, sizeof(err))) {
            util_error("%s", err);
            rc = 2;
        }
    }
    site_profile_free(&p);
    return rc;
}

int cmd_leaks(int argc, char **argv)
{
    struct leaks_args a;
    int parsed = parse_args(argc, argv, &a);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    if (a.format != FORMAT_TEXT && a.format != FORMAT_JSON)
        return export_stacks(&a);
    if (a.output)
        util_warn("-o applies to --format collapsed, pprof and flamegraph; the list goes to "
                  "stdout");
    return list_sites(&a);
}
