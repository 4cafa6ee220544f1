/* The local host's GPUs: found through NVML (the real library when the
 * host has one, else the project's fake NVML with a description file), put
 * into the `local` node, and sampled for live utilisation. */
#ifndef GPUAAS_SERVER_GPUS_H
#define GPUAAS_SERVER_GPUS_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "api/metrics.h"
#include "gpu/gpu.h"

struct gpu_live_mig {
    char uuid[96];
    int gpu_instance_id;        /* -1: n/a */
    int64_t memory_used_bytes;  /* -1: n/a */
    int64_t memory_total_bytes; /* -1: n/a */
};

struct gpu_live {
    char uuid[96];
    int utilization_pct;
    int64_t memory_used_bytes;
    int temperature_c;
    int64_t power_mw;
    int64_t xid_last;
    unsigned mig_count;
    struct gpu_live_mig mig[GPU_MIG_MAX];
};

struct gpu_source {
    const struct gpu_driver *driver;
    void *ctx;
    char how[512];      /* "NVML 550.54 (libnvidia-ml.so.1)" / "fake NVML (var/fake-nvml.conf)" */
    bool fake;
    unsigned count;
    pthread_mutex_t lock;
    struct gpu_live live[GPU_DEVICES_MAX];
    pthread_t sampler;
    bool sampler_running;
    /* utilisation rounds for metering (gpus_set_round_hook) */
    void (*round_hook)(void *arg, const struct gpu_info *infos, unsigned count);
    void *round_arg;
    int round_interval_ms;
    struct timespec round_last;
    bool stopping;
    pthread_cond_t wake;
};

extern const char gpus_default_fake_description[];

/* Opens NVML; without a real driver, the fake one (library next to the
 * executable unless fake_library is set; description fake_description, or
 * DATA/fake-nvml.conf written from the default). */
int gpus_open(struct gpu_source *src, const char *nvml_library, const char *fake_library,
              const char *fake_description, const char *data_dir, char *err, size_t err_size);
/* Fills node_json's "gpus" (and the gpu-model label) from the devices. */
int gpus_fill_node(struct gpu_source *src, json_t *node_json, char *err, size_t err_size);
/* Starts sampling utilisation, memory, temperature, power every interval. */
int gpus_start_sampler(struct gpu_source *src, int interval_ms);
/* Calls hook (in the sampler thread) with every device's reading at most
 * once per interval_ms: the metering rounds. */
void gpus_set_round_hook(struct gpu_source *src, void (*hook)(void *arg, const struct gpu_info *infos, unsigned count),
                         void *arg, int interval_ms);
/* Adds live fields to /v1/gpus rows whose uuid is a local device, and to
 * their MIG slices (gpu_instance_id, memory). */
void gpus_annotate(void *src, json_t *rows);
/* The latest readings of the local GPU with this UUID (metrics_reading_fn). */
bool gpus_reading(void *src, const char *uuid, struct metrics_reading *out);
/* Stops the sampling thread (live values stay as last read). */
void gpus_stop_sampler(struct gpu_source *src);
void gpus_close(struct gpu_source *src);

#endif
