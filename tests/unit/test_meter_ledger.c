/* The usage ledger and utilisation, driven through core_apply like the
 * engine does: a seeded simulation across a month boundary (restarts,
 * failures, lost pods, a failed node, re-placement) whose ledger must equal
 * the independently observed integral of allocations exactly, per
 * namespace and per month, with no device second charged twice; GPU
 * samples attributed to whole GPUs, shares and MIG slices; the utilisation
 * factor; the ledger's order; month ranges in time zones across DST. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>

#include "core/meter.h"
#include "core/model.h"
#include "core/spec.h"
#include "gpuaas/error.h"
#include "lib/tzmonth.h"

#define HOUR_MS 3600000LL
#define MAX_PODS 4096

static int64_t at(const char *text)
{
    int64_t ms = 0;
    assert_int_equal(meter_parse_time(text, &ms), 0);
    return ms;
}

/* ---- a core driven like the engine ------------------------------------------ */

struct seen_pod {
    uint64_t id;
    char ns[NS_PATH_MAX + 1];
    int64_t start, end; /* end 0: still holding */
    uint32_t devices;
    char uuid[CORE_POD_DEVICES_MAX][64];
    int64_t milli[CORE_POD_DEVICES_MAX];
};

/* Rollups captured from POD_UTIL effects: what the store would hold. */
struct rollups {
    size_t count;
    struct {
        uint64_t pod;
        int64_t hour;
        struct core_pod_util u;
    } rows[64];
};

struct sim {
    struct rollups *rollups; /* NULL, or where POD_UTIL effects go */
    struct core_state st;
    struct core_effects fx;
    struct core_reply reply;
    int64_t now;
    uint64_t rng;
    struct seen_pod seen[MAX_PODS];
    size_t nseen;
    struct core_pod_util util_effects; /* the sum of every POD_UTIL effect */
    int64_t util_hours_bad;            /* POD_UTIL effects whose hour is not the hour of now */
};

static void keep_rollup(struct rollups *r, const struct core_effect *e)
{
    {
        size_t k = 0;
        while (k < r->count && !(r->rows[k].pod == e->pod_id && r->rows[k].hour == e->at_ms))
            k++;
        if (k == r->count) {
            assert_true(r->count < 64);
            memset(&r->rows[k], 0, sizeof r->rows[k]);
            r->rows[k].pod = e->pod_id;
            r->rows[k].hour = e->at_ms;
            r->count++;
        }
        core_pod_util_add(&r->rows[k].u, &e->util);
    }
}

static uint64_t next(struct sim *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static int pick(struct sim *s, int n) { return (int)(next(s) % (uint64_t)n); }

static struct seen_pod *seen_find(struct sim *s, uint64_t id)
{
    for (size_t i = 0; i < s->nseen; i++)
        if (s->seen[i].id == id)
            return &s->seen[i];
    return NULL;
}

/* What the effects say, noted independently of the pod records: a pod is
 * first seen when it is placed (its devices held from then on). */
static void observe(struct sim *s)
{
    assert_false(s->fx.out_of_memory);
    for (unsigned i = 0; i < s->fx.count; i++) {
        const struct core_effect *e = &s->fx.items[i];
        if (e->kind == CORE_EFFECT_POD_UTIL) {
            core_pod_util_add(&s->util_effects, &e->util);
            s->util_hours_bad += e->at_ms != s->now / HOUR_MS * HOUR_MS;
            if (s->rollups)
                keep_rollup(s->rollups, e);
        }
        if (e->kind != CORE_EFFECT_POD_PUT || seen_find(s, e->pod->id))
            continue;
        assert_true(s->nseen < MAX_PODS);
        struct seen_pod *p = &s->seen[s->nseen++];
        memset(p, 0, sizeof *p);
        p->id = e->pod->id;
        p->start = s->now;
        snprintf(p->ns, sizeof p->ns, "%s", e->pod->namespace_path);
        p->devices = e->pod->device_count;
        for (uint32_t d = 0; d < p->devices; d++) {
            snprintf(p->uuid[d], sizeof p->uuid[d], "%s", e->pod->devices[d].uuid);
            p->milli[d] = meter_device_milli(&e->pod->devices[d]);
        }
    }
}

static int apply(struct sim *s, struct core_cmd *cmd)
{
    core_reply_clear(&s->reply);
    int r = core_apply(&s->st, cmd, s->now, &s->fx, &s->reply);
    observe(s);
    core_schedule(&s->st, s->now, &s->fx);
    observe(s);
    return r;
}

static void sim_init(struct sim *s, uint64_t seed, int64_t t0)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(core_state_init(&s->st), 0);
    s->st.cfg.restart_backoff_ms = 30000;
    s->st.cfg.restart_backoff_max_ms = 120000;
    core_effects_init(&s->fx);
    s->now = t0;
    s->rng = seed ? seed : 1;
}

static void sim_free(struct sim *s)
{
    core_reply_clear(&s->reply);
    core_effects_free(&s->fx);
    core_state_free(&s->st);
}

static void make_namespace(struct sim *s, const char *path)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_NAMESPACE_CREATE;
    snprintf(cmd.namespace_path, sizeof cmd.namespace_path, "%s", path);
    assert_int_equal(apply(s, &cmd), 0);
}

