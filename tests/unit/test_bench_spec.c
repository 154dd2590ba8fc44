/* Unit tests of bench file parsing, placeholders, the matrix and results.csv/cell.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/bench_results.h"
#include "harness/bench_spec.h"
#include "allocators/registry.h"
#include "common/atomic_file.h"
#include "common/util.h"

static char err[1024];

static const char registry_fixture[] = "[allocator glibc]\n"
                                       "library =\n"
                                       "[allocator fakealloc]\n"
                                       "library = /nonexistent/libfake.so\n"
                                       "package = fakealloc-pkg\n"
                                       "kind = jemalloc\n"
                                       "[config glibc:default]\n"
                                       "main = true\n"
                                       "[config glibc:trim]\n"
                                       "main = true\n"
                                       "env = ALLOCSCOPE_TRIM_MS=1000\n"
                                       "[config glibc:arena2]\n"
                                       "env = GLIBC_TUNABLES=glibc.malloc.arena_max=2\n"
                                       "[config fakealloc:default]\n"
                                       "main = true\n";

static struct registry *fixture_registry(void)
{
    struct registry *reg = registry_new();
    assert_int_equal(registry_merge_text(reg, "fixture.ini", registry_fixture, err, sizeof(err)),
                     0);
    assert_int_equal(registry_finish(reg, err, sizeof(err)), 0);
    return reg;
}

static int parse(struct bench_spec *spec, const char *text)
{
    assert_int_equal(bench_spec_init(spec, "quick", err, sizeof(err)), 0);
    return bench_spec_parse(spec, "b.ini", text, "/nonexistent", err, sizeof(err));
}

static void test_parse_file(void **state)
{
    (void)state;
    struct bench_spec spec;
    int rc = parse(&spec, "# a bench\n"
                          "[bench]\n"
                          "repeats = 2\n"
                          "idle_s = 0.5\n"
                          "load_s = 1.5\n"
                          "cooldown_s = 2\n"
                          "interval_ms = 50\n"
                          "allocators = glibc, glibc:trim\n"
                          "\n"
                          "[target app]\n"
                          "command = ./app --port {port} 'two words'\n"
                          "load = kill -USR1 {pid}\n"
                          "ready = port\n"
                          "variants = a, b\n"
                          "var.size = 10\n");
    assert_int_equal(rc, 0);
    assert_int_equal(spec.repeats, 2);
    assert_int_equal(spec.interval_ms, 50);
    assert_true(spec.idle_s == 0.5 && spec.load_s == 1.5 && spec.cooldown_s == 2);
    assert_true(spec.load_s_set && spec.cooldown_s_set);
    assert_int_equal(spec.n_allocators, 2);
    assert_string_equal(spec.allocators[1], "glibc:trim");
    assert_int_equal(spec.n_targets, 1);
    struct bench_target *t = &spec.targets[0];
    assert_string_equal(t->name, "app");
    assert_string_equal(t->load, "kill -USR1 {pid}");
    assert_string_equal(t->ready, "port");
    assert_int_equal(t->n_variants, 2);
    assert_string_equal(t->variants[1], "b");
    assert_string_equal(bench_vars_get(&t->params, "size"), "10");
    assert_string_equal(t->origin, "b.ini:10");
    bench_spec_free(&spec);
}

/* The spec's allocator names resolved by the registry, then the matrix, as allocscope
 * bench does. */
static int matrix(const struct bench_spec *spec, const struct registry *reg,
                  struct bench_cell **cells, size_t *n)
{
    const struct allocator_config **configs;
    size_t n_configs;
    if (registry_select(reg, spec->allocators, spec->n_allocators, &configs, &n_configs, err,
                        sizeof(err)))
        return -1;
    int rc = bench_matrix_build(spec, configs, n_configs, cells, n, err, sizeof(err));
    free(configs);
    return rc;
}

