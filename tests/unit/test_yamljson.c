/* Unit tests for src/lib/yamljson.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpuaas/error.h"
#include "lib/yamljson.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Parses `yaml`, which must succeed, and compares with the JSON text
 * `want` (json_equal tells 8 from 8.0 and "8"). */
static void expect_json(const char *yaml, const char *want)
{
    json_t *got = NULL;
    struct yamljson_error err = {0};
    int r = yamljson_parse(yaml, strlen(yaml), &got, &err);
    if (r != 0)
        fail_msg("parse failed for <<%s>>: %d at %d:%d %s", yaml, r, err.line, err.column, err.message);
    json_error_t jerr;
    json_t *expected = json_loads(want, JSON_DECODE_ANY, &jerr);
    if (!expected)
        fail_msg("bad expectation %s: %s", want, jerr.text);
    if (!json_equal(got, expected)) {
        char *dump = json_dumps(got, JSON_ENCODE_ANY);
        char msg[512];
        snprintf(msg, sizeof msg, "<<%s>> gave %s, want %s", yaml, dump ? dump : "?", want);
        free(dump);
        json_decref(got);
        json_decref(expected);
        fail_msg("%s", msg);
    }
    json_decref(got);
    json_decref(expected);
}

/* Parses `yaml`, which must fail with EPARSE at line:column (0 = do not
 * check) with a message containing `msg_part` (NULL = any non-empty). */
static void expect_error(const char *yaml, size_t len, int line, int column, const char *msg_part)
{
    json_t *sentinel = json_string("untouched");
    json_t *got = sentinel;
    struct yamljson_error err;
    memset(&err, 0x7f, sizeof err);
    int r = yamljson_parse(yaml, len, &got, &err);
    if (r != GPUAAS_EPARSE)
        fail_msg("<<%s>>: want EPARSE, got %d", yaml, r);
    if (got != sentinel)
        fail_msg("<<%s>>: output written on failure", yaml);
    json_decref(sentinel);
    if (memchr(err.message, '\0', sizeof err.message) == NULL || err.message[0] == '\0')
        fail_msg("<<%s>>: message not set", yaml);
    if (line && err.line != line)
        fail_msg("<<%s>>: line %d, want %d (%s)", yaml, err.line, line, err.message);
    if (column && err.column != column)
        fail_msg("<<%s>>: column %d, want %d (%s)", yaml, err.column, column, err.message);
    if (msg_part && !strstr(err.message, msg_part))
        fail_msg("<<%s>>: message \"%s\" lacks \"%s\"", yaml, err.message, msg_part);
}

#define EXPECT_ERROR(yaml, line, column, part) expect_error((yaml), strlen(yaml), (line), (column), (part))

/* ---- typing ------------------------------------------------------------- */

