/* The cluster state and the only way to change it: core_apply().
 *
 * The core is pure and deterministic: time comes in as `now_ms`, nothing
 * here reads a clock, a random source, a file or a socket, or starts a
 * thread (tests/check-core-purity enforces it on the object files). Every
 * change is described by effects that the engine writes to the store in the
 * same transaction, before any client hears about it. */
#ifndef GPUAAS_CORE_MODEL_H
#define GPUAAS_CORE_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/names.h"
#include "core/spec.h"
#include "lib/hmap.h"

/* Hard limits on what tenants can make the server hold. */
#define CORE_NAMESPACES_MAX 10000
#define CORE_JOBS_MAX 2000000
#define CORE_NODES_MAX 20000
#define CORE_NODE_GPUS_MAX 16
#define CORE_NODE_LABELS_MAX 32
#define CORE_MIG_DEVICES_MAX 7
#define CORE_REASON_MAX 256

enum job_state { JOB_PENDING, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED };
enum node_state { NODE_READY, NODE_CORDONED, NODE_FAILED };

struct core_namespace {
    char path[NS_PATH_MAX + 1];
    int depth;
    int64_t created_ms;
    uint32_t children; /* direct child namespaces */
    uint32_t jobs;     /* jobs whose namespace is exactly this one */
};

struct core_job {
    uint64_t id;
    char key[NS_PATH_MAX + 1 + NAME_LABEL_MAX + 1]; /* "namespace\x1fname": the map key */
    struct job_spec spec;                          /* owns spec.document */
    enum job_state state;
    char reason[CORE_REASON_MAX];
    int32_t restarts;
    int64_t created_ms;
    int64_t updated_ms;
    int64_t finished_ms; /* 0 while active */
};

struct core_mig_device {
    char profile[SPEC_MIG_PROFILE_MAX + 1];
    char uuid[64];
};

struct core_gpu {
    uint32_t index;
    char uuid[64];
    char model[32];
    int64_t memory_bytes;
    bool mig_mode;
    uint32_t mig_count;
    struct core_mig_device mig[CORE_MIG_DEVICES_MAX];
};

struct core_label {
    char key[LABEL_KEY_MAX + 1];
    char value[LABEL_VALUE_MAX + 1];
};

struct core_node {
    char name[NAME_LABEL_MAX + 1];
    enum node_state state;
    int64_t cpu_milli;
    int64_t memory_bytes;
    uint32_t label_count;
    struct core_label labels[CORE_NODE_LABELS_MAX];
    uint32_t gpu_count;
    struct core_gpu gpus[CORE_NODE_GPUS_MAX];
    int64_t updated_ms;
};

struct core_state {
    struct hmap namespaces; /* path -> struct core_namespace */
    struct hmap jobs;       /* job key -> struct core_job */
    struct hmap nodes;      /* name -> struct core_node */
    uint64_t next_job_id;
};

enum core_cmd_kind {
    CORE_CMD_NAMESPACE_CREATE,
    CORE_CMD_NAMESPACE_DELETE,
    CORE_CMD_JOB_SUBMIT,
    CORE_CMD_JOB_CANCEL,
    CORE_CMD_JOB_DELETE,
    CORE_CMD_NODE_PUT,
};

struct core_cmd {
    enum core_cmd_kind kind;
    char namespace_path[NS_PATH_MAX + 1]; /* NAMESPACE_*, JOB_CANCEL, JOB_DELETE */
    char name[NAME_LABEL_MAX + 1];        /* JOB_CANCEL, JOB_DELETE */
    struct job_spec job;                  /* JOB_SUBMIT: taken by core_apply on success */
    struct core_node node;                /* NODE_PUT */
};

enum core_effect_kind {
    CORE_EFFECT_NAMESPACE_PUT,
    CORE_EFFECT_NAMESPACE_DELETE,
    CORE_EFFECT_JOB_PUT,
    CORE_EFFECT_JOB_DELETE,
    CORE_EFFECT_NODE_PUT,
    CORE_EFFECT_EVENT,
};

/* Pointers in an effect are valid only until the next core_* call. */
struct core_effect {
    enum core_effect_kind kind;
    const struct core_namespace *ns;   /* NAMESPACE_PUT */
    const struct core_job *job;        /* JOB_PUT */
    const struct core_node *node;      /* NODE_PUT */
    uint64_t job_id;                   /* JOB_DELETE, EVENT */
    char path[NS_PATH_MAX + 1];        /* NAMESPACE_DELETE */
    int64_t at_ms;                     /* EVENT */
    char event_type[32];               /* EVENT */
    char event_message[CORE_REASON_MAX];
};

#define CORE_EFFECTS_MAX 16
struct core_effects {
    unsigned count;
    struct core_effect items[CORE_EFFECTS_MAX];
};

struct core_reply {
    int err;                  /* 0 or a gpuaas_err */
    char message[CORE_REASON_MAX];
    char field[64];
    json_t *object;           /* the object as the API shows it; owned by the reply */
};

int core_state_init(struct core_state *st);
void core_state_free(struct core_state *st);

/* Applies one command at time now_ms. Fills *fx with what must be stored and
 * *reply with the answer for the client (reply->object rendered after the
 * change). Returns reply->err. On error, the state is unchanged and fx empty. */
int core_apply(struct core_state *st, struct core_cmd *cmd, int64_t now_ms, struct core_effects *fx,
               struct core_reply *reply);
void core_reply_clear(struct core_reply *reply);
void core_cmd_clear(struct core_cmd *cmd);

/* Rebuilding the state from the store at start (no effects). The restore
 * functions take ownership of job->spec.document even when they fail. */
int core_restore_namespace(struct core_state *st, const char *path, int64_t created_ms);
int core_restore_job(struct core_state *st, const struct core_job *job);
int core_restore_node(struct core_state *st, const struct core_node *node);
/* Recomputes derived counters once everything is restored. */
void core_restore_finish(struct core_state *st);

/* Lookups (NULL if absent). */
const struct core_namespace *core_find_namespace(const struct core_state *st, const char *path);
const struct core_job *core_find_job(const struct core_state *st, const char *ns, const char *name);
const struct core_node *core_find_node(const struct core_state *st, const char *name);

/* Rendering: new json_t owned by the caller, or NULL on out of memory. */
json_t *core_render_namespace(const struct core_namespace *ns);
json_t *core_render_job(const struct core_job *job);
json_t *core_render_node(const struct core_node *node);
/* {"items":[...],"count":N}; prefix NULL or "" lists all, else that subtree. */
json_t *core_list_namespaces(const struct core_state *st, const char *prefix);
json_t *core_list_jobs(const struct core_state *st, const char *prefix);
json_t *core_list_nodes(const struct core_state *st);

/* Nodes travel as the API's Node JSON (config, store). */
int core_node_from_json(const json_t *json, struct core_node *ret_node, char *err, size_t err_size);

const char *core_job_state_name(enum job_state state);
int core_job_state_from_name(const char *name, enum job_state *ret_state);
const char *core_node_state_name(enum node_state state);
int core_node_state_from_name(const char *name, enum node_state *ret_state);
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-25T16:00:00.123Z. */
void core_format_time(int64_t ms, char *out, size_t out_size);

#endif
