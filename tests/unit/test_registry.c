/* Unit tests of the allocator registry: parsing, errors with file and line, merging a
 * user file over the built-in one, resolution, the target's environment and the check
 * of a run's shim.txt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocators/registry.h"
#include "common/util.h"

#define JEMALLOC_LIB "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"

static const char base_ini[] = "# test registry\n"
                               "[allocator glibc]\n"
                               "library =\n"
                               "package = libc6\n"
                               "\n"
                               "[allocator jemalloc]\n"
                               "library = " JEMALLOC_LIB "\n"
                               "package = libjemalloc2\n"
                               "description = jemalloc\n"
                               "\n"
                               "[config jemalloc:bg-decay]\n"
                               "main = true\n"
                               "env = MALLOC_CONF=background_thread:true,dirty_decay_ms:500\n"
                               "env = EXTRA=1\n"
                               "expect.opt.dirty_decay_ms = 500\n"
                               "expect.opt.background_thread = true\n";

/* Parses text as file "t.ini" into a fresh registry; returns it, or NULL with err set. */
static struct registry *parse(const char *text, char *err, size_t size)
{
    struct registry *reg = registry_new();
    err[0] = '\0';
    if (registry_merge_text(reg, "t.ini", text, err, size) || registry_finish(reg, err, size)) {
        registry_free(reg);
        return NULL;
    }
    return reg;
}

static void assert_parse_error(const char *text, const char *expected)
{
    char err[512];
    struct registry *reg = parse(text, err, sizeof(err));
    assert_null(reg);
    if (!strstr(err, expected))
        fail_msg("error '%s' does not contain '%s'", err, expected);
}

static void test_builtin_registry_loads(void **state)
{
    (void)state;
    struct registry *reg = registry_load(NULL);
    assert_non_null(reg);
    const char *names[] = {"glibc", "jemalloc", "mimalloc", "tcmalloc"};
    for (size_t i = 0; i < 4; i++) {
        struct allocator_info *a = registry_find_allocator(reg, names[i]);
        assert_non_null(a);
        assert_string_equal(a->kind, names[i]);
    }
    assert_string_equal(registry_find_allocator(reg, "glibc")->library, "");
    char err[256];
    struct allocator_config *c = registry_resolve(reg, "jemalloc:bg-decay", err, sizeof(err));
    assert_non_null(c);
    assert_true(c->main);
    assert_string_equal(setting_list_get(&c->env, "MALLOC_CONF"),
                        "background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:1000");
    assert_string_equal(setting_list_get(&c->expect, "opt.dirty_decay_ms"), "500");
    /* Every built-in configuration names what proves it took effect. */
    for (size_t i = 0; i < reg->n_configs; i++)
        if (!reg->configs[i]->expect.count)
            fail_msg("%s has no expect. lines", reg->configs[i]->full_name);
    registry_free(reg);
}

static void test_parse_fields(void **state)
{
    (void)state;
    char err[512];
    struct registry *reg = parse(base_ini, err, sizeof(err));
    assert_non_null(reg);
    assert_int_equal(reg->n_allocators, 2);
    struct allocator_config *c = registry_resolve(reg, "jemalloc:bg-decay", err, sizeof(err));
    assert_non_null(c);
    assert_ptr_equal(c->allocator, registry_find_allocator(reg, "jemalloc"));
    assert_int_equal(c->env.count, 2);
    assert_string_equal(setting_list_get(&c->env, "EXTRA"), "1");
    assert_int_equal(c->expect.count, 2);
    assert_string_equal(c->file, "t.ini");
    assert_int_equal(c->line, 11);
    registry_free(reg);
}

static void test_syntax_error_names_line(void **state)
{
    (void)state;
    assert_parse_error("[allocator x]\nlibrary = /a\nthis line has no equals sign\n",
                       "t.ini:3: malformed line; expected [SECTION], KEY = VALUE");
    assert_parse_error("[allocator x\n", "t.ini:1: section header without ']'");
    /* A problem on an earlier line is the one reported. */
    assert_parse_error("[allocator x]\nlibary = /a\nno equals sign\n", "t.ini:2: unknown key");
}

