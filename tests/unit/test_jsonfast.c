/* Unit tests for src/lib/jsonfast.c: every input is read by json_loadb
 * (JSON_REJECT_DUPLICATES) and by the fast reader, and the two must agree:
 * the fast path never accepts what jansson rejects, what it accepts is the
 * same tree (types, values, key order), and jsonfast_loadb leaves the same
 * json_error_t behind, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/jsonfast.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- comparison ------------------------------------------------------- */

/* Input as printable text for failure messages: bytes outside ASCII
 * graphics as \xNN, cut after ~200 bytes. */
static const char *printable(const char *buf, size_t len)
{
    static char out[1024];
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < sizeof out; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (i == 200) {
            o += (size_t)snprintf(out + o, sizeof out - o, "...(%zu bytes)", len);
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

/* Same type at every node, same values (reals bit for bit, so -0.0 is not
 * 0.0), same object keys in the same order. */
static bool same_tree(const json_t *a, const json_t *b)
{
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);
        while (ia && ib) {
            size_t la = json_object_iter_key_len(ia), lb = json_object_iter_key_len(ib);
            if (la != lb || memcmp(json_object_iter_key(ia), json_object_iter_key(ib), la) != 0)
                return false;
            if (!same_tree(json_object_iter_value(ia), json_object_iter_value(ib)))
                return false;
            ia = json_object_iter_next((json_t *)a, ia);
            ib = json_object_iter_next((json_t *)b, ib);
        }
        return !ia && !ib;
    }
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same_tree(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_INTEGER:
        return json_integer_value(a) == json_integer_value(b);
    case JSON_REAL: {
        double x = json_real_value(a), y = json_real_value(b);
        return memcmp(&x, &y, sizeof x) == 0;
    }
    default: /* true, false, null: the type is the value */
        return true;
    }
}

enum outcome {
    FAST,     /* the fast path accepted it */
    SLOW_OK,  /* valid, but the fast path left it to jansson */
    REJECTED, /* jansson rejects it (and so the fast path declined) */
};

static const char *outcome_name(enum outcome o)
{
    return o == FAST ? "FAST" : o == SLOW_OK ? "SLOW_OK" : "REJECTED";
}

/* Reads text[0..len) from an exact-size heap copy (so ASan sees any read
 * past the end) with json_loadb, jsonfast_parse and jsonfast_loadb, checks
 * that they agree, and says how it went. */
static enum outcome compare_with_jansson(const char *text, size_t len)
{
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, text, len);

    json_error_t want_err, got_err;
    memset(&want_err, 0x5a, sizeof want_err);
    memset(&got_err, 0x5a, sizeof got_err);
    json_t *want = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &want_err);
    json_t *fast = jsonfast_parse(buf, len);
    json_t *got = jsonfast_loadb(buf, len, &got_err);

    if (fast && !want)
        fail_msg("fast path accepted <<%s>>, jansson says %s", printable(buf, len), want_err.text);
    if (fast && (!same_tree(want, fast) || !json_equal(want, fast)))
        fail_msg("fast path tree differs for <<%s>>", printable(buf, len));
    if (!want != !got)
        fail_msg("jsonfast_loadb %s <<%s>>", got ? "accepted" : "rejected", printable(buf, len));
    if (got && (!same_tree(want, got) || !json_equal(want, got)))
        fail_msg("jsonfast_loadb tree differs for <<%s>>", printable(buf, len));
    if (memcmp(&want_err, &got_err, sizeof want_err) != 0)
        fail_msg("error differs for <<%s>>: want %d:%d@%d \"%s\" (%s), got %d:%d@%d \"%s\" (%s)",
                 printable(buf, len), want_err.line, want_err.column, want_err.position, want_err.text,
                 want_err.source, got_err.line, got_err.column, got_err.position, got_err.text, got_err.source);

    enum outcome o = fast ? FAST : want ? SLOW_OK : REJECTED;
    json_decref(want);
    json_decref(fast);
    json_decref(got);
    free(buf);
    return o;
}

