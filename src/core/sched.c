/* Scheduling and the pod lifecycle: the queue of pending jobs, first-fit
 * placement of whole GPUs, MIG slices, GPU shares, CPU and memory (all
 * replicas of a job or none), pod start/exit, restart with back-off.
 * Pure: time comes in as now_ms, effects go out. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/meter.h"
#include "gpuaas/error.h"

#define GPU_MILLI_WHOLE 1000

static struct core_pod *pod_get(struct core_state *st, uint64_t id)
{
    return (struct core_pod *)core_find_pod(st, id);
}

static struct core_job *job_get_by_id(struct core_state *st, uint64_t id)
{
    return (struct core_job *)core_find_job_by_id(st, id);
}

const char *core_node_label(const struct core_node *node, const char *key)
{
    for (uint32_t i = 0; i < node->label_count; i++)
        if (strcmp(node->labels[i].key, key) == 0)
            return node->labels[i].value;
    return NULL;
}

/* ---- the queue ------------------------------------------------------------------ */

static int queue_level(const struct core_job *job) { return 2 - (int)job->spec.priority; /* high first */ }

static void fresh_add(struct core_state *st, uint64_t id)
{
    if (st->fresh_overflow)
        return;
    if (st->fresh_count == st->fresh_cap) {
        size_t cap = st->fresh_cap ? st->fresh_cap * 2 : 64;
        uint64_t *grown = cap <= 1u << 20 ? realloc(st->fresh, cap * sizeof *grown) : NULL;
        if (!grown) {
            st->fresh_overflow = true; /* fall back to a full pass */
            return;
        }
        st->fresh = grown;
        st->fresh_cap = cap;
    }
    st->fresh[st->fresh_count++] = id;
}

/* Keeps each level ordered by job id: new jobs go to the tail, a restarted
 * job goes back to where its id belongs. */
void sched_enqueue(struct core_state *st, struct core_job *job)
{
    if (job->queued)
        return;
    int level = queue_level(job);
    struct core_job *after = st->queue_tail[level];
    while (after && after->id > job->id)
        after = after->queue_prev;
    job->queue_prev = after;
    job->queue_next = after ? after->queue_next : st->queue_head[level];
    if (job->queue_next)
        job->queue_next->queue_prev = job;
    else
        st->queue_tail[level] = job;
    if (after)
        after->queue_next = job;
    else
        st->queue_head[level] = job;
    job->queued = true;
    st->queue_count++;
    sched_shape_job(st, &job->spec, +1);
    fresh_add(st, job->id);
}

void sched_dequeue(struct core_state *st, struct core_job *job)
{
    if (!job->queued)
        return;
    int level = queue_level(job);
    if (job->queue_prev)
        job->queue_prev->queue_next = job->queue_next;
    else
        st->queue_head[level] = job->queue_next;
    if (job->queue_next)
        job->queue_next->queue_prev = job->queue_prev;
    else
        st->queue_tail[level] = job->queue_prev;
    job->queue_prev = job->queue_next = NULL;
    job->queued = false;
    st->queue_count--;
    sched_shape_job(st, &job->spec, -1);
    if (job->id == st->resv_job) {
        /* its nodes are free for others again */
        for (size_t i = 0; i < st->resv_count && !st->place_dirty; i++)
            if (st->resv_nodes[i] < st->place.count)
                st->place.nodes[st->resv_nodes[i]].reserved = false;
        st->resv_count = 0;
        st->resv_job = 0;
        st->sched_full_pass = true;
    }
}

static int cmp_node_name(const void *a, const void *b)
{
    return strcmp((*(struct core_node *const *)a)->name, (*(struct core_node *const *)b)->name);
}

void sched_nodes_changed(struct core_state *st)
{
    struct core_node **order = realloc(st->node_order, (st->nodes.count ? st->nodes.count : 1) * sizeof *order);
    st->sched_full_pass = true;
    st->place_dirty = true; /* rebuilt once, before the next decision */
    st->node_gen++;
    if (!order)
        return; /* keep the old order; the next change retries */
    size_t n = 0;
    void *value;
    for (size_t it = 0; hmap_next(&st->nodes, &it, NULL, &value);)
        order[n++] = value;
    qsort(order, n, sizeof *order, cmp_node_name);
    st->node_order = order;
    st->node_order_count = n;
}

/* Remembers a job waiting out a back-off, so a tick looks at those only. */
static void backoff_add(struct core_state *st, uint64_t id)
{
    if (st->backoff_count == st->backoff_cap) {
        size_t cap = st->backoff_cap ? st->backoff_cap * 2 : 16;
        uint64_t *grown = realloc(st->backoff, cap * sizeof *grown);
        if (!grown) {
            st->sched_full_pass = true; /* the next pass sees it anyway */
            return;
        }
        st->backoff = grown;
        st->backoff_cap = cap;
    }
    st->backoff[st->backoff_count++] = id;
}

void sched_free(struct core_state *st)
{
    free(st->backoff);
    st->backoff = NULL;
    free(st->fresh);
    free(st->node_order);
    free(st->feas);
    st->feas = NULL;
    sched_place_free(st);
    st->fresh = NULL;
    st->node_order = NULL;
}

/* ---- matching -------------------------------------------------------------------- */

static bool node_has_model(const struct core_node *node, const char *model);
static void job_amounts(const struct job_spec *spec, struct quota_amounts *a);
static bool quota_blocks(struct core_state *st, const char *ns_path, const struct quota_amounts *need,
                         bool check_use, char *why, size_t why_size, char *field, size_t field_size);
static const char *spec_field_for(const char *quota_field);
static void pod_amounts(const struct core_pod *pod, struct quota_amounts *a);
static bool quota_limits_models(struct core_state *st, const char *ns_path);

static bool node_matches_selector(const struct core_node *node, const json_t *selector)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)selector, key, value) {
        /* a node with several GPU models carries one label; any of its
         * GPUs' models satisfies the model selector */
        if (strcmp(key, "gpuaas.io/gpu-model") == 0 && node_has_model(node, json_string_value(value)))
            continue;
        const char *have = core_node_label(node, key);
        if (!have || strcmp(have, json_string_value(value)) != 0)
            return false;
    }
    return true;
}

static const json_t *job_selector(const struct job_spec *spec)
{
    return json_object_get(spec->document, "selector");
}

static const char *job_model(const struct job_spec *spec)
{
    return json_string_value(json_object_get(job_selector(spec), "gpuaas.io/gpu-model"));
}

/* GPUs usable as whole GPUs or shares (MIG-mode GPUs are only usable as slices). */
static int node_plain_gpus(const struct core_node *node)
{
    int n = 0;
    for (uint32_t g = 0; g < node->gpu_count; g++)
        n += !node->gpus[g].mig_mode;
    return n;
}

static bool node_has_mig_profile(const struct core_node *node, const char *profile)
{
    for (uint32_t g = 0; g < node->gpu_count; g++)
        for (uint32_t m = 0; node->gpus[g].mig_mode && m < node->gpus[g].mig_count; m++)
            if (strcmp(node->gpus[g].mig[m].profile, profile) == 0)
                return true;
    return false;
}

static bool node_has_model(const struct core_node *node, const char *model)
{
    for (uint32_t g = 0; g < node->gpu_count; g++)
        if (strcmp(node->gpus[g].model, model) == 0)
            return true;
    const char *label = core_node_label(node, "gpuaas.io/gpu-model");
    return label && strcmp(label, model) == 0;
}

/* Appends "a, b, c" of distinct strings to out. */
static void list_add_unique(char *out, size_t size, const char *item)
{
    size_t len = strlen(item);
    for (const char *p = out; (p = strstr(p, item)); p += len)
        if ((p == out || p[-1] == ' ') && (p[len] == ',' || p[len] == '\0'))
            return;
    size_t used = strlen(out);
    snprintf(out + used, size - used, "%s%s", used ? ", " : "", item);
}

static bool quota_never_fits(const struct core_state *st, const struct job_spec *spec, struct core_reply *reply)
{
    struct quota_amounts need;
    char why[CORE_REASON_MAX], field[64];
    job_amounts(spec, &need);
    if (quota_blocks((struct core_state *)st, spec->namespace_path, &need, false, why, sizeof why, field,
                     sizeof field)) {
        core_reply_error(reply, GPUAAS_EQUOTA, spec_field_for(field), "%s (the job can never run in this namespace)",
                         why);
        return true;
    }
    /* without a model in the selector, the job can never fit when every
     * model the cluster has is limited below what it needs */
    if (spec->resources.gpus > 0 && need.model_count == 0 && st->node_order_count > 0) {
        bool some_model_fits = false;
        char first_why[CORE_REASON_MAX] = "", first_field[64] = "";
        for (size_t i = 0; i < st->node_order_count && !some_model_fits; i++) {
            const struct core_node *node = st->node_order[i];
            for (uint32_t g = 0; g < node->gpu_count && !some_model_fits; g++) {
                if (node->gpus[g].mig_mode)
                    continue;
                struct quota_amounts as_model = need;
                snprintf(as_model.models[0].name, sizeof as_model.models[0].name, "%s", node->gpus[g].model);
                as_model.models[0].amount = need.gpus;
                as_model.model_count = 1;
                if (!quota_blocks((struct core_state *)st, spec->namespace_path, &as_model, false, why, sizeof why,
                                  field, sizeof field))
                    some_model_fits = true;
                else if (!first_why[0]) {
                    snprintf(first_why, sizeof first_why, "%s", why);
                    snprintf(first_field, sizeof first_field, "%s", field);
                }
            }
        }
        if (!some_model_fits && first_why[0]) {
            core_reply_error(reply, GPUAAS_EQUOTA, spec_field_for(first_field),
                             "%s (no GPU model of the cluster fits this namespace's quotas)", first_why);
            return true;
        }
    }
    return false;
}

/* Submit-time feasibility from a summary of the nodes, rebuilt once per
 * change of the nodes, so a submission costs no walk over them: per GPU
 * model name (of a GPU or of a gpuaas.io/gpu-model label; "" for any node)
 * the largest number of plain GPUs on one node, how many replicas of w
 * GPUs all those nodes hold, and the MIG profiles they offer. */
