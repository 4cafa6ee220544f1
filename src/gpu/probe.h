/* A one-shot report of what the GPU driver sees, for `gpuaas doctor`. */
#ifndef GPUAAS_GPU_PROBE_H
#define GPUAAS_GPU_PROBE_H

#include <stdio.h>

/* Opens gpu_nvml_driver on `library` (NULL: "libnvidia-ml.so.1"), writes
 * one JSON object to `out` and closes the driver again:
 *   {"driver": "nvml", "library": ..., "driver_version": ..., "count": N,
 *    "gpus": [{every struct gpu_info field; "not available" as null}]}
 * When the driver cannot be opened or counted, the object is
 *   {"driver": "nvml", "library": ..., "error": text, "code": "not_found"}
 * and the error is returned. Returns 0 or a negative gpuaas_err. */
int gpu_probe_print(const char *library, FILE *out);

#endif
