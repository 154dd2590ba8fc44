/* How allocscope writes files: every file it creates appears whole or not at all, and none
 * is ever written through a symbolic link.
 *
 * A write goes to a fresh temporary file beside the destination (PATH.tmp.RANDOM, created
 * with O_CREAT|O_EXCL|O_NOFOLLOW, another random name tried when one exists), is flushed to
 * disk (fsync) and renamed over PATH. A destination that is a symbolic link is refused, so a
 * link planted where allocscope writes cannot redirect the write. On any failure the temporary
 * file is removed and the old PATH is left as it was. */
#ifndef ALLOCSCOPE_ATOMIC_FILE_H
#define ALLOCSCOPE_ATOMIC_FILE_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct atomic_file;

/* Starts writing PATH; the new file gets mode 0666 less the umask. Returns NULL with errno
 * set (ELOOP when PATH is a symbolic link). */
struct atomic_file *atomic_file_open(const char *path);
/* The same with another MODE (less the umask), e.g. to copy a file with its permissions. */
struct atomic_file *atomic_file_open_mode(const char *path, mode_t mode);

/* Where to write the content. Valid until commit or abort. */
FILE *atomic_file_stream(const struct atomic_file *file);

/* Makes the content PATH: flushes, fsyncs, renames; frees FILE either way. Returns 0, or -1
 * with errno set when anything failed (a write error earlier counts), PATH then untouched. */
int atomic_file_commit(struct atomic_file *file);

/* Drops the content: the temporary file is removed, PATH untouched. NULL does nothing. */
void atomic_file_abort(struct atomic_file *file);

/* The whole content at once. Returns 0, or -1 with errno set, PATH then untouched. */
int atomic_file_write(const char *path, const void *data, size_t len);

/* Why writing PATH failed with ERRNUM, for util_error("%s", ...): "refusing to write PATH: it
 * is a symbolic link" or "cannot write PATH: <strerror>". Returns BUF, best of this size: */
#define ATOMIC_FILE_ERROR_MAX (PATH_MAX + 64)
const char *atomic_file_error(char *buf, size_t len, const char *path, int errnum);

/* A log that later writes add to (O_APPEND), created if missing; like every file allocscope
 * writes, never through a symbolic link (O_NOFOLLOW). Returns a close-on-exec descriptor, or
 * -1 with errno set. Async-signal-safe: usable between fork and exec. */
int append_file_open(const char *path);

#endif
