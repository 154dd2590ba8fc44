/* The exports other tools read (reports/stack_export.h): collapsed stacks with exactly the
 * stacks' bytes, frames that cannot break a line, and pprof's profile.proto, gzip'd, whose
 * totals are the stacks'. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "common/util.h"
#include "reports/profile.pb-c.h"
#include "reports/stack_export.h"
#include "tests/unit/fake_profile.h"

static char *collapsed(const struct site_profile *p, enum profile_value v, size_t *lines)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    *lines = collapsed_write(f, p, v);
    fclose(f);
    return text;
}

static void known_stacks(void **state)
{
    (void)state;
    struct site_profile p;
    fake_profile_init(&p);
    struct profile_stack *a = fake_stack(&p, "leak_a|handler|main");
    a->exit_bytes = 1000, a->exit_blocks = 10, a->peak_bytes = 1500;
    struct profile_stack *b = fake_stack(&p, "leak_b|handler|main");
    b->exit_bytes = 3000, b->exit_blocks = 3;
    fake_stack(&p, "freed|main")->peak_bytes = 77; /* nothing at exit: left out */
    /* The same functions from another call line: one stack in the output, summed. */
    fake_stack(&p, "leak_a|handler|main")->exit_bytes = 24;
    struct profile_stack *in = fake_stack(&p, "push_back+|fill|main");
    in->exit_bytes = 5;
    in->growth_bytes_per_s = 12.6;
    size_t lines;
    char *text = collapsed(&p, PV_EXIT_BYTES, &lines);
    assert_string_equal(text, "main;fill;push_back_[i] 5\n"
                              "main;handler;leak_a 1024\n"
                              "main;handler;leak_b 3000\n");
    assert_int_equal(lines, 3);
    free(text);
    text = collapsed(&p, PV_EXIT_BLOCKS, &lines);
    assert_string_equal(text, "main;handler;leak_a 10\nmain;handler;leak_b 3\n");
    free(text);
    text = collapsed(&p, PV_PEAK_BYTES, &lines);
    assert_string_equal(text, "main;freed 77\nmain;handler;leak_a 1500\n");
    free(text);
    text = collapsed(&p, PV_GROWTH, &lines); /* bytes per second, rounded */
    assert_string_equal(text, "main;fill;push_back_[i] 13\n");
    free(text);
    fake_profile_free(&p);
}

static void frames_cannot_break_lines(void **state)
{
    (void)state;
    struct site_profile p;
    fake_profile_init(&p);
    fake_stack(&p, "op;er\nator\x01|??|main")->exit_bytes = 8;
    p.stacks[0].frames[1].object = "/usr/lib/libfoo.so.1";
    size_t lines;
    char *text = collapsed(&p, PV_EXIT_BYTES, &lines);
    assert_string_equal(text, "main;[libfoo.so.1];op:er?ator? 8\n");
    free(text);
    char buf[8];
    struct frame_info f = {.function = "caf\xc3\xa9_long", .file = "", .object = ""};
    collapsed_frame_name(buf, sizeof(buf), &f); /* never cut inside a character */
    assert_string_equal(buf, "caf\xc3\xa9_l");
    f.function = "\xff\xfe";
    collapsed_frame_name(buf, sizeof(buf), &f);
    assert_string_equal(buf, "??");
    fake_profile_free(&p);
}

/* The gzip'd file, inflated and decoded. */
static Perftools__Profiles__Profile *read_profile(const char *path)
{
    gzFile gz = gzopen(path, "rb");
    assert_non_null(gz);
    size_t cap = 1 << 20, len = 0;
    unsigned char *data = xmalloc(cap);
    int n;
    while ((n = gzread(gz, data + len, (unsigned)(cap - len))) > 0)
        len += (size_t)n;
    gzclose(gz);
    Perftools__Profiles__Profile *prof = perftools__profiles__profile__unpack(NULL, len, data);
    free(data);
    assert_non_null(prof);
    return prof;
}

static long sample_index(const Perftools__Profiles__Profile *prof, const char *type)
{
    for (size_t i = 0; i < prof->n_sample_type; i++)
        if (!strcmp(prof->string_table[prof->sample_type[i]->type], type))
            return (long)i;
    fail_msg("no sample type %s", type);
    return -1;
}

static int64_t total(const Perftools__Profiles__Profile *prof, const char *type)
{
    long k = sample_index(prof, type);
    int64_t sum = 0;
    for (size_t i = 0; i < prof->n_sample; i++)
        sum += prof->sample[i]->value[k];
    return sum;
}

static void pprof_totals(void **state)
{
    (void)state;
    struct site_profile p;
    fake_profile_init(&p);
    p.sampled = true, p.sample_bytes = 524288;
    struct profile_stack *a = fake_stack(&p, "leak_a|handler|main");
    a->exit_bytes = 1000, a->exit_blocks = 10, a->peak_bytes = 1500, a->peak_blocks = 15;
    a->alloc_bytes = 9000, a->alloc_calls = 90, a->temporary_calls = 40;
    struct profile_stack *b = fake_stack(&p, "leak_b|main");
    b->exit_bytes = 3000, b->exit_blocks = 3, b->growth_bytes_per_s = 99.4;
    fake_stack(&p, "nothing|main"); /* every value 0: no sample */
    char path[] = "/tmp/test_stack_export.XXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pprof_write(&p, path, err, sizeof(err)), 0);
    Perftools__Profiles__Profile *prof = read_profile(path);
    assert_string_equal(prof->string_table[0], "");
    assert_int_equal(prof->n_sample, 2);
    assert_int_equal(total(prof, "inuse_space"), 4000);
    assert_int_equal(total(prof, "inuse_objects"), 13);
    assert_int_equal(total(prof, "peak_space"), 1500);
    assert_int_equal(total(prof, "peak_objects"), 15);
    assert_int_equal(total(prof, "alloc_space"), 9000);
    assert_int_equal(total(prof, "growth_space"), 99);
    assert_int_equal(total(prof, "temporary_objects"), 40);
    assert_string_equal(prof->string_table[prof->default_sample_type], "inuse_space");
    assert_string_equal(prof->string_table[prof->period_type->type], "space");
    assert_int_equal(prof->period, 524288);
    assert_true(prof->n_comment >= 2); /* the estimates are said to be estimates */
    bool said = false;
    for (size_t i = 0; i < prof->n_comment; i++)
        said |= strstr(prof->string_table[prof->comment[i]], "estimates") != NULL;
    assert_true(said);
    /* Every location of a sample exists, with at least one line of a known function. */
    for (size_t i = 0; i < prof->n_sample; i++)
        for (size_t k = 0; k < prof->sample[i]->n_location_id; k++) {
            uint64_t id = prof->sample[i]->location_id[k];
            assert_true(id >= 1 && id <= prof->n_location);
            const Perftools__Profiles__Location *loc = prof->location[id - 1];
            assert_int_equal(loc->id, id);
            assert_true(loc->n_line >= 1);
            assert_true(loc->line[0]->function_id >= 1 &&
                        loc->line[0]->function_id <= prof->n_function);
        }
    perftools__profiles__profile__free_unpacked(prof, NULL);
    /* Unwritable: a one-line error, no file. */
    assert_int_equal(pprof_write(&p, "/nonexistent-dir/x.pb.gz", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/x.pb.gz"));
    unlink(path);
    fake_profile_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_stacks),
        cmocka_unit_test(frames_cannot_break_lines),
        cmocka_unit_test(pprof_totals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