#define FEAS_NAMES_MAX 64
struct sched_feas_model {
    char name[32];
    int largest;
    char largest_node[NAME_LABEL_MAX + 1];
    int64_t total[CORE_NODE_GPUS_MAX + 1]; /* sum over nodes of plain / w * w */
    char profiles[256];
};
struct sched_feas {
    uint64_t gen;
    bool usable; /* false: too many names; the walk is made as before */
    char known_models[256], known_profiles[256];
    size_t count;
    struct sched_feas_model models[FEAS_NAMES_MAX + 1]; /* [0]: any node */
};

static bool feas_add_name(struct sched_feas *f, const char *name)
{
    for (size_t i = 1; i < f->count; i++)
        if (strcmp(f->models[i].name, name) == 0)
            return true;
    if (f->count > FEAS_NAMES_MAX || strlen(name) >= sizeof f->models[0].name)
        return false;
    struct sched_feas_model *m = &f->models[f->count++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->largest = -1;
    return true;
}

static const struct sched_feas *feas_get(const struct core_state *cst)
{
    struct core_state *st = (struct core_state *)cst; /* a cache of derived data */
    if (st->feas && st->feas->gen == st->node_gen)
        return st->feas->usable ? st->feas : NULL;
    if (!st->feas && !(st->feas = malloc(sizeof *st->feas)))
        return NULL;
    struct sched_feas *f = st->feas;
    memset(f, 0, sizeof *f);
    f->gen = st->node_gen;
    f->count = 1;
    f->models[0].largest = -1;
    bool ok = true;
    for (size_t i = 0; i < st->node_order_count && ok; i++) {
        const struct core_node *node = st->node_order[i];
        for (uint32_t g = 0; g < node->gpu_count && ok; g++) {
            list_add_unique(f->known_models, sizeof f->known_models, node->gpus[g].model);
            ok = feas_add_name(f, node->gpus[g].model);
            for (uint32_t m = 0; node->gpus[g].mig_mode && m < node->gpus[g].mig_count; m++)
                list_add_unique(f->known_profiles, sizeof f->known_profiles, node->gpus[g].mig[m].profile);
        }
        const char *label = core_node_label(node, "gpuaas.io/gpu-model");
        if (label && ok)
            ok = feas_add_name(f, label);
    }
    if (!ok)
        return NULL; /* usable stays false for this generation */
    for (size_t i = 0; i < st->node_order_count; i++) {
        const struct core_node *node = st->node_order[i];
        int plain = node_plain_gpus(node);
        for (size_t k = 0; k < f->count; k++) {
            struct sched_feas_model *m = &f->models[k];
            if (k && !node_has_model(node, m->name))
                continue;
            if (plain > m->largest) {
                m->largest = plain;
                snprintf(m->largest_node, sizeof m->largest_node, "%s", node->name);
            }
            for (int w = 1; w <= CORE_NODE_GPUS_MAX; w++)
                m->total[w] += plain / w * w;
            for (uint32_t g = 0; g < node->gpu_count; g++)
                for (uint32_t s = 0; node->gpus[g].mig_mode && s < node->gpus[g].mig_count; s++)
                    list_add_unique(m->profiles, sizeof m->profiles, node->gpus[g].mig[s].profile);
        }
    }
    f->usable = true;
    return f;
}

static bool list_has(const char *list, const char *item)
{
    size_t len = strlen(item);
    for (const char *p = list; (p = strstr(p, item)); p += len)
        if ((p == list || p[-1] == ' ') && (p[len] == ',' || p[len] == '\0'))
            return true;
    return false;
}

/* sched_check_feasible from the summary; 1 when it cannot answer. */
static int feasible_from_summary(const struct core_state *st, const struct job_spec *spec, struct core_reply *reply)
{
    const struct sched_feas *f = feas_get(st);
    if (!f)
        return 1;
    const char *model = json_string_value(json_object_get(job_selector(spec), "gpuaas.io/gpu-model"));
    const struct sched_feas_model *m = &f->models[0];
    if (model) {
        size_t k = 1;
        while (k < f->count && strcmp(f->models[k].name, model) != 0)
            k++;
        if (k == f->count)
            return core_reply_error(reply, GPUAAS_EINVAL, "selector.gpuaas.io/gpu-model",
                                    "unknown GPU model '%s': the cluster has %s", model,
                                    *f->known_models ? f->known_models : "no GPUs");
        m = &f->models[k];
    }
    const struct job_resources *res = &spec->resources;
    if (res->mig_profile[0] && !list_has(m->profiles, res->mig_profile))
        return core_reply_error(reply, GPUAAS_EINVAL, "resources.mig",
                                "unknown MIG profile '%s'%s%s: the cluster offers %s", res->mig_profile,
                                model ? " on " : "", model ? model : "",
                                *f->known_profiles ? f->known_profiles : "no MIG slices");
    if (res->gpus > 0 || res->gpu_milli > 0) {
        int wanted = res->gpus > 0 ? res->gpus : 1;
        if (m->largest >= wanted && res->gpus > 0 && (int64_t)spec->replicas * wanted > m->total[wanted])
            return core_reply_error(reply, GPUAAS_EINVAL, "replicas",
                                    "%d replicas of %d GPU(s) can never run at once: the cluster can hold at "
                                    "most %lld such replicas",
                                    spec->replicas, wanted, (long long)(m->total[wanted] / wanted));
        if (m->largest < wanted)
            return core_reply_error(reply, GPUAAS_EINVAL, res->gpus > 0 ? "resources.gpus" : "resources.gpu_milli",
                                    "no node has %d %s%sGPU(s) to give one replica: the largest, '%s', has %d",
                                    wanted, model ? model : "", model ? " " : "",
                                    m->largest >= 0 ? m->largest_node : "-", m->largest < 0 ? 0 : m->largest);
    }
    return 0;
}

int sched_check_feasible(const struct core_state *st, const struct job_spec *spec, struct core_reply *reply)
{
    if (quota_never_fits(st, spec, reply))
        return reply->err;
    if (st->node_order_count == 0)
        return 0; /* nothing to compare with; the job waits for nodes */
    int summary = feasible_from_summary(st, spec, reply);
    if (summary <= 0)
        return summary;
    const json_t *selector = job_selector(spec);
    const json_t *model_json = json_object_get(selector, "gpuaas.io/gpu-model");
    const char *model = json_string_value(model_json);
    char known[256] = "";
    if (model) {
        bool found = false;
        for (size_t i = 0; i < st->node_order_count; i++) {
            const struct core_node *node = st->node_order[i];
            for (uint32_t g = 0; g < node->gpu_count; g++)
                list_add_unique(known, sizeof known, node->gpus[g].model);
            found |= node_has_model(node, model);
        }
        if (!found)
            return core_reply_error(reply, GPUAAS_EINVAL, "selector.gpuaas.io/gpu-model",
                                    "unknown GPU model '%s': the cluster has %s", model, *known ? known : "no GPUs");
    }
    const struct job_resources *res = &spec->resources;
    if (res->mig_profile[0]) {
        bool found = false;
        known[0] = '\0';
        for (size_t i = 0; i < st->node_order_count; i++) {
            const struct core_node *node = st->node_order[i];
            for (uint32_t g = 0; g < node->gpu_count; g++)
                for (uint32_t m = 0; node->gpus[g].mig_mode && m < node->gpus[g].mig_count; m++)
                    list_add_unique(known, sizeof known, node->gpus[g].mig[m].profile);
            found |= (!model || node_has_model(node, model)) && node_has_mig_profile(node, res->mig_profile);
        }
        if (!found)
            return core_reply_error(reply, GPUAAS_EINVAL, "resources.mig",
                                    "unknown MIG profile '%s'%s%s: the cluster offers %s", res->mig_profile,
                                    model ? " on " : "", model ? model : "", *known ? known : "no MIG slices");
    }
    if (res->gpus > 0 || res->gpu_milli > 0) {
        const struct core_node *largest = NULL;
        int largest_count = -1;
        for (size_t i = 0; i < st->node_order_count; i++) {
            const struct core_node *node = st->node_order[i];
            if (model && !node_has_model(node, model))
                continue;
            int n = node_plain_gpus(node);
            if (n > largest_count) {
                largest_count = n;
                largest = node;
            }
        }
        int wanted = res->gpus > 0 ? res->gpus : 1;
        int total = 0;
        for (size_t i = 0; i < st->node_order_count; i++)
            if (!model || node_has_model(st->node_order[i], model))
                total += node_plain_gpus(st->node_order[i]) / wanted * wanted;
        if (largest_count >= wanted && res->gpus > 0 && spec->replicas * wanted > total)
            return core_reply_error(reply, GPUAAS_EINVAL, "replicas",
                                    "%d replicas of %d GPU(s) can never run at once: the cluster can hold at "
                                    "most %d such replicas",
                                    spec->replicas, wanted, total / wanted);
        if (largest_count < wanted)
            return core_reply_error(reply, GPUAAS_EINVAL, res->gpus > 0 ? "resources.gpus" : "resources.gpu_milli",
                                    "no node has %d %s%sGPU(s) to give one replica: the largest, '%s', has %d",
                                    wanted, model ? model : "", model ? " " : "", largest ? largest->name : "-",
                                    largest_count < 0 ? 0 : largest_count);
    }
    return 0;
}

/* ---- placement -------------------------------------------------------------------- */

/* Reserves what one replica needs on `node`, recording it in pod. */
static bool gpu_of_model(const struct core_gpu *gpu, const char *model)
{
    return !model || strcmp(gpu->model, model) == 0;
}

static bool gpu_free_whole(const struct core_node *node, uint32_t g)
{
    const struct core_node_alloc *a = &node->alloc;
    return !node->gpus[g].mig_mode && !a->gpu_pod[g] && !a->gpu_milli_used[g];
}

/* The node's pod list stays sorted by id (and zero past its end), so that a
 * restored state equals the live one byte for byte. */
static void alloc_pod_add(struct core_node_alloc *a, uint64_t pod_id)
{
    if (a->pod_count >= CORE_NODE_PODS_MAX)
        return;
    uint32_t i = a->pod_count;
    while (i > 0 && a->pods[i - 1] > pod_id) {
        a->pods[i] = a->pods[i - 1];
        i--;
    }
    a->pods[i] = pod_id;
    a->pod_count++;
}

static void alloc_pod_remove(struct core_node_alloc *a, uint64_t pod_id)
{
    for (uint32_t i = 0; i < a->pod_count; i++)
        if (a->pods[i] == pod_id) {
            memmove(&a->pods[i], &a->pods[i + 1], (a->pod_count - i - 1) * sizeof a->pods[0]);
            a->pods[--a->pod_count] = 0;
            return;
        }
}

/* Binds one replica to the devices `c` chose on `node`, recording them in
 * pod; the caller brings the index up to date (sched_place_sync). */
static void node_bind(struct core_node *node, const struct job_resources *res, const struct place_choice *c,
                      struct core_pod *pod)
{
    struct core_node_alloc *a = &node->alloc;
    pod->device_count = 0;
    if (res->gpus > 0) {
        for (uint32_t i = 0; i < c->device_count; i++) {
            uint32_t g = c->gpu[i];
            a->gpu_pod[g] = pod->id;
            struct core_pod_device *d = &pod->devices[pod->device_count++];
            *d = (struct core_pod_device){.gpu = (uint16_t)g, .mig = -1, .milli = GPU_MILLI_WHOLE};
            snprintf(d->uuid, sizeof d->uuid, "%s", node->gpus[g].uuid);
        }
    } else if (res->mig_profile[0]) {
        uint32_t g = c->gpu[0], m = (uint32_t)c->mig;
        const struct core_gpu *gpu = &node->gpus[g];
        a->mig_pod[g][m] = pod->id;
        struct core_pod_device *d = &pod->devices[pod->device_count++];
        *d = (struct core_pod_device){.gpu = (uint16_t)g, .mig = (int16_t)m, .milli = GPU_MILLI_WHOLE};
        snprintf(d->uuid, sizeof d->uuid, "%s", gpu->mig[m].uuid);
        snprintf(d->mig_profile, sizeof d->mig_profile, "%s", gpu->mig[m].profile);
    } else if (res->gpu_milli > 0) {
        uint32_t g = c->gpu[0];
        a->gpu_milli_used[g] += res->gpu_milli;
        struct core_pod_device *d = &pod->devices[pod->device_count++];
        *d = (struct core_pod_device){.gpu = (uint16_t)g, .mig = -1, .milli = res->gpu_milli};
        snprintf(d->uuid, sizeof d->uuid, "%s", node->gpus[g].uuid);
    }
    a->cpu_milli_used += res->cpu_milli;
    a->memory_bytes_used += res->memory_bytes;
    node->pods_active++;
    alloc_pod_add(a, pod->id);
    snprintf(pod->node, sizeof pod->node, "%s", node->name);
    pod->cpu_milli = res->cpu_milli;
    pod->memory_bytes = res->memory_bytes;
    if (pod->device_count)
        snprintf(pod->gpu_model, sizeof pod->gpu_model, "%s", node->gpus[pod->devices[0].gpu].model);
    const char *capacity = core_node_label(node, "gpuaas.io/capacity-type");
    snprintf(pod->capacity_type, sizeof pod->capacity_type, "%s", capacity ? capacity : "on-demand");
}

/* Gives back what the pod holds (it must be on node). */
static void node_release(struct core_node *node, const struct core_pod *pod)
{
    struct core_node_alloc *a = &node->alloc;
    for (uint32_t i = 0; i < pod->device_count; i++) {
        const struct core_pod_device *d = &pod->devices[i];
        if (d->gpu >= CORE_NODE_GPUS_MAX)
            continue;
        if (d->mig >= 0 && d->mig < CORE_MIG_DEVICES_MAX) {
            if (a->mig_pod[d->gpu][d->mig] == pod->id)
                a->mig_pod[d->gpu][d->mig] = 0;
        } else if (d->milli >= GPU_MILLI_WHOLE) {
            if (a->gpu_pod[d->gpu] == pod->id)
                a->gpu_pod[d->gpu] = 0;
        } else {
            a->gpu_milli_used[d->gpu] -= d->milli;
            if (a->gpu_milli_used[d->gpu] < 0)
                a->gpu_milli_used[d->gpu] = 0;
        }
    }
    a->cpu_milli_used -= pod->cpu_milli;
    a->memory_bytes_used -= pod->memory_bytes;
    node->pods_active--;
    alloc_pod_remove(a, pod->id);
}

static struct core_node *node_get(struct core_state *st, const char *name)
{
    return (struct core_node *)core_find_node(st, name);
}

/* ---- quotas ------------------------------------------------------------------------- */

/* The namespace and its ancestors that exist, innermost first. */
static int namespace_chain(struct core_state *st, const char *path, struct core_namespace **out)
{
    char buf[NS_PATH_MAX + 1];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", path);
    for (;;) {
        struct core_namespace *ns = hmap_get(&st->namespaces, buf);
        if (ns && n < NS_DEPTH_MAX)
            out[n++] = ns;
        char *slash = strrchr(buf, '/');
        if (!slash)
            break;
        *slash = '\0';
    }
    return n;
}

static void kinds_bump(struct quota_kind *kinds, uint32_t *count, const char *name, int64_t amount)
{
    for (uint32_t i = 0; i < *count; i++)
        if (strcmp(kinds[i].name, name) == 0) {
            kinds[i].amount += amount;
            return;
        }
    if (*count < QUOTA_KINDS_MAX) {
        snprintf(kinds[*count].name, sizeof kinds[*count].name, "%s", name);
        kinds[(*count)++].amount = amount;
    }
}

/* What a placed pod holds, in quota terms. */
static void pod_amounts(const struct core_pod *pod, struct quota_amounts *a)
{
    quota_amounts_zero(a);
    for (uint32_t i = 0; i < pod->device_count; i++) {
        const struct core_pod_device *d = &pod->devices[i];
        if (d->mig >= 0)
            kinds_bump(a->migs, &a->mig_count, d->mig_profile, 1);
        else if (d->milli < GPU_MILLI_WHOLE)
            a->gpu_milli += d->milli;
        else {
            a->gpus++;
            kinds_bump(a->models, &a->model_count, pod->gpu_model, 1);
        }
    }
    a->cpu_milli = pod->cpu_milli;
    a->memory_bytes = pod->memory_bytes;
    a->pods = 1;
}

/* What a whole job asks for before placement (the model only when the
 * selector names one). */
static void job_amounts(const struct job_spec *spec, struct quota_amounts *a)
{
    const struct job_resources *res = &spec->resources;
    int64_t n = spec->replicas;
    quota_amounts_zero(a);
    a->gpus = n * res->gpus;
    a->gpu_milli = n * res->gpu_milli;
    a->cpu_milli = n * res->cpu_milli;
    a->memory_bytes = n * res->memory_bytes;
    a->pods = n;
    const char *model = json_string_value(json_object_get(job_selector(spec), "gpuaas.io/gpu-model"));
    if (model && res->gpus > 0)
        kinds_bump(a->models, &a->model_count, model, n * res->gpus);
    if (res->mig_profile[0])
        kinds_bump(a->migs, &a->mig_count, res->mig_profile, n);
}

/* Whether any quota on the chain limits GPU models or MIG profiles. */
static bool quota_limits_models(struct core_state *st, const char *ns_path)
{
    struct core_namespace *chain[NS_DEPTH_MAX];
    int n = namespace_chain(st, ns_path, chain);
    for (int i = 0; i < n; i++)
        if (chain[i]->has_quota && (chain[i]->quota.model_count || chain[i]->quota.mig_count))
            return true;
    return false;
}

/* Adds (sign +1) or removes (-1) a pod's use along its namespace chain. */
static void quota_charge(struct core_state *st, const struct core_pod *pod, int sign)
{
    struct core_namespace *chain[NS_DEPTH_MAX];
    struct quota_amounts a;
    pod_amounts(pod, &a);
    int n = namespace_chain(st, pod->namespace_path, chain);
    for (int i = 0; i < n; i++)
        quota_amounts_add(&chain[i]->used, &a, sign);
}

/* The first quota on the chain that `need` would break; with check_use
 * false only the limits count (could this ever fit?). */
static bool quota_blocks(struct core_state *st, const char *ns_path, const struct quota_amounts *need,
                         bool check_use, char *why, size_t why_size, char *field, size_t field_size)
{
    struct core_namespace *chain[NS_DEPTH_MAX];
    int n = namespace_chain(st, ns_path, chain);
    for (int i = 0; i < n; i++) {
        char what[160];
        if (!chain[i]->has_quota ||
            !quota_exceeded(&chain[i]->quota, check_use ? &chain[i]->used : NULL, need, what, sizeof what, field,
                            field_size))
            continue;
        snprintf(why, why_size, "quota %s: %s", chain[i]->path, what);
        return true;
    }
    return false;
}

/* Where in a job spec a quota field points. */
static const char *spec_field_for(const char *quota_field)
{
    if (strncmp(quota_field, "gpus", 4) == 0)
        return "resources.gpus";
    if (strncmp(quota_field, "mig", 3) == 0)
        return "resources.mig";
    if (strcmp(quota_field, "gpu_milli") == 0)
        return "resources.gpu_milli";
    if (strcmp(quota_field, "cpu") == 0)
        return "resources.cpu";
    if (strcmp(quota_field, "memory") == 0)
        return "resources.memory";
    return "replicas";
}

int sched_apply_quota_set(struct core_state *st, struct core_cmd *cmd, struct core_effects *fx,
                          struct core_reply *reply)
{
    struct core_namespace *ns = hmap_get(&st->namespaces, cmd->namespace_path);
    if (!ns)
        return core_reply_error(reply, GPUAAS_ENOTFOUND, NULL, "namespace '%.200s' not found", cmd->namespace_path);
    if (!cmd->quota)
        return core_reply_error(reply, GPUAAS_EINVAL, NULL, "no quota given");
    /* a subtree's limit may be smaller than its parent's, never larger */
    struct core_namespace *chain[NS_DEPTH_MAX];
    int n = namespace_chain(st, ns->path, chain);
    for (int i = 1; i < n; i++) {
        char why[160], field[64];
        if (chain[i]->has_quota &&
            quota_exceeded(&chain[i]->quota, NULL, cmd->quota, why, sizeof why, field, sizeof field))
            return core_reply_error(reply, GPUAAS_EINVAL, field, "larger than the quota of '%s' above it: %s",
                                    chain[i]->path, why);
    }
    /* nor smaller than a quota below it */
    void *value;
    for (size_t it = 0; hmap_next(&st->namespaces, &it, NULL, &value);) {
        const struct core_namespace *below = value;
        char why[160], field[64];
        if (below == ns || !below->has_quota || !names_namespace_within(below->path, ns->path))
            continue;
        if (quota_exceeded(cmd->quota, NULL, &below->quota, why, sizeof why, field, sizeof field))
            return core_reply_error(reply, GPUAAS_EINVAL, field,
                                    "smaller than the quota of '%s' below it (%s); lower that one first",
                                    below->path, why);
    }
    ns->has_quota = true;
    ns->quota = *cmd->quota;
    st->sched_full_pass = true; /* a larger limit may let waiting jobs start */
    core_effect_add(fx, CORE_EFFECT_QUOTA_PUT)->ns = ns;
    json_t *obj = core_render_quota(ns);
    if (!obj)
        return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
    reply->object = obj;
    reply->err = 0;
    return 0;
}

int sched_apply_quota_delete(struct core_state *st, struct core_cmd *cmd, struct core_effects *fx,
                             struct core_reply *reply)
{
    struct core_namespace *ns = hmap_get(&st->namespaces, cmd->namespace_path);
    if (!ns || !ns->has_quota)
        return core_reply_error(reply, GPUAAS_ENOTFOUND, NULL, "no quota on namespace '%.200s'", cmd->namespace_path);
    json_t *obj = core_render_quota(ns);
    if (!obj)
        return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
    ns->has_quota = false;
    quota_amounts_unlimited(&ns->quota);
    st->sched_full_pass = true;
    struct core_effect *e = core_effect_add(fx, CORE_EFFECT_QUOTA_DELETE);
    snprintf(e->path, sizeof e->path, "%s", ns->path);
    reply->object = obj;
    reply->err = 0;
    return 0;
}

int core_restore_quota(struct core_state *st, const char *path, const struct quota_amounts *limit)
{
    struct core_namespace *ns = hmap_get(&st->namespaces, path);
    if (!ns)
        return GPUAAS_ENOTFOUND;
    ns->has_quota = true;
    ns->quota = *limit;
    return 0;
}

/* ---- fair share ------------------------------------------------------------------------ */

/* Each namespace's GPU use, decayed: U(t) = integral of its pods' milli-GPU
 * over time, weighted 2^(-age / half-life). Kept exactly enough to order
 * the queue; rebuilt from the pod records after a restart. */
#define LN2 0.69314718055994530942

static double fs_tau_ms(const struct core_state *st) { return (double)st->cfg.fair_share_half_life_ms / LN2; }

static double fs_decay(const struct core_state *st, int64_t age_ms)
{
    return age_ms <= 0 ? 1.0 : exp2(-(double)age_ms / (double)st->cfg.fair_share_half_life_ms);
}

static void fs_advance(const struct core_state *st, struct core_namespace *ns, int64_t now_ms)
{
    if (now_ms <= ns->fs_at || st->cfg.fair_share_half_life_ms <= 0)
        return;
    double d = fs_decay(st, now_ms - ns->fs_at);
    ns->fs_usage = ns->fs_usage * d + (double)ns->fs_rate * fs_tau_ms(st) * (1.0 - d);
    ns->fs_at = now_ms;
}

static int64_t pod_gpu_milli(const struct core_pod *pod)
{
    int64_t milli = 0;
    for (uint32_t d = 0; d < pod->device_count; d++)
        milli += meter_device_milli(&pod->devices[d]);
    return milli;
}

static void fs_charge(struct core_state *st, const struct core_pod *pod, int sign, int64_t now_ms)
{
    struct core_namespace *ns = hmap_get(&st->namespaces, pod->namespace_path);
    if (!st->fs_ready || !ns)
        return;
    fs_advance(st, ns, now_ms);
    ns->fs_rate += sign * pod_gpu_milli(pod);
    if (ns->fs_rate < 0)
        ns->fs_rate = 0;
}

/* The use of every namespace from the pod records (after a restart). */
static void fs_rebuild(struct core_state *st, int64_t now_ms)
{
    void *value;
    for (size_t it = 0; hmap_next(&st->namespaces, &it, NULL, &value);) {
        struct core_namespace *ns = value;
        ns->fs_usage = 0;
        ns->fs_rate = 0;
        ns->fs_at = now_ms;
    }
    st->fs_ready = true;
    if (st->cfg.fair_share_half_life_ms <= 0)
        return;
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        struct core_namespace *ns = hmap_get(&st->namespaces, pod->namespace_path);
        int64_t milli = pod_gpu_milli(pod);
        if (!ns || !milli)
            continue;
        bool active = !core_pod_state_final(pod->state);
        int64_t end = active ? now_ms : pod->ended_ms;
        if (end > pod->scheduled_ms)
            ns->fs_usage += (double)milli * fs_tau_ms(st) *
                            (fs_decay(st, now_ms - end) - fs_decay(st, now_ms - pod->scheduled_ms));
        if (active)
            ns->fs_rate += milli;
    }
}

