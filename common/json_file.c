#include "common/json_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static void unreadable(json_error_t *err, const char *path, int error)
{
    err->line = err->column = -1;
    err->position = 0;
    snprintf(err->source, sizeof(err->source), "%s", path);
    if (error == EFBIG)
        snprintf(err->text, sizeof(err->text),
                 "unable to open %s: larger than %zu MiB, not a file allocscope reads", path,
                 UTIL_INPUT_MAX >> 20);
    else
        snprintf(err->text, sizeof(err->text), "unable to open %s: %s", path, strerror(error));
}

json_t *json_file_load(const char *path, json_error_t *err)
{
    json_error_t ignored;
    if (!err)
        err = &ignored;
    size_t len;
    char *text = util_read_file_bounded(path, UTIL_INPUT_MAX, &len);
    if (!text) {
        unreadable(err, path, errno);
        return NULL;
    }
    json_t *root = json_loadb(text, len, 0, err);
    free(text);
    return root;
}