static json_t *plain_gpu(int index, const char *uuid, const char *model)
{
    return json_pack("{s:i,s:s,s:s,s:s,s:b,s:[]}", "index", index, "uuid", uuid, "model", model, "memory", "24Gi",
                     "mig_mode", 0, "mig_devices");
}

/* a: 4 A10G, spot, node group g-spot. b: 2 A100 + 1 A100 split into
 * 3g.20gb, 2g.10gb, 1g.5gb, 1g.5gb, on-demand, node group g-od. */
static json_t *node_json(const char *name, const char *state)
{
    json_t *gpus = json_array();
    const char *capacity, *group, *model;
    if (strcmp(name, "a") == 0) {
        capacity = "spot", group = "g-spot", model = "A10G";
        for (int i = 0; i < 4; i++) {
            char uuid[32];
            snprintf(uuid, sizeof uuid, "GPU-a%d", i);
            json_array_append_new(gpus, plain_gpu(i, uuid, "A10G"));
        }
    } else {
        capacity = "on-demand", group = "g-od", model = "A100";
        json_array_append_new(gpus, plain_gpu(0, "GPU-b0", "A100"));
        json_array_append_new(gpus, plain_gpu(1, "GPU-b1", "A100"));
        json_array_append_new(gpus, json_pack("{s:i,s:s,s:s,s:s,s:b,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]}",
                                              "index", 2, "uuid", "GPU-b2", "model", "A100", "memory", "40Gi",
                                              "mig_mode", 1, "mig_devices", "profile", "3g.20gb", "uuid", "MIG-b2-0",
                                              "profile", "2g.10gb", "uuid", "MIG-b2-1", "profile", "1g.5gb", "uuid",
                                              "MIG-b2-2", "profile", "1g.5gb", "uuid", "MIG-b2-3"));
    }
    json_t *node = json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:s,s:s,s:o}", "name", name, "state", state, "labels",
                             "gpuaas.io/capacity-type", capacity, "gpuaas.io/gpu-model", model, "gpuaas.io/node-group",
                             group, "cpu", "64", "memory", "256Gi", "gpus", gpus);
    assert_non_null(node);
    return node;
}

static void put_node(struct sim *s, const char *name, const char *state)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_NODE_PUT;
    cmd.node = malloc(sizeof *cmd.node);
    assert_non_null(cmd.node);
    char err[256];
    json_t *json = node_json(name, state);
    assert_int_equal(core_node_from_json(json, cmd.node, err, sizeof err), 0);
    json_decref(json);
    assert_int_equal(apply(s, &cmd), 0);
    core_cmd_clear(&cmd);
}

static int submit(struct sim *s, const char *ns, const char *name, json_t *resources, json_t *selector,
                  json_t *restart)
{
    json_t *spec = json_pack("{s:s,s:s,s:[s,s],s:o}", "name", name, "namespace", ns, "command", "sleep", "60",
                             "resources", resources);
    assert_non_null(spec);
    if (selector)
        json_object_set_new(spec, "selector", selector);
    if (restart)
        json_object_set_new(spec, "restart", restart);
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_JOB_SUBMIT;
    struct spec_error err;
    int r = spec_parse_job(spec, NULL, &cmd.job, &err);
    json_decref(spec);
    if (r < 0)
        fail_msg("test spec invalid at '%s': %s", err.field, err.message);
    r = apply(s, &cmd);
    core_cmd_clear(&cmd);
    return r;
}

static void pod_cmd(struct sim *s, enum core_cmd_kind kind, uint64_t id, int32_t code, bool lost, bool start_failed)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = kind;
    cmd.pod_id = id;
    cmd.exit_code = code;
    cmd.lost = lost;
    cmd.start_failed = start_failed;
    if (lost || start_failed)
        snprintf(cmd.message, sizeof cmd.message, "%s", lost ? "node failed" : "exec failed");
    snprintf(cmd.handle, sizeof cmd.handle, "h-%llu", (unsigned long long)id);
    assert_int_equal(apply(s, &cmd), 0);
    if (kind == CORE_CMD_POD_EXITED || start_failed) {
        struct seen_pod *p = seen_find(s, id);
        assert_non_null(p);
        p->end = s->now;
    }
}

static void tick(struct sim *s)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_TICK;
    assert_int_equal(apply(s, &cmd), 0);
}

/* One sampling round of node a: every GPU at a random utilisation. */
static void sample_node_a(struct sim *s)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_UTIL_SAMPLE;
    cmd.util_sample = calloc(1, sizeof *cmd.util_sample);
    assert_non_null(cmd.util_sample);
    snprintf(cmd.util_sample->node, sizeof cmd.util_sample->node, "a");
    cmd.util_sample->interval_ms = 15000;
    for (int g = 0; g < 4; g++) {
        struct core_util_reading *r = &cmd.util_sample->readings[cmd.util_sample->count++];
        snprintf(r->uuid, sizeof r->uuid, "GPU-a%d", g);
        r->util_pct = pick(s, 101);
        r->memory_used_bytes = (int64_t)pick(s, 24) << 30;
    }
    assert_int_equal(apply(s, &cmd), 0);
    core_cmd_clear(&cmd);
}