static void test_unknown_key_names_line_and_choices(void **state)
{
    (void)state;
    assert_parse_error("[allocator jemalloc]\n\n# comment\nlibary = /x.so\n",
                       "t.ini:4: unknown key 'libary' in [allocator jemalloc]; expected library, "
                       "package, description");
    assert_parse_error("[config glibc:x]\nenvv = A=1\n[allocator glibc]\n",
                       "t.ini:2: unknown key 'envv' in [config glibc:x]; expected env");
}

static void test_unknown_section(void **state)
{
    (void)state;
    /* An empty section is still seen and reported. */
    assert_parse_error("[allocator glibc]\n[allocater foo]\n", "t.ini:2: unknown section "
                                                               "[allocater foo]");
    assert_parse_error("[config jemalloc]\nenv = A=1\n", "t.ini:1: bad configuration name");
    assert_parse_error("library = /x\n", "t.ini:1: key 'library' outside any section");
    assert_parse_error("# x\n[allocator a b]\n", "t.ini:2: malformed section [allocator a b]");
    /* Names make cell directories: one safe path component each. */
    assert_parse_error("[allocator .x]\n", "t.ini:1: allocator '.x' is not a valid name");
    assert_parse_error("[config glibc:-x]\n",
                       "t.ini:1: bad configuration name: configuration '-x' is not a valid name");
    assert_parse_error("[config ..:x]\n", "t.ini:1: bad configuration name: allocator '..'");
}

static void test_bad_values(void **state)
{
    (void)state;
    assert_parse_error("[allocator a]\nlibrary = relative.so\n", "t.ini:2: library");
    assert_parse_error("[allocator glibc]\n[config glibc:x]\nenv = NOEQUALS\n",
                       "t.ini:3: env 'NOEQUALS' in [config glibc:x] is not NAME=VALUE");
    assert_parse_error("[allocator glibc]\n[config glibc:x]\nenv = LD_PRELOAD=/a.so\n",
                       "t.ini:3: env in [config glibc:x] sets LD_PRELOAD");
    assert_parse_error("[allocator glibc]\n[config glibc:x]\nenv = A=1\nenv = A=2\n",
                       "t.ini:4: variable A is set twice");
    assert_parse_error("[allocator glibc]\n[config glibc:x]\nmain = maybe\n", "t.ini:3: main");
    assert_parse_error("[allocator a]\nkind = dlmalloc\n", "t.ini:2: kind 'dlmalloc'");
}

/* Repeats, as before the one INI reader: env lines add (a variable twice is an error, see
 * test_bad_values), other keys replace, a section given twice is one entry. */
