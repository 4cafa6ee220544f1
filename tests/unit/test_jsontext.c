/* The compact JSON writer (src/core/jsontext.c) against jansson's own
 * json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER): byte-identical text for
 * hand-picked edge cases and a few thousand seeded random values, the same
 * refusals (strings that are not UTF-8); core_format_time digit by digit
 * against the snprintf form it replaced; and core_render_job_text against the
 * jansson construction it replaced, on hand-built jobs and a real submit. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/jsontext.h"
#include "core/model.h"
#include "gpuaas/error.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

/* Writer and jansson agree on v: the same text, or both refuse. Takes v. */
static void assert_same_as_jansson(json_t *v)
{
    assert_non_null(v);
    char *want = json_dumps(v, DUMP_FLAGS);
    size_t got_len = 0;
    char *got = jsontext_dumps(v, &got_len);
    if (!want) {
        if (got)
            fail_msg("jansson refuses a value the writer wrote as %s", got);
    } else {
        if (!got)
            fail_msg("the writer refuses a value jansson wrote as %s", want);
        if (strcmp(want, got) != 0)
            fail_msg("differs:\n jansson: %s\n writer:  %s", want, got);
        assert_int_equal(got_len, strlen(want));
    }
    free(want);
    free(got);
    json_decref(v);
}

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
    return j;
}

static void test_containers_and_literals(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{}", "[]", "null", "true", "false", "[[]]", "[{}]", "{\"\":{}}", "[null,true,false]",
        "{\"a\":[1,{\"b\":[]},{}],\"c\":{\"d\":null,\"e\":[[[[]]]]}}",
        "[1,[2,[3,[4,[5]]]],{\"x\":{\"y\":{\"z\":\"deep\"}}}]",
        /* keys keep the order they came in, not sorted */
        "{\"z\":1,\"a\":2,\"m\":3,\"b\":{\"y\":1,\"x\":2}}",
    };
    for (size_t i = 0; i < N(texts); i++)
        assert_same_as_jansson(load(texts[i]));

    /* insertion order after a delete and a re-add, and a replaced value in place */
    json_t *obj = json_object();
    json_object_set_new(obj, "first", json_integer(1));
    json_object_set_new(obj, "second", json_integer(2));
    json_object_set_new(obj, "third", json_integer(3));
    json_object_del(obj, "first");
    json_object_set_new(obj, "first", json_integer(4));
    json_object_set_new(obj, "second", json_string("replaced"));
    assert_same_as_jansson(obj);

    /* a key with a NUL byte inside (jansson 2.14 keeps its length) */
    obj = json_object();
    json_object_setn_new(obj, "a\0b", 3, json_true());
    assert_same_as_jansson(obj);
}

static void test_strings(void **state)
{
    (void)state;
    /* every control character, alone and amid text, as value and as key */
    for (int c = 0; c < 0x20; c++) {
        char text[8] = {'a', (char)c, 'b'};
        assert_same_as_jansson(json_stringn(text + 1, 1));
        assert_same_as_jansson(json_stringn(text, 3));
        json_t *obj = json_object();
        json_object_setn_new(obj, text, 3, json_stringn(text, 2));
        assert_same_as_jansson(obj);
    }
    static const char *const texts[] = {
        "",
        "plain",
        "\"",
        "\\",
        "/",
        "\"quoted\" and \\back\\slashed/ and /slashed/",
        "\x7f",                             /* DEL is not escaped */
        "caf\xc3\xa9",                      /* 2-byte UTF-8 */
        "\xe2\x82\xac 5",                   /* 3-byte */
        "\xf0\x9f\x98\x80 grin",            /* 4-byte */
        "\xe2\x80\xa8 \xe2\x80\xa9",        /* U+2028, U+2029 stay raw */
        "\xef\xbf\xbf",                     /* U+FFFF */
        "\xf4\x8f\xbf\xbf",                 /* U+10FFFF */
        "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80", /* range edges */
        "\t\n\r\b\f\x01\x1f\x0b\x0e",
    };
    for (size_t i = 0; i < N(texts); i++) {
        assert_same_as_jansson(json_string(texts[i]));
        json_t *obj = json_object();
        json_object_set_new(obj, texts[i], json_string(texts[i]));
        assert_same_as_jansson(json_pack("[o]", obj));
    }
    /* a NUL inside a string */
    assert_same_as_jansson(json_stringn("a\0b", 3));

    /* not UTF-8 (only the unchecked constructors make these): both refuse */
    static const char *const bad[] = {
        "\x80",             /* stray continuation byte */
        "\xc0\x80",         /* overlong NUL */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong 3-byte */
        "\xf0\x80\x80\xaf", /* overlong 4-byte */
        "\xed\xa0\x80",     /* surrogate half */
        "\xed\xbf\xbf",     /* surrogate half */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xf5\x80\x80\x80", /* lead byte past F4 */
        "\xff",
        "\xe2\x82",         /* cut off */
        "ok\xf0\x9f\x98",   /* cut off at the end */
        "\xe2(\xac",        /* not a continuation */
    };
    for (size_t i = 0; i < N(bad); i++) {
        assert_same_as_jansson(json_string_nocheck(bad[i]));
        json_t *obj = json_object();
        json_object_set_new_nocheck(obj, bad[i], json_null());
        assert_same_as_jansson(obj);
        struct jsontext t;
        char *text = NULL;
        jsontext_init(&t);
        assert_int_equal(jsontext_string(&t, bad[i], strlen(bad[i])), GPUAAS_EINVAL);
        assert_int_equal(jsontext_finish(&t, &text, NULL), GPUAAS_EINVAL);
        assert_null(text);
    }
}

