/* Unit tests for src/core/spec.c: job spec validation, the parsed struct,
 * the canonical document, and the field named by every error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/spec.h"
#include "gpuaas/error.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define FULL_SPEC                                                                                  \
    "{\"kind\":\"Job\",\"name\":\"llm-finetune\",\"namespace\":\"team-ai/project-llm/dev\","    \
    "\"priority\":\"high\",\"replicas\":4,"                                                        \
    "\"resources\":{\"gpus\":2,\"cpu\":8,\"memory\":\"32Gi\"},"                                    \
    "\"selector\":{\"gpuaas.io/gpu-model\":\"A100\",\"zone\":\"eu-west-1\"},"                      \
    "\"command\":[\"python3\",\"train.py\",\"--epochs\",\"3\",\"\"],"                               \
    "\"env\":{\"WANDB_MODE\":\"offline\",\"_x1\":\"\",\"LONG\":\"a b c\"},"                        \
    "\"workdir\":\"/data/llm\",\"max_runtime\":\"4h\","                                            \
    "\"restart\":{\"policy\":\"OnFailure\",\"limit\":5}}"

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j)
        fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
    return j;
}

/* Parses `text`; fails the test on error. The caller releases the spec. */
static void parse_ok(const char *text, const char *default_ns, struct job_spec *spec)
{
    json_t *in = load(text);
    struct spec_error err;
    memset(spec, 0, sizeof *spec);
    int r = spec_parse_job(in, default_ns, spec, &err);
    if (r != 0)
        fail_msg("want success, got %d at '%s': %s\n  input: %s", r, err.field, err.message, text);
    assert_non_null(spec->document);
    assert_ptr_equal(spec->document, in); /* the spec takes the input as its document */
    json_decref(in);
}

/* Parses a borrowed json_t expecting `code` naming `field`. Also checks that
 * the input is not modified and *ret_spec is not written. */
static void expect_error_json(const json_t *in, const char *default_ns, int code, const char *field)
{
    json_t *copy = json_deep_copy(in);
    struct job_spec spec;
    struct job_spec sentinel;
    memset(&spec, 0xA5, sizeof spec);
    memcpy(&sentinel, &spec, sizeof spec);
    struct spec_error err;
    memset(&err, 0x5A, sizeof err);
    int r = spec_parse_job(in, default_ns, &spec, &err);
    char *dump = json_dumps(in, JSON_COMPACT | JSON_ENCODE_ANY);
    if (r != code || strcmp(err.field, field) != 0)
        fail_msg("want %d at '%s', got %d at '%.127s' (%.255s)\n  input: %s", code, field, r,
                 err.field, err.message, dump ? dump : "?");
    if (!memchr(err.message, '\0', sizeof err.message) || err.message[0] == '\0')
        fail_msg("no error message for field '%s'", field);
    if (memcmp(&spec, &sentinel, sizeof spec) != 0)
        fail_msg("*ret_spec written on error at '%s'", field);
    if (copy && !json_equal((json_t *)in, copy))
        fail_msg("input modified on error at '%s'", field);
    free(dump);
    json_decref(copy);
}

static void expect_error(const char *text, const char *default_ns, int code, const char *field)
{
    json_t *in = load(text);
    expect_error_json(in, default_ns, code, field);
    json_decref(in);
}

/* A minimal valid spec with `extra` (",\"key\":value..." or "") appended. */
static void expect_error_with(const char *extra, int code, const char *field)
{
    char text[64 * 1024];
    int n = snprintf(text, sizeof text, "{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"]%s}", extra);
    assert_true(n > 0 && (size_t)n < sizeof text);
    expect_error(text, NULL, code, field);
}

static void parse_ok_with(const char *extra, struct job_spec *spec)
{
    char text[64 * 1024];
    int n = snprintf(text, sizeof text, "{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"]%s}", extra);
    assert_true(n > 0 && (size_t)n < sizeof text);
    parse_ok(text, NULL, spec);
}

/* ---- valid specs ---------------------------------------------------------- */

static void test_full_spec_struct(void **state)
{
    (void)state;
    struct job_spec spec;
    parse_ok(FULL_SPEC, NULL, &spec);
    assert_string_equal(spec.name, "llm-finetune");
    assert_string_equal(spec.namespace_path, "team-ai/project-llm/dev");
    assert_int_equal(spec.priority, PRIORITY_HIGH);
    assert_int_equal(spec.replicas, 4);
    assert_int_equal(spec.resources.gpus, 2);
    assert_string_equal(spec.resources.mig_profile, "");
    assert_int_equal(spec.resources.gpu_milli, 0);
    assert_int_equal(spec.resources.cpu_milli, 8000);
    assert_int_equal(spec.resources.memory_bytes, 32LL << 30);
    assert_int_equal(spec.restart_policy, RESTART_ON_FAILURE);
    assert_int_equal(spec.restart_limit, 5);
    assert_int_equal(spec.max_runtime_ms, 4LL * 3600 * 1000);
    spec_release(&spec);
    assert_null(spec.document);
    spec_release(&spec); /* twice is harmless */
    spec_release(NULL);
}

/* Every field given: the canonical document equals the input exactly, and
 * is an independent copy. */
