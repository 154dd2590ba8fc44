/* allocscope diff A B [--json] [--top N]: which allocation sites hold more (or less) memory in
 * B than in A: two runs, two bench cells, or two benches cell by cell. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/json_text.h"
#include "common/util.h"
#include "reports/site_diff.h"

static const char diff_usage[] =
    "usage: allocscope diff A B [--json] [--top N]\n"
    "  Compares the allocation sites of two recordings: two run directories (allocscope run),\n"
    "  two bench cells (BENCH/cells/CELL), or two bench directories (each cell of A with the\n"
    "  cell of B of the same workload, variant and configuration, repeats pooled by their\n"
    "  median). Per site, matched by its functions (addresses move between builds): bytes and\n"
    "  blocks at the peak and at exit and the growth rate, in A and in B, and the change,\n"
    "  largest regression first (the larger increase of the bytes at the peak and at exit).\n"
    "  --json    machine-readable output (schema in docs/FORMAT.md)\n"
    "  --top N   at most N sites per comparison (default 10 as text, all as JSON)\n"
    "Exit status: 0 compared (whatever changed), 2 on a usage or input error.\n";

struct diff_args {
    const char *a, *b;
    bool json;
    uint64_t top;
};

/* One pair compared: two runs, or the cell KEY of two benches. */
struct comparison {
    char *key; /* NULL for two runs */
    struct site_set a, b;
    struct site_diff diff;
    char error[512];
};

static int parse_args(int argc, char **argv, struct diff_args *a)
{
    static const struct option options[] = {{"json", no_argument, NULL, 'j'},
                                            {"top", required_argument, NULL, 't'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jt:h", options, NULL)) != -1) {
        if (c == 'j') {
            a->json = true;
        } else if (c == 't') {
            if (util_parse_uint(optarg, 1, 1000000, &a->top)) {
                util_error("--top wants a positive number, not '%s'", optarg);
                return -1;
            }
        } else if (c == 'h') {
            fputs(diff_usage, stdout);
            return 1;
        } else {
            fputs(diff_usage, stderr);
            return -1;
        }
    }
    if (argc - optind != 2) {
        util_error("diff wants two recordings, A and B; see 'allocscope diff --help'");
        return -1;
    }
    a->a = argv[optind];
    a->b = argv[optind + 1];
    return 0;
}

static void compare(struct comparison *c, char *const *a_dirs, size_t na, char *const *b_dirs,
                    size_t nb)
{
    if (site_set_load(&c->a, a_dirs, na, c->error, sizeof(c->error)) ||
        site_set_load(&c->b, b_dirs, nb, c->error, sizeof(c->error)))
        return;
    site_diff_compute(&c->a, &c->b, &c->diff);
}

static double worst(const struct comparison *c)
{
    return c->diff.n ? c->diff.rows[0].score : 0;
}

static int by_worst(const void *x, const void *y)
{
    double a = worst(x), b = worst(y);
    return (a < b) - (a > b);
}

/* Keys of A that B has (compared), and those of only one side. */
static size_t compare_benches(const struct diff_args *args, struct comparison **out, char ***only_a,
                              size_t *n_only_a, char ***only_b, size_t *n_only_b)
{
    char **ka, **kb;
    size_t na = bench_cell_keys(args->a, &ka), nb = bench_cell_keys(args->b, &kb), n = 0;
    *out = xcalloc(na + 1, sizeof(**out));
    *only_a = xcalloc(na + 1, sizeof(char *));
    *only_b = xcalloc(nb + 1, sizeof(char *));
    *n_only_a = *n_only_b = 0;
    for (size_t i = 0, j = 0; i < na || j < nb;) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(ka[i], kb[j]);
        if (c < 0) {
            (*only_a)[(*n_only_a)++] = xstrdup(ka[i++]);
        } else if (c > 0) {
            (*only_b)[(*n_only_b)++] = xstrdup(kb[j++]);
        } else {
            char **da, **db;
            size_t ra = bench_cell_repeats(args->a, ka[i], &da);
            size_t rb = bench_cell_repeats(args->b, kb[j], &db);
            struct comparison *cmp = &(*out)[n++];
            cmp->key = xstrdup(ka[i]);
            compare(cmp, da, ra, db, rb);
            bench_strings_free(da, ra);
            bench_strings_free(db, rb);
            i++, j++;
        }
    }
    bench_strings_free(ka, na);
    bench_strings_free(kb, nb);
    util_sort(*out, n, sizeof(**out), by_worst);
    return n;
}

