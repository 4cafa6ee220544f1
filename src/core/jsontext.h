/* Compact JSON text written straight into a growable buffer, for the hot
 * paths that would otherwise build a jansson object only to dump it.
 *
 * jsontext_value() writes a json_t exactly as jansson 2.14's
 * json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) does (byte for byte:
 * same escapes, same reals, keys in insertion order), and fails where it
 * fails (a string value that is not UTF-8). Any value is accepted, not only
 * objects and arrays (as with JSON_ENCODE_ANY). Two rare cases are left to
 * json_dumps itself: nesting deeper than 2048 (where jansson also catches
 * reference loops) and an object key that is not UTF-8 (jansson writes a
 * broken fragment of it rather than fail; only unchecked setters make one).
 *
 * Errors are sticky: the first failed append is remembered, later appends
 * do nothing, and jsontext_finish() reports it; so a caller may chain
 * appends and check once. */
#ifndef GPUAAS_CORE_JSONTEXT_H
#define GPUAAS_CORE_JSONTEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct jsontext {
    char *data; /* malloc'ed; NUL-terminated after jsontext_finish */
    size_t len;
    size_t cap;
    int err; /* first error (GPUAAS_ENOMEM or GPUAAS_EINVAL), or 0 */
};

/* An empty text; allocates nothing yet. */
void jsontext_init(struct jsontext *t);
/* Frees the buffer (a no-op after jsontext_finish handed it out). */
void jsontext_release(struct jsontext *t);
/* The slow path of jsontext_reserve: reallocates (or reports the sticky error). */
int jsontext_grow(struct jsontext *t, size_t more);

/* Makes room for `more` bytes, so that a caller who knows the size grows once.
 * Inline, as every append starts here. */
static inline int jsontext_reserve(struct jsontext *t, size_t more)
{
    /* one byte beyond what is asked stays free for the final NUL */
    if (!t->err && more < t->cap - t->len)
        return 0;
    return jsontext_grow(t, more);
}

/* Bytes as they are (already JSON: punctuation, literals, text from json_dumps). */
static inline int jsontext_raw(struct jsontext *t, const char *bytes, size_t len)
{
    if (jsontext_reserve(t, len) != 0)
        return t->err;
    memcpy(t->data + t->len, bytes, len);
    t->len += len;
    return 0;
}
static inline int jsontext_raw_str(struct jsontext *t, const char *text)
{
    return jsontext_raw(t, text, strlen(text));
}
/* A quoted, escaped string of len bytes; GPUAAS_EINVAL if they are not UTF-8. */
int jsontext_string(struct jsontext *t, const char *str, size_t len);
int jsontext_int(struct jsontext *t, int64_t value);
int jsontext_uint(struct jsontext *t, uint64_t value);
/* A finite double as jansson writes it ("%.17g", ".0" for integral values,
 * exponent without '+' or leading zeros); GPUAAS_EINVAL for NaN/infinity,
 * which a json_t cannot hold. */
int jsontext_real(struct jsontext *t, double value);
int jsontext_value(struct jsontext *t, const json_t *value);

/* Hands out the NUL-terminated text (the caller frees it with free()) and its
 * length, leaving t empty; on a sticky error frees the buffer and returns it. */
int jsontext_finish(struct jsontext *t, char **ret_text, size_t *ret_len);

/* json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) by the
 * writer: a new string the caller frees, or NULL (out of memory, not UTF-8). */
char *jsontext_dumps(const json_t *value, size_t *ret_len);

#endif
