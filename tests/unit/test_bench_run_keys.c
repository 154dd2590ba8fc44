/* Unit tests of a bench target's keys about its load figures and its end (load_format,
 * throughput_regex, p50_regex, p99_regex, batch, timeout_s) and of {file_dir}. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/bench_spec.h"

static char err[1024];

static int parse(struct bench_spec *spec, const char *text)
{
    assert_int_equal(bench_spec_init(spec, "quick", err, sizeof(err)), 0);
    return bench_spec_parse(spec, "/srv/benches/b.ini", text, NULL, err, sizeof(err));
}

static void keys_in_a_bench_file(void **state)
{
    (void)state;
    struct bench_spec spec;
    assert_int_equal(parse(&spec, "[target kv]\n"
                                  "command = memcached -p {port}\n"
                                  "load = memcaslap -s 127.0.0.1:{port} -t {duration}s\n"
                                  "throughput_regex = TPS: ([0-9.]+)\n"
                                  "p99_regex = p99=([0-9.]+)\n"
                                  "[target web]\n"
                                  "command = nginx -p {workdir}\n"
                                  "load_format = wrk\n"
                                  "[target build]\n"
                                  "command = cc -c big.c\n"
                                  "batch = true\n"
                                  "timeout_s = 120\n"),
                     0);
    assert_int_equal(spec.n_targets, 3);
    const struct bench_target *kv = &spec.targets[0], *web = &spec.targets[1],
                              *build = &spec.targets[2];
    assert_string_equal(kv->throughput_regex, "TPS: ([0-9.]+)");
    assert_string_equal(kv->p99_regex, "p99=([0-9.]+)");
    assert_null(kv->p50_regex);
    assert_int_equal(kv->load_format, LOAD_FORMAT_AUTO);
    assert_false(kv->batch);
    assert_int_equal(web->load_format, LOAD_FORMAT_WRK);
    assert_true(build->batch);
    assert_true(build->timeout_s == 120);
    assert_true(kv->timeout_s == 600); /* the default */
    bench_spec_free(&spec);
}

static void bad_values_name_the_line(void **state)
{
    (void)state;
    struct bench_spec spec;
    assert_int_equal(parse(&spec, "[target t]\ncommand = x\nload_format = jmeter\n"), -1);
    assert_non_null(strstr(err, "b.ini:3: unknown load_format 'jmeter'"));
    assert_non_null(strstr(err, "redis-benchmark"));
    bench_spec_free(&spec);
    assert_int_equal(parse(&spec, "[target t]\ncommand = x\nthroughput_regex = TPS: ([0-9]+\n"),
                     -1);
    assert_non_null(strstr(err, "b.ini:3: bad throughput_regex"));
    bench_spec_free(&spec);
    assert_int_equal(parse(&spec, "[target t]\ncommand = x\nbatch = maybe\n"), -1);
    assert_non_null(strstr(err, "batch wants true or false"));
    bench_spec_free(&spec);
    assert_int_equal(parse(&spec, "[target t]\ncommand = x\ntimeout_s = 0\n"), -1);
    assert_non_null(strstr(err, "timeout_s"));
    bench_spec_free(&spec);
    assert_int_equal(parse(&spec, "[target t]\ncommand = x\nload_fromat = wrk\n"), -1);
    assert_non_null(strstr(err, "unknown key 'load_fromat'"));
    assert_non_null(strstr(err, "load_format"));
    bench_spec_free(&spec);
}

/* The same keys as the command line's --load-format ... --timeout set them. */
static void set_run_key_directly(void **state)
{
    (void)state;
    struct bench_spec spec;
    assert_int_equal(bench_spec_init(&spec, "quick", err, sizeof(err)), 0);
    assert_int_equal(bench_spec_add_command(&spec, NULL, "redis-server --port {port}", "x", "port",
                                            err, sizeof(err)),
                     0);
    struct bench_target *t = &spec.targets[0];
    assert_int_equal(
        bench_target_set_run_key(t, "load_format", "redis-benchmark", err, sizeof(err)), 0);
    assert_int_equal(t->load_format, LOAD_FORMAT_REDIS_BENCHMARK);
    assert_int_equal(bench_target_set_run_key(t, "command", "y", err, sizeof(err)), 1);
    assert_int_equal(bench_target_set_run_key(t, "timeout_s", "soon", err, sizeof(err)), -1);
    bench_spec_free(&spec);
}

/* {file_dir}: the bench file's directory, for the files beside it (examples/). */
static void file_dir_placeholder(void **state)
{
    (void)state;
    struct bench_spec spec;
    assert_int_equal(parse(&spec, "[target t]\ncommand = {file_dir}/start.sh {port}\n"), 0);
    assert_string_equal(bench_vars_get(&spec.targets[0].params, "file_dir"), "/srv/benches");
    bench_spec_free(&spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_in_a_bench_file),
        cmocka_unit_test(bad_values_name_the_line),
        cmocka_unit_test(set_run_key_directly),
        cmocka_unit_test(file_dir_placeholder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