static void test_scalar_typing(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *json;
    } cases[] = {
        {"v: 8", "{\"v\": 8}"},
        {"v: \"8\"", "{\"v\": \"8\"}"},
        {"v: '8'", "{\"v\": \"8\"}"},
        {"v: true", "{\"v\": true}"},
        {"v: True", "{\"v\": true}"},
        {"v: TRUE", "{\"v\": true}"},
        {"v: \"true\"", "{\"v\": \"true\"}"},
        {"v: 'false'", "{\"v\": \"false\"}"},
        {"v: false", "{\"v\": false}"},
        {"v: tRuE", "{\"v\": \"tRuE\"}"},
        {"v: yes", "{\"v\": \"yes\"}"},
        {"v: off", "{\"v\": \"off\"}"},
        {"v: null", "{\"v\": null}"},
        {"v: Null", "{\"v\": null}"},
        {"v: NULL", "{\"v\": null}"},
        {"v: ~", "{\"v\": null}"},
        {"v:", "{\"v\": null}"},
        {"v: \"\"", "{\"v\": \"\"}"},
        {"v: 'null'", "{\"v\": \"null\"}"},
        {"v: \"~\"", "{\"v\": \"~\"}"},
        {"v: -5", "{\"v\": -5}"},
        {"v: +5", "{\"v\": 5}"},
        {"v: 007", "{\"v\": 7}"},
        {"v: 0", "{\"v\": 0}"},
        {"v: 0x1F", "{\"v\": 31}"},
        {"v: 0o17", "{\"v\": 15}"},
        {"v: 0b101", "{\"v\": \"0b101\"}"},
        {"v: 1_000", "{\"v\": \"1_000\"}"},
        {"v: 0x", "{\"v\": \"0x\"}"},
        {"v: 0xG", "{\"v\": \"0xG\"}"},
        {"v: 2.5", "{\"v\": 2.5}"},
        {"v: -1.25", "{\"v\": -1.25}"},
        {"v: .5", "{\"v\": 0.5}"},
        {"v: 1.", "{\"v\": 1.0}"},
        {"v: 1e3", "{\"v\": 1000.0}"},
        {"v: 1E-2", "{\"v\": 0.01}"},
        {"v: 8.0", "{\"v\": 8.0}"},
        {"v: 1.2.3", "{\"v\": \"1.2.3\"}"},
        {"v: 1:30", "{\"v\": \"1:30\"}"},
        {"v: 32Gi", "{\"v\": \"32Gi\"}"},
        {"v: 500m", "{\"v\": \"500m\"}"},
        {"v: .", "{\"v\": \".\"}"},
        {"v: hello world", "{\"v\": \"hello world\"}"},
        {"v: |\n  line1\n  line2\n", "{\"v\": \"line1\\nline2\\n\"}"},
        {"v: >-\n  folded\n  text\n", "{\"v\": \"folded text\"}"},
        {"v: |\n  8\n", "{\"v\": \"8\\n\"}"},
        {"v: \"tab\\there \\u00e9\"", "{\"v\": \"tab\\there \\u00e9\"}"},
        {"1: one", "{\"1\": \"one\"}"},
        {"true: yes", "{\"true\": \"yes\"}"},
        {"null: ~", "{\"null\": null}"},
        {"8", "8"},
        {"\"8\"", "\"8\""},
        {"plain text", "\"plain text\""},
        {"~", "null"},
        {"---\n", "null"},
    };
    for (size_t i = 0; i < N(cases); i++)
        expect_json(cases[i].yaml, cases[i].json);

    /* The JSON type itself, not only json_equal. */
    json_t *j = NULL;
    const char *doc = "a: 8\nb: \"8\"\nc: 8.0\nd: true\ne: \"true\"\nf: null\n";
    assert_int_equal(yamljson_parse(doc, strlen(doc), &j, NULL), 0);
    assert_true(json_is_integer(json_object_get(j, "a")));
    assert_int_equal(json_integer_value(json_object_get(j, "a")), 8);
    assert_true(json_is_string(json_object_get(j, "b")));
    assert_string_equal(json_string_value(json_object_get(j, "b")), "8");
    assert_true(json_is_real(json_object_get(j, "c")));
    assert_true(json_is_true(json_object_get(j, "d")));
    assert_true(json_is_string(json_object_get(j, "e")));
    assert_true(json_is_null(json_object_get(j, "f")));
    json_decref(j);
}