static int64_t ns_weight(const struct core_namespace *ns)
{
    return ns && ns->has_quota && ns->quota.weight > 0 ? ns->quota.weight : 1;
}

/* What orders namespaces: use, plus what they hold now counted for one
 * decay time, per unit of weight. Lower goes first. */
static double fs_metric(const struct core_state *st, struct core_namespace *ns, int64_t now_ms)
{
    if (!ns || st->cfg.fair_share_half_life_ms <= 0)
        return 0;
    fs_advance(st, ns, now_ms);
    return (ns->fs_usage + (double)ns->fs_rate * fs_tau_ms(st)) / (double)ns_weight(ns);
}

/* Priority class, raised by one per aging_ms waited: nothing starves. */
static int64_t job_class(const struct core_state *st, const struct core_job *job, int64_t now_ms)
{
    int64_t cls = job->spec.priority;
    if (st->cfg.aging_ms > 0 && now_ms > job->created_ms)
        cls += (now_ms - job->created_ms) / st->cfg.aging_ms;
    return cls;
}

/* ---- backfill reservation ------------------------------------------------------------- */

/* Replicas of res the node holds: when empty, or with what is free now. */
static int64_t replicas_on(const struct core_node *node, const struct job_resources *res, const char *model,
                           bool empty)
{
    const struct core_node_alloc *a = &node->alloc;
    int64_t k = CORE_NODE_PODS_MAX - (empty ? 0 : node->pods_active);
    if (node->cpu_milli && res->cpu_milli) {
        int64_t n = (node->cpu_milli - (empty ? 0 : a->cpu_milli_used)) / res->cpu_milli;
        k = n < k ? n : k;
    }
    if (node->memory_bytes && res->memory_bytes) {
        int64_t n = (node->memory_bytes - (empty ? 0 : a->memory_bytes_used)) / res->memory_bytes;
        k = n < k ? n : k;
    }
    int64_t n = -1;
    if (res->gpus > 0) {
        n = 0;
        for (uint32_t g = 0; g < node->gpu_count; g++) {
            if (node->gpus[g].mig_mode || !gpu_of_model(&node->gpus[g], model))
                continue;
            int64_t same = 0;
            for (uint32_t h = 0; h < node->gpu_count; h++)
                same += !node->gpus[h].mig_mode && (empty || gpu_free_whole(node, h)) &&
                        strcmp(node->gpus[h].model, node->gpus[g].model) == 0;
            n = same / res->gpus > n ? same / res->gpus : n;
        }
    } else if (res->mig_profile[0]) {
        n = 0;
        for (uint32_t g = 0; g < node->gpu_count; g++)
            for (uint32_t m = 0; node->gpus[g].mig_mode && gpu_of_model(&node->gpus[g], model) &&
                                 m < node->gpus[g].mig_count; m++)
                n += strcmp(node->gpus[g].mig[m].profile, res->mig_profile) == 0 && (empty || !a->mig_pod[g][m]);
    } else if (res->gpu_milli > 0) {
        n = 0;
        for (uint32_t g = 0; g < node->gpu_count; g++)
            if (!node->gpus[g].mig_mode && gpu_of_model(&node->gpus[g], model))
                n += (empty ? GPU_MILLI_WHOLE
                            : a->gpu_pod[g] ? 0 : GPU_MILLI_WHOLE - a->gpu_milli_used[g]) / res->gpu_milli;
    }
    if (n >= 0 && n < k)
        k = n;
    return k < 0 ? 0 : k;
}