static json_t *random_resources(struct sim *s)
{
    switch (pick(s, 6)) {
    case 0: return json_pack("{s:i}", "gpus", 1);
    case 1: return json_pack("{s:i}", "gpus", 2);
    case 2: return json_pack("{s:i}", "gpu_milli", 250);
    case 3: return json_pack("{s:i}", "gpu_milli", 500);
    case 4: return json_pack("{s:s}", "mig", (const char *[]){"1g.5gb", "2g.10gb", "3g.20gb"}[pick(s, 3)]);
    default: return json_pack("{s:i}", "gpus", 1 + pick(s, 2));
    }
}

static const char *const sim_namespaces[] = {"org-a/p1/dev", "org-a/p2/prod", "org-b/p1/dev"};

/* Sum over pods of milli x (overlap of [start, end or now) with [from, to)), per namespace. */
static int64_t expected_amount(const struct sim *s, const char *ns, int64_t from, int64_t to)
{
    int64_t sum = 0;
    for (size_t i = 0; i < s->nseen; i++) {
        const struct seen_pod *p = &s->seen[i];
        if (ns && strcmp(p->ns, ns) != 0)
            continue;
        int64_t lo = p->start > from ? p->start : from;
        int64_t end = p->end ? p->end : s->now;
        int64_t hi = end < to ? end : to;
        for (uint32_t d = 0; hi > lo && d < p->devices; d++)
            sum += p->milli[d] * (hi - lo);
    }
    return sum;
}

static int64_t row_amount(const json_t *usage, const char *key)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(usage, "rows"), i, row)
        if (strcmp(json_string_value(json_object_get(row, "key")), key) == 0)
            return json_integer_value(json_object_get(row, "gpu_milli_ms"));
    return 0;
}

static int64_t total_amount(const json_t *usage)
{
    return json_integer_value(json_object_get(json_object_get(usage, "total"), "gpu_milli_ms"));
}

static json_t *usage(const struct sim *s, int64_t from, int64_t to, enum meter_group by)
{
    json_t *u = meter_usage(&s->st, from, to, s->now, by, NULL, NULL, NULL);
    assert_non_null(u);
    return u;
}

struct interval {
    int64_t start, end, milli;
};

