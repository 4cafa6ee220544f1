/* Unit tests for quotas: src/core/quota.c (the JSON form, the limit check
 * and its messages, adding amounts) and the quota parts of
 * src/core/sched.c, driven through core_apply + core_schedule the way the
 * engine does it (one batch: core_apply per command, then one
 * core_schedule at the same clock): the subtree cap of a parent quota over
 * its children, the pending reason, refusal at submit, use released when a
 * pod ends, setting and deleting quotas, and restore recomputing the use
 * from the active pods.
 *
 * Tests named regression_* show defects found while writing these tests
 * (the comment above each says what is expected and what happened before
 * the fix, b559245). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/model.h"
#include "core/quota.h"
#include "core/spec.h"
#include "gpuaas/error.h"

#define T0 1795622400000LL /* 2026-11-25T16:00:00.000Z */
#define GIB (1024LL * 1024 * 1024)

/* ---- quota.c: JSON ------------------------------------------------------------------ */

static json_t *parse_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j)
        fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
    return j;
}

static void assert_json_text(const json_t *got, const char *want_text)
{
    json_t *want = parse_json(want_text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("got %s\nwant %s", g ? g : "(null)", want_text);
    }
    json_decref(want);
}

static int from_text(const char *text, struct quota_amounts *out, char *field, char *why)
{
    json_t *j = parse_json(text);
    field[0] = why[0] = '\0';
    int r = quota_from_json(j, out, field, 64, why, 160);
    json_decref(j);
    return r;
}

static void json_round_trip(void **state)
{
    (void)state;
    struct quota_amounts q;
    char field[64], why[160];
    const char *full = "{\"gpus\":8,\"gpus_per_model\":{\"A100\":4,\"H100\":0},\"mig\":{\"1g.10gb\":7},"
                       "\"gpu_milli\":4000,\"cpu\":\"64\",\"memory\":\"512Gi\",\"pods\":100}";
    assert_int_equal(from_text(full, &q, field, why), 0);
    assert_int_equal(q.gpus, 8);
    assert_int_equal(q.gpu_milli, 4000);
    assert_int_equal(q.cpu_milli, 64000);
    assert_int_equal(q.memory_bytes, 512 * GIB);
    assert_int_equal(q.pods, 100);
    assert_int_equal(q.model_count, 2);
    assert_int_equal(quota_kind_get(q.models, q.model_count, "A100"), 4);
    assert_int_equal(quota_kind_get(q.models, q.model_count, "H100"), 0);
    assert_int_equal(quota_kind_get(q.models, q.model_count, "T4"), QUOTA_UNLIMITED);
    assert_int_equal(q.mig_count, 1);
    assert_int_equal(quota_kind_get(q.migs, q.mig_count, "1g.10gb"), 7);
    assert_int_equal(q.weight, 0); /* not given: the default */
    {
        struct quota_amounts w;
        assert_int_equal(from_text("{\"gpus\":2,\"weight\":3}", &w, field, why), 0);
        assert_int_equal(w.weight, 3);
        json_t *back = quota_to_json(&w, true);
        assert_json_text(back, "{\"gpus\":2,\"weight\":3}");
        json_decref(back);
    }
    json_t *back = quota_to_json(&q, true);
    assert_json_text(back, full);
    /* and once more through the text: a fixed point */
    struct quota_amounts again;
    char *text = json_dumps(back, JSON_COMPACT);
    assert_int_equal(from_text(text, &again, field, why), 0);
    assert_memory_equal(&q, &again, sizeof q);
    free(text);
    json_decref(back);

    /* only what is given is limited; cpu may be a number or "500m" */
    assert_int_equal(from_text("{\"cpu\":2}", &q, field, why), 0);
    assert_int_equal(q.cpu_milli, 2000);
    assert_int_equal(q.gpus, QUOTA_UNLIMITED);
    assert_int_equal(q.gpu_milli, QUOTA_UNLIMITED);
    assert_int_equal(q.memory_bytes, QUOTA_UNLIMITED);
    assert_int_equal(q.pods, QUOTA_UNLIMITED);
    assert_int_equal(q.model_count + q.mig_count, 0);
    back = quota_to_json(&q, true);
    assert_json_text(back, "{\"cpu\":\"2\"}");
    json_decref(back);
    assert_int_equal(from_text("{\"cpu\":\"500m\",\"memory\":\"1536Mi\"}", &q, field, why), 0);
    back = quota_to_json(&q, true);
    assert_json_text(back, "{\"cpu\":\"500m\",\"memory\":\"1536Mi\"}");
    json_decref(back);
    /* {} is a quota without limits */
    assert_int_equal(from_text("{}", &q, field, why), 0);
    back = quota_to_json(&q, true);
    assert_json_text(back, "{}");
    json_decref(back);
    /* zero is a limit, not "unlimited" */
    assert_int_equal(from_text("{\"gpus\":0,\"pods\":0}", &q, field, why), 0);
    back = quota_to_json(&q, true);
    assert_json_text(back, "{\"gpus\":0,\"pods\":0}");
    json_decref(back);

    /* use: every field, zeros included */
    struct quota_amounts used;
    quota_amounts_zero(&used);
    back = quota_to_json(&used, false);
    assert_json_text(back, "{\"gpus\":0,\"gpus_per_model\":{},\"mig\":{},\"gpu_milli\":0,\"cpu\":\"0\","
                           "\"memory\":\"0\",\"pods\":0}");
    json_decref(back);
    used.gpus = 3;
    used.cpu_milli = 1500;
    used.memory_bytes = 3 * GIB;
    used.pods = 2;
    used.model_count = 1;
    snprintf(used.models[0].name, sizeof used.models[0].name, "A10G");
    used.models[0].amount = 3;
    back = quota_to_json(&used, false);
    assert_json_text(back, "{\"gpus\":3,\"gpus_per_model\":{\"A10G\":3},\"mig\":{},\"gpu_milli\":0,"
                           "\"cpu\":\"1500m\",\"memory\":\"3Gi\",\"pods\":2}");
    json_decref(back);
}