static void test_full_spec_document(void **state)
{
    (void)state;
    json_t *in = load(FULL_SPEC);
    json_t *before = json_deep_copy(in);
    struct job_spec spec;
    struct spec_error err;
    assert_int_equal(spec_parse_job(in, NULL, &spec, &err), 0);
    /* the spec takes the input as its document; a full spec needs no defaults */
    assert_ptr_equal(spec.document, in);
    assert_true(json_equal(spec.document, before));
    assert_int_equal(json_object_size(spec.document), 12);
    assert_int_equal(spec.document->refcount, 2);
    spec_release(&spec);
    json_decref(in);
    json_decref(before);
}

/* Minimal spec: the struct defaults and the defaults added to the document. */
static void test_minimal_spec_defaults(void **state)
{
    (void)state;
    struct job_spec spec;
    parse_ok("{\"name\":\"j\",\"command\":[\"sleep\",\"1\"]}", "org/proj", &spec);
    assert_string_equal(spec.name, "j");
    assert_string_equal(spec.namespace_path, "org/proj");
    assert_int_equal(spec.priority, PRIORITY_NORMAL);
    assert_int_equal(spec.replicas, 1);
    assert_int_equal(spec.resources.gpus, 0);
    assert_string_equal(spec.resources.mig_profile, "");
    assert_int_equal(spec.resources.gpu_milli, 0);
    assert_int_equal(spec.resources.cpu_milli, 0);
    assert_int_equal(spec.resources.memory_bytes, 0);
    assert_int_equal(spec.restart_policy, RESTART_NEVER);
    assert_int_equal(spec.restart_limit, 0);
    assert_int_equal(spec.max_runtime_ms, 0);

    json_t *want = load("{\"name\":\"j\",\"command\":[\"sleep\",\"1\"],\"kind\":\"Job\","
                        "\"namespace\":\"org/proj\",\"priority\":\"normal\",\"replicas\":1,"
                        "\"resources\":{},\"restart\":{\"policy\":\"Never\",\"limit\":0}}");
    if (!json_equal(spec.document, want)) {
        char *got = json_dumps(spec.document, JSON_SORT_KEYS);
        fail_msg("canonical document: %s", got);
    }
    /* no defaults invented for the optional fields without one */
    assert_null(json_object_get(spec.document, "selector"));
    assert_null(json_object_get(spec.document, "env"));
    assert_null(json_object_get(spec.document, "workdir"));
    assert_null(json_object_get(spec.document, "max_runtime"));
    json_decref(want);
    spec_release(&spec);
}

/* Given fields are kept exactly as written; only missing ones are added. */
static void test_document_keeps_given_fields(void **state)
{
    (void)state;
    struct job_spec spec;
    parse_ok("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"],\"priority\":\"low\","
             "\"resources\":{\"cpu\":\"500m\",\"memory\":\"1.5Gi\"},\"restart\":{\"policy\":\"OnFailure\"}}",
             "a", &spec);
    json_t *want = load("{\"kind\":\"Job\",\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"],"
                        "\"priority\":\"low\",\"replicas\":1,"
                        "\"resources\":{\"cpu\":\"500m\",\"memory\":\"1.5Gi\"},"
                        "\"restart\":{\"policy\":\"OnFailure\",\"limit\":3}}");
    if (!json_equal(spec.document, want)) {
        char *got = json_dumps(spec.document, JSON_SORT_KEYS);
        fail_msg("canonical document: %s", got);
    }
    assert_int_equal(spec.priority, PRIORITY_LOW);
    assert_int_equal(spec.resources.cpu_milli, 500);
    assert_int_equal(spec.resources.memory_bytes, 3LL << 29);
    assert_int_equal(spec.restart_policy, RESTART_ON_FAILURE);
    assert_int_equal(spec.restart_limit, 3); /* OnFailure's default limit */
    json_decref(want);
    spec_release(&spec);
}

/* BUG (src/core/spec.c, spec_parse_job, ~line 443): a restart object with a
 * limit but no policy keeps no policy in the canonical document, although
 * the limit is filled in when the policy alone is given, and a missing
 * restart becomes {"policy":"Never","limit":0}. Expected
 * {"policy":"Never","limit":2}; got {"limit":2}. */
static void test_document_restart_limit_only_gets_policy(void **state)
{
    (void)state;
    struct job_spec spec;
    parse_ok_with(",\"restart\":{\"limit\":2}", &spec);
    assert_int_equal(spec.restart_policy, RESTART_NEVER);
    assert_int_equal(spec.restart_limit, 2);
    json_t *restart = json_object_get(spec.document, "restart");
    assert_non_null(restart);
    assert_int_equal(json_integer_value(json_object_get(restart, "limit")), 2);
    json_t *policy = json_object_get(restart, "policy");
    if (!policy || strcmp(json_string_value(policy) ? json_string_value(policy) : "", "Never") != 0) {
        spec_release(&spec);
        fail_msg("KNOWN SRC BUG spec.c: restart {\"limit\":2} -> canonical restart lacks "
                 "\"policy\":\"Never\"");
    }
    spec_release(&spec);
}

