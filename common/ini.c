/* Why allocscope reads INI itself instead of with inih (libinih, which it used to link):
 * Debian 12's libinih is built with INI_MAX_LINE 200 on a stack buffer, so a line longer
 * than 198 characters cannot be read whole, and bench files and scenario.ini carry command
 * lines far longer than that; it also cuts section names at 49 characters, continues a value
 * on any indented line that follows it, and reports an error as a bare line number. Working
 * around it took a line-feeding wrapper in the registry, another in the bench reader, and a
 * second, hand-written parser for scenario.ini (with a syntax of its own). Its fgets-style
 * interface works on C strings, so a NUL byte in a file silently ended it. Building a copy
 * of inih with a larger INI_MAX_LINE would have kept the wrappers and the NUL problem. The
 * syntax the three files need (common/ini.h) takes one page: this reader has no line limit,
 * takes CRLF files, names the line of a NUL byte, words its errors "FILE:LINE: problem; what
 * to do" like the rest of allocscope, and serves the registry, bench files and scenario.ini
 * alike. */
#include "common/ini.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static int parse_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int parse_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A ';' after a blank starts a comment; a ';' inside a word (a shell "a; b") does not. */
static void cut_inline_comment(char *line)
{
    for (char *p = line + 1; *p; p++)
        if (*p == ';' && is_blank(p[-1])) {
            *p = '\0';
            return;
        }
}

/* Without the white space around it; "\r" of a CRLF line end included. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static void add_item(struct ini_doc *doc, size_t *cap, struct ini_item item)
{
    if (doc->n == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        doc->items = xreallocarray(doc->items, *cap, sizeof(*doc->items));
    }
    doc->items[doc->n++] = item;
}

struct line_parse {
    struct ini_doc *doc;
    size_t cap;
    const char *section; /* the current section's name, inside doc->text */
    const char *file;
    int line;
    char *err;
    size_t errlen;
};

static int section_line(struct line_parse *lp, char *s)
{
    char *close = strchr(s, ']');
    if (!close)
        return parse_error(lp->err, lp->errlen, "%s:%d: section header without ']'; write [NAME]",
                           lp->file, lp->line);
    *close = '\0';
    if (*trim(close + 1))
        return parse_error(lp->err, lp->errlen,
                           "%s:%d: text after the section header [%s]; put it on a line of "
                           "its own, or start it with ' ;' to make it a comment",
                           lp->file, lp->line, trim(s + 1));
    lp->section = trim(s + 1);
    add_item(lp->doc, &lp->cap, (struct ini_item){lp->section, NULL, NULL, lp->line});
    return 0;
}

static int key_line(struct line_parse *lp, char *s)
{
    char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return parse_error(lp->err, lp->errlen,
                           "%s:%d: malformed line; expected [SECTION], KEY = VALUE, or a "
                           "comment starting with # or ;",
                           lp->file, lp->line);
    *eq = '\0';
    add_item(lp->doc, &lp->cap, (struct ini_item){lp->section, trim(s), trim(eq + 1), lp->line});
    return 0;
}

/* One line, NUL-terminated in place. */
static int parse_line(struct line_parse *lp, char *line)
{
    char *s = trim(line);
    if (!*s || *s == '#' || *s == ';')
        return 0;
    cut_inline_comment(s);
    s = trim(s);
    return *s == '[' ? section_line(lp, s) : key_line(lp, s);
}

int ini_parse(struct ini_doc *doc, const char *file, const char *text, size_t len, char *err,
              size_t errlen)
{
    memset(doc, 0, sizeof(*doc));
    doc->text = xmalloc(len + 1);
    memcpy(doc->text, text, len);
    doc->text[len] = '\0';
    struct line_parse lp = {.doc = doc, .section = "", .file = file, .err = err, .errlen = errlen};
    char *p = doc->text, *end = doc->text + len;
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3; /* a UTF-8 byte order mark */
    while (p < end) {
        lp.line++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        if (memchr(p, '\0', (size_t)(eol - p)))
            return parse_error(err, errlen,
                               "%s:%d: NUL byte in the file; is it a text file? save it as "
                               "plain text",
                               file, lp.line);
        *eol = '\0';
        if (parse_line(&lp, p))
            return -1;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

void ini_free(struct ini_doc *doc)
{
    free(doc->items);
    free(doc->text);
    memset(doc, 0, sizeof(*doc));
}
