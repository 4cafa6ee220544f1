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

#include "core/ledger.h"
#include "core/names.h"
#include "core/place.h"
#include "core/quota.h"
#include "core/rbac.h"
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
#define CORE_NODE_PODS_MAX 110 /* like kubelet's default max-pods */

enum job_state { JOB_PENDING, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED };
enum pod_state { POD_SCHEDULED, POD_RUNNING, POD_SUCCEEDED, POD_FAILED, POD_KILLED, POD_LOST };
enum node_state { NODE_READY, NODE_CORDONED, NODE_FAILED };

struct core_namespace {
    char path[NS_PATH_MAX + 1];
    int depth;
    int64_t created_ms;
    uint32_t children; /* direct child namespaces */
    uint32_t jobs;     /* jobs whose namespace is exactly this one */
    bool has_quota;
    struct quota_amounts quota;   /* limits for this subtree (when has_quota) */
    struct quota_amounts used;    /* what the subtree's active pods hold (derived) */
    /* fair share (derived; rebuilt from the pods after a restart): GPU use
     * of the jobs of exactly this namespace, in milli-GPU x ms, decayed */
    double fs_usage;
    int64_t fs_rate; /* milli-GPU its active pods hold now */
    int64_t fs_at;   /* time fs_usage was brought to */
};