static void test_gpu_forms(void **state)
{
    (void)state;
    struct job_spec spec;
    parse_ok_with(",\"resources\":{\"mig\":\"1g.10gb\"}", &spec);
    assert_string_equal(spec.resources.mig_profile, "1g.10gb");
    assert_int_equal(spec.resources.gpus, 0);
    assert_int_equal(spec.resources.gpu_milli, 0);
    spec_release(&spec);

    parse_ok_with(",\"resources\":{\"mig\":\"3g.40gb+me\"}", &spec);
    assert_string_equal(spec.resources.mig_profile, "3g.40gb+me");
    spec_release(&spec);

    parse_ok_with(",\"resources\":{\"mig\":\"7g.80gb\"}", &spec);
    assert_string_equal(spec.resources.mig_profile, "7g.80gb");
    spec_release(&spec);

    parse_ok_with(",\"resources\":{\"gpu_milli\":250}", &spec);
    assert_int_equal(spec.resources.gpu_milli, 250);
    assert_int_equal(spec.resources.gpus, 0);
    spec_release(&spec);

    parse_ok_with(",\"resources\":{\"gpu_milli\":1}", &spec);
    assert_int_equal(spec.resources.gpu_milli, 1);
    spec_release(&spec);
    parse_ok_with(",\"resources\":{\"gpu_milli\":999}", &spec);
    assert_int_equal(spec.resources.gpu_milli, 999);
    spec_release(&spec);

    parse_ok_with(",\"resources\":{\"gpus\":64}", &spec);
    assert_int_equal(spec.resources.gpus, 64);
    spec_release(&spec);

    /* gpus: 0 is no GPU at all, so another form may go with it */
    parse_ok_with(",\"resources\":{\"gpus\":0,\"mig\":\"1g.10gb\"}", &spec);
    assert_int_equal(spec.resources.gpus, 0);
    assert_string_equal(spec.resources.mig_profile, "1g.10gb");
    spec_release(&spec);
}

static void test_cpu_forms(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int64_t milli;
    } cases[] = {
        {"8", 8000},     {"0", 0},          {"1024", 1024000}, {"2.5", 2500},   {"0.25", 250},
        {"2.0", 2000},   {"0.001", 1},      {"\"500m\"", 500}, {"\"8\"", 8000}, {"\"0.5\"", 500},
        {"\"1024\"", 1024000},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char extra[128];
        snprintf(extra, sizeof extra, ",\"resources\":{\"cpu\":%s}", cases[i].json);
        struct job_spec spec;
        parse_ok_with(extra, &spec);
        if (spec.resources.cpu_milli != cases[i].milli)
            fail_msg("cpu %s: got %lld milli, want %lld", cases[i].json,
                     (long long)spec.resources.cpu_milli, (long long)cases[i].milli);
        /* the document keeps the form the user wrote */
        json_t *cpu = json_object_get(json_object_get(spec.document, "resources"), "cpu");
        json_t *want = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_true(json_equal(cpu, want));
        json_decref(want);
        spec_release(&spec);
    }
}

/* BUG (src/core/spec.c:158): a real cpu value is refused unless
 * value * 1000 is exactly an integer in binary floating point, so exact
 * values with at most three decimals are rejected: 16.1 (16.1 * 1000 ==
 * 16100.000000000002), 1.001, 2.01, 32.3. Expected cpu_milli 16100, 1001,
 * 2010, 32300; got GPUAAS_EINVAL at "resources.cpu" ("at most three
 * decimals"). About 1 in 9 three-decimal values up to 1024 are refused. */
static void test_cpu_real_three_decimals(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int64_t milli;
    } cases[] = {{"16.1", 16100}, {"1.001", 1001}, {"2.01", 2010}, {"32.3", 32300}};
    char failures[512] = "";
    for (size_t i = 0; i < N(cases); i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"],\"resources\":{\"cpu\":%s}}",
                 cases[i].json);
        json_t *in = load(text);
        struct job_spec spec;
        struct spec_error err;
        int r = spec_parse_job(in, NULL, &spec, &err);
        json_decref(in);
        if (r == 0) {
            if (spec.resources.cpu_milli != cases[i].milli)
                snprintf(failures + strlen(failures), sizeof failures - strlen(failures),
                         " %s->%lld", cases[i].json, (long long)spec.resources.cpu_milli);
            spec_release(&spec);
        } else {
            snprintf(failures + strlen(failures), sizeof failures - strlen(failures), " %s->err %d at %s",
                     cases[i].json, r, err.field);
        }
    }
    if (failures[0])
        fail_msg("KNOWN SRC BUG spec.c:158 (real cpu check in binary floating point):%s", failures);
}

