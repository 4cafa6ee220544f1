/* Bad input gets the documented status, error code and field, and changes
 * nothing: after every case the job and namespace lists are byte-for-byte
 * what they were before. The server survives all of it (deep nesting
 * included) and still stops cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define NSB "bad/input/dev"
#define UNMATCHED "\"selector\":{\"test.gpuaas.io/never-matches\":\"yes\"}"
/* a valid spec's head; a case appends its own members and the closing brace */
#define SPEC(members) "{\"kind\":\"Job\",\"namespace\":\"" NSB "\"," UNMATCHED "," members "}"
#define LABEL63 "a23456789012345678901234567890123456789012345678901234567890123"
#define LABEL64 LABEL63 "4"

enum body_kind {
    BODY_TEXT = 0,
    BODY_2MIB,
    BODY_DEEP_ARRAYS,
    BODY_DEEP_OBJECTS,
    BODY_DEEP_YAML,
    BODY_COMMAND_257,      /* 257 arguments */
    BODY_COMMAND_ARG_4097, /* command[1] of 4097 bytes */
    BODY_ENV_129,          /* 129 variables */
    BODY_ENV_VALUE_4097,   /* env.FOO of 4097 bytes */
};
enum auth_kind { AUTH_ADMIN = 0, AUTH_NONE, AUTH_WRONG, AUTH_RAW };

struct bad_case {
    const char *name;
    const char *method;
    const char *path;
    const char *content_type;
    const char *body;
    enum body_kind body_kind;
    enum auth_kind auth;
    const char *raw_auth; /* AUTH_RAW: the header value; "%T" becomes the admin token */
    long status;
    long alt_status; /* also accepted, 0: none */
    const char *code;
    const char *alt_code;
    const char *field;  /* expected error.field, NULL: not checked */
    bool want_position; /* message mentions a line/column number */
    bool chunked;       /* send with Transfer-Encoding: chunked (no Content-Length) */
};

#define JOBS "/v1/jobs"
#define NSS "/v1/namespaces"
#define NS_BODY(n) "{\"name\":\"" n "\"}"

