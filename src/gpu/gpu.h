/* GPU discovery as a driver: a table of functions (NVML loaded with dlopen
 * at run time, never linked). Every field a device cannot report is marked
 * "not available" (-1 / empty), never a failure of the whole query. */
#ifndef GPUAAS_GPU_H
#define GPUAAS_GPU_H

#include <stddef.h>
#include <stdint.h>

#define GPU_MIG_MAX 7
#define GPU_DEVICES_MAX 16

struct gpu_mig_info {
    char profile[24];     /* "1g.10gb" */
    char uuid[96];        /* "MIG-..." */
    int gpu_instance_id;  /* -1: n/a */
    int compute_instance_id;
    int64_t memory_total_bytes; /* -1: n/a */
    int64_t memory_used_bytes;  /* -1: n/a */
};

struct gpu_info {
    unsigned index;
    char uuid[96];          /* "GPU-..." */
    char name[96];          /* "NVIDIA A100-SXM4-40GB" as the driver says */
    char model[32];         /* short model used in labels/selectors: "A100", "A10G", "T4", "H100" */
    int64_t memory_total_bytes; /* -1: n/a */
    int64_t memory_used_bytes;  /* -1: n/a */
    int utilization_pct;        /* 0..100, -1: n/a */
    int memory_utilization_pct; /* -1: n/a */
    int temperature_c;          /* -1: n/a */
    int64_t power_mw;           /* -1: n/a */
    int mig_mode;               /* 1 on, 0 off, -1: n/a (GPU without MIG) */
    unsigned mig_count;
    struct gpu_mig_info mig[GPU_MIG_MAX];
    int64_t ecc_uncorrected;    /* volatile total, -1: n/a */
    int64_t xid_last;           /* last XID error seen, 0 none, -1: n/a */
};

struct gpu_driver {
    const char *name; /* "nvml" */
    /* Loads the library (NULL: "libnvidia-ml.so.1") and initialises it.
     * GPUAAS_ENOTFOUND when the library is absent. err: human text. */
    int (*open)(const char *library, void **ret_ctx, char *err, size_t err_size);
    void (*close)(void *ctx);
    int (*driver_version)(void *ctx, char *out, size_t out_size);
    int (*count)(void *ctx, unsigned *ret_count);
    /* Fills *ret for device `index` (0..count-1). */
    int (*query)(void *ctx, unsigned index, struct gpu_info *ret);
};

extern const struct gpu_driver gpu_nvml_driver;

/* "NVIDIA A100-SXM4-40GB" -> "A100", "NVIDIA A10G" -> "A10G", "Tesla T4" -> "T4",
 * "NVIDIA H100 80GB HBM3" -> "H100". Writes at most out_size-1 chars. */
void gpu_model_from_name(const char *name, char *out, size_t out_size);

#endif