static void test_memory_and_duration_forms(void **state)
{
    (void)state;
    struct job_spec spec;
    parse_ok_with(",\"resources\":{\"memory\":1073741824}", &spec);
    assert_int_equal(spec.resources.memory_bytes, 1LL << 30);
    spec_release(&spec);
    parse_ok_with(",\"resources\":{\"memory\":\"512Mi\"}", &spec);
    assert_int_equal(spec.resources.memory_bytes, 512LL << 20);
    spec_release(&spec);
    parse_ok_with(",\"resources\":{\"memory\":\"1G\"}", &spec);
    assert_int_equal(spec.resources.memory_bytes, 1000000000LL);
    spec_release(&spec);

    parse_ok_with(",\"max_runtime\":\"1h30m\"", &spec);
    assert_int_equal(spec.max_runtime_ms, 5400000);
    spec_release(&spec);
    parse_ok_with(",\"max_runtime\":\"90s\"", &spec);
    assert_int_equal(spec.max_runtime_ms, 90000);
    spec_release(&spec);
    parse_ok_with(",\"max_runtime\":\"2d\"", &spec);
    assert_int_equal(spec.max_runtime_ms, 2LL * 86400 * 1000);
    spec_release(&spec);
}

static void test_limits_accepted(void **state)
{
    (void)state;
    struct job_spec spec;
    char name63[64];
    memset(name63, 'n', 63);
    name63[63] = '\0';
    char text[512];
    snprintf(text, sizeof text,
             "{\"name\":\"%s\",\"namespace\":\"a\",\"command\":[\"x\"],\"replicas\":1024,"
             "\"restart\":{\"policy\":\"Never\",\"limit\":100}}",
             name63);
    parse_ok(text, NULL, &spec);
    assert_string_equal(spec.name, name63);
    assert_int_equal(spec.replicas, 1024);
    assert_int_equal(spec.restart_limit, 100);
    assert_int_equal(spec.restart_policy, RESTART_NEVER);
    spec_release(&spec);

    parse_ok_with(",\"replicas\":1", &spec);
    assert_int_equal(spec.replicas, 1);
    spec_release(&spec);

    /* 256 arguments of 4096 bytes each: at the limits */
    json_t *in = load("{\"name\":\"j\",\"namespace\":\"a\"}");
    json_t *cmd = json_array();
    char *big = malloc(SPEC_STRING_MAX + 1);
    assert_non_null(big);
    memset(big, 'x', SPEC_STRING_MAX);
    big[SPEC_STRING_MAX] = '\0';
    for (int i = 0; i < SPEC_COMMAND_ARGS_MAX; i++)
        json_array_append_new(cmd, json_string(big));
    json_object_set_new(in, "command", cmd);
    json_t *env = json_object(), *sel = json_object();
    for (int i = 0; i < SPEC_MAP_ENTRIES_MAX; i++) {
        char key[32];
        snprintf(key, sizeof key, "VAR_%d", i);
        json_object_set_new(env, key, json_string(i == 0 ? big : "v"));
        snprintf(key, sizeof key, "key-%d", i);
        json_object_set_new(sel, key, json_string("v"));
    }
    json_object_set_new(in, "env", env);
    json_object_set_new(in, "selector", sel);
    struct spec_error err;
    int r = spec_parse_job(in, NULL, &spec, &err);
    if (r != 0)
        fail_msg("limits: got %d at '%s': %s", r, err.field, err.message);
    assert_true(json_equal(json_object_get(spec.document, "command"), cmd));
    spec_release(&spec);
    json_decref(in);
    free(big);
}

/* The namespace comes from the spec, from the default, or both agreeing. */
static void test_namespace_sources(void **state)
{
    (void)state;
    struct job_spec spec;
    parse_ok("{\"name\":\"j\",\"namespace\":\"a/b\",\"command\":[\"x\"]}", NULL, &spec);
    assert_string_equal(spec.namespace_path, "a/b");
    spec_release(&spec);
    parse_ok("{\"name\":\"j\",\"namespace\":\"a/b\",\"command\":[\"x\"]}", "a/b", &spec);
    assert_string_equal(spec.namespace_path, "a/b");
    spec_release(&spec);
    parse_ok("{\"name\":\"j\",\"command\":[\"x\"]}", "a/b/c", &spec);
    assert_string_equal(spec.namespace_path, "a/b/c");
    assert_string_equal(json_string_value(json_object_get(spec.document, "namespace")), "a/b/c");
    spec_release(&spec);
}

/* ---- errors --------------------------------------------------------------- */

static void test_not_an_object(void **state)
{
    (void)state;
    static const char *const inputs[] = {"[]", "[{\"name\":\"j\"}]", "\"job\"", "42", "1.5", "true", "null"};
    for (size_t i = 0; i < N(inputs); i++) {
        json_t *in = json_loads(inputs[i], JSON_DECODE_ANY, NULL);
        assert_non_null(in);
        expect_error_json(in, "a", GPUAAS_EINVAL, "");
        json_decref(in);
    }
}

