#include "server/gpus.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpuaas/error.h"
#include "lib/quantity.h"

/* A host with four A10G, the last one split into MIG slices: what
 * `make run` shows on a machine without GPUs. */
const char gpus_default_fake_description[] =
    "# fake NVML description (docs/fake-nvml.md); edit util= to simulate load\n"
    "seed local\n"
    "driver 550.54.15-fake\n"
    "gpu model=A10G memory=24Gi mem_used=0 util=0 mem_util=0 temp=34 power_mw=58000 ecc=0\n"
    "gpu model=A10G memory=24Gi mem_used=0 util=0 mem_util=0 temp=35 power_mw=59000 ecc=0\n"
    "gpu model=A10G memory=24Gi mem_used=0 util=0 mem_util=0 temp=33 power_mw=57000 ecc=0\n"
    "gpu model=A10G memory=24Gi mem_used=0 util=0 mem_util=0 temp=36 power_mw=60000 ecc=0 mig=1g.6gb,1g.6gb,2g.12gb\n";

static int write_default_description(const char *path, char *err, size_t err_size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0; /* keep what the operator (or a test) wrote */
        snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
        return GPUAAS_EIO;
    }
    size_t len = strlen(gpus_default_fake_description);
    bool ok = write(fd, gpus_default_fake_description, len) == (ssize_t)len;
    close(fd);
    if (!ok) {
        snprintf(err, err_size, "cannot write %s", path);
        return GPUAAS_EIO;
    }
    return 0;
}

int gpus_open(struct gpu_source *src, const char *nvml_library, const char *fake_library,
              const char *fake_description, const char *data_dir, char *err, size_t err_size)
{
    memset(src, 0, sizeof *src);
    pthread_mutex_init(&src->lock, NULL);
    pthread_cond_init(&src->wake, NULL);
    src->driver = &gpu_nvml_driver;
    char real_err[256] = "";
    char version[80] = "?";
    int r = src->driver->open(nvml_library, &src->ctx, real_err, sizeof real_err);
    if (r == 0) {
        src->driver->driver_version(src->ctx, version, sizeof version);
        snprintf(src->how, sizeof src->how, "NVML, driver %s (%s)", version,
                 nvml_library ? nvml_library : "libnvidia-ml.so.1");
    } else {
        /* no real driver here: the fake, through the very same code path */
        char lib[PATH_MAX], exe[PATH_MAX], desc[PATH_MAX];
        if (!fake_library) {
            ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
            exe[n > 0 ? n : 0] = '\0';
            snprintf(lib, sizeof lib, "%s/libnvidia-ml-fake.so", dirname(exe));
            fake_library = lib;
        }
        if (!fake_description) {
            snprintf(desc, sizeof desc, "%s/fake-nvml.conf", data_dir);
            if ((r = write_default_description(desc, err, err_size)) < 0)
                return r;
            fake_description = desc;
        }
        setenv("GPUAAS_FAKE_NVML_CONFIG", fake_description, 1);
        char fake_err[256] = "";
        r = src->driver->open(fake_library, &src->ctx, fake_err, sizeof fake_err);
        if (r < 0) {
            snprintf(err, err_size, "no GPUs: NVML: %s; fake NVML: %s", real_err, fake_err);
            src->ctx = NULL;
            return r;
        }
        src->fake = true;
        src->driver->driver_version(src->ctx, version, sizeof version);
        snprintf(src->how, sizeof src->how, "fake NVML %s (%s, described by %s); real NVML: %s", version,
                 fake_library, fake_description, real_err);
    }
    if ((r = src->driver->count(src->ctx, &src->count)) < 0) {
        snprintf(err, err_size, "NVML: cannot count devices");
        return r;
    }
    if (src->count > GPU_DEVICES_MAX)
        src->count = GPU_DEVICES_MAX;
    return 0;
}