static int cmp_interval(const void *a, const void *b)
{
    const struct interval *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* From the pod records: for each device, the holders' shares never add up
 * to more than the whole device at any moment (so no second is charged
 * twice); whole GPUs and slices have one holder at a time. */
static void check_no_double_charge(const struct sim *s)
{
    const char *uuids[64];
    size_t nuuids = 0;
    void *value;
    for (size_t it = 0; hmap_next(&s->st.pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        for (uint32_t d = 0; d < pod->device_count; d++) {
            bool known = false;
            for (size_t k = 0; k < nuuids && !known; k++)
                known = strcmp(uuids[k], pod->devices[d].uuid) == 0;
            if (!known && nuuids < 64)
                uuids[nuuids++] = pod->devices[d].uuid;
        }
    }
    struct interval *iv = calloc(s->st.pods.count * 2 + 1, sizeof *iv);
    assert_non_null(iv);
    for (size_t k = 0; k < nuuids; k++) {
        size_t n = 0;
        for (size_t it = 0; hmap_next(&s->st.pods, &it, NULL, &value);) {
            const struct core_pod *pod = value;
            for (uint32_t d = 0; d < pod->device_count; d++)
                if (strcmp(pod->devices[d].uuid, uuids[k]) == 0) {
                    int64_t end = pod->ended_ms ? pod->ended_ms : s->now;
                    /* +milli at start, -milli at end; ends sort first at equal times */
                    iv[n++] = (struct interval){pod->scheduled_ms, 1, pod->devices[d].milli};
                    iv[n++] = (struct interval){end, 0, -pod->devices[d].milli};
                }
        }
        qsort(iv, n, sizeof *iv, cmp_interval);
        /* stable order at equal times: releases before takes */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && iv[j].start == iv[j - 1].start && iv[j].end < iv[j - 1].end; j--) {
                struct interval t = iv[j];
                iv[j] = iv[j - 1];
                iv[j - 1] = t;
            }
        int64_t held = 0;
        for (size_t i = 0; i < n; i++) {
            held += iv[i].milli;
            if (held > 1000)
                fail_msg("device %s held %lld milli-GPU at once", uuids[k], (long long)held);
        }
        assert_int_equal(held, 0);
    }
    free(iv);
}

static void run_sim(uint64_t seed)
{
    struct sim *s = calloc(1, sizeof *s);
    assert_non_null(s);
    /* 2026-10-31T22:30Z: crosses the Berlin month boundary (23:00Z) and the UTC one */
    int64_t t0 = at("2026-10-31T22:30:00Z"), t_end = at("2026-11-01T02:00:00Z");
    sim_init(s, seed, t0);
    for (size_t i = 0; i < sizeof sim_namespaces / sizeof sim_namespaces[0]; i++)
        make_namespace(s, sim_namespaces[i]);
    put_node(s, "a", "Ready");
    put_node(s, "b", "Ready");
    int jobs = 0, restarts_seen = 0, lost = 0, node_failures = 0;
    bool a_failed = false;
    int64_t a_back_at = 0;
    for (;;) {
        int64_t step = 1000 + pick(s, 90000);
        if (s->now + step >= t_end)
            break;
        s->now += step;
        if (pick(s, 3) == 0 && jobs < 300) {
            char name[32];
            snprintf(name, sizeof name, "j%d", jobs++);
            json_t *selector = pick(s, 4) == 0 ? json_pack("{s:s}", "gpuaas.io/capacity-type", "spot") : NULL;
            json_t *restart = pick(s, 2) ? json_pack("{s:s,s:i}", "policy", "OnFailure", "limit", pick(s, 4))
                                         : json_pack("{s:s}", "policy", "Never");
            int r = submit(s, sim_namespaces[pick(s, 3)], name, random_resources(s), selector, restart);
            assert_true(r == 0 || r == GPUAAS_EINVAL);
        }
        /* the executor's reports on the active pods */
        uint64_t ids[MAX_PODS];
        size_t n = 0;
        void *value;
        for (size_t it = 0; hmap_next(&s->st.pods, &it, NULL, &value);) {
            const struct core_pod *pod = value;
            if (!core_pod_state_final(pod->state) && n < MAX_PODS)
                ids[n++] = pod->id;
        }
        for (size_t i = 0; i < n; i++) {
            const struct core_pod *pod = core_find_pod(&s->st, ids[i]);
            if (!pod || core_pod_state_final(pod->state))
                continue;
            int roll = pick(s, 20);
            if (pod->state == POD_SCHEDULED && roll < 12)
                pod_cmd(s, CORE_CMD_POD_STARTED, pod->id, 0, false, roll == 0);
            else if (pod->state == POD_RUNNING && roll < 2)
                pod_cmd(s, CORE_CMD_POD_EXITED, pod->id, roll == 0 ? 0 : 1, false, false);
            else if (pod->stop_requested && roll < 10)
                pod_cmd(s, CORE_CMD_POD_EXITED, pod->id, -1, false, false);
        }
        /* now and then node a fails: its pods are lost, their jobs re-placed */
        if (!a_failed && pick(s, 40) == 0) {
            put_node(s, "a", "Failed");
            node_failures++;
            for (size_t it = 0; hmap_next(&s->st.pods, &it, NULL, &value);) {
                const struct core_pod *pod = value;
                if (!core_pod_state_final(pod->state) && strcmp(pod->node, "a") == 0 && n < MAX_PODS)
                    ids[n++] = pod->id;
            }
            for (size_t i = 0; i < n; i++) {
                const struct core_pod *pod = core_find_pod(&s->st, ids[i]);
                if (pod && !core_pod_state_final(pod->state) && strcmp(pod->node, "a") == 0) {
                    pod_cmd(s, CORE_CMD_POD_EXITED, pod->id, -1, true, false);
                    lost++;
                }
            }
            a_failed = true;
            a_back_at = s->now + 600000;
        } else if (a_failed && s->now >= a_back_at) {
            put_node(s, "a", "Ready");
            a_failed = false;
        }
        if (!a_failed)
            sample_node_a(s);
        tick(s);
    }
    s->now = t_end;
    void *value;
    for (size_t it = 0; hmap_next(&s->st.pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        restarts_seen += pod->attempt > 1;
    }
    print_message("seed %llu: %zu pods, %d jobs, %d re-placed attempts, %d lost, %d node failures\n",
                  (unsigned long long)seed, s->nseen, jobs, restarts_seen, lost, node_failures);
    assert_true(s->nseen > 20);

    /* the ledger equals the observed integral, per namespace, exactly */
    json_t *all = usage(s, 0, t_end, METER_BY_NAMESPACE);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(row_amount(all, sim_namespaces[i]), expected_amount(s, sim_namespaces[i], 0, t_end));
    assert_int_equal(total_amount(all), expected_amount(s, NULL, 0, t_end));
    assert_true(total_amount(all) > 0);

    /* months (UTC and Europe/Berlin) add up to the whole, each exactly */
    struct tzmonth_table berlin;
    char err[256];
    assert_int_equal(tzmonth_build(&berlin, "Europe/Berlin", err, sizeof err), 0);
    const struct tzmonth_table *zones[] = {NULL, &berlin};
    for (int z = 0; z < 2; z++) {
        int64_t oct_from, oct_to, nov_from, nov_to;
        assert_int_equal(tzmonth_range(zones[z], "2026-10", &oct_from, &oct_to), 0);
        assert_int_equal(tzmonth_range(zones[z], "2026-11", &nov_from, &nov_to), 0);
        assert_int_equal(oct_to, nov_from);
        assert_true(oct_from < t0 && nov_to > t_end);
        json_t *oct = usage(s, oct_from, oct_to, METER_BY_NAMESPACE);
        json_t *nov = usage(s, nov_from, nov_to, METER_BY_NAMESPACE);
        for (size_t i = 0; i < 3; i++) {
            const char *ns = sim_namespaces[i];
            assert_int_equal(row_amount(oct, ns), expected_amount(s, ns, oct_from, oct_to));
            assert_int_equal(row_amount(nov, ns), expected_amount(s, ns, nov_from, nov_to));
            assert_int_equal(row_amount(oct, ns) + row_amount(nov, ns), row_amount(all, ns));
        }
        assert_int_equal(total_amount(oct) + total_amount(nov), total_amount(all));
        assert_true(total_amount(oct) > 0 && total_amount(nov) > 0);
        json_decref(oct);
        json_decref(nov);
    }
    tzmonth_free(&berlin);
    /* any grouping sums to the same total */
    enum meter_group groups[] = {METER_BY_ORG, METER_BY_MODEL, METER_BY_CAPACITY, METER_BY_NODE,
                                 METER_BY_NODE_GROUP, METER_BY_POD, METER_BY_SERIES};
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        json_t *u = usage(s, 0, t_end, groups[g]);
        int64_t rows = 0;
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(u, "rows"), i, row) rows += json_integer_value(json_object_get(row, "gpu_milli_ms"));
        assert_int_equal(rows, total_amount(all));
        assert_int_equal(total_amount(u), total_amount(all));
        json_decref(u);
    }
    json_decref(all);

    /* pod records agree with what was observed; no device second twice */
    for (size_t i = 0; i < s->nseen; i++) {
        const struct core_pod *pod = core_find_pod(&s->st, s->seen[i].id);
        assert_non_null(pod);
        assert_int_equal(pod->scheduled_ms, s->seen[i].start);
        assert_int_equal(pod->ended_ms, s->seen[i].end);
    }
    check_no_double_charge(s);

    /* utilisation: sampled time never exceeds allocated time, per pod; the
     * hourly rollups written add up to the pods' sums */
    struct core_pod_util sum = {0};
    for (size_t it = 0; hmap_next(&s->st.pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        int64_t milli = 0;
        for (uint32_t d = 0; d < pod->device_count; d++)
            milli += meter_device_milli(&pod->devices[d]);
        int64_t allocated = milli * ((pod->ended_ms ? pod->ended_ms : s->now) - pod->scheduled_ms);
        if (pod->util.sampled_milli_ms > allocated)
            fail_msg("pod %llu on %s sampled %lld milli-ms, allocated %lld (%lld..%lld)", (unsigned long long)pod->id,
                     pod->node, (long long)pod->util.sampled_milli_ms, (long long)allocated,
                     (long long)pod->scheduled_ms, (long long)pod->ended_ms);
        assert_true(pod->util.idle_milli_ms <= pod->util.sampled_milli_ms);
        assert_true(pod->util.util_milli_ms <= 100 * pod->util.sampled_milli_ms);
        core_pod_util_add(&sum, &pod->util);
    }
    assert_true(sum.samples > 0);
    assert_memory_equal(&sum, &s->util_effects, sizeof sum);
    assert_int_equal(s->util_hours_bad, 0);
    sim_free(s);
    free(s);
}

static void test_sim_conservation_seed_1(void **state)
{
    (void)state;
    run_sim(1);
}

static void test_sim_conservation_seed_2(void **state)
{
    (void)state;
    run_sim(20261101);
}

static void test_sim_conservation_seed_3(void **state)
{
    (void)state;
    run_sim(0x9e3779b97f4a7c15ULL);
}

/* ---- utilisation attribution ------------------------------------------------ */

static const struct core_pod *pod_of_job(const struct sim *s, const char *ns, const char *job)
{
    void *value;
    for (size_t it = 0; hmap_next(&s->st.pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        if (strcmp(pod->namespace_path, ns) == 0 && strcmp(pod->job_name, job) == 0)
            return pod;
    }
    fail_msg("no pod of job %s", job);
    return NULL;
}

static void round_b(struct sim *s, int util_b0, int util_b1, int64_t mem_b1)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_UTIL_SAMPLE;
    cmd.util_sample = calloc(1, sizeof *cmd.util_sample);
    assert_non_null(cmd.util_sample);
    struct core_util_sample *u = cmd.util_sample;
    snprintf(u->node, sizeof u->node, "b");
    u->interval_ms = 15000;
    u->readings[u->count++] = (struct core_util_reading){"GPU-b0", util_b0, 8LL << 30};
    u->readings[u->count++] = (struct core_util_reading){"GPU-b1", util_b1, mem_b1};
    u->readings[u->count++] = (struct core_util_reading){"GPU-b2", -1, -1};
    u->readings[u->count++] = (struct core_util_reading){"MIG-b2-0", -1, -1};
    assert_int_equal(apply(s, &cmd), 0);
    core_cmd_clear(&cmd);
}

static json_t *find_row(const json_t *u, const char *key)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(u, "rows"), i, row)
        if (strcmp(json_string_value(json_object_get(row, "key")), key) == 0)
            return row;
    fail_msg("no row %s", key);
    return NULL;
}

