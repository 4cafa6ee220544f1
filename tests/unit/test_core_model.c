/* Unit tests for src/core/model.c and render.c: namespaces, jobs, nodes,
 * restore, time formatting and determinism of core_apply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/model.h"
#include "gpuaas/error.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Every spec field, as in docs/api.md. */
#define FULL_SPEC                                                                                  \
    "{\"kind\":\"Job\",\"name\":\"llm-finetune\",\"namespace\":\"team-ai/project-llm/dev\","    \
    "\"priority\":\"high\",\"replicas\":2,"                                                        \
    "\"resources\":{\"gpus\":2,\"cpu\":8,\"memory\":\"32Gi\"},"                                    \
    "\"selector\":{\"gpuaas.io/gpu-model\":\"A100\"},"                                             \
    "\"command\":[\"python3\",\"train.py\"],\"env\":{\"WANDB_MODE\":\"offline\"},"                 \
    "\"workdir\":\"/data/llm\",\"max_runtime\":\"4h\","                                            \
    "\"restart\":{\"policy\":\"OnFailure\",\"limit\":3}}"

/* 2026-11-25T16:00:00.123Z */
#define T0 1795622400123LL

#define NODE_JSON                                                                                   \
    "{\"name\":\"gpu-node-1\",\"state\":\"Ready\","                                                 \
    "\"labels\":{\"gpuaas.io/gpu-model\":\"A100\",\"zone\":\"eu-1\"},"                              \
    "\"cpu\":\"48\",\"memory\":\"192Gi\","                                                          \
    "\"gpus\":[{\"index\":0,\"uuid\":\"GPU-0\",\"model\":\"A100\",\"memory\":\"80Gi\","             \
    "\"mig_mode\":false,\"mig_devices\":[]},"                                                       \
    "{\"index\":1,\"uuid\":\"GPU-1\",\"model\":\"A100\",\"memory\":\"80Gi\",\"mig_mode\":true,"     \
    "\"mig_devices\":[{\"profile\":\"1g.10gb\",\"uuid\":\"MIG-1a\"},"                               \
    "{\"profile\":\"3g.40gb\",\"uuid\":\"MIG-1b\"}]}]}"

struct fixture {
    struct core_state st;
    struct core_effects fx;
    struct core_reply reply;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    core_state_init(&f->st);
    core_effects_init(&f->fx);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    core_reply_clear(&f->reply);
    core_effects_free(&f->fx);
    core_state_free(&f->st);
    free(f);
    return 0;
}

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j)
        fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
    return j;
}

static struct core_cmd *cmd_new(enum core_cmd_kind kind)
{
    struct core_cmd *cmd = calloc(1, sizeof *cmd);
    assert_non_null(cmd);
    cmd->kind = kind;
    return cmd;
}

/* Applies cmd to f's state; the previous reply is released first. */
static int apply(struct fixture *f, struct core_cmd *cmd, int64_t now)
{
    core_reply_clear(&f->reply);
    int r = core_apply(&f->st, cmd, now, &f->fx, &f->reply);
    assert_int_equal(r, f->reply.err);
    if (r < 0) {
        /* on error: no effects, no object, a message */
        assert_int_equal(f->fx.count, 0);
        assert_null(f->reply.object);
        assert_true(f->reply.message[0] != '\0');
    } else {
        if (f->reply.text) {
            /* a reply made as text (submit) must be the JSON the object form gives */
            json_error_t jerr;
            assert_null(f->reply.object);
            f->reply.object = json_loadb(f->reply.text, f->reply.text_len, JSON_REJECT_DUPLICATES, &jerr);
            if (!f->reply.object)
                fail_msg("reply text is not JSON: %s: %s", jerr.text, f->reply.text);
            const struct core_job *job = core_find_job(&f->st, json_string_value(json_object_get(f->reply.object, "namespace")),
                                                       json_string_value(json_object_get(f->reply.object, "name")));
            assert_non_null(job);
            json_t *rendered = core_render_job(job);
            assert_true(json_equal(rendered, f->reply.object));
            json_decref(rendered);
            free(f->reply.text);
            f->reply.text = NULL;
        }
        assert_non_null(f->reply.object);
    }
    return r;
}

static int ns_cmd(struct fixture *f, enum core_cmd_kind kind, const char *path, int64_t now)
{
    struct core_cmd *cmd = cmd_new(kind);
    snprintf(cmd->namespace_path, sizeof cmd->namespace_path, "%s", path);
    int r = apply(f, cmd, now);
    core_cmd_clear(cmd);
    free(cmd);
    return r;
}

static int ns_create(struct fixture *f, const char *path, int64_t now)
{
    return ns_cmd(f, CORE_CMD_NAMESPACE_CREATE, path, now);
}

static int ns_delete(struct fixture *f, const char *path, int64_t now)
{
    return ns_cmd(f, CORE_CMD_NAMESPACE_DELETE, path, now);
}

/* Submits a spec (JSON text; namespace from the spec or default_ns).
 * *ret_taken (may be NULL) tells whether core_apply took the document. */
static int submit_ns(struct fixture *f, const char *spec_json, const char *default_ns, int64_t now, int *ret_taken)
{
    json_t *in = load(spec_json);
    struct core_cmd *cmd = cmd_new(CORE_CMD_JOB_SUBMIT);
    struct spec_error err;
    int r = spec_parse_job(in, default_ns, &cmd->job, &err);
    if (r != 0)
        fail_msg("test spec invalid at '%s': %s", err.field, err.message);
    r = apply(f, cmd, now);
    if (ret_taken)
        *ret_taken = cmd->job.document == NULL;
    /* the command keeps the document on failure, gives it up on success */
    assert_int_equal(cmd->job.document == NULL, r == 0);
    core_cmd_clear(cmd);
    free(cmd);
    json_decref(in);
    return r;
}

static int submit(struct fixture *f, const char *ns, const char *name, int64_t now)
{
    char text[256];
    snprintf(text, sizeof text, "{\"name\":\"%s\",\"command\":[\"sleep\",\"1\"]}", name);
    return submit_ns(f, text, ns, now, NULL);
}

static int job_cmd(struct fixture *f, enum core_cmd_kind kind, const char *ns, const char *name, int64_t now)
{
    struct core_cmd *cmd = cmd_new(kind);
    snprintf(cmd->namespace_path, sizeof cmd->namespace_path, "%s", ns);
    snprintf(cmd->name, sizeof cmd->name, "%s", name);
    int r = apply(f, cmd, now);
    core_cmd_clear(cmd);
    free(cmd);
    return r;
}

static int node_from_text(const char *text, struct core_node *node, char *err, size_t err_size)
{
    json_t *j = load(text);
    int r = core_node_from_json(j, node, err, err_size);
    json_decref(j);
    return r;
}

static int node_put(struct fixture *f, const char *text, int64_t now)
{
    struct core_cmd *cmd = cmd_new(CORE_CMD_NODE_PUT);
    char err[256];
    cmd->node = malloc(sizeof *cmd->node);
    assert_non_null(cmd->node);
    int r = node_from_text(text, cmd->node, err, sizeof err);
    if (r != 0)
        fail_msg("test node invalid: %s", err);
    r = apply(f, cmd, now);
    core_cmd_clear(cmd);
    free(cmd);
    return r;
}

static const char *obj_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s)
        fail_msg("no string '%s'", key);
    return s;
}

static const char *status_str(const json_t *job, const char *key)
{
    return obj_str(json_object_get(job, "status"), key);
}

static char *dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    return s;
}

/* ---- namespaces ----------------------------------------------------------- */

