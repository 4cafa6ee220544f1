/* The core's objects as the API shows them (JSON), and nodes back from JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsontext.h"
#include "core/model.h"
#include "gpuaas/error.h"
#include "lib/quantity.h"

static json_t *time_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char text[40];
    core_format_time(ms, text, sizeof text);
    return json_string(text);
}

json_t *core_render_namespace(const struct core_namespace *ns)
{
    static const char *const level_names[] = {"org", "project", "env"};
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    int failed = json_object_set_new(obj, "name", json_string(ns->path));
    const char *start = ns->path;
    for (int level = 0; level < NS_DEPTH_MAX && start; level++) {
        const char *slash = strchr(start, '/');
        size_t len = slash ? (size_t)(slash - start) : strlen(start);
        failed |= json_object_set_new(obj, level_names[level], json_stringn(start, len));
        start = slash ? slash + 1 : NULL;
    }
    failed |= json_object_set_new(obj, "created_at", time_or_null(ns->created_ms));
    if (failed) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static json_t *render_job_status(const struct core_job *job)
{
    json_t *status = json_object();
    if (!status)
        return NULL;
    int failed = json_object_set_new(status, "state", json_string(core_job_state_name(job->state)));
    failed |= json_object_set_new(status, "reason", json_string(job->reason));
    failed |= json_object_set_new(status, "restarts", json_integer(job->restarts));
    failed |= json_object_set_new(status, "created_at", time_or_null(job->created_ms));
    failed |= json_object_set_new(status, "updated_at", time_or_null(job->updated_ms));
    failed |= json_object_set_new(status, "finished_at", time_or_null(job->finished_ms));
    if (failed) {
        json_decref(status);
        return NULL;
    }
    return status;
}

json_t *core_render_job(const struct core_job *job)
{
    json_t *obj = json_deep_copy(job->spec.document);
    json_t *status = render_job_status(job);
    if (!obj || !status)
        goto fail;
    int failed = json_object_set_new(obj, "id", json_integer((json_int_t)job->id));
    failed |= json_object_set(obj, "status", status);
    json_decref(status);
    if (failed) {
        json_decref(obj);
        return NULL;
    }
    return obj;
fail:
    json_decref(obj);
    json_decref(status);
    return NULL;
}

/* A time as render_job_status gives it: a quoted string, or null for 0. */
static void text_time_or_null(struct jsontext *t, int64_t ms)
{
    if (ms <= 0) {
        jsontext_raw(t, "null", 4);
        return;
    }
    char text[40];
    core_format_time(ms, text, sizeof text);
    jsontext_string(t, text, strlen(text));
}

/* Written directly, not through a jansson object: this runs once per job
 * submission on the engine thread. The status bytes are those json_dumps
 * gives for render_job_status's object (test_jsontext compares them). */
char *core_render_job_text(const struct core_job *job, size_t *ret_len)
{
    size_t spec_len = job->spec_text ? strlen(job->spec_text) : 0;
    /* {spec...} -> {spec...,"id":N,"status":{...}} ; an empty spec object cannot occur */
    if (spec_len < 2 || job->spec_text[spec_len - 1] != '}')
        return NULL;
    const char *state = core_job_state_name(job->state);
    struct jsontext t;
    jsontext_init(&t);
    jsontext_reserve(&t, spec_len + strlen(job->reason) + 192);
    jsontext_raw(&t, job->spec_text, spec_len - 1);
    jsontext_raw_str(&t, ",\"id\":");
    jsontext_uint(&t, job->id);
    jsontext_raw_str(&t, ",\"status\":{\"state\":");
    jsontext_string(&t, state, strlen(state));
    jsontext_raw_str(&t, ",\"reason\":");
    jsontext_string(&t, job->reason, strlen(job->reason));
    jsontext_raw_str(&t, ",\"restarts\":");
    jsontext_int(&t, job->restarts);
    jsontext_raw_str(&t, ",\"created_at\":");
    text_time_or_null(&t, job->created_ms);
    jsontext_raw_str(&t, ",\"updated_at\":");
    text_time_or_null(&t, job->updated_ms);
    jsontext_raw_str(&t, ",\"finished_at\":");
    text_time_or_null(&t, job->finished_ms);
    jsontext_raw(&t, "}}", 2);
    char *text = NULL;
    if (jsontext_finish(&t, &text, ret_len) < 0)
        return NULL;
    return text;
}