static void resv_clear(struct core_state *st)
{
    for (size_t i = 0; i < st->resv_count && !st->place_dirty; i++)
        if (st->resv_nodes[i] < st->place.count)
            st->place.nodes[st->resv_nodes[i]].reserved = false;
    st->resv_count = 0;
    st->resv_job = 0;
}

struct resv_candidate {
    uint32_t index;
    int64_t empty, now, free_milli;
};

static int cmp_resv(const void *x, const void *y)
{
    const struct resv_candidate *a = x, *b = y;
    if (a->now != b->now)
        return a->now > b->now ? -1 : 1;
    if (a->free_milli != b->free_milli)
        return a->free_milli > b->free_milli ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Holds for `job` the nodes it will get first: those that can run its
 * replicas, the ones with the most free now first, until they would hold
 * every replica once empty. Nothing new goes there but jobs ahead of it;
 * other jobs are backfilled onto the other nodes, so they cannot delay it.
 * A job that would not fit even on empty nodes holds nothing (false).
 * One walk over the nodes per pass that has a waiting head job. */
static bool resv_make(struct core_state *st, struct core_job *job)
{
    if (st->place_dirty || st->node_order_count == 0)
        return false;
    struct resv_candidate *cand = malloc(st->node_order_count * sizeof *cand);
    if (!cand)
        return false;
    const json_t *selector = job_selector(&job->spec);
    const char *model = job_model(&job->spec);
    size_t n = 0;
    for (size_t i = 0; i < st->node_order_count; i++) {
        const struct core_node *node = st->node_order[i];
        if (node->state != NODE_READY || node->place_index == PLACE_NONE ||
            (selector && !node_matches_selector(node, selector)))
            continue;
        int64_t empty = replicas_on(node, &job->spec.resources, model, true);
        if (empty <= 0)
            continue;
        const struct place_node *pn = &st->place.nodes[node->place_index];
        cand[n++] = (struct resv_candidate){.index = node->place_index, .empty = empty,
                                            .now = replicas_on(node, &job->spec.resources, model, false),
                                            .free_milli = pn->free_milli};
    }
    qsort(cand, n, sizeof *cand, cmp_resv);
    int64_t held = 0;
    size_t take = 0;
    while (take < n && held < job->spec.replicas)
        held += cand[take++].empty;
    if (held < job->spec.replicas) {
        free(cand);
        return false;
    }
    if (take > st->resv_cap) {
        uint32_t *grown = realloc(st->resv_nodes, take * sizeof *grown);
        if (!grown) {
            free(cand);
            return false;
        }
        st->resv_nodes = grown;
        st->resv_cap = take;
    }
    resv_clear(st);
    st->resv_job = job->id;
    for (size_t i = 0; i < take; i++) {
        st->resv_nodes[i] = cand[i].index;
        st->place.nodes[cand[i].index].reserved = true;
    }
    st->resv_count = take;
    free(cand);
    return true;
}

/* ---- placing one job ------------------------------------------------------------------ */

enum try_result { TRY_SKIPPED, TRY_PLACED, TRY_QUOTA, TRY_NO_MATCH, TRY_CAPACITY };

/* Shapes that did not fit earlier in this pass: placements only take
 * capacity, so they still do not (the common case of many alike jobs
 * waiting costs one comparison each). */
#define FAILED_MAX 32
struct pass {
    int64_t now_ms;
    struct core_effects *fx;
    struct {
        struct place_pod shape;
        int32_t replicas;
        char reason[CORE_REASON_MAX];
    } failed[FAILED_MAX];
    unsigned failed_count, failed_next;
};

static const char *failed_reason(const struct pass *pass, const struct place_pod *shape, int32_t replicas)
{
    for (unsigned i = 0; i < pass->failed_count; i++)
        if (pass->failed[i].replicas == replicas && memcmp(&pass->failed[i].shape, shape, sizeof *shape) == 0)
            return pass->failed[i].reason;
    return NULL;
}

static void failed_add(struct pass *pass, const struct place_pod *shape, int32_t replicas, const char *reason)
{
    unsigned i = pass->failed_next++ % FAILED_MAX;
    pass->failed[i].shape = *shape;
    pass->failed[i].replicas = replicas;
    snprintf(pass->failed[i].reason, sizeof pass->failed[i].reason, "%s", reason);
    if (pass->failed_count < FAILED_MAX)
        pass->failed_count++;
}

static void set_reason(struct core_job *job, const char *why, int64_t now_ms)
{
    /* the reason is derived: shown at once, recomputed after a restart,
     * so it is not worth a store write per pass */
    if (!job->not_before_ms || job->not_before_ms <= now_ms)
        snprintf(job->reason, sizeof job->reason, "%s", why);
}

/* Whether some node matches the job's selector (cached until nodes change). */
static bool job_matches_some_node(struct core_state *st, struct core_job *job)
{
    if (job->match_gen == st->node_gen)
        return job->match_any;
    const json_t *selector = job_selector(&job->spec);
    job->match_any = false;
    for (size_t i = 0; i < st->node_order_count && !job->match_any; i++)
        job->match_any = !selector || node_matches_selector(st->node_order[i], selector);
    job->match_gen = st->node_gen;
    return job->match_any;
}

static void release_pods(struct core_state *st, struct core_pod **pods, int placed)
{
    for (int r = 0; r < placed; r++) {
        struct core_node *node = node_get(st, pods[r]->node);
        node_release(node, pods[r]);
        sched_place_sync(st, node);
    }
}

/* Binds every replica under the policy (all or none). On a partial fit
 * everything is given back; *ret_quota_why is set when a per-model quota,
 * not capacity, refused a replica that would otherwise have fit. */
static bool bind_replicas(struct core_state *st, struct core_job *job, const struct place_pod *shape,
                          enum place_policy policy, struct core_pod **pods, int *ret_placed, char *quota_why,
                          size_t quota_why_size, bool *ret_quota_refused)
{
    const struct job_resources *res = &job->spec.resources;
    bool model_quota = res->gpus > 0 && quota_limits_models(st, job->spec.namespace_path);
    int placed = 0;
    *ret_quota_refused = false;
    for (int r = 0; r < job->spec.replicas; r++) {
        struct place_pod s = *shape;
        if (model_quota) {
            /* the models whose per-model limit still takes this replica */
            struct quota_amounts so_far, a;
            quota_amounts_zero(&so_far);
            for (int k = 0; k < r; k++) {
                pod_amounts(pods[k], &a);
                quota_amounts_add(&so_far, &a, 1);
            }
            uint32_t allowed = 0;
            for (uint32_t m = 0; m < st->place.model_count; m++) {
                if (shape->model_mask && !(shape->model_mask >> m & 1u))
                    continue;
                struct quota_amounts need = so_far;
                struct quota_kind kind = {.amount = res->gpus};
                char why[CORE_REASON_MAX], field[64];
                snprintf(kind.name, sizeof kind.name, "%s", st->place.models[m]);
                need.gpus += res->gpus;
                need.pods++;
                kinds_bump(need.models, &need.model_count, kind.name, kind.amount);
                if (!quota_blocks(st, job->spec.namespace_path, &need, true, why, sizeof why, field, sizeof field))
                    allowed |= 1u << m;
                else
                    snprintf(quota_why, quota_why_size, "%s", why);
            }
            bool restricted = allowed != (shape->model_mask ? shape->model_mask
                                                            : (st->place.model_count >= 32
                                                                   ? UINT32_MAX
                                                                   : (1u << st->place.model_count) - 1));
            s.model_mask = allowed;
            struct place_choice c;
            if (!allowed || !place_choose(&st->place, &s, policy, &c)) {
                *ret_quota_refused = restricted && place_any_fits(&st->place, shape);
                break;
            }
            struct core_node *node = st->node_order[c.node];
            node_bind(node, res, &c, pods[r]);
            sched_place_sync(st, node);
            placed++;
            continue;
        }
        struct place_choice c;
        if (!place_choose(&st->place, &s, policy, &c))
            break;
        struct core_node *node = st->node_order[c.node];
        node_bind(node, res, &c, pods[r]);
        sched_place_sync(st, node);
        placed++;
    }
    *ret_placed = placed;
    if (placed == job->spec.replicas)
        return true;
    release_pods(st, pods, placed);
    for (int r = 0; r < job->spec.replicas; r++) {
        memset(pods[r]->devices, 0, sizeof pods[r]->devices);
        pods[r]->device_count = 0;
        pods[r]->node[0] = '\0';
    }
    return false;
}

static enum try_result place_job(struct core_state *st, struct core_job *job, bool use_reserved, struct pass *pass)
{
    int64_t now_ms = pass->now_ms;
    struct core_effects *fx = pass->fx;
    int replicas = job->spec.replicas;
    struct quota_amounts need;
    char quota_why[CORE_REASON_MAX], quota_field[64];
    job_amounts(&job->spec, &need);
    if (quota_blocks(st, job->spec.namespace_path, &need, true, quota_why, sizeof quota_why, quota_field,
                     sizeof quota_field)) {
        snprintf(job->reason, sizeof job->reason, "%s", quota_why);
        return TRY_QUOTA;
    }
    const char *capacity_why = replicas > 1 ? "capacity: not enough free resources for all replicas (gang)"
                                            : "capacity: no node has the requested resources free";
    struct place_pod shape;
    /* a label no node carries fails here without a look at any node; the
     * walk over the nodes for the reason is made only for jobs that do
     * not fit, once per change of the nodes */
    int shaped = sched_pod_shape(st, &job->spec, &shape);
    bool shape_ok = shaped == 0;
    if (shaped == -1 || ((!shape_ok || !place_any_fits(&st->place, &shape)) && !job_matches_some_node(st, job))) {
        set_reason(job, "capacity: no node matches the selector", now_ms);
        return TRY_NO_MATCH;
    }
    if (!shape_ok) {
        set_reason(job, capacity_why, now_ms);
        return TRY_CAPACITY; /* a model or profile no node offers as asked */
    }
    shape.use_reserved = use_reserved;
    bool model_quota = quota_limits_models(st, job->spec.namespace_path);
    const char *known = model_quota ? NULL : failed_reason(pass, &shape, replicas);
    if (known) {
        set_reason(job, known, now_ms);
        return TRY_CAPACITY;
    }
    if (!place_any_fits(&st->place, &shape)) {
        char why[CORE_REASON_MAX];
        snprintf(why, sizeof why, "%s", capacity_why);
        if (!use_reserved && st->resv_count) {
            /* would it fit on the nodes held for the head job? */
            shape.use_reserved = true;
            const struct core_job *head = job_get_by_id(st, st->resv_job);
            if (head && place_any_fits(&st->place, &shape))
                snprintf(why, sizeof why, "backfill: the free resources it fits are held for job %s/%s, "
                         "ahead in the queue", head->spec.namespace_path, head->spec.name);
            shape.use_reserved = false;
        }
        set_reason(job, why, now_ms);
        if (!model_quota)
            failed_add(pass, &shape, replicas, why);
        return TRY_CAPACITY;
    }
    struct core_pod **pods = calloc((size_t)replicas, sizeof *pods);
    if (!pods)
        return TRY_SKIPPED;
    for (int r = 0; r < replicas; r++) {
        pods[r] = calloc(1, sizeof *pods[r]);
        if (!pods[r]) {
            for (int k = 0; k < r; k++)
                free(pods[k]);
            free(pods);
            return TRY_SKIPPED;
        }
        pods[r]->id = st->next_pod_id + (uint64_t)r;
    }
    int placed = 0;
    bool quota_refused_node = false;
    bool ok = bind_replicas(st, job, &shape, st->cfg.place_policy, pods, &placed, quota_why, sizeof quota_why,
                            &quota_refused_node);
    if (!ok && !quota_refused_node && replicas > 1 && placed > 0 && st->cfg.place_policy != PLACE_FIRSTFIT)
        /* the scored choice of the first replicas can leave the rest no
         * room where node order would not: a gang that fits first fit runs */
        ok = bind_replicas(st, job, &shape, PLACE_FIRSTFIT, pods, &placed, quota_why, sizeof quota_why,
                           &quota_refused_node);
    bool quota_refused = false;
    if (ok) {
        /* now the models are known: per-model and per-profile limits too */
        quota_amounts_zero(&need);
        for (int r = 0; r < replicas; r++) {
            struct quota_amounts a;
            snprintf(pods[r]->namespace_path, sizeof pods[r]->namespace_path, "%s", job->spec.namespace_path);
            pod_amounts(pods[r], &a);
            quota_amounts_add(&need, &a, 1);
        }
        quota_refused = quota_blocks(st, job->spec.namespace_path, &need, true, quota_why, sizeof quota_why,
                                     quota_field, sizeof quota_field);
        if (quota_refused)
            release_pods(st, pods, replicas);
    }
    if (!ok || quota_refused) {
        for (int r = 0; r < replicas; r++)
            free(pods[r]);
        free(pods);
        if (quota_refused || quota_refused_node) {
            snprintf(job->reason, sizeof job->reason, "%s", quota_why);
            return TRY_QUOTA;
        }
        char why[CORE_REASON_MAX];
        snprintf(why, sizeof why, "%s", capacity_why);
        const struct core_job *head = job_get_by_id(st, st->resv_job);
        if (!use_reserved && st->resv_count && head && (pods = calloc((size_t)replicas, sizeof *pods))) {
            /* would the gang fit on the nodes held for the head job? */
            bool all = true;
            for (int r = 0; r < replicas && all; r++)
                if ((all = (pods[r] = calloc(1, sizeof *pods[r])) != NULL))
                    pods[r]->id = st->next_pod_id + (uint64_t)r;
            shape.use_reserved = true;
            bool refused;
            if (all && bind_replicas(st, job, &shape, PLACE_FIRSTFIT, pods, &placed, quota_why, sizeof quota_why,
                                     &refused)) {
                release_pods(st, pods, replicas);
                snprintf(why, sizeof why, "backfill: the free resources it fits are held for job %s/%s, "
                         "ahead in the queue", head->spec.namespace_path, head->spec.name);
            }
            shape.use_reserved = false;
            for (int r = 0; r < replicas; r++)
                free(pods[r]);
            free(pods);
        }
        set_reason(job, why, now_ms);
        if (!model_quota)
            failed_add(pass, &shape, replicas, why);
        return TRY_CAPACITY;
    }
    job->attempt++;
    job->succeeded_pods = 0;
    job->failing = false;
    job->not_before_ms = 0;
    for (int r = 0; r < replicas; r++) {
        struct core_pod *pod = pods[r];
        snprintf(pod->id_key, sizeof pod->id_key, "%llu", (unsigned long long)pod->id);
        pod->job_id = job->id;
        snprintf(pod->namespace_path, sizeof pod->namespace_path, "%s", job->spec.namespace_path);
        snprintf(pod->job_name, sizeof pod->job_name, "%s", job->spec.name);
        pod->replica = r;
        pod->attempt = job->attempt;
        pod->state = POD_SCHEDULED;
        pod->scheduled_ms = now_ms;
        pod->exit_code = -1;
        if (hmap_put(&st->pods, pod->id_key, pod) < 0) {
            /* cannot happen short of memory exhaustion; the engine stops on it */
            fx->out_of_memory = true;
            free(pod);
            continue;
        }
        quota_charge(st, pod, +1);
        fs_charge(st, pod, +1, now_ms);
        sched_shape_pod(st, pod, +1);
        if (sched_ledger_record(st, pod, false) < 0)
            fx->out_of_memory = true; /* the engine stops; a restart rebuilds the ledger */
        core_effect_add(fx, CORE_EFFECT_POD_PUT)->pod = pod;
        core_effect_add(fx, CORE_EFFECT_POD_START)->pod_id = pod->id;
        char devices[CORE_REASON_MAX] = "";
        for (uint32_t d = 0; d < pod->device_count; d++) {
            size_t used = strlen(devices);
            snprintf(devices + used, sizeof devices - used, "%s%s", d ? "," : " with ", pod->devices[d].uuid);
        }
        core_effect_event(fx, job->id, now_ms, "Scheduled", "replica %d (attempt %d) placed on %s%s", r,
                          job->attempt, pod->node, devices);
    }
    st->next_pod_id += (uint64_t)replicas;
    job->active_pods = replicas;
    if (job->id == st->resv_job)
        resv_clear(st); /* its nodes go back to everyone, in this pass */
    snprintf(job->reason, sizeof job->reason, "starting");
    core_effect_add(fx, CORE_EFFECT_JOB_PUT)->job = job;
    sched_dequeue(st, job);
    free(pods);
    return TRY_PLACED;
}

static enum try_result try_job(struct core_state *st, struct core_job *job, bool use_reserved, struct pass *pass)
{
    if (job->state != JOB_PENDING || job->active_pods > 0 ||
        (job->not_before_ms && job->not_before_ms > pass->now_ms))
        return TRY_SKIPPED;
    if (st->pods.count + (size_t)job->spec.replicas > CORE_PODS_MAX)
        return TRY_SKIPPED;
    return place_job(st, job, use_reserved, pass);
}

/* ---- the pass ---------------------------------------------------------------------------- */

/* The order of a pass: the highest (aged) priority class first; within a
 * class the namespace with the least fair-share use; within a namespace
 * first come, first served. A namespace's use grows as its jobs are
 * placed, so alike namespaces take turns. */
struct pick {
    struct core_job *job;
    struct core_namespace *ns;
    int64_t cls;
};

struct run {
    size_t pos, end;
    double metric;
};

static int cmp_pick(const void *x, const void *y)
{
    const struct pick *a = x, *b = y;
    if (a->ns != b->ns)
        return (uintptr_t)a->ns < (uintptr_t)b->ns ? -1 : 1;
    if (a->cls != b->cls)
        return a->cls > b->cls ? -1 : 1;
    return a->job->id < b->job->id ? -1 : a->job->id > b->job->id;
}

/* Whether run x goes before run y. */
static bool run_before(const struct pick *picks, const struct run *x, const struct run *y)
{
    const struct pick *a = &picks[x->pos], *b = &picks[y->pos];
    if (a->cls != b->cls)
        return a->cls > b->cls;
    if (x->metric != y->metric)
        return x->metric < y->metric;
    return a->job->id < b->job->id;
}

static void heap_down(const struct pick *picks, struct run *heap, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < n && run_before(picks, &heap[l], &heap[best]))
            best = l;
        if (r < n && run_before(picks, &heap[r], &heap[best]))
            best = r;
        if (best == i)
            return;
        struct run t = heap[i];
        heap[i] = heap[best];
        heap[best] = t;
        i = best;
    }
}

