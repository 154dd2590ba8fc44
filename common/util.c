#include "common/util.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *program_name = "allocscope";

void util_set_program_name(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    program_name = slash ? slash + 1 : argv0;
}

static void vreport(const char *prefix, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: %s", program_name, prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void util_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap);
    va_end(ap);
}

void util_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap);
    va_end(ap);
}

const char *util_self_dir(void)
{
    static char dir[PATH_MAX];
    if (dir[0])
        return dir;
    ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
    if (n <= 0) {
        strcpy(dir, ".");
        return dir;
    }
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    return dir;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

const char *util_find_lib(const char *name)
{
    static char path[PATH_MAX];
    const char *patterns[] = {"%s/../lib/allocscope/%s", "%s/../lib/%s", "%s/%s"};
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        snprintf(path, sizeof(path), patterns[i], util_self_dir(), name);
        if (exists(path)) {
            char *real = realpath(path, NULL);
            if (real) {
                snprintf(path, sizeof(path), "%s", real);
                free(real);
            }
            return path;
        }
    }
    return NULL;
}

const char *util_find_data(const char *name, const char *source_relative)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/../share/allocscope/%s", util_self_dir(), name);
    if (exists(path))
        return path;
    /* An uninstalled build lives in SRC/build/bin. */
    snprintf(path, sizeof(path), "%s/../../%s", util_self_dir(), source_relative);
    if (exists(path))
        return path;
    return NULL;
}

/* A directory we just made, or the one asked for, must be a real one: a symbolic link planted
 * there would send every file written below it elsewhere. */
static int check_real_dir(const char *path)
{
    struct stat st;
    if (lstat(path, &st))
        return -1;
    if (S_ISLNK(st.st_mode)) {
        errno = ELOOP;
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int util_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int made = mkdir(buf, 0777) == 0;
        if ((!made && errno != EEXIST) || (made && check_real_dir(buf)))
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return -1;
    return check_real_dir(buf);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) && errno != ENOENT ? -1 : 0;
}

int util_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st))
        return errno == ENOENT ? 0 : -1;
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *util_read_file_bounded(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    /* One byte more than MAX is read to tell "exactly MAX" from "longer". */
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        size_t want = cap - n - 1;
        if (want > max + 1 - n)
            want = max + 1 - n;
        size_t got = fread(buf + n, 1, want, f);
        n += got;
        if (got == 0 || n > max)
            break;
        if (cap - n - 1 == 0) {
            cap = cap > max / 2 ? max + 2 : cap * 2;
            buf = xrealloc(buf, cap);
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (failed || n > max) {
        free(buf);
        errno = failed ? EIO : EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

char *util_read_file(const char *path, size_t *len)
{
    return util_read_file_bounded(path, UTIL_RECORDING_MAX, len);
}

uint64_t util_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int util_parse_bytes(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'i' || *end == 'B')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int util_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !*s || *s == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

bool util_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > UTIL_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '.' && c != '_' && c != '+' && c != '-')
            return false;
    }
    return true;
}

const char *util_printable(char *buf, size_t len, const char *text)
{
    if (!len)
        return buf;
    size_t max = len - 1 < 80 ? len - 1 : 80, n = 0;
    if (strlen(text) > max)
        max = max > 3 ? max - 3 : 0; /* room for "..." */
    for (; text[n] && n < max; n++)
        buf[n] = text[n] >= 0x20 && text[n] < 0x7f ? text[n] : '?';
    snprintf(buf + n, len - n, "%s", text[n] ? "..." : "");
    return buf;
}

int util_check_name(const char *what, const char *name, char *err, size_t errlen)
{
    if (util_valid_name(name))
        return 0;
    char shown[81];
    snprintf(err, errlen, "%s '%s' is not a valid name (names make directories); %s", what,
             util_printable(shown, sizeof(shown), name), UTIL_NAME_RULE);
    return -1;
}

void util_out_of_memory(void)
{
    static const char msg[] = "allocscope: out of memory\n";
    (void)!write(2, msg, sizeof(msg) - 1); /* stdio may need the memory we lack */
    exit(UTIL_EXIT_OUT_OF_MEMORY);
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        util_out_of_memory();
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        util_out_of_memory();
    return p;
}

void *xrealloc(void *p, size_t size)
{
    void *bigger = realloc(p, size ? size : 1);
    if (!bigger)
        util_out_of_memory();
    return bigger;
}

void *xreallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total))
        util_out_of_memory();
    return xrealloc(p, total);
}

char *xstrdup(const char *s)
{
    char *copy = strdup(s ? s : "");
    if (!copy)
        util_out_of_memory();
    return copy;
}

char *xstrndup(const char *s, size_t n)
{
    char *copy = strndup(s ? s : "", n);
    if (!copy)
        util_out_of_memory();
    return copy;
}

char *util_vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        util_out_of_memory();
    return s;
}

char *util_format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = util_vformat(fmt, ap);
    va_end(ap);
    return s;
}

void util_sort(void *base, size_t n, size_t size, int (*compare)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, compare);
}
