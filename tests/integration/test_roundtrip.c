/* Round trip through the real server: namespaces, jobs submitted as YAML and
 * JSON come back field for field, list/cancel/delete, nodes, a clean
 * SIGTERM, and everything still there after a restart on the same data
 * directory. Also the CLI (`gpuaas submit`, `gpuaas get job -o json`). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

#define NS "team-ai/project-llm/dev"
#define NS_Q "team-ai%2Fproject-llm%2Fdev"
#define SIBLING_NS "team-ai/project-llm/prod"
#define UNMATCHED_LABEL "test.gpuaas.io/never-matches"

static struct th_server srv;
static struct th_http http;

/* Job A: every spec field, whole GPUs, submitted as YAML. The selector has
 * a label no node carries, so the job stays Pending (and never runs). */
static const char JOB_A_YAML[] =
    "# a training job\n"
    "kind: Job\n"
    "name: llm-finetune\n"
    "namespace: team-ai/project-llm/dev\n"
    "priority: high\n"
    "replicas: 2\n"
    "resources:\n"
    "  gpus: 2\n"
    "  cpu: 8\n"
    "  memory: 32Gi\n"
    "selector:\n"
    "  gpuaas.io/gpu-model: A100\n"
    "  gpuaas.io/capacity-type: spot\n"
    "  " UNMATCHED_LABEL ": \"yes\"\n"
    "command: [\"python3\", \"train.py\", \"--epochs\", \"3\"]\n"
    "env: { WANDB_MODE: offline, SEED: \"42\" }\n"
    "workdir: /data/llm\n"
    "max_runtime: 4h\n"
    "restart: { policy: OnFailure, limit: 3 }\n";

static const char JOB_A_JSON[] =
    "{\"kind\":\"Job\",\"name\":\"llm-finetune\",\"namespace\":\"team-ai/project-llm/dev\","
    "\"priority\":\"high\",\"replicas\":2,"
    "\"resources\":{\"gpus\":2,\"cpu\":8,\"memory\":\"32Gi\"},"
    "\"selector\":{\"gpuaas.io/gpu-model\":\"A100\",\"gpuaas.io/capacity-type\":\"spot\","
    "\"" UNMATCHED_LABEL "\":\"yes\"},"
    "\"command\":[\"python3\",\"train.py\",\"--epochs\",\"3\"],"
    "\"env\":{\"WANDB_MODE\":\"offline\",\"SEED\":\"42\"},"
    "\"workdir\":\"/data/llm\",\"max_runtime\":\"4h\","
    "\"restart\":{\"policy\":\"OnFailure\",\"limit\":3}}";

/* Job B: a GPU share, submitted as JSON; it is kept across the restart. */
static const char JOB_B_JSON[] =
    "{\"kind\":\"Job\",\"name\":\"notebook-small\",\"namespace\":\"team-ai/project-llm/dev\","
    "\"priority\":\"low\",\"replicas\":1,"
    "\"resources\":{\"gpu_milli\":500,\"cpu\":\"500m\",\"memory\":\"4Gi\"},"
    "\"selector\":{\"" UNMATCHED_LABEL "\":\"yes\"},"
    "\"command\":[\"jupyter\",\"lab\",\"--port\",\"8888\"],"
    "\"env\":{\"A\":\"1\",\"EMPTY\":\"\"},"
    "\"workdir\":\"/home/user\",\"max_runtime\":\"90m\","
    "\"restart\":{\"policy\":\"OnFailure\",\"limit\":1}}";

/* Job C: a MIG slice, submitted through the CLI with -n (no namespace in
 * the file). %s is a MIG profile some node offers (the server refuses
 * profiles no node has). */
static const char JOB_C_YAML[] = "kind: Job\n"
                                 "name: mig-inference\n"
                                 "priority: normal\n"
                                 "replicas: 1\n"
                                 "resources:\n"
                                 "  mig: %s\n"
                                 "  cpu: 2\n"
                                 "  memory: 8Gi\n"
                                 "selector:\n"
                                 "  " UNMATCHED_LABEL ": \"yes\"\n"
                                 "command:\n"
                                 "  - python3\n"
                                 "  - serve.py\n"
                                 "env:\n"
                                 "  MODEL: llama\n"
                                 "workdir: /srv\n"
                                 "max_runtime: 2h\n"
                                 "restart:\n"
                                 "  policy: OnFailure\n"
                                 "  limit: 2\n";