static double num(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v)) {
        char *text = json_dumps(obj, JSON_COMPACT);
        fail_msg("%s is not a number in %s", key, text ? text : "?");
    }
    return json_number_value(v);
}

/* A whole GPU, two shares of one GPU and a MIG slice on node b: each
 * reading lands on the pods holding that device, weighted by share and
 * time; MIG slices without a reading stay unsampled. */
static void test_util_attribution(void **state)
{
    (void)state;
    struct sim *s = calloc(1, sizeof *s);
    assert_non_null(s);
    sim_init(s, 7, at("2026-11-25T10:00:00Z"));
    make_namespace(s, "team/p/dev");
    put_node(s, "b", "Ready");
    json_t *od = json_pack("{s:s}", "gpuaas.io/capacity-type", "on-demand");
    assert_int_equal(submit(s, "team/p/dev", "whole", json_pack("{s:i}", "gpus", 1), json_incref(od), NULL), 0);
    assert_int_equal(submit(s, "team/p/dev", "quarter", json_pack("{s:i}", "gpu_milli", 250), json_incref(od), NULL),
                     0);
    assert_int_equal(submit(s, "team/p/dev", "half", json_pack("{s:i}", "gpu_milli", 500), json_incref(od), NULL), 0);
    assert_int_equal(submit(s, "team/p/dev", "slice", json_pack("{s:s}", "mig", "3g.20gb"), od, NULL), 0);
    const struct core_pod *whole = pod_of_job(s, "team/p/dev", "whole"), *quarter = pod_of_job(s, "team/p/dev", "quarter");
    const struct core_pod *half = pod_of_job(s, "team/p/dev", "half"), *slice = pod_of_job(s, "team/p/dev", "slice");
    assert_string_equal(whole->devices[0].uuid, "GPU-b0");
    assert_string_equal(quarter->devices[0].uuid, "GPU-b1");
    assert_string_equal(half->devices[0].uuid, "GPU-b1");
    /* first round 15 s after placement, then 3 more of 15 s: 1 h in all of rounds? no: 60 s */
    for (int i = 0; i < 4; i++) {
        s->now += 15000;
        round_b(s, i < 2 ? 90 : 50, 5, 12LL << 30);
    }
    /* whole: 2 x 15 s at 90 %, 2 x 15 s at 50 % -> 70 % */
    assert_int_equal(whole->util.samples, 4);
    assert_int_equal(whole->util.sampled_milli_ms, 1000 * 60000);
    assert_int_equal(whole->util.util_milli_ms, (90LL * 2 + 50 * 2) * 1000 * 15000);
    assert_int_equal(whole->util.idle_milli_ms, 0);
    assert_int_equal(whole->util.mem_mib_ms / whole->util.mem_ms, 8192);
    /* the shared GPU at 5 %: idle; its 12 GiB split 1:2 between the shares */
    assert_int_equal(quarter->util.sampled_milli_ms, 250 * 60000);
    assert_int_equal(quarter->util.idle_milli_ms, 250 * 60000);
    assert_int_equal(quarter->util.mem_mib_ms / quarter->util.mem_ms, 4096);
    assert_int_equal(half->util.mem_mib_ms / half->util.mem_ms, 8192);
    assert_int_equal(slice->util.samples, 0);

    /* the pod record shows it */
    json_t *rendered = core_render_pod(whole);
    assert_true(num(rendered, "util_avg_pct") > 69.99 && num(rendered, "util_avg_pct") < 70.01);
    json_decref(rendered);
    rendered = core_render_pod(slice);
    assert_true(json_is_null(json_object_get(rendered, "util_avg_pct")));
    json_decref(rendered);

    /* usage by pod: averages per GPU-second, idle GPU-seconds, factor */
    struct meter_prices prices = {.currency = "USD", .count = 1, .utilisation_factor = true};
    prices.items[0] = (struct meter_price){.model = "A100", .capacity_type = "on-demand", .per_gpu_hour = 3.6};
    struct meter_query q = {.from_ms = 0, .to_ms = s->now, .now_ms = s->now, .by = METER_BY_POD, .prices = &prices};
    json_t *u = meter_usage_query(&s->st, &q);
    assert_non_null(u);
    assert_true(json_is_true(json_object_get(u, "utilisation_factor")));
    json_t *row = find_row(u, "team/p/dev/whole-r0-a1");
    /* 60 GPU-seconds at 3.6/GPU-hour = 0.06; 70 % -> factor 1.0 */
    assert_true(num(row, "list_cost") > 0.05999 && num(row, "list_cost") < 0.06001);
    assert_true(num(row, "utilisation_discount") < 1e-9);
    assert_true(num(row, "idle_cost") < 1e-9);
    row = find_row(u, "team/p/dev/half-r0-a1");
    /* 30 GPU-seconds, all idle: list 0.03, billed 0.4 of it, idle cost 0.03 */
    assert_true(num(row, "gpu_seconds") > 29.999 && num(row, "gpu_seconds") < 30.001);
    assert_true(num(row, "idle_gpu_seconds") > 29.999 && num(row, "idle_gpu_seconds") < 30.001);
    assert_true(num(row, "cost") > 0.01199 && num(row, "cost") < 0.01201);
    assert_true(num(row, "utilisation_discount") > 0.01799 && num(row, "utilisation_discount") < 0.01801);
    assert_true(num(row, "idle_cost") > 0.02999 && num(row, "idle_cost") < 0.03001);
    assert_true(num(row, "util_avg_pct") > 4.99 && num(row, "util_avg_pct") < 5.01);
    assert_true(num(row, "mem_avg_bytes") > 8.0 * (1 << 30) - 1 && num(row, "mem_avg_bytes") < 8.0 * (1 << 30) + 1);
    row = find_row(u, "team/p/dev/slice-r0-a1");
    assert_true(json_is_null(json_object_get(row, "util_avg_pct")));
    assert_true(json_is_null(json_object_get(row, "mem_avg_bytes")));
    /* unsampled: list price, no discount */
    assert_true(num(row, "utilisation_discount") < 1e-9);
    json_t *total = json_object_get(u, "total");
    assert_true(num(total, "list_cost") - num(total, "cost") - num(total, "utilisation_discount") < 1e-9);
    json_decref(u);
    /* off: no factor fields, cost at list price */
    prices.utilisation_factor = false;
    u = meter_usage_query(&s->st, &q);
    row = find_row(u, "team/p/dev/half-r0-a1");
    assert_null(json_object_get(row, "list_cost"));
    assert_true(num(row, "cost") > 0.02999 && num(row, "cost") < 0.03001);
    json_decref(u);

    /* a round for an unknown node or without readings changes nothing */
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_UTIL_SAMPLE;
    assert_int_equal(apply(s, &cmd), GPUAAS_EINVAL);
    cmd.util_sample = calloc(1, sizeof *cmd.util_sample);
    snprintf(cmd.util_sample->node, sizeof cmd.util_sample->node, "nope");
    cmd.util_sample->interval_ms = 15000;
    assert_int_equal(apply(s, &cmd), GPUAAS_ENOTFOUND);
    core_cmd_clear(&cmd);
    sim_free(s);
    free(s);
}