static void test_integer_limits(void **state)
{
    (void)state;
    expect_json("v: 9223372036854775807", "{\"v\": 9223372036854775807}");
    expect_json("v: -9223372036854775808", "{\"v\": -9223372036854775808}");
    expect_json("v: 0x7fffffffffffffff", "{\"v\": 9223372036854775807}");
    expect_json("v: 0o777777777777777777777", "{\"v\": 9223372036854775807}");
    /* One past the range must fail, not wrap or turn into a double. */
    EXPECT_ERROR("v: 9223372036854775808", 1, 4, "integer out of range");
    EXPECT_ERROR("v: -9223372036854775809", 1, 4, "integer out of range");
    EXPECT_ERROR("a: 1\nv: 0x8000000000000000\n", 2, 4, "integer out of range");
    EXPECT_ERROR("v: 0o1000000000000000000000", 1, 4, "integer out of range");
    EXPECT_ERROR("- 1\n- 99999999999999999999999999\n", 2, 3, "integer out of range");
    /* Floats beyond double range and non-finite values are rejected too. */
    EXPECT_ERROR("v: 1e999", 1, 4, "out of range");
    EXPECT_ERROR("v: .inf", 1, 4, "NaN");
    EXPECT_ERROR("v: -.Inf", 1, 4, "NaN");
    EXPECT_ERROR("v: .nan", 1, 4, "NaN");
    /* Quoted forms stay strings. */
    expect_json("v: \"9223372036854775808\"", "{\"v\": \"9223372036854775808\"}");
    expect_json("v: '.inf'", "{\"v\": \".inf\"}");
}

/* ---- structure ---------------------------------------------------------- */

static void test_nested_structures(void **state)
{
    (void)state;
    expect_json("spec:\n"
                "  resources:\n"
                "    gpus: 2\n"
                "    cpu: 8\n"
                "    memory: 32Gi\n"
                "  command: [python, train.py, --epochs, \"10\"]\n"
                "  env:\n"
                "    - name: A\n"
                "      value: \"1\"\n"
                "    - name: B\n"
                "      value: x y\n"
                "  matrix:\n"
                "    - - 1\n"
                "      - 2\n"
                "    - []\n"
                "  empty: {}\n",
                "{\"spec\": {\"resources\": {\"gpus\": 2, \"cpu\": 8, \"memory\": \"32Gi\"},"
                " \"command\": [\"python\", \"train.py\", \"--epochs\", \"10\"],"
                " \"env\": [{\"name\": \"A\", \"value\": \"1\"}, {\"name\": \"B\", \"value\": \"x y\"}],"
                " \"matrix\": [[1, 2], []], \"empty\": {}}}");
    /* JSON is YAML: a JSON body parses to the same value. */
    expect_json("{\"a\": [1, 2.5, \"x\", null, true, {\"b\": []}], \"c\": {}}",
                "{\"a\": [1, 2.5, \"x\", null, true, {\"b\": []}], \"c\": {}}");
    expect_json("[{a: 1}, {b: [2, 3]}]", "[{\"a\": 1}, {\"b\": [2, 3]}]");
    expect_json("- a\n- - b\n  - c\n- d: e\n  f: g\n", "[\"a\", [\"b\", \"c\"], {\"d\": \"e\", \"f\": \"g\"}]");
    expect_json("# comment\na: 1 # trailing\n# end\n", "{\"a\": 1}");
    expect_json("---\na: 1\n...\n", "{\"a\": 1}");
    expect_json("%YAML 1.2\n---\na: 1\n", "{\"a\": 1}");
    expect_json("\"\": empty key\n", "{\"\": \"empty key\"}");

    /* Mapping order is kept. */
    json_t *j = NULL;
    const char *doc = "zeta: 1\nalpha: 2\nmid: 3\n";
    assert_int_equal(yamljson_parse(doc, strlen(doc), &j, NULL), 0);
    void *it = json_object_iter(j);
    assert_string_equal(json_object_iter_key(it), "zeta");
    it = json_object_iter_next(j, it);
    assert_string_equal(json_object_iter_key(it), "alpha");
    it = json_object_iter_next(j, it);
    assert_string_equal(json_object_iter_key(it), "mid");
    json_decref(j);
}

static void test_length_is_respected(void **state)
{
    (void)state;
    /* Only `len` bytes are read: no NUL terminator needed. */
    const char buf[] = {'a', ':', ' ', '1', '2', '3', 'x', 'y'};
    json_t *j = NULL;
    assert_int_equal(yamljson_parse(buf, 5, &j, NULL), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "a")), 12);
    json_decref(j);
    /* An embedded NUL is an error, not an end of input. */
    expect_error("a: 1\0b: 2", 9, 1, 5, "control character");
}