struct example {
    const char *text;
    size_t len;
    enum outcome expect;
};

/* sizeof keeps embedded NUL bytes in the literal */
#define EX(s, e) {(s), sizeof(s) - 1, (e)}

static void check_examples(const struct example *examples, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        enum outcome o = compare_with_jansson(examples[i].text, examples[i].len);
        if (o != examples[i].expect)
            fail_msg("<<%s>>: %s, want %s", printable(examples[i].text, examples[i].len), outcome_name(o),
                     outcome_name(examples[i].expect));
    }
}

/* ---- hand-picked inputs ------------------------------------------------- */

static void test_structure(void **state)
{
    (void)state;
    static const struct example examples[] = {
        EX("{\"kind\":\"Job\",\"name\":\"j-1\",\"namespace\":\"bench\",\"resources\":{\"gpus\":1,\"cpu\":2,"
           "\"memory\":\"8Gi\"},\"selector\":{\"a.b/c\":\"yes\"},\"command\":[\"python3\",\"train.py\"]}",
           FAST),
        EX("{}", FAST),
        EX("[]", FAST),
        EX(" \t\r\n{ \t\r\n} \t\r\n", FAST),
        EX("[ 1 , 2 ,3 ]", FAST),
        EX("[[[]],{},[{}]]", FAST),
        EX("{\"z\":1,\"a\":2,\"m\":{\"y\":[],\"b\":null}}", FAST),
        EX("[true,false,null]", FAST),
        EX("{\"a\":1,\"A\":2}", FAST),
        EX("{\"\":1}", FAST),
        /* not a document */
        EX("", REJECTED),
        EX(" \n ", REJECTED),
        EX("1", REJECTED),
        EX("\"a\"", REJECTED),
        EX("true", REJECTED),
        EX("null", REJECTED),
        EX("{", REJECTED),
        EX("[", REJECTED),
        EX("}", REJECTED),
        EX("]", REJECTED),
        EX("[1,]", REJECTED),
        EX("[,1]", REJECTED),
        EX("[1,,2]", REJECTED),
        EX("{\"a\":1,}", REJECTED),
        EX("{,}", REJECTED),
        EX("{\"a\"}", REJECTED),
        EX("{\"a\" 1}", REJECTED),
        EX("{\"a\":}", REJECTED),
        EX("{1:2}", REJECTED),
        EX("{a:1}", REJECTED),
        EX("{\"a\":1 \"b\":2}", REJECTED),
        EX("[1 2]", REJECTED),
        EX("[1;2]", REJECTED),
        EX("{\"a\":1;\"b\":2}", REJECTED),
        EX("{\"a\"=1}", REJECTED),
        EX("{\"a\"::1}", REJECTED),
        EX("[1]x", REJECTED),
        EX("[1] [2]", REJECTED),
        EX("{}{}", REJECTED),
        EX("[}", REJECTED),
        EX("{]", REJECTED),
        EX("[tru]", REJECTED),
        EX("[truee]", REJECTED),
        EX("[true1]", REJECTED),
        EX("[True]", REJECTED),
        EX("[nul]", REJECTED),
        EX("[nulll]", REJECTED),
        EX("[fals]", REJECTED),
        EX("[t]", REJECTED),
        /* whitespace is exactly space, tab, CR, LF */
        EX("\f{}", REJECTED),
        EX("{}\v", REJECTED),
        EX("\xc2\xa0{}", REJECTED),
        EX("\xef\xbb\xbf{}", REJECTED),
        EX("{}\0", REJECTED),
        EX("[1,\0 2]", REJECTED),
        EX("[\xc3\xa9]", REJECTED),
        /* duplicate keys, also when equal only after decoding */
        EX("{\"a\":1,\"a\":2}", REJECTED),
        EX("{\"a\":1,\"b\":2,\"a\":1}", REJECTED),
        EX("{\"\":1,\"\":2}", REJECTED),
        EX("{\"x\":{\"b\":1,\"b\":1}}", REJECTED),
        EX("{\"a\":1,\"\\u0061\":2}", REJECTED),
        EX("{\"\\/\":1,\"/\":2}", REJECTED),
        EX("[{\"a\":1},{\"a\":1}]", FAST),
    };
    check_examples(examples, N(examples));
}