json_t *core_render_node(const struct core_node *node)
{
    char cpu[32], mem[32];
    quantity_format_cpu_milli(node->cpu_milli, cpu, sizeof cpu);
    quantity_format_memory_bytes(node->memory_bytes, mem, sizeof mem);
    json_t *labels = json_object();
    json_t *gpus = json_array();
    json_t *obj = json_pack("{s:s,s:s,s:O,s:s,s:s,s:O,s:o}", "name", node->name, "state",
                            core_node_state_name(node->state), "labels", labels, "cpu", cpu,
                            "memory", mem, "gpus", gpus, "updated_at", time_or_null(node->updated_ms));
    int failed = !obj;
    for (uint32_t i = 0; !failed && i < node->label_count; i++)
        failed |= json_object_set_new(labels, node->labels[i].key, json_string(node->labels[i].value));
    for (uint32_t i = 0; !failed && i < node->gpu_count; i++) {
        const struct core_gpu *gpu = &node->gpus[i];
        char gpu_mem[32];
        quantity_format_memory_bytes(gpu->memory_bytes, gpu_mem, sizeof gpu_mem);
        json_t *migs = json_array();
        for (uint32_t m = 0; migs && m < gpu->mig_count; m++)
            failed |= json_array_append_new(migs, json_pack("{s:s,s:s}", "profile", gpu->mig[m].profile,
                                                            "uuid", gpu->mig[m].uuid));
        json_t *g = json_pack("{s:I,s:s,s:s,s:s,s:b,s:o}", "index", (json_int_t)gpu->index, "uuid",
                              gpu->uuid, "model", gpu->model, "memory", gpu_mem, "mig_mode",
                              gpu->mig_mode, "mig_devices", migs);
        failed |= !g || json_array_append_new(gpus, g);
    }
    json_decref(labels);
    json_decref(gpus);
    if (failed) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static json_t *list_wrap(json_t *items)
{
    if (!items)
        return NULL;
    return json_pack("{s:o,s:I}", "items", items, "count", (json_int_t)json_array_size(items));
}

static int cmp_namespace(const void *a, const void *b)
{
    const struct core_namespace *x = *(const struct core_namespace *const *)a;
    const struct core_namespace *y = *(const struct core_namespace *const *)b;
    return strcmp(x->path, y->path);
}

static int cmp_job(const void *a, const void *b)
{
    const struct core_job *x = *(const struct core_job *const *)a;
    const struct core_job *y = *(const struct core_job *const *)b;
    return strcmp(x->key, y->key); /* namespace, then name: '\x1f' sorts before any name char */
}

static int cmp_node(const void *a, const void *b)
{
    const struct core_node *x = *(const struct core_node *const *)a;
    const struct core_node *y = *(const struct core_node *const *)b;
    return strcmp(x->name, y->name);
}

/* Collects the map's values (filtered by `keep`), sorts them, renders each. */
static json_t *render_sorted(const struct hmap *map, bool (*keep)(const void *, const void *),
                             const void *keep_arg, int (*cmp)(const void *, const void *),
                             json_t *(*render)(const void *))
{
    const void **values = malloc((map->count ? map->count : 1) * sizeof *values);
    json_t *items = json_array();
    size_t n = 0;
    void *value;
    if (!values || !items)
        goto fail;
    for (size_t it = 0; hmap_next(map, &it, NULL, &value);)
        if (!keep || keep(value, keep_arg))
            values[n++] = value;
    qsort(values, n, sizeof *values, cmp);
    for (size_t i = 0; i < n; i++) {
        json_t *obj = render(values[i]);
        if (!obj || json_array_append_new(items, obj) < 0)
            goto fail;
    }
    free(values);
    return list_wrap(items);
fail:
    free(values);
    json_decref(items);
    return NULL;
}

static bool keep_namespace(const void *value, const void *arg)
{
    const char *prefix = arg;
    return !prefix || !*prefix || names_namespace_within(((const struct core_namespace *)value)->path, prefix);
}

static bool keep_job(const void *value, const void *arg)
{
    const char *prefix = arg;
    return !prefix || !*prefix ||
           names_namespace_within(((const struct core_job *)value)->spec.namespace_path, prefix);
}

static json_t *render_namespace_any(const void *v) { return core_render_namespace(v); }
static json_t *render_job_any(const void *v) { return core_render_job(v); }
static json_t *render_node_any(const void *v) { return core_render_node(v); }

json_t *core_list_namespaces(const struct core_state *st, const char *prefix)
{
    return render_sorted(&st->namespaces, keep_namespace, prefix, cmp_namespace, render_namespace_any);
}

json_t *core_list_jobs(const struct core_state *st, const char *prefix)
{
    return render_sorted(&st->jobs, keep_job, prefix, cmp_job, render_job_any);
}

json_t *core_list_nodes(const struct core_state *st)
{
    return render_sorted(&st->nodes, NULL, NULL, cmp_node, render_node_any);
}

/* ---- nodes from JSON ------------------------------------------------------- */

static int node_fail(char *err, size_t err_size, const char *fmt, const char *detail)
    __attribute__((format(printf, 3, 0)));

/* fmt has exactly one %s, filled with detail */
static int node_fail(char *err, size_t err_size, const char *fmt, const char *detail)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(err, err_size, fmt, detail ? detail : "");
#pragma GCC diagnostic pop
    return GPUAAS_EINVAL;
}