static void json_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field, *why_part;
    } cases[] = {
        {"{\"gpus\":8,\"gpu\":1}", "gpu", "unknown field"},
        {"{\"limits\":{\"gpus\":1}}", "limits", "unknown field"},
        {"{\"gpus\":\"8\"}", "gpus", "integer"},
        {"{\"gpus\":-1}", "gpus", "integer"},
        {"{\"gpus\":1.5}", "gpus", "integer"},
        {"{\"gpus\":null}", "gpus", "integer"},
        {"{\"gpus\":100000001}", "gpus", "100000000"},
        {"{\"pods\":true}", "pods", "integer"},
        {"{\"weight\":0}", "weight", "between 1 and 1000"},
        {"{\"weight\":1001}", "weight", "between 1 and 1000"},
        {"{\"weight\":\"2\"}", "weight", "between 1 and 1000"},
        {"{\"gpu_milli\":-5}", "gpu_milli", "integer"},
        {"{\"cpu\":true}", "cpu", "cores"},
        {"{\"cpu\":\"-1\"}", "cpu", "CPU"},
        {"{\"cpu\":-1}", "cpu", "CPU"},
        {"{\"cpu\":\"lots\"}", "cpu", "CPU"},
        {"{\"memory\":\"-1Gi\"}", "memory", "memory"},
        {"{\"memory\":\"12 apples\"}", "memory", "memory"},
        {"{\"memory\":[]}", "memory", "memory"},
        {"{\"gpus_per_model\":4}", "gpus_per_model", "map"},
        {"{\"gpus_per_model\":{\"A100\":-1}}", "gpus_per_model.A100", "integer"},
        {"{\"gpus_per_model\":{\"A100\":\"4\"}}", "gpus_per_model.A100", "integer"},
        {"{\"gpus_per_model\":{\"\":1}}", "gpus_per_model.", "1-31"},
        {"{\"gpus_per_model\":{\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\":1}}",
         "gpus_per_model.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "1-31"},
        {"{\"gpus_per_model\":{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1}}",
         "gpus_per_model", "at most 8"},
        {"{\"mig\":[\"1g.10gb\"]}", "mig", "map"},
        {"{\"mig\":{\"1g.10gb\":7.5}}", "mig.1g.10gb", "integer"},
        {"{\"mig\":{\"1g.10gb\":1000001}}", "mig.1g.10gb", "1000000"},
        {"[]", "", "object"},
        {"8", "", "object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct quota_amounts q;
        quota_amounts_zero(&q);
        q.gpus = 12345; /* untouched on failure */
        char field[64], why[160];
        int r = from_text(cases[i].body, &q, field, why);
        if (r != GPUAAS_EINVAL || strcmp(field, cases[i].field) != 0 || !strstr(why, cases[i].why_part))
            fail_msg("%s: got %d field '%s' why '%s'; want field '%s' and '%s' in the reason", cases[i].body, r,
                     field, why, cases[i].field, cases[i].why_part);
        assert_int_equal(q.gpus, 12345);
    }
}

/* ---- quota.c: the check and adding ----------------------------------------------------- */

static struct quota_amounts amounts(int64_t gpus, int64_t milli, int64_t cpu_milli, int64_t memory, int64_t pods)
{
    struct quota_amounts a;
    quota_amounts_zero(&a);
    a.gpus = gpus;
    a.gpu_milli = milli;
    a.cpu_milli = cpu_milli;
    a.memory_bytes = memory;
    a.pods = pods;
    return a;
}

static void kind_put(struct quota_kind *kinds, uint32_t *count, const char *name, int64_t amount)
{
    assert_true(*count < QUOTA_KINDS_MAX);
    snprintf(kinds[*count].name, sizeof kinds[*count].name, "%s", name);
    kinds[(*count)++].amount = amount;
}

static void expect_exceeded(const struct quota_amounts *limit, const struct quota_amounts *used,
                            const struct quota_amounts *need, const char *want_field, const char *want_why)
{
    char why[160] = "", field[64] = "";
    bool over = quota_exceeded(limit, used, need, why, sizeof why, field, sizeof field);
    if (!want_why) {
        if (over)
            fail_msg("not over the limit, but quota_exceeded says '%s' (%s)", why, field);
        return;
    }
    if (!over)
        fail_msg("over the limit (%s), but quota_exceeded says no", want_why);
    assert_string_equal(why, want_why);
    assert_string_equal(field, want_field);
}

static void exceeded_messages(void **state)
{
    (void)state;
    struct quota_amounts limit, used, need;
    quota_amounts_unlimited(&limit);
    limit.gpus = 8;
    used = amounts(8, 0, 0, 0, 3);
    need = amounts(2, 0, 0, 0, 1);
    expect_exceeded(&limit, &used, &need, "gpus", "gpus 8/8 in use, needs 2");
    expect_exceeded(&limit, NULL, &need, NULL, NULL); /* 2 <= 8 */
    need.gpus = 10;
    expect_exceeded(&limit, NULL, &need, "gpus", "gpus: needs 10, limit 8");
    used.gpus = 6;
    need.gpus = 2;
    expect_exceeded(&limit, &used, &need, NULL, NULL); /* exactly full is fine */
    need.gpus = 3;
    expect_exceeded(&limit, &used, &need, "gpus", "gpus 6/8 in use, needs 3");

    /* a resource not needed never blocks, even when its use is over the limit
     * (a limit lowered below what runs) */
    used.gpus = 9;
    need.gpus = 0;
    expect_exceeded(&limit, &used, &need, NULL, NULL);

    /* unlimited never blocks */
    quota_amounts_unlimited(&limit);
    need = amounts(1000, 1000, 1000000, 1000 * GIB, 1000);
    expect_exceeded(&limit, &used, &need, NULL, NULL);

    /* cpu and memory in their units; the first resource over wins, in the
     * order gpus, gpu_milli, cpu, memory, pods */
    quota_amounts_unlimited(&limit);
    limit.cpu_milli = 4000;
    limit.memory_bytes = 16 * GIB;
    limit.pods = 2;
    limit.gpu_milli = 1000;
    used = amounts(0, 750, 3500, 15 * GIB, 2);
    need = amounts(0, 500, 1000, 2 * GIB, 1);
    expect_exceeded(&limit, &used, &need, "gpu_milli", "gpu_milli 750/1000 in use, needs 500");
    need.gpu_milli = 250;
    expect_exceeded(&limit, &used, &need, "cpu", "cpu 3500m/4 in use, needs 1");
    need.cpu_milli = 500;
    expect_exceeded(&limit, &used, &need, "memory", "memory 15Gi/16Gi in use, needs 2Gi");
    need.memory_bytes = 512LL * 1024 * 1024;
    expect_exceeded(&limit, &used, &need, "pods", "pods 2/2 in use, needs 1");
    expect_exceeded(&limit, NULL, &need, NULL, NULL);
    need.pods = 3;
    expect_exceeded(&limit, NULL, &need, "pods", "pods: needs 3, limit 2");
    need.cpu_milli = 4500;
    expect_exceeded(&limit, NULL, &need, "cpu", "cpu: needs 4500m, limit 4");

    /* per model and per MIG profile; a model the limit does not name is unlimited */
    quota_amounts_unlimited(&limit);
    kind_put(limit.models, &limit.model_count, "A100", 4);
    kind_put(limit.migs, &limit.mig_count, "1g.10gb", 7);
    quota_amounts_zero(&used);
    kind_put(used.models, &used.model_count, "A100", 4);
    kind_put(used.models, &used.model_count, "T4", 100);
    kind_put(used.migs, &used.mig_count, "1g.10gb", 6);
    quota_amounts_zero(&need);
    kind_put(need.models, &need.model_count, "T4", 5);
    expect_exceeded(&limit, &used, &need, NULL, NULL);
    kind_put(need.models, &need.model_count, "A100", 1);
    expect_exceeded(&limit, &used, &need, "gpus.A100", "gpus.A100 4/4 in use, needs 1");
    quota_amounts_zero(&need);
    kind_put(need.migs, &need.mig_count, "1g.10gb", 1);
    expect_exceeded(&limit, &used, &need, NULL, NULL);
    need.migs[0].amount = 2;
    expect_exceeded(&limit, &used, &need, "mig.1g.10gb", "mig.1g.10gb 6/7 in use, needs 2");
    need.migs[0].amount = 8;
    expect_exceeded(&limit, NULL, &need, "mig.1g.10gb", "mig.1g.10gb: needs 8, limit 7");
    /* no use recorded for the model yet: 0 */
    quota_amounts_zero(&used);
    quota_amounts_zero(&need);
    kind_put(need.models, &need.model_count, "A100", 5);
    expect_exceeded(&limit, &used, &need, "gpus.A100", "gpus.A100 0/4 in use, needs 5");

    /* a small buffer cuts the message, and stays terminated */
    char why[12], field[4];
    assert_true(quota_exceeded(&limit, &used, &need, why, sizeof why, field, sizeof field));
    assert_string_equal(why, "gpus.A100 0");
    assert_string_equal(field, "gpu");
}

static void amounts_add_kinds(void **state)
{
    (void)state;
    struct quota_amounts a, b;
    quota_amounts_zero(&a);
    a = amounts(2, 100, 1000, GIB, 1);
    kind_put(a.models, &a.model_count, "A100", 2);
    b = amounts(3, 200, 500, 2 * GIB, 2);
    kind_put(b.models, &b.model_count, "H100", 3);
    kind_put(b.models, &b.model_count, "A100", 1);
    kind_put(b.migs, &b.mig_count, "1g.5gb", 2);
    quota_amounts_add(&a, &b, +1);
    assert_int_equal(a.gpus, 5);
    assert_int_equal(a.gpu_milli, 300);
    assert_int_equal(a.cpu_milli, 1500);
    assert_int_equal(a.memory_bytes, 3 * GIB);
    assert_int_equal(a.pods, 3);
    assert_int_equal(a.model_count, 2);
    assert_int_equal(quota_kind_get(a.models, a.model_count, "A100"), 3);
    assert_int_equal(quota_kind_get(a.models, a.model_count, "H100"), 3);
    assert_int_equal(a.mig_count, 1);
    assert_int_equal(quota_kind_get(a.migs, a.mig_count, "1g.5gb"), 2);
    quota_amounts_add(&a, &b, -1);
    assert_int_equal(a.gpus, 2);
    assert_int_equal(a.gpu_milli, 100);
    assert_int_equal(a.cpu_milli, 1000);
    assert_int_equal(a.memory_bytes, GIB);
    assert_int_equal(a.pods, 1);
    assert_int_equal(quota_kind_get(a.models, a.model_count, "A100"), 2);
    assert_int_equal(quota_kind_get(a.models, a.model_count, "H100"), 0); /* kept, at zero */
    assert_int_equal(quota_kind_get(a.migs, a.mig_count, "1g.5gb"), 0);
    /* the same amounts added and taken away in any order leave zero */
    struct quota_amounts z;
    quota_amounts_zero(&z);
    quota_amounts_add(&z, &b, -1);
    quota_amounts_add(&z, &b, +1);
    assert_int_equal(z.gpus, 0);
    assert_int_equal(quota_kind_get(z.models, z.model_count, "H100"), 0);
    assert_int_equal(quota_kind_get(z.migs, z.mig_count, "1g.5gb"), 0);

    /* more kinds than tracked: the extra ones are dropped, the totals still add */
    struct quota_amounts many;
    quota_amounts_zero(&many);
    for (int i = 0; i < QUOTA_KINDS_MAX + 2; i++) {
        struct quota_amounts one;
        quota_amounts_zero(&one);
        one.gpus = 1;
        char name[16];
        snprintf(name, sizeof name, "M%d", i);
        kind_put(one.models, &one.model_count, name, 1);
        quota_amounts_add(&many, &one, +1);
    }
    assert_int_equal(many.gpus, QUOTA_KINDS_MAX + 2);
    assert_int_equal(many.model_count, QUOTA_KINDS_MAX);
    assert_int_equal(quota_kind_get(many.models, many.model_count, "M0"), 1);
    assert_int_equal(quota_kind_get(many.models, many.model_count, "M9"), QUOTA_UNLIMITED);

    /* unlimited: every total -1, no kinds */
    quota_amounts_unlimited(&a);
    assert_int_equal(a.gpus, QUOTA_UNLIMITED);
    assert_int_equal(a.gpu_milli, QUOTA_UNLIMITED);
    assert_int_equal(a.cpu_milli, QUOTA_UNLIMITED);
    assert_int_equal(a.memory_bytes, QUOTA_UNLIMITED);
    assert_int_equal(a.pods, QUOTA_UNLIMITED);
    assert_int_equal(a.model_count + a.mig_count, 0);
}

/* ---- the core: harness ---------------------------------------------------------------------- */

struct h {
    struct core_state st;
    struct core_effects fx;
    struct core_reply reply; /* of the last command */
    int64_t now;
    unsigned quota_puts, quota_deletes; /* effects seen in the last step */
};

static void h_init(struct h *h)
{
    memset(h, 0, sizeof *h);
    assert_int_equal(core_state_init(&h->st), 0);
    h->st.cfg.restart_backoff_ms = 5000;
    h->st.cfg.restart_backoff_max_ms = 60000;
    h->st.cfg.stop_grace_ms = 1000;
    core_effects_init(&h->fx);
    h->now = T0;
}

static void h_free(struct h *h)
{
    core_reply_clear(&h->reply);
    core_effects_free(&h->fx);
    core_state_free(&h->st);
}

static void record(struct h *h)
{
    assert_false(h->fx.out_of_memory);
    for (unsigned i = 0; i < h->fx.count; i++) {
        h->quota_puts += h->fx.items[i].kind == CORE_EFFECT_QUOTA_PUT;
        h->quota_deletes += h->fx.items[i].kind == CORE_EFFECT_QUOTA_DELETE;
        if (h->fx.items[i].kind == CORE_EFFECT_QUOTA_PUT)
            assert_non_null(h->fx.items[i].ns);
    }
}

/* One batch of one command, then the scheduling pass. */
static int step(struct h *h, struct core_cmd *cmd)
{
    h->quota_puts = h->quota_deletes = 0;
    core_reply_clear(&h->reply);
    int r = core_apply(&h->st, cmd, h->now, &h->fx, &h->reply);
    assert_int_equal(r, h->reply.err);
    if (r < 0)
        assert_int_equal(h->fx.count, 0);
    record(h);
    core_schedule(&h->st, h->now, &h->fx);
    record(h);
    return r;
}

static void ns_create(struct h *h, const char *path)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_NAMESPACE_CREATE;
    snprintf(cmd.namespace_path, sizeof cmd.namespace_path, "%s", path);
    assert_int_equal(step(h, &cmd), 0);
}

