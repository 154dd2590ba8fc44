/* Buffered writes to the run directory with plain syscalls: the shim never uses stdio
 * streams (they allocate and lock), and a failed write only warns, once. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
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

int out_open(struct out_file *f, const char *dir, const char *name, bool exclusive)
{
    char path[PATH_MAX];
    f->len = 0;
    f->fd = -1;
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_APPEND | (exclusive ? O_EXCL : O_TRUNC);
    f->fd = open(path, flags, 0666);
    return f->fd < 0 ? -1 : 0;
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
    char tmp[PATH_MAX], dst[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[16384];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            rc = -1;
    close(in);
    if (close(out) || n < 0 || rc || rename(tmp, dst)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}