/* Whether job goes before the job holding the reservation. */
static bool ahead_of_reserved(struct core_state *st, const struct pick *p, int64_t now_ms)
{
    struct core_job *head = job_get_by_id(st, st->resv_job);
    if (!head || !head->queued)
        return true;
    int64_t cls = job_class(st, head, now_ms);
    if (p->cls != cls)
        return p->cls > cls;
    struct core_namespace *head_ns = hmap_get(&st->namespaces, head->spec.namespace_path);
    double mine = fs_metric(st, p->ns, now_ms), theirs = fs_metric(st, head_ns, now_ms);
    if (mine != theirs)
        return mine < theirs;
    return p->job->id < head->id;
}

/* Whether job uses nothing the head job holding the reservation could
 * use (GPU kind, MIG profile, CPU, memory): then it may go on its nodes. */
static bool resv_disjoint(struct core_state *st, const struct core_job *job)
{
    const struct core_job *head = job_get_by_id(st, st->resv_job);
    if (!head)
        return true;
    const struct job_resources *a = &job->spec.resources, *b = &head->spec.resources;
    bool a_plain = a->gpus > 0 || (a->gpu_milli > 0 && !a->mig_profile[0]);
    bool b_plain = b->gpus > 0 || (b->gpu_milli > 0 && !b->mig_profile[0]);
    const char *ma = job_model(&job->spec), *mb = job_model(&head->spec);
    if (a_plain && b_plain && (!ma || !mb || strcmp(ma, mb) == 0))
        return false;
    if (a->mig_profile[0] && b->mig_profile[0] && strcmp(a->mig_profile, b->mig_profile) == 0)
        return false;
    return !(a->cpu_milli > 0 && b->cpu_milli > 0) && !(a->memory_bytes > 0 && b->memory_bytes > 0);
}