/* PUT of a quota body (JSON text) as one batch. */
static int quota_set(struct h *h, const char *path, const char *body)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_QUOTA_SET;
    snprintf(cmd.namespace_path, sizeof cmd.namespace_path, "%s", path);
    cmd.quota = malloc(sizeof *cmd.quota); /* the command's: core_cmd_clear frees it */
    assert_non_null(cmd.quota);
    char field[64], why[160];
    json_t *j = parse_json(body);
    int r = quota_from_json(j, cmd.quota, field, sizeof field, why, sizeof why);
    json_decref(j);
    if (r < 0)
        fail_msg("test quota %s invalid: %s %s", body, field, why);
    r = step(h, &cmd);
    core_cmd_clear(&cmd);
    return r;
}

static int quota_delete(struct h *h, const char *path)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_QUOTA_DELETE;
    snprintf(cmd.namespace_path, sizeof cmd.namespace_path, "%s", path);
    return step(h, &cmd);
}

static json_t *plain_gpu(int index, const char *uuid, const char *model)
{
    return json_pack("{s:i,s:s,s:s,s:s,s:b,s:[]}", "index", index, "uuid", uuid, "model", model, "memory", "24Gi",
                     "mig_mode", 0, "mig_devices");
}

/* A node of `count` plain GPUs of one model (and, with mig, one more GPU
 * split into 1g.10gb, 1g.10gb, 3g.40gb), 64 cpu, 256Gi. */
static void put_node(struct h *h, const char *name, const char *model, int count, bool mig)
{
    json_t *gpus = json_array();
    int g = 0;
    for (; g < count; g++) {
        char uuid[64];
        snprintf(uuid, sizeof uuid, "GPU-%s-%d", name, g);
        json_array_append_new(gpus, plain_gpu(g, uuid, model));
    }
    if (mig) {
        char uuid[64], m0[64], m1[64], m2[64];
        snprintf(uuid, sizeof uuid, "GPU-%s-%d", name, g);
        snprintf(m0, sizeof m0, "MIG-%s-0", name);
        snprintf(m1, sizeof m1, "MIG-%s-1", name);
        snprintf(m2, sizeof m2, "MIG-%s-2", name);
        json_array_append_new(gpus, json_pack("{s:i,s:s,s:s,s:s,s:b,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "index",
                                              g, "uuid", uuid, "model", model, "memory", "80Gi", "mig_mode", 1,
                                              "mig_devices", "profile", "1g.10gb", "uuid", m0, "profile",
                                              "1g.10gb", "uuid", m1, "profile", "3g.40gb", "uuid", m2));
    }
    json_t *node = json_pack("{s:s,s:s,s:{},s:s,s:s,s:o}", "name", name, "state", "Ready", "labels", "cpu", "64",
                             "memory", "256Gi", "gpus", gpus);
    assert_non_null(node);
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_NODE_PUT;
    cmd.node = malloc(sizeof *cmd.node);
    assert_non_null(cmd.node);
    char err[256];
    if (core_node_from_json(node, cmd.node, err, sizeof err) < 0)
        fail_msg("test node invalid: %s", err);
    json_decref(node);
    assert_int_equal(step(h, &cmd), 0);
    core_cmd_clear(&cmd);
}