static void test_unknown_fields(void **state)
{
    (void)state;
    expect_error_with(",\"foo\":1", GPUAAS_EINVAL, "foo");
    expect_error_with(",\"Name\":\"x\"", GPUAAS_EINVAL, "Name");
    expect_error_with(",\"status\":{}", GPUAAS_EINVAL, "status");
    expect_error_with(",\"id\":3", GPUAAS_EINVAL, "id");
    expect_error_with(",\"resources\":{\"gpus\":1,\"bar\":2}", GPUAAS_EINVAL, "resources.bar");
    expect_error_with(",\"resources\":{\"GPUS\":1}", GPUAAS_EINVAL, "resources.GPUS");
    expect_error_with(",\"restart\":{\"policy\":\"Never\",\"backoff\":\"1s\"}", GPUAAS_EINVAL,
                      "restart.backoff");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_error_with(",\"resources\":{\"gpus\":\"two\"}", GPUAAS_EINVAL, "resources.gpus");
    expect_error_with(",\"resources\":{\"gpus\":1.0}", GPUAAS_EINVAL, "resources.gpus");
    expect_error_with(",\"resources\":{\"gpus\":true}", GPUAAS_EINVAL, "resources.gpus");
    expect_error_with(",\"resources\":{\"gpu_milli\":\"250\"}", GPUAAS_EINVAL, "resources.gpu_milli");
    expect_error_with(",\"resources\":{\"mig\":1}", GPUAAS_EINVAL, "resources.mig");
    expect_error_with(",\"resources\":[]", GPUAAS_EINVAL, "resources");
    expect_error_with(",\"resources\":\"big\"", GPUAAS_EINVAL, "resources");
    expect_error_with(",\"replicas\":\"2\"", GPUAAS_EINVAL, "replicas");
    expect_error_with(",\"replicas\":2.0", GPUAAS_EINVAL, "replicas");
    expect_error_with(",\"priority\":2", GPUAAS_EINVAL, "priority");
    expect_error_with(",\"kind\":7", GPUAAS_EINVAL, "kind");
    expect_error_with(",\"selector\":[\"a\"]", GPUAAS_EINVAL, "selector");
    expect_error_with(",\"selector\":{\"zone\":1}", GPUAAS_EINVAL, "selector.zone");
    expect_error_with(",\"selector\":{\"zone\":null}", GPUAAS_EINVAL, "selector.zone");
    expect_error_with(",\"env\":[\"A=1\"]", GPUAAS_EINVAL, "env");
    expect_error_with(",\"env\":{\"FOO\":1}", GPUAAS_EINVAL, "env.FOO");
    expect_error_with(",\"env\":{\"FOO\":true}", GPUAAS_EINVAL, "env.FOO");
    expect_error_with(",\"workdir\":5", GPUAAS_EINVAL, "workdir");
    expect_error_with(",\"max_runtime\":3600", GPUAAS_EINVAL, "max_runtime");
    expect_error_with(",\"restart\":\"Never\"", GPUAAS_EINVAL, "restart");
    expect_error_with(",\"restart\":{\"policy\":true}", GPUAAS_EINVAL, "restart.policy");
    expect_error_with(",\"restart\":{\"limit\":\"3\"}", GPUAAS_EINVAL, "restart.limit");
    expect_error_with(",\"resources\":{\"cpu\":true}", GPUAAS_EINVAL, "resources.cpu");
    expect_error_with(",\"resources\":{\"cpu\":[1]}", GPUAAS_EINVAL, "resources.cpu");
    expect_error_with(",\"resources\":{\"memory\":1.5}", GPUAAS_EINVAL, "resources.memory");
    expect_error_with(",\"resources\":{\"memory\":{}}", GPUAAS_EINVAL, "resources.memory");

    expect_error("{\"name\":5,\"namespace\":\"a\",\"command\":[\"x\"]}", NULL, GPUAAS_EINVAL, "name");
    expect_error("{\"name\":\"j\",\"namespace\":[\"a\"],\"command\":[\"x\"]}", NULL, GPUAAS_EINVAL, "namespace");
}

/* The exact message for the doc's example. */
static void test_type_error_message(void **state)
{
    (void)state;
    json_t *in = load("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"],\"resources\":{\"gpus\":\"two\"}}");
    struct job_spec spec;
    struct spec_error err;
    assert_int_equal(spec_parse_job(in, NULL, &spec, &err), GPUAAS_EINVAL);
    assert_string_equal(err.field, "resources.gpus");
    assert_string_equal(err.message, "expected an integer, got a string");
    json_decref(in);
}

static void test_command_errors(void **state)
{
    (void)state;
    expect_error("{\"name\":\"j\",\"namespace\":\"a\",\"command\":\"python3 train.py\"}", NULL, GPUAAS_EINVAL,
                 "command");
    expect_error("{\"name\":\"j\",\"namespace\":\"a\",\"command\":{\"0\":\"x\"}}", NULL, GPUAAS_EINVAL, "command");
    expect_error("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[]}", NULL, GPUAAS_EINVAL, "command");
    expect_error("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"python3\",\"x\",3]}", NULL,
                 GPUAAS_EINVAL, "command[2]");
    expect_error("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[null]}", NULL, GPUAAS_EINVAL, "command[0]");
    expect_error("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"\",\"x\"]}", NULL, GPUAAS_EINVAL,
                 "command[0]");
    expect_error("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[[\"x\"]]}", NULL, GPUAAS_EINVAL,
                 "command[0]");

    /* 257 arguments */
    json_t *in = load("{\"name\":\"j\",\"namespace\":\"a\"}");
    json_t *cmd = json_array();
    for (int i = 0; i <= SPEC_COMMAND_ARGS_MAX; i++)
        json_array_append_new(cmd, json_string("x"));
    json_object_set_new(in, "command", cmd);
    expect_error_json(in, NULL, GPUAAS_ETOOBIG, "command");

    /* an argument of 4097 bytes */
    json_array_clear(cmd);
    char *big = malloc(SPEC_STRING_MAX + 2);
    assert_non_null(big);
    memset(big, 'y', SPEC_STRING_MAX + 1);
    big[SPEC_STRING_MAX + 1] = '\0';
    json_array_append_new(cmd, json_string("x"));
    json_array_append_new(cmd, json_string(big));
    expect_error_json(in, NULL, GPUAAS_ETOOBIG, "command[1]");

    /* an argument with a NUL inside */
    json_array_clear(cmd);
    json_array_append_new(cmd, json_string("x"));
    json_array_append_new(cmd, json_stringn("a\0b", 3));
    expect_error_json(in, NULL, GPUAAS_EINVAL, "command[1]");
    json_decref(in);
    free(big);
}