static const char JOB_C_JSON[] =
    "{\"kind\":\"Job\",\"name\":\"mig-inference\",\"namespace\":\"team-ai/project-llm/dev\","
    "\"priority\":\"normal\",\"replicas\":1,"
    "\"resources\":{\"mig\":\"%s\",\"cpu\":2,\"memory\":\"8Gi\"},"
    "\"selector\":{\"" UNMATCHED_LABEL "\":\"yes\"},"
    "\"command\":[\"python3\",\"serve.py\"],\"env\":{\"MODEL\":\"llama\"},"
    "\"workdir\":\"/srv\",\"max_runtime\":\"2h\","
    "\"restart\":{\"policy\":\"OnFailure\",\"limit\":2}}";

/* Job D: the least one can say; the namespace comes from ?namespace=. */
static const char JOB_D_JSON[] = "{\"kind\":\"Job\",\"name\":\"defaults\","
                                 "\"selector\":{\"" UNMATCHED_LABEL "\":\"yes\"},"
                                 "\"command\":[\"true\"]}";

/* What GET returned for jobs B and D before the restart. */
static json_t *job_b_before;
static json_t *job_d_before;

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (j == NULL)
        fail_msg("test bug: bad JSON literal: %s", err.text);
    return j;
}

static char *dump(const json_t *j)
{
    if (j == NULL)
        return strdup("(absent)");
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

/* Every member of `expected` equals the same member of `got`. Reports all
 * mismatches, then fails if there were any. */
static void assert_members_equal(json_t *expected, json_t *got, const char *what)
{
    assert_non_null(got);
    assert_true(json_is_object(got));
    int bad = 0;
    const char *key;
    json_t *want;
    json_object_foreach(expected, key, want)
    {
        json_t *have = json_object_get(got, key);
        if (have == NULL || !json_equal(want, have)) {
            char *w = dump(want), *h = dump(have);
            th_note("%s: field %s: expected %s, got %s", what, key, w, h);
            free(w);
            free(h);
            bad++;
        }
    }
    if (bad != 0) {
        char *all = dump(got);
        th_note("%s: whole object: %s", what, all);
        free(all);
    }
    assert_int_equal(bad, 0);
}

static void expect_status(const struct th_resp *r, long want, const char *what)
{
    if (r->status != want)
        th_note("%s: expected HTTP %ld, got %ld (%s) body: %.800s", what, want, r->status,
                r->status == 0 ? r->curl_err : "", r->body != NULL ? r->body : "");
    assert_int_equal(r->status, want);
}

static void expect_error(const struct th_resp *r, long want_status, const char *want_code,
                         const char *what)
{
    expect_status(r, want_status, what);
    const char *code = th_err_code(r);
    if (code == NULL || strcmp(code, want_code) != 0)
        th_note("%s: expected error.code %s, got %s; body %.500s", what, want_code,
                code != NULL ? code : "(none)", r->body);
    assert_non_null(code);
    assert_string_equal(code, want_code);
}

/* Checks a Job reply: spec members equal, id an integer, state as given. */
static void check_job(json_t *job, const char *expected_json, const char *state,
                      const char *what)
{
    json_t *want = parse(expected_json);
    assert_members_equal(want, job, what);
    json_decref(want);
    json_t *id = json_object_get(job, "id");
    if (!json_is_integer(id))
        th_note("%s: id is not an integer", what);
    assert_true(json_is_integer(id));
    assert_true(json_integer_value(id) > 0);
    const char *st = th_jstr(job, "status.state");
    if (st == NULL || strcmp(st, state) != 0)
        th_note("%s: status.state %s, expected %s", what, st != NULL ? st : "(none)", state);
    assert_non_null(st);
    assert_string_equal(st, state);
    assert_non_null(th_jstr(job, "status.created_at"));
    assert_non_null(th_jstr(job, "status.updated_at"));
    assert_true(json_is_integer(th_jpath(job, "status.restarts")));
}

static int group_setup(void **state)
{
    (void)state;
    if (th_server_start(&srv, "roundtrip") != 0)
        return -1;
    th_log_server = &srv;
    return th_http_init(&http, &srv);
}

static int group_teardown(void **state)
{
    (void)state;
    th_http_free(&http);
    json_decref(job_b_before);
    json_decref(job_d_before);
    th_server_destroy(&srv);
    return 0;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_health_and_token(void **state)
{
    (void)state;
    struct th_resp r;
    th_call(&http, "GET", "/healthz", NULL, NULL, &r);
    expect_status(&r, 200, "GET /healthz");
    assert_string_equal(th_jstr(r.json, "status") ? th_jstr(r.json, "status") : "", "ok");
    th_resp_free(&r);
    th_call(&http, "GET", "/readyz", NULL, NULL, &r);
    expect_status(&r, 200, "GET /readyz");
    assert_string_equal(th_jstr(r.json, "status") ? th_jstr(r.json, "status") : "", "ready");
    th_resp_free(&r);

    char path[700];
    snprintf(path, sizeof path, "%s/admin.token", srv.data_dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if ((st.st_mode & 0777) != 0600)
        th_note("admin.token mode %o, expected 600", (unsigned)(st.st_mode & 0777));
    assert_int_equal(st.st_mode & 0777, 0600);
    TH_PASS();
}

static void check_namespace(const char *path, const char *org, const char *project,
                            const char *env)
{
    char url[300];
    snprintf(url, sizeof url, "/v1/namespaces/%s", path);
    struct th_resp r;
    th_call(&http, "GET", url, NULL, NULL, &r);
    expect_status(&r, 200, url);
    assert_string_equal(th_jstr(r.json, "name") ? th_jstr(r.json, "name") : "", path);
    assert_string_equal(th_jstr(r.json, "org") ? th_jstr(r.json, "org") : "", org);
    if (project != NULL)
        assert_string_equal(th_jstr(r.json, "project") ? th_jstr(r.json, "project") : "",
                            project);
    else
        assert_null(th_jpath(r.json, "project"));
    if (env != NULL)
        assert_string_equal(th_jstr(r.json, "env") ? th_jstr(r.json, "env") : "", env);
    else
        assert_null(th_jpath(r.json, "env"));
    assert_non_null(th_jstr(r.json, "created_at"));
    th_resp_free(&r);
}

static void test_namespaces(void **state)
{
    (void)state;
    struct th_resp r;
    th_call(&http, "POST", "/v1/namespaces", "{\"name\":\"" NS "\"}", NULL, &r);
    expect_status(&r, 201, "POST /v1/namespaces " NS);
    assert_string_equal(th_jstr(r.json, "name") ? th_jstr(r.json, "name") : "", NS);
    th_resp_free(&r);

    /* mkdir -p: the ancestors exist now */
    check_namespace("team-ai", "team-ai", NULL, NULL);
    check_namespace("team-ai/project-llm", "team-ai", "project-llm", NULL);
    check_namespace(NS, "team-ai", "project-llm", "dev");

    /* the same again is 409 already_exists, and so is an ancestor */
    th_call(&http, "POST", "/v1/namespaces", "{\"name\":\"" NS "\"}", NULL, &r);
    expect_error(&r, 409, "already_exists", "second POST /v1/namespaces " NS);
    th_resp_free(&r);
    th_call(&http, "POST", "/v1/namespaces", "{\"name\":\"team-ai\"}", NULL, &r);
    expect_error(&r, 409, "already_exists", "POST /v1/namespaces team-ai (created as parent)");
    th_resp_free(&r);

    th_call(&http, "POST", "/v1/namespaces", "{\"name\":\"" SIBLING_NS "\"}", NULL, &r);
    expect_status(&r, 201, "POST /v1/namespaces " SIBLING_NS);
    th_resp_free(&r);

    /* the list: sorted by name, count matches */
    th_call(&http, "GET", "/v1/namespaces", NULL, NULL, &r);
    expect_status(&r, 200, "GET /v1/namespaces");
    json_t *items = json_object_get(r.json, "items");
    assert_true(json_is_array(items));
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")),
                     json_array_size(items));
    const char *want[] = {"team-ai", "team-ai/project-llm", NS, SIBLING_NS};
    assert_int_equal(json_array_size(items), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(th_jstr(json_array_get(items, i), "name")
                                ? th_jstr(json_array_get(items, i), "name")
                                : "",
                            want[i]);
    th_resp_free(&r);
    TH_PASS();
}

static void test_namespace_delete(void **state)
{
    (void)state;
    struct th_resp r;
    th_call(&http, "POST", "/v1/namespaces", "{\"name\":\"team-ai/scratch\"}", NULL, &r);
    expect_status(&r, 201, "POST /v1/namespaces team-ai/scratch");
    th_resp_free(&r);
    /* a parent with children refuses */
    th_call(&http, "DELETE", "/v1/namespaces/team-ai", NULL, NULL, &r);
    expect_error(&r, 409, "conflict", "DELETE /v1/namespaces/team-ai (has children)");
    th_resp_free(&r);
    /* an empty leaf goes, and stays gone */
    th_call(&http, "DELETE", "/v1/namespaces/team-ai/scratch", NULL, NULL, &r);
    expect_status(&r, 200, "DELETE /v1/namespaces/team-ai/scratch");
    assert_string_equal(th_jstr(r.json, "name") ? th_jstr(r.json, "name") : "",
                        "team-ai/scratch");
    th_resp_free(&r);
    th_call(&http, "GET", "/v1/namespaces/team-ai/scratch", NULL, NULL, &r);
    expect_error(&r, 404, "not_found", "GET deleted namespace");
    th_resp_free(&r);
    th_call(&http, "DELETE", "/v1/namespaces/team-ai/scratch", NULL, NULL, &r);
    expect_error(&r, 404, "not_found", "DELETE deleted namespace again");
    th_resp_free(&r);
    TH_PASS();
}

static void test_submit_yaml_every_field(void **state)
{
    (void)state;
    struct th_resp r;
    th_call(&http, "POST", "/v1/jobs", JOB_A_YAML, "application/yaml", &r);
    expect_status(&r, 201, "POST /v1/jobs (YAML, job A)");
    check_job(r.json, JOB_A_JSON, "Pending", "POST reply, job A");
    json_int_t id = json_integer_value(json_object_get(r.json, "id"));
    th_resp_free(&r);

    th_call(&http, "GET", "/v1/jobs/llm-finetune?namespace=" NS, NULL, NULL, &r);
    expect_status(&r, 200, "GET job A");
    check_job(r.json, JOB_A_JSON, "Pending", "GET job A");
    assert_int_equal(json_integer_value(json_object_get(r.json, "id")), id);
    assert_true(json_is_null(th_jpath(r.json, "status.finished_at")));
    assert_int_equal(json_integer_value(th_jpath(r.json, "status.restarts")), 0);
    th_resp_free(&r);

    /* the namespace may also be written URL-encoded */
    th_call(&http, "GET", "/v1/jobs/llm-finetune?namespace=" NS_Q, NULL, NULL, &r);
    expect_status(&r, 200, "GET job A (namespace URL-encoded)");
    assert_string_equal(th_jstr(r.json, "name") ? th_jstr(r.json, "name") : "",
                        "llm-finetune");
    th_resp_free(&r);
    TH_PASS();
}

static void test_submit_json(void **state)
{
    (void)state;
    struct th_resp r;
    th_call(&http, "POST", "/v1/jobs", JOB_B_JSON, "application/json", &r);
    expect_status(&r, 201, "POST /v1/jobs (JSON, job B)");
    check_job(r.json, JOB_B_JSON, "Pending", "POST reply, job B");
    th_resp_free(&r);

    th_call(&http, "GET", "/v1/jobs/notebook-small?namespace=" NS, NULL, NULL, &r);
    expect_status(&r, 200, "GET job B");
    check_job(r.json, JOB_B_JSON, "Pending", "GET job B");
    job_b_before = json_incref(r.json);
    th_resp_free(&r);
    TH_PASS();
}

static void test_submit_defaults(void **state)
{
    (void)state;
    struct th_resp r;
    th_call(&http, "POST", "/v1/jobs?namespace=" NS, JOB_D_JSON, NULL, &r);
    expect_status(&r, 201, "POST /v1/jobs?namespace=NS (job D, defaults)");
    th_resp_free(&r);

    th_call(&http, "GET", "/v1/jobs/defaults?namespace=" NS, NULL, NULL, &r);
    expect_status(&r, 200, "GET job D");
    check_job(r.json, JOB_D_JSON, "Pending", "GET job D");
    assert_string_equal(th_jstr(r.json, "namespace") ? th_jstr(r.json, "namespace") : "", NS);
    assert_string_equal(th_jstr(r.json, "priority") ? th_jstr(r.json, "priority") : "",
                        "normal");
    assert_int_equal(json_integer_value(json_object_get(r.json, "replicas")), 1);
    job_d_before = json_incref(r.json);
    th_resp_free(&r);
    TH_PASS();
}

/* Names of the jobs in a list reply, in order, joined by ','. */
static void list_names(const char *path, char *out, size_t out_size)
{
    struct th_resp r;
    th_call(&http, "GET", path, NULL, NULL, &r);
    expect_status(&r, 200, path);
    json_t *items = json_object_get(r.json, "items");
    assert_true(json_is_array(items));
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")),
                     json_array_size(items));
    out[0] = '\0';
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        size_t n = strlen(out);
        snprintf(out + n, out_size - n, "%s%s/%s", i ? "," : "", th_jstr(item, "namespace"),
                 th_jstr(item, "name"));
    }
    th_resp_free(&r);
}

static void test_list_subtree(void **state)
{
    (void)state;
    char names[4096];
    /* in submission (job id) order */
    const char *want = NS "/llm-finetune," NS "/notebook-small," NS "/defaults";
    list_names("/v1/jobs?namespace=team-ai", names, sizeof names);
    if (strcmp(names, want) != 0)
        th_note("?namespace=team-ai lists [%s], expected [%s]", names, want);
    assert_string_equal(names, want);
    list_names("/v1/jobs?namespace=team-ai/project-llm", names, sizeof names);
    assert_string_equal(names, want);
    list_names("/v1/jobs?namespace=" NS, names, sizeof names);
    assert_string_equal(names, want);
    list_names("/v1/jobs", names, sizeof names);
    assert_string_equal(names, want);
    /* a sibling subtree holds none of them */
    list_names("/v1/jobs?namespace=" SIBLING_NS, names, sizeof names);
    if (names[0] != '\0')
        th_note("?namespace=" SIBLING_NS " lists [%s], expected nothing", names);
    assert_string_equal(names, "");
    TH_PASS();
}

static void test_events(void **state)
{
    (void)state;
    struct th_resp r;
    th_call(&http, "GET", "/v1/jobs/llm-finetune/events?namespace=" NS, NULL, NULL, &r);
    expect_status(&r, 200, "GET job A events");
    json_t *items = json_object_get(r.json, "items");
    assert_true(json_is_array(items));
    assert_true(json_array_size(items) >= 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")),
                     json_array_size(items));
    size_t i;
    json_t *ev;
    json_array_foreach(items, i, ev)
    {
        assert_non_null(th_jstr(ev, "time"));
        assert_non_null(th_jstr(ev, "type"));
        assert_non_null(th_jstr(ev, "message"));
    }
    th_resp_free(&r);
    TH_PASS();
}

static void test_cancel(void **state)
{
    (void)state;
    struct th_resp r;
    th_call(&http, "POST", "/v1/jobs/llm-finetune/cancel?namespace=" NS, NULL, NULL, &r);
    expect_status(&r, 200, "cancel job A");
    check_job(r.json, JOB_A_JSON, "Cancelled", "cancel reply, job A");
    assert_non_null(th_jstr(r.json, "status.finished_at"));
    th_resp_free(&r);

    th_call(&http, "GET", "/v1/jobs/llm-finetune?namespace=" NS, NULL, NULL, &r);
    expect_status(&r, 200, "GET job A after cancel");
    check_job(r.json, JOB_A_JSON, "Cancelled", "GET job A after cancel");
    th_resp_free(&r);

    th_call(&http, "POST", "/v1/jobs/llm-finetune/cancel?namespace=" NS, NULL, NULL, &r);
    expect_error(&r, 409, "conflict", "second cancel of job A");
    th_resp_free(&r);
    TH_PASS();
}

static void test_delete(void **state)
{
    (void)state;
    struct th_resp r;
    th_call(&http, "DELETE", "/v1/jobs/llm-finetune?namespace=" NS, NULL, NULL, &r);
    expect_status(&r, 200, "DELETE job A");
    check_job(r.json, JOB_A_JSON, "Cancelled", "DELETE reply, job A");
    th_resp_free(&r);

    th_call(&http, "GET", "/v1/jobs/llm-finetune?namespace=" NS, NULL, NULL, &r);
    expect_error(&r, 404, "not_found", "GET job A after delete");
    th_resp_free(&r);

    th_call(&http, "DELETE", "/v1/jobs/llm-finetune?namespace=" NS, NULL, NULL, &r);
    expect_error(&r, 404, "not_found", "DELETE job A again");
    th_resp_free(&r);

    char names[4096];
    list_names("/v1/jobs?namespace=team-ai", names, sizeof names);
    assert_string_equal(names, NS "/notebook-small," NS "/defaults");
    TH_PASS();
}

static void test_nodes(void **state)
{
    (void)state;
    struct th_resp r;
    th_call(&http, "GET", "/v1/nodes", NULL, NULL, &r);
    expect_status(&r, 200, "GET /v1/nodes");
    json_t *items = json_object_get(r.json, "items");
    assert_true(json_is_array(items));
    assert_true(json_array_size(items) >= 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")),
                     json_array_size(items));
    size_t gpus = 0, i;
    json_t *node;
    json_array_foreach(items, i, node)
    {
        assert_non_null(th_jstr(node, "name"));
        assert_non_null(th_jstr(node, "state"));
        json_t *g = json_object_get(node, "gpus");
        assert_true(json_is_array(g));
        gpus += json_array_size(g);
        size_t k;
        json_t *gpu;
        json_array_foreach(g, k, gpu)
        {
            assert_true(json_is_integer(json_object_get(gpu, "index")));
            assert_non_null(th_jstr(gpu, "uuid"));
            assert_non_null(th_jstr(gpu, "model"));
        }
    }
    if (gpus == 0)
        th_note("no node reports any GPU: %.500s", r.body);
    assert_true(gpus > 0);

    char path[200];
    const char *first = th_jstr(json_array_get(items, 0), "name");
    snprintf(path, sizeof path, "/v1/nodes/%s", first);
    struct th_resp one;
    th_call(&http, "GET", path, NULL, NULL, &one);
    expect_status(&one, 200, path);
    assert_true(json_equal(json_object_get(one.json, "name"),
                           json_object_get(json_array_get(items, 0), "name")));
    th_resp_free(&one);
    th_resp_free(&r);

    th_call(&http, "GET", "/v1/nodes/local", NULL, NULL, &r);
    expect_status(&r, 200, "GET /v1/nodes/local (the default node)");
    th_resp_free(&r);
    TH_PASS();
}

/* One connection serves many requests, error replies included. */
static void test_keep_alive(void **state)
{
    (void)state;
    struct th_http h;
    assert_int_equal(th_http_init(&h, &srv), 0);
    struct {
        const char *method, *path, *body;
        long status;
    } seq[] = {
        {"GET", "/healthz", NULL, 200},
        {"GET", "/v1/namespaces", NULL, 200},
        {"POST", "/v1/jobs", "{\"kind\":\"Job\",\"name\":\"keepalive\",\"namespace\":\"" NS
                             "\",\"selector\":{\"" UNMATCHED_LABEL "\":\"yes\"},"
                             "\"command\":[\"true\"]}",
         201},
        {"GET", "/v1/jobs/keepalive?namespace=" NS, NULL, 200},
        {"GET", "/v1/jobs/nope?namespace=" NS, NULL, 404},
        {"POST", "/v1/jobs", "{\"kind\":\"Job\",\"name\":\"x\",\"bogus\":1}", 422},
        {"POST", "/v1/jobs", "{not json", 400},
        {"POST", "/v1/jobs/keepalive/cancel?namespace=" NS, NULL, 200},
        {"DELETE", "/v1/jobs/keepalive?namespace=" NS, NULL, 200},
        {"PUT", "/v1/jobs", NULL, 405},
        {"GET", "/v1/nodes", NULL, 200},
    };
    long opened = 0;
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        struct th_resp r;
        th_call(&h, seq[i].method, seq[i].path, seq[i].body, NULL, &r);
        expect_status(&r, seq[i].status, seq[i].path);
        if (i > 0 && r.new_connections > 0)
            th_note("%s %s (HTTP %ld) needed a new connection: the previous reply closed it",
                    seq[i].method, seq[i].path, r.status);
        opened += r.new_connections;
        th_resp_free(&r);
    }
    th_http_free(&h);
    assert_int_equal(opened, 1);
    TH_PASS();
}