static const struct bad_case cases[] = {
    /* not well-formed */
    {.name = "malformed_json", .method = "POST", .path = JOBS,
     .body = "{\"kind\":\"Job\",\"name\":\"x\",\n\"command\": [\"a\",}", .status = 400,
     .code = "bad_request", .want_position = true},
    {.name = "json_trailing_garbage", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"garbage\",\"command\":[\"true\"]") " trailing", .status = 400,
     .code = "bad_request"},
    {.name = "malformed_yaml", .method = "POST", .path = JOBS,
     .content_type = "application/yaml",
     .body = "kind: Job\nname: yaml-bad\ncommand: [\"a\", \"b\"\nenv: {A: 1\n", .status = 400,
     .code = "bad_request", .want_position = true},
    {.name = "malformed_yaml_indent", .method = "POST", .path = JOBS,
     .content_type = "application/yaml",
     .body = "kind: Job\nname: yaml-bad\n  namespace: x\n bad: : :\n", .status = 400,
     .code = "bad_request"},
    {.name = "malformed_namespace_body", .method = "POST", .path = NSS,
     .body = "{\"name\":", .status = 400, .code = "bad_request"},
    {.name = "empty_body", .method = "POST", .path = JOBS, .body = "", .status = 400,
     .alt_status = 422, .code = "bad_request", .alt_code = "invalid"},

    /* well-formed, invalid */
    {.name = "top_level_array", .method = "POST", .path = JOBS,
     .body = "[" SPEC("\"name\":\"in-array\",\"command\":[\"true\"]") "]", .status = 422,
     .code = "invalid"},
    {.name = "unknown_top_level_field", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"unknown-top\",\"command\":[\"true\"],\"bogus\":1"),
     .status = 422, .code = "invalid", .field = "bogus"},
    {.name = "unknown_nested_field", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"unknown-nested\",\"command\":[\"true\"],"
                  "\"resources\":{\"gpus\":1,\"foo\":2}"),
     .status = 422, .code = "invalid", .field = "resources.foo"},
    {.name = "unknown_nested_field_yaml", .method = "POST", .path = JOBS,
     .content_type = "application/yaml",
     .body = "kind: Job\nname: unknown-nested-yaml\nnamespace: " NSB "\n"
             "command: [\"true\"]\nresources:\n  gpus: 1\n  foo: 2\n",
     .status = 422, .code = "invalid", .field = "resources.foo"},
    {.name = "gpus_string", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"gpus-string\",\"command\":[\"true\"],"
                  "\"resources\":{\"gpus\":\"two\"}"),
     .status = 422, .code = "invalid", .field = "resources.gpus"},
    {.name = "gpus_string_yaml", .method = "POST", .path = JOBS,
     .content_type = "application/yaml",
     .body = "kind: Job\nname: gpus-string-yaml\nnamespace: " NSB "\n"
             "command: [\"true\"]\nresources:\n  gpus: two\n",
     .status = 422, .code = "invalid", .field = "resources.gpus"},
    {.name = "command_not_array", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"cmd-string\",\"command\":\"python3 train.py\""), .status = 422,
     .code = "invalid", .field = "command"},
    {.name = "command_item_not_string", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"cmd-item\",\"command\":[\"python3\",\"train.py\",3]"),
     .status = 422, .code = "invalid", .field = "command[2]"},
    {.name = "env_value_number", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"env-number\",\"command\":[\"true\"],\"env\":{\"FOO\":1}"),
     .status = 422, .code = "invalid", .field = "env.FOO"},
    {.name = "replicas_zero", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"replicas-zero\",\"command\":[\"true\"],\"replicas\":0"),
     .status = 422, .code = "invalid", .field = "replicas"},
    {.name = "replicas_2000", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"replicas-many\",\"command\":[\"true\"],\"replicas\":2000"),
     .status = 422, .code = "invalid", .field = "replicas"},
    {.name = "replicas_string", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"replicas-str\",\"command\":[\"true\"],\"replicas\":\"1\""),
     .status = 422, .code = "invalid", .field = "replicas"},
    {.name = "priority_unknown", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"prio\",\"command\":[\"true\"],\"priority\":\"urgent\""),
     .status = 422, .code = "invalid", .field = "priority"},
    {.name = "two_gpu_forms", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"two-forms\",\"command\":[\"true\"],"
                  "\"resources\":{\"gpus\":1,\"gpu_milli\":500}"),
     .status = 422, .code = "invalid"},
    {.name = "gpus_real", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"gpus-real\",\"command\":[\"true\"],\"resources\":{\"gpus\":2.5}"),
     .status = 422, .code = "invalid", .field = "resources.gpus"},
    {.name = "gpus_negative", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"gpus-neg\",\"command\":[\"true\"],\"resources\":{\"gpus\":-1}"),
     .status = 422, .code = "invalid", .field = "resources.gpus"},
    {.name = "gpus_65", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"gpus-65\",\"command\":[\"true\"],\"resources\":{\"gpus\":65}"),
     .status = 422, .code = "invalid", .field = "resources.gpus"},
    {.name = "gpu_milli_1000", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"milli\",\"command\":[\"true\"],"
                  "\"resources\":{\"gpu_milli\":1000}"),
     .status = 422, .code = "invalid", .field = "resources.gpu_milli"},
    {.name = "cpu_not_a_quantity", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"cpu-bad\",\"command\":[\"true\"],\"resources\":{\"cpu\":\"abc\"}"),
     .status = 422, .code = "invalid", .field = "resources.cpu"},
    {.name = "memory_not_a_quantity", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"mem-bad\",\"command\":[\"true\"],"
                  "\"resources\":{\"memory\":\"lots\"}"),
     .status = 422, .code = "invalid", .field = "resources.memory"},
    {.name = "max_runtime_not_a_duration", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"rt-bad\",\"command\":[\"true\"],\"max_runtime\":\"forever\""),
     .status = 422, .code = "invalid", .field = "max_runtime"},
    {.name = "restart_policy_unknown", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"rp-bad\",\"command\":[\"true\"],"
                  "\"restart\":{\"policy\":\"Sometimes\",\"limit\":1}"),
     .status = 422, .code = "invalid", .field = "restart.policy"},
    {.name = "command_empty", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"cmd-empty\",\"command\":[]"), .status = 422, .code = "invalid",
     .field = "command"},
    {.name = "name_missing", .method = "POST", .path = JOBS, .body = SPEC("\"command\":[\"true\"]"),
     .status = 422, .code = "invalid", .field = "name"},
    {.name = "kind_unknown", .method = "POST", .path = JOBS,
     .body = "{\"kind\":\"Jobb\",\"namespace\":\"" NSB "\"," UNMATCHED
             ",\"name\":\"kind-bad\",\"command\":[\"true\"]}",
     .status = 422, .code = "invalid", .field = "kind"},
    {.name = "command_257_args", .method = "POST", .path = JOBS, .body_kind = BODY_COMMAND_257,
     .status = 413, .code = "too_large", .field = "command"},
    {.name = "command_arg_4097_bytes", .method = "POST", .path = JOBS,
     .body_kind = BODY_COMMAND_ARG_4097, .status = 413, .code = "too_large",
     .field = "command[1]"},
    {.name = "env_129_entries", .method = "POST", .path = JOBS, .body_kind = BODY_ENV_129,
     .status = 413, .code = "too_large", .field = "env"},
    {.name = "env_value_4097_bytes", .method = "POST", .path = JOBS,
     .body_kind = BODY_ENV_VALUE_4097, .status = 413, .code = "too_large", .field = "env.FOO"},
    {.name = "body_2mib", .method = "POST", .path = JOBS, .body_kind = BODY_2MIB,
     .status = 413, .code = "too_large"},
    {.name = "body_2mib_chunked", .method = "POST", .path = JOBS, .body_kind = BODY_2MIB,
     .chunked = true, .status = 413, .code = "too_large"},
    {.name = "namespace_body_2mib", .method = "POST", .path = NSS, .body_kind = BODY_2MIB,
     .status = 413, .code = "too_large"},
    {.name = "json_invalid_utf8", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"utf8\",\"command\":[\"\xff\xfe\"]"), .status = 400,
     .code = "bad_request"},
    {.name = "json_duplicate_key", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"dup-a\",\"name\":\"dup-b\",\"command\":[\"true\"]"),
     .status = 400, .alt_status = 422, .code = "bad_request", .alt_code = "invalid"},
    {.name = "yaml_duplicate_key", .method = "POST", .path = JOBS,
     .content_type = "application/yaml",
     .body = "kind: Job\nname: dup-a\nname: dup-b\nnamespace: " NSB "\ncommand: [\"true\"]\n",
     .status = 400, .alt_status = 422, .code = "bad_request", .alt_code = "invalid"},
    {.name = "yaml_alias", .method = "POST", .path = JOBS, .content_type = "application/yaml",
     .body = "kind: Job\nname: &n alias\nnamespace: " NSB "\ncommand: [*n]\n", .status = 400,
     .alt_status = 422, .code = "bad_request", .alt_code = "invalid"},
    {.name = "yaml_two_documents", .method = "POST", .path = JOBS,
     .content_type = "application/yaml",
     .body = "kind: Job\nname: doc-a\nnamespace: " NSB "\ncommand: [\"true\"]\n---\n"
             "kind: Job\nname: doc-b\nnamespace: " NSB "\ncommand: [\"true\"]\n",
     .status = 400, .alt_status = 422, .code = "bad_request", .alt_code = "invalid"},

    /* namespace names */
    {.name = "ns_uppercase", .method = "POST", .path = NSS, .body = NS_BODY("Team-AI"),
     .status = 422, .code = "invalid", .field = "name"},
    {.name = "ns_label_64_chars", .method = "POST", .path = NSS, .body = NS_BODY(LABEL64),
     .status = 422, .code = "invalid", .field = "name"},
    {.name = "ns_dotdot", .method = "POST", .path = NSS, .body = NS_BODY("a/../b"),
     .status = 422, .code = "invalid", .field = "name"},
    {.name = "ns_empty_label", .method = "POST", .path = NSS, .body = NS_BODY("a//b"),
     .status = 422, .code = "invalid", .field = "name"},
    {.name = "ns_empty", .method = "POST", .path = NSS, .body = NS_BODY(""), .status = 422,
     .code = "invalid", .field = "name"},
    {.name = "ns_leading_slash", .method = "POST", .path = NSS, .body = NS_BODY("/a"),
     .status = 422, .code = "invalid", .field = "name"},
    {.name = "ns_trailing_slash", .method = "POST", .path = NSS, .body = NS_BODY("a/"),
     .status = 422, .code = "invalid", .field = "name"},
    {.name = "ns_four_levels", .method = "POST", .path = NSS, .body = NS_BODY("a/b/c/d"),
     .status = 422, .code = "invalid", .field = "name"},
    {.name = "ns_name_not_string", .method = "POST", .path = NSS, .body = "{\"name\":7}",
     .status = 422, .code = "invalid", .field = "name"},

    /* job names */
    {.name = "job_name_underscore", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"Bad_Name\",\"command\":[\"true\"]"), .status = 422,
     .code = "invalid", .field = "name"},
    {.name = "job_name_leading_dash", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"-lead\",\"command\":[\"true\"]"), .status = 422,
     .code = "invalid", .field = "name"},
    {.name = "job_name_64_chars", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"" LABEL64 "\",\"command\":[\"true\"]"), .status = 422,
     .code = "invalid", .field = "name"},
    {.name = "job_name_slash", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"a/b\",\"command\":[\"true\"]"), .status = 422,
     .code = "invalid", .field = "name"},

    /* authentication: a valid spec that must not be created */
    {.name = "missing_token", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"no-token\",\"command\":[\"true\"]"), .auth = AUTH_NONE,
     .status = 401, .code = "unauthenticated"},
    {.name = "missing_token_get", .method = "GET", .path = JOBS, .auth = AUTH_NONE,
     .status = 401, .code = "unauthenticated"},
    {.name = "wrong_token", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"wrong-token\",\"command\":[\"true\"]"), .auth = AUTH_WRONG,
     .status = 401, .code = "unauthenticated"},
    {.name = "auth_basic_scheme", .method = "POST", .path = NSS, .body = NS_BODY("basic-auth"),
     .auth = AUTH_RAW, .raw_auth = "Basic dXNlcjpwYXNz", .status = 401,
     .code = "unauthenticated"},
    {.name = "auth_bearer_without_token", .method = "POST", .path = NSS,
     .body = NS_BODY("bearer-empty"), .auth = AUTH_RAW, .raw_auth = "Bearer", .status = 401,
     .code = "unauthenticated"},
    {.name = "auth_token_without_scheme", .method = "POST", .path = NSS,
     .body = NS_BODY("no-scheme"), .auth = AUTH_RAW, .raw_auth = "%T", .status = 401,
     .code = "unauthenticated"},
    {.name = "auth_token_with_suffix", .method = "POST", .path = NSS,
     .body = NS_BODY("token-suffix"), .auth = AUTH_RAW, .raw_auth = "Bearer %Tx",
     .status = 401, .code = "unauthenticated"},
    {.name = "auth_token_truncated", .method = "POST", .path = NSS,
     .body = NS_BODY("token-prefix"), .auth = AUTH_RAW, .raw_auth = "Bearer %T-", .status = 401,
     .code = "unauthenticated"},
    {.name = "auth_before_validation", .method = "POST", .path = JOBS, .body = "{not json",
     .auth = AUTH_NONE, .status = 401, .code = "unauthenticated"},

    /* routes and methods */
    {.name = "unknown_route_v1", .method = "GET", .path = "/v1/nope", .status = 404,
     .code = "not_found"},
    {.name = "unknown_route_root", .method = "GET", .path = "/nope", .status = 404,
     .code = "not_found"},
    {.name = "unknown_job_subresource", .method = "GET",
     .path = "/v1/jobs/existing/bogus?namespace=" NSB, .status = 404, .code = "not_found"},
    {.name = "wrong_method_put_jobs", .method = "PUT", .path = JOBS,
     .body = SPEC("\"name\":\"put\",\"command\":[\"true\"]"), .status = 405,
     .code = "method_not_allowed"},
    {.name = "wrong_method_delete_nodes", .method = "DELETE", .path = "/v1/nodes",
     .status = 405, .code = "method_not_allowed"},
    {.name = "wrong_method_patch_namespaces", .method = "PATCH", .path = NSS,
     .body = NS_BODY("patched"), .status = 405, .code = "method_not_allowed"},
    {.name = "wrong_method_post_job", .method = "POST", .path = "/v1/jobs/existing?namespace=" NSB,
     .body = "{}", .status = 405, .code = "method_not_allowed"},

    /* objects that do not exist, names that are taken */
    {.name = "get_job_without_namespace", .method = "GET", .path = "/v1/jobs/existing",
     .status = 400, .code = "bad_request"},
    {.name = "list_jobs_bad_namespace_query", .method = "GET", .path = "/v1/jobs?namespace=A//B",
     .status = 400, .code = "bad_request"},
    {.name = "get_unknown_job", .method = "GET", .path = "/v1/jobs/nope?namespace=" NSB,
     .status = 404, .code = "not_found"},
    {.name = "cancel_unknown_job", .method = "POST",
     .path = "/v1/jobs/nope/cancel?namespace=" NSB, .status = 404, .code = "not_found"},
    {.name = "delete_unknown_job", .method = "DELETE", .path = "/v1/jobs/nope?namespace=" NSB,
     .status = 404, .code = "not_found"},
    {.name = "get_unknown_namespace", .method = "GET", .path = "/v1/namespaces/no/such",
     .status = 404, .code = "not_found"},
    {.name = "get_unknown_node", .method = "GET", .path = "/v1/nodes/no-such-node",
     .status = 404, .code = "not_found"},
    {.name = "job_in_missing_namespace", .method = "POST", .path = JOBS,
     .body = "{\"kind\":\"Job\",\"namespace\":\"no/such/ns\"," UNMATCHED
             ",\"name\":\"orphan\",\"command\":[\"true\"]}",
     .status = 404, .code = "not_found"},
    {.name = "duplicate_job", .method = "POST", .path = JOBS,
     .body = SPEC("\"name\":\"existing\",\"command\":[\"true\"]"), .status = 409,
     .code = "already_exists"},
    {.name = "duplicate_namespace", .method = "POST", .path = NSS, .body = NS_BODY(NSB),
     .status = 409, .code = "already_exists"},
    {.name = "delete_nonempty_namespace", .method = "DELETE", .path = "/v1/namespaces/" NSB,
     .status = 409, .code = "conflict"},
    {.name = "delete_namespace_with_children", .method = "DELETE", .path = "/v1/namespaces/bad",
     .status = 409, .code = "conflict"},

    /* hostile nesting */
    {.name = "deep_json_arrays", .method = "POST", .path = JOBS, .body_kind = BODY_DEEP_ARRAYS,
     .status = 400, .alt_status = 422, .code = "bad_request", .alt_code = "invalid"},
    {.name = "deep_json_objects", .method = "POST", .path = JOBS,
     .body_kind = BODY_DEEP_OBJECTS, .status = 400, .alt_status = 422, .code = "bad_request",
     .alt_code = "invalid"},
    {.name = "deep_yaml", .method = "POST", .path = JOBS, .content_type = "application/yaml",
     .body_kind = BODY_DEEP_YAML, .status = 400, .alt_status = 422, .code = "bad_request",
     .alt_code = "invalid"},
};

