/* Text from outside allocscope put into JSON, and JSON documents turned into text.
 *
 * jansson refuses a string that is not valid UTF-8: json_string() returns NULL, and so does a
 * json_pack() given one for "s", and the whole document is lost. Paths, the target's argv and
 * environment values are bytes on Linux, and symbol names, shim facts and bench names come
 * from files allocscope did not write: each goes in through json_text(). */
#ifndef ALLOCSCOPE_JSON_TEXT_H
#define ALLOCSCOPE_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>

/* TEXT as a JSON string: as it is when it is UTF-8, else a copy in which each byte that does
 * not start a UTF-8 character becomes U+FFFD (the rule of common/escape.h). NULL gives
 * json_null(). For json_pack's "o". */
json_t *json_text(const char *text);

/* json_object_set_new() for a KEY from outside, made UTF-8 as json_text() does. */
int json_text_set(json_t *object, const char *key, json_t *value);

/* ROOT encoded as json_dumps(ROOT, FLAGS) does, or NULL after one line on stderr, "cannot
 * encode WHAT as JSON: REASON", when ROOT is NULL (a part of it could not be built) or the
 * encoder failed. The caller frees the text. */
char *json_text_dump(const json_t *root, size_t flags, const char *what);

/* ROOT encoded on stdout with a newline; nothing is printed when it cannot be encoded, and -1
 * is returned after the line json_text_dump() prints. Returns 0 otherwise. */
int json_text_print(const json_t *root, size_t flags, const char *what);

#endif