/* A job spec: resources given as JSON text, command sleep. */
static json_t *job(const char *ns, const char *name, const char *resources)
{
    json_t *spec = json_pack("{s:s,s:s,s:[s,s],s:o}", "name", name, "namespace", ns, "command", "sleep", "60",
                             "resources", parse_json(resources));
    assert_non_null(spec);
    return spec;
}

static json_t *with(json_t *spec, const char *key, json_t *value)
{
    assert_non_null(value);
    assert_int_equal(json_object_set_new(spec, key, value), 0);
    return spec;
}

/* Submits a spec (consumed) as one batch. */
static int submit(struct h *h, json_t *spec)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_JOB_SUBMIT;
    struct spec_error err;
    int r = spec_parse_job(spec, NULL, &cmd.job, &err);
    json_decref(spec);
    if (r < 0)
        fail_msg("test spec invalid at '%s': %s", err.field, err.message);
    r = step(h, &cmd);
    core_cmd_clear(&cmd);
    return r;
}

static const struct core_job *must_job(const struct h *h, const char *ns, const char *name)
{
    const struct core_job *j = core_find_job(&h->st, ns, name);
    if (!j)
        fail_msg("job %s/%s not found", ns, name);
    return j;
}

/* The only active pod of a job. */
static const struct core_pod *active_pod(const struct h *h, const char *ns, const char *name)
{
    const struct core_job *j = must_job(h, ns, name);
    const struct core_pod *found = NULL;
    void *value;
    for (size_t it = 0; hmap_next(&h->st.pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        if (pod->job_id == j->id && !core_pod_state_final(pod->state)) {
            if (found)
                fail_msg("job %s has more than one active pod", name);
            found = pod;
        }
    }
    if (!found)
        fail_msg("job %s/%s has no active pod (state %s, reason '%s')", ns, name, core_job_state_name(j->state),
                 j->reason);
    return found;
}

static bool has_active_pod(const struct h *h, const char *ns, const char *name)
{
    const struct core_job *j = must_job(h, ns, name);
    return j->active_pods > 0;
}

static void expect_waiting(const struct h *h, const char *ns, const char *name, const char *reason)
{
    const struct core_job *j = must_job(h, ns, name);
    if (j->state != JOB_PENDING || j->active_pods != 0)
        fail_msg("job %s: expected Pending without pods, is %s with %d pod(s)", name, core_job_state_name(j->state),
                 j->active_pods);
    if (strcmp(j->reason, reason) != 0)
        fail_msg("job %s: reason '%s', expected '%s'", name, j->reason, reason);
}

static void pod_cmd(struct h *h, enum core_cmd_kind kind, uint64_t pod_id, int32_t exit_code, bool lost)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = kind;
    cmd.pod_id = pod_id;
    cmd.exit_code = exit_code;
    cmd.lost = lost;
    if (kind == CORE_CMD_POD_STARTED)
        snprintf(cmd.handle, sizeof cmd.handle, "h-%llu", (unsigned long long)pod_id);
    if (lost)
        snprintf(cmd.message, sizeof cmd.message, "node rebooted");
    assert_int_equal(step(h, &cmd), 0);
}

static void run_job(struct h *h, const char *ns, const char *name)
{
    pod_cmd(h, CORE_CMD_POD_STARTED, active_pod(h, ns, name)->id, 0, false);
    assert_int_equal(must_job(h, ns, name)->state, JOB_RUNNING);
}

static void finish_job(struct h *h, const char *ns, const char *name)
{
    pod_cmd(h, CORE_CMD_POD_EXITED, active_pod(h, ns, name)->id, 0, false);
}

static const struct quota_amounts *used_of(const struct h *h, const char *path)
{
    const struct core_namespace *ns = core_find_namespace(&h->st, path);
    if (!ns)
        fail_msg("namespace %s not found", path);
    return &ns->used;
}

static int64_t used_gpus(const struct h *h, const char *path) { return used_of(h, path)->gpus; }

/* The use of every namespace is the sum over the active pods of its subtree. */
static void check_use(const struct h *h, const char *where)
{
    void *nv;
    for (size_t it = 0; hmap_next(&h->st.namespaces, &it, NULL, &nv);) {
        const struct core_namespace *ns = nv;
        struct quota_amounts sum;
        quota_amounts_zero(&sum);
        size_t len = strlen(ns->path);
        void *pv;
        for (size_t pit = 0; hmap_next(&h->st.pods, &pit, NULL, &pv);) {
            const struct core_pod *pod = pv;
            if (core_pod_state_final(pod->state) || strncmp(pod->namespace_path, ns->path, len) != 0 ||
                (pod->namespace_path[len] != '\0' && pod->namespace_path[len] != '/'))
                continue;
            for (uint32_t d = 0; d < pod->device_count; d++) {
                if (pod->devices[d].mig >= 0)
                    continue;
                if (pod->devices[d].milli >= 1000)
                    sum.gpus++;
                else
                    sum.gpu_milli += pod->devices[d].milli;
            }
            sum.cpu_milli += pod->cpu_milli;
            sum.memory_bytes += pod->memory_bytes;
            sum.pods++;
        }
        if (ns->used.gpus != sum.gpus || ns->used.gpu_milli != sum.gpu_milli || ns->used.cpu_milli != sum.cpu_milli ||
            ns->used.memory_bytes != sum.memory_bytes || ns->used.pods != sum.pods)
            fail_msg("%s: namespace %s uses gpus %lld milli %lld cpu %lld mem %lld pods %lld; its active pods hold "
                     "%lld %lld %lld %lld %lld",
                     where, ns->path, (long long)ns->used.gpus, (long long)ns->used.gpu_milli,
                     (long long)ns->used.cpu_milli, (long long)ns->used.memory_bytes, (long long)ns->used.pods,
                     (long long)sum.gpus, (long long)sum.gpu_milli, (long long)sum.cpu_milli,
                     (long long)sum.memory_bytes, (long long)sum.pods);
        if (ns->has_quota && ns->quota.gpus != QUOTA_UNLIMITED && ns->used.gpus > ns->quota.gpus)
            fail_msg("%s: namespace %s holds %lld GPUs over its quota of %lld", where, ns->path,
                     (long long)ns->used.gpus, (long long)ns->quota.gpus);
    }
}

#define PARENT "team/proj"
#define NS_A "team/proj/a"
#define NS_B "team/proj/b"

/* A 8-GPU node (capacity is never the limit here), namespaces a and b under
 * one parent; the parent's quota 3 GPUs, each child's 2. */
static void parent_children(struct h *h)
{
    put_node(h, "n1", "A10G", 8, false);
    ns_create(h, NS_A);
    ns_create(h, NS_B);
    assert_int_equal(quota_set(h, PARENT, "{\"gpus\":3}"), 0);
    assert_int_equal(h->quota_puts, 1);
    assert_int_equal(quota_set(h, NS_A, "{\"gpus\":2}"), 0);
    assert_int_equal(quota_set(h, NS_B, "{\"gpus\":2}"), 0);
}

static int setup(void **state)
{
    struct h *h = malloc(sizeof *h);
    assert_non_null(h);
    h_init(h);
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    struct h *h = *state;
    h_free(h);
    free(h);
    return 0;
}

/* ---- the core: tests ------------------------------------------------------------------------- */