#define NCASES (sizeof cases / sizeof cases[0])

static struct th_server srv;
static struct th_http http;
static char *snapshot_jobs;
static char *snapshot_namespaces;

static char *get_body(const char *path)
{
    struct th_resp r;
    th_call(&http, "GET", path, NULL, NULL, &r);
    if (r.status != 200) {
        th_note("GET %s: HTTP %ld %.300s", path, r.status, r.body);
        th_resp_free(&r);
        return NULL;
    }
    char *body = r.body;
    r.body = NULL;
    th_resp_free(&r);
    return body;
}

static int group_setup(void **state)
{
    (void)state;
    if (th_server_start(&srv, "badinput") != 0)
        return -1;
    th_log_server = &srv;
    if (th_http_init(&http, &srv) != 0)
        return -1;
    struct th_resp r;
    long st = th_call(&http, "POST", NSS, NS_BODY(NSB), NULL, &r);
    if (st != 201)
        th_note("setup: POST /v1/namespaces: HTTP %ld %s", st, r.body);
    th_resp_free(&r);
    if (st != 201)
        return -1;
    st = th_call(&http, "POST", JOBS, SPEC("\"name\":\"existing\",\"command\":[\"true\"]"), NULL,
                 &r);
    if (st != 201)
        th_note("setup: POST /v1/jobs: HTTP %ld %s", st, r.body);
    th_resp_free(&r);
    if (st != 201)
        return -1;
    snapshot_jobs = get_body(JOBS);
    snapshot_namespaces = get_body(NSS);
    return snapshot_jobs != NULL && snapshot_namespaces != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    free(snapshot_jobs);
    free(snapshot_namespaces);
    th_http_free(&http);
    th_server_destroy(&srv);
    return 0;
}

