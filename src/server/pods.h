/* The bridge between the engine and the executor: starts and stops pods
 * for committed effects, turns exits into commands, and after a restart
 * takes back (or declares lost) the pods the store says are active. */
#ifndef GPUAAS_SERVER_PODS_H
#define GPUAAS_SERVER_PODS_H

#include "core/model.h"
#include "engine/engine.h"
#include "exec/exec.h"

struct pod_runner {
    const struct exec_driver *exec;
    void *exec_ctx;
    struct engine *_Atomic engine; /* set once the engine runs */
    int64_t (*clock_ms)(void);
};

/* Engine hook: carries out POD_START / POD_STOP. */
void pod_runner_action(void *arg, struct engine *engine, const struct core_state *st,
                       const struct core_effect *effect);
/* Executor callback: a pod ended. */
void pod_runner_on_exit(void *arg, const struct exec_exit *ex);

/* Before the engine starts: the active pods (ids, handles) to reconcile. */
struct pod_adoption {
    uint64_t pod_id;
    char handle[128];
};
int pod_runner_collect_active(const struct core_state *st, struct pod_adoption **ret_list, size_t *ret_count);
/* After the engine starts: adopt each, or post its exit / loss. */
void pod_runner_reconcile(struct pod_runner *runner, const struct pod_adoption *list, size_t count);

#endif