/* The length is the end, whatever follows in memory. */
static void test_length_is_respected(void **state)
{
    (void)state;
    assert_int_equal(compare_with_jansson("{}garbage", 2), FAST);
    assert_int_equal(compare_with_jansson("[1]2", 3), FAST);
    assert_int_equal(compare_with_jansson("[12]", 2), REJECTED);
    assert_int_equal(compare_with_jansson("[\"ab\"]", 4), REJECTED);
    assert_int_equal(compare_with_jansson("[true]", 4), REJECTED);
    assert_int_equal(compare_with_jansson("[\"\\u0041\"]", 6), REJECTED);
    assert_int_equal(compare_with_jansson("[\"\xc3\xa9\"]", 3), REJECTED);
}

static void test_numbers(void **state)
{
    (void)state;
    static const struct example examples[] = {
        EX("[0]", FAST),
        EX("[-0]", FAST),
        EX("[-1]", FAST),
        EX("[1234567890]", FAST),
        EX("[9223372036854775807]", FAST),
        EX("[-9223372036854775808]", FAST),
        EX("[999999999999999999]", FAST),
        EX("[1000000000000000000]", FAST),
        EX("[1.5]", FAST),
        EX("[-0.0]", FAST),
        EX("[0.0]", FAST),
        EX("[0e0]", FAST),
        EX("[-0E-0]", FAST),
        EX("[1e5]", FAST),
        EX("[1E5]", FAST),
        EX("[1e+5]", FAST),
        EX("[1e-5]", FAST),
        EX("[123.456e-7]", FAST),
        EX("[0.1]", FAST),
        EX("[1.7976931348623157e308]", FAST),
        EX("[4.9e-324]", FAST),
        EX("[1e-400]", FAST), /* underflow: jansson keeps strtod's 0 */
        EX("[-1e-400]", FAST),
        EX("[2.2250738585072011e-308]", FAST),
        EX("{\"a\":1,\"b\":-2.5e3}", FAST),
        EX("[0.10000000000000000000000000000000000000000000000000000000000000001]", SLOW_OK),
        EX("[9223372036854775808]", REJECTED),
        EX("[-9223372036854775809]", REJECTED),
        EX("[18446744073709551616]", REJECTED),
        EX("[99999999999999999999]", REJECTED),
        EX("[100000000000000000000000]", REJECTED),
        EX("[1e400]", REJECTED),
        EX("[-1e400]", REJECTED),
        EX("[1.8e308]", REJECTED),
        EX("[01]", REJECTED),
        EX("[00]", REJECTED),
        EX("[-01]", REJECTED),
        EX("[00.5]", REJECTED),
        EX("[-]", REJECTED),
        EX("[- 1]", REJECTED),
        EX("[--1]", REJECTED),
        EX("[+1]", REJECTED),
        EX("[.5]", REJECTED),
        EX("[1.]", REJECTED),
        EX("[1.e5]", REJECTED),
        EX("[1e]", REJECTED),
        EX("[1e+]", REJECTED),
        EX("[1e-]", REJECTED),
        EX("[1.5.2]", REJECTED),
        EX("[1e5e5]", REJECTED),
        EX("[0x10]", REJECTED),
        EX("[1,5]", FAST),
        EX("[Infinity]", REJECTED),
        EX("[-Infinity]", REJECTED),
        EX("[NaN]", REJECTED),
        EX("[1", REJECTED),
        EX("[1.5", REJECTED),
        EX("[-", REJECTED),
    };
    check_examples(examples, N(examples));
}

