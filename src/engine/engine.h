/* The engine: the one thread that owns the core state and the store.
 *
 * API threads never touch the state. They hand requests to the engine and
 * are called back once the answer is durable. The engine takes every request
 * queued since its last turn, applies the commands in order, writes their
 * effects in one transaction and commits (one fsync for the whole batch:
 * group commit), then runs the queued reads and calls every request back. */
#ifndef GPUAAS_ENGINE_H
#define GPUAAS_ENGINE_H

#include <stdint.h>

#include "core/model.h"
#include "store/store.h"

#define ENGINE_QUEUE_MAX 65536

struct engine;
struct engine_request;

/* A read, run in the engine thread after the batch's commit. It fills
 * reply (object or error). It may use the store (e.g. job events). */
typedef void (*engine_query_fn)(const struct core_state *st, struct store *store, const struct store_ops *ops,
                                void *arg, struct core_reply *reply);
/* Called in the engine thread when the request is answered; must not block. */
typedef void (*engine_done_fn)(struct engine_request *req);

struct engine_request {
    /* in: a command, or a query when query is non-NULL */
    struct core_cmd cmd;
    /* authorization, decided here over the current role bindings */
    const struct rbac_identity *who; /* NULL: the server itself (always allowed) */
    enum rbac_action action;
    char scope[NS_PATH_MAX + 1];     /* the namespace acted on ("" platform-wide) */
    /* audit: a line with the outcome, written in the same batch (denials
     * are always written) */
    bool audit;
    struct store_audit audit_record; /* user, method, path, namespace filled by the caller */
    engine_query_fn query;
    void *query_arg;
    void *query_data;                /* extra input of a query, freed with query_data_free */
    void (*query_data_free)(void *);
    engine_done_fn done;
    void *done_arg;
    /* out */
    struct core_reply reply;
    /* engine's */
    bool denied;
    struct engine_request *next;
};

/* Scheduling passes (core_schedule, once per batch) by duration: upper
 * bounds in seconds, the last bucket unbounded (+Inf). */
#define ENGINE_SCHED_BUCKETS 12
extern const double engine_sched_bounds_s[ENGINE_SCHED_BUCKETS - 1];

struct engine_stats {
    uint64_t batches;
    uint64_t commands;
    uint64_t max_batch;
    uint64_t sched_buckets[ENGINE_SCHED_BUCKETS]; /* not cumulative */
    uint64_t sched_passes;
    int64_t sched_ns; /* total time in passes */
    /* store commits (one fsync each), same bucket bounds */
    uint64_t commit_buckets[ENGINE_SCHED_BUCKETS]; /* not cumulative */
    int64_t commit_ns; /* total time in commits */
};

/* Effects that act on the world (start/stop a pod) run after their batch
 * is committed, in the engine thread, through this hook. */
struct engine_hooks {
    void (*action)(void *arg, struct engine *engine, const struct core_state *st, const struct core_effect *effect);
    void *arg;
    /* Periodic work of the one writer (the monthly report close): on every
     * tick, after the tick's batch is committed, in the engine thread. It
     * may read the state and write the store in transactions of its own. */
    void (*tick)(void *arg, const struct core_state *st, struct store *store, const struct store_ops *ops,
                 int64_t now_ms);
    void *tick_arg;
};

#define ENGINE_TICK_MS 250

/* Starts the engine thread over a loaded state and an open store (both stay
 * the caller's; they must outlive engine_stop). clock_ms gives wall time.
 * hooks may be NULL (no actions are carried out). */
int engine_start(struct core_state *st, struct store *store, const struct store_ops *ops,
                 int64_t (*clock_ms)(void), const struct engine_hooks *hooks, struct engine **ret_engine);
/* Queues a command whose answer nobody waits for (executor events). The
 * command is copied. Safe from any thread. */
int engine_post(struct engine *engine, const struct core_cmd *cmd);
/* Queues an audit line only (a request refused before reaching the engine).
 * GPUAAS_ELIMIT when the queue is full (the line is then not written). */
int engine_post_audit(struct engine *engine, const struct store_audit *record);
/* Queues a request; req->done is called later from the engine thread.
 * Returns 0, GPUAAS_EUNAVAIL when stopping, GPUAAS_ELIMIT when the queue is full. */
int engine_submit(struct engine *engine, struct engine_request *req);
/* Queues a request and waits for its answer (for the server's own setup). */
int engine_call(struct engine *engine, struct engine_request *req);
/* Answers everything queued, then stops the thread. Later submits are
 * refused with GPUAAS_EUNAVAIL until engine_free. */
void engine_stop(struct engine *engine);
/* Frees a stopped engine: call once nothing can submit any more (after the
 * API is stopped). NULL-safe. */
void engine_free(struct engine *engine);
void engine_get_stats(struct engine *engine, struct engine_stats *ret_stats);

#endif
