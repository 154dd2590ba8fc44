#include "common/escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define REPLACEMENT_REF "&#xfffd;"      /* U+FFFD as an HTML or XML reference */
#define REPLACEMENT_UTF8 "\xef\xbf\xbd" /* U+FFFD itself, for Markdown read raw too */

/* The code point at P and its length in bytes; 0 when P does not start a valid UTF-8 one. */
static size_t decode_utf8(const unsigned char *p, uint32_t *cp)
{
    size_t n;
    uint32_t min;
    if (p[0] < 0x80) {
        *cp = p[0];
        return p[0] ? 1 : 0;
    }
    if ((p[0] & 0xe0) == 0xc0)
        n = 2, *cp = p[0] & 0x1f, min = 0x80;
    else if ((p[0] & 0xf0) == 0xe0)
        n = 3, *cp = p[0] & 0x0f, min = 0x800;
    else if ((p[0] & 0xf8) == 0xf0)
        n = 4, *cp = p[0] & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        *cp = *cp << 6 | (p[i] & 0x3f);
    }
    bool surrogate = *cp >= 0xd800 && *cp <= 0xdfff;
    return *cp < min || *cp > 0x10ffff || surrogate ? 0 : n;
}

size_t escape_utf8_length(const char *text)
{
    uint32_t cp;
    return decode_utf8((const unsigned char *)text, &cp);
}

/* C0 controls, DEL and C1 controls: invisible, and mostly not XML characters. */
static bool is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Writes CP's escape and returns true, or returns false to have it copied as it is. */
typedef bool escape_char_fn(FILE *out, uint32_t cp);

static void escape_with(FILE *out, const char *text, const char *replacement,
                        escape_char_fn *escape_char)
{
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    while (*p) {
        uint32_t cp;
        size_t n = decode_utf8(p, &cp);
        if (n == 0) {
            fputs(replacement, out);
            p++;
            continue;
        }
        if (!escape_char(out, cp))
            fwrite(p, 1, n, out);
        p += n;
    }
}

/* The references both HTML and XML need; NULL for anything else. */
static const char *markup_reference(uint32_t cp)
{
    switch (cp) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    default:
        return NULL;
    }
}

static bool html_char(FILE *out, uint32_t cp)
{
    const char *ref = cp == '\'' ? "&#39;" : markup_reference(cp);
    if (!ref && is_control(cp) && cp != '\n' && cp != '\t')
        ref = REPLACEMENT_REF;
    if (ref)
        fputs(ref, out);
    return ref != NULL;
}

void escape_html(FILE *out, const char *text)
{
    escape_with(out, text, REPLACEMENT_REF, html_char);
}

static bool xml_char(FILE *out, uint32_t cp)
{
    const char *ref = markup_reference(cp);
    if (ref)
        fputs(ref, out);
    else if (cp == '\t' || cp == '\n' || cp == '\r')
        fprintf(out, "&#%u;", (unsigned)cp);
    else if (is_control(cp) || cp == 0xfffe || cp == 0xffff)
        fputs(REPLACEMENT_REF, out);
    else
        return false;
    return true;
}

void escape_xml(FILE *out, const char *text)
{
    escape_with(out, text, REPLACEMENT_REF, xml_char);
}

static bool markdown_char(FILE *out, uint32_t cp)
{
    if (cp == '<' || cp == '>' || cp == '&')
        fputs(markup_reference(cp), out);
    else if (cp == '\n' || cp == '\r' || cp == '\t')
        fputc(' ', out);
    else if (cp < 0x80 && strchr("|\\`*_[]#~", (int)cp))
        fprintf(out, "\\%c", (char)cp);
    else if (is_control(cp))
        fputs(REPLACEMENT_UTF8, out);
    else
        return false;
    return true;
}

/* Bytes up to and including the punctuation of a list marker TEXT starts with ("-", "+",
 * "12." or "12)" followed by a blank), 0 when it starts with none. */
static size_t list_marker_length(const char *text)
{
    size_t n = strspn(text, "0123456789");
    if (n > 9) /* CommonMark's limit for an ordered list's number */
        return 0;
    bool marker = n ? text[n] == '.' || text[n] == ')' : text[0] == '-' || text[0] == '+';
    return marker && (text[n + 1] == ' ' || text[n + 1] == '\t') ? n + 1 : 0;
}

void escape_markdown(FILE *out, const char *text)
{
    const char *p = text ? text : "";
    size_t marker = list_marker_length(p);
    if (marker) {
        fprintf(out, "%.*s\\%c", (int)(marker - 1), p, p[marker - 1]);
        p += marker;
    }
    escape_with(out, p, REPLACEMENT_UTF8, markdown_char);
}

static bool code_span_char(FILE *out, uint32_t cp)
{
    if (cp == '\n' || cp == '\r' || cp == '\t')
        fputc(' ', out);
    else if (is_control(cp))
        fputs(REPLACEMENT_UTF8, out);
    else
        return false;
    return true;
}

static size_t longest_backtick_run(const char *s)
{
    size_t longest = 0;
    for (size_t run = 0; *s; s++) {
        run = *s == '`' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    return longest;
}

/* CommonMark strips one space from each end of a code span that has one at both ends (and is
 * not all spaces), and a backtick at either end would merge with the fence: pad with a space.
 * LEN > 0. */
static bool code_span_needs_padding(const char *s, size_t len)
{
    bool spaces_only = strspn(s, " ") == len;
    return s[0] == '`' || s[len - 1] == '`' || (s[0] == ' ' && s[len - 1] == ' ' && !spaces_only);
}

static void put_backticks(FILE *out, size_t n)
{
    while (n--)
        fputc('`', out);
}

void escape_markdown_code(FILE *out, const char *text)
{
    char *content = NULL;
    size_t len = 0;
    FILE *buf = open_memstream(&content, &len);
    if (!buf)
        util_out_of_memory();
    escape_with(buf, text, REPLACEMENT_UTF8, code_span_char);
    if (fclose(buf)) /* a memory stream fails only for want of memory */
        util_out_of_memory();
    size_t fence = longest_backtick_run(content) + 1;
    const char *pad = len && code_span_needs_padding(content, len) ? " " : "";
    /* `` is not a code span; ` ` is one holding a space. */
    const char *body = len ? content : " ";
    put_backticks(out, fence);
    fprintf(out, "%s%s%s", pad, body, pad);
    put_backticks(out, fence);
    free(content);
}