static void test_replicas_range(void **state)
{
    (void)state;
    expect_error_with(",\"replicas\":0", GPUAAS_EINVAL, "replicas");
    expect_error_with(",\"replicas\":-1", GPUAAS_EINVAL, "replicas");
    expect_error_with(",\"replicas\":1025", GPUAAS_EINVAL, "replicas");
    expect_error_with(",\"replicas\":2000", GPUAAS_EINVAL, "replicas");
    expect_error_with(",\"replicas\":9223372036854775807", GPUAAS_EINVAL, "replicas");
}

static void test_resource_errors(void **state)
{
    (void)state;
    /* two GPU forms at once */
    expect_error_with(",\"resources\":{\"gpus\":1,\"mig\":\"1g.10gb\"}", GPUAAS_EINVAL, "resources");
    expect_error_with(",\"resources\":{\"gpus\":2,\"gpu_milli\":500}", GPUAAS_EINVAL, "resources");
    expect_error_with(",\"resources\":{\"mig\":\"1g.10gb\",\"gpu_milli\":500}", GPUAAS_EINVAL, "resources");
    expect_error_with(",\"resources\":{\"gpus\":1,\"mig\":\"1g.10gb\",\"gpu_milli\":5}", GPUAAS_EINVAL,
                      "resources");

    /* GPU counts and shares out of range */
    expect_error_with(",\"resources\":{\"gpus\":-1}", GPUAAS_EINVAL, "resources.gpus");
    expect_error_with(",\"resources\":{\"gpus\":65}", GPUAAS_EINVAL, "resources.gpus");
    expect_error_with(",\"resources\":{\"gpu_milli\":0}", GPUAAS_EINVAL, "resources.gpu_milli");
    expect_error_with(",\"resources\":{\"gpu_milli\":1000}", GPUAAS_EINVAL, "resources.gpu_milli");

    /* MIG profiles */
    static const char *const bad_mig[] = {"",         "10gb",       "1g10gb",    "g.10gb",   "1g.gb",
                                          "1g.10",    "1g.10GB",    "1G.10gb",   "123g.10gb", "1g.12345gb",
                                          "1g.10gb+", "1g.10gb+mx", "1g.10gb ",  " 1g.10gb", "1g.10gb+me+me",
                                          "a100"};
    for (size_t i = 0; i < N(bad_mig); i++) {
        char extra[128];
        snprintf(extra, sizeof extra, ",\"resources\":{\"mig\":\"%s\"}", bad_mig[i]);
        expect_error_with(extra, GPUAAS_EINVAL, "resources.mig");
    }
    expect_error_with(",\"resources\":{\"mig\":\"1g.10gb+me-and-more-text\"}", GPUAAS_ETOOBIG, "resources.mig");

    /* cpu */
    static const char *const bad_cpu[] = {"-1", "1025", "2.0005", "-0.5", "\"abc\"", "\"\"", "\"1.5m\"",
                                          "\"500 m\"", "\"2000\"", "\"-1\""};
    for (size_t i = 0; i < N(bad_cpu); i++) {
        char extra[128];
        snprintf(extra, sizeof extra, ",\"resources\":{\"cpu\":%s}", bad_cpu[i]);
        expect_error_with(extra, GPUAAS_EINVAL, "resources.cpu");
    }
    /* memory */
    static const char *const bad_mem[] = {"-1", "\"32GB\"", "\"32 Gi\"", "\"\"", "\"Gi\"", "\"1.3\"",
                                          "\"65Ti\"", "\"-1Gi\"", "\"1e9\""};
    for (size_t i = 0; i < N(bad_mem); i++) {
        char extra[128];
        snprintf(extra, sizeof extra, ",\"resources\":{\"memory\":%s}", bad_mem[i]);
        expect_error_with(extra, GPUAAS_EINVAL, "resources.memory");
    }
}

static void test_duration_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {"",   "4",   "4 hours", "h",  "0s",  "-1h", "30m4h",
                                      "1y", "4H",  "367d",    "1.5h"};
    for (size_t i = 0; i < N(bad); i++) {
        char extra[128];
        snprintf(extra, sizeof extra, ",\"max_runtime\":\"%s\"", bad[i]);
        expect_error_with(extra, GPUAAS_EINVAL, "max_runtime");
    }
    expect_error_with(",\"max_runtime\":\"123456789012345678901234567890123s\"", GPUAAS_ETOOBIG, "max_runtime");
}

