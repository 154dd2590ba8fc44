#include "fuzz/fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reports/report_model.h"

static char dir[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_dir(void)
{
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_dir(void)
{
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(dir, sizeof(dir), "%s/allocscope-fuzz-XXXXXX", tmp);
        if (!mkdtemp(dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(remove_dir);
    }
    return dir;
}

const char *fuzz_write(const char *dir, const char *name, const uint8_t *data, size_t size)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd)) {
        perror("fuzz: write");
        abort();
    }
    return path;
}

const char *fuzz_text(const uint8_t *data, size_t size)
{
    static char *text;
    static size_t cap;
    if (size + 1 > cap) {
        cap = size + 1;
        text = realloc(text, cap);
        if (!text)
            abort();
    }
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

void fuzz_copy_dir(const char *from, const char *to)
{
    mkdir(to, 0755);
    DIR *d = opendir(from);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char src[PATH_MAX], buf[65536];
        snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
        FILE *in = fopen(src, "rb");
        if (!in)
            continue;
        size_t n = fread(buf, 1, sizeof(buf), in);
        fclose(in);
        fuzz_write(to, e->d_name, (const uint8_t *)buf, n);
    }
    if (d)
        closedir(d);
}

void fuzz_report_load(const char *dir)
{
    struct report_input in;
    char err[512], *dirs[] = {(char *)dir};
    if (report_load(&in, dirs, 1, err, sizeof(err)) == 0)
        report_group_cells(&in);
    report_free(&in);
}