static void test_namespace_create_makes_parents(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(ns_create(f, "a/b/c", 1000), 0);
    assert_int_equal(f->fx.count, 3);
    static const char *const want[] = {"a", "a/b", "a/b/c"};
    for (unsigned i = 0; i < 3; i++) {
        const struct core_effect *e = &f->fx.items[i];
        assert_int_equal(e->kind, CORE_EFFECT_NAMESPACE_PUT);
        assert_non_null(e->ns);
        assert_string_equal(e->ns->path, want[i]);
        assert_int_equal(e->ns->depth, (int)i + 1);
        assert_int_equal(e->ns->created_ms, 1000);
        assert_ptr_equal(e->ns, core_find_namespace(&f->st, want[i]));
    }
    assert_int_equal(f->st.namespaces.count, 3);
    assert_int_equal(core_find_namespace(&f->st, "a")->children, 1);
    assert_int_equal(core_find_namespace(&f->st, "a/b")->children, 1);
    assert_int_equal(core_find_namespace(&f->st, "a/b/c")->children, 0);

    /* the reply is the namespace asked for */
    json_t *want_obj = load("{\"name\":\"a/b/c\",\"org\":\"a\",\"project\":\"b\",\"env\":\"c\","
                            "\"created_at\":\"1970-01-01T00:00:01.000Z\"}");
    assert_true(json_equal(f->reply.object, want_obj));
    json_decref(want_obj);

    /* a sibling: only the missing level is created */
    assert_int_equal(ns_create(f, "a/b/d", 2000), 0);
    assert_int_equal(f->fx.count, 1);
    assert_int_equal(f->fx.items[0].kind, CORE_EFFECT_NAMESPACE_PUT);
    assert_string_equal(f->fx.items[0].ns->path, "a/b/d");
    assert_int_equal(core_find_namespace(&f->st, "a/b")->children, 2);
    assert_int_equal(core_find_namespace(&f->st, "a")->created_ms, 1000);

    /* two levels missing under an existing org */
    assert_int_equal(ns_create(f, "a/x/y", 3000), 0);
    assert_int_equal(f->fx.count, 2);
    assert_string_equal(f->fx.items[0].ns->path, "a/x");
    assert_string_equal(f->fx.items[1].ns->path, "a/x/y");
    assert_int_equal(core_find_namespace(&f->st, "a")->children, 2);
    assert_int_equal(core_find_namespace(&f->st, "a/x")->children, 1);

    /* a top-level namespace: no project/env in the reply */
    assert_int_equal(ns_create(f, "q", T0), 0);
    assert_int_equal(f->fx.count, 1);
    want_obj = load("{\"name\":\"q\",\"org\":\"q\",\"created_at\":\"2026-11-25T16:00:00.123Z\"}");
    assert_true(json_equal(f->reply.object, want_obj));
    json_decref(want_obj);

    /* an existing parent can get a new child at depth 2 */
    assert_int_equal(ns_create(f, "q/p", T0), 0);
    assert_int_equal(f->fx.count, 1);
    want_obj = load("{\"name\":\"q/p\",\"org\":\"q\",\"project\":\"p\",\"created_at\":\"2026-11-25T16:00:00.123Z\"}");
    assert_true(json_equal(f->reply.object, want_obj));
    json_decref(want_obj);
    assert_int_equal(f->st.namespaces.count, 8);
}

static void test_namespace_create_errors(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(ns_create(f, "a/b", 1000), 0);

    assert_int_equal(ns_create(f, "a/b", 2000), GPUAAS_EEXIST);
    assert_string_equal(f->reply.field, "name");
    assert_int_equal(ns_create(f, "a", 2000), GPUAAS_EEXIST);
    assert_int_equal(f->st.namespaces.count, 2);
    assert_int_equal(core_find_namespace(&f->st, "a")->children, 1);
    assert_int_equal(core_find_namespace(&f->st, "a/b")->created_ms, 1000);

    static const char *const bad[] = {"", "A", "a/b/c/d", "a//b", "/a", "a/", "..", "a/../b", "-a", "a_b"};
    for (size_t i = 0; i < N(bad); i++) {
        int r = ns_create(f, bad[i], 3000);
        if (r != GPUAAS_EINVAL)
            fail_msg("\"%s\": want EINVAL, got %d", bad[i], r);
        assert_string_equal(f->reply.field, "name");
    }
    assert_int_equal(f->st.namespaces.count, 2);
    assert_null(core_find_namespace(&f->st, "a/b/c"));
}

static void test_namespace_delete(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(ns_create(f, "a/b/c", 1000), 0);
    assert_int_equal(ns_create(f, "a/b/d", 1000), 0);

    /* with children: conflict, nothing changes */
    assert_int_equal(ns_delete(f, "a/b", 2000), GPUAAS_ECONFLICT);
    assert_int_equal(ns_delete(f, "a", 2000), GPUAAS_ECONFLICT);
    assert_int_equal(f->st.namespaces.count, 4);
    assert_int_equal(core_find_namespace(&f->st, "a/b")->children, 2);

    assert_int_equal(ns_delete(f, "nope", 2000), GPUAAS_ENOTFOUND);
    assert_int_equal(ns_delete(f, "a/b/x", 2000), GPUAAS_ENOTFOUND);

    /* a leaf goes; the effect names it; the parent loses a child */
    assert_int_equal(ns_delete(f, "a/b/c", 3000), 0);
    assert_int_equal(f->fx.count, 1);
    assert_int_equal(f->fx.items[0].kind, CORE_EFFECT_NAMESPACE_DELETE);
    assert_string_equal(f->fx.items[0].path, "a/b/c");
    assert_string_equal(obj_str(f->reply.object, "name"), "a/b/c");
    assert_null(core_find_namespace(&f->st, "a/b/c"));
    assert_int_equal(core_find_namespace(&f->st, "a/b")->children, 1);
    assert_int_equal(ns_delete(f, "a/b/c", 3000), GPUAAS_ENOTFOUND);

    assert_int_equal(ns_delete(f, "a/b", 4000), GPUAAS_ECONFLICT);
    assert_int_equal(ns_delete(f, "a/b/d", 4000), 0);
    assert_int_equal(ns_delete(f, "a/b", 5000), 0);
    assert_string_equal(f->fx.items[0].path, "a/b");
    assert_int_equal(core_find_namespace(&f->st, "a")->children, 0);
    assert_int_equal(ns_delete(f, "a", 6000), 0);
    assert_int_equal(f->st.namespaces.count, 0);

    /* and it can be made again */
    assert_int_equal(ns_create(f, "a/b", 7000), 0);
    assert_int_equal(f->fx.count, 2);
}

static void test_namespace_delete_with_jobs(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(ns_create(f, "a/b", 1000), 0);
    assert_int_equal(submit(f, "a/b", "j1", 2000), 0);
    assert_int_equal(submit(f, "a", "j2", 2000), 0);
    assert_int_equal(core_find_namespace(&f->st, "a/b")->jobs, 1);
    assert_int_equal(core_find_namespace(&f->st, "a")->jobs, 1);

    assert_int_equal(ns_delete(f, "a/b", 3000), GPUAAS_ECONFLICT);
    assert_non_null(core_find_namespace(&f->st, "a/b"));
    assert_int_equal(job_cmd(f, CORE_CMD_JOB_DELETE, "a/b", "j1", 4000), 0);
    assert_int_equal(core_find_namespace(&f->st, "a/b")->jobs, 0);
    assert_int_equal(ns_delete(f, "a/b", 5000), 0);

    /* "a" has no children now but still a job */
    assert_int_equal(ns_delete(f, "a", 5000), GPUAAS_ECONFLICT);
    assert_int_equal(job_cmd(f, CORE_CMD_JOB_CANCEL, "a", "j2", 6000), 0);
    assert_int_equal(ns_delete(f, "a", 6000), GPUAAS_ECONFLICT); /* a finished job still counts */
    assert_int_equal(job_cmd(f, CORE_CMD_JOB_DELETE, "a", "j2", 7000), 0);
    assert_int_equal(ns_delete(f, "a", 8000), 0);
    assert_int_equal(f->st.namespaces.count, 0);
    assert_int_equal(f->st.jobs.count, 0);
}