static int rollup_window(void *arg, uint64_t pod_id, int64_t from, int64_t to, struct core_pod_util *ret)
{
    const struct rollups *r = arg;
    memset(ret, 0, sizeof *ret);
    for (size_t k = 0; k < r->count; k++)
        if (r->rows[k].pod == pod_id && r->rows[k].hour >= from && r->rows[k].hour < to)
            core_pod_util_add(ret, &r->rows[k].u);
    return 0;
}

/* A range that cuts a pod's interval takes its utilisation from the hourly
 * rollups: exact at hour boundaries, by share of the hour inside one. */
static void test_util_window(void **state)
{
    (void)state;
    struct sim *s = calloc(1, sizeof *s);
    struct rollups *r = calloc(1, sizeof *r);
    assert_non_null(s);
    assert_non_null(r);
    sim_init(s, 9, at("2026-11-25T10:30:00Z"));
    s->rollups = r;
    make_namespace(s, "team/p/dev");
    put_node(s, "b", "Ready");
    assert_int_equal(submit(s, "team/p/dev", "w", json_pack("{s:i}", "gpus", 1), NULL, NULL), 0);
    int64_t end = at("2026-11-25T12:30:00Z");
    while (s->now < end) {
        s->now += 15000;
        int64_t hour = s->now / HOUR_MS % 24;
        round_b(s, hour == 10 ? 90 : hour == 11 ? 50 : 10, 0, 0);
    }
    const struct core_pod *pod = pod_of_job(s, "team/p/dev", "w");
    struct meter_query q = {.from_ms = at("2026-11-25T11:00:00Z"), .to_ms = at("2026-11-25T12:00:00Z"),
                            .now_ms = s->now, .by = METER_BY_POD, .util_window = rollup_window, .util_window_arg = r};
    json_t *u = meter_usage_query(&s->st, &q);
    json_t *row = find_row(u, "team/p/dev/w-r0-a1");
    assert_true(fabs(num(row, "util_avg_pct") - 50) < 1e-9);
    assert_true(fabs(num(row, "sampled_gpu_seconds") - 3600) < 1e-6);
    json_decref(u);
    q.from_ms = at("2026-11-25T11:15:00Z");
    u = meter_usage_query(&s->st, &q);
    row = find_row(u, "team/p/dev/w-r0-a1");
    assert_true(fabs(num(row, "util_avg_pct") - 50) < 1e-9);
    assert_true(fabs(num(row, "sampled_gpu_seconds") - 2700) < 1e-6);
    json_decref(u);
    /* across hours 10 (half of it the pod's) and 11; a round belongs to the
     * hour it was taken in, so hour 10 has the rounds 10:30:15..10:59:45 */
    q.from_ms = 0;
    u = meter_usage_query(&s->st, &q);
    row = find_row(u, "team/p/dev/w-r0-a1");
    assert_true(fabs(num(row, "util_avg_pct") - (90.0 * 1785 + 50.0 * 3600) / 5385) < 1e-9);
    json_decref(u);
    /* without rollups: the pod's sums scaled by the overlap */
    q.util_window = NULL;
    u = meter_usage_query(&s->st, &q);
    row = find_row(u, "team/p/dev/w-r0-a1");
    double all = (double)pod->util.util_milli_ms / pod->util.sampled_milli_ms;
    assert_true(fabs(num(row, "util_avg_pct") - all) < 0.01);
    json_decref(u);
    free(r);
    sim_free(s);
    free(s);
}