/* ---- rejections --------------------------------------------------------- */

static void test_syntax_error_positions(void **state)
{
    (void)state;
    EXPECT_ERROR("a: 1\nb: c: d\n", 2, 5, NULL);
    EXPECT_ERROR("a: 1\nb: [x, y\n", 3, 1, "flow sequence");
    EXPECT_ERROR("a:\n  b:\n    c: 1\n   d: 2\n", 4, 4, NULL);
    EXPECT_ERROR("a:\n  - x\n\tb: 1\n", 3, 0, "tab");
    EXPECT_ERROR("key: \"unterminated\n", 0, 0, NULL);
    EXPECT_ERROR("{a: 1", 0, 0, NULL);
    EXPECT_ERROR("a: 1\n  b: 2\n", 1, 4, "multiline");

    /* err may be NULL. */
    json_t *j = NULL;
    assert_int_equal(yamljson_parse("a: [", 4, &j, NULL), GPUAAS_EPARSE);
    assert_null(j);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    EXPECT_ERROR("a: 1\na: 2\n", 2, 1, "duplicate key \"a\"");
    EXPECT_ERROR("spec:\n  gpus: 1\n  cpu: 2\n  gpus: 3\n", 4, 3, "duplicate key \"gpus\"");
    EXPECT_ERROR("{a: 1, b: 2, a: 3}", 1, 14, "duplicate key");
    /* Quoting style does not make a different key. */
    EXPECT_ERROR("a: 1\n\"a\": 2\n", 2, 2, "duplicate key"); /* column of the text, inside the quotes */
    EXPECT_ERROR("1: x\n'1': y\n", 2, 2, "duplicate key");
    EXPECT_ERROR("- k: 1\n  k: 2\n", 2, 3, "duplicate key");
    /* Same key in different mappings is fine. */
    expect_json("a: {k: 1}\nb: {k: 2}\n", "{\"a\": {\"k\": 1}, \"b\": {\"k\": 2}}");
}

static void test_unsupported_features(void **state)
{
    (void)state;
    EXPECT_ERROR("a: &x 1\nb: *x\n", 1, 5, "anchor");
    EXPECT_ERROR("a: 1\nb: *x\n", 2, 0, "alias");
    EXPECT_ERROR("base: &b {x: 1}\n", 1, 8, "anchor");
    EXPECT_ERROR("x: !!str 1\n", 1, 4, "tag");
    EXPECT_ERROR("x: !custom foo\n", 1, 4, "tag");
    EXPECT_ERROR("x: !!seq [1]\n", 1, 4, "tag");
    EXPECT_ERROR("x: !!map {a: 1}\n", 1, 4, "tag");
    EXPECT_ERROR("!!str k: v\n", 1, 1, "tag");
    EXPECT_ERROR("--- 1\n--- 2\n", 2, 1, "one YAML document");
    EXPECT_ERROR("a: 1\n---\nb: 2\n", 2, 1, "one YAML document");
    EXPECT_ERROR("a: 1\n...\nb: 2\n", 3, 1, "one YAML document");
    EXPECT_ERROR("[1, 2]: x\n", 1, 1, "keys must be scalars");
    EXPECT_ERROR("? {a: 1}\n: x\n", 1, 3, "keys must be scalars");
    EXPECT_ERROR("", 0, 0, "empty");
    EXPECT_ERROR("# only a comment\n", 0, 0, "empty");
    EXPECT_ERROR("\xff: 1\n", 1, 1, "UTF-8");
    EXPECT_ERROR("a: 1\nb: x\xc3\x28\n", 2, 5, "UTF-8");
    EXPECT_ERROR("a: b\x01\n", 1, 5, "control character");
    expect_error(NULL, 0, 0, 0, "empty");
}

