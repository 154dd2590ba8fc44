/* Unit tests of harness/linked_allocator.h: which allocator a program brings (a shared
 * library it needs, or a copy linked in) and which configurations can then run on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/linked_allocator.h"

/* This test program defines jemalloc's mallctl itself, as a program with a copy of
 * jemalloc linked in does: the detector must find it in /proc/self/exe's symbols. */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
{
    (void)name, (void)oldp, (void)oldlenp, (void)newp, (void)newlen;
    return 2; /* ENOENT: no such setting */
}

static struct allocator_info infos[] = {
    {.name = "glibc", .kind = "glibc", .library = ""},
    {.name = "jemalloc",
     .kind = "jemalloc",
     .library = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
    {.name = "mimalloc",
     .kind = "mimalloc",
     .library = "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"},
};

static struct allocator_config config_of(int i)
{
    return (struct allocator_config){.allocator = &infos[i],
                                     .allocator_name = infos[i].name,
                                     .name = "default",
                                     .full_name = infos[i].name};
}

static void copy_linked_in(void **state)
{
    (void)state;
    struct linked_allocator la;
    assert_int_equal(linked_allocator_detect("/proc/self/exe", &la), 1);
    assert_string_equal(la.kind, "jemalloc");
    assert_true(la.in_executable);
    assert_string_equal(la.evidence, "defines mallctl");
    char reason[512];
    struct allocator_config glibc = config_of(0), jemalloc = config_of(1), mimalloc = config_of(2);
    assert_false(linked_allocator_allows(&la, &glibc, reason, sizeof(reason)));
    assert_false(linked_allocator_allows(&la, &mimalloc, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "own copy of jemalloc linked in"));
    assert_non_null(strstr(reason, "a preloaded mimalloc cannot take over"));
    assert_null(strchr(reason, ',')); /* results.csv fields have no commas */
    assert_true(linked_allocator_allows(&la, &jemalloc, reason, sizeof(reason)));
    assert_false(linked_allocator_preload(&la, &jemalloc)); /* its own copy gets the env */
}

/* Debian's redis-server needs libjemalloc.so.2 (the field notes). */
static void shared_library_needed(void **state)
{
    (void)state;
    char path[4096];
    if (linked_allocator_resolve("redis-server", path, sizeof(path)))
        skip(); /* redis-server is not installed: make deps installs it */
    struct linked_allocator la;
    assert_int_equal(linked_allocator_detect(path, &la), 1);
    assert_string_equal(la.kind, "jemalloc");
    assert_false(la.in_executable);
    assert_string_equal(la.evidence, "needs libjemalloc.so.2");
    char reason[512];
    struct allocator_config glibc = config_of(0), jemalloc = config_of(1), mimalloc = config_of(2);
    assert_false(linked_allocator_allows(&la, &glibc, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "redis-server links its own allocator jemalloc"));
    assert_non_null(strstr(reason, "glibc's malloc cannot be put under it"));
    assert_true(linked_allocator_allows(&la, &mimalloc, reason, sizeof(reason)));
    assert_true(linked_allocator_preload(&la, &mimalloc)); /* preloaded ahead, it takes over */
    assert_true(linked_allocator_allows(&la, &jemalloc, reason, sizeof(reason)));
    assert_false(linked_allocator_preload(&la, &jemalloc));
}

static void plain_programs_and_scripts(void **state)
{
    (void)state;
    char path[4096];
    struct linked_allocator la;
    assert_int_equal(linked_allocator_resolve("sh", path, sizeof(path)), 0);
    assert_int_equal(linked_allocator_detect(path, &la), 0);
    assert_string_equal(la.kind, "");
    struct allocator_config glibc = config_of(0);
    char reason[64];
    assert_true(linked_allocator_allows(&la, &glibc, reason, sizeof(reason)));
    assert_true(linked_allocator_preload(&la, &glibc));
    /* a script: its interpreter and what it execs are judged by the run */
    char script[] = "/tmp/allocscope-linked-XXXXXX";
    int fd = mkstemp(script);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    assert_int_equal(linked_allocator_detect(script, &la), 0);
    unlink(script);
    assert_int_equal(linked_allocator_detect("/nonexistent/prog", &la), 0);
    assert_int_equal(linked_allocator_resolve("no-such-program-here", path, sizeof(path)), -1);
}

/* After a run: the shim found another allocator than the configuration's serving malloc. */
static void took_over_at_run_time(void **state)
{
    (void)state;
    const char *jemalloc_ran = "allocator=jemalloc\n"
                               "allocator_path=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n";
    struct allocator_config glibc = config_of(0), jemalloc = config_of(1), mimalloc = config_of(2);
    char reason[512];
    assert_true(linked_allocator_took_over(&glibc, jemalloc_ran, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "ran under jemalloc"));
    assert_non_null(strstr(reason, "instead of glibc"));
    assert_null(strchr(reason, ','));
    assert_true(linked_allocator_took_over(&mimalloc, jemalloc_ran, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "did not take over"));
    assert_false(linked_allocator_took_over(&jemalloc, jemalloc_ran, reason, sizeof(reason)));
    /* glibc serving a jemalloc configuration is a failed preload, not the program's doing */
    assert_false(
        linked_allocator_took_over(&jemalloc, "allocator=glibc\n", reason, sizeof(reason)));
    assert_false(linked_allocator_took_over(&glibc, "", reason, sizeof(reason)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copy_linked_in),
        cmocka_unit_test(shared_library_needed),
        cmocka_unit_test(plain_programs_and_scripts),
        cmocka_unit_test(took_over_at_run_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
