/* Text taken from the data (workload and variant names, commands, paths, symbols, messages)
 * written into a document, one escaper per output language, so that it reads as that same text
 * and never as markup.
 *
 * Every escaper: NULL is written as ""; bytes that are not UTF-8 become U+FFFD (one per byte);
 * so do control characters (C0 other than the whitespace each language keeps, DEL, C1), which
 * XML 1.0 forbids even as references and which would otherwise be invisible. */
#ifndef ALLOCSCOPE_ESCAPE_H
#define ALLOCSCOPE_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* HTML text or a double- or single-quoted attribute: & < > " ' as references; newline and tab
 * kept. */
void escape_html(FILE *out, const char *text);

/* XML 1.0 text or a double-quoted attribute (JUnit): & < > " as references; tab, newline and
 * carriage return as &#9; &#10; &#13; so that attribute normalization keeps them; U+FFFE and
 * U+FFFF (not XML characters) become U+FFFD. */
void escape_xml(FILE *out, const char *text);

/* Markdown inline text, table cells included (GitHub's dialect): \ ` * _ [ ] # | ~ backslash-
 * escaped; < > & as HTML references (no raw HTML, no autolinks); newlines and tabs become
 * spaces (a cell is one line); a list marker at the start ("- ", "+ ", "1. ", "1) ") is escaped
 * so that text after a list bullet does not open a nested list. */
void escape_markdown(FILE *out, const char *text);

/* TEXT as one Markdown code span, backticks included: fenced by more backticks than it holds,
 * newlines and tabs as spaces. Backslashes stay literal there. Outside tables only: GitHub
 * still ends a table cell at a | inside a code span. */
void escape_markdown_code(FILE *out, const char *text);

/* Length (1 to 4) of the UTF-8 character TEXT starts with, 0 when it is not one (a stray
 * continuation byte, a truncated or overlong sequence, a surrogate, beyond U+10FFFF) or when
 * TEXT is "". For escapers of other languages (gnuplot strings). */
size_t escape_utf8_length(const char *text);

#endif