static void test_util_factor_steps(void **state)
{
    (void)state;
    assert_true(meter_util_factor(100) == 1.0);
    assert_true(meter_util_factor(70) == 1.0);
    assert_true(meter_util_factor(69.9) == 0.8);
    assert_true(meter_util_factor(40) == 0.8);
    assert_true(meter_util_factor(39.9) == 0.6);
    assert_true(meter_util_factor(20) == 0.6);
    assert_true(meter_util_factor(19.9) == 0.4);
    assert_true(meter_util_factor(0) == 0.4);
}

/* ---- the ledger itself ---------------------------------------------------- */

static void test_ledger_order_and_range(void **state)
{
    (void)state;
    struct ledger l;
    ledger_init(&l);
    struct ledger_fields f = {.ns = "a/b", .node = "n", .node_group = "g", .model = "T4", .capacity = "spot"};
    /* out of order (a clock that stepped back) still ends up sorted */
    assert_int_equal(ledger_add(&l, NULL, 1, &f, 5000, 0, 1000), 0);
    assert_int_equal(ledger_add(&l, NULL, 2, &f, 1000, 3000, 1000), 0);
    assert_int_equal(ledger_add(&l, NULL, 3, &f, 9000, 0, 500), 0);
    assert_int_equal(l.count, 3);
    assert_int_equal(l.items[0].start_ms, 1000);
    assert_int_equal(l.items[1].start_ms, 5000);
    assert_int_equal(l.first_running, 1);
    assert_int_equal(l.max_len, 2000);
    assert_int_equal(ledger_close(&l, NULL, 0, 5000, 100000), 0);
    assert_int_equal(l.first_running, 2);
    assert_int_equal(l.max_len, 95000);
    assert_int_equal(ledger_close(&l, NULL, 0, 5000, 100000), GPUAAS_ENOTFOUND); /* already closed */
    size_t begin, end;
    ledger_range(&l, 200000, 300000, &begin, &end);
    assert_int_equal(end, 3);
    assert_true(begin <= 2); /* the open one at 9000 must be looked at */
    ledger_range(&l, 0, 1000, &begin, &end);
    assert_int_equal(end, 0);
    /* strings are interned once */
    size_t strings = l.string_count;
    assert_int_equal(ledger_add(&l, NULL, 4, &f, 10000, 11000, 1000), 0);
    assert_int_equal(l.string_count, strings);
    assert_string_equal(ledger_string(&l, l.items[3].ns), "a/b");
    ledger_free(&l);
}

