/* Buffered writes to the run directory with plain syscalls: the shim never uses stdio
 * streams (they allocate and lock), and a failed write only warns, once. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* strerror may translate, which takes the locale's lock and allocates; the untranslated
 * text takes neither, and the first allocation may be inside a function holding them. */
const char *error_text(int err)
{
    const char *text = strerrordesc_np(err);
    return text ? text : "unknown error";
}

void shim_warn(const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "allocscope shim[%d]: ", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    (void)!write(2, line, len);
}

/* Every file the shim creates is new: created exclusively and never through a symbolic
 * link, so nothing planted in the run directory is written through or clobbered. */
int out_open(struct out_file *f, const char *dir, const char *name)
{
    char path[PATH_MAX];
    f->len = 0;
    f->fd = -1;
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    f->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_APPEND, 0666);
    return f->fd < 0 ? -1 : 0;
}

/* A file written whole, then renamed over NAME: a temporary of a name no one can guess,
 * created exclusively (rename replaces a planted link itself, never what it points to). */
int out_open_replacement(struct replacement *r, const char *dir, const char *name)
{
    r->file.len = 0;
    snprintf(r->final_path, sizeof(r->final_path), "%s/%s", dir, name);
    if (snprintf(r->temp_path, sizeof(r->temp_path), "%s/.%s.XXXXXX", dir, name) >=
        (int)sizeof(r->temp_path)) {
        errno = ENAMETOOLONG;
        return r->file.fd = -1;
    }
    r->file.fd = mkostemp(r->temp_path, O_CLOEXEC | O_APPEND);
    if (r->file.fd >= 0)
        fchmod(r->file.fd, 0644);
    return r->file.fd < 0 ? -1 : 0;
}

int out_commit_replacement(struct replacement *r)
{
    out_flush(&r->file);
    int rc = r->file.fd >= 0 && close(r->file.fd) == 0 ? 0 : -1;
    r->file.fd = -1;
    if (rc == 0 && rename(r->temp_path, r->final_path) == 0)
        return 0;
    unlink(r->temp_path);
    return -1;
}

static bool write_failed_once;

static void write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (!write_failed_once) {
                write_failed_once = true;
                shim_warn("cannot write recording (%s); the program goes on unrecorded",
                          error_text(errno));
            }
            return;
        }
        data += n;
        len -= (size_t)n;
    }
}

void out_flush(struct out_file *f)
{
    if (f->fd >= 0 && f->len)
        write_all(f->fd, f->buf, f->len);
    f->len = 0;
}

void out_write(struct out_file *f, const char *data, size_t len)
{
    if (f->fd < 0)
        return;
    if (f->len + len > sizeof(f->buf))
        out_flush(f);
    if (len > sizeof(f->buf)) {
        write_all(f->fd, data, len);
        return;
    }
    memcpy(f->buf + f->len, data, len);
    f->len += len;
}

void out_printf(struct out_file *f, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        out_write(f, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void out_close(struct out_file *f)
{
    out_flush(f);
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

/* Copies SRC to DIR/NAME through a temporary file and rename, so a reader never sees half
 * a file. /proc files report size 0: read until EOF. */
int copy_file_atomic(const char *src, const char *dir, const char *name)
{
    static struct replacement r; /* the sampler thread's: too large for its stack's liking */
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    if (out_open_replacement(&r, dir, name)) {
        close(in);
        return -1;
    }
    char buf[16384];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        out_write(&r.file, buf, (size_t)n);
    close(in);
    if (n < 0) {
        out_close(&r.file);
        unlink(r.temp_path);
        return -1;
    }
    return out_commit_replacement(&r);
}

ssize_t read_small_file(const char *path, char *text, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, size - 1);
    close(fd);
    text[n > 0 ? n : 0] = '\0';
    return n;
}