static void test_list_namespaces(void **state)
{
    struct fixture *f = *state;
    static const char *const create[] = {"b/y", "a/x/2", "ab", "a/x/1", "c"};
    for (size_t i = 0; i < N(create); i++)
        assert_int_equal(ns_create(f, create[i], 1000), 0);

    json_t *all = core_list_namespaces(&f->st, NULL);
    static const char *const want_all[] = {"a", "a/x", "a/x/1", "a/x/2", "ab", "b", "b/y", "c"};
    assert_int_equal(json_integer_value(json_object_get(all, "count")), N(want_all));
    json_t *items = json_object_get(all, "items");
    assert_int_equal(json_array_size(items), N(want_all));
    for (size_t i = 0; i < N(want_all); i++)
        assert_string_equal(obj_str(json_array_get(items, i), "name"), want_all[i]);
    json_t *empty_prefix = core_list_namespaces(&f->st, "");
    assert_true(json_equal(all, empty_prefix));
    json_decref(empty_prefix);
    json_decref(all);

    json_t *sub = core_list_namespaces(&f->st, "a");
    items = json_object_get(sub, "items");
    assert_int_equal(json_integer_value(json_object_get(sub, "count")), 4);
    assert_int_equal(json_array_size(items), 4);
    assert_string_equal(obj_str(json_array_get(items, 0), "name"), "a");
    assert_string_equal(obj_str(json_array_get(items, 3), "name"), "a/x/2");
    json_decref(sub);

    sub = core_list_namespaces(&f->st, "zzz");
    assert_int_equal(json_integer_value(json_object_get(sub, "count")), 0);
    assert_int_equal(json_array_size(json_object_get(sub, "items")), 0);
    json_decref(sub);
}

/* ---- jobs ----------------------------------------------------------------- */

static void test_job_submit_missing_namespace(void **state)
{
    struct fixture *f = *state;
    int taken = -1;
    assert_int_equal(submit_ns(f, FULL_SPEC, NULL, T0, &taken), GPUAAS_ENOTFOUND);
    assert_false(taken);
    assert_string_equal(f->reply.field, "namespace");
    assert_int_equal(f->st.jobs.count, 0);
    assert_int_equal(f->st.next_job_id, 1);
    /* a parent is not enough */
    assert_int_equal(ns_create(f, "team-ai/project-llm", T0), 0);
    assert_int_equal(submit_ns(f, FULL_SPEC, NULL, T0, NULL), GPUAAS_ENOTFOUND);
    assert_int_equal(f->st.jobs.count, 0);
    assert_int_equal(f->st.next_job_id, 1);
    assert_int_equal(core_find_namespace(&f->st, "team-ai/project-llm")->jobs, 0);
}

static void test_job_submit_success(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(ns_create(f, "team-ai/project-llm/dev", T0 - 5000), 0);
    int taken = 0;
    assert_int_equal(submit_ns(f, FULL_SPEC, NULL, T0, &taken), 0);
    assert_true(taken);

    /* state */
    const struct core_job *job = core_find_job(&f->st, "team-ai/project-llm/dev", "llm-finetune");
    assert_non_null(job);
    assert_int_equal(job->id, 1);
    assert_int_equal(job->state, JOB_PENDING);
    assert_int_equal(job->created_ms, T0);
    assert_int_equal(job->updated_ms, T0);
    assert_int_equal(job->finished_ms, 0);
    assert_int_equal(job->restarts, 0);
    assert_int_equal(job->spec.replicas, 2);
    assert_int_equal(job->spec.resources.gpus, 2);
    assert_int_equal(f->st.jobs.count, 1);
    assert_int_equal(f->st.next_job_id, 2);
    assert_int_equal(core_find_namespace(&f->st, "team-ai/project-llm/dev")->jobs, 1);
    assert_int_equal(core_find_namespace(&f->st, "team-ai/project-llm")->jobs, 0);

    /* effects: the job, then its event */
    assert_int_equal(f->fx.count, 2);
    assert_int_equal(f->fx.items[0].kind, CORE_EFFECT_JOB_PUT);
    assert_ptr_equal(f->fx.items[0].job, job);
    assert_int_equal(f->fx.items[1].kind, CORE_EFFECT_EVENT);
    assert_int_equal(f->fx.items[1].job_id, 1);
    assert_int_equal(f->fx.items[1].at_ms, T0);
    assert_string_equal(f->fx.items[1].event_type, "Submitted");
    assert_true(f->fx.items[1].event_message[0] != '\0');

    /* reply: every spec field exactly as given, plus id and status */
    json_t *in = load(FULL_SPEC);
    const json_t *obj = f->reply.object;
    const char *key;
    json_t *value;
    json_object_foreach(in, key, value) {
        if (!json_equal(json_object_get(obj, key), value))
            fail_msg("reply field '%s' differs from the input", key);
    }
    assert_int_equal(json_object_size(obj), json_object_size(in) + 2);
    assert_int_equal(json_integer_value(json_object_get(obj, "id")), 1);
    assert_string_equal(status_str(obj, "state"), "Pending");
    assert_true(status_str(obj, "reason")[0] != '\0');
    assert_string_equal(status_str(obj, "created_at"), "2026-11-25T16:00:00.123Z");
    assert_string_equal(status_str(obj, "updated_at"), "2026-11-25T16:00:00.123Z");
    assert_true(json_is_null(json_object_get(json_object_get(obj, "status"), "finished_at")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(obj, "status"), "restarts")), 0);
    /* the stored document is the canonical spec too */
    assert_true(json_equal(job->spec.document, in));
    json_decref(in);

    /* the next job gets the next id */
    assert_int_equal(submit(f, "team-ai/project-llm/dev", "second", T0 + 1), 0);
    assert_int_equal(json_integer_value(json_object_get(f->reply.object, "id")), 2);
    assert_int_equal(core_find_job(&f->st, "team-ai/project-llm/dev", "second")->id, 2);
    assert_int_equal(f->st.next_job_id, 3);
    assert_int_equal(core_find_namespace(&f->st, "team-ai/project-llm/dev")->jobs, 2);
}

/* A spec without namespace/kind/... gets its defaults in the reply. */
static void test_job_reply_has_defaults(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(ns_create(f, "org", 1000), 0);
    assert_int_equal(submit(f, "org", "j", 2000), 0);
    json_t *want = load("{\"kind\":\"Job\",\"name\":\"j\",\"namespace\":\"org\",\"priority\":\"normal\","
                        "\"replicas\":1,\"resources\":{},\"command\":[\"sleep\",\"1\"],"
                        "\"restart\":{\"policy\":\"Never\",\"limit\":0}}");
    json_t *got = json_deep_copy(f->reply.object);
    json_object_del(got, "id");
    json_object_del(got, "status");
    if (!json_equal(got, want)) {
        char *s = dump(got);
        fail_msg("reply without id/status: %s", s);
    }
    json_decref(got);
    json_decref(want);
}