static void test_integers(void **state)
{
    (void)state;
    static const int64_t values[] = {0,          1,          -1,        9,         10,        -10,      99,
                                     100,        12345,      -12345,    INT32_MAX, INT32_MIN, UINT32_MAX,
                                     INT64_MAX,  INT64_MIN,  INT64_MAX - 1, INT64_MIN + 1, 1000000000000000000LL};
    for (size_t i = 0; i < N(values); i++) {
        assert_same_as_jansson(json_integer(values[i]));

        char want[32], *got = NULL;
        struct jsontext t;
        jsontext_init(&t);
        jsontext_int(&t, values[i]);
        assert_int_equal(jsontext_finish(&t, &got, NULL), 0);
        snprintf(want, sizeof want, "%lld", (long long)values[i]);
        assert_string_equal(got, want);
        free(got);

        jsontext_init(&t);
        jsontext_uint(&t, (uint64_t)values[i]);
        assert_int_equal(jsontext_finish(&t, &got, NULL), 0);
        snprintf(want, sizeof want, "%llu", (unsigned long long)(uint64_t)values[i]);
        assert_string_equal(got, want);
        free(got);
    }
}

static void test_reals(void **state)
{
    (void)state;
    static const double values[] = {
        0.0, -0.0, 0.1, 0.2, 0.3, 1.0 / 3, 1.5, -1.5, 100.0, 1e-7, 1e300, -1e300, 1e-300,
        123456789012345678.0, 12345678901234567890.0, 1e15, 1e16, 1e17, 1e21, 1e22, 1e100,
        1e-4, 1e-5, 0.0001, 0.00012345, 2.5e-10, 123456789.0, 4503599627370496.0,
        9007199254740993.0, DBL_MAX, -DBL_MAX, DBL_MIN, 5e-324, DBL_EPSILON, 3.141592653589793,
        2.718281828459045, 1e-310, 65536.0, 0.5, 8.0, -2.0, 1.7976931348623157e308,
    };
    for (size_t i = 0; i < N(values); i++)
        assert_same_as_jansson(json_real(values[i]));

    /* what a json_t cannot hold, the writer refuses too */
    static const double non_finite[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < N(non_finite); i++) {
        struct jsontext t;
        char *text = NULL;
        jsontext_init(&t);
        assert_int_equal(jsontext_real(&t, non_finite[i]), GPUAAS_EINVAL);
        assert_int_equal(jsontext_finish(&t, &text, NULL), GPUAAS_EINVAL);
    }
}