/* "[[...[1]...]]" with `n` levels, or a block mapping chain "k:\n  k:..." */
static char *nested_flow(int n)
{
    char *s = malloc((size_t)n * 2 + 2);
    assert_non_null(s);
    char *p = s;
    for (int i = 0; i < n; i++)
        *p++ = '[';
    *p++ = '1';
    for (int i = 0; i < n; i++)
        *p++ = ']';
    *p = '\0';
    return s;
}

static char *nested_block(int n)
{
    size_t cap = (size_t)n * (size_t)(2 * n + 8) + 16;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%*sk%d:\n", 2 * i, "", i);
    snprintf(s + len, cap - len, "%*sleaf: 1\n", 2 * n, "");
    return s;
}

static void test_depth_limit(void **state)
{
    (void)state;
    json_t *j = NULL;
    struct yamljson_error err = {0};

    char *ok = nested_flow(YAMLJSON_MAX_DEPTH);
    assert_int_equal(yamljson_parse(ok, strlen(ok), &j, &err), 0);
    int depth = 0;
    for (json_t *cur = j; json_is_array(cur); cur = json_array_get(cur, 0))
        depth++;
    assert_int_equal(depth, YAMLJSON_MAX_DEPTH);
    json_decref(j);
    free(ok);

    char *deep = nested_flow(YAMLJSON_MAX_DEPTH + 1);
    expect_error(deep, strlen(deep), 1, YAMLJSON_MAX_DEPTH + 1, "nesting deeper than 32");
    free(deep);

    char *huge = nested_flow(10000);
    expect_error(huge, strlen(huge), 1, 0, "nesting");
    free(huge);

    /* Block mappings: n keys nest n+1 mappings (the leaf's mapping too). */
    char *bok = nested_block(YAMLJSON_MAX_DEPTH - 1);
    j = NULL;
    assert_int_equal(yamljson_parse(bok, strlen(bok), &j, &err), 0);
    json_decref(j);
    free(bok);
    char *bdeep = nested_block(YAMLJSON_MAX_DEPTH);
    expect_error(bdeep, strlen(bdeep), YAMLJSON_MAX_DEPTH + 1, 0, "nesting");
    free(bdeep);
}

static void test_errors_not_printed(void **state)
{
    (void)state;
    /* Diagnostics are collected, never written to stderr. */
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    static const char *const bad[] = {"a: 1\nb: c: d\n", "[1, 2", "a: *x\n", "{a: 1, a: 2}", "\t- x\n"};
    for (size_t i = 0; i < N(bad); i++) {
        json_t *j = NULL;
        struct yamljson_error err;
        (void)yamljson_parse(bad[i], strlen(bad[i]), &j, &err);
    }
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(fseek(tmp, 0, SEEK_END), 0);
    long written = ftell(tmp);
    fclose(tmp);
    assert_int_equal(written, 0);
}

/* ---- emitting ----------------------------------------------------------- */

/* emit(j) must parse back to an equal value; returns the YAML text. */
static char *emit_round_trip(const json_t *j)
{
    char *yaml = yamljson_emit(j);
    if (!yaml)
        fail_msg("emit returned NULL");
    json_t *back = NULL;
    struct yamljson_error err = {0};
    int r = yamljson_parse(yaml, strlen(yaml), &back, &err);
    if (r != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "re-parse failed at %d:%d (%s) for:\n%s", err.line, err.column, err.message, yaml);
        free(yaml);
        fail_msg("%s", msg);
    }
    if (!json_equal(j, back)) {
        char msg[1024];
        char *dump = json_dumps(back, JSON_ENCODE_ANY);
        snprintf(msg, sizeof msg, "round trip changed the value: %s\nfrom:\n%s", dump ? dump : "?", yaml);
        free(dump);
        json_decref(back);
        free(yaml);
        fail_msg("%s", msg);
    }
    json_decref(back);
    return yaml;
}