static void parent_caps_children(void **state)
{
    struct h *h = *state;
    parent_children(h);
    assert_int_equal(submit(h, job(NS_A, "a1", "{\"gpus\":1}")), 0);
    assert_int_equal(submit(h, job(NS_A, "a2", "{\"gpus\":1}")), 0);
    assert_int_equal(submit(h, job(NS_A, "a3", "{\"gpus\":1}")), 0);
    expect_waiting(h, NS_A, "a3", "quota team/proj/a: gpus 2/2 in use, needs 1");
    assert_int_equal(submit(h, job(NS_B, "b1", "{\"gpus\":1}")), 0);
    assert_int_equal(submit(h, job(NS_B, "b2", "{\"gpus\":1}")), 0);
    /* b is within its own quota (1 of 2), the parent is not (3 of 3) */
    expect_waiting(h, NS_B, "b2", "quota team/proj: gpus 3/3 in use, needs 1");
    assert_int_equal(used_gpus(h, NS_A), 2);
    assert_int_equal(used_gpus(h, NS_B), 1);
    assert_int_equal(used_gpus(h, PARENT), 3);
    assert_int_equal(used_gpus(h, "team"), 3);
    check_use(h, "all placed");
    /* the API's view: {"namespace","limits","used"} */
    json_t *q = core_render_quota(core_find_namespace(&h->st, PARENT));
    assert_json_text(q, "{\"namespace\":\"team/proj\",\"limits\":{\"gpus\":3},\"used\":{\"gpus\":3,"
                        "\"gpus_per_model\":{\"A10G\":3},\"mig\":{},\"gpu_milli\":0,\"cpu\":\"0\",\"memory\":\"0\","
                        "\"pods\":3}}");
    json_decref(q);
    json_t *list = core_list_quotas(&h->st, NULL);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(list, "items"), 0),
                                                          "namespace")),
                        PARENT);
    json_decref(list);
    list = core_list_quotas(&h->st, NS_B);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
    json_decref(list);

    /* a1 ends: b2 takes the parent's free GPU before a3, queued first:
     * fair share, namespace b has used less GPU time than a */
    run_job(h, NS_A, "a1");
    h->now += 1000;
    finish_job(h, NS_A, "a1");
    assert_int_equal(must_job(h, NS_A, "a1")->state, JOB_SUCCEEDED);
    assert_true(has_active_pod(h, NS_B, "b2"));
    expect_waiting(h, NS_A, "a3", "quota team/proj: gpus 3/3 in use, needs 1");
    check_use(h, "after a1");
    /* b1 ends: a3 runs */
    h->now += 1000;
    finish_job(h, NS_B, "b1");
    assert_true(has_active_pod(h, NS_A, "a3"));
    assert_int_equal(used_gpus(h, PARENT), 3);
    check_use(h, "after b1");
}

static void pending_reason_and_release(void **state)
{
    struct h *h = *state;
    put_node(h, "n1", "A10G", 4, false);
    ns_create(h, "team-ai/project-llm/dev");
    assert_int_equal(quota_set(h, "team-ai/project-llm/dev", "{\"gpus\":2}"), 0);
    assert_int_equal(submit(h, job("team-ai/project-llm/dev", "first", "{\"gpus\":2}")), 0);
    assert_int_equal(submit(h, job("team-ai/project-llm/dev", "second", "{\"gpus\":2}")), 0);
    expect_waiting(h, "team-ai/project-llm/dev", "second", "quota team-ai/project-llm/dev: gpus 2/2 in use, needs 2");
    const struct core_pod *pod = active_pod(h, "team-ai/project-llm/dev", "first");
    uint64_t first_pod = pod->id;
    /* started: still held */
    run_job(h, "team-ai/project-llm/dev", "first");
    expect_waiting(h, "team-ai/project-llm/dev", "second", "quota team-ai/project-llm/dev: gpus 2/2 in use, needs 2");
    /* a cancel asks the pod to stop; the GPUs count until it has ended */
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_JOB_CANCEL;
    snprintf(cmd.namespace_path, sizeof cmd.namespace_path, "team-ai/project-llm/dev");
    snprintf(cmd.name, sizeof cmd.name, "first");
    assert_int_equal(step(h, &cmd), 0);
    assert_int_equal(used_gpus(h, "team-ai/project-llm/dev"), 2);
    expect_waiting(h, "team-ai/project-llm/dev", "second", "quota team-ai/project-llm/dev: gpus 2/2 in use, needs 2");
    h->now += 500;
    pod_cmd(h, CORE_CMD_POD_EXITED, first_pod, -1, false);
    assert_true(has_active_pod(h, "team-ai/project-llm/dev", "second"));
    assert_int_equal(used_gpus(h, "team-ai/project-llm/dev"), 2);
    check_use(h, "second placed");
    /* lost and failed-to-start pods release too */
    h->now += 500;
    pod_cmd(h, CORE_CMD_POD_EXITED, active_pod(h, "team-ai/project-llm/dev", "second")->id, -1, true);
    assert_int_equal(used_gpus(h, "team-ai/project-llm/dev"), 0);
    assert_int_equal(used_gpus(h, "team-ai"), 0);
    assert_int_equal(submit(h, job("team-ai/project-llm/dev", "third", "{\"gpus\":2}")), 0);
    assert_int_equal(used_gpus(h, "team-ai/project-llm/dev"), 2);
    struct core_cmd failed;
    memset(&failed, 0, sizeof failed);
    failed.kind = CORE_CMD_POD_STARTED;
    failed.pod_id = active_pod(h, "team-ai/project-llm/dev", "third")->id;
    failed.start_failed = true;
    snprintf(failed.message, sizeof failed.message, "exec: no such file");
    assert_int_equal(step(h, &failed), 0);
    assert_int_equal(used_gpus(h, "team-ai/project-llm/dev"), 0);
    assert_int_equal(used_of(h, "team-ai/project-llm/dev")->pods, 0);
    check_use(h, "all ended");
}

static void refused_at_submit(void **state)
{
    struct h *h = *state;
    parent_children(h);
    put_node(h, "n2", "A100", 2, true);
    static const struct {
        const char *ns, *quota, *resources, *field, *message;
    } cases[] = {
        {NS_A, NULL, "{\"gpus\":3}", "resources.gpus",
         "quota team/proj/a: gpus: needs 3, limit 2 (the job can never run in this namespace)"},
        {NS_B, NULL, "{\"gpus\":3}", "resources.gpus", "quota team/proj/b: gpus: needs 3, limit 2"},
        {NS_A, "{\"gpus\":2,\"cpu\":\"4\"}", "{\"cpu\":\"5\"}", "resources.cpu",
         "quota team/proj/a: cpu: needs 5, limit 4"},
        {NS_A, "{\"memory\":\"4Gi\"}", "{\"memory\":\"6Gi\"}", "resources.memory",
         "quota team/proj/a: memory: needs 6Gi, limit 4Gi"},
        {NS_A, "{\"gpu_milli\":400}", "{\"gpu_milli\":500}", "resources.gpu_milli",
         "quota team/proj/a: gpu_milli: needs 500, limit 400"},
        {NS_A, "{\"mig\":{\"1g.10gb\":0}}", "{\"mig\":\"1g.10gb\"}", "resources.mig",
         "quota team/proj/a: mig.1g.10gb: needs 1, limit 0"},
        {NS_A, "{\"gpus_per_model\":{\"A100\":1}}", "{\"gpus\":2}", "resources.gpus", NULL}, /* below */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].quota)
            assert_int_equal(quota_set(h, cases[i].ns, cases[i].quota), 0);
        if (!cases[i].message)
            continue;
        unsigned jobs = (unsigned)h->st.jobs.count;
        assert_int_equal(submit(h, job(cases[i].ns, "big", cases[i].resources)), GPUAAS_EQUOTA);
        assert_string_equal(h->reply.field, cases[i].field);
        if (!strstr(h->reply.message, cases[i].message))
            fail_msg("case %zu: message '%s' lacks '%s'", i, h->reply.message, cases[i].message);
        assert_int_equal(h->st.jobs.count, jobs);
    }
    /* a gang is refused on the sum of its replicas: 2 x 2 GPUs over the parent's 3 */
    assert_int_equal(quota_set(h, NS_A, "{\"gpus\":2}"), 0);
    json_t *gang = with(job(NS_B, "gang", "{\"gpus\":2}"), "replicas", json_integer(2));
    assert_int_equal(submit(h, gang), GPUAAS_EQUOTA);
    assert_string_equal(h->reply.field, "resources.gpus");
    assert_non_null(strstr(h->reply.message, "quota team/proj/b: gpus: needs 4, limit 2"));
    /* pods: the replica count */
    assert_int_equal(quota_set(h, NS_B, "{\"pods\":2}"), 0);
    gang = with(job(NS_B, "gang", "{\"cpu\":1}"), "replicas", json_integer(3));
    assert_int_equal(submit(h, gang), GPUAAS_EQUOTA);
    assert_string_equal(h->reply.field, "replicas");
    assert_non_null(strstr(h->reply.message, "quota team/proj/b: pods: needs 3, limit 2"));
    /* the parent is named when it is the one too small */
    assert_int_equal(quota_set(h, NS_B, "{}"), 0);
    assert_int_equal(submit(h, job(NS_B, "four", "{\"gpus\":4}")), GPUAAS_EQUOTA);
    assert_non_null(strstr(h->reply.message, "quota team/proj: gpus: needs 4, limit 3"));
    /* a model named by the selector counts at submit */
    assert_int_equal(quota_set(h, NS_A, "{\"gpus_per_model\":{\"A100\":1}}"), 0);
    json_t *a100 = with(job(NS_A, "a100", "{\"gpus\":2}"), "selector",
                        json_pack("{s:s}", "gpuaas.io/gpu-model", "A100"));
    assert_int_equal(submit(h, a100), GPUAAS_EQUOTA);
    assert_string_equal(h->reply.field, "resources.gpus");
    assert_non_null(strstr(h->reply.message, "quota team/proj/a: gpus.A100: needs 2, limit 1"));
    /* what fits is taken */
    assert_int_equal(submit(h, job(NS_A, "ok", "{\"gpus\":1}")), 0);
    assert_int_equal(h->st.jobs.count, 1);
}