static void run_pass(struct core_state *st, struct core_job **jobs, size_t n, bool full, struct pass *pass)
{
    int64_t now_ms = pass->now_ms;
    struct pick *picks = malloc((n ? n : 1) * sizeof *picks);
    struct run *heap = malloc((n ? n : 1) * sizeof *heap);
    if (!picks || !heap)
        goto out;
    for (size_t i = 0; i < n; i++)
        picks[i] = (struct pick){.job = jobs[i], .ns = hmap_get(&st->namespaces, jobs[i]->spec.namespace_path),
                                 .cls = job_class(st, jobs[i], now_ms)};
    qsort(picks, n, sizeof *picks, cmp_pick);
    size_t runs = 0;
    for (size_t i = 0; i < n;) {
        size_t end = i;
        while (end < n && picks[end].ns == picks[i].ns)
            end++;
        heap[runs++] = (struct run){.pos = i, .end = end, .metric = fs_metric(st, picks[i].ns, now_ms)};
        i = end;
    }
    for (size_t i = runs; i-- > 0;)
        heap_down(picks, heap, runs, i);
    size_t namespaces = runs;
    double least_use = runs ? heap[0].metric : 0;
    for (size_t i = 0; i < runs; i++)
        least_use = heap[i].metric < least_use ? heap[i].metric : least_use;
    bool head_found = false;
    while (runs > 0) {
        struct run *top = &heap[0];
        const struct pick *p = &picks[top->pos];
        struct core_job *job = p->job;
        /* in a full pass the first job that does not fit is the head; in a
         * pass over new jobs only one ranked above the head is ahead of it */
        bool ahead = full ? !head_found : !st->resv_job || ahead_of_reserved(st, p, now_ms);
        enum try_result r =
            job->queued ? try_job(st, job, ahead || resv_disjoint(st, job), pass) : TRY_SKIPPED;
        if (r == TRY_CAPACITY && namespaces > 1 && p->ns && top->metric > least_use * 1.05 + 1e6 &&
            strncmp(job->reason, "capacity:", 9) == 0) {
            /* say why others went first: the namespace used more GPU time */
            size_t used = strlen(job->reason);
            snprintf(job->reason + used, sizeof job->reason - used,
                     "; fair share: namespace %s has used more GPU time than others waiting, whose jobs go first",
                     p->ns->path);
        }
        if (r == TRY_PLACED) {
            top->metric = fs_metric(st, p->ns, now_ms);
        } else if (r == TRY_CAPACITY && ahead && !st->cfg.backfill_off) {
            uint64_t old = st->resv_job;
            /* the same head keeps its nodes, so that they drain */
            if (old == job->id && st->resv_count) {
                head_found = true;
            } else if (resv_make(st, job)) {
                head_found = true;
                if (old && !full)
                    st->sched_full_pass = true; /* jobs kept off the old reservation get another try */
                pass->failed_count = pass->failed_next = 0; /* reasons name the head job */
            }
        }
        if (++top->pos == top->end)
            heap[0] = heap[--runs];
        heap_down(picks, heap, runs, 0);
    }
    if (full && !head_found)
        resv_clear(st); /* nothing waits for capacity: nothing is held */
out:
    free(picks);
    free(heap);
}