int gpus_fill_node(struct gpu_source *src, json_t *node_json, char *err, size_t err_size)
{
    json_t *gpus = json_array();
    char first_model[32] = "";
    if (!gpus)
        return GPUAAS_ENOMEM;
    for (unsigned i = 0; i < src->count; i++) {
        struct gpu_info *info = calloc(1, sizeof *info);
        if (!info || src->driver->query(src->ctx, i, info) < 0) {
            snprintf(err, err_size, "NVML: cannot query GPU %u", i);
            free(info);
            json_decref(gpus);
            return GPUAAS_EIO;
        }
        char mem[32] = "0";
        if (info->memory_total_bytes > 0)
            quantity_format_memory_bytes(info->memory_total_bytes, mem, sizeof mem);
        json_t *migs = json_array();
        for (unsigned m = 0; info->mig_mode == 1 && m < info->mig_count; m++)
            if (info->mig[m].profile[0] && info->mig[m].uuid[0])
                json_array_append_new(migs, json_pack("{s:s,s:s}", "profile", info->mig[m].profile, "uuid",
                                                      info->mig[m].uuid));
        const char *model = info->model[0] ? info->model : "unknown";
        if (!first_model[0])
            snprintf(first_model, sizeof first_model, "%s", model);
        json_array_append_new(gpus, json_pack("{s:I,s:s,s:s,s:s,s:b,s:o}", "index", (json_int_t)info->index, "uuid",
                                              info->uuid, "model", model, "memory", mem, "mig_mode",
                                              info->mig_mode == 1, "mig_devices", migs));
        free(info);
    }
    json_object_set_new(node_json, "gpus", gpus);
    json_t *labels = json_object_get(node_json, "labels");
    if (labels && first_model[0])
        json_object_set_new(labels, "gpuaas.io/gpu-model", json_string(first_model));
    return 0;
}

/* Whether a metering round is due (under src->lock). */
static bool round_due(struct gpu_source *src)
{
    if (!src->round_hook)
        return false;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long elapsed_ms = (now.tv_sec - src->round_last.tv_sec) * 1000LL +
                           (now.tv_nsec - src->round_last.tv_nsec) / 1000000;
    /* a little early rather than a whole live period late */
    if (src->round_last.tv_sec && elapsed_ms + 100 < src->round_interval_ms)
        return false;
    src->round_last = now;
    return true;
}

static void sample_once(struct gpu_source *src)
{
    struct gpu_info *infos = calloc(src->count ? src->count : 1, sizeof *infos);
    if (!infos)
        return;
    for (unsigned i = 0; i < src->count; i++) {
        struct gpu_info *info = &infos[i];
        if (src->driver->query(src->ctx, i, info) < 0) {
            /* unread: utilisation -1, so its time stays unsampled */
            info->utilization_pct = -1;
            info->memory_used_bytes = -1;
        } else {
            pthread_mutex_lock(&src->lock);
            struct gpu_live *l = &src->live[i];
            snprintf(l->uuid, sizeof l->uuid, "%s", info->uuid);
            l->utilization_pct = info->utilization_pct;
            l->memory_used_bytes = info->memory_used_bytes;
            l->temperature_c = info->temperature_c;
            l->power_mw = info->power_mw;
            l->xid_last = info->xid_last;
            l->mig_count = info->mig_count;
            for (unsigned m = 0; m < info->mig_count && m < GPU_MIG_MAX; m++) {
                snprintf(l->mig[m].uuid, sizeof l->mig[m].uuid, "%s", info->mig[m].uuid);
                l->mig[m].gpu_instance_id = info->mig[m].gpu_instance_id;
                l->mig[m].memory_used_bytes = info->mig[m].memory_used_bytes;
                l->mig[m].memory_total_bytes = info->mig[m].memory_total_bytes;
            }
            pthread_mutex_unlock(&src->lock);
        }
    }
    pthread_mutex_lock(&src->lock);
    bool due = round_due(src);
    void (*hook)(void *, const struct gpu_info *, unsigned) = src->round_hook;
    void *arg = src->round_arg;
    pthread_mutex_unlock(&src->lock);
    if (due)
        hook(arg, infos, src->count);
    free(infos);
}

void gpus_set_round_hook(struct gpu_source *src, void (*hook)(void *arg, const struct gpu_info *infos, unsigned count),
                         void *arg, int interval_ms)
{
    pthread_mutex_lock(&src->lock);
    src->round_hook = hook;
    src->round_arg = arg;
    src->round_interval_ms = interval_ms;
    memset(&src->round_last, 0, sizeof src->round_last);
    pthread_mutex_unlock(&src->lock);
}

struct sampler_arg {
    struct gpu_source *src;
    int interval_ms;
};

static void *sampler_main(void *arg)
{
    struct gpu_source *src = ((struct sampler_arg *)arg)->src;
    int interval_ms = ((struct sampler_arg *)arg)->interval_ms;
    free(arg);
    for (;;) {
        sample_once(src);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += interval_ms / 1000;
        until.tv_nsec += (long)(interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&src->lock);
        while (!src->stopping && pthread_cond_timedwait(&src->wake, &src->lock, &until) == 0)
            ;
        bool stop = src->stopping;
        pthread_mutex_unlock(&src->lock);
        if (stop)
            return NULL;
    }
}