static int gpu_from_json(const json_t *g, struct core_gpu *gpu, char *err, size_t err_size)
{
    json_int_t index = -1;
    const char *uuid = NULL, *model = NULL, *memory = NULL;
    int mig_mode = 0;
    json_t *migs = NULL;
    json_error_t jerr;
    if (json_unpack_ex((json_t *)g, &jerr, JSON_STRICT, "{s:I,s:s,s:s,s:s,s?b,s?o}", "index", &index,
                       "uuid", &uuid, "model", &model, "memory", &memory, "mig_mode", &mig_mode,
                       "mig_devices", &migs) < 0)
        return node_fail(err, err_size, "gpu: %s", jerr.text);
    if (index < 0 || index > 1024 || strlen(uuid) >= sizeof gpu->uuid || !*uuid ||
        strlen(model) >= sizeof gpu->model || !*model)
        return node_fail(err, err_size, "gpu %s: bad index, uuid or model", uuid);
    if (quantity_parse_memory_bytes(memory, &gpu->memory_bytes) < 0)
        return node_fail(err, err_size, "gpu memory '%s' is not a quantity", memory);
    gpu->index = (uint32_t)index;
    snprintf(gpu->uuid, sizeof gpu->uuid, "%s", uuid);
    snprintf(gpu->model, sizeof gpu->model, "%s", model);
    gpu->mig_mode = mig_mode;
    if (migs) {
        if (!json_is_array(migs) || json_array_size(migs) > CORE_MIG_DEVICES_MAX)
            return node_fail(err, err_size, "gpu %s: mig_devices must be a list of at most 7", uuid);
        for (size_t i = 0; i < json_array_size(migs); i++) {
            const char *profile, *mig_uuid;
            if (json_unpack_ex(json_array_get(migs, i), &jerr, JSON_STRICT, "{s:s,s:s}", "profile",
                               &profile, "uuid", &mig_uuid) < 0)
                return node_fail(err, err_size, "mig device: %s", jerr.text);
            if (strlen(profile) > SPEC_MIG_PROFILE_MAX || strlen(mig_uuid) >= sizeof gpu->mig[0].uuid)
                return node_fail(err, err_size, "mig device %s: profile or uuid too long", mig_uuid);
            snprintf(gpu->mig[i].profile, sizeof gpu->mig[i].profile, "%s", profile);
            snprintf(gpu->mig[i].uuid, sizeof gpu->mig[i].uuid, "%s", mig_uuid);
        }
        gpu->mig_count = (uint32_t)json_array_size(migs);
    }
    if (gpu->mig_count && !gpu->mig_mode)
        return node_fail(err, err_size, "gpu %s has MIG devices but mig_mode is false", uuid);
    return 0;
}

