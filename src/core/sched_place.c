/* The live scheduler's view of the nodes in the placement index (place.c):
 * a mirror of every node's capacity and what is free on it, brought up to
 * date when a pod binds or ends and rebuilt when nodes change; the
 * placement shape of a job; and the workload the fragmentation measure
 * expects, taken from the shapes of the queued jobs and the active pods.
 * Pure, like the rest of the core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define SHAPES_MAX 4096               /* distinct shapes tracked for the workload */
#define CAPACITY_UNSET (INT64_C(1) << 50) /* a node that states no CPU or memory: no limit */
#define MODEL_LABEL "gpuaas.io/gpu-model"

struct sched_shape {
    char key[96];
    int32_t gpus, milli;
    int64_t cpu, mem;
    char model[32];
    int64_t count;
};

/* ---- workload ------------------------------------------------------------------------ */

/* Counts round down to a power of two: the workload (and the index's
 * caches) change only when a shape's count crosses one. */
static int count_bucket(int64_t count)
{
    int b = 0;
    for (; count > 0; count >>= 1)
        b++;
    return b;
}

static uint64_t shape_hash(const struct sched_shape *s, int bucket)
{
    if (bucket == 0)
        return 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = s->key; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
    h ^= (uint64_t)bucket * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 29);
}

void sched_shape_count(struct core_state *st, int32_t gpus, int32_t milli, int64_t cpu, int64_t mem,
                       const char *model, int64_t delta)
{
    char key[96];
    snprintf(key, sizeof key, "%d/%d/%lld/%lld/%.31s", gpus, milli, (long long)cpu, (long long)mem,
             model ? model : "");
    struct sched_shape *s = hmap_get(&st->shapes, key);
    if (!s) {
        if (delta <= 0 || st->shapes.count >= SHAPES_MAX || !(s = calloc(1, sizeof *s)))
            return;
        memcpy(s->key, key, sizeof key);
        s->gpus = gpus;
        s->milli = milli;
        s->cpu = cpu;
        s->mem = mem;
        snprintf(s->model, sizeof s->model, "%s", model ? model : "");
        if (hmap_put(&st->shapes, s->key, s) < 0) {
            free(s);
            return;
        }
    }
    int before = count_bucket(s->count);
    s->count += delta;
    if (s->count < 0)
        s->count = 0;
    int after = count_bucket(s->count);
    if (before != after)
        st->shape_sig ^= shape_hash(s, before) ^ shape_hash(s, after);
    if (s->count == 0) {
        hmap_remove(&st->shapes, s->key);
        free(s);
    }
}

/* A job's replicas while it waits in the queue. */
void sched_shape_job(struct core_state *st, const struct job_spec *spec, int sign)
{
    const struct job_resources *res = &spec->resources;
    if (res->mig_profile[0])
        return; /* slices do not fragment plain GPUs */
    const char *model = json_string_value(json_object_get(json_object_get(spec->document, "selector"), MODEL_LABEL));
    sched_shape_count(st, res->gpus, res->gpus ? 0 : res->gpu_milli, res->cpu_milli, res->memory_bytes,
                      res->gpus || res->gpu_milli ? model : NULL, sign * (int64_t)spec->replicas);
}

/* A pod while it holds its devices. */
void sched_shape_pod(struct core_state *st, const struct core_pod *pod, int sign)
{
    int32_t gpus = 0, milli = 0;
    for (uint32_t i = 0; i < pod->device_count; i++) {
        if (pod->devices[i].mig >= 0)
            return;
        if (pod->devices[i].milli >= PLACE_MILLI)
            gpus++;
        else
            milli = pod->devices[i].milli;
    }
    sched_shape_count(st, gpus, milli, pod->cpu_milli, pod->memory_bytes, NULL, sign);
}

/* The index's workload from the shape table, when it changed: a small
 * prior of common shapes plus what is queued and running. */
