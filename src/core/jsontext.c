/* Compact JSON text writer; see jsontext.h. The output rules follow what
 * jansson 2.14's dump.c and strconv.c do, so that text written here and text
 * from json_dumps can be mixed and compared byte for byte. */
#include "core/jsontext.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpuaas/error.h"

/* Deeper containers go to json_dumps: it fails on a reference loop, which
 * would otherwise recurse here without end (jansson's parser stops at 2048). */
#define JSONTEXT_DEPTH_MAX 2048
#define JSONTEXT_FIRST_CAP 256
/* Internal, never returned: an object key is not UTF-8. jansson does not
 * refuse such a key but writes a broken fragment of it, so the value that
 * holds it is handed to json_dumps whole instead. */
#define JSONTEXT_KEY_NOT_UTF8 1

static int fail(struct jsontext *t, int err)
{
    if (!t->err)
        t->err = err;
    return t->err;
}

void jsontext_init(struct jsontext *t) { *t = (struct jsontext){0}; }

void jsontext_release(struct jsontext *t)
{
    free(t->data);
    jsontext_init(t);
}

int jsontext_grow(struct jsontext *t, size_t more)
{
    if (t->err)
        return t->err;
    if (more < t->cap - t->len)
        return 0;
    if (more > SIZE_MAX / 2 - t->len)
        return fail(t, GPUAAS_ENOMEM);
    size_t need = t->len + more + 1;
    size_t cap = t->cap ? t->cap : JSONTEXT_FIRST_CAP;
    while (cap < need)
        cap *= 2;
    char *data = realloc(t->data, cap);
    if (!data)
        return fail(t, GPUAAS_ENOMEM);
    t->data = data;
    t->cap = cap;
    return 0;
}

/* Length of the UTF-8 sequence that starts at s, or 0 where jansson refuses
 * the string: a stray continuation byte, an overlong form, a surrogate half,
 * a code point past U+10FFFF, or a sequence cut off by the end. */