int core_node_from_json(const json_t *json, struct core_node *ret_node, char *err, size_t err_size)
{
    struct core_node *node = calloc(1, sizeof *node);
    const char *name, *state = "Ready", *cpu = "0", *memory = "0", *updated_at = NULL;
    json_t *labels = NULL, *gpus = NULL;
    json_error_t jerr;
    const char *why;
    int r = GPUAAS_EINVAL;
    if (!node)
        return GPUAAS_ENOMEM;
    if (json_unpack_ex((json_t *)json, &jerr, JSON_STRICT, "{s:s,s?s,s?o,s?s,s?s,s?o,s?s}", "name", &name,
                       "state", &state, "labels", &labels, "cpu", &cpu, "memory", &memory, "gpus", &gpus,
                       "updated_at", &updated_at) < 0) {
        node_fail(err, err_size, "node: %s", jerr.text);
        goto out;
    }
    if (names_check_label(name, &why) < 0) {
        snprintf(err, err_size, "node name '%.64s' %s", name, why);
        goto out;
    }
    snprintf(node->name, sizeof node->name, "%s", name);
    if (core_node_state_from_name(state, &node->state) < 0) {
        node_fail(err, err_size, "node state '%s' is not Ready, Cordoned or Failed", state);
        goto out;
    }
    if (quantity_parse_cpu_milli(cpu, &node->cpu_milli) < 0) {
        node_fail(err, err_size, "node cpu '%s' is not a quantity", cpu);
        goto out;
    }
    if (quantity_parse_memory_bytes(memory, &node->memory_bytes) < 0) {
        node_fail(err, err_size, "node memory '%s' is not a quantity", memory);
        goto out;
    }
    if (labels) {
        const char *key;
        json_t *value;
        if (!json_is_object(labels) || json_object_size(labels) > CORE_NODE_LABELS_MAX) {
            node_fail(err, err_size, "node labels must be a map of at most 32 entries%s", NULL);
            goto out;
        }
        json_object_foreach(labels, key, value) {
            const char *text = json_string_value(value);
            if (names_check_label_key(key, &why) < 0 || names_check_label_value(text, &why) < 0) {
                snprintf(err, err_size, "node label '%.64s': %s", key, why);
                goto out;
            }
            struct core_label *label = &node->labels[node->label_count++];
            snprintf(label->key, sizeof label->key, "%s", key);
            snprintf(label->value, sizeof label->value, "%s", text);
        }
    }
    if (gpus) {
        if (!json_is_array(gpus) || json_array_size(gpus) > CORE_NODE_GPUS_MAX) {
            node_fail(err, err_size, "node gpus must be a list of at most 16%s", NULL);
            goto out;
        }
        for (size_t i = 0; i < json_array_size(gpus); i++)
            if ((r = gpu_from_json(json_array_get(gpus, i), &node->gpus[i], err, err_size)) < 0)
                goto out;
        node->gpu_count = (uint32_t)json_array_size(gpus);
    }
    *ret_node = *node;
    r = 0;
out:
    free(node);
    return r;
}

/* ---- pods ------------------------------------------------------------------- */