static void test_repeated_keys_and_sections(void **state)
{
    (void)state;
    char err[512];
    struct registry *reg = parse("[allocator a]\ndescription = first\ndescription = second\n"
                                 "[config a:x]\nenv = A=1\nexpect.k = 1\n"
                                 "[allocator a]\npackage = p\n"
                                 "[config a:x]\nenv = B=2\nmain = yes\n",
                                 err, sizeof(err));
    if (!reg)
        fail_msg("%s", err);
    assert_int_equal(reg->n_allocators, 1);
    struct allocator_info *a = registry_find_allocator(reg, "a");
    assert_string_equal(a->description, "second");
    assert_string_equal(a->package, "p");
    struct allocator_config *c = registry_resolve(reg, "a:x", err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(c->env.count, 2);
    assert_string_equal(setting_list_get(&c->env, "B"), "2");
    assert_true(c->main);
    registry_free(reg);
    assert_parse_error("[allocator a]\n[config a:x]\nexpect.k = 1\nexpect.k = 2\n",
                       "t.ini:4: expect.k is given twice in [config a:x]");
}

/* Lines of any length (inih stopped at 198 characters), and CRLF line ends. */
static void test_long_lines_and_crlf(void **state)
{
    (void)state;
    char err[512];
    for (size_t n = 300; n <= 5000; n += 4700) {
        char *description = xmalloc(n + 1);
        memset(description, 'd', n);
        description[n] = '\0';
        char *text =
            util_format("[allocator a]\r\ndescription = %s\r\nlibrary = /a.so\r\n", description);
        struct registry *reg = parse(text, err, sizeof(err));
        if (!reg)
            fail_msg("%zu characters: %s", n, err);
        struct allocator_info *a = registry_find_allocator(reg, "a");
        assert_string_equal(a->description, description);
        assert_string_equal(a->library, "/a.so");
        registry_free(reg);
        free(text);
        free(description);
    }
}

/* Runs registry_load_files on one file holding LEN bytes of TEXT (NULL: PATH itself);
 * returns what it printed on stderr. */
static char *load_file_messages(const char *text, size_t len, const char *path,
                                struct registry **reg)
{
    char file[] = "/tmp/test_registry.XXXXXX", log[] = "/tmp/test_registry_log.XXXXXX";
    if (text) {
        int fd = mkstemp(file);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, len), (ssize_t)len);
        close(fd);
        path = file;
    }
    int log_fd = mkstemp(log), saved = dup(2);
    assert_true(log_fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(log_fd, 2);
    *reg = registry_load_files(&path, 1);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(log_fd);
    char *messages = util_read_file(log, NULL);
    unlink(log);
    if (text)
        unlink(file);
    return messages;
}

/* A NUL byte used to end the file there, silently: the sections after it were lost. */
static void test_nul_byte_names_its_line(void **state)
{
    (void)state;
    static const char text[] = "[allocator glibc]\n\0\n[allocator lost]\n";
    struct registry *reg;
    char *messages = load_file_messages(text, sizeof(text) - 1, NULL, &reg);
    assert_null(reg);
    if (!strstr(messages, ":2: NUL byte in the file"))
        fail_msg("stderr: %s", messages);
    free(messages);
}

static void test_endless_file_refused(void **state)
{
    (void)state;
    struct registry *reg;
    char *messages = load_file_messages(NULL, 0, "/dev/zero", &reg);
    assert_null(reg);
    assert_string_equal(messages, "allocscope: cannot read allocators file '/dev/zero': File too "
                                  "large; check the path\n");
    free(messages);
}

static void test_config_of_unknown_allocator(void **state)
{
    (void)state;
    assert_parse_error("[allocator glibc]\n\n[config jemallok:fast]\nenv = A=1\n",
                       "t.ini:3: [config jemallok:fast] names allocator 'jemallok'");
}

static void test_user_file_merges_over_builtin(void **state)
{
    (void)state;
    char err[512];
    struct registry *reg = registry_new();
    assert_int_equal(registry_merge_text(reg, "builtin.ini", base_ini, err, sizeof(err)), 0);
    const char *user = "[allocator jemalloc]\n"
                       "library = /opt/je/libjemalloc.so.2\n"
                       "[config jemalloc:bg-decay]\n"
                       "env = MALLOC_CONF=background_thread:true\n"
                       "[config jemalloc:mine]\n"
                       "env = MALLOC_CONF=narenas:1\n"
                       "expect.opt.narenas = 1\n"
                       "[allocator custom]\n"
                       "library = /opt/custom.so\n";
    assert_int_equal(registry_merge_text(reg, "user.ini", user, err, sizeof(err)), 0);
    assert_int_equal(registry_finish(reg, err, sizeof(err)), 0);

    struct allocator_info *je = registry_find_allocator(reg, "jemalloc");
    assert_string_equal(je->library, "/opt/je/libjemalloc.so.2");
    assert_string_equal(je->package, "libjemalloc2"); /* kept: the user did not set it */
    struct allocator_config *c = registry_resolve(reg, "jemalloc:bg-decay", err, sizeof(err));
    assert_non_null(c);
    /* The user's env lines replace the built-in ones instead of adding to them. */
    assert_int_equal(c->env.count, 1);
    assert_string_equal(setting_list_get(&c->env, "MALLOC_CONF"), "background_thread:true");
    assert_null(setting_list_get(&c->env, "EXTRA"));
    assert_int_equal(c->expect.count, 2); /* not given by the user: kept */
    assert_true(c->main);
    assert_non_null(registry_resolve(reg, "jemalloc:mine", err, sizeof(err)));
    /* An allocator without configurations still runs as NAME (NAME:default). */
    c = registry_resolve(reg, "custom", err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(c->full_name, "custom:default");
    assert_string_equal(c->allocator->kind, "");
    registry_free(reg);
}

static void test_load_files_reports_missing_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_registry.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, base_ini, strlen(base_ini)), (ssize_t)strlen(base_ini));
    close(fd);
    const char *good[] = {path};
    struct registry *reg = registry_load_files(good, 1);
    assert_non_null(reg);
    assert_string_equal(reg->files[0], path);
    registry_free(reg);
    const char *bad[] = {path, "/nonexistent/allocators.ini"};
    assert_null(registry_load_files(bad, 2));
    unlink(path);
}