/* ---- CLI -------------------------------------------------------------------- */

static int run_cli(char *const argv[], char **out)
{
    char *err = NULL;
    int rc = th_run_capture(argv, out, &err, 20000);
    if (rc != 0) {
        th_note("command failed (exit %d):", rc);
        for (int i = 0; argv[i] != NULL; i++)
            th_note("  argv[%d] = %s", i, argv[i]);
        th_note("stdout: %.1000s", *out != NULL ? *out : "");
        th_note("stderr: %.1000s", err != NULL ? err : "");
    }
    free(err);
    return rc;
}

static void cli_get_job_json(const char *name, json_t **ret)
{
    char *bin = (char *)th_server_bin();
    char *out = NULL;
    char *argv[] = {bin,         "get",         "job",      (char *)name, "-o", "json",
                    "--server",  srv.url,       "--token",  srv.token,    "-n", NS,
                    NULL};
    int rc = run_cli(argv, &out);
    assert_int_equal(rc, 0);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (j == NULL)
        th_note("`gpuaas get job %s -o json` printed no JSON (%s): %.1000s", name, jerr.text,
                out);
    free(out);
    assert_non_null(j);
    *ret = j;
}

static void test_cli_get_job_json(void **state)
{
    (void)state;
    json_t *cli = NULL;
    cli_get_job_json("notebook-small", &cli);
    check_job(cli, JOB_B_JSON, "Pending", "CLI get job B -o json");
    assert_true(json_equal(json_object_get(cli, "id"), json_object_get(job_b_before, "id")));
    json_decref(cli);
    TH_PASS();
}

