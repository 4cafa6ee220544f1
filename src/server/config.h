/* Server configuration: YAML, with an embedded default that describes a
 * small simulated cluster, so `gpuaas server` works with no file at all. */
#ifndef GPUAAS_SERVER_CONFIG_H
#define GPUAAS_SERVER_CONFIG_H

#include <jansson.h>
#include <stdbool.h>

#include "core/meter.h"
#include "core/report.h"
#include <stddef.h>
#include <stdint.h>

#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_NODES_MAX 1000

struct server_config {
    char listen[128];
    char data_dir[4096];
    json_t *nodes; /* array of Node JSON objects (the API's shape), owned */
    char discover_node[64];     /* the node whose GPUs come from NVML ("" none) */
    char nvml_library[4096];    /* "" : libnvidia-ml.so.1 */
    char fake_nvml_library[4096];
    char fake_nvml[4096];       /* fake description; "" : DATA/fake-nvml.conf */
    json_t *sso;                /* the sso: section as given, or NULL (owned) */
    struct meter_prices prices; /* per GPU-hour, by model and capacity type (+ the utilisation factor) */
    char time_zone[65];         /* metering.time_zone: month boundaries (IANA name, default UTC) */
    int64_t util_sample_ms;     /* metering.sample_interval: GPU utilisation sampling period */
    int64_t restart_backoff_ms; /* first back-off of a restarted job */
    int64_t stop_grace_ms;      /* SIGTERM to SIGKILL when a pod is stopped */
    char report_title[REPORT_TITLE_MAX + 1]; /* report: {title}: heading of the monthly report ("" none) */
    bool metrics_snake_case;    /* metrics: {label_style: snake_case} (default dcgm) */
    /* scheduler: (docs/scheduler.md) */
    int sched_policy;              /* enum place_policy */
    uint32_t sched_candidates;     /* nodes scored per decision, 0: all that fit */
    int64_t sched_aging_ms;        /* one priority class per this long waited, 0: no aging */
    int64_t sched_half_life_ms;    /* fair-share half-life, 0: no fair share */
    bool sched_backfill;
};

extern const char config_default_yaml[];

/* Parses YAML text into *cfg. err gets "nodes[1].gpus[0]: ..." on failure. */
int config_parse(const char *text, size_t len, struct server_config *cfg, char *err, size_t err_size);
/* Reads and parses a file (at most CONFIG_FILE_MAX bytes). */
int config_load_file(const char *path, struct server_config *cfg, char *err, size_t err_size);
void config_release(struct server_config *cfg);

#endif