static void test_emit_job_spec(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *spec = json_loads(
        "{\"apiVersion\": \"gpuaas/v1\", \"kind\": \"Job\","
        " \"metadata\": {\"name\": \"train-llm\", \"namespace\": \"acme/research/dev\","
        "   \"labels\": {\"team\": \"nlp\", \"priority\": \"1\", \"preemptible\": \"true\"}},"
        " \"spec\": {\"image\": \"registry.example.com/train:2.1\","
        "   \"command\": [\"python\", \"-m\", \"train\", \"--lr\", \"3e-4\", \"--config=a: b\"],"
        "   \"replicas\": 1, \"preemptible\": false, \"timeout\": \"4h\","
        "   \"resources\": {\"gpus\": 2, \"gpu_model\": \"A10G\", \"cpu\": 8, \"memory\": \"32Gi\","
        "     \"cpu_fraction\": 0.5},"
        "   \"env\": [{\"name\": \"EPOCHS\", \"value\": \"10\"}, {\"name\": \"MSG\", \"value\": \"line1\\nline2\"},"
        "     {\"name\": \"EMPTY\", \"value\": \"\"}, {\"name\": \"NULLISH\", \"value\": \"null\"}],"
        "   \"volumes\": [], \"annotations\": {}, \"note\": null,"
        "   \"matrix\": [[1, 2], [3, [4, {\"x\": \"#tag\"}]]]}}",
        0, &jerr);
    assert_non_null(spec);
    char *yaml = emit_round_trip(spec);

    /* Block style, readable plain scalars, quoting only where needed. */
    assert_non_null(strstr(yaml, "apiVersion: gpuaas/v1\n"));
    assert_non_null(strstr(yaml, "\n  resources:\n    gpus: 2\n"));
    assert_non_null(strstr(yaml, "    memory: 32Gi\n"));
    assert_non_null(strstr(yaml, "    cpu_fraction: 0.5\n"));
    assert_non_null(strstr(yaml, "  replicas: 1\n"));
    assert_non_null(strstr(yaml, "  preemptible: false\n"));
    assert_non_null(strstr(yaml, "priority: \"1\"\n"));
    assert_non_null(strstr(yaml, "preemptible: \"true\"\n"));
    assert_non_null(strstr(yaml, "value: \"10\"\n"));
    assert_non_null(strstr(yaml, "value: \"line1\\nline2\"\n"));
    assert_non_null(strstr(yaml, "value: \"\"\n"));
    assert_non_null(strstr(yaml, "value: \"null\"\n"));
    assert_non_null(strstr(yaml, "  - \"--config=a: b\"\n"));
    assert_non_null(strstr(yaml, "  volumes: []\n"));
    assert_non_null(strstr(yaml, "  annotations: {}\n"));
    assert_non_null(strstr(yaml, "  note: null\n"));
    assert_non_null(strstr(yaml, "  env:\n    - name: EPOCHS\n      value: \"10\"\n"));
    assert_null(strstr(yaml, "{\"")); /* no flow collections with content */
    assert_null(strstr(yaml, "[\""));

    /* Key order follows the object's insertion order. */
    const char *api = strstr(yaml, "apiVersion:");
    const char *kind = strstr(yaml, "kind:");
    const char *meta = strstr(yaml, "metadata:");
    const char *sp = strstr(yaml, "\nspec:");
    assert_true(api && kind && meta && sp);
    assert_true(api < kind && kind < meta && meta < sp);
    free(yaml);
    json_decref(spec);
}