/* Nesting past the writer's own recursion limit goes through json_dumps. */
static void test_deep_nesting(void **state)
{
    (void)state;
    json_t *root = json_array(), *inner = root;
    for (int i = 0; i < 3000; i++) {
        json_t *next = i % 2 ? json_array() : json_object();
        if (json_is_array(inner))
            json_array_append_new(inner, next);
        else
            json_object_set_new(inner, "k", next);
        inner = next;
    }
    json_array_append_new(root, json_string("end\n"));
    assert_same_as_jansson(root);

    /* a reference loop: jansson refuses it, and so must the writer (not recurse forever) */
    json_t *outer = json_array(), *inner_loop = json_object();
    assert_int_equal(json_array_append(outer, inner_loop), 0);
    assert_int_equal(json_object_set(inner_loop, "back", outer), 0);
    char *text = jsontext_dumps(outer, NULL);
    assert_null(text);
    json_object_clear(inner_loop);
    json_decref(inner_loop);
    json_decref(outer);
}

/* ---- seeded random values ---------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static unsigned below(unsigned n) { return (unsigned)(rng() % n); }

/* Text from pieces that stress escaping and UTF-8; now and then raw bytes
 * that may not be UTF-8 at all (then both sides must refuse). */
static json_t *random_string(bool *ret_maybe_bad)
{
    static const char *const pieces[] = {
        "a", "Z", "0", " ", "job", "\"", "\\", "/", "\n", "\t", "\r", "\b", "\f", "\x01", "\x1f", "\x7f",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe2\x80\xa8", "\xef\xbb\xbf", "{", "}", ":", ",",
        "\xf4\x8f\xbf\xbf", "gpuaas.io/gpu-model", "\\u0000",
    };
    char text[256];
    size_t len = 0;
    unsigned count = below(12);
    bool raw = below(16) == 0;
    for (unsigned i = 0; i < count; i++) {
        if (raw) {
            text[len++] = (char)below(256);
        } else if (below(20) == 0) {
            text[len++] = '\0';
        } else {
            const char *piece = pieces[below(N(pieces))];
            memcpy(text + len, piece, strlen(piece));
            len += strlen(piece);
        }
    }
    if (ret_maybe_bad)
        *ret_maybe_bad = raw;
    return raw ? json_stringn_nocheck(text, len) : json_stringn(text, len);
}

static json_t *random_real(void)
{
    switch (below(4)) {
    case 0: {
        /* any finite bit pattern: subnormals, huge and tiny exponents */
        for (;;) {
            uint64_t bits = rng();
            double d;
            memcpy(&d, &bits, sizeof d);
            if (isfinite(d))
                return json_real(d);
        }
    }
    case 1: return json_real((double)(int64_t)rng() / (double)(1 + below(1000)));
    case 2: return json_real(pow(10, (int)below(628) - 320) * (below(2) ? -1 : 1));
    default: return json_real((double)((int)below(20001) - 10000) / 8.0);
    }
}

static json_t *random_value(int depth)
{
    unsigned kind = below(depth >= 6 ? 6 : 8);
    switch (kind) {
    case 0: return json_null();
    case 1: return json_boolean(below(2));
    case 2: {
        int64_t v = (int64_t)rng();
        return json_integer(below(2) ? v : v % 1000);
    }
    case 3: return random_real();
    case 4:
    case 5: return random_string(NULL);
    case 6: {
        json_t *array = json_array();
        for (unsigned i = below(6); i > 0; i--)
            json_array_append_new(array, random_value(depth + 1));
        return array;
    }
    default: {
        json_t *object = json_object();
        for (unsigned i = below(6); i > 0; i--) {
            json_t *key = random_string(NULL);
            json_object_setn_new(object, json_string_value(key), json_string_length(key), random_value(depth + 1));
            json_decref(key);
        }
        return object;
    }
    }
}

static void test_random_values(void **state)
{
    (void)state;
    rng_state = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 4000; i++) {
        json_t *v = random_value(0);
        assert_non_null(v);
        assert_same_as_jansson(v);
    }
    /* keys that may not be UTF-8 */
    for (int i = 0; i < 500; i++) {
        json_t *object = json_object();
        bool maybe_bad = false;
        json_t *key = random_string(&maybe_bad);
        json_object_setn_new_nocheck(object, json_string_value(key), json_string_length(key), random_value(3));
        json_decref(key);
        assert_same_as_jansson(object);
    }
}