static void test_workdir_errors(void **state)
{
    (void)state;
    expect_error_with(",\"workdir\":\"data/llm\"", GPUAAS_EINVAL, "workdir");
    expect_error_with(",\"workdir\":\"./data\"", GPUAAS_EINVAL, "workdir");
    expect_error_with(",\"workdir\":\"\"", GPUAAS_EINVAL, "workdir");
    expect_error_with(",\"workdir\":\"~/x\"", GPUAAS_EINVAL, "workdir");
}

static void test_env_errors(void **state)
{
    (void)state;
    expect_error_with(",\"env\":{\"1FOO\":\"x\"}", GPUAAS_EINVAL, "env.1FOO");
    expect_error_with(",\"env\":{\"FOO-BAR\":\"x\"}", GPUAAS_EINVAL, "env.FOO-BAR");
    expect_error_with(",\"env\":{\"FOO BAR\":\"x\"}", GPUAAS_EINVAL, "env.FOO BAR");
    expect_error_with(",\"env\":{\"A=B\":\"x\"}", GPUAAS_EINVAL, "env.A=B");
    expect_error_with(",\"env\":{\"\":\"x\"}", GPUAAS_EINVAL, "env.");
    expect_error_with(",\"env\":{\"GPUAAS_X\":\"1\"}", GPUAAS_EINVAL, "env.GPUAAS_X");
    expect_error_with(",\"env\":{\"GPUAAS_\":\"1\"}", GPUAAS_EINVAL, "env.GPUAAS_");
    expect_error_with(",\"env\":{\"CUDA_VISIBLE_DEVICES\":\"0\"}", GPUAAS_EINVAL, "env.CUDA_VISIBLE_DEVICES");
    expect_error_with(",\"env\":{\"NVIDIA_VISIBLE_DEVICES\":\"all\"}", GPUAAS_EINVAL,
                      "env.NVIDIA_VISIBLE_DEVICES");
    /* near misses of the reserved names are fine */
    struct job_spec spec;
    parse_ok_with(",\"env\":{\"GPUAAS\":\"1\",\"gpuaas_x\":\"1\",\"CUDA_VISIBLE_DEVICES_X\":\"1\"}", &spec);
    spec_release(&spec);

    /* a value over 4096 bytes */
    char *big = malloc(SPEC_STRING_MAX + 2);
    assert_non_null(big);
    memset(big, 'v', SPEC_STRING_MAX + 1);
    big[SPEC_STRING_MAX + 1] = '\0';
    json_t *in = load("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"]}");
    json_t *env = json_object();
    json_object_set_new(env, "BIG", json_string(big));
    json_object_set_new(in, "env", env);
    expect_error_json(in, NULL, GPUAAS_ETOOBIG, "env.BIG");

    /* 129 entries */
    json_object_clear(env);
    for (int i = 0; i <= SPEC_MAP_ENTRIES_MAX; i++) {
        char key[32];
        snprintf(key, sizeof key, "V%d", i);
        json_object_set_new(env, key, json_string("x"));
    }
    expect_error_json(in, NULL, GPUAAS_ETOOBIG, "env");
    json_decref(in);
    free(big);
}

static void test_selector_errors(void **state)
{
    (void)state;
    char value64[65], extra[256];
    memset(value64, 'v', 64);
    value64[64] = '\0';
    snprintf(extra, sizeof extra, ",\"selector\":{\"gpuaas.io/gpu-model\":\"%s\"}", value64);
    expect_error_with(extra, GPUAAS_ETOOBIG, "selector.gpuaas.io/gpu-model");
    value64[63] = '\0';
    snprintf(extra, sizeof extra, ",\"selector\":{\"gpuaas.io/gpu-model\":\"%s\"}", value64);
    struct job_spec spec;
    parse_ok_with(extra, &spec);
    spec_release(&spec);

    expect_error_with(",\"selector\":{\"-bad\":\"x\"}", GPUAAS_EINVAL, "selector.-bad");
    expect_error_with(",\"selector\":{\"a/b/c\":\"x\"}", GPUAAS_EINVAL, "selector.a/b/c");
    expect_error_with(",\"selector\":{\"\":\"x\"}", GPUAAS_EINVAL, "selector.");
    expect_error_with(",\"selector\":{\"zone\":\"eu\\tx\"}", GPUAAS_EINVAL, "selector.zone");

    json_t *in = load("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"]}");
    json_t *sel = json_object();
    for (int i = 0; i <= SPEC_MAP_ENTRIES_MAX; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(sel, key, json_string("x"));
    }
    json_object_set_new(in, "selector", sel);
    expect_error_json(in, NULL, GPUAAS_ETOOBIG, "selector");
    json_decref(in);
}

static void test_value_errors(void **state)
{
    (void)state;
    expect_error_with(",\"kind\":\"Pod\"", GPUAAS_EINVAL, "kind");
    expect_error_with(",\"kind\":\"job\"", GPUAAS_EINVAL, "kind");
    expect_error_with(",\"priority\":\"urgent\"", GPUAAS_EINVAL, "priority");
    expect_error_with(",\"priority\":\"High\"", GPUAAS_EINVAL, "priority");
    expect_error_with(",\"restart\":{\"policy\":\"Always\"}", GPUAAS_EINVAL, "restart.policy");
    expect_error_with(",\"restart\":{\"policy\":\"OnFailure\",\"limit\":101}", GPUAAS_EINVAL, "restart.limit");
    expect_error_with(",\"restart\":{\"limit\":-1}", GPUAAS_EINVAL, "restart.limit");
}

