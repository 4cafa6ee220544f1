/* Job spec validation: a json_t (from a JSON or YAML body) becomes a
 * struct job_spec plus the canonical spec document (the input with defaults
 * filled in), or an error naming the field. Pure. */
#ifndef GPUAAS_CORE_SPEC_H
#define GPUAAS_CORE_SPEC_H

#include <jansson.h>
#include <stdint.h>

#include "core/names.h"

#define SPEC_COMMAND_ARGS_MAX 256
#define SPEC_STRING_MAX 4096
#define SPEC_MAP_ENTRIES_MAX 128
#define SPEC_REPLICAS_MAX 1024
#define SPEC_GPUS_MAX 64
#define SPEC_RESTART_LIMIT_MAX 100
#define SPEC_MIG_PROFILE_MAX 23

enum job_priority { PRIORITY_LOW = 0, PRIORITY_NORMAL = 1, PRIORITY_HIGH = 2 };
enum restart_policy { RESTART_NEVER = 0, RESTART_ON_FAILURE = 1 };

/* What one replica asks for. Exactly one GPU form is non-zero (or none). */
struct job_resources {
    int32_t gpus;                          /* whole GPUs */
    char mig_profile[SPEC_MIG_PROFILE_MAX + 1]; /* "" or e.g. "1g.10gb" */
    int32_t gpu_milli;                     /* share of one GPU, 1..999 */
    int64_t cpu_milli;
    int64_t memory_bytes;
};

struct job_spec {
    char name[NAME_LABEL_MAX + 1];
    char namespace_path[NS_PATH_MAX + 1];
    enum job_priority priority;
    int32_t replicas;
    struct job_resources resources;
    enum restart_policy restart_policy;
    int32_t restart_limit;
    int64_t max_runtime_ms; /* 0: none */
    /* canonical document; selector, command, env, workdir live only here */
    json_t *document;
};

struct spec_error {
    char field[128];   /* "resources.gpus", "command[2]", "" for the whole body */
    char message[256]; /* "expected an integer, got a string" */
};

/* Validates `input`. On success the spec keeps a reference to `input` as its
 * document and adds the defaults to it: the caller must not use or change
 * `input` afterwards except to drop its own reference. On failure `input`
 * is untouched. `default_namespace` (may be NULL) is used
 * when the spec has no namespace; if both are set they must agree.
 * On success fills *ret_spec (spec->document is a new reference owned by the
 * spec; release with spec_release) and returns 0; otherwise returns
 * GPUAAS_EINVAL (or GPUAAS_ETOOBIG for an over-limit field) with *err set. */
int spec_parse_job(const json_t *input, const char *default_namespace, struct job_spec *ret_spec,
                   struct spec_error *err);
void spec_release(struct job_spec *spec);

const char *spec_priority_name(enum job_priority priority);

#endif
