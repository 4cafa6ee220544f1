/* The core's objects as the API shows them (JSON), and nodes back from JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

json_t *core_render_job(const struct core_job *job)
{
    json_t *obj = json_deep_copy(job->spec.document);
    json_t *status = json_object();
    if (!obj || !status)
        goto fail;
    int failed = json_object_set_new(obj, "id", json_integer((json_int_t)job->id));
    failed |= json_object_set_new(status, "state", json_string(core_job_state_name(job->state)));
    failed |= json_object_set_new(status, "reason", json_string(job->reason));
    failed |= json_object_set_new(status, "restarts", json_integer(job->restarts));
    failed |= json_object_set_new(status, "created_at", time_or_null(job->created_ms));
    failed |= json_object_set_new(status, "updated_at", time_or_null(job->updated_ms));
    failed |= json_object_set_new(status, "finished_at", time_or_null(job->finished_ms));
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
        json_t *g = json_pack("{s:i,s:s,s:s,s:s,s:b,s:o}", "index", (json_int_t)gpu->index, "uuid",
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
static json_t *render_sorted(const struct hmap *map, bool (*keep)(const void *, const char *),
                             const char *prefix, int (*cmp)(const void *, const void *),
                             json_t *(*render)(const void *))
{
    const void **values = malloc((map->count ? map->count : 1) * sizeof *values);
    json_t *items = json_array();
    size_t n = 0;
    void *value;
    if (!values || !items)
        goto fail;
    for (size_t it = 0; hmap_next(map, &it, NULL, &value);)
        if (!keep || keep(value, prefix))
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

static bool keep_namespace(const void *value, const char *prefix)
{
    return !prefix || !*prefix || names_namespace_within(((const struct core_namespace *)value)->path, prefix);
}

static bool keep_job(const void *value, const char *prefix)
{
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