static void test_strings(void **state)
{
    (void)state;
    static const struct example examples[] = {
        EX("[\"\"]", FAST),
        EX("[\"plain text\"]", FAST),
        EX("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", FAST),
        EX("[\"\\u0041\\u00e9\\u00E9\\u20ac\\u07ff\\u0800\\uffff\\ufffe\\ud7ff\\ue000\\u0001\\u001f\"]", FAST),
        EX("[\"\\ud83d\\ude00\\uD83D\\uDE00\\udbff\\udfff\\ud800\\udc00\"]", FAST),
        EX("[\"a\\u0062c\"]", FAST),
        EX("{\"a\\nb\":\"c\\td\"}", FAST),
        EX("[\"\x7f\"]", FAST),
        /* UTF-8 at the edges of each length and around the surrogates */
        EX("[\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"]",
           FAST),
        EX("{\"\xc3\xa9t\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}", FAST),
        /* unterminated, control characters */
        EX("[\"abc", REJECTED),
        EX("[\"abc\\\"]", REJECTED),
        EX("[\"a\\", REJECTED),
        EX("[\"a\x01\x62\"]", REJECTED),
        EX("[\"a\nb\"]", REJECTED),
        EX("[\"a\tb\"]", REJECTED),
        EX("[\"a\rb\"]", REJECTED),
        EX("[\"a\x1f\"]", REJECTED),
        EX("[\"a\0b\"]", REJECTED),
        EX("{\"a\0\":1}", REJECTED),
        /* escapes */
        EX("[\"\\x41\"]", REJECTED),
        EX("[\"\\a\"]", REJECTED),
        EX("[\"\\U0041\"]", REJECTED),
        EX("[\"\\'\"]", REJECTED),
        EX("[\"\\ \"]", REJECTED),
        EX("[\"\\u12\"]", REJECTED),
        EX("[\"\\u12G4\"]", REJECTED),
        EX("[\"\\u\"]", REJECTED),
        EX("[\"\\u004", REJECTED),
        EX("[\"\\u0000\"]", REJECTED),
        EX("[\"a\\u0000b\"]", REJECTED),
        EX("{\"\\u0000\":1}", REJECTED),
        EX("{\"a\\u0000\":1}", REJECTED),
        /* surrogates: jansson wants a high one followed by an escaped low one */
        EX("[\"\\ud800\"]", REJECTED),
        EX("[\"\\ud800x\"]", REJECTED),
        EX("[\"\\ud800\\u0041\"]", REJECTED),
        EX("[\"\\ud800\\ud800\"]", REJECTED),
        EX("[\"\\ud800\\n\"]", REJECTED),
        EX("[\"\\ud800\\u12\"]", REJECTED),
        EX("[\"\\udc00\"]", REJECTED),
        EX("[\"\\udfff\\ud800\"]", REJECTED),
        EX("{\"\\ud800\":1}", REJECTED),
        EX("[\"\\ud800", REJECTED),
        /* UTF-8 that jansson refuses */
        EX("[\"\x80\"]", REJECTED),
        EX("[\"\xbf\"]", REJECTED),
        EX("[\"\xc0\x80\"]", REJECTED),
        EX("[\"\xc1\xbf\"]", REJECTED),
        EX("[\"\xe0\x80\x80\"]", REJECTED),
        EX("[\"\xe0\x9f\xbf\"]", REJECTED),
        EX("[\"\xed\xa0\x80\"]", REJECTED),
        EX("[\"\xed\xbf\xbf\"]", REJECTED),
        EX("[\"\xf0\x80\x80\x80\"]", REJECTED),
        EX("[\"\xf0\x8f\xbf\xbf\"]", REJECTED),
        EX("[\"\xf4\x90\x80\x80\"]", REJECTED),
        EX("[\"\xf5\x80\x80\x80\"]", REJECTED),
        EX("[\"\xf8\x88\x80\x80\x80\"]", REJECTED),
        EX("[\"\xfe\"]", REJECTED),
        EX("[\"\xff\"]", REJECTED),
        EX("[\"\xc3\"]", REJECTED),
        EX("[\"\xe2\x82\"]", REJECTED),
        EX("[\"\xe2\x28\xa1\"]", REJECTED),
        EX("[\"\xf0\x9f\x98\"]", REJECTED),
        EX("[\"\xc3", REJECTED),
        EX("[\"\xf0\x9f\x98", REJECTED),
        EX("{\"\xff\":1}", REJECTED),
    };
    check_examples(examples, N(examples));
}