static char *make_body(const struct bad_case *c, size_t *ret_len)
{
    const size_t depth = 10000;
    char *b = NULL;
    size_t len = 0;
    switch (c->body_kind) {
    case BODY_TEXT:
        if (c->body == NULL)
            return NULL;
        len = strlen(c->body);
        b = strdup(c->body);
        break;
    case BODY_2MIB: {
        const char *head = "{\"kind\":\"Job\",\"name\":\"huge\",\"workdir\":\"";
        const char *tail = "\"}";
        len = 2u << 20;
        b = malloc(len + 1);
        if (b == NULL)
            return NULL;
        memset(b, 'a', len);
        memcpy(b, head, strlen(head));
        memcpy(b + len - strlen(tail), tail, strlen(tail));
        b[len] = '\0';
        break;
    }
    case BODY_DEEP_ARRAYS:
    case BODY_DEEP_YAML:
        len = depth;
        b = malloc(len + 1);
        if (b == NULL)
            return NULL;
        memset(b, '[', len);
        b[len] = '\0';
        break;
    case BODY_COMMAND_257:
    case BODY_COMMAND_ARG_4097:
    case BODY_ENV_129:
    case BODY_ENV_VALUE_4097: {
        json_t *spec = json_pack("{s:s, s:s, s:s, s:{s:s}}", "kind", "Job", "namespace", NSB,
                                 "name", "big-field", "selector",
                                 "test.gpuaas.io/never-matches", "yes");
        json_t *cmd = json_array(), *env = json_object();
        char big[4098];
        memset(big, 'x', 4097);
        big[4097] = '\0';
        json_array_append_new(cmd, json_string("run"));
        if (c->body_kind == BODY_COMMAND_257)
            for (int i = 1; i < 257; i++)
                json_array_append_new(cmd, json_string("arg"));
        if (c->body_kind == BODY_COMMAND_ARG_4097)
            json_array_append_new(cmd, json_string(big));
        if (c->body_kind == BODY_ENV_129)
            for (int i = 0; i < 129; i++) {
                char key[16];
                snprintf(key, sizeof key, "VAR_%d", i);
                json_object_set_new(env, key, json_string("v"));
            }
        if (c->body_kind == BODY_ENV_VALUE_4097)
            json_object_set_new(env, "FOO", json_string(big));
        json_object_set_new(spec, "command", cmd);
        json_object_set_new(spec, "env", env);
        b = json_dumps(spec, JSON_COMPACT);
        json_decref(spec);
        if (b == NULL)
            return NULL;
        len = strlen(b);
        break;
    }
    case BODY_DEEP_OBJECTS: {
        /* {"a":{"a":...{}...}} */
        len = depth * 5 + 2 + depth;
        b = malloc(len + 1);
        if (b == NULL)
            return NULL;
        char *p = b;
        for (size_t i = 0; i < depth; i++) {
            memcpy(p, "{\"a\":", 5);
            p += 5;
        }
        *p++ = '{';
        *p++ = '}';
        memset(p, '}', depth);
        p += depth;
        *p = '\0';
        len = (size_t)(p - b);
        break;
    }
    }
    if (ret_len != NULL)
        *ret_len = len;
    return b;
}