static void set_and_delete(void **state)
{
    struct h *h = *state;
    parent_children(h);
    /* a child may not exceed its parent */
    assert_int_equal(quota_set(h, NS_A, "{\"gpus\":4}"), GPUAAS_EINVAL);
    assert_string_equal(h->reply.field, "gpus");
    assert_non_null(strstr(h->reply.message, "team/proj"));
    assert_int_equal(h->quota_puts, 0);
    assert_int_equal(core_find_namespace(&h->st, NS_A)->quota.gpus, 2); /* unchanged */
    assert_int_equal(quota_set(h, NS_A, "{\"gpus\":3}"), 0); /* equal is fine */
    /* a limit the parent does not have is fine; one it has counts, also per model */
    assert_int_equal(quota_set(h, "team", "{\"gpus_per_model\":{\"A10G\":2},\"cpu\":8}"), 0);
    assert_int_equal(quota_set(h, NS_B, "{\"gpus_per_model\":{\"A10G\":3}}"), GPUAAS_EINVAL);
    assert_string_equal(h->reply.field, "gpus.A10G");
    assert_non_null(strstr(h->reply.message, "'team'"));
    assert_int_equal(quota_set(h, NS_B, "{\"cpu\":\"8500m\"}"), GPUAAS_EINVAL);
    assert_string_equal(h->reply.field, "cpu");
    assert_int_equal(quota_set(h, NS_B, "{\"gpus_per_model\":{\"T4\":30},\"memory\":\"1Ti\"}"), 0);
    /* missing namespace */
    assert_int_equal(quota_set(h, "team/nope", "{\"gpus\":1}"), GPUAAS_ENOTFOUND);
    assert_int_equal(quota_delete(h, "team/nope"), GPUAAS_ENOTFOUND);
    assert_int_equal(quota_delete(h, "team/proj/a/x"), GPUAAS_ENOTFOUND);

    /* a waiting job starts once the quota that blocks it is raised or deleted */
    assert_int_equal(quota_set(h, "team", "{}"), 0);
    assert_int_equal(quota_set(h, NS_A, "{\"gpus\":1}"), 0);
    assert_int_equal(submit(h, job(NS_A, "j1", "{\"gpus\":1}")), 0);
    assert_int_equal(submit(h, job(NS_A, "j2", "{\"gpus\":1}")), 0);
    expect_waiting(h, NS_A, "j2", "quota team/proj/a: gpus 1/1 in use, needs 1");
    assert_int_equal(quota_set(h, NS_A, "{\"gpus\":2}"), 0);
    assert_true(has_active_pod(h, NS_A, "j2"));
    assert_int_equal(submit(h, job(NS_A, "j3", "{\"gpus\":1}")), 0);
    expect_waiting(h, NS_A, "j3", "quota team/proj/a: gpus 2/2 in use, needs 1"); /* innermost first */
}

static void lower_and_delete(void **state)
{
    struct h *h = *state;
    parent_children(h);
    assert_int_equal(submit(h, job(NS_A, "j1", "{\"gpus\":1}")), 0);
    assert_int_equal(submit(h, job(NS_A, "j2", "{\"gpus\":1}")), 0);
    assert_int_equal(submit(h, job(NS_A, "j3", "{\"gpus\":1}")), 0);
    expect_waiting(h, NS_A, "j3", "quota team/proj/a: gpus 2/2 in use, needs 1");
    /* lowering a limit below the use stops nothing; new work waits */
    assert_int_equal(quota_set(h, NS_A, "{\"gpus\":1}"), 0);
    assert_int_equal(used_gpus(h, NS_A), 2);
    expect_waiting(h, NS_A, "j3", "quota team/proj/a: gpus 2/1 in use, needs 1");
    /* deleting the child's quota leaves the parent's */
    assert_int_equal(quota_delete(h, NS_A), 0);
    assert_int_equal(h->quota_deletes, 1);
    assert_json_text(h->reply.object, "{\"namespace\":\"team/proj/a\",\"limits\":{\"gpus\":1},\"used\":{\"gpus\":2,"
                                      "\"gpus_per_model\":{\"A10G\":2},\"mig\":{},\"gpu_milli\":0,\"cpu\":\"0\","
                                      "\"memory\":\"0\",\"pods\":2}}");
    assert_false(core_find_namespace(&h->st, NS_A)->has_quota);
    assert_int_equal(core_find_namespace(&h->st, NS_A)->quota.gpus, QUOTA_UNLIMITED);
    assert_true(has_active_pod(h, NS_A, "j3")); /* parent: 3 of 3 now */
    assert_int_equal(submit(h, job(NS_A, "j4", "{\"gpus\":1}")), 0);
    expect_waiting(h, NS_A, "j4", "quota team/proj: gpus 3/3 in use, needs 1");
    assert_int_equal(quota_delete(h, NS_A), GPUAAS_ENOTFOUND);
    assert_int_equal(quota_delete(h, PARENT), 0);
    assert_true(has_active_pod(h, NS_A, "j4"));
    assert_int_equal(used_gpus(h, PARENT), 4); /* use is kept without a quota */
    check_use(h, "quotas deleted");
}