/* A MIG profile that GET /v1/nodes lists, or "" if none. */
static void offered_mig_profile(char *out, size_t out_size)
{
    out[0] = '\0';
    struct th_resp r;
    th_call(&http, "GET", "/v1/nodes", NULL, NULL, &r);
    size_t i, k, m;
    json_t *node, *gpu, *dev;
    json_array_foreach(json_object_get(r.json, "items"), i, node)
    {
        json_array_foreach(json_object_get(node, "gpus"), k, gpu)
        {
            json_array_foreach(json_object_get(gpu, "mig_devices"), m, dev)
            {
                const char *p = th_jstr(dev, "profile");
                if (p != NULL && out[0] == '\0')
                    snprintf(out, out_size, "%s", p);
            }
        }
    }
    th_resp_free(&r);
}

static char job_c_json[2048];

static void test_cli_submit(void **state)
{
    (void)state;
    char profile[64];
    offered_mig_profile(profile, sizeof profile);
    if (profile[0] == '\0')
        th_note("no node offers a MIG device; job C asks for 1g.10gb");
    char yaml[2048];
    snprintf(yaml, sizeof yaml, JOB_C_YAML, profile[0] ? profile : "1g.10gb");
    snprintf(job_c_json, sizeof job_c_json, JOB_C_JSON, profile[0] ? profile : "1g.10gb");
    char file[700];
    snprintf(file, sizeof file, "%s/job-c.yaml", srv.data_dir);
    assert_int_equal(th_write_file(file, yaml), 0);
    char *bin = (char *)th_server_bin();
    char *out = NULL;
    char *argv[] = {bin,     "submit",  "-f",      file, "--server", srv.url,
                    "--token", srv.token, "-n", NS,   NULL};
    int rc = run_cli(argv, &out);
    free(out);
    assert_int_equal(rc, 0);

    struct th_resp r;
    th_call(&http, "GET", "/v1/jobs/mig-inference?namespace=" NS, NULL, NULL, &r);
    expect_status(&r, 200, "GET job C (submitted by the CLI)");
    check_job(r.json, job_c_json, "Pending", "GET job C");

    json_t *cli = NULL;
    cli_get_job_json("mig-inference", &cli);
    check_job(cli, job_c_json, "Pending", "CLI get job C -o json");
    assert_true(json_equal(json_object_get(cli, "id"), json_object_get(r.json, "id")));
    json_decref(cli);
    th_resp_free(&r);
    TH_PASS();
}