static void workload_refresh(struct core_state *st)
{
    if (st->shape_sig == st->shape_built_sig)
        return;
    static const struct {
        int32_t gpus, milli;
    } prior[] = {{1, 0}, {2, 0}, {4, 0}, {8, 0}, {0, 500}};
    size_t n = sizeof prior / sizeof prior[0], cap = n + st->shapes.count;
    struct place_pod *shapes = calloc(cap, sizeof *shapes);
    int64_t *weights = calloc(cap, sizeof *weights);
    if (!shapes || !weights)
        goto out;
    for (size_t i = 0; i < n; i++) {
        shapes[i] = (struct place_pod){.num_gpu = prior[i].gpus, .gpu_milli = prior[i].milli, .mig_profile = -1};
        weights[i] = 1;
    }
    void *value;
    for (size_t it = 0; hmap_next(&st->shapes, &it, NULL, &value);) {
        const struct sched_shape *s = value;
        struct place_pod *p = &shapes[n];
        *p = (struct place_pod){.cpu_milli = s->cpu, .mem = s->mem, .num_gpu = s->gpus, .gpu_milli = s->milli,
                                .mig_profile = -1};
        if (s->model[0]) {
            int id = place_model_id(&st->place, s->model, false);
            if (id < 0)
                continue;
            p->model_mask = 1u << id;
        }
        weights[n++] = 4 * (INT64_C(1) << (count_bucket(s->count) - 1));
    }
    if (place_set_workload(&st->place, shapes, weights, n) == 0)
        st->shape_built_sig = st->shape_sig;
out:
    free(shapes);
    free(weights);
}

/* ---- the mirror ---------------------------------------------------------------------- */

/* What is free on the node now, and whether it takes new pods. */
static void fill_free(const struct core_node *node, struct place_node *pn)
{
    const struct core_node_alloc *a = &node->alloc;
    pn->cpu_free = pn->cpu_milli - a->cpu_milli_used;
    pn->mem_free = pn->mem - a->memory_bytes_used;
    if (pn->cpu_free < 0)
        pn->cpu_free = 0; /* re-registered smaller than what its pods hold */
    if (pn->mem_free < 0)
        pn->mem_free = 0;
    for (uint32_t g = 0; g < pn->gpu_count; g++) {
        if (pn->gpu_mig[g]) {
            pn->gpu_free[g] = 0;
            pn->mig_used[g] = 0;
            for (uint32_t m = 0; m < pn->mig_count[g]; m++)
                if (a->mig_pod[g][m] || pn->mig_profile[g][m] == UINT8_MAX)
                    pn->mig_used[g] |= (uint8_t)(1u << m);
            continue;
        }
        int32_t free_milli = a->gpu_pod[g] ? 0 : PLACE_MILLI - a->gpu_milli_used[g];
        pn->gpu_free[g] = (int16_t)(free_milli < 0 ? 0 : free_milli);
    }
    pn->cordoned = node->state != NODE_READY || node->pods_active >= CORE_NODE_PODS_MAX;
}

static void add_label(struct place_node *pn, int id)
{
    if (id < 0 || pn->label_count >= PLACE_LABELS_MAX)
        return;
    for (uint32_t l = 0; l < pn->label_count; l++)
        if (pn->labels[l] == id)
            return;
    pn->labels[pn->label_count++] = (uint16_t)id;
}

static void node_to_place(struct place_cluster *cl, const struct core_node *node, struct place_node *pn)
{
    memset(pn, 0, sizeof *pn);
    pn->cpu_milli = node->cpu_milli ? node->cpu_milli : CAPACITY_UNSET;
    pn->mem = node->memory_bytes ? node->memory_bytes : CAPACITY_UNSET;
    pn->gpu_count = (uint8_t)(node->gpu_count < PLACE_GPUS_MAX ? node->gpu_count : PLACE_GPUS_MAX);
    for (uint32_t g = 0; g < pn->gpu_count; g++) {
        const struct core_gpu *gpu = &node->gpus[g];
        int model = place_model_id(cl, gpu->model, true);
        if (model < 0) {
            /* more models than the index tells apart: the GPU is not handed out */
            pn->gpu_mig[g] = true;
            continue;
        }
        pn->gpu_model[g] = (uint8_t)model;
        pn->gpu_mig[g] = gpu->mig_mode;
        if (gpu->mig_mode) {
            pn->mig_count[g] = (uint8_t)(gpu->mig_count < PLACE_MIG_MAX ? gpu->mig_count : PLACE_MIG_MAX);
            for (uint32_t m = 0; m < pn->mig_count[g]; m++) {
                int profile = place_mig_profile_id(cl, gpu->mig[m].profile, true);
                pn->mig_profile[g][m] = profile < 0 ? UINT8_MAX : (uint8_t)profile;
            }
        }
    }
    for (uint32_t l = 0; l < node->label_count; l++)
        add_label(pn, place_label_id(cl, node->labels[l].key, node->labels[l].value, true));
    /* a model selector is met by any of the node's GPU models */
    for (uint32_t g = 0; g < node->gpu_count; g++)
        add_label(pn, place_label_id(cl, MODEL_LABEL, node->gpus[g].model, true));
    fill_free(node, pn);
}

