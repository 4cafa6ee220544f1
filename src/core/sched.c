/* Scheduling and the pod lifecycle: the queue of pending jobs, first-fit
 * placement of whole GPUs, MIG slices, GPU shares, CPU and memory (all
 * replicas of a job or none), pod start/exit, restart with back-off.
 * Pure: time comes in as now_ms, effects go out. */
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
}

static int cmp_node_name(const void *a, const void *b)
{
    return strcmp((*(struct core_node *const *)a)->name, (*(struct core_node *const *)b)->name);
}

void sched_nodes_changed(struct core_state *st)
{
    struct core_node **order = realloc(st->node_order, (st->nodes.count ? st->nodes.count : 1) * sizeof *order);
    st->sched_full_pass = true;
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

int sched_check_feasible(const struct core_state *st, const struct job_spec *spec, struct core_reply *reply)
{
    if (quota_never_fits(st, spec, reply))
        return reply->err;
    if (st->node_order_count == 0)
        return 0; /* nothing to compare with; the job waits for nodes */
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

/* Reserves what one replica needs on `node`, recording it in pod. All whole
 * GPUs of a pod are of one model (`model`, when the selector names one). */
static bool node_take(struct core_node *node, const struct job_resources *res, const char *model,
                      struct core_pod *pod)
{
    if (node->state != NODE_READY || node->pods_active >= CORE_NODE_PODS_MAX)
        return false;
    if (node->cpu_milli && node->alloc.cpu_milli_used + res->cpu_milli > node->cpu_milli)
        return false;
    if (node->memory_bytes && node->alloc.memory_bytes_used + res->memory_bytes > node->memory_bytes)
        return false;
    struct core_node_alloc *a = &node->alloc;
    pod->device_count = 0;
    if (res->gpus > 0) {
        /* the first model (in GPU order) with enough free GPUs */
        const char *chosen = NULL;
        for (uint32_t g = 0; g < node->gpu_count && !chosen; g++) {
            if (!gpu_of_model(&node->gpus[g], model) || !gpu_free_whole(node, g))
                continue;
            int found = 0;
            for (uint32_t h = 0; h < node->gpu_count; h++)
                found += gpu_free_whole(node, h) && strcmp(node->gpus[h].model, node->gpus[g].model) == 0;
            if (found >= res->gpus)
                chosen = node->gpus[g].model;
        }
        if (!chosen)
            return false;
        for (uint32_t g = 0; g < node->gpu_count && (int)pod->device_count < res->gpus; g++) {
            if (!gpu_free_whole(node, g) || strcmp(node->gpus[g].model, chosen) != 0)
                continue;
            a->gpu_pod[g] = pod->id;
            struct core_pod_device *d = &pod->devices[pod->device_count++];
            *d = (struct core_pod_device){.gpu = (uint16_t)g, .mig = -1, .milli = GPU_MILLI_WHOLE};
            snprintf(d->uuid, sizeof d->uuid, "%s", node->gpus[g].uuid);
        }
    } else if (res->mig_profile[0]) {
        bool taken = false;
        for (uint32_t g = 0; g < node->gpu_count && !taken; g++) {
            const struct core_gpu *gpu = &node->gpus[g];
            for (uint32_t m = 0; gpu->mig_mode && gpu_of_model(gpu, model) && m < gpu->mig_count && !taken; m++) {
                if (a->mig_pod[g][m] || strcmp(gpu->mig[m].profile, res->mig_profile) != 0)
                    continue;
                a->mig_pod[g][m] = pod->id;
                struct core_pod_device *d = &pod->devices[pod->device_count++];
                *d = (struct core_pod_device){.gpu = (uint16_t)g, .mig = (int16_t)m, .milli = GPU_MILLI_WHOLE};
                snprintf(d->uuid, sizeof d->uuid, "%s", gpu->mig[m].uuid);
                snprintf(d->mig_profile, sizeof d->mig_profile, "%s", gpu->mig[m].profile);
                taken = true;
            }
        }
        if (!taken)
            return false;
    } else if (res->gpu_milli > 0) {
        /* the fullest GPU that still fits: keeps whole GPUs free */
        int best = -1;
        for (uint32_t g = 0; g < node->gpu_count; g++) {
            if (node->gpus[g].mig_mode || a->gpu_pod[g] || a->gpu_milli_used[g] + res->gpu_milli > GPU_MILLI_WHOLE ||
                !gpu_of_model(&node->gpus[g], model))
                continue;
            if (best < 0 || a->gpu_milli_used[g] > a->gpu_milli_used[best])
                best = (int)g;
        }
        if (best < 0)
            return false;
        a->gpu_milli_used[best] += res->gpu_milli;
        struct core_pod_device *d = &pod->devices[pod->device_count++];
        *d = (struct core_pod_device){.gpu = (uint16_t)best, .mig = -1, .milli = res->gpu_milli};
        snprintf(d->uuid, sizeof d->uuid, "%s", node->gpus[best].uuid);
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
    return true;
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

/* Tries to place every replica of the job; all or nothing. Returns the
 * number of pods created (0 if it does not fit now). */
static void set_waiting_reason(struct core_job *job, bool any_node_matches, int64_t now_ms)
{
    const char *why = !any_node_matches          ? "capacity: no node matches the selector"
                      : job->spec.replicas > 1 ? "capacity: not enough free resources for all replicas (gang)"
                                               : "capacity: no node has the requested resources free";
    /* the reason is derived: shown at once, recomputed after a restart,
     * so it is not worth a store write per pass */
    if (!job->not_before_ms || job->not_before_ms <= now_ms)
        snprintf(job->reason, sizeof job->reason, "%s", why);
}

/* Whether one replica fits anywhere now, without allocating: most jobs
 * that wait are refused here, cheaply, on every pass. */
static bool first_replica_fits(struct core_state *st, const struct core_job *job, bool *ret_any_node_matches)
{
    struct core_pod probe;
    const json_t *selector = job_selector(&job->spec);
    memset(&probe, 0, sizeof probe);
    *ret_any_node_matches = false;
    for (size_t i = 0; i < st->node_order_count; i++) {
        struct core_node *node = st->node_order[i];
        if (selector && !node_matches_selector(node, selector))
            continue;
        *ret_any_node_matches = true;
        if (node_take(node, &job->spec.resources, job_model(&job->spec), &probe)) {
            node_release(node, &probe);
            return true;
        }
    }
    return false;
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

static int place_job(struct core_state *st, struct core_job *job, int64_t now_ms, struct core_effects *fx)
{
    int replicas = job->spec.replicas;
    const json_t *selector = job_selector(&job->spec);
    int placed = 0;
    bool any_node_matches = false;
    struct quota_amounts need;
    char quota_why[CORE_REASON_MAX], quota_field[64];
    job_amounts(&job->spec, &need);
    if (quota_blocks(st, job->spec.namespace_path, &need, true, quota_why, sizeof quota_why, quota_field,
                     sizeof quota_field)) {
        snprintf(job->reason, sizeof job->reason, "%s", quota_why);
        return 0;
    }
    if (!first_replica_fits(st, job, &any_node_matches)) {
        set_waiting_reason(job, any_node_matches, now_ms);
        return 0;
    }
    struct core_pod **pods = calloc((size_t)replicas, sizeof *pods);
    bool quota_refused_node = false; /* some node fit but its GPUs' model is over quota */
    if (!pods)
        return 0;
    for (int r = 0; r < replicas; r++) {
        struct core_pod *pod = calloc(1, sizeof *pod);
        if (!pod)
            break;
        pod->id = st->next_pod_id + (uint64_t)r;
        pods[r] = pod;
        bool ok = false;
        quota_refused_node = false; /* the reason is the failing replica's */
        for (size_t i = 0; i < st->node_order_count && !ok; i++) {
            struct core_node *node = st->node_order[i];
            if (selector && !node_matches_selector(node, selector))
                continue;
            any_node_matches = true;
            ok = node_take(node, &job->spec.resources, job_model(&job->spec), pod);
            if (ok && quota_limits_models(st, job->spec.namespace_path)) {
                /* a per-model or per-profile limit may refuse this node's
                 * GPUs while another node's would do */
                struct quota_amounts so_far, a;
                char why[CORE_REASON_MAX], field[64];
                quota_amounts_zero(&so_far);
                for (int k = 0; k <= r; k++) {
                    pod_amounts(pods[k], &a);
                    quota_amounts_add(&so_far, &a, 1);
                }
                if (quota_blocks(st, job->spec.namespace_path, &so_far, true, why, sizeof why, field,
                                 sizeof field)) {
                    node_release(node, pod);
                    ok = false;
                    quota_refused_node = true;
                    snprintf(quota_why, sizeof quota_why, "%s", why);
                }
            }
        }
        if (!ok)
            break;
        placed++;
    }
    bool quota_refused = false;
    if (placed == replicas) {
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
    }
    if (placed < replicas || quota_refused) {
        for (int r = 0; r < placed; r++)
            node_release(node_get(st, pods[r]->node), pods[r]);
        for (int r = 0; r < replicas; r++)
            free(pods[r]);
        free(pods);
        if (quota_refused || quota_refused_node)
            snprintf(job->reason, sizeof job->reason, "%s", quota_why);
        else
            set_waiting_reason(job, any_node_matches, now_ms);
        return 0;
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
    snprintf(job->reason, sizeof job->reason, "starting");
    core_effect_add(fx, CORE_EFFECT_JOB_PUT)->job = job;
    sched_dequeue(st, job);
    free(pods);
    return replicas;
}

static void try_job(struct core_state *st, struct core_job *job, int64_t now_ms, struct core_effects *fx)
{
    if (job->state != JOB_PENDING || job->active_pods > 0 || (job->not_before_ms && job->not_before_ms > now_ms))
        return;
    if (st->pods.count + (size_t)job->spec.replicas > CORE_PODS_MAX)
        return;
    place_job(st, job, now_ms, fx);
}

static const struct core_state *sort_state; /* qsort has no context argument */

static int cmp_fresh(const void *a, const void *b)
{
    const struct core_job *x = core_find_job_by_id(sort_state, *(const uint64_t *)a);
    const struct core_job *y = core_find_job_by_id(sort_state, *(const uint64_t *)b);
    int px = x ? (int)x->spec.priority : -1, py = y ? (int)y->spec.priority : -1;
    if (px != py)
        return py - px;
    uint64_t ix = *(const uint64_t *)a, iy = *(const uint64_t *)b;
    return ix < iy ? -1 : ix > iy;
}

static void sched_sort_fresh(struct core_state *st)
{
    if (st->fresh_count < 2)
        return;
    sort_state = st;
    qsort(st->fresh, st->fresh_count, sizeof *st->fresh, cmp_fresh);
    sort_state = NULL;
}

void core_schedule(struct core_state *st, int64_t now_ms, struct core_effects *fx)
{
    fx->count = 0;
    fx->out_of_memory = false;
    if (st->sched_full_pass || st->fresh_overflow) {
        for (int level = 0; level < 3; level++) {
            struct core_job *job = st->queue_head[level];
            while (job) {
                struct core_job *next = job->queue_next; /* placing dequeues */
                try_job(st, job, now_ms, fx);
                job = next;
            }
        }
    } else {
        /* new arrivals in queue order: priority first, then id */
        sched_sort_fresh(st);
        for (size_t i = 0; i < st->fresh_count; i++) {
            struct core_job *job = job_get_by_id(st, st->fresh[i]);
            if (job && job->queued)
                try_job(st, job, now_ms, fx);
        }
    }
    st->sched_full_pass = false;
    st->fresh_overflow = false;
    st->fresh_count = 0;
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
    if (node)
        node_release(node, pod);
    quota_charge(st, pod, -1);
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