/* The appenders chained by hand, and the sticky error. */
static void test_chained_appends(void **state)
{
    (void)state;
    struct jsontext t;
    char *text = NULL;
    size_t len = 0;
    jsontext_init(&t);
    assert_int_equal(jsontext_finish(&t, &text, &len), 0);
    assert_string_equal(text, "");
    assert_int_equal(len, 0);
    free(text);

    jsontext_init(&t);
    jsontext_raw_str(&t, "{\"k\":");
    jsontext_string(&t, "v\"", 2);
    jsontext_raw_str(&t, ",\"n\":");
    jsontext_int(&t, -7);
    jsontext_raw_str(&t, ",\"r\":");
    jsontext_real(&t, 2.0);
    jsontext_raw_str(&t, ",\"a\":");
    json_t *array = load("[1,\"x\",{}]");
    jsontext_value(&t, array);
    json_decref(array);
    jsontext_raw_str(&t, "}");
    assert_int_equal(jsontext_finish(&t, &text, &len), 0);
    assert_string_equal(text, "{\"k\":\"v\\\"\",\"n\":-7,\"r\":2.0,\"a\":[1,\"x\",{}]}");
    assert_int_equal(len, strlen(text));
    free(text);

    /* many small appends grow the buffer, the text stays whole */
    jsontext_init(&t);
    for (int i = 0; i < 10000; i++)
        jsontext_int(&t, i % 10);
    assert_int_equal(jsontext_finish(&t, &text, &len), 0);
    assert_int_equal(len, 10000);
    assert_int_equal(text[9999], '9');
    free(text);

    /* after an error nothing more is written, and finish reports it */
    jsontext_init(&t);
    jsontext_raw_str(&t, "[");
    assert_int_equal(jsontext_string(&t, "\xff", 1), GPUAAS_EINVAL);
    assert_int_equal(jsontext_raw_str(&t, "]"), GPUAAS_EINVAL);
    assert_int_equal(jsontext_value(&t, NULL), GPUAAS_EINVAL);
    text = NULL;
    assert_int_equal(jsontext_finish(&t, &text, &len), GPUAAS_EINVAL);
    assert_null(text);
    assert_null(t.data);

    /* a released text can be reused */
    jsontext_init(&t);
    jsontext_raw_str(&t, "x");
    jsontext_release(&t);
    jsontext_raw_str(&t, "y");
    assert_int_equal(jsontext_finish(&t, &text, NULL), 0);
    assert_string_equal(text, "y");
    free(text);
}

/* ---- core_format_time ---------------------------------------------------- */

/* core_format_time as it was, with snprintf. */
static void reference_format_time(int64_t ms, char *out, size_t out_size)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int millis = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t sod = secs - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    snprintf(out, out_size, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03dZ", (long long)y, (long long)m,
             (long long)d, (long long)(sod / 3600), (long long)(sod / 60 % 60), (long long)(sod % 60), millis);
}

static void assert_time_as_before(int64_t ms, size_t out_size)
{
    char want[64], got[64];
    memset(want, 'X', sizeof want);
    memset(got, 'X', sizeof got);
    reference_format_time(ms, want, out_size);
    core_format_time(ms, got, out_size);
    if (memcmp(want, got, sizeof want) != 0)
        fail_msg("time %lld (size %zu): want %.40s, got %.40s", (long long)ms, out_size, want, got);
}

static void test_format_time_as_before(void **state)
{
    (void)state;
    static const int64_t values[] = {
        0, 1, -1, 999, 1000, -999, -1000, -1001, 86399999, 86400000, 951782400000LL, 1795622400123LL,
        253402300799999LL,   /* 9999-12-31T23:59:59.999 */
        253402300800000LL,   /* year 10000: five digits */
        -62135596800000LL,   /* 0001-01-01 */
        -62135596800001LL,   /* year 0 */
        -62167219200001LL,   /* year -1 */
        -30610224000000LL,   /* year 1000 */
        -377705116800000LL,  /* year -10000 */
        4000000000000000000LL, -4000000000000000000LL,
    };
    for (size_t i = 0; i < N(values); i++)
        assert_time_as_before(values[i], 64);
    rng_state = 12345;
    for (int i = 0; i < 20000; i++) {
        int64_t ms = (int64_t)(rng() >> (2 + below(40)));
        assert_time_as_before(below(2) ? ms : -ms, 64);
    }
    /* cut to the buffer as snprintf cut it */
    for (size_t size = 0; size < 30; size++) {
        assert_time_as_before(1795622400123LL, size);
        assert_time_as_before(-377705116800000LL, size);
    }
}

