#include "engine/engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"
#include "lib/clock.h"

const double engine_sched_bounds_s[ENGINE_SCHED_BUCKETS - 1] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                                0.01,   0.025,   0.05,   0.1,   1};

struct engine {
    struct core_state *st;
    struct store *store;
    const struct store_ops *ops;
    int64_t (*clock_ms)(void);
    struct engine_hooks hooks;
    struct core_effects fx;
    struct core_effect *actions; /* POD_START/POD_STOP of the current batch */
    size_t action_count, action_cap;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct engine_request *head, *tail; /* FIFO */
    unsigned queued;
    bool stopping;
    bool joined;
    struct engine_stats stats;
};

/* A failed write leaves memory ahead of the store; the only safe course is to
 * stop and let the next start rebuild the state from what was committed. */
static void engine_store_failed(struct engine *engine, const char *what);
static void engine_store_failed(struct engine *engine, const char *what)
{
    fprintf(stderr, "gpuaas: fatal: store %s failed; exiting so that the next start rebuilds "
                    "the state from the last committed batch\n", what);
    engine->ops->rollback(engine->store);
    abort();
}

static void engine_keep_action(struct engine *engine, const struct core_effect *e)
{
    if (engine->action_count == engine->action_cap) {
        size_t cap = engine->action_cap ? engine->action_cap * 2 : 64;
        struct core_effect *grown = realloc(engine->actions, cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "gpuaas: fatal: out of memory recording pod actions\n");
            abort();
        }
        engine->actions = grown;
        engine->action_cap = cap;
    }
    engine->actions[engine->action_count++] = *e;
}

/* Writes the effects of one core call; keeps the actions for after the commit. */
static void engine_write_effects(struct engine *engine)
{
    struct core_effects *fx = &engine->fx;
    if (fx->out_of_memory) {
        fprintf(stderr, "gpuaas: fatal: out of memory recording effects\n");
        abort();
    }
    for (unsigned i = 0; i < fx->count; i++) {
        const struct core_effect *e = &fx->items[i];
        if (e->kind == CORE_EFFECT_POD_START || e->kind == CORE_EFFECT_POD_STOP)
            engine_keep_action(engine, e);
        else if (engine->ops->apply(engine->store, e) < 0)
            engine_store_failed(engine, "write");
    }
}

/* A refusal by role: 404 when the identity may not see the namespace at
 * all (the answer must not reveal that it exists), else 403. */
static void engine_deny(struct engine_request *req, int err)
{
    struct core_reply *reply = &req->reply;
    req->denied = true;
    reply->err = err;
    reply->field[0] = '\0';
    if (err == GPUAAS_ENOTFOUND)
        snprintf(reply->message, sizeof reply->message, "namespace '%s' not found", req->scope);
    else if (err == GPUAAS_EAUTH)
        snprintf(reply->message, sizeof reply->message, "authentication required");
    else
        snprintf(reply->message, sizeof reply->message, "'%s' may not do this %s%s%s", req->who->user,
                 req->scope[0] ? "in namespace '" : "platform-wide", req->scope, req->scope[0] ? "'" : "");
}

static void engine_audit(struct engine *engine, struct engine_request *req)
{
    struct store_audit *a = &req->audit_record;
    a->at_ms = engine->clock_ms();
    if (!a->namespace_path[0])
        snprintf(a->namespace_path, sizeof a->namespace_path, "%s", req->scope);
    if (!a->status) {
        int err = req->reply.err;
        a->status = err ? gpuaas_http_status(err) : (a->ok_status ? a->ok_status : 200);
        snprintf(a->code, sizeof a->code, "%s", gpuaas_error_code(err));
        snprintf(a->message, sizeof a->message, "%s", err ? req->reply.message : "");
    }
    if (engine->ops->audit_append(engine->store, a) < 0)
        engine_store_failed(engine, "audit write");
}