/* ---- shutdown and restart ----------------------------------------------------- */

static void test_sigterm_exits_zero(void **state)
{
    (void)state;
    assert_int_equal(th_server_stop(&srv), 0);
    TH_PASS();
}

static void same_job(json_t *before, const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "/v1/jobs/%s?namespace=%s", name, NS);
    struct th_resp r;
    th_call(&http, "GET", path, NULL, NULL, &r);
    expect_status(&r, 200, path);
    assert_non_null(before);
    /* every spec member and the id as before */
    json_t *want = json_deep_copy(before);
    json_object_del(want, "status");
    assert_members_equal(want, r.json, "job after restart");
    json_decref(want);
    json_t *status_want = json_object_get(before, "status");
    json_t *status_got = json_object_get(r.json, "status");
    const char *keys[] = {"state", "created_at", "restarts", "finished_at"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (!json_equal(json_object_get(status_want, keys[i]),
                        json_object_get(status_got, keys[i])))
            th_note("status.%s changed across the restart", keys[i]);
        assert_true(json_equal(json_object_get(status_want, keys[i]),
                               json_object_get(status_got, keys[i])));
    }
    th_resp_free(&r);
}

static void test_restart_keeps_state(void **state)
{
    (void)state;
    assert_int_equal(th_server_restart(&srv), 0);
    th_http_retarget(&http, &srv);

    check_namespace("team-ai", "team-ai", NULL, NULL);
    check_namespace("team-ai/project-llm", "team-ai", "project-llm", NULL);
    check_namespace(NS, "team-ai", "project-llm", "dev");
    check_namespace(SIBLING_NS, "team-ai", "project-llm", "prod");
    struct th_resp gone;
    th_call(&http, "GET", "/v1/namespaces/team-ai/scratch", NULL, NULL, &gone);
    expect_error(&gone, 404, "not_found", "deleted namespace after restart");
    th_resp_free(&gone);

    same_job(job_b_before, "notebook-small");
    same_job(job_d_before, "defaults");

    struct th_resp r;
    th_call(&http, "GET", "/v1/jobs/llm-finetune?namespace=" NS, NULL, NULL, &r);
    expect_error(&r, 404, "not_found", "deleted job A after restart");
    th_resp_free(&r);

    /* the namespace still refuses a duplicate, and a new job gets an id no
     * other job has */
    th_call(&http, "POST", "/v1/namespaces", "{\"name\":\"" NS "\"}", NULL, &r);
    expect_error(&r, 409, "already_exists", "POST existing namespace after restart");
    th_resp_free(&r);
    th_call(&http, "POST", "/v1/jobs", JOB_A_YAML, "application/yaml", &r);
    expect_status(&r, 201, "POST job A again after restart");
    json_t *new_id = json_object_get(r.json, "id");
    assert_false(json_equal(new_id, json_object_get(job_b_before, "id")));
    assert_false(json_equal(new_id, json_object_get(job_d_before, "id")));
    th_resp_free(&r);
    TH_PASS();
}

/* SIGINT is a clean stop too */
static void test_sigint_after_restart(void **state)
{
    (void)state;
    assert_int_equal(th_server_stop_with(&srv, SIGINT), 0);
    TH_PASS();
}

#define T(f) cmocka_unit_test_setup_teardown(f, th_setup_mark, th_teardown_report)

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        T(test_health_and_token),   T(test_namespaces),      T(test_namespace_delete),
        T(test_submit_yaml_every_field),
        T(test_submit_json),        T(test_submit_defaults), T(test_list_subtree),
        T(test_events),             T(test_cancel),          T(test_delete),
        T(test_nodes),              T(test_keep_alive),      T(test_cli_get_job_json),
        T(test_cli_submit),
        T(test_sigterm_exits_zero), T(test_restart_keeps_state),
        T(test_sigint_after_restart),
    };
    int rc = cmocka_run_group_tests_name("roundtrip", tests, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