void core_schedule(struct core_state *st, int64_t now_ms, struct core_effects *fx)
{
    fx->count = 0;
    fx->out_of_memory = false;
    if (st->place_dirty)
        st->sched_full_pass = true;
    if (sched_place_prepare(st) < 0) {
        fx->out_of_memory = true; /* fatal for the engine, like any lost effect */
        return;
    }
    if (!st->fs_ready)
        fs_rebuild(st, now_ms);
    struct pass *pass = malloc(sizeof *pass);
    if (!pass) {
        fx->out_of_memory = true;
        return;
    }
    for (int round = 0; round < 2; round++) {
        bool full = st->sched_full_pass || st->fresh_overflow;
        size_t n = 0;
        struct core_job **jobs = malloc((full ? st->queue_count : st->fresh_count) * sizeof *jobs + 1);
        if (!jobs) {
            fx->out_of_memory = true;
            break;
        }
        if (full) {
            for (int level = 0; level < 3; level++)
                for (struct core_job *job = st->queue_head[level]; job; job = job->queue_next)
                    jobs[n++] = job;
        } else {
            for (size_t i = 0; i < st->fresh_count; i++) {
                struct core_job *job = job_get_by_id(st, st->fresh[i]);
                if (job && job->queued) {
                    /* a job may be in the list twice (queued again after a back-off) */
                    bool seen = false;
                    for (size_t k = n; k-- > 0 && !seen && k + 64 > n;)
                        seen = jobs[k] == job;
                    if (!seen)
                        jobs[n++] = job;
                }
            }
        }
        st->sched_full_pass = false;
        st->fresh_overflow = false;
        st->fresh_count = 0;
        pass->now_ms = now_ms;
        pass->fx = fx;
        pass->failed_count = pass->failed_next = 0;
        run_pass(st, jobs, n, full, pass);
        free(jobs);
        if (!st->sched_full_pass)
            break;
    }
    free(pass);
}

/* ---- pod lifecycle ------------------------------------------------------------------ */

static void stop_pod(struct core_pod *pod, struct core_effects *fx)
{
    if (core_pod_state_final(pod->state) || pod->stop_requested)
        return;
    pod->stop_requested = true;
    core_effect_add(fx, CORE_EFFECT_POD_STOP)->pod_id = pod->id;
    core_effect_add(fx, CORE_EFFECT_POD_PUT)->pod = pod;
}

void sched_stop_job_pods(struct core_state *st, const struct core_job *job, int64_t now_ms, struct core_effects *fx)
{
    (void)now_ms;
    if (job->active_pods <= 0)
        return;
    void *value;
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        struct core_pod *pod = value;
        if (pod->job_id == job->id && !core_pod_state_final(pod->state))
            stop_pod(pod, fx);
    }
}

static int find_active_pod(struct core_state *st, struct core_cmd *cmd, struct core_reply *reply,
                           struct core_pod **ret_pod)
{
    struct core_pod *pod = pod_get(st, cmd->pod_id);
    if (!pod)
        return core_reply_error(reply, GPUAAS_ENOTFOUND, NULL, "pod %llu not found",
                                (unsigned long long)cmd->pod_id);
    if (core_pod_state_final(pod->state))
        return core_reply_error(reply, GPUAAS_ECONFLICT, NULL, "pod %llu already ended",
                                (unsigned long long)cmd->pod_id);
    *ret_pod = pod;
    return 0;
}

int sched_apply_pod_started(struct core_state *st, struct core_cmd *cmd, int64_t now_ms, struct core_effects *fx,
                            struct core_reply *reply)
{
    struct core_pod *pod;
    int r = find_active_pod(st, cmd, reply, &pod);
    if (r < 0)
        return r;
    if (cmd->start_failed) {
        struct core_cmd exited = {.kind = CORE_CMD_POD_EXITED, .pod_id = cmd->pod_id, .exit_code = -1};
        snprintf(exited.message, sizeof exited.message, "start failed: %s", cmd->message);
        return sched_apply_pod_exited(st, &exited, now_ms, fx, reply);
    }
    if (pod->state != POD_SCHEDULED)
        return core_reply_error(reply, GPUAAS_ECONFLICT, NULL, "pod %llu already started",
                                (unsigned long long)pod->id);
    pod->state = POD_RUNNING;
    pod->started_ms = now_ms;
    snprintf(pod->handle, sizeof pod->handle, "%s", cmd->handle);
    core_effect_add(fx, CORE_EFFECT_POD_PUT)->pod = pod;
    struct core_job *job = job_get_by_id(st, pod->job_id);
    if (job && job->state == JOB_PENDING && !job->failing) {
        /* running once every replica of the attempt runs */
        int running = 0;
        void *value;
        for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
            const struct core_pod *p = value;
            /* a replica that already finished well counts as having run */
            running += p->job_id == job->id && p->attempt == job->attempt &&
                       (p->state == POD_RUNNING || p->state == POD_SUCCEEDED);
        }
        if (running == job->spec.replicas) {
            job->state = JOB_RUNNING;
            snprintf(job->reason, sizeof job->reason, "%s", "");
            job->updated_ms = now_ms;
            core_effect_add(fx, CORE_EFFECT_JOB_PUT)->job = job;
            core_effect_event(fx, job->id, now_ms, "Running", "all %d replica(s) running (attempt %d)",
                              job->spec.replicas, job->attempt);
        }
    }
    reply->err = 0;
    return 0;
}

static int64_t backoff_ms(const struct core_state *st, int restarts)
{
    int64_t ms = st->cfg.restart_backoff_ms;
    for (int i = 1; i < restarts && ms < st->cfg.restart_backoff_max_ms; i++)
        ms *= 2;
    return ms < st->cfg.restart_backoff_max_ms ? ms : st->cfg.restart_backoff_max_ms;
}

static void describe_exit(const struct core_pod *pod, char *out, size_t size)
{
    if (pod->state == POD_LOST)
        snprintf(out, size, "lost (%s)", pod->message[0] ? pod->message : "its processes vanished");
    else if (pod->oom_killed)
        snprintf(out, size, "killed: out of memory (limit reached)");
    else if (pod->exit_signal)
        snprintf(out, size, "killed by signal %d", pod->exit_signal);
    else if (pod->message[0] && pod->exit_code < 0)
        snprintf(out, size, "%s", pod->message);
    else
        snprintf(out, size, "exited with code %d", pod->exit_code);
}

