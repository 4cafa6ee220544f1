/* Quotas on the client side: the PUT body built from `set quota` flags, and
 * the columns and cells of `get quotas` / `describe namespace` computed
 * from the API's quota objects ({"namespace", "limits", "used"}). Pure: no
 * I/O. */
#ifndef GPUAAS_CLI_QUOTAS_H
#define GPUAAS_CLI_QUOTAS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli/args.h"

/* The PUT /v1/quotas/NS body for the flags given (kubectl-style: what is
 * given is the whole quota): --gpus N, --gpus-MODEL N, --mig-PROFILE N,
 * --gpu-milli N, --cpu Q, --memory Q, --pods N as
 * {"gpus":N,"gpus_per_model":{MODEL:N},"mig":{PROFILE:N},"gpu_milli":N,
 * "cpu":"Q","memory":"Q","pods":N}. Counts must be decimal digits; cpu and
 * memory are passed on as text (the server judges them and every range).
 * Returns 0 and a new object in *ret, or GPUAAS_EINVAL with a one-line reason
 * in err (no flag, a count that is not one, a flag given twice), or
 * GPUAAS_ENOMEM. */
int cli_quota_body(const struct cli_quota_flag *flags, int count, json_t **ret, char *err, size_t err_size);

enum cli_quota_kind {
    CLI_QUOTA_GPUS,
    CLI_QUOTA_MODEL,     /* whole GPUs of one model */
    CLI_QUOTA_MIG,       /* MIG slices of one profile */
    CLI_QUOTA_GPU_MILLI,
    CLI_QUOTA_CPU,
    CLI_QUOTA_MEMORY,
    CLI_QUOTA_PODS,
};

/* One limited resource: a column of `get quotas`, a row of describe. */
struct cli_quota_col {
    enum cli_quota_kind kind;
    char name[64];    /* the model or MIG profile */
    char header[72];  /* table header: "GPUS", "A100", "MIG-1g.10gb", "GPU-MILLI", "CPU", ... */
    char label[72];   /* as the server names it: "gpus", "gpus.A100", "mig.1g.10gb", "gpu_milli", "cpu", ... */
};

/* The columns for a list of quota objects: every resource that at least one
 * of them limits (with all_plain, gpus, gpu_milli, cpu, memory and pods
 * always), in the order gpus, models (by name), MIG profiles (by name),
 * gpu_milli, cpu, memory, pods. Writes at most max columns; returns how
 * many there would be (more than max: the rest were left out). */
size_t cli_quota_columns(const json_t *items, bool all_plain, struct cli_quota_col *cols, size_t max);

/* The limit and the use of one resource in a quota object as text ("4",
 * "64", "512Gi"; use "0" when the server reports none). Returns false
 * (and writes "-" as the limit) when the quota does not limit it. */
bool cli_quota_values(const json_t *quota, const struct cli_quota_col *col, char *used, size_t used_size,
                      char *limit, size_t limit_size);

/* A `get quotas` cell: "USED/LIMIT" ("2/4", "500m/64"), or "-" when the
 * quota does not limit the column's resource. Returns out. */
const char *cli_quota_cell(const json_t *quota, const struct cli_quota_col *col, char *out, size_t size);

/* The limits of a quota object in one line: "gpus 8, gpus.A100 4, cpu 64,
 * memory 512Gi"; "no limits" when it has none. Returns out. */
const char *cli_quota_summary(const json_t *quota, char *out, size_t size);

#endif