struct core_job {
    uint64_t id;
    char id_key[24]; /* decimal id: key of jobs_by_id */
    char key[NS_PATH_MAX + 1 + NAME_LABEL_MAX + 1]; /* "namespace\x1fname": the map key */
    struct job_spec spec;                          /* owns spec.document */
    char *spec_text;                               /* spec.document as compact JSON, or NULL */
    enum job_state state;
    char reason[CORE_REASON_MAX];
    int32_t restarts;
    int64_t created_ms;
    int64_t updated_ms;
    int64_t finished_ms; /* 0 while active */
    /* runtime, derived or rebuilt on restore */
    int32_t attempt;          /* current attempt number, 0 before the first */
    int32_t active_pods;      /* pods of this job not yet finished */
    int32_t succeeded_pods;   /* pods of the current attempt that succeeded */
    int64_t not_before_ms;    /* back-off: not placed before this time */
    bool failing;             /* current attempt failed; waiting for its pods to end */
    bool queued;              /* in the scheduling queue */
    uint64_t match_gen;       /* node generation match_any was computed for */
    bool match_any;           /* some node matches the selector */
    struct core_job *queue_prev, *queue_next;
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

/* What is handed out on a node; derived from the active pods. */
struct core_node_alloc {
    uint64_t gpu_pod[CORE_NODE_GPUS_MAX];                       /* whole GPU holder, 0: none */
    int32_t gpu_milli_used[CORE_NODE_GPUS_MAX];                 /* shared GPU use, 0..1000 */
    uint64_t mig_pod[CORE_NODE_GPUS_MAX][CORE_MIG_DEVICES_MAX]; /* MIG slice holder */
    int64_t cpu_milli_used;
    int64_t memory_bytes_used;
    /* ids of the pods holding anything here (to attribute GPU samples) */
    uint32_t pod_count;
    uint64_t pods[CORE_NODE_PODS_MAX];
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
    struct core_node_alloc alloc;
    int32_t pods_active;
    int64_t util_sampled_ms; /* when its GPUs were last sampled (runtime only) */
    uint32_t place_index; /* its node in st->place (derived) */
};

/* One device given to a pod: a whole GPU, a MIG slice or a share of a GPU. */
struct core_pod_device {
    uint16_t gpu;      /* index into node->gpus */
    int16_t mig;       /* -1: not a MIG slice */
    int32_t milli;     /* 1000 for a whole GPU or a slice; less for a share */
    char uuid[64];     /* GPU or MIG UUID, kept for the record */
    char mig_profile[SPEC_MIG_PROFILE_MAX + 1];
};

#define CORE_POD_DEVICES_MAX CORE_NODE_GPUS_MAX

/* Sampled GPU utilisation of a pod, as running sums. Each sample of a
 * device is weighted by the device's share (milli-GPU, meter_device_milli)
 * times the time it covers, so averages are per GPU-second, not per sample.
 * Exact integers; the same shape is one hour's rollup in the store. */
struct core_pod_util {
    int64_t samples;          /* sampling rounds that covered the pod */
    int64_t sampled_milli_ms; /* milli-GPU x ms covered by samples */
    int64_t util_milli_ms;    /* utilisation % x milli-GPU x ms */
    int64_t idle_milli_ms;    /* the part of sampled_milli_ms below CORE_IDLE_UTIL_PCT */
    int64_t mem_ms;           /* ms covered by memory readings */
    int64_t mem_mib_ms;       /* MiB in use by the pod x ms */
};

#define CORE_IDLE_UTIL_PCT 10

void core_pod_util_add(struct core_pod_util *to, const struct core_pod_util *delta);

/* One attempt of one replica: the unit that runs, and the unit of metering. */
struct core_pod {
    uint64_t id;
    char id_key[24];   /* decimal id: the map key */
    uint64_t job_id;
    char namespace_path[NS_PATH_MAX + 1];
    char job_name[NAME_LABEL_MAX + 1];
    int32_t replica;
    int32_t attempt;
    char node[NAME_LABEL_MAX + 1];
    char gpu_model[32];
    char capacity_type[16];
    int64_t cpu_milli;
    int64_t memory_bytes;
    uint32_t device_count;
    struct core_pod_device devices[CORE_POD_DEVICES_MAX];
    enum pod_state state;
    bool stop_requested;
    int64_t scheduled_ms;
    int64_t started_ms;   /* 0: never started */
    int64_t ended_ms;     /* 0: still holds its devices */
    int32_t exit_code;    /* -1 when killed by a signal or lost */
    int32_t exit_signal;
    bool oom_killed;
    char handle[128];     /* the executor's handle, to adopt after a restart */
    char message[CORE_REASON_MAX];
    struct core_pod_util util; /* sampled utilisation (restored from the hourly rollups) */
};

#define CORE_PODS_MAX 4000000

struct core_config {
    int64_t restart_backoff_ms;     /* first back-off; doubles per restart */
    int64_t restart_backoff_max_ms;
    int32_t stop_grace_ms;          /* SIGTERM -> SIGKILL */
    /* scheduling (see docs/scheduler.md) */
    enum place_policy place_policy; /* node choice; fgdpack by default */
    uint32_t candidate_limit;       /* nodes scored per decision (0: all that fit) */
    int64_t aging_ms;               /* waiting this long raises a job one priority class; 0: never */
    int64_t fair_share_half_life_ms; /* past GPU use counts half after this long */
    bool backfill_off;              /* no reservation for the first job that does not fit */
};

struct core_state {
    struct core_config cfg;
    struct hmap namespaces; /* path -> struct core_namespace */
    struct hmap jobs;       /* job key -> struct core_job */
    struct hmap jobs_by_id; /* decimal id -> struct core_job */
    struct hmap nodes;      /* name -> struct core_node */
    struct hmap pods;       /* decimal id -> struct core_pod */
    uint64_t next_job_id;
    uint64_t next_pod_id;
    /* scheduling queue: one FIFO (by job id) per priority, highest first */
    struct core_job *queue_head[3], *queue_tail[3];
    size_t queue_count;
    bool sched_full_pass;   /* capacity freed or nodes changed: retry every queued job */
    uint64_t *fresh;        /* ids queued since the last pass (only those need a try otherwise) */
    uint64_t *backoff;      /* ids of queued jobs waiting out a back-off */
    size_t backoff_count, backoff_cap;
    size_t fresh_count, fresh_cap;
    bool fresh_overflow;
    /* role bindings; [0] is built in: platform-admin tokens' group */
    struct rbac_binding *bindings;
    size_t binding_count, binding_cap;
    /* nodes in name order, for deterministic placement */
    struct core_node **node_order;
    size_t node_order_count;
    /* every pod attempt's allocated interval, sorted by start (metering) */
    struct ledger ledger;
    /* placement: the nodes mirrored into the placement index (sched_place.c) */
    struct place_cluster place;
    bool place_dirty;          /* nodes changed: rebuild before the next decision */
    uint64_t node_gen;         /* bumped on every node change */
    struct hmap shapes;        /* pod shape key -> struct sched_shape: queued jobs and active pods */
    uint64_t shape_sig, shape_built_sig; /* workload of the index is stale when they differ */
    bool fs_ready;             /* fair-share use rebuilt from the pods */
    /* backfill: the first job in the queue that does not fit and the nodes held for it */
    uint64_t resv_job;
    uint32_t *resv_nodes;
    size_t resv_count, resv_cap;
    /* what submit-time feasibility needs from the nodes, per node generation (sched.c) */
    struct sched_feas *feas;
};

enum core_cmd_kind {
    CORE_CMD_NAMESPACE_CREATE,
    CORE_CMD_NAMESPACE_DELETE,
    CORE_CMD_JOB_SUBMIT,
    CORE_CMD_JOB_CANCEL,
    CORE_CMD_JOB_DELETE,
    CORE_CMD_NODE_PUT,
    CORE_CMD_POD_STARTED, /* the executor started (or failed to start) a pod */
    CORE_CMD_POD_EXITED,  /* a pod's processes ended, or it was lost */
    CORE_CMD_TICK,        /* time passed: back-offs, schedule */
    CORE_CMD_QUOTA_SET,   /* namespace_path, quota */
    CORE_CMD_QUOTA_DELETE,
    CORE_CMD_BINDING_PUT,    /* binding */
    CORE_CMD_BINDING_DELETE, /* binding */
    CORE_CMD_NOTHING,        /* changes nothing (e.g. carries an audit record) */
    CORE_CMD_UTIL_SAMPLE,    /* util_sample: one sampling round of a node's GPUs */
};

/* One device's reading: a GPU (whole or shared) or a MIG device, by UUID. */
struct core_util_reading {
    char uuid[64];
    int32_t util_pct;          /* 0..100; -1: not available (the device is skipped) */
    int64_t memory_used_bytes; /* -1: not available */
};

#define CORE_UTIL_READINGS_MAX (CORE_NODE_GPUS_MAX * (1 + CORE_MIG_DEVICES_MAX))

struct core_util_sample {
    char node[NAME_LABEL_MAX + 1];
    int64_t interval_ms; /* the sampling period: a round covers at most twice this */
    uint32_t count;
    struct core_util_reading readings[CORE_UTIL_READINGS_MAX];
};

struct core_cmd {
    enum core_cmd_kind kind;
    char namespace_path[NS_PATH_MAX + 1]; /* NAMESPACE_*, JOB_CANCEL, JOB_DELETE */
    char name[NAME_LABEL_MAX + 1];        /* JOB_CANCEL, JOB_DELETE */
    struct job_spec job;                  /* JOB_SUBMIT: taken by core_apply on success */
    struct core_node *node;               /* NODE_PUT: owned by the command (core_cmd_clear frees it) */
    struct quota_amounts *quota;          /* QUOTA_SET: owned by the command */
    struct rbac_binding binding;          /* BINDING_* */
    struct core_util_sample *util_sample; /* UTIL_SAMPLE: owned by the command */
    bool binding_namespace_may_be_missing; /* BINDING_PUT from the config: the namespace may come later */
    /* POD_STARTED, POD_EXITED */
    uint64_t pod_id;
    bool start_failed;                    /* POD_STARTED */
    char handle[128];                     /* POD_STARTED */
    int32_t exit_code;                    /* POD_EXITED: -1 when signalled or lost */
    int32_t exit_signal;
    bool oom_killed;
    bool lost;
    char message[CORE_REASON_MAX];
};

enum core_effect_kind {
    CORE_EFFECT_NAMESPACE_PUT,
    CORE_EFFECT_NAMESPACE_DELETE,
    CORE_EFFECT_JOB_PUT,
    CORE_EFFECT_JOB_DELETE,
    CORE_EFFECT_NODE_PUT,
    CORE_EFFECT_EVENT,
    CORE_EFFECT_POD_PUT,
    CORE_EFFECT_POD_START, /* after commit: start the pod's processes */
    CORE_EFFECT_POD_STOP,  /* after commit: stop them (grace, then kill) */
    CORE_EFFECT_QUOTA_PUT, /* ns */
    CORE_EFFECT_QUOTA_DELETE, /* path */
    CORE_EFFECT_BINDING_PUT,    /* binding */
    CORE_EFFECT_BINDING_DELETE, /* binding */
    CORE_EFFECT_POD_UTIL,       /* pod_id, at_ms (the hour), util: add to the hour's rollup */
};

/* Pointers in an effect are valid only until the next core_* call. */
struct core_effect {
    enum core_effect_kind kind;
    const struct core_namespace *ns;   /* NAMESPACE_PUT, QUOTA_PUT */
    const struct core_job *job;        /* JOB_PUT */
    bool created;                      /* JOB_PUT: a new job (else only its status changed) */
    const struct core_node *node;      /* NODE_PUT */
    const struct core_pod *pod;        /* POD_PUT */
    uint64_t pod_id;                   /* POD_START, POD_STOP */
    uint64_t job_id;                   /* JOB_DELETE, EVENT */
    char path[NS_PATH_MAX + 1];        /* NAMESPACE_DELETE, QUOTA_DELETE */
    int64_t at_ms;                     /* EVENT */
    char event_type[32];               /* EVENT */
    char event_message[CORE_REASON_MAX];
    struct rbac_binding binding;       /* BINDING_* */
    struct core_pod_util util;         /* POD_UTIL: what this round adds */
};

/* Grows as needed: one scheduling pass can place many pods. */
struct core_effects {
    unsigned count, capacity;
    struct core_effect *items;
    bool out_of_memory; /* an effect could not be recorded: fatal for the engine */
};
void core_effects_init(struct core_effects *fx);
void core_effects_free(struct core_effects *fx);

struct core_reply {
    int err;                  /* 0 or a gpuaas_err */
    char message[CORE_REASON_MAX];
    char field[64];
    json_t *object;           /* the object as the API shows it; owned by the reply */
    char *text;               /* or the same already as JSON text (malloc'd, owned) */
    size_t text_len;
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
int core_restore_pod(struct core_state *st, const struct core_pod *pod);
int core_restore_quota(struct core_state *st, const char *path, const struct quota_amounts *limit);
int core_restore_binding(struct core_state *st, const struct rbac_binding *binding);
/* Adds stored utilisation sums to a restored pod (GPUAAS_ENOTFOUND: no such pod). */
int core_restore_pod_util(struct core_state *st, uint64_t pod_id, const struct core_pod_util *util);

/* The group every platform-admin token carries (bound to platform-admin
 * everywhere by a built-in binding that cannot be removed). */
#define CORE_PLATFORM_ADMINS_GROUP "system:platform-admins"
/* The authorization decision over the current bindings (see rbac.h). */
int core_authorize(const struct core_state *st, const struct rbac_identity *who, enum rbac_action action,
                   const char *ns);
json_t *core_list_bindings(const struct core_state *st);
json_t *core_render_binding(const struct rbac_binding *binding);
/* Ids of deleted jobs are never handed out again: the store keeps the
 * highest one and passes next = that + 1. */
void core_restore_next_job_id(struct core_state *st, uint64_t next);
/* Recomputes derived counters once everything is restored. */
void core_restore_finish(struct core_state *st);

/* Lookups (NULL if absent). */
const struct core_namespace *core_find_namespace(const struct core_state *st, const char *path);
const struct core_job *core_find_job(const struct core_state *st, const char *ns, const char *name);
const struct core_node *core_find_node(const struct core_state *st, const char *name);
const struct core_pod *core_find_pod(const struct core_state *st, uint64_t id);
const struct core_job *core_find_job_by_id(const struct core_state *st, uint64_t id);
/* Runs the scheduler (first fit) after a batch; effects appended to fx. */
void core_schedule(struct core_state *st, int64_t now_ms, struct core_effects *fx);

/* Rendering: new json_t owned by the caller, or NULL on out of memory. */
json_t *core_render_namespace(const struct core_namespace *ns);
json_t *core_render_job(const struct core_job *job);
/* The job as JSON text, built from its stored spec text without copying the
 * document (the submit path). NULL on out of memory. */
char *core_render_job_text(const struct core_job *job, size_t *ret_len);
json_t *core_render_node(const struct core_node *node);
json_t *core_render_pod(const struct core_pod *pod);
/* {"namespace", "limits", "used"} */
json_t *core_render_quota(const struct core_namespace *ns);
/* quotas set in the subtree (prefix NULL: all) */
json_t *core_list_quotas(const struct core_state *st, const char *prefix);
/* {"items":[...]} of pods; ns prefix and job name optional (NULL). */
json_t *core_list_pods(const struct core_state *st, const char *prefix, const char *job_name);
/* One row per GPU with what holds it (whole, MIG slices, shares). */
json_t *core_list_gpus(const struct core_state *st);
int core_pod_from_json(const json_t *json, struct core_pod *ret_pod, char *err, size_t err_size);
/* {"items":[...],"count":N}; prefix NULL or "" lists all, else that subtree. */
json_t *core_list_namespaces(const struct core_state *st, const char *prefix);
json_t *core_list_jobs(const struct core_state *st, const char *prefix);
json_t *core_list_nodes(const struct core_state *st);

/* Nodes travel as the API's Node JSON (config, store). */
int core_node_from_json(const json_t *json, struct core_node *ret_node, char *err, size_t err_size);

const char *core_job_state_name(enum job_state state);
int core_job_state_from_name(const char *name, enum job_state *ret_state);
const char *core_node_state_name(enum node_state state);
const char *core_pod_state_name(enum pod_state state);
int core_pod_state_from_name(const char *name, enum pod_state *ret_state);
bool core_pod_state_final(enum pod_state state);
/* Value of a node label, or NULL. */
const char *core_node_label(const struct core_node *node, const char *key);
int core_node_state_from_name(const char *name, enum node_state *ret_state);
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-25T16:00:00.123Z. */
void core_format_time(int64_t ms, char *out, size_t out_size);

#endif