static void test_name_and_namespace_errors(void **state)
{
    (void)state;
    /* missing required fields */
    expect_error("{\"namespace\":\"a\",\"command\":[\"x\"]}", NULL, GPUAAS_EINVAL, "name");
    expect_error("{\"name\":\"j\",\"namespace\":\"a\"}", NULL, GPUAAS_EINVAL, "command");
    expect_error("{\"name\":\"j\",\"command\":[\"x\"]}", NULL, GPUAAS_EINVAL, "namespace");
    expect_error("{}", NULL, GPUAAS_EINVAL, "name");

    /* bad names */
    expect_error("{\"name\":\"Bad_Name\",\"namespace\":\"a\",\"command\":[\"x\"]}", NULL, GPUAAS_EINVAL, "name");
    expect_error("{\"name\":\"\",\"namespace\":\"a\",\"command\":[\"x\"]}", NULL, GPUAAS_EINVAL, "name");
    expect_error("{\"name\":\"-j\",\"namespace\":\"a\",\"command\":[\"x\"]}", NULL, GPUAAS_EINVAL, "name");
    char text[1024], n64[65], n300[301];
    memset(n64, 'n', 64);
    n64[64] = '\0';
    memset(n300, 'n', 300);
    n300[300] = '\0';
    snprintf(text, sizeof text, "{\"name\":\"%s\",\"namespace\":\"a\",\"command\":[\"x\"]}", n64);
    expect_error(text, NULL, GPUAAS_EINVAL, "name");
    snprintf(text, sizeof text, "{\"name\":\"%s\",\"namespace\":\"a\",\"command\":[\"x\"]}", n300);
    expect_error(text, NULL, GPUAAS_ETOOBIG, "name");

    /* a name with a NUL inside */
    json_t *in = load("{\"namespace\":\"a\",\"command\":[\"x\"]}");
    json_object_set_new(in, "name", json_stringn("ab\0c", 4));
    expect_error_json(in, NULL, GPUAAS_EINVAL, "name");
    json_decref(in);

    /* bad namespaces, from the spec or from the default */
    static const char *const bad_ns[] = {"", "a//b", "/a", "a/", "..", "a/../b", "a/b/c/d", "A"};
    for (size_t i = 0; i < N(bad_ns); i++) {
        snprintf(text, sizeof text, "{\"name\":\"j\",\"namespace\":\"%s\",\"command\":[\"x\"]}", bad_ns[i]);
        expect_error(text, NULL, GPUAAS_EINVAL, "namespace");
        expect_error("{\"name\":\"j\",\"command\":[\"x\"]}", bad_ns[i], GPUAAS_EINVAL, "namespace");
    }

    /* spec and request disagree */
    expect_error("{\"name\":\"j\",\"namespace\":\"a/b\",\"command\":[\"x\"]}", "a/c", GPUAAS_EINVAL, "namespace");
    expect_error("{\"name\":\"j\",\"namespace\":\"a/b\",\"command\":[\"x\"]}", "a", GPUAAS_EINVAL, "namespace");
    expect_error("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"]}", "a/b", GPUAAS_EINVAL, "namespace");
}

/* err is reset on every call: a success after a failure leaves no stale field. */
static void test_error_cleared_on_success(void **state)
{
    (void)state;
    json_t *bad = load("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"],\"replicas\":0}");
    json_t *good = load("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"]}");
    struct job_spec spec;
    struct spec_error err;
    assert_int_equal(spec_parse_job(bad, NULL, &spec, &err), GPUAAS_EINVAL);
    assert_string_equal(err.field, "replicas");
    assert_int_equal(spec_parse_job(good, NULL, &spec, &err), 0);
    assert_string_equal(err.field, "");
    assert_string_equal(err.message, "");
    spec_release(&spec);
    json_decref(bad);
    json_decref(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_spec_struct),
        cmocka_unit_test(test_full_spec_document),
        cmocka_unit_test(test_minimal_spec_defaults),
        cmocka_unit_test(test_document_keeps_given_fields),
        cmocka_unit_test(test_document_restart_limit_only_gets_policy),
        cmocka_unit_test(test_gpu_forms),
        cmocka_unit_test(test_cpu_forms),
        cmocka_unit_test(test_cpu_real_three_decimals),
        cmocka_unit_test(test_memory_and_duration_forms),
        cmocka_unit_test(test_limits_accepted),
        cmocka_unit_test(test_namespace_sources),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_type_error_message),
        cmocka_unit_test(test_command_errors),
        cmocka_unit_test(test_replicas_range),
        cmocka_unit_test(test_resource_errors),
        cmocka_unit_test(test_duration_errors),
        cmocka_unit_test(test_workdir_errors),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_selector_errors),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_name_and_namespace_errors),
        cmocka_unit_test(test_error_cleared_on_success),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