json_t *core_render_pod(const struct core_pod *pod)
{
    char cpu[32], mem[32];
    quantity_format_cpu_milli(pod->cpu_milli, cpu, sizeof cpu);
    quantity_format_memory_bytes(pod->memory_bytes, mem, sizeof mem);
    json_t *gpus = json_array();
    int failed = !gpus;
    for (uint32_t i = 0; !failed && i < pod->device_count; i++) {
        const struct core_pod_device *d = &pod->devices[i];
        json_t *g = json_pack("{s:s,s:i,s:i}", "uuid", d->uuid, "gpu_index", (int)d->gpu, "milli",
                              (int)d->milli);
        if (g && d->mig >= 0) {
            failed |= json_object_set_new(g, "mig_index", json_integer(d->mig));
            failed |= json_object_set_new(g, "mig_profile", json_string(d->mig_profile));
        }
        failed |= !g || json_array_append_new(gpus, g);
    }
    /* allocated time: what metering charges (start to end, or to now while running) */
    double gpu_count = 0;
    for (uint32_t i = 0; i < pod->device_count; i++)
        gpu_count += pod->devices[i].milli / 1000.0;
    char name[NAME_LABEL_MAX + 32];
    snprintf(name, sizeof name, "%s-r%d-a%d", pod->job_name, pod->replica, pod->attempt);
    json_t *obj = json_pack("{s:I,s:s,s:s,s:s,s:I,s:i,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:o}", "id",
                            (json_int_t)pod->id, "name", name, "namespace", pod->namespace_path, "job", pod->job_name,
                            "job_id", (json_int_t)pod->job_id, "replica", (int)pod->replica, "attempt",
                            (int)pod->attempt, "node", pod->node, "state", core_pod_state_name(pod->state),
                            "gpu_model", pod->gpu_model, "capacity_type", pod->capacity_type, "cpu", cpu, "memory",
                            mem, "gpus_allocated", gpu_count, "gpus", gpus);
    if (!obj)
        return NULL;
    failed |= json_object_set_new(obj, "scheduled_at", time_or_null(pod->scheduled_ms));
    failed |= json_object_set_new(obj, "started_at", time_or_null(pod->started_ms));
    failed |= json_object_set_new(obj, "ended_at", time_or_null(pod->ended_ms));
    /* milliseconds keep the record exact; the *_at strings are for people */
    failed |= json_object_set_new(obj, "scheduled_ms", json_integer(pod->scheduled_ms));
    failed |= json_object_set_new(obj, "started_ms", json_integer(pod->started_ms));
    failed |= json_object_set_new(obj, "ended_ms", json_integer(pod->ended_ms));
    if (pod->started_ms && pod->ended_ms)
        failed |= json_object_set_new(obj, "duration_s", json_real((pod->ended_ms - pod->started_ms) / 1000.0));
    failed |= json_object_set_new(obj, "exit_code", core_pod_state_final(pod->state) && pod->exit_code >= 0
                                                        ? json_integer(pod->exit_code) : json_null());
    failed |= json_object_set_new(obj, "exit_signal", json_integer(pod->exit_signal));
    failed |= json_object_set_new(obj, "oom_killed", json_boolean(pod->oom_killed));
    failed |= json_object_set_new(obj, "stop_requested", json_boolean(pod->stop_requested));
    failed |= json_object_set_new(obj, "handle", json_string(pod->handle));
    failed |= json_object_set_new(obj, "message", json_string(pod->message));
    /* sampled utilisation (GPU-second weighted); null before any sample */
    const struct core_pod_util *u = &pod->util;
    failed |= json_object_set_new(obj, "util_avg_pct", u->sampled_milli_ms
                                                           ? json_real((double)u->util_milli_ms / u->sampled_milli_ms)
                                                           : json_null());
    failed |= json_object_set_new(obj, "util_samples", json_integer(u->samples));
    failed |= json_object_set_new(obj, "idle_gpu_seconds", json_real(u->idle_milli_ms / 1e6));
    failed |= json_object_set_new(obj, "mem_avg_bytes",
                                  u->mem_ms ? json_integer((json_int_t)((double)u->mem_mib_ms / u->mem_ms * 1048576.0))
                                            : json_null());
    if (failed) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

struct pod_filter {
    const char *prefix;
    const char *job_name;
};

static int cmp_pod(const void *a, const void *b)
{
    const struct core_pod *x = *(const struct core_pod *const *)a;
    const struct core_pod *y = *(const struct core_pod *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool keep_pod(const void *value, const void *arg)
{
    const struct core_pod *pod = value;
    const struct pod_filter *f = arg;
    if (f->prefix && *f->prefix && !names_namespace_within(pod->namespace_path, f->prefix))
        return false;
    return !f->job_name || !*f->job_name || strcmp(pod->job_name, f->job_name) == 0;
}

static json_t *render_pod_any(const void *v) { return core_render_pod(v); }

json_t *core_list_pods(const struct core_state *st, const char *prefix, const char *job_name)
{
    struct pod_filter filter = {prefix, job_name};
    return render_sorted(&st->pods, keep_pod, &filter, cmp_pod, render_pod_any);
}

/* What holds a device: {"pod": id, "namespace", "job"} or null. */
static json_t *holder(const struct core_state *st, uint64_t pod_id)
{
    const struct core_pod *pod = pod_id ? core_find_pod(st, pod_id) : NULL;
    if (!pod)
        return json_null();
    return json_pack("{s:I,s:s,s:s,s:i}", "pod", (json_int_t)pod->id, "namespace", pod->namespace_path, "job",
                     pod->job_name, "replica", (int)pod->replica);
}

json_t *core_list_gpus(const struct core_state *st)
{
    json_t *items = json_array();
    if (!items)
        return NULL;
    for (size_t i = 0; i < st->node_order_count; i++) {
        const struct core_node *node = st->node_order[i];
        const char *capacity = core_node_label(node, "gpuaas.io/capacity-type");
        for (uint32_t g = 0; g < node->gpu_count; g++) {
            const struct core_gpu *gpu = &node->gpus[g];
            json_t *migs = json_array();
            for (uint32_t m = 0; migs && m < gpu->mig_count; m++)
                json_array_append_new(migs, json_pack("{s:s,s:s,s:o}", "profile", gpu->mig[m].profile, "uuid",
                                                      gpu->mig[m].uuid, "allocated_to",
                                                      holder(st, node->alloc.mig_pod[g][m])));
            /* shares: every active pod holding part of this GPU */
            json_t *shares = json_array();
            if (node->alloc.gpu_milli_used[g] > 0) {
                void *value;
                for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
                    const struct core_pod *pod = value;
                    if (core_pod_state_final(pod->state) || strcmp(pod->node, node->name) != 0)
                        continue;
                    for (uint32_t d = 0; d < pod->device_count; d++)
                        if (pod->devices[d].gpu == g && pod->devices[d].milli < 1000 && pod->devices[d].mig < 0)
                            json_array_append_new(shares, json_pack("{s:i,s:o}", "milli",
                                                                    (int)pod->devices[d].milli, "allocated_to",
                                                                    holder(st, pod->id)));
                }
            }
            bool allocated = node->alloc.gpu_pod[g] != 0 || node->alloc.gpu_milli_used[g] > 0;
            for (uint32_t m = 0; m < gpu->mig_count; m++)
                allocated |= node->alloc.mig_pod[g][m] != 0;
            char mem[32];
            quantity_format_memory_bytes(gpu->memory_bytes, mem, sizeof mem);
            json_t *row = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:b,s:b,s:o,s:i,s:o,s:o}", "node", node->name, "index",
                                    (int)gpu->index, "uuid", gpu->uuid, "model", gpu->model, "memory", mem,
                                    "capacity_type", capacity ? capacity : "on-demand", "mig_mode", gpu->mig_mode,
                                    "allocated", allocated, "allocated_to", holder(st, node->alloc.gpu_pod[g]),
                                    "milli_used", (int)node->alloc.gpu_milli_used[g], "shares", shares,
                                    "mig_devices", migs);
            if (!row || json_array_append_new(items, row) < 0) {
                json_decref(items);
                return NULL;
            }
        }
    }
    return list_wrap(items);
}