static void expect_error(const char *text, const char *fragment)
{
    struct bench_spec spec;
    err[0] = '\0';
    assert_int_equal(parse(&spec, text), -1);
    if (!strstr(err, fragment))
        fail_msg("message '%s' lacks '%s'", err, fragment);
    bench_spec_free(&spec);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("[bench]\nrepeats = 1\nrepaets = 2\n",
                 "b.ini:3: unknown key 'repaets' in [bench]");
    expect_error("[bench]\nrepeats = many\n", "b.ini:2: bad value 'many' for repeats");
    expect_error("[bench]\n\n[targets x]\ncommand = a\n", "b.ini:3: unknown section [targets x]");
    expect_error("[bench]\nthis is not ini\n", "b.ini:2: malformed line");
    expect_error("[target x]\nload = a\n", "b.ini:1: [target x] has no command");
    expect_error("[target x]\ncommand = a\nready = soon\n", "b.ini:3: ready wants delay:MS");
    expect_error("[target x]\ncommand = a 'b\n", "b.ini:2: unbalanced ' quote");
    expect_error("[target x]\ncommand = a\ncomand = b\n", "b.ini:3: unknown key 'comand'");
    expect_error("[bench]\nprofile = fast\n", "b.ini:2: unknown profile 'fast'");
    expect_error("[target x]\nworkload = nosuch\n", "b.ini:2: no reference workload 'nosuch'");
    /* Names make the cell directories under -o: one safe path component each. */
    expect_error("[target x]\ncommand = a\nvariants = a, ../b\n",
                 "b.ini:3: variant '../b' is not a valid name");
    expect_error("[target x]\ncommand = a\nvariants = -v\n", "b.ini:3: variant '-v'");
    expect_error("[target x]\ncommand = a\nvariants = a\033b\n", "b.ini:3: variant 'a?b'");
    expect_error("[target .x]\ncommand = a\n", "b.ini:1: target '.x' is not a valid name");
    expect_error("[target x]\nworkload = ../x\n", "b.ini:2: workload '../x' is not a valid name");
    struct bench_spec spec;
    assert_int_equal(parse(&spec, "[target x+1.y_z-w]\ncommand = a\nvariants = v1.2+fix\n"), 0);
    assert_string_equal(spec.targets[0].variants[0], "v1.2+fix");
    bench_spec_free(&spec);
    assert_int_equal(bench_spec_init(&spec, "quick", err, sizeof(err)), 0);
    assert_int_equal(bench_spec_add_command(&spec, "../x", "true", NULL, NULL, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "target '../x' is not a valid name"));
    assert_int_equal(bench_spec_add_command(&spec, NULL, "/x/.a-b", NULL, NULL, err, sizeof(err)),
                     0);
    assert_string_equal(spec.targets[0].name, "_a_b");
    bench_spec_free(&spec);
}

/* Repeats, as before the one INI reader: a later key replaces an earlier one, and a
 * [target NAME] given twice is one target with the keys of both. */
static void test_repeated_keys_and_sections(void **state)
{
    (void)state;
    struct bench_spec spec;
    int rc = parse(&spec, "[bench]\nrepeats = 2\nrepeats = 3\n"
                          "[target x]\ncommand = a\nvar.n = 1\n"
                          "[target y]\ncommand = c\n"
                          "[target x]\ncommand = b\nvar.n = 2\nload = l\n");
    assert_int_equal(rc, 0);
    assert_int_equal(spec.repeats, 3);
    assert_int_equal(spec.n_targets, 2);
    assert_string_equal(spec.targets[0].name, "x");
    assert_string_equal(spec.targets[0].command, "b");
    assert_string_equal(spec.targets[0].load, "l");
    assert_string_equal(bench_vars_get(&spec.targets[0].params, "n"), "2");
    assert_string_equal(spec.targets[0].origin, "b.ini:4");
    bench_spec_free(&spec);
}