/* Decoded keys and values longer than the reader's stack buffers. */
static void test_long_escaped_strings(void **state)
{
    (void)state;
    char doc[4096];
    size_t o = 0;
    o += (size_t)snprintf(doc + o, sizeof doc - o, "{\"");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "k\\u00e9\\n");
    o += (size_t)snprintf(doc + o, sizeof doc - o, "\":\"");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "v\\ud83d\\ude00\\t");
    o += (size_t)snprintf(doc + o, sizeof doc - o, "\",\"short\\/\":\"x\\\\y\"}");
    assert_int_equal(compare_with_jansson(doc, o), FAST);
    /* the same long key twice, once spelled with escapes: the duplicate
     * check compares decoded text */
    const char *padding = " padding padding padding padding padding padding padding padding";
    o = (size_t)snprintf(doc, sizeof doc, "{\"long\\u006b\\u0065\\u0079%s\":1,\"longkey%s\":2}", padding, padding);
    assert_int_equal(compare_with_jansson(doc, o), REJECTED);
}

/* Nesting to JSONFAST_MAX_DEPTH is read fast; deeper goes to jansson, which
 * has its own limit (2048 values deep). */
static void test_depth(void **state)
{
    (void)state;
    static char doc[6 * 4200 + 16];
    int depths[] = {1, 2, JSONFAST_MAX_DEPTH - 1, JSONFAST_MAX_DEPTH, JSONFAST_MAX_DEPTH + 1, 2047, 2048, 2049, 4200};
    for (size_t d = 0; d < N(depths); d++) {
        for (int mixed = 0; mixed < 2; mixed++) {
            size_t o = 0;
            for (int i = 0; i < depths[d]; i++) {
                if (mixed && i % 2) {
                    memcpy(doc + o, "{\"k\":", 5);
                    o += 5;
                } else {
                    doc[o++] = '[';
                }
            }
            doc[o++] = '0';
            for (int i = depths[d] - 1; i >= 0; i--)
                doc[o++] = mixed && i % 2 ? '}' : ']';
            enum outcome o_ = compare_with_jansson(doc, o);
            if (depths[d] <= JSONFAST_MAX_DEPTH)
                assert_int_equal(o_, FAST);
            else
                assert_int_not_equal(o_, FAST);
        }
    }
}

/* NULL buffer: jansson's "wrong arguments". */
static void test_null_buffer(void **state)
{
    (void)state;
    json_error_t want, got;
    memset(&want, 0x5a, sizeof want);
    memset(&got, 0x5a, sizeof got);
    assert_null(json_loadb(NULL, 3, JSON_REJECT_DUPLICATES, &want));
    assert_null(jsonfast_loadb(NULL, 3, &got));
    assert_memory_equal(&want, &got, sizeof want);
    assert_null(jsonfast_parse(NULL, 3));
    json_t *doc = jsonfast_loadb("[]", 2, NULL);
    assert_non_null(doc);
    json_decref(doc);
    assert_null(jsonfast_loadb("[", 1, NULL));
}

/* ---- seeded differential fuzz ------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [0, n) (n > 0; the bias is irrelevant here) */
static unsigned rng_below(unsigned n) { return (unsigned)(rng_next() % n); }
static bool rng_chance(unsigned percent) { return rng_below(100) < percent; }

struct text {
    char *data;
    size_t len, cap;
};

static void put_bytes(struct text *t, const void *bytes, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2 + 64;
        t->data = realloc(t->data, t->cap);
        assert_non_null(t->data);
    }
    memcpy(t->data + t->len, bytes, n);
    t->len += n;
}