/* The job after one of its pods ended. */
static void job_after_pod_end(struct core_state *st, struct core_job *job, struct core_pod *pod, int64_t now_ms,
                              struct core_effects *fx)
{
    job->active_pods--;
    if (core_job_state_final(job->state)) {
        if (job->active_pods == 0)
            core_effect_event(fx, job->id, now_ms, "Stopped", "all pods stopped");
        return;
    }
    if (pod->attempt != job->attempt)
        return;
    char what[CORE_REASON_MAX];
    describe_exit(pod, what, sizeof what);
    if (pod->state == POD_SUCCEEDED && !job->failing) {
        job->succeeded_pods++;
        if (job->succeeded_pods == job->spec.replicas) {
            job->state = JOB_SUCCEEDED;
            job->reason[0] = '\0';
            job->updated_ms = job->finished_ms = now_ms;
            core_effect_add(fx, CORE_EFFECT_JOB_PUT)->job = job;
            core_effect_event(fx, job->id, now_ms, "Succeeded", "all %d replica(s) succeeded", job->spec.replicas);
        }
        return;
    }
    if (pod->state != POD_SUCCEEDED && !job->failing) {
        /* one replica failed: the attempt failed; stop the others (gang) */
        job->failing = true;
        core_effect_event(fx, job->id, now_ms, "PodFailed", "replica %d (attempt %d) %s", pod->replica, pod->attempt,
                          what);
        void *value;
        for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
            struct core_pod *other = value;
            if (other->job_id == job->id && other->attempt == job->attempt && !core_pod_state_final(other->state))
                stop_pod(other, fx);
        }
        if (job->spec.restart_policy == RESTART_ON_FAILURE && job->restarts < job->spec.restart_limit) {
            job->restarts++;
            job->state = JOB_PENDING;
            job->not_before_ms = now_ms + backoff_ms(st, job->restarts);
            backoff_add(st, job->id);
            snprintf(job->reason, sizeof job->reason, "back-off: restart %d/%d after replica %d %s", job->restarts,
                     job->spec.restart_limit, pod->replica, what);
        } else {
            job->state = JOB_FAILED;
            job->finished_ms = now_ms;
            if (job->spec.restart_policy == RESTART_ON_FAILURE)
                snprintf(job->reason, sizeof job->reason, "replica %d %s; restart limit %d reached", pod->replica,
                         what, job->spec.restart_limit);
            else
                snprintf(job->reason, sizeof job->reason, "replica %d %s (restart policy Never)", pod->replica, what);
            core_effect_event(fx, job->id, now_ms, "Failed", "%s", job->reason);
        }
        job->updated_ms = now_ms;
        core_effect_add(fx, CORE_EFFECT_JOB_PUT)->job = job;
    }
    if (job->failing && job->active_pods == 0 && job->state == JOB_PENDING) {
        job->failing = false;
        sched_enqueue(st, job);
        core_effect_event(fx, job->id, now_ms, "BackOff", "%s", job->reason);
    }
}

int sched_apply_pod_exited(struct core_state *st, struct core_cmd *cmd, int64_t now_ms, struct core_effects *fx,
                           struct core_reply *reply)
{
    struct core_pod *pod;
    int r = find_active_pod(st, cmd, reply, &pod);
    if (r < 0)
        return r;
    /* the executor may report a quick exit before its start result: the
     * pod then counts from when its devices were allocated */
    if (!pod->started_ms && !cmd->lost && !(cmd->exit_code < 0 && cmd->message[0] && !cmd->exit_signal))
        pod->started_ms = pod->scheduled_ms;
    pod->ended_ms = now_ms;
    ledger_close(&st->ledger, pod, pod->id, pod->scheduled_ms, pod->ended_ms);
    pod->exit_code = cmd->exit_code;
    pod->exit_signal = cmd->exit_signal;
    pod->oom_killed = cmd->oom_killed;
    if (cmd->message[0])
        snprintf(pod->message, sizeof pod->message, "%s", cmd->message);
    if (cmd->lost)
        pod->state = POD_LOST;
    else if (pod->stop_requested)
        pod->state = POD_KILLED;
    else if (cmd->exit_code == 0 && !cmd->exit_signal && !cmd->oom_killed)
        pod->state = POD_SUCCEEDED; /* a process lost to the memory limit fails the pod, whatever the exit */
    else
        pod->state = POD_FAILED;
    struct core_node *node = node_get(st, pod->node);
    if (node) {
        node_release(node, pod);
        sched_place_sync(st, node);
    }
    quota_charge(st, pod, -1);
    fs_charge(st, pod, -1, now_ms);
    sched_shape_pod(st, pod, -1);
    st->sched_full_pass = true; /* capacity freed */
    core_effect_add(fx, CORE_EFFECT_POD_PUT)->pod = pod;
    struct core_job *job = job_get_by_id(st, pod->job_id);
    if (job)
        job_after_pod_end(st, job, pod, now_ms, fx);
    reply->err = 0;
    return 0;
}

int sched_apply_tick(struct core_state *st, int64_t now_ms, struct core_effects *fx, struct core_reply *reply)
{
    (void)fx;
    size_t kept = 0;
    for (size_t i = 0; i < st->backoff_count; i++) {
        struct core_job *job = job_get_by_id(st, st->backoff[i]);
        if (!job || !job->not_before_ms || job->state != JOB_PENDING)
            continue; /* placed, cancelled or deleted meanwhile */
        if (job->not_before_ms <= now_ms && job->queued)
            fresh_add(st, job->id);
        else
            st->backoff[kept++] = job->id; /* still waiting (or its pods still ending) */
    }
    st->backoff_count = kept;
    reply->err = 0;
    return 0;
}

/* ---- restore ---------------------------------------------------------------------------- */

int sched_ledger_record(struct core_state *st, const struct core_pod *pod, bool restoring)
{
    const struct core_node *node = core_find_node(st, pod->node);
    const char *group = node ? core_node_label(node, "gpuaas.io/node-group") : NULL;
    struct ledger_fields f = {.ns = pod->namespace_path, .node = pod->node, .node_group = group ? group : "",
                              .model = pod->gpu_model[0] ? pod->gpu_model : "none", .capacity = pod->capacity_type};
    int32_t milli = 0;
    for (uint32_t d = 0; d < pod->device_count; d++)
        milli += (int32_t)meter_device_milli(&pod->devices[d]);
    if (restoring)
        return ledger_append(&st->ledger, pod, &f, pod->scheduled_ms, pod->ended_ms, milli);
    return ledger_add(&st->ledger, pod, pod->id, &f, pod->scheduled_ms, pod->ended_ms, milli);
}

int core_restore_pod(struct core_state *st, const struct core_pod *src)
{
    struct core_pod *pod = malloc(sizeof *pod);
    if (!pod)
        return GPUAAS_ENOMEM;
    *pod = *src;
    snprintf(pod->id_key, sizeof pod->id_key, "%llu", (unsigned long long)pod->id);
    if (hmap_get(&st->pods, pod->id_key) || hmap_put(&st->pods, pod->id_key, pod) < 0) {
        free(pod);
        return GPUAAS_EEXIST;
    }
    if (sched_ledger_record(st, pod, true) < 0) {
        hmap_remove(&st->pods, pod->id_key);
        free(pod);
        return GPUAAS_ENOMEM;
    }
    if (pod->id >= st->next_pod_id)
        st->next_pod_id = pod->id + 1;
    /* pods outlive deleted jobs: their job ids must never be handed out again */
    if (pod->job_id >= st->next_job_id)
        st->next_job_id = pod->job_id + 1;
    return 0;
}

static int cmp_job_id(const void *a, const void *b)
{
    uint64_t x = (*(struct core_job *const *)a)->id, y = (*(struct core_job *const *)b)->id;
    return x < y ? -1 : x > y;
}

static bool attempt_failed(struct core_state *st, const struct core_job *job)
{
    void *value;
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        if (pod->job_id == job->id && pod->attempt == job->attempt && core_pod_state_final(pod->state) &&
            pod->state != POD_SUCCEEDED)
            return true;
    }
    return false;
}

void sched_restore_finish(struct core_state *st)
{
    void *value;
    ledger_sort(&st->ledger);
    sched_nodes_changed(st);
    /* attempts and allocations from the pods */
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        struct core_pod *pod = value;
        struct core_job *job = job_get_by_id(st, pod->job_id);
        if (job && pod->attempt > job->attempt)
            job->attempt = pod->attempt;
    }
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        struct core_pod *pod = value;
        struct core_job *job = job_get_by_id(st, pod->job_id);
        if (job && pod->attempt == job->attempt && pod->state == POD_SUCCEEDED)
            job->succeeded_pods++;
        if (core_pod_state_final(pod->state))
            continue;
        if (job)
            job->active_pods++;
        quota_charge(st, pod, +1);
        sched_shape_pod(st, pod, +1);
        struct core_node *node = node_get(st, pod->node);
        if (!node)
            continue;
        struct core_node_alloc *a = &node->alloc;
        for (uint32_t i = 0; i < pod->device_count; i++) {
            const struct core_pod_device *d = &pod->devices[i];
            if (d->gpu >= node->gpu_count)
                continue;
            if (d->mig >= 0 && d->mig < CORE_MIG_DEVICES_MAX)
                a->mig_pod[d->gpu][d->mig] = pod->id;
            else if (d->milli >= GPU_MILLI_WHOLE)
                a->gpu_pod[d->gpu] = pod->id;
            else
                a->gpu_milli_used[d->gpu] += d->milli;
        }
        a->cpu_milli_used += pod->cpu_milli;
        a->memory_bytes_used += pod->memory_bytes;
        node->pods_active++;
        alloc_pod_add(a, pod->id);
    }
    /* pending jobs back in the queue, in id order */
    size_t n = 0, cap = st->jobs.count;
    struct core_job **pending = malloc((cap ? cap : 1) * sizeof *pending);
    if (!pending)
        return;
    for (size_t it = 0; hmap_next(&st->jobs, &it, NULL, &value);) {
        struct core_job *job = value;
        if (job->state != JOB_PENDING)
            continue;
        /* an attempt with a failed pod whose other pods are still ending
         * waits for them; a placed attempt still starting is not queued */
        bool failed = job->restarts > 0 && attempt_failed(st, job);
        job->failing = job->active_pods > 0 && failed;
        if (failed) {
            /* the back-off runs from the end of the failed attempt */
            int64_t ended = 0;
            for (size_t pit = 0; hmap_next(&st->pods, &pit, NULL, &value);) {
                const struct core_pod *pod = value;
                if (pod->job_id == job->id && pod->attempt == job->attempt && pod->ended_ms > ended)
                    ended = pod->ended_ms;
            }
            job->not_before_ms = ended + backoff_ms(st, job->restarts);
            backoff_add(st, job->id);
        }
        if (job->active_pods == 0)
            pending[n++] = job;
    }
    qsort(pending, n, sizeof *pending, cmp_job_id);
    for (size_t i = 0; i < n; i++)
        sched_enqueue(st, pending[i]);
    free(pending);
    st->sched_full_pass = true;
}