static void kinds_in_placement(void **state)
{
    struct h *h = *state;
    put_node(h, "n1", "A10G", 4, true);
    ns_create(h, "org/p/e");
    /* per model: the model is known once placed */
    assert_int_equal(quota_set(h, "org/p/e", "{\"gpus_per_model\":{\"A10G\":1},\"mig\":{\"1g.10gb\":1}}"), 0);
    assert_int_equal(submit(h, job("org/p/e", "m1", "{\"gpus\":1}")), 0);
    assert_int_equal(submit(h, job("org/p/e", "m2", "{\"gpus\":1}")), 0);
    expect_waiting(h, "org/p/e", "m2", "quota org/p/e: gpus.A10G 1/1 in use, needs 1");
    /* MIG slices by profile: the node has two 1g.10gb, the quota allows one */
    assert_int_equal(submit(h, job("org/p/e", "s1", "{\"mig\":\"1g.10gb\"}")), 0);
    assert_int_equal(submit(h, job("org/p/e", "s2", "{\"mig\":\"1g.10gb\"}")), 0);
    expect_waiting(h, "org/p/e", "s2", "quota org/p/e: mig.1g.10gb 1/1 in use, needs 1");
    /* another profile is not limited */
    assert_int_equal(submit(h, job("org/p/e", "s3", "{\"mig\":\"3g.40gb\"}")), 0);
    assert_true(has_active_pod(h, "org/p/e", "s3"));
    const struct quota_amounts *u = used_of(h, "org");
    assert_int_equal(u->gpus, 1);
    assert_int_equal(quota_kind_get(u->models, u->model_count, "A10G"), 1);
    assert_int_equal(quota_kind_get(u->migs, u->mig_count, "1g.10gb"), 1);
    assert_int_equal(quota_kind_get(u->migs, u->mig_count, "3g.40gb"), 1);
    assert_int_equal(u->pods, 3);
    /* shares and pods */
    ns_create(h, "org/p/f");
    assert_int_equal(quota_set(h, "org/p/f", "{\"gpu_milli\":500,\"pods\":3,\"cpu\":\"2\",\"memory\":\"3Gi\"}"), 0);
    assert_int_equal(submit(h, job("org/p/f", "sh1", "{\"gpu_milli\":300}")), 0);
    assert_int_equal(submit(h, job("org/p/f", "sh2", "{\"gpu_milli\":300}")), 0);
    expect_waiting(h, "org/p/f", "sh2", "quota org/p/f: gpu_milli 300/500 in use, needs 300");
    assert_int_equal(submit(h, job("org/p/f", "c1", "{\"cpu\":\"1500m\",\"memory\":\"1Gi\"}")), 0);
    assert_int_equal(submit(h, job("org/p/f", "c2", "{\"cpu\":\"1\"}")), 0);
    expect_waiting(h, "org/p/f", "c2", "quota org/p/f: cpu 1500m/2 in use, needs 1");
    assert_int_equal(submit(h, job("org/p/f", "g1", "{\"memory\":\"2560Mi\"}")), 0);
    expect_waiting(h, "org/p/f", "g1", "quota org/p/f: memory 1Gi/3Gi in use, needs 2560Mi");
    assert_int_equal(submit(h, job("org/p/f", "p3", "{\"memory\":\"1Gi\"}")), 0);
    assert_true(has_active_pod(h, "org/p/f", "p3"));
    assert_int_equal(submit(h, job("org/p/f", "p4", "{}")), 0);
    expect_waiting(h, "org/p/f", "p4", "quota org/p/f: pods 3/3 in use, needs 1");
    check_use(h, "kinds");
    /* the first waiting job in queue order is named what blocks it; the
     * reasons are recomputed on the next pass after a release */
    finish_job(h, "org/p/e", "m1");
    assert_true(has_active_pod(h, "org/p/e", "m2"));
    finish_job(h, "org/p/f", "sh1");
    assert_true(has_active_pod(h, "org/p/f", "sh2"));
    expect_waiting(h, "org/p/f", "p4", "quota org/p/f: pods 3/3 in use, needs 1");
}

/* Rebuilds a state the way the store's load does: namespaces (parents
 * first), quotas, nodes, jobs, pods, then core_restore_finish; every object
 * goes through its JSON form. */
static void restore_into(const struct core_state *src, struct core_state *dst)
{
    for (int depth = 1; depth <= NS_DEPTH_MAX; depth++) {
        void *value;
        for (size_t it = 0; hmap_next(&src->namespaces, &it, NULL, &value);) {
            const struct core_namespace *ns = value;
            if (ns->depth == depth)
                assert_int_equal(core_restore_namespace(dst, ns->path, ns->created_ms), 0);
        }
    }
    void *value;
    for (size_t it = 0; hmap_next(&src->namespaces, &it, NULL, &value);) {
        const struct core_namespace *ns = value;
        if (!ns->has_quota)
            continue;
        json_t *limits = quota_to_json(&ns->quota, true);
        struct quota_amounts q;
        char field[64], why[160];
        assert_int_equal(quota_from_json(limits, &q, field, sizeof field, why, sizeof why), 0);
        json_decref(limits);
        assert_int_equal(core_restore_quota(dst, ns->path, &q), 0);
    }
    for (size_t i = 0; i < src->node_order_count; i++) {
        json_t *doc = core_render_node(src->node_order[i]);
        struct core_node *node = malloc(sizeof *node);
        assert_non_null(node);
        char err[256];
        assert_int_equal(core_node_from_json(doc, node, err, sizeof err), 0);
        json_decref(doc);
        assert_int_equal(core_restore_node(dst, node), 0);
        free(node);
    }
    for (uint64_t id = 1; id < src->next_job_id; id++) {
        const struct core_job *j = core_find_job_by_id(src, id);
        if (!j)
            continue;
        struct core_job *copy = calloc(1, sizeof *copy);
        assert_non_null(copy);
        struct spec_error err;
        assert_int_equal(spec_parse_job(j->spec.document, j->spec.namespace_path, &copy->spec, &err), 0);
        copy->id = j->id;
        copy->state = j->state;
        snprintf(copy->reason, sizeof copy->reason, "%s", j->reason);
        copy->restarts = j->restarts;
        copy->created_ms = j->created_ms;
        copy->updated_ms = j->updated_ms;
        copy->finished_ms = j->finished_ms;
        assert_int_equal(core_restore_job(dst, copy), 0);
        free(copy);
    }
    for (uint64_t id = 1; id < src->next_pod_id; id++) {
        const struct core_pod *p = core_find_pod(src, id);
        if (!p)
            continue;
        json_t *doc = core_render_pod(p);
        struct core_pod *pod = malloc(sizeof *pod);
        assert_non_null(pod);
        char err[256];
        assert_int_equal(core_pod_from_json(doc, pod, err, sizeof err), 0);
        json_decref(doc);
        assert_int_equal(core_restore_pod(dst, pod), 0);
        free(pod);
    }
    core_restore_finish(dst);
}