static void engine_run_batch(struct engine *engine, struct engine_request *batch, bool tick)
{
    unsigned commands = 0;
    engine->action_count = 0;
    if (engine->ops->begin(engine->store) < 0)
        engine_store_failed(engine, "begin");
    for (struct engine_request *req = batch; req; req = req->next) {
        req->denied = false;
        if (req->who) {
            int r = core_authorize(engine->st, req->who, req->action, req->scope);
            if (r < 0) {
                engine_deny(req, r);
                engine_audit(engine, req);
                continue;
            }
        }
        if (req->query)
            continue;
        commands++;
        core_apply(engine->st, &req->cmd, engine->clock_ms(), &engine->fx, &req->reply);
        engine_write_effects(engine);
        if (req->audit)
            engine_audit(engine, req);
    }
    if (tick) {
        struct core_cmd cmd = {.kind = CORE_CMD_TICK};
        struct core_reply reply;
        core_apply(engine->st, &cmd, engine->clock_ms(), &engine->fx, &reply);
        core_reply_clear(&reply);
        engine_write_effects(engine);
    }
    /* one scheduling pass per batch, in the same transaction; timed here
     * so the core stays free of clocks */
    int64_t sched_start_ns = clock_mono_ns();
    core_schedule(engine->st, engine->clock_ms(), &engine->fx);
    int64_t sched_ns = clock_mono_ns() - sched_start_ns;
    engine_write_effects(engine);
    int64_t commit_start_ns = clock_mono_ns();
    if (engine->ops->commit(engine->store) < 0)
        engine_store_failed(engine, "commit");
    int64_t commit_ns = clock_mono_ns() - commit_start_ns;
    /* the world is touched only for what is durable */
    for (size_t i = 0; i < engine->action_count; i++)
        if (engine->hooks.action)
            engine->hooks.action(engine->hooks.arg, engine, engine->st, &engine->actions[i]);
    if (tick && engine->hooks.tick)
        engine->hooks.tick(engine->hooks.tick_arg, engine->st, engine->store, engine->ops, engine->clock_ms());
    /* reads run after the commit, so they never show what is not durable */
    for (struct engine_request *req = batch; req; req = req->next)
        if (req->query && !req->denied) {
            req->query(engine->st, engine->store, engine->ops, req->query_arg, &req->reply);
            /* queries that change something (tokens) are audited on their own */
            if (req->audit)
                engine_audit(engine, req);
        }
    pthread_mutex_lock(&engine->lock);
    engine->stats.batches++;
    engine->stats.commands += commands;
    if (commands > engine->stats.max_batch)
        engine->stats.max_batch = commands;
    unsigned bucket = 0;
    while (bucket < ENGINE_SCHED_BUCKETS - 1 && sched_ns > engine_sched_bounds_s[bucket] * 1e9)
        bucket++;
    engine->stats.sched_buckets[bucket]++;
    engine->stats.sched_passes++;
    engine->stats.sched_ns += sched_ns;
    bucket = 0;
    while (bucket < ENGINE_SCHED_BUCKETS - 1 && commit_ns > engine_sched_bounds_s[bucket] * 1e9)
        bucket++;
    engine->stats.commit_buckets[bucket]++;
    engine->stats.commit_ns += commit_ns;
    pthread_mutex_unlock(&engine->lock);
    while (batch) {
        struct engine_request *next = batch->next;
        batch->next = NULL;
        batch->done(batch);
        batch = next;
    }
}

static void *engine_main(void *arg)
{
    struct engine *engine = arg;
    struct timespec next_tick;
    clock_gettime(CLOCK_MONOTONIC, &next_tick);
    for (;;) {
        bool tick = false;
        pthread_mutex_lock(&engine->lock);
        while (!engine->head && !engine->stopping) {
            if (pthread_cond_timedwait(&engine->wake, &engine->lock, &next_tick) == ETIMEDOUT) {
                tick = true;
                break;
            }
        }
        struct engine_request *batch = engine->head;
        bool stop = engine->stopping && !batch;
        engine->head = engine->tail = NULL;
        engine->queued = 0;
        pthread_mutex_unlock(&engine->lock);
        if (stop)
            return NULL;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (tick || now.tv_sec > next_tick.tv_sec ||
            (now.tv_sec == next_tick.tv_sec && now.tv_nsec >= next_tick.tv_nsec)) {
            tick = true;
            next_tick = now;
            next_tick.tv_nsec += ENGINE_TICK_MS * 1000000L;
            if (next_tick.tv_nsec >= 1000000000L) {
                next_tick.tv_sec++;
                next_tick.tv_nsec -= 1000000000L;
            }
        }
        engine_run_batch(engine, batch, tick);
    }
}