static void test_job_submit_duplicate(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(ns_create(f, "a", 1000), 0);
    assert_int_equal(ns_create(f, "b", 1000), 0);
    assert_int_equal(submit(f, "a", "j", 2000), 0);
    const struct core_job *first = core_find_job(&f->st, "a", "j");

    int taken = -1;
    assert_int_equal(submit_ns(f, "{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"other\"],\"replicas\":5}",
                               NULL, 3000, &taken),
                     GPUAAS_EEXIST);
    assert_false(taken);
    assert_string_equal(f->reply.field, "name");
    assert_int_equal(f->st.jobs.count, 1);
    assert_int_equal(f->st.next_job_id, 2);
    assert_int_equal(core_find_namespace(&f->st, "a")->jobs, 1);
    /* the existing job is untouched */
    assert_ptr_equal(core_find_job(&f->st, "a", "j"), first);
    assert_int_equal(first->created_ms, 2000);
    assert_int_equal(first->spec.replicas, 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(first->spec.document, "command"), 0)),
                        "sleep");

    /* the failure used no id; the same name elsewhere is fine */
    assert_int_equal(submit(f, "b", "j", 4000), 0);
    assert_int_equal(core_find_job(&f->st, "b", "j")->id, 2);
    assert_int_equal(f->st.jobs.count, 2);
}

static void test_job_ids_increase(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(ns_create(f, "a", 1000), 0);
    uint64_t last = 0;
    for (int i = 0; i < 50; i++) {
        char name[16];
        snprintf(name, sizeof name, "j%d", i);
        assert_int_equal(submit(f, "a", name, 1000 + i), 0);
        uint64_t id = core_find_job(&f->st, "a", name)->id;
        assert_true(id > last);
        last = id;
        if (i % 3 == 0) /* deleting never frees an id for reuse */
            assert_int_equal(job_cmd(f, CORE_CMD_JOB_DELETE, "a", name, 1000 + i), 0);
    }
    assert_int_equal(last, 50);
    assert_int_equal(f->st.next_job_id, 51);
}

static void test_job_cancel(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(ns_create(f, "a", 1000), 0);
    assert_int_equal(submit(f, "a", "j", 1000), 0);

    assert_int_equal(job_cmd(f, CORE_CMD_JOB_CANCEL, "a", "j", 5000), 0);
    const struct core_job *job = core_find_job(&f->st, "a", "j");
    assert_int_equal(job->state, JOB_CANCELLED);
    assert_int_equal(job->finished_ms, 5000);
    assert_int_equal(job->updated_ms, 5000);
    assert_int_equal(job->created_ms, 1000);
    assert_string_equal(status_str(f->reply.object, "state"), "Cancelled");
    assert_string_equal(status_str(f->reply.object, "finished_at"), "1970-01-01T00:00:05.000Z");
    assert_string_equal(status_str(f->reply.object, "created_at"), "1970-01-01T00:00:01.000Z");

    /* effects: the job put and a Cancelled event, nothing else for a job without pods */
    unsigned puts = 0, events = 0;
    for (unsigned i = 0; i < f->fx.count; i++) {
        const struct core_effect *e = &f->fx.items[i];
        if (e->kind == CORE_EFFECT_JOB_PUT) {
            assert_ptr_equal(e->job, job);
            puts++;
        } else if (e->kind == CORE_EFFECT_EVENT) {
            assert_int_equal(e->job_id, job->id);
            assert_int_equal(e->at_ms, 5000);
            assert_string_equal(e->event_type, "Cancelled");
            events++;
        } else {
            fail_msg("unexpected effect kind %d", (int)e->kind);
        }
    }
    assert_int_equal(puts, 1);
    assert_int_equal(events, 1);

    /* second cancel: conflict, nothing changes */
    assert_int_equal(job_cmd(f, CORE_CMD_JOB_CANCEL, "a", "j", 9000), GPUAAS_ECONFLICT);
    assert_int_equal(job->finished_ms, 5000);
    assert_int_equal(job->updated_ms, 5000);
    assert_int_equal(job->state, JOB_CANCELLED);

    assert_int_equal(job_cmd(f, CORE_CMD_JOB_CANCEL, "a", "nope", 9000), GPUAAS_ENOTFOUND);
    assert_int_equal(job_cmd(f, CORE_CMD_JOB_CANCEL, "b", "j", 9000), GPUAAS_ENOTFOUND);
}

static void test_job_delete(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(ns_create(f, "a", 1000), 0);
    assert_int_equal(submit(f, "a", "j1", 1000), 0);
    assert_int_equal(submit(f, "a", "j2", 1000), 0);
    assert_int_equal(job_cmd(f, CORE_CMD_JOB_CANCEL, "a", "j2", 2000), 0);

    /* an active job: cancelled first, the reply shows that */
    assert_int_equal(job_cmd(f, CORE_CMD_JOB_DELETE, "a", "j1", 3000), 0);
    unsigned deletes = 0;
    for (unsigned i = 0; i < f->fx.count; i++)
        if (f->fx.items[i].kind == CORE_EFFECT_JOB_DELETE) {
            assert_int_equal(f->fx.items[i].job_id, 1);
            deletes++;
        }
    assert_int_equal(deletes, 1);
    assert_string_equal(obj_str(f->reply.object, "name"), "j1");
    assert_string_equal(status_str(f->reply.object, "state"), "Cancelled");
    assert_string_equal(status_str(f->reply.object, "finished_at"), "1970-01-01T00:00:03.000Z");
    assert_null(core_find_job(&f->st, "a", "j1"));
    assert_int_equal(f->st.jobs.count, 1);
    assert_int_equal(core_find_namespace(&f->st, "a")->jobs, 1);

    assert_int_equal(job_cmd(f, CORE_CMD_JOB_DELETE, "a", "j1", 3000), GPUAAS_ENOTFOUND);

    /* a finished job: the reply is the job as it was */
    assert_int_equal(job_cmd(f, CORE_CMD_JOB_DELETE, "a", "j2", 4000), 0);
    assert_int_equal(f->fx.count, 1);
    assert_int_equal(f->fx.items[0].kind, CORE_EFFECT_JOB_DELETE);
    assert_int_equal(f->fx.items[0].job_id, 2);
    assert_string_equal(status_str(f->reply.object, "finished_at"), "1970-01-01T00:00:02.000Z");
    assert_int_equal(core_find_namespace(&f->st, "a")->jobs, 0);
    assert_int_equal(f->st.jobs.count, 0);

    /* the namespace is empty now */
    assert_int_equal(ns_delete(f, "a", 5000), 0);
}

