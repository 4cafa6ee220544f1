/* GPU discovery through NVML, loaded with dlopen at run time so that gpuaas
 * builds and runs on machines without an NVIDIA driver. Only the entry
 * points in nvml_types.h are used; each optional one may be missing (older
 * drivers, the fake) and then its fields read "not available". */
#include "gpu/gpu.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/nvml_types.h"
#include "gpuaas/error.h"

#define NVML_DEFAULT_LIBRARY "libnvidia-ml.so.1"
/* Events drained per query: bounds the time one query can spend when a
 * broken GPU floods XIDs. */
#define NVML_EVENTS_PER_QUERY 64

/* Typed pointers to the entry points; NULL when the library lacks one. */
struct nvml_api {
    __typeof__(nvmlInit_v2) *init;
    __typeof__(nvmlShutdown) *shutdown;
    __typeof__(nvmlErrorString) *error_string;
    __typeof__(nvmlSystemGetDriverVersion) *driver_version;
    __typeof__(nvmlDeviceGetCount_v2) *count;
    __typeof__(nvmlDeviceGetHandleByIndex_v2) *handle_by_index;
    __typeof__(nvmlDeviceGetUUID) *uuid;
    __typeof__(nvmlDeviceGetName) *name;
    __typeof__(nvmlDeviceGetMemoryInfo) *memory_info;
    __typeof__(nvmlDeviceGetUtilizationRates) *utilization;
    __typeof__(nvmlDeviceGetTemperature) *temperature;
    __typeof__(nvmlDeviceGetPowerUsage) *power_usage;
    __typeof__(nvmlDeviceGetMigMode) *mig_mode;
    __typeof__(nvmlDeviceGetMaxMigDeviceCount) *max_mig_count;
    __typeof__(nvmlDeviceGetMigDeviceHandleByIndex) *mig_handle_by_index;
    __typeof__(nvmlDeviceGetGpuInstanceId) *gpu_instance_id;
    __typeof__(nvmlDeviceGetComputeInstanceId) *compute_instance_id;
    __typeof__(nvmlDeviceGetTotalEccErrors) *total_ecc_errors;
    __typeof__(nvmlEventSetCreate) *event_set_create;
    __typeof__(nvmlDeviceRegisterEvents) *register_events;
    __typeof__(nvmlEventSetWait_v2) *event_set_wait;
    __typeof__(nvmlEventSetFree) *event_set_free;
};