static void expand_token(const char *tmpl, char *out, size_t out_size)
{
    const char *t = strstr(tmpl, "%T");
    if (t == NULL)
        snprintf(out, out_size, "%s", tmpl);
    else
        snprintf(out, out_size, "%.*s%s%s", (int)(t - tmpl), tmpl, srv.token, t + 2);
}

static bool has_digit(const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        if (isdigit((unsigned char)*s))
            return true;
    return false;
}

static void run_case(void **state)
{
    const struct bad_case *c = *state;
    size_t len = 0;
    char *body = make_body(c, &len);
    if (c->body_kind != BODY_TEXT || c->body != NULL)
        assert_non_null(body);

    char auth[700];
    struct th_req req = {.method = c->method, .path = c->path, .body = body,
                         .content_type = c->content_type, .chunked = c->chunked};
    if (body != NULL)
        req.body_len = len; /* 0 (empty body) still sends the empty body */
    switch (c->auth) {
    case AUTH_ADMIN:
        break;
    case AUTH_NONE:
        req.token = "";
        break;
    case AUTH_WRONG:
        req.token = "gpuaas-wrong-token-0123456789abcdef";
        break;
    case AUTH_RAW:
        expand_token(c->raw_auth, auth, sizeof auth);
        req.authorization = auth;
        break;
    }

    struct th_resp r;
    th_http_do(&http, &req, &r);
    free(body);

    bool status_ok = r.status == c->status || (c->alt_status != 0 && r.status == c->alt_status);
    const char *code = th_err_code(&r);
    const char *want_code = r.status == c->alt_status && c->alt_code != NULL ? c->alt_code
                                                                              : c->code;
    const char *field = th_err_field(&r);
    const char *message = th_err_message(&r);
    if (!status_ok || code == NULL || strcmp(code, want_code) != 0 ||
        (c->field != NULL && (field == NULL || strcmp(field, c->field) != 0))) {
        th_note("%s %s%s: expected HTTP %ld%s code %s field %s", c->method, c->path,
                c->content_type != NULL ? " (YAML)" : "", c->status,
                c->alt_status ? " (or alternative)" : "", want_code,
                c->field != NULL ? c->field : "(any)");
        th_note("got HTTP %ld%s%s body: %.600s", r.status, r.status == 0 ? " transport error: " : "",
                r.status == 0 ? r.curl_err : "", r.body);
    }
    assert_true(status_ok);
    assert_non_null(code);
    assert_string_equal(code, want_code);
    if (c->field != NULL) {
        assert_non_null(field);
        assert_string_equal(field, c->field);
    }
    if (message == NULL || *message == '\0')
        th_note("error.message is missing or empty: %.300s", r.body);
    assert_true(message != NULL && *message != '\0');
    if (c->want_position && !has_digit(message))
        th_note("error.message has no line/column: %s", message);
    if (c->want_position)
        assert_true(has_digit(message));
    th_resp_free(&r);

    /* the server is alive and nothing changed */
    th_call(&http, "GET", "/healthz", NULL, NULL, &r);
    if (r.status != 200)
        th_note("after %s: /healthz answered %ld (%s)", c->name, r.status, r.curl_err);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    char *jobs = get_body(JOBS);
    char *nss = get_body(NSS);
    bool same_jobs = jobs != NULL && strcmp(jobs, snapshot_jobs) == 0;
    bool same_nss = nss != NULL && strcmp(nss, snapshot_namespaces) == 0;
    if (!same_jobs)
        th_note("GET /v1/jobs changed:\nbefore: %.800s\nafter:  %.800s", snapshot_jobs,
                jobs != NULL ? jobs : "(failed)");
    if (!same_nss)
        th_note("GET /v1/namespaces changed:\nbefore: %.800s\nafter:  %.800s",
                snapshot_namespaces, nss != NULL ? nss : "(failed)");
    free(jobs);
    free(nss);
    assert_true(same_jobs);
    assert_true(same_nss);
    TH_PASS();
}