static void test_emit_quoting(void **state)
{
    (void)state;
    /* Each string must come back as the same string, as a value, a key and
     * a list item. */
    static const char *const tricky[] = {
        "",          "true",      "false",    "True",     "null",     "Null",      "~",         "8",
        "-8",        "+8",        "0x1F",     "0o17",     "1e3",      "2.5",       ".5",        ".inf",
        "-.inf",     ".nan",      "yes",      "no",       "on",       "off",       "y",         "1:30",
        "2024-01-01", "1_000",    "- item",   "-",        "--",       "---",       "...",       "..x",
        "? q",       "?",         ": x",      "a: b",     "a:",       "a #b",      "a#b",       "#x",
        "[x]",       "{x}",       "x, y",     "&anchor",  "*alias",   "!tag",      "|lit",      ">fold",
        "'single'",  "\"double\"", "%dir",    "@at",      "`tick`",   " leading",  "trailing ", "a\tb",
        "line\nbreak", "cr\rx",   "\\",       "back\\slash", "é café", "emoji 🚀",  "\xc2\x85nel", "ls\xe2\x80\xa8x",
        "bom\xef\xbb\xbf", "del\x7f", "\x01\x02", "<<",      "=",        "plain words", "32Gi",   "a: b: c",
    };
    json_t *arr = json_array();
    json_t *obj = json_object();
    json_t *keys = json_object();
    for (size_t i = 0; i < N(tricky); i++) {
        json_array_append_new(arr, json_string(tricky[i]));
        char key[16];
        snprintf(key, sizeof key, "k%zu", i);
        json_object_set_new(obj, key, json_string(tricky[i]));
        json_object_set_new(keys, tricky[i], json_integer((json_int_t)i));
        /* As a whole document, too. */
        json_t *root = json_string(tricky[i]);
        free(emit_round_trip(root));
        json_decref(root);
    }
    /* A string with an embedded NUL. */
    json_array_append_new(arr, json_stringn("nul\0byte", 8));
    free(emit_round_trip(arr));
    free(emit_round_trip(obj));
    free(emit_round_trip(keys));
    json_decref(arr);
    json_decref(obj);
    json_decref(keys);

    /* Things that would change type are quoted; ordinary text is not. */
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "a", "true", "b", "123", "c", "", "d", "hello");
    char *yaml = yamljson_emit(j);
    assert_non_null(yaml);
    assert_string_equal(yaml, "a: \"true\"\nb: \"123\"\nc: \"\"\nd: hello\n");
    free(yaml);
    json_decref(j);
}

static void test_emit_scalars_and_empties(void **state)
{
    (void)state;
    static const struct {
        const char *json, *yaml;
    } cases[] = {
        {"null", "null\n"},
        {"true", "true\n"},
        {"false", "false\n"},
        {"42", "42\n"},
        {"-7", "-7\n"},
        {"1.5", "1.5\n"},
        {"1000.0", "1000.0\n"},
        {"0.1", "0.1\n"},
        {"\"x\"", "x\n"},
        {"{}", "{}\n"},
        {"[]", "[]\n"},
        {"[[]]", "- []\n"},
        {"[{}]", "- {}\n"},
        {"{\"a\": {}}", "a: {}\n"},
        {"[[1, 2], [3]]", "- - 1\n  - 2\n- - 3\n"},
        {"[{\"a\": 1, \"b\": 2}]", "- a: 1\n  b: 2\n"},
        {"{\"a\": [1, {\"b\": [2]}]}", "a:\n  - 1\n  - b:\n      - 2\n"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        char *yaml = emit_round_trip(j);
        if (strcmp(yaml, cases[i].yaml) != 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s emitted as <<%s>>, want <<%s>>", cases[i].json, yaml, cases[i].yaml);
            free(yaml);
            json_decref(j);
            fail_msg("%s", msg);
        }
        free(yaml);
        json_decref(j);
    }
    assert_null(yamljson_emit(NULL));
}

static void test_emit_numbers(void **state)
{
    (void)state;
    static const double reals[] = {0.0,   -0.0,    1.0,     -1.0,   0.1,    0.2,     1.0 / 3.0,
                                   1e3,   1e16,    1e17,    1e22,   1e-5,   1e-300,  5e-324,
                                   1.7976931348623157e308, 123456789.125, -2.5e-8, 3.141592653589793};
    static const json_int_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN, 1000000007};
    json_t *arr = json_array();
    for (size_t i = 0; i < N(reals); i++) {
        json_t *r = json_real(reals[i]);
        free(emit_round_trip(r));
        json_array_append_new(arr, r);
    }
    for (size_t i = 0; i < N(ints); i++) {
        json_t *n = json_integer(ints[i]);
        free(emit_round_trip(n));
        json_array_append_new(arr, n);
    }
    char *yaml = emit_round_trip(arr);
    assert_non_null(strstr(yaml, "- 0.1\n"));
    assert_non_null(strstr(yaml, "- 1000.0\n"));
    assert_non_null(strstr(yaml, "- 9223372036854775807\n"));
    free(yaml);
    json_decref(arr);
}