/* ---- core_render_job_text ------------------------------------------------ */

static json_t *reference_time_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char text[40];
    reference_format_time(ms, text, sizeof text);
    return json_string(text);
}

/* core_render_job_text as it was: the status as a jansson object, dumped,
 * joined to the spec text with snprintf. */
static char *reference_render_job_text(const struct core_job *job, size_t *ret_len)
{
    json_t *status = json_object();
    json_object_set_new(status, "state", json_string(core_job_state_name(job->state)));
    json_object_set_new(status, "reason", json_string(job->reason));
    json_object_set_new(status, "restarts", json_integer(job->restarts));
    json_object_set_new(status, "created_at", reference_time_or_null(job->created_ms));
    json_object_set_new(status, "updated_at", reference_time_or_null(job->updated_ms));
    json_object_set_new(status, "finished_at", reference_time_or_null(job->finished_ms));
    char *status_text = json_dumps(status, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(status);
    assert_non_null(status_text);
    size_t spec_len = strlen(job->spec_text);
    size_t size = spec_len + strlen(status_text) + 64;
    char *text = malloc(size);
    assert_non_null(text);
    int n = snprintf(text, size, "%.*s,\"id\":%llu,\"status\":%s}", (int)(spec_len - 1), job->spec_text,
                     (unsigned long long)job->id, status_text);
    free(status_text);
    assert_true(n > 0 && (size_t)n < size);
    *ret_len = (size_t)n;
    return text;
}

#define SAMPLE_SPEC                                                                                 \
    "{\"kind\":\"Job\",\"name\":\"llm-finetune\",\"namespace\":\"team-ai/project-llm/dev\","       \
    "\"priority\":\"high\",\"replicas\":2,"                                                         \
    "\"resources\":{\"gpus\":2,\"cpu\":0.5,\"memory\":\"32Gi\"},"                                   \
    "\"selector\":{\"gpuaas.io/gpu-model\":\"A100\"},"                                              \
    "\"command\":[\"python3\",\"-c\",\"print(\\\"h\\u00e9llo\\\\n\\\")\",\"\\u2028\\ud83d\\ude00\"]," \
    "\"env\":{\"WANDB_MODE\":\"offline\",\"TAB\":\"a\\tb\"},"                                       \
    "\"workdir\":\"/data/llm\",\"max_runtime\":\"4h\","                                             \
    "\"restart\":{\"policy\":\"OnFailure\",\"limit\":3}}"

static void test_render_job_text_as_before(void **state)
{
    (void)state;
    static const struct {
        enum job_state state;
        const char *reason;
        int32_t restarts;
        int64_t created, updated, finished;
        uint64_t id;
    } cases[] = {
        {JOB_PENDING, "waiting for placement", 0, 1795622400123LL, 1795622400123LL, 0, 1},
        {JOB_RUNNING, "2/2 pods running", 1, 1795622400123LL, 1795622460000LL, 0, 42},
        {JOB_SUCCEEDED, "all pods \"succeeded\"", 0, 1795622400123LL, 1795622500000LL, 1795622500000LL, 7},
        {JOB_FAILED, "pod exited 137 \\ OOM\nkilled \xe2\x80\xa8 caf\xc3\xa9", 3, 1, 2, 3, (uint64_t)INT64_MAX},
        {JOB_CANCELLED, "", 0, 0, 0, 0, 18446744073709551615ULL / 3},
        {JOB_CANCELLED, "cancelled by \x01 user", INT32_MAX, 253402300799999LL, 253402300800000LL,
         253402300800001LL, 1000000},
    };
    json_t *spec = load(SAMPLE_SPEC);
    for (size_t i = 0; i < N(cases); i++) {
        struct core_job *job = calloc(1, sizeof *job);
        assert_non_null(job);
        job->spec.document = json_incref(spec);
        job->spec_text = jsontext_dumps(spec, NULL);
        char *dumped = json_dumps(spec, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_string_equal(job->spec_text, dumped);
        free(dumped);
        job->id = cases[i].id;
        job->state = cases[i].state;
        snprintf(job->reason, sizeof job->reason, "%s", cases[i].reason);
        job->restarts = cases[i].restarts;
        job->created_ms = cases[i].created;
        job->updated_ms = cases[i].updated;
        job->finished_ms = cases[i].finished;

        size_t want_len = 0, got_len = 0;
        char *want = reference_render_job_text(job, &want_len);
        char *got = core_render_job_text(job, &got_len);
        assert_non_null(got);
        if (strcmp(want, got) != 0)
            fail_msg("case %zu differs:\n before: %s\n now:    %s", i, want, got);
        assert_int_equal(got_len, want_len);

        /* the text is JSON, and the same text the object form dumps to */
        json_error_t jerr;
        json_t *parsed = json_loads(got, JSON_REJECT_DUPLICATES, &jerr);
        if (!parsed)
            fail_msg("case %zu: not JSON (%s): %s", i, jerr.text, got);
        json_t *object = core_render_job(job);
        assert_true(json_equal(parsed, object));
        char *object_text = json_dumps(object, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_string_equal(object_text, got);
        free(object_text);
        json_decref(object);
        json_decref(parsed);
        free(want);
        free(got);

        /* no spec text, or one that is not an object: no rendering */
        free(job->spec_text);
        job->spec_text = NULL;
        assert_null(core_render_job_text(job, &got_len));
        job->spec_text = strdup("[]");
        assert_null(core_render_job_text(job, &got_len));
        free(job->spec_text);
        json_decref(job->spec.document);
        free(job);
    }
    json_decref(spec);
}

/* Through core_apply: the stored spec text is json_dumps's, the reply the old
 * construction's, byte for byte. */
static void test_submit_texts_as_before(void **state)
{
    (void)state;
    struct core_state st;
    struct core_effects fx;
    struct core_reply reply;
    memset(&reply, 0, sizeof reply);
    assert_int_equal(core_state_init(&st), 0);
    core_effects_init(&fx);

    struct core_cmd *cmd = calloc(1, sizeof *cmd);
    assert_non_null(cmd);
    cmd->kind = CORE_CMD_NAMESPACE_CREATE;
    snprintf(cmd->namespace_path, sizeof cmd->namespace_path, "team-ai/project-llm/dev");
    assert_int_equal(core_apply(&st, cmd, 1795622400000LL, &fx, &reply), 0);
    core_cmd_clear(cmd);
    core_reply_clear(&reply);
    core_effects_free(&fx);
    core_effects_init(&fx);

    json_t *input = load(SAMPLE_SPEC);
    json_object_set_new(input, "resources", json_pack("{s:f}", "cpu", 0.25));
    memset(cmd, 0, sizeof *cmd);
    cmd->kind = CORE_CMD_JOB_SUBMIT;
    struct spec_error err;
    if (spec_parse_job(input, NULL, &cmd->job, &err) != 0)
        fail_msg("sample spec invalid at '%s': %s", err.field, err.message);
    assert_int_equal(core_apply(&st, cmd, 1795622400123LL, &fx, &reply), 0);
    assert_non_null(reply.text);

    const struct core_job *job = core_find_job(&st, "team-ai/project-llm/dev", "llm-finetune");
    assert_non_null(job);
    char *dumped = json_dumps(job->spec.document, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(job->spec_text, dumped);
    free(dumped);
    size_t want_len = 0;
    char *want = reference_render_job_text(job, &want_len);
    assert_int_equal(reply.text_len, want_len);
    assert_memory_equal(reply.text, want, want_len);
    free(want);

    core_cmd_clear(cmd);
    free(cmd);
    json_decref(input);
    core_reply_clear(&reply);
    core_effects_free(&fx);
    core_state_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_containers_and_literals),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_reals),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_random_values),
        cmocka_unit_test(test_chained_appends),
        cmocka_unit_test(test_format_time_as_before),
        cmocka_unit_test(test_render_job_text_as_before),
        cmocka_unit_test(test_submit_texts_as_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
