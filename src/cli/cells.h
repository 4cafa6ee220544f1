/* Table cells computed from the API's pod and GPU objects (get pods, get
 * gpus, describe job). Pure: no I/O; each function writes into the
 * caller's buffer and returns it, or NULL when there is nothing to show
 * (the table prints "<none>"). Text that does not fit is cut and ends in
 * "...". */
#ifndef GPUAAS_CLI_CELLS_H
#define GPUAAS_CLI_CELLS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GPU UUIDs are shown by their first this many characters ("GPU-1a2b3c4d"). */
#define CLI_UUID_SHORT 12

/* Pod states Succeeded, Failed, Killed, Lost: the run is over. */
bool cli_pod_state_final(const char *state);
/* Job states Succeeded, Failed, Cancelled. */
bool cli_job_state_final(const char *state);

/* "1024" -> "1Ki", 4509715660 -> "4.2Gi", 0 -> "0", 512 -> "512B".
 * Returns the length written or GPUAAS_ETOOBIG / GPUAAS_EINVAL (< 0). */
int cli_format_bytes(int64_t bytes, char *out, size_t size);

/* A pod's devices: short UUIDs comma-joined ("GPU-1a2b3c4d,GPU-5e6f7a8b"),
 * a share as "GPU-1a2b3c4d:500m", a MIG slice by its profile ("1g.10gb"). */
const char *cli_pod_devices(const json_t *pod, char *out, size_t size);
/* "0", "1", "SIGKILL", "OOMKilled"; NULL while the pod runs. */
const char *cli_pod_exit(const json_t *pod, char *out, size_t size);
/* Run time: duration_s once ended, else now - started_at; NULL if it never
 * started. kubectl's duration format ("45s", "3m20s"). */
const char *cli_pod_duration(const json_t *pod, int64_t now, char *out, size_t size);

/* An allocated_to object {pod, namespace, job, replica} as
 * "namespace/job[rN]"; NULL for null. */
const char *cli_holder_text(const json_t *holder, char *out, size_t size);
/* What holds a GPU row of /v1/gpus: "namespace/job[rN]", "3 shares: 750m"
 * or "2/4 slices"; NULL when it is free. */
const char *cli_gpu_allocated_to(const json_t *gpu, char *out, size_t size);
/* "1g.10gb:ns/job[r0],1g.10gb:free"; NULL without MIG devices. */
const char *cli_gpu_mig_devices(const json_t *gpu, char *out, size_t size);
/* "250m:ns/job[r0],500m:ns/other[r1]"; NULL without shares. */
const char *cli_gpu_shares(const json_t *gpu, char *out, size_t size);
/* Live values; "-" when the node does not report them (absent or null). */
const char *cli_gpu_util(const json_t *gpu, char *out, size_t size);        /* "37%" */
const char *cli_gpu_memory_used(const json_t *gpu, char *out, size_t size); /* "4.2Gi/80Gi", "-/80Gi" */
const char *cli_gpu_temperature(const json_t *gpu, char *out, size_t size); /* "45C" */
const char *cli_gpu_power(const json_t *gpu, char *out, size_t size);       /* "123W" */

#endif
