/* GPU utilisation samples: the shell reads every GPU (and MIG device) of a
 * node once per sampling period and hands the readings over as one command;
 * here each reading is attributed to the pods holding that device (a whole
 * GPU, a MIG slice, or a share of a GPU, weighted by its milli-GPUs), added
 * to the pods' running sums, and written to the pods' hourly rollups. Pure. */
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "core/meter.h"
#include "gpuaas/error.h"

#define HOUR_MS 3600000LL
#define MIB 1048576LL
#define UTIL_INTERVAL_MIN_MS 100
#define UTIL_INTERVAL_MAX_MS 3600000

void core_pod_util_add(struct core_pod_util *to, const struct core_pod_util *delta)
{
    to->samples += delta->samples;
    to->sampled_milli_ms += delta->sampled_milli_ms;
    to->util_milli_ms += delta->util_milli_ms;
    to->idle_milli_ms += delta->idle_milli_ms;
    to->mem_ms += delta->mem_ms;
    to->mem_mib_ms += delta->mem_mib_ms;
}

int core_restore_pod_util(struct core_state *st, uint64_t pod_id, const struct core_pod_util *util)
{
    struct core_pod *pod = (struct core_pod *)core_find_pod(st, pod_id);
    if (!pod)
        return GPUAAS_ENOTFOUND;
    core_pod_util_add(&pod->util, util);
    return 0;
}

static const struct core_util_reading *find_reading(const struct core_util_sample *s, const char *uuid)
{
    for (uint32_t i = 0; i < s->count; i++)
        if (strcmp(s->readings[i].uuid, uuid) == 0)
            return &s->readings[i];
    return NULL;
}

/* What one round adds to one pod: each device it holds, for dt ms. */
static void pod_round(const struct core_node *node, const struct core_pod *pod, const struct core_util_sample *s,
                      int64_t dt, struct core_pod_util *delta)
{
    int64_t mem_bytes = 0;
    bool mem_read = false;
    memset(delta, 0, sizeof *delta);
    for (uint32_t i = 0; i < pod->device_count; i++) {
        const struct core_pod_device *d = &pod->devices[i];
        const struct core_util_reading *r = find_reading(s, d->uuid);
        if (!r || r->util_pct < 0 || r->util_pct > 100)
            continue; /* not sampled: this device's time stays unsampled */
        int64_t weight = meter_device_milli(d) * dt;
        delta->sampled_milli_ms += weight;
        delta->util_milli_ms += r->util_pct * weight;
        if (r->util_pct < CORE_IDLE_UTIL_PCT)
            delta->idle_milli_ms += weight;
        if (r->memory_used_bytes >= 0) {
            mem_read = true;
            /* a shared GPU's memory is split among its holders by their shares */
            int64_t used = d->gpu < CORE_NODE_GPUS_MAX ? node->alloc.gpu_milli_used[d->gpu] : 0;
            if (d->mig < 0 && d->milli < 1000 && used > 0)
                mem_bytes += (int64_t)((double)r->memory_used_bytes * d->milli / used);
            else
                mem_bytes += r->memory_used_bytes;
        }
    }
    if (delta->sampled_milli_ms == 0)
        return;
    delta->samples = 1;
    if (mem_read) {
        delta->mem_ms = dt;
        delta->mem_mib_ms = mem_bytes / MIB * dt;
    }
}

int util_apply_sample(struct core_state *st, struct core_cmd *cmd, int64_t now_ms, struct core_effects *fx,
                      struct core_reply *reply)
{
    const struct core_util_sample *s = cmd->util_sample;
    if (!s || s->count > CORE_UTIL_READINGS_MAX || s->interval_ms < UTIL_INTERVAL_MIN_MS ||
        s->interval_ms > UTIL_INTERVAL_MAX_MS)
        return core_reply_error(reply, GPUAAS_EINVAL, NULL, "a utilisation sample needs readings and an interval");
    struct core_node *node = (struct core_node *)core_find_node(st, s->node);
    if (!node)
        return core_reply_error(reply, GPUAAS_ENOTFOUND, NULL, "node '%s' not found", s->node);
    /* a round covers the time since the last one, at most two periods (a
     * stalled sampler must not stretch one reading over a long gap) */
    int64_t dt = node->util_sampled_ms ? now_ms - node->util_sampled_ms : s->interval_ms;
    if (dt > 2 * s->interval_ms)
        dt = 2 * s->interval_ms;
    if (dt <= 0) {
        reply->err = 0;
        return 0;
    }
    node->util_sampled_ms = now_ms;
    int64_t hour = now_ms >= 0 ? now_ms / HOUR_MS * HOUR_MS : (now_ms - HOUR_MS + 1) / HOUR_MS * HOUR_MS;
    for (uint32_t i = 0; i < node->alloc.pod_count; i++) {
        struct core_pod *pod = (struct core_pod *)core_find_pod(st, node->alloc.pods[i]);
        if (!pod || core_pod_state_final(pod->state))
            continue;
        /* a pod placed during the round counts from its placement */
        int64_t pod_dt = now_ms - pod->scheduled_ms < dt ? now_ms - pod->scheduled_ms : dt;
        if (pod_dt <= 0)
            continue;
        struct core_pod_util delta;
        pod_round(node, pod, s, pod_dt, &delta);
        if (!delta.samples)
            continue;
        core_pod_util_add(&pod->util, &delta);
        struct core_effect *e = core_effect_add(fx, CORE_EFFECT_POD_UTIL);
        e->pod_id = pod->id;
        e->at_ms = hour;
        e->util = delta;
    }
    reply->err = 0;
    return 0;
}