struct nvml_ctx {
    void *dl;
    struct nvml_api api;
    bool initialised;
    /* XIDs arrive only as events: one set for all GPUs, drained on each
     * query under `lock`; xid_last[i] is -1 where registering failed. */
    pthread_mutex_t lock;
    nvmlEventSet_t events;
    unsigned event_gpus;
    nvmlDevice_t event_handle[GPU_DEVICES_MAX];
    int64_t xid_last[GPU_DEVICES_MAX];
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t err_size,
                                                         const char *fmt, ...)
{
    if (!err || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

static const char *nvml_strerror(const struct nvml_ctx *ctx, nvmlReturn_t rc)
{
    const char *s = ctx->api.error_string ? ctx->api.error_string(rc) : NULL;
    return s ? s : "unknown NVML error";
}

/* dlsym into a typed slot; the cast is the POSIX-sanctioned way to get a
 * function pointer out of dlsym. */
#define NVML_LOAD(ctx, slot, symbol) ((ctx)->api.slot = (__typeof__((ctx)->api.slot))dlsym((ctx)->dl, symbol))

static void load_api(struct nvml_ctx *ctx)
{
    NVML_LOAD(ctx, init, "nvmlInit_v2");
    NVML_LOAD(ctx, shutdown, "nvmlShutdown");
    NVML_LOAD(ctx, error_string, "nvmlErrorString");
    NVML_LOAD(ctx, driver_version, "nvmlSystemGetDriverVersion");
    NVML_LOAD(ctx, count, "nvmlDeviceGetCount_v2");
    NVML_LOAD(ctx, handle_by_index, "nvmlDeviceGetHandleByIndex_v2");
    NVML_LOAD(ctx, uuid, "nvmlDeviceGetUUID");
    NVML_LOAD(ctx, name, "nvmlDeviceGetName");
    NVML_LOAD(ctx, memory_info, "nvmlDeviceGetMemoryInfo");
    NVML_LOAD(ctx, utilization, "nvmlDeviceGetUtilizationRates");
    NVML_LOAD(ctx, temperature, "nvmlDeviceGetTemperature");
    NVML_LOAD(ctx, power_usage, "nvmlDeviceGetPowerUsage");
    NVML_LOAD(ctx, mig_mode, "nvmlDeviceGetMigMode");
    NVML_LOAD(ctx, max_mig_count, "nvmlDeviceGetMaxMigDeviceCount");
    NVML_LOAD(ctx, mig_handle_by_index, "nvmlDeviceGetMigDeviceHandleByIndex");
    NVML_LOAD(ctx, gpu_instance_id, "nvmlDeviceGetGpuInstanceId");
    NVML_LOAD(ctx, compute_instance_id, "nvmlDeviceGetComputeInstanceId");
    NVML_LOAD(ctx, total_ecc_errors, "nvmlDeviceGetTotalEccErrors");
    NVML_LOAD(ctx, event_set_create, "nvmlEventSetCreate");
    NVML_LOAD(ctx, register_events, "nvmlDeviceRegisterEvents");
    NVML_LOAD(ctx, event_set_wait, "nvmlEventSetWait_v2");
    /* drivers before R450 have only the first version, same signature */
    if (!ctx->api.event_set_wait)
        NVML_LOAD(ctx, event_set_wait, "nvmlEventSetWait");
    NVML_LOAD(ctx, event_set_free, "nvmlEventSetFree");
}

/* Devices this context looks at: NVML's count capped at GPU_DEVICES_MAX. */
static int device_count(struct nvml_ctx *ctx, unsigned *ret_count)
{
    unsigned n = 0;
    if (ctx->api.count(&n) != NVML_SUCCESS)
        return GPUAAS_EIO;
    *ret_count = n < GPU_DEVICES_MAX ? n : GPU_DEVICES_MAX;
    return 0;
}

/* Registers every GPU for XID events. Anything failing leaves that GPU's
 * xid_last at -1 ("not available"); it never fails open(). */
static void setup_events(struct nvml_ctx *ctx)
{
    for (unsigned i = 0; i < GPU_DEVICES_MAX; i++)
        ctx->xid_last[i] = -1;
    if (!ctx->api.event_set_create || !ctx->api.register_events || !ctx->api.event_set_wait ||
        !ctx->api.event_set_free)
        return;
    unsigned n;
    if (device_count(ctx, &n) < 0 || n == 0)
        return;
    if (ctx->api.event_set_create(&ctx->events) != NVML_SUCCESS) {
        ctx->events = NULL;
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        nvmlDevice_t dev;
        if (ctx->api.handle_by_index(i, &dev) != NVML_SUCCESS)
            continue;
        if (ctx->api.register_events(dev, NVML_EVENT_TYPE_XID_CRITICAL_ERROR, ctx->events) !=
            NVML_SUCCESS)
            continue;
        ctx->event_handle[i] = dev;
        ctx->xid_last[i] = 0;
    }
    ctx->event_gpus = n;
}

static void nvml_close(void *opaque)
{
    struct nvml_ctx *ctx = opaque;
    if (!ctx)
        return;
    if (ctx->events)
        ctx->api.event_set_free(ctx->events);
    if (ctx->initialised)
        ctx->api.shutdown();
    if (ctx->dl)
        dlclose(ctx->dl);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

static int nvml_open(const char *library, void **ret_ctx, char *err, size_t err_size)
{
    const char *path = library ? library : NVML_DEFAULT_LIBRARY;
    int r = 0;
    struct nvml_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        set_err(err, err_size, "out of memory");
        return GPUAAS_ENOMEM;
    }
    pthread_mutex_init(&ctx->lock, NULL);

    ctx->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!ctx->dl) {
        const char *why = dlerror();
        set_err(err, err_size, "cannot load NVML library %s: %s", path, why ? why : "unknown error");
        r = GPUAAS_ENOTFOUND;
        goto out;
    }
    load_api(ctx);
    const char *missing = !ctx->api.init              ? "nvmlInit_v2"
                          : !ctx->api.shutdown        ? "nvmlShutdown"
                          : !ctx->api.count           ? "nvmlDeviceGetCount_v2"
                          : !ctx->api.handle_by_index ? "nvmlDeviceGetHandleByIndex_v2"
                                                      : NULL;
    if (missing) {
        set_err(err, err_size, "%s is not a usable NVML library: it lacks %s", path, missing);
        r = GPUAAS_ENOTFOUND;
        goto out;
    }
    nvmlReturn_t rc = ctx->api.init();
    if (rc != NVML_SUCCESS) {
        set_err(err, err_size, "nvmlInit_v2 failed (%s): %s", path, nvml_strerror(ctx, rc));
        r = rc == NVML_ERROR_NO_PERMISSION ? GPUAAS_EPERM : GPUAAS_EUNAVAIL;
        goto out;
    }
    ctx->initialised = true;
    setup_events(ctx);
out:
    if (r < 0) {
        nvml_close(ctx);
        return r;
    }
    *ret_ctx = ctx;
    return 0;
}

/* Writes the driver version, or "" where the library cannot say. */
static int nvml_driver_version(void *opaque, char *out, size_t out_size)
{
    struct nvml_ctx *ctx = opaque;
    char buf[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = "";
    if (!ctx || !out || out_size == 0)
        return GPUAAS_EINVAL;
    if (!ctx->api.driver_version || ctx->api.driver_version(buf, sizeof buf) != NVML_SUCCESS)
        buf[0] = '\0';
    buf[sizeof buf - 1] = '\0';
    snprintf(out, out_size, "%s", buf);
    return 0;
}

static int nvml_count(void *opaque, unsigned *ret_count)
{
    struct nvml_ctx *ctx = opaque;
    if (!ctx || !ret_count)
        return GPUAAS_EINVAL;
    return device_count(ctx, ret_count);
}

/* Copies an NVML string into a field; "" when the call is missing or fails. */
static void query_string(__typeof__(nvmlDeviceGetName) *fn, nvmlDevice_t dev, char *out,
                         size_t out_size)
{
    char buf[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = "";
    _Static_assert(NVML_DEVICE_NAME_V2_BUFFER_SIZE == NVML_DEVICE_UUID_V2_BUFFER_SIZE,
                   "one buffer serves names and UUIDs");
    if (!fn || fn(dev, buf, sizeof buf) != NVML_SUCCESS)
        buf[0] = '\0';
    buf[sizeof buf - 1] = '\0';
    snprintf(out, out_size, "%s", buf);
}

static void query_memory(struct nvml_ctx *ctx, nvmlDevice_t dev, int64_t *ret_total,
                         int64_t *ret_used)
{
    nvmlMemory_t mem;
    if (ctx->api.memory_info && ctx->api.memory_info(dev, &mem) == NVML_SUCCESS &&
        mem.total <= INT64_MAX && mem.used <= mem.total) {
        *ret_total = (int64_t)mem.total;
        if (ret_used)
            *ret_used = (int64_t)mem.used;
    }
}

static int query_uint(__typeof__(nvmlDeviceGetPowerUsage) *fn, nvmlDevice_t dev, unsigned *ret)
{
    return fn && fn(dev, ret) == NVML_SUCCESS ? 0 : -1;
}

/* "NVIDIA A100-SXM4-40GB MIG 1g.5gb" -> "1g.5gb"; "" when the name has no
 * profile (drivers before R470 name MIG devices like their parent). */
static void mig_profile_from_name(const char *name, char *out, size_t out_size)
{
    const char *p = NULL;
    for (const char *s = strstr(name, " MIG "); s; s = strstr(s + 1, " MIG "))
        p = s + 5;
    out[0] = '\0';
    if (!p || !(*p >= '1' && *p <= '9') || !strstr(p, "g."))
        return;
    size_t n = strcspn(p, " \t");
    if (n >= out_size)
        return;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void query_mig(struct nvml_ctx *ctx, nvmlDevice_t parent, struct gpu_info *info)
{
    unsigned current = 0, pending = 0, max = 0;
    if (!ctx->api.mig_mode || ctx->api.mig_mode(parent, &current, &pending) != NVML_SUCCESS)
        return; /* mig_mode stays -1: a GPU without MIG */
    info->mig_mode = current == NVML_DEVICE_MIG_ENABLE ? 1 : 0;
    if (info->mig_mode != 1 || !ctx->api.max_mig_count || !ctx->api.mig_handle_by_index ||
        ctx->api.max_mig_count(parent, &max) != NVML_SUCCESS)
        return;
    /* slots can be sparse: NOT_FOUND for an empty one is not the end */
    for (unsigned slot = 0; slot < max && info->mig_count < GPU_MIG_MAX; slot++) {
        nvmlDevice_t mig;
        if (ctx->api.mig_handle_by_index(parent, slot, &mig) != NVML_SUCCESS)
            continue;
        struct gpu_mig_info *m = &info->mig[info->mig_count++];
        char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
        unsigned id;
        m->gpu_instance_id = -1;
        m->compute_instance_id = -1;
        m->memory_total_bytes = m->memory_used_bytes = -1;
        query_string(ctx->api.uuid, mig, m->uuid, sizeof m->uuid);
        query_string(ctx->api.name, mig, name, sizeof name);
        mig_profile_from_name(name, m->profile, sizeof m->profile);
        if (query_uint(ctx->api.gpu_instance_id, mig, &id) == 0 && id <= INT32_MAX)
            m->gpu_instance_id = (int)id;
        if (query_uint(ctx->api.compute_instance_id, mig, &id) == 0 && id <= INT32_MAX)
            m->compute_instance_id = (int)id;
        query_memory(ctx, mig, &m->memory_total_bytes, &m->memory_used_bytes);
    }
}

/* Drains pending events and returns the last XID of GPU `index`. */
static int64_t query_xid(struct nvml_ctx *ctx, unsigned index)
{
    pthread_mutex_lock(&ctx->lock);
    for (int i = 0; ctx->events && i < NVML_EVENTS_PER_QUERY; i++) {
        nvmlEventData_t ev;
        memset(&ev, 0, sizeof ev);
        if (ctx->api.event_set_wait(ctx->events, &ev, 0) != NVML_SUCCESS)
            break; /* NVML_ERROR_TIMEOUT: nothing pending */
        if (!(ev.eventType & NVML_EVENT_TYPE_XID_CRITICAL_ERROR))
            continue;
        for (unsigned g = 0; g < ctx->event_gpus; g++)
            if (ctx->xid_last[g] >= 0 && ctx->event_handle[g] == ev.device)
                ctx->xid_last[g] = ev.eventData <= INT64_MAX ? (int64_t)ev.eventData : INT64_MAX;
    }
    int64_t xid = index < ctx->event_gpus ? ctx->xid_last[index] : -1;
    pthread_mutex_unlock(&ctx->lock);
    return xid;
}

static int nvml_query(void *opaque, unsigned index, struct gpu_info *ret)
{
    struct nvml_ctx *ctx = opaque;
    if (!ctx || !ret)
        return GPUAAS_EINVAL;
    unsigned n;
    int r = device_count(ctx, &n);
    if (r < 0)
        return r;
    if (index >= n)
        return GPUAAS_ENOTFOUND;
    nvmlDevice_t dev;
    nvmlReturn_t rc = ctx->api.handle_by_index(index, &dev);
    if (rc != NVML_SUCCESS)
        return rc == NVML_ERROR_NO_PERMISSION ? GPUAAS_EPERM : GPUAAS_EIO;

    struct gpu_info info;
    memset(&info, 0, sizeof info);
    info.index = index;
    info.memory_total_bytes = info.memory_used_bytes = -1;
    info.utilization_pct = info.memory_utilization_pct = info.temperature_c = -1;
    info.power_mw = info.ecc_uncorrected = -1;
    info.mig_mode = -1;

    query_string(ctx->api.uuid, dev, info.uuid, sizeof info.uuid);
    query_string(ctx->api.name, dev, info.name, sizeof info.name);
    gpu_model_from_name(info.name, info.model, sizeof info.model);
    query_memory(ctx, dev, &info.memory_total_bytes, &info.memory_used_bytes);

    nvmlUtilization_t util;
    if (ctx->api.utilization && ctx->api.utilization(dev, &util) == NVML_SUCCESS &&
        util.gpu <= 100 && util.memory <= 100) {
        info.utilization_pct = (int)util.gpu;
        info.memory_utilization_pct = (int)util.memory;
    }
    unsigned v;
    if (ctx->api.temperature && ctx->api.temperature(dev, NVML_TEMPERATURE_GPU, &v) == NVML_SUCCESS &&
        v <= 1000)
        info.temperature_c = (int)v;
    if (query_uint(ctx->api.power_usage, dev, &v) == 0)
        info.power_mw = v;
    unsigned long long ecc;
    if (ctx->api.total_ecc_errors &&
        ctx->api.total_ecc_errors(dev, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, &ecc) ==
            NVML_SUCCESS &&
        ecc <= INT64_MAX)
        info.ecc_uncorrected = (int64_t)ecc;
    query_mig(ctx, dev, &info);
    info.xid_last = query_xid(ctx, index);

    *ret = info;
    return 0;
}

const struct gpu_driver gpu_nvml_driver = {
    .name = "nvml",
    .open = nvml_open,
    .close = nvml_close,
    .driver_version = nvml_driver_version,
    .count = nvml_count,
    .query = nvml_query,
};