int engine_start(struct core_state *st, struct store *store, const struct store_ops *ops,
                 int64_t (*clock_ms)(void), const struct engine_hooks *hooks, struct engine **ret_engine)
{
    struct engine *engine = calloc(1, sizeof *engine);
    if (!engine)
        return GPUAAS_ENOMEM;
    if (hooks)
        engine->hooks = *hooks;
    core_effects_init(&engine->fx);
    pthread_condattr_t cond_attr;
    pthread_condattr_init(&cond_attr);
    pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
    engine->st = st;
    engine->store = store;
    engine->ops = ops;
    engine->clock_ms = clock_ms;
    pthread_mutex_init(&engine->lock, NULL);
    pthread_cond_init(&engine->wake, &cond_attr);
    pthread_condattr_destroy(&cond_attr);
    if (pthread_create(&engine->thread, NULL, engine_main, engine) != 0) {
        pthread_mutex_destroy(&engine->lock);
        pthread_cond_destroy(&engine->wake);
        free(engine);
        return GPUAAS_ENOMEM;
    }
    *ret_engine = engine;
    return 0;
}

static int engine_enqueue(struct engine *engine, struct engine_request *req, bool limited)
{
    req->next = NULL;
    pthread_mutex_lock(&engine->lock);
    int r = 0;
    if (engine->stopping)
        r = GPUAAS_EUNAVAIL;
    else if (limited && engine->queued >= ENGINE_QUEUE_MAX)
        r = GPUAAS_ELIMIT;
    else {
        if (engine->tail)
            engine->tail->next = req;
        else
            engine->head = req;
        engine->tail = req;
        engine->queued++;
        pthread_cond_signal(&engine->wake);
    }
    pthread_mutex_unlock(&engine->lock);
    return r;
}

int engine_submit(struct engine *engine, struct engine_request *req) { return engine_enqueue(engine, req, true); }

static void engine_posted_done(struct engine_request *req)
{
    core_reply_clear(&req->reply);
    core_cmd_clear(&req->cmd);
    free(req);
}

int engine_post(struct engine *engine, const struct core_cmd *cmd)
{
    struct engine_request *req = calloc(1, sizeof *req);
    if (!req)
        return GPUAAS_ENOMEM;
    req->cmd = *cmd;
    req->done = engine_posted_done;
    /* events from the world are never refused for a full queue: losing an
     * exit would leak the pod's GPUs */
    int r = engine_enqueue(engine, req, false);
    if (r < 0)
        free(req);
    return r;
}

int engine_post_audit(struct engine *engine, const struct store_audit *record)
{
    struct engine_request *req = calloc(1, sizeof *req);
    if (!req)
        return GPUAAS_ENOMEM;
    req->cmd.kind = CORE_CMD_NOTHING;
    req->audit = true;
    req->audit_record = *record;
    req->done = engine_posted_done;
    /* bounded like client requests: a flood of refused requests must not
     * grow the queue without limit (the refusal itself is still answered) */
    int r = engine_enqueue(engine, req, true);
    if (r < 0)
        free(req);
    return r;
}

struct engine_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void engine_waiter_done(struct engine_request *req)
{
    struct engine_waiter *w = req->done_arg;
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int engine_call(struct engine *engine, struct engine_request *req)
{
    struct engine_waiter w = {.done = false};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    req->done = engine_waiter_done;
    req->done_arg = &w;
    int r = engine_submit(engine, req);
    if (r == 0) {
        pthread_mutex_lock(&w.lock);
        while (!w.done)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
        r = req->reply.err;
    }
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    return r;
}

void engine_stop(struct engine *engine)
{
    if (!engine)
        return;
    pthread_mutex_lock(&engine->lock);
    engine->stopping = true;
    pthread_cond_signal(&engine->wake);
    pthread_mutex_unlock(&engine->lock);
    if (!engine->joined) {
        pthread_join(engine->thread, NULL);
        engine->joined = true;
    }
}

void engine_free(struct engine *engine)
{
    if (!engine)
        return;
    engine_stop(engine);
    pthread_mutex_destroy(&engine->lock);
    pthread_cond_destroy(&engine->wake);
    core_effects_free(&engine->fx);
    free(engine->actions);
    free(engine);
}

void engine_get_stats(struct engine *engine, struct engine_stats *ret_stats)
{
    pthread_mutex_lock(&engine->lock);
    *ret_stats = engine->stats;
    pthread_mutex_unlock(&engine->lock);
}