static void test_list_jobs_by_prefix(void **state)
{
    struct fixture *f = *state;
    static const char *const spaces[] = {"a/b", "ab", "a/c/d", "a-b"};
    for (size_t i = 0; i < N(spaces); i++)
        assert_int_equal(ns_create(f, spaces[i], 1000), 0);
    /* submitted out of order */
    static const char *const jobs[][2] = {{"a/b", "z"}, {"ab", "x"}, {"a", "y"}, {"a/c/d", "k"},
                                          {"a/b", "m"}, {"a-b", "w"}, {"a", "b"}};
    for (size_t i = 0; i < N(jobs); i++)
        assert_int_equal(submit(f, jobs[i][0], jobs[i][1], 2000 + (int64_t)i), 0);

    struct {
        const char *prefix;
        const char *want[8]; /* "ns name" */
    } cases[] = {
        {"a", {"a b", "a y", "a/b m", "a/b z", "a/c/d k"}},
        {"a/b", {"a/b m", "a/b z"}},
        {"a/c", {"a/c/d k"}},
        {"ab", {"ab x"}},
        {"a-b", {"a-b w"}},
        {"zzz", {NULL}},
        {"", {"a b", "a y", "a-b w", "a/b m", "a/b z", "a/c/d k", "ab x"}},
        {NULL, {"a b", "a y", "a-b w", "a/b m", "a/b z", "a/c/d k", "ab x"}},
    };
    for (size_t c = 0; c < N(cases); c++) {
        json_t *list = core_list_jobs(&f->st, cases[c].prefix);
        assert_non_null(list);
        json_t *items = json_object_get(list, "items");
        size_t n = 0;
        while (n < 8 && cases[c].want[n])
            n++;
        char *got = dump(items);
        if (json_array_size(items) != n || json_integer_value(json_object_get(list, "count")) != (json_int_t)n)
            fail_msg("prefix '%s': want %zu jobs, got %s", cases[c].prefix ? cases[c].prefix : "(null)", n, got);
        for (size_t i = 0; i < n; i++) {
            const json_t *job = json_array_get(items, i);
            char row[160];
            snprintf(row, sizeof row, "%s %s", obj_str(job, "namespace"), obj_str(job, "name"));
            if (strcmp(row, cases[c].want[i]) != 0)
                fail_msg("prefix '%s' item %zu: want '%s', got '%s'", cases[c].prefix ? cases[c].prefix : "(null)",
                         i, cases[c].want[i], row);
            assert_string_equal(status_str(job, "state"), "Pending");
        }
        free(got);
        json_decref(list);
    }
}

/* ---- nodes ---------------------------------------------------------------- */

static void test_node_from_json_valid(void **state)
{
    (void)state;
    struct core_node *node = calloc(1, sizeof *node);
    assert_non_null(node);
    char err[256] = "";
    assert_int_equal(node_from_text(NODE_JSON, node, err, sizeof err), 0);
    assert_string_equal(node->name, "gpu-node-1");
    assert_int_equal(node->state, NODE_READY);
    assert_int_equal(node->cpu_milli, 48000);
    assert_int_equal(node->memory_bytes, 192LL << 30);
    assert_int_equal(node->label_count, 2);
    assert_string_equal(core_node_label(node, "gpuaas.io/gpu-model"), "A100");
    assert_string_equal(core_node_label(node, "zone"), "eu-1");
    assert_null(core_node_label(node, "absent"));
    assert_int_equal(node->gpu_count, 2);
    assert_int_equal(node->gpus[0].index, 0);
    assert_string_equal(node->gpus[0].uuid, "GPU-0");
    assert_string_equal(node->gpus[0].model, "A100");
    assert_int_equal(node->gpus[0].memory_bytes, 80LL << 30);
    assert_false(node->gpus[0].mig_mode);
    assert_int_equal(node->gpus[0].mig_count, 0);
    assert_int_equal(node->gpus[1].index, 1);
    assert_true(node->gpus[1].mig_mode);
    assert_int_equal(node->gpus[1].mig_count, 2);
    assert_string_equal(node->gpus[1].mig[0].profile, "1g.10gb");
    assert_string_equal(node->gpus[1].mig[0].uuid, "MIG-1a");
    assert_string_equal(node->gpus[1].mig[1].profile, "3g.40gb");
    assert_string_equal(node->gpus[1].mig[1].uuid, "MIG-1b");

    /* defaults: state Ready, no cpu/memory/labels/gpus */
    memset(node, 0, sizeof *node);
    assert_int_equal(node_from_text("{\"name\":\"bare\"}", node, err, sizeof err), 0);
    assert_string_equal(node->name, "bare");
    assert_int_equal(node->state, NODE_READY);
    assert_int_equal(node->gpu_count, 0);
    assert_int_equal(node->label_count, 0);

    assert_int_equal(node_from_text("{\"name\":\"c\",\"state\":\"Cordoned\"}", node, err, sizeof err), 0);
    assert_int_equal(node->state, NODE_CORDONED);

    /* 16 GPUs is the limit, not over it */
    char text[8192];
    size_t len = (size_t)snprintf(text, sizeof text, "{\"name\":\"big\",\"gpus\":[");
    for (int i = 0; i < CORE_NODE_GPUS_MAX; i++)
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "%s{\"index\":%d,\"uuid\":\"GPU-%d\",\"model\":\"H100\",\"memory\":\"80Gi\"}",
                                i ? "," : "", i, i);
    snprintf(text + len, sizeof text - len, "]}");
    assert_int_equal(node_from_text(text, node, err, sizeof err), 0);
    assert_int_equal(node->gpu_count, CORE_NODE_GPUS_MAX);
    assert_string_equal(node->gpus[15].uuid, "GPU-15");
    free(node);
}