/* Commands far longer than the 198 characters inih read, in a CRLF file. */
static void test_long_command_lines(void **state)
{
    (void)state;
    size_t n = 5000;
    char *args = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        args[i] = i % 10 == 5 ? ' ' : 'a';
    args[n] = '\0';
    char *text = util_format("[bench]\r\nrepeats = 2\r\n[target x]\r\ncommand = prog %s\r\n"
                             "load = sh -c 'echo %s'\r\n",
                             args, args);
    struct bench_spec spec;
    if (parse(&spec, text))
        fail_msg("%s", err);
    char *command = util_format("prog %s", args), *load = util_format("sh -c 'echo %s'", args);
    assert_string_equal(spec.targets[0].command, command);
    assert_string_equal(spec.targets[0].load, load);
    assert_int_equal(spec.repeats, 2);
    bench_spec_free(&spec);
    free(load);
    free(command);
    free(text);
    free(args);
}

/* A bench file read from disk: a NUL byte is named by its line, not the end of the file. */
static void test_load_file_with_nul(void **state)
{
    (void)state;
    char path[] = "/tmp/test_bench_spec_nul.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "[target x]\ncommand = a\n\0\n[target y]\ncommand = b\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    struct bench_spec spec;
    assert_int_equal(bench_spec_init(&spec, "quick", err, sizeof(err)), 0);
    assert_int_equal(bench_spec_load(&spec, path, "/nonexistent", err, sizeof(err)), -1);
    char *expected = util_format("%s:3: NUL byte in the file", path);
    if (!strstr(err, expected))
        fail_msg("message '%s' lacks '%s'", err, expected);
    bench_spec_free(&spec);
    assert_int_equal(bench_spec_init(&spec, "quick", err, sizeof(err)), 0);
    assert_int_equal(bench_spec_load(&spec, "/dev/zero", "/nonexistent", err, sizeof(err)), -1);
    assert_string_equal(err, "cannot read bench file /dev/zero: File too large");
    bench_spec_free(&spec);
    unlink(path);
    free(expected);
}

static void test_profile_from_file(void **state)
{
    (void)state;
    struct bench_spec spec;
    assert_int_equal(parse(&spec, "[bench]\nprofile = standard\n[target x]\ncommand = a\n"), 0);
    assert_string_equal(spec.profile, "standard");
    assert_int_equal(spec.repeats, 3);
    bench_spec_free(&spec);
}

static void test_expand(void **state)
{
    (void)state;
    struct bench_vars vars = {0};
    bench_vars_set(&vars, "port", "8080");
    bench_vars_set(&vars, "json", "/d/load.json");
    char *s = bench_expand("x --port {port} --json {json} ${HOME} { a; }", &vars, err, sizeof(err));
    assert_non_null(s);
    assert_string_equal(s, "x --port 8080 --json /d/load.json ${HOME} { a; }");
    free(s);
    assert_null(bench_expand("x {nope}", &vars, err, sizeof(err)));
    assert_non_null(strstr(err, "unknown placeholder {nope}"));
    bench_vars_free(&vars);
}

static void test_split_words(void **state)
{
    (void)state;
    char **w = bench_split_words("  prog 'a b' \"c d\" e\\ f  ''", err, sizeof(err));
    assert_non_null(w);
    assert_string_equal(w[0], "prog");
    assert_string_equal(w[1], "a b");
    assert_string_equal(w[2], "c d");
    assert_string_equal(w[3], "e f");
    assert_string_equal(w[4], "");
    assert_null(w[5]);
    bench_free_words(w);
    assert_null(bench_split_words("   ", err, sizeof(err)));
}

static void test_ready(void **state)
{
    (void)state;
    bool is_port;
    unsigned v;
    assert_int_equal(bench_parse_ready("port", &is_port, &v), 0);
    assert_true(is_port && v == 0);
    assert_int_equal(bench_parse_ready("port:8080", &is_port, &v), 0);
    assert_true(is_port && v == 8080);
    assert_int_equal(bench_parse_ready("delay:250", &is_port, &v), 0);
    assert_true(!is_port && v == 250);
    assert_int_equal(bench_parse_ready("port:0", &is_port, &v), -1);
    assert_int_equal(bench_parse_ready("delay:x", &is_port, &v), -1);
}

