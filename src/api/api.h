/* The HTTP API: libmicrohttpd with a small thread pool and suspended
 * connections, so a request waiting for its durable answer holds no thread. */
#ifndef GPUAAS_API_H
#define GPUAAS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <stdint.h>

#include "api/auth.h"
#include "api/metrics.h"
#include "engine/engine.h"

#define API_BODY_MAX (1024 * 1024)

/* Where a pod's log file is (the executor knows). */
typedef int (*api_log_path_fn)(void *arg, uint64_t pod_id, char *out, size_t out_size);

struct meter_prices;
struct tzmonth_table;

struct api_config {
    const struct meter_prices *prices; /* for /v1/usage (may be NULL) */
    const struct tzmonth_table *months; /* calendar months in the metering time zone (NULL: UTC) */
    const char *report_title;          /* heading of /v1/reports documents (NULL or "": none) */
    /* adds live readings (utilisation, memory, ...) to /v1/gpus rows */
    void (*gpu_annotate)(void *arg, json_t *rows);
    void *gpu_annotate_arg;
    /* live readings of one GPU, for /metrics */
    metrics_reading_fn gpu_reading;
    void *gpu_reading_arg;
    api_log_path_fn log_path;
    void *log_path_arg;
    const char *listen;  /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080" */
    unsigned threads;    /* polling threads; 0: one per CPU */
    size_t body_max;     /* 0: API_BODY_MAX */
    /* /metrics label style: false: dcgm-exporter's (modelName), true:
     * snake_case (model_name), which promtool's lint accepts */
    bool metrics_snake_case;
};

struct api_server;

int api_start(const struct api_config *cfg, struct engine *engine, struct auth *auth, int64_t (*clock_ms)(void),
              struct api_server **ret_server, char *err, size_t err_size);
/* The port actually bound (useful with port 0). */
unsigned api_port(const struct api_server *server);
int api_log_path(const struct api_server *server, uint64_t pod_id, char *out, size_t out_size);
void api_gpu_annotate(const struct api_server *server, json_t *rows);
const struct meter_prices *api_prices(const struct api_server *server);
/* The metering time zone's months (NULL: UTC); see lib/tzmonth.h. */
const struct tzmonth_table *api_months(const struct api_server *server);
const char *api_report_title(const struct api_server *server); /* NULL: none */
/* Stops accepting connections and makes /readyz answer 503. */
void api_quiesce(struct api_server *server);
/* Closes everything. Call after engine_stop, so no request is still waiting. */
void api_stop(struct api_server *server);

#endif
