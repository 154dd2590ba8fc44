/* The one way allocscope writes files (common/atomic_file.h): whole or not at all, created
 * exclusively under an unguessable temporary name, never through a symbolic link, the old
 * file untouched on any failure. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/atomic_file.h"
#include "common/util.h"

/* The temporary names come from getrandom: scripted here so a test can plant files where the
 * writer will look. scripted_fills < 0 leaves the real source in charge. */
static int scripted_fills = -1;
static unsigned char scripted_byte;

ssize_t getrandom(void *buf, size_t len, unsigned flags)
{
    (void)flags;
    if (scripted_fills < 0) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, len) : -1;
        if (fd >= 0)
            close(fd);
        return n;
    }
    /* The first SCRIPTED_FILLS names are the same; later ones differ. */
    memset(buf, scripted_fills > 0 ? scripted_byte : scripted_byte + 1, len);
    if (scripted_fills > 0)
        scripted_fills--;
    return (ssize_t)len;
}

static char dir[] = "/tmp/allocscope-atomic-XXXXXX";

static char *in_dir(const char *name)
{
    return util_format("%s/%s", dir, name);
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void assert_content(const char *path, const char *expected)
{
    char *text = util_read_file(path, NULL);
    assert_non_null(text);
    assert_string_equal(text, expected);
    free(text);
}

/* No temporary file may outlive a write, whatever its outcome. */
static void assert_no_temp_left(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp."))
            fail_msg("temporary file left behind: %s", e->d_name);
    closedir(d);
}

static bool is_link(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

static void writes_whole_file(void **state)
{
    (void)state;
    char *path = in_dir("new.txt");
    assert_int_equal(atomic_file_write(path, "hello\n", 6), 0);
    assert_content(path, "hello\n");
    assert_int_equal(atomic_file_write(path, "replaced", 8), 0);
    assert_content(path, "replaced");
    assert_int_equal(atomic_file_write(path, "", 0), 0);
    assert_content(path, "");
    assert_no_temp_left();
    unlink(path);
    free(path);
}

static void streams_then_commits(void **state)
{
    (void)state;
    char *path = in_dir("stream.txt");
    put(path, "old");
    struct atomic_file *file = atomic_file_open(path);
    assert_non_null(file);
    for (int i = 0; i < 1000; i++)
        fprintf(atomic_file_stream(file), "line %d\n", i);
    assert_content(path, "old"); /* readers see the old file until the commit */
    assert_int_equal(atomic_file_commit(file), 0);
    char *text = util_read_file(path, NULL);
    assert_non_null(strstr(text, "line 0\nline 1\n"));
    assert_non_null(strstr(text, "line 999\n"));
    free(text);
    assert_no_temp_left();
    unlink(path);
    free(path);
}

static void abort_keeps_old_file(void **state)
{
    (void)state;
    char *path = in_dir("kept.txt"), *never = in_dir("never.txt");
    put(path, "old");
    struct atomic_file *file = atomic_file_open(path);
    assert_non_null(file);
    fputs("new", atomic_file_stream(file));
    atomic_file_abort(file);
    assert_content(path, "old");
    file = atomic_file_open(never);
    assert_non_null(file);
    atomic_file_abort(file);
    assert_int_equal(access(never, F_OK), -1);
    atomic_file_abort(NULL);
    assert_no_temp_left();
    unlink(path);
    free(path);
    free(never);
}

static void refuses_symlink_destination(void **state)
{
    (void)state;
    char *victim = in_dir("victim.txt"), *link = in_dir("report.html");
    char *dangling = in_dir("dangling.html"), *nowhere = in_dir("nowhere.txt");
    put(victim, "precious");
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(symlink(nowhere, dangling), 0);

    errno = 0;
    assert_int_equal(atomic_file_write(link, "evil", 4), -1);
    assert_int_equal(errno, ELOOP);
    char why[ATOMIC_FILE_ERROR_MAX], expected[ATOMIC_FILE_ERROR_MAX];
    snprintf(expected, sizeof(expected), "refusing to write %s: it is a symbolic link", link);
    assert_string_equal(atomic_file_error(why, sizeof(why), link, errno), expected);
    assert_null(atomic_file_open(link));
    assert_int_equal(errno, ELOOP);
    assert_content(victim, "precious");
    assert_true(is_link(link));

    assert_int_equal(atomic_file_write(dangling, "evil", 4), -1);
    assert_int_equal(access(nowhere, F_OK), -1); /* the link's target was not created */

    /* A link planted while the content is being written is refused at the commit. */
    char *late = in_dir("late.txt");
    struct atomic_file *file = atomic_file_open(late);
    assert_non_null(file);
    fputs("evil", atomic_file_stream(file));
    assert_int_equal(symlink(victim, late), 0);
    assert_int_equal(atomic_file_commit(file), -1);
    assert_int_equal(errno, ELOOP);
    assert_content(victim, "precious");
    assert_true(is_link(late));
    assert_no_temp_left();

    unlink(link), unlink(dangling), unlink(late), unlink(victim);
    free(victim), free(link), free(dangling), free(nowhere), free(late);
}

/* Names the writer will try are taken, one by a link to a file that must stay as it is. */
static void temp_name_collision_retries(void **state)
{
    (void)state;
    char *path = in_dir("collide.txt"), *victim = in_dir("victim2.txt");
    put(victim, "precious");
    put(path, "old");
    scripted_byte = 0; /* 12 x 'a' */
    char *taken = in_dir("collide.txt.tmp.aaaaaaaaaaaa");
    assert_int_equal(symlink(victim, taken), 0);

    scripted_fills = 3; /* three tries hit the link, the fourth gets a fresh name */
    assert_int_equal(atomic_file_write(path, "new", 3), 0);
    assert_int_equal(scripted_fills, 0);
    assert_content(path, "new");
    assert_content(victim, "precious");
    assert_true(is_link(taken));

    scripted_fills = 1000; /* every try taken: fail, old file intact */
    errno = 0;
    assert_int_equal(atomic_file_write(path, "newer", 5), -1);
    assert_int_equal(errno, EEXIST);
    assert_content(path, "new");
    assert_content(victim, "precious");
    scripted_fills = -1;

    unlink(taken), unlink(path), unlink(victim);
    free(taken), free(path), free(victim);
}

/* A write that fails (here: the file size limit, EFBIG) leaves the old content and no temp. */
static void failed_write_keeps_old_file(void **state)
{
    (void)state;
    char *path = in_dir("big.txt");
    put(path, "old");
    size_t len = 1 << 20;
    char *data = malloc(len);
    memset(data, 'x', len);
    struct rlimit saved, small = {.rlim_cur = 4096};
    getrlimit(RLIMIT_FSIZE, &saved);
    small.rlim_max = saved.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);

    errno = 0;
    int whole = atomic_file_write(path, data, len);
    int whole_errno = errno;
    struct atomic_file *file = atomic_file_open(path);
    assert_non_null(file);
    for (size_t i = 0; i < 1000; i++)
        fprintf(atomic_file_stream(file), "%0100zu\n", i);
    int streamed = atomic_file_commit(file);
    int streamed_errno = errno;

    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(whole, -1);
    assert_int_equal(whole_errno, EFBIG);
    assert_int_equal(streamed, -1);
    assert_true(streamed_errno == EFBIG || streamed_errno == EIO);
    assert_content(path, "old");
    assert_no_temp_left();
    unlink(path);
    free(path);
    free(data);
}

static void failed_rename_keeps_old_file(void **state)
{
    (void)state;
    char *subdir = in_dir("a-directory");
    assert_int_equal(mkdir(subdir, 0755), 0);
    assert_int_equal(atomic_file_write(subdir, "x", 1), -1); /* rename onto a directory */
    struct stat st;
    assert_int_equal(lstat(subdir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    char why[ATOMIC_FILE_ERROR_MAX];
    assert_non_null(strstr(atomic_file_error(why, sizeof(why), subdir, errno), "cannot write "));
    assert_no_temp_left();
    rmdir(subdir);
    free(subdir);
}

static void keeps_requested_mode(void **state)
{
    (void)state;
    char *path = in_dir("mode.txt");
    mode_t old = umask(022);
    struct atomic_file *file = atomic_file_open_mode(path, 0640);
    assert_non_null(file);
    assert_int_equal(atomic_file_commit(file), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_int_equal(atomic_file_write(path, "x", 1), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    umask(old);
    unlink(path);
    free(path);
}

static void appends_never_through_links(void **state)
{
    (void)state;
    char *log = in_dir("target.log"), *victim = in_dir("victim3.txt"), *link = in_dir("l.log");
    put(victim, "precious");
    assert_int_equal(symlink(victim, link), 0);
    for (int i = 0; i < 2; i++) {
        int fd = append_file_open(log);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "ab", 2), 2);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
    }
    assert_content(log, "abab");
    assert_int_equal(append_file_open(link), -1);
    assert_int_equal(errno, ELOOP);
    assert_content(victim, "precious");
    unlink(log), unlink(victim), unlink(link);
    free(log), free(victim), free(link);
}

static void made_directories_are_real(void **state)
{
    (void)state;
    char *nested = in_dir("x/y/z"), *target = in_dir("elsewhere"), *link = in_dir("out");
    char *below_link = in_dir("out/charts");
    assert_int_equal(util_mkdir_p(nested), 0);
    assert_int_equal(util_mkdir_p(nested), 0); /* existing: fine */
    assert_int_equal(mkdir(target, 0755), 0);
    assert_int_equal(symlink(target, link), 0);
    errno = 0;
    assert_int_equal(util_mkdir_p(link), -1);
    assert_int_equal(errno, ELOOP);
    /* A parent that already exists may be a link (the user's layout). */
    assert_int_equal(util_mkdir_p(below_link), 0);
    char *made = in_dir("elsewhere/charts");
    assert_int_equal(access(made, F_OK), 0);
    char *file = in_dir("plain");
    put(file, "");
    assert_int_equal(util_mkdir_p(file), -1);
    assert_int_equal(errno, ENOTDIR);
    rmdir(made), unlink(link), rmdir(target), unlink(file);
    char *parts[] = {in_dir("x/y/z"), in_dir("x/y"), in_dir("x")};
    for (size_t i = 0; i < 3; i++) {
        rmdir(parts[i]);
        free(parts[i]);
    }
    free(nested), free(target), free(link), free(below_link), free(made), free(file);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writes_whole_file),
        cmocka_unit_test(streams_then_commits),
        cmocka_unit_test(abort_keeps_old_file),
        cmocka_unit_test(refuses_symlink_destination),
        cmocka_unit_test(temp_name_collision_retries),
        cmocka_unit_test(failed_write_keeps_old_file),
        cmocka_unit_test(failed_rename_keeps_old_file),
        cmocka_unit_test(keeps_requested_mode),
        cmocka_unit_test(appends_never_through_links),
        cmocka_unit_test(made_directories_are_real),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