static void print_text(const struct diff_args *args, const struct comparison *c, size_t n)
{
    size_t top = args->top ? args->top : 10;
    if (n && !c[0].key)
        printf("A: %s\nB: %s\n", args->a, args->b);
    for (size_t i = 0; i < n; i++) {
        const struct comparison *cmp = &c[i];
        const char *indent = cmp->key ? "  " : "";
        if (cmp->key)
            printf("%s%s (repeats: %zu in A, %zu in B)\n", i ? "\n" : "", cmp->key, cmp->a.repeats,
                   cmp->b.repeats);
        if (cmp->error[0]) {
            printf("%scannot compare: %s\n", indent, cmp->error);
            continue;
        }
        printf("%s%zu site%s changed, %zu more at the peak, at exit or growing faster in B%s%s\n",
               indent, cmp->diff.n, cmp->diff.n == 1 ? "" : "s", site_diff_regressions(&cmp->diff),
               cmp->diff.sampled ? " (sampled: estimates)" : "",
               cmp->diff.n ? "; largest regression first:" : "");
        site_diff_print(stdout, &cmp->diff, top, indent);
    }
}

static json_t *strings_json(char **list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_text(list[i]));
    return a;
}

static int print_json(const struct diff_args *args, bool benches, const struct comparison *c,
                      size_t n, json_t *only_a, json_t *only_b)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct comparison *cmp = &c[i];
        json_t *o = json_pack("{s:o, s:I, s:I}", "cell", json_text(cmp->key), "a_repeats",
                              (json_int_t)cmp->a.repeats, "b_repeats", (json_int_t)cmp->b.repeats);
        if (cmp->error[0]) {
            json_object_set_new(o, "error", json_text(cmp->error));
        } else {
            json_object_set_new(o, "sampled", json_boolean(cmp->diff.sampled));
            json_object_set_new(o, "sites", site_diff_json(&cmp->diff, args->top));
        }
        json_array_append_new(list, o);
    }
    json_t *root = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "kind", benches ? "benches" : "runs",
                             "a", json_text(args->a), "b", json_text(args->b), "comparisons", list,
                             "only_in_a", only_a, "only_in_b", only_b);
    int rc = json_text_print(root, JSON_INDENT(2), "the comparison");
    json_decref(root);
    return rc;
}

int cmd_diff(int argc, char **argv)
{
    struct diff_args args = {0};
    int parsed = parse_args(argc, argv, &args);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    bool a_bench = bench_dir_is_bench(args.a), b_bench = bench_dir_is_bench(args.b);
    if (a_bench != b_bench) {
        util_error("%s is a %s and %s a %s: compare two runs (or bench cells) or two benches",
                   args.a, a_bench ? "bench" : "run", args.b, b_bench ? "bench" : "run");
        return 2;
    }
    struct comparison *c;
    char **only_a = NULL, **only_b = NULL;
    size_t n, n_only_a = 0, n_only_b = 0;
    if (a_bench) {
        n = compare_benches(&args, &c, &only_a, &n_only_a, &only_b, &n_only_b);
    } else {
        n = 1;
        c = xcalloc(1, sizeof(*c));
        compare(c, (char *const *)&args.a, 1, (char *const *)&args.b, 1);
        if (c->error[0]) { /* two runs: nothing else to show */
            util_error("%s", c->error);
            site_set_free(&c->a);
            site_set_free(&c->b);
            free(c);
            return 2;
        }
    }
    if (a_bench && !n)
        util_warn("%s and %s have no cell in common", args.a, args.b);
    int rc = 0;
    if (args.json) {
        if (print_json(&args, a_bench, c, n, strings_json(only_a, n_only_a),
                       strings_json(only_b, n_only_b)))
            rc = 2;
    } else {
        print_text(&args, c, n);
        for (size_t i = 0; i < n_only_a; i++)
            printf("%s only in A (%s)\n", only_a[i], args.a);
        for (size_t i = 0; i < n_only_b; i++)
            printf("%s only in B (%s)\n", only_b[i], args.b);
    }
    for (size_t i = 0; i < n; i++) {
        free(c[i].key);
        site_diff_free(&c[i].diff);
        site_set_free(&c[i].a);
        site_set_free(&c[i].b);
    }
    free(c);
    bench_strings_free(only_a, n_only_a);
    bench_strings_free(only_b, n_only_b);
    return rc;
}