static void put(struct text *t, const char *s) { put_bytes(t, s, strlen(s)); }
static void put_byte(struct text *t, unsigned char c) { put_bytes(t, &c, 1); }

static const char *pick(const char *const *list, size_t count) { return list[rng_below((unsigned)count)]; }
#define PICK(list) pick((list), N(list))

static void gen_space(struct text *t)
{
    static const char *const odd[] = {"\f", "\v", "\xc2\xa0", "\0"};
    if (rng_chance(70))
        return;
    if (rng_chance(2)) {
        const char *s = PICK(odd);
        put_bytes(t, s, s[0] ? strlen(s) : 1);
        return;
    }
    for (unsigned n = 1 + rng_below(3); n > 0; n--)
        put_byte(t, (unsigned char)" \t\r\n"[rng_below(4)]);
}

static void put_utf8(struct text *t, uint32_t cp)
{
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    put_bytes(t, out, n);
}

static void put_u_escape(struct text *t, uint32_t unit)
{
    char esc[8];
    snprintf(esc, sizeof esc, rng_chance(50) ? "\\u%04x" : "\\u%04X", unit);
    put(t, esc);
}

static void gen_string_body(struct text *t, unsigned pieces)
{
    static const char *const simple[] = {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"};
    static const char *const bad_escapes[] = {"\\x", "\\a", "\\U0041", "\\u12", "\\u12g4", "\\", "\\'", "\\0"};
    static const uint32_t units[] = {0x0000, 0x0001, 0x001f, 0x0020, 0x0041, 0x007f, 0x0080, 0x00e9, 0x07ff,
                                     0x0800, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfffe, 0xffff};
    static const char *const bad_utf8[] = {
        "\x80",         "\xbf",         "\xc0\x80",         "\xc1\xbf",         "\xe0\x80\x80", "\xe0\x9f\xbf",
        "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
        "\xfe",         "\xff",         "\xc3",             "\xe2\x82",         "\xf0\x9f\x98", "\xe2\x28\xa1",
    };
    for (unsigned i = 0; i < pieces; i++) {
        unsigned kind = rng_below(100);
        if (kind < 45) {
            put_byte(t, (unsigned char)("abcxyzABC019 -_./:"[rng_below(18)]));
        } else if (kind < 55) {
            put(t, PICK(simple));
        } else if (kind < 63) {
            put_u_escape(t, rng_chance(50) ? units[rng_below(N(units))] : rng_below(0x10000));
        } else if (kind < 68) {
            put_u_escape(t, 0xD800 + rng_below(0x400));
            put_u_escape(t, 0xDC00 + rng_below(0x400));
        } else if (kind < 85) {
            static const uint32_t edges[] = {0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff};
            uint32_t cp;
            if (rng_chance(30))
                cp = edges[rng_below(N(edges))];
            else
                do
                    cp = 0x80 + rng_below(0x110000 - 0x80);
                while (cp >= 0xD800 && cp <= 0xDFFF);
            put_utf8(t, cp);
        } else if (kind < 88) {
            put(t, PICK(bad_utf8));
        } else if (kind < 90) {
            put(t, PICK(bad_escapes));
        } else if (kind < 91) {
            put_byte(t, (unsigned char)rng_below(0x20));
        } else {
            put_byte(t, (unsigned char)(0x20 + rng_below(0x5f)));
            if (t->data[t->len - 1] == '"' || t->data[t->len - 1] == '\\')
                t->data[t->len - 1] = 'q';
        }
    }
}

static void gen_string(struct text *t)
{
    put_byte(t, '"');
    /* mostly clean strings, so most documents are valid */
    if (rng_chance(60)) {
        for (unsigned n = rng_below(12); n > 0; n--)
            put_byte(t, (unsigned char)("abcdefghijklmnopqrstuvwxyz0123456789-_./"[rng_below(40)]));
    } else if (rng_chance(85)) {
        static const uint32_t nice[] = {0xe9, 0x20ac, 0x1f600, 0x4e2d};
        for (unsigned n = rng_below(8); n > 0; n--) {
            unsigned kind = rng_below(4);
            if (kind == 0)
                put(t, "\\n");
            else if (kind == 1)
                put_u_escape(t, 0x20 + rng_below(0x60));
            else if (kind == 2)
                put_utf8(t, nice[rng_below(N(nice))]);
            else
                put_byte(t, 'a');
        }
    } else {
        gen_string_body(t, 1 + rng_below(10));
    }
    if (!rng_chance(1))
        put_byte(t, '"');
}

static void gen_digits(struct text *t, unsigned count, bool leading_nonzero)
{
    for (unsigned i = 0; i < count; i++)
        put_byte(t, (unsigned char)('0' + (i == 0 && leading_nonzero ? 1 + rng_below(9) : rng_below(10))));
}

static void gen_number(struct text *t)
{
    static const char *const fixed[] = {
        "0",        "-0",     "-0.0",  "9223372036854775807", "-9223372036854775808", "9223372036854775808",
        "-9223372036854775809", "18446744073709551615", "1e308", "1.7976931348623157e308", "1.8e308", "1e309",
        "-1e400",   "1e-400", "4.9e-324", "2e-324", "01",   "-01",  "00",   "-",    "1.",   ".5",
        "1e",       "1e+",    "+1",    "1.5.2",  "0x1f", "1E-2", "-0e0", "0.5e-0", "Infinity", "NaN",
        "--1",      "1ee2",
    };
    if (rng_chance(20)) {
        put(t, PICK(fixed));
        return;
    }
    if (rng_chance(50))
        put_byte(t, '-');
    if (rng_chance(15))
        put_byte(t, '0');
    else
        gen_digits(t, 1 + (rng_chance(80) ? rng_below(6) : rng_below(24)), true);
    if (rng_chance(30)) {
        put_byte(t, '.');
        gen_digits(t, 1 + (rng_chance(90) ? rng_below(6) : rng_below(70)), false);
    }
    if (rng_chance(20)) {
        put_byte(t, "eE"[rng_below(2)]);
        if (rng_chance(50))
            put_byte(t, "+-"[rng_below(2)]);
        gen_digits(t, 1 + rng_below(3), false);
    }
}

static void gen_value(struct text *t, unsigned depth);

static void gen_key(struct text *t)
{
    /* a small pool so that duplicates (some only after decoding) happen */
    static const char *const pool[] = {"\"a\"", "\"b\"", "\"kind\"", "\"\\u0061\"", "\"\"", "\"\xc3\xa9\"",
                                       "\"\\u00e9\"", "\"a\\/b\"", "\"a/b\""};
    if (rng_chance(40))
        put(t, PICK(pool));
    else
        gen_string(t);
}

static void gen_container(struct text *t, unsigned depth, bool object)
{
    put_byte(t, object ? '{' : '[');
    gen_space(t);
    unsigned count = rng_below(depth < 3 ? 6 : 3);
    for (unsigned i = 0; i < count; i++) {
        if (i > 0) {
            put_byte(t, ',');
            gen_space(t);
        }
        if (object) {
            gen_key(t);
            gen_space(t);
            put_byte(t, ':');
            gen_space(t);
        }
        gen_value(t, depth + 1);
        gen_space(t);
    }
    put_byte(t, object ? '}' : ']');
}

static void gen_value(struct text *t, unsigned depth)
{
    static const char *const words[] = {"true", "false", "null", "tru", "nulL", "True", "falsee"};
    unsigned kind = rng_below(depth > 5 ? 60 : 100);
    if (kind < 25)
        gen_string(t);
    else if (kind < 45)
        gen_number(t);
    else if (kind < 60)
        put(t, rng_chance(90) ? words[rng_below(3)] : PICK(words));
    else if (kind < 80)
        gen_container(t, depth, true);
    else
        gen_container(t, depth, false);
}

static void gen_document(struct text *t)
{
    gen_space(t);
    if (rng_chance(3)) {
        /* a deep chain around the fast path's depth limit */
        unsigned depth = JSONFAST_MAX_DEPTH - 3 + rng_below(6);
        for (unsigned i = 0; i < depth; i++)
            put(t, i % 2 ? "{\"k\":" : "[");
        gen_value(t, 6);
        for (unsigned i = depth; i > 0; i--)
            put(t, (i - 1) % 2 ? "}" : "]");
    } else if (rng_chance(5)) {
        gen_value(t, 0); /* often a scalar: refused at the top level */
    } else {
        gen_container(t, 0, rng_chance(60));
    }
    gen_space(t);
    if (rng_chance(2))
        put(t, rng_chance(50) ? "x" : "{}");
}

/* One random edit: overwrite, delete or insert a byte, truncate, or repeat
 * a slice. Bytes come from the JSON alphabet and the bytes that break it. */
static void mutate(struct text *t)
{
    static const unsigned char interesting[] = {'"', '\\', ',', ':', '{', '}', '[', ']', '0', '-', '.', 'e',
                                                'u', ' ',  '\n', ';', 0,  0x1f, 0x7f, 0x80, 0xbf, 0xc3, 0xed,
                                                0xf0, 0xf4, 0xff, 'a', 't', 'n'};
    unsigned char c = rng_chance(70) ? interesting[rng_below(N(interesting))] : (unsigned char)rng_below(256);
    size_t at = t->len ? rng_below((unsigned)t->len) : 0;
    switch (rng_below(5)) {
    case 0:
        if (t->len)
            t->data[at] = (char)c;
        break;
    case 1:
        if (t->len) {
            memmove(t->data + at, t->data + at + 1, t->len - at - 1);
            t->len--;
        }
        break;
    case 2:
        put_byte(t, 0);
        memmove(t->data + at + 1, t->data + at, t->len - at - 1);
        t->data[at] = (char)c;
        break;
    case 3:
        t->len = at;
        break;
    default: {
        size_t n = t->len - at < 8 ? t->len - at : 8;
        char slice[8];
        memcpy(slice, t->data + at, n);
        put_bytes(t, slice, n);
        break;
    }
    }
}

struct tally {
    unsigned counts[3];
};

static void fuzz_round(uint64_t seed, unsigned documents, struct tally *tally)
{
    rng_state = seed;
    struct text doc = {0}, mutant = {0};
    for (unsigned i = 0; i < documents; i++) {
        doc.len = 0;
        gen_document(&doc);
        tally->counts[compare_with_jansson(doc.data, doc.len)]++;
        for (unsigned m = 0; m < 4; m++) {
            mutant.len = 0;
            put_bytes(&mutant, doc.data, doc.len);
            for (unsigned edits = 1 + rng_below(3); edits > 0; edits--)
                mutate(&mutant);
            tally->counts[compare_with_jansson(mutant.data, mutant.len)]++;
        }
    }
    free(doc.data);
    free(mutant.data);
}

static void test_differential_fuzz(void **state)
{
    (void)state;
    struct tally tally = {0};
    const uint64_t seeds[] = {1, 0x6770756161ull, 20240611};
    for (size_t s = 0; s < N(seeds); s++)
        fuzz_round(seeds[s], 5000, &tally);
    unsigned fast = tally.counts[FAST], slow = tally.counts[SLOW_OK], rejected = tally.counts[REJECTED];
    print_message("fuzz: %u fast, %u valid but left to jansson, %u rejected\n", fast, slow, rejected);
    /* The fuzz must reach both sides, and the fast path must take nearly
     * all valid documents (it declines only deep nests and long reals). */
    assert_true(fast > 8000);
    assert_true(rejected > 25000);
    assert_true(slow * 10 < fast);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_length_is_respected),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_long_escaped_strings),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_null_buffer),
        cmocka_unit_test(test_differential_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
