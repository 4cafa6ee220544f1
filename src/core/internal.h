/* Helpers shared by the core's own files; not part of its interface. */
#ifndef GPUAAS_CORE_INTERNAL_H
#define GPUAAS_CORE_INTERNAL_H

#include "core/model.h"

struct core_effect *core_effect_add(struct core_effects *fx, enum core_effect_kind kind);
void core_effect_event(struct core_effects *fx, uint64_t job_id, int64_t now_ms, const char *type, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));
int core_reply_error(struct core_reply *reply, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool core_job_state_final(enum job_state state);

/* sched.c */
void sched_enqueue(struct core_state *st, struct core_job *job);
void sched_dequeue(struct core_state *st, struct core_job *job);
/* Refuses, at submit, what no node could ever run (422 naming the field). */
int sched_check_feasible(const struct core_state *st, const struct job_spec *spec, struct core_reply *reply);
/* Asks every active pod of the job to stop (effects), e.g. on cancel. */
void sched_stop_job_pods(struct core_state *st, const struct core_job *job, int64_t now_ms, struct core_effects *fx);
void sched_nodes_changed(struct core_state *st);
int sched_apply_pod_started(struct core_state *st, struct core_cmd *cmd, int64_t now_ms, struct core_effects *fx,
                            struct core_reply *reply);
int sched_apply_pod_exited(struct core_state *st, struct core_cmd *cmd, int64_t now_ms, struct core_effects *fx,
                           struct core_reply *reply);
int sched_apply_quota_set(struct core_state *st, struct core_cmd *cmd, struct core_effects *fx,
                          struct core_reply *reply);
int sched_apply_quota_delete(struct core_state *st, struct core_cmd *cmd, struct core_effects *fx,
                             struct core_reply *reply);
int sched_apply_tick(struct core_state *st, int64_t now_ms, struct core_effects *fx, struct core_reply *reply);
/* Rebuilds queue, counters and allocations after a restore. */
void sched_restore_finish(struct core_state *st);
void sched_free(struct core_state *st);

/* sched_place.c: the nodes in the placement index, pod shapes, the workload */
void sched_shape_count(struct core_state *st, int32_t gpus, int32_t milli, int64_t cpu, int64_t mem,
                       const char *model, int64_t delta);
void sched_shape_job(struct core_state *st, const struct job_spec *spec, int sign);
void sched_shape_pod(struct core_state *st, const struct core_pod *pod, int sign);
/* Rebuilds the index when nodes changed and its workload when shapes did;
 * -1 on out of memory (the index stays marked stale). */
int sched_place_prepare(struct core_state *st);
int sched_place_rebuild(struct core_state *st);
/* After what is free on the node changed. */
void sched_place_sync(struct core_state *st, const struct core_node *node);
/* One replica's shape; -1 when no node matches the selector (a label no
 * node carries), -2 when no node offers the GPU model or MIG profile. */
int sched_pod_shape(struct core_state *st, const struct job_spec *spec, struct place_pod *pod);
void sched_place_free(struct core_state *st);
/* Adds the pod's interval to the usage ledger (restoring: out of order allowed). */
int sched_ledger_record(struct core_state *st, const struct core_pod *pod, bool restoring);

/* util.c */
int util_apply_sample(struct core_state *st, struct core_cmd *cmd, int64_t now_ms, struct core_effects *fx,
                      struct core_reply *reply);

#endif