static void test_matrix(void **state)
{
    (void)state;
    struct registry *reg = fixture_registry();
    struct bench_spec spec;
    assert_int_equal(parse(&spec, "[bench]\nrepeats = 2\nallocators = main glibc:arena2\n"
                                  "[target x]\ncommand = a\nvariants = v1,v2\n"
                                  "[target y]\ncommand = b\n"),
                     0);
    struct bench_cell *cells;
    size_t n;
    assert_int_equal(matrix(&spec, reg, &cells, &n), 0);
    /* main = glibc:default, glibc:trim (fakealloc is not installed); plus arena2 */
    assert_int_equal(n, (2 + 1) * 3 * 2);
    assert_string_equal(cells[0].name, "x-v1-glibc-default-r1");
    assert_string_equal(cells[1].name, "x-v1-glibc-default-r2");
    assert_string_equal(cells[2].name, "x-v1-glibc-trim-r1");
    assert_string_equal(cells[n - 1].name, "y-none-glibc-arena2-r2");
    assert_int_equal(cells[n - 1].index, n);
    assert_ptr_equal(bench_matrix_find(cells, n, "3"), &cells[2]);
    assert_ptr_equal(bench_matrix_find(cells, n, "y-none-glibc-arena2-r2"), &cells[n - 1]);
    assert_null(bench_matrix_find(cells, n, "0"));
    assert_null(bench_matrix_find(cells, n, "99"));
    free(cells);
    bench_spec_free(&spec);

    assert_int_equal(parse(&spec, "[bench]\nallocators = fakealloc\n[target x]\ncommand = a\n"), 0);
    assert_int_equal(matrix(&spec, reg, &cells, &n), -1);
    assert_non_null(strstr(err, "allocator 'fakealloc' is not installed"));
    assert_non_null(strstr(err, "/nonexistent/libfake.so"));
    bench_spec_free(&spec);

    assert_int_equal(parse(&spec, "[bench]\nallocators = glibc:fast\n[target x]\ncommand = a\n"),
                     0);
    assert_int_equal(matrix(&spec, reg, &cells, &n), -1);
    assert_non_null(strstr(err, "no configuration 'fast'"));
    bench_spec_free(&spec);
    registry_free(reg);
}

static void test_fit(void **state)
{
    (void)state;
    struct bench_cell cells[60];
    for (int i = 0; i < 60; i++)
        cells[i] = (struct bench_cell){.idle_s = 1, .load_s = 4, .cooldown_s = 3};
    bench_matrix_fit(cells, 30, 285, 0.8); /* 30 x 8.8 s fits: unchanged */
    assert_true(cells[0].load_s == 4 && cells[0].cooldown_s == 3);
    bench_matrix_fit(cells, 54, 285, 0.8); /* 54 cells: shrunk to fit */
    double total = 0;
    for (int i = 0; i < 54; i++)
        total += cells[i].idle_s + cells[i].load_s + cells[i].cooldown_s + 0.8;
    assert_true(total <= 285 + 54 * 0.05);
    assert_true(cells[0].load_s >= 2 && cells[0].cooldown_s >= 1.5 && cells[0].idle_s >= 0.5);
    assert_true(cells[0].load_s < 4);
}

