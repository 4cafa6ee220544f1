/* Fast path for json_loadb(..., JSON_REJECT_DUPLICATES, ...) on request
 * bodies. The rules below follow jansson 2.14's reader (load.c, utf.c,
 * strconv.c); wherever a rule would need a judgement call the reader declines
 * and json_loadb decides. Declining is always safe: it costs a second parse,
 * never a different answer. */
#include "lib/jsonfast.h"

#include <errno.h>
#include <langinfo.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(json_int_t) == sizeof(int64_t), "json_int_t is expected to be 64 bits");

/* A real's text longer than this is left to jansson (no valid body needs it). */
#define REAL_TEXT_MAX 64
/* Decoded object keys up to this size stay on the stack. */
#define KEY_BUF_SIZE 64
/* 19 digits hold every int64 magnitude; 20 (no leading zeros) overflow. */
#define INT_DIGITS_MAX 19

struct reader {
    const unsigned char *p;
    const unsigned char *end;
};

/* Decoded text of a string with escapes: `small` when it fits, else `heap`
 * (freed by the owner of the struct). */
struct decoded {
    char *heap;
    char *small;
    size_t small_size;
};

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static void skip_space(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\t' || *r->p == '\r'))
        r->p++;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The value of the 4 hex digits at p, or -1. */
static int32_t hex4(const unsigned char *p)
{
    int32_t value = 0;
    for (int i = 0; i < 4; i++) {
        int digit = hex_value(p[i]);
        if (digit < 0)
            return -1;
        value = value * 16 + digit;
    }
    return value;
}

static bool is_continuation(unsigned char c) { return c >= 0x80 && c <= 0xBF; }

/* Length of the UTF-8 sequence at p (lead byte >= 0x80) under jansson's
 * rules: no overlong forms, no surrogates, nothing above U+10FFFF. 0 when
 * invalid or cut off by the end. */
static size_t utf8_sequence_length(const unsigned char *p, const unsigned char *end)
{
    unsigned char lead = p[0];
    size_t avail = (size_t)(end - p);
    if (lead >= 0xC2 && lead <= 0xDF) {
        return avail >= 2 && is_continuation(p[1]) ? 2 : 0;
    }
    if (lead >= 0xE0 && lead <= 0xEF) {
        if (avail < 3 || !is_continuation(p[1]) || !is_continuation(p[2]))
            return 0;
        uint32_t cp = ((uint32_t)(lead & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        return cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF) ? 3 : 0;
    }
    if (lead >= 0xF0 && lead <= 0xF4) {
        if (avail < 4 || !is_continuation(p[1]) || !is_continuation(p[2]) || !is_continuation(p[3]))
            return 0;
        uint32_t cp = ((uint32_t)(lead & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
                      ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        return cp >= 0x10000 && cp <= 0x10FFFF ? 4 : 0;
    }
    return 0; /* continuation byte, 0xC0/0xC1, or 0xF5 and above */
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escapes in raw[0..raw_len), already checked for shape by
 * scan_string, into out (room for raw_len bytes: no escape grows). Declines
 * what jansson refuses: \u0000 (no JSON_ALLOW_NUL; in keys too) and
 * surrogates that are not a high one followed by an escaped low one.
 * Returns the decoded length, or -1. */
static ptrdiff_t decode_escapes(const unsigned char *raw, size_t raw_len, char *out)
{
    const unsigned char *p = raw, *end = raw + raw_len;
    char *o = out;
    while (p < end) {
        if (*p != '\\') {
            *o++ = (char)*p++;
            continue;
        }
        unsigned char kind = p[1];
        p += 2;
        switch (kind) {
        case '"':
        case '\\':
        case '/':
            *o++ = (char)kind;
            continue;
        case 'b':
            *o++ = '\b';
            continue;
        case 'f':
            *o++ = '\f';
            continue;
        case 'n':
            *o++ = '\n';
            continue;
        case 'r':
            *o++ = '\r';
            continue;
        case 't':
            *o++ = '\t';
            continue;
        default: /* 'u': scan_string saw 4 hex digits */
            break;
        }
        uint32_t cp = (uint32_t)hex4(p);
        p += 4;
        if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
            return -1;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
                return -1;
            uint32_t low = (uint32_t)hex4(p + 2);
            if (low < 0xDC00 || low > 0xDFFF)
                return -1;
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        o += utf8_encode(cp, o);
    }
    return o - out;
}

/* Reads the string whose opening quote is at r->p. Without escapes the text
 * is a span of the input; with escapes it is decoded into *buf. Declines on
 * an unterminated string, control characters, bad escapes and bytes that
 * are not UTF-8 by jansson's rules. */
static bool read_string(struct reader *r, struct decoded *buf, const char **ret_text, size_t *ret_len)
{
    const unsigned char *start = r->p + 1, *p = start, *end = r->end;
    bool has_escape = false;
    for (;;) {
        if (p == end)
            return false;
        unsigned char c = *p;
        if (c == '"')
            break;
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            p++;
        } else if (c == '\\') {
            if (end - p < 2)
                return false;
            unsigned char kind = p[1];
            if (kind == 'u') {
                if (end - p < 6 || hex4(p + 2) < 0)
                    return false;
                p += 6;
            } else if (kind == '"' || kind == '\\' || kind == '/' || kind == 'b' || kind == 'f' || kind == 'n' ||
                       kind == 'r' || kind == 't') {
                p += 2;
            } else {
                return false;
            }
            has_escape = true;
        } else if (c < 0x20) {
            return false;
        } else {
            size_t n = utf8_sequence_length(p, end);
            if (n == 0)
                return false;
            p += n;
        }
    }
    size_t raw_len = (size_t)(p - start);
    r->p = p + 1;
    if (!has_escape) {
        *ret_text = (const char *)start;
        *ret_len = raw_len;
        return true;
    }
    char *out = buf->small;
    if (raw_len > buf->small_size) {
        buf->heap = malloc(raw_len);
        if (!buf->heap)
            return false;
        out = buf->heap;
    }
    ptrdiff_t len = decode_escapes(start, raw_len, out);
    if (len < 0)
        return false;
    *ret_text = out;
    *ret_len = (size_t)len;
    return true;
}

static json_t *read_string_value(struct reader *r)
{
    char small[128];
    struct decoded buf = {.heap = NULL, .small = small, .small_size = sizeof small};
    const char *text;
    size_t len;
    json_t *value = NULL;
    if (read_string(r, &buf, &text, &len))
        value = json_stringn_nocheck(text, len);
    free(buf.heap);
    return value;
}

/* digits[0..count) with no leading zero (or the single "0"), as jansson's
 * strtoll would read it; declines where strtoll reports ERANGE. */
static json_t *make_integer(const unsigned char *digits, size_t count, bool negative)
{
    if (count > INT_DIGITS_MAX)
        return NULL;
    uint64_t magnitude = 0;
    for (size_t i = 0; i < count; i++)
        magnitude = magnitude * 10 + (uint64_t)(digits[i] - '0');
    if (!negative)
        return magnitude <= (uint64_t)INT64_MAX ? json_integer((json_int_t)magnitude) : NULL;
    if (magnitude > (uint64_t)INT64_MAX + 1)
        return NULL;
    /* INT64_MIN has no positive counterpart to negate */
    return json_integer(magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(json_int_t)magnitude);
}

/* jansson hands a real's text to strtod (after swapping '.' for the locale's
 * decimal point) and refuses overflow to +-HUGE_VAL; underflow is kept. */
static json_t *make_real(const unsigned char *text, size_t len)
{
    char copy[REAL_TEXT_MAX + 1];
    if (len > REAL_TEXT_MAX)
        return NULL;
    const char *radix = nl_langinfo(RADIXCHAR);
    if (!radix || radix[0] != '.' || radix[1] != '\0')
        return NULL;
    memcpy(copy, text, len);
    copy[len] = '\0';
    char *stop;
    errno = 0;
    double value = strtod(copy, &stop);
    if (stop != copy + len)
        return NULL;
    if (errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL))
        return NULL;
    return json_real(value);
}

/* JSON number grammar as jansson reads it: '-'? ('0' | [1-9][0-9]*), then an
 * optional fraction ('.' digit+) and exponent ([eE] [+-]? digit+); with
 * either it is a real, else an integer ("-0" is the integer 0). */
static json_t *read_number(struct reader *r)
{
    const unsigned char *start = r->p, *p = r->p, *end = r->end;
    bool negative = *p == '-';
    if (negative)
        p++;
    const unsigned char *digits = p;
    if (p == end || !is_digit(*p))
        return NULL;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return NULL;
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    size_t digit_count = (size_t)(p - digits);
    bool is_real = false;
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
        is_real = true;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
        is_real = true;
    }
    r->p = p;
    return is_real ? make_real(start, (size_t)(p - start)) : make_integer(digits, digit_count, negative);
}

/* The literal `word` at r->p; what follows is the caller's business (any
 * letter after it is a syntax error there, as in jansson). */
static bool read_word(struct reader *r, const char *word, size_t len)
{
    if ((size_t)(r->end - r->p) < len || memcmp(r->p, word, len) != 0)
        return false;
    r->p += len;
    return true;
}

static json_t *read_value(struct reader *r, unsigned depth);

static json_t *read_object(struct reader *r, unsigned depth)
{
    if (depth > JSONFAST_MAX_DEPTH)
        return NULL;
    json_t *object = json_object();
    if (!object)
        return NULL;
    r->p++;
    skip_space(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return object;
    }
    for (;;) {
        if (r->p == r->end || *r->p != '"')
            goto fail;
        char small[KEY_BUF_SIZE];
        struct decoded key_buf = {.heap = NULL, .small = small, .small_size = sizeof small};
        const char *key;
        size_t key_len;
        if (!read_string(r, &key_buf, &key, &key_len)) {
            free(key_buf.heap);
            goto fail;
        }
        skip_space(r);
        json_t *value = NULL;
        if (r->p < r->end && *r->p == ':') {
            r->p++;
            skip_space(r);
            if (r->p < r->end)
                value = read_value(r, depth);
        }
        if (!value) {
            free(key_buf.heap);
            goto fail;
        }
        /* A duplicate key replaces the value and leaves the size: that is the
         * duplicate check, without a second hash lookup. */
        size_t size_before = json_object_size(object);
        int rc = json_object_setn_new_nocheck(object, key, key_len, value);
        free(key_buf.heap);
        if (rc != 0 || json_object_size(object) == size_before)
            goto fail;
        skip_space(r);
        if (r->p == r->end)
            goto fail;
        if (*r->p == '}') {
            r->p++;
            return object;
        }
        if (*r->p != ',')
            goto fail;
        r->p++;
        skip_space(r);
    }
fail:
    json_decref(object);
    return NULL;
}

static json_t *read_array(struct reader *r, unsigned depth)
{
    if (depth > JSONFAST_MAX_DEPTH)
        return NULL;
    json_t *array = json_array();
    if (!array)
        return NULL;
    r->p++;
    skip_space(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return array;
    }
    for (;;) {
        if (r->p == r->end)
            goto fail;
        json_t *value = read_value(r, depth);
        if (!value || json_array_append_new(array, value) != 0)
            goto fail;
        skip_space(r);
        if (r->p == r->end)
            goto fail;
        if (*r->p == ']') {
            r->p++;
            return array;
        }
        if (*r->p != ',')
            goto fail;
        r->p++;
        skip_space(r);
    }
fail:
    json_decref(array);
    return NULL;
}

/* One value at r->p (r->p < r->end); depth counts the enclosing containers. */
static json_t *read_value(struct reader *r, unsigned depth)
{
    switch (*r->p) {
    case '{':
        return read_object(r, depth + 1);
    case '[':
        return read_array(r, depth + 1);
    case '"':
        return read_string_value(r);
    case 't':
        return read_word(r, "true", 4) ? json_true() : NULL;
    case 'f':
        return read_word(r, "false", 5) ? json_false() : NULL;
    case 'n':
        return read_word(r, "null", 4) ? json_null() : NULL;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return read_number(r);
    default:
        return NULL;
    }
}

json_t *jsonfast_parse(const char *buf, size_t len)
{
    if (!buf)
        return NULL;
    struct reader r = {.p = (const unsigned char *)buf, .end = (const unsigned char *)buf + len};
    skip_space(&r);
    if (r.p == r.end || (*r.p != '{' && *r.p != '['))
        return NULL;
    json_t *doc = read_value(&r, 0);
    if (!doc)
        return NULL;
    skip_space(&r);
    if (r.p != r.end) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *jsonfast_loadb(const char *buf, size_t len, json_error_t *err)
{
    json_t *doc = jsonfast_parse(buf, len);
    if (!doc)
        return json_loadb(buf, len, JSON_REJECT_DUPLICATES, err);
    if (err) {
        /* what json_loadb leaves behind after a successful parse */
        err->text[0] = '\0';
        err->line = -1;
        err->column = -1;
        err->position = (int)len;
        snprintf(err->source, sizeof err->source, "%s", "<buffer>");
    }
    return doc;
}
