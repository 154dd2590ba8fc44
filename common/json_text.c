#include "common/json_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "common/util.h"

#define REPLACEMENT_UTF8 "\xef\xbf\xbd" /* U+FFFD */

json_t *json_text(const char *text)
{
    if (!text)
        return json_null();
    size_t len = strlen(text), valid = 0;
    while (valid < len) {
        size_t n = escape_utf8_length(text + valid);
        if (!n)
            break;
        valid += n;
    }
    if (valid == len)
        return json_string(text);
    /* At most three bytes for each byte replaced. */
    char *copy = xmalloc(valid + (len - valid) * 3 + 1), *w = copy;
    memcpy(w, text, valid);
    w += valid;
    for (const char *p = text + valid; *p;) {
        size_t n = escape_utf8_length(p);
        if (n) {
            memcpy(w, p, n);
            p += n;
            w += n;
        } else {
            memcpy(w, REPLACEMENT_UTF8, 3);
            p++;
            w += 3;
        }
    }
    *w = '\0';
    json_t *s = json_string(copy);
    free(copy);
    return s;
}

int json_text_set(json_t *object, const char *key, json_t *value)
{
    json_t *valid = json_text(key);
    int rc = json_object_set_new(object, valid ? json_string_value(valid) : key, value);
    json_decref(valid);
    return rc;
}

char *json_text_dump(const json_t *root, size_t flags, const char *what)
{
    /* The memory policy (xmalloc) never lets jansson fail for want of memory: a NULL is a
     * value that was refused while the document was built. */
    if (!root) {
        util_error("cannot encode %s as JSON: a part of it could not be built (text that is "
                   "not UTF-8, or a missing value)",
                   what);
        return NULL;
    }
    char *text = json_dumps(root, flags);
    if (!text)
        util_error("cannot encode %s as JSON: the encoder refused it (a value JSON cannot "
                   "hold)",
                   what);
    return text;
}

int json_text_print(const json_t *root, size_t flags, const char *what)
{
    char *text = json_text_dump(root, flags, what);
    if (!text)
        return -1;
    puts(text);
    free(text);
    return 0;
}