static size_t utf8_sequence_len(const unsigned char *s, size_t left)
{
    static const uint32_t smallest[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned char lead = s[0];
    size_t n;
    uint32_t cp;
    if (lead >= 0xC2 && lead <= 0xDF) {
        n = 2;
        cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        n = 3;
        cp = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        n = 4;
        cp = lead & 0x07;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (cp < smallest[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* The escape for a byte that cannot stand in a JSON string as itself:
 * the two-character forms where JSON has one, else \u00XX (upper case). */
static size_t escape_byte(unsigned char c, char out[6])
{
    static const char hex[] = "0123456789ABCDEF";
    char short_form = 0;
    switch (c) {
    case '"': short_form = '"'; break;
    case '\\': short_form = '\\'; break;
    case '\b': short_form = 'b'; break;
    case '\f': short_form = 'f'; break;
    case '\n': short_form = 'n'; break;
    case '\r': short_form = 'r'; break;
    case '\t': short_form = 't'; break;
    default: break;
    }
    out[0] = '\\';
    if (short_form) {
        out[1] = short_form;
        return 2;
    }
    out[1] = 'u';
    out[2] = '0';
    out[3] = '0';
    out[4] = hex[c >> 4];
    out[5] = hex[c & 0xF];
    return 6;
}

/* Non-ASCII text is written as it is (jansson escapes it only with
 * JSON_ENSURE_ASCII), and so are '/' and DEL. */
int jsontext_string(struct jsontext *t, const char *str, size_t len)
{
    if (jsontext_reserve(t, len + 2) != 0)
        return t->err;
    const unsigned char *s = (const unsigned char *)str, *end = s + len, *run = s;
    t->data[t->len++] = '"';
    while (s < end) {
        unsigned char c = *s;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            s++;
        } else if (c >= 0x80) {
            size_t n = utf8_sequence_len(s, (size_t)(end - s));
            if (!n)
                return fail(t, GPUAAS_EINVAL);
            s += n;
        } else {
            char esc[6];
            size_t esc_len = escape_byte(c, esc);
            jsontext_raw(t, (const char *)run, (size_t)(s - run));
            jsontext_raw(t, esc, esc_len);
            run = ++s;
        }
    }
    jsontext_raw(t, (const char *)run, (size_t)(s - run));
    return jsontext_raw(t, "\"", 1);
}

/* Decimal digits of value, written backwards ending at end; returns the start. */
static char *digits_before(char *end, uint64_t value)
{
    do {
        *--end = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    return end;
}

int jsontext_uint(struct jsontext *t, uint64_t value)
{
    char text[24];
    char *start = digits_before(text + sizeof text, value);
    return jsontext_raw(t, start, (size_t)(text + sizeof text - start));
}

int jsontext_int(struct jsontext *t, int64_t value)
{
    char text[24];
    /* the magnitude in unsigned arithmetic, so that INT64_MIN has one */
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    char *start = digits_before(text + sizeof text, magnitude);
    if (value < 0)
        *--start = '-';
    return jsontext_raw(t, start, (size_t)(text + sizeof text - start));
}

/* jansson prints a real with "%.17g", then makes it read back as a real
 * (".0" when neither a point nor an exponent shows) and shortens the exponent
 * (no '+', no leading zeros: 1e+300 -> 1e300, 1e-07 -> 1e-7). */
int jsontext_real(struct jsontext *t, double value)
{
    if (!isfinite(value))
        return fail(t, GPUAAS_EINVAL);
    char printed[40], out[48];
    int n = snprintf(printed, sizeof printed, "%.17g", value);
    if (n < 0 || (size_t)n >= sizeof printed)
        return fail(t, GPUAAS_EINVAL);
    size_t len = 0;
    bool reads_as_real = false;
    for (const char *p = printed; *p; p++) {
        if (*p == 'e') {
            reads_as_real = true;
            out[len++] = 'e';
            p++;
            if (*p == '-')
                out[len++] = '-';
            if (*p == '-' || *p == '+')
                p++;
            while (*p == '0')
                p++;
            while (*p)
                out[len++] = *p++;
            break;
        }
        if ((*p >= '0' && *p <= '9') || *p == '-') {
            out[len++] = *p;
        } else {
            /* the decimal point, whatever character the locale prints for it */
            out[len++] = '.';
            reads_as_real = true;
        }
    }
    if (!reads_as_real) {
        out[len++] = '.';
        out[len++] = '0';
    }
    return jsontext_raw(t, out, len);
}

static int write_value(struct jsontext *t, const json_t *value, int depth);

static int write_deep(struct jsontext *t, const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!text)
        return fail(t, GPUAAS_EINVAL);
    jsontext_raw_str(t, text);
    free(text);
    return t->err;
}

static int write_array(struct jsontext *t, const json_t *array, int depth)
{
    size_t count = json_array_size(array);
    jsontext_raw(t, "[", 1);
    for (size_t i = 0; i < count && !t->err; i++) {
        if (i)
            jsontext_raw(t, ",", 1);
        write_value(t, json_array_get(array, i), depth + 1);
    }
    return jsontext_raw(t, "]", 1);
}

/* Keys in insertion order: jansson 2.14 iterates objects that way, and
 * JSON_PRESERVE_ORDER asks for it. */
static int write_object(struct jsontext *t, const json_t *object, int depth)
{
    jsontext_raw(t, "{", 1);
    void *iter = json_object_iter((json_t *)object);
    for (bool first = true; iter && !t->err; first = false) {
        if (!first)
            jsontext_raw(t, ",", 1);
        if (jsontext_string(t, json_object_iter_key(iter), json_object_iter_key_len(iter)) == GPUAAS_EINVAL)
            t->err = JSONTEXT_KEY_NOT_UTF8;
        jsontext_raw(t, ":", 1);
        write_value(t, json_object_iter_value(iter), depth + 1);
        iter = json_object_iter_next((json_t *)object, iter);
    }
    return jsontext_raw(t, "}", 1);
}

static int write_value(struct jsontext *t, const json_t *value, int depth)
{
    if (t->err)
        return t->err;
    if (!value)
        return fail(t, GPUAAS_EINVAL);
    switch (json_typeof(value)) {
    case JSON_NULL: return jsontext_raw(t, "null", 4);
    case JSON_TRUE: return jsontext_raw(t, "true", 4);
    case JSON_FALSE: return jsontext_raw(t, "false", 5);
    case JSON_INTEGER: return jsontext_int(t, json_integer_value(value));
    case JSON_REAL: return jsontext_real(t, json_real_value(value));
    case JSON_STRING: return jsontext_string(t, json_string_value(value), json_string_length(value));
    case JSON_ARRAY:
        return depth >= JSONTEXT_DEPTH_MAX ? write_deep(t, value) : write_array(t, value, depth);
    case JSON_OBJECT:
        return depth >= JSONTEXT_DEPTH_MAX ? write_deep(t, value) : write_object(t, value, depth);
    }
    return fail(t, GPUAAS_EINVAL);
}

int jsontext_value(struct jsontext *t, const json_t *value)
{
    size_t start = t->len;
    if (write_value(t, value, 0) == JSONTEXT_KEY_NOT_UTF8) {
        t->err = 0;
        t->len = start;
        write_deep(t, value);
    }
    return t->err;
}

int jsontext_finish(struct jsontext *t, char **ret_text, size_t *ret_len)
{
    if (jsontext_reserve(t, 0) != 0) {
        int err = t->err;
        jsontext_release(t);
        return err;
    }
    t->data[t->len] = '\0';
    char *text = t->data;
    /* the text may be kept long (a job's spec): give back a large slack */
    if (t->cap - t->len > 64) {
        char *fitted = realloc(text, t->len + 1);
        if (fitted)
            text = fitted;
    }
    *ret_text = text;
    if (ret_len)
        *ret_len = t->len;
    jsontext_init(t);
    return 0;
}

char *jsontext_dumps(const json_t *value, size_t *ret_len)
{
    struct jsontext t;
    char *text = NULL;
    jsontext_init(&t);
    jsontext_value(&t, value);
    return jsontext_finish(&t, &text, ret_len) == 0 ? text : NULL;
}