static void restore_recomputes_use(void **state)
{
    struct h *h = *state;
    parent_children(h);
    put_node(h, "n2", "A100", 1, true);
    assert_int_equal(quota_set(h, NS_B, "{\"gpus\":2,\"mig\":{\"1g.10gb\":1},\"cpu\":\"3\",\"memory\":\"8Gi\"}"), 0);
    assert_int_equal(submit(h, job(NS_A, "a1", "{\"gpus\":1,\"cpu\":1}")), 0);
    assert_int_equal(submit(h, job(NS_A, "a2", "{\"gpus\":1}")), 0);
    assert_int_equal(submit(h, job(NS_A, "a3", "{\"gpus\":1}")), 0);
    assert_int_equal(submit(h, job(NS_B, "b1", "{\"mig\":\"1g.10gb\",\"cpu\":2,\"memory\":\"4Gi\"}")), 0);
    assert_int_equal(submit(h, job(NS_B, "b2", "{\"mig\":\"1g.10gb\"}")), 0);
    assert_int_equal(submit(h, job(NS_B, "b3", "{\"gpus\":1}")), 0); /* the parent's third GPU */
    assert_int_equal(submit(h, job(NS_B, "b4", "{\"gpus\":1}")), 0);
    expect_waiting(h, NS_B, "b4", "quota team/proj: gpus 3/3 in use, needs 1");
    run_job(h, NS_A, "a1");
    run_job(h, NS_A, "a2");
    h->now += 1000;
    finish_job(h, NS_A, "a1"); /* a3 takes its place */
    assert_true(has_active_pod(h, NS_A, "a3"));
    expect_waiting(h, NS_B, "b2", "quota team/proj/b: mig.1g.10gb 1/1 in use, needs 1");
    expect_waiting(h, NS_B, "b4", "quota team/proj: gpus 3/3 in use, needs 1");
    check_use(h, "before restore");

    struct h *r = malloc(sizeof *r);
    assert_non_null(r);
    h_init(r);
    r->now = h->now + 5000;
    restore_into(&h->st, &r->st);
    /* the use comes back from the active pods only (a1 has ended) */
    void *value;
    for (size_t it = 0; hmap_next(&h->st.namespaces, &it, NULL, &value);) {
        const struct core_namespace *a = value, *b = core_find_namespace(&r->st, a->path);
        assert_non_null(b);
        assert_int_equal(a->has_quota, b->has_quota);
        json_t *x = core_render_quota(a), *y = core_render_quota(b);
        if (!json_equal(x, y)) {
            char *sx = json_dumps(x, JSON_COMPACT), *sy = json_dumps(y, JSON_COMPACT);
            fail_msg("namespace %s: %s before, %s restored", a->path, sx, sy);
        }
        json_decref(x);
        json_decref(y);
    }
    assert_int_equal(used_gpus(r, PARENT), 3);
    assert_int_equal(used_gpus(r, NS_A), 2);
    assert_int_equal(used_gpus(r, NS_B), 1);
    assert_int_equal(used_of(r, NS_A)->cpu_milli, 0);
    assert_int_equal(used_of(r, NS_B)->cpu_milli, 2000);
    assert_int_equal(used_of(r, NS_B)->memory_bytes, 4 * GIB);
    assert_int_equal(quota_kind_get(used_of(r, NS_B)->migs, used_of(r, NS_B)->mig_count, "1g.10gb"), 1);
    check_use(r, "restored");
    /* the first pass after the restore: the same waits, the same reasons */
    struct core_cmd tick;
    memset(&tick, 0, sizeof tick);
    tick.kind = CORE_CMD_TICK;
    assert_int_equal(step(r, &tick), 0);
    expect_waiting(r, NS_B, "b2", "quota team/proj/b: mig.1g.10gb 1/1 in use, needs 1");
    expect_waiting(r, NS_B, "b4", "quota team/proj: gpus 3/3 in use, needs 1");
    /* and the release still works on the restored state */
    assert_int_equal(active_pod(r, NS_A, "a2")->state, POD_RUNNING);
    finish_job(r, NS_A, "a2");
    assert_true(has_active_pod(r, NS_B, "b4"));
    finish_job(r, NS_B, "b1");
    assert_true(has_active_pod(r, NS_B, "b2"));
    check_use(r, "restored, then released");
    h_free(r);
    free(r);
}

/* ---- regressions ------------------------------------------------------------------------------ */

/* A per-model quota should steer placement, not stall it. Nodes "a" (2 x
 * A100, first in name order) and "b" (2 x A10G); the namespace may hold 1
 * A100 and any number of other GPUs. j1 (1 GPU, no selector) gets an A100.
 * Expected: j2 (1 GPU, no selector) runs on b's free A10G, which no quota
 * limits. Got: place_job takes the first node that fits (a's second A100),
 * the post-placement check refuses it, and the job waits with "gpus.A100 1/1
 * in use, needs 1" while b is idle (forever, as long as j1 runs). Fixed:
 * placement skips a node whose GPUs' model is over quota. */
static void regression_model_quota_blocks_other_models(void **state)
{
    struct h *h = *state;
    put_node(h, "a", "A100", 2, false);
    put_node(h, "b", "A10G", 2, false);
    ns_create(h, "org/p/e");
    assert_int_equal(quota_set(h, "org/p/e", "{\"gpus_per_model\":{\"A100\":1}}"), 0);
    assert_int_equal(submit(h, job("org/p/e", "j1", "{\"gpus\":1}")), 0);
    assert_string_equal(active_pod(h, "org/p/e", "j1")->gpu_model, "A100");
    assert_int_equal(submit(h, job("org/p/e", "j2", "{\"gpus\":1}")), 0);
    const struct core_job *j2 = must_job(h, "org/p/e", "j2");
    if (j2->active_pods == 0)
        fail_msg("j2 waits ('%s') although node b's A10G GPUs are free and not limited", j2->reason);
    assert_string_equal(active_pod(h, "org/p/e", "j2")->node, "b");
}

/* A node with GPUs of two models: node "m" has GPU 0 A100 and GPUs 1-2 T4.
 * The GPUs of one pod are all of one model, so a 2-GPU job gets the two T4
 * and is charged T4 2, A100 0; with a T4 quota of 1 it waits, naming it. */
static void regression_mixed_node_model_use(void **state)
{
    struct h *h = *state;
    json_t *gpus = json_array();
    json_array_append_new(gpus, plain_gpu(0, "GPU-m0", "A100"));
    json_array_append_new(gpus, plain_gpu(1, "GPU-m1", "T4"));
    json_array_append_new(gpus, plain_gpu(2, "GPU-m2", "T4"));
    json_t *node = json_pack("{s:s,s:s,s:{},s:s,s:s,s:o}", "name", "m", "state", "Ready", "labels", "cpu", "64",
                             "memory", "256Gi", "gpus", gpus);
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_NODE_PUT;
    cmd.node = malloc(sizeof *cmd.node);
    assert_non_null(cmd.node);
    char err[256];
    assert_int_equal(core_node_from_json(node, cmd.node, err, sizeof err), 0);
    json_decref(node);
    assert_int_equal(step(h, &cmd), 0);
    core_cmd_clear(&cmd);
    ns_create(h, "org/p/e");
    assert_int_equal(submit(h, job("org/p/e", "two", "{\"gpus\":2}")), 0);
    const struct core_pod *pod = active_pod(h, "org/p/e", "two");
    assert_int_equal(pod->device_count, 2);
    assert_string_equal(pod->gpu_model, "T4");
    const struct quota_amounts *u = used_of(h, "org/p/e");
    assert_int_equal(quota_kind_get(u->models, u->model_count, "T4"), 2);
    assert_true(quota_kind_get(u->models, u->model_count, "A100") <= 0);
    ns_create(h, "org/p/f");
    assert_int_equal(quota_set(h, "org/p/f", "{\"gpus_per_model\":{\"A100\":0}}"), 0);
    assert_int_equal(submit(h, job("org/p/f", "one", "{\"gpus\":1}")), 0);
    const struct core_job *one = must_job(h, "org/p/f", "one");
    assert_int_equal(one->active_pods, 0); /* only the A100 is free, and A100 is limited to 0 */
    assert_non_null(strstr(one->reason, "quota org/p/f: gpus.A100"));
}

/* Quota sizes are held to the limits of one job's request. Expected: an
 * organisation's quota of 4096 cores and 128Ti (a cluster of 64 p4d-size
 * nodes) is accepted. Got: quota_from_json parses cpu and memory with the
 * per-job quantity parsers, capped at 1024 cores (QUANTITY_CPU_MILLI_MAX)
 * and 64Ti (QUANTITY_MEMORY_MAX): 422 "cpu: not a CPU quantity (at most
 * 1024 cores)". Fixed: quota sizes have their own parser. */
static void regression_quota_cpu_memory_caps(void **state)
{
    (void)state;
    struct quota_amounts q;
    char field[64], why[160];
    int r = from_text("{\"cpu\":\"4096\",\"memory\":\"128Ti\"}", &q, field, why);
    if (r != 0)
        fail_msg("refused: %s: %s", field, why);
    assert_int_equal(q.cpu_milli, 4096000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_round_trip),
        cmocka_unit_test(json_errors),
        cmocka_unit_test(exceeded_messages),
        cmocka_unit_test(amounts_add_kinds),
        cmocka_unit_test_setup_teardown(parent_caps_children, setup, teardown),
        cmocka_unit_test_setup_teardown(pending_reason_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_at_submit, setup, teardown),
        cmocka_unit_test_setup_teardown(set_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(lower_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(kinds_in_placement, setup, teardown),
        cmocka_unit_test_setup_teardown(restore_recomputes_use, setup, teardown),
        cmocka_unit_test_setup_teardown(regression_model_quota_blocks_other_models, setup, teardown),
        cmocka_unit_test_setup_teardown(regression_mixed_node_model_use, setup, teardown),
        cmocka_unit_test(regression_quota_cpu_memory_caps),
    };
    return cmocka_run_group_tests_name("core_quota", tests, NULL, NULL);
}