static void test_scenario(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_bench_spec.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *sub = util_format("%s/wl", dir), *path = util_format("%s/wl/scenario.ini", dir);
    assert_int_equal(util_mkdir_p(sub), 0);
    char long_description[5000]; /* beyond inih's 198 characters and a 4 KiB buffer */
    memset(long_description, 'x', sizeof(long_description) - 1);
    long_description[sizeof(long_description) - 1] = '\0';
    char *text = util_format("[scenario]\nname = wl\ndescription = %s\nvariants = leaky,fixed\n"
                             "target = wl-x --port {port} --n {objects} --variant {variant}\n"
                             "ready = port\nload = gen --duration {duration} --json {json}\n"
                             "[quick]\nobjects = 10\nduration = 9\nidle = 1\n"
                             "[large]\nobjects = 1000\nduration = 60\n",
                             long_description);
    assert_int_equal(atomic_file_write(path, text, strlen(text)), 0);
    struct bench_spec spec;
    char *bench = util_format("[target w]\nworkload = wl\nready = delay:5\n");
    assert_int_equal(bench_spec_init(&spec, "quick", err, sizeof(err)), 0);
    assert_int_equal(bench_spec_parse(&spec, "b.ini", bench, dir, err, sizeof(err)), 0);
    struct bench_target *t = &spec.targets[0];
    assert_string_equal(t->name, "w");
    assert_string_equal(t->ready, "delay:5");
    assert_int_equal(t->n_variants, 2);
    assert_string_equal(bench_vars_get(&t->params, "objects"), "10");
    struct registry *reg = fixture_registry();
    bench_spec_add_allocators(&spec, "glibc");
    struct bench_cell *cells;
    size_t n;
    assert_int_equal(matrix(&spec, reg, &cells, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(cells[1].name, "w-fixed-glibc-default-r1");
    /* quick caps the scenario's 9 s load at the profile's 4 s; its idle (1 s) is shorter */
    assert_true(cells[0].load_s == 4 && cells[0].cooldown_s == 1);
    free(cells);
    registry_free(reg);
    bench_spec_free(&spec);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
    free(bench);
    free(text);
    free(path);
    free(sub);
}

static void test_results_roundtrip(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_bench_results.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct bench_results r = {0};
    struct bench_row row;
    bench_row_init(&row);
    bench_row_set(&row, COL_CELL, "b-none-glibc-default-r1");
    bench_row_set(&row, COL_STATUS, "failed:crashed:SIGSEGV");
    bench_row_set(&row, COL_PEAK_RSS, "%lld", 123456789LL);
    bench_row_set(&row, COL_CPU, "%.3f", 1.25);
    bench_row_set(&row, COL_ERROR, "killed, line\nbreak");
    bench_results_put(&r, &row);
    assert_string_equal(r.rows[0].fields[COL_ERROR], "killed; line break");
    bench_row_set(&row, COL_CELL, "a-none-glibc-default-r1");
    bench_row_set(&row, COL_STATUS, "ok");
    bench_results_put(&r, &row);
    char *order[] = {"a-none-glibc-default-r1", "b-none-glibc-default-r1"};
    bench_results_sort(&r, order, 2);
    assert_string_equal(r.rows[0].fields[COL_CELL], "a-none-glibc-default-r1");
    char *csv_path = util_format("%s/results.csv", dir);
    assert_int_equal(bench_results_write(&r, csv_path), 0);
    struct bench_results back;
    assert_int_equal(bench_results_load(&back, csv_path, err, sizeof(err)), 0);
    assert_int_equal(back.n, 2);
    assert_string_equal(back.rows[1].fields[COL_STATUS], "failed:crashed:SIGSEGV");
    assert_string_equal(back.rows[1].fields[COL_PEAK_RSS], "123456789");
    assert_string_equal(back.rows[1].fields[COL_IDLE_RSS], "");
    assert_int_equal(bench_cell_json_write(dir, &back.rows[1]), 0);
    char *json_path = util_format("%s/cell.json", dir);
    struct bench_row from_json;
    assert_int_equal(bench_cell_json_read(json_path, &from_json, err, sizeof(err)), 0);
    for (int i = 0; i < BENCH_NCOLS; i++) /* numbers come back as numbers: 1.250 is 1.25 */
        if (strtod(back.rows[1].fields[i], NULL) != 0)
            assert_true(strtod(from_json.fields[i], NULL) == strtod(back.rows[1].fields[i], NULL));
        else
            assert_string_equal(from_json.fields[i], back.rows[1].fields[i]);
    bench_row_free(&from_json);
    bench_row_free(&row);
    bench_results_free(&r);
    bench_results_free(&back);
    unlink(csv_path);
    unlink(json_path);
    rmdir(dir);
    free(csv_path);
    free(json_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_file),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_repeated_keys_and_sections),
        cmocka_unit_test(test_long_command_lines),
        cmocka_unit_test(test_load_file_with_nul),
        cmocka_unit_test(test_profile_from_file),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_split_words),
        cmocka_unit_test(test_ready),
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_fit),
        cmocka_unit_test(test_scenario),
        cmocka_unit_test(test_results_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