int sched_place_rebuild(struct core_state *st)
{
    place_cluster_free(&st->place);
    place_cluster_init(&st->place);
    st->place.candidate_limit = st->cfg.candidate_limit;
    for (size_t i = 0; i < st->node_order_count; i++) {
        struct core_node *node = st->node_order[i];
        struct place_node pn;
        node_to_place(&st->place, node, &pn);
        int index = place_node_add(&st->place, &pn);
        if (index != (int)i)
            return -1; /* out of memory: node i must be index i; tried again next pass */
        node->place_index = (uint32_t)index;
    }
    st->shape_built_sig = ~st->shape_sig; /* model ids are new */
    st->place_dirty = false;
    /* node indexes changed: a reservation is made again by the next pass */
    st->resv_job = 0;
    st->resv_count = 0;
    return 0;
}

int sched_place_prepare(struct core_state *st)
{
    if (st->place_dirty && sched_place_rebuild(st) < 0)
        return -1;
    workload_refresh(st);
    return 0;
}

void sched_place_sync(struct core_state *st, const struct core_node *node)
{
    if (st->place_dirty || node->place_index == PLACE_NONE)
        return;
    struct place_node *pn = &st->place.nodes[node->place_index];
    fill_free(node, pn);
    place_node_changed(&st->place, node->place_index);
}

int sched_pod_shape(struct core_state *st, const struct job_spec *spec, struct place_pod *pod)
{
    const struct job_resources *res = &spec->resources;
    const json_t *selector = json_object_get(spec->document, "selector");
    memset(pod, 0, sizeof *pod);
    pod->cpu_milli = res->cpu_milli;
    pod->mem = res->memory_bytes;
    pod->num_gpu = res->gpus;
    pod->gpu_milli = res->gpus ? 0 : res->gpu_milli;
    pod->mig_profile = -1;
    bool gpu_job = res->gpus || res->gpu_milli || res->mig_profile[0];
    if (res->mig_profile[0]) {
        pod->gpu_milli = 0;
        pod->num_gpu = 0;
        pod->mig_profile = place_mig_profile_id(&st->place, res->mig_profile, false);
        if (pod->mig_profile < 0)
            return -2;
    }
    const char *model = json_string_value(json_object_get(selector, MODEL_LABEL));
    if (model && gpu_job) {
        int id = place_model_id(&st->place, model, false);
        if (id < 0)
            return -2;
        pod->model_mask = 1u << id;
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)selector, key, value) {
        if (pod->selector_count >= PLACE_SELECTOR_MAX || !json_is_string(value))
            return -1;
        int id = place_label_id(&st->place, key, json_string_value(value), false);
        if (id < 0)
            return -1;
        pod->selector[pod->selector_count++] = (uint16_t)id;
    }
    return 0;
}

void sched_place_free(struct core_state *st)
{
    place_cluster_free(&st->place);
    void *value;
    for (size_t it = 0; hmap_next(&st->shapes, &it, NULL, &value);)
        free(value);
    hmap_free(&st->shapes);
    free(st->resv_nodes);
    st->resv_nodes = NULL;
    st->resv_count = st->resv_cap = 0;
}