int gpus_start_sampler(struct gpu_source *src, int interval_ms)
{
    struct sampler_arg *arg = malloc(sizeof *arg);
    if (!arg)
        return GPUAAS_ENOMEM;
    *arg = (struct sampler_arg){src, interval_ms};
    sample_once(src); /* the first answer already has live values */
    if (pthread_create(&src->sampler, NULL, sampler_main, arg) != 0) {
        free(arg);
        return GPUAAS_ENOMEM;
    }
    src->sampler_running = true;
    return 0;
}

static json_t *int_or_null(int64_t v) { return v < 0 ? json_null() : json_integer(v); }

static void annotate_migs(const struct gpu_live *l, json_t *migs)
{
    size_t i;
    json_t *mig;
    json_array_foreach(migs, i, mig) {
        const char *uuid = json_string_value(json_object_get(mig, "uuid"));
        for (unsigned m = 0; uuid && m < l->mig_count; m++) {
            const struct gpu_live_mig *lm = &l->mig[m];
            if (strcmp(lm->uuid, uuid) != 0)
                continue;
            json_object_set_new(mig, "gpu_instance_id", int_or_null(lm->gpu_instance_id));
            json_object_set_new(mig, "memory_used_bytes", int_or_null(lm->memory_used_bytes));
            json_object_set_new(mig, "memory_total_bytes", int_or_null(lm->memory_total_bytes));
        }
    }
}

void gpus_annotate(void *arg, json_t *rows)
{
    struct gpu_source *src = arg;
    size_t i;
    json_t *row;
    pthread_mutex_lock(&src->lock);
    json_array_foreach(rows, i, row) {
        const char *uuid = json_string_value(json_object_get(row, "uuid"));
        for (unsigned g = 0; uuid && g < src->count; g++) {
            const struct gpu_live *l = &src->live[g];
            if (strcmp(l->uuid, uuid) != 0)
                continue;
            json_object_set_new(row, "utilization_pct", int_or_null(l->utilization_pct));
            json_object_set_new(row, "memory_used_bytes", int_or_null(l->memory_used_bytes));
            json_object_set_new(row, "temperature_c", int_or_null(l->temperature_c));
            json_object_set_new(row, "power_w", l->power_mw < 0 ? json_null() : json_real(l->power_mw / 1000.0));
            json_object_set_new(row, "xid_last", int_or_null(l->xid_last));
            annotate_migs(l, json_object_get(row, "mig_devices"));
        }
    }
    pthread_mutex_unlock(&src->lock);
}

void gpus_stop_sampler(struct gpu_source *src)
{
    if (!src || !src->driver || !src->sampler_running)
        return;
    pthread_mutex_lock(&src->lock);
    src->stopping = true;
    pthread_cond_signal(&src->wake);
    pthread_mutex_unlock(&src->lock);
    pthread_join(src->sampler, NULL);
    src->sampler_running = false;
}

bool gpus_reading(void *arg, const char *uuid, struct metrics_reading *out)
{
    struct gpu_source *src = arg;
    bool found = false;
    pthread_mutex_lock(&src->lock);
    for (unsigned g = 0; g < src->count && !found; g++) {
        const struct gpu_live *l = &src->live[g];
        if (strcmp(l->uuid, uuid) != 0)
            continue;
        found = true;
        out->utilization_pct = l->utilization_pct;
        out->memory_used_bytes = l->memory_used_bytes;
        out->temperature_c = l->temperature_c;
        out->power_mw = l->power_mw;
        out->xid_last = l->xid_last;
        out->mig_count = l->mig_count < METRICS_MIG_MAX ? l->mig_count : METRICS_MIG_MAX;
        for (unsigned m = 0; m < out->mig_count; m++) {
            snprintf(out->mig[m].uuid, sizeof out->mig[m].uuid, "%s", l->mig[m].uuid);
            out->mig[m].gpu_instance_id = l->mig[m].gpu_instance_id;
            out->mig[m].memory_used_bytes = l->mig[m].memory_used_bytes;
            out->mig[m].memory_total_bytes = l->mig[m].memory_total_bytes;
        }
    }
    pthread_mutex_unlock(&src->lock);
    return found;
}

void gpus_close(struct gpu_source *src)
{
    if (!src || !src->driver)
        return;
    gpus_stop_sampler(src);
    if (src->ctx)
        src->driver->close(src->ctx);
    pthread_mutex_destroy(&src->lock);
    pthread_cond_destroy(&src->wake);
    src->ctx = NULL;
}