/* Headers larger than a connection's 16 KiB buffer: 431, nothing stored. */
static void test_oversized_headers(void **state)
{
    (void)state;
    size_t size = 20 * 1024;
    char *auth = malloc(size + 1);
    assert_non_null(auth);
    memcpy(auth, "Bearer ", 7);
    memset(auth + 7, 'a', size - 7);
    auth[size] = '\0';
    struct th_req req = {.method = "POST", .path = JOBS,
                         .body = SPEC("\"name\":\"huge-header\",\"command\":[\"true\"]"), .authorization = auth};
    struct th_resp r;
    th_http_do(&http, &req, &r);
    free(auth);
    if (r.status != 431)
        th_note("20 KiB Authorization header: HTTP %ld %.300s", r.status, r.body);
    assert_int_equal(r.status, 431);
    th_resp_free(&r);
    char *jobs = get_body(JOBS);
    assert_non_null(jobs);
    assert_string_equal(jobs, snapshot_jobs);
    free(jobs);
    TH_PASS();
}

static void test_still_healthy_and_stops_cleanly(void **state)
{
    (void)state;
    struct th_resp r;
    th_call(&http, "GET", "/healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    /* a valid request still works after all the abuse */
    th_call(&http, "POST", JOBS, SPEC("\"name\":\"after-abuse\",\"command\":[\"true\"]"), NULL,
            &r);
    if (r.status != 201)
        th_note("valid submit after the bad input: HTTP %ld %.300s", r.status, r.body);
    assert_int_equal(r.status, 201);
    th_resp_free(&r);
    assert_int_equal(th_server_stop(&srv), 0);
    TH_PASS();
}

int main(void)
{
    th_global_init();
    struct CMUnitTest tests[NCASES + 2];
    for (size_t i = 0; i < NCASES; i++)
        tests[i] = (struct CMUnitTest){.name = cases[i].name,
                                       .test_func = run_case,
                                       .setup_func = th_setup_mark,
                                       .teardown_func = th_teardown_report,
                                       .initial_state = (void *)&cases[i]};
    tests[NCASES] = (struct CMUnitTest){.name = "oversized_headers",
                                        .test_func = test_oversized_headers,
                                        .setup_func = th_setup_mark,
                                        .teardown_func = th_teardown_report};
    tests[NCASES + 1] = (struct CMUnitTest){.name = "still_healthy_and_stops_cleanly",
                                        .test_func = test_still_healthy_and_stops_cleanly,
                                        .setup_func = th_setup_mark,
                                        .teardown_func = th_teardown_report};
    int rc = _cmocka_run_group_tests("bad_input", tests, NCASES + 2, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
