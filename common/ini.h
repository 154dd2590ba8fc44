/* The one INI reader of allocscope: the allocator registry (docs/ALLOCATORS.md), bench files
 * (docs/BENCH.md) and scenario.ini (docs/WORKLOADS.md). common/ini.c says why it is ours.
 *
 * Syntax, the same for every file:
 *   - lines end with "\n" or "\r\n"; any length; a UTF-8 byte order mark at the start is
 *     skipped; blanks around a line are ignored, and so are blank lines;
 *   - a line whose first non-blank character is '#' or ';' is a comment, and a ';' after a
 *     blank starts a comment that runs to the end of the line ("key = v  ; why");
 *   - "[NAME]" opens a section (NAME without its surrounding blanks);
 *   - "KEY = VALUE": KEY is the text before the first '=' (not empty), VALUE the rest, both
 *     without surrounding blanks; VALUE may be empty. A key may repeat: every line is kept,
 *     in order, and the caller decides what a repeat means.
 * Anything else, and a NUL byte, is an error naming the file and line. */
#ifndef ALLOCSCOPE_INI_H
#define ALLOCSCOPE_INI_H

#include <stddef.h>

/* One line that says something: a section header (key == NULL) or a key = value line. */
struct ini_item {
    const char *section; /* the section the line is in; "" before the first header */
    const char *key;     /* NULL on a section header line */
    const char *value;   /* NULL on a section header line */
    int line;            /* 1-based */
};

struct ini_doc {
    struct ini_item *items; /* in file order */
    size_t n;
    char *text; /* the copy of the file the items point into */
};

/* Parses LEN bytes of TEXT (FILE names it in messages). Returns 0, or -1 with
 * "FILE:LINE: problem; what to do" in ERR; on error DOC still holds the items of the lines
 * before the bad one, so a caller can report an earlier problem of its own first. Free DOC
 * with ini_free in both cases. */
int ini_parse(struct ini_doc *doc, const char *file, const char *text, size_t len, char *err,
              size_t errlen);
/* Files are read with util_read_file_bounded(path, UTIL_INPUT_MAX, &len), so that LEN counts
 * a NUL byte inside the file too. */

void ini_free(struct ini_doc *doc);

#endif
