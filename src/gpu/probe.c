/* gpu_probe_print: everything the NVML driver reports, as JSON. */
#include "gpu/probe.h"

#include <jansson.h>
#include <string.h>

#include "gpu/gpu.h"
#include "gpuaas/error.h"

/* "not available" (-1) becomes JSON null. */
static json_t *int_or_null(int64_t v) { return v < 0 ? json_null() : json_integer(v); }

static json_t *str_or_null(const char *s) { return s[0] ? json_string(s) : json_null(); }

static json_t *mig_json(const struct gpu_mig_info *m)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o}",
                     "profile", str_or_null(m->profile),
                     "uuid", str_or_null(m->uuid),
                     "gpu_instance_id", int_or_null(m->gpu_instance_id),
                     "compute_instance_id", int_or_null(m->compute_instance_id),
                     "memory_total_bytes", int_or_null(m->memory_total_bytes));
}

static json_t *gpu_json(const struct gpu_info *g)
{
    json_t *migs = json_array();
    for (unsigned i = 0; migs && i < g->mig_count && i < GPU_MIG_MAX; i++)
        json_array_append_new(migs, mig_json(&g->mig[i]));
    json_t *mig_mode = g->mig_mode < 0 ? json_null() : json_boolean(g->mig_mode == 1);
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "index", (json_int_t)g->index,
                     "uuid", str_or_null(g->uuid),
                     "name", str_or_null(g->name),
                     "model", str_or_null(g->model),
                     "memory_total_bytes", int_or_null(g->memory_total_bytes),
                     "memory_used_bytes", int_or_null(g->memory_used_bytes),
                     "utilization_pct", int_or_null(g->utilization_pct),
                     "memory_utilization_pct", int_or_null(g->memory_utilization_pct),
                     "temperature_c", int_or_null(g->temperature_c),
                     "power_mw", int_or_null(g->power_mw),
                     "mig_mode", mig_mode,
                     "mig", migs,
                     "ecc_uncorrected", int_or_null(g->ecc_uncorrected),
                     "xid_last", int_or_null(g->xid_last));
}

int gpu_probe_print(const char *library, FILE *out)
{
    const struct gpu_driver *drv = &gpu_nvml_driver;
    char err[256] = "";
    char version[96] = "";
    void *ctx = NULL;
    unsigned count = 0;
    int r;
    json_t *root = json_pack("{s:s, s:s}", "driver", drv->name, "library",
                             library ? library : "libnvidia-ml.so.1");
    if (!root)
        return GPUAAS_ENOMEM;

    r = drv->open(library, &ctx, err, sizeof err);
    if (r == 0) {
        r = drv->count(ctx, &count);
        if (r < 0)
            snprintf(err, sizeof err, "cannot count GPUs");
    }
    if (r < 0) {
        json_object_set_new(root, "error", json_string(err[0] ? err : gpuaas_strerror(r)));
        json_object_set_new(root, "code", json_string(gpuaas_error_code(r)));
        goto out;
    }
    drv->driver_version(ctx, version, sizeof version);
    json_object_set_new(root, "driver_version", str_or_null(version));
    json_object_set_new(root, "count", json_integer(count));
    json_t *gpus = json_array();
    json_object_set_new(root, "gpus", gpus);
    for (unsigned i = 0; gpus && i < count; i++) {
        struct gpu_info info;
        int qr = drv->query(ctx, i, &info);
        if (qr < 0)
            json_array_append_new(gpus, json_pack("{s:I, s:s}", "index", (json_int_t)i, "error",
                                                  gpuaas_strerror(qr)));
        else
            json_array_append_new(gpus, gpu_json(&info));
    }
out:
    if (json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 || fputc('\n', out) == EOF)
        r = r < 0 ? r : GPUAAS_EIO;
    json_decref(root);
    drv->close(ctx);
    return r;
}
