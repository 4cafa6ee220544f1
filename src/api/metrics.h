/* The Prometheus text of GET /metrics (docs/metrics.md lists every family).
 * Rendered from one consistent state in the engine thread; split out of the
 * route so the benchmark can time it on a large cluster. */
#ifndef GPUAAS_API_METRICS_H
#define GPUAAS_API_METRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "engine/engine.h"

/* GPUs allocated with a latest utilisation below this (%) count as idle. */
#define METRICS_IDLE_UTIL_PCT 10

#define METRICS_MIG_MAX 7

/* A GPU's live readings (the GPU sampler's latest); -1: not available. */
struct metrics_reading {
    int utilization_pct;
    int64_t memory_used_bytes;
    int temperature_c;
    int64_t power_mw;
    int64_t xid_last;
    unsigned mig_count;
    struct {
        char uuid[96];
        int gpu_instance_id;
        int64_t memory_used_bytes, memory_total_bytes;
    } mig[METRICS_MIG_MAX];
};

/* Fills *out for the GPU with this UUID; false when it has no readings
 * (e.g. a simulated GPU). Called from the engine thread. */
typedef bool (*metrics_reading_fn)(void *arg, const char *uuid, struct metrics_reading *out);

struct metrics_input {
    const struct core_state *st;
    metrics_reading_fn reading; /* NULL: no GPU has readings */
    void *reading_arg;
    int64_t now_ms;
    const struct tzmonth_table *months; /* the metering time zone's months (NULL: UTC) */
    /* model_name instead of dcgm-exporter's camelCase modelName */
    bool snake_case_labels;
    const struct engine_stats *engine; /* NULL: no scheduler histogram */
    bool http;                         /* with the API request counters */
};

/* *ret_text: malloc'd, owned by the caller; not NUL-terminated past
 * *ret_len. 0 or GPUAAS_ENOMEM. */
int metrics_render(const struct metrics_input *in, char **ret_text, size_t *ret_len);

#endif