static void test_emit_long_key_and_depth(void **state)
{
    (void)state;
    /* Keys past YAML's 1024-character implicit key limit. */
    char key[3000];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    json_t *j = json_pack("{s:i, s:{s:s}, s:[i]}", key, 1, "short", key, "v", "list", 2);
    assert_non_null(j);
    char *yaml = emit_round_trip(j);
    assert_true(strncmp(yaml, "? kkk", 5) == 0); /* explicit key form */
    free(yaml);
    json_decref(j);
    /* ... also as the first key of a list item, with block values. */
    j = json_pack("[{s:{s:[i, i]}, s:i}]", key, key, 1, 2, "b", 3);
    assert_non_null(j);
    free(emit_round_trip(j));
    json_decref(j);

    /* Deepest emittable value round-trips; one more level is refused since
     * it could not be read back. */
    json_t *root = json_array();
    json_t *cur = root;
    for (int i = 1; i < YAMLJSON_MAX_DEPTH; i++) {
        json_t *next = i % 2 ? json_object() : json_array();
        if (json_is_array(cur))
            json_array_append_new(cur, next);
        else
            json_object_set_new(cur, "k", next);
        cur = next;
    }
    if (json_is_array(cur))
        json_array_append_new(cur, json_integer(1));
    else
        json_object_set_new(cur, "k", json_integer(1));
    free(emit_round_trip(root));
    json_t *wrapper = json_pack("[O]", root);
    assert_null(yamljson_emit(wrapper));
    json_decref(wrapper);
    json_decref(root);
}

static void test_parse_emit_parse(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "a: 1\nb: [x, 'y', \"8\", 8, 8.5, ~, true, 'true']\nc: {d: {e: [f, {g: h}]}}\n",
        "- name: job-a\n  gpus: 1\n- name: job-b\n  gpus: 0\n  env: []\n",
        "text: |\n  multi\n  line\n\n  with blank\nfolded: >\n  a\n  b\n",
        "\"quoted key\": 'it''s'\n\"a: b\": \"c #d\"\n'': empty\n",
        "unicode: \"\\u00e9\\u4e2d\\U0001F600\"\nctl: \"\\x01\\e\\a\\b\"\n",
    };
    for (size_t i = 0; i < N(docs); i++) {
        json_t *j = NULL;
        struct yamljson_error err = {0};
        if (yamljson_parse(docs[i], strlen(docs[i]), &j, &err) != 0)
            fail_msg("doc %zu: %d:%d %s", i, err.line, err.column, err.message);
        char *yaml = emit_round_trip(j);
        /* Emitting is a fixed point after one round. */
        json_t *again = NULL;
        assert_int_equal(yamljson_parse(yaml, strlen(yaml), &again, NULL), 0);
        char *yaml2 = yamljson_emit(again);
        assert_non_null(yaml2);
        assert_string_equal(yaml, yaml2);
        free(yaml2);
        free(yaml);
        json_decref(again);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_typing),
        cmocka_unit_test(test_integer_limits),
        cmocka_unit_test(test_nested_structures),
        cmocka_unit_test(test_length_is_respected),
        cmocka_unit_test(test_syntax_error_positions),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_unsupported_features),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_errors_not_printed),
        cmocka_unit_test(test_emit_job_spec),
        cmocka_unit_test(test_emit_quoting),
        cmocka_unit_test(test_emit_scalars_and_empties),
        cmocka_unit_test(test_emit_numbers),
        cmocka_unit_test(test_emit_long_key_and_depth),
        cmocka_unit_test(test_parse_emit_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
