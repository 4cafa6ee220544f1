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

struct metrics_input {
    const struct core_state *st;
    /* core_list_gpus' items with live readings added (api_gpu_annotate);
     * metrics_render adds memory_free_bytes to them */
    json_t *gpu_rows;
    int64_t now_ms;
    /* model_name instead of dcgm-exporter's camelCase modelName */
    bool snake_case_labels;
    const struct engine_stats *engine; /* NULL: no scheduler histogram */
    bool http;                         /* with the API request counters */
};

/* *ret_text: malloc'd, owned by the caller; not NUL-terminated past
 * *ret_len. 0 or GPUAAS_ENOMEM. */
int metrics_render(const struct metrics_input *in, char **ret_text, size_t *ret_len);

#endif