int core_pod_from_json(const json_t *json, struct core_pod *ret_pod, char *err, size_t err_size)
{
    struct core_pod pod;
    memset(&pod, 0, sizeof pod);
    json_int_t id, job_id, replica, attempt, scheduled_ms, started_ms, ended_ms, exit_signal = 0;
    const char *ns, *job, *node, *state, *model, *capacity, *cpu, *memory, *handle = "", *message = "";
    json_t *gpus, *exit_code = NULL;
    int oom = 0, stop_requested = 0;
    json_error_t jerr;
    if (json_unpack_ex((json_t *)json, &jerr, 0,
                       "{s:I,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:I,s?o,s?I,s?b,s?b,s?s,s?s}",
                       "id", &id, "namespace", &ns, "job", &job, "job_id", &job_id, "replica", &replica, "attempt",
                       &attempt, "node", &node, "state", &state, "gpu_model", &model, "capacity_type", &capacity,
                       "cpu", &cpu, "memory", &memory, "gpus", &gpus, "scheduled_ms", &scheduled_ms, "started_ms",
                       &started_ms, "ended_ms", &ended_ms, "exit_code", &exit_code, "exit_signal", &exit_signal,
                       "oom_killed", &oom, "stop_requested", &stop_requested, "handle", &handle, "message",
                       &message) < 0) {
        snprintf(err, err_size, "pod: %s", jerr.text);
        return GPUAAS_EINVAL;
    }
    if (id <= 0 || core_pod_state_from_name(state, &pod.state) < 0 || !json_is_array(gpus) ||
        json_array_size(gpus) > CORE_POD_DEVICES_MAX || quantity_parse_cpu_milli(cpu, &pod.cpu_milli) < 0 ||
        quantity_parse_memory_bytes(memory, &pod.memory_bytes) < 0) {
        snprintf(err, err_size, "pod %lld: bad id, state, gpus, cpu or memory", (long long)id);
        return GPUAAS_EINVAL;
    }
    pod.id = (uint64_t)id;
    pod.job_id = (uint64_t)job_id;
    pod.replica = (int32_t)replica;
    pod.attempt = (int32_t)attempt;
    snprintf(pod.namespace_path, sizeof pod.namespace_path, "%s", ns);
    snprintf(pod.job_name, sizeof pod.job_name, "%s", job);
    snprintf(pod.node, sizeof pod.node, "%s", node);
    snprintf(pod.gpu_model, sizeof pod.gpu_model, "%s", model);
    snprintf(pod.capacity_type, sizeof pod.capacity_type, "%s", capacity);
    snprintf(pod.handle, sizeof pod.handle, "%s", handle);
    snprintf(pod.message, sizeof pod.message, "%s", message);
    pod.scheduled_ms = scheduled_ms;
    pod.started_ms = started_ms;
    pod.ended_ms = ended_ms;
    pod.exit_code = json_is_integer(exit_code) ? (int32_t)json_integer_value(exit_code) : -1;
    pod.exit_signal = (int32_t)exit_signal;
    pod.oom_killed = oom;
    pod.stop_requested = stop_requested;
    for (size_t i = 0; i < json_array_size(gpus); i++) {
        struct core_pod_device *d = &pod.devices[i];
        const char *uuid, *profile = "";
        json_int_t gpu, milli, mig = -1;
        if (json_unpack_ex(json_array_get(gpus, i), &jerr, 0, "{s:s,s:I,s:I,s?I,s?s}", "uuid", &uuid, "gpu_index",
                           &gpu, "milli", &milli, "mig_index", &mig, "mig_profile", &profile) < 0 || gpu < 0 ||
            gpu >= CORE_NODE_GPUS_MAX || mig >= CORE_MIG_DEVICES_MAX || milli <= 0 || milli > 1000) {
            snprintf(err, err_size, "pod %lld: bad gpu entry", (long long)id);
            return GPUAAS_EINVAL;
        }
        d->gpu = (uint16_t)gpu;
        d->mig = (int16_t)mig;
        d->milli = (int32_t)milli;
        snprintf(d->uuid, sizeof d->uuid, "%s", uuid);
        snprintf(d->mig_profile, sizeof d->mig_profile, "%s", profile);
    }
    pod.device_count = (uint32_t)json_array_size(gpus);
    *ret_pod = pod;
    return 0;
}

/* ---- quotas ------------------------------------------------------------------ */

json_t *core_render_quota(const struct core_namespace *ns)
{
    json_t *limits = quota_to_json(&ns->quota, true);
    json_t *used = quota_to_json(&ns->used, false);
    if (!limits || !used) {
        json_decref(limits);
        json_decref(used);
        return NULL;
    }
    return json_pack("{s:s,s:o,s:o}", "namespace", ns->path, "limits", limits, "used", used);
}

static bool keep_quota(const void *value, const void *prefix)
{
    return ((const struct core_namespace *)value)->has_quota && keep_namespace(value, prefix);
}

static json_t *render_quota_any(const void *v) { return core_render_quota(v); }

json_t *core_list_quotas(const struct core_state *st, const char *prefix)
{
    return render_sorted(&st->namespaces, keep_quota, prefix, cmp_namespace, render_quota_any);
}