static void test_node_from_json_invalid(void **state)
{
    (void)state;
    char gpus17[8192];
    size_t len = (size_t)snprintf(gpus17, sizeof gpus17, "{\"name\":\"big\",\"gpus\":[");
    for (int i = 0; i <= CORE_NODE_GPUS_MAX; i++)
        len += (size_t)snprintf(gpus17 + len, sizeof gpus17 - len,
                                "%s{\"index\":%d,\"uuid\":\"GPU-%d\",\"model\":\"H100\",\"memory\":\"80Gi\"}",
                                i ? "," : "", i, i);
    snprintf(gpus17 + len, sizeof gpus17 - len, "]}");

    char labels33[4096];
    len = (size_t)snprintf(labels33, sizeof labels33, "{\"name\":\"n\",\"labels\":{");
    for (int i = 0; i <= CORE_NODE_LABELS_MAX; i++)
        len += (size_t)snprintf(labels33 + len, sizeof labels33 - len, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(labels33 + len, sizeof labels33 - len, "}}");

    char migs8[4096];
    len = (size_t)snprintf(migs8, sizeof migs8,
                           "{\"name\":\"n\",\"gpus\":[{\"index\":0,\"uuid\":\"G\",\"model\":\"A100\","
                           "\"memory\":\"80Gi\",\"mig_mode\":true,\"mig_devices\":[");
    for (int i = 0; i <= CORE_MIG_DEVICES_MAX; i++)
        len += (size_t)snprintf(migs8 + len, sizeof migs8 - len, "%s{\"profile\":\"1g.10gb\",\"uuid\":\"M%d\"}",
                                i ? "," : "", i);
    snprintf(migs8 + len, sizeof migs8 - len, "]}]}");

    const char *const bad[] = {
        "[]",
        "{}",
        "{\"name\":\"n\",\"foo\":1}",
        "{\"name\":\"Bad_Name\"}",
        "{\"name\":\"\"}",
        "{\"name\":5}",
        "{\"name\":\"n\",\"state\":\"Down\"}",
        "{\"name\":\"n\",\"cpu\":\"lots\"}",
        "{\"name\":\"n\",\"cpu\":48}",
        "{\"name\":\"n\",\"memory\":\"1X\"}",
        "{\"name\":\"n\",\"labels\":[\"a\"]}",
        "{\"name\":\"n\",\"labels\":{\"-bad\":\"v\"}}",
        "{\"name\":\"n\",\"labels\":{\"k\":5}}",
        "{\"name\":\"n\",\"gpus\":{}}",
        "{\"name\":\"n\",\"gpus\":[{\"index\":0,\"uuid\":\"G\",\"model\":\"A100\",\"memory\":\"80Gi\","
        "\"vendor\":\"nvidia\"}]}",
        "{\"name\":\"n\",\"gpus\":[{\"index\":0,\"model\":\"A100\",\"memory\":\"80Gi\"}]}",
        "{\"name\":\"n\",\"gpus\":[{\"index\":-1,\"uuid\":\"G\",\"model\":\"A100\",\"memory\":\"80Gi\"}]}",
        "{\"name\":\"n\",\"gpus\":[{\"index\":0,\"uuid\":\"\",\"model\":\"A100\",\"memory\":\"80Gi\"}]}",
        "{\"name\":\"n\",\"gpus\":[{\"index\":0,\"uuid\":\"G\",\"model\":\"A100\",\"memory\":\"lots\"}]}",
        /* MIG devices on a GPU not in MIG mode */
        "{\"name\":\"n\",\"gpus\":[{\"index\":0,\"uuid\":\"G\",\"model\":\"A100\",\"memory\":\"80Gi\","
        "\"mig_mode\":false,\"mig_devices\":[{\"profile\":\"1g.10gb\",\"uuid\":\"M\"}]}]}",
        "{\"name\":\"n\",\"gpus\":[{\"index\":0,\"uuid\":\"G\",\"model\":\"A100\",\"memory\":\"80Gi\","
        "\"mig_devices\":[{\"profile\":\"1g.10gb\",\"uuid\":\"M\"}]}]}",
        "{\"name\":\"n\",\"gpus\":[{\"index\":0,\"uuid\":\"G\",\"model\":\"A100\",\"memory\":\"80Gi\","
        "\"mig_mode\":true,\"mig_devices\":[{\"profile\":\"1g.10gb\",\"uuid\":\"M\",\"x\":1}]}]}",
        gpus17,
        labels33,
        migs8,
    };
    struct core_node *node = calloc(1, sizeof *node);
    assert_non_null(node);
    for (size_t i = 0; i < N(bad); i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        assert_non_null(j);
        char err[256] = "";
        int r = core_node_from_json(j, node, err, sizeof err);
        json_decref(j);
        if (r != GPUAAS_EINVAL)
            fail_msg("case %zu: want EINVAL, got %d: %.200s", i, r, bad[i]);
        if (!err[0])
            fail_msg("case %zu: no error text: %.200s", i, bad[i]);
    }
    free(node);
}

static void test_node_put(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(node_put(f, NODE_JSON, T0), 0);
    const struct core_node *node = core_find_node(&f->st, "gpu-node-1");
    assert_non_null(node);
    assert_int_equal(node->updated_ms, T0);
    assert_int_equal(f->fx.count, 1);
    assert_int_equal(f->fx.items[0].kind, CORE_EFFECT_NODE_PUT);
    assert_ptr_equal(f->fx.items[0].node, node);

    /* the reply shows every field as given, plus updated_at */
    json_t *in = load(NODE_JSON);
    const char *key;
    json_t *value;
    json_object_foreach(in, key, value) {
        if (!json_equal(json_object_get(f->reply.object, key), value)) {
            char *s = dump(f->reply.object);
            fail_msg("node reply field '%s' differs: %s", key, s);
        }
    }
    assert_string_equal(obj_str(f->reply.object, "updated_at"), "2026-11-25T16:00:00.123Z");
    json_decref(in);

    /* a second put replaces it */
    assert_int_equal(node_put(f, "{\"name\":\"gpu-node-1\",\"state\":\"Cordoned\",\"cpu\":\"8\"}", T0 + 1000), 0);
    assert_int_equal(f->st.nodes.count, 1);
    node = core_find_node(&f->st, "gpu-node-1");
    assert_int_equal(node->state, NODE_CORDONED);
    assert_int_equal(node->cpu_milli, 8000);
    assert_int_equal(node->gpu_count, 0);
    assert_int_equal(node->updated_ms, T0 + 1000);
    assert_string_equal(obj_str(f->reply.object, "state"), "Cordoned");

    assert_int_equal(node_put(f, "{\"name\":\"cpu-node\",\"cpu\":\"500m\",\"memory\":\"1Gi\"}", T0), 0);
    json_t *list = core_list_nodes(&f->st);
    json_t *items = json_object_get(list, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(obj_str(json_array_get(items, 0), "name"), "cpu-node");
    assert_string_equal(obj_str(json_array_get(items, 0), "cpu"), "500m");
    assert_string_equal(obj_str(json_array_get(items, 1), "name"), "gpu-node-1");
    json_decref(list);
}

/* ---- restore -------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Builds a state by commands: namespaces, jobs in several states, nodes. */
static void build_sample(struct fixture *f)
{
    assert_int_equal(ns_create(f, "team-ai/project-llm/dev", 1000), 0);
    assert_int_equal(ns_create(f, "team-ai/project-llm/prod", 1100), 0);
    assert_int_equal(ns_create(f, "team-ai/vision", 1200), 0);
    assert_int_equal(ns_create(f, "other", 1300), 0);
    /* before any node: with nodes, the scheduler refuses what none can run */
    assert_int_equal(submit_ns(f, FULL_SPEC, NULL, 2000, NULL), 0);
    assert_int_equal(node_put(f, NODE_JSON, 1400), 0);
    assert_int_equal(node_put(f, "{\"name\":\"cpu-1\",\"cpu\":\"16\",\"memory\":\"64Gi\"}", 1500), 0);
    assert_int_equal(submit(f, "team-ai/project-llm/dev", "eval", 2100), 0);
    assert_int_equal(submit(f, "team-ai/vision", "resnet", 2200), 0);
    /* "gone" is not the newest job: without pods, nothing records the
     * newest id once that job is deleted (see the pod test below) */
    assert_int_equal(submit(f, "other", "gone", 2300), 0);
    assert_int_equal(submit(f, "other", "x", 2400), 0);
    assert_int_equal(job_cmd(f, CORE_CMD_JOB_CANCEL, "team-ai/vision", "resnet", 3000), 0);
    assert_int_equal(job_cmd(f, CORE_CMD_JOB_DELETE, "other", "gone", 3100), 0);
}

static void assert_same_lists(const struct core_state *a, const struct core_state *b)
{
    json_t *la[3] = {core_list_namespaces(a, NULL), core_list_jobs(a, NULL), core_list_nodes(a)};
    json_t *lb[3] = {core_list_namespaces(b, NULL), core_list_jobs(b, NULL), core_list_nodes(b)};
    for (int i = 0; i < 3; i++) {
        char *sa = dump(la[i]), *sb = dump(lb[i]);
        if (strcmp(sa, sb) != 0)
            fail_msg("list %d differs:\n  %s\n  %s", i, sa, sb);
        free(sa);
        free(sb);
        json_decref(la[i]);
        json_decref(lb[i]);
    }
}

static void test_restore_rebuilds_state(void **state)
{
    struct fixture *f = *state;
    build_sample(f);

    struct fixture *g = calloc(1, sizeof *g);
    assert_non_null(g);
    core_state_init(&g->st);
    core_effects_init(&g->fx);
    struct core_state *st = &g->st;

    /* namespaces children first (reverse name order), so parents are absent
     * while their children are restored */
    const char *paths[16];
    size_t n = 0;
    void *value;
    for (size_t it = 0; hmap_next(&f->st.namespaces, &it, NULL, &value);)
        paths[n++] = ((const struct core_namespace *)value)->path;
    qsort(paths, n, sizeof *paths, cmp_str);
    for (size_t i = n; i-- > 0;)
        assert_int_equal(core_restore_namespace(st, paths[i], core_find_namespace(&f->st, paths[i])->created_ms), 0);
    for (size_t it = 0; hmap_next(&f->st.jobs, &it, NULL, &value);) {
        const struct core_job *src = value;
        struct core_job *copy = malloc(sizeof *copy);
        assert_non_null(copy);
        *copy = *src;
        copy->spec.document = json_deep_copy(src->spec.document);
        assert_int_equal(core_restore_job(st, copy), 0);
        free(copy);
    }
    for (size_t it = 0; hmap_next(&f->st.nodes, &it, NULL, &value);)
        assert_int_equal(core_restore_node(st, value), 0);
    core_restore_finish(st);

    /* same objects, same counters */
    assert_same_lists(&f->st, st);
    assert_int_equal(st->namespaces.count, f->st.namespaces.count);
    assert_int_equal(st->jobs.count, f->st.jobs.count);
    assert_int_equal(st->nodes.count, f->st.nodes.count);
    assert_int_equal(st->next_job_id, f->st.next_job_id);
    for (size_t i = 0; i < n; i++) {
        const struct core_namespace *x = core_find_namespace(&f->st, paths[i]);
        const struct core_namespace *y = core_find_namespace(st, paths[i]);
        assert_non_null(y);
        if (x->children != y->children || x->jobs != y->jobs || x->depth != y->depth)
            fail_msg("namespace %s: children %u/%u jobs %u/%u depth %d/%d", paths[i], x->children, y->children,
                     x->jobs, y->jobs, x->depth, y->depth);
    }
    assert_int_equal(core_find_namespace(st, "team-ai")->children, 2);
    assert_int_equal(core_find_namespace(st, "team-ai/project-llm")->children, 2);

    /* finishing twice recomputes rather than adds */
    core_restore_finish(st);
    assert_int_equal(core_find_namespace(st, "team-ai")->children, 2);

    /* the restored state behaves like the original */
    assert_int_equal(ns_delete(g, "team-ai/project-llm", 9000), GPUAAS_ECONFLICT);
    assert_int_equal(ns_delete(g, "team-ai/project-llm/prod", 9000), 0);
    assert_int_equal(ns_delete(g, "team-ai/project-llm", 9000), GPUAAS_ECONFLICT); /* dev left */
    assert_int_equal(ns_delete(g, "other", 9000), GPUAAS_ECONFLICT);                 /* job x */
    assert_int_equal(submit(g, "other", "x", 9000), GPUAAS_EEXIST);
    assert_int_equal(submit(g, "other", "new", 9000), 0);
    assert_int_equal(submit(f, "other", "new", 9000), 0);
    assert_int_equal(core_find_job(&g->st, "other", "new")->id, core_find_job(&f->st, "other", "new")->id);
    assert_int_equal(job_cmd(g, CORE_CMD_JOB_CANCEL, "team-ai/vision", "resnet", 9000), GPUAAS_ECONFLICT);
    core_reply_clear(&g->reply);
    core_effects_free(&g->fx);
    core_state_free(&g->st);
    free(g);
}

static void test_restore_next_job_id(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(core_restore_namespace(&f->st, "a", 1000), 0);
    static const uint64_t ids[] = {7, 3, 12, 5};
    for (size_t i = 0; i < N(ids); i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"name\":\"j%llu\",\"namespace\":\"a\",\"command\":[\"x\"]}",
                 (unsigned long long)ids[i]);
        json_t *in = load(text);
        struct core_job *job = calloc(1, sizeof *job);
        assert_non_null(job);
        struct spec_error err;
        assert_int_equal(spec_parse_job(in, NULL, &job->spec, &err), 0);
        json_decref(in);
        job->id = ids[i];
        job->state = i == 1 ? JOB_SUCCEEDED : JOB_PENDING;
        job->created_ms = job->updated_ms = 1000 + (int64_t)i;
        job->finished_ms = i == 1 ? 2000 : 0;
        assert_int_equal(core_restore_job(&f->st, job), 0);
        free(job);
    }
    core_restore_finish(&f->st);
    assert_int_equal(f->st.next_job_id, 13);
    assert_int_equal(core_find_namespace(&f->st, "a")->jobs, 4);
    assert_int_equal(core_find_job(&f->st, "a", "j7")->id, 7);
    assert_int_equal(core_find_job(&f->st, "a", "j3")->state, JOB_SUCCEEDED);

    assert_int_equal(submit(f, "a", "next", 5000), 0);
    assert_int_equal(core_find_job(&f->st, "a", "next")->id, 13);
    assert_int_equal(json_integer_value(json_object_get(f->reply.object, "id")), 13);
}

static void test_restore_errors(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(core_restore_namespace(&f->st, "a", 1000), 0);
    assert_int_equal(core_restore_namespace(&f->st, "a", 1000), GPUAAS_EEXIST);
    assert_int_equal(core_restore_namespace(&f->st, "a/b/c/d", 1000), GPUAAS_EINVAL);
    assert_int_equal(core_restore_namespace(&f->st, "A", 1000), GPUAAS_EINVAL);
    assert_int_equal(core_restore_namespace(&f->st, "", 1000), GPUAAS_EINVAL);
    assert_int_equal(f->st.namespaces.count, 1);

    /* jobs: the document is taken even on failure (ASan checks the leak) */
    struct core_job *job = calloc(1, sizeof *job);
    assert_non_null(job);
    struct spec_error err;
    json_t *in = load("{\"name\":\"j\",\"namespace\":\"missing\",\"command\":[\"x\"]}");
    assert_int_equal(spec_parse_job(in, NULL, &job->spec, &err), 0);
    json_decref(in);
    job->id = 1;
    assert_int_equal(core_restore_job(&f->st, job), GPUAAS_ENOTFOUND);
    assert_int_equal(f->st.jobs.count, 0);

    in = load("{\"name\":\"j\",\"namespace\":\"a\",\"command\":[\"x\"]}");
    assert_int_equal(spec_parse_job(in, NULL, &job->spec, &err), 0);
    job->id = 2;
    assert_int_equal(core_restore_job(&f->st, job), 0);
    assert_int_equal(spec_parse_job(in, NULL, &job->spec, &err), 0);
    job->id = 3;
    assert_int_equal(core_restore_job(&f->st, job), GPUAAS_EEXIST);
    json_decref(in);
    free(job);
    assert_int_equal(f->st.jobs.count, 1);
    assert_int_equal(core_find_namespace(&f->st, "a")->jobs, 1);
    assert_int_equal(f->st.next_job_id, 3);

    struct core_node *node = calloc(1, sizeof *node);
    assert_non_null(node);
    char text_err[256];
    assert_int_equal(node_from_text("{\"name\":\"n1\"}", node, text_err, sizeof text_err), 0);
    assert_int_equal(core_restore_node(&f->st, node), 0);
    assert_int_equal(core_restore_node(&f->st, node), GPUAAS_EEXIST);
    assert_int_equal(f->st.nodes.count, 1);
    free(node);
    core_restore_finish(&f->st);
}

/* BUG (src/core/sched.c core_restore_pod, with model.c core_restore_job):
 * next_job_id is rebuilt only from the restored jobs. Pods keep their
 * records after their job is deleted ("its pods stop and keep their
 * records"), so when the newest job was deleted before a restart, the next
 * job submitted gets that job's id again, and on the following restore
 * sched_restore_finish counts the old pods (attempt, succeeded_pods,
 * active_pods) for the new job. Input: restored job id 1, restored pod of
 * deleted job id 2, then a submit. Expected id 3 (never used before);
 * got id 2. */
static void test_restore_job_id_not_reused_after_delete(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(core_restore_namespace(&f->st, "a", 1000), 0);
    struct core_job *job = calloc(1, sizeof *job);
    assert_non_null(job);
    json_t *in = load("{\"name\":\"keep\",\"namespace\":\"a\",\"command\":[\"x\"]}");
    struct spec_error err;
    assert_int_equal(spec_parse_job(in, NULL, &job->spec, &err), 0);
    json_decref(in);
    job->id = 1;
    job->state = JOB_SUCCEEDED;
    job->created_ms = job->updated_ms = job->finished_ms = 1000;
    assert_int_equal(core_restore_job(&f->st, job), 0);
    free(job);

    struct core_pod *pod = calloc(1, sizeof *pod);
    assert_non_null(pod);
    pod->id = 1;
    pod->job_id = 2; /* job "gone", deleted before the restart */
    snprintf(pod->namespace_path, sizeof pod->namespace_path, "a");
    snprintf(pod->job_name, sizeof pod->job_name, "gone");
    pod->attempt = 1;
    pod->state = POD_SUCCEEDED;
    pod->scheduled_ms = pod->started_ms = 1000;
    pod->ended_ms = 2000;
    assert_int_equal(core_restore_pod(&f->st, pod), 0);
    free(pod);
    core_restore_finish(&f->st);

    assert_int_equal(submit(f, "a", "new", 5000), 0);
    uint64_t id = core_find_job(&f->st, "a", "new")->id;
    if (id <= 2)
        fail_msg("KNOWN SRC BUG core_restore_pod/next_job_id: new job got id %llu, already used by "
                 "deleted job 2 whose pod record was restored",
                 (unsigned long long)id);
}

/* ---- time ----------------------------------------------------------------- */

static void test_format_time(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1, "1970-01-01T00:00:00.001Z"},
        {999, "1970-01-01T00:00:00.999Z"},
        {86399999, "1970-01-01T23:59:59.999Z"},
        {86400000, "1970-01-02T00:00:00.000Z"},
        {951782400000LL, "2000-02-29T00:00:00.000Z"},
        {951868800000LL, "2000-03-01T00:00:00.000Z"},
        {T0, "2026-11-25T16:00:00.123Z"},
        {1709251199999LL, "2024-02-29T23:59:59.999Z"},
        {4107542399000LL, "2100-02-28T23:59:59.000Z"},
        {4107542400000LL, "2100-03-01T00:00:00.000Z"}, /* 2100 is not a leap year */
        {253402300799999LL, "9999-12-31T23:59:59.999Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {-999, "1969-12-31T23:59:59.001Z"},
        {-1000, "1969-12-31T23:59:59.000Z"},
        {-1001, "1969-12-31T23:59:58.999Z"},
        {-86400000, "1969-12-31T00:00:00.000Z"},
        {-86400001, "1969-12-30T23:59:59.999Z"},
        {-14182940000LL, "1969-07-20T20:17:40.000Z"},
        {-2203891200000LL, "1900-03-01T00:00:00.000Z"},
        {-11670953103211LL, "1600-02-29T12:34:56.789Z"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char out[64];
        memset(out, 'X', sizeof out);
        core_format_time(cases[i].ms, out, sizeof out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%lld: want %s, got %s", (long long)cases[i].ms, cases[i].want, out);
    }
    /* a short buffer gets a terminated prefix */
    char small[5];
    core_format_time(T0, small, sizeof small);
    assert_string_equal(small, "2026");
}

static void test_state_names(void **state)
{
    (void)state;
    static const char *const jobs[] = {"Pending", "Running", "Succeeded", "Failed", "Cancelled"};
    for (int i = 0; i < (int)N(jobs); i++) {
        enum job_state s = JOB_CANCELLED;
        assert_string_equal(core_job_state_name((enum job_state)i), jobs[i]);
        assert_int_equal(core_job_state_from_name(jobs[i], &s), 0);
        assert_int_equal(s, i);
    }
    enum job_state js;
    assert_int_equal(core_job_state_from_name("pending", &js), GPUAAS_EINVAL);
    static const char *const nodes[] = {"Ready", "Cordoned", "Failed"};
    for (int i = 0; i < (int)N(nodes); i++) {
        enum node_state s = NODE_FAILED;
        assert_string_equal(core_node_state_name((enum node_state)i), nodes[i]);
        assert_int_equal(core_node_state_from_name(nodes[i], &s), 0);
        assert_int_equal(s, i);
    }
    enum node_state ns;
    assert_int_equal(core_node_state_from_name("Down", &ns), GPUAAS_EINVAL);
}

/* ---- determinism ---------------------------------------------------------- */

/* The same commands at the same times; `churn` first creates and deletes
 * many namespaces so the hash maps have a different layout. */
static char *run_sequence(bool churn)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    core_state_init(&f->st);
    core_effects_init(&f->fx);
    if (churn) {
        for (int i = 0; i < 300; i++) {
            char path[32];
            snprintf(path, sizeof path, "churn-%d/p", i);
            assert_int_equal(ns_create(f, path, 1), 0);
        }
        for (int i = 299; i >= 0; i--) {
            char path[32];
            snprintf(path, sizeof path, "churn-%d/p", i);
            assert_int_equal(ns_delete(f, path, 1), 0);
            snprintf(path, sizeof path, "churn-%d", i);
            assert_int_equal(ns_delete(f, path, 1), 0);
        }
    }
    int64_t t = T0;
    assert_int_equal(node_put(f, NODE_JSON, t++), 0);
    assert_int_equal(node_put(f, "{\"name\":\"cpu-1\",\"cpu\":\"16\"}", t++), 0);
    static const char *const spaces[] = {"zeta/p/e", "alpha", "alpha/beta", "mid/x", "alpha/gamma/d"};
    for (size_t i = 0; i < N(spaces); i++)
        assert_int_equal(ns_create(f, spaces[i], t++), 0);
    for (int i = 0; i < 60; i++) {
        char name[16];
        snprintf(name, sizeof name, "job-%02d", (i * 37) % 60);
        assert_int_equal(submit(f, spaces[i % N(spaces)], name, t++), 0);
        if (i % 4 == 1)
            assert_int_equal(job_cmd(f, CORE_CMD_JOB_CANCEL, spaces[i % N(spaces)], name, t++), 0);
        if (i % 7 == 3)
            assert_int_equal(job_cmd(f, CORE_CMD_JOB_DELETE, spaces[i % N(spaces)], name, t++), 0);
    }
    assert_int_equal(ns_create(f, "late/one", t++), 0);
    assert_int_equal(ns_delete(f, "late/one", t++), 0);

    json_t *lists = json_pack("{s:o,s:o,s:o,s:o}", "namespaces", core_list_namespaces(&f->st, NULL), "jobs",
                              core_list_jobs(&f->st, NULL), "alpha", core_list_jobs(&f->st, "alpha"), "nodes",
                              core_list_nodes(&f->st));
    assert_non_null(lists);
    char *out = json_dumps(lists, JSON_COMPACT); /* insertion order, not sorted keys */
    assert_non_null(out);
    json_decref(lists);
    core_reply_clear(&f->reply);
    core_effects_free(&f->fx);
    core_state_free(&f->st);
    free(f);
    return out;
}

static void test_determinism(void **state)
{
    (void)state;
    char *a = run_sequence(false);
    char *b = run_sequence(false);
    char *c = run_sequence(true);
    assert_true(strlen(a) > 1000);
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    free(a);
    free(b);
    free(c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_namespace_create_makes_parents),
        T(test_namespace_create_errors),
        T(test_namespace_delete),
        T(test_namespace_delete_with_jobs),
        T(test_list_namespaces),
        T(test_job_submit_missing_namespace),
        T(test_job_submit_success),
        T(test_job_reply_has_defaults),
        T(test_job_submit_duplicate),
        T(test_job_ids_increase),
        T(test_job_cancel),
        T(test_job_delete),
        T(test_list_jobs_by_prefix),
        T(test_node_from_json_valid),
        T(test_node_from_json_invalid),
        T(test_node_put),
        T(test_restore_rebuilds_state),
        T(test_restore_next_job_id),
        T(test_restore_errors),
        T(test_restore_job_id_not_reused_after_delete),
        T(test_format_time),
        T(test_state_names),
        T(test_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