static void test_resolve_errors(void **state)
{
    (void)state;
    char err[512];
    struct registry *reg = parse(base_ini, err, sizeof(err));
    assert_non_null(reg);
    assert_null(registry_resolve(reg, "jemallok", err, sizeof(err)));
    assert_non_null(strstr(err, "unknown allocator 'jemallok'; known: glibc, jemalloc"));
    assert_null(registry_resolve(reg, "jemalloc:fast", err, sizeof(err)));
    assert_non_null(
        strstr(err, "allocator 'jemalloc' has no configuration 'fast'; known: bg-decay, default"));
    struct allocator_config *c = registry_resolve(reg, "glibc", err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(c->full_name, "glibc:default");
    registry_free(reg);
}

static void test_not_installed_message(void **state)
{
    (void)state;
    char err[512];
    struct registry *reg =
        parse("[allocator tcmalloc]\nlibrary = /nonexistent/libtcmalloc_minimal.so.4\n"
              "package = libtcmalloc-minimal4\n[allocator glibc]\n",
              err, sizeof(err));
    assert_non_null(reg);
    assert_false(
        allocator_check_installed(registry_find_allocator(reg, "tcmalloc"), err, sizeof(err)));
    assert_string_equal(err, "allocator 'tcmalloc' is not installed (missing "
                             "/nonexistent/libtcmalloc_minimal.so.4); install package "
                             "libtcmalloc-minimal4 or run 'make deps'");
    assert_true(allocator_check_installed(registry_find_allocator(reg, "glibc"), err, sizeof(err)));
    registry_free(reg);
}

static void test_version_from_dpkg(void **state)
{
    (void)state;
    char err[512];
    struct registry *reg = parse("[allocator glibc]\npackage = libc6\n[allocator x]\n"
                                 "package = no-such-package-here\n",
                                 err, sizeof(err));
    assert_non_null(reg);
    const char *v = registry_version(registry_find_allocator(reg, "glibc"));
    assert_non_null(v);
    assert_true(strchr("0123456789", v[0]) != NULL);
    assert_ptr_equal(registry_version(registry_find_allocator(reg, "glibc")), v); /* cached */
    assert_null(registry_version(registry_find_allocator(reg, "x")));
    registry_free(reg);
}

static size_t env_count(char **env)
{
    size_t n = 0;
    while (env[n])
        n++;
    return n;
}

static const char *env_get(char **env, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; env[i]; i++)
        if (!strncmp(env[i], name, len) && env[i][len] == '=')
            return env[i] + len + 1;
    return NULL;
}

