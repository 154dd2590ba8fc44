/* Demangling (common/symbolize.c): C++ Itanium, Rust legacy (hash dropped) and v0, and
 * names that are not mangled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "common/symbolize.h"

static void expect_demangled(const char *mangled, const char *want)
{
    char *got = symbolizer_demangle(mangled);
    assert_string_equal(got, want);
    free(got);
}

static void test_cxx(void **state)
{
    (void)state;
    expect_demangled("_ZN3srv8Registry3addEi", "srv::Registry::add(int)");
    expect_demangled("_ZNSt6vectorIiSaIiEE9push_backERKi",
                     "std::vector<int, std::allocator<int> >::push_back(int const&)");
    expect_demangled("_Znwm", "operator new(unsigned long)");
}

static void test_rust(void **state)
{
    (void)state;
    expect_demangled("_ZN4leak10leak_boxes17h0123456789abcdefE", "leak::leak_boxes");
    expect_demangled("_RNvCs15kBYyAo9fc_7mycrate7example", "mycrate::example");
}

static void test_not_mangled(void **state)
{
    (void)state;
    expect_demangled("main", "main");
    expect_demangled("malloc", "malloc");
    expect_demangled("_Zbroken", "_Zbroken"); /* not a valid mangling: kept as it is */
    expect_demangled("", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cxx),
        cmocka_unit_test(test_rust),
        cmocka_unit_test(test_not_mangled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