/* ---- months in time zones ---------------------------------------------------- */

static void test_tz_months(void **state)
{
    (void)state;
    struct tzmonth_table t;
    char err[256];
    int64_t from, to;
    /* Berlin: CET (+1) in November; March has 31 days less the hour lost on the 29th */
    assert_int_equal(tzmonth_build(&t, "Europe/Berlin", err, sizeof err), 0);
    assert_int_equal(tzmonth_range(&t, "2026-11", &from, &to), 0);
    assert_int_equal(from, at("2026-10-31T23:00:00Z"));
    assert_int_equal(to, at("2026-11-30T23:00:00Z"));
    assert_int_equal(tzmonth_range(&t, "2026-03", &from, &to), 0);
    assert_int_equal(from, at("2026-02-28T23:00:00Z"));
    assert_int_equal(to, at("2026-03-31T22:00:00Z"));
    assert_int_equal(to - from, 31 * 24 * HOUR_MS - HOUR_MS);
    assert_int_equal(tzmonth_range(&t, "2026-10", &from, &to), 0);
    assert_int_equal(from, at("2026-09-30T22:00:00Z"));
    assert_int_equal(to - from, 31 * 24 * HOUR_MS + HOUR_MS); /* the hour gained on the 25th */
    tzmonth_free(&t);
    /* Los Angeles: DST ends 2026-11-01 at 02:00 local, after the month began */
    assert_int_equal(tzmonth_build(&t, "America/Los_Angeles", err, sizeof err), 0);
    assert_int_equal(tzmonth_range(&t, "2026-11", &from, &to), 0);
    assert_int_equal(from, at("2026-11-01T07:00:00Z"));
    assert_int_equal(to, at("2026-12-01T08:00:00Z"));
    assert_int_equal(tzmonth_range(&t, "2026-03", &from, &to), 0);
    assert_int_equal(from, at("2026-03-01T08:00:00Z"));
    assert_int_equal(to, at("2026-04-01T07:00:00Z"));
    assert_int_equal(tzmonth_range(&t, "2199-12", &from, &to), 0);
    assert_int_equal(to, at("2200-01-01T08:00:00Z"));
    assert_int_equal(tzmonth_range(&t, "2200-01", &from, &to), GPUAAS_EINVAL);
    assert_int_equal(tzmonth_range(&t, "2026-13", &from, &to), GPUAAS_EINVAL);
    assert_int_equal(tzmonth_range(&t, "2026-1x", &from, &to), GPUAAS_EINVAL);
    tzmonth_free(&t);
    /* the TZ variable is left as it was */
    assert_null(getenv("TZ"));
    /* UTC: the same as meter_month_range */
    assert_int_equal(tzmonth_build(&t, "UTC", err, sizeof err), 0);
    int64_t mf, mt;
    assert_int_equal(tzmonth_range(&t, "2028-02", &from, &to), 0);
    assert_int_equal(meter_month_range("2028-02", &mf, &mt), 0);
    assert_int_equal(from, mf);
    assert_int_equal(to, mt);
    tzmonth_free(&t);
    /* names that are not zones */
    const char *bad[] = {"", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Europe/Berlin;rm", "Europe/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(tzmonth_build(&t, bad[i], err, sizeof err), GPUAAS_EINVAL);
        assert_true(err[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_conservation_seed_1),
        cmocka_unit_test(test_sim_conservation_seed_2),
        cmocka_unit_test(test_sim_conservation_seed_3),
        cmocka_unit_test(test_util_attribution),
        cmocka_unit_test(test_util_window),
        cmocka_unit_test(test_util_factor_steps),
        cmocka_unit_test(test_ledger_order_and_range),
        cmocka_unit_test(test_tz_months),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
