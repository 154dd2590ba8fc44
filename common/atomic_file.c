#include "common/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

/* 12 characters of 64: another process cannot guess the name and plant a link there first. */
#define RANDOM_CHARS 12
/* Each try fails only when that exact name exists; running out means the directory is full of
 * our leftovers or the random source is broken. */
#define MAX_TRIES 100

struct atomic_file {
    FILE *stream;
    char path[PATH_MAX];
    char tmp[PATH_MAX];
};

static bool is_symlink(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

/* When getrandom is unavailable (an old kernel, a seccomp filter), a name from the clock, the
 * pid and a counter is still unique among our own files; O_EXCL keeps it safe from others. */
static void fallback_random(unsigned char *bytes, size_t n)
{
    static unsigned counter;
    uint64_t x = util_monotonic_ns() ^ ((uint64_t)getpid() << 32) ^ ++counter;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bytes[i] = (unsigned char)x;
    }
}

static void random_suffix(char *out)
{
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    unsigned char bytes[RANDOM_CHARS];
    if (getrandom(bytes, sizeof(bytes), GRND_NONBLOCK) != (ssize_t)sizeof(bytes))
        fallback_random(bytes, sizeof(bytes));
    for (size_t i = 0; i < RANDOM_CHARS; i++)
        out[i] = alphabet[bytes[i] & 63];
    out[RANDOM_CHARS] = '\0';
}

/* Creates FILE->tmp exclusively; returns the descriptor or -1 with errno set. */
static int create_temp(struct atomic_file *file, mode_t mode)
{
    for (int try = 0; try < MAX_TRIES; try++) {
        char suffix[RANDOM_CHARS + 1];
        random_suffix(suffix);
        if (snprintf(file->tmp, sizeof(file->tmp), "%s.tmp.%s", file->path, suffix) >=
            (int)sizeof(file->tmp)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(file->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

struct atomic_file *atomic_file_open_mode(const char *path, mode_t mode)
{
    if (is_symlink(path)) {
        errno = ELOOP;
        return NULL;
    }
    struct atomic_file *file = xcalloc(1, sizeof(*file));
    if (snprintf(file->path, sizeof(file->path), "%s", path) >= (int)sizeof(file->path)) {
        free(file);
        errno = ENAMETOOLONG;
        return NULL;
    }
    int fd = create_temp(file, mode);
    if (fd >= 0 && !(file->stream = fdopen(fd, "w"))) {
        int saved = errno;
        close(fd);
        unlink(file->tmp);
        errno = saved;
    }
    if (!file->stream) {
        int saved = errno;
        free(file);
        errno = saved;
        return NULL;
    }
    return file;
}

struct atomic_file *atomic_file_open(const char *path)
{
    return atomic_file_open_mode(path, 0666);
}

FILE *atomic_file_stream(const struct atomic_file *file)
{
    return file->stream;
}

/* Flushes and closes the stream; 0, or -1 with errno (EIO for an earlier write error that
 * left no errno behind). */
static int finish_stream(FILE *stream)
{
    errno = 0;
    bool failed = fflush(stream) != 0 || ferror(stream) || fsync(fileno(stream)) != 0;
    int saved = failed ? (errno ? errno : EIO) : 0;
    if (fclose(stream) != 0 && !saved)
        saved = errno ? errno : EIO;
    errno = saved;
    return saved ? -1 : 0;
}

int atomic_file_commit(struct atomic_file *file)
{
    if (!file) {
        errno = EINVAL;
        return -1;
    }
    int rc = finish_stream(file->stream);
    /* A link planted while we wrote: rename would only replace the link, but the rule is
     * the same as at open, so the caller hears about it. */
    if (rc == 0 && is_symlink(file->path)) {
        errno = ELOOP;
        rc = -1;
    }
    if (rc == 0)
        rc = rename(file->tmp, file->path);
    int saved = errno;
    if (rc)
        unlink(file->tmp);
    free(file);
    errno = saved;
    return rc;
}

void atomic_file_abort(struct atomic_file *file)
{
    if (!file)
        return;
    int saved = errno;
    fclose(file->stream);
    unlink(file->tmp);
    free(file);
    errno = saved;
}

int atomic_file_write(const char *path, const void *data, size_t len)
{
    struct atomic_file *file = atomic_file_open(path);
    if (!file)
        return -1;
    errno = 0;
    if (len && fwrite(data, 1, len, file->stream) != len) {
        int saved = errno ? errno : EIO;
        atomic_file_abort(file);
        errno = saved;
        return -1;
    }
    return atomic_file_commit(file);
}

const char *atomic_file_error(char *buf, size_t len, const char *path, int errnum)
{
    if (errnum == ELOOP && is_symlink(path))
        snprintf(buf, len, "refusing to write %s: it is a symbolic link", path);
    else
        snprintf(buf, len, "cannot write %s: %s", path, strerror(errnum));
    return buf;
}

int append_file_open(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0666);
}