static void test_build_env(void **state)
{
    (void)state;
    char err[512];
    struct registry *reg = parse(base_ini, err, sizeof(err));
    assert_non_null(reg);
    struct allocator_config *je = registry_resolve(reg, "jemalloc:bg-decay", err, sizeof(err));
    char *base[] = {"PATH=/bin", "MALLOC_CONF=narenas:1", "LD_PRELOAD=/u/a.so:/shim.so", NULL};
    char **env = allocator_config_env(je, "/shim.so", base);
    assert_non_null(env);
    assert_string_equal(env_get(env, "LD_PRELOAD"), "/shim.so " JEMALLOC_LIB " /u/a.so");
    assert_string_equal(env_get(env, "MALLOC_CONF"), "background_thread:true,dirty_decay_ms:500");
    assert_string_equal(env_get(env, "EXTRA"), "1");
    assert_string_equal(env_get(env, "PATH"), "/bin");
    assert_int_equal(env_count(env), 4);
    allocator_config_free_env(env);

    /* glibc with no shim and no user preload: nothing to preload at all. */
    struct allocator_config *glibc = registry_resolve(reg, "glibc", err, sizeof(err));
    char *plain[] = {"HOME=/root", NULL};
    env = allocator_config_env(glibc, NULL, plain);
    assert_null(env_get(env, "LD_PRELOAD"));
    assert_int_equal(env_count(env), 1);
    allocator_config_free_env(env);
    env = allocator_config_env(glibc, "/shim.so", NULL);
    assert_string_equal(env_get(env, "LD_PRELOAD"), "/shim.so");
    allocator_config_free_env(env);
    registry_free(reg);
}

static void test_check_shim(void **state)
{
    (void)state;
    char err[512];
    struct registry *reg = parse(base_ini, err, sizeof(err));
    struct allocator_config *c = registry_resolve(reg, "jemalloc:bg-decay", err, sizeof(err));
    char *msg = NULL;
    const char *good = "pid=1\nallocator=jemalloc\nsetting.opt.dirty_decay_ms=500\n"
                       "setting.opt.background_thread=true\n";
    assert_int_equal(allocator_config_check_shim(c, good, &msg), 0);
    assert_null(msg);

    const char *not_taken = "allocator=jemalloc\nsetting.opt.dirty_decay_ms=10000\n"
                            "setting_error=MALLOC_CONF key 'dirty_decay_msx' is not a jemalloc "
                            "5.3.0 option\n";
    assert_int_equal(allocator_config_check_shim(c, not_taken, &msg), -1);
    assert_non_null(strstr(msg, "jemalloc:bg-decay: setting opt.dirty_decay_ms is 10000, "
                                "expected 500"));
    assert_non_null(strstr(msg, "setting opt.background_thread was not read back"));
    assert_non_null(strstr(msg, "key 'dirty_decay_msx'"));
    free(msg);

    const char *wrong = "allocator=glibc\nsetting.opt.dirty_decay_ms=500\n"
                        "setting.opt.background_thread=true\n";
    assert_int_equal(allocator_config_check_shim(c, wrong, &msg), -1);
    assert_non_null(strstr(msg, "ran under allocator 'glibc', not jemalloc"));
    free(msg);
    assert_int_equal(allocator_config_check_shim(c, "", &msg), -1);
    assert_non_null(strstr(msg, "names no allocator"));
    free(msg);
    registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_registry_loads),
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_syntax_error_names_line),
        cmocka_unit_test(test_unknown_key_names_line_and_choices),
        cmocka_unit_test(test_unknown_section),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_repeated_keys_and_sections),
        cmocka_unit_test(test_long_lines_and_crlf),
        cmocka_unit_test(test_nul_byte_names_its_line),
        cmocka_unit_test(test_endless_file_refused),
        cmocka_unit_test(test_config_of_unknown_allocator),
        cmocka_unit_test(test_user_file_merges_over_builtin),
        cmocka_unit_test(test_load_files_reports_missing_file),
        cmocka_unit_test(test_resolve_errors),
        cmocka_unit_test(test_not_installed_message),
        cmocka_unit_test(test_version_from_dpkg),
        cmocka_unit_test(test_build_env),
        cmocka_unit_test(test_check_shim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
